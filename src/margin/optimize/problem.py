"""The decision problem: from a few spend totals to a full week × geo × channel plan.

Decision variables are spend totals over the horizon: one per channel, or one per
(geo, channel) for geo allocation (``by_geo=True``, unit ``u = g · n_channels + c``).
Each total is spread over weeks (and, per channel, over geos) **in proportion to the
reference plan's shape** (by default the current plan, which is flat over the weeks:
recent average weekly spend). A unit the reference never spends on is spread evenly.

The plan is evaluated over the horizon plus ``carryover_weeks`` weeks of zero spend, so
spend late in the horizon gets the KPI it earns after it (see
:mod:`margin.protocols`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from margin.errors import ConfigError
from margin.limits import check_weeks
from margin.protocols import ResponseModel
from margin.types import FloatArray

IndexArray = npt.NDArray[np.intp]
"""Positions into another array (``np.intp``, NumPy's index type; not :data:`margin.types.IntArray`)."""

__all__ = [
    "DEFAULT_LOOKBACK",
    "Constraints",
    "Problem",
    "build_problem",
    "current_plan",
]

DEFAULT_LOOKBACK = 13
"""Weeks of history averaged into the current plan's weekly spend."""


def current_plan(
    model: ResponseModel, n_weeks: int, lookback: int = DEFAULT_LOOKBACK
) -> FloatArray:
    """The current plan: the last ``lookback`` weeks' average weekly spend, every week.

    Returns:
        ``(n_geos, n_weeks, n_channels)``.
    """
    _check_weeks(n_weeks)
    history = model.history
    if not (1 <= lookback <= history.shape[1]):
        raise ConfigError(
            f"lookback = {lookback}; the model's history has {history.shape[1]} weeks, "
            "so choose 1 <= lookback <= that."
        )
    weekly = history[:, -lookback:, :].mean(axis=1)
    return np.repeat(weekly[:, None, :], n_weeks, axis=1)


def _check_weeks(n_weeks: int) -> None:
    check_weeks(n_weeks)  # 1 to MAX_WEEKS: a plan of 10^8 weeks would not fit in memory


@dataclass(frozen=True)
class Constraints:
    """Limits on each channel's total spend over the horizon.

    Attributes:
        bounds: channel → (low, high) absolute totals over the horizon (currency).
        relative_bounds: channel → (low, high) multiples of the channel's current spend
            over the horizon, e.g. ``{"tv": (0.5, 2.0)}``. Combined with ``bounds`` by
            taking the tighter of each.
        locked: channels held at their current spend.
        min_spend: channel → the least total it may spend if it spends at all (it may also
            be switched off, i.e. 0).
    """

    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    relative_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    locked: tuple[str, ...] = ()
    min_spend: Mapping[str, float] = field(default_factory=dict)

    def channel_limits(
        self, channels: tuple[str, ...], current: FloatArray, cap: float
    ) -> tuple[FloatArray, FloatArray]:
        """Per-channel (low, high) totals, ``(n_channels,)`` each; ``high`` at most ``cap``."""
        named = [*self.bounds, *self.relative_bounds, *self.locked, *self.min_spend]
        unknown = sorted({n for n in named if n not in channels})
        if unknown:
            raise ConfigError(
                f"unknown channel(s) {unknown} in the constraints; the model's channels are {list(channels)}."
            )
        low, high = np.zeros(len(channels)), np.full(len(channels), cap)
        for c, name in enumerate(channels):
            for kind, pair, scale in (
                ("bounds", self.bounds.get(name), 1.0),
                ("relative_bounds", self.relative_bounds.get(name), float(current[c])),
            ):
                if pair is None:
                    continue
                lo, hi = float(pair[0]), float(pair[1])
                if not (math.isfinite(lo) and 0 <= lo <= hi):
                    raise ConfigError(
                        f"{kind}[{name!r}] = {pair!r}; expected (low, high) with 0 <= low <= high."
                    )
                low[c], high[c] = max(low[c], lo * scale), min(high[c], hi * scale)
            if name in self.locked:
                low[c] = high[c] = float(current[c])
            if low[c] > high[c] * (1 + 1e-12):
                raise ConfigError(
                    f"channel {name!r}: its bounds conflict (low {low[c]:,.2f} > high "
                    f"{high[c]:,.2f} after combining bounds, relative bounds, locks and the "
                    "budget); widen them."
                )
        for name, value in self.min_spend.items():
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"min_spend[{name!r}] = {value!r}; expected an amount >= 0.")
        return low, high


@dataclass(frozen=True, eq=False)
class Problem:
    """A planning problem on one model (see the module docstring).

    Attributes:
        shape: ``(n_geos, n_weeks, n_channels)`` spend per unit of a unit's total.
        channel_of: ``(n_units,)`` the channel index of each unit.
        low, high: ``(n_units,)`` bounds per unit (currency totals).
        channel_low, channel_high: ``(n_channels,)`` bounds on channel totals.
        current: ``(n_units,)`` the current plan's totals per unit.
        reference: ``(n_geos, n_weeks, n_channels)`` the current plan.
    """

    model: ResponseModel
    n_weeks: int
    by_geo: bool
    shape: FloatArray
    channel_of: IndexArray
    low: FloatArray
    high: FloatArray
    channel_low: FloatArray
    channel_high: FloatArray
    current: FloatArray
    reference: FloatArray

    @property
    def n_units(self) -> int:
        return int(self.low.size)

    def spend(self, totals: FloatArray) -> FloatArray:
        """``(n_geos, n_weeks, n_channels)`` plan for unit totals ``(n_units,)``."""
        n_geos, _, n_channels = self.shape.shape
        if self.by_geo:
            return self.shape * totals.reshape(n_geos, 1, n_channels)
        result: FloatArray = self.shape * totals[None, None, :]
        return result

    def padded(self, totals: FloatArray) -> FloatArray:
        """The plan followed by ``carryover_weeks`` weeks of zero spend."""
        plan = self.spend(totals)
        tail = np.zeros((plan.shape[0], self.model.carryover_weeks, plan.shape[2]))
        return np.concatenate([plan, tail], axis=1)

    def kpi_draws(self, totals: FloatArray) -> FloatArray:
        """``(n_draws,)`` media KPI over the horizon and its tail."""
        result: FloatArray = self.model.media_kpi(self.padded(totals)).sum(axis=(1, 2))
        return result

    @functools.cached_property
    def reference_draws(self) -> FloatArray:
        """``(n_draws,)`` :meth:`kpi_draws` of the current (reference) plan."""
        return self.kpi_draws(self.current)

    def unit_gradient(self, totals: FloatArray, draw_weights: FloatArray) -> FloatArray:
        """``(n_units,)`` ``∂/∂totals Σ_d w_d · kpi_draws[d]``."""
        grad = self.model.media_kpi_gradient(self.padded(totals), draw_weights)
        per_cell = self.shape * grad[:, : self.n_weeks, :]
        result: FloatArray = (
            per_cell.sum(axis=1).ravel() if self.by_geo else per_cell.sum(axis=(0, 1))
        )
        return result

    def channel_totals(self, totals: FloatArray) -> FloatArray:
        """``(n_channels,)`` channel totals of unit totals."""
        n_channels = self.shape.shape[2]
        if self.by_geo:
            result: FloatArray = totals.reshape(-1, n_channels).sum(axis=0)
            return result
        return totals


def _shape(reference: FloatArray, by_geo: bool) -> FloatArray:
    """Shares of each unit's total by cell; evenly spread where the reference is zero."""
    axes = (1,) if by_geo else (0, 1)
    total = reference.sum(axis=axes, keepdims=True)
    cells = math.prod(reference.shape[a] for a in axes)
    even = np.full_like(reference, 1.0 / cells)
    safe = np.where(total > 0, total, 1.0)
    result: FloatArray = np.where(total > 0, reference / safe, even)
    return result


def _check_reference(model: ResponseModel, reference: FloatArray, n_weeks: int) -> FloatArray:
    expected = (len(model.geos), n_weeks, len(model.channels))
    reference = np.asarray(reference, dtype=np.float64)
    if reference.shape != expected:
        raise ConfigError(
            f"reference plan has shape {reference.shape}; expected (n_geos, n_weeks, "
            f"n_channels) = {expected}."
        )
    if not np.all(np.isfinite(reference)) or np.any(reference < 0):
        raise ConfigError("reference plan has negative or non-finite spend; fix it.")
    return reference


def build_problem(
    model: ResponseModel,
    n_weeks: int,
    constraints: Constraints,
    *,
    cap: float,
    by_geo: bool = False,
    reference: FloatArray | None = None,
) -> Problem:
    """Decision units, their bounds and the reference plan for one planning request.

    Args:
        model: the response model.
        n_weeks: horizon length.
        constraints: channel bounds, locks and minimum spends.
        cap: the most any channel may spend (the budget).
        by_geo: one decision per (geo, channel) instead of per channel.
        reference: ``(n_geos, n_weeks, n_channels)`` current plan; default
            :func:`current_plan`.
    """
    _check_weeks(n_weeks)
    ref = current_plan(model, n_weeks) if reference is None else reference
    ref = _check_reference(model, ref, n_weeks)
    shape = _shape(ref, by_geo)
    channel_current = ref.sum(axis=(0, 1))
    channel_low, channel_high = constraints.channel_limits(model.channels, channel_current, cap)
    n_channels = len(model.channels)
    if by_geo:
        current = ref.sum(axis=1).ravel()
        channel_of = np.tile(np.arange(n_channels), len(model.geos))
        locked = np.isin(np.array(model.channels)[channel_of], constraints.locked)
        low = np.where(locked, current, 0.0)
        high = np.where(locked, current, channel_high[channel_of])
    else:
        current, channel_of = channel_current, np.arange(n_channels)
        low, high = channel_low.copy(), channel_high.copy()
    return Problem(
        model,
        n_weeks,
        by_geo,
        shape,
        channel_of,
        low,
        high,
        channel_low,
        channel_high,
        current,
        ref,
    )
