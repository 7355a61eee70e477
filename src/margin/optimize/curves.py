"""Response curves and adstock curves of any response model (the ``curves.json`` body).

For channel ``c`` and weekly spend level ``s`` the curve's KPI is the incremental KPI of
spending ``s`` every week of an N-week horizon on ``c`` (split over geos like the current
plan), every other channel at its current spend, against spending nothing on ``c``;
it counts the horizon and the carry-over tail after it. Its marginal ROI is
``kpi_value · ∂KPI/∂(N·s)``, a forward difference of :data:`MROI_STEP` (relative). Both
are summarised over posterior draws (mean, 5th and 95th percentiles)::

    {"horizon_weeks": 13, "kpi_value": 1.0,
     "channels": {"<name>": {"current_weekly_spend": x, "spend": [25 levels, 0 to 2.5× current],
                             "kpi": {"mean", "p05", "p95"}, "mroi": {"mean", "p05", "p95"}}},
     "adstock": {"<name>": {"lag": [0, 1, ...], "weight": {"mean", "p05", "p95"}}}}

``"adstock"`` is present when the model exposes ``adstock_weights()`` (draws × lags ×
channels), e.g. :class:`margin.mmm.response.MMMResponse`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from margin.errors import ConfigError
from margin.optimize.problem import current_plan
from margin.protocols import ResponseModel
from margin.types import FloatArray, quantiles

__all__ = [
    "CURVE_LEVELS",
    "CURVE_MAX_MULTIPLE",
    "MROI_STEP",
    "AdstockModel",
    "response_curves",
    "write_curves",
]

CURVE_LEVELS = 25
"""Spend levels per curve, evenly spaced from 0."""
CURVE_MAX_MULTIPLE = 2.5
"""The highest level, as a multiple of current weekly spend."""
MROI_STEP = 1e-3
"""Relative step of the forward difference of marginal ROI."""


@runtime_checkable
class AdstockModel(Protocol):
    """A response model that can tell its lag weights."""

    def adstock_weights(self) -> FloatArray:
        """``(n_draws, n_lags, n_channels)`` lag weights of every draw."""
        ...


def _summary(draws: FloatArray) -> dict[str, list[float]]:
    """``(n_draws, n)`` → mean, p05, p95 lists of length n."""
    low, high = quantiles(draws, axis=0)
    return {"mean": draws.mean(axis=0).tolist(), "p05": low.tolist(), "p95": high.tolist()}


def _total(model: ResponseModel, plan: FloatArray) -> FloatArray:
    """``(n_draws,)`` media KPI over the plan's weeks and the carry-over tail."""
    tail = np.zeros((plan.shape[0], model.carryover_weeks, plan.shape[2]))
    result: FloatArray = model.media_kpi(np.concatenate([plan, tail], axis=1)).sum(axis=(1, 2))
    return result


def _channel_curve(
    model: ResponseModel, current: FloatArray, c: int, weeks: int, reach: float = 0.0
) -> dict[str, Any]:
    weekly = float(current[:, 0, c].sum())
    n_geos = current.shape[0]
    geo_split = current[:, 0, c] / weekly if weekly > 0 else np.full(n_geos, 1.0 / n_geos)
    top = CURVE_MAX_MULTIPLE * weekly if weekly > 0 else float(current[:, 0, :].sum()) / 4
    top = max(top, reach)
    levels = np.linspace(0.0, top, CURVE_LEVELS)

    def at(level: float) -> FloatArray:
        plan = current.copy()
        plan[:, :, c] = level * geo_split[:, None]
        return _total(model, plan)

    zero = at(0.0)
    kpi = np.empty((model.n_draws, CURVE_LEVELS))
    mroi = np.empty_like(kpi)
    first_step = MROI_STEP * (top if top > 0 else 1.0)
    for i, level in enumerate(levels):
        kpi[:, i] = at(level) - zero if level > 0 else 0.0
        step = MROI_STEP * level if level > 0 else first_step
        mroi[:, i] = model.kpi_value * (at(level + step) - zero - kpi[:, i]) / (step * weeks)
    return {
        "current_weekly_spend": weekly,
        "spend": levels.tolist(),
        "kpi": _summary(kpi),
        "mroi": _summary(mroi),
    }


def response_curves(
    response: ResponseModel, weeks: int = 13, reach: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Response curves of every channel and, when known, adstock curves (module docstring).

    Args:
        response: any response model (its current plan: last 13 weeks' average spend).
        weeks: the horizon N the curves spend over.
        reach: weekly spend a channel's curve must reach at least (its grid then goes
            from 0 to that level instead of 2.5× current), e.g. 1.2× a plan's spend
            (:func:`margin.report.views.curve_reach`).

    Raises:
        ConfigError: ``weeks`` is not a whole number >= 1.
    """
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
        raise ConfigError(f"weeks = {weeks!r}; expected a whole number of weeks >= 1")
    current = current_plan(response, weeks)
    channels = {
        name: _channel_curve(response, current, c, weeks, (reach or {}).get(name, 0.0))
        for c, name in enumerate(response.channels)
    }
    out: dict[str, Any] = {
        "horizon_weeks": weeks,
        "kpi_value": response.kpi_value,
        "current_plan": "average weekly spend over the last 13 weeks of history, every week",
        "channels": channels,
    }
    if isinstance(response, AdstockModel):
        weights = response.adstock_weights()
        out["adstock"] = {
            name: {"lag": list(range(weights.shape[1])), "weight": _summary(weights[:, :, c])}
            for c, name in enumerate(response.channels)
        }
    return out


def write_curves(response: ResponseModel, folder: str | Path, weeks: int = 13) -> Path:
    """Write ``folder/curves.json`` (:func:`response_curves` of ``response``) and return
    its path."""
    path = Path(folder) / "curves.json"
    body = response_curves(response, weeks=weeks)
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path
