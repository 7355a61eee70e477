"""Results of planning, as frozen dataclasses with a JSON-ready ``to_json()``.

:class:`AllocationResult.to_json` is the ``plan.json`` contract::

    {"budget": B, "weeks": N,
     "allocation": {"<channel>": {"spend", "current_spend", "mroi": {"mean", "p05", "p95"}, ...}},
     "expected_kpi": {"mean", "p05", "p95"}, "expected_gain": {"mean", "p05", "p95"},
     "p_beats_current": p, "checks": {...}, "caveats": [...], ...}

Spend is a channel's total over the N weeks; ``current_spend`` what the current plan
spends in them. Every interval is the 5th–95th percentile over posterior draws.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from margin.types import FloatArray, Interval

__all__ = [
    "AllocationResult",
    "ChannelAllocation",
    "Interval",
    "OptimalityChecks",
    "write_plan_csv",
]


@dataclass(frozen=True)
class ChannelAllocation:
    """One channel's place in a plan.

    Attributes:
        channel: the channel's name.
        spend, current_spend: totals over the horizon, recommended and current.
        low, high: the bounds the channel's total had to respect.
        mroi, current_mroi: marginal ROI (currency of KPI per extra currency of spend)
            at the recommended and at the current spend.
        status: ``"interior"``, ``"lower"``, ``"upper"``, ``"locked"`` or ``"off"``
            (switched off by a minimum-spend rule).
        explanation: why the channel sits where it does, in words.
        spend_by_geo: geo → the channel's total there.
        gain: KPI gained by this channel's move alone (every other channel at current
            spend), over the horizon and tail, per draw summarised; 0 for a channel the
            plan leaves as it is. With channels that do not interact (an MMM's media
            terms add up) the channels' gains add up to the plan's.
    """

    channel: str
    spend: float
    current_spend: float
    low: float
    high: float
    mroi: Interval
    current_mroi: Interval
    status: str
    explanation: str
    spend_by_geo: dict[str, float]
    gain: Interval

    def to_json(self) -> dict[str, Any]:
        return {
            "spend": self.spend,
            "current_spend": self.current_spend,
            "change": self.spend - self.current_spend,
            "bounds": [self.low, self.high],
            "mroi": self.mroi.to_json(),
            "current_mroi": self.current_mroi.to_json(),
            "status": self.status,
            "explanation": self.explanation,
            "spend_by_geo": dict(self.spend_by_geo),
            "gain": self.gain.to_json(),
        }


@dataclass(frozen=True)
class OptimalityChecks:
    """The evidence that a plan is feasible and optimal (see :mod:`margin.optimize.proof`).

    Attributes:
        budget_residual: ``|Σ spend − budget| / budget`` (0 when the budget is a cap
            that is not reached); must be <= ``budget_tolerance``.
        bound_violation: largest bound violation over channels and units, relative to
            the budget; must be <= ``bound_tolerance``.
        marginal_spread: ``(max − min) / mean`` of the marginal objective over interior
            units; must be <= ``marginal_tolerance`` (NaN with fewer than two).
        multiplier: the common marginal objective of interior units (currency per
            currency), or NaN when no unit is interior.
        bound_consistent: every unit at a bound has the marginal sign KKT requires.
        not_worse: the plan's objective is >= that of the current plan rescaled to the
            budget (the optimizer's first start).
        solver_message: what the solver said.
        evaluations: model evaluations the solve spent (the last solve's, in target modes
            the sum over the search).
        evaluation_limit: the most one solve may spend
            (:data:`margin.optimize.solver.MAX_EVALUATIONS`).
        stopped_early: a solve reached that limit and kept the best plan found by then
            (said in the plan's caveats too).
    """

    budget_residual: float
    budget_tolerance: float
    bound_violation: float
    bound_tolerance: float
    marginal_spread: float
    marginal_tolerance: float
    multiplier: float
    bound_consistent: bool
    not_worse: bool
    solver_message: str
    evaluations: int = 0
    evaluation_limit: int = 0
    stopped_early: bool = False

    @property
    def passed(self) -> bool:
        spread_ok = not (self.marginal_spread > self.marginal_tolerance)
        return (
            self.budget_residual <= self.budget_tolerance
            and self.bound_violation <= self.bound_tolerance
            and spread_ok
            and self.bound_consistent
            and self.not_worse
        )

    def to_json(self) -> dict[str, Any]:
        def finite(value: float) -> float | None:
            return None if np.isnan(value) else value

        return {
            "passed": self.passed,
            "budget_residual": self.budget_residual,
            "budget_tolerance": self.budget_tolerance,
            "bound_violation": self.bound_violation,
            "bound_tolerance": self.bound_tolerance,
            "marginal_spread": finite(self.marginal_spread),
            "marginal_tolerance": self.marginal_tolerance,
            "multiplier": finite(self.multiplier),
            "bound_consistent": self.bound_consistent,
            "not_worse": self.not_worse,
            "solver_message": self.solver_message,
            "evaluations": self.evaluations,
            "evaluation_limit": self.evaluation_limit,
            "stopped_early": self.stopped_early,
        }


@dataclass(frozen=True, eq=False)
class AllocationResult:
    """A recommended plan with its proof and its uncertainty.

    Attributes:
        mode: ``"budget"``, ``"target_kpi"`` or ``"min_roi"``.
        budget: the budget asked for (the budget found, in target modes).
        weeks: horizon length N.
        objective: the objective's description, e.g. ``"kpi/mean"``.
        channels, geos: axis names.
        allocation: one :class:`ChannelAllocation` per channel, in model order.
        expected_kpi, current_kpi: KPI over the horizon (baseline included) plus the
            carry-over tail of its spend, for the plan and the current plan.
        expected_gain: ``expected_kpi − current_kpi``, per draw.
        roi: the plan's media ROI, ``kpi_value · (KPI(plan) − KPI(no spend)) / spend``.
        p_beats_current: share of draws in which the plan's KPI beats the current plan's.
        plan: ``(n_geos, n_weeks, n_channels)`` recommended spend.
        current_plan: ``(n_geos, n_weeks, n_channels)`` the current plan.
        current_plan_note: how the current plan was made.
        checks: the optimality proof.
        caveats: what the intervals cannot show, in words (:mod:`margin.optimize.caveats`).
    """

    mode: str
    budget: float
    weeks: int
    objective: str
    channels: tuple[str, ...]
    geos: tuple[str, ...]
    allocation: tuple[ChannelAllocation, ...]
    expected_kpi: Interval
    current_kpi: Interval
    expected_gain: Interval
    roi: Interval
    p_beats_current: float
    plan: FloatArray
    current_plan: FloatArray
    current_plan_note: str
    checks: OptimalityChecks
    caveats: tuple[str, ...] = ()

    @property
    def spend(self) -> float:
        """The plan's total spend over the horizon."""
        return float(self.plan.sum())

    def to_json(self) -> dict[str, Any]:
        """The ``plan.json`` contract (see the module docstring)."""
        return {
            "mode": self.mode,
            "budget": self.budget,
            "weeks": self.weeks,
            "spend": self.spend,
            "objective": self.objective,
            "current_plan": self.current_plan_note,
            "allocation": {a.channel: a.to_json() for a in self.allocation},
            "expected_kpi": self.expected_kpi.to_json(),
            "current_kpi": self.current_kpi.to_json(),
            "expected_gain": self.expected_gain.to_json(),
            "roi": self.roi.to_json(),
            "p_beats_current": self.p_beats_current,
            "checks": self.checks.to_json(),
            "caveats": list(self.caveats),
        }


def write_plan_csv(result: AllocationResult, path: Path, *, start: date | None = None) -> Path:
    """Write the plan as CSV rows ``week, [week_start,] geo, channel, spend``.

    Args:
        result: the plan.
        path: where to write (overwritten).
        start: the horizon's first Monday; adds a ``week_start`` column when given.

    Returns:
        ``path``.
    """
    header = ["week", "geo", "channel", "spend"]
    if start is not None:
        header.insert(1, "week_start")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for week in range(result.weeks):
            for g, geo in enumerate(result.geos):
                for c, channel in enumerate(result.channels):
                    row: list[object] = [week + 1, geo, channel, f"{result.plan[g, week, c]:.2f}"]
                    if start is not None:
                        row.insert(1, (start + timedelta(weeks=week)).isoformat())
                    writer.writerow(row)
    return path
