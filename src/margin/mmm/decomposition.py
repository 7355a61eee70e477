"""The predicted KPI in parts: the baseline's components, immediate and carry-over media
effects, and each geo's channels.

Every part is computed per posterior draw from the model's own functions, so the parts
cannot drift from the fitted model:

- **Baseline parts.** :func:`margin.mmm.model.baseline` is evaluated with its terms
  switched on one at a time, in the order intercept (the level, geo effects included),
  trend, seasonality, then each control by name; each part is the change its term adds.
  The parts sum to the baseline exactly (the differences telescope), so per draw
  ``Σ parts + Σ channels = predicted KPI``. With additive seasonality each part is its
  own term (``trend · years``, ``season``, ``control_k · gamma_k``); with multiplicative
  seasonality the seasonal part is the level times the seasonal swing. Each control is
  measured from its lowest value over the fitted weeks (``(control_k − min_k) ·
  gamma_k``: a holiday dummy's part is what its holiday weeks added), and the intercept
  is the level with every control at its lowest (``+ Σ_k min_k · gamma_k``); moving that
  constant between them leaves the sum unchanged.
- **Immediate vs carry-over.** A channel's weekly effect is ``beta · sat(adstock(x))``;
  the adstocked input ``Σ_l w_l · x_{t-l}`` is split into this week's spend (lag 0,
  ``w_0 · x_t``) and earlier weeks' (lags ≥ 1), and the saturated effect is shared in
  the same proportion (Robyn's split of the saturated response). Immediate + carry-over
  = the channel's contribution, per draw; a channel without carry-over (decay 0) has a
  carry-over part of 0.
- **Geos.** Each geo × channel's contribution (and ROI: its revenue over the geo's
  spend); the geo contributions sum to the national one per draw.

All totals are in KPI units over the fitted weeks, summarised as a posterior mean and a
90% interval (5th–95th percentiles over draws).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax import Array

from margin.data.panel.marketing_data import MarketingData
from margin.mmm.config import ModelConfig
from margin.mmm.inputs import ModelInputs
from margin.mmm.model import baseline, mean_kpi
from margin.mmm.transforms import (
    delayed_adstock,
    geometric_adstock,
    geometric_weights,
    weibull_weights,
)
from margin.types import FloatArray, Interval, quantiles

__all__ = [
    "BATCH",
    "Breakdown",
    "Decomposition",
    "baseline_part_names",
    "breakdown",
    "decompose",
    "decomposition_json",
    "geos_json",
    "lag_zero_weight",
]

BATCH = 100
"""Posterior draws evaluated together (bounds the ``(draws, geos, weeks, channels)`` arrays)."""
INTERCEPT, TREND, SEASONALITY = "intercept", "trend", "seasonality"


class Decomposition(NamedTuple):
    """Per draw, in KPI units over the fitted weeks.

    Attributes:
        parts: ``(s, n_parts)`` each baseline part's total (:func:`baseline_part_names`).
        parts_weekly: ``(s, t, n_parts)`` each part week by week, summed over geos.
        immediate: ``(s, c)`` each channel's lag-0 contribution; carryover ``(s, c)``
            its contribution from earlier weeks' spend.
        contribution: ``(s, c)`` each channel's contribution.
        kpi: ``(s,)`` the predicted KPI.
        geo_contribution: ``(s, g, c)`` each geo × channel's contribution; geo_revenue
            the same times value per KPI; geo_kpi ``(s, g)`` each geo's predicted KPI.
    """

    parts: FloatArray
    parts_weekly: FloatArray
    immediate: FloatArray
    carryover: FloatArray
    contribution: FloatArray
    kpi: FloatArray
    geo_contribution: FloatArray
    geo_revenue: FloatArray
    geo_kpi: FloatArray


def baseline_part_names(control_names: tuple[str, ...] | list[str]) -> list[str]:
    """The baseline's parts in order: intercept, trend, seasonality, then each control."""
    return [INTERCEPT, TREND, SEASONALITY, *control_names]


def _parts(params: dict[str, Array], inputs: ModelInputs, config: ModelConfig) -> Array:
    """``(g, t, n_parts)`` the baseline per head built up one term at a time."""
    n_controls = inputs.controls.shape[2]
    off = {
        "trend": jnp.zeros_like(params["trend"]),
        "fourier": jnp.zeros_like(params["fourier"]),
        "gamma": jnp.zeros_like(params["gamma"]),
    }
    steps = [{**params, **off}, {**params, **off, "trend": params["trend"]}]
    steps.append({**steps[-1], "fourier": params["fourier"]})
    for k in range(n_controls):
        mask = (jnp.arange(n_controls) <= k).astype(params["gamma"].dtype)
        steps.append({**steps[2], "gamma": params["gamma"] * mask})
    levels = jnp.stack([baseline(p, inputs, config.seasonality) for p in steps], axis=-1)
    parts = jnp.concatenate([levels[..., :1], jnp.diff(levels, axis=-1)], axis=-1)
    if not n_controls:
        return parts
    # each control from its lowest fitted value (a holiday dummy: from its weeks without
    # one), the intercept at every control's lowest; the sum is unchanged
    moved = params["gamma"] * inputs.controls.min(axis=(0, 1))
    return parts.at[..., 3:].add(-moved).at[..., 0].add(moved.sum())


def lag_zero_weight(params: Mapping[str, Array], config: ModelConfig) -> Array:
    """``(n_channels,)`` one draw's adstock weight of this week's spend (lag 0)."""
    if config.adstock == "geometric":
        weights = geometric_weights(params["decay"], config.max_lag)
    else:
        weights = weibull_weights(params["adstock_shape"], params["adstock_scale"], config.max_lag)
    weight: Array = weights[0]
    return weight


def _carried(params: Mapping[str, Array], media: Array, config: ModelConfig) -> Array:
    """``(g, t, c)`` the adstocked media (the input of saturation)."""
    if config.adstock == "geometric":
        return geometric_adstock(media, params["decay"], config.max_lag)
    return delayed_adstock(media, params["adstock_shape"], params["adstock_scale"], config.max_lag)


def _one_draw(
    params: dict[str, Array], inputs: ModelInputs, config: ModelConfig
) -> tuple[Array, ...]:
    """One draw's per-head parts ``(g, t, p)``, contributions and immediate share ``(g, t, c)``,
    and the mean KPI ``(g, t)``, all in scaled units."""
    mu, contributions = mean_kpi(params, inputs, config)
    parts = inputs.share[:, None, None] * _parts(params, inputs, config)
    carried = _carried(params, inputs.media, config)
    now = lag_zero_weight(params, config) * inputs.media
    share_now = jnp.where(carried > 0, now / jnp.where(carried > 0, carried, 1.0), 1.0)
    return parts, contributions, jnp.clip(share_now, 0.0, 1.0), mu


_PROGRAMS: dict[str, Any] = {}


def _program(config: ModelConfig) -> Any:
    """:func:`_one_draw` over a batch of draws, reduced to totals; compiled once per config."""
    key = repr(config)
    if key not in _PROGRAMS:

        def batch(p: dict[str, Array], inputs: ModelInputs) -> tuple[Array, ...]:
            parts, contrib, share_now, mu = jax.vmap(_one_draw, in_axes=(0, None, None))(
                p, inputs, config
            )
            value = inputs.value[None, :, :, None]
            return (
                parts.sum(axis=(1, 2)),
                parts.sum(axis=1),
                (contrib * share_now).sum(axis=(1, 2)),
                contrib.sum(axis=(1, 2)),
                mu.sum(axis=(1, 2)),
                contrib.sum(axis=2),
                (contrib * value).sum(axis=2),
                mu.sum(axis=2),
            )

        _PROGRAMS[key] = jax.jit(batch)
    return _PROGRAMS[key]


def _batches(
    params: Mapping[str, npt.ArrayLike],
) -> Iterator[tuple[dict[str, npt.NDArray[Any]], int]]:
    """``params`` in batches of :data:`BATCH` draws, the last padded with its last draw."""
    host = {k: np.asarray(v) for k, v in params.items()}
    n = int(host["roi"].shape[0])
    size = min(BATCH, n)
    for start in range(0, n, size):
        index = np.minimum(np.arange(start, start + size), n - 1)
        yield {k: v[index] for k, v in host.items()}, min(size, n - start)


def decompose(
    params: Mapping[str, npt.ArrayLike], inputs: ModelInputs, config: ModelConfig, kpi_scale: float
) -> Decomposition:
    """The draws' decomposition (see the module docstring), in KPI units (float64).

    ``params``: the sites :func:`margin.mmm.summary.flat_params` gives, draws first.
    """
    program = _program(config)
    chunks: list[list[FloatArray]] = []
    for batch, count in _batches(params):
        out = program(batch, inputs)
        chunks.append([np.asarray(a, dtype=np.float64)[:count] * kpi_scale for a in out])
    parts, weekly, immediate, contribution, kpi, geo, geo_revenue, geo_kpi = (
        np.concatenate(arrays) for arrays in zip(*chunks, strict=True)
    )
    return Decomposition(
        parts=parts,
        parts_weekly=weekly,
        immediate=immediate,
        carryover=contribution - immediate,
        contribution=contribution,
        kpi=kpi,
        geo_contribution=geo,
        geo_revenue=geo_revenue,
        geo_kpi=geo_kpi,
    )


def _control_kind(name: str) -> str:
    """``"holiday"`` for a control named like one (``holiday``, ``is_holiday``), else
    ``"control"``."""
    return "holiday" if "holiday" in name.lower() else "control"


def _weekly(series: FloatArray) -> dict[str, list[float]]:
    low, high = quantiles(series, axis=0)
    return {"mean": series.mean(axis=0).tolist(), "p05": low.tolist(), "p95": high.tolist()}


def decomposition_json(
    result: Decomposition, control_names: tuple[str, ...] | list[str]
) -> dict[str, Any]:
    """``{"parts": {name: {"kind", "kpi", "share", "weekly"}}}``: each baseline part's
    total, its share of the predicted KPI and its weekly series (summed over geos)."""
    names = baseline_part_names(control_names)
    parts = {}
    for k, name in enumerate(names):
        total = result.parts[:, k]
        parts[name] = {
            "kind": name if k < 3 else _control_kind(name),
            "kpi": Interval.of(total).to_json(),
            "share": Interval.of(total / result.kpi).to_json(),
            "weekly": _weekly(result.parts_weekly[:, :, k]),
        }
    return {"parts": parts}


def geos_json(
    result: Decomposition,
    geos: tuple[str, ...] | list[str],
    channels: tuple[str, ...] | list[str],
    spend: FloatArray,
    kpi_observed: FloatArray,
) -> dict[str, Any]:
    """``{geo: {"kpi_predicted", "kpi_observed", "media", "channels": {c: {"spend",
    "contribution", "contribution_share", "roi"}}}}``; ``spend`` ``(g, c)`` over the fitted
    weeks, ``kpi_observed`` ``(g,)``; ROI is ``None`` where the geo spent nothing."""
    out: dict[str, Any] = {}
    for g, geo in enumerate(geos):
        kpi = result.geo_kpi[:, g]
        cells = {}
        for c, channel in enumerate(channels):
            contribution = result.geo_contribution[:, g, c]
            cell_spend = float(spend[g, c])
            roi = result.geo_revenue[:, g, c] / cell_spend if cell_spend > 0 else None
            cells[channel] = {
                "spend": cell_spend,
                "contribution": Interval.of(contribution).to_json(),
                "contribution_share": Interval.of(contribution / kpi).to_json(),
                "roi": None if roi is None else Interval.of(roi).to_json(),
            }
        out[geo] = {
            "kpi_predicted": Interval.of(kpi).to_json(),
            "kpi_observed": float(kpi_observed[g]),
            "media": Interval.of(result.geo_contribution[:, g, :].sum(axis=1)).to_json(),
            "channels": cells,
        }
    return out


class Breakdown(NamedTuple):
    """What :func:`breakdown` adds to a run's summary: the baseline's ``parts`` JSON,
    each channel's ``immediate`` and ``carryover`` interval, and the ``geos`` JSON (``None``
    for a national model)."""

    parts: dict[str, Any]
    immediate: dict[str, Interval]
    carryover: dict[str, Interval]
    geos: dict[str, Any] | None


def breakdown(
    params: Mapping[str, npt.ArrayLike],
    data: MarketingData,
    inputs: ModelInputs,
    config: ModelConfig,
    kpi_scale: float,
) -> Breakdown:
    """The decomposition of the fitted window ``data`` (its ``inputs``) in summary form."""
    result = decompose(params, inputs, config, kpi_scale)
    channels = list(data.channels)
    geos = None
    if data.n_geos > 1:
        spend = data.spend.sum(axis=1)
        geos = geos_json(result, list(data.geos), channels, spend, data.kpi.sum(axis=1))
    return Breakdown(
        parts=decomposition_json(result, list(data.control_names))["parts"],
        immediate={c: Interval.of(result.immediate[:, k]) for k, c in enumerate(channels)},
        carryover={c: Interval.of(result.carryover[:, k]) for k, c in enumerate(channels)},
        geos=geos,
    )
