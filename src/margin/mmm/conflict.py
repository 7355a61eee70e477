"""Prior–data conflict: a fit that "converged" while the ROI prior fought the data.

The classic case is spend in other units than the KPI (spend 0–1 a week, sales ≈ 5,000):
the default ROI prior (median ≈ 1.2) then says media can explain at most a sliver of the
KPI, the posterior agrees with the prior, the fit is poor, and nothing else complains.
Three checks, each on the fitted window's own data and inputs:

- **prior scale** (before fitting, :func:`prior_reason`): the media share the ROI prior
  medians imply (ROI × spend over the KPI's revenue) is below :data:`MIN_PRIOR_SHARE` or
  above :data:`MAX_PRIOR_SHARE`: the prior is orders of magnitude off the data's scale;
- **media share** (:func:`share_reason`): media explain less than :data:`MIN_MEDIA_SHARE`
  of the predicted KPI, implausibly little for channels someone pays for;
- **fit gap** (:func:`fit_reason`): an unconstrained linear regression of the national
  KPI on the model's baseline terms (intercept, trend, seasonality, controls) plus spend
  (this week's and last week's) gains at least :data:`MIN_MEDIA_GAIN` of R² from spend,
  and the model's R² falls short of it by more than :data:`MAX_SHORTFALL` of that gain:
  the data want media and the prior would not let them.

Any of them makes :attr:`PriorDataConflict.detected`; :meth:`PriorDataConflict.message`
is the loud warning with the fix (rescale spend, or set ``[priors.roi]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from margin.data.panel.marketing_data import MarketingData
from margin.mmm.inputs import ModelInputs, value_per_kpi
from margin.types import FloatArray

__all__ = [
    "MAX_PRIOR_SHARE",
    "MAX_SHORTFALL",
    "MIN_MEDIA_GAIN",
    "MIN_MEDIA_SHARE",
    "MIN_PRIOR_SHARE",
    "PriorDataConflict",
    "check_conflict",
    "fit_reason",
    "prior_check",
    "prior_reason",
    "prior_share",
    "regression_r2",
    "share_reason",
]

MIN_PRIOR_SHARE = 0.002
"""Media share of the KPI the ROI prior medians imply, below which the prior is off scale
(0.2%: a prior that expects media to move a fifth of a percent of sales)."""
MAX_PRIOR_SHARE = 1.0
"""… and above which (media would explain more than the whole KPI)."""
MIN_MEDIA_SHARE = 0.005
"""Fitted media share of the predicted KPI below which media look switched off (0.5%)."""
MIN_MEDIA_GAIN = 0.1
"""R² a linear regression gains from spend before a fit gap counts."""
MAX_SHORTFALL = 0.5
"""Fraction of that gain the model may miss (its R² below the regression's with spend)."""
_TARGET_SHARE = 0.2
"""A typical media share, to suggest a rescaling factor (a power of ten)."""


@dataclass(frozen=True)
class PriorDataConflict:
    """The checks' numbers and the reasons found (none: no conflict).

    Attributes:
        prior_share: media share of the KPI the ROI prior medians imply.
        media_share: the fit's media share of the predicted KPI (posterior mean).
        r2_model: the model's R² on the national weekly KPI (posterior mean prediction).
        r2_baseline, r2_with_media: adjusted R² of the linear regression without and
            with spend (NaN when there are too few weeks).
        median_spend, median_kpi: median weekly national spend (all channels) and KPI.
        reasons: one plain sentence per failed check.
    """

    prior_share: float
    media_share: float
    r2_model: float
    r2_baseline: float
    r2_with_media: float
    median_spend: float
    median_kpi: float
    reasons: tuple[str, ...]

    @property
    def detected(self) -> bool:
        """Whether any check failed."""
        return bool(self.reasons)

    def message(self) -> str:
        """The loud warning: what was found, then the fix."""
        found = "; ".join(self.reasons)
        if self.prior_share > MAX_PRIOR_SHARE:
            fix = (
                "is the KPI in other units than spend (e.g. conversions without "
                "revenue_per_kpi)? set revenue_per_kpi or [priors.roi] in the spec"
            )
        else:
            factor = _factor(self.prior_share)
            times = f"multiply it by {factor:,}" if factor > 1 else "rescale it"
            fix = (
                f"spend looks like it is in other units than the KPI (median weekly spend "
                f"{self.median_spend:,.4g} vs KPI {self.median_kpi:,.4g}): if spend is in "
                f"thousands or is an index, {times} before importing; or set [priors.roi] "
                "in the spec to the ROI you expect (e.g. x1 = [median, sigma])"
            )
        return f"PRIOR-DATA CONFLICT: the ROI prior fights the data ({found}). Fix: {fix}"

    def to_json(self) -> dict[str, Any]:
        """``diagnostics["prior_data_conflict"]`` in ``summary.json`` (NaN as ``null``)."""
        numbers = {
            "prior_share": self.prior_share,
            "media_share": self.media_share,
            "r2_model": self.r2_model,
            "r2_baseline": self.r2_baseline,
            "r2_with_media": self.r2_with_media,
            "median_spend": self.median_spend,
            "median_kpi": self.median_kpi,
        }
        clean = {k: (v if math.isfinite(v) else None) for k, v in numbers.items()}
        return {"detected": self.detected, **clean, "reasons": list(self.reasons)}


def _factor(share: float) -> int:
    """The power of ten that brings the prior's media share near :data:`_TARGET_SHARE`."""
    if not share > 0:
        return 1
    return int(10 ** max(0, round(math.log10(_TARGET_SHARE / share))))


def prior_share(roi_medians: FloatArray, spend: FloatArray, revenue: float) -> float:
    """Media share of the KPI's revenue the ROI prior medians imply.

    Args:
        roi_medians: ``(n_channels,)``; spend: ``(n_channels,)`` totals over the window;
        revenue: the KPI's total in currency (KPI × value per KPI).
    """
    implied = float(np.dot(np.asarray(roi_medians, dtype=np.float64), spend))
    return implied / revenue if revenue > 0 else float("nan")


def prior_check(data: MarketingData, roi_medians: FloatArray) -> str | None:
    """Before fitting: the loud warning when the ROI prior is off the data's scale, else
    ``None`` (the prior-scale check alone, on the data; the fit adds the other two)."""
    revenue = float((data.kpi * value_per_kpi(data)).sum())
    share = prior_share(roi_medians, data.spend.sum(axis=(0, 1)), revenue)
    reason = prior_reason(share)
    if reason is None:
        return None
    weekly = data.kpi.sum(axis=0)
    return PriorDataConflict(
        prior_share=share,
        media_share=float("nan"),
        r2_model=float("nan"),
        r2_baseline=float("nan"),
        r2_with_media=float("nan"),
        median_spend=float(np.median(data.spend.sum(axis=(0, 2)))),
        median_kpi=float(np.median(weekly)),
        reasons=(reason,),
    ).message()


def prior_reason(share: float) -> str | None:
    """A sentence when the prior's implied media share is off scale, else ``None``."""
    if not math.isfinite(share):
        return None
    if share < MIN_PRIOR_SHARE:
        return (
            f"at the prior's ROI, media could explain only {share:.3%} of the KPI "
            f"(< {MIN_PRIOR_SHARE:.1%})"
        )
    if share > MAX_PRIOR_SHARE:
        return f"at the prior's ROI, media would explain {share:.0%} of the KPI (> 100%)"
    return None


def share_reason(media_share: float) -> str | None:
    """A sentence when the fitted media share is implausibly small, else ``None``."""
    if math.isfinite(media_share) and media_share < MIN_MEDIA_SHARE:
        return f"the fit gives media {media_share:.3%} of the KPI (< {MIN_MEDIA_SHARE:.1%})"
    return None


def fit_reason(r2_model: float, r2_baseline: float, r2_with_media: float) -> str | None:
    """A sentence when spend explains much in a linear regression but not in the model."""
    if not all(math.isfinite(v) for v in (r2_model, r2_baseline, r2_with_media)):
        return None
    gain = r2_with_media - r2_baseline
    if gain >= MIN_MEDIA_GAIN and r2_with_media - r2_model > MAX_SHORTFALL * gain:
        return (
            f"a linear regression with spend explains R² {r2_with_media:.2f} of the weekly "
            f"KPI ({r2_baseline:.2f} without spend), the model only {r2_model:.2f}"
        )
    return None


def _adjusted_r2(y: FloatArray, x: FloatArray) -> float:
    """Adjusted R² of least squares of ``y`` on ``x`` (an intercept column included)."""
    n, p = int(x.shape[0]), int(x.shape[1])
    total = float(((y - y.mean()) ** 2).sum())
    if n - p <= 0 or total <= 0:
        return float("nan")
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    residual = float(((y - x @ coef) ** 2).sum())
    return 1.0 - (residual / (n - p)) / (total / (n - 1))


def regression_r2(inputs: ModelInputs) -> tuple[float, float]:
    """Adjusted R² of the national weekly KPI on the baseline terms, without and with
    spend (this week's and last week's per channel)."""
    y = np.asarray(inputs.y, dtype=np.float64).sum(axis=0)
    n = y.shape[0]
    controls = np.asarray(inputs.controls, dtype=np.float64).mean(axis=0)
    season = np.asarray(inputs.season, dtype=np.float64).reshape(n, -1)
    trend = np.asarray(inputs.trend, dtype=np.float64)[:, None]
    base = np.hstack([np.ones((n, 1)), trend, season, controls.reshape(n, -1)])
    media = np.asarray(inputs.media, dtype=np.float64).sum(axis=0)
    lagged = np.vstack([media[:1] * 0.0, media[:-1]])
    return _adjusted_r2(y, base), _adjusted_r2(y, np.hstack([base, media, lagged]))


def _r2(observed: FloatArray, predicted: FloatArray) -> float:
    total = float(((observed - observed.mean()) ** 2).sum())
    return 1.0 - float(((observed - predicted) ** 2).sum()) / total if total > 0 else float("nan")


def check_conflict(
    data: MarketingData,
    inputs: ModelInputs,
    roi_medians: FloatArray,
    predicted: FloatArray,
    media_share: float,
) -> PriorDataConflict:
    """Run the three checks on a fit.

    Args:
        data: the fitted window; inputs: its model inputs.
        roi_medians: the ROI prior medians, ``(n_channels,)`` in the panel's order.
        predicted: the expected KPI per draw, ``(n_samples, n_geos, n_times)``.
        media_share: the fit's media share of the predicted KPI (posterior mean).
    """
    value = np.asarray(inputs.value, dtype=np.float64)
    revenue = float((data.kpi * value).sum())
    share = prior_share(roi_medians, data.spend.sum(axis=(0, 1)), revenue)
    weekly_kpi = data.kpi.sum(axis=0)
    r2_model = _r2(weekly_kpi, predicted.mean(axis=0).sum(axis=0))
    r2_baseline, r2_with_media = regression_r2(inputs)
    reasons = [
        reason
        for reason in (
            prior_reason(share),
            share_reason(media_share),
            fit_reason(r2_model, r2_baseline, r2_with_media),
        )
        if reason is not None
    ]
    return PriorDataConflict(
        prior_share=share,
        media_share=media_share,
        r2_model=r2_model,
        r2_baseline=r2_baseline,
        r2_with_media=r2_with_media,
        median_spend=float(np.median(data.spend.sum(axis=(0, 2)))),
        median_kpi=float(np.median(weekly_kpi)),
        reasons=tuple(reasons),
    )
