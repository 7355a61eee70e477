"""Frontier, scenarios, forecasts, backtests, the CSV plan and regret against the truth."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from margin.data.simulator import WorldParams, baseline, simulate_world
from margin.data.simulator.response import parametric_from_world
from margin.errors import ConfigError, DataValidationError
from margin.optimize import (
    allocate,
    backtest,
    current_plan,
    efficient_frontier,
    forecast,
    parse_changes,
    plan_from_frame,
    scenario,
    write_plan_csv,
)
from margin.optimize.parametric import ParametricResponse
from margin.optimize.problem import Constraints, build_problem

FLOAT64_RTOL = 1e-9
CENTS_RTOL = 1e-6
"""A plan read back from CSV (spend rounded to cents) predicts the same KPI to this."""
REGRET_SHARE = 0.9
"""The recommended plan's true gain must be at least this share of the true optimum's."""
COVERAGE_RANGE = (0.8, 0.97)
"""A calibrated 90% band over ~150 geo-weeks lands here (binomial sd ≈ 0.025)."""
HORIZON_BAND_RTOL = 0.25
"""A 90% band from 50 draws: its width within 25% of the normal-theory width."""

CHANNELS = ("tv", "search", "social", "display", "video")


def _model(n_geos: int = 2, n_draws: int = 40, spread: float = 0.2) -> ParametricResponse:
    params = WorldParams(n_geos=n_geos, n_weeks=40, lift_tests=())
    rng = np.random.default_rng(3)
    weekly = np.array([c.weekly_spend for c in params.channels]) * np.array(
        [1.0, 1.0, 1.3, 2.5, 0.4]
    )
    share = np.array(params.population_share)[:, None, None]
    history = weekly * share * rng.uniform(0.7, 1.3, (n_geos, 16, 5))
    return parametric_from_world(params, history, n_draws=n_draws, spread=spread, seed=4)


def test_frontier_rises_with_budget_and_marks_the_most_profitable_point() -> None:
    model = _model()
    weeks = 8
    budget = float(current_plan(model, weeks).sum())
    frontier = efficient_frontier(model, weeks, 0.3 * budget, 3.0 * budget, n_points=6)
    means = np.array([p.kpi.mean for p in frontier.points])
    assert np.all(np.diff(means) > 0)
    rois = np.array([p.roi.mean for p in frontier.points])
    assert np.all(np.diff(rois) < 0)  # diminishing returns
    for point in frontier.points:
        assert point.kpi.p05 <= point.kpi.mean <= point.kpi.p95
        assert sum(point.spend.values()) == pytest.approx(point.budget, rel=1e-9)
    profits = [p.profit.mean for p in frontier.points]
    assert frontier.recommended == int(np.argmax(profits))
    middle = allocate(model, frontier.points[2].budget, weeks)
    assert frontier.points[2].kpi.mean == pytest.approx(middle.expected_kpi.mean, rel=1e-9)
    assert frontier.to_json()["recommended"] == frontier.recommended
    with pytest.raises(ConfigError, match="0 < from < to"):
        efficient_frontier(model, weeks, 2.0, 1.0)
    with pytest.raises(ConfigError, match="the bounds allow total spend"):
        efficient_frontier(
            model,
            weeks,
            1.0,
            2.0 * budget,
            constraints=Constraints(bounds=dict.fromkeys(CHANNELS, (0, 1.0))),
        )


def test_change_strings_parse_and_bad_ones_say_why() -> None:
    assert parse_changes("+20% social, \u221210% search", CHANNELS) == {
        "social": 0.2,
        "search": -0.1,
    }
    assert parse_changes(["social=+20%", "tv -100%"], CHANNELS) == {"social": 0.2, "tv": -1.0}
    assert parse_changes("display: 12.5%", CHANNELS) == {"display": 0.125}
    for text, message in [
        ("+20% radio", r"unknown channel 'radio'"),
        ("social", "cannot read the spend change 'social'"),
        ("social +20", "cannot read"),
        ("tv -150%", "below zero spend"),
        ("tv +5%, tv +6%", "changed twice"),
        ("  ", "no spend change given"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_changes(text, CHANNELS)


def test_scenario_of_changes_matches_the_same_plan_given_in_full() -> None:
    model = _model()
    weeks = 6
    by_change = scenario(model, weeks, changes="+20% social, -10% search")
    current = current_plan(model, weeks)
    full = current.copy()
    full[:, :, 2] *= 1.2
    full[:, :, 1] *= 0.9
    by_plan = scenario(model, weeks, plan=full)
    assert by_change.kpi == by_plan.kpi
    assert by_change.spend["social"] == pytest.approx(1.2 * by_change.current_spend["social"])
    unchanged = scenario(model, weeks, changes="tv +0%")
    assert unchanged.gain.mean == 0.0
    assert unchanged.p_beats_current == 0.0
    assert by_change.roi.p05 <= by_change.roi.mean <= by_change.roi.p95
    assert set(by_change.to_json()) >= {"kpi", "gain", "roi", "p_beats_current"}
    with pytest.raises(ConfigError, match="exactly one"):
        scenario(model, weeks)


def test_plan_csv_round_trips_into_a_scenario(tmp_path: Path) -> None:
    model = _model()
    weeks = 5
    result = allocate(model, float(current_plan(model, weeks).sum()), weeks)
    path = write_plan_csv(result, tmp_path / "plan.csv", start=date(2025, 1, 6))
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["week", "week_start", "geo", "channel", "spend"]
    assert frame["week_start"].iloc[-1] == "2025-02-03"
    assert len(frame) == weeks * len(model.geos) * len(model.channels)
    assert frame["spend"].sum() == pytest.approx(result.spend, abs=0.01 * len(frame))
    back = plan_from_frame(frame, model)
    np.testing.assert_allclose(back, result.plan, atol=0.005)
    replay = scenario(model, weeks, plan=frame)
    assert replay.kpi.mean == pytest.approx(result.expected_kpi.mean, rel=CENTS_RTOL)
    assert replay.gain.mean == pytest.approx(result.expected_gain.mean, rel=CENTS_RTOL)


def test_plan_tables_without_geo_follow_the_current_geo_split_and_bad_tables_fail() -> None:
    model = _model()
    frame = pd.DataFrame(
        {"week": [1, 1, 2], "channel": ["tv", "search", "tv"], "spend": [100.0, 50.0, 80.0]}
    )
    plan = plan_from_frame(frame, model)
    assert plan.shape == (2, 2, 5)
    assert plan.sum() == pytest.approx(230.0)
    share = current_plan(model, 2)[:, 0, 0] / current_plan(model, 2)[:, 0, 0].sum()
    np.testing.assert_allclose(plan[:, 0, 0], 100.0 * share)
    for bad, message in [
        (frame.drop(columns="spend"), r"lacks column\(s\) \['spend'\]"),
        (frame.assign(channel=["tv", "radio", "tv"]), r"unknown channel\(s\) \['radio'\]"),
        (frame.assign(spend=[1.0, -2.0, 3.0]), "row 1: spend -2.0"),
        (frame.assign(week=[1, 1, 1], channel=["tv", "tv", "search"]), "repeats"),
        (frame.assign(geo=["north", "south", "atlantis"]), r"unknown geo\(s\) \['atlantis'\]"),
    ]:
        with pytest.raises(DataValidationError, match=message):
            plan_from_frame(bad, model)
    with pytest.raises(ConfigError, match="covers 2 distinct weeks; the scenario needs 3"):
        scenario(model, 3, plan=frame)
    with pytest.raises(ConfigError, match="the scenario needs"):
        scenario(model, 3, plan=np.zeros((2, 2, 5)))


def test_forecast_and_backtest_on_a_simulated_world() -> None:
    params = WorldParams(n_geos=6, n_weeks=104, lift_tests=())
    world = simulate_world(params, seed=7)
    cut, horizon = 78, 26
    truth_baseline = baseline(params, world.arrays.price, world.arrays.holiday)
    model = parametric_from_world(
        params, world.arrays.spend[:, :cut], n_draws=50, spread=0.0, seed=1,
        baseline=truth_baseline[:, cut:],
    )  # fmt: skip
    held_out = world.arrays.spend[:, cut : cut + horizon]
    result = forecast(model, held_out, seed=2)
    np.testing.assert_allclose(result.mean, world.arrays.expected[:, cut:], rtol=FLOAT64_RTOL)
    assert np.all(result.predicted_low <= result.expected_low + 1e-6)
    assert np.all(result.total_low < result.total_mean)
    assert np.all(result.total_mean < result.total_high)
    # the whole horizon's KPI: the exact expected total, and a band of normal-theory width
    # (independent noise per geo-week), far narrower than the weekly bands summed
    expected_total = world.arrays.expected[:, cut:].sum()
    np.testing.assert_allclose(result.horizon_mean, expected_total, rtol=FLOAT64_RTOL)
    sd = float(np.sqrt((model.observation_sd()[0] ** 2).sum() * horizon))
    width = result.horizon_high - result.horizon_low
    assert abs(width / (2 * 1.6449 * sd) - 1) < HORIZON_BAND_RTOL
    assert width < 0.5 * (result.total_high - result.total_low).sum()
    scored = backtest(model, held_out, world.arrays.observed[:, cut:], seed=3)
    assert COVERAGE_RANGE[0] <= scored.coverage <= COVERAGE_RANGE[1]
    assert scored.mape < 0.05
    with pytest.raises(DataValidationError, match="actual KPI has shape"):
        backtest(model, held_out, world.arrays.observed[:, cut:-1], seed=3)
    with pytest.raises(ConfigError, match="plan has shape"):
        forecast(model, held_out[:, :, :2], seed=2)


def test_recommended_plan_keeps_most_of_the_true_optimum_gain() -> None:
    params = WorldParams(n_geos=1, n_weeks=40, lift_tests=())
    world = simulate_world(params, seed=11)
    history = world.arrays.spend[:, :26]
    weeks = 13
    truth = parametric_from_world(params, history, n_draws=1, spread=0.0, seed=0)
    posterior = parametric_from_world(params, history, n_draws=200, spread=0.25, seed=12)
    budget = float(current_plan(truth, weeks).sum())
    best = allocate(truth, budget, weeks)
    recommended = allocate(posterior, budget, weeks)
    problem = build_problem(truth, weeks, Constraints(), cap=budget)
    true_gain = problem.kpi_draws(
        problem.channel_totals(recommended.plan.sum(axis=(0, 1)))
    ) - problem.kpi_draws(problem.current)
    assert best.expected_gain.mean > 0
    regret = 1.0 - float(true_gain[0]) / best.expected_gain.mean
    assert regret <= 1.0 - REGRET_SHARE, f"regret {regret:.1%}"
