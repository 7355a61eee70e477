"""Building :class:`MarketingData` from a wide CSV or Parquet file (one row per date × geo)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from margin.data.ingest.readers import (
    parse_date_column,
    parse_number_column,
    quote_identifier,
    stage_file,
)
from margin.data.panel.common import (
    LISTED,
    Cubes,
    DateArray,
    date_range,
    fetched_column,
    filled,
    kpi_weighted,
    listing,
    per_geo,
)
from margin.data.panel.marketing_data import MarketingData, assemble
from margin.data.panel.spec import DataSpec, Spec
from margin.data.workspace.schema import NATIONAL, WEEKDAYS
from margin.errors import ConfigError, DataValidationError
from margin.types import FloatArray

__all__ = ["load_panel_csv"]


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
    return assemble(dates, geos, data, cubes)


def _read_wide(path: Path, data: DataSpec) -> _Wide:
    import duckdb

    columns = _numeric_columns(data)
    con = duckdb.connect()
    try:
        staged = stage_file(con, path, "assemble")
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
        fetched = con.execute(
            f"SELECT {', '.join(select)} FROM assemble ORDER BY _row"
        ).fetchnumpy()
    finally:
        con.close()
    geos = fetched_column(fetched["_geo"]) if data.geo else np.full(len(fetched["_row"]), NATIONAL)
    return _Wide(
        path=path,
        rows=np.asarray(fetched["_row"], dtype=np.int64),
        dates=np.asarray(fetched["_date"]).astype("datetime64[D]"),
        geos=np.asarray(geos, dtype=object),
        numbers={c: filled(fetched[f"_v{i}"]) for i, c in enumerate(columns)},
    )


def _rows_error(
    wide: _Wide, column: str, bad: npt.NDArray[np.bool_], problem: str, fix: str
) -> None:
    if not bad.any():
        return
    index = np.flatnonzero(bad)
    values = wide.numbers.get(column)
    shown = [
        f"row {wide.rows[i]}" + ("" if values is None else f": {float(values[i])!r}")
        for i in index[:LISTED]
    ]
    where = listing(shown, index.size)
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
    shown = [f"row {wide.rows[i]} ({wide.dates[i]}, {wide.geos[i]})" for i in order[:LISTED]]
    hint = "" if data.geo else " If it holds several geos, name the geo column (data.geo)."
    raise DataValidationError(
        f"file {wide.path}: {order.size} rows repeat a (date, geo) pair: "
        f"{listing(shown, order.size)}. Each date appears once per geo: remove or sum the "
        f"duplicates.{hint}"
    )


def _wide_cubes(wide: _Wide, data: DataSpec) -> tuple[DateArray, tuple[str, ...], int, Cubes]:
    """The file's values on the (geo, date) grid; checks every geo has the same dates."""
    geo_labels, geo_index = np.unique(wide.geos.astype(str), return_inverse=True)
    geo_names = [str(g) for g in geo_labels]
    all_dates = np.unique(wide.dates)
    for g, name in enumerate(geo_names):
        lacking = np.setdiff1d(all_dates, wide.dates[geo_index == g])
        if lacking.size:
            raise DataValidationError(
                f"file {wide.path}: geo {name!r} lacks {lacking.size} date(s) that other geos "
                f"have ({listing(lacking)}); every geo needs the same dates: add those rows"
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

    cubes = Cubes(
        kpi=grid(data.kpi),
        spend=stack(data.media),
        impressions=stack(data.impressions) if data.impressions else None,
        controls=stack(data.controls),
        population=per_geo(grid(data.population)) if data.population else None,
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
        pairs = [f"{dates[i]} → {dates[i + 1]}" for i in odd[:LISTED]]
        raise DataValidationError(
            f"file {path}: dates are neither daily nor weekly (steps of {sorted(set(steps.tolist()))[:5]} "
            f"days, e.g. {', '.join(pairs)}); margin models weekly data: give one row per week "
            "(or per day) on a regular grid"
        )
    if np.any(steps != step):
        expected = date_range(dates[0], dates[-1], step)
        lacking = np.setdiff1d(expected, dates)
        unit = "day" if step == 1 else "week"
        raise DataValidationError(
            f"file {path}: the dates have gaps: {lacking.size} missing {unit}(s) "
            f"({listing(lacking)}); add rows for them (0 spend where nothing was spent)"
        )
    return step


def _roll_up(path: Path, days: DateArray, cubes: Cubes, week_start: str) -> tuple[DateArray, Cubes]:
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
        rpk = kpi_weighted(kpi, fold(cubes.revenue_per_kpi), axis=2)
    weekly = Cubes(
        kpi=kpi.sum(axis=2),
        spend=fold(cubes.spend).sum(axis=2),
        impressions=None if cubes.impressions is None else fold(cubes.impressions).sum(axis=2),
        controls=fold(cubes.controls).mean(axis=2),
        population=cubes.population,
        revenue_per_kpi=rpk,
    )
    return days[keep][::7], weekly
