"""What the panel's loaders share: the pre-labelling arrays, the weekly date range, the
roll-ups and the message helpers. Public within :mod:`margin.data.panel`; not re-exported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from margin.types import FloatArray

__all__ = [
    "LISTED",
    "Cubes",
    "DateArray",
    "date_range",
    "fetched_column",
    "filled",
    "kpi_weighted",
    "listing",
    "per_geo",
]

DateArray = npt.NDArray[np.datetime64]
LISTED = 5
"""At most this many places (rows, weeks, cells) are named in one message."""


@dataclass(frozen=True)
class Cubes:
    """Panel arrays on a (geo, week) grid before labelling; shapes as in MarketingData."""

    kpi: FloatArray
    spend: FloatArray
    impressions: FloatArray | None
    controls: FloatArray
    population: FloatArray | None
    revenue_per_kpi: FloatArray | None


def kpi_weighted(kpi: FloatArray, rate: FloatArray, axis: int) -> FloatArray:
    """The KPI-weighted mean of ``rate`` along ``axis`` (plain mean where the KPI sums to 0)."""
    total = kpi.sum(axis=axis)
    weighted = (kpi * rate).sum(axis=axis)
    safe = np.where(total != 0, total, 1.0)
    return np.where(total != 0, weighted / safe, rate.mean(axis=axis))


def per_geo(values: FloatArray) -> FloatArray:
    """``(n_geos, n_times)`` → ``(n_geos,)``: the mean over time, ignoring NaN (exact if constant)."""
    low, high = np.nanmin(values, axis=1), np.nanmax(values, axis=1)
    return np.where(low == high, low, np.nanmean(values, axis=1))


def date_range(first: np.datetime64, last: np.datetime64, step: int) -> DateArray:
    """Dates from ``first`` to ``last`` (inclusive), ``step`` days apart."""
    return np.arange(first, last + np.timedelta64(1, "D"), np.timedelta64(step, "D"))


def listing(values: npt.NDArray[Any] | list[Any], n: int | None = None, sep: str = ", ") -> str:
    """The first few ``values`` joined, and how many more of ``n`` (default: all) there are."""
    n = len(values) if n is None else n
    shown = sep.join(str(v) for v in list(values)[:LISTED])
    return shown + (f" and {n - LISTED} more" if n > LISTED else "")


def filled(values: Any) -> FloatArray:
    """A fetched DOUBLE column with SQL NULLs as NaN."""
    if isinstance(values, np.ma.MaskedArray):
        return np.asarray(values.filled(np.nan), dtype=np.float64)
    return np.asarray(values, dtype=np.float64)


def fetched_column(values: Any) -> npt.NDArray[Any]:
    """A fetched column as a plain array: floats with NaN, dates as days, NULL text as None."""
    if values.dtype.kind == "f":
        return filled(values)
    if values.dtype.kind == "M":
        return np.asarray(values).astype("datetime64[D]")
    if isinstance(values, np.ma.MaskedArray):
        return np.asarray(values.filled(None), dtype=object)
    return np.asarray(values)
