"""Workspace rules on the stored rows: negative spend, duplicates, currencies, implausible values.

Each rule is ``rule(con, ctx) -> list[Finding]`` with at most one finding per table and
check. Row keys name a row by its natural key, date first (``2024-01-01/north/tv``).
The weekly-grid rules live in :mod:`margin.data.rules.weekly`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from margin.data.ingest.readers import quote_identifier, quote_literal
from margin.data.rules.common import agree, finding, listing, plural, received, sample
from margin.data.rules.findings import Finding
from margin.data.workspace.schema import TABLES

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "DATA_TABLES",
    "REVENUE_KPI_PATTERN",
    "ROW_KEYS",
    "CheckContext",
    "duplicate_rows",
    "empty_workspace",
    "implausible_values",
    "mixed_currencies",
    "negative_spend",
    "spend_from_several_sources",
]

DATA_TABLES = tuple(name for name in TABLES if name != "runs")
"""The contract tables that hold loaded data (``runs`` is margin's own record)."""
REVENUE_KPI_PATTERN = "(?i)revenue|sales|gmv|turnover"
"""KPI names matching this (RE2) are money: a week at or below zero is implausible."""

ROW_KEYS: dict[str, str] = {
    "spend": "concat_ws('/', CAST(date AS VARCHAR), geo, channel, nullif(campaign, ''))",
    "outcomes": "concat_ws('/', CAST(date AS VARCHAR), geo, kpi)",
    "controls": "concat_ws('/', CAST(date AS VARCHAR), geo, name)",
    "events": "concat_ws('/', CAST(ts AS VARCHAR), user_key, event, channel)",
    "experiments": "id",
    "transactions": "concat_ws('/', CAST(ts AS VARCHAR), customer_key, CAST(amount AS VARCHAR))",
    "fx_rates": "concat_ws('/', CAST(date AS VARCHAR), currency)",
}
"""SQL naming one row of each table: ``date/geo/channel[/campaign]``, ``date/geo/kpi``, …"""

_DATE_COLUMNS = {
    "spend": "date",
    "outcomes": "date",
    "controls": "date",
    "events": "ts",
    "transactions": "ts",
}
"""Tables whose rows should not be dated after today (experiments may still be running)."""


@dataclass(frozen=True)
class CheckContext:
    """What workspace rules need besides the connection.

    Attributes:
        currency: the workspace currency.
        today: the date "the future" starts after.
    """

    currency: str
    today: date


def negative_spend(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """Spend rows below zero (an error: the models assume spend ≥ 0)."""
    found = sample(
        con, f"SELECT {ROW_KEYS['spend']}, spend FROM spend WHERE isfinite(spend) AND spend < 0"
    )
    return finding(
        found,
        rule="negative_spend",
        severity="error",
        table="spend",
        column="spend",
        message=f"{plural(found.n, 'row')} {agree(found.n, 'have')} negative spend. {received(found, label='')}",
        fix=(
            "Negative spend is usually a refund or a credit note: net it into the spend of the "
            "period it belongs to and re-ingest the file."
        ),
    )


def _duplicates(con: duckdb.DuckDBPyConnection, name: str) -> list[Finding]:
    table = TABLES[name]
    keyed = bool(table.key)
    columns = table.key or tuple(c for c in table.column_names if c != "load_id")
    group = ", ".join(quote_identifier(c) for c in columns)
    found = sample(
        con,
        f"SELECT {ROW_KEYS[name]}, count(*) FROM {name} GROUP BY {group} HAVING count(*) > 1",
    )
    what = (
        f"{plural(found.n, 'key')} ({', '.join(columns)}) of {name} {agree(found.n, 'appear')} "
        if keyed
        else f"{plural(found.n, 'row')} of {name} {agree(found.n, 'appear')} identically "
    )
    fix = (
        "Re-ingest the files of those rows (a load replaces rows with the same key) or remove "
        "the repeats; each repeat counts again."
        if keyed
        else "If overlapping exports were loaded, rebuild the workspace from non-overlapping files; "
        "identical rows are otherwise counted twice."
    )
    return finding(
        found,
        rule="duplicate_rows",
        severity="warning",
        table=name,
        column=None,
        message=(
            f"{what}on more than one row, which may be a double export "
            f"(copies: {listing(found, label='')})."
        ),
        fix=fix,
    )


def duplicate_rows(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """Rows repeating a natural key (tables with a key) or a whole row (events, transactions)."""
    return [f for name in DATA_TABLES for f in _duplicates(con, name)]


def _converted(con: duckdb.DuckDBPyConnection, other: str, currency: str) -> list[Finding]:
    found = sample(con, f"SELECT {ROW_KEYS['spend']}, currency FROM spend WHERE {other}")
    if not found.n:
        return []
    counts = con.execute(
        f"SELECT currency, count(*) FROM spend WHERE {other} "
        "GROUP BY currency ORDER BY count(*) DESC, currency LIMIT 10"
    ).fetchall()
    listed = ", ".join(f"{c}: {plural(int(n), 'row')}" for c, n in counts)
    return finding(
        found,
        rule="mixed_currencies",
        severity="info",
        table="spend",
        column="currency",
        message=(
            f"{plural(found.n, 'spend row')} {agree(found.n, 'were')} entered in other currencies ({listed}) and converted "
            f"to {currency} with fx_rates on load; spend_original keeps the amounts as entered."
        ),
        fix="Nothing to do if the rates were right; otherwise ingest better fx_rates and re-ingest those files.",
    )


def mixed_currencies(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """A note on converted spend; an error where the amount as entered was lost."""
    other = f"currency IS NOT NULL AND currency <> {quote_literal(ctx.currency)}"
    lost = sample(
        con,
        f"SELECT {ROW_KEYS['spend']}, currency FROM spend WHERE {other} AND spend_original IS NULL AND spend IS NOT NULL",
    )
    return finding(
        lost,
        rule="mixed_currencies",
        severity="error",
        table="spend",
        column="spend_original",
        message=(
            f"{plural(lost.n, 'spend row')} in another currency than {ctx.currency} {agree(lost.n, 'have')} no amount as "
            f"entered (spend_original), so their conversion cannot be checked or redone. "
            f"{received(lost, label='')}"
        ),
        fix="Re-ingest the files these rows came from; margin keeps the amount as entered on load.",
    ) + _converted(con, other, ctx.currency)


def _future(con: duckdb.DuckDBPyConnection, name: str, today: date) -> list[Finding]:
    column = _DATE_COLUMNS[name]
    found = sample(
        con,
        f"SELECT {ROW_KEYS[name]}, NULL FROM {name} WHERE CAST({column} AS DATE) > DATE '{today}'",
    )
    return finding(
        found,
        rule="implausible_values",
        severity="warning",
        table=name,
        column=column,
        message=f"{plural(found.n, 'row')} of {name} {agree(found.n, 'are')} dated after today ({today}).",
        fix=(
            "Check the date format of those files (day and month swapped?); planned or forecast "
            "values belong in a scenario, not in the data."
        ),
    )


def _clicks_over_impressions(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    found = sample(
        con,
        f"""SELECT {ROW_KEYS["spend"]}, format('{{}} clicks, {{}} impressions', clicks, impressions)
            FROM spend WHERE isfinite(clicks) AND isfinite(impressions) AND clicks > impressions""",
    )
    return finding(
        found,
        rule="implausible_values",
        severity="warning",
        table="spend",
        column="clicks",
        message=f"{plural(found.n, 'row')} {agree(found.n, 'have')} more clicks than impressions. {received(found, label='', quote=False)}",
        fix="Check that the clicks and impressions columns were not swapped or mapped to the wrong metric.",
    )


def _negative_outcomes(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    found = sample(
        con,
        f"SELECT {ROW_KEYS['outcomes']}, value FROM outcomes WHERE isfinite(value) AND value < 0",
    )
    return finding(
        found,
        rule="implausible_values",
        severity="warning",
        table="outcomes",
        column="value",
        message=f"{plural(found.n, 'row')} {agree(found.n, 'have')} a negative outcome. {received(found, label='')}",
        fix="Outcomes count sales, revenue or sign-ups and are 0 or more: net returns into their period.",
    )


def _revenue_weeks(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    found = sample(
        con,
        f"""SELECT concat_ws('/', CAST(week AS VARCHAR), geo, kpi), value FROM outcomes_weekly
            WHERE regexp_matches(kpi, {quote_literal(REVENUE_KPI_PATTERN)}) AND value <= 0""",
    )
    return finding(
        found,
        rule="implausible_values",
        severity="warning",
        table="outcomes",
        column="value",
        message=(
            f"{plural(found.n, 'week')} of a revenue KPI {agree(found.n, 'are')} at or below zero. "
            f"{received(found, label='week')}"
        ),
        fix="Ingest the missing sales of those weeks, or check for returns booked in the wrong week.",
    )


def implausible_values(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """Clicks over impressions, negative outcomes, revenue weeks ≤ 0, dates after today."""
    found = _clicks_over_impressions(con) + _negative_outcomes(con) + _revenue_weeks(con)
    for name in _DATE_COLUMNS:
        found += _future(con, name, ctx.today)
    return found


def empty_workspace(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """A note when no contract table holds a row."""
    any_rows = " OR ".join(f"EXISTS (SELECT 1 FROM {name})" for name in DATA_TABLES)
    row = con.execute(f"SELECT {any_rows}").fetchone()
    if row is not None and row[0]:
        return []
    return [
        Finding(
            rule="empty_workspace",
            severity="info",
            table="workspace",
            column=None,
            message="The workspace holds no data yet, so there is nothing to check.",
            fix="Load files with 'margin ingest KIND FILE', or try 'margin demo'.",
        )
    ]


def spend_from_several_sources(con: duckdb.DuckDBPyConnection, ctx: CheckContext) -> list[Finding]:
    """The same date, geo, channel and campaign loaded from more than one source layout.

    Loads replace rows by key *within* a source, so a Google Ads export and a generic file
    holding the same spend both stay, and the spend counts twice.
    """
    found = sample(
        con,
        f"SELECT {ROW_KEYS['spend']}, string_agg(DISTINCT source, ' + ' ORDER BY source) "
        "FROM spend GROUP BY date, geo, channel, campaign HAVING count(DISTINCT source) > 1",
    )
    return finding(
        found,
        rule="spend_from_several_sources",
        severity="warning",
        table="spend",
        column="source",
        message=(
            f"{plural(found.n, 'spend key')} (date, geo, channel, campaign) {agree(found.n, 'were')} "
            f"loaded from more than one source, so that spend counts once per source "
            f"(sources: {listing(found, label='')})."
        ),
        fix=(
            "Keep one source per channel and campaign: rebuild the workspace without the overlapping "
            "file, or map the campaigns of one source to other channels with a taxonomy."
        ),
    )
