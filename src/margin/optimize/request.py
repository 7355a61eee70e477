"""Planning requests as plain data: what the CLI, the REST API and the report ask for.

A :class:`PlanRequest` (budget, horizon, bounds, objective, target) is validated when it is
built; :func:`plan` turns it into an :class:`~margin.optimize.results.AllocationResult` on
any :class:`~margin.protocols.ResponseModel`, and :func:`plan_document` into the
``plan.json`` body::

    {"budget", "weeks", "start": "YYYY-MM-DD", "run_id",
     "allocation": {"<channel>": {"spend", "current_spend", "change", "mroi": I, ...}},
     "expected_kpi": I, "current_kpi": I, "expected_gain": I, "p_beats_current",
     "weekly_kpi": {"dates", "mean", "p05", "p95"}, "checks": {...}, "request": {...}, ...}

with ``I = {"mean", "p05", "p95"}`` (5th–95th percentiles over posterior draws).

Defaults, stated in every output: the **current plan** is the last 13 weeks' average weekly
spend, every week; an omitted ``budget`` is what the current plan spends over the horizon;
in target modes the budget is the most that may be spent, by default
:data:`TARGET_BUDGET_FACTOR` times the current plan's spend.

**Bounded by default.** A budget plan moves each channel the request gives no bounds
(and no lock) at most :data:`DEFAULT_MAX_CHANGE` (±50%) of its current spend, scaled to
the budget (the current plan times ``budget / current budget``), as Robyn's allocator
(0.7× to 1.2–1.5×) and Meridian's optimizer (±30%) do: a model fitted on a few years of
weekly data knows the response near the spend it saw, not at +300%. Explicit bounds win;
``max_change`` widens the default (``1.0`` = from 0 to double) and ``None`` lifts it
(the unbounded optimum, as before). ``plan.json`` says which bounds applied
(``"bounds"``) and its ``"headline"`` says so in words, with the moves that rest on the
prior and, when every channel's marginal ROI is below 1, that spending less would pay.
Target modes (``target_kpi``, ``min_roi``) choose the spend level and get no default
bounds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from margin.checks import match_keys, match_names
from margin.errors import ConfigError
from margin.limits import DEFAULT_MAX_CHANGE, MAX_AMOUNT, check_amount, check_change, check_weeks
from margin.optimize.allocate import allocate, allocate_target
from margin.optimize.caveats import MOVED
from margin.optimize.objective import Objective
from margin.optimize.problem import DEFAULT_LOOKBACK, Constraints, current_plan
from margin.optimize.results import AllocationResult
from margin.optimize.scenario import ScenarioResult, scenario
from margin.protocols import FittedResponse, ResponseModel
from margin.types import quantiles
from margin.wording import break_even

__all__ = [
    "CURRENT_PLAN_NOTE",
    "DEFAULT_MAX_CHANGE",
    "TARGET_BUDGET_FACTOR",
    "PlanRequest",
    "backtest_document",
    "canonical_request",
    "current_budget",
    "default_bounds",
    "forecast_request",
    "parse_bounds",
    "parse_max_change",
    "plan",
    "plan_document",
    "plan_headline",
    "scenario_document",
    "scenario_request",
]

TARGET_BUDGET_FACTOR = 3.0
"""In target modes without a budget, the most that may be spent is this × current spend."""

_BOUND = re.compile(
    r"^\s*(?P<channel>[A-Za-z_][\w\-]*)\s*=\s*(?P<low>[0-9.eE+]+)?\s*:\s*(?P<high>[0-9.eE+]+)?\s*$"
)


def parse_bounds(text: str) -> tuple[str, tuple[float, float]]:
    """One bound ``"tv=0.5:2"`` → ``("tv", (0.5, 2.0))``.

    ``low`` or ``high`` may be left out (``"tv=:2"``, ``"tv=0.5:"``): 0 and infinity.
    Whether the numbers are multiples of current spend or amounts is the request's
    ``bounds_relative``.

    Raises:
        ConfigError: not of the form ``channel=low:high`` with 0 <= low <= high.
    """
    match = _BOUND.match(text)
    example = 'write bounds like "tv=0.5:2" (low:high, either may be left out)'
    if not match:
        raise ConfigError(f"cannot read the bound {text!r}; {example}")
    try:
        low = float(match["low"]) if match["low"] else 0.0
        high = float(match["high"]) if match["high"] else math.inf
    except ValueError as err:
        raise ConfigError(f"cannot read the bound {text!r}; {example}") from err
    if low > MAX_AMOUNT:  # a high that large is no bound at all, and harmless
        raise ConfigError(
            f"bound {text!r} has low {low:g}: too large; a low bound goes from 0 to "
            f"{MAX_AMOUNT:.0e} (larger numbers overflow margin's arithmetic); {example}"
        )
    if not (math.isfinite(low) and 0 <= low <= high):
        raise ConfigError(
            f"bound {text!r} has low {low:g} and high {high:g}; expected 0 <= low <= high"
        )
    return match["channel"], (low, high)


@dataclass(frozen=True)
class PlanRequest:
    """What to plan (validated on construction).

    Attributes:
        budget: total spend over the horizon, currency; ``None`` = the current plan's spend
            over the horizon (a cap in target modes: default
            :data:`TARGET_BUDGET_FACTOR` × current spend).
        weeks: horizon N in weeks.
        bounds: channel → (low, high) on its total over the horizon.
        bounds_relative: bounds are multiples of the channel's current spend (``True``)
            or amounts of currency (``False``).
        objective: ``"kpi"`` (spend the whole budget for the most KPI) or ``"profit"``
            (``kpi_value · margin · KPI − spend``; the budget is a cap).
        margin: share of KPI value kept as profit, (0, 1] (``"profit"`` only).
        target_kpi: least spend reaching this KPI over the horizon (baseline included).
        min_roi: the largest-KPI plan whose media ROI stays at or above this floor.
        risk: ``"mean"``, ``"mean_sd"`` (mean − risk_aversion · sd) or ``"cvar"``.
        risk_aversion, cvar_alpha: parameters of the risk measure.
        locked: channels held at their current spend.
        by_geo: allocate each (geo, channel) separately.
        max_change: budget plans keep each channel without bounds or a lock within
            ±``max_change`` of its current spend scaled to the budget (a share, > 0;
            default :data:`DEFAULT_MAX_CHANGE`); ``None``: no default bounds.
    """

    budget: float | None = None
    weeks: int = 13
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    bounds_relative: bool = True
    objective: Literal["kpi", "profit"] = "kpi"
    margin: float = 1.0
    target_kpi: float | None = None
    min_roi: float | None = None
    risk: Literal["mean", "mean_sd", "cvar"] = "mean"
    risk_aversion: float = 1.0
    cvar_alpha: float = 0.1
    locked: tuple[str, ...] = ()
    by_geo: bool = False
    max_change: float | None = DEFAULT_MAX_CHANGE

    def __post_init__(self) -> None:
        check_weeks(self.weeks)
        if self.max_change is not None and not (
            math.isfinite(self.max_change) and 0 < self.max_change <= MAX_AMOUNT
        ):
            raise ConfigError(
                f"max_change = {self.max_change!r}; expected a share of current spend > 0 "
                "(0.5 = ±50%, 1 = from 0 to double), or none for no default bounds"
            )
        if self.budget is not None:
            check_amount(
                "budget", self.budget, "the total spend over the horizon in the workspace "
                "currency", hint="; or leave it out for the current plan's spend",
            )  # fmt: skip
        if self.target_kpi is not None and self.min_roi is not None:
            raise ConfigError(
                f"both target_kpi ({self.target_kpi:g}) and min_roi ({self.min_roi:g}) are "
                "given; ask for one target at a time"
            )
        if self.target_kpi is not None:
            check_amount("target_kpi", self.target_kpi, "the KPI to reach over the horizon")
        if self.min_roi is not None:
            check_amount("min_roi", self.min_roi, "the media ROI floor (KPI value per currency)")
        if (self.target_kpi is not None or self.min_roi is not None) and self.objective != "kpi":
            raise ConfigError("target modes maximise KPI; use objective 'kpi' with them")
        self.to_objective()  # validates objective, margin and risk

    @property
    def mode(self) -> str:
        """``"budget"``, ``"target_kpi"`` or ``"min_roi"``."""
        if self.target_kpi is not None:
            return "target_kpi"
        return "min_roi" if self.min_roi is not None else "budget"

    def to_objective(self) -> Objective:
        return Objective(
            kind=self.objective,
            margin=self.margin,
            risk=self.risk,
            risk_aversion=self.risk_aversion,
            cvar_alpha=self.cvar_alpha,
        )

    def to_constraints(self) -> Constraints:
        bounds = {name: (float(lo), float(hi)) for name, (lo, hi) in self.bounds.items()}
        if self.bounds_relative:
            return Constraints(relative_bounds=bounds, locked=tuple(self.locked))
        return Constraints(bounds=bounds, locked=tuple(self.locked))

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "weeks": self.weeks,
            "bounds": {name: list(pair) for name, pair in self.bounds.items()},
            "bounds_relative": self.bounds_relative,
            "objective": self.objective,
            "margin": self.margin,
            "target_kpi": self.target_kpi,
            "min_roi": self.min_roi,
            "risk": self.risk,
            "locked": list(self.locked),
            "by_geo": self.by_geo,
            "max_change": self.max_change,
        }


def current_budget(response: ResponseModel, weeks: int) -> float:
    """What the current plan (last 13 weeks' average weekly spend) spends in ``weeks`` weeks."""
    return float(current_plan(response, weeks).sum())


def default_bounds(
    response: ResponseModel, request: PlanRequest, budget: float
) -> dict[str, tuple[float, float]]:
    """The default bounds of a budget plan: channel → (low, high) totals over the horizon.

    Each channel with no bounds and no lock of its own gets ±``request.max_change`` of its
    current spend scaled to ``budget`` (so the bounds always admit the current plan
    rescaled to the budget); a channel the current plan does not spend on stays off.
    Empty for target modes, ``max_change=None`` or a current plan that spends nothing.
    """
    if request.max_change is None or request.mode != "budget":
        return {}
    current = current_plan(response, request.weeks).sum(axis=(0, 1))
    total = float(current.sum())
    if not total > 0:
        return {}
    scale, change = budget / total, request.max_change
    return {
        name: (max(0.0, 1.0 - change) * float(current[c]) * scale,
               (1.0 + change) * float(current[c]) * scale)
        for c, name in enumerate(response.channels)
        if name not in request.bounds and name not in request.locked
    }  # fmt: skip


def parse_max_change(text: str) -> float | None:
    """The CLI's ``--max-change``: ``"100%"`` or ``"1"`` → ``1.0`` (a share of current
    spend); ``"none"`` or ``"unbounded"`` → ``None`` (no default bounds).

    Raises:
        ConfigError: not a positive share or percentage.
    """
    word = text.strip().lower()
    if word in ("none", "unbounded"):
        return None
    try:
        value = float(word[:-1]) / 100.0 if word.endswith("%") else float(word)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_AMOUNT):
        raise ConfigError(
            f"cannot read --max-change {text!r}; write a share of current spend such as "
            '"50%" or "0.5" (±50%), "100%" (from 0 to double), or "none" for no default bounds'
        )
    return value


def _percent(share: float) -> str:
    return f"{100.0 * share:.0f}%"


def _bounds_note(request: PlanRequest) -> str:
    """How the default bounds were set and how to widen them, in one sentence."""
    change = request.max_change if request.max_change is not None else 0.0
    return (
        f"Moves limited to ±{_percent(change)} of current spend per channel (scaled to the "
        "budget) for channels without bounds of their own; widen with --max-change "
        "(e.g. --max-change 100%; API max_change) or lift with --unbounded (API max_change "
        "null), or bound a channel with --bounds."
    )


def canonical_request(response: ResponseModel, request: PlanRequest) -> PlanRequest:
    """``request`` with the channels its bounds and locks name in the model's spelling
    (:func:`margin.checks.match_names`: a name differing only in case is read as the
    model's, with a note).

    Raises:
        ConfigError: a bound or lock names a channel the model does not have.
    """
    channels = response.channels
    bounds = match_keys(request.bounds, channels, where="bounds")
    locked = tuple(match_names(request.locked, channels, where="locks"))
    if bounds == request.bounds and locked == request.locked:
        return request
    return replace(request, bounds=bounds, locked=locked)


def plan(response: ResponseModel, request: PlanRequest) -> AllocationResult:
    """The recommended plan for ``request`` (see the module docstring for defaults).

    Raises:
        ConfigError: unknown channels, a budget the bounds cannot meet, an unreachable
            target (each message says which constraint and by how much).
    """
    request = canonical_request(response, request)
    current = current_budget(response, request.weeks)
    constraints = request.to_constraints()
    if request.mode == "budget":
        budget = request.budget if request.budget is not None else current
        if not budget > 0:
            raise ConfigError(
                f"the current plan spends nothing over the last {DEFAULT_LOOKBACK} weeks; "
                "give a budget"
            )
        defaults = default_bounds(response, request, budget)
        if defaults:
            constraints = replace(constraints, bounds={**constraints.bounds, **defaults})
        try:
            return allocate(
                response, budget, request.weeks, objective=request.to_objective(),
                constraints=constraints, by_geo=request.by_geo,
            )  # fmt: skip
        except ConfigError as err:
            if not defaults:
                raise
            raise ConfigError(f"{err} {_bounds_note(request)}") from err
    cap = request.budget if request.budget is not None else TARGET_BUDGET_FACTOR * current
    return allocate_target(
        response, request.weeks, max_budget=cap, target_kpi=request.target_kpi,
        min_roi=request.min_roi, constraints=constraints, by_geo=request.by_geo,
    )  # fmt: skip


def _weekly_kpi(response: ResponseModel, result: AllocationResult) -> dict[str, list[float]]:
    """Total KPI (baseline + media, all geos) per planned week, over posterior draws.

    ``mean``; ``p05``/``p95`` the 90% *predictive* interval (observation noise added, so
    it is the band the actual weekly KPI should fall in: what a refresh scores);
    ``expected_p05``/``expected_p95`` the band of the expected KPI (parameters only).
    """
    weekly = response.baseline_kpi(result.weeks) + response.media_kpi(result.plan)
    total = weekly.sum(axis=1)  # (n_draws, n_weeks)
    noise_sd = np.sqrt((response.observation_sd() ** 2).sum(axis=1))  # (n_draws,), geos summed
    rng = np.random.default_rng(PREDICTIVE_SEED)
    predictive = total + noise_sd[:, None] * rng.standard_normal(total.shape)
    low, high = quantiles(predictive, axis=0)
    expected_low, expected_high = quantiles(total, axis=0)
    return {
        "mean": total.mean(axis=0).tolist(),
        "p05": low.tolist(),
        "p95": high.tolist(),
        "expected_p05": expected_low.tolist(),
        "expected_p95": expected_high.tolist(),
    }


PREDICTIVE_SEED = 0
"""Seed of the observation-noise draws behind the plan's weekly predictive band."""


def _start_of(response: ResponseModel, start: date | None) -> date | None:
    if start is not None:
        return start
    return response.start if isinstance(response, FittedResponse) else None


def _run_id_of(response: ResponseModel) -> str | None:
    return response.run_id if isinstance(response, FittedResponse) else None


def _baseline_note_of(response: ResponseModel) -> str | None:
    return response.baseline_note if isinstance(response, FittedResponse) else None


def plan_document(
    result: AllocationResult,
    response: ResponseModel,
    request: PlanRequest,
    *,
    run_id: str | None = None,
    start: date | None = None,
) -> dict[str, Any]:
    """The ``plan.json`` body: ``result.to_json()`` plus start, weekly KPI, run and request.

    Args:
        result: the plan (from :func:`plan`).
        response: the model it was made with.
        request: the request it answers.
        run_id: the fitted run's id (default: ``response.run_id`` when it has one).
        start: first planned week (default: ``response.start`` when it has one).
    """
    first = _start_of(response, start)
    weekly = _weekly_kpi(response, result)
    dates = (
        [(first + timedelta(weeks=w)).isoformat() for w in range(result.weeks)]
        if first is not None
        else []
    )
    document = result.to_json()
    document.update(
        {
            "start": None if first is None else first.isoformat(),
            "run_id": run_id if run_id is not None else _run_id_of(response),
            "kpi_value": response.kpi_value,
            "weekly_kpi": {"dates": dates, **weekly},
            "budget_note": (
                "the current plan's spend over the horizon (budget not given)"
                if request.budget is None and request.mode == "budget"
                else "given"
            ),
            "baseline_note": _baseline_note_of(response),
            "request": request.to_json(),
        }
    )
    defaults = default_bounds(response, request, result.budget)
    document["bounds"] = {
        "max_change": request.max_change if defaults else None,
        "default": sorted(defaults),
        "note": _bounds_note(request) if defaults else "no default bounds: "
        + ("target modes choose the spend level" if request.mode != "budget"
           else "unbounded (max_change none)" if request.max_change is None
           else "every channel has bounds or a lock of its own"),
    }  # fmt: skip
    less = _spend_less(result)
    document["caveats"] = [
        *document["caveats"],
        *([_bounds_note(request)] if defaults else []),
        *([less[1]] if less else []),
    ]
    document["headline"] = plan_headline(result, response, request, bounded=bool(defaults))
    return document


def _spend_less(result: AllocationResult) -> tuple[str, str] | None:
    """(headline, caveat) when every channel's marginal ROI at the plan is below 1."""
    free = [a for a in result.allocation if a.status not in ("locked", "off")]
    if not free or any(a.mroi.mean >= 1 for a in free):
        return None
    sure = all(break_even(a.mroi) == "below" for a in free)
    claim = "would pay" if sure else "would probably pay"
    why = (
        "even at the top of its 90% interval"
        if sure
        else "on its mean, though not every 90% interval is"
    )
    hint = (
        'the profit objective (--objective profit; API objective "profit") spends only '
        "while the next unit of spend earns more than it costs, and the frontier shows what "
        "each budget brings"
    )
    headline = (
        f"Every channel's next unit of spend returns less than it costs: spending less "
        f"{claim}, not only reallocating."
    )
    caveat = (
        f"every channel's marginal ROI at the plan is below 1, {why}: cutting the budget "
        f"{claim}, not only moving it between channels; {hint}."
    )
    return headline, caveat


def plan_headline(
    result: AllocationResult,
    response: ResponseModel,
    request: PlanRequest,
    *,
    bounded: bool,
) -> list[str]:
    """The plan's headline sentences: the default bounds (when ``bounded``), each move
    that rests on the prior, and whether spending less would pay."""
    out = []
    if bounded and request.max_change is not None:
        current = current_budget(response, request.weeks)
        scaled = " (scaled to the budget)" if abs(result.budget - current) > 1e-9 * current else ""
        out.append(
            f"Moves limited to ±{_percent(request.max_change)} of current spend per "
            f"channel{scaled}; widen with --max-change (API max_change) or --unbounded."
        )
    dominated = response.prior_dominated if isinstance(response, FittedResponse) else ()
    for a in result.allocation:
        change = a.spend - a.current_spend
        if a.channel in dominated and a.current_spend > 0 and abs(change) > MOVED * a.current_spend:
            out.append(
                f"{a.channel} {change / a.current_spend:+.0%} rests mostly on the prior: test "
                f"it before moving (margin experiment design --channel {a.channel})."
            )
    less = _spend_less(result)
    if less:
        out.append(less[0])
    return out


def scenario_request(
    response: ResponseModel,
    *,
    weeks: int,
    changes: Mapping[str, float] | None = None,
    plan_frame: pd.DataFrame | None = None,
) -> ScenarioResult:
    """A what-if against the current plan: relative ``changes`` or a full plan table.

    Args:
        response: the model.
        weeks: horizon N (a plan table must cover N distinct weeks).
        changes: channel → relative change of its spend every week, e.g. ``{"social": 0.2}``.
        plan_frame: long table ``week, channel, spend [, geo]`` (as ``write_plan_csv`` writes).

    Raises:
        ConfigError: neither or both given, unknown channels, a change below -100%.
    """
    if (changes is None) == (plan_frame is None):
        raise ConfigError("a scenario needs exactly one of changes or a plan table")
    if changes is not None:
        items = []
        for name, value in match_keys(changes, response.channels, where="changes").items():
            change = check_change(name, value)
            items.append(f"{name}={100.0 * change:+.12g}%")
        return scenario(response, weeks, changes=items)
    return scenario(response, weeks, plan=plan_frame)


def scenario_document(
    response: ResponseModel,
    *,
    weeks: int,
    changes: Mapping[str, float] | None = None,
    plan_frame: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The scenario's JSON, the one body ``margin scenario --out`` and the API's scenario
    route both return: ``{"run_id", "weeks", "start", "kpi_value", "changes", ...}`` and
    :meth:`ScenarioResult.to_json` (see :func:`scenario_request` for the arguments).
    """
    result = scenario_request(response, weeks=weeks, changes=changes, plan_frame=plan_frame)
    first = _start_of(response, None)
    return {
        "run_id": _run_id_of(response),
        "weeks": weeks,
        "start": None if first is None else first.isoformat(),
        "kpi_value": response.kpi_value,
        "changes": None if changes is None else dict(changes),
        **result.to_json(),
    }


CURRENT_PLAN_NOTE = "the current plan: the last 13 weeks' average weekly spend, every week"


def forecast_request(
    response: ResponseModel,
    *,
    weeks: int,
    changes: Mapping[str, float] | None = None,
    plan_frame: pd.DataFrame | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``forecast.json`` body: the next ``weeks`` weeks' KPI (all geos) for the current
    plan, or for relative ``changes`` to it, or for a plan table, with 90% bands.

    ``{"kind": "forecast", "start", "weeks", "dates", "spend": {channel: total},
    "spend_plan", "caveats", "total": {"mean", "p05", "p95"} (per week, predictive),
    "baseline", "media" (per week), "horizon_total": I, "baseline_note", "run_id", "seed"}``.

    Raises:
        ConfigError: both ``changes`` and ``plan_frame``, or a bad change, plan or horizon.
    """
    from margin.optimize.forecast import forecast

    if changes is not None and plan_frame is not None:
        raise ConfigError("give spend changes or a plan table to forecast, not both")
    caveats: list[str] = []
    if changes is not None or plan_frame is not None:
        what_if = scenario_request(response, weeks=weeks, changes=changes, plan_frame=plan_frame)
        spend, caveats = what_if.plan, list(what_if.caveats)
        source = (
            "the plan table"
            if plan_frame is not None
            else "the current plan with "
            + ", ".join(f"{k}={100.0 * v:+g}%" for k, v in (changes or {}).items())
        )
    else:
        spend, source = current_plan(response, weeks), CURRENT_PLAN_NOTE
    result = forecast(response, spend, seed=seed)
    return {
        "kind": "forecast",
        **_forecast_header(response, spend),
        "spend_plan": source,
        "caveats": caveats,
        "seed": seed,
        **result.to_json(),
    }


def backtest_document(
    response: ResponseModel, spend: Any, actual: Any, *, seed: int = 0
) -> dict[str, Any]:
    """A backtest's body: :func:`forecast_request`'s fields for the actual ``spend``
    ``(n_geos, n_weeks, n_channels)`` of the weeks after ``response``'s history, plus
    ``"actual"`` (weekly KPI, all geos), ``"coverage"`` (share of geo-weeks inside their
    90% bands), ``"mape"`` and ``"bias"`` of the weekly KPI (see
    :func:`margin.optimize.forecast.backtest`)."""
    from margin.optimize.forecast import backtest

    scored = backtest(response, spend, actual, seed=seed)
    return {
        "kind": "backtest",
        **_forecast_header(response, np.asarray(spend, dtype=np.float64)),
        "spend_plan": "the spend that actually ran in the held-out weeks",
        "caveats": [],
        "seed": seed,
        **scored.forecast.to_json(),
        "actual": scored.actual.sum(axis=0).tolist(),
        "coverage": scored.coverage,
        "mape": scored.mape,
        "bias": scored.bias,
    }


def _forecast_header(response: ResponseModel, spend: Any) -> dict[str, Any]:
    weeks = int(spend.shape[1])
    first = _start_of(response, None)
    totals = spend.sum(axis=(0, 1))
    return {
        "run_id": _run_id_of(response),
        "start": None if first is None else first.isoformat(),
        "weeks": weeks,
        "dates": []
        if first is None
        else [(first + timedelta(weeks=k)).isoformat() for k in range(weeks)],
        "spend": {name: float(totals[c]) for c, name in enumerate(response.channels)},
        "baseline_note": _baseline_note_of(response),
    }
