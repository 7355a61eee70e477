"""View-models of a run: plain dicts the HTML report and its charts are drawn from.

:func:`build_view` reads a run folder (``summary.json``, optional ``curves.json``), an
optional plan (``plan.json`` body) and optional data-quality findings (the body of
:meth:`margin.data.rules.findings.Report.to_dict`) and returns one JSON-ready dict::

    {"meta": {...}, "summary": {...}, "channels": [...], "plan": {...} | None,
     "waterfall": {...}, "over_time": {...}, "curves": {...} | None,
     "health": {...}, "data_quality": {...} | None}

Every estimate is an interval ``I = {"mean", "p05", "p95"}`` (posterior mean, 5th and
95th percentiles) copied or scaled from the run's files; no modelling happens here. Money
is ROI × spend: incremental revenue of a channel is its ROI interval times its spend, the
same per-draw ratio the MMM summarised, so the interval is exact.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from margin.report.breakdown import decomposition_view, geos_view
from margin.types import Interval
from margin.wording import (
    break_even,
    currency_symbol,
    gain_words,
    kpi_span,
    kpi_unit,
    marginal_words,
    minute,
    money,
    per_money,
    return_words,
)

__all__ = [
    "CURVE_REACH",
    "build_view",
    "channel_rows",
    "curve_reach",
    "data_quality_view",
    "fit_view",
    "gain_text",
    "health_view",
    "kpi_text",
    "load_json",
    "over_time_view",
    "plan_view",
    "planned_weekly_spend",
    "read_run",
    "scale",
    "units_of",
    "waterfall_view",
]

CURVE_REACH = 1.2
"""A response curve reaches at least this multiple of the spend marked on it."""


def load_json(path: Path, what: str) -> dict[str, Any]:
    """Read one JSON object, with errors that name the file and how to fix it."""
    from margin.data.workspace.runs import read_json_object

    return read_json_object(path, what, "write it again with margin")


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(summary, curves or None)`` of a run folder written by ``margin mmm fit``.

    Raises:
        ConfigError: the folder or its ``summary.json`` is missing, unreadable or lacks
            the keys a report needs.
    """
    from margin.data.workspace.runs import load_summary

    folder = Path(run_dir)
    summary = load_summary(folder)
    curves_path = folder / "curves.json"
    curves = load_json(curves_path, "response curves") if curves_path.is_file() else None
    return summary, curves


def scale(stat: dict[str, float], factor: float) -> dict[str, float]:
    """An interval's JSON (``{"mean", "p05", "p95"}``) times a positive number (quantiles
    commute with it), as JSON."""
    return Interval.from_json(stat).scaled(factor).to_json()


def _money(value: float, symbol: str) -> str:
    """Money with the currency prefix ``symbol`` (:func:`margin.wording.money`'s rule)."""
    text = money(value, None)
    return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"


def _span(stat: dict[str, float], symbol: str) -> str:
    """``"$1.20M [$1.00M, $1.40M]"`` of an interval's JSON."""
    one = Interval.from_json(stat)
    m, lo, hi = (_money(x, symbol) for x in (one.mean, one.p05, one.p95))
    return f"{m} [{lo}, {hi}]"


def _ratio(stat: dict[str, float]) -> str:
    one = Interval.from_json(stat)
    return f"{one.mean:.2f}× [{one.p05:.2f}, {one.p95:.2f}]"


def _roi_verdict(name: str, stat: dict[str, float], symbol: str) -> str:
    roi = Interval.from_json(stat)
    each = f"each {symbol or ''}1 returned {symbol or ''}{roi.mean:.2f}"
    if break_even(roi) == "above":
        return f"{name} {return_words(roi)} {_ratio(stat)}: {each}."
    return f"{name} {return_words(roi)}: {_ratio(stat)}; {each}."


def _mroi_verdict(name: str, stat: dict[str, float], symbol: str) -> str:
    mroi = Interval.from_json(stat)
    return f"The next {symbol or ''}1 on {name} returns {_ratio(stat)}: {marginal_words(mroi)}."


def channel_rows(summary: dict[str, Any], symbol: str) -> list[dict[str, Any]]:
    """One row per channel (model order): spend, ROI, mROI, contribution, revenue, verdicts."""
    rows = []
    for name in summary["channels_order"]:
        c = summary["channels"][name]
        row: dict[str, Any] = {
            "channel": name,
            "spend": float(c["spend"]),
            "roi": c["roi"],
            "mroi": c["mroi"],
            "contribution": c["contribution"],
            "contribution_share": c["contribution_share"],
            "media_share": c["media_share"],
            "revenue": scale(c["roi"], float(c["spend"])),
            "verdict": _roi_verdict(name, c["roi"], symbol),
            "marginal_verdict": _mroi_verdict(name, c["mroi"], symbol),
        }
        if "cpa" in c:
            row["cpa"] = c["cpa"]
        rows.append(row)
    return rows


def _summary_view(
    summary: dict[str, Any], rows: list[dict[str, Any]], symbol: str
) -> dict[str, Any]:
    totals, baseline = summary["totals"], summary["baseline"]
    revenue = scale(totals["roi"], float(totals["spend"]))
    best = max(rows, key=lambda r: r["roi"]["mean"]) if rows else None
    headline = [
        f"Marketing caused {_span(revenue, symbol)} of incremental revenue on "
        f"{_money(float(totals['spend']), symbol)} of spend: {_ratio(totals['roi'])} overall.",
        f"{100 * baseline['share']['mean']:.1f}% [{100 * baseline['share']['p05']:.1f}, "
        f"{100 * baseline['share']['p95']:.1f}] of {summary['kpi']['name']} would have come "
        "without any marketing (baseline).",
    ]
    if best is not None:
        headline.append(best["verdict"])
    return {
        "incremental_revenue": revenue,
        "incremental_kpi": totals["contribution"],
        "spend": float(totals["spend"]),
        "roi": totals["roi"],
        "kpi_predicted": totals["kpi_predicted"],
        "kpi_observed": totals.get("kpi_observed"),
        "media_share": totals["media_share"],
        "baseline_share": baseline["share"],
        "baseline_kpi": baseline["kpi"],
        "headline": headline,
    }


def waterfall_view(summary: dict[str, Any]) -> dict[str, Any]:
    """Baseline, then each channel stacked on it, then the predicted KPI.

    Each step has ``start`` and ``end`` (posterior means, so the last channel's ``end``
    equals the predicted KPI's mean) and the step's own interval.
    """
    steps = []
    level = float(summary["baseline"]["kpi"]["mean"])
    steps.append({"label": "baseline", "kind": "baseline", "start": 0.0, "end": level,
                  "value": summary["baseline"]["kpi"]})  # fmt: skip
    for name in summary["channels_order"]:
        stat = summary["channels"][name]["contribution"]
        steps.append({"label": name, "kind": "channel", "start": level,
                      "end": level + float(stat["mean"]), "value": stat})  # fmt: skip
        level += float(stat["mean"])
    predicted = summary["totals"]["kpi_predicted"]
    steps.append({"label": "predicted", "kind": "total", "start": 0.0,
                  "end": float(predicted["mean"]), "value": predicted})  # fmt: skip
    return {"kpi": summary["kpi"]["name"], "steps": steps}


def over_time_view(summary: dict[str, Any]) -> dict[str, Any]:
    """Weekly contribution per channel: labels (the run's dates, else week numbers)."""
    series = []
    n_weeks = 0
    for name in summary["channels_order"]:
        weekly = summary["channels"][name].get("weekly_contribution")
        if not weekly:
            continue
        n_weeks = max(n_weeks, len(weekly["mean"]))
        series.append({"channel": name, **{k: weekly[k] for k in ("mean", "p05", "p95")}})
    dates = summary.get("dates")
    labels = (
        list(dates)
        if isinstance(dates, list) and len(dates) == n_weeks
        else [f"week {w + 1}" for w in range(n_weeks)]
    )
    return {"labels": labels, "series": series}


def units_of(summary: dict[str, Any], currency: str | None) -> dict[str, Any]:
    """The units a run's numbers are shown in: ``{"kpi_type", "kpi_name", "kpi_unit",
    "currency", "symbol", "roi_unit"}`` (:mod:`margin.wording`'s rules). ``kpi_unit`` is
    ``"conversions"`` for a conversion KPI and the currency (or ``"money"``) for revenue."""
    kpi = summary["kpi"]
    kpi_type, kpi_name = str(kpi["type"]), str(kpi["name"])
    unit = kpi_unit(kpi_type, kpi_name)
    return {
        "kpi_type": kpi_type,
        "kpi_name": kpi_name,
        "kpi_unit": unit or currency or "money",
        "currency": currency,
        "symbol": currency_symbol(currency),
        "roi_unit": per_money(currency),
    }


def _plan_rows(plan: dict[str, Any], units: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    value = float(plan.get("kpi_value", 1.0))
    for name, a in plan["allocation"].items():
        spend, current = float(a["spend"]), float(a["current_spend"])
        gain = a.get("gain")
        rows.append(
            {
                "channel": name,
                "spend": spend,
                "current_spend": current,
                "change": spend - current,
                "change_pct": None if current <= 0 else 100 * (spend - current) / current,
                "mroi": a.get("mroi"),
                "gain": gain,
                "gain_value": scale(gain, value) if gain else None,
                "gain_text": kpi_text(gain, units) if gain else None,
            }
        )
    return rows


def kpi_text(stat: dict[str, float], units: dict[str, Any]) -> str:
    """A KPI interval with its unit (:func:`margin.wording.kpi_span`)."""
    return kpi_span(
        Interval.from_json(stat), units["kpi_type"], units["currency"], units["kpi_name"]
    )


def gain_text(plan: dict[str, Any], units: dict[str, Any]) -> str:
    """A plan's expected gain in words and units, as the CLI and the dashboard say it
    (:func:`margin.wording.gain_words`)."""
    return gain_words(
        Interval.from_json(plan["expected_gain"]), units["kpi_type"], units["currency"],
        float(plan.get("kpi_value", 1.0)), units["kpi_name"],
    )  # fmt: skip


def plan_view(plan: dict[str, Any], units: dict[str, Any]) -> dict[str, Any]:
    """The recommended reallocation: per-channel change, expected gain (in the KPI's unit,
    with its worth in money for a conversion KPI), P(beats current); ``units`` from
    :func:`units_of`."""
    symbol = units["symbol"]
    rows = _plan_rows(plan, units)
    gain, p = plan["expected_gain"], plan.get("p_beats_current")
    weeks = int(plan["weeks"])
    moves = sorted(rows, key=lambda r: r["change"])
    verdict = (
        f"Over {weeks} weeks, the recommended plan is expected to add {gain_text(plan, units)}"
    )
    if p is not None:
        verdict += f"; the chance it beats the current plan is {100 * float(p):.0f}%"
    if moves and moves[0]["change"] < 0 < moves[-1]["change"]:
        verdict += (
            f". Biggest move: {_money(-moves[0]['change'], symbol)} out of {moves[0]['channel']}, "
            f"{_money(moves[-1]['change'], symbol)} into {moves[-1]['channel']}"
        )
    return {
        "budget": float(plan["budget"]),
        "weeks": weeks,
        "start": plan.get("start"),
        "rows": rows,
        "expected_kpi": plan["expected_kpi"],
        "expected_kpi_text": kpi_text(plan["expected_kpi"], units),
        "current_kpi": plan.get("current_kpi"),
        "expected_gain": gain,
        "expected_gain_value": scale(gain, float(plan.get("kpi_value", 1.0))),
        "gain_text": gain_text(plan, units),
        "p_beats_current": None if p is None else float(p),
        "weekly_kpi": plan.get("weekly_kpi"),
        "verdict": verdict + ".",
        "headline": [str(line) for line in plan.get("headline", [])],
        "caveats": [str(c) for c in plan.get("caveats", [])],
        "information": _information_view(plan.get("value_of_information")),
    }


def _planned_test_view(channel: dict[str, Any]) -> dict[str, Any] | None:
    """A valued planned test of one channel: its value and standard error."""
    if channel.get("test_value") is None:
        return None
    return {
        "value": channel["test_value"], "se": channel["test_se"],
        "above_floor": bool(channel.get("test_above_floor")),
    }  # fmt: skip


def _information_view(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The plan's value of information per channel (currency already), when it was asked for."""
    if not info:
        return None
    rows = [
        {
            "channel": name,
            "value": c["value"],
            "above_floor": bool(c["above_floor"]),
            "low": float(c["group_spend"][0]),
            "high": float(c["group_spend"][-1]),
            "test": _planned_test_view(c),
        }
        for name, c in info["channels"].items()
    ]
    notes = [c["test_note"] for c in info["channels"].values() if c.get("test_note")]
    return {"rows": rows, "floor": info["noise_floor"], "best": info.get("best"),
            "tested": any(r["test"] is not None for r in rows), "notes": notes}  # fmt: skip


def planned_weekly_spend(plan: dict[str, Any] | None) -> dict[str, float]:
    """The plan's weekly spend per channel (its totals over the horizon ÷ weeks)."""
    if not plan or int(plan.get("weeks", 0)) < 1:
        return {}
    weeks = int(plan["weeks"])
    allocation = plan.get("allocation") or {}
    return {name: float(a["spend"]) / weeks for name, a in allocation.items()}


def curve_reach(curves: dict[str, Any], plan: dict[str, Any] | None) -> dict[str, float]:
    """How far each channel's response curve must reach: :data:`CURVE_REACH` × the larger
    of its current and planned weekly spend, for the channels whose ``curves.json`` grid
    stops short of it (empty when every curve already reaches; then no new curve is
    needed). The caller that can evaluate the model (the CLI's ``report``, the API's
    curves route) extends those curves with :func:`margin.optimize.curves.response_curves`
    (``reach``)."""
    planned = planned_weekly_spend(plan)
    short = {}
    for name, c in curves["channels"].items():
        need = CURVE_REACH * max(float(c["current_weekly_spend"]), planned.get(name, 0.0))
        if float(c["spend"][-1]) < need * (1 - 1e-9):
            short[name] = need
    return short


def _curves_view(curves: dict[str, Any], plan: dict[str, Any] | None) -> dict[str, Any]:
    """Response curves per channel with current and (when planned) recommended weekly spend;
    ``short`` names the curves that stop before 1.2 × the spend marked on them."""
    planned = planned_weekly_spend(plan)
    short = curve_reach(curves, plan)
    channels = []
    for name, c in curves["channels"].items():
        channels.append(
            {
                "channel": name,
                "spend": c["spend"],
                "kpi": c["kpi"],
                "mroi": c.get("mroi"),
                "current_weekly_spend": float(c["current_weekly_spend"]),
                "recommended_weekly_spend": planned.get(name),
                "short": name in short,
            }
        )
    return {
        "horizon_weeks": int(curves["horizon_weeks"]),
        "kpi_value": float(curves.get("kpi_value", 1.0)),
        "channels": channels,
        "short": sorted(short),
        "adstock": curves.get("adstock"),
    }


def _fit_items(diagnostics: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    mape, r2 = diagnostics.get("holdout_mape"), diagnostics.get("holdout_r2")
    if mape is not None and math.isfinite(mape):
        items.append({"name": "holdout MAPE", "value": mape, "ok": mape < 0.15,
                      "text": f"Held-out weeks were predicted within {100 * mape:.1f}% on average."})  # fmt: skip
    if r2 is not None and math.isfinite(r2):
        items.append({"name": "holdout R²", "value": r2, "ok": r2 > 0.5,
                      "text": f"The model explains {100 * r2:.0f}% of the week-to-week variation "
                      "in weeks it did not see."})  # fmt: skip
    fit = diagnostics.get("fit") or {}
    if fit.get("mape") is not None:
        items.append({"name": "in-sample MAPE", "value": fit["mape"], "ok": fit["mape"] < 0.1,
                      "text": f"Fitted weeks are reproduced within {100 * fit['mape']:.1f}% "
                      "on average."})  # fmt: skip
    if fit.get("r2") is not None and math.isfinite(fit["r2"]):
        items.append({"name": "in-sample R²", "value": fit["r2"], "ok": fit["r2"] >= 0.8,
                      "text": f"The model explains {100 * fit['r2']:.0f}% of the variation "
                      "in fitted weeks (0.8 or more is good)."})  # fmt: skip
    if fit.get("coverage_90") is not None:
        coverage = fit["coverage_90"]
        items.append({"name": "in-sample 90% band coverage", "value": coverage,
                      "ok": 0.8 <= coverage <= 0.98,
                      "text": f"{100 * coverage:.0f}% of actual weeks lie inside the 90% "
                      "predictive band (a calibrated band holds about 90%)."})  # fmt: skip
    return items


def _sampler_items(diagnostics: dict[str, Any]) -> list[dict[str, Any]]:
    rhat, ess = diagnostics.get("max_rhat"), diagnostics.get("min_ess_bulk")
    divergences = diagnostics.get("divergences")
    if rhat is None:
        return []
    return [
        {"name": "max R-hat", "value": rhat, "ok": rhat < 1.01,
         "text": f"Chains agree (R-hat {rhat:.3f}; below 1.01 is good)." if rhat < 1.01
         else f"Chains disagree (R-hat {rhat:.3f}; should be below 1.01)."},
        {"name": "min bulk ESS", "value": ess, "ok": ess is not None and ess >= 400,
         "text": f"At least {ess:.0f} effectively independent draws per quantity "
         "(400 or more is good)."},
        {"name": "divergences", "value": divergences, "ok": not divergences,
         "text": "No divergent transitions." if not divergences
         else f"{divergences} divergent transition(s): parts of the posterior were not explored."},
    ]  # fmt: skip


_FIT_HEADLINES = {
    "poor": (
        "bad",
        "The sampler converged, but the model does not fit the data well: the intervals "
        "cannot be trusted; see the fit check and the residuals below.",
    ),
    "fair": (
        "fit",
        "The sampler converged, but the model fits the data only fairly: read the intervals "
        "as approximate; see the fit check below.",
    ),
    "good": (
        "ok",
        "The sampler converged and the model fits the data: the intervals can be trusted "
        "as posteriors.",
    ),
}


def _headline(method: str, converged: bool | None, fit_level: str | None) -> tuple[str, str]:
    """Whether the intervals can be trusted: ``(state, text)``; trust needs both a converged
    sampler and a model that fits (``fit_level`` from ``diagnostics["model_fit"]``; runs
    saved before it keep the convergence-only sentence)."""
    if method == "approximate":
        return "approximate", (
            "Approximate fit (Laplace): quick, but without convergence checks. Refit with "
            "`margin mmm fit --method nuts` before acting on these intervals."
        )
    if not converged:
        return "bad", (
            "The sampler did NOT converge: treat every number as provisional. Refit with more "
            "warm-up and draws (--warmup 1000 --draws 1000), or simplify the model."
        )
    if fit_level in _FIT_HEADLINES:
        return _FIT_HEADLINES[fit_level]
    return "ok", "The sampler converged: the intervals can be trusted as posteriors."


def fit_view(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The fit check: verdict and the actual-vs-fitted and residual charts' data.

    ``None`` for runs saved before ``diagnostics["model_fit"]``. Labels are the run's
    dates (the fitted weeks), then ``holdout 1``, ``holdout 2``, …; residuals are actual
    minus the predictive mean (national, summed over geos).
    """
    model_fit = summary["diagnostics"].get("model_fit")
    if not model_fit:
        return None
    series = model_fit["series"]
    n_holdout = int(series.get("holdout_weeks", 0))
    n_fitted = len(series["actual"]) - n_holdout
    dates = summary.get("dates")
    fitted = (
        list(dates)
        if isinstance(dates, list) and len(dates) == n_fitted
        else [f"week {w + 1}" for w in range(n_fitted)]
    )
    residuals = [a - m for a, m in zip(series["actual"], series["mean"], strict=True)]
    return {
        "level": model_fit["level"],
        "text": model_fit["text"],
        "reasons": list(model_fit.get("reasons", [])),
        "ppc_p_value": model_fit.get("ppc_p_value"),
        "labels": fitted + [f"holdout {k + 1}" for k in range(n_holdout)],
        "actual": list(series["actual"]),
        "mean": list(series["mean"]),
        "p05": list(series["p05"]),
        "p95": list(series["p95"]),
        "residuals": residuals,
        "holdout_weeks": n_holdout,
    }


def health_view(summary: dict[str, Any]) -> dict[str, Any]:
    """Model health in plain words: convergence and fit (with what to do), warnings."""
    diagnostics = summary["diagnostics"]
    method = summary.get("method", diagnostics.get("method", "nuts"))
    converged = diagnostics.get("converged")
    fit = fit_view(summary)
    state, text = _headline(method, converged, None if fit is None else fit["level"])
    if (diagnostics.get("prior_data_conflict") or {}).get("detected"):
        state = "bad"
        text = (
            "The ROI prior fights the data (see the first warning): do not trust these "
            "numbers until spend's units or [priors.roi] are fixed."
        )
    items = _sampler_items(diagnostics) + _fit_items(diagnostics)
    return {
        "method": method,
        "converged": converged,
        "state": state,
        "headline": text,
        "checks": items,
        "fit": fit,
        "warnings": list(diagnostics.get("warnings", [])),
        "fit_seconds": (summary.get("fit") or {}).get("seconds"),
        "priors": _priors_view(summary.get("priors")),
    }


def _priors_view(priors: dict[str, dict[str, dict[str, Any]]] | None) -> dict[str, Any] | None:
    """The priors the spec set (those that differ from margin's defaults), in words.

    ``None`` for runs saved before ``summary.json`` listed its priors."""
    if priors is None:
        return None
    from margin.mmm.config import DEFAULT_SHAPE_PRIORS, RoiPrior

    rows = []
    for channel, sites in priors.items():
        for site, prior in sites.items():
            default = (RoiPrior() if site == "roi" else DEFAULT_SHAPE_PRIORS[site]).to_json()
            if prior == default:
                continue
            if prior["distribution"] == "beta":
                words = f"Beta with mean {prior['mean']:.3g} and sd {prior['sd']:.3g}"
            else:
                words = (
                    f"log-normal with median {prior['median']:.3g} and log-sd {prior['sigma']:.3g}"
                )
            rows.append({"channel": channel, "parameter": site.replace("_", " "), "prior": words})
    return {"set": rows}


def data_quality_view(report: dict[str, Any]) -> dict[str, Any]:
    """The data-quality report (``Report.to_dict()`` body) with a one-line verdict."""
    n_errors, n_warnings = int(report["n_errors"]), int(report["n_warnings"])
    n_rules = len(report.get("rules_checked", []))
    if n_errors:
        headline = f"{n_errors} error(s) in the data: fix them before trusting the model."
    elif n_warnings:
        headline = f"No errors; {n_warnings} warning(s) worth a look."
    else:
        headline = f"All {n_rules} data-quality rules passed."
    findings = [
        {
            key: f.get(key)
            for key in ("severity", "rule", "table", "column", "message", "fix", "n_rows")
        }
        for f in report["findings"]
    ]
    return {
        "ok": bool(report["ok"]),
        "n_errors": n_errors,
        "n_warnings": n_warnings,
        "n_info": int(report.get("n_info", 0)),
        "n_rules": n_rules,
        "headline": headline,
        "findings": findings,
    }


def _meta(summary: dict[str, Any], currency: str | None) -> dict[str, Any]:
    run = summary["run"]
    return {
        "run_id": run.get("id"),
        "created": minute(run.get("created")) if run.get("created") else None,
        "status": run.get("status"),
        "code_version": run.get("code_version"),
        "seed": run.get("seed"),
        "method": summary.get("method"),
        "kpi_name": summary["kpi"]["name"],
        "kpi_type": summary["kpi"]["type"],
        "currency": currency,
        "currency_symbol": currency_symbol(currency),
        "channels": list(summary["channels_order"]),
    }


def build_view(
    summary: dict[str, Any],
    *,
    curves: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
    data_quality: dict[str, Any] | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """The report's whole view-model (module docstring) from already-read documents.

    Args:
        summary: ``summary.json`` of an MMM run.
        curves: ``curves.json`` of the run, when written.
        plan: a ``plan.json`` body made from this run.
        data_quality: ``Report.to_dict()`` of the workspace's data-quality check.
        currency: ISO code money is in (default: the summary's ``currency``, else none).
    """
    currency = currency or summary.get("currency")
    meta = _meta(summary, currency)
    symbol = meta["currency_symbol"]
    units = units_of(summary, currency)
    rows = channel_rows(summary, symbol)
    for row in rows:
        row["contribution_text"] = kpi_text(row["contribution"], units)
    plan_body = None
    if plan is not None:
        plan_body = plan_view(plan, units)
    return {
        "meta": meta,
        "units": units,
        "summary": _summary_view(summary, rows, symbol),
        "channels": rows,
        "plan": plan_body,
        "waterfall": waterfall_view(summary),
        "over_time": over_time_view(summary),
        "curves": None if curves is None else _curves_view(curves, plan),
        "health": health_view(summary),
        "data_quality": None if data_quality is None else data_quality_view(data_quality),
        "breakdown": decomposition_view(summary),
        "geos": geos_view(summary),
    }
