"""The learning loop, shown: a view-model of a loop's cycles and its offline HTML report.

:func:`learning_view` turns the ``cycle.json`` bodies of one loop (format
``margin-loop-cycle``, version 1, oldest cycle first, as
``margin.loop.records.list_cycles`` returns them) into one JSON-ready dict::

    {"format": "margin-learning-view", "empty": False, "meta": {...},
     "headline": [...], "cards": [...], "cycles": [...], "budget": {...}, "roi": [...],
     "tests": {...}, "cumulative": {...}, "next": {...} | None,
     "truth": {...} | None, "reconciliation": {...} | None,
     "tables": {name: {"headers", "rows"}}}

Every estimate is an interval ``{"mean", "p05", "p95"}``; every table cell, card and
headline also comes as text with its unit (:mod:`margin.report.learning_text`), so the
static report and the dashboard page say the same thing. No modelling
happens here: the numbers are the cycles', except the cumulative gain, which adds the
cycles' expected gains (means add; the interval is the approximation of
:func:`combine_independent`, with the fully dependent bounds of
:func:`combine_dependent` beside it).

:func:`build_learning_report` renders the view with ``templates/learning_report.html``
into one self-contained file (Chart.js, margin's chart functions and CSS inlined; no
request leaves the file).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from margin.errors import ConfigError
from margin.report.learning_text import (
    amount,
    as_float,
    as_interval,
    cards,
    headline,
    kpi_span,
    money_span,
    percent,
    ratio,
    reconciliation,
    tables,
    width,
)
from margin.types import Interval
from margin.wording import currency_symbol

__all__ = [
    "CYCLE_FORMAT",
    "CYCLE_VERSION",
    "START_COMMAND",
    "Z90",
    "build_learning_report",
    "combine_dependent",
    "combine_independent",
    "empty_view",
    "learning_view",
]

CYCLE_FORMAT = "margin-loop-cycle"
CYCLE_VERSION = 1
"""The ``cycle.json`` format this module reads."""
START_COMMAND = 'margin loop --world "margin world --seed 1" --cycles 4 -w W'
"""How to start a loop (said when there is none)."""
Z90 = 1.6448536269514722
"""The 95th percentile of the standard normal: a 90% interval is mean ± Z90 × sd."""
METHOD = (
    "The cumulative gain adds the cycles' expected gains (means add exactly). Its interval "
    "treats each cycle's gain as an independent normal: the distances from the mean to the "
    "5th and to the 95th percentile add in quadrature, separately, so a skewed cycle stays "
    "skewed. Cycles share one model, so their errors are likely positively related; if "
    "they moved together fully, the interval would be the sum of the cycles' 5th and 95th "
    "percentiles (shown as the widest case)."
)
_SIMULATION = (
    "Known only in simulation: the world's true response scored each plan (margin never "
    "plans with it)."
)


# -- interval arithmetic ----------------------------------------------------------------


def combine_independent(stats: Sequence[Interval]) -> Interval:
    """The sum of independent estimates, each summarised by its mean and 90% interval.

    Means add. Each side's half-width (``mean - p05`` and ``p95 - mean``) adds in
    quadrature: exact when every estimate is normal (``half-width = Z90 × sd``, and
    variances of independent variables add), and a split-normal approximation that keeps
    the skew otherwise. An empty sequence sums to exactly zero.
    """
    mean = math.fsum(s.mean for s in stats)
    low = math.sqrt(math.fsum((s.mean - s.p05) ** 2 for s in stats))
    high = math.sqrt(math.fsum((s.p95 - s.mean) ** 2 for s in stats))
    return Interval(mean, mean - low, mean + high)


def combine_dependent(stats: Sequence[Interval]) -> Interval:
    """The sum of fully dependent (comonotone) estimates: means and quantiles add.

    Exact when the estimates move together perfectly; the widest interval the sum can
    have for any positive dependence between normal estimates.
    """
    return Interval(
        math.fsum(s.mean for s in stats),
        math.fsum(s.p05 for s in stats),
        math.fsum(s.p95 for s in stats),
    )


# -- reading the cycles -----------------------------------------------------------------


def _where(body: Mapping[str, Any], index: int) -> str:
    loop = body.get("loop_id", "?")
    return f"cycle.json #{index + 1} (loop {loop}, cycle {body.get('cycle', '?')})"


def _check_cycle(body: Any, index: int) -> dict[str, Any]:
    """One ``cycle.json`` body, checked for what the view needs; a clear error otherwise."""
    fix = "write it again with `margin loop` (format margin-loop-cycle, version 1)"
    if not isinstance(body, Mapping):
        raise ConfigError(f"cycle.json #{index + 1} holds a {type(body).__name__}; {fix}")
    where = _where(body, index)
    if body.get("format") != CYCLE_FORMAT or body.get("version") != CYCLE_VERSION:
        raise ConfigError(
            f"{where} is format {body.get('format')!r} version {body.get('version')!r}; "
            f"expected {CYCLE_FORMAT!r} version {CYCLE_VERSION}: {fix}"
        )
    needed = {"cycle": int, "weeks": Mapping, "currency": str, "plan": Mapping}
    for key, kind in needed.items():
        if not isinstance(body.get(key), kind) or isinstance(body.get(key), bool):
            raise ConfigError(
                f"{where}: {key!r} is {type(body.get(key)).__name__}, expected "
                f"{getattr(kind, '__name__', kind)}; {fix}"
            )
    weeks = body["weeks"]
    try:
        date.fromisoformat(str(weeks["start"]))
        date.fromisoformat(str(weeks["end"]))
    except (KeyError, ValueError) as err:
        raise ConfigError(
            f"{where}: 'weeks' needs ISO dates 'start' and 'end' (got {dict(weeks)!r}); {fix}"
        ) from err
    return dict(body)


def _ordered(cycles: Sequence[Any]) -> list[dict[str, Any]]:
    """The cycles checked, of one loop, oldest first."""
    checked = [_check_cycle(body, i) for i, body in enumerate(cycles)]
    loops = sorted({str(c.get("loop_id")) for c in checked})
    if len(loops) > 1:
        raise ConfigError(
            f"the cycles come from {len(loops)} loops ({', '.join(loops)}); show one loop at "
            "a time (list_cycles(workspace, loop_id=...))"
        )
    ordered = sorted(checked, key=lambda c: int(c["cycle"]))
    numbers = [int(c["cycle"]) for c in ordered]
    if len(set(numbers)) != len(numbers):
        raise ConfigError(f"loop {loops[0]} has a cycle number twice ({numbers}); remove one")
    return ordered


def _channels(cycles: Sequence[Mapping[str, Any]]) -> list[str]:
    """Channels in the order they first appear in the plans (then ROI blocks)."""
    seen: dict[str, None] = {}
    for cycle in cycles:
        seen.update(dict.fromkeys(cycle["plan"]))
    for cycle in cycles:
        seen.update(dict.fromkeys(cycle.get("roi") or {}))
    return list(seen)


def _weeks_between(start: str, end: str) -> int:
    """Weeks from the Monday ``start`` through the Monday ``end``, both included."""
    return (date.fromisoformat(end) - date.fromisoformat(start)).days // 7 + 1


# -- the view's parts -------------------------------------------------------------------


def _cycle_rows(cycles: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in cycles:
        weeks = c["weeks"]
        status_quo = [as_float(p.get("status_quo")) for p in c["plan"].values()]
        rows.append(
            {
                "cycle": int(c["cycle"]),
                "label": f"cycle {int(c['cycle'])}",
                "start": str(weeks["start"]),
                "end": str(weeks["end"]),
                "weeks": int(weeks.get("n") or _weeks_between(weeks["start"], weeks["end"])),
                "budget": as_float(c.get("budget")),
                "status_quo_budget": (
                    math.fsum(s for s in status_quo if s is not None)
                    if any(s is not None for s in status_quo)
                    else None
                ),
                "test_spend": as_float(c.get("test_spend")),
                "expected_gain": c.get("expected_gain"),
                "p_beats_status_quo": as_float(c.get("p_beats_status_quo")),
                "run_id": c.get("run_id"),
                "policy": c.get("policy"),
            }
        )
    return rows


def _budget(cycles: Sequence[Mapping[str, Any]], channels: Sequence[str]) -> dict[str, Any]:
    """Spend per channel per cycle (the executed plan, currency) for a stacked chart."""
    series = []
    for name in channels:
        values = []
        for c in cycles:
            block = c["plan"].get(name)
            values.append(as_float(block.get("spend")) if isinstance(block, Mapping) else None)
        series.append({"channel": name, "values": values})
    return {"labels": [f"cycle {int(c['cycle'])}" for c in cycles], "series": series}


def _tested(cycles: Sequence[Mapping[str, Any]], channel: str) -> list[bool]:
    return [
        any(t.get("channel") == channel for t in (c.get("tests") or {}).get("analysed") or [])
        for c in cycles
    ]


def _roi(cycles: Sequence[Mapping[str, Any]], channels: Sequence[str]) -> list[dict[str, Any]]:
    """Each channel's ROI interval after each cycle's fit, and where a test of it landed."""
    out = []
    for name in channels:
        stats = [as_interval(((c.get("roi") or {}).get(name) or {}).get("after")) for c in cycles]
        widths = [None if s is None else s.width for s in stats]
        known = [w for w in widths if w is not None]
        out.append(
            {
                "channel": name,
                "mean": [None if s is None else s.mean for s in stats],
                "p05": [None if s is None else s.p05 for s in stats],
                "p95": [None if s is None else s.p95 for s in stats],
                "width": widths,
                "tested": _tested(cycles, name),
                "first_width": known[0] if known else None,
                "last_width": known[-1] if known else None,
            }
        )
    return out


def _learned(cycle: Mapping[str, Any], channel: str) -> tuple[float | None, float | None]:
    block = (cycle.get("learned") or {}).get(channel) or {}
    return as_float(block.get("width_before")), as_float(block.get("width_after"))


def _test_row(cycle: Mapping[str, Any], test: Mapping[str, Any], unit: str) -> dict[str, Any]:
    """One analysed test: what it was, what it measured, how much the ROI interval narrowed."""
    channel = str(test.get("channel", "?"))
    before, after = _learned(cycle, channel)
    narrowing = None if not before or after is None else 1.0 - after / before
    treated = [str(g) for g in test.get("treated") or []]
    start, end = str(test.get("start", "")), str(test.get("end", ""))
    text = {
        "cycle": str(int(cycle["cycle"])),
        "test": str(test.get("id") or test.get("design_id") or "–"),
        "channel": channel,
        "kind": str(test.get("kind") or "–"),
        "geos": f"{len(treated)}: {', '.join(treated)}" if treated else "–",
        "window": f"{start} → {end}" if start and end else "–",
        "spend_delta": amount(as_float(test.get("spend_delta")), unit),
        "lift": kpi_span(test.get("lift"), cycle),
        "iroas": ratio(test.get("iroas")),
        "widths": f"{width(before)} → {width(after)}"
        + (f" ({percent(-narrowing, signed=True)})" if narrowing is not None else ""),
    }
    return {
        "cycle": int(cycle["cycle"]),
        "id": test.get("id"),
        "design_id": test.get("design_id"),
        "channel": channel,
        "kind": test.get("kind"),
        "treated": treated,
        "start": start or None,
        "end": end or None,
        "spend_delta": as_float(test.get("spend_delta")),
        "lift": test.get("lift"),
        "iroas": test.get("iroas"),
        "method": test.get("method"),
        "width_before": before,
        "width_after": after,
        "narrowing": narrowing,
        "taught": _taught(channel, test.get("iroas"), before, after),
        "text": text,
    }


def _taught(channel: str, iroas: Any, before: float | None, after: float | None) -> str:
    said = f"{channel}: incremental ROAS {ratio(iroas)}" if iroas else f"{channel}: no iROAS"
    if before is None or after is None:
        return said + "; the ROI interval's width before the test is not recorded."
    change = "narrowed" if after < before else "did not narrow"
    return f"{said}; the ROI interval {change} from {before:.2f}× to {after:.2f}× wide."


TEST_HEADERS = (
    "cycle", "test", "channel", "kind", "geos treated", "window", "spend change", "lift",
    "iROAS", "ROI interval width before → after",
)  # fmt: skip
"""Column headers of the table of analysed tests (``text`` keys in this order)."""
_TEST_KEYS = (
    "cycle", "test", "channel", "kind", "geos", "window", "spend_delta", "lift", "iroas",
    "widths",
)  # fmt: skip


def _tests(cycles: Sequence[Mapping[str, Any]], unit: str) -> dict[str, Any]:
    rows = [
        _test_row(c, t, unit)
        for c in cycles
        for t in (c.get("tests") or {}).get("analysed") or []
        if isinstance(t, Mapping)
    ]
    return {
        "rows": rows,
        "headers": list(TEST_HEADERS),
        "table": [[r["text"][k] for k in _TEST_KEYS] for r in rows],
    }


def _cumulative(cycles: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The estimated cumulative gain of following the loop versus the status quo.

    A cycle without an ``expected_gain`` (no fit yet, or a policy that does not estimate
    one) adds nothing and is listed in ``missing``.
    """
    per_cycle, seen = [], []
    missing = []
    for c in cycles:
        gain = as_interval(c.get("expected_gain"))
        if gain is None:
            missing.append(int(c["cycle"]))
        else:
            seen.append(gain)
        total = combine_independent(seen) if seen else None
        widest = combine_dependent(seen) if seen else None
        per_cycle.append(
            {
                "cycle": int(c["cycle"]),
                "gain": None if gain is None else gain.to_json(),
                "cumulative": None if total is None else total.to_json(),
                "cumulative_dependent": None if widest is None else widest.to_json(),
            }
        )
    last = per_cycle[-1] if per_cycle else {}
    return {
        "per_cycle": per_cycle,
        "total": last.get("cumulative"),
        "total_dependent": last.get("cumulative_dependent"),
        "missing": missing,
        "method": METHOD,
    }


PLAN_HEADERS = (
    "channel", "spend this cycle", "previous cycle", "status quo", "change vs previous",
    "allowed range",
)  # fmt: skip
SCHEDULED_HEADERS = (
    "test design", "channel", "kind", "treated geos", "control geos", "window", "spend",
    "expected ROI standard error", "value of the information",
)  # fmt: skip


def _plan_rows(cycle: Mapping[str, Any], unit: str) -> list[list[str]]:
    rows = []
    for name, block in cycle["plan"].items():
        if not isinstance(block, Mapping):
            continue
        bound = block.get("bound")
        allowed = "–"
        if isinstance(bound, Sequence) and len(bound) == 2:
            allowed = f"{amount(as_float(bound[0]), unit)} to {amount(as_float(bound[1]), unit)}"
        rows.append(
            [
                str(name),
                amount(as_float(block.get("spend")), unit),
                amount(as_float(block.get("previous")), unit),
                amount(as_float(block.get("status_quo")), unit),
                percent(as_float(block.get("change")), signed=True),
                allowed,
            ]
        )
    return rows


def _scheduled_row(test: Mapping[str, Any], unit: str) -> list[str]:
    def geos(key: str) -> str:
        names = [str(g) for g in test.get(key) or []]
        return f"{len(names)}: {', '.join(names)}" if names else "–"

    se = as_float(test.get("roi_se"))
    return [
        str(test.get("design_id") or "–"),
        str(test.get("channel") or "–"),
        str(test.get("kind") or "–"),
        geos("treated"),
        geos("controls"),
        f"{test.get('start', '?')} → {test.get('end', '?')}",
        amount(as_float(test.get("spend")), unit),
        "–" if se is None else f"±{se:.2f}× ROI",
        money_span(test.get("value"), unit),
    ]


def _next(cycles: Sequence[Mapping[str, Any]], unit: str) -> dict[str, Any] | None:
    """The latest recorded cycle's plan (tests folded in) and the tests it scheduled
    (run within its weeks)."""
    if not cycles:
        return None
    last = cycles[-1]
    scheduled = [
        t for t in (last.get("tests") or {}).get("scheduled") or [] if isinstance(t, Mapping)
    ]
    guard = last.get("guardrails") or {}
    max_change, max_loss = as_float(guard.get("max_change")), as_float(guard.get("max_loss"))
    shrunk = as_float(guard.get("shrunk"))
    guardrails = [
        f"at most {percent(max_change)} change per channel per cycle"
        if max_change is not None
        else "",
        f"the low end of the gain may be at most {amount(max_loss, unit)} below the status quo"
        if max_loss is not None
        else "",
        f"to meet them the plan kept {percent(shrunk)} of its step toward the model's optimum"
        if shrunk is not None
        else "",
    ]
    return {
        "cycle": int(last["cycle"]),
        "start": str(last["weeks"]["start"]),
        "end": str(last["weeks"]["end"]),
        "budget": as_float(last.get("budget")),
        "expected_gain": last.get("expected_gain"),
        "p_beats_status_quo": as_float(last.get("p_beats_status_quo")),
        "test_spend": as_float(last.get("test_spend")),
        "guardrails": [g for g in guardrails if g],
        "plan_headers": list(PLAN_HEADERS),
        "plan": _plan_rows(last, unit),
        "scheduled": [dict(t) for t in scheduled],
        "scheduled_headers": list(SCHEDULED_HEADERS),
        "calendar": [_scheduled_row(t, unit) for t in scheduled],
        "calendar_note": "" if scheduled else f"No test was scheduled in cycle {last['cycle']}.",
    }


def _truth(cycles: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The share of the oracle's gain per cycle, when the loop was scored (benchmarks)."""
    rows = []
    for c in cycles:
        true = c.get("true")
        if not isinstance(true, Mapping):
            continue
        rows.append(
            {
                "cycle": int(c["cycle"]),
                "share_of_oracle": as_float(true.get("share_of_oracle")),
                # the plan's own gain (the allocation, tests left out), and the executed
                # plan's less the tests' extra spend (older records: the executed gain)
                "gain": as_float(true.get("allocation_gain", true.get("gain"))),
                "net_gain": as_float(true.get("net_gain", true.get("gain"))),
                "oracle_gain": as_float(true.get("oracle_gain")),
            }
        )
    if not rows:
        return None
    gains = [r["gain"] for r in rows if r["gain"] is not None]
    nets = [r["net_gain"] for r in rows if r["net_gain"] is not None]
    return {
        "rows": rows,
        "labels": [f"cycle {r['cycle']}" for r in rows],
        "cumulative_gain": math.fsum(gains) if gains else None,
        "cumulative_net_gain": math.fsum(nets) if nets else None,
        "note": _SIMULATION,
    }


def empty_view(reason: str | None = None) -> dict[str, Any]:
    """The view of a workspace without a loop: what to run to start one."""
    return {
        "format": "margin-learning-view",
        "empty": True,
        "reason": reason or "This workspace has no learning loop yet.",
        "start_command": START_COMMAND,
    }


def learning_view(cycles: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The learning page's view-model (module docstring) of one loop's ``cycle.json``
    bodies; :func:`empty_view` when there are none.

    Raises:
        ConfigError: a body is not a ``margin-loop-cycle`` version 1 document, lacks what
            the view needs, or the bodies mix loops or repeat a cycle number.
    """
    if not cycles:
        return empty_view()
    ordered = _ordered(cycles)
    last = ordered[-1]
    unit = str(last["currency"])
    channels = _channels(ordered)
    view: dict[str, Any] = {
        "format": "margin-learning-view",
        "empty": False,
        "meta": {
            "loop_id": last.get("loop_id"),
            "policy": last.get("policy") or "margin",
            "kpi": last.get("kpi") or "KPI",
            "kpi_value": as_float(last.get("kpi_value")),
            "currency": unit,
            "symbol": currency_symbol(unit),
            "channels": channels,
            "n_cycles": len(ordered),
        },
        "cycles": _cycle_rows(ordered),
        "budget": _budget(ordered, channels),
        "roi": _roi(ordered, channels),
        "tests": _tests(ordered, unit),
        "cumulative": _cumulative(ordered),
        "next": _next(ordered, unit),
        "truth": _truth(ordered),
        "reconciliation": reconciliation(ordered),
    }
    view["headline"] = headline(view, unit)
    view["tables"] = tables(view, unit)
    view["cards"] = cards(view, unit)
    return view


# -- the static report ------------------------------------------------------------------


def _inline(name: str) -> str:
    from margin.report.html import static_text

    text = static_text(name)
    if "</script" in text.lower():
        raise ConfigError(f"static script {name} contains '</script' and cannot be inlined")
    return text


def build_learning_report(cycles: Sequence[Mapping[str, Any]]) -> str:
    """The learning loop's report as one self-contained HTML document (works offline).

    Args:
        cycles: the ``cycle.json`` bodies of one loop (``margin.loop.records.list_cycles``);
            none gives a page saying how to start a loop.

    Raises:
        ConfigError: see :func:`learning_view`.
    """
    import markupsafe

    from margin.report.html import CHART_JS, environment, json_for_script, static_text

    view = learning_view(cycles)
    return (
        environment()
        .get_template("learning_report.html")
        .render(
            view=view,
            payload=markupsafe.Markup(json_for_script(view)),
            css=markupsafe.Markup(static_text("margin.css")),
            chart_js=markupsafe.Markup(_inline(CHART_JS)),
            charts_js=markupsafe.Markup(_inline("margin-charts.js")),
            learning_js=markupsafe.Markup(_inline("margin-learning.js")),
        )
    )
