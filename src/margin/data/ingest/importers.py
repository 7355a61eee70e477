"""Importers for the data layouts of peer MMM tools (Meridian, Robyn, PyMC-Marketing).

Each importer reads one file and returns :class:`Imported`: the workspace's long
tables as pandas frames, plus a suggested ``[data]`` spec for
:func:`margin.data.panel.marketing_data.load_panel_workspace`. Importers only read; writing the
frames to a workspace is :func:`margin.data.ingest.pipeline.ingest_frames`'s job.

| layout | date | geo | spend → channel | impressions / clicks | KPI | controls |
|---|---|---|---|---|---|---|
| meridian | ``time`` | ``geo`` (else national) | ``X_spend`` → ``X`` | ``X_impression`` | ``conversions`` (and ``revenue`` = conversions × ``revenue_per_conversion``) | every other column |
| robyn | ``DATE`` | national | ``X_S`` → ``X`` | ``X_I``; ``X_..._P`` (clicks if the name says so) | ``revenue`` | other numbers; text columns → one 0/1 control per level but ``na`` |
| pymc | the first date column | national | ``x1``, ``x2`` ... | none | ``y`` | the rest, less derived time columns (``t``, ``dayofyear``) |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from margin.data.workspace.schema import NATIONAL
from margin.errors import ConfigError, DataValidationError, InputFileError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "Imported", "import_meridian", "import_pymc", "import_robyn"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "spend": ("date", "geo", "channel", "campaign", "currency", "spend", "impressions", "clicks"),
    "outcomes": ("date", "geo", "kpi", "value"),
    "controls": ("date", "geo", "name", "value"),
}
"""The columns of each table an importer returns (the workspace's, less bookkeeping)."""

_LISTED = 5
_DERIVED_TIME = ("t", "dayofyear", "day_of_year", "trend", "time_index")
"""Columns PyMC-Marketing examples derive from the date; margin builds its own trend."""
_NA_LEVELS = ("na", "none", "")


@dataclass(frozen=True)
class Imported:
    """What an importer read.

    Attributes:
        tables: ``"spend"``, ``"outcomes"``, ``"controls"`` → long frames with the
            columns in :data:`COLUMNS` (dates as :class:`datetime.date`).
        spec: a suggested ``[data]`` section for the workspace loader.
        source: the layout's name (``meridian``, ``robyn``, ``pymc``).
        notes: what was dropped or assumed, for the user.
        units: the units the importer assumed for spend and the KPI, in one sentence
            (the CLI prints it: a KPI in dollars beside spend in thousands of dollars
            makes the default ROI prior fight the data).
    """

    tables: dict[str, pd.DataFrame]
    spec: dict[str, Any]
    source: str
    notes: tuple[str, ...] = field(default=())
    units: str = ""

    def __post_init__(self) -> None:
        for kind, frame in self.tables.items():
            if kind not in COLUMNS:
                raise ConfigError(f"Imported table {kind!r} is not one of {list(COLUMNS)}")
            absent = [c for c in COLUMNS[kind] if c not in frame.columns]
            if absent:
                raise ConfigError(f"Imported table {kind!r} lacks columns {absent}")


# -- reading --------------------------------------------------------------------------
def _units(spend: str, currency: str, kpi: str) -> str:
    """The units sentence of :attr:`Imported.units`."""
    return (
        f"spend columns ({spend}) read as {currency} per week, the same currency as the KPI's "
        f"revenue; KPI {kpi}. If spend is in thousands or scaled (e.g. to 0-1), rescale it "
        "before fitting or set [priors.roi] in the spec"
    )


def _read(path: str | Path) -> tuple[Path, pd.DataFrame]:
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"file {path} does not exist (or is not a file); check the path")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise InputFileError(
            f"file {path} cannot be read as a table: {err}. Export it again as a CSV with a header"
        ) from err
    if frame.empty:
        raise InputFileError(f"file {path} has no data rows; export it again with data")
    unnamed = [c for c in frame.columns if str(c).startswith("Unnamed: ")]
    return path, frame.drop(columns=unnamed)  # pandas' name for a blank (index) header


def _require(path: Path, frame: pd.DataFrame, layout: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"file {path} ({layout} layout): missing column(s) {missing}; the file has "
            f"{[str(c) for c in frame.columns]}. Check that this is a {layout} file"
        )


def _is_numeric(frame: pd.DataFrame, column: str) -> bool:
    return frame[column].dtype.kind in "biuf"


def _numbers(path: Path, frame: pd.DataFrame, column: str) -> npt.NDArray[np.float64]:
    """A column as float64; raises naming the rows whose text is not a number."""
    import pandas as pd

    series = frame[column]
    if _is_numeric(frame, column):
        return series.to_numpy(dtype=np.float64)
    parsed = pd.to_numeric(series, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy() & series.notna().to_numpy())
    if bad.size:
        shown = [f"row {i + 1} (line {i + 2}): {series.iloc[i]!r}" for i in bad[:_LISTED]]
        more = f" and {bad.size - _LISTED} more" if bad.size > _LISTED else ""
        raise DataValidationError(
            f"file {path}, column {column!r}: {bad.size} value(s) are not numbers "
            f"({', '.join(shown)}{more}); fix them (use '.' for decimals, no thousands separators)"
        )
    return parsed.to_numpy(dtype=np.float64)


def _dates(path: Path, frame: pd.DataFrame, column: str) -> npt.NDArray[np.object_]:
    """A column of ISO dates as :class:`datetime.date` objects; raises naming bad rows."""
    import pandas as pd

    series = frame[column]
    parsed = pd.to_datetime(series.astype(str), format="ISO8601", errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        shown = [f"row {i + 1} (line {i + 2}): {series.iloc[i]!r}" for i in bad[:_LISTED]]
        raise DataValidationError(
            f"file {path}, column {column!r}: {bad.size} value(s) are not ISO dates "
            f"({', '.join(shown)}); write dates as YYYY-MM-DD"
        )
    return np.asarray(parsed.dt.date.to_numpy(), dtype=object)


def _geos(path: Path, frame: pd.DataFrame, column: str | None) -> npt.NDArray[np.object_]:
    if column is None:
        return np.full(len(frame), NATIONAL, dtype=object)
    series = frame[column]
    bad = np.flatnonzero(series.isna().to_numpy())
    if bad.size:
        rows = ", ".join(str(i + 1) for i in bad[:_LISTED])
        raise DataValidationError(f"file {path}, column {column!r}: empty geo in rows {rows}")
    return np.asarray(series.astype(str).to_numpy(), dtype=object)


# -- building the long tables ---------------------------------------------------------
def _long(
    dates: npt.NDArray[np.object_],
    geos: npt.NDArray[np.object_],
    key: str,
    values: dict[str, npt.NDArray[np.float64]],
) -> pd.DataFrame:
    """Wide columns ``values`` (name → one value per row) as long rows ``date, geo, key, value``."""
    import pandas as pd

    k = len(values)
    return pd.DataFrame(
        {
            "date": np.tile(dates, k),
            "geo": np.tile(geos, k),
            key: np.repeat(np.array(list(values), dtype=object), len(dates)),
            "value": np.concatenate(list(values.values())) if k else np.zeros(0),
        }
    )


def _spend_table(
    dates: npt.NDArray[np.object_],
    geos: npt.NDArray[np.object_],
    spend: dict[str, npt.NDArray[np.float64]],
    metrics: dict[str, dict[str, npt.NDArray[np.float64]]],
    currency: str,
) -> pd.DataFrame:
    """Spend rows; ``metrics["impressions"|"clicks"]`` maps a channel to its column (else NaN)."""
    frame = _long(dates, geos, "channel", spend).rename(columns={"value": "spend"})
    missing = np.full(len(dates), np.nan)
    for metric in ("impressions", "clicks"):
        known = metrics.get(metric, {})
        frame[metric] = np.concatenate([known.get(c, missing) for c in spend])
    frame.insert(3, "campaign", "")
    frame.insert(4, "currency", currency)
    return frame[list(COLUMNS["spend"])]


def _check_currency(currency: str) -> None:
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ConfigError(
            f"currency {currency!r} is not an ISO 4217 code; pass three capital letters, e.g. 'USD'"
        )


# -- Meridian -------------------------------------------------------------------------
def import_meridian(path: str | Path, *, currency: str = "USD") -> Imported:
    """Read a Meridian geo or national CSV (``geo, time, X_impression, X_spend, ...``).

    Channels come from ``*_spend`` columns (``Channel0_spend`` → ``Channel0``) with their
    ``*_impression`` columns; the KPI is ``conversions`` (plus ``revenue`` =
    conversions × ``revenue_per_conversion`` when that column exists); every other
    column (``*_control``, ``Promo``, organic impressions, ``population``,
    ``revenue_per_conversion``) becomes a control. A file without ``geo`` is national.
    """
    _check_currency(currency)
    path, frame = _read(path)
    kpi = next((c for c in ("conversions", "revenue") if c in frame.columns), None)
    _require(path, frame, "meridian", ["time", kpi or "conversions"])
    assert kpi is not None
    channels = [str(c)[: -len("_spend")] for c in frame.columns if str(c).endswith("_spend")]
    if not channels:
        raise DataValidationError(
            f"file {path} (meridian layout): no spend columns ending in '_spend' (e.g. "
            f"Channel0_spend); the file has {[str(c) for c in frame.columns]}"
        )
    geo = "geo" if "geo" in frame.columns else None
    dates, geos = _dates(path, frame, "time"), _geos(path, frame, geo)
    spend = {c: _numbers(path, frame, f"{c}_spend") for c in channels}
    impressions = {
        c: _numbers(path, frame, f"{c}_impression")
        for c in channels
        if f"{c}_impression" in frame.columns
    }
    outcome = {kpi: _numbers(path, frame, kpi)}
    rate = "revenue_per_conversion"
    if kpi == "conversions" and rate in frame.columns:
        outcome["revenue"] = outcome[kpi] * _numbers(path, frame, rate)
    used = {"time", "geo", kpi, *(f"{c}_spend" for c in channels)}
    used |= {f"{c}_impression" for c in impressions}
    reach = [str(c) for c in frame.columns if str(c).endswith(("_reach", "_frequency"))]
    controls = {
        str(c): _numbers(path, frame, str(c))
        for c in frame.columns
        if c not in used and str(c) not in reach
    }
    notes = [f"skipped reach/frequency columns {reach} (not supported yet)"] if reach else []
    spec: dict[str, Any] = {"date": "time", "kpi": kpi, "kpi_type": kpi, "media": channels}
    if geo:
        spec["geo"] = geo
    if len(impressions) == len(channels):
        spec["impressions"] = [f"{c}_impression" for c in channels]
    spec["controls"] = [c for c in controls if c not in ("population", rate)]
    if "population" in controls and geo:
        spec["population"] = "population"
    if rate in controls and kpi == "conversions":
        spec["revenue_per_kpi"] = rate
    tables = {
        "spend": _spend_table(dates, geos, spend, {"impressions": impressions}, currency),
        "outcomes": _long(dates, geos, "kpi", outcome),
        "controls": _long(dates, geos, "name", controls),
    }
    revenue = " (revenue = conversions × revenue_per_conversion)" if "revenue" in outcome else ""
    units = _units("*_spend", currency, f"{kpi!r} as {kpi}{revenue}")
    return Imported(tables, spec, "meridian", tuple(notes), units)


# -- Robyn ----------------------------------------------------------------------------
def import_robyn(
    path: str | Path,
    *,
    date_column: str = "DATE",
    kpi_column: str = "revenue",
    currency: str = "USD",
) -> Imported:
    """Read a Robyn input frame (``dt_simulated_weekly.csv`` style); national.

    ``X_S`` columns are channel ``X``'s spend, ``X_I`` its impressions and ``X_..._P``
    its other exposure metric (clicks when the name contains ``click``, else
    impressions). Other numeric columns (context ``*_B``, organic ``newsletter``)
    become controls; a text column (``events``) becomes one 0/1 control per level other
    than ``na``, named ``<column>_<level>``.
    """
    _check_currency(currency)
    path, frame = _read(path)
    _require(path, frame, "robyn", [date_column, kpi_column])
    columns = [str(c) for c in frame.columns]
    channels = [c[:-2] for c in columns if c.endswith("_S")]
    if not channels:
        raise DataValidationError(
            f"file {path} (robyn layout): no spend columns ending in '_S' (e.g. tv_S); "
            f"the file has {columns}"
        )
    dates, geos = _dates(path, frame, date_column), _geos(path, frame, None)
    spend = {c: _numbers(path, frame, f"{c}_S") for c in channels}
    metrics, used = _robyn_metrics(path, frame, channels)
    used |= {date_column, kpi_column, *(f"{c}_S" for c in channels)}
    controls: dict[str, npt.NDArray[np.float64]] = {}
    for column in columns:
        if column in used:
            continue
        if _is_categorical(frame, column):
            controls.update(_levels(frame, column))
        else:
            controls[column] = _numbers(path, frame, column)
    spec: dict[str, Any] = {
        "date": date_column,
        "kpi": kpi_column,
        "kpi_type": "revenue",
        "media": channels,
        "controls": list(controls),
    }
    tables = {
        "spend": _spend_table(dates, geos, spend, metrics, currency),
        "outcomes": _long(dates, geos, "kpi", {kpi_column: _numbers(path, frame, kpi_column)}),
        "controls": _long(dates, geos, "name", controls),
    }
    partial = sorted(set(channels) - set(metrics.get("impressions", {})))
    notes = [f"no impressions for {partial}: spec.impressions left empty"] if partial else []
    units = _units("*_S", currency, f"{kpi_column!r} as revenue in {currency}")
    return Imported(tables, spec, "robyn", tuple(notes), units)


def _robyn_metrics(
    path: Path, frame: pd.DataFrame, channels: list[str]
) -> tuple[dict[str, dict[str, npt.NDArray[np.float64]]], set[str]]:
    """Impressions and clicks per channel from ``*_I`` and ``*_P`` columns."""
    metrics: dict[str, dict[str, npt.NDArray[np.float64]]] = {"impressions": {}, "clicks": {}}
    used: set[str] = set()
    for column in (str(c) for c in frame.columns):
        if not column.endswith(("_I", "_P")):
            continue
        stem = column[:-2]
        channel = next((c for c in channels if stem == c or stem.startswith(f"{c}_")), None)
        if channel is None:
            raise DataValidationError(
                f"file {path}, column {column!r}: a media metric with no spend column; Robyn "
                f"pairs each with one (e.g. {stem}_S). Spend columns found: {channels}"
            )
        metric = "clicks" if "click" in stem[len(channel) :].lower() else "impressions"
        if channel in metrics[metric]:
            raise DataValidationError(
                f"file {path}, column {column!r}: channel {channel!r} already has {metric}; "
                "keep one exposure column per channel"
            )
        metrics[metric][channel] = _numbers(path, frame, column)
        used.add(column)
    return metrics, used


def _is_categorical(frame: pd.DataFrame, column: str) -> bool:
    """Text columns where most values are not numbers (a stray text in numbers is an error)."""
    import pandas as pd

    if _is_numeric(frame, column):
        return False
    present = frame[column].dropna()
    parsed = pd.to_numeric(present, errors="coerce")
    return bool(parsed.isna().sum() * 2 > len(present))


def _levels(frame: pd.DataFrame, column: str) -> dict[str, npt.NDArray[np.float64]]:
    """One 0/1 indicator per level of a text column, ``na`` (and empty) excluded."""
    text = frame[column].fillna("na").astype(str).str.strip()
    levels = sorted({v for v in text if v.lower() not in _NA_LEVELS})
    return {f"{column}_{v}": np.asarray(text == v, dtype=np.float64) for v in levels}


# -- PyMC-Marketing -------------------------------------------------------------------
def import_pymc(
    path: str | Path,
    *,
    date_column: str | None = None,
    y_column: str = "y",
    channel_columns: list[str] | None = None,
    control_columns: list[str] | None = None,
    currency: str = "USD",
) -> Imported:
    """Read a PyMC-Marketing X/y frame (``date_week, y, x1, x2, event_1, ...``); national.

    Args:
        date_column: the date column; default the first text column that parses as dates.
        y_column: the KPI (treated as revenue).
        channel_columns: spend columns; default the columns named ``x`` + digits.
        control_columns: default every other column except derived time columns
            (``t``, ``dayofyear`` ...), which are dropped (see ``notes``).
    """
    _check_currency(currency)
    path, frame = _read(path)
    columns = [str(c) for c in frame.columns]
    date_column = date_column or _date_column(path, frame)
    channels = channel_columns or [c for c in columns if re.fullmatch(r"x\d+", c)]
    if not channels:
        raise DataValidationError(
            f"file {path} (pymc layout): no channel columns named x1, x2 ...; the file has "
            f"{columns}. Pass channel_columns=[...]"
        )
    _require(path, frame, "pymc", [date_column, y_column, *channels, *(control_columns or [])])
    notes: list[str] = []
    if control_columns is None:
        rest = [c for c in columns if c not in (date_column, y_column, *channels)]
        dropped = [c for c in rest if c in _DERIVED_TIME]
        control_columns = [c for c in rest if c not in _DERIVED_TIME]
        if dropped:
            notes.append(f"dropped derived time column(s) {dropped}; margin models trend itself")
    dates, geos = _dates(path, frame, date_column), _geos(path, frame, None)
    spend = {c: _numbers(path, frame, c) for c in channels}
    controls = {c: _numbers(path, frame, c) for c in control_columns}
    spec: dict[str, Any] = {
        "date": date_column,
        "kpi": y_column,
        "kpi_type": "revenue",
        "media": list(channels),
        "controls": list(control_columns),
    }
    tables = {
        "spend": _spend_table(dates, geos, spend, {}, currency),
        "outcomes": _long(dates, geos, "kpi", {y_column: _numbers(path, frame, y_column)}),
        "controls": _long(dates, geos, "name", controls),
    }
    units = _units(", ".join(channels), currency, f"{y_column!r} as revenue in {currency}")
    return Imported(tables, spec, "pymc", tuple(notes), units)


def _date_column(path: Path, frame: pd.DataFrame) -> str:
    import pandas as pd

    for column in (str(c) for c in frame.columns):
        if _is_numeric(frame, column):
            continue
        values = frame[column].dropna().astype(str)
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
        if len(values) and not parsed.isna().any():
            return column
    raise DataValidationError(
        f"file {path} (pymc layout): no column holds ISO dates (YYYY-MM-DD); the file has "
        f"{[str(c) for c in frame.columns]}. Pass date_column=..."
    )
