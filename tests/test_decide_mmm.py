"""A fitted MMM run as a ResponseModel: oracles against the model itself, the reference
ParametricResponse on the same parameters, run-folder loading, and planning requests."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _decide import SmallRun, small_run
from _response import assert_take_draws_is_the_same_model
from margin.data.simulator import WorldParams
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.data.simulator.response import parametric_from_world
from margin.errors import ConfigError, DataValidationError
from margin.mmm.artifacts import RUN_FORMAT_VERSION, SavedRun, load_run
from margin.mmm.response import MMMResponse, load_response, response_from_run
from margin.optimize import (
    ParametricResponse,
    ResponseModel,
    allocate,
    response_curves,
    scenario,
)
from margin.optimize.request import (
    PlanRequest,
    current_budget,
    parse_bounds,
    plan,
    plan_document,
    scenario_request,
)
from margin.protocols import FittedResponse

FLOAT32_RTOL = 1e-4
"""float32 predictions (the model's own precision) against each other."""
DIFFERENCE_ATOL = 1e-5
"""The oracle is a difference of two float32 predictions: error relative to the KPI's scale."""
GRADIENT_RTOL = 1e-2
"""jax.vjp gradient against central differences of float32 predictions."""
ALLOCATION_RTOL = 1e-3
"""Channel totals of two optimizers on models that agree to float32 precision."""
TRAPEZOID_RTOL = 0.02
"""Trapezoid rule over 25 curve levels against the KPI curve (worst near 0, where it bends most)."""
END = 40
"""Panel weeks taken as history in the oracle tests (plans start at week 40)."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SmallRun:
    return small_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def response(run: SmallRun) -> MMMResponse:
    return load_response(run.path)


def _media_oracle(run: SmallRun) -> np.ndarray:
    """Media KPI per draw from MarketingMixModel.predict: with spend minus without."""
    data = run.data
    silent = dataclasses.replace(data, spend=np.zeros_like(data.spend))
    return run.model.predict(data) - run.model.predict(silent)


def test_adapter_is_a_response_model_with_the_runs_labels(
    run: SmallRun, response: MMMResponse
) -> None:
    assert isinstance(response, ResponseModel)
    assert isinstance(response, FittedResponse)  # the optimizer reads its run, start, caveats
    assert response.channels == run.data.channels
    assert response.geos == run.data.geos
    assert response.n_draws == 120
    assert response.history.shape == run.data.spend.shape  # held-out weeks included
    assert response.start == (run.data.dates[-1] + np.timedelta64(7, "D")).astype(object)
    assert response.carryover_weeks == 7
    assert response.kpi_value == 1.0


def test_media_kpi_equals_the_models_own_prediction(run: SmallRun) -> None:
    adapter = load_response(run.path, end=END)
    predicted = adapter.media_kpi(run.data.spend[:, END:])
    oracle = _media_oracle(run)[:, :, END:]
    scale = float(np.abs(run.model.predict(run.data)).max())
    np.testing.assert_allclose(predicted, oracle, rtol=FLOAT32_RTOL, atol=DIFFERENCE_ATOL * scale)
    assert float(predicted.mean()) > 0


def test_baseline_is_the_models_prediction_without_media_and_held_controls(
    run: SmallRun,
) -> None:
    adapter = load_response(run.path, end=END)
    data = run.data
    silent = dataclasses.replace(data, spend=np.zeros_like(data.spend))
    # the weeks after END happened: their controls are known, so the baseline is the
    # model's own prediction there (a backtest sees the holidays that were)
    assert adapter.known_controls is not None
    assert adapter.known_controls.shape[1] == data.n_times - END
    oracle = run.model.predict(silent)[:, :, END : END + 10]
    np.testing.assert_allclose(adapter.baseline_kpi(10), oracle, rtol=FLOAT32_RTOL)
    # past the known weeks (here: after 3), controls are held at their mean over the last
    # 13 weeks of history
    some = dataclasses.replace(adapter, known_controls=adapter.known_controls[:, :3])
    controls = np.array(data.controls)
    controls[:, END + 3 :] = controls[:, END - 13 : END].mean(axis=1, keepdims=True)
    held = dataclasses.replace(silent, controls=controls)
    oracle = run.model.predict(held)[:, :, END : END + 10]
    np.testing.assert_allclose(some.baseline_kpi(10), oracle, rtol=FLOAT32_RTOL)
    assert "controls as known for the first 3 weeks" in some.baseline_note
    assert "as known" not in load_response(run.path).baseline_note  # nothing after the data


def test_zero_spend_gives_zero_and_history_carry_over_ends_after_max_lag(
    response: MMMResponse,
) -> None:
    zero = np.zeros((1, 20, 5))
    carried = response.media_kpi(zero)
    lag = response.config.max_lag
    assert np.all(carried[:, :, 0] > 0)
    assert np.all(carried[:, :, lag - 1 :] == 0)
    silent = dataclasses.replace(response, history=np.zeros_like(response.history))
    assert np.all(silent.media_kpi(zero) == 0)


def test_per_draw_plans_match_one_plan_and_gradient_matches_differences(
    response: MMMResponse,
) -> None:
    plan_ = np.repeat(response.history[:, -13:].mean(axis=1, keepdims=True), 10, axis=1)
    stacked = np.broadcast_to(plan_, (response.n_draws, *plan_.shape)).copy()
    np.testing.assert_allclose(
        response.media_kpi(stacked), response.media_kpi(plan_), rtol=FLOAT32_RTOL
    )
    weights = np.random.default_rng(0).dirichlet(np.ones(response.n_draws))
    grad = response.media_kpi_gradient(plan_, weights)
    for index in [(0, 0, 0), (0, 4, 1), (0, 9, 2), (0, 2, 4)]:
        step = 0.05 * plan_[index]
        up, down = plan_.copy(), plan_.copy()
        up[index] += step
        down[index] -= step
        change = (response.media_kpi(up) - response.media_kpi(down)).sum(axis=(1, 2))
        assert grad[index] == pytest.approx(weights @ change / (2 * step), rel=GRADIENT_RTOL)


def test_take_draws_is_the_same_model_on_those_draws(response: MMMResponse) -> None:
    plan_ = np.repeat(response.history[:, -13:].mean(axis=1, keepdims=True), 10, axis=1)
    assert_take_draws_is_the_same_model(response, plan_, rtol=FLOAT32_RTOL)


# -- the adapter on known parameters against the reference ParametricResponse -----------


def _saved_run_from(reference: ParametricResponse, params: WorldParams) -> SavedRun:
    """A run folder's contents whose posterior is ``reference``'s draws, in MMM units."""
    n_draws, n_geos = reference.n_draws, len(reference.geos)
    share = np.asarray(params.population_share)
    spend_scale = np.array([c.weekly_spend for c in params.channels])
    kpi_scale = 1e6
    n_times = reference.history.shape[1]
    samples = {
        "roi": np.ones((1, n_draws, 5)),
        "decay": reference.decay[None],
        "half_saturation": (reference.half_saturation[:, 0] / share[0] / spend_scale)[None],
        "slope": reference.slope[None],
        "beta": (reference.beta[:, 0] / share[0] / kpi_scale)[None],
        "intercept_geo": np.ones((1, n_draws, n_geos)),
        "trend": np.zeros((1, n_draws)),
        "fourier": np.zeros((1, n_draws, 4)),
        "gamma": np.zeros((1, n_draws, 1)),
        "sigma": np.full((1, n_draws), 0.05),
    }
    dates = np.datetime64("2024-01-01") + 7 * np.arange(n_times)
    meta = {
        "run_id": "mmm-known",
        "config": {"adstock": "geometric", "saturation": "hill", "max_lag": 8},
        "channels": list(reference.channels),
        "geos": list(reference.geos),
        "control_names": ["price"],
        "kpi": {"name": "revenue", "type": "revenue", "value": 1.0},
        "dates": [str(d) for d in dates],
        "scaling": {"kpi_scale": kpi_scale, "first_date": str(dates[0]), "fourier_terms": 2},
    }
    arrays = {
        "spend": reference.history,
        "controls": np.zeros((n_geos, n_times, 1)),
        "share": share,
        "spend_scale": spend_scale,
        "control_mean": np.zeros(1),
        "control_sd": np.ones(1),
    }
    return SavedRun(Path("."), {}, meta, arrays, samples)


def test_optimizer_gives_the_same_plan_on_the_adapter_and_the_reference() -> None:
    channels = tuple(dataclasses.replace(c, max_lag=8) for c in DEFAULT_CHANNELS)
    params = WorldParams.national(n_weeks=40, channels=channels, n_users=200, lift_tests=())
    rng = np.random.default_rng(3)
    weekly = np.array([c.weekly_spend for c in channels])
    history = weekly * rng.uniform(0.5, 1.5, (1, 30, 5))
    reference = parametric_from_world(params, history, n_draws=40, spread=0.2, seed=4)
    adapter = response_from_run(_saved_run_from(reference, params))
    future = weekly * rng.uniform(0.0, 2.0, (1, 13, 5))
    np.testing.assert_allclose(
        adapter.media_kpi(future), reference.media_kpi(future), rtol=FLOAT32_RTOL
    )
    budget = 13 * float(weekly.sum())
    ours, theirs = allocate(adapter, budget, 13), allocate(reference, budget, 13)
    assert ours.checks.passed
    spend = np.array([a.spend for a in ours.allocation])
    expected = np.array([a.spend for a in theirs.allocation])
    np.testing.assert_allclose(spend, expected, rtol=ALLOCATION_RTOL, atol=ALLOCATION_RTOL * budget)


# -- run folders -----------------------------------------------------------------------


def test_run_folder_has_the_planning_files_and_summary_dates(run: SmallRun) -> None:
    summary = json.loads((run.path / "summary.json").read_text(encoding="utf-8"))
    fitted = run.data.n_times - 4
    assert summary["dates"] == [str(d) for d in run.data.dates[:fitted]]
    assert {"run", "kpi", "channels_order", "channels", "totals", "diagnostics", "fit"} <= set(
        summary
    )
    curves = json.loads((run.path / "curves.json").read_text(encoding="utf-8"))
    assert curves["horizon_weeks"] == 13
    tv = curves["channels"]["tv"]
    assert len(tv["spend"]) == 25
    assert tv["spend"][0] == 0
    assert tv["kpi"]["mean"][0] == 0
    assert np.all(np.diff(tv["kpi"]["mean"]) > 0)
    weights = np.array(curves["adstock"]["tv"]["weight"]["mean"])
    assert weights.size == 8
    assert weights.sum() == pytest.approx(1.0, rel=FLOAT32_RTOL)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "lacks \\['model.json'\\]"),
        ("version", f"version {RUN_FORMAT_VERSION}"),
        ("edited", "does not match its hash"),
    ],
)
def test_loader_refuses_damaged_or_foreign_run_folders(
    run: SmallRun, tmp_path: Path, damage: str, message: str
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(run.path, folder)
    meta_path = folder / "model.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if damage == "missing":
        meta_path.unlink()
    elif damage == "version":
        meta["format_version"] = RUN_FORMAT_VERSION + 1
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
    else:
        meta["config"]["max_lag"] = 3
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(DataValidationError, match=message):
        load_run(folder)
    with pytest.raises(DataValidationError, match="does not exist"):
        load_run(tmp_path / "nowhere")


def test_a_history_shorter_than_the_carry_over_counts_earlier_spend_as_zero(
    run: SmallRun,
) -> None:
    adapter = load_response(run.path, end=3)
    predicted = adapter.media_kpi(run.data.spend[:, 3:20])
    oracle = _media_oracle(run)[:, :, 3:20]
    scale = float(np.abs(run.model.predict(run.data)).max())
    np.testing.assert_allclose(predicted, oracle, rtol=FLOAT32_RTOL, atol=DIFFERENCE_ATOL * scale)


def test_bad_loader_options_are_refused(run: SmallRun) -> None:
    with pytest.raises(ConfigError, match="end = 0"):
        load_response(run.path, end=0)
    with pytest.raises(ConfigError, match="max_draws"):
        load_response(run.path, max_draws=0)
    assert load_response(run.path, max_draws=30).n_draws == 30


# -- requests --------------------------------------------------------------------------


def test_parse_bounds_reads_ranges_and_refuses_nonsense() -> None:
    assert parse_bounds("tv=0.5:2") == ("tv", (0.5, 2.0))
    assert parse_bounds(" search = :1.5 ") == ("search", (0.0, 1.5))
    assert parse_bounds("video=1:") == ("video", (1.0, float("inf")))
    for bad in ("tv", "tv=2:1", "tv=a:b", "=1:2", "tv=1"):
        with pytest.raises(ConfigError, match="bound"):
            parse_bounds(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": -5.0}, "budget = -5"),
        ({"weeks": 0}, "weeks = 0"),
        ({"target_kpi": 1e6, "min_roi": 1.5}, "one target at a time"),
        ({"min_roi": -1.0}, "min_roi = -1"),
        ({"objective": "profit", "margin": 1.5}, "margin"),
        ({"risk": "worst"}, "risk"),
        ({"objective": "profit", "min_roi": 1.0}, "target modes"),
    ],
)
def test_bad_requests_are_refused_with_the_parameter_named(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        PlanRequest(**kwargs)  # type: ignore[arg-type]


def test_plan_defaults_to_the_current_budget_and_documents_itself(
    response: MMMResponse,
) -> None:
    request = PlanRequest(weeks=13, bounds={"tv": (0.5, 1.5)})
    result = plan(response, request)
    current = current_budget(response, 13)
    assert result.budget == pytest.approx(current)
    assert result.plan.sum() == pytest.approx(current, rel=1e-9)
    assert result.checks.passed
    document = plan_document(result, response, request)
    assert document["start"] == response.start.isoformat()
    assert document["run_id"] == response.run_id
    weekly = document["weekly_kpi"]
    assert len(weekly["dates"]) == len(weekly["mean"]) == 13
    assert np.all(np.array(weekly["p05"]) <= np.array(weekly["p95"]))
    # the predictive band (observation noise added) is wider than the expected-KPI band
    width = np.array(weekly["p95"]) - np.array(weekly["p05"])
    expected_width = np.array(weekly["expected_p95"]) - np.array(weekly["expected_p05"])
    assert width.mean() > expected_width.mean()
    horizon = response.baseline_kpi(13) + response.media_kpi(result.plan)
    assert sum(weekly["mean"]) == pytest.approx(float(horizon.sum(axis=(1, 2)).mean()))
    tv = document["allocation"]["tv"]
    assert 0.5 * tv["current_spend"] - 1e-6 <= tv["spend"] <= 1.5 * tv["current_spend"] + 1e-6
    assert document["p_beats_current"] >= 0.5


def test_infeasible_plans_say_which_constraint_and_by_how_much(response: MMMResponse) -> None:
    current = current_budget(response, 13)
    with pytest.raises(ConfigError, match=r"unknown channel.*radio"):
        plan(response, PlanRequest(bounds={"radio": (0.5, 2.0)}))
    tight = dict.fromkeys(response.channels, (0.9, 1.1))
    with pytest.raises(ConfigError, match=r"upper bounds sum to .* below the budget .* by"):
        plan(response, PlanRequest(budget=2 * current, bounds=tight))
    with pytest.raises(ConfigError, match=r"lower bounds .* above the budget"):
        plan(response, PlanRequest(budget=0.5 * current, bounds=tight))


def test_scenario_request_equals_the_scenario_of_the_same_changes(response: MMMResponse) -> None:
    ours = scenario_request(response, weeks=13, changes={"social": 0.2, "search": -0.1})
    theirs = scenario(response, 13, changes="+20% social, -10% search")
    assert ours.to_json() == theirs.to_json()
    assert ours.spend["social"] == pytest.approx(1.2 * ours.current_spend["social"])
    with pytest.raises(ConfigError, match="exactly one"):
        scenario_request(response, weeks=13)
    with pytest.raises(ConfigError, match="unknown channel"):
        scenario_request(response, weeks=13, changes={"radio": 0.1})


def test_curves_integrate_marginal_roi_to_the_kpi_curve() -> None:
    params = WorldParams.national(n_weeks=40, n_users=200, lift_tests=())
    weekly = np.array([c.weekly_spend for c in params.channels])
    history = np.broadcast_to(weekly, (1, 20, 5)).copy()
    model = parametric_from_world(params, history, n_draws=20, spread=0.2, seed=1)
    curves = response_curves(model, weeks=13)
    assert "adstock" not in curves  # the reference model does not expose its lag weights
    for name in params.channel_names:
        curve = curves["channels"][name]
        spend = np.array(curve["spend"])
        kpi, mroi = np.array(curve["kpi"]["mean"]), np.array(curve["mroi"]["mean"])
        assert curve["current_weekly_spend"] == pytest.approx(
            weekly[params.channel_names.index(name)]
        )
        assert spend[-1] == pytest.approx(2.5 * curve["current_weekly_spend"])
        # from the first level on (a Hill slope < 1 has an infinite marginal ROI at 0)
        steps = np.diff(spend[1:]) * (mroi[2:] + mroi[1:-1]) / 2
        np.testing.assert_allclose(13 * np.cumsum(steps), kpi[2:] - kpi[1], rtol=TRAPEZOID_RTOL)
    with pytest.raises(ConfigError, match="weeks"):
        response_curves(model, weeks=0)


def _controls_frame(run: SmallRun, first: int, weeks: int, *, geo: bool) -> pd.DataFrame:
    """The panel's own controls of weeks ``first ..`` as a long ``date, [geo,] name, value`` table."""
    data = run.data
    rows = []
    for w in range(first, first + weeks):
        for g, geo_name in enumerate(data.geos):
            for c, name in enumerate(data.control_names):
                row = {"date": str(data.dates[w])[:10], "name": name}
                rows.append(
                    row | ({"geo": geo_name} if geo else {}) | {"value": data.controls[g, w, c]}
                )
    return pd.DataFrame(rows)


def test_future_controls_read_a_long_table_into_the_weeks_after_history(run: SmallRun) -> None:
    from margin.mmm.response import future_controls

    adapter = load_response(run.path, end=END)
    assert adapter.known_controls is not None
    for geo in (True, False):  # a national panel: with or without its one geo named
        known = future_controls(adapter, _controls_frame(run, END, 5, geo=geo))
        np.testing.assert_array_equal(known, adapter.known_controls[:, :5])
    blind = dataclasses.replace(adapter, known_controls=None)
    told = dataclasses.replace(blind, known_controls=known)
    np.testing.assert_allclose(told.baseline_kpi(5), adapter.baseline_kpi(5), rtol=FLOAT32_RTOL)
    assert not np.allclose(blind.baseline_kpi(8), adapter.baseline_kpi(8), rtol=FLOAT32_RTOL)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns="value"), r"lacks column\(s\) \['value'\]"),
        (lambda f: f.assign(date=["soon", *f["date"][1:]]), "row 2: date 'soon' is not a date"),
        (lambda f: f.assign(value=[*f["value"][:-1], "n/a"]), "value 'n/a' is not a number"),
        (lambda f: f.assign(name=["weather", *f["name"][1:]]), r"unknown control\(s\) \['weather'\]"),
        (lambda f: f.assign(geo="atlantis"), r"unknown geo\(s\) \['atlantis'\]"),
        (lambda f: f.assign(date="2001-01-01"), "is not one of the forecast's weeks"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "repeats"),
        (lambda f: f.iloc[2:], "lacks .* in the week of"),
        (lambda f: f.iloc[:0], "has no rows"),
    ],
)  # fmt: skip
def test_bad_future_controls_name_the_row_or_cell(
    run: SmallRun, edit: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    from margin.mmm.response import future_controls

    adapter = load_response(run.path, end=END)
    with pytest.raises(DataValidationError, match=message):
        future_controls(adapter, edit(_controls_frame(run, END, 3, geo=True)))
    no_controls = dataclasses.replace(adapter, control_names=())
    with pytest.raises(DataValidationError, match="no controls"):
        future_controls(no_controls, _controls_frame(run, END, 1, geo=True))
