"""The simulator's customers by acquisition channel (issue 23's truth).

Oracles: the Gamma, Beta and Gamma-Gamma moments of each channel's parameters; a
Monte-Carlo of the simulator's own purchase process for the analytic customer value;
digests of files written by the simulator before per-channel customers existed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from margin.data.simulator import WorldParams, simulate_world
from margin.data.simulator.customers import (
    draw_customer_rates,
    draw_purchase_rates,
    expected_customer_value,
    expected_repeat_purchases,
    purchase_process,
)
from margin.data.simulator.journeys import channel_spend_scale
from margin.data.simulator.params import CHANNEL_LTV_PRESETS, DEFAULT_CHANNELS, LtvParams
from margin.data.simulator.stepping import WorldOptions, init, load_state, step, world_params
from margin.errors import ConfigError

FAST = LtvParams(r=2.0, alpha=2.0, a=0.3, b=12.0, gamma=30.0)
"""Buys about once a week, rarely drops out, spends about $68 a purchase."""
SLOW = LtvParams(r=0.1, alpha=10.0, a=2.0, b=2.0, gamma=8.0)
"""Buys about once in 100 weeks, drops out half the time, spends about $18."""


def _params(**overrides: object) -> WorldParams:
    base = {"n_geos": 2, "n_weeks": 40, "channels": DEFAULT_CHANNELS[:3], "n_users": 400}
    return WorldParams(**{**base, **overrides})  # type: ignore[arg-type]


# --- parameters ---------------------------------------------------------------------------


def test_the_default_world_gives_its_channels_the_presets_and_organic_the_default() -> None:
    params = _params()
    presets = dict(CHANNEL_LTV_PRESETS)
    assert dict(params.ltv_by_channel) == {c: presets[c] for c in ("tv", "search", "social")}
    assert params.ltv_for("organic") == params.ltv == LtvParams()
    assert params.ltv_table[-1] == params.ltv
    search, display = presets["search"], presets["display"]
    assert search.mean_rate > params.ltv.mean_rate > display.mean_rate
    assert search.mean_dropout < params.ltv.mean_dropout < display.mean_dropout
    assert search.mean_amount > params.ltv.mean_amount > display.mean_amount
    assert _params(ltv_by_channel=()).ltv_table == (LtvParams(),) * 4


def test_a_mapping_of_fields_is_accepted_and_stored_as_pairs() -> None:
    params = _params(ltv_by_channel={"search": {"r": 0.5, "alpha": 3.0}, "organic": SLOW})
    assert params.ltv_by_channel == (("search", LtvParams(r=0.5, alpha=3.0)), ("organic", SLOW))
    assert params.ltv_for("tv") == params.ltv
    assert hash(params) == hash(replace(params))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"radio": FAST}, "WorldParams.ltv_by_channel['radio'] = 'radio' is invalid: expected one of the channels ('tv', 'search', 'social') or 'organic'"),
        ({"search": {"q": 0.5}}, "WorldParams.ltv_by_channel['search']: LtvParams.q = 0.5 is invalid: expected a number > 1"),
        ({"search": {"r": -1.0}}, "LtvParams.r = -1.0 is invalid"),
        ({"search": {"rate": 1.0}}, "WorldParams.ltv_by_channel['search'] = ['rate'] is invalid: expected only the fields"),
        ({"search": 3.0}, "WorldParams.ltv_by_channel['search'] = 3.0 is invalid: expected LtvParams"),
        ((("tv", FAST), ("tv", SLOW)), "WorldParams.ltv_by_channel['tv'] = 'tv' is invalid: expected each channel at most once"),
        ((("tv",),), "expected (channel, LtvParams) pairs"),
        (7, "expected a mapping channel -> LtvParams"),
    ],
)  # fmt: skip
def test_bad_per_channel_parameters_name_the_parameter(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        _params(ltv_by_channel=value)
    assert message in str(error.value)


# --- draws --------------------------------------------------------------------------------


def test_per_channel_draws_recover_their_parameters() -> None:
    params = _params(ltv_by_channel={"tv": FAST, "social": SLOW})
    n = 60_000
    cause = np.repeat(np.array([0, 1, 2, -1]), n)  # tv, search (default), social, organic
    rate, dropout = draw_customer_rates(params, cause, np.random.default_rng(3))
    scale = channel_spend_scale(
        params, np.random.default_rng(4).gamma(3.74, 1 / 15.44, 4 * n), cause
    )
    for k, ltv in enumerate((FAST, LtvParams(), SLOW, LtvParams())):
        part = slice(k * n, (k + 1) * n)
        rate_sd = np.sqrt(ltv.r) / ltv.alpha / np.sqrt(n)
        assert abs(rate[part].mean() - ltv.mean_rate) < 4.5 * rate_sd
        drop_sd = np.sqrt(ltv.a * ltv.b / ((ltv.a + ltv.b) ** 2 * (ltv.a + ltv.b + 1)) / n)
        assert abs(dropout[part].mean() - ltv.mean_dropout) < 4.5 * drop_sd
        scale_sd = np.sqrt(ltv.q) / ltv.gamma / np.sqrt(n)  # nu ~ Gamma(q, rate=gamma)
        assert abs(scale[part].mean() - ltv.q / ltv.gamma) < 4.5 * scale_sd
        assert np.var(scale[part]) == pytest.approx(ltv.q / ltv.gamma**2, rel=0.06)


def test_channel_draws_equal_the_single_parameter_draws_without_per_channel_parameters() -> None:
    params = _params(ltv_by_channel=())
    cause = np.array([0, 2, -1, 1, -1, 0])
    scale = np.random.default_rng(1).gamma(3.74, 1 / 15.44, 6)
    assert np.array_equal(channel_spend_scale(params, scale, cause), scale)
    ours = draw_customer_rates(params, cause, np.random.default_rng(2))
    single = draw_purchase_rates(6, params.ltv, np.random.default_rng(2))
    assert all(np.array_equal(x, y) for x, y in zip(ours, single, strict=True))


# --- the truth ----------------------------------------------------------------------------


@pytest.mark.parametrize("ltv", [LtvParams(), dict(CHANNEL_LTV_PRESETS)["search"], SLOW])
def test_true_customer_value_matches_a_monte_carlo_of_the_purchase_process(ltv: LtvParams) -> None:
    n, weeks = 200_000, 52.0
    rng = np.random.default_rng(23)
    rate, dropout = draw_purchase_rates(n, ltv, rng)
    who, _, _ = purchase_process(rate, dropout, np.zeros(n), np.full(n, weeks), rng)
    repeats = np.bincount(who, minlength=n)
    nu = rng.gamma(ltv.q, 1 / ltv.gamma, n)
    first = rng.gamma(ltv.p_shape, 1 / nu)
    spent = rng.gamma(ltv.p_shape * np.maximum(repeats, 1), 1 / nu) * (
        repeats > 0
    )  # sum of amounts
    value = first + spent
    mean_x = expected_repeat_purchases(ltv, weeks)
    assert abs(repeats.mean() - mean_x) < 4 * repeats.std() / np.sqrt(n)
    assert abs(value.mean() - expected_customer_value(ltv, weeks)) < 4 * value.std() / np.sqrt(n)


def test_expected_repeat_purchases_is_continuous_through_a_equal_to_one() -> None:
    values = [expected_repeat_purchases(replace(LtvParams(), a=a), 52) for a in (0.999, 1, 1.001)]
    assert values[0] > values[1] > values[2] > 0
    assert values[0] - values[2] < 0.01
    assert expected_repeat_purchases(LtvParams(), 0) == 0


def test_truth_writes_each_channels_parameters_customers_and_values() -> None:
    params = _params(ltv_by_channel={"search": FAST})
    world = simulate_world(params, seed=5)
    truth = json.loads(json.dumps(world.truth))["ltv"]
    assert truth["value_horizons_weeks"] == [26, 52, 104]
    by_channel = truth["by_channel"]
    assert list(by_channel) == ["tv", "search", "social", "organic"]
    counts = world.transactions.groupby("acquisition_channel")["customer_key"].nunique()
    for name, row in by_channel.items():
        ltv = params.ltv_for(name)
        assert row["source"] == ("ltv_by_channel" if name == "search" else "ltv")
        assert (row["r"], row["alpha"], row["a"], row["b"]) == (ltv.r, ltv.alpha, ltv.a, ltv.b)
        assert (row["p"], row["q"], row["gamma"]) == (ltv.p_shape, ltv.q, ltv.gamma)
        assert row["customers"] == counts.get(name, 0)
        assert row["value_unit"] == "USD"
        assert row["value"]["52"] == pytest.approx(expected_customer_value(ltv, 52))
        assert row["expected_repeat_purchases"]["104"] == pytest.approx(
            expected_repeat_purchases(ltv, 104)
        )
    assert sum(r["customers"] for r in by_channel.values()) == truth["n_customers"]
    assert by_channel["search"]["value"]["104"] > 5 * by_channel["tv"]["value"]["104"]
    assert "customer_value" in world.truth["definitions"]


# --- worlds -------------------------------------------------------------------------------


def _per_customer(transactions: pd.DataFrame, key: str) -> pd.DataFrame:
    """Repeat purchases and mean amount per customer, with the acquisition channel."""
    grouped = transactions.groupby(key)
    return pd.DataFrame(
        {
            "repeats": grouped.size() - 1,
            "amount": grouped["amount"].mean(),
            "channel": grouped["acquisition_channel"].first(),
        }
    )


def test_batch_world_customers_behave_as_their_channel() -> None:
    params = _params(ltv_by_channel={"search": FAST, "social": SLOW}, n_users=4000)
    world = simulate_world(params, seed=2)
    stats = _per_customer(world.transactions, "customer_key").groupby("channel").mean()
    assert stats.loc["search", "repeats"] > 5 * stats.loc["organic", "repeats"]
    assert stats.loc["social", "repeats"] < stats.loc["organic", "repeats"]
    assert stats.loc["search", "amount"] > 1.4 * stats.loc["organic", "amount"]
    assert stats.loc["social", "amount"] < 0.8 * stats.loc["organic", "amount"]


def test_first_purchase_value_uses_the_customers_spend_scale() -> None:
    base = _params(ltv_by_channel=(), n_users=3000)
    world = simulate_world(replace(base, ltv_by_channel={"search": FAST, "organic": SLOW}), seed=8)
    first = world.transactions.drop_duplicates("customer_key")
    mean = first.groupby("acquisition_channel")["amount"].mean()
    assert mean["search"] > 2 * mean["organic"]
    assert mean["search"] == pytest.approx(FAST.mean_amount, rel=0.3)
    assert mean["organic"] == pytest.approx(SLOW.mean_amount, rel=0.3)


def _step_once(folder: Path) -> pd.DataFrame:
    state = load_state(folder)
    mean = state.float_array("spend")[:, -26:].mean(axis=1)
    rows = [
        {
            "date": (state.next_week + timedelta(weeks=t)).isoformat(),
            "geo": state.params.geos[g],
            "channel": state.params.channel_names[c],
            "spend": round(float(mean[g, c]), 2),
        }
        for g, t, c in np.ndindex(mean.shape[0], 8, mean.shape[1])
    ]
    pd.DataFrame(rows).to_csv(folder.parent / "plan.csv", index=False)
    step(folder, folder.parent / "plan.csv", folder.parent / "out")
    return pd.read_csv(folder.parent / "out" / "transactions.csv")


def test_stepping_world_customers_behave_as_their_channel(tmp_path: Path) -> None:
    params = replace(
        world_params(geos=2, history_weeks=40, n_users=1500),
        ltv_by_channel={"search": FAST, "social": SLOW},
    )
    init(params, 6, WorldOptions(), tmp_path / "world")
    history = pd.read_csv(tmp_path / "world" / "history" / "transactions.csv")
    later = _step_once(tmp_path / "world")
    stats = _per_customer(history, "customer_id").groupby("channel").mean()
    assert stats.loc["search", "repeats"] > 5 * stats.loc["organic", "repeats"]
    assert stats.loc["social", "repeats"] < stats.loc["organic", "repeats"]
    assert stats.loc["search", "amount"] > 1.4 * stats.loc["social", "amount"]
    buyers = later.groupby("acquisition_channel")["customer_id"].nunique()
    assert buyers["search"] > buyers.get("social", 0)  # search customers keep buying
    assert load_state(tmp_path / "world").params.ltv_by_channel == params.ltv_by_channel


_BEFORE = {
    "batch transactions": "3c611d065bf38b22f692fc4e82d96e48f7c2a3dac2bde5549ee2549c5d4ef093",
    "batch events": "8dbadfcc65d8de7bfb2be590e385199b6b215dd05bda6e0a52526950ae96129c",
    "stepping transactions": "22d6892763404c7364b524b94f18f9692a47a3856cb68dfd3145d77695991afa",
    "stepping events": "8fcfd68baacefa523f104e073c84c92532c4758e03e533c083b3b828aa16d07a",
}
"""Digests of these files written by the simulator before per-channel customers existed."""


def test_without_per_channel_parameters_the_files_are_those_of_before(tmp_path: Path) -> None:
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    world = simulate_world(WorldParams(n_geos=2, n_weeks=30, n_users=400, ltv_by_channel=()), seed=11)  # fmt: skip
    got = {
        "batch transactions": digest(world.transactions.to_csv(index=False).encode()),
        "batch events": digest(world.events.to_csv(index=False).encode()),
    }
    params = replace(world_params(geos=2, history_weeks=30, n_users=400), ltv_by_channel=())
    init(params, 11, WorldOptions(), tmp_path / "w")
    for name in ("transactions", "events"):
        got[f"stepping {name}"] = digest((tmp_path / "w" / "history" / f"{name}.csv").read_bytes())
    assert got == _BEFORE
