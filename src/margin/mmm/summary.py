"""Posterior summaries: ROI, marginal ROI, contributions, baseline, in user units.

Every number is a posterior mean with a 90% interval (5th and 95th percentiles over
draws), computed in float64 from the model's own predictions (:func:`mean_kpi`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax import Array

from margin.data.panel.marketing_data import MarketingData
from margin.mmm.config import ModelConfig
from margin.mmm.decomposition import breakdown
from margin.mmm.inputs import ModelInputs, Scaling
from margin.mmm.model import mean_kpi
from margin.types import FloatArray, Interval, quantiles

__all__ = [
    "DRAW_BATCH",
    "MROI_STEP",
    "Baseline",
    "ChannelSummary",
    "FitRecord",
    "PosteriorSummary",
    "RunSummary",
    "Totals",
    "WeeklySeries",
    "predict_draws",
    "summarize",
]

MROI_STEP = 0.01
"""Marginal ROI is the revenue from a 1% spend increase over the cost of that 1%."""
_PARAM_SITES = ("roi", "decay", "adstock_shape", "adstock_scale", "half_saturation", "slope")
_OTHER_SITES = ("rate", "intercept_geo", "trend", "fourier", "gamma", "beta")


@dataclass(frozen=True)
class WeeklySeries:
    """A weekly series' posterior: mean, p05 and p95 per week (fitted weeks, in order)."""

    mean: tuple[float, ...]
    p05: tuple[float, ...]
    p95: tuple[float, ...]

    @classmethod
    def of(cls, series: FloatArray) -> WeeklySeries:
        """Summarise draws ``(n_samples, n_times)`` week by week."""
        low, high = quantiles(series, axis=0)
        return cls(tuple(series.mean(axis=0).tolist()), tuple(low.tolist()), tuple(high.tolist()))

    def to_json(self) -> dict[str, list[float]]:
        """``{"mean": [...], "p05": [...], "p95": [...]}``."""
        return {"mean": list(self.mean), "p05": list(self.p05), "p95": list(self.p95)}


@dataclass(frozen=True)
class ChannelSummary:
    """One channel over the fitted window, in user units.

    Attributes:
        roi: revenue per unit of spend; mroi: the marginal ROI of a 1% increase.
        contribution: KPI caused by the channel; contribution_share: of the predicted KPI;
            media_share: of all media's contribution.
        spend: the channel's spend; weekly_contribution: its contribution week by week.
        cpa: spend per KPI unit (conversion KPIs only, else ``None``).
    """

    roi: Interval
    mroi: Interval
    contribution: Interval
    contribution_share: Interval
    media_share: Interval
    spend: float
    weekly_contribution: WeeklySeries
    cpa: Interval | None = None
    immediate: Interval | None = None
    carryover: Interval | None = None

    def to_json(self) -> dict[str, Any]:
        """The channel's ``summary.json`` entry (``immediate``/``carryover``: the lag-0 and
        lags ≥ 1 parts of the contribution, :mod:`margin.mmm.decomposition`)."""
        out: dict[str, Any] = {
            "roi": self.roi.to_json(),
            "mroi": self.mroi.to_json(),
            "contribution": self.contribution.to_json(),
            "contribution_share": self.contribution_share.to_json(),
            "media_share": self.media_share.to_json(),
            "spend": self.spend,
            "weekly_contribution": self.weekly_contribution.to_json(),
        }
        if self.cpa is not None:
            out["cpa"] = self.cpa.to_json()
        if self.immediate is not None and self.carryover is not None:
            out["immediate"], out["carryover"] = self.immediate.to_json(), self.carryover.to_json()
        return out


@dataclass(frozen=True)
class Totals:
    """All channels together: spend, media contribution, ROI, predicted and observed KPI,
    and media's share of the predicted KPI."""

    spend: float
    contribution: Interval
    roi: Interval
    kpi_predicted: Interval
    kpi_observed: float
    media_share: Interval

    def to_json(self) -> dict[str, Any]:
        """The ``totals`` of ``summary.json``."""
        return {
            "spend": self.spend,
            "contribution": self.contribution.to_json(),
            "roi": self.roi.to_json(),
            "kpi_predicted": self.kpi_predicted.to_json(),
            "kpi_observed": self.kpi_observed,
            "media_share": self.media_share.to_json(),
        }


@dataclass(frozen=True)
class Baseline:
    """The KPI without media: its total and its share of the predicted KPI."""

    kpi: Interval
    share: Interval
    parts: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``baseline`` of ``summary.json`` (``parts``: :mod:`margin.mmm.decomposition`)."""
        out = {"kpi": self.kpi.to_json(), "share": self.share.to_json()}
        return out if self.parts is None else {**out, "parts": self.parts}


@dataclass(frozen=True)
class PosteriorSummary:
    """Channels (in the panel's order), totals and baseline of the fitted window."""

    channels: dict[str, ChannelSummary]
    totals: Totals
    baseline: Baseline
    geos: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"channels", "totals", "baseline"}`` as in ``summary.json``, and ``geos``
        (per geo × channel, geo models only: :mod:`margin.mmm.decomposition`)."""
        out = {
            "channels": {name: c.to_json() for name, c in self.channels.items()},
            "totals": self.totals.to_json(),
            "baseline": self.baseline.to_json(),
        }
        return out if self.geos is None else {**out, "geos": self.geos}


@dataclass(frozen=True)
class FitRecord:
    """How a run was fitted (``warmup`` is 0 for the approximate mode)."""

    seconds: float
    chains: int
    draws: int
    warmup: int
    seed: int
    method: str
    holdout_weeks: int
    lift_tests: int

    def to_json(self) -> dict[str, Any]:
        """The ``fit`` of ``summary.json``."""
        return {
            "seconds": self.seconds,
            "chains": self.chains,
            "draws": self.draws,
            "warmup": self.warmup,
            "seed": self.seed,
            "method": self.method,
            "holdout_weeks": self.holdout_weeks,
            "lift_tests": self.lift_tests,
        }


@dataclass(frozen=True)
class RunSummary:
    """A fitted model's result: the posterior summary, method, diagnostics, fit and priors.

    ``diagnostics`` (convergence, fit quality, warnings) and ``priors`` (per channel) are
    the JSON objects :mod:`margin.mmm.diagnostics` and :meth:`ModelConfig.priors_json`
    build; ``diagnostics["model_fit"]`` is the fit check of :mod:`margin.mmm.fit_quality`
    (verdict, posterior predictive p-value, national actual/fitted/band series).
    :meth:`to_json` is the ``summary.json`` body.
    """

    posterior: PosteriorSummary
    method: str
    diagnostics: dict[str, Any]
    fit: FitRecord
    priors: dict[str, Any]

    @property
    def channels(self) -> dict[str, ChannelSummary]:
        """Per channel, in the panel's order."""
        return self.posterior.channels

    @property
    def totals(self) -> Totals:
        """All channels together."""
        return self.posterior.totals

    @property
    def baseline(self) -> Baseline:
        """The KPI without media."""
        return self.posterior.baseline

    @property
    def fit_verdict(self) -> str | None:
        """The fit check's level (good, fair, poor), ``None`` when the run lacks it."""
        model_fit = self.diagnostics.get("model_fit")
        return None if not model_fit else str(model_fit["level"])

    def to_json(self) -> dict[str, Any]:
        """The ``summary.json`` body (keys in its order)."""
        return {
            **self.posterior.to_json(),
            "method": self.method,
            "diagnostics": self.diagnostics,
            "fit": self.fit.to_json(),
            "priors": self.priors,
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
) -> PosteriorSummary:
    """Channels, totals and baseline of the fitted window."""
    params = flat_params(samples)
    totals_ = _totals(params, inputs, config, scaling.kpi_scale)
    per_channel, revenue, total_kpi = totals_.contribution, totals_.revenue, totals_.kpi
    total_media = per_channel.sum(axis=1)
    mroi = np.asarray(_mroi(params, inputs, config), dtype=np.float64)
    spend = data.spend.sum(axis=(0, 1))
    parts = breakdown(params, data, inputs, config, scaling.kpi_scale)
    channels = {}
    for c, name in enumerate(data.channels):
        cpa = None
        if data.kpi_type == "conversions":
            cpa = Interval.of(spend[c] / np.maximum(per_channel[:, c], 1e-12))
        channels[name] = ChannelSummary(
            roi=Interval.of(revenue[:, c] / spend[c]),
            mroi=Interval.of(mroi[:, c]),
            contribution=Interval.of(per_channel[:, c]),
            contribution_share=Interval.of(per_channel[:, c] / total_kpi),
            media_share=Interval.of(per_channel[:, c] / total_media),
            spend=float(spend[c]),
            weekly_contribution=WeeklySeries.of(totals_.weekly[:, :, c]),
            cpa=cpa,
            immediate=parts.immediate[name],
            carryover=parts.carryover[name],
        )
    totals = Totals(
        spend=float(spend.sum()),
        contribution=Interval.of(total_media),
        roi=Interval.of(revenue.sum(axis=1) / spend.sum()),
        kpi_predicted=Interval.of(total_kpi),
        kpi_observed=float(data.kpi.sum()),
        media_share=Interval.of(total_media / total_kpi),
    )
    base = total_kpi - total_media
    baseline = Baseline(Interval.of(base), Interval.of(base / total_kpi), parts.parts)
    return PosteriorSummary(channels, totals, baseline, parts.geos)
