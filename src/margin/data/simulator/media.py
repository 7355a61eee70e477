"""The true media response: normalised geometric adstock, then Hill saturation.

Pure numpy functions on arrays ordered ``(n_geos, n_times, n_channels)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from margin.data.simulator.params import WorldParams
from margin.errors import ConfigError
from margin.types import FloatArray

__all__ = [
    "Drift",
    "FloatArray",
    "adstock_weights",
    "geometric_adstock",
    "hill",
    "media_effects",
]


@dataclass(frozen=True, eq=False)
class Drift:
    """Time-varying multipliers of the true parameters (1 = no drift; ``None`` = none at all).

    ``beta`` scales each channel's effect and ``half_saturation`` its K, both
    ``(n_times, n_channels)``; ``baseline`` scales the KPI without media, ``(n_times,)``.
    The time axis is the spend's (used by the stepping world, :mod:`.stepping_drift`).
    """

    beta: FloatArray | None = None
    half_saturation: FloatArray | None = None
    baseline: FloatArray | None = None


def adstock_weights(
    decay: float | Sequence[float] | FloatArray, max_lag: int | Sequence[int]
) -> FloatArray:
    """Normalised geometric weights ``w[l, c] = a_c^l / Σ_{k<L_c} a_c^k`` for ``l < L_c``.

    Args:
        decay: one decay ``a`` in [0, 1), or one per channel, shape ``(n_channels,)``.
        max_lag: the number of weights ``L`` (lags 0..L-1), one or one per channel.

    Returns:
        Shape ``(max(L), n_channels)``; each column sums to 1 and is zero past its own L.
    """
    decays = np.atleast_1d(np.asarray(decay, dtype=np.float64))
    lags = np.atleast_1d(np.asarray(max_lag))
    if decays.ndim != 1 or lags.ndim != 1:
        raise ConfigError("adstock decay and max_lag must be scalars or 1-d per-channel sequences.")
    n = max(decays.size, lags.size)
    if decays.size not in (1, n) or lags.size not in (1, n):
        raise ConfigError(
            f"adstock got {decays.size} decays and {lags.size} max_lags; pass one of each or one per channel."
        )
    if np.any((decays < 0) | (decays >= 1)) or not np.all(np.isfinite(decays)):
        raise ConfigError(f"adstock decay must lie in [0, 1); received {decays.tolist()}.")
    if not np.issubdtype(lags.dtype, np.integer) or np.any(lags < 1):
        raise ConfigError(f"adstock max_lag must be integers >= 1; received {lags.tolist()}.")
    decays = np.broadcast_to(decays, (n,))
    lags = np.broadcast_to(lags, (n,))
    lag = np.arange(int(lags.max()))[:, None]
    raw = np.where(lag < lags[None, :], decays[None, :] ** lag, 0.0)
    weights: FloatArray = raw / raw.sum(axis=0, keepdims=True)
    return weights


def geometric_adstock(
    x: FloatArray, decay: float | Sequence[float] | FloatArray, max_lag: int | Sequence[int]
) -> FloatArray:
    """Carry spend over time: ``y[g, t, c] = Σ_{l<L_c} w[l, c] · x[g, t-l, c]``.

    Spend before the first week is taken as zero. Because the weights sum to one, the
    total mass of ``x`` is preserved once the series is followed ``L - 1`` weeks past its
    last non-zero value. ``decay = 0`` is the identity.

    Args:
        x: spend, shape ``(n_geos, n_times, n_channels)``.
        decay: geometric decay, scalar or shape ``(n_channels,)``.
        max_lag: number of weights (lags 0..L-1), scalar or one per channel.

    Returns:
        Adstocked spend, shape ``(n_geos, n_times, n_channels)``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ConfigError(
            f"geometric_adstock expects (n_geos, n_times, n_channels); got shape {x.shape}."
        )
    weights = adstock_weights(decay, max_lag)
    if weights.shape[1] not in (1, x.shape[2]):
        raise ConfigError(
            f"geometric_adstock got {weights.shape[1]} channel decays for {x.shape[2]} channels."
        )
    n_times = x.shape[1]
    out = np.zeros_like(x)
    for lag in range(min(weights.shape[0], n_times)):
        out[:, lag:, :] += weights[lag] * x[:, : n_times - lag, :]
    return out


def hill(
    x: FloatArray | float, half_saturation: FloatArray | float, slope: FloatArray | float
) -> FloatArray:
    """Hill saturation ``x^s / (x^s + K^s)`` for ``x >= 0``; equals 0.5 at ``x = K``.

    Broadcasts ``half_saturation`` (K > 0) and ``slope`` (s > 0) against ``x``, e.g. per
    channel over the last axis of ``(n_geos, n_times, n_channels)``.
    """
    xs = np.power(np.asarray(x, dtype=np.float64), slope)
    result: FloatArray = xs / (xs + np.power(half_saturation, slope))
    return result


def media_effects(spend: FloatArray, params: WorldParams, drift: Drift | None = None) -> FloatArray:
    """Each channel's true effect on the KPI, in KPI units.

    ``effect[g, t, c] = beta_c · s_g · hill(adstock(spend)[g, t, c] / s_g; K_c, slope_c)``
    divided by the KPI's unit value, where ``s_g`` is the geo's population share (so K
    and beta are national-equivalent and a geo's saturation depends on spend per head).

    Args:
        spend: shape ``(n_geos, n_times, n_channels)``, currency units.
        params: the world's parameters (channels in the same order as the last axis).
        drift: time-varying multipliers of beta and K (``(n_times, n_channels)`` each).

    Returns:
        Shape ``(n_geos, n_times, n_channels)``.
    """
    channels = params.channels
    share = np.asarray(params.population_share)[:, None, None]
    adstocked = geometric_adstock(spend, [c.decay for c in channels], [c.max_lag for c in channels])
    half = np.array([c.half_saturation for c in channels])
    slope = np.array([c.slope for c in channels])
    beta = np.array([c.beta for c in channels])
    if drift is not None and drift.half_saturation is not None:
        half = half * drift.half_saturation
    if drift is not None and drift.beta is not None:
        beta = beta * drift.beta
    effects: FloatArray = beta * share * hill(adstocked / share, half, slope) / params.kpi_value
    return effects
