"""Plan caveats: spend outside the weeks of data, and the optimizer's curse on the gain."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from margin.optimize import ParametricResponse, allocate
from margin.optimize.caveats import OUTSIDE_HISTORY, plan_caveats
from margin.optimize.results import Interval


def _model(history: np.ndarray) -> ParametricResponse:
    """Two national channels with hand-written weekly history ``(weeks, 2)``."""
    n = 2
    return ParametricResponse(
        channels=("tv", "search"), geos=("national",), kpi_value=1.0,
        history=history[None, :, :], decay=np.zeros((1, n)), max_lag=(1,) * n,
        half_saturation=np.full((1, 1, n), 100.0), slope=np.ones((1, n)),
        beta=np.full((1, 1, n), 300.0), noise_sd=np.ones((1, 1)),
    )  # fmt: skip


HISTORY = np.column_stack([np.linspace(50.0, 150.0, 20), np.linspace(80.0, 120.0, 20)])
LOSS = Interval(-10.0, -30.0, 5.0)


def test_a_plan_inside_the_data_has_no_caveat() -> None:
    plan = np.full((1, 4, 2), 100.0)
    assert plan_caveats(_model(HISTORY), plan, LOSS) == ()


def test_spend_above_or_below_what_the_data_saw_is_named_with_both_figures() -> None:
    plan = np.empty((1, 4, 2))
    plan[..., 0] = 150.0 * (1 + 2 * OUTSIDE_HISTORY)  # tv above its most: 150
    plan[..., 1] = 80.0 * (1 - 2 * OUTSIDE_HISTORY)  # search below its least: 80
    tv, search = plan_caveats(_model(HISTORY), plan, LOSS)
    assert tv.startswith("tv: the plan spends up to 165 a week, above the most it spent")
    assert "of the 20 weeks of data (150)" in tv
    assert "--bounds tv=LOW:HIGH" in tv
    assert search.startswith("search: the plan spends 72 a week, below the least it spent")
    assert "(80)" in search


def test_within_the_tolerance_is_inside_and_a_channel_once_off_has_no_floor() -> None:
    history = HISTORY.copy()
    history[3, 1] = 0.0  # search was off one week: any low level has been seen
    plan = np.empty((1, 4, 2))
    plan[..., 0] = 150.0 * (1 + 0.5 * OUTSIDE_HISTORY)
    plan[..., 1] = 1.0
    assert plan_caveats(_model(history), plan, LOSS) == ()


def test_a_positive_gain_is_called_optimistic_with_its_low_end() -> None:
    plan = np.full((1, 4, 2), 100.0)
    (curse,) = plan_caveats(_model(HISTORY), plan, Interval(1_200.0, -340.4, 2_500.0))
    assert "optimizer's curse" in curse
    assert "plan on the low end of its interval (-340), not on its mean" in curse


def test_allocate_attaches_the_caveats_to_the_plan() -> None:
    """History flat at 100 a week; a budget of 3x moves spend past it."""
    model = _model(np.full((20, 2), 100.0))
    result = allocate(model, 3 * 2 * 100.0 * 4, 4)
    assert result.caveats == plan_caveats(model, result.plan, result.expected_gain)
    assert any(c.startswith("tv: the plan spends up to") for c in result.caveats)
    assert result.to_json()["caveats"] == list(result.caveats)


def test_the_doubt_is_placed_on_the_channel_whose_move_varies_most() -> None:
    rng = np.random.default_rng(0)
    gains = {"tv": rng.normal(30.0, 100.0, 2000), "search": rng.normal(5.0, 10.0, 2000)}
    plan = np.full((1, 4, 2), 100.0)
    unsure = plan_caveats(_model(HISTORY), plan, Interval(35.0, -120.0, 190.0), gains)
    (doubt,) = [c for c in unsure if "doubt" in c]
    part = Interval.of(gains["tv"])
    assert f"in tv's move: its part of the gain is {part.mean:,.0f} " in doubt
    assert f"[{part.p05:,.0f}, {part.p95:,.0f}]" in doubt
    assert "margin experiment design --channel tv. " in doubt
    assert doubt.endswith("margin optimize --value-of-information.")
    sure = plan_caveats(_model(HISTORY), plan, Interval(35.0, 1.0, 90.0), gains)
    assert not any("doubt" in c for c in sure)  # the plan wins in 95% of draws: no doubt


def test_channel_gains_add_up_to_the_plan_gain_and_a_locked_channel_gains_nothing() -> None:
    from margin.data.simulator import WorldParams
    from margin.data.simulator.response import parametric_from_world
    from margin.optimize import current_plan
    from margin.optimize.request import PlanRequest, plan

    params = WorldParams(n_geos=3, n_weeks=40, lift_tests=())
    rng = np.random.default_rng(4)
    weekly = np.array([c.weekly_spend for c in params.channels])
    share = np.array(params.population_share)[:, None, None]
    history = weekly * share * rng.uniform(0.6, 1.4, (3, 16, 5))
    model = parametric_from_world(params, history, n_draws=200, spread=0.3, seed=4)
    budget = float(current_plan(model, 8).sum())
    result = plan(model, PlanRequest(budget=budget, weeks=8, locked=("tv",)))
    by_name = {a.channel: a for a in result.allocation}
    tv_gain = by_name["tv"].gain
    assert (tv_gain.mean, tv_gain.p05, tv_gain.p95) == (0.0, 0.0, 0.0)
    parts = [a.gain.mean for a in result.allocation]
    assert sum(parts) == pytest.approx(result.expected_gain.mean, rel=1e-9)
    assert result.to_json()["allocation"]["search"]["gain"] == by_name["search"].gain.to_json()


def test_a_model_without_history_weeks_only_gets_the_gain_caveats() -> None:
    plan = np.full((1, 4, 2), 100.0)
    caveats = plan_caveats(_model(np.zeros((0, 2))), plan, Interval(5.0, 1.0, 9.0))
    assert len(caveats) == 1
    assert "optimizer's curse" in caveats[0]


def test_the_fits_own_warnings_come_first_and_prior_dominated_moves_are_named() -> None:
    from types import SimpleNamespace
    from typing import cast

    from margin.optimize.caveats import MOVED
    from margin.protocols import ResponseModel

    model = cast(
        ResponseModel,
        SimpleNamespace(
            channels=("tv", "search"), history=HISTORY[None], fit_caveats=("approximate fit.",),
            prior_dominated=("tv", "search"), start=date(2024, 1, 1), run_id="run",
            baseline_note="",
        ),
    )  # fmt: skip
    current = np.full((1, 4, 2), 100.0)
    plan = current.copy()
    plan[..., 0] = 100.0 * (1 + 2 * MOVED)  # tv moved by 20%: named
    plan[..., 1] = 100.0 * (1 + 0.5 * MOVED)  # search by 5%: not
    caveats = plan_caveats(model, plan, LOSS, None, current)
    assert caveats[0] == "approximate fit."
    (tv,) = [c for c in caveats if "prior" in c]
    assert tv.startswith("tv: the data barely narrowed its ROI prior")
    assert "(+20% of current spend)" in tv
    assert "margin experiment design --channel tv" in tv
    off = current.copy()
    off[..., 1] = 0.0  # search was off; the plan turns it on
    (search,) = [c for c in plan_caveats(model, current, LOSS, None, off) if "prior" in c]
    assert search.startswith("search: the data barely narrowed its ROI prior, so the plan's "
                             "move of search rests mostly on the prior")  # fmt: skip


def test_an_mmm_run_says_when_its_fit_is_approximate_or_unconverged() -> None:
    from margin.mmm.response import _fit_caveats, _prior_dominated

    assert "approximate fit" in _fit_caveats({"method": "approximate", "diagnostics": {}})[0]
    bad = {"method": "nuts", "diagnostics": {"converged": False, "max_rhat": 1.0312,
                                             "min_ess_bulk": 88.4, "divergences": 7}}  # fmt: skip
    (said,) = _fit_caveats(bad)
    assert "did not converge (max R-hat 1.031, min bulk ESS 88, 7 divergences)" in said
    assert _fit_caveats({"method": "nuts", "diagnostics": {"converged": True}}) == ()
    ratios = {"tv": 0.2, "social": 0.95, "display": 0.71}
    summary = {"diagnostics": {"posterior_prior_sd_ratio": ratios}}
    assert _prior_dominated(summary) == ("social", "display")


def test_a_users_scenario_gets_the_range_check_but_not_the_chosen_plan_caveats() -> None:
    from margin.optimize import scenario

    model = _model(np.full((20, 2), 100.0))
    result = scenario(model, 4, changes="tv=+100%")  # tv doubled: past its history
    assert any(c.startswith("tv: the plan spends up to 200 a week") for c in result.caveats)
    assert result.gain.mean > 0
    assert not any("optimizer's curse" in c or "doubt" in c for c in result.caveats)
    assert result.to_json()["caveats"] == list(result.caveats)
