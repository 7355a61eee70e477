"""Posterior summaries: ROI, marginal ROI, contributions, baseline, in user units.

Every number is a posterior mean with a 90% interval (5th and 95th percentiles over
draws), computed in float64 from the model's own predictions (:func:`mean_kpi`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax import Array

from margin.data.panel import MarketingData
from margin.mmm.config import ModelConfig
from margin.mmm.inputs import ModelInputs, Scaling
from margin.mmm.model import mean_kpi

__all__ = ["DRAW_BATCH", "MROI_STEP", "interval", "predict_draws", "summarize"]

MROI_STEP = 0.01
"""Marginal ROI is the revenue from a 1% spend increase over the cost of that 1%."""
_PARAM_SITES = ("roi", "decay", "adstock_shape", "adstock_scale", "half_saturation", "slope")
_OTHER_SITES = ("rate", "intercept_geo", "trend", "fourier", "gamma", "beta")


def interval(values: npt.ArrayLike) -> dict[str, float]:
    """``{"mean", "p05", "p95"}`` of a 1-d sample."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    return {
        "mean": float(x.mean()),
        "p05": float(np.quantile(x, 0.05)),
        "p95": float(np.quantile(x, 0.95)),
    }


def flat_params(samples: dict[str, npt.NDArray[np.float64]]) -> dict[str, npt.NDArray[np.float32]]:
    """Sites :func:`mean_kpi` needs, draws flattened to ``(n_samples, ...)``, float32 numpy
    (cast here, not by JAX: an eager cast compiles a program per array)."""
    out = {}
    for name in (*_PARAM_SITES, *_OTHER_SITES):
        if name in samples:
            value = np.asarray(samples[name])
            flat = value.reshape(value.shape[0] * value.shape[1], *value.shape[2:])
            out[name] = flat.astype(np.float32)
    n = out["roi"].shape[0]
    if "trend" not in out:
        out["trend"] = np.zeros(n, dtype=np.float32)
    for name in ("fourier", "gamma"):  # not sampled without seasonality terms / controls
        if name not in out:
            out[name] = np.zeros((n, 0), dtype=np.float32)
    return out


DRAW_BATCH = 100
"""Posterior draws evaluated together: bounds the memory of the per-draw ``(geos, weeks,
channels)`` arrays (a 40-geo fit's 2,000 draws at once added ~0.5 GB to the summary's peak)
at no cost in speed."""


def _batches(
    params: Mapping[str, npt.ArrayLike],
) -> Iterator[tuple[dict[str, npt.NDArray[np.float32]], int]]:
    """``params`` in batches of :data:`DRAW_BATCH` draws (the last padded with its last
    draw, so every batch has one shape and compiles once) and each batch's real count;
    sliced in numpy (eager JAX indexing compiles a program per shape)."""
    host = {k: np.asarray(v) for k, v in params.items()}
    n = int(host["roi"].shape[0])
    size = min(DRAW_BATCH, n)
    for start in range(0, n, size):
        count = min(size, n - start)
        index = np.minimum(np.arange(start, start + size), n - 1)
        yield {k: v[index] for k, v in host.items()}, count


_PROGRAMS: dict[str, Callable[..., tuple[Array, Array]]] = {}


def _mean_kpi_program(config: ModelConfig) -> Callable[..., tuple[Array, Array]]:
    """:func:`mean_kpi` over a batch of draws, compiled once per model configuration (the
    summary, the fit's checks and predictions share it; keyed by the config's repr, as
    the config holds a dict and is not hashable)."""
    key = repr(config)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = jax.jit(jax.vmap(lambda p, i: mean_kpi(p, i, config), in_axes=(0, None)))
    return _PROGRAMS[key]


def predict_draws(
    params: Mapping[str, npt.ArrayLike], inputs: ModelInputs, config: ModelConfig
) -> npt.NDArray[np.float32]:
    """Expected scaled KPI per draw, ``(n_samples, g, t)`` (float32).

    Compiled as one program (eager dispatch would compile every primitive separately) and
    run over :data:`DRAW_BATCH` draws at a time.
    """
    predict = _mean_kpi_program(config)
    parts = [np.asarray(predict(batch, inputs)[0])[:count] for batch, count in _batches(params)]
    return np.concatenate(parts)


def _mroi(
    params: Mapping[str, npt.ArrayLike], inputs: ModelInputs, config: ModelConfig
) -> npt.NDArray[np.float64]:
    """``(n_samples, n_channels)`` scaled revenue of +1% spend per channel, over scaled spend.

    Only the bumped channel's contribution changes (its coefficient is the draw's), so the
    difference is taken on that contribution alone: taken on the whole KPI, float32 lost
    a further digit to cancelling the baseline and the other channels.
    """
    n_channels = inputs.media.shape[2]

    def one(p: dict[str, Array], i: ModelInputs) -> Array:
        return mean_kpi(p, i, config)[1]

    predict = jax.vmap(one, in_axes=(0, None))

    def gain(params: dict[str, Array], inputs: ModelInputs) -> Array:
        base = predict(params, inputs)  # (s, g, t, c) contributions

        def bumped(c: Array) -> Array:
            factor = 1.0 + MROI_STEP * (jnp.arange(n_channels) == c)
            more = predict(params, inputs._replace(media=inputs.media * factor))
            return ((more[..., c] - base[..., c]) * inputs.value).sum(axis=(1, 2))

        gains: Array = jax.lax.map(bumped, jnp.arange(n_channels))
        return gains.T

    compiled = jax.jit(gain)
    parts = [np.asarray(compiled(batch, inputs))[:count] for batch, count in _batches(params)]
    spend = np.asarray(inputs.spend_total, dtype=np.float64)
    return np.concatenate(parts).astype(np.float64) / (MROI_STEP * spend)


class _Totals(NamedTuple):
    """Per draw, in KPI units: ``kpi`` ``(s,)``; ``contribution`` and ``revenue`` ``(s, c)``
    (contribution × value per KPI); ``weekly`` ``(s, t, c)`` contributions summed over geos."""

    kpi: npt.NDArray[np.float64]
    contribution: npt.NDArray[np.float64]
    revenue: npt.NDArray[np.float64]
    weekly: npt.NDArray[np.float64]


def _totals(
    params: Mapping[str, npt.ArrayLike], inputs: ModelInputs, config: ModelConfig, m: float
) -> _Totals:
    """The draws' totals, reduced in float64 one batch of draws at a time."""
    predict = _mean_kpi_program(config)
    value = np.asarray(inputs.value, dtype=np.float64)[None, :, :, None]
    parts: list[tuple[npt.NDArray[np.float64], ...]] = []
    for batch, count in _batches(params):
        mu, contributions = predict(batch, inputs)
        contrib = np.asarray(contributions, dtype=np.float64)[:count] * m  # (s, g, t, c)
        parts.append((
            np.asarray(mu, dtype=np.float64)[:count].sum(axis=(1, 2)) * m,
            contrib.sum(axis=(1, 2)),
            (contrib * value).sum(axis=(1, 2)),
            contrib.sum(axis=1),
        ))  # fmt: skip
    return _Totals(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))


def summarize(
    samples: dict[str, npt.NDArray[np.float64]],
    data: MarketingData,
    inputs: ModelInputs,
    scaling: Scaling,
    config: ModelConfig,
) -> dict[str, Any]:
    """Channels, totals and baseline of the fitted window (the ``summary.json`` body)."""
    params = flat_params(samples)
    totals_ = _totals(params, inputs, config, scaling.kpi_scale)
    per_channel, revenue, total_kpi = totals_.contribution, totals_.revenue, totals_.kpi
    total_media = per_channel.sum(axis=1)
    mroi = np.asarray(_mroi(params, inputs, config), dtype=np.float64)
    spend = data.spend.sum(axis=(0, 1))
    channels: dict[str, Any] = {}
    for c, name in enumerate(data.channels):
        entry = {
            "roi": interval(revenue[:, c] / spend[c]),
            "mroi": interval(mroi[:, c]),
            "contribution": interval(per_channel[:, c]),
            "contribution_share": interval(per_channel[:, c] / total_kpi),
            "media_share": interval(per_channel[:, c] / total_media),
            "spend": float(spend[c]),
            "weekly_contribution": _weekly(totals_.weekly[:, :, c]),
        }
        if data.kpi_type == "conversions":
            entry["cpa"] = interval(spend[c] / np.maximum(per_channel[:, c], 1e-12))
        channels[name] = entry
    totals = {
        "spend": float(spend.sum()),
        "contribution": interval(total_media),
        "roi": interval(revenue.sum(axis=1) / spend.sum()),
        "kpi_predicted": interval(total_kpi),
        "kpi_observed": float(data.kpi.sum()),
        "media_share": interval(total_media / total_kpi),
    }
    return {"channels": channels, "totals": totals, "baseline": _baseline(total_kpi, total_media)}


def _weekly(series: npt.NDArray[np.float64]) -> dict[str, list[float]]:
    """``(n_samples, n_times)`` → mean, p05, p95 per week."""
    return {
        "mean": series.mean(axis=0).tolist(),
        "p05": np.quantile(series, 0.05, axis=0).tolist(),
        "p95": np.quantile(series, 0.95, axis=0).tolist(),
    }


def _baseline(total_kpi: npt.NDArray[np.float64], media: npt.NDArray[np.float64]) -> dict[str, Any]:
    base = total_kpi - media
    return {"kpi": interval(base), "share": interval(base / total_kpi)}
