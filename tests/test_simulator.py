"""The simulator's media maths, parameters, KPI truth and lift tests.

Oracles: a naive-loop adstock, and an independent naive re-implementation of the whole
expected-KPI model that reads its parameters from ``world.truth`` (so the truth also
proves it describes the world completely).
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from margin.data import simulator
from margin.data.simulator import (
    ChannelParams,
    LiftTestParams,
    World,
    WorldParams,
    adstock_weights,
    geometric_adstock,
    hill,
    media_effects,
    simulate_world,
)
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.errors import ConfigError

EXACT = 1e-12
"""Same arithmetic in a different order."""
FLOAT64 = 1e-9
"""Relative: sums of ~10^3 terms of size ~10^6 recomputed by a different algorithm."""
MC_SIGMAS = 4.0
"""Monte-Carlo checks pass within this many standard errors."""
SEED = 0
FAST: dict[str, Any] = {"n_users": 200, "touch_tracking_rate": 1e-3}
"""A small event log, for tests about spend and outcomes only."""


def naive_adstock(x: np.ndarray, decays: list[float], lags: list[int]) -> np.ndarray:
    n_geos, n_times, n_channels = x.shape
    out = np.zeros_like(x)
    for g in range(n_geos):
        for c in range(n_channels):
            norm = sum(decays[c] ** k for k in range(lags[c]))
            for t in range(n_times):
                for lag in range(lags[c]):
                    if t - lag >= 0:
                        out[g, t, c] += decays[c] ** lag / norm * x[g, t - lag, c]
    return out


def oracle_expected_kpi(
    truth: dict[str, Any], spend: np.ndarray, price: np.ndarray, holiday: np.ndarray
) -> np.ndarray:
    """The KPI model written out plainly from the truth dictionary, ``(n_geos, n_times)``."""
    n_geos, n_times, _ = spend.shape
    share = truth["geos"]["population_share"]
    base = truth["baseline"]
    unit = truth["kpi"]["unit_value"]
    start = date.fromisoformat(truth["calendar"]["start"])
    out = np.zeros((n_geos, n_times))
    for t in range(n_times):
        day = start + timedelta(weeks=t)
        theta = 2 * math.pi * (day - date(day.year, 1, 1)).days / base["seasonality"]["period_days"]
        season = sum(
            a * math.cos(k * theta) + b * math.sin(k * theta)
            for k, (a, b) in enumerate(
                zip(base["seasonality"]["cos"], base["seasonality"]["sin"], strict=True), 1
            )
        )
        trend = 1 + base["trend_per_year"] * t * 7 / 365.25
        for g in range(n_geos):
            level = trend * (1 + season) + base["holiday_effect"] * holiday[g, t]
            level += base["price_coefficient"] * (price[g, t] - base["reference_price"])
            out[g, t] = base["intercept"] * share[g] * level / unit
    channels = list(truth["channels"].values())
    decays = [ch["adstock"]["decay"] for ch in channels]
    lags = [ch["adstock"]["max_lag"] for ch in channels]
    adstocked = naive_adstock(spend, decays, lags)
    for c, ch in enumerate(channels):
        k, s = ch["saturation"]["half_saturation"], ch["saturation"]["slope"]
        for g in range(n_geos):
            for t in range(n_times):
                x = adstocked[g, t, c] / share[g]
                out[g, t] += ch["beta"] * share[g] * x**s / (x**s + k**s) / unit
    return out


def world_inputs(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spend ``(n_geos, n_times, n_channels)``, price and holiday from the wide panel."""
    params = world.params
    panel = world.panel
    n_geos, n_times = len(params.geos), params.n_weeks
    spend = np.stack(
        [panel[c].to_numpy().reshape(n_geos, n_times) for c in params.channel_names], axis=2
    )
    price = panel["price"].to_numpy().reshape(n_geos, n_times)
    holiday = panel["holiday"].to_numpy().reshape(n_geos, n_times)
    return spend, price, holiday


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world(seed=SEED)


@pytest.fixture(scope="module")
def oracle_kpi(world: World) -> np.ndarray:
    return oracle_expected_kpi(world.truth, *world_inputs(world))


# --- media maths -----------------------------------------------------------------------


def test_public_api_is_sorted_and_importable() -> None:
    assert simulator.__all__ == sorted(simulator.__all__)
    for name in simulator.__all__:
        assert hasattr(simulator, name)


def test_adstock_matches_naive_loop() -> None:
    x = np.random.default_rng(1).gamma(2.0, 100.0, (3, 30, 4))
    decays, lags = [0.0, 0.3, 0.7, 0.95], [1, 3, 8, 12]
    np.testing.assert_allclose(
        geometric_adstock(x, decays, lags), naive_adstock(x, decays, lags), rtol=EXACT
    )


def test_adstock_decay_zero_is_identity() -> None:
    x = np.random.default_rng(2).gamma(2.0, 100.0, (2, 20, 3))
    np.testing.assert_array_equal(geometric_adstock(x, 0.0, 5), x)


@pytest.mark.parametrize(("decay", "max_lag"), [(0.0, 1), (0.5, 4), (0.9, 13), (0.99, 52)])
def test_adstock_weights_sum_to_one(decay: float, max_lag: int) -> None:
    weights = adstock_weights(decay, max_lag)
    assert weights.shape == (max_lag, 1)
    assert abs(weights.sum() - 1) < EXACT
    assert np.all(np.diff(weights[:, 0]) <= 0)


def test_adstock_preserves_spend_mass_past_the_truncation() -> None:
    decays, lags = [0.2, 0.6, 0.9], [3, 6, 10]
    x = np.random.default_rng(3).gamma(2.0, 100.0, (2, 40, 3))
    padded = np.concatenate([x, np.zeros((2, max(lags) - 1, 3))], axis=1)
    np.testing.assert_allclose(
        geometric_adstock(padded, decays, lags).sum(axis=1), x.sum(axis=1), rtol=EXACT
    )


def test_adstock_rejects_bad_parameters() -> None:
    x = np.ones((1, 5, 2))
    with pytest.raises(ConfigError, match="decay"):
        geometric_adstock(x, [0.5, 1.0], 3)
    with pytest.raises(ConfigError, match="max_lag"):
        geometric_adstock(x, 0.5, 0)
    with pytest.raises(ConfigError, match="shape"):
        geometric_adstock(np.ones((5, 2)), 0.5, 3)


@pytest.mark.parametrize(("half", "slope"), [(1.0, 1.0), (5e4, 0.7), (2e5, 2.5)])
def test_hill_is_half_at_half_saturation_and_zero_at_zero(half: float, slope: float) -> None:
    assert abs(hill(half, half, slope) - 0.5) < EXACT
    assert hill(0.0, half, slope) == 0.0
    grid = np.linspace(0, 10 * half, 50)
    assert np.all(np.diff(hill(grid, half, slope)) > 0)


def test_zero_media_gives_zero_effect() -> None:
    params = WorldParams()
    zeros = np.zeros((len(params.geos), params.n_weeks, len(params.channels)))
    assert np.all(media_effects(zeros, params) == 0.0)
    price = np.full((len(params.geos), params.n_weeks), 1.0)
    holiday = np.zeros_like(price)
    np.testing.assert_array_equal(
        simulator.expected_kpi(zeros, price, holiday, params),
        simulator.baseline(params, price, holiday),
    )


# --- parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (lambda: WorldParams(n_weeks=3), "n_weeks"),
        (lambda: WorldParams(population=(1.0,)), "population"),
        (lambda: WorldParams(start=date(2023, 1, 3)), "start"),
        (lambda: WorldParams(kpi_type="sales"), "kpi_type"),  # type: ignore[arg-type]
        (lambda: WorldParams(noise_cv=-0.1), "noise_cv"),
        (lambda: WorldParams(currency="usd"), "currency"),
        (lambda: WorldParams(seasonality_cos=(0.1,)), "seasonality_sin"),
        (
            lambda: WorldParams.national(
                lift_tests=(LiftTestParams("x", "tv", ("north",), 1, 2, 0.0),)
            ),
            "treatment_geos",
        ),
        (
            lambda: WorldParams(
                n_geos=2, lift_tests=(LiftTestParams("x", "tv", ("north", "south"), 1, 2, 0.0),)
            ),
            "control geo",
        ),
        (lambda: WorldParams(n_geos=3, geos=("a", "b"), population=(1.0, 2.0)), "n_geos"),
        (lambda: WorldParams(n_geos=501), "n_geos"),
        (
            lambda: WorldParams(lift_tests=(LiftTestParams("x", "radio", ("north",), 1, 2, 0.0),)),
            "channel",
        ),
        (
            lambda: WorldParams(lift_tests=(LiftTestParams("x", "tv", ("north",), 100, 8, 0.0),)),
            "n_weeks",
        ),
        (lambda: LiftTestParams("x", "tv", ("north",), 1, 2), "spend_multiplier"),
        (lambda: ChannelParams(**{**DEFAULT_CHANNELS[0].__dict__, "decay": 1.0}), "decay"),
    ],
)
def test_invalid_parameters_raise_config_error_naming_the_parameter(make: Any, where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        make()


def test_geos_are_generated_from_n_geos() -> None:
    default = WorldParams()
    assert default.n_geos == 6
    assert default.population == (8.0, 5.5, 4.0, 3.0, 2.0, 1.5)
    assert WorldParams(n_geos=1) == WorldParams.national()
    assert WorldParams.national().geos == ("national",)
    assert WorldParams.national().lift_tests == ()
    many = WorldParams(n_geos=20)
    assert many.geos[:2] == ("geo_001", "geo_002")
    assert len(set(many.geos)) == 20
    explicit = WorldParams(geos=("a", "b", "c"), population=(1.0, 1.0, 2.0))
    assert explicit.n_geos == 3
    assert [t.treatment_geos for t in explicit.lift_tests] == [("b",), ("c",)]


def test_default_lift_tests_are_a_tv_heavy_up_and_a_search_go_dark() -> None:
    heavy, dark = WorldParams().lift_tests
    assert (heavy.channel, heavy.treatment_geos, heavy.start_week, heavy.n_weeks) == (
        "tv",
        ("south", "east"),
        60,
        6,
    )
    assert (heavy.spend_multiplier, heavy.weekly_spend_added) == (1.0, 50_000.0)
    assert (dark.channel, dark.treatment_geos, dark.start_week, dark.n_weeks) == (
        "search",
        ("west",),
        80,
        4,
    )
    assert dark.spend_multiplier == 0.0
    for n_weeks in (8, 30, 52, 260):
        tests = WorldParams(n_weeks=n_weeks, n_users=100).lift_tests
        assert all(t.start_week + t.n_weeks <= n_weeks for t in tests)


def test_reserved_channel_names_are_rejected() -> None:
    price_channel = ChannelParams(**{**DEFAULT_CHANNELS[0].__dict__, "name": "holiday"})
    with pytest.raises(ConfigError, match="panel columns"):
        WorldParams(channels=(price_channel,), lift_tests=())


def test_config_error_is_a_value_error_and_seed_must_be_an_int() -> None:
    with pytest.raises(ValueError, match="seed"):
        simulate_world(seed=-1)


# --- the world and its truth -----------------------------------------------------------


def test_default_world_shape(world: World) -> None:
    params = world.params
    assert params.geos == ("north", "south", "east", "west", "central", "coastal")
    assert params.n_weeks == 104
    assert world.panel["date"].iloc[0] == "2023-01-02"
    assert pd.to_datetime(world.outcomes["date"]).dt.day_of_week.eq(0).all()
    assert len(world.spend) == 6 * 104 * 5
    assert (world.spend["currency"] == "USD").all()
    assert set(world.controls["name"]) == {"price", "holiday"}
    assert world.truth["baseline"]["holiday_weeks"] == [
        "2023-11-20",
        "2023-12-25",
        "2024-11-25",
        "2024-12-23",
    ]
    json.dumps(world.truth, allow_nan=False)


def test_spend_patterns(world: World) -> None:
    spend, _, _ = world_inputs(world)
    national = spend.sum(axis=0)
    names = world.params.channel_names
    tv, search, video = (national[:, names.index(c)] for c in ("tv", "search", "video"))
    assert 0.3 < np.mean(tv == 0) < 0.7, "TV is flighted"
    assert np.all(search > 0), "search is always on"
    assert 0.5 < np.mean(video == 0) < 0.95, "video is sparse"
    baseline = simulator.baseline(world.params, world.arrays.price, world.arrays.holiday).sum(
        axis=0
    )
    assert np.corrcoef(search, baseline)[0, 1] > 0.5, "search chases demand (a confounder)"


def test_expected_kpi_matches_the_naive_oracle_built_from_truth(
    world: World, oracle_kpi: np.ndarray
) -> None:
    np.testing.assert_allclose(world.arrays.expected, oracle_kpi, rtol=FLOAT64)
    assert (
        abs(world.truth["totals"]["kpi_expected"] - oracle_kpi.sum()) < FLOAT64 * oracle_kpi.sum()
    )


def test_observed_kpi_is_positive_with_the_stated_noise(world: World) -> None:
    observed = world.outcomes["value"].to_numpy().reshape(len(world.params.geos), -1)
    assert np.all(observed > 0)
    residual = (observed - world.arrays.expected) / np.array(
        list(world.truth["noise"]["sd_by_geo"].values())
    )[:, None]
    n = residual.size
    assert abs(residual.mean()) < MC_SIGMAS / math.sqrt(n)
    assert abs(residual.std() - 1) < MC_SIGMAS * math.sqrt(0.5 / n)


def test_truth_roi_is_contribution_times_value_over_spend(
    world: World, oracle_kpi: np.ndarray
) -> None:
    spend, price, holiday = world_inputs(world)
    unit = world.truth["kpi"]["unit_value"]
    for c, name in enumerate(world.params.channel_names):
        zeroed = spend.copy()
        zeroed[:, :, c] = 0.0
        contribution = (oracle_kpi - oracle_expected_kpi(world.truth, zeroed, price, holiday)).sum()
        truth = world.truth["channels"][name]
        assert contribution > 0
        assert abs(truth["contribution"] - contribution) < FLOAT64 * contribution
        assert abs(truth["spend"] - spend[:, :, c].sum()) < FLOAT64 * truth["spend"]
        roi = contribution * unit / spend[:, :, c].sum()
        assert abs(truth["roi"] - roi) < FLOAT64 * roi
    shares = [ch["contribution_share"] for ch in world.truth["channels"].values()]
    assert abs(sum(shares) - 1) < EXACT


def test_truth_mroi_is_the_one_percent_counterfactual(world: World, oracle_kpi: np.ndarray) -> None:
    spend, price, holiday = world_inputs(world)
    for c, name in enumerate(world.params.channel_names):
        bumped = spend.copy()
        bumped[:, :, c] *= 1.01
        gain = (oracle_expected_kpi(world.truth, bumped, price, holiday) - oracle_kpi).sum()
        mroi = gain * world.truth["kpi"]["unit_value"] / (0.01 * spend[:, :, c].sum())
        assert abs(world.truth["channels"][name]["mroi"] - mroi) < 1e-6 * mroi


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mroi_is_below_roi_for_concave_response(seed: int) -> None:
    """For slope <= 1 Hill is concave with hill(0) = 0, so h(1.01x) - h(x) <= 0.01 x h'(x)
    <= 0.01 h(x) in every week and mROI < ROI always. For slope s > 1 (TV) it holds when
    adstocked spend per head mostly exceeds K (s - 1)^(1/s), true at the default levels."""
    world = simulate_world(WorldParams(**FAST), seed=seed)
    for ch in world.truth["channels"].values():
        assert 0 < ch["mroi"] < ch["roi"]


def test_same_seed_same_world_other_seed_other_world(world: World) -> None:
    again = simulate_world(seed=SEED)
    for name in ("spend", "outcomes", "controls", "events", "transactions", "experiments", "panel"):
        assert getattr(world, name).equals(getattr(again, name)), name
    assert again.truth == world.truth
    fewer_users = simulate_world(WorldParams(**FAST), seed=SEED)
    assert fewer_users.outcomes.equals(world.outcomes), "each component has its own random stream"
    assert fewer_users.experiments.equals(world.experiments)
    other = simulate_world(WorldParams(**FAST), seed=SEED + 1)
    assert not np.array_equal(other.arrays.spend, world.arrays.spend)
    assert set(other.events["user_key"].unique()).isdisjoint(world.events["user_key"].unique())
    assert (
        other.truth["channels"]["tv"]["contribution"]
        != world.truth["channels"]["tv"]["contribution"]
    )


def test_national_world() -> None:
    world = simulate_world(WorldParams.national(**FAST), seed=3)
    assert world.params.geos == ("national",)
    assert set(world.panel["geo"]) == {"national"}
    assert len(world.panel) == 104
    assert world.experiments.empty
    assert world.truth["lift_tests"] == []
    assert world.truth["geos"]["population_share"] == [1.0]


def test_conversions_kpi_values_conversions_at_value_per_conversion() -> None:
    params = WorldParams(kpi_type="conversions", value_per_conversion=50.0, **FAST)
    world = simulate_world(params, seed=4)
    revenue_world = simulate_world(WorldParams(**FAST), seed=4)
    assert set(world.outcomes["kpi"]) == {"conversions"}
    assert "conversions" in world.panel.columns
    assert np.all(world.outcomes["value"] == np.round(world.outcomes["value"]))
    np.testing.assert_allclose(
        world.arrays.expected * 50.0, revenue_world.arrays.expected, rtol=EXACT
    )
    for name, ch in world.truth["channels"].items():
        assert abs(ch["roi"] - ch["contribution"] * 50.0 / ch["spend"]) < EXACT * ch["roi"]
        assert abs(ch["roi"] - revenue_world.truth["channels"][name]["roi"]) < FLOAT64 * ch["roi"]
    assert 'kpi_type = "conversions"' in world.spec


# --- lift tests ------------------------------------------------------------------------


def test_lift_truth_recomputed_from_the_two_spend_plans(world: World) -> None:
    spend, price, holiday = world_inputs(world)
    plan = world.arrays.planned_spend
    params = world.params
    actual = oracle_expected_kpi(world.truth, spend, price, holiday)
    for test, truth in zip(params.lift_tests, world.truth["lift_tests"], strict=True):
        geos = [params.geos.index(g) for g in test.treatment_geos]
        c = params.channel_names.index(test.channel)
        weeks = slice(test.start_week, test.start_week + test.n_weeks)
        counterfactual = spend.copy()
        counterfactual[geos, weeks, c] = plan[geos, weeks, c]
        difference = (actual - oracle_expected_kpi(world.truth, counterfactual, price, holiday))[
            geos
        ]
        max_lag = truth_channel(world, test.channel)["adstock"]["max_lag"]
        window_end = test.start_week + test.n_weeks
        lift_window = difference[:, test.start_week : window_end].sum()
        lift_total = difference[:, test.start_week : window_end + max_lag - 1].sum()
        assert abs(truth["lift_window"] - lift_window) < FLOAT64 * abs(lift_window)
        assert abs(truth["lift_total"] - lift_total) < FLOAT64 * abs(lift_total)
        assert abs(truth["spend_delta"] - (spend - counterfactual).sum()) < 0.01
        assert np.sign(lift_total) == np.sign(truth["spend_delta"])
        assert abs(lift_total) > abs(lift_window), "carry-over adds lift after the window"


def truth_channel(world: World, name: str) -> dict[str, Any]:
    channel: dict[str, Any] = world.truth["channels"][name]
    return channel


def test_spend_file_shows_the_heavy_up_and_the_go_dark(world: World) -> None:
    spend = world.spend
    plan = world.arrays.planned_spend
    params = world.params
    for test in params.lift_tests:
        c = params.channel_names.index(test.channel)
        for g in params.geos:
            rows = spend[(spend["geo"] == g) & (spend["channel"] == test.channel)].reset_index(
                drop=True
            )
            recorded = rows["spend"].to_numpy()
            planned = plan[params.geos.index(g), :, c]
            window = np.zeros(params.n_weeks, dtype=bool)
            window[test.start_week : test.start_week + test.n_weeks] = True
            if g in test.treatment_geos:
                expected = np.round(
                    planned[window] * test.spend_multiplier + test.weekly_spend_added, 2
                )
                np.testing.assert_array_equal(recorded[window], expected)
                np.testing.assert_array_equal(recorded[~window], planned[~window])
            else:
                np.testing.assert_array_equal(recorded, planned)
    go_dark = world.experiments.set_index("id").loc["lift_search_go_dark"]
    in_test = spend[
        (spend["geo"] == go_dark["treatment_geos"])
        & (spend["channel"] == "search")
        & spend["date"].between(go_dark["start"], go_dark["end"])
    ]
    assert len(in_test) == 4
    assert (in_test["spend"] == 0).all()
    assert (in_test["impressions"] == 0).all()


def test_experiments_rows_match_truth(world: World) -> None:
    experiments = world.experiments.set_index("id")
    for truth in world.truth["lift_tests"]:
        row = experiments.loc[truth["id"]]
        assert row["treatment_geos"] == ";".join(truth["treatment_geos"])
        assert set(row["control_geos"].split(";")) == set(world.params.geos) - set(
            truth["treatment_geos"]
        )
        assert row["lift"] == truth["lift_estimate"]
        assert row["lift_se"] == truth["lift_se"] > 0
        assert abs(row["lift"] - truth["lift_total"]) < MC_SIGMAS * row["lift_se"]
        assert row["method"] == "simulated_geo_test"
        assert date.fromisoformat(row["end"]) - date.fromisoformat(row["start"]) == timedelta(
            weeks=truth["end_week"] - truth["start_week"] + 1, days=-1
        )
