"""The DuckDB engine: in-process, the default."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from margin.data.ingest.readers import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    quote_identifier,
    quote_literal,
)
from margin.errors import InputFileError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["DuckDBEngine"]


class DuckDBEngine:
    """Runs SQL on a DuckDB connection.

    Args:
        con: a connection to use (left open by :meth:`close`); a new in-memory one if None.
        threads: worker threads (default: DuckDB's, one per core).
        memory_limit: e.g. ``"2GB"``; DuckDB spills to disk beyond it.
    """

    name = "duckdb"

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection | None = None,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        import duckdb

        self._owned = con is None
        self._kinds: dict[str, str] = {}
        self.con: duckdb.DuckDBPyConnection = con if con is not None else duckdb.connect()
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            self.con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
        self.con.execute("SET TimeZone = 'UTC'")

    def register_file(self, view: str, path: Path) -> None:
        name = path.name.lower()
        src = quote_literal(str(path))
        if name.endswith(PARQUET_SUFFIXES):
            sql = (
                f"SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _row "
                f"FROM read_parquet({src}, file_row_number = true)"
            )
        elif name.endswith(CSV_SUFFIXES):
            sql = f"SELECT *, row_number() OVER () AS _row FROM read_csv({src}, all_varchar = true)"
        else:
            raise InputFileError(
                f"file {path}: cannot tell its format from the extension; use CSV "
                f"({', '.join(CSV_SUFFIXES)}) or Parquet ({', '.join(PARQUET_SUFFIXES)})"
            )
        self.create_view(view, sql)

    def register_arrow(self, view: str, table: pa.Table) -> None:
        self.drop(view)
        self.con.register(view, table)
        self._kinds[view] = "arrow"

    def columns(self, view: str) -> list[tuple[str, str]]:
        rows = self.con.execute(f"DESCRIBE {quote_identifier(view)}").fetchall()
        return [(str(r[0]), str(r[1]).lower()) for r in rows]

    def create_view(self, view: str, sql: str) -> None:
        self.drop(view)
        self.con.execute(f"CREATE TEMP VIEW {quote_identifier(view)} AS {sql}")
        self._kinds[view] = "VIEW"

    def materialize(self, view: str, sql: str) -> None:
        self.drop(view)
        self.con.execute(f"CREATE TEMP TABLE {quote_identifier(view)} AS {sql}")
        self._kinds[view] = "TABLE"

    def query(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def drop(self, view: str) -> None:
        kind = self._kinds.pop(view, None)
        if kind == "arrow":
            self.con.unregister(view)
        elif kind is not None:
            self.con.execute(f"DROP {kind} IF EXISTS {quote_identifier(view)}")

    def close(self) -> None:
        if self._owned:
            self.con.close()

    # -- dialect -----------------------------------------------------------------------
    def epoch_micros(self, timestamp: str) -> str:
        return f"epoch_us({timestamp})"

    def hash64(self, value: str) -> str:
        return f"CAST(hash({value}) >> 1 AS BIGINT)"

    def parse_timestamp(self, text: str) -> str:
        return (
            f"COALESCE(CAST(timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) AS TIMESTAMP), "
            f"TRY_CAST({text} AS TIMESTAMP))"
        )

    def ordered_array(self, value: str, order_by: str, base: int) -> str:
        return (
            f"list_transform(list_sort(list(CAST({order_by} AS BIGINT) * {int(base)} + {value})), "
            f"lambda x: x % {int(base)})"
        )
