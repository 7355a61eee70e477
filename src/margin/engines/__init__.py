"""Running one SQL aggregation on DuckDB (in-process, the default) or Apache Spark.

The heavy work of attribution and LTV is aggregation over user-level logs; the models then
fit on the small aggregates. Each aggregation is written once as SQL over temporary views
and run by the engine a user picks:

- :class:`DuckDBEngine` (``"duckdb"``): in-process, streaming, spills to disk;
- :class:`SparkEngine` (``"spark"``): Apache Spark through ``pyspark`` (the ``spark``
  extra; Java 17+), local mode by default or any session passed in.

Both speak the subset of SQL the two share (window functions, ``CASE``, ``bit_or``,
``TRY_CAST``, ``POWER``, joins); the few constructs they spell differently (an ordered
array aggregate, epoch microseconds, a 64-bit hash, timestamp parsing) are
:class:`Engine` methods, so a query is written once.
"""

from __future__ import annotations

from margin.engines.base import ENGINES, Engine, open_engine
from margin.engines.duckdb_engine import DuckDBEngine
from margin.engines.spark_engine import SparkEngine

__all__ = ["ENGINES", "DuckDBEngine", "Engine", "SparkEngine", "open_engine"]
