"""Planning a cycle: channel totals within the guardrails, spread as the status quo.

A cycle's plan is a total per channel over the cycle; each channel's total is spread over
geos and weeks in the status quo's shape (:func:`spread`). Guardrails: each channel's total
stays within ``previous × (1 ± max_change)`` (the previous cycle's plan scaled to the
budget) and never below ``min_share`` of its status-quo spend (:func:`channel_bounds`); a
plan the MMM made must also keep the low end (p05) of its gain over the status quo above
``-max_loss``, or it is shrunk toward the previous plan (:func:`mmm_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.loop.ledger import Loop
from margin.types import FloatArray, Interval

if TYPE_CHECKING:
    from margin.optimize.request import PlanRequest
    from margin.optimize.results import AllocationResult
    from margin.optimize.scenario import ScenarioResult
    from margin.protocols import ResponseModel

__all__ = [
    "MIN_SHRINK",
    "MmmPlan",
    "channel_bounds",
    "clamp",
    "evaluate",
    "mmm_plan",
    "model_order",
    "plan_json",
    "spread",
    "status_quo_contribution",
]

MIN_SHRINK = 1 / 64
"""The guardrail halves the step toward the new plan down to this share, then keeps the
previous plan."""


def spread(loop: Loop, totals: FloatArray) -> FloatArray:
    """``(n_weeks, n_geos, n_channels)`` weekly spend (world order) of channel ``totals``
    over the cycle, in the status quo's geo split, even over the weeks."""
    sq = loop.status_quo
    col = sq.sum(axis=0)
    even = np.full(sq.shape, 1.0 / sq.shape[0])
    share = np.where(col > 0, sq / np.where(col > 0, col, 1.0), even)
    week = share * (np.asarray(totals, dtype=np.float64) / loop.settings.weeks)
    return np.repeat(week[None, :, :], loop.settings.weeks, axis=0)


def model_order(model: ResponseModel, loop: Loop, weekly: FloatArray) -> FloatArray:
    """``weekly`` ``(n_weeks, n_geos, n_channels)`` in the world's order as the model's
    ``(n_geos, n_weeks, n_channels)`` in its own geo and channel order."""
    g = [loop.geos.index(name) for name in model.geos]
    c = [loop.channels.index(name) for name in model.channels]
    out: FloatArray = np.transpose(weekly, (1, 0, 2))[g][:, :, c]
    return out


def channel_bounds(loop: Loop, previous: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(low, high)`` per channel: ``previous`` (scaled to the budget) ± ``max_change``,
    never below ``min_share`` of the status quo's spend."""
    settings = loop.settings
    prev = np.asarray(previous, dtype=np.float64)
    total = float(prev.sum())
    prev = prev * (loop.budget() / total) if total > 0 else loop.status_quo_totals()
    floor = settings.min_share * loop.status_quo_totals()
    low = np.maximum(prev * (1 - settings.max_change), floor)
    high = np.maximum(prev * (1 + settings.max_change), low)
    return low, high


def clamp(loop: Loop, proposed: FloatArray, previous: FloatArray) -> FloatArray:
    """``proposed`` totals within :func:`channel_bounds`, scaled to the budget (the scaling
    and the clamp alternate until both hold)."""
    low, high = channel_bounds(loop, previous)
    budget = loop.budget()
    x = np.clip(np.asarray(proposed, dtype=np.float64), low, high)
    for _ in range(50):
        free = (x > low + 1e-9) & (x < high - 1e-9)
        gap = budget - float(x.sum())
        if abs(gap) <= 1e-9 * max(budget, 1.0):
            break
        movable = free if free.any() else np.ones_like(x, dtype=bool)
        room = x[movable].sum()
        step = gap * (x[movable] / room if room > 0 else 1.0 / movable.sum())
        x[movable] = np.clip(x[movable] + step, low[movable], high[movable])
    out: FloatArray = x
    return out


def evaluate(model: ResponseModel, loop: Loop, weekly: FloatArray) -> ScenarioResult:
    """``weekly`` (world order) against the status quo over one cycle and its carry-over,
    on the model's draws (:func:`margin.optimize.scenario`)."""
    from margin.optimize import scenario

    weeks = loop.settings.weeks
    reference = model_order(model, loop, spread(loop, loop.status_quo_totals()))
    return scenario(model, weeks, plan=model_order(model, loop, weekly), reference=reference)


def status_quo_contribution(model: ResponseModel, loop: Loop) -> float:
    """The status quo's expected media contribution over a cycle and its carry-over
    (currency): KPI with its spend minus KPI with none."""
    zero = evaluate(
        model, loop, np.zeros((loop.settings.weeks, len(loop.geos), len(loop.channels)))
    )
    return float(-zero.gain.mean * model.kpi_value)


@dataclass(frozen=True)
class MmmPlan:
    """A plan the MMM made, after the risk guardrail.

    Attributes:
        totals: ``(n_channels,)`` spend per channel over the cycle (world order).
        low, high: the bounds each total had to respect.
        gain: expected gain over the status quo, currency (cycle and carry-over).
        p_beats: share of draws in which the plan beats the status quo.
        max_loss: the loss the gain's p05 may not exceed (currency).
        shrunk: the share of the step toward the optimum kept (``None``: not shrunk).
        result, request: the unshrunk optimum and what it answered (for the tests' value
            of information).
    """

    totals: FloatArray
    low: FloatArray
    high: FloatArray
    gain: Interval
    p_beats: float
    max_loss: float
    shrunk: float | None
    result: AllocationResult
    request: PlanRequest


def _optimum(
    model: ResponseModel, loop: Loop, low: FloatArray, high: FloatArray, *, risk: str = "mean"
) -> tuple[AllocationResult, PlanRequest]:
    """The best plan within the bounds for the budget, in the status quo's shape, for the
    ``risk`` measure over the draws (``loop.settings.risk_aversion`` for ``mean_sd``)."""
    from margin.optimize import Objective, allocate
    from margin.optimize.request import PlanRequest

    bounds = {
        name: (float(low[loop.channels.index(name)]), float(high[loop.channels.index(name)]))
        for name in model.channels
    }
    request = PlanRequest(
        budget=loop.budget(), weeks=loop.settings.weeks, bounds=bounds, bounds_relative=False,
        max_change=None,
    )  # fmt: skip
    reference = model_order(model, loop, spread(loop, loop.status_quo_totals()))
    objective = Objective(
        risk=risk,  # type: ignore[arg-type]
        risk_aversion=loop.settings.risk_aversion,
        relative=True,  # the risk a reallocation adds to the status quo's
    )
    result = allocate(
        model, loop.budget(), loop.settings.weeks, objective=objective,
        constraints=request.to_constraints(), reference=reference,
    )  # fmt: skip
    return result, request


def mmm_plan(model: ResponseModel, loop: Loop, previous: FloatArray) -> MmmPlan:
    """The MMM's plan for the cycle (see the module docstring for the guardrails)."""
    low, high = channel_bounds(loop, previous)
    result, request = _optimum(model, loop, low, high)  # the tests are valued on this one
    chosen = result
    if loop.settings.risk != "mean":
        chosen = _optimum(model, loop, low, high, risk=loop.settings.risk)[0]
    spent = chosen.plan.sum(axis=(0, 1))
    best = np.array([spent[model.channels.index(c)] for c in loop.channels])
    max_loss = loop.settings.max_loss
    if max_loss is None:
        max_loss = loop.settings.max_loss_share * status_quo_contribution(model, loop)
    start = np.clip(previous * (loop.budget() / max(float(previous.sum()), 1e-12)), low, high)
    shrunk: float | None = None
    share = 1.0
    while True:
        totals = start + share * (best - start)
        scored = evaluate(model, loop, spread(loop, totals))
        gain = _currency(scored.gain, model.kpi_value)
        if gain.p05 >= -max_loss or share == 0.0:
            break
        share = share / 2 if share / 2 >= MIN_SHRINK else 0.0
        shrunk = share
    return MmmPlan(
        totals, low, high, gain, scored.p_beats_current, float(max_loss), shrunk, result, request
    )


def _currency(value: Interval, kpi_value: float) -> Interval:
    return Interval(value.mean * kpi_value, value.p05 * kpi_value, value.p95 * kpi_value)


def plan_json(loop: Loop, totals: FloatArray, previous: FloatArray) -> dict[str, Any]:
    """cycle.json's ``plan``: per channel, spend, previous, status quo, change and bounds."""
    low, high = channel_bounds(loop, previous)
    sq = loop.status_quo_totals()
    return {
        name: {
            "spend": float(totals[c]),
            "previous": float(previous[c]),
            "status_quo": float(sq[c]),
            "change": float(totals[c] / previous[c] - 1) if previous[c] > 0 else None,
            "bound": [float(low[c]), float(high[c])],
        }
        for c, name in enumerate(loop.channels)
    }
