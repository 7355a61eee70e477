"""View-models of a run's breakdown: the baseline in parts, immediate vs carry-over, by geo.

Both read ``summary.json`` only (the numbers :mod:`margin.mmm.decomposition` wrote) and
return plain JSON-ready dicts that the static report, the dashboard and the REST API
(``/api/runs/{id}/decomposition`` and ``/geos``) share. Runs saved before the breakdown
existed have no ``baseline.parts`` / ``geos``: the views then say so (``available``
false, with how to get it) instead of failing. Every estimate is an interval
``{"mean", "p05", "p95"}`` in the KPI's unit (contribution), a share of the predicted KPI,
or, for ROI, revenue per unit of spend.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REFIT", "decomposition_view", "geos_view"]

REFIT = "refit with margin mmm fit to get it (runs saved before this margin lack it)"
_PART_LABELS = {"intercept": "intercept (level)", "trend": "trend", "seasonality": "seasonality"}


def _parts_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Baseline parts, then media channels: label, kind, KPI and share intervals."""
    rows = [
        {
            "label": _PART_LABELS.get(name, name),
            "name": name,
            "kind": part["kind"],
            "kpi": part["kpi"],
            "share": part["share"],
        }
        for name, part in summary["baseline"]["parts"].items()
    ]
    for name in summary["channels_order"]:
        c = summary["channels"][name]
        rows.append({"label": name, "name": name, "kind": "media",
                     "kpi": c["contribution"], "share": c["contribution_share"]})  # fmt: skip
    return rows


def _carryover_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per channel with the split: contribution, immediate, carry-over, carry-over share."""
    rows = []
    for name in summary["channels_order"]:
        c = summary["channels"][name]
        if "immediate" not in c:
            continue
        total = float(c["contribution"]["mean"])
        rows.append({
            "channel": name,
            "contribution": c["contribution"],
            "immediate": c["immediate"],
            "carryover": c["carryover"],
            "carryover_share": None if total == 0 else float(c["carryover"]["mean"]) / total,
        })  # fmt: skip
    return rows


def decomposition_view(summary: dict[str, Any]) -> dict[str, Any]:
    """The predicted KPI in parts: ``{"available", "message", "kpi", "rows", "weekly",
    "labels", "carryover", "predicted"}``.

    ``rows``: each baseline part (intercept, trend, seasonality, each control by name),
    then each channel, with its KPI over the fitted weeks and share of the predicted KPI
    (they sum to ``predicted``); ``weekly``: each baseline part's weekly mean;
    ``carryover``: per channel, its immediate (lag 0) and carry-over (lags ≥ 1) parts.
    """
    kpi, kpi_type = summary["kpi"]["name"], summary["kpi"].get("type", "revenue")
    parts = (summary.get("baseline") or {}).get("parts")
    carryover = _carryover_rows(summary)
    if not parts:
        return {"available": False, "kpi": kpi, "kpi_type": kpi_type, "rows": [], "weekly": [], "labels": [],
                "carryover": carryover, "predicted": summary["totals"]["kpi_predicted"],
                "message": f"This run's summary has no baseline breakdown: {REFIT}."}  # fmt: skip
    weekly = [
        {"label": _PART_LABELS.get(name, name), "mean": list(part["weekly"]["mean"])}
        for name, part in parts.items()
        if part.get("weekly")
    ]
    n_weeks = len(weekly[0]["mean"]) if weekly else 0
    dates = summary.get("dates")
    labels = (
        list(dates)
        if isinstance(dates, list) and len(dates) == n_weeks
        else [f"week {w + 1}" for w in range(n_weeks)]
    )
    message = (
        "Each control is counted from its lowest value over the fitted weeks (a holiday "
        "flag: what its holiday weeks added); the intercept is the level with every "
        "control at its lowest."
    )
    return {
        "available": True,
        "kpi": kpi,
        "kpi_type": kpi_type,
        "rows": _parts_rows(summary),
        "weekly": weekly,
        "labels": labels,
        "carryover": carryover,
        "predicted": summary["totals"]["kpi_predicted"],
        "message": message,
    }


def geos_view(summary: dict[str, Any], geo_names: list[str] | None = None) -> dict[str, Any]:
    """ROI and contribution by geo × channel: ``{"available", "national", "message",
    "kpi", "geos", "channels", "rows"}``, one row per geo × channel (``spend``,
    ``contribution``, ``contribution_share``, ``roi``; ``roi`` ``None`` where the geo spent
    nothing) and one summary per geo (``kpi_predicted``, ``kpi_observed``, ``media``).

    ``geo_names`` (the run's ``model.json`` geos, when known) tells a national run from a
    geo run saved before the breakdown existed.
    """
    kpi = summary["kpi"]["name"]
    geos = summary.get("geos")
    base: dict[str, Any] = {"kpi": kpi, "kpi_type": summary["kpi"].get("type", "revenue"),
                            "geos": [], "channels": [], "rows": []}  # fmt: skip
    if not geos:
        national = geo_names is None or len(geo_names) <= 1
        message = (
            "This run is national (one geo): there is no breakdown by geo. Fit a panel with a "
            "geo column to see ROI and contribution per geo."
            if national
            else f"This run was fitted on {len(geo_names or [])} geos but its summary has no "
            f"breakdown by geo: {REFIT}."
        )
        return {**base, "available": False, "national": national, "message": message}
    channels = list(summary["channels_order"])
    rows = [
        {"geo": geo, "channel": name, **body["channels"][name]}
        for geo, body in geos.items()
        for name in channels
    ]
    per_geo = [
        {"geo": geo, **{k: body[k] for k in ("kpi_predicted", "kpi_observed", "media")}}
        for geo, body in geos.items()
    ]
    return {
        **base,
        "available": True,
        "national": False,
        "message": f"ROI (revenue per unit of spend) and contribution ({kpi}) by geo, "
        "over the fitted weeks; brackets are 90% intervals.",
        "geos": per_geo,
        "channels": channels,
        "rows": rows,
    }
