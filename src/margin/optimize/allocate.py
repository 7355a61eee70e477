"""Budget allocation: fixed budget, KPI target and ROI floor, each with its proof.

* :func:`allocate` — the plan that maximises the objective for a total budget over N weeks.
* :func:`allocate_target` — the least spend whose expected KPI reaches a target
  (``target_kpi``), or the largest-KPI plan whose media ROI stays at or above a floor
  (``min_roi``: as spend grows ROI falls, so this is the spend at which ROI reaches the
  floor), both within ``max_budget``.

Minimum spend when on (``Constraints.min_spend``) makes the problem mixed-integer: the
continuous problem is solved first; every channel left between 0 and its minimum is then
tried both off (0) and on (at least its minimum), all combinations (at most
:data:`MAX_SWITCHES` such channels), and the best feasible plan is kept.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np

from margin.errors import ConfigError
from margin.limits import check_amount
from margin.optimize.objective import Objective
from margin.optimize.problem import Constraints, Problem, build_problem
from margin.optimize.proof import POSITION_RTOL
from margin.optimize.report import build_result
from margin.optimize.results import AllocationResult
from margin.optimize.solver import Solution, solve
from margin.protocols import ResponseModel
from margin.types import FloatArray

__all__ = ["MAX_SWITCHES", "allocate", "allocate_target"]

MAX_SWITCHES = 6
"""Most channels whose on/off choice a minimum-spend rule may leave open (2^6 solves)."""


def _check_budget(name: str, budget: float) -> None:
    check_amount(name, budget, "an amount of currency")


def _check_feasible(problem: Problem, budget: float, equality: bool) -> None:
    low, high = float(problem.channel_low.sum()), float(problem.channel_high.sum())
    if low > budget * (1 + 1e-12):
        raise ConfigError(
            f"the channels' lower bounds (locked channels at current spend included) sum to "
            f"{low:,.2f}, above the budget {budget:,.2f} by {low - budget:,.2f}; lower the "
            "bounds, unlock channels or raise the budget."
        )
    if equality and high < budget * (1 - 1e-12):
        raise ConfigError(
            f"the channels' upper bounds sum to {high:,.2f}, below the budget {budget:,.2f} "
            f"by {budget - high:,.2f}; raise the bounds or lower the budget."
        )


def _restrict(
    problem: Problem,
    choice: dict[int, bool],
    minimum: dict[int, float],
    budget: float,
    equality: bool,
) -> Problem | None:
    """The problem with each chosen channel off (0) or on (>= its minimum); None if infeasible."""
    low, high = problem.low.copy(), problem.high.copy()
    channel_low, channel_high = problem.channel_low.copy(), problem.channel_high.copy()
    for c, on in choice.items():
        mine = problem.channel_of == c
        if on:
            channel_low[c] = max(channel_low[c], minimum[c])
            if not problem.by_geo:
                low[mine] = channel_low[c]
        else:
            channel_high[c], channel_low[c] = 0.0, 0.0
            low[mine], high[mine] = 0.0, 0.0
    if np.any(channel_low > channel_high) or channel_low.sum() > budget:
        return None
    if equality and min(channel_high.sum(), high.sum()) < budget:
        return None
    return replace(problem, low=low, high=high, channel_low=channel_low, channel_high=channel_high)


def _geo_start(problem: Problem, objective: Objective, budget: float, equality: bool) -> FloatArray:
    """The channel-level optimum split over geos like the current plan: a warm start."""
    national = build_problem(
        problem.model, problem.n_weeks, Constraints(), cap=budget, reference=problem.reference
    )
    national = replace(
        national,
        low=problem.channel_low.copy(),
        high=problem.channel_high.copy(),
        channel_low=problem.channel_low.copy(),
        channel_high=problem.channel_high.copy(),
    )
    channel = solve(national, objective, budget, equality=equality).totals
    current = np.maximum(problem.current, 0.0)
    per_channel = np.bincount(problem.channel_of, weights=current, minlength=channel.size)
    share = np.where(
        per_channel[problem.channel_of] > 0,
        current / np.where(per_channel > 0, per_channel, 1.0)[problem.channel_of],
        1.0 / len(problem.model.geos),
    )
    result: FloatArray = channel[problem.channel_of] * share
    return result


def _solve_with_minimums(
    problem: Problem,
    objective: Objective,
    budget: float,
    equality: bool,
    constraints: Constraints,
) -> tuple[Solution, Problem]:
    start = _geo_start(problem, objective, budget, equality) if problem.by_geo else None
    first = solve(problem, objective, budget, equality=equality, start=start)
    channels = problem.model.channels
    minimum = {channels.index(n): float(m) for n, m in constraints.min_spend.items()}
    totals = problem.channel_totals(first.totals)
    near = POSITION_RTOL * budget
    open_choice = [
        c for c, m in minimum.items() if near < totals[c] < m - near and problem.channel_low[c] < m
    ]
    if not open_choice:
        return first, problem
    if len(open_choice) > MAX_SWITCHES:
        raise ConfigError(
            f"{len(open_choice)} channels sit below their min_spend; at most {MAX_SWITCHES} "
            "on/off choices are searched. Drop some min_spend rules or set lower bounds."
        )
    best: tuple[Solution, Problem] | None = None
    solutions = [first]
    for mask in itertools.product((False, True), repeat=len(open_choice)):
        sub = _restrict(
            problem, dict(zip(open_choice, mask, strict=True)), minimum, budget, equality
        )
        if sub is None:
            continue
        solution = solve(sub, objective, budget, equality=equality, start=start)
        solutions.append(solution)
        if best is None or solution.value > best[0].value:
            best = (solution, sub)
    if best is None:
        names = [channels[c] for c in open_choice]
        raise ConfigError(
            f"no on/off choice of {names} meets the budget {budget:,.2f} with their min_spend "
            "and the bounds; lower a min_spend or change the budget."
        )
    # "not worse" compares with the unrestricted start: the current plan rescaled.
    chosen = _spent(best[0], solutions)
    return replace(chosen, start_value=min(best[0].start_value, first.start_value)), best[1]


def _spent(chosen: Solution, solutions: list[Solution]) -> Solution:
    """``chosen`` with the evaluations of all ``solutions`` (one search), and stopped
    early if any of them was."""
    return replace(
        chosen,
        evaluations=sum(s.evaluations for s in solutions),
        stopped_early=any(s.stopped_early for s in solutions),
    )


def allocate(
    model: ResponseModel,
    budget: float,
    weeks: int,
    *,
    objective: Objective | None = None,
    constraints: Constraints | None = None,
    by_geo: bool = False,
    reference: FloatArray | None = None,
) -> AllocationResult:
    """The best plan for ``budget`` over ``weeks`` weeks, with its proof.

    Args:
        model: any :class:`~margin.protocols.ResponseModel`.
        budget: total spend over the horizon (spent in full for ``kind="kpi"``, a cap for
            ``kind="profit"``).
        weeks: horizon length N.
        objective: what to maximise (default: expected KPI).
        constraints: bounds, locks and minimum spends per channel.
        by_geo: allocate each (geo, channel) separately instead of each channel.
        reference: ``(n_geos, weeks, n_channels)`` the current plan (default: recent
            average weekly spend); its shape spreads totals over weeks and geos.

    Raises:
        ConfigError: non-positive budget, unknown channels, or bounds that cannot meet the
            budget (the message says which and by how much).
    """
    _check_budget("budget", budget)
    objective = objective or Objective()
    constraints = constraints or Constraints()
    problem = build_problem(
        model, weeks, constraints, cap=budget, by_geo=by_geo, reference=reference
    )
    equality = objective.kind == "kpi"
    _check_feasible(problem, budget, equality)
    solution, solved = _solve_with_minimums(problem, objective, budget, equality, constraints)
    return build_result(
        solved, solution, objective, budget, mode="budget", equality=equality,
        given_reference=reference is not None, min_spend=constraints.min_spend,
    )  # fmt: skip


def _roi_constraint(problem: Problem, floor: float) -> Any:
    value = problem.model.kpi_value
    n_draws = problem.model.n_draws
    zero_kpi = float(problem.kpi_draws(np.zeros(problem.n_units)).mean())

    def build(scale: float) -> list[dict[str, Any]]:
        def fun(z: FloatArray) -> float:
            x = np.maximum(z, 0.0) * scale
            return float(value * (problem.kpi_draws(x).mean() - zero_kpi) - floor * x.sum()) / scale

        def jac(z: FloatArray) -> FloatArray:
            x = np.maximum(z, 0.0) * scale
            grad: FloatArray = value * problem.unit_gradient(x, np.full(n_draws, 1.0 / n_draws))
            return grad - floor

        return [{"type": "ineq", "fun": fun, "jac": jac}]

    return build


def _least_spend(problem: Problem, target_value: float, max_budget: float) -> Solution:
    """Least total spend whose mean plan value (currency of media KPI) reaches the target."""
    kpi_objective = Objective()
    widest = solve(problem, kpi_objective, max_budget, equality=False)
    if widest.value < target_value:
        raise ConfigError(
            f"the KPI target is out of reach: within max_budget {max_budget:,.2f} the best plan's "
            f"media KPI value is {widest.value:,.2f}, short of the {target_value:,.2f} needed by "
            f"{target_value - widest.value:,.2f}; raise max_budget or lower the target."
        )
    lo, hi = 0.0, float(widest.totals.sum())
    best, solutions = widest, [widest]
    for _ in range(_TARGET_BISECTIONS):  # the best plan's value rises with its budget
        mid = 0.5 * (lo + hi)
        if mid <= problem.channel_low.sum():
            lo = mid
            continue
        trial = solve(problem, kpi_objective, mid, equality=True)
        solutions.append(trial)
        if trial.value >= target_value:
            hi, best = mid, trial
        else:
            lo = mid
        if hi - lo <= _TARGET_RTOL * hi:
            break
    return replace(_spent(best, solutions), start_value=target_value)


_TARGET_BISECTIONS = 40
_TARGET_RTOL = 1e-4
"""Relative width of the budget bracket at which target search stops."""


def allocate_target(
    model: ResponseModel,
    weeks: int,
    *,
    max_budget: float,
    target_kpi: float | None = None,
    min_roi: float | None = None,
    constraints: Constraints | None = None,
    by_geo: bool = False,
    reference: FloatArray | None = None,
) -> AllocationResult:
    """Target mode: the least spend reaching ``target_kpi``, or the plan at an ROI floor.

    Args:
        model: the response model.
        weeks: horizon length N.
        max_budget: the most that may be spent.
        target_kpi: expected KPI over the horizon (baseline included, plus the spend's
            carry-over tail) to reach at least cost.
        min_roi: media ROI floor (``kpi_value · media KPI / spend``): the largest-KPI plan
            whose expected ROI stays at or above it.
        constraints, by_geo, reference: as in :func:`allocate`.

    Raises:
        ConfigError: neither or both targets given, or a target that cannot be met (the
            message says by how much).
    """
    _check_budget("max_budget", max_budget)
    if (target_kpi is None) == (min_roi is None):
        raise ConfigError("allocate_target needs exactly one of target_kpi or min_roi.")
    constraints = constraints or Constraints()
    problem = build_problem(
        model, weeks, constraints, cap=max_budget, by_geo=by_geo, reference=reference
    )
    _check_feasible(problem, max_budget, equality=False)
    if target_kpi is not None:
        baseline = float(model.baseline_kpi(weeks).sum(axis=(1, 2)).mean())
        solution = _least_spend(problem, model.kpi_value * (target_kpi - baseline), max_budget)
        mode = "target_kpi"
    else:
        floor = float(min_roi) if min_roi is not None else 0.0
        roi_floor = _roi_constraint(problem, floor)
        solution = solve(problem, Objective(), max_budget, equality=False, extra=roi_floor)
        mode = "min_roi"
    spend = float(solution.totals.sum())
    return build_result(
        problem, solution, Objective(), spend, mode=mode, equality=True,
        given_reference=reference is not None, min_spend=constraints.min_spend,
    )  # fmt: skip
