"""From a :class:`MarketingData` panel to the scaled arrays the model sees.

Scaling (fixed on the fitting window, reused for prediction):

- ``kpi_scale`` ``m``: the mean national weekly KPI (mean over weeks of the sum over
  geos). The model sees ``y[g, t] = kpi[g, t] / m``.
- geo share ``s_g``: population share, or each geo's share of the KPI when no
  population is given (1 for national data). Baseline and media are modelled per
  head in "national-equivalent" units: ``y[g, t] ≈ s_g · (baseline + media)``.
- ``spend_scale[c]``: the mean national weekly spend of channel ``c``; the model
  sees ``x[g, t, c] = spend[g, t, c] / s_g / spend_scale[c]`` (≈ 1 in an average week).
- controls are standardised (mean 0, sd 1 over geos and weeks; constant ones stay 0).
- ``value[g, t]``: currency per KPI unit (1 for revenue; ``revenue_per_kpi`` for
  conversions, else 1 with a warning from the estimator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import numpy as np
import numpy.typing as npt
from jax import Array

from margin.data.panel.marketing_data import MarketingData
from margin.errors import DataValidationError
from margin.types import FloatArray

__all__ = ["ModelInputs", "Scaling", "fit_scaling", "model_inputs"]

WEEKS_PER_YEAR = 365.25 / 7


class ModelInputs(NamedTuple):
    """Scaled arrays (float32, see :func:`model_inputs`).

    Attributes:
        media: ``(n_geos, n_times, n_channels)`` spend per head over spend_scale.
        y: ``(n_geos, n_times)`` KPI over kpi_scale.
        controls: ``(n_geos, n_times, n_controls)`` standardised.
        share: ``(n_geos,)`` geo share.
        trend: ``(n_times,)`` years since the first fitted week.
        season: ``(n_times, 2 * fourier_terms)`` yearly Fourier terms.
        value: ``(n_geos, n_times)`` currency per KPI unit.
        spend_total: ``(n_channels,)`` spend over the weeks, divided by kpi_scale.
    """

    media: Array
    y: Array
    controls: Array
    share: Array
    trend: Array
    season: Array
    value: Array
    spend_total: Array


@dataclass(frozen=True, eq=False)
class Scaling:
    """Constants fixed on the fitting window (see the module docstring)."""

    kpi_scale: float
    share: FloatArray
    spend_scale: FloatArray
    control_mean: FloatArray
    control_sd: FloatArray
    first_date: np.datetime64
    fourier_terms: int


def _geo_share(data: MarketingData) -> FloatArray:
    if data.population is not None:
        weights = np.asarray(data.population, dtype=np.float64)
    else:
        weights = data.kpi.mean(axis=1)
    if np.any(weights <= 0):
        bad = [g for g, w in zip(data.geos, weights, strict=True) if w <= 0]
        raise DataValidationError(
            f"geo(s) {bad} have a mean KPI of 0 and no population; give a population column "
            "or drop these geos"
        )
    share: FloatArray = weights / weights.sum()
    return share


def fit_scaling(data: MarketingData, fourier_terms: int) -> Scaling:
    """Scaling constants from the fitting window ``data``.

    Raises:
        DataValidationError: the KPI sums to 0 or less, or a channel has no spend at all.
    """
    kpi_scale = float(data.kpi.sum(axis=0).mean())
    if not kpi_scale > 0:
        raise DataValidationError(
            f"the KPI {data.kpi_name!r} has mean {kpi_scale} over the fitting weeks; an MMM "
            "needs a positive KPI"
        )
    spend_scale = data.spend.sum(axis=0).mean(axis=0)
    empty = [c for c, s in zip(data.channels, spend_scale, strict=True) if not s > 0]
    if empty:
        raise DataValidationError(
            f"channel(s) {empty} have no spend in the fitting weeks "
            f"({data.dates[0]} to {data.dates[-1]}); drop them from data.media"
        )
    n_controls = data.controls.shape[2]
    controls = data.controls.reshape(data.controls.shape[0] * data.controls.shape[1], n_controls)
    mean = controls.mean(axis=0) if controls.size else np.zeros(0)
    sd = controls.std(axis=0) if controls.size else np.zeros(0)
    return Scaling(
        kpi_scale=kpi_scale,
        share=_geo_share(data),
        spend_scale=spend_scale,
        control_mean=mean,
        control_sd=np.where(sd > 0, sd, 1.0),
        first_date=data.dates[0],
        fourier_terms=fourier_terms,
    )


def fourier_terms(dates: npt.NDArray[np.datetime64], n_terms: int) -> FloatArray:
    """``(n_times, 2 n_terms)``: ``cos(kθ), sin(kθ)`` with θ the angle in a 365.25-day year."""
    days = dates.astype("datetime64[D]").astype(np.int64).astype(np.float64)
    theta = 2 * np.pi * days / 365.25
    k = np.arange(1, n_terms + 1)
    terms = np.concatenate([np.cos(theta[:, None] * k), np.sin(theta[:, None] * k)], axis=1)
    return terms.reshape(len(dates), 2 * n_terms)


def value_per_kpi(data: MarketingData) -> FloatArray:
    """``(n_geos, n_times)`` currency per KPI unit (1 when not known)."""
    if data.kpi_type == "conversions" and data.revenue_per_kpi is not None:
        return np.asarray(data.revenue_per_kpi, dtype=np.float64)
    return np.ones_like(data.kpi)


def model_inputs(data: MarketingData, scaling: Scaling) -> ModelInputs:
    """Scale ``data`` (any weeks, e.g. fitting window plus holdout) with ``scaling``.

    float32 is deliberate: every scaled array is O(1), float32 keeps ~7 significant digits,
    which is far below the posterior's spread, and halves memory and time on CPU.
    """
    share = scaling.share
    media = data.spend / share[:, None, None] / scaling.spend_scale
    controls = (data.controls - scaling.control_mean) / scaling.control_sd
    years = (data.dates - scaling.first_date).astype(np.int64) / 365.25
    arrays = (
        media,
        data.kpi / scaling.kpi_scale,
        controls,
        share,
        years,
        fourier_terms(data.dates, scaling.fourier_terms),
        value_per_kpi(data),
        data.spend.sum(axis=(0, 1)) / scaling.kpi_scale,
    )
    # Cast in numpy and device_put: jnp.asarray compiles a small program per array.
    return ModelInputs(*(jax.device_put(np.asarray(a, dtype=np.float32)) for a in arrays))
