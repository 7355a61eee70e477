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

from margin.data.readers import parse_date_column, parse_number_column, quote_identifier, stage_file
from margin.data.schema import NATIONAL, WEEKDAYS
from margin.data.spec import KPI_TYPES, DataSpec, KpiType, Spec
from margin.data.taxonomy import normalize_channel
from margin.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from margin.data.workspace import Workspace

__all__ = ["MarketingData", "load_panel", "load_panel_csv", "load_panel_workspace"]

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]
TimeIndex = int | str | date | np.datetime64 | None
_LISTED = 5
"""At most this many places (rows, weeks, cells) are named in one message."""
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
        for index in np.argwhere(bad)[:_LISTED]:
            where = [f"geo {self.geos[index[0]]!r}"]
            if len(index) > 1:
                where.append(f"week {self.dates[index[1]]}")
            if len(index) > 2:
                where.append(f"{kind} {labels[index[2]]!r}")
            places.append(" ".join(where))
        where_all = _listing(places, int(bad.sum()), "; ")
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


@dataclass(frozen=True)
class _Cubes:
    """Panel arrays on a (geo, week) grid before labelling; shapes as in MarketingData."""

    kpi: FloatArray
    spend: FloatArray
    impressions: FloatArray | None
    controls: FloatArray
    population: FloatArray | None
    revenue_per_kpi: FloatArray | None


def _panel(dates: DateArray, geos: tuple[str, ...], data: DataSpec, cubes: _Cubes) -> MarketingData:
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


def _kpi_weighted(kpi: FloatArray, rate: FloatArray, axis: int) -> FloatArray:
    """The KPI-weighted mean of ``rate`` along ``axis`` (plain mean where the KPI sums to 0)."""
    total = kpi.sum(axis=axis)
    weighted = (kpi * rate).sum(axis=axis)
    safe = np.where(total != 0, total, 1.0)
    return np.where(total != 0, weighted / safe, rate.mean(axis=axis))


def _per_geo(values: FloatArray) -> FloatArray:
    """``(n_geos, n_times)`` → ``(n_geos,)``: the mean over time, ignoring NaN (exact if constant)."""
    low, high = np.nanmin(values, axis=1), np.nanmax(values, axis=1)
    return np.where(low == high, low, np.nanmean(values, axis=1))


def _date_range(first: np.datetime64, last: np.datetime64, step: int) -> DateArray:
    """Dates from ``first`` to ``last`` (inclusive), ``step`` days apart."""
    return np.arange(first, last + np.timedelta64(1, "D"), np.timedelta64(step, "D"))


def _listing(values: npt.NDArray[Any] | list[Any], n: int | None = None, sep: str = ", ") -> str:
    """The first few ``values`` joined, and how many more of ``n`` (default: all) there are."""
    n = len(values) if n is None else n
    shown = sep.join(str(v) for v in list(values)[:_LISTED])
    return shown + (f" and {n - _LISTED} more" if n > _LISTED else "")


# -- wide files -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Wide:
    """A wide file's rows, typed: file row numbers, dates, geos and numeric columns."""

    path: Path
    rows: npt.NDArray[np.int64]
    dates: DateArray
    geos: npt.NDArray[np.object_]
    numbers: dict[str, FloatArray]


def _numeric_columns(data: DataSpec) -> list[str]:
    columns = [data.kpi, *data.media, *data.impressions, *data.controls]
    columns += [c for c in (data.population, data.revenue_per_kpi) if isinstance(c, str)]
    return columns


def load_panel_csv(path: str | Path, spec: Spec, *, week_start: str = "monday") -> MarketingData:
    """Build the panel from a wide CSV or Parquet file: one row per date (and geo).

    Daily files (dates one day apart) are rolled up to weeks starting on ``week_start``;
    weekly files keep their own dates.

    Raises:
        InputFileError: the file cannot be read as a table.
        DataValidationError: a spec column is missing, a value is not a number or a
            date, a (date, geo) repeats, dates have gaps or are irregular, spend is
            negative, or geos have different dates (each message names rows or dates).
    """
    if week_start not in WEEKDAYS:
        raise ConfigError(f"week_start {week_start!r} is not a weekday; use one of {WEEKDAYS}")
    data = spec.data
    wide = _read_wide(Path(path), data)
    _check_rows(wide, data)
    dates, geos, step, cubes = _wide_cubes(wide, data)
    if step == 1:
        dates, cubes = _roll_up(wide.path, dates, cubes, week_start)
    return _panel(dates, geos, data, cubes)


def _read_wide(path: Path, data: DataSpec) -> _Wide:
    import duckdb

    columns = _numeric_columns(data)
    con = duckdb.connect()
    try:
        staged = stage_file(con, path, "_panel")
        wanted = [data.date, *([data.geo] if data.geo else []), *columns]
        missing = [c for c in wanted if c not in staged.columns]
        if missing:
            lower = {c.lower(): c for c in staged.columns}
            near = [
                f"{m!r} (the file has {lower[m.lower()]!r})" for m in missing if m.lower() in lower
            ]
            hint = f" Names are case-sensitive: {', '.join(near)}." if near else ""
            raise DataValidationError(
                f"file {path}: missing column(s) {missing} named in the spec's [data]; the file "
                f"has {list(staged.columns)}.{hint} Rename the columns in the file or in the spec"
            )
        select = ["_row", f"{parse_date_column(con, staged, data.date)} AS _date"]
        geo = (
            f"nullif(trim(CAST({quote_identifier(data.geo)} AS VARCHAR)), '')"
            if data.geo
            else "NULL"
        )
        select.append(f"{geo} AS _geo")
        select += [f"{parse_number_column(con, staged, c)} AS _v{i}" for i, c in enumerate(columns)]
        fetched = con.execute(f"SELECT {', '.join(select)} FROM _panel ORDER BY _row").fetchnumpy()
    finally:
        con.close()
    geos = _column(fetched["_geo"]) if data.geo else np.full(len(fetched["_row"]), NATIONAL)
    return _Wide(
        path=path,
        rows=np.asarray(fetched["_row"], dtype=np.int64),
        dates=np.asarray(fetched["_date"]).astype("datetime64[D]"),
        geos=np.asarray(geos, dtype=object),
        numbers={c: _filled(fetched[f"_v{i}"]) for i, c in enumerate(columns)},
    )


def _filled(values: Any) -> FloatArray:
    """A fetched DOUBLE column with SQL NULLs as NaN."""
    if isinstance(values, np.ma.MaskedArray):
        return np.asarray(values.filled(np.nan), dtype=np.float64)
    return np.asarray(values, dtype=np.float64)


def _rows_error(
    wide: _Wide, column: str, bad: npt.NDArray[np.bool_], problem: str, fix: str
) -> None:
    if not bad.any():
        return
    index = np.flatnonzero(bad)
    values = wide.numbers.get(column)
    shown = [
        f"row {wide.rows[i]}" + ("" if values is None else f": {float(values[i])!r}")
        for i in index[:_LISTED]
    ]
    where = _listing(shown, index.size)
    raise DataValidationError(f"file {wide.path}, column {column!r}: {problem} ({where}). {fix}")


def _check_rows(wide: _Wide, data: DataSpec) -> None:
    if data.geo:
        missing_geo = np.array([g is None for g in wide.geos], dtype=bool)
        _rows_error(wide, data.geo, missing_geo, "empty geo", "Name the geo of every row")
    fill = "Every row needs a number: fill them in (write 0 for weeks without spend)"
    for column, values in wide.numbers.items():
        _rows_error(wide, column, ~np.isfinite(values), "values are empty or not finite", fill)
    positive = "Spend, impressions and revenue per KPI cannot be negative: fix those rows"
    rpk = [data.revenue_per_kpi] if isinstance(data.revenue_per_kpi, str) else []
    for column in (*data.media, *data.impressions, *rpk):
        _rows_error(wide, column, wide.numbers[column] < 0, "negative values", positive)
    if data.population:
        bad = wide.numbers[data.population] <= 0
        _rows_error(wide, data.population, bad, "population is not positive", "Fix those rows")
    _check_duplicates(wide, data)


def _check_duplicates(wide: _Wide, data: DataSpec) -> None:
    geo_names, geo_index = np.unique(wide.geos.astype(str), return_inverse=True)
    keys = wide.dates.astype(np.int64) * len(geo_names) + geo_index
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    repeated = np.isin(keys, keys[first[counts > 1]])
    if not repeated.any():
        return
    index = np.flatnonzero(repeated)
    order = index[np.argsort(keys[index], kind="stable")]
    shown = [f"row {wide.rows[i]} ({wide.dates[i]}, {wide.geos[i]})" for i in order[:_LISTED]]
    hint = "" if data.geo else " If it holds several geos, name the geo column (data.geo)."
    raise DataValidationError(
        f"file {wide.path}: {order.size} rows repeat a (date, geo) pair: "
        f"{_listing(shown, order.size)}. Each date appears once per geo: remove or sum the "
        f"duplicates.{hint}"
    )


def _wide_cubes(wide: _Wide, data: DataSpec) -> tuple[DateArray, tuple[str, ...], int, _Cubes]:
    """The file's values on the (geo, date) grid; checks every geo has the same dates."""
    geo_labels, geo_index = np.unique(wide.geos.astype(str), return_inverse=True)
    geo_names = [str(g) for g in geo_labels]
    all_dates = np.unique(wide.dates)
    for g, name in enumerate(geo_names):
        lacking = np.setdiff1d(all_dates, wide.dates[geo_index == g])
        if lacking.size:
            raise DataValidationError(
                f"file {wide.path}: geo {name!r} lacks {lacking.size} date(s) that other geos "
                f"have ({_listing(lacking)}); every geo needs the same dates: add those rows"
            )
    step = _date_step(wide.path, all_dates)
    shape = (len(geo_names), len(all_dates))
    time_index = np.searchsorted(all_dates, wide.dates)

    def grid(column: str) -> FloatArray:
        cube = np.full(shape, np.nan)
        cube[geo_index, time_index] = wide.numbers[column]
        return cube

    def stack(columns: tuple[str, ...]) -> FloatArray:
        return np.stack([grid(c) for c in columns], axis=-1) if columns else np.zeros((*shape, 0))

    cubes = _Cubes(
        kpi=grid(data.kpi),
        spend=stack(data.media),
        impressions=stack(data.impressions) if data.impressions else None,
        controls=stack(data.controls),
        population=_per_geo(grid(data.population)) if data.population else None,
        revenue_per_kpi=grid(data.revenue_per_kpi)
        if isinstance(data.revenue_per_kpi, str)
        else None,
    )
    return all_dates, tuple(geo_names), step, cubes


def _date_step(path: Path, dates: DateArray) -> int:
    """1 for daily dates, 7 for weekly ones; raises on gaps or irregular steps."""
    if dates.size < 2:
        return 7
    steps = np.diff(dates).astype(np.int64)
    step = int(steps.min())
    if step not in (1, 7) or np.any(steps % step):
        odd = np.flatnonzero(steps != step) if step in (1, 7) else np.array([int(np.argmin(steps))])
        pairs = [f"{dates[i]} → {dates[i + 1]}" for i in odd[:_LISTED]]
        raise DataValidationError(
            f"file {path}: dates are neither daily nor weekly (steps of {sorted(set(steps.tolist()))[:5]} "
            f"days, e.g. {', '.join(pairs)}); margin models weekly data: give one row per week "
            "(or per day) on a regular grid"
        )
    if np.any(steps != step):
        expected = _date_range(dates[0], dates[-1], step)
        lacking = np.setdiff1d(expected, dates)
        unit = "day" if step == 1 else "week"
        raise DataValidationError(
            f"file {path}: the dates have gaps: {lacking.size} missing {unit}(s) "
            f"({_listing(lacking)}); add rows for them (0 spend where nothing was spent)"
        )
    return step


def _roll_up(
    path: Path, days: DateArray, cubes: _Cubes, week_start: str
) -> tuple[DateArray, _Cubes]:
    """Daily cubes → weekly ones; partial weeks at either end are dropped."""
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    first = int((WEEKDAYS.index(week_start) - weekday[0]) % 7)
    n_weeks = (days.size - first) // 7
    if n_weeks == 0:
        raise DataValidationError(
            f"file {path}: the daily dates {days[0]} to {days[-1]} hold no full week starting "
            f"on a {week_start}; give at least 7 days from a {week_start} (or pass week_start)"
        )
    keep = slice(first, first + 7 * n_weeks)

    def fold(cube: FloatArray) -> FloatArray:
        part = cube[:, keep]
        return part.reshape(part.shape[0], n_weeks, 7, *part.shape[2:])

    kpi = fold(cubes.kpi)
    rpk = None
    if cubes.revenue_per_kpi is not None:
        rpk = _kpi_weighted(kpi, fold(cubes.revenue_per_kpi), axis=2)
    weekly = _Cubes(
        kpi=kpi.sum(axis=2),
        spend=fold(cubes.spend).sum(axis=2),
        impressions=None if cubes.impressions is None else fold(cubes.impressions).sum(axis=2),
        controls=fold(cubes.controls).mean(axis=2),
        population=cubes.population,
        revenue_per_kpi=rpk,
    )
    return days[keep][::7], weekly


# -- workspaces -----------------------------------------------------------------------
def _fetch(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
) -> dict[str, npt.NDArray[Any]]:
    """Rows as columns: DOUBLE with NULL as NaN, DATE as datetime64[D], the rest as fetched."""
    return {k: _column(v) for k, v in con.execute(sql, params).fetchnumpy().items()}


def _column(values: Any) -> npt.NDArray[Any]:
    if values.dtype.kind == "f":
        return _filled(values)
    if values.dtype.kind == "M":
        return np.asarray(values).astype("datetime64[D]")
    if isinstance(values, np.ma.MaskedArray):
        return np.asarray(values.filled(None), dtype=object)
    return np.asarray(values)


def _names(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[str]:
    return [str(r[0]) for r in con.execute(sql, params or []).fetchall() if r[0] is not None]


def load_panel_workspace(workspace: Workspace, spec: Spec) -> MarketingData:
    """Build the panel from a workspace's weekly views.

    The time grid is the weeks of the KPI (``outcomes_weekly`` rows with ``kpi ==
    data.kpi``; for daily data, weeks partly covered at either end are dropped) and the
    geos are the KPI's geos. A channel without a row in a week and geo counts as zero
    spend. With ``data.geo`` unset the geos are summed into one national geo (controls:
    the population-weighted mean when ``data.population`` is set, else the plain mean).
    Channel names match exactly or after harmonisation (``"Paid Social"`` =
    ``"paid_social"``); the panel keeps the spec's names.

    Raises:
        DataValidationError: the KPI, a channel or a control is absent (the message lists
            what the workspace has), weeks or values are missing, or spend lies outside the
            KPI's geos or does not cover its weeks.
    """
    con, data = workspace.con, spec.data
    geos, weeks, kpi = _workspace_kpi(con, data)
    channels = _match_channels(con, data.media)
    national = data.geo is None
    spend, impressions = _workspace_spend(con, channels, data, None if national else geos, weeks)
    controls = _workspace_controls(con, data.controls, "data.controls", geos, weeks)
    population = None
    if data.population:
        population = _workspace_population(con, data.population, geos, weeks)
    rpk = None
    if isinstance(data.revenue_per_kpi, str):
        rpk = _workspace_controls(
            con, (data.revenue_per_kpi,), "data.revenue_per_kpi", geos, weeks
        )[..., 0]
    if national:
        weights = np.ones(len(geos)) if population is None else population
        cubes = _Cubes(
            kpi=kpi.sum(axis=0, keepdims=True),
            spend=spend,
            impressions=impressions,
            controls=np.tensordot(weights / weights.sum(), controls, axes=(0, 0))[None],
            population=None if population is None else population.sum(keepdims=True),
            revenue_per_kpi=None if rpk is None else _kpi_weighted(kpi, rpk, axis=0)[None],
        )
        return _panel(weeks, (NATIONAL,), data, cubes)
    cubes = _Cubes(kpi, spend, impressions, controls, population, rpk)
    return _panel(weeks, geos, data, cubes)


def _workspace_kpi(
    con: duckdb.DuckDBPyConnection, data: DataSpec
) -> tuple[tuple[str, ...], DateArray, FloatArray]:
    """The KPI's geos, its complete weeks and its values ``(n_geos, n_times)``."""
    rows = _fetch(
        con, "SELECT week, geo, value, n_days FROM outcomes_weekly WHERE kpi = ?", [data.kpi]
    )
    if rows["week"].size == 0:
        available = _names(con, "SELECT DISTINCT kpi FROM outcomes ORDER BY 1")
        raise DataValidationError(
            f"the workspace has no outcomes for KPI {data.kpi!r} (data.kpi in the spec); it has "
            f"{available or 'no outcomes at all (ingest them first)'}. Set data.kpi to one of them"
        )
    geo_labels, geo_index = np.unique(rows["geo"].astype(str), return_inverse=True)
    geo_names = tuple(str(g) for g in geo_labels)
    if NATIONAL in geo_names and len(geo_names) > 1:
        raise DataValidationError(
            f"KPI {data.kpi!r} has rows for geo {NATIONAL!r} and for {len(geo_names) - 1} other "
            "geo(s); a national total beside geo rows would count twice: keep one of them"
        )
    all_weeks = np.unique(rows["week"])
    time_index = np.searchsorted(all_weeks, rows["week"])
    days = np.zeros((len(geo_names), len(all_weeks)), dtype=np.int64)
    days[geo_index, time_index] = rows["n_days"]
    kpi = np.full(days.shape, np.nan)
    kpi[geo_index, time_index] = rows["value"]
    if days.max() > 1:  # daily data: keep full weeks, dropping partial ones at the ends
        inside = _full_weeks(data.kpi, geo_names, all_weeks, days)
        all_weeks, kpi = all_weeks[inside], kpi[:, inside]
    expected = _date_range(all_weeks[0], all_weeks[-1], 7)
    lacking = np.setdiff1d(expected, all_weeks)
    if lacking.size:
        raise DataValidationError(
            f"KPI {data.kpi!r} has no rows in {lacking.size} week(s) between {all_weeks[0]} and "
            f"{all_weeks[-1]} ({_listing(lacking)}); load outcomes for those weeks"
        )
    for g, name in enumerate(geo_names):
        absent = all_weeks[np.isnan(kpi[g])]
        if absent.size:
            raise DataValidationError(
                f"KPI {data.kpi!r} is missing for geo {name!r} in {absent.size} week(s) "
                f"({_listing(absent)}); load them, or remove the geo's outcomes"
            )
    return geo_names, all_weeks, kpi


def _full_weeks(
    kpi: str, geos: tuple[str, ...], weeks: DateArray, days: npt.NDArray[np.int64]
) -> slice:
    """The weeks of daily data from the first to the last with 7 days in every geo."""
    full = np.flatnonzero((days == 7).all(axis=0))
    if full.size == 0:
        raise DataValidationError(
            f"KPI {kpi!r} is daily but no week has all 7 days in every geo; load whole weeks"
        )
    inside = slice(int(full[0]), int(full[-1]) + 1)
    partial = np.argwhere(days[:, inside] != 7)
    if partial.size:
        shown = [
            f"geo {geos[g]!r} week {weeks[inside][t]} ({days[:, inside][g, t]} days)"
            for g, t in partial[:_LISTED]
        ]
        raise DataValidationError(
            f"KPI {kpi!r} is daily but some weeks lack days: {_listing(shown, len(partial), '; ')}"
            "; load the missing days"
        )
    return inside


def _match_channels(con: duckdb.DuckDBPyConnection, media: tuple[str, ...]) -> tuple[str, ...]:
    """The workspace channel of each spec channel (exact, else harmonised name)."""
    available = _names(con, "SELECT DISTINCT channel FROM spend ORDER BY 1")
    harmonised = {normalize_channel(a): a for a in available}
    found: list[str] = []
    missing: list[str] = []
    for name in media:
        hit = name if name in available else harmonised.get(normalize_channel(name))
        if hit is None:
            missing.append(name)
        elif hit in found:
            raise ConfigError(f"data.media names workspace channel {hit!r} twice; list it once")
        else:
            found.append(hit)
    if missing:
        raise DataValidationError(
            f"the workspace has no spend for channel(s) {missing} (data.media in the spec); it "
            f"has {available or 'no spend at all (ingest it first)'}. Use those names"
        )
    return tuple(found)


def _in_list(names: tuple[str, ...]) -> str:
    return ", ".join("?" for _ in names)


def _day(value: np.datetime64) -> date:
    return date.fromisoformat(str(value.astype("datetime64[D]")))


def _workspace_spend(
    con: duckdb.DuckDBPyConnection,
    channels: tuple[str, ...],
    data: DataSpec,
    geos: tuple[str, ...] | None,
    weeks: DateArray,
) -> tuple[FloatArray, FloatArray | None]:
    """Spend (and impressions) ``(n_geos, n_times, n_channels)``; ``geos=None`` sums all geos.

    Raises if the spend rows do not span the KPI's weeks, or have geos outside ``geos``.
    """
    rows = _fetch(
        con,
        "SELECT week, geo, channel, spend, impressions, min(week) OVER () AS first, "
        f"max(week) OVER () AS last FROM spend_weekly WHERE channel IN ({_in_list(channels)})",
        list(channels),
    )
    if not rows["week"].size or rows["first"][0] > weeks[0] or rows["last"][0] < weeks[-1]:
        span = f"{rows['first'][0]} to {rows['last'][0]}" if rows["week"].size else "no weeks"
        raise DataValidationError(
            f"spend for channels {list(channels)} covers {span} but the KPI runs from "
            f"{weeks[0]} to {weeks[-1]}; a week without spend rows inside the spend's range "
            "counts as 0, outside it is unknown: load spend for those weeks (zero rows are fine)"
        )
    inside = (rows["week"] >= weeks[0]) & (rows["week"] <= weeks[-1])
    row_geos = [str(g) for g in rows["geo"][inside]]
    labels = geos if geos is not None else tuple(sorted(set(row_geos)))
    others = sorted(set(row_geos) - set(labels))
    if others:
        raise DataValidationError(
            f"spend for channels {list(channels)} has geo(s) {others} without KPI rows (the KPI's "
            f"geos: {_listing(list(labels))}); load outcomes for them, or remove data.geo from "
            "the spec to model the national total"
        )
    geo_position = {g: i for i, g in enumerate(labels)}
    channel_position = {c: i for i, c in enumerate(channels)}
    index = (
        np.array([geo_position[v] for v in row_geos], dtype=np.int64),
        np.searchsorted(weeks, rows["week"][inside]),
        np.array([channel_position[str(v)] for v in rows["channel"][inside]], dtype=np.int64),
    )
    spend = np.zeros((len(labels), len(weeks), len(channels)))
    spend[index] = rows["spend"][inside]
    impressions = None
    if data.impressions:
        impressions = np.zeros_like(spend)
        impressions[index] = rows["impressions"][inside]
        absent = np.argwhere(np.isnan(impressions))
        if absent.size:
            shown = [f"{data.media[k]!r} geo {labels[i]!r} week {weeks[j]}" for i, j, k in absent]
            raise DataValidationError(
                f"impressions are missing in the workspace for channel "
                f"{_listing(shown, len(absent), '; ')}; load them, or leave data.impressions "
                "out of the spec"
            )
    if geos is None:
        spend = spend.sum(axis=0, keepdims=True)
        impressions = None if impressions is None else impressions.sum(axis=0, keepdims=True)
    return spend, impressions


def _workspace_controls(
    con: duckdb.DuckDBPyConnection,
    names: tuple[str, ...],
    key: str,
    geos: tuple[str, ...],
    weeks: DateArray,
    *,
    allow_missing: bool = False,
) -> FloatArray:
    """Controls ``(n_geos, n_times, n_controls)``; national-only controls apply to every geo."""
    cube = np.full((len(geos), len(weeks), len(names)), np.nan)
    if not names:
        return cube
    available = _names(con, "SELECT DISTINCT name FROM controls ORDER BY 1")
    missing = [n for n in names if n not in available]
    if missing:
        raise DataValidationError(
            f"the workspace has no control(s) {missing} ({key} in the spec); it has "
            f"{available or 'no controls at all (ingest them first)'}. Use those names"
        )
    rows = _fetch(
        con,
        f"SELECT week, geo, name, value FROM controls_weekly WHERE name IN ({_in_list(names)}) "
        "AND week BETWEEN ? AND ?",
        [*names, _day(weeks[0]), _day(weeks[-1])],
    )
    row_geos = rows["geo"].astype(str)
    position = {g: i for i, g in enumerate(geos)}
    for k, name in enumerate(names):
        mine = rows["name"] == name
        if not np.isin(row_geos[mine], geos).any() and (row_geos[mine] == NATIONAL).any():
            national = mine & (row_geos == NATIONAL)
            cube[:, np.searchsorted(weeks, rows["week"][national]), k] = rows["value"][national]
            continue
        mine &= np.isin(row_geos, geos)
        g = np.array([position[v] for v in row_geos[mine]], dtype=np.int64)
        cube[g, np.searchsorted(weeks, rows["week"][mine]), k] = rows["value"][mine]
    absent = np.argwhere(np.isnan(cube))
    if absent.size and not allow_missing:
        shown = [f"{names[k]!r} geo {geos[g]!r} week {weeks[t]}" for g, t, k in absent[:_LISTED]]
        raise DataValidationError(
            f"controls ({key}) have no value in the workspace for "
            f"{_listing(shown, len(absent), '; ')}; every geo and week needs one: load them, "
            "or drop the name from the spec"
        )
    return cube


def _workspace_population(
    con: duckdb.DuckDBPyConnection, name: str, geos: tuple[str, ...], weeks: DateArray
) -> FloatArray:
    """Each geo's population ``(n_geos,)``: the mean of its weekly values."""
    cube = _workspace_controls(con, (name,), "data.population", geos, weeks, allow_missing=True)
    values = cube[..., 0]
    absent = [geos[g] for g in range(len(geos)) if np.isnan(values[g]).all()]
    if absent:
        raise DataValidationError(
            f"population control {name!r} (data.population) has no value for geo(s) "
            f"{_listing(absent)} in the KPI's weeks; load it for every geo"
        )
    return _per_geo(values)


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
        return load_panel_csv(data, spec, week_start=week_start)
    assert workspace is not None
    return load_panel_workspace(workspace, spec)
