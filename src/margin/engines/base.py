"""The :class:`Engine` protocol and :func:`open_engine`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from margin.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ENGINES", "Engine", "open_engine"]

ENGINES = ("duckdb", "spark")
"""Engine names accepted by :func:`open_engine` (and ``--engine``)."""


@runtime_checkable
class Engine(Protocol):
    """Runs SQL over named temporary views and returns small results as Arrow tables.

    A query is written once; the constructs DuckDB and Spark spell differently are the
    methods below that return SQL text.
    """

    name: str

    def register_file(self, view: str, path: Path) -> None:
        """Expose a Parquet or CSV file as the view ``view``.

        The view has the file's columns (CSV columns as text) plus ``_row``: the 1-based
        data row in the file where the engine can tell it, else NULL.
        """
        ...

    def register_arrow(self, view: str, table: pa.Table) -> None:
        """Expose an in-memory Arrow table as the view ``view``."""
        ...

    def columns(self, view: str) -> list[tuple[str, str]]:
        """``(name, type)`` of each column of ``view``; types lower-case, engine-specific."""
        ...

    def create_view(self, view: str, sql: str) -> None:
        """Name the query ``sql`` as the view ``view`` (computed when read)."""
        ...

    def materialize(self, view: str, sql: str) -> None:
        """Compute ``sql`` once and keep it as ``view`` (a temp table or a cached view)."""
        ...

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` and return the (small) result."""
        ...

    def drop(self, view: str) -> None:
        """Forget ``view`` if it exists."""
        ...

    def close(self) -> None:
        """Release what the engine opened itself (never an injected connection or session)."""
        ...

    # -- dialect -----------------------------------------------------------------------
    def epoch_micros(self, timestamp: str) -> str:
        """SQL for microseconds since 1970-01-01 of a TIMESTAMP expression (BIGINT)."""
        ...

    def hash64(self, value: str) -> str:
        """SQL for a 64-bit integer hash of a text (BIGINT); used only to group rows."""
        ...

    def parse_timestamp(self, text: str) -> str:
        """SQL for a text as a UTC TIMESTAMP, NULL where it does not parse."""
        ...

    def ordered_array(self, value: str, order_by: str, base: int) -> str:
        """SQL aggregate: a group's ``value``s (integers in ``0..base-1``) as an array in
        ``order_by`` order (distinct integers)."""
        ...


def open_engine(name: str = "duckdb", **options: Any) -> Engine:
    """An engine by name: ``"duckdb"`` (default) or ``"spark"``.

    Args:
        name: the engine.
        **options: passed to :class:`~margin.engines.DuckDBEngine` (``con``, ``threads``,
            ``memory_limit``) or :class:`~margin.engines.SparkEngine` (``session``,
            ``master``, ``config``).

    Raises:
        ConfigError: an unknown name, or Spark asked for without ``pyspark`` installed.
    """
    key = name.strip().lower()
    if key == "duckdb":
        from margin.engines.duckdb_engine import DuckDBEngine

        return DuckDBEngine(**options)
    if key == "spark":
        from margin.engines.spark_engine import SparkEngine

        return SparkEngine(**options)
    raise ConfigError(f"engine {name!r} is not known; use one of {', '.join(ENGINES)}")
