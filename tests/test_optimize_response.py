"""The ResponseModel contract and its reference implementation, ParametricResponse."""

from __future__ import annotations

import numpy as np
import pytest

from _response import assert_take_draws_is_the_same_model
from margin.data.simulator import WorldParams, media_effects
from margin.data.simulator.response import parametric_from_world
from margin.errors import ConfigError
from margin.optimize import ParametricResponse, ResponseModel
from margin.protocols import FittedResponse

FLOAT64_RTOL = 1e-9
FINITE_DIFFERENCE_RTOL = 1e-5


def _world_and_spend(
    n_geos: int = 3, n_weeks: int = 30, seed: int = 0
) -> tuple[WorldParams, np.ndarray]:
    params = WorldParams(n_geos=n_geos, n_weeks=40, lift_tests=())
    rng = np.random.default_rng(seed)
    spend = rng.uniform(0.0, 2e5, (n_geos, n_weeks, len(params.channels)))
    return params, spend


def test_parametric_response_satisfies_the_protocol() -> None:
    params, spend = _world_and_spend()
    model = parametric_from_world(params, spend[:, :10], n_draws=4, spread=0.1, seed=1)
    assert isinstance(model, ResponseModel)
    assert not isinstance(model, FittedResponse)  # no run: plans carry no run id or start
    assert model.n_draws == 4
    assert model.carryover_weeks == max(c.max_lag for c in params.channels) - 1


def test_truth_draws_reproduce_the_simulator_with_history_carry_over() -> None:
    params, spend = _world_and_spend()
    model = parametric_from_world(params, spend[:, :10], n_draws=2, spread=0.0, seed=1)
    truth = media_effects(spend, params).sum(axis=2)[:, 10:]
    predicted = model.media_kpi(spend[:, 10:])
    np.testing.assert_allclose(
        predicted, np.broadcast_to(truth, predicted.shape), rtol=FLOAT64_RTOL
    )


def test_past_spend_pays_into_the_window_and_window_spend_pays_after_it() -> None:
    params, spend = _world_and_spend()
    model = parametric_from_world(params, spend[:, :10], n_draws=2, spread=0.0, seed=1)
    zero_plan = np.zeros((3, 10, 5))
    carried_in = model.media_kpi(zero_plan)
    assert np.all(carried_in[:, :, 0] > 0)  # history pays into week 0
    assert np.all(carried_in[:, :, -1] == 0)  # ... and is spent by week 9 (max lag 8)
    silent = parametric_from_world(params, np.zeros((3, 10, 5)), n_draws=2, spread=0.0, seed=1)
    assert np.all(silent.media_kpi(zero_plan) == 0)
    one_week = zero_plan.copy()
    one_week[:, 0, 0] = 1e5  # TV in week 0 only: decay 0.7 over 8 weeks
    tail = silent.media_kpi(one_week)
    assert np.all(tail[:, :, 1:8] > 0)
    assert np.all(tail[:, :, 8:] == 0)


def test_per_draw_plans_match_one_plan_for_every_draw() -> None:
    params, spend = _world_and_spend()
    model = parametric_from_world(params, spend[:, :10], n_draws=3, spread=0.3, seed=2)
    plan = spend[:, 10:20]
    stacked = np.broadcast_to(plan, (3, *plan.shape)).copy()
    np.testing.assert_allclose(model.media_kpi(stacked), model.media_kpi(plan), rtol=FLOAT64_RTOL)


def test_take_draws_is_the_same_model_on_those_draws() -> None:
    params, spend = _world_and_spend()
    model = parametric_from_world(params, spend[:, :10], n_draws=6, spread=0.3, seed=2)
    assert_take_draws_is_the_same_model(model, spend[:, 10:20], rtol=FLOAT64_RTOL)


def test_gradient_matches_central_differences() -> None:
    params, spend = _world_and_spend(n_weeks=22)
    model = parametric_from_world(params, spend[:, :10], n_draws=3, spread=0.3, seed=3)
    plan = spend[:, 10:]
    weights = np.array([0.2, 0.5, 0.3])
    grad = model.media_kpi_gradient(plan, weights)
    step = 1.0
    for index in [(0, 0, 0), (1, 5, 1), (2, 11, 4), (2, 7, 3), (0, 11, 2)]:
        up, down = plan.copy(), plan.copy()
        up[index] += step
        down[index] -= step
        numeric = (
            weights @ (model.media_kpi(up) - model.media_kpi(down)).sum(axis=(1, 2)) / (2 * step)
        )
        assert grad[index] == pytest.approx(numeric, rel=FINITE_DIFFERENCE_RTOL)


def test_gradient_is_finite_at_zero_spend_for_slopes_below_one() -> None:
    params, _ = _world_and_spend()
    model = parametric_from_world(params, np.zeros((3, 10, 5)), n_draws=2, spread=0.0, seed=1)
    grad = model.media_kpi_gradient(np.zeros((3, 4, 5)), np.array([0.5, 0.5]))
    assert np.all(np.isfinite(grad))
    assert np.all(grad[:, :, 3] > 0)  # display, slope 0.8: steep but finite


def test_bad_shapes_and_parameters_are_rejected_clearly() -> None:
    params, spend = _world_and_spend()
    model = parametric_from_world(params, spend[:, :10], n_draws=2, spread=0.0, seed=1)
    with pytest.raises(ConfigError, match=r"spend has shape \(3, 4\)"):
        model.media_kpi(np.zeros((3, 4)))
    with pytest.raises(ConfigError, match="history covers 2 weeks"):
        parametric_from_world(params, spend[:, :2], n_draws=2, spread=0.0, seed=1)
    with pytest.raises(ConfigError, match="n_draws >= 1"):
        parametric_from_world(params, spend[:, :10], n_draws=0, spread=0.0, seed=1)
    with pytest.raises(ConfigError, match="past the 5 weeks"):
        ParametricResponse(
            channels=("a",), geos=("g",), kpi_value=1.0, history=np.zeros((1, 1, 1)),
            decay=np.zeros((1, 1)), max_lag=(1,), half_saturation=np.ones((1, 1, 1)),
            slope=np.ones((1, 1)), beta=np.ones((1, 1, 1)), noise_sd=np.ones((1, 1)),
            baseline=np.ones((1, 1, 5)),
        ).baseline_kpi(6)  # fmt: skip
    with pytest.raises(ConfigError, match="decay must lie in"):
        ParametricResponse(
            channels=("a",), geos=("g",), kpi_value=1.0, history=np.zeros((1, 1, 1)),
            decay=np.ones((1, 1)), max_lag=(1,), half_saturation=np.ones((1, 1, 1)),
            slope=np.ones((1, 1)), beta=np.ones((1, 1, 1)), noise_sd=np.ones((1, 1)),
        )  # fmt: skip


def test_public_names_are_sorted_and_the_optimizer_never_imports_the_mmm() -> None:
    import subprocess
    import sys

    import margin.optimize

    assert margin.optimize.__all__ == sorted(margin.optimize.__all__)
    assert all(getattr(margin.optimize, name) is not None for name in margin.optimize.__all__)
    code = "import sys, margin.optimize; print(sorted(m for m in sys.modules if m.startswith('margin.mmm')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
