"""Text of the learning page: every number of :mod:`margin.report.learning`'s view with
its unit, as table cells, metric cards and headline sentences.

Money carries the cycles' currency (:func:`margin.wording.money`: ``"$1.20M"``,
``"CHF 12.50"``), ROI and iROAS are ``×`` (currency returned per unit of currency spent),
a test's lift carries the KPI's unit (money when a KPI unit is worth one unit of
currency), and an estimate is ``mean [p05, p95]``. The static report and the dashboard
page show these same strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from margin.types import Interval
from margin.wording import abbreviate, money, span

__all__ = [
    "amount",
    "as_float",
    "as_interval",
    "cards",
    "headline",
    "kpi_span",
    "money_span",
    "num",
    "percent",
    "ratio",
    "reconciliation",
    "tables",
    "width",
]


def num(value: float | None) -> str:
    return "–" if value is None else abbreviate(value)


def amount(value: float | None, currency: str) -> str:
    """``"$1.20M"``, ``"CHF 12.50"``; ``"–"`` when missing."""
    return "–" if value is None else money(value, currency)


def money_span(stat: Mapping[str, float] | None, currency: str) -> str:
    """``"$1.20M [$1.00M, $1.40M]"``; ``"–"`` for a missing estimate."""
    one = as_interval(stat)
    return "–" if one is None else span(one, lambda x: money(x, currency))


def kpi_span(stat: Mapping[str, float] | None, cycle: Mapping[str, Any]) -> str:
    """A KPI interval with its unit: money when a KPI unit is worth one unit of currency
    (revenue), else ``"120 [80, 160] conversions (worth $6.00k [...])"``."""
    one = as_interval(stat)
    if one is None:
        return "–"
    currency, value = str(cycle["currency"]), as_float(cycle.get("kpi_value"))
    if value == 1.0:
        return span(one, lambda x: money(x, currency))
    text = f"{span(one, abbreviate)} {cycle.get('kpi') or 'KPI units'}"
    if value is None or value <= 0:
        return text
    return f"{text} (worth {span(one.scaled(value), lambda x: money(x, currency))})"


def ratio(stat: Mapping[str, float] | None) -> str:
    if not stat:
        return "–"
    one = Interval.from_json(dict(stat))
    return f"{one.mean:.2f}× [{one.p05:.2f}, {one.p95:.2f}]"


def percent(value: float | None, signed: bool = False) -> str:
    """``"12.5%"`` (``"+12.5%"`` signed); a rounding residue such as ``-2e-16`` is 0."""
    if value is None or not math.isfinite(value):
        return "–"
    value = 0.0 if abs(value) < 5e-5 else value
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"


def width(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def as_interval(value: Any) -> Interval | None:
    """An ``{"mean", "p05", "p95"}`` block as an :class:`Interval` (``None`` when absent)."""
    if not isinstance(value, Mapping) or not {"mean", "p05", "p95"} <= set(value):
        return None
    if any(value[k] is None for k in ("mean", "p05", "p95")):
        return None
    return Interval.from_json(dict(value))


def as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _roas(block: Any) -> str:
    """An attributed ROAS: ``"2.50× [2.20, 2.80]"``, or ``"2.50× (no interval)"``."""
    roas = block.get("roas") if isinstance(block, Mapping) else None
    if not isinstance(roas, Mapping) or as_float(roas.get("mean")) is None:
        return "–"
    if as_interval(roas) is None:
        return f"{float(roas['mean']):.2f}× (no interval)"
    return ratio(roas)


def _recon_row(name: str, row: Mapping[str, Any], models: Sequence[str]) -> list[str]:
    lift = row.get("lift") or {}
    tests = len(lift.get("tests") or [])
    factor = row.get("factor") or {}
    attributed = row.get("attributed") or {}
    cells = [name, ratio(row.get("mmm_roi"))]
    cells += [_roas(attributed.get(m)) for m in models]
    cells.append(f"{ratio(lift.get('iroas'))} ({tests} test{'s' if tests != 1 else ''})"
                 if lift.get("iroas") else "not tested")  # fmt: skip
    for m in models:
        both = factor.get(m) or {}
        text = ratio(both.get("mmm"))
        if both.get("lift"):
            text += f"; by lift {ratio(both.get('lift'))}"
        cells.append(text)
    flags = [str(f.get("kind")) for f in row.get("flags") or [] if isinstance(f, Mapping)]
    cells.append(", ".join(flags) or "–")
    return cells


def reconciliation(cycles: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The latest cycle's reconciliation table (``margin-reconciliation`` version 1 of
    ``margin.loop.reconcile``: MMM ROI, attributed ROAS per attribution model, lift-test
    iROAS, incrementality factor per model), as text cells; ``None`` when none."""
    for c in reversed(cycles):
        body = c.get("reconciliation")
        channels = body.get("channels") if isinstance(body, Mapping) else None
        if not isinstance(body, Mapping) or not isinstance(channels, Mapping):
            continue
        models = [str(m) for m in body.get("models") or []]
        headers = [
            "channel", "MMM ROI",
            *(f"attributed ROAS ({m.replace('_', ' ')})" for m in models),
            "lift-test iROAS",
            *(f"incrementality factor ({m.replace('_', ' ')}): MMM ÷ attributed" for m in models),
            "disagreements",
        ]  # fmt: skip
        flags = [
            f"{f.get('channel', '?')}: {f.get('reason', f.get('kind', ''))}"
            for f in body.get("flags") or []
            if isinstance(f, Mapping)
        ]
        return {
            "cycle": int(c["cycle"]),
            "unit": str(body.get("unit") or "currency of KPI value per currency of spend"),
            "headers": headers,
            "rows": [
                _recon_row(str(k), v, models) for k, v in channels.items() if isinstance(v, Mapping)
            ],
            "flags": flags,
            "notes": [str(n) for n in body.get("notes") or []],
        }
    return None


def headline(view: Mapping[str, Any], unit: str) -> list[str]:
    cycles = view["cycles"]
    lines = [
        f"{len(cycles)} cycle(s) of the {view['meta']['policy']} policy, weeks "
        f"{cycles[0]['start']} to {cycles[-1]['end']}."
    ]
    total = view["cumulative"]["total"]
    if total is not None:
        lines.append(
            f"Following margin is estimated to have added {money_span(total, unit)} versus the "
            "status quo (90% interval; cycles treated as independent, see below)."
        )
    narrowed = [
        f"{r['channel']} {r['first_width']:.2f}× → {r['last_width']:.2f}×"
        for r in view["roi"]
        if r["first_width"] is not None and r["last_width"] is not None
    ]
    if narrowed and len(cycles) > 1:
        lines.append("ROI interval widths, first cycle → latest: " + "; ".join(narrowed) + ".")
    spend = [c["test_spend"] for c in cycles if c["test_spend"] is not None]
    lines.append(
        f"{len(view['tests']['rows'])} test(s) analysed"
        + (f"; test spend {amount(math.fsum(spend), unit)} in all." if spend else ".")
    )
    if view["truth"] is not None and view["truth"]["cumulative_gain"] is not None:
        truth = view["truth"]
        lines.append(
            f"True cumulative gain of the plans (simulation only): "
            f"{amount(truth['cumulative_gain'], unit)}; with the tests' returns, less their "
            f"extra spend: {amount(truth.get('cumulative_net_gain'), unit)}."
        )
    return lines


def cards(view: Mapping[str, Any], unit: str) -> list[dict[str, str]]:
    """The summary's metric cards: label, value, range (text with units)."""
    cycles, total = view["cycles"], view["cumulative"]["total"]
    spend = [c["test_spend"] for c in cycles if c["test_spend"] is not None]
    last = cycles[-1]
    out = [
        {"label": "Estimated cumulative gain vs the status quo",
         "value": amount(None if total is None else total["mean"], unit),
         "range": "–" if total is None else
         f"[{amount(total['p05'], unit)}, {amount(total['p95'], unit)}] (90%, cycles independent)"},
        {"label": "Cycles", "value": str(len(cycles)),
         "range": f"weeks {cycles[0]['start']} → {last['end']}"},
        {"label": "Tests analysed", "value": str(len(view["tests"]["rows"])),
         "range": f"test spend {amount(math.fsum(spend), unit)}" if spend else "no test spend"},
        {"label": f"Cycle {last['cycle']}: chance the plan beats the status quo",
         "value": percent(last["p_beats_status_quo"]),
         "range": f"expected gain {money_span(last['expected_gain'], unit)}"},
    ]  # fmt: skip
    truth = view["truth"]
    if truth is not None:
        out.append(
            {"label": "True cumulative gain of the plans (known only in simulation)",
             "value": amount(truth["cumulative_gain"], unit),
             "range": "the world's score of each plan against the status quo's; net of "
                      f"the tests' extra spend {amount(truth.get('cumulative_net_gain'), unit)}"}
        )  # fmt: skip
    return out


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> dict[str, Any]:
    return {"headers": list(headers), "rows": [list(r) for r in rows]}


def tables(view: Mapping[str, Any], unit: str) -> dict[str, dict[str, Any]]:
    """Every table of the page as text cells with units: ``{name: {"headers", "rows"}}``."""
    cycles = view["cycles"]
    p_beats = [c["p_beats_status_quo"] for c in cycles]
    found = {
        "cycles": _table(
            ("cycle", "weeks", "budget", "status-quo budget", "test spend",
             "expected gain vs status quo", "P(beats status quo)"),
            [[str(c["cycle"]), f"{c['start']} → {c['end']} ({c['weeks']} weeks)",
              amount(c["budget"], unit), amount(c["status_quo_budget"], unit),
              amount(c["test_spend"], unit), money_span(c["expected_gain"], unit),
              percent(p)] for c, p in zip(cycles, p_beats, strict=True)],
        ),
        "tests": _table(view["tests"]["headers"], view["tests"]["table"]),
        "cumulative": _table(
            ("cycle", "expected gain this cycle", "cumulative (cycles independent)",
             "cumulative (cycles fully dependent: widest)"),
            [[str(r["cycle"]), money_span(r["gain"], unit), money_span(r["cumulative"], unit),
              money_span(r["cumulative_dependent"], unit)] for r in view["cumulative"]["per_cycle"]],
        ),
    }  # fmt: skip
    nxt = view["next"]
    if nxt is not None:
        found["plan"] = _table(nxt["plan_headers"], nxt["plan"])
        found["calendar"] = _table(nxt["scheduled_headers"], nxt["calendar"])
    truth = view["truth"]
    if truth is not None:
        found["truth"] = _table(
            ("cycle", "share of the oracle's gain", "plan's true gain vs status quo",
             "with tests, net of their spend", "oracle's true gain vs status quo"),
            [[str(r["cycle"]), percent(r["share_of_oracle"]), amount(r["gain"], unit),
              amount(r.get("net_gain"), unit), amount(r["oracle_gain"], unit)]
             for r in truth["rows"]],
        )  # fmt: skip
    recon = view["reconciliation"]
    if recon is not None:
        found["reconciliation"] = _table(recon["headers"], recon["rows"])
    return found
