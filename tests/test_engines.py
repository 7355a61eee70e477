"""The DuckDB engine and engine selection (Spark: tests/test_engines_spark.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from margin.engines import DuckDBEngine, Engine, open_engine
from margin.errors import ConfigError, InputFileError


def test_duckdb_engine_registers_files_with_row_numbers(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("x,y\n1,a\n2,b\n", encoding="utf-8")
    engine = open_engine("duckdb")
    assert isinstance(engine, Engine)
    try:
        engine.register_file("a", csv)
        assert engine.query("SELECT _row, x FROM a ORDER BY _row").to_pylist() == [
            {"_row": 1, "x": "1"},
            {"_row": 2, "x": "2"},
        ]
        engine.register_arrow("b", pa.table({"k": [1, 2, 3]}))
        engine.materialize("c", "SELECT sum(k) AS s FROM b")
        assert engine.query("SELECT s FROM c").to_pylist() == [{"s": 6}]
        assert ("k", "bigint") in engine.columns("b")
        engine.drop("c")
        engine.drop("b")
        engine.drop("never-made")
    finally:
        engine.close()


def test_duckdb_dialect_functions() -> None:
    engine = DuckDBEngine()
    try:
        arr = engine.ordered_array("c", "o", 10)
        sql = f"SELECT {arr} AS p FROM (VALUES (3, 2), (1, 7), (2, 0)) t(o, c)"
        assert engine.query(sql).to_pylist() == [{"p": [7, 0, 2]}]
        ts = engine.parse_timestamp("'2024-03-01T14:05:00+02:00'")
        micros = engine.query(f"SELECT {engine.epoch_micros(ts)} AS us").to_pylist()[0]["us"]
        assert micros == 1709294700 * 1_000_000
    finally:
        engine.close()


def test_unknown_engine_and_file_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="engine 'oracle' is not known"):
        open_engine("oracle")
    engine = DuckDBEngine()
    try:
        with pytest.raises(InputFileError, match="extension"):
            engine.register_file("x", tmp_path / "x.json")
    finally:
        engine.close()
