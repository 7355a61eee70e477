"""The efficient frontier: the best plan's KPI and ROI against total budget.

Each point is a :func:`~margin.optimize.solver.solve` at its budget (same objective,
constraints and weekly shape as :func:`~margin.optimize.allocate.allocate`; from the
previous point's plan, rescaled, after the first), summarised over posterior draws. The **recommended point** is the budget with the highest expected
profit ``kpi_value · margin · KPI − spend`` among the points (for a revenue KPI with
``margin=1``: where the next dollar stops paying for itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from margin.errors import ConfigError
from margin.limits import MAX_FRONTIER_POINTS, check_amount
from margin.optimize.caveats import stopped_early_caveat
from margin.optimize.objective import Objective
from margin.optimize.problem import Constraints, build_problem
from margin.optimize.report import kpi_draws_with_baseline
from margin.optimize.results import Interval
from margin.optimize.solver import solve
from margin.protocols import ResponseModel
from margin.types import FloatArray

__all__ = ["Frontier", "FrontierPoint", "efficient_frontier"]


@dataclass(frozen=True)
class FrontierPoint:
    """One budget on the frontier.

    Attributes:
        budget: total spend over the horizon.
        kpi: the best plan's KPI (baseline included, with the spend's carry-over tail).
        roi: its media ROI, ``kpi_value · (KPI − KPI without spend) / budget``.
        profit: ``kpi_value · margin · (KPI − KPI without spend) − budget``.
        spend: channel → the plan's total.
        stopped_early: its solve reached the evaluation limit
            (:data:`margin.optimize.solver.MAX_EVALUATIONS`): the best plan found by then.
    """

    budget: float
    kpi: Interval
    roi: Interval
    profit: Interval
    spend: dict[str, float]
    stopped_early: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "kpi": self.kpi.to_json(),
            "roi": self.roi.to_json(),
            "profit": self.profit.to_json(),
            "spend": dict(self.spend),
            "stopped_early": self.stopped_early,
        }


@dataclass(frozen=True)
class Frontier:
    """Points in increasing budget, the index of the recommended one, and caveats (a
    point whose solve stopped early)."""

    weeks: int
    margin: float
    points: tuple[FrontierPoint, ...]
    recommended: int
    caveats: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "weeks": self.weeks,
            "margin": self.margin,
            "recommended": self.recommended,
            "points": [p.to_json() for p in self.points],
            "caveats": list(self.caveats),
        }


def _budgets(start: float, stop: float, n_points: int) -> FloatArray:
    check_amount("from", start, "the frontier's lowest budget, an amount of currency")
    check_amount("to", stop, "the frontier's highest budget, an amount of currency")
    if not start < stop:
        raise ConfigError(f"frontier range {start:g} to {stop:g} is empty; expected 0 < from < to.")
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 2:
        raise ConfigError(
            f"n_points = {n_points!r}; expected a whole number from 2 to {MAX_FRONTIER_POINTS}."
        )
    if n_points > MAX_FRONTIER_POINTS:
        raise ConfigError(
            f"n_points = {n_points} is too many: each point is a full solve; a frontier has "
            f"from 2 to {MAX_FRONTIER_POINTS} points."
        )
    return np.linspace(start, stop, n_points)


def efficient_frontier(  # noqa: PLR0913 (see tests/test_architecture.py)
    model: ResponseModel,
    weeks: int,
    start: float,
    stop: float,
    *,
    n_points: int = 20,
    margin: float = 1.0,
    objective: Objective | None = None,
    constraints: Constraints | None = None,
    by_geo: bool = False,
    reference: FloatArray | None = None,
) -> Frontier:
    """The best plan at ``n_points`` budgets from ``start`` to ``stop``.

    Args:
        model: the response model.
        weeks: horizon length N.
        start, stop: the budget range (0 < start < stop).
        n_points: number of budgets (>= 2), evenly spaced.
        margin: profit margin on KPI value used to pick the recommended point, (0, 1].
        objective: objective of each allocation (default expected KPI; must be ``"kpi"``).
        constraints, by_geo, reference: as in :func:`~margin.optimize.allocate.allocate`.

    Raises:
        ConfigError: a bad range, or a budget the bounds cannot meet (with the budget).
    """
    objective = objective or Objective()
    if objective.kind != "kpi":
        raise ConfigError(
            "efficient_frontier spends each budget in full; use Objective(kind='kpi')."
        )
    Objective(kind="profit", margin=margin)  # validates margin
    budgets = _budgets(start, stop, n_points)
    constraints = constraints or Constraints()
    problem = build_problem(
        model, weeks, constraints, cap=float(stop), by_geo=by_geo, reference=reference
    )
    if problem.channel_low.sum() > start or problem.channel_high.sum() < stop:
        raise ConfigError(
            f"the bounds allow total spend from {problem.channel_low.sum():,.2f} to "
            f"{problem.channel_high.sum():,.2f}; the frontier asks for {start:,.2f} to "
            f"{stop:,.2f}. Narrow the range or change the bounds."
        )
    zero = kpi_draws_with_baseline(problem, np.zeros(problem.n_units))
    points: list[FrontierPoint] = []
    previous: FloatArray | None = None
    for budget in budgets:
        # warm start from the previous point, rescaled (the first point uses both starts)
        warm = None if previous is None else previous * budget / previous.sum()
        solution = solve(problem, objective, float(budget), start=warm)
        totals = previous = solution.totals
        kpi = kpi_draws_with_baseline(problem, totals)
        media_value = model.kpi_value * (kpi - zero)
        channel = problem.channel_totals(totals)
        points.append(
            FrontierPoint(
                budget=float(budget),
                kpi=Interval.of(kpi),
                roi=Interval.of(media_value / budget),
                profit=Interval.of(margin * media_value - budget),
                spend={name: float(channel[c]) for c, name in enumerate(model.channels)},
                stopped_early=solution.stopped_early,
            )
        )
    recommended = int(np.argmax([p.profit.mean for p in points]))
    stopped = ", ".join(f"{p.budget:,.0f}" for p in points if p.stopped_early)
    limit = solution.evaluation_limit  # the same for every point
    caveats = (f"at budget(s) {stopped}: {stopped_early_caveat(limit)}",) if stopped else ()
    return Frontier(weeks, margin, tuple(points), recommended, caveats)
