"""Forecasts of the next N weeks' KPI for a spend plan, and backtests on held-out weeks.

The forecast is the model's baseline plus the media KPI of the plan (carry-over from
history included) per posterior draw. ``expected`` intervals are credible intervals of the
expected KPI; ``predicted`` intervals add the model's observation noise (one Normal draw
per posterior draw, geo and week), so they are where observed KPI should fall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from margin.errors import ConfigError, DataValidationError
from margin.protocols import ResponseModel
from margin.types import FloatArray, quantiles

__all__ = ["Backtest", "Forecast", "backtest", "forecast"]


@dataclass(frozen=True, eq=False)
class Forecast:
    """KPI per geo and week; bands are 90% (5th–95th percentiles over draws).

    Attributes:
        mean: ``(n_geos, n_weeks)`` expected KPI.
        expected_low, expected_high: ``(n_geos, n_weeks)`` credible band of the expected KPI.
        predicted_low, predicted_high: ``(n_geos, n_weeks)`` predictive band (noise added).
        baseline, media: ``(n_geos, n_weeks)`` posterior means of the two parts.
        total_mean, total_low, total_high: ``(n_weeks,)`` all geos together, predictive band.
        horizon_mean, horizon_low, horizon_high: the KPI of every geo and week together,
            predictive band (a sum of weekly bands would be too wide).
    """

    geos: tuple[str, ...]
    mean: FloatArray
    expected_low: FloatArray
    expected_high: FloatArray
    predicted_low: FloatArray
    predicted_high: FloatArray
    baseline: FloatArray
    media: FloatArray
    total_mean: FloatArray
    total_low: FloatArray
    total_high: FloatArray
    horizon_mean: float
    horizon_low: float
    horizon_high: float

    def to_json(self) -> dict[str, Any]:
        return {
            "geos": list(self.geos),
            "total": {
                "mean": self.total_mean.tolist(),
                "p05": self.total_low.tolist(),
                "p95": self.total_high.tolist(),
            },
            "baseline": self.baseline.sum(axis=0).tolist(),
            "media": self.media.sum(axis=0).tolist(),
            "horizon_total": {
                "mean": self.horizon_mean,
                "p05": self.horizon_low,
                "p95": self.horizon_high,
            },
        }


def _check_plan(model: ResponseModel, plan: FloatArray) -> FloatArray:
    plan = np.asarray(plan, dtype=np.float64)
    if plan.ndim != 3 or (plan.shape[0], plan.shape[2]) != (len(model.geos), len(model.channels)):
        raise ConfigError(
            f"plan has shape {plan.shape}; expected (n_geos={len(model.geos)}, n_weeks, "
            f"n_channels={len(model.channels)})."
        )
    if not np.all(np.isfinite(plan)) or np.any(plan < 0):
        raise ConfigError("plan has negative or non-finite spend; fix it.")
    return plan


def forecast(model: ResponseModel, plan: FloatArray, *, seed: int) -> Forecast:
    """Forecast the weeks of ``plan`` (the weeks right after the model's history).

    Args:
        model: the response model (its ``baseline_kpi`` gives trend, seasonality, holidays).
        plan: ``(n_geos, n_weeks, n_channels)`` spend.
        seed: seed of the observation-noise draws.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed = {seed!r}; expected a whole number >= 0")
    plan = _check_plan(model, plan)
    baseline = model.baseline_kpi(plan.shape[1])
    media = model.media_kpi(plan)
    expected = baseline + media
    rng = np.random.default_rng(seed)
    noise = model.observation_sd()[:, :, None] * rng.standard_normal(expected.shape)
    predicted = expected + noise
    e_low, e_high = quantiles(expected, axis=0)
    p_low, p_high = quantiles(predicted, axis=0)
    t_low, t_high = quantiles(predicted.sum(axis=1), axis=0)
    h_low, h_high = quantiles(predicted.sum(axis=(1, 2)), axis=None)
    return Forecast(
        geos=model.geos,
        mean=expected.mean(axis=0),
        expected_low=e_low,
        expected_high=e_high,
        predicted_low=p_low,
        predicted_high=p_high,
        baseline=baseline.mean(axis=0),
        media=media.mean(axis=0),
        total_mean=expected.sum(axis=1).mean(axis=0),
        total_low=t_low,
        total_high=t_high,
        horizon_mean=float(expected.sum(axis=(1, 2)).mean()),
        horizon_low=float(h_low),
        horizon_high=float(h_high),
    )


@dataclass(frozen=True, eq=False)
class Backtest:
    """A forecast of held-out weeks against what happened.

    Attributes:
        forecast: the forecast given the held-out weeks' actual spend.
        actual: ``(n_geos, n_weeks)`` observed KPI.
        coverage: share of geo-weeks inside the 90% predictive band (about 0.9 if calibrated).
        mape: mean absolute percentage error of the weekly all-geo KPI.
        bias: mean of (forecast − actual) / actual of the weekly all-geo KPI.
    """

    forecast: Forecast
    actual: FloatArray
    coverage: float
    mape: float
    bias: float

    def to_json(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage,
            "mape": self.mape,
            "bias": self.bias,
            "actual": self.actual.sum(axis=0).tolist(),
            "forecast": self.forecast.to_json(),
        }


def backtest(model: ResponseModel, spend: FloatArray, actual: FloatArray, *, seed: int) -> Backtest:
    """Score a model fitted up to the held-out weeks on them.

    ``model.history`` must end the week before the held-out weeks (fit the model on the
    earlier weeks only).

    Args:
        model: the response model.
        spend: ``(n_geos, n_weeks, n_channels)`` actual spend in the held-out weeks.
        actual: ``(n_geos, n_weeks)`` observed KPI in them (> 0).
        seed: seed of the noise draws.
    """
    spend = _check_plan(model, spend)
    actual = np.asarray(actual, dtype=np.float64)
    if actual.shape != spend.shape[:2]:
        raise DataValidationError(
            f"actual KPI has shape {actual.shape}; expected (n_geos, n_weeks) = {spend.shape[:2]}."
        )
    if not np.all(np.isfinite(actual)) or np.any(actual <= 0):
        raise DataValidationError("actual KPI must be finite and > 0 in every geo-week.")
    result = forecast(model, spend, seed=seed)
    inside = (actual >= result.predicted_low) & (actual <= result.predicted_high)
    weekly = actual.sum(axis=0)
    error = (result.total_mean - weekly) / weekly
    return Backtest(
        forecast=result,
        actual=actual,
        coverage=float(inside.mean()),
        mape=float(np.abs(error).mean()),
        bias=float(error.mean()),
    )
