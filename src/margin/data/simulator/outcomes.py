"""The KPI: expected value (baseline + media), observation noise, and the truth helpers.

Every truth number is computed from the noise-free :func:`expected_kpi` by rerunning it
on a counterfactual spend plan, so carry-over and saturation are always included.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from margin.data.simulator.media import Drift, media_effects
from margin.data.simulator.params import WorldParams
from margin.data.simulator.plan import seasonality, years_elapsed
from margin.errors import ConfigError
from margin.types import FloatArray

__all__ = [
    "MROI_STEP",
    "baseline",
    "channel_contributions",
    "expected_kpi",
    "marginal_roi",
    "noise_sd",
    "observe_kpi",
    "true_lift",
]

MROI_STEP = 0.01
"""The relative spend increase behind mROI: ``(KPI(spend_c × 1.01) − KPI) / (0.01 spend_c)``."""

_MAX_REDRAWS = 100


def baseline(params: WorldParams, price: FloatArray, holiday: FloatArray) -> FloatArray:
    """The KPI without media, in KPI units, ``(n_geos, n_times)``.

    ``intercept · s_g · [(1 + trend · years_t)(1 + seasonality_t) + holiday_effect · holiday_gt
    + price_coefficient · (price_gt − reference_price)] / kpi_value``.

    Args:
        params: the world's parameters.
        price: price index, ``(n_geos, n_times)``.
        holiday: holiday flag, ``(n_geos, n_times)``.
    """
    share = np.asarray(params.population_share)[:, None]
    trend = (1 + params.trend_per_year * years_elapsed(params)) * (1 + seasonality(params))
    level = (
        trend[None, :]
        + params.holiday_effect * holiday
        + params.price_coefficient * (price - params.reference_price)
    )
    result: FloatArray = params.intercept * share * level / params.kpi_value
    return result


def expected_kpi(
    spend: FloatArray,
    price: FloatArray,
    holiday: FloatArray,
    params: WorldParams,
    drift: Drift | None = None,
) -> FloatArray:
    """Noise-free KPI: baseline plus every channel's media effect, ``(n_geos, n_times)``.

    Args:
        spend: ``(n_geos, n_times, n_channels)``, currency units.
        price, holiday: ``(n_geos, n_times)``.
        params: the world's parameters.
        drift: time-varying multipliers of beta, K and the baseline (default: none).
    """
    base = baseline(params, price, holiday)
    if drift is not None and drift.baseline is not None:
        base = base * drift.baseline
    total: FloatArray = base + media_effects(spend, params, drift).sum(axis=2)
    return total


def channel_contributions(
    spend: FloatArray, price: FloatArray, holiday: FloatArray, params: WorldParams
) -> FloatArray:
    """``KPI(actual) − KPI(channel c zero in every week)`` summed over weeks, KPI units.

    Returns:
        Shape ``(n_geos, n_channels)``; sum over geos for the channel's contribution.
    """
    actual = expected_kpi(spend, price, holiday, params)
    out = np.empty((spend.shape[0], spend.shape[2]))
    for c in range(spend.shape[2]):
        counterfactual = spend.copy()
        counterfactual[:, :, c] = 0.0
        out[:, c] = (actual - expected_kpi(counterfactual, price, holiday, params)).sum(axis=1)
    return out


def marginal_roi(
    spend: FloatArray, price: FloatArray, holiday: FloatArray, params: WorldParams
) -> FloatArray:
    """Marginal ROI per channel: ``(KPI(spend_c × 1.01) − KPI) · value / (0.01 · spend_c)``.

    Sums over geos and weeks. Shape ``(n_channels,)``; NaN for a channel with no spend.
    """
    actual = expected_kpi(spend, price, holiday, params).sum()
    out = np.full(spend.shape[2], np.nan)
    for c in range(spend.shape[2]):
        total = spend[:, :, c].sum()
        if total > 0:
            bumped = spend.copy()
            bumped[:, :, c] *= 1 + MROI_STEP
            gain = expected_kpi(bumped, price, holiday, params).sum() - actual
            out[c] = gain * params.kpi_value / (MROI_STEP * total)
    return out


def true_lift(
    spend: FloatArray,
    counterfactual: FloatArray,
    price: FloatArray,
    holiday: FloatArray,
    params: WorldParams,
    geos: npt.NDArray[np.bool_],
    weeks: slice,
) -> float:
    """``Σ KPI(spend) − KPI(counterfactual)`` over the geos mask ``(n_geos,)`` and weeks."""
    difference = expected_kpi(spend, price, holiday, params) - expected_kpi(
        counterfactual, price, holiday, params
    )
    return float(difference[geos, weeks].sum())


def noise_sd(params: WorldParams) -> FloatArray:
    """Observation noise sd per geo in KPI units, ``noise_cv · intercept · s_g / kpi_value``."""
    share = np.asarray(params.population_share)
    sd: FloatArray = params.noise_cv * params.intercept * share / params.kpi_value
    return sd


def observe_kpi(expected: FloatArray, params: WorldParams, rng: np.random.Generator) -> FloatArray:
    """Observed KPI: expected plus Normal noise truncated to positive values.

    A non-positive draw (vanishingly rare with sensible parameters) is redrawn. Revenue is
    rounded to cents, conversions to whole conversions (at least 1).

    Returns:
        Shape ``(n_geos, n_times)``.
    """
    if np.any(expected <= 0):
        g, t = np.argwhere(expected <= 0)[0]
        raise ConfigError(
            f"WorldParams give a non-positive expected KPI ({expected[g, t]:.4g}) in geo "
            f"{params.geos[g]!r}, week {t}; weaken price_coefficient, seasonality or trend."
        )
    sd = noise_sd(params)[:, None]
    observed = expected + sd * rng.standard_normal(expected.shape)
    for _ in range(_MAX_REDRAWS):
        bad = observed <= 0
        if not bad.any():
            break
        observed[bad] = (expected + sd * rng.standard_normal(expected.shape))[bad]
    else:
        raise ConfigError("WorldParams.noise_cv is too large for a positive KPI; lower it.")
    if params.kpi_type == "conversions":
        return np.maximum(np.round(observed), 1.0)
    rounded: FloatArray = np.round(observed, 2)
    return rounded
