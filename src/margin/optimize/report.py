"""Assemble an :class:`~margin.optimize.results.AllocationResult` from a solved problem.

KPI figures are over the horizon's N weeks (the model's baseline included) plus the
carry-over tail of the horizon's spend; the gain and P(beats current) compare the plan
with the current plan draw by draw.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from margin.optimize.caveats import plan_caveats, stopped_early_caveat
from margin.optimize.objective import Objective
from margin.optimize.problem import DEFAULT_LOOKBACK, Problem
from margin.optimize.proof import MARGINAL_RTOL, channel_mroi, check_optimality, summarise_mroi
from margin.optimize.results import AllocationResult, ChannelAllocation, Interval
from margin.optimize.solver import Solution
from margin.types import FloatArray
from margin.wording import marginal_words

__all__ = ["build_result", "kpi_draws_with_baseline"]

_STATUS_ORDER = ("channel_lower", "channel_upper", "interior", "upper", "lower", "locked")


def kpi_draws_with_baseline(problem: Problem, totals: FloatArray) -> FloatArray:
    """``(n_draws,)`` KPI: baseline over the horizon plus media over horizon and tail."""
    baseline = problem.model.baseline_kpi(problem.n_weeks).sum(axis=(1, 2))
    result: FloatArray = baseline + problem.kpi_draws(totals)
    return result


def _channel_status(statuses: list[str]) -> str:
    for status in _STATUS_ORDER:
        if status in statuses:
            return status.removeprefix("channel_")
    return "interior"


def _explain(status: str, marginal: float, multiplier: float, low: float, high: float) -> str:
    common = f"the plan's common marginal return {multiplier:.4g}"
    if status == "locked":
        return "locked at its current spend."
    if status == "off":
        return "switched off: spending its minimum would earn less than spending elsewhere."
    if not np.isfinite(multiplier):
        return f"at a bound ({low:,.0f} to {high:,.0f}); no channel is interior to compare with."
    if status == "interior":
        return (
            f"interior: marginal return {marginal:.4g} equals {common} "
            f"(within {MARGINAL_RTOL:.0%})."
        )
    if status == "lower":
        return (
            f"at its lower bound {low:,.0f}: marginal return {marginal:.4g} is at most "
            f"{common}, so more spend here would earn less than elsewhere."
        )
    return (
        f"at its upper bound {high:,.0f}: marginal return {marginal:.4g} is at least "
        f"{common}; the bound stops more spend."
    )


def _mroi_words(mroi: Interval) -> str:
    """The marginal ROI at the plan in words (:mod:`margin.wording`)."""
    return (
        f" Marginal ROI {mroi.mean:.2f} [{mroi.p05:.2f}, {mroi.p95:.2f}]: {marginal_words(mroi)}."
    )


def _gain_by_channel(
    problem: Problem, totals: FloatArray, current_media: FloatArray
) -> list[FloatArray]:
    """Per channel, ``(n_draws,)`` KPI gained by its move alone (others at current spend)."""
    out = []
    for c in range(len(problem.model.channels)):
        mine = problem.channel_of == c
        if np.array_equal(totals[mine], problem.current[mine]):
            out.append(np.zeros_like(current_media))
            continue
        mixed = np.where(mine, totals, problem.current)
        out.append(problem.kpi_draws(mixed) - current_media)
    return out


def _allocations(  # noqa: PLR0913 (see tests/test_architecture.py)
    problem: Problem,
    totals: FloatArray,
    budget: float,
    statuses: list[str],
    marginal: FloatArray,
    multiplier: float,
    min_spend: Mapping[str, float],
    media: tuple[FloatArray, FloatArray],
    gains: list[FloatArray],
) -> tuple[ChannelAllocation, ...]:
    mroi = summarise_mroi(channel_mroi(problem, totals, budget, base=media[0]))
    current_mroi = summarise_mroi(channel_mroi(problem, problem.current, budget, base=media[1]))
    model = problem.model
    plan = problem.spend(totals)
    out = []
    for c, name in enumerate(model.channels):
        mine = np.flatnonzero(problem.channel_of == c)
        spend = float(totals[mine].sum())
        status = _channel_status([statuses[u] for u in mine])
        if name in min_spend and spend == 0 and problem.channel_high[c] == 0:
            status = "off"
        weights = totals[mine] if spend > 0 else np.ones(mine.size)
        unit_marginal = float(np.average(marginal[mine], weights=weights))
        low, high = float(problem.channel_low[c]), float(problem.channel_high[c])
        out.append(
            ChannelAllocation(
                channel=name,
                spend=spend,
                current_spend=float(problem.current[mine].sum()),
                low=low,
                high=high,
                mroi=mroi[c],
                current_mroi=current_mroi[c],
                status=status,
                explanation=_explain(status, unit_marginal, multiplier, low, high)
                + _mroi_words(mroi[c]),
                spend_by_geo={g: float(plan[i, :, c].sum()) for i, g in enumerate(model.geos)},
                gain=Interval.of(gains[c]),
            )
        )
    return tuple(out)


def build_result(
    problem: Problem,
    solution: Solution,
    objective: Objective,
    budget: float,
    *,
    mode: str,
    equality: bool,
    given_reference: bool,
    min_spend: Mapping[str, float],
) -> AllocationResult:
    """The result of a solve: allocation, KPI and gain intervals, P(beats current), proof."""
    checks, statuses, marginal = check_optimality(
        problem, solution, objective, budget, equality=equality
    )
    totals = solution.totals
    baseline = problem.model.baseline_kpi(problem.n_weeks).sum(axis=(1, 2))
    media = (problem.kpi_draws(totals), problem.kpi_draws(problem.current))
    plan_kpi, current_kpi = baseline + media[0], baseline + media[1]
    zero_kpi = kpi_draws_with_baseline(problem, np.zeros(problem.n_units))
    spend = float(totals.sum())
    roi = problem.model.kpi_value * (plan_kpi - zero_kpi) / spend if spend > 0 else 0 * plan_kpi
    gain = plan_kpi - current_kpi
    gross = checks.multiplier
    note = (
        "the reference plan given by the caller"
        if given_reference
        else f"average weekly spend over the last {DEFAULT_LOOKBACK} weeks of history, every week"
    )
    plan = problem.spend(totals)
    by_channel = _gain_by_channel(problem, totals, media[1])
    allocation = _allocations(
        problem, totals, budget, statuses, marginal + (objective.kind == "profit"), gross,
        min_spend, media, by_channel,
    )  # fmt: skip
    return AllocationResult(
        mode=mode,
        budget=float(budget),
        weeks=problem.n_weeks,
        objective=f"{objective.kind}/{objective.risk}",
        channels=problem.model.channels,
        geos=problem.model.geos,
        allocation=allocation,
        expected_kpi=Interval.of(plan_kpi),
        current_kpi=Interval.of(current_kpi),
        expected_gain=Interval.of(gain),
        roi=Interval.of(roi),
        p_beats_current=float(np.mean(gain > 0)),
        plan=plan,
        current_plan=problem.reference,
        current_plan_note=note,
        checks=checks,
        caveats=plan_caveats(
            problem.model,
            plan,
            Interval.of(gain),
            dict(zip(problem.model.channels, by_channel, strict=True)),
            problem.reference,
        )
        + ((stopped_early_caveat(checks.evaluation_limit),) if solution.stopped_early else ()),
    )
