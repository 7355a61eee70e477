"""Workspace rules on the weekly grid: gaps, spend variation, outliers, spend/outcome coverage.

They read the weekly views (``spend_weekly``, ``outcomes_weekly``), which is what the
model sees. Row keys are ``week/geo/channel`` (spend) and ``week/geo/kpi`` (outcomes),
the week labelled by its first day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from margin.data.ingest.readers import quote_literal
from margin.data.rules.common import agree, finding, plural, received, sample
from margin.data.rules.findings import Finding
from margin.data.workspace.schema import NATIONAL

if TYPE_CHECKING:
    from collections.abc import Sequence

    import duckdb

    from margin.data.rules.workspace import CheckContext

__all__ = [
    "MAD_SCALE",
    "MIN_SPEND_CV",
    "MIN_WEEKS_FOR_OUTLIERS",
    "OUTLIER_Z",
    "date_gaps",
    "no_spend_variation",
    "outcomes_without_spend",
    "outliers",
    "robust_z_sql",
    "spend_without_outcomes",
]

MAD_SCALE = 1.4826
"""Scales the median absolute deviation to the standard deviation of a normal sample."""
OUTLIER_Z = 5.0
"""A weekly value whose robust z-score exceeds this in magnitude is an outlier."""
MIN_WEEKS_FOR_OUTLIERS = 8
"""Series shorter than this are not screened for outliers (the median is too noisy)."""
MIN_SPEND_CV = 0.01
"""A channel whose weekly spend varies less than this (std / mean) has no usable variation."""

_SERIES = {
    "spend": ("spend_weekly", ("geo", "channel"), "spend"),
    "outcomes": ("outcomes_weekly", ("geo", "kpi"), "value"),
}
"""Per contract table: its weekly view, the columns naming one series, the value column."""


def _week_key(columns: Sequence[str], prefix: str = "") -> str:
    parts = [f"CAST({prefix}week AS VARCHAR)", *(f"{prefix}{c}" for c in columns)]
    return f"concat_ws('/', {', '.join(parts)})"


def _span(con: duckdb.DuckDBPyConnection, view: str) -> tuple[object, object]:
    row = con.execute(f"SELECT min(week), max(week) FROM {view}").fetchone()
    return (None, None) if row is None else (row[0], row[1])


def _gaps(con: duckdb.DuckDBPyConnection, table: str) -> list[Finding]:
    view, by, _ = _SERIES[table]
    series = ", ".join(by)
    match = " AND ".join(f"t.{c} IS NOT DISTINCT FROM g.{c}" for c in by)
    found = sample(
        con,
        f"""WITH bounds AS (SELECT min(week) AS lo, max(week) AS hi FROM {view}),
            weeks AS (
                SELECT CAST(unnest(generate_series(lo, hi, INTERVAL 7 DAY)) AS DATE) AS week
                FROM bounds WHERE lo IS NOT NULL),
            grid AS (SELECT * FROM weeks CROSS JOIN (SELECT DISTINCT {series} FROM {view}))
            SELECT {_week_key(by, "g.")}, NULL FROM grid g
            WHERE NOT EXISTS (SELECT 1 FROM {view} t WHERE t.week = g.week AND {match})""",
    )
    if not found.n:
        return []
    lo, hi = _span(con, view)
    fix = (
        "ingest the missing weeks, or add rows with spend 0 if the channel was off"
        if table == "spend"
        else "ingest the missing weeks of the KPI (a week with no sales needs a row with 0)"
    )
    return finding(
        found,
        rule="date_gaps",
        severity="warning",
        table=table,
        column=None,
        message=(
            f"{plural(found.n, 'week')} {agree(found.n, 'are')} missing inside the span of {view} ({lo} to {hi}) for some "
            f"{'/'.join(by)} series; a missing week is unknown to the model, not zero."
        ),
        fix=fix[0].upper() + fix[1:] + ".",
    )


def date_gaps(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """Weeks missing from a geo/channel (spend) or geo/KPI (outcomes) series inside the span."""
    return _gaps(con, "spend") + _gaps(con, "outcomes")


def no_spend_variation(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """Channels whose national weekly spend barely changes (coefficient of variation)."""
    found = sample(
        con,
        f"""WITH national AS (
                SELECT channel, week, sum(spend) AS spend FROM spend_weekly GROUP BY channel, week),
            stats AS (
                SELECT channel, avg(spend) AS mean, stddev_pop(spend) AS sd, count(*) AS n
                FROM national GROUP BY channel)
            SELECT channel, printf('weekly spend %.2f on average, coefficient of variation %.4f',
                                   mean, coalesce(sd / nullif(abs(mean), 0), 0))
            FROM stats WHERE n >= 2 AND sd <= {MIN_SPEND_CV} * abs(mean)""",
    )
    return finding(
        found,
        rule="no_spend_variation",
        severity="warning",
        table="spend",
        column="spend",
        message=(
            f"{plural(found.n, 'channel')} {agree(found.n, 'spend')} (almost) the same every week (coefficient of variation "
            f"below {MIN_SPEND_CV}). {received(found, label='channel', quote=False)}"
        ),
        fix=(
            "An MMM cannot separate this channel's effect from the baseline; drop it from the spec's "
            "media list or add periods with different spend."
        ),
    )


def robust_z_sql(source: str, by: Sequence[str]) -> str:
    """SQL adding ``med``, ``mad``, ``n_weeks`` and the robust z-score ``z`` to ``source``.

    ``source`` yields the columns ``by`` (one series per combination), ``week`` and ``x``.
    ``z = (x − median) / (1.4826 · MAD)`` within each series, MAD the median absolute
    deviation from the median; ``z`` is NULL where MAD is 0 (over half the values equal).
    """
    part = ", ".join(by)
    return f"""SELECT *, (x - med) / nullif({MAD_SCALE} * mad, 0) AS z FROM (
        SELECT *, median(abs(x - med)) OVER (PARTITION BY {part}) AS mad FROM (
            SELECT *, median(x) OVER (PARTITION BY {part}) AS med,
                   count(*) OVER (PARTITION BY {part}) AS n_weeks
            FROM ({source}) AS _series))"""


def _outliers(con: duckdb.DuckDBPyConnection, table: str) -> list[Finding]:
    view, by, value = _SERIES[table]
    on_weeks = f" WHERE {value} > 0" if table == "spend" else ""
    source = f"SELECT {', '.join(by)}, week, {value} AS x FROM {view}{on_weeks}"
    found = sample(
        con,
        f"""SELECT {_week_key(by)}, printf('%.2f (median %.2f, robust z %.1f)', x, med, z)
            FROM ({robust_z_sql(source, by)})
            WHERE n_weeks >= {MIN_WEEKS_FOR_OUTLIERS} AND abs(z) > {OUTLIER_Z}""",
    )
    scope = "weeks with spend of its geo and channel" if table == "spend" else "its geo and KPI"
    return finding(
        found,
        rule="outliers",
        severity="warning",
        table=table,
        column=value,
        message=(
            f"{plural(found.n, 'weekly value')} {agree(found.n, 'lie')} more than {OUTLIER_Z:g} robust standard deviations "
            f"from the median of {scope}. {received(found, label='week', quote=False)}"
        ),
        fix=(
            "Check those weeks: a real push (a flight, a season) needs nothing; a unit or currency "
            "slip or a double export needs the file corrected and re-ingested; a one-off event in "
            "the KPI is best given a control."
        ),
    )


def outliers(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """Weekly spend (per geo/channel, weeks with spend) and KPI (per geo/KPI) with |z| > 5."""
    return _outliers(con, "spend") + _outliers(con, "outcomes")


def _coverage_sql(first: str, second: str) -> str:
    """``week/geo`` keys in view ``first`` and not in ``second``; both must hold rows.

    When either view holds only the national geo, the other's geos are summed into it
    (a national model compares weeks only).
    """
    national = quote_literal(NATIONAL)
    return f"""WITH a AS (SELECT DISTINCT week, geo FROM {first}),
        b AS (SELECT DISTINCT week, geo FROM {second}),
        flag AS (SELECT coalesce((SELECT bool_and(geo = {national}) FROM a), false)
                     OR coalesce((SELECT bool_and(geo = {national}) FROM b), false) AS national),
        a2 AS (SELECT DISTINCT week, CASE WHEN national THEN {national} ELSE geo END AS geo FROM a, flag),
        b2 AS (SELECT DISTINCT week, CASE WHEN national THEN {national} ELSE geo END AS geo FROM b, flag)
        SELECT concat_ws('/', CAST(week AS VARCHAR), geo), NULL
        FROM (SELECT * FROM a2 EXCEPT SELECT * FROM b2)
        WHERE EXISTS (SELECT 1 FROM b)"""


def spend_without_outcomes(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """Week/geo pairs with spend but no outcome rows (only when outcomes are loaded)."""
    found = sample(con, _coverage_sql("spend_weekly", "outcomes_weekly"))
    return finding(
        found,
        rule="spend_without_outcomes",
        severity="warning",
        table="spend",
        column=None,
        message=(
            f"{plural(found.n, 'week/geo pair')} {agree(found.n, 'have')} spend but no outcomes; the model cannot use such weeks."
        ),
        fix=(
            "Ingest the outcomes of those weeks and geos, or set the spec's dates to the weeks "
            "both tables cover."
        ),
    )


def outcomes_without_spend(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """Week/geo pairs with outcomes but no spend rows (only when spend is loaded)."""
    found = sample(con, _coverage_sql("outcomes_weekly", "spend_weekly"))
    return finding(
        found,
        rule="outcomes_without_spend",
        severity="warning",
        table="outcomes",
        column=None,
        message=(
            f"{plural(found.n, 'week/geo pair')} {agree(found.n, 'have')} outcomes but no spend; with spend unknown, "
            "the model cannot use such weeks."
        ),
        fix=(
            "Ingest the spend of those weeks (rows with spend 0 where nothing ran), or set the "
            "spec's dates to the weeks both tables cover."
        ),
    )
