"""The proof attached to every plan: feasibility, KKT conditions, and the gain's uncertainty.

For ``max f(x)`` subject to ``Σ x = B`` and ``low <= x <= high`` (``f`` the objective in
currency), a local optimum satisfies the KKT conditions: every interior unit has the same
marginal objective ``∂f/∂x_u = λ``; a unit at its lower bound has ``∂f/∂x_u <= λ`` (more
spend would earn less than elsewhere); at its upper bound ``∂f/∂x_u >= λ`` (it would earn
more, but the bound binds). When the budget is only a cap and is not reached (profit
objective), ``λ = 0``. With mean-KPI objectives ``∂f/∂x_u`` is the unit's marginal ROI.

Tolerances (relative):

- :data:`BUDGET_RTOL` on ``|Σ spend − B| / B``;
- :data:`BOUND_RTOL` on bound violations, relative to ``B``;
- :data:`MARGINAL_RTOL` on the spread ``(max − min) / mean`` of interior marginal
  returns (gross of the spend's own cost for profit), and on KKT signs at bounds;
- :data:`POSITION_RTOL`: a unit within this share of ``B`` of a bound is at the bound.

Marginal ROIs reported per channel are forward differences of the per-draw KPI when the
channel's total grows by :data:`MROI_STEP` (relative), all its geos and weeks alike (the
KKT checks use the model's exact gradient instead).
"""

from __future__ import annotations

import numpy as np

from margin.optimize.objective import Objective
from margin.optimize.problem import Problem
from margin.optimize.results import Interval, OptimalityChecks
from margin.optimize.solver import Solution, value_and_gradient
from margin.types import FloatArray

__all__ = [
    "BOUND_RTOL",
    "BUDGET_RTOL",
    "MARGINAL_RTOL",
    "MROI_STEP",
    "POSITION_RTOL",
    "channel_mroi",
    "check_optimality",
    "marginal_objective",
    "summarise_mroi",
    "unit_status",
]

BUDGET_RTOL = 1e-9
BOUND_RTOL = 1e-7
MARGINAL_RTOL = 1e-2
POSITION_RTOL = 1e-5
MROI_STEP = 1e-3


def marginal_objective(problem: Problem, totals: FloatArray, objective: Objective) -> FloatArray:
    """``∂f/∂x_u`` per unit ``(n_units,)``, currency per currency."""
    return value_and_gradient(problem, totals, objective)[1]


def unit_status(problem: Problem, totals: FloatArray, budget: float) -> list[str]:
    """Per unit: ``"locked"``, ``"lower"``, ``"upper"``, ``"channel_lower"``,
    ``"channel_upper"`` (geo units of a channel at its channel bound) or ``"interior"``."""
    near = POSITION_RTOL * budget
    channel_total = problem.channel_totals(totals)
    out = []
    for u in range(problem.n_units):
        c = int(problem.channel_of[u])
        if problem.high[u] - problem.low[u] <= near:
            out.append("locked")
        elif totals[u] <= problem.low[u] + near:
            out.append("lower")
        elif totals[u] >= problem.high[u] - near:
            out.append("upper")
        elif problem.by_geo and channel_total[c] <= problem.channel_low[c] + near:
            out.append("channel_lower")
        elif problem.by_geo and channel_total[c] >= problem.channel_high[c] - near:
            out.append("channel_upper")
        else:
            out.append("interior")
    return out


def _multiplier(gross: FloatArray, status: list[str], cap_reached: bool, profit: bool) -> float:
    interior = np.array([s == "interior" for s in status])
    if not cap_reached:
        return 1.0 if profit else 0.0
    if interior.any():
        return float(gross[interior].mean())
    return float("nan")


def check_optimality(
    problem: Problem,
    solution: Solution,
    objective: Objective,
    budget: float,
    *,
    equality: bool,
) -> tuple[OptimalityChecks, list[str], FloatArray]:
    """The checks, each unit's status and each unit's marginal objective.

    ``budget`` is the budget (``equality``) or the cap; marginal objectives are compared
    gross of the spend's own unit cost for profit objectives.
    """
    totals = solution.totals
    spend = float(totals.sum())
    cap_reached = equality or spend >= budget * (1 - POSITION_RTOL)
    residual = abs(spend - budget) / budget if equality else max(spend - budget, 0.0) / budget
    channel_total = problem.channel_totals(totals)
    violation = (
        max(
            float(np.max(problem.low - totals, initial=0.0)),
            float(np.max(totals - problem.high, initial=0.0)),
            float(np.max(problem.channel_low - channel_total, initial=0.0)),
            float(np.max(channel_total - problem.channel_high, initial=0.0)),
        )
        / budget
    )
    marginal = marginal_objective(problem, totals, objective)
    profit = objective.kind == "profit"
    gross = marginal + 1.0 if profit else marginal
    status = unit_status(problem, totals, budget)
    lam = _multiplier(gross, status, cap_reached, profit)
    interior = np.array([s == "interior" for s in status])
    if interior.sum() >= 2 or (interior.any() and not cap_reached):
        values = np.append(gross[interior], lam) if not cap_reached else gross[interior]
        spread = float((values.max() - values.min()) / abs(values.mean()))
    else:
        spread = float("nan")
    tolerance = MARGINAL_RTOL * (abs(lam) if np.isfinite(lam) else 1.0)
    consistent = all(
        not np.isfinite(lam)
        or (s in ("lower", "channel_lower") and g <= lam + tolerance)
        or (s in ("upper", "channel_upper") and g >= lam - tolerance)
        or s in ("interior", "locked")
        for s, g in zip(status, gross, strict=True)
    )
    checks = OptimalityChecks(
        budget_residual=float(residual),
        budget_tolerance=BUDGET_RTOL,
        bound_violation=float(violation),
        bound_tolerance=BOUND_RTOL,
        marginal_spread=spread,
        marginal_tolerance=MARGINAL_RTOL,
        multiplier=lam,
        bound_consistent=bool(consistent),
        not_worse=bool(solution.value >= solution.start_value - 1e-9 * abs(solution.start_value)),
        solver_message=solution.message,
        evaluations=solution.evaluations,
        evaluation_limit=solution.evaluation_limit,
        stopped_early=solution.stopped_early,
    )
    return checks, status, marginal


def channel_mroi(
    problem: Problem, totals: FloatArray, budget: float, base: FloatArray | None = None
) -> FloatArray:
    """Marginal ROI per draw and channel ``(n_draws, n_channels)`` at unit totals.

    A forward difference: the channel's total grows by :data:`MROI_STEP` (relative; by
    ``MROI_STEP · budget / n_channels`` when it is zero), spread like its current spend.
    ``base`` is ``problem.kpi_draws(totals)`` when already known.
    """
    value = problem.model.kpi_value
    n_channels = problem.channel_low.size
    base = problem.kpi_draws(totals) if base is None else base
    out = np.empty((problem.model.n_draws, n_channels))
    for c in range(n_channels):
        mine = problem.channel_of == c
        total = float(totals[mine].sum())
        up = totals.copy()
        if total > 0:
            step = MROI_STEP * total
            up[mine] *= 1 + MROI_STEP
        else:
            step = MROI_STEP * budget / n_channels
            up[mine] += step / mine.sum()
        out[:, c] = value * (problem.kpi_draws(up) - base) / step
    return out


def summarise_mroi(draws: FloatArray) -> list[Interval]:
    """One :class:`Interval` per channel from ``(n_draws, n_channels)`` draws."""
    return [Interval.of(draws[:, c]) for c in range(draws.shape[1])]
