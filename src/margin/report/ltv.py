"""Customer value's view-model: the dashboard page ``/value`` and the report's section.

:func:`ltv_view` turns a customer-value run (the bodies :func:`margin.ltv.runs.load_ltv_run`
reads: ``ltv``, ``by_channel``, ``holdout``, ``p_alive``) into what both draw:

- ``value``: the value of a newly acquired customer per acquisition channel over the
  run's horizon, first purchase included (mean and 90% interval, in the run's currency);
- ``tables.channels``: customers acquired, value, CAC, LTV:CAC, incremental CAC and
  LTV:CAC, payback weeks, each cell text with its interval and unit, and which channels
  use the pooled fit (``notes``);
- ``p_alive``: customers per P(alive) bin at the calibration end (a histogram);
- ``holdout``: predicted (with its interval) vs actual repeat purchases per customer in
  the holdout, per calibration frequency bucket (Fader, Hardie & Lee 2005, Figure 4);
- ``tables.params``: the fitted parameters with their intervals.

A workspace without a run gets :func:`empty_ltv_view`, which says what to run. The page's
JavaScript (``static/margin-ltv.js``) draws the charts in both hosts; the section's text
is rendered server-side in the report. This module reads no files and imports no model
code: the caller loads the run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from margin.errors import ConfigError
from margin.wording import currency_symbol, money

__all__ = ["START_COMMAND", "empty_ltv_view", "ltv_view"]

START_COMMAND = "margin ltv by-channel -w W --horizon-weeks 52"
"""The command that records a customer-value run (``W``: the workspace file)."""
_FIX = f"re-run {START_COMMAND}"
_UNITS = {"alpha": "unit", "beta": "unit", "gamma": "money"}
"""Parameters with a unit: scale parameters in the summaries' time unit, or money (the
Gamma-Gamma scale); the others are shapes (no unit)."""


def empty_ltv_view(reason: str | None = None) -> dict[str, Any]:
    """The view of a workspace without a customer-value run: what to run to get one."""
    return {
        "empty": True,
        "reason": reason or "This workspace has no customer-value run yet.",
        "start_command": START_COMMAND,
    }


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"customer-value run: {where} is {value!r}, not a number; {_FIX}")
    return float(value)


def _interval(stat: Any, where: str) -> dict[str, float]:
    """``{"mean", "p05", "p95"}`` checked to hold numbers."""
    if not isinstance(stat, Mapping):
        raise ConfigError(
            f"customer-value run: {where} is not an interval {{mean, p05, p95}}; {_FIX}"
        )
    return {q: _number(stat.get(q), f"{where}.{q}") for q in ("mean", "p05", "p95")}


def _optional(stat: Any, where: str) -> dict[str, float] | None:
    return None if stat is None else _interval(stat, where)


def _object(body: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ConfigError(f"customer-value run: {name}.json is not a JSON object; {_FIX}")
    return body


def _amount(value: float, currency: str) -> str:
    return money(value, currency) if math.isfinite(value) else "–"


def _money_span(stat: dict[str, float] | None, currency: str) -> str:
    """``"$195.60 [$174.71, $214.24]"``; a known amount (no spread) once, marked exact."""
    if stat is None:
        return "–"
    if stat["p05"] == stat["p95"] == stat["mean"]:
        return f"{_amount(stat['mean'], currency)} (exact)"
    ends = ", ".join(_amount(stat[q], currency) for q in ("p05", "p95"))
    return f"{_amount(stat['mean'], currency)} [{ends}]"


def _ratio_span(stat: dict[str, float] | None) -> str:
    if stat is None:
        return "–"
    return f"{stat['mean']:.2f}× [{stat['p05']:.2f}, {stat['p95']:.2f}]"


def _weeks_span(stat: dict[str, float] | None, has_cac: bool) -> str:
    if stat is None:
        return "not within 260 weeks" if has_cac else "–"
    return f"{stat['mean']:.1f} weeks [{stat['p05']:.0f}, {stat['p95']:.0f}]"


def _channel(name: str, body: Any) -> dict[str, Any]:
    """One channel of ``by_channel.json``, checked: intervals, counts, flags."""
    where = f"by_channel.{name}"
    row = _object(body, where)
    customers = row.get("customers")
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 0:
        raise ConfigError(f"customer-value run: {where}.customers is {customers!r}, not a "
                          f"count; {_FIX}")  # fmt: skip
    spend = row.get("spend")
    return {
        "channel": name, "customers": customers, "pooled": bool(row.get("pooled")),
        "value": _interval(row.get("value"), f"{where}.value"),
        "first_purchase": _optional(row.get("first_purchase"), f"{where}.first_purchase"),
        "spend": None if spend is None else _number(spend, f"{where}.spend"),
        **{key: _optional(row.get(key), f"{where}.{key}") for key in (
            "cac", "ltv_cac", "payback_weeks", "incremental_factor", "incremental_cac",
            "incremental_ltv_cac")},
    }  # fmt: skip


def _channels(by_channel: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The checked channels (as recorded: most customers first) and the run's settings
    (``horizon_weeks``, ``currency``, ``annual_discount_rate``) from the first channel."""
    rows = [_channel(str(name), body) for name, body in by_channel.items()]
    first = _object(next(iter(by_channel.values()), {}), "by_channel")
    settings = {
        "horizon_weeks": _number(first.get("horizon_weeks", 52.0), "by_channel.horizon_weeks"),
        "currency": str(first.get("currency") or ""),
        "annual_discount_rate": _number(first.get("annual_discount_rate", 0.0),
                                        "by_channel.annual_discount_rate"),
    }  # fmt: skip
    return rows, settings


def _channel_table(rows: list[dict[str, Any]], currency: str, horizon: float) -> dict[str, Any]:
    unit = currency or "workspace currency"
    headers = [
        "channel", "customers acquired", f"value of a new customer, {horizon:g} weeks ({unit})",
        f"first purchase ({unit})", f"spend ({unit})", f"CAC, attributed ({unit})",
        "LTV:CAC (×)", f"incremental CAC ({unit})", "incremental LTV:CAC (×)",
        "payback (weeks)", "fit",
    ]  # fmt: skip
    out = []
    for r in rows:
        spend = "– (no spend recorded)" if r["spend"] is None else _amount(r["spend"], currency)
        out.append([
            r["channel"], f"{r['customers']:,} customers", _money_span(r["value"], currency),
            _money_span(r["first_purchase"], currency), spend, _money_span(r["cac"], currency),
            _ratio_span(r["ltv_cac"]), _money_span(r["incremental_cac"], currency),
            _ratio_span(r["incremental_ltv_cac"]),
            _weeks_span(r["payback_weeks"], r["cac"] is not None),
            "pooled fit" if r["pooled"] else "own fit",
        ])  # fmt: skip
    return {"headers": headers, "rows": out}


def _notes(rows: list[dict[str, Any]], horizon: float, discount: float) -> list[str]:
    notes = [
        f"{r['channel']}: too few customers (or repeat buyers) for its own fit; its value uses "
        "the pooled fit of all customers (its own first purchases, everyone's repeat buying)"
        for r in rows
        if r["pooled"]
    ]
    if any(r["spend"] is None for r in rows):
        notes.append("CAC, LTV:CAC and payback need each channel's spend over the acquisition "
                     "window: load it with margin ingest spend FILE -w W, then re-run "
                     f"{START_COMMAND}.")  # fmt: skip
    if any(r["incremental_cac"] is None and r["cac"] is not None for r in rows):
        notes.append("Incremental CAC needs the share of a channel's customers it truly caused "
                      "(from the MMM or a lift test, e.g. margin reconcile); channels without "
                      "one show –.")  # fmt: skip
    rate = f"discounted at {100 * discount:g}% a year" if discount else "not discounted"
    notes.append(f"Value: the first purchase plus the expected repeat purchases over {horizon:g} "
                 f"weeks ({rate}); CAC: spend ÷ customers acquired.")  # fmt: skip
    return notes


def _params(ltv: Mapping[str, Any], unit: str, currency: str) -> dict[str, Any]:
    rows = []
    for fit in (ltv, ltv.get("spend")):
        if not isinstance(fit, Mapping):
            continue
        model = str(fit.get("model", "?"))
        for name, stat in _object(fit.get("params"), f"ltv.{model}.params").items():
            if not isinstance(stat, Mapping):
                raise ConfigError(f"customer-value run: ltv {model} parameter {name} is not "
                                  f"{{estimate, p05, p95}}; {_FIX}")  # fmt: skip
            values = {q: _number(stat.get(q), f"ltv.{model}.params.{name}.{q}")
                      for q in ("estimate", "p05", "p95")}  # fmt: skip
            kind = _UNITS.get(name) if model != "sbg" else None
            shown = {"unit": unit, "money": currency or "money", None: "shape (no unit)"}[kind]
            rows.append([model, name, f"{values['estimate']:.4g}",
                         f"[{values['p05']:.4g}, {values['p95']:.4g}]", shown])  # fmt: skip
    return {"headers": ["model", "parameter", "estimate", "90% interval", "unit"], "rows": rows}


def _p_alive(body: Any) -> dict[str, Any] | None:
    if body is None:
        return None
    found = _object(body, "p_alive")
    edges = [_number(e, "p_alive.edges") for e in found.get("edges") or []]
    counts = [_number(c, "p_alive.counts") for c in found.get("counts") or []]
    if len(edges) < 2 or len(counts) != len(edges) - 1:
        raise ConfigError(f"customer-value run: p_alive.json needs n + 1 edges and n counts; "
                          f"got {len(edges)} and {len(counts)}; {_FIX}")  # fmt: skip
    labels = [f"{100 * lo:.0f}–{100 * hi:.0f}%" for lo, hi in itertools.pairwise(edges)]
    by_channel = [
        {"channel": str(name), "counts": [_number(c, f"p_alive.by_channel.{name}") for c in row]}
        for name, row in (found.get("by_channel") or {}).items()
    ]
    total = sum(counts)
    below = sum(c for c, hi in zip(counts, edges[1:], strict=False) if hi <= 0.5)
    share = f"{100 * below / total:.0f}%" if total else "–"
    return {
        "labels": labels, "counts": counts, "by_channel": by_channel, "total": total,
        "note": f"{share} of {total:,.0f} customers have a P(alive) of 50% or less at the "
                "calibration end: likely gone, whatever their past value.",
    }  # fmt: skip


def _holdout(body: Any) -> dict[str, Any] | None:
    if body is None:
        return None
    found = _object(body, "holdout")
    length = _number(found.get("holdout_length"), "holdout.holdout_length")
    buckets = found.get("buckets")
    if not isinstance(buckets, list) or not buckets:
        raise ConfigError(f"customer-value run: holdout.json has no buckets; {_FIX}")
    labels, actual, predicted, rows = [], [], [], []
    for i, item in enumerate(buckets):
        b = _object(item, f"holdout.buckets[{i}]")
        label = str(b.get("frequency"))
        stat = _interval(b.get("predicted"), f"holdout.buckets[{i}].predicted")
        seen = _number(b.get("actual"), f"holdout.buckets[{i}].actual")
        customers = _number(b.get("customers"), f"holdout.buckets[{i}].customers")
        labels.append(label)
        actual.append(seen)
        predicted.append(stat)
        rows.append([label, f"{customers:,.0f}", f"{seen:.2f} purchases",
                     f"{stat['mean']:.2f} [{stat['p05']:.2f}, {stat['p95']:.2f}] purchases"])  # fmt: skip
    return {
        "model": str(found.get("model", "")), "holdout_length": length, "labels": labels,
        "actual": actual, "mean": [p["mean"] for p in predicted],
        "p05": [p["p05"] for p in predicted], "p95": [p["p95"] for p in predicted],
        "table": {"headers": ["purchases in calibration", "customers",
                              "actual repeat purchases per customer",
                              "predicted (90% interval)"], "rows": rows},
    }  # fmt: skip


def _cards(rows: list[dict[str, Any]], summary: Mapping[str, Any], currency: str) -> list[Any]:
    n, tx = summary.get("n_customers"), summary.get("n_transactions")
    cards = [{"label": "Customers summarised",
              "value": f"{n:,} customers" if isinstance(n, int) else "–",
              "range": f"{tx:,} transactions" if isinstance(tx, int) else ""}]  # fmt: skip
    if rows:
        best = max(rows, key=lambda r: r["value"]["mean"])
        cards.append({"label": f"Most valuable new customers: {best['channel']}",
                      "value": _amount(best["value"]["mean"], currency),
                      "range": _money_span(best["value"], currency)})  # fmt: skip
        paid = [r for r in rows if r["ltv_cac"] is not None]
        if paid:
            top = max(paid, key=lambda r: r["ltv_cac"]["mean"])
            cards.append({"label": f"Best LTV:CAC: {top['channel']}",
                          "value": f"{top['ltv_cac']['mean']:.2f}×",
                          "range": _ratio_span(top["ltv_cac"])})  # fmt: skip
    return cards


def ltv_view(run: Mapping[str, Any], currency: str | None = None) -> dict[str, Any]:
    """The page's and the report section's view-model of a customer-value run.

    Args:
        run: ``{"run_id", "created", "ltv", "by_channel", "holdout", "p_alive"}``
            (:func:`margin.ltv.runs.load_ltv_run`); every body but ``ltv`` may be ``None``.
        currency: the workspace's currency, used when ``by_channel`` names none.

    Raises:
        ConfigError: a body of the wrong shape (which field, and what to re-run).
    """
    ltv = _object(run.get("ltv"), "ltv")
    found = ltv.get("summary")
    summary: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    by_channel = run.get("by_channel")
    rows, settings = _channels(_object(by_channel, "by_channel")) if by_channel else ([], {})
    cur = str(settings.get("currency") or currency or "")
    horizon = float(settings.get("horizon_weeks", 52.0))
    value = None
    if rows:
        value = {
            "labels": [r["channel"] for r in rows],
            **{q: [r["value"][q] for r in rows] for q in ("mean", "p05", "p95")},
            "pooled": [r["pooled"] for r in rows],
            "y_title": f"value of a new customer over {horizon:g} weeks ({cur or 'money'})",
        }  # fmt: skip
    unit = str(summary.get("unit") or "weeks")
    return {
        "empty": False,
        "meta": {
            "run_id": str(run.get("run_id", "")), "created": run.get("created"),
            "currency": cur, "symbol": currency_symbol(cur), "horizon_weeks": horizon,
            "annual_discount_rate": settings.get("annual_discount_rate", 0.0),
            "model": str(ltv.get("model", "")), "unit": unit,
            "interval_method": str(ltv.get("interval_method", "")),
            "calibration_end": summary.get("calibration_end"),
            "observation_end": summary.get("observation_end"),
        },
        "cards": _cards(rows, summary, cur),
        "value": value,
        "notes": _notes(rows, horizon, float(settings.get("annual_discount_rate", 0.0)))
        if rows else [],
        "tables": {
            "channels": _channel_table(rows, cur, horizon) if rows else None,
            "params": _params(ltv, unit, cur),
        },
        "p_alive": _p_alive(run.get("p_alive")),
        "holdout": _holdout(run.get("holdout")),
    }  # fmt: skip
