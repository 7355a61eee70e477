"""Spark and DuckDB give identical aggregates on the same Parquet input.

One Spark session (local mode, module-scoped) serves the module; skipped without pyspark
or Java.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from margin.attribution import Aggregates, JourneySettings, journeys_from_file
from test_attribution_journeys import random_events

# Spark's launcher forks (to exec the JVM at once) in a process where other tests have
# already started JAX, whose at-fork hook warns about threads; fork-then-exec is safe.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")

FLOAT64 = 1e-9
TEST_CONFIG = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
}
"""Small data: per-query overhead, not throughput, is what costs time."""


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17+ on PATH")
    from margin.engines.spark_engine import local_session

    session = local_session("local[1]", TEST_CONFIG)
    yield session
    session.stop()


def assert_identical(a: Aggregates, b: Aggregates) -> None:
    pa_, pb = a.paths, b.paths
    assert pa_.channels == pb.channels
    np.testing.assert_array_equal(pa_.offsets, pb.offsets)
    np.testing.assert_array_equal(pa_.steps, pb.steps)
    np.testing.assert_array_equal(pa_.conversions, pb.conversions)
    np.testing.assert_array_equal(pa_.nulls, pb.nulls)
    np.testing.assert_allclose(pa_.value, pb.value, rtol=FLOAT64)
    assert pa_.decay is not None
    assert pb.decay is not None
    np.testing.assert_allclose(pa_.decay, pb.decay, rtol=FLOAT64, atol=1e-15)
    ta, tb = a.transitions, b.transitions
    assert ta is not None
    assert tb is not None
    assert ta.states == tb.states
    moves_a = sorted(zip(ta.flow_from, ta.flow_to, ta.flow, strict=True))
    moves_b = sorted(zip(tb.flow_from, tb.flow_to, tb.flow, strict=True))
    assert moves_a == moves_b
    np.testing.assert_array_equal(ta.conversions, tb.conversions)
    np.testing.assert_allclose(ta.value, tb.value, rtol=FLOAT64)
    ca, cb = a.coalitions, b.coalitions
    assert ca is not None
    assert cb is not None
    order_a, order_b = np.argsort(ca.masks), np.argsort(cb.masks)
    np.testing.assert_array_equal(ca.masks[order_a], cb.masks[order_b])
    np.testing.assert_array_equal(ca.conversions[order_a], cb.conversions[order_b])
    assert a.totals == b.totals or (
        a.totals is not None
        and b.totals is not None
        and a.totals.conversions == b.totals.conversions
        and a.totals.users == b.totals.users
        and abs(a.totals.value - b.totals.value) <= FLOAT64 * abs(a.totals.value)
    )


def test_spark_and_duckdb_give_identical_aggregates(spark: Any, tmp_path: Path) -> None:
    from margin.engines import SparkEngine

    path = tmp_path / "events.parquet"
    random_events(seed=11, n_users=60, n_events=600).to_parquet(path)
    settings = JourneySettings(lookback_days=10, collapse_repeats=True)
    on_spark = journeys_from_file(path, engine=SparkEngine(spark), journey=settings, order=2)
    on_duckdb = journeys_from_file(path, engine="duckdb", journey=settings, order=2)
    assert on_spark.engine == "spark"
    assert_identical(on_spark, on_duckdb)
