"""A response model from known parameters: normalised geometric adstock, then Hill.

:class:`ParametricResponse` implements :class:`~margin.protocols.ResponseModel`
with per-draw parameter arrays, in numpy with an analytic gradient. It is the reference
model of the optimizer's tests and benchmarks
(:func:`margin.data.simulator.response.parametric_from_world` builds one from a simulated
world's truth, draws perturbed to stand for posterior uncertainty; the optimizer never
imports the simulator) and a building block for adapters of fitted models with the same
functional form.

For draw ``d``, geo ``g``, week ``t`` and channel ``c``::

    adstock[d, g, t, c] = Σ_{l < L_c} w[d, l, c] · x[g, t - l, c],   w[d, l, c] = a_dc^l / Σ_{k<L_c} a_dc^k
    media_kpi[d, g, t] = Σ_c beta[d, g, c] · hill(adstock[d, g, t, c]; K[d, g, c], slope[d, c])

where ``x`` is ``history`` followed by the plan. The simulator's per-head form
``beta_c · s_g · hill(adstock / s_g; K_c, slope_c)`` is this one with ``K[g, c] = K_c · s_g``
and ``beta[g, c] = beta_c · s_g / kpi_value``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from margin.errors import ConfigError
from margin.types import FloatArray

__all__ = ["ParametricResponse", "adstock_weights_per_draw"]

_TINY = 1e-12
"""Relative floor (of K) on adstocked spend in Hill's derivative, finite for slope < 1."""


def adstock_weights_per_draw(decay: FloatArray, max_lag: tuple[int, ...]) -> FloatArray:
    """Normalised geometric weights per draw, ``(n_draws, max(max_lag), n_channels)``.

    Args:
        decay: ``(n_draws, n_channels)`` in [0, 1).
        max_lag: number of weights per channel, each >= 1.
    """
    lags = np.asarray(max_lag)
    lag = np.arange(int(lags.max()))[None, :, None]
    raw = np.where(lag < lags[None, None, :], decay[:, None, :] ** lag, 0.0)
    weights: FloatArray = raw / raw.sum(axis=1, keepdims=True)
    return weights


def _check_shape(name: str, array: FloatArray, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise ConfigError(
            f"ParametricResponse.{name} has shape {array.shape}; expected {shape} "
            "(n_draws, n_geos, n_channels order). Broadcast it before building the model."
        )
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"ParametricResponse.{name} contains non-finite values; fix the input.")


@dataclass(frozen=True, eq=False)
class ParametricResponse:
    """Adstock-then-Hill response with per-draw parameters (see the module docstring).

    Attributes:
        channels, geos: names of the channel and geo axes.
        kpi_value: currency per KPI unit.
        history: ``(n_geos, n_history, n_channels)`` spend before the horizon.
        decay: ``(n_draws, n_channels)`` geometric decay in [0, 1).
        max_lag: adstock weights per channel (lags ``0 .. L_c - 1``).
        half_saturation: ``(n_draws, n_geos, n_channels)`` K, currency per geo-week (> 0).
        slope: ``(n_draws, n_channels)`` Hill slope (> 0).
        beta: ``(n_draws, n_geos, n_channels)`` KPI at full saturation per week (>= 0).
        baseline: ``(n_draws, n_geos, n_future)`` KPI without media for the weeks after
            ``history``, or ``None`` (then :meth:`baseline_kpi` returns zeros).
        noise_sd: ``(n_draws, n_geos)`` observation noise sd, KPI units.
    """

    channels: tuple[str, ...]
    geos: tuple[str, ...]
    kpi_value: float
    history: FloatArray
    decay: FloatArray
    max_lag: tuple[int, ...]
    half_saturation: FloatArray
    slope: FloatArray
    beta: FloatArray
    noise_sd: FloatArray
    baseline: FloatArray | None = None
    _weights: FloatArray = field(init=False, repr=False)
    _last: dict[bytes, tuple[FloatArray, FloatArray]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        n_draws, n_channels = self.decay.shape if self.decay.ndim == 2 else (0, 0)
        n_geos = len(self.geos)
        if n_draws < 1 or n_channels != len(self.channels):
            raise ConfigError(
                f"ParametricResponse.decay has shape {self.decay.shape}; expected "
                f"(n_draws, {len(self.channels)}) for channels {self.channels}."
            )
        _check_shape("slope", self.slope, (n_draws, n_channels))
        _check_shape("half_saturation", self.half_saturation, (n_draws, n_geos, n_channels))
        _check_shape("beta", self.beta, (n_draws, n_geos, n_channels))
        _check_shape("noise_sd", self.noise_sd, (n_draws, n_geos))
        if len(self.max_lag) != n_channels or min(self.max_lag) < 1:
            raise ConfigError(
                f"ParametricResponse.max_lag = {self.max_lag}; expected one integer >= 1 per channel."
            )
        if np.any((self.decay < 0) | (self.decay >= 1)):
            raise ConfigError("ParametricResponse.decay must lie in [0, 1); clip the draws.")
        if np.any(self.half_saturation <= 0) or np.any(self.slope <= 0) or np.any(self.beta < 0):
            raise ConfigError(
                "ParametricResponse needs half_saturation > 0, slope > 0 and beta >= 0 in every draw."
            )
        if self.history.ndim != 3 or self.history.shape[0] != n_geos:
            raise ConfigError(
                f"ParametricResponse.history has shape {self.history.shape}; expected "
                f"({n_geos}, n_history, {n_channels})."
            )
        if self.history.shape[1] < max(self.max_lag) - 1 or self.history.shape[2] != n_channels:
            raise ConfigError(
                f"ParametricResponse.history covers {self.history.shape[1]} weeks; carry-over "
                f"needs at least {max(self.max_lag) - 1} (max_lag - 1) weeks of {n_channels} channels."
            )
        if self.baseline is not None and self.baseline.shape[:2] != (n_draws, n_geos):
            raise ConfigError(
                f"ParametricResponse.baseline has shape {self.baseline.shape}; expected "
                f"({n_draws}, {n_geos}, n_future)."
            )
        object.__setattr__(self, "_weights", adstock_weights_per_draw(self.decay, self.max_lag))

    @property
    def n_draws(self) -> int:
        return int(self.decay.shape[0])

    @property
    def carryover_weeks(self) -> int:
        return max(self.max_lag) - 1

    def take_draws(self, index: npt.NDArray[np.int64]) -> ParametricResponse:
        """This model on the draws at ``index`` only (optional protocol method)."""
        keep = np.asarray(index, dtype=np.int64)
        return replace(
            self, decay=self.decay[keep], half_saturation=self.half_saturation[keep],
            slope=self.slope[keep], beta=self.beta[keep], noise_sd=self.noise_sd[keep],
            baseline=None if self.baseline is None else self.baseline[keep],
        )  # fmt: skip

    def _adstock(self, spend: FloatArray) -> FloatArray:
        """Adstocked spend in the plan's weeks, ``(n_draws, n_geos, n_weeks, n_channels)``."""
        n_prefix = self.carryover_weeks
        past = self.history[:, self.history.shape[1] - n_prefix :, :]
        n_weeks = spend.shape[-2]
        if spend.ndim == 3:
            series = np.concatenate([past, spend], axis=1)
            lagged = np.stack(
                [
                    series[:, n_prefix - lag : n_prefix - lag + n_weeks, :]
                    for lag in range(n_prefix + 1)
                ],
                axis=2,
            )
            stacked: FloatArray = np.einsum("dlc,gtlc->dgtc", self._weights, lagged, optimize=True)
            return stacked
        series = np.concatenate(
            [np.broadcast_to(past, (spend.shape[0], *past.shape)), spend], axis=2
        )
        out = np.zeros(spend.shape)
        for lag in range(n_prefix + 1):
            window = series[:, :, n_prefix - lag : n_prefix - lag + n_weeks, :]
            out += self._weights[:, lag, None, None, :] * window
        return out

    def _validate_spend(self, spend: FloatArray) -> FloatArray:
        spend = np.asarray(spend, dtype=np.float64)
        expected = (len(self.geos), len(self.channels))
        ok_3d = spend.ndim == 3 and (spend.shape[0], spend.shape[2]) == expected
        ok_4d = spend.ndim == 4 and (spend.shape[0], spend.shape[1], spend.shape[3]) == (
            self.n_draws,
            *expected,
        )
        if not (ok_3d or ok_4d):
            raise ConfigError(
                f"spend has shape {spend.shape}; expected (n_geos={expected[0]}, n_weeks, "
                f"n_channels={expected[1]}) or (n_draws={self.n_draws}, n_geos, n_weeks, n_channels)."
            )
        return spend

    def _saturation(self, spend: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Adstocked spend and Hill's ``r = (adstock / K)^slope``, both ``(n_draws, n_geos, n_weeks, n_channels)``.

        The last plan's arrays are kept, so the gradient at the point just evaluated (what
        an optimizer asks next) reuses them.
        """
        key = spend.shape.__repr__().encode() + spend.tobytes()
        if key not in self._last:
            adstocked = self._adstock(spend)
            ratio = (adstocked / self.half_saturation[:, :, None, :]) ** self.slope[
                :, None, None, :
            ]
            self._last.clear()
            self._last[key] = (adstocked, ratio)
        return self._last[key]

    def media_kpi(self, spend: FloatArray) -> FloatArray:
        """``(n_draws, n_geos, n_weeks)`` media KPI for ``spend`` (3-d or 4-d, see the protocol)."""
        _, ratio = self._saturation(self._validate_spend(spend))
        saturated = ratio + 1.0
        np.divide(ratio, saturated, out=saturated)
        kpi: FloatArray = np.einsum("dgc,dgtc->dgt", self.beta, saturated)
        return kpi

    def media_kpi_gradient(self, spend: FloatArray, draw_weights: FloatArray) -> FloatArray:
        """``(n_geos, n_weeks, n_channels)`` gradient of ``Σ_d w_d Σ_{g,t} media_kpi``."""
        spend = self._validate_spend(spend)
        if spend.ndim != 3:
            raise ConfigError("media_kpi_gradient takes one plan (n_geos, n_weeks, n_channels).")
        adstocked, ratio = self._saturation(spend)
        floor = _TINY * self.half_saturation[:, :, None, :]
        small = adstocked < floor
        if small.any():  # Hill's slope at the floor: finite even where slope < 1
            adstocked = np.where(small, floor, adstocked)
            ratio = np.where(small, _TINY ** self.slope[:, None, None, :], ratio)
        # d/da hill(a; K, s) = s / a · r / (1 + r)^2 with r = (a / K)^s, in place.
        by_week = ratio + 1.0
        by_week *= by_week
        by_week *= adstocked
        np.divide(ratio, by_week, out=by_week)
        scale = (
            np.asarray(draw_weights, dtype=np.float64)[:, None, None]
            * self.beta
            * self.slope[:, None, :]
        )
        by_week *= scale[:, :, None, :]
        n_draws, n_geos, n_weeks, n_channels = by_week.shape
        # per channel: (geo-weeks × draws) @ (draws × lags), then gather week w + lag.
        flat = by_week.transpose(3, 1, 2, 0).reshape(n_channels, n_geos * n_weeks, n_draws)
        by_lag = (flat @ self._weights.transpose(2, 0, 1)).reshape(n_channels, n_geos, n_weeks, -1)
        grad = np.zeros((n_channels, n_geos, n_weeks))
        for lag in range(min(self.carryover_weeks + 1, n_weeks)):
            grad[:, :, : n_weeks - lag] += by_lag[:, :, lag:, lag]
        result: FloatArray = grad.transpose(1, 2, 0)
        return result

    def baseline_kpi(self, n_weeks: int) -> FloatArray:
        """``(n_draws, n_geos, n_weeks)`` baseline for the weeks after ``history``."""
        if self.baseline is None:
            return np.zeros((self.n_draws, len(self.geos), n_weeks))
        if n_weeks > self.baseline.shape[2]:
            raise ConfigError(
                f"baseline_kpi(n_weeks={n_weeks}) asks past the {self.baseline.shape[2]} "
                "weeks of baseline this model holds; shorten the horizon."
            )
        result: FloatArray = self.baseline[:, :, :n_weeks]
        return result

    def observation_sd(self) -> FloatArray:
        """``(n_draws, n_geos)`` observation noise sd."""
        return self.noise_sd
