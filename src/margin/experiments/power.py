"""Power and minimum detectable lift by simulation on the user's own history.

For every window of the test's length in the history (with enough pre-period before it),
the same estimator and inference as :func:`margin.experiments.analysis.analyze` is run
as if the test had happened there, and a lift of known size ``δ`` (a relative change of
the treated geos' KPI in the window) is injected. Because the injected lift only moves
the treated series inside the window, and the fit and the placebo errors use the
pre-period only, the estimate moves by exactly ``δ · Σ_window y`` and the threshold stays
put: one analysis per window gives the whole power curve.

* false-positive rate: share of windows with ``p <= 1 - level`` at ``δ = 0`` (two-sided);
* power at ``δ``: share of windows significant with the design's sign (at ``δ = 0`` about
  half the false-positive rate, so the curve is monotone from there);
* minimum detectable lift: the smallest ``|δ|`` with power at least ``target``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from margin.errors import DataValidationError
from margin.experiments.analysis import analyze_window
from margin.experiments.inference import TestStatistic
from margin.types import FloatArray

__all__ = ["PowerResult", "simulate_power", "wilson_interval"]


_Z90 = 1.6448536269514722


def wilson_interval(successes: float, n: int, z: float = _Z90) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (90% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PowerResult:
    """Power curve of one design on the history.

    ``effects`` ``(n_effects,)`` relative lifts; ``power`` ``(n_effects,)``;
    ``required`` ``(n_windows,)`` the smallest lift each window detects (signed).
    ``mde`` is relative with its 90% Monte-Carlo range; ``mde_absolute`` in KPI units over
    the most recent window of the test's length.
    """

    effects: FloatArray
    power: FloatArray
    false_positive_rate: float
    n_windows: int
    level: float
    target_power: float
    mde: float
    mde_low: float
    mde_high: float
    mde_absolute: float
    recent_base: float

    required: FloatArray

    def power_at(self, effect: float, direction: int = 1) -> float:
        """Share of windows significant with sign ``direction`` at relative lift ``effect``."""
        return _power(self.required, effect, direction)

    def to_json(self) -> dict[str, Any]:
        low, high = wilson_interval(self.false_positive_rate * self.n_windows, self.n_windows)
        return {
            "level": self.level,
            "n_windows": self.n_windows,
            "false_positive_rate": {"mean": self.false_positive_rate, "p05": low, "p95": high},
            "target_power": self.target_power,
            "mde_percent": {
                "mean": 100 * self.mde,
                "p05": 100 * self.mde_low,
                "p95": 100 * self.mde_high,
            },
            "mde_absolute": self.mde_absolute,
            "power_curve": [
                {
                    "lift_percent": 100 * float(e),
                    "power": float(p),
                    "p05": wilson_interval(p * self.n_windows, self.n_windows)[0],
                    "p95": wilson_interval(p * self.n_windows, self.n_windows)[1],
                }
                for e, p in zip(self.effects, self.power, strict=True)
            ],
        }


def _window_thresholds(
    y: FloatArray,
    length: int,
    min_pre: int,
    stride: int,
    window: Callable[[int, int], TestStatistic],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per window: null estimate, half-width and treated total in the window.

    ``window(pre_end, end)`` analyses the window ``[pre_end, end)``.
    """
    n_times = y.shape[0]
    estimates, halves, bases = [], [], []
    for end in range(n_times, min_pre + length - 1, -stride):
        pre_end = end - length
        stat = window(pre_end, end)
        estimates.append(stat.estimate)
        halves.append(stat.half_width)
        bases.append(float(y[pre_end:end].sum()))
    return np.asarray(estimates), np.asarray(halves), np.asarray(bases)


def simulate_power(  # noqa: PLR0913 (see tests/test_architecture.py)
    y: FloatArray,
    controls: FloatArray,
    length: int,
    *,
    method: str = "ascm",
    level: float = 0.9,
    direction: int = 1,
    target_power: float = 0.8,
    min_pre: int | None = None,
    stride: int = 1,
    effects: FloatArray | None = None,
    inference: str = "placebo_t",
    n_treated: int = 1,
) -> PowerResult:
    """Power curve for a test of ``length`` periods on treated sum ``y`` ``(n_times,)``.

    ``controls`` is ``(n_controls, n_times)``; ``direction`` ``+1`` (heavy-up) or ``-1``
    (go-dark); ``n_treated`` the number of geos ``y`` sums. Windows end at ``n_times, n_times - stride, …`` and keep at least
    ``min_pre`` pre-period periods (default ``2 · length + 20``).

    Raises:
        DataValidationError: the history is too short to place a single window.
    """
    min_pre = 2 * length + 20 if min_pre is None else min_pre
    if y.shape[0] < min_pre + length:
        raise DataValidationError(
            f"the history has {y.shape[0]} periods; a power simulation for a {length}-period test "
            f"needs at least {min_pre + length} ({min_pre} pre-period + the test). Use a longer "
            "history or a shorter test"
        )

    def window(pre_end: int, end: int) -> TestStatistic:
        return analyze_window(
            y, controls, pre_end, end, method, level, inference, n_treated=n_treated
        )[0]

    estimates, halves, bases = _window_thresholds(y, length, min_pre, stride, window)
    n = estimates.shape[0]
    fpr = float(np.mean(np.abs(estimates) > halves))
    required = (direction * halves - estimates) / bases
    magnitude = np.sort(direction * required)
    if effects is None:
        top = max(float(magnitude[-1]) if np.isfinite(magnitude[-1]) else 0.5, 1e-3)
        effects = direction * np.linspace(0.0, 1.5 * top, 31)
    power = np.array([_power(required, float(e), direction) for e in effects])
    spread = _Z90 * math.sqrt(target_power * (1 - target_power) / n)
    mde, low, high = (
        _quantile(magnitude, q)
        for q in (target_power, target_power - spread, target_power + spread)
    )
    recent = float(y[-length:].sum())
    return PowerResult(
        np.asarray(effects, dtype=np.float64),
        power,
        fpr,
        n,
        level,
        target_power,
        mde,
        low,
        high,
        mde * abs(recent),
        recent,
        required,
    )


def _power(required: FloatArray, effect: float, direction: int) -> float:
    return float(np.mean(direction * required <= direction * effect))


def _quantile(sorted_values: FloatArray, share: float) -> float:
    """Smallest value with at least ``share`` of ``sorted_values`` at or below it."""
    share = min(max(share, 0.0), 1.0)
    index = max(math.ceil(share * sorted_values.shape[0]) - 1, 0)
    return max(float(sorted_values[index]), 0.0)
