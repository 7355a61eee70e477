"""The Apache Spark engine (``pyspark``; the ``spark`` extra, Java 17+)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.data.ingest.readers import CSV_SUFFIXES, PARQUET_SUFFIXES, quote_identifier
from margin.errors import ConfigError, InputFileError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["LOCAL_CONFIG", "SparkEngine", "local_session"]

LOCAL_CONFIG: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "3g",
    "spark.ui.showConsoleProgress": "false",
}
"""Settings of the local session :func:`local_session` starts (UTC, no UI, no progress bars)."""


def _import_pyspark() -> Any:
    try:
        with warnings.catch_warnings():
            # pyspark warns on import that it does not yet fully support pandas 3; margin
            # hands Spark Arrow tables, not pandas frames.
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            import pyspark.sql
    except ImportError as err:
        raise ConfigError(
            "the Spark engine needs pyspark (and Java 17+): pip install 'margin[spark]', "
            "or use --engine duckdb"
        ) from err
    return pyspark.sql


def local_session(master: str = "local[*]", config: dict[str, str] | None = None) -> Any:
    """A local Spark session (``getOrCreate``: reuses one already running)."""
    sql = _import_pyspark()
    builder = sql.SparkSession.builder.master(master).appName("margin")
    for key, value in {**LOCAL_CONFIG, **(config or {})}.items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    """Runs SQL on a Spark session through ``spark.sql`` over temporary views.

    Args:
        session: a ``SparkSession`` to use (left running by :meth:`close`); if None a
            local one is started with :data:`LOCAL_CONFIG` (and stopped by :meth:`close`).
        master: the master of a new local session.
        config: extra settings for a new local session.
    """

    name = "spark"

    def __init__(
        self,
        session: Any = None,
        *,
        master: str = "local[*]",
        config: dict[str, str] | None = None,
    ) -> None:
        self._owned = session is None
        self.session = session if session is not None else local_session(master, config)
        self.session.conf.set("spark.sql.session.timeZone", "UTC")
        self._cached: dict[str, Any] = {}

    def register_file(self, view: str, path: Path) -> None:
        name = path.name.lower()
        reader = self.session.read
        if name.endswith(PARQUET_SUFFIXES):
            frame = reader.parquet(str(path))
            frame = frame.selectExpr("*", "_metadata.row_index + 1 AS _row")
        elif name.endswith(CSV_SUFFIXES):
            frame = reader.option("header", "true").option("inferSchema", "false").csv(str(path))
            frame = frame.selectExpr("*", "CAST(NULL AS BIGINT) AS _row")
        else:
            raise InputFileError(
                f"file {path}: cannot tell its format from the extension; use CSV "
                f"({', '.join(CSV_SUFFIXES)}) or Parquet ({', '.join(PARQUET_SUFFIXES)})"
            )
        self.drop(view)
        frame.createOrReplaceTempView(view)

    def register_arrow(self, view: str, table: pa.Table) -> None:
        self.drop(view)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            frame = self.session.createDataFrame(table)
        frame.createOrReplaceTempView(view)

    def columns(self, view: str) -> list[tuple[str, str]]:
        frame = self.session.table(quote_identifier(view).replace('"', "`"))
        return [(str(n), str(t).lower()) for n, t in frame.dtypes]

    def create_view(self, view: str, sql: str) -> None:
        self.drop(view)
        self.session.sql(sql).createOrReplaceTempView(view)

    def materialize(self, view: str, sql: str) -> None:
        self.drop(view)
        frame = self.session.sql(sql).cache()  # filled by the first query that reads it
        frame.createOrReplaceTempView(view)
        self._cached[view] = frame

    def query(self, sql: str) -> pa.Table:
        return self.session.sql(sql).toArrow()

    def drop(self, view: str) -> None:
        frame = self._cached.pop(view, None)
        if frame is not None:
            frame.unpersist()
        self.session.catalog.dropTempView(view)

    def close(self) -> None:
        for view in list(self._cached):
            self.drop(view)
        if self._owned:
            self.session.stop()

    # -- dialect -----------------------------------------------------------------------
    def epoch_micros(self, timestamp: str) -> str:
        return f"unix_micros(CAST({timestamp} AS TIMESTAMP))"

    def hash64(self, value: str) -> str:
        return f"xxhash64({value})"

    def parse_timestamp(self, text: str) -> str:
        return f"TRY_CAST({text} AS TIMESTAMP)"

    def ordered_array(self, value: str, order_by: str, base: int) -> str:
        return (
            f"transform(array_sort(collect_list(CAST({order_by} AS BIGINT) * {int(base)} + {value})), "
            f"x -> x % {int(base)})"
        )
