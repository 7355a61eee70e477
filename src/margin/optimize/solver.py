"""The constrained solve: SciPy SLSQP on scaled unit totals with analytic gradients.

Variables are unit totals divided by a scale (the budget), so gradients are marginal
returns in currency per currency and the problem is well conditioned. The objective and
its gradient come from one model evaluation (the model's vector-Jacobian product with
the risk measure's draw weights). Each solve starts from the current plan rescaled to the
budget and from an even split; the better end point wins, and it is kept only if it is
at least as good as the rescaled current plan (so a plan is never worse than the start).
Geo × channel plans are solved in per-unit rescaled variables that even out the
curvature across geos of unequal size (:func:`_unit_weights`), which SLSQP's identity
starting Hessian otherwise spends hundreds of iterations learning. When the best end
point fails the KKT checks the solve restarts from it (``_RESTARTS``),
and if it still fails them, small problems are solved again with SciPy's interior-point
``trust-constr`` (:func:`_trust_region`), kept where it finds a better plan.

The objective is the plan's value less the rescaled current plan's (a constant: the
same optimum), divided by the budget. Without the offset the model's baseline KPI,
which no plan changes, dominates it: with a tiny budget (1) the objective was ~1e6
while plans differ by ~1e-2, below SLSQP's resolution, and each solve ran to its
iteration limit (2,700 evaluations instead of ~200). Each solve is also bounded:
after :data:`MAX_EVALUATIONS` model evaluations it stops, keeps the best plan found
so far, and says so (:attr:`Solution.stopped_early`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.optimize import minimize  # type: ignore[import-untyped,unused-ignore]

from margin.cancellation import checkpoint
from margin.errors import ConfigError
from margin.optimize.objective import Objective, risk_value, risk_weights
from margin.optimize.problem import Problem
from margin.types import FloatArray

__all__ = [
    "MAX_EVALUATIONS", "Solution", "plan_values", "project_to_budget", "solve",
    "value_and_gradient",
]  # fmt: skip

MAX_EVALUATIONS = 3000
"""Most model evaluations (value and gradient) one :func:`solve` spends over all its
starts, restarts and fallbacks: a bound on the work one request causes (a request makes
a bounded number of solves: one per frontier point, per target bisection, per on/off
choice of a minimum spend). Solves in the test suite take 10–750; a solve that reaches
the bound keeps the best plan found so far and says it stopped early."""

_FTOL = 1e-12
_VALUE_RTOL = 1e-12
"""SLSQP's tolerance grows by this share of the plan's whole value (per unit of budget):
the value carries terms no plan changes (past spend's carry-over), whose rounding
(~1e-15 of it) no step can beat; with a tiny budget it exceeded ``_FTOL`` and SLSQP ran
to its iteration limit, ten line-search evaluations an iteration."""
_MAXITER = 300
_BISECTIONS = 200
_RESTARTS = 2
"""SLSQP restarts from its own end point when that point fails the KKT checks: its
quasi-Newton Hessian, built while crossing a steep or S-shaped response, can leave it
stalled short of the optimum (seen on a fitted MMM: a channel left at 0.02% of the budget
with a marginal ROI 4.5x the others'); a restart from a fresh Hessian finishes the job."""
_TRUST_MAX_UNITS = 60
"""Most variables for the ``trust-constr`` fallback (:func:`_trust_region`): a few
tenths of a second on a channel plan; minutes on a 200-unit geo × channel plan."""
_TRUST_MAXITER = 2000


@dataclass(frozen=True, eq=False)
class Solution:
    """Unit totals ``(n_units,)``, the objective's value, the start's and the solver's message.

    ``evaluations`` counts the model evaluations the solve spent; ``stopped_early`` is
    true when it reached ``evaluation_limit`` (:data:`MAX_EVALUATIONS`) and kept the best
    plan found by then.
    """

    totals: FloatArray
    value: float
    start_value: float
    message: str
    evaluations: int = 0
    evaluation_limit: int = 0
    stopped_early: bool = False


class _OutOfEvaluationsError(Exception):
    """Raised inside the objective once a solve has spent its evaluations."""


@dataclass
class _Meter:
    """Counts a solve's evaluations, stops it at ``limit``, keeps the last point evaluated."""

    limit: int
    used: int = 0
    stopped: bool = False
    last: FloatArray | None = None

    def count(self, z: FloatArray) -> None:
        if self.used >= self.limit:
            self.stopped = True
            raise _OutOfEvaluationsError
        self.used += 1
        self.last = np.array(z, dtype=np.float64)

    def end_point(self) -> FloatArray:
        """Where a stopped solver was: the last point it evaluated (scaled units)."""
        assert self.last is not None  # the limit is >= 1, so one point was evaluated
        return self.last

    @property
    def note(self) -> str:
        return f"stopped at the limit of {self.limit:,} model evaluations"


def plan_values(problem: Problem, totals: FloatArray, objective: Objective) -> FloatArray:
    """Per-draw value of a plan in currency, ``(n_draws,)`` (see :mod:`.objective`); with
    ``objective.relative``, less the reference plan's value in the same draw."""
    kpi = problem.kpi_draws(totals)
    if objective.relative:
        kpi = kpi - problem.reference_draws
    value = problem.model.kpi_value * kpi
    if objective.kind == "profit":
        result: FloatArray = objective.margin * value - totals.sum()
        return result
    return value


def value_and_gradient(
    problem: Problem, totals: FloatArray, objective: Objective
) -> tuple[float, FloatArray]:
    checkpoint()  # every solver step: a server request whose client left stops here
    values = plan_values(problem, totals, objective)
    weights = risk_weights(values, objective)
    factor = problem.model.kpi_value * (objective.margin if objective.kind == "profit" else 1.0)
    grad = factor * problem.unit_gradient(totals, weights)
    if objective.kind == "profit":
        grad = grad - weights.sum()
    return risk_value(values, objective), grad


def project_to_budget(
    point: FloatArray, low: FloatArray, high: FloatArray, budget: float
) -> FloatArray:
    """Euclidean projection onto ``{Σ x = budget, low <= x <= high}`` (bisection on a shift).

    The caller guarantees ``Σ low <= budget <= Σ high``.
    """
    lo_shift = float(np.min(low - point)) - 1.0
    hi_shift = float(np.max(high - point)) + 1.0
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo_shift + hi_shift)
        if np.clip(point + mid, low, high).sum() < budget:
            lo_shift = mid
        else:
            hi_shift = mid
    x = np.clip(point + 0.5 * (lo_shift + hi_shift), low, high)
    free = (x > low) & (x < high)
    if free.any():  # put the last rounding residual on the free units
        x[free] += (budget - x.sum()) / free.sum()
    result: FloatArray = np.clip(x, low, high)
    return result


def _channel_constraints(problem: Problem, scale: float) -> list[dict[str, Any]]:
    """Linear constraints on channel totals when units are (geo, channel)."""
    if not problem.by_geo:
        return []
    n_channels = problem.channel_low.size
    matrix = (problem.channel_of[None, :] == np.arange(n_channels)[:, None]).astype(float)
    low, high = problem.channel_low / scale, problem.channel_high / scale
    active_low, active_high = low > 0, high < problem.high.sum() / scale
    out: list[dict[str, Any]] = []
    if active_low.any():
        a = matrix[active_low]
        out.append({"type": "ineq", "fun": lambda z: a @ z - low[active_low], "jac": lambda z: a})
    if active_high.any():
        b = matrix[active_high]
        out.append(
            {"type": "ineq", "fun": lambda z: high[active_high] - b @ z, "jac": lambda z: -b}
        )
    return out


def _spread_to_units(
    problem: Problem, channel_totals: FloatArray, weights: FloatArray
) -> FloatArray:
    """Unit totals giving each channel its total, split over its units in proportion to ``weights``."""
    per_channel = np.bincount(problem.channel_of, weights=weights, minlength=channel_totals.size)
    counts = np.bincount(problem.channel_of, minlength=channel_totals.size)
    share = np.where(
        per_channel[problem.channel_of] > 0,
        weights / np.where(per_channel > 0, per_channel, 1.0)[problem.channel_of],
        1.0 / counts[problem.channel_of],
    )
    result: FloatArray = channel_totals[problem.channel_of] * share
    return result


def _feasible_point(problem: Problem, point: FloatArray, budget: float) -> FloatArray:
    """A point meeting channel bounds and the budget, close to ``point`` (exact per channel)."""
    if not problem.by_geo:
        return project_to_budget(point, problem.low, problem.high, budget)
    channel = project_to_budget(
        problem.channel_totals(point), problem.channel_low, problem.channel_high, budget
    )
    return _spread_to_units(problem, channel, np.maximum(point, 0.0))


def _starts(problem: Problem, budget: float) -> list[FloatArray]:
    current = problem.current if problem.current.sum() > 0 else np.ones(problem.n_units)
    rescaled = current * budget / current.sum()
    even = np.full(problem.n_units, budget / problem.n_units)
    return [_feasible_point(problem, p, budget) for p in (rescaled, even)]


def solve(
    problem: Problem,
    objective: Objective,
    budget: float,
    *,
    equality: bool = True,
    extra: Callable[[float], list[dict[str, Any]]] | None = None,
    start: FloatArray | None = None,
) -> Solution:
    """Maximise the objective over unit totals summing to ``budget`` (at most, if not ``equality``).

    Args:
        problem: units, bounds and model.
        objective: what to maximise.
        budget: total spend (> 0); ``Σ low <= budget <= Σ high`` when ``equality``.
        equality: spend exactly ``budget`` (else at most).
        extra: builds further SLSQP constraints in scaled units, given the scale.
        start: optimise from this point only (made feasible) instead of the two default
            starts; the rescaled current plan still sets the "not worse" bar.
    """
    starts = _starts(problem, budget)
    start_value = risk_value(plan_values(problem, starts[0], objective), objective)
    best = Solution(starts[0], start_value, start_value, "kept the rescaled current plan")
    if not _feasible(problem, starts[0], extra, budget):
        best = Solution(starts[0], -np.inf, -np.inf, "no feasible plan found")
    runs = starts if start is None else [_feasible_point(problem, start, budget)]
    search = _Search(problem, objective, budget, equality, extra, start_value, runs[0])
    for point in runs:
        best = search.slsqp(point, best)
    for _ in range(_RESTARTS if extra is None else 0):
        if search.done(best):
            break
        restarted = search.slsqp(best.totals, best)
        if restarted.value <= best.value:
            break
        best = restarted
    if extra is None and problem.n_units <= _TRUST_MAX_UNITS:
        for from_start in (True, False):  # from the first start, then from the best plan
            if search.done(best):
                break
            best = search.trust_region(runs[0] if from_start else best.totals, best)
    meter = search.meter
    best = replace(
        best, evaluations=meter.used, evaluation_limit=meter.limit, stopped_early=meter.stopped
    )
    if not np.isfinite(best.value):
        raise ConfigError(
            "the solver found no plan that meets every constraint (budget, bounds and the "
            "target); relax the target or widen the bounds."
        )
    return best


class _Search:
    """One solve's objective, constraints and variable scales, and its runs from a point.

    The objective is in scaled units ``z = totals / budget``, offset by ``offset`` (the
    rescaled current plan's value; see the module docstring) and metered (at most
    :data:`MAX_EVALUATIONS`). SLSQP runs in ``y = z / weights`` (:func:`_unit_weights`,
    geo × channel plans only).
    """

    def __init__(
        self,
        problem: Problem,
        objective: Objective,
        budget: float,
        equality: bool,
        extra: Callable[[float], list[dict[str, Any]]] | None,
        offset: float,
        first: FloatArray,
    ) -> None:
        self.problem, self.objective, self.budget = problem, objective, budget
        self.equality, self.extra = equality, extra
        self.offset = offset if np.isfinite(offset) else 0.0
        self.ftol = _FTOL + _VALUE_RTOL * abs(self.offset) / budget
        self.meter = _Meter(MAX_EVALUATIONS)
        budget_constraint = {
            "type": "eq" if equality else "ineq",
            "fun": lambda z: 1.0 - z.sum(),
            "jac": lambda z: -np.ones_like(z),
        }
        constraints = [budget_constraint, *_channel_constraints(problem, budget)]
        constraints += extra(budget) if extra is not None else []
        self.weights = np.ones(problem.n_units)
        if problem.by_geo:  # SLSQP in coordinates where every unit's curvature is alike
            self.weights = _unit_weights(problem, objective, first, budget)
            constraints = [_rescaled(c, self.weights) for c in constraints]
        low, high = problem.low / budget / self.weights, problem.high / budget / self.weights
        self.bounds = list(zip(low, high, strict=True))
        self.constraints = constraints

    def fun(self, z: FloatArray) -> tuple[float, FloatArray]:
        """Minus the offset objective in scaled units, and its gradient (one evaluation)."""
        self.meter.count(z)
        totals = np.maximum(z, 0.0) * self.budget
        value, grad = value_and_gradient(self.problem, totals, self.objective)
        return -(value - self.offset) / self.budget, -grad

    def _weighted(self, y: FloatArray) -> tuple[float, FloatArray]:
        value, grad = self.fun(self.weights * y)
        return value, self.weights * grad

    def done(self, best: Solution) -> bool:
        """No more runs: out of evaluations, no feasible plan, or ``best`` passes the checks."""
        if self.meter.stopped or not np.isfinite(best.value):
            return True
        return _stationary(self.problem, best, self.objective, self.budget, self.equality)

    def slsqp(self, point: FloatArray, best: Solution) -> Solution:
        """One SLSQP run from ``point`` (unit totals); ``best`` unless it finds a better plan."""
        if self.meter.stopped:
            return best
        try:
            result = minimize(
                self._weighted, point / self.budget / self.weights, jac=True, method="SLSQP",
                bounds=self.bounds, constraints=self.constraints,
                options={"ftol": self.ftol, "maxiter": _MAXITER},
            )  # fmt: skip
            end, message = self.weights * np.asarray(result.x), str(result.message)
        except _OutOfEvaluationsError:
            end, message = self.meter.end_point(), self.meter.note
        return self._better(end, best, message)

    def trust_region(self, point: FloatArray, best: Solution) -> Solution:
        """One ``trust-constr`` run from ``point`` (:func:`_trust_region`)."""
        try:
            end, message = _trust_region(self.problem, self.fun, point, self.budget, self.equality)
        except _OutOfEvaluationsError:
            end, message = self.meter.end_point(), self.meter.note
        return self._better(end, best, f"trust-constr: {message}")

    def _better(self, end: FloatArray, best: Solution, message: str) -> Solution:
        """The solver's end point ``end`` (scaled units), polished, if better than ``best``."""
        problem = self.problem
        totals = _polish(problem, end * self.budget, self.budget, self.equality)
        value = risk_value(plan_values(problem, totals, self.objective), self.objective)
        if value > best.value and _feasible(problem, totals, self.extra, self.budget):
            return Solution(totals, value, best.start_value, message)
        return best


def _unit_weights(
    problem: Problem, objective: Objective, point: FloatArray, budget: float
) -> FloatArray:
    """Per-unit variable scales (mean 1) that even out the objective's curvature.

    SLSQP starts from an identity Hessian. Across geos the curvature of a unit's return
    differs by orders of magnitude (small geos saturate at small spend), so on a 40-geo
    × 5-channel plan it spent ~400 evaluations learning it. An MMM's units do not
    interact (each unit's return depends on its own spend), so one gradient difference
    along every unit at once gives each unit's curvature ``h``; in variables ``y = z / w``
    with ``w ∝ 1 / sqrt(h)`` every unit's curvature is about the same (~125 evaluations
    on that plan). Curvatures are clipped to a factor of 1e3 around their median, so a
    flat or odd unit cannot dominate; models whose units interact only lose the speed-up.
    """
    floor = 0.05 * budget / problem.n_units
    step = 0.05 * np.maximum(point, floor)
    _, g0 = value_and_gradient(problem, point, objective)
    _, g1 = value_and_gradient(problem, point + step, objective)
    curvature = np.abs(g1 - g0) / (step / budget)  # per unit, in budget-scaled coordinates
    positive = curvature[curvature > 0]
    if positive.size == 0:
        return np.ones(problem.n_units)
    middle = float(np.median(positive))
    weights = 1.0 / np.sqrt(np.clip(curvature, middle * 1e-3, middle * 1e3))
    result: FloatArray = weights / weights.mean()
    return result


def _rescaled(constraint: dict[str, Any], weights: FloatArray) -> dict[str, Any]:
    """A constraint on ``z`` as the same constraint on ``y``, with ``z = weights * y``."""
    fun, jac = constraint["fun"], constraint["jac"]
    return {
        "type": constraint["type"],
        "fun": lambda y: fun(weights * y),
        "jac": lambda y: np.asarray(jac(weights * y)) * weights,
    }


def _trust_region(
    problem: Problem,
    fun: Callable[[FloatArray], tuple[float, FloatArray]],
    point: FloatArray,
    budget: float,
    equality: bool,
) -> tuple[FloatArray, str]:
    """One ``trust-constr`` solve from unit totals ``point``: its end point (scaled units)
    and message.

    The fallback when SLSQP's end points fail the KKT checks. A fitted response whose
    saturation slope is below 1 in some draws has a marginal return that grows without
    bound as a channel's spend goes to 0; SLSQP's first quasi-Newton step can jump to a
    corner where it does, and its QP subproblem then fails ("Inequality constraints
    incompatible"; seen on a fitted MMM, a plan with all the budget on one channel).
    The interior-point method stays inside the bounds and does not take that step.
    """
    import warnings

    from scipy.optimize import Bounds, LinearConstraint

    scale = budget
    rows = [np.ones(problem.n_units)]
    low, high = [1.0 if equality else -np.inf], [1.0]
    if problem.by_geo:
        matrix = problem.channel_of[None, :] == np.arange(problem.channel_low.size)[:, None]
        rows += list(matrix.astype(float))
        low += list(problem.channel_low / scale)
        high += list(problem.channel_high / scale)
    constraint = LinearConstraint(np.array(rows), np.array(low), np.array(high))
    start = np.clip(point / scale, problem.low / scale, problem.high / scale)
    with warnings.catch_warnings():  # its quasi-Newton update on flat stretches of the response
        warnings.filterwarnings("ignore", message="delta_grad == 0.0", category=UserWarning)
        result = minimize(
            fun, start, jac=True, method="trust-constr", constraints=[constraint],
            bounds=Bounds(problem.low / scale, problem.high / scale),
            options={"maxiter": _TRUST_MAXITER, "gtol": 1e-10, "xtol": 1e-12},
        )  # fmt: skip
    return np.asarray(result.x), str(result.message)


def _stationary(
    problem: Problem, solution: Solution, objective: Objective, budget: float, equality: bool
) -> bool:
    """Whether ``solution`` passes the KKT checks of :mod:`.proof` (marginal returns)."""
    from margin.optimize.proof import check_optimality

    checks, _, _ = check_optimality(problem, solution, objective, budget, equality=equality)
    spread_ok = not (checks.marginal_spread > checks.marginal_tolerance)
    return bool(spread_ok and checks.bound_consistent)


def _feasible(
    problem: Problem,
    totals: FloatArray,
    extra: Callable[[float], list[dict[str, Any]]] | None,
    scale: float,
) -> bool:
    if extra is None:
        return True
    return all(np.all(c["fun"](totals / scale) >= -1e-9) for c in extra(scale))


def _polish(problem: Problem, totals: FloatArray, budget: float, equality: bool) -> FloatArray:
    """Remove the solver's last rounding: clip to bounds, meet the budget exactly."""
    totals = np.clip(totals, problem.low, problem.high)
    channel = problem.channel_totals(totals)
    if equality or totals.sum() > budget:
        return _feasible_point(problem, totals, budget)
    if problem.by_geo:
        clipped = np.clip(channel, problem.channel_low, problem.channel_high)
        return _spread_to_units(problem, clipped, totals)
    return totals
