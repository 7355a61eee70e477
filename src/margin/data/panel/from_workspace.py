"""Building :class:`MarketingData` from a workspace's weekly views."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from margin.data.ingest.taxonomy import normalize_channel
from margin.data.panel.spec import DataSpec, Spec
from margin.data.workspace.schema import NATIONAL
from margin.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    import duckdb

    from margin.data.workspace.store import Workspace
from margin.data.panel.common import (
    LISTED,
    Cubes,
    DateArray,
    date_range,
    fetched_column,
    kpi_weighted,
    listing,
    per_geo,
)
from margin.data.panel.marketing_data import MarketingData, assemble
from margin.types import FloatArray

__all__ = ["load_panel_workspace"]


# -- workspaces -----------------------------------------------------------------------
def _fetch(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
) -> dict[str, npt.NDArray[Any]]:
    """Rows as columns: DOUBLE with NULL as NaN, DATE as datetime64[D], the rest as fetched."""
    return {k: fetched_column(v) for k, v in con.execute(sql, params).fetchnumpy().items()}


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
        cubes = Cubes(
            kpi=kpi.sum(axis=0, keepdims=True),
            spend=spend,
            impressions=impressions,
            controls=np.tensordot(weights / weights.sum(), controls, axes=(0, 0))[None],
            population=None if population is None else population.sum(keepdims=True),
            revenue_per_kpi=None if rpk is None else kpi_weighted(kpi, rpk, axis=0)[None],
        )
        return assemble(weeks, (NATIONAL,), data, cubes)
    cubes = Cubes(kpi, spend, impressions, controls, population, rpk)
    return assemble(weeks, geos, data, cubes)


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
    expected = date_range(all_weeks[0], all_weeks[-1], 7)
    lacking = np.setdiff1d(expected, all_weeks)
    if lacking.size:
        raise DataValidationError(
            f"KPI {data.kpi!r} has no rows in {lacking.size} week(s) between {all_weeks[0]} and "
            f"{all_weeks[-1]} ({listing(lacking)}); load outcomes for those weeks"
        )
    for g, name in enumerate(geo_names):
        absent = all_weeks[np.isnan(kpi[g])]
        if absent.size:
            raise DataValidationError(
                f"KPI {data.kpi!r} is missing for geo {name!r} in {absent.size} week(s) "
                f"({listing(absent)}); load them, or remove the geo's outcomes"
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
            for g, t in partial[:LISTED]
        ]
        raise DataValidationError(
            f"KPI {kpi!r} is daily but some weeks lack days: {listing(shown, len(partial), '; ')}"
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
            f"geos: {listing(list(labels))}); load outcomes for them, or remove data.geo from "
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
                f"{listing(shown, len(absent), '; ')}; load them, or leave data.impressions "
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
        shown = [f"{names[k]!r} geo {geos[g]!r} week {weeks[t]}" for g, t, k in absent[:LISTED]]
        raise DataValidationError(
            f"controls ({key}) have no value in the workspace for "
            f"{listing(shown, len(absent), '; ')}; every geo and week needs one: load them, "
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
            f"{listing(absent)} in the KPI's weeks; load it for every geo"
        )
    return per_geo(values)
