"""Customer summaries by SQL: lifetimes' semantics, CDNOW's published summary, the
collapsed weighted rows, DuckDB = Spark, and bad input named by row and column."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from margin.data.ingest.pipeline import ingest_file
from margin.data.workspace.hashing import HMAC_SHA256, LEGACY_SHA256, HashKey, KeyVersion
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError, DataValidationError, InputFileError
from margin.ltv.summary import (
    CustomerSummary,
    SummarySettings,
    summarize_file,
    summarize_table,
    summarize_workspace,
)

WriteFile = Callable[[str, str | bytes], Path]
FLOAT64 = 1e-9
KEY = HashKey("test", (KeyVersion(1, HMAC_SHA256, "ab" * 32),), "test")
TWO_VERSIONS = HashKey(
    "test", (KeyVersion(1, LEGACY_SHA256, "old secret"), KeyVersion(2, HMAC_SHA256, "cd" * 32)), "t"
)
SPARK_CONFIG = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
}


def random_transactions(seed: int = 3, n_customers: int = 60) -> pd.DataFrame:
    """Customers buying at random times (several per day at times), channels mixed."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01")
    for c in range(n_customers):
        first = rng.integers(0, 120)
        n = int(rng.integers(1, 7))
        days = np.sort(first + np.concatenate([[0], rng.integers(0, 150, n - 1)]))
        for i, d in enumerate(days):
            hour = int(rng.integers(0, 24))
            channel = [None, "search", "social"][int(rng.integers(0, 3))] if i else "search"
            if c % 5 == 0 and i == 0:
                channel = None
            ts = start + pd.Timedelta(days=int(d), hours=hour)
            rows.append(
                (f"cust-{c}", ts.isoformat(), round(float(rng.gamma(2.0, 20.0)), 2), channel)
            )
    return pd.DataFrame(rows, columns=["customer_id", "ts", "amount", "acquisition_channel"])


def naive(frame: pd.DataFrame, cal: date, end: date, period: str, divisor: float) -> pd.DataFrame:
    """lifetimes' calibration_and_holdout_data, as a plain loop per customer."""
    ts = pd.to_datetime(frame["ts"])
    day = ts.dt.floor("D")
    p = day if period == "day" else day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    cal_ts, end_ts = pd.Timestamp(cal), pd.Timestamp(end)
    if period == "week":
        cal_ts -= pd.Timedelta(days=cal_ts.weekday())
        end_ts -= pd.Timedelta(days=end_ts.weekday())
    out = {}
    for cid, rows in frame.assign(p=p, t=ts).groupby("customer_id"):
        per = rows[rows.p <= end_ts].groupby("p").amount.sum().sort_index()
        calib = per[per.index <= cal_ts]
        if calib.empty:
            continue
        first = rows.sort_values(["t", "acquisition_channel"], na_position="last").iloc[0]
        hold = per[per.index > cal_ts]
        x = len(calib) - 1
        out[KEY.hash(str(cid))] = {
            "acquisition_channel": (
                "unknown" if pd.isna(first.acquisition_channel) else first.acquisition_channel
            ),
            "first_value": calib.iloc[0],
            "frequency": x,
            "recency": (calib.index[-1] - calib.index[0]).days / divisor,
            "T": (cal_ts - calib.index[0]).days / divisor,
            "monetary_value": calib.iloc[1:].mean() if x else 0.0,
            "frequency_holdout": len(hold),
            "value_holdout": hold.sum(),
        }
    return pd.DataFrame.from_dict(out, orient="index").sort_index()


def assert_matches(summary: CustomerSummary, expected: pd.DataFrame) -> None:
    got = summary.customers.set_index("customer_key").sort_index()
    assert list(got.index) == list(expected.index)
    for column in expected.columns:
        if column == "acquisition_channel":
            assert list(got[column]) == list(expected[column])
        else:
            np.testing.assert_allclose(got[column], expected[column].astype(float), rtol=FLOAT64)


@pytest.mark.parametrize(("period", "unit"), [("day", "weeks"), ("week", "weeks"), ("day", "days")])
def test_summaries_match_lifetimes_semantics(period: str, unit: str) -> None:
    frame = random_transactions()
    cal, end = date(2024, 4, 10), date(2024, 6, 30)
    settings = SummarySettings(period=period, unit=unit, calibration_end=cal, observation_end=end)
    summary = summarize_table(frame, settings, ids=KEY)
    divisor = 7.0 if unit == "weeks" else 1.0
    assert_matches(summary, naive(frame, cal, end, period, divisor))
    assert summary.n_customers == len(summary.customers)
    assert summary.unit == unit
    assert summary.calibration_end <= cal
    # customers whose first purchase is after the calibration end are left out
    firsts = pd.to_datetime(frame["ts"]).groupby(frame["customer_id"]).min()
    assert summary.n_customers < len(firsts)


def test_collapsed_rows_are_unique_and_weigh_every_customer() -> None:
    summary = summarize_table(random_transactions(n_customers=200), ids=KEY)
    for table, keys in (
        (summary.weighted, ["frequency", "recency", "T"]),
        (summary.weighted_by_channel, ["frequency", "recency", "T", "acquisition_channel"]),
    ):
        assert int(table["weight"].sum()) == summary.n_customers
        assert not table.duplicated(keys).any()
    assert len(summary.weighted) < summary.n_customers
    counts = summary.customers.groupby(["frequency", "recency", "T"]).size()
    weights = summary.weighted.set_index(["frequency", "recency", "T"])["weight"]
    assert counts.sort_index().tolist() == weights.sort_index().tolist()


def test_first_purchase_channel_and_unknown() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "ts": ["2024-01-02", "2024-01-01", "2024-01-01", "2024-01-05", "2024-01-03"],
            "amount": [5.0, 10.0, 1.0, 2.0, 3.0],
            "acquisition_channel": ["tv", "search", None, "social", None],
        }
    )
    got = summarize_table(frame, ids=KEY).customers.set_index("customer_key")
    assert got.loc[KEY.hash("a"), "acquisition_channel"] == "search"
    assert got.loc[KEY.hash("a"), "first_value"] == 10.0
    assert got.loc[KEY.hash("b"), "acquisition_channel"] == "unknown"
    assert got.loc[KEY.hash("c"), "acquired_at"] == pd.Timestamp("2024-01-03")


@pytest.mark.shared_data
def test_cdnow_reproduces_the_published_summary(shared_data: Path, tmp_path: Path) -> None:
    """FHL 2005's CDNOW sample: calibration to 1997-09-30 (39 weeks), x, t_x, T, zbar."""
    folder = shared_data / "lifetimes"
    raw = pd.read_csv(
        folder / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["original", "customer_id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    raw["customer_id"] = raw["customer_id"].astype(str)  # 1 … 2357, as in the published file
    raw["ts"] = pd.to_datetime(raw["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d")
    path = tmp_path / "cdnow.csv"
    raw[["customer_id", "ts", "amount"]].to_csv(path, index=False)
    summary = summarize_file(path, SummarySettings(calibration_end="1997-09-30"), ids=KEY)
    published = pd.read_csv(folder / "cdnow_customers_summary_with_transactions.csv")
    published.index = [KEY.hash(str(i)) for i in published["ID"]]
    got = summary.customers.set_index("customer_key").loc[published.index]
    rounding = 0.005 + 1e-9  # the file has two decimals
    np.testing.assert_array_equal(got["frequency"], published["x"])
    for ours, theirs in (("recency", "t_x"), ("T", "T"), ("monetary_value", "zbar")):
        np.testing.assert_allclose(got[ours], published[theirs], rtol=0, atol=rounding)
    assert summary.n_customers == len(published) == 2357
    assert summary.holdout_duration == pytest.approx(39.0)
    assert summary.observation_end == date(1998, 6, 30)


def test_raw_ids_are_hashed_on_arrival(write_file: WriteFile) -> None:
    path = write_file("t.csv", "customer_id,ts,amount\nalice@example.com,2024-01-01,10\n")
    summary = summarize_file(path, ids=TWO_VERSIONS)
    assert summary.customers["customer_key"].tolist() == [TWO_VERSIONS.hash("alice@example.com")]
    assert not summary.one_off_key
    one_off = summarize_file(path)
    assert one_off.one_off_key
    assert "alice" not in one_off.customers.to_csv()


def test_workspace_transactions(ws: Workspace, write_file: WriteFile) -> None:
    text = "customer_id,ts,amount,channel\nc1,2024-01-01,10,search\nc1,2024-01-08,20,\nc2,2024-01-03,5,\n"
    ingest_file(ws, "transactions", write_file("t.csv", text))
    path = ws.path
    ws.close()
    summary = summarize_workspace(path, SummarySettings(unit="days"))
    got = summary.customers.set_index("acquisition_channel")
    assert got.loc["search", "frequency"] == 1
    assert got.loc["search", "recency"] == 7.0
    assert got.loc["search", "monetary_value"] == 20.0
    assert got.loc["unknown", "T"] == 5.0


BAD = [
    ("customer_id,ts,amount\na,2024-01-01,10\nb,2024-01-02,-3\n", "row 2: '-3'", "negative"),
    ("customer_id,ts,amount\na,2024-01-01,10\nb,yesterday,3\n", "row 2: 'yesterday'", "ts"),
    ("customer_id,ts,amount\na,2024-01-01,ten\n", "row 1: 'ten'", "not a number"),
    ("customer_id,ts,amount\n,2024-01-01,10\n", "row 1", "no customer id"),
    ("customer_id,date_of_purchase,amount\na,2024-01-01,10\n", "missing", "ts"),
    ("ts,amount\n2024-01-01,10\n", "missing", "customer_id"),
    (
        "customer_id,ts,amount,acquired_at\na,2024-01-05,10,2024-01-01\nb,2024-01-01,3,2024-02-01\n",
        "row 2",
        "before the customer's stated acquisition date",
    ),
    ("customer_key,ts,amount\nalice,2024-01-01,10\n", "row 1", "not margin's hash"),
]


@pytest.mark.parametrize(("text", "where", "what"), BAD)
def test_bad_input_is_named(write_file: WriteFile, text: str, where: str, what: str) -> None:
    path = write_file("bad.csv", text)
    with pytest.raises(DataValidationError) as info:
        summarize_file(path, ids=KEY)
    message = str(info.value)
    assert str(path) in message
    assert where in message
    assert what in message
    assert "alice" not in message


def test_calibration_end_before_the_data_and_empty_input(write_file: WriteFile) -> None:
    path = write_file("t.csv", "customer_id,ts,amount\na,2024-01-05,10\n")
    with pytest.raises(DataValidationError, match="before the first transaction"):
        summarize_file(path, SummarySettings(calibration_end=date(2023, 12, 1)), ids=KEY)
    empty = write_file("empty.csv", "customer_id,ts,amount\n")
    with pytest.raises(DataValidationError, match="no transactions"):
        summarize_file(empty, ids=KEY)
    with pytest.raises(InputFileError, match="does not exist"):
        summarize_file(path.with_name("nope.csv"))


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="period"):
        SummarySettings(period="month")
    with pytest.raises(ConfigError, match="unit"):
        SummarySettings(unit="years")
    with pytest.raises(ConfigError, match="not a date"):
        SummarySettings(calibration_end="the end")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="before calibration_end"):
        SummarySettings(calibration_end=date(2024, 2, 1), observation_end=date(2024, 1, 1))


# -- Spark: one local session for the module ---------------------------------------------
@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17+ on PATH")
    from margin.engines.spark_engine import local_session

    session = local_session("local[1]", SPARK_CONFIG)
    yield session
    session.stop()


@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_spark_and_duckdb_give_identical_summaries(
    spark: Any, tmp_path: Path, ws: Workspace
) -> None:
    from margin.engines import SparkEngine

    path = tmp_path / "t.csv"
    random_transactions(n_customers=40).to_csv(path, index=False)
    settings = SummarySettings(period="week", calibration_end=date(2024, 4, 10))
    duck = summarize_file(path, settings, ids=TWO_VERSIONS)
    on_spark = summarize_file(path, settings, ids=TWO_VERSIONS, engine=SparkEngine(spark))
    assert on_spark.engine == "spark"
    pd.testing.assert_frame_equal(
        duck.customers, on_spark.customers, check_dtype=False, rtol=FLOAT64
    )
    pd.testing.assert_frame_equal(duck.weighted, on_spark.weighted, check_dtype=False)
    pd.testing.assert_frame_equal(
        duck.weighted_by_channel, on_spark.weighted_by_channel, check_dtype=False
    )
    assert (duck.n_customers, duck.n_transactions) == (
        on_spark.n_customers,
        on_spark.n_transactions,
    )
    ingest_file(ws, "transactions", path)
    ws.close()
    from_ws = summarize_workspace(ws.path, settings)
    spark_ws = summarize_workspace(ws.path, settings, engine=SparkEngine(spark))
    pd.testing.assert_frame_equal(
        from_ws.customers, spark_ws.customers, check_dtype=False, rtol=FLOAT64
    )
    assert from_ws.n_customers == duck.n_customers
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,ts,amount\na,2024-01-01,-1\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="negative"):
        summarize_file(bad, ids=KEY, engine=SparkEngine(spark))


def test_raw_ids_are_hashed_once_per_customer_with_offloading_off() -> None:
    """On DuckDB raw ids are hashed after the aggregation (once per customer, not per
    transaction) while offloading to disk is switched off, so no raw id can reach a
    temporary file; the result is the per-row hashing's, and the setting is restored."""
    import contextlib

    from margin.engines import open_engine
    from margin.ltv import summary

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "customer_id": rng.choice([f"user-{i}@example.com" for i in range(300)], 3000),
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, 3000), "D"),
            "amount": rng.gamma(2.0, 20.0, 3000).round(2),
            "acquisition_channel": rng.choice(["search", "tv"], 3000),
        }
    )
    settings = SummarySettings(calibration_end=date(2024, 10, 1))
    once = summarize_table(frame, settings, ids=KEY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(summary, "_spill_off", lambda engine, raw: contextlib.nullcontext(False))
        per_row = summarize_table(frame, settings, ids=KEY)
    pd.testing.assert_frame_equal(once.customers, per_row.customers)
    pd.testing.assert_frame_equal(once.weighted_by_channel, per_row.weighted_by_channel)
    assert set(once.customers["customer_key"]) <= {KEY.hash(i) for i in set(frame["customer_id"])}
    assert not once.customers["customer_key"].str.contains("@").any()
    engine = open_engine("duckdb")
    setting = "SELECT current_setting('temp_directory')"
    before = engine.con.execute(setting).fetchone()
    with summary._spill_off(engine, raw=True) as late:
        assert late
        assert engine.con.execute(setting).fetchone() == ("",)  # nothing can spill
    assert engine.con.execute(setting).fetchone() == before
    with summary._spill_off(engine, raw=False) as late:
        assert not late  # already hashed: nothing to protect
    engine.close()
