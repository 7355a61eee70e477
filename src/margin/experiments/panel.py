"""Geo panels: one KPI (and optionally spend) per geo and period, validated once.

A :class:`GeoPanel` is what every design and analysis function takes. It is built from a
CSV (``date, geo, kpi[, spend]``), from a long data frame, or from the workspace's
``outcomes`` (and ``spend``) tables; the loaders check for gaps, duplicates, missing values
and too few geos, and everything downstream trusts the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from margin.errors import ConfigError, DataValidationError
from margin.types import FloatArray

if TYPE_CHECKING:
    import pandas as pd

    from margin.data.workspace.store import Workspace

__all__ = [
    "MIN_GEOS",
    "GeoPanel",
    "load_panel_csv",
    "load_panel_workspace",
    "panel_from_frame",
]


MIN_GEOS = 3
"""A panel needs at least one treated and two control geos."""


@dataclass(frozen=True, eq=False)
class GeoPanel:
    """A balanced geo × time panel.

    Attributes:
        dates: ``(n_times,)`` period start dates, strictly increasing, evenly spaced.
        geos: ``(n_geos,)`` geo names, sorted.
        kpi: ``(n_geos, n_times)`` outcome values.
        spend: ``(n_geos, n_times)`` media spend of the tested channel, or ``None``.
        grain_days: days between periods (1 = daily, 7 = weekly).
        source: where the panel came from (file path or ``workspace:<kpi>``).
    """

    dates: tuple[date, ...]
    geos: tuple[str, ...]
    kpi: FloatArray
    spend: FloatArray | None
    grain_days: int
    source: str

    @property
    def n_geos(self) -> int:
        return len(self.geos)

    @property
    def n_times(self) -> int:
        return len(self.dates)

    def geo_indices(self, names: list[str] | tuple[str, ...], parameter: str) -> list[int]:
        """Positions of ``names`` in :attr:`geos`; raises naming the unknown ones."""
        lookup = {g: i for i, g in enumerate(self.geos)}
        unknown = [n for n in names if n not in lookup]
        if unknown:
            shown = ", ".join(self.geos[:10]) + (" …" if self.n_geos > 10 else "")
            raise ConfigError(
                f"{parameter}: geo(s) {', '.join(unknown)} are not in the panel {self.source} "
                f"({self.n_geos} geos: {shown}); check the spelling (geo names are case-sensitive)"
            )
        return [lookup[n] for n in names]

    def time_index(self, day: date, parameter: str) -> int:
        """Index of the period that contains ``day``; raises when outside the panel."""
        first, last = self.dates[0], self.dates[-1]
        offset = (day - first).days
        if offset < 0 or day > last.fromordinal(last.toordinal() + self.grain_days - 1):
            raise ConfigError(
                f"{parameter}={day.isoformat()} is outside the panel {self.source}, which covers "
                f"{first.isoformat()} to {last.isoformat()}; pass a date inside it"
            )
        return offset // self.grain_days


def panel_from_frame(frame: pd.DataFrame, source: str, *, min_geos: int = MIN_GEOS) -> GeoPanel:
    """Validate a long frame with columns ``date, geo, kpi[, spend]`` into a panel.

    Raises:
        DataValidationError: duplicates, missing values, gaps (a geo without a row for a
            period, or uneven spacing), fewer than ``min_geos`` geos.
    """
    import pandas as pd

    frame = frame.copy()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["geo"] = frame["geo"].astype(str)
    columns = ["kpi", "spend"] if "spend" in frame.columns else ["kpi"]
    for column in columns:
        missing = frame[column].isna().to_numpy()
        if missing.any():
            rows = np.flatnonzero(missing)[:5]
            raise DataValidationError(
                f"{source}: column {column!r} is empty in {int(missing.sum())} row(s) (data rows "
                f"{', '.join(str(r + 1) for r in rows)}); fill them in or drop those periods"
            )
    duplicated = frame.duplicated(["date", "geo"], keep=False).to_numpy()
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise DataValidationError(
            f"{source}: {int(duplicated.sum())} rows repeat a (date, geo) pair, e.g. "
            f"{first['date']} / {first['geo']}; aggregate to one row per geo and period"
        )
    dates = tuple(sorted(frame["date"].unique()))
    geos = tuple(sorted(frame["geo"].unique()))
    if len(geos) < min_geos:
        raise DataValidationError(
            f"{source}: {len(geos)} geo(s) ({', '.join(geos)}); a geo test needs at least "
            f"{min_geos} (one treated and two controls); use a panel with more geos"
        )
    grain = _grain_days(dates, source)
    rows = np.searchsorted(np.array(geos, dtype=object), frame["geo"].to_numpy(dtype=object))
    ordinals = np.array([d.toordinal() for d in dates])
    cols = np.searchsorted(ordinals, [d.toordinal() for d in frame["date"]])
    wide = {}
    for column in columns:
        cells = np.full((len(geos), len(dates)), np.nan)
        cells[rows, cols] = frame[column].to_numpy(dtype=np.float64)
        wide[column] = cells
    holes = np.isnan(wide["kpi"])
    if holes.any():
        g, t = np.argwhere(holes)[0]
        raise DataValidationError(
            f"{source}: the panel has gaps: {int(holes.sum())} (geo, period) cells have "
            f"no row, e.g. geo {geos[g]!r} on {dates[t]}; every geo needs a value for every "
            "period (fill true zeros with 0)"
        )
    kpi = wide["kpi"]
    spend = wide.get("spend")
    return GeoPanel(dates, geos, kpi, spend, grain, source)


def _grain_days(dates: tuple[date, ...], source: str) -> int:
    if len(dates) < 2:
        raise DataValidationError(
            f"{source}: only {len(dates)} period(s); a geo test needs a history"
        )
    steps = np.diff([d.toordinal() for d in dates])
    grain = int(steps.min())
    if grain not in (1, 7) or not (steps == grain).all():
        where = int(np.argmax(steps != grain)) if grain in (1, 7) else 0
        raise DataValidationError(
            f"{source}: periods are not evenly spaced days or weeks (spacing {sorted(set(steps.tolist()))} "
            f"days, first irregular step after {dates[where]}); the panel has a gap in time or mixes grains"
        )
    return grain


def load_panel_csv(
    path: str | Path,
    *,
    date_format: str | None = None,
    geo_column: str = "geo",
    kpi_column: str = "kpi",
    spend_column: str | None = "spend",
) -> GeoPanel:
    """Read a panel CSV (``date, geo, kpi[, spend]``; other names via the ``*_column`` args).

    ``spend_column`` is used when the file has it; pass ``None`` to ignore spend. Dates are
    detected unless ``date_format`` is given (GeoLift's files use ``%d/%m/%y``).

    Raises:
        InputFileError / DataValidationError: unreadable file, missing columns, values that
            do not parse (rows named), gaps, duplicates, too few geos.
    """
    import duckdb

    from margin.data.ingest.readers import (
        ReadOptions,
        parse_date_column,
        parse_number_column,
        quote_identifier,
        stage_file,
    )

    con = duckdb.connect()
    try:
        staged = stage_file(con, path, options=ReadOptions(date_format=date_format))
        lowered = {c.lower(): c for c in staged.columns}
        wanted = {"date": "date", "geo": geo_column, "kpi": kpi_column}
        missing = [name for name in wanted.values() if name.lower() not in lowered]
        if missing:
            raise DataValidationError(
                f"file {path}: missing column(s) {', '.join(missing)}; it has "
                f"{', '.join(staged.columns)}. A panel needs date, geo, kpi (and optionally spend); "
                "name the columns with --geo-column / --kpi-column"
            )
        date_sql = parse_date_column(con, staged, lowered["date"], date_format)
        kpi_sql = parse_number_column(con, staged, lowered[kpi_column.lower()])
        parts = [
            f"{date_sql} AS date",
            f"CAST({quote_identifier(lowered[geo_column.lower()])} AS VARCHAR) AS geo",
            f"{kpi_sql} AS kpi",
        ]
        if spend_column is not None and spend_column.lower() in lowered:
            parts.append(
                f"{parse_number_column(con, staged, lowered[spend_column.lower()])} AS spend"
            )
        frame = con.execute(f"SELECT {', '.join(parts)} FROM {staged.relation} ORDER BY _row").df()
    finally:
        con.close()
    return panel_from_frame(frame, f"file {path}")


def load_panel_workspace(
    workspace: Workspace,
    kpi: str,
    *,
    channel: str | None = None,
    weekly: bool = False,
) -> GeoPanel:
    """The panel of ``kpi`` by geo (national rows excluded) from the workspace.

    ``weekly=True`` reads the ``outcomes_weekly`` view (only complete 7-day weeks are kept);
    ``channel`` adds that channel's spend (missing cells are zero spend).

    Raises:
        DataValidationError: the KPI has no geo rows, or the panel has gaps.
    """
    import pandas as pd

    from margin.data.workspace.schema import NATIONAL

    if weekly:
        sql = "SELECT week AS date, geo, value AS kpi FROM outcomes_weekly WHERE kpi = ? AND geo <> ? AND n_days = 7"
    else:
        sql = "SELECT date, geo, value AS kpi FROM outcomes WHERE kpi = ? AND geo <> ?"
    rows = workspace.fetch(sql, [kpi, NATIONAL])
    if not rows:
        known = [r[0] for r in workspace.fetch("SELECT DISTINCT kpi FROM outcomes ORDER BY 1")]
        raise DataValidationError(
            f"workspace {workspace.path}: no geo-level outcomes for kpi {kpi!r} (kpis present: "
            f"{', '.join(known) or 'none'}); ingest outcomes by geo or pick another --kpi"
        )
    frame = pd.DataFrame(rows, columns=["date", "geo", "kpi"])
    if channel is not None:
        frame = _with_spend(workspace, frame, channel, weekly)
    return panel_from_frame(frame, f"workspace:{kpi}")


def _with_spend(
    workspace: Workspace, frame: pd.DataFrame, channel: str, weekly: bool
) -> pd.DataFrame:
    import pandas as pd

    if weekly:
        sql = (
            "SELECT week AS date, geo, sum(spend) FROM spend_weekly WHERE channel = ? GROUP BY ALL"
        )
    else:
        sql = "SELECT date, geo, sum(spend) FROM spend WHERE channel = ? GROUP BY ALL"
    spend = pd.DataFrame(workspace.fetch(sql, [channel]), columns=["date", "geo", "spend"])
    if spend.empty:
        raise DataValidationError(
            f"workspace {workspace.path}: no spend for channel {channel!r}; check the channel name"
        )
    merged = frame.merge(spend, on=["date", "geo"], how="left")
    merged["spend"] = merged["spend"].fillna(0.0)
    return merged
