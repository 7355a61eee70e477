"""Model fit, not convergence: how well the posterior predictive reproduces the KPI.

A sampler can converge on a model that misses half the weeks. This module turns the fit
numbers (R², MAPE and the share of weeks inside the 90% predictive band, in sample and on
the time holdout, and a posterior predictive p-value) into one verdict in plain words,
with explicit thresholds, and builds the national weekly series the actual-vs-fitted and
residual charts draw. Pure numpy; :meth:`MarketingMixModel.fit` stores
:func:`model_fit`'s JSON under ``diagnostics["model_fit"]`` of ``summary.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from margin.types import FloatArray, quantiles

__all__ = [
    "FAIR_COVERAGE",
    "GOOD_COVERAGE",
    "GOOD_MAPE",
    "GOOD_R2",
    "HOLDOUT_GOOD_MAPE",
    "POOR_MAPE",
    "POOR_R2",
    "FitVerdict",
    "Level",
    "fit_verdict",
    "model_fit",
    "national_series",
    "ppc_p_value",
]

Level = Literal["good", "fair", "poor", "unknown"]

GOOD_R2 = 0.8
"""In-sample R² at or above this (with the MAPE and coverage below) is a good fit."""
GOOD_MAPE = 0.10
"""In-sample MAPE at or below this is good."""
HOLDOUT_GOOD_MAPE = 0.15
"""Holdout MAPE at or below this is good (weeks the model did not see are harder)."""
GOOD_COVERAGE = (0.80, 0.98)
"""Share of weeks inside the 90% predictive band for a calibrated band (ends included)."""
POOR_R2 = 0.5
"""In-sample R² below this is a poor fit (holdout R² below 0: worse than the mean)."""
POOR_MAPE = 0.25
"""MAPE above this (in sample or on the holdout) is a poor fit."""
FAIR_COVERAGE = 0.60
"""Band coverage below this: the band is far too narrow, a poor fit."""
PPC_TAIL = 0.01
"""A posterior predictive p-value below this or above ``1 - PPC_TAIL`` is a misfit."""

_ADVICE = {
    "good": "",
    "fair": ("read the intervals as approximate and look at the residuals for the weeks it misses"),
    "poor": (
        "the intervals understate the uncertainty; look at the residuals for what the model "
        "misses (holidays, promotions, a trend, a control variable) and check the units of "
        "spend and KPI (and [priors.roi]) before acting on these numbers"
    ),
}


@dataclass(frozen=True)
class FitVerdict:
    """The fit in words: ``level`` (good, fair, poor, unknown), ``text`` and its reasons."""

    level: Level
    text: str
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"level", "text", "reasons"}``."""
        return {"level": self.level, "text": self.text, "reasons": list(self.reasons)}


def _number(metrics: Mapping[str, Any] | None, key: str) -> float | None:
    value = None if metrics is None else metrics.get(key)
    return float(value) if value is not None and math.isfinite(value) else None


def _grade(
    metrics: Mapping[str, Any], where: str, good: tuple[float, float, float], poor_r2: float
) -> tuple[Level, list[str]]:
    """One window's level and the reasons that set it; ``good`` is (R² at least, MAPE
    at most, band coverage at most) for a good fit, ``poor_r2`` the R² below which it is
    poor."""
    good_r2, good_mape, high = good
    r2, mape = _number(metrics, "r2"), _number(metrics, "mape")
    coverage = _number(metrics, "coverage_90")
    poor, fair = [], []
    if r2 is not None and r2 < poor_r2:
        poor.append(f"{where} R² {r2:.2f} < {poor_r2:g}")
    elif r2 is not None and r2 < good_r2:
        fair.append(f"{where} R² {r2:.2f} < {good_r2:g}")
    if mape is not None and mape > POOR_MAPE:
        poor.append(f"{where} MAPE {mape:.1%} > {POOR_MAPE:.0%}")
    elif mape is not None and mape > good_mape:
        fair.append(f"{where} MAPE {mape:.1%} > {good_mape:.0%}")
    low = GOOD_COVERAGE[0]
    if coverage is not None and coverage < FAIR_COVERAGE:
        poor.append(f"{where} only {coverage:.0%} of weeks inside the 90% band")
    elif coverage is not None and not low <= coverage <= high:
        fair.append(f"{where} {coverage:.0%} of weeks inside the 90% band (calibrated: ~90%)")
    if poor:
        return "poor", poor + fair
    return ("fair" if fair else "good"), fair


def fit_verdict(
    in_sample: Mapping[str, Any] | None,
    holdout: Mapping[str, Any] | None = None,
    ppc_p_value: float | None = None,
) -> FitVerdict:
    """The fit's verdict from its numbers; the worst window decides.

    Good: in-sample R² ≥ :data:`GOOD_R2`, MAPE ≤ :data:`GOOD_MAPE`, band coverage within
    :data:`GOOD_COVERAGE`; holdout MAPE ≤ :data:`HOLDOUT_GOOD_MAPE`, R² ≥ :data:`POOR_R2`,
    coverage ≥ the same lower end (a few held-out weeks all inside the band is no sign of
    a band too wide). Poor: R² < :data:`POOR_R2` in sample (< 0 on the holdout), MAPE >
    :data:`POOR_MAPE` or coverage < :data:`FAIR_COVERAGE`. Fair: in between, or a
    posterior predictive p-value in the outer :data:`PPC_TAIL`. Unknown: no in-sample
    numbers.

    Args:
        in_sample, holdout: ``{"r2", "mape", "coverage_90"}`` as
            :func:`margin.mmm.diagnostics.fit_quality` returns (holdout ``None`` if none).
        ppc_p_value: :func:`ppc_p_value` of the fit, when known.
    """
    if in_sample is None or (
        _number(in_sample, "r2") is None and _number(in_sample, "mape") is None
    ):
        return FitVerdict("unknown", "The fit's numbers are not in this run.", ())
    level, reasons = _grade(in_sample, "in-sample", (GOOD_R2, GOOD_MAPE, GOOD_COVERAGE[1]), POOR_R2)
    if holdout is not None:
        held, more = _grade(holdout, "holdout", (POOR_R2, HOLDOUT_GOOD_MAPE, 1.0), 0.0)
        reasons += more
        if held == "poor" or level == "poor":
            level = "poor"
        elif held == "fair":
            level = "fair"
    if ppc_p_value is not None and not PPC_TAIL <= ppc_p_value <= 1 - PPC_TAIL:
        reasons.append(f"posterior predictive p-value {ppc_p_value:.3f}: the spread of the "
                       "KPI is not one the model reproduces")  # fmt: skip
        level = "poor" if level == "poor" else "fair"
    return FitVerdict(level, _sentence(level, in_sample, holdout), tuple(reasons))


def _sentence(level: Level, in_sample: Mapping[str, Any], holdout: Mapping[str, Any] | None) -> str:
    parts = []
    r2, mape = _number(in_sample, "r2"), _number(in_sample, "mape")
    coverage = _number(in_sample, "coverage_90")
    if r2 is not None:
        parts.append(f"in-sample R² {r2:.2f}")
    if mape is not None:
        parts.append(f"MAPE {mape:.1%}")
    if coverage is not None:
        parts.append(f"{coverage:.0%} of weeks inside the 90% band")
    held_r2, held_mape = _number(holdout, "r2"), _number(holdout, "mape")
    if held_mape is not None:
        parts.append(f"holdout MAPE {held_mape:.1%}")
    if held_r2 is not None:
        parts.append(f"holdout R² {held_r2:.2f}")
    numbers = f" ({', '.join(parts)})" if parts else ""
    head = {
        "good": "The model fits the data well",
        "fair": "The model fits the data only fairly",
        "poor": "The model does not fit the data well",
    }[level if level != "unknown" else "fair"]
    advice = _ADVICE[level if level != "unknown" else "fair"]
    return f"{head}{numbers}" + (f": {advice}." if advice else ".")


def national_series(observed: FloatArray, predictive: FloatArray) -> dict[str, list[float]]:
    """Weekly national actual, predictive mean and 90% band (summed over geos).

    Args:
        observed: ``(n_geos, n_times)``; predictive: ``(n_samples, n_geos, n_times)``.
    """
    total = predictive.sum(axis=1)  # (n_samples, n_times)
    low, high = quantiles(total, axis=0)
    return {
        "actual": observed.sum(axis=0).tolist(),
        "mean": total.mean(axis=0).tolist(),
        "p05": low.tolist(),
        "p95": high.tolist(),
    }


def ppc_p_value(observed: FloatArray, predictive: FloatArray) -> float:
    """Posterior predictive p-value of the KPI's spread: P(sd of replicated ≥ sd of actual).

    Near 0.5 when the model reproduces the week-to-week (and geo-to-geo) variation; near 0
    or 1 when it cannot. Args as :func:`national_series`.
    """
    actual = float(observed.std())
    replicated = predictive.reshape(predictive.shape[0], -1).std(axis=1)
    return float((replicated >= actual).mean())


def model_fit(
    in_sample: Mapping[str, Any],
    holdout: Mapping[str, Any] | None,
    series: Mapping[str, list[float]],
    holdout_series: Mapping[str, list[float]] | None,
    p_value: float,
) -> dict[str, Any]:
    """``diagnostics["model_fit"]``: the verdict, the p-value and the chart series.

    ``series`` covers the fitted weeks, then the holdout's (``holdout_weeks`` of them).
    """
    verdict = fit_verdict(in_sample, holdout, p_value)
    weeks = {k: list(series[k]) + list((holdout_series or {}).get(k, [])) for k in series}
    n_holdout = len((holdout_series or {}).get("actual", []))
    return {
        **verdict.to_json(),
        "ppc_p_value": p_value,
        "series": {**weeks, "holdout_weeks": n_holdout},
    }
