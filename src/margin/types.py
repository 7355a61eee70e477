"""Core types every package shares: array aliases and the one interval.

The quantile convention, used everywhere a posterior (or bootstrap) is summarised: the
mean and the 90% interval, the 5th and 95th percentiles, computed with NumPy's default
(``linear``) interpolation. :class:`Interval` is the one type that carries it; its JSON
form is ``{"mean", "p05", "p95"}`` everywhere (CLI ``--out`` files, ``summary.json``,
the API).

This module imports nothing of margin, so any package may import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["LEVELS", "FloatArray", "IntArray", "Interval", "quantiles"]

FloatArray = npt.NDArray[np.float64]
"""A float64 array; its docstring names the shape, in the order ``(n_geos, n_times, n_channels)``."""
IntArray = npt.NDArray[np.int64]
"""An int64 array."""
LEVELS = (0.05, 0.95)
"""The interval's quantiles: the 5th and 95th percentiles (a 90% interval)."""


def quantiles(draws: Any, axis: int | None = 0) -> tuple[FloatArray, FloatArray]:
    """The 5th and 95th percentiles of ``draws`` along ``axis`` (NumPy's linear rule)."""
    low, high = np.quantile(np.asarray(draws, dtype=np.float64), LEVELS, axis=axis)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


@dataclass(frozen=True)
class Interval:
    """A summary of draws: the mean and the 90% interval (5th and 95th percentiles).

    Attributes:
        mean: the mean of the draws.
        p05, p95: the 5th and 95th percentiles.
    """

    mean: float
    p05: float
    p95: float

    @classmethod
    def of(cls, draws: Any) -> Interval:
        """Summarise draws ``(n_draws,)`` (any array-like of numbers)."""
        values = np.asarray(draws, dtype=np.float64).ravel()
        low, high = quantiles(values, axis=None)
        return cls(float(np.mean(values)), float(low), float(high))

    @classmethod
    def exact(cls, value: float) -> Interval:
        """A number known exactly: mean and both ends equal."""
        return cls(float(value), float(value), float(value))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Interval:
        """The inverse of :meth:`to_json`."""
        return cls(float(data["mean"]), float(data["p05"]), float(data["p95"]))

    def scaled(self, factor: float) -> Interval:
        """Every number times ``factor`` (a positive factor keeps the order)."""
        return Interval(self.mean * factor, self.p05 * factor, self.p95 * factor)

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in ``[p05, p95]``."""
        return self.p05 <= value <= self.p95

    @property
    def width(self) -> float:
        """``p95 - p05``."""
        return self.p95 - self.p05

    @property
    def finite(self) -> bool:
        """Whether all three numbers are finite."""
        return all(math.isfinite(x) for x in (self.mean, self.p05, self.p95))

    def to_json(self) -> dict[str, float]:
        """``{"mean", "p05", "p95"}``."""
        return {"mean": self.mean, "p05": self.p05, "p95": self.p95}
