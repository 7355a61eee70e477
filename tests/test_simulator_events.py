"""The simulator's user events, customer transactions and written files."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from margin.data.simulator import (
    LtvParams,
    World,
    simulate_repeat_purchases,
    simulate_world,
    write_world,
)

MC_SIGMAS = 4.0
"""Monte-Carlo checks pass within this many standard errors."""
SERIES_TOL = 1e-14
"""Stop the hypergeometric series once a term is this small relative to the sum."""
SEED = 0
WEEK = pd.Timedelta(weeks=1)

COLUMNS = {
    "spend.csv": [
        "date",
        "geo",
        "channel",
        "campaign",
        "spend",
        "impressions",
        "clicks",
        "currency",
    ],
    "outcomes.csv": ["date", "geo", "kpi", "value"],
    "controls.csv": ["date", "geo", "name", "value"],
    "events.parquet": ["user_key", "ts", "channel", "campaign", "creative", "event", "value"],
    "transactions.csv": ["customer_key", "ts", "amount", "acquisition_channel"],
    "experiments.csv": [
        "id",
        "channel",
        "kpi",
        "treatment_geos",
        "control_geos",
        "start",
        "end",
        "spend_delta",
        "lift",
        "lift_se",
        "method",
        "design_id",
    ],
    "panel.csv": [
        "date",
        "geo",
        "revenue",
        "tv",
        "search",
        "social",
        "display",
        "video",
        "price",
        "holiday",
    ],
}


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world(seed=SEED)


def week_index(world: World, ts: pd.Series) -> np.ndarray:
    return ((ts - pd.Timestamp(world.params.start)) // WEEK).to_numpy()


# --- events ----------------------------------------------------------------------------


def test_conversion_count_matches_the_sampled_kpi(world: World) -> None:
    params = world.params
    implied = world.arrays.expected.sum() * params.kpi_value / params.value_per_conversion
    expected = params.event_sample_fraction * implied
    conversions = world.events[world.events["event"] == "conversion"]
    assert abs(len(conversions) - expected) < MC_SIGMAS * math.sqrt(expected)
    assert world.truth["events"]["n_conversions"] == len(conversions)


def test_causal_conversions_per_channel_match_the_kpi_decomposition(world: World) -> None:
    params = world.params
    scale = params.event_sample_fraction * params.kpi_value / params.value_per_conversion
    causes = world.conversion_causes["cause"].value_counts()
    truth = world.truth["events"]["causal_conversions"]
    for c, name in enumerate(params.channel_names):
        expected = world.arrays.media[:, :, c].sum() * scale
        assert (
            abs(world.truth["events"]["expected_causal_conversions"][name] - expected)
            < 1e-9 * expected
        )
        assert abs(causes[name] - expected) < MC_SIGMAS * math.sqrt(expected)
        assert truth[name] == causes[name]
    assert sum(truth.values()) == len(world.conversion_causes)


def test_every_caused_conversion_follows_a_touch_of_its_channel_within_the_window(
    world: World,
) -> None:
    touches = world.events[world.events["event"] == "touch"]
    caused = world.conversion_causes[world.conversion_causes["cause"] != "organic"]
    assert len(caused) > 1000
    matched = caused.merge(
        touches.rename(columns={"channel": "cause", "ts": "touch_ts"})[
            ["user_key", "cause", "touch_ts"]
        ],
        on=["user_key", "cause", "touch_ts"],
        how="left",
        indicator=True,
    )
    assert len(matched) == len(caused)
    assert (matched["_merge"] == "both").all()
    assert (matched["touch_ts"] < matched["ts"]).all()
    lag = week_index(world, matched["ts"]) - week_index(world, matched["touch_ts"])
    max_lag = matched["cause"].map({c.name: c.max_lag for c in world.params.channels}).to_numpy()
    assert np.all((lag >= 0) & (lag < max_lag))


def test_touches_follow_impressions(world: World) -> None:
    touches = world.events[world.events["event"] == "touch"]
    params = world.params
    rate = params.event_sample_fraction * params.touch_tracking_rate
    counts = touches["channel"].value_counts()
    for c, name in enumerate(params.channel_names):
        impressions = world.arrays.impressions[:, :, c]
        expected = (impressions * rate).sum()
        floor = np.sum(
            (impressions > 0) & (impressions * rate < 1)
        )  # at least one touch per active cell
        assert (
            expected - MC_SIGMAS * math.sqrt(expected)
            < counts[name]
            < expected + floor + MC_SIGMAS * math.sqrt(expected)
        )
    campaigns = set(world.spend["campaign"])
    assert set(touches["campaign"]) <= campaigns
    assert "tv_brand_q1_2023" in campaigns
    assert (touches["value"] == 0).all()


def test_event_columns_and_keys_are_not_pii_like(world: World) -> None:
    events = world.events
    assert list(events.columns) == COLUMNS["events.parquet"]
    assert set(events["event"]) == {"touch", "conversion"}
    keys = pd.Series(events["user_key"].unique())
    assert keys.str.fullmatch(r"u[0-9a-f]{16}").all(), "opaque hash-like keys"
    assert len(keys) <= world.params.n_users
    assert not keys.str.contains(r"[@\s.+]", regex=True).any(), "nothing email- or phone-like"
    conversions = events[events["event"] == "conversion"]
    assert conversions[["channel", "campaign", "creative"]].isna().all().all()
    assert (conversions["value"] > 0).all()
    assert events["ts"].is_monotonic_increasing
    end = pd.Timestamp(world.params.start) + world.params.n_weeks * WEEK
    assert events["ts"].min() >= pd.Timestamp(world.params.start)
    assert events["ts"].max() < end


# --- customers -------------------------------------------------------------------------


def hyp2f1(a: float, b: float, c: float, z: float) -> float:
    """Gauss's hypergeometric series, for 0 <= z < 1."""
    term, total, n = 1.0, 1.0, 0
    while abs(term) > SERIES_TOL * abs(total):
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total += term
        n += 1
    return total


def bgnbd_expected_purchases(t: float, ltv: LtvParams) -> float:
    """E[X(t)] of BG/NBD (Fader, Hardie & Lee 2005, eq. 7)."""
    r, alpha, a, b = ltv.r, ltv.alpha, ltv.a, ltv.b
    z = t / (alpha + t)
    survival = float((alpha / (alpha + t)) ** r)
    return (a + b - 1) / (a - 1) * (1 - survival * hyp2f1(r, b, a + b - 1, z))


@pytest.mark.parametrize("horizon", [13.0, 52.0])
def test_repeat_purchases_match_the_bgnbd_expectation(horizon: float) -> None:
    ltv = LtvParams()
    n = 100_000
    customer, time = simulate_repeat_purchases(np.full(n, horizon), ltv, seed=5)
    counts = np.bincount(customer, minlength=n)
    expected = bgnbd_expected_purchases(horizon, ltv)
    assert abs(counts.mean() - expected) < MC_SIGMAS * counts.std() / math.sqrt(n)
    assert np.all((time > 0) & (time <= horizon))
    assert np.all(np.diff(customer) >= 0)


def test_repeat_purchases_are_deterministic_for_a_seed() -> None:
    horizons = np.linspace(1.0, 80.0, 500)
    first = simulate_repeat_purchases(horizons, seed=9)
    second = simulate_repeat_purchases(horizons, seed=9)
    for left, right in zip(first, second, strict=True):
        np.testing.assert_array_equal(left, right)


def test_transaction_amounts_have_the_gamma_gamma_mean(world: World) -> None:
    amounts = world.transactions["amount"].to_numpy()
    ltv = world.params.ltv
    mean = ltv.p_shape * ltv.gamma / (ltv.q - 1)
    assert abs(world.truth["ltv"]["mean_amount"] - mean) < 1e-12 * mean
    # amounts of one customer share its spend scale: a cluster-robust standard error
    grouped = (
        world.transactions.assign(centred=amounts - amounts.mean())
        .groupby("customer_key")["centred"]
        .sum()
    )
    se = math.sqrt(float((grouped.to_numpy() ** 2).sum())) / amounts.size
    assert abs(amounts.mean() - mean) < MC_SIGMAS * se
    assert (amounts > 0).all()


def test_customers_are_acquired_by_their_first_conversion(world: World) -> None:
    transactions = world.transactions
    first = transactions.groupby("customer_key").head(1).set_index("customer_key")
    causes = world.conversion_causes.groupby("user_key").head(1).set_index("user_key")
    conversions = (
        world.events[world.events["event"] == "conversion"]
        .groupby("user_key")
        .head(1)
        .set_index("user_key")
    )
    assert set(first.index) == set(causes.index)
    assert (first["ts"] == causes.loc[first.index, "ts"]).all()
    assert (first["amount"] == conversions.loc[first.index, "value"]).all()
    assert (first["acquisition_channel"] == causes.loc[first.index, "cause"]).all()
    by_channel = first["acquisition_channel"].value_counts().to_dict()
    assert by_channel == {k: v for k, v in world.truth["ltv"]["customers_by_channel"].items() if v}
    one_channel = transactions.groupby("customer_key")["acquisition_channel"].nunique()
    assert (one_channel == 1).all()
    end = pd.Timestamp(world.params.start) + world.params.n_weeks * WEEK
    assert transactions["ts"].max() < end
    assert world.truth["ltv"]["n_transactions"] == len(transactions)


# --- files -----------------------------------------------------------------------------


def test_write_world_writes_every_file_with_the_contract_columns(
    world: World, tmp_path: Path
) -> None:
    paths = write_world(world, tmp_path / "world")
    assert {p.name for p in paths.values()} == {*COLUMNS, "spec.toml", "truth.json"}
    assert all(p.exists() for p in paths.values())
    for name, columns in COLUMNS.items():
        path = tmp_path / "world" / name
        frame = pq.read_table(path).to_pandas() if name.endswith(".parquet") else pd.read_csv(path)
        assert list(frame.columns) == columns, name
    events = pq.read_table(paths["events"])
    assert str(events.schema.field("ts").type) == "timestamp[us]"
    assert str(events.schema.field("user_key").type) == "string"
    assert events.num_rows == len(world.events)
    assert json.loads(paths["truth"].read_text()) == world.truth
    spec = tomllib.loads(paths["spec"].read_text())["data"]
    assert spec == {
        "date": "date",
        "geo": "geo",
        "kpi": "revenue",
        "kpi_type": "revenue",
        "media": ["tv", "search", "social", "display", "video"],
        "controls": ["price", "holiday"],
    }


def test_written_csvs_round_trip_the_numbers(world: World, tmp_path: Path) -> None:
    paths = write_world(world, tmp_path)
    panel = pd.read_csv(paths["panel"])
    np.testing.assert_array_equal(panel["revenue"].to_numpy(), world.panel["revenue"].to_numpy())
    np.testing.assert_array_equal(panel["tv"].to_numpy(), world.panel["tv"].to_numpy())
    spend = pd.read_csv(paths["spend"])
    by_channel = spend.groupby("channel")["spend"].sum()
    for name, channel in world.truth["channels"].items():
        assert abs(by_channel[name] - channel["spend"]) < 1e-6 * channel["spend"]
    transactions = pd.read_csv(paths["transactions"], parse_dates=["ts"])
    assert (transactions["ts"] == world.transactions["ts"]).all()
    assert (transactions["customer_key"] == world.transactions["customer_key"]).all()
    experiments = pd.read_csv(paths["experiments"])
    assert experiments["treatment_geos"].tolist() == ["south;east", "west"]
