"""The model-ready panel: :class:`MarketingData`, and the loaders that build it.

``MarketingData`` is the one validated object the models trust: weekly dates, geos,
channels and controls as labelled, read-only float64 arrays in the package-wide order
``(n_geos, n_times, n_channels)``. Build it with :func:`load_panel` from a wide file
(:func:`load_panel_csv`) or from a workspace's weekly views
(:func:`load_panel_workspace`); code downstream never re-validates it.

Daily input is rolled up to weeks (sums for spend, impressions and the KPI, means for
controls and population, the KPI-weighted mean for revenue per KPI). Weeks only partly
covered at either end of daily data are dropped, so every week holds seven days.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from margin.data.panel.common import LISTED, Cubes, DateArray, listing
from margin.data.panel.spec import KPI_TYPES, DataSpec, KpiType, Spec
from margin.errors import ConfigError, DataValidationError
from margin.types import FloatArray

if TYPE_CHECKING:
    import pandas as pd

    from margin.data.workspace.store import Workspace

__all__ = ["MarketingData", "load_panel"]

TimeIndex = int | str | date | np.datetime64 | None
_SHAPES = {
    "spend": ("n_geos", "n_times", "n_channels"),
    "impressions": ("n_geos", "n_times", "n_channels"),
    "kpi": ("n_geos", "n_times"),
    "controls": ("n_geos", "n_times", "n_controls"),
    "population": ("n_geos",),
    "revenue_per_kpi": ("n_geos", "n_times"),
}


@dataclass(frozen=True, kw_only=True, eq=False)
class MarketingData:
    """A validated weekly marketing panel.

    Attributes:
        dates: ``(n_times,)`` datetime64[D], strictly increasing, 7 days apart (each
            week labelled by its first day).
        geos, channels, control_names: unique labels of the geo, channel and control axes.
        spend: ``(n_geos, n_times, n_channels)`` non-negative spend.
        impressions: ``(n_geos, n_times, n_channels)`` non-negative, or ``None``.
        kpi: ``(n_geos, n_times)`` the outcome, never missing.
        controls: ``(n_geos, n_times, n_controls)``.
        population: ``(n_geos,)`` positive, or ``None``.
        revenue_per_kpi: ``(n_geos, n_times)`` value of one conversion (``conversions``
            KPIs only), or ``None``.
        kpi_name: the KPI's name; kpi_type: ``revenue`` or ``conversions``.

    Arrays are copied to float64 and made read-only. Compare panels with
    :meth:`data_hash` (``==`` is identity: arrays have no single truth value).

    Raises:
        DataValidationError: a shape, date, missing or negative value breaks the contract
            (the message names the geo, week and channel).
    """

    dates: DateArray
    geos: tuple[str, ...]
    channels: tuple[str, ...]
    control_names: tuple[str, ...]
    spend: FloatArray
    impressions: FloatArray | None = None
    kpi: FloatArray
    controls: FloatArray
    population: FloatArray | None = None
    revenue_per_kpi: FloatArray | None = None
    kpi_name: str = "kpi"
    kpi_type: KpiType = "revenue"

    def __post_init__(self) -> None:
        for name in ("geos", "channels", "control_names"):
            object.__setattr__(self, name, _labels(name, getattr(self, name)))
        if not self.geos or not self.channels:
            raise DataValidationError("a panel needs at least one geo and one channel")
        dates = _weekly_dates(self.dates)
        object.__setattr__(self, "dates", dates)
        sizes = {
            "n_geos": len(self.geos),
            "n_times": len(dates),
            "n_channels": len(self.channels),
            "n_controls": len(self.control_names),
        }
        for name, dims in _SHAPES.items():
            value = getattr(self, name)
            if value is not None:
                shape = tuple(sizes[d] for d in dims)
                object.__setattr__(self, name, _frozen_array(name, value, shape))
        if self.kpi_type not in KPI_TYPES:
            raise ConfigError(f"kpi_type {self.kpi_type!r} is not one of {list(KPI_TYPES)}")
        if self.revenue_per_kpi is not None and self.kpi_type != "conversions":
            raise ConfigError(
                f"revenue_per_kpi is given but kpi_type is {self.kpi_type!r}; it applies to "
                "conversions KPIs only: drop it or set kpi_type='conversions'"
            )
        self._check_values()

    def _check_values(self) -> None:
        kpi = self.kpi
        self._require(np.isnan(kpi), f"KPI {self.kpi_name!r}", "missing", "fill or drop weeks")
        self._require(~np.isfinite(kpi), f"KPI {self.kpi_name!r}", "infinite", "fix the values")
        for name in ("spend", "impressions", "controls", "revenue_per_kpi", "population"):
            value: FloatArray | None = getattr(self, name)
            if value is None:
                continue
            fix = "fill in every geo and week (0 for no spend)"
            self._require(~np.isfinite(value), name, "missing or not finite", fix)
        for name in ("spend", "impressions", "revenue_per_kpi"):
            value = getattr(self, name)
            if value is not None:
                self._require(value < 0, name, "negative", "it cannot be below 0")
        if self.population is not None:
            self._require(self.population <= 0, "population", "not positive", "fix it")

    def _require(self, bad: npt.NDArray[np.bool_], what: str, problem: str, fix: str) -> None:
        if not bad.any():
            return
        media = what in ("spend", "impressions")
        kind, labels = ("channel", self.channels) if media else ("control", self.control_names)
        places = []
        for index in np.argwhere(bad)[:LISTED]:
            where = [f"geo {self.geos[index[0]]!r}"]
            if len(index) > 1:
                where.append(f"week {self.dates[index[1]]}")
            if len(index) > 2:
                where.append(f"{kind} {labels[index[2]]!r}")
            places.append(" ".join(where))
        where_all = listing(places, int(bad.sum()), "; ")
        raise DataValidationError(f"{what} is {problem} at {where_all}; {fix}")

    # -- shape ------------------------------------------------------------------------
    @property
    def n_geos(self) -> int:
        return len(self.geos)

    @property
    def n_times(self) -> int:
        return int(self.dates.shape[0])

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def is_national(self) -> bool:
        """True when the panel has a single geo."""
        return self.n_geos == 1

    # -- views ------------------------------------------------------------------------
    def data_hash(self) -> str:
        """SHA-256 (hex) over the labels and the bytes of every array; identifies runs."""
        digest = hashlib.sha256()
        labels = {
            "geos": self.geos,
            "channels": self.channels,
            "control_names": self.control_names,
            "kpi_name": self.kpi_name,
            "kpi_type": self.kpi_type,
        }
        digest.update(json.dumps(labels, sort_keys=True).encode("utf-8"))
        arrays: dict[str, npt.NDArray[Any] | None] = {
            "dates": self.dates.astype(np.int64),
            **{name: getattr(self, name) for name in _SHAPES},
        }
        for name, array in arrays.items():
            digest.update(name.encode("utf-8"))
            if array is None:
                digest.update(b"none")
                continue
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def to_frame(self) -> pd.DataFrame:
        """A long frame: columns ``date, geo, kind, name, value``.

        ``kind`` is one of ``kpi, spend, impressions, control, revenue_per_kpi,
        population`` and ``name`` the KPI, channel or control (population repeats each week).
        """
        import pandas as pd

        g, t = self.n_geos, self.n_times
        cubes: list[tuple[str, tuple[str, ...], FloatArray]] = [
            ("kpi", (self.kpi_name,), self.kpi[:, :, None]),
            ("spend", self.channels, self.spend),
        ]
        if self.impressions is not None:
            cubes.append(("impressions", self.channels, self.impressions))
        cubes.append(("control", self.control_names, self.controls))
        if self.revenue_per_kpi is not None:
            cubes.append(
                ("revenue_per_kpi", ("revenue_per_kpi",), self.revenue_per_kpi[:, :, None])
            )
        if self.population is not None:
            repeated = np.broadcast_to(self.population[:, None, None], (g, t, 1))
            cubes.append(("population", ("population",), repeated))
        frames = []
        for kind, names, cube in cubes:
            n = len(names)
            if n == 0:
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "date": np.tile(np.repeat(self.dates, n), g),
                        "geo": np.repeat(np.array(self.geos, dtype=object), t * n),
                        "kind": kind,
                        "name": np.tile(np.array(names, dtype=object), g * t),
                        "value": np.asarray(cube).reshape(-1),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def slice_times(self, start: TimeIndex = None, stop: TimeIndex = None) -> MarketingData:
        """The weeks from ``start`` (inclusive) to ``stop`` (exclusive).

        Each bound is a position (negative counts from the end, as in Python slicing), a
        date (``"2024-01-01"``, :class:`datetime.date`, ``np.datetime64``) or ``None``.
        """
        lo = self._time_position(start, is_start=True)
        hi = self._time_position(stop, is_start=False)
        if hi <= lo:
            raise ConfigError(
                f"slice_times({start!r}, {stop!r}) selects no weeks; the panel runs from "
                f"{self.dates[0]} to {self.dates[-1]} ({self.n_times} weeks)"
            )
        window = slice(lo, hi)

        def cut(array: FloatArray | None) -> FloatArray | None:
            return None if array is None else array[:, window]

        return dataclasses.replace(
            self,
            dates=self.dates[window],
            spend=self.spend[:, window],
            impressions=cut(self.impressions),
            kpi=self.kpi[:, window],
            controls=self.controls[:, window],
            revenue_per_kpi=cut(self.revenue_per_kpi),
        )

    def _time_position(self, bound: TimeIndex, *, is_start: bool) -> int:
        n = self.n_times
        if bound is None:
            return 0 if is_start else n
        if isinstance(bound, int) and not isinstance(bound, bool):
            return (
                slice(bound, None).indices(n)[0] if is_start else slice(None, bound).indices(n)[1]
            )
        try:
            day = np.datetime64(bound, "D")
        except ValueError as err:
            raise ConfigError(
                f"slice_times bound {bound!r} is neither a position nor a date (YYYY-MM-DD)"
            ) from err
        return int(np.searchsorted(self.dates, day, side="left"))


def _labels(name: str, values: object) -> tuple[str, ...]:
    labels = tuple(values) if isinstance(values, tuple | list) else None
    if labels is None or not all(isinstance(v, str) and v for v in labels):
        raise DataValidationError(f"{name} must be a tuple of non-empty strings; got {values!r}")
    repeated = sorted({v for v in labels if labels.count(v) > 1})
    if repeated:
        raise DataValidationError(f"{name} repeats {repeated}; every label must be unique")
    return labels


def _weekly_dates(values: object) -> DateArray:
    try:
        dates = np.array(values).astype("datetime64[D]")
    except (ValueError, TypeError) as err:
        raise DataValidationError(f"dates cannot be read as dates: {err}") from err
    if dates.ndim != 1 or dates.size == 0 or np.isnat(dates).any():
        raise DataValidationError(
            f"dates must be a non-empty 1-d array of dates without NaT; got shape {dates.shape}"
        )
    steps = np.diff(dates).astype(np.int64)
    bad = np.flatnonzero(steps != 7)
    if bad.size:
        i = int(bad[0])
        raise DataValidationError(
            f"dates must be weekly (strictly increasing, 7 days apart): {dates[i]} is followed "
            f"by {dates[i + 1]}, {steps[i]} days later ({bad.size} such step(s)); "
            "fill the missing weeks or roll daily data up to weeks"
        )
    dates.flags.writeable = False
    return dates


def _frozen_array(name: str, value: object, shape: tuple[int, ...]) -> FloatArray:
    try:
        array = np.array(value, dtype=np.float64, copy=True)
    except (ValueError, TypeError) as err:
        raise DataValidationError(f"{name} cannot be read as float64 numbers: {err}") from err
    if array.shape != shape:
        dims = ", ".join(_SHAPES[name])
        raise DataValidationError(f"{name} has shape {array.shape}; expected {shape} = ({dims})")
    array.flags.writeable = False
    return array


def assemble(
    dates: DateArray, geos: tuple[str, ...], data: DataSpec, cubes: Cubes
) -> MarketingData:
    """Label the loaders' ``cubes`` as a :class:`MarketingData` (validated on construction)."""
    rpk = cubes.revenue_per_kpi
    if isinstance(data.revenue_per_kpi, float | int):
        rpk = np.full(cubes.kpi.shape, float(data.revenue_per_kpi))
    return MarketingData(
        dates=dates,
        geos=geos,
        channels=data.media,
        control_names=data.controls,
        spend=cubes.spend,
        impressions=cubes.impressions,
        kpi=cubes.kpi,
        controls=cubes.controls,
        population=cubes.population,
        revenue_per_kpi=rpk,
        kpi_name=data.kpi,
        kpi_type=data.kpi_type,
    )


def load_panel(
    spec: Spec,
    *,
    data: str | Path | None = None,
    workspace: Workspace | None = None,
    week_start: str = "monday",
) -> MarketingData:
    """Build the panel from a wide file (``data``) or a workspace; give exactly one.

    ``week_start`` applies to daily files; a workspace has its own week start.
    """
    if (data is None) == (workspace is None):
        raise ConfigError(
            "load_panel needs exactly one source: data=PATH (a wide CSV or Parquet file) "
            "or workspace=WORKSPACE"
        )
    if data is not None:
        from margin.data.panel.from_csv import load_panel_csv

        return load_panel_csv(data, spec, week_start=week_start)
    from margin.data.panel.from_workspace import load_panel_workspace

    if workspace is None:  # pragma: no cover - excluded above
        raise AssertionError
    return load_panel_workspace(workspace, spec)
