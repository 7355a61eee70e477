"""Bounded default plans: ±50% of current spend unless asked otherwise, said in words."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest

from margin.errors import ConfigError
from margin.limits import DEFAULT_MAX_CHANGE
from margin.optimize import ParametricResponse, current_plan
from margin.optimize.request import PlanRequest, default_bounds, plan, plan_document


@pytest.fixture(scope="module")
def model() -> ParametricResponse:
    from margin.data.simulator import WorldParams
    from margin.data.simulator.response import parametric_from_world

    params = WorldParams(n_geos=3, n_weeks=40, lift_tests=())
    rng = np.random.default_rng(4)
    weekly = np.array([c.weekly_spend for c in params.channels])
    share = np.array(params.population_share)[:, None, None]
    history = weekly * share * rng.uniform(0.6, 1.4, (3, 16, 5))
    return parametric_from_world(params, history, n_draws=200, spread=0.3, seed=4)


def _ratios(result: Any) -> dict[str, float]:
    return {a.channel: a.spend / a.current_spend for a in result.allocation}


def test_the_default_plan_moves_each_channel_at_most_half_its_current_spend(
    model: ParametricResponse,
) -> None:
    assert DEFAULT_MAX_CHANGE == 0.5
    bounded = _ratios(plan(model, PlanRequest(weeks=8)))
    assert all(0.5 - 1e-6 <= r <= 1.5 + 1e-6 for r in bounded.values())
    free = _ratios(plan(model, PlanRequest(weeks=8, max_change=None)))
    assert min(free.values()) < 0.5 - 1e-3  # the unbounded optimum moves further
    wide = _ratios(plan(model, PlanRequest(weeks=8, max_change=1.0)))
    assert all(-1e-9 <= r <= 2.0 + 1e-6 for r in wide.values())
    assert min(wide.values()) < 0.5 - 1e-3


def test_explicit_bounds_win_and_the_defaults_scale_with_the_budget(
    model: ParametricResponse,
) -> None:
    result = plan(model, PlanRequest(weeks=8, bounds={"video": (0.0, 3.0)}))
    assert _ratios(result)["video"] < 0.5 - 1e-3
    current = float(current_plan(model, 8).sum())
    request = PlanRequest(weeks=8, budget=2 * current)
    ratios = _ratios(plan(model, request))
    assert all(1.0 - 1e-6 <= r <= 3.0 + 1e-6 for r in ratios.values())
    assert sorted(default_bounds(model, request, 2 * current)) == sorted(model.channels)
    assert default_bounds(model, PlanRequest(weeks=8, min_roi=1.0), current) == {}
    assert default_bounds(model, PlanRequest(weeks=8, locked=("tv",)), current).keys() == {
        "search", "social", "display", "video",
    }  # fmt: skip


def test_plan_json_says_which_bounds_applied_and_how_to_widen_them(
    model: ParametricResponse,
) -> None:
    request = PlanRequest(weeks=8)
    document = plan_document(plan(model, request), model, request)
    assert document["bounds"]["max_change"] == 0.5
    assert document["bounds"]["default"] == sorted(model.channels)
    assert "--max-change" in document["bounds"]["note"]
    assert document["request"]["max_change"] == 0.5
    assert document["headline"][0].startswith(
        "Moves limited to ±50% of current spend per channel; widen with --max-change"
    )
    assert any(c.startswith("Moves limited to ±50%") for c in document["caveats"])
    free = PlanRequest(weeks=8, max_change=None)
    document = plan_document(plan(model, free), model, free)
    assert document["bounds"]["max_change"] is None
    assert document["bounds"]["default"] == []
    assert not any("Moves limited" in line for line in document["headline"])


def test_when_every_marginal_roi_is_below_one_spending_less_is_said(
    model: ParametricResponse,
) -> None:
    current = float(current_plan(model, 8).sum())
    request = PlanRequest(weeks=8, budget=3 * current)
    result = plan(model, request)
    assert all(a.mroi.p95 < 1 for a in result.allocation)
    document = plan_document(result, model, request)
    assert document["headline"][0].startswith(
        "Moves limited to ±50% of current spend per channel (scaled to the budget)"
    )
    assert document["headline"][-1] == (
        "Every channel's next unit of spend returns less than it costs: spending less "
        "would pay, not only reallocating."
    )
    assert any("--objective profit" in c for c in document["caveats"])
    small = PlanRequest(weeks=8, budget=0.05 * current)
    result = plan(model, small)
    assert any(a.mroi.mean >= 1 for a in result.allocation)
    assert not any(
        "spending less" in line for line in plan_document(result, model, small)["headline"]
    )


class _Fitted:
    """The parametric model, told that ``video``'s ROI is mostly its prior."""

    start = date(2024, 1, 1)
    run_id = "run"
    baseline_note = ""
    fit_caveats = ()
    prior_dominated = ("video",)

    def __init__(self, inner: ParametricResponse) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_move_that_rests_on_the_prior_is_flagged_in_the_headline(
    model: ParametricResponse,
) -> None:
    fitted: Any = _Fitted(model)
    request = PlanRequest(weeks=8)
    result = plan(fitted, request)
    video = next(a for a in result.allocation if a.channel == "video")
    change = video.spend / video.current_spend - 1
    assert change < -0.1
    (line,) = [h for h in plan_document(result, fitted, request)["headline"] if "prior" in h]
    assert line == (
        f"video {change:+.0%} rests mostly on the prior: test it before moving "
        "(margin experiment design --channel video)."
    )


def test_bad_max_change_is_refused_and_bounds_too_tight_name_the_default(
    model: ParametricResponse,
) -> None:
    for bad in (0.0, -0.5, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="max_change"):
            PlanRequest(max_change=bad)
    with pytest.raises(ConfigError, match="--max-change"):
        plan(model, PlanRequest(weeks=8, max_change=0.05, bounds={"tv": (0.0, 0.0)}))


def test_the_api_request_carries_max_change() -> None:
    from margin.api.models import OptimizeRequest

    assert OptimizeRequest().max_change == 0.5
    assert OptimizeRequest(max_change=None).max_change is None
    assert OptimizeRequest(max_change=1.0).max_change == 1.0


def test_the_cli_reads_max_change_as_a_share_or_a_percentage() -> None:
    from margin.optimize.request import parse_max_change

    assert parse_max_change("100%") == 1.0
    assert parse_max_change(" 30% ") == pytest.approx(0.3)
    assert parse_max_change("0.5") == 0.5
    assert parse_max_change("none") is None
    assert parse_max_change("Unbounded") is None
    for bad in ("", "0", "-10%", "lots", "nan"):
        with pytest.raises(ConfigError, match="--max-change"):
            parse_max_change(bad)
