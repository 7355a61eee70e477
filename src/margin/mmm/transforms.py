"""Media transforms as pure JAX functions: adstock (carry-over) and saturation.

Every function works on arrays ordered ``(n_geos, n_times, n_channels)`` with one
parameter per channel (shape ``(n_channels,)``, broadcast over the last axis), is
differentiable, and can be ``jit``-compiled (``max_lag`` is static: a Python int).

Adstock weights are normalised to sum to one over lags ``0 .. max_lag - 1`` when
``normalize=True``, so adstock moves spend in time without changing its total; spend
before the first week is taken as zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "STACKED_MAX",
    "apply_lag_weights",
    "delayed_adstock",
    "geometric_adstock",
    "geometric_weights",
    "hill",
    "logistic_saturation",
    "weibull_weights",
]

_TINY = 1e-12
"""Guards divisions and powers of zero (Weibull weights at lag 0, Hill at x = 0)."""


def geometric_weights(decay: ArrayLike, max_lag: int, *, normalize: bool = True) -> Array:
    """Geometric lag weights ``w[l, c] = decay_c ** l`` for ``l < max_lag``.

    Args:
        decay: ``(n_channels,)`` in [0, 1).
        max_lag: number of weights (lags 0 .. max_lag-1), a Python int >= 1.
        normalize: divide each channel's weights by their sum.

    Returns:
        ``(max_lag, n_channels)``.
    """
    decay = jnp.atleast_1d(jnp.asarray(decay))
    lag = jnp.arange(max_lag, dtype=decay.dtype)[:, None]
    weights = jnp.where(lag == 0, 1.0, decay[None, :] ** jnp.maximum(lag, 1.0))
    if normalize:
        weights = weights / weights.sum(axis=0, keepdims=True)
    return weights


def weibull_weights(
    shape: ArrayLike, scale: ArrayLike, max_lag: int, *, normalize: bool = True
) -> Array:
    """Delayed (Weibull-pdf) lag weights, which can peak after lag 0.

    ``w[l, c] = k/λ · (x/λ)^(k-1) · exp(-(x/λ)^k)`` at ``x = l + 1`` (so lag 0 has
    weight), with shape ``k_c > 0`` and scale ``λ_c > 0`` in weeks.

    Args:
        shape, scale: ``(n_channels,)``.
        max_lag: number of weights, a Python int >= 1.
        normalize: divide each channel's weights by their sum.

    Returns:
        ``(max_lag, n_channels)``.
    """
    k = jnp.atleast_1d(jnp.asarray(shape))
    lam = jnp.atleast_1d(jnp.asarray(scale))
    x = jnp.arange(1, max_lag + 1, dtype=k.dtype)[:, None] / lam[None, :]
    weights = (k / lam)[None, :] * x ** (k[None, :] - 1.0) * jnp.exp(-(x ** k[None, :]))
    if normalize:
        weights = weights / jnp.maximum(weights.sum(axis=0, keepdims=True), _TINY)
    return weights


STACKED_MAX = 25_000
"""Largest ``geos × weeks × channels × lags`` that :func:`apply_lag_weights` computes in
one stacked contraction; bigger panels take the loop over lags."""


def apply_lag_weights(x: ArrayLike, weights: ArrayLike) -> Array:
    """``y[g, t, c] = Σ_l w[l, c] · x[g, t - l, c]`` (zero before the first week).

    Small panels (national, a few geos: at most :data:`STACKED_MAX` lagged values) stack
    the lagged weeks and contract them with the weights in one reduction. A loop over
    lags does the same arithmetic but unrolls a multiply, an add and, in the gradient, a
    reduction per lag: on the national benchmark world that was ~1.5 s of a NUTS fit's
    ~4 s compilation (the potential is inlined several times). Bigger panels keep the
    loop: there compilation is a small part of the fit, and with chains in parallel on
    several CPU devices the stacked form made the process grow steadily while sampling
    (+2 GB over 300 draws at 6 geos; none at 4 geos or with one device).

    Args:
        x: ``(n_geos, n_times, n_channels)``.
        weights: ``(n_lags, n_channels)``.

    Returns:
        ``(n_geos, n_times, n_channels)``.
    """
    x = jnp.asarray(x)
    weights = jnp.asarray(weights)
    n_geos, n_times, n_channels = x.shape
    n_lags = min(int(weights.shape[0]), n_times)
    padded = jnp.pad(x, ((0, 0), (n_lags - 1, 0), (0, 0)))
    shifted = [padded[:, n_lags - 1 - lag : n_lags - 1 - lag + n_times, :] for lag in range(n_lags)]
    if n_geos * n_times * n_channels * n_lags <= STACKED_MAX:
        lagged = jnp.stack(shifted, axis=-1)  # lagged[g, t, c, l] = x[g, t - l, c]
        stacked: Array = (lagged * weights[:n_lags].T).sum(axis=-1)
        return stacked
    out = jnp.zeros_like(x, dtype=jnp.result_type(x, weights))
    for lag in range(n_lags):
        out = out + weights[lag] * shifted[lag]
    return out


def geometric_adstock(
    x: ArrayLike, decay: ArrayLike, max_lag: int, *, normalize: bool = True
) -> Array:
    """Geometric adstock of ``x`` ``(n_geos, n_times, n_channels)``; decay 0 is the identity.

    Args:
        x: ``(n_geos, n_times, n_channels)`` non-negative media.
        decay: ``(n_channels,)`` in [0, 1).
        max_lag: lags 0 .. max_lag-1 carry the effect.
        normalize: weights sum to one.

    Returns:
        ``(n_geos, n_times, n_channels)``.
    """
    return apply_lag_weights(x, geometric_weights(decay, max_lag, normalize=normalize))


def delayed_adstock(
    x: ArrayLike, shape: ArrayLike, scale: ArrayLike, max_lag: int, *, normalize: bool = True
) -> Array:
    """Delayed (Weibull) adstock of ``x`` ``(n_geos, n_times, n_channels)``.

    Args:
        x: ``(n_geos, n_times, n_channels)``.
        shape, scale: Weibull shape and scale (weeks), ``(n_channels,)``.
        max_lag: lags 0 .. max_lag-1 carry the effect.
        normalize: weights sum to one.

    Returns:
        ``(n_geos, n_times, n_channels)``.
    """
    return apply_lag_weights(x, weibull_weights(shape, scale, max_lag, normalize=normalize))


def hill(x: ArrayLike, half_saturation: ArrayLike, slope: ArrayLike) -> Array:
    """Hill saturation ``x^s / (x^s + K^s)`` for ``x >= 0``: 0 at 0, 0.5 at ``K``, → 1.

    ``half_saturation`` (K > 0) and ``slope`` (s > 0) broadcast against ``x``, e.g.
    ``(n_channels,)`` over the last axis of ``(n_geos, n_times, n_channels)``.
    Written as ``sigmoid(s · (log x - log K))`` (one transcendental per element, stable
    for any ``x/K``); ``x <= 0`` is evaluated at ``x = 1`` and masked, so gradients stay
    finite there.
    """
    x = jnp.asarray(x)
    positive = x > 0
    log_x = jnp.log(jnp.where(positive, x, 1.0))
    log_k = jnp.log(jnp.asarray(half_saturation))
    value = jax.nn.sigmoid(jnp.asarray(slope) * (log_x - log_k))
    return jnp.where(positive, value, 0.0)


def logistic_saturation(x: ArrayLike, rate: ArrayLike) -> Array:
    """Logistic saturation ``(1 - e^(-λx)) / (1 + e^(-λx))`` for ``x >= 0``: 0 at 0, → 1.

    ``rate`` (λ > 0) broadcasts against ``x``; the half-way point is ``ln 3 / λ``.
    """
    e = jnp.exp(-jnp.asarray(rate) * jnp.asarray(x))
    return (1.0 - e) / (1.0 + e)
