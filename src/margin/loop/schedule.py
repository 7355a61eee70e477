"""Which lift tests a cycle runs, their design, and how they enter the executed plan.

The value of information on the cycle's plan picks the channels worth testing (above its
noise floor, most valuable first, at most ``max_tests`` minus the tests still running).
Each is designed as a heavy-up on the workspace's history (:func:`margin.experiments.design.design_test`),
starting at the cycle's first week, 4-8 weeks long (lengths that leave the carry-over
inside the cycle when there are any), with a share of the test budget.

Rules on geos: tests whose window or carry-over has not ended block their geos (treated
and control) for new tests; new tests of one cycle get disjoint groups of the free geos
(each design sees only its group, so its controls are its group's other geos); a test's
analysis pre-period starts after the carry-over of any earlier test that treated one of
its geos (so its pre-period is clean).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.experiments.panel import MIN_GEOS
from margin.loop.ledger import Loop
from margin.loop.planning import spread
from margin.loop.steps import sub_panel
from margin.types import FloatArray

if TYPE_CHECKING:
    from margin.loop.planning import MmmPlan
    from margin.loop.world import WorldInfo
    from margin.optimize.information import InformationValue
    from margin.protocols import ResponseModel

__all__ = [
    "TEST_WEEKS",
    "blocked_geos",
    "economics_of_test",
    "fold_tests",
    "geo_groups",
    "loop_tests",
    "pre_start",
    "schedule_tests",
    "window_lengths",
]

TEST_WEEKS = (4, 5, 6, 7, 8)
"""Test lengths (weeks) a design considers."""
MIN_ROI = 0.2
"""A design is powered at the channel's expected marginal ROI, at least this."""
MAX_CANDIDATES = 1
"""Channels (most valuable to learn first) a cycle designs tests for (each design costs
seconds to a minute: its power is simulated on the history)."""
_Z = NormalDist().inv_cdf(0.95) + NormalDist().inv_cdf(0.8)
"""Standard errors in a minimum detectable effect at a 90% level and 80% power (2.49),
as :attr:`margin.experiments.design.Design.roi_se` counts them."""


def _clean_after(test: dict[str, Any]) -> date:
    end = date.fromisoformat(test["end"])
    return end + timedelta(days=1) + timedelta(weeks=int(test["carryover_weeks"]))


def blocked_geos(tests: list[dict[str, Any]], start: date) -> set[str]:
    """Geos of tests (treated or control) whose window or carry-over reaches ``start`` or later."""
    out: set[str] = set()
    for test in tests:
        if _clean_after(test) > start:
            out |= {*test["treated"], *test["controls"]}
    return out


def pre_start(tests: list[dict[str, Any]], geos: set[str]) -> date | None:
    """The first clean week for ``geos``: after the carry-over of every earlier test that
    treated one of them (``None``: none did)."""
    ends = [_clean_after(t) for t in tests if set(t["treated"]) & geos]
    return max(ends) if ends else None


def geo_groups(free: list[str], n: int) -> list[list[str]]:
    """``free`` geos dealt into at most ``n`` disjoint groups of at least :data:`MIN_GEOS`."""
    n = min(n, len(free) // MIN_GEOS)
    if n <= 0:
        return []
    return [sorted(free)[i::n] for i in range(n)]


def window_lengths(weeks: int, carryover: int) -> tuple[int, ...]:
    """Test lengths that leave the carry-over inside a cycle of ``weeks`` (all of
    :data:`TEST_WEEKS` when none does: the test is then analysed in a later cycle)."""
    fitting = tuple(n for n in TEST_WEEKS if n + carryover <= weeks)
    return fitting or TEST_WEEKS


def schedule_tests(
    loop: Loop, info: WorldInfo, planned: MmmPlan, model: ResponseModel,
    earlier: list[dict[str, Any]], k: int,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:  # fmt: skip
    """The tests cycle ``k`` starts (``cycle.json``'s ``tests.scheduled`` rows) and the
    value of information they were chosen by (its JSON, with ``considered``: each test
    designed and what it was worth against its cost; ``None`` when no slot was free)."""
    from margin.optimize.information import value_of_information

    settings, start = loop.settings, loop.cycle_start(k)
    running = [t for t in earlier if _clean_after(t) > start]
    slots = settings.max_tests - len(running)
    if slots <= 0:
        return [], None
    information = value_of_information(model, planned.result, planned.request)
    channels = [c.channel for c in information.channels if c.above_floor][:MAX_CANDIDATES]
    free = [g for g in loop.geos if g not in blocked_geos(earlier, start)]
    groups = geo_groups(free, min(slots, len(channels)))
    budget = settings.test_share * loop.budget() / max(len(groups), 1)
    out: list[dict[str, Any]] = []
    considered: list[dict[str, Any]] = []
    for channel in channels:
        if not groups:
            break
        bound = _cannot_pay(loop, model, planned, information, (channel, groups[0], budget))
        if bound is not None:  # no design of it could pay: skip designing (a minute each)
            considered.append(bound)
            continue
        tests = [
            _valued(loop, model, planned, information, test)
            for kind in _kinds(settings.test_kind)
            if (test := _design(loop, info, (channel, groups[0], budget, kind), planned, earlier, k))
        ]  # fmt: skip
        considered.extend(tests)
        best = max(tests, key=lambda t: t["economics"]["net"], default=None)
        if best is not None and best["economics"]["net"] > 0:
            out.append(best)
            groups.pop(0)
    body = information.to_json()
    body["considered"] = [_summary(t, t in out) for t in considered]
    return out, body


def _cannot_pay(
    loop: Loop, model: ResponseModel, planned: MmmPlan, information: InformationValue,
    what: tuple[str, list[str], float],
) -> dict[str, Any] | None:  # fmt: skip
    """A heavy-up of ``channel`` that cannot pay, by bounds (``None``: design it).

    Its worth is at most the channel's value of perfect information (less the noise
    floor) over the horizon; its cost at least that of the same spend added over every geo
    of ``group`` and the longest test (the least saturated: on a saturating response the
    most it can return). When the first is below the second, no design pays.
    """
    from margin.optimize.planned_test import PlannedTest, reads_per_draw

    channel, group, budget = what
    if loop.settings.test_kind != "heavy_up":
        return None
    entry = next(c for c in information.channels if c.channel == channel)
    spread_out = PlannedTest(
        channel=channel, se=1.0, geos=tuple(group), weeks=max(TEST_WEEKS), spend=budget
    )
    read = float(reads_per_draw(model, planned.result.current_plan, spread_out).mean())
    economics = economics_of_test(
        entry.value.mean, information.noise_floor.mean, read, budget, loop.settings.test_horizon
    )
    if economics["net"] > 0:
        return None
    return {
        "design_id": None, "channel": channel, "kind": "heavy_up", "treated": list(group),
        "weeks": max(TEST_WEEKS), "spend": budget, "roi_se": None,
        "economics": {**economics, "bound": True},
    }  # fmt: skip


def _kinds(setting: str) -> tuple[str, ...]:
    return ("heavy_up", "go_dark") if setting == "either" else (setting,)


def _summary(test: dict[str, Any], chosen: bool) -> dict[str, Any]:
    """One designed test in ``value_of_information.considered``."""
    keep = ("design_id", "channel", "kind", "treated", "weeks", "spend", "roi_se")
    return {**{k: test[k] for k in keep}, "bound": False, **test["economics"], "scheduled": chosen}


def economics_of_test(
    value: float, floor: float, read: float, spend_change: float, horizon: int
) -> dict[str, float]:
    """What a test is worth against what it costs, both in currency (expected, by the model).

    Args:
        value: its value of sample information to one cycle's plan (EVSI, currency).
        floor: the noise floor's mean (what re-planning finds where there is nothing to learn).
        read: the model's expected ROI read of the test (currency of KPI per currency).
        spend_change: the spend it adds (a heavy-up, > 0) or removes (a go-dark, < 0).
        horizon: the cycles whose plans its read informs.

    Returns:
        ``worth`` = max(value − floor, 0) × horizon; ``cost`` = spend_change × (1 − read):
        the spend it adds less the KPI value that spend returns (a go-dark saves its spend
        and loses what that spend returned); ``net`` = worth − cost.
    """
    worth = max(value - floor, 0.0) * horizon
    cost = spend_change * (1.0 - read)
    return {
        "value_per_cycle": value, "noise_floor": floor, "horizon_cycles": float(horizon),
        "worth": worth, "read": read, "cost": cost, "net": worth - cost,
    }  # fmt: skip


def _valued(
    loop: Loop, model: ResponseModel, planned: MmmPlan, information: InformationValue,
    test: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """``test`` with its ``economics``: its value of sample information (the model's reads
    of it, grouped) against its expected net cost."""
    from margin.optimize.information import value_of_information
    from margin.optimize.planned_test import PlannedTest

    planned_test = PlannedTest(
        channel=test["channel"], se=test["roi_se"], geos=tuple(test["treated"]),
        weeks=int(test["weeks"]), kind=test["kind"],
        spend=test["spend"] if test["kind"] == "heavy_up" else None,
        design_id=test["design_id"],
    )  # fmt: skip
    valued = value_of_information(
        model, planned.result, planned.request, tests=[planned_test], known=information
    )
    entry = next(c for c in valued.channels if c.channel == test["channel"])
    assert entry.test_value is not None
    assert entry.test_read is not None
    economics = economics_of_test(
        entry.test_value.mean, valued.noise_floor.mean, entry.test_read.mean,
        float(test["spend"]), loop.settings.test_horizon,
    )  # fmt: skip
    return {**test, "value": entry.test_value.to_json(), "economics": economics}


def _design(
    loop: Loop, info: WorldInfo, what: tuple[str, list[str], float, str], planned: MmmPlan,
    earlier: list[dict[str, Any]], k: int,
) -> dict[str, Any] | None:  # fmt: skip
    """Design a heavy-up (``budget`` added) or a go-dark (the plan's spend switched off) of
    ``channel`` on ``group``'s history (``None``: it cannot be)."""
    from margin.data.workspace.store import Workspace
    from margin.errors import MarginError
    from margin.experiments import load_panel_workspace
    from margin.experiments.design import DesignSpec, design_test

    channel, group, budget, kind = what
    since = pre_start(earlier, set(group))
    with Workspace(loop.workspace, read_only=True) as ws:
        panel = sub_panel(load_panel_workspace(ws, info.kpi, channel=channel), group, since)
    mroi = next(a.current_mroi.mean for a in planned.result.allocation if a.channel == channel)
    spec = DesignSpec(
        channel=channel, lengths=window_lengths(loop.settings.weeks, info.carryover_weeks),
        n_treated=tuple(n for n in (1, 2) if len(group) - n >= MIN_GEOS - 1) or (1,),
        budget=budget if kind == "heavy_up" else None, roi=max(float(mroi), MIN_ROI),
        kind=kind, n_candidates=loop.settings.test_candidates, seed=loop.settings.seed + k,
    )  # fmt: skip
    try:
        design = design_test(panel, spec)
    except MarginError:  # too little clean history or too few geos: no test this cycle
        return None
    spend = budget
    if kind != "heavy_up":  # what switching the channel off in the treated geos removes
        weekly = spread(loop, planned.totals)
        geos = [loop.geos.index(g) for g in design.treated]
        spend = -float(weekly[: design.length, geos, loop.channels.index(channel)].sum())
    se = abs(design.power.mde_absolute / spend) / _Z if spend else None
    if not se or not np.isfinite(se):
        return None
    start = loop.cycle_start(k)
    return {
        "design_id": design.design_id, "channel": channel, "kind": kind,
        "treated": list(design.treated), "controls": list(design.controls),
        "start": start.isoformat(),
        "end": (start + timedelta(weeks=design.length) - timedelta(days=1)).isoformat(),
        "weeks": design.length, "spend": float(spend), "roi_se": se,
        "carryover_weeks": info.carryover_weeks, "cycle": k,
        "pre_start": None if since is None else since.isoformat(),
    }  # fmt: skip


def fold_tests(loop: Loop, weekly: FloatArray, tests: list[dict[str, Any]], k: int) -> FloatArray:
    """The executed plan: ``weekly`` ``(n_weeks, n_geos, n_channels)`` with each heavy-up's
    spend added over its treated geos in proportion to their planned spend (evenly when
    they have none), evenly over its weeks; a go-dark zeroes its cells."""
    out = np.array(weekly, dtype=np.float64, copy=True)
    start = loop.cycle_start(k)
    for test in tests:
        c = loop.channels.index(test["channel"])
        geos = [loop.geos.index(g) for g in test["treated"]]
        first = (date.fromisoformat(test["start"]) - start).days // 7
        last = min((date.fromisoformat(test["end"]) - start).days // 7 + 1, out.shape[0])
        if test["kind"] != "heavy_up":
            out[first:last, geos, c] = 0.0
            continue
        planned = out[first:last, geos, c].sum(axis=0)
        share = planned / planned.sum() if planned.sum() > 0 else np.full(len(geos), 1 / len(geos))
        out[first:last, geos, c] += test["spend"] * share / max(last - first, 1)
    return out


def loop_tests(loop: Loop) -> list[dict[str, Any]]:
    """Every test the loop scheduled (its cycles' ``plan.json``), oldest first."""
    from margin.loop.ledger import read_step

    found: list[dict[str, Any]] = []
    for path in sorted(loop.folder.glob("cycle-*/plan.json")):
        body = read_step(Path(path))
        if body is not None:
            found.extend(body.get("tests", {}).get("scheduled", []))
    return found
