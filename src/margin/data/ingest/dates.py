"""Telling the format of a date column from its values.

Dates come written many ways (``2024-03-01``, ``01/03/2024``, GeoLift's ``03/06/21``).
Every candidate format is tried on every value, in one scan. A reading qualifies if it
reads all the values as plausible dates (from
:data:`~margin.data.rules.load.EARLIEST_DATE` to :data:`~margin.data.rules.load.FUTURE_DAYS`
ahead), so a two-digit year never becomes year 0003. ISO dates win outright. Otherwise,
of the readings that qualify, the one whose distinct dates form a regular daily or
weekly grid is chosen, and the choice is said (:attr:`DateReading.note`). When several
different readings remain, the user is asked for ``--date-format``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from margin.errors import DataValidationError

if TYPE_CHECKING:
    import duckdb

__all__ = ["CANDIDATE_FORMATS", "ISO", "DateReading", "describe_format", "detect_dates", "read_as"]

ISO = "%Y-%m-%d"
CANDIDATE_FORMATS = (
    ISO,
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y%m%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%y/%m/%d",
    "%d.%m.%y",
)
"""The formats tried, in order of preference when readings tie."""
_ISO_SHAPE = "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([ T].*)?"
"""ISO dates (a time may follow) have a four-digit year: DuckDB would read ``03/06/21`` as 0003-06-21."""
_REGULAR_SHARE = 0.5
"""A grid is regular when at least this share of the gaps between distinct dates is its step."""
_WORDS = {"%d": "day", "%m": "month", "%Y": "year", "%y": "2-digit year"}


@dataclass(frozen=True)
class DateReading:
    """How a column's dates are read: the format, the SQL giving a DATE, and what to tell the user."""

    format: str
    sql: str
    note: str | None = None


def read_as(clean: str, fmt: str, *, detected: bool = True) -> str:
    """SQL reading the text expression ``clean`` as a DATE in ``fmt`` (NULL where it does not parse).

    A detected ISO format also reads timestamps (``2024-01-01 00:00:00``), but only with
    a four-digit year.
    """
    if fmt == ISO and detected:
        return (
            f"CASE WHEN regexp_full_match({clean}, '{_ISO_SHAPE}') THEN COALESCE(TRY_CAST({clean} AS DATE), "
            f"CAST(TRY_CAST({clean} AS TIMESTAMP) AS DATE)) END"
        )
    literal = "'" + fmt.replace("'", "''") + "'"
    return f"CAST(TRY_STRPTIME({clean}, {literal}) AS DATE)"


def describe_format(fmt: str) -> str:
    """``%d/%m/%y`` → ``day/month/2-digit year``."""
    out = fmt
    for code, word in _WORDS.items():
        out = out.replace(code, word)
    return out


def detect_dates(
    con: duckdb.DuckDBPyConnection, relation: str, clean: str, *, path: Path, column: str
) -> DateReading:
    """The reading of the text expression ``clean`` over ``relation`` (see the module docstring).

    When no format reads every value, the one reading the most is returned: the caller
    reports the rows it leaves unread.

    Raises:
        DataValidationError: several readings fit equally well (day and month cannot be told apart).
    """
    from margin.data.rules.load import EARLIEST_DATE, FUTURE_DAYS

    sql = {fmt: read_as(clean, fmt) for fmt in CANDIDATE_FORMATS}
    iso = con.execute(f"SELECT count({clean}), count({sql[ISO]}) FROM {relation}").fetchone()
    if iso is not None and iso[0] and iso[0] == iso[1]:
        return DateReading(ISO, sql[ISO])  # the common case: one cheap scan
    stats = ", ".join(f"count({s}), min({s}), max({s})" for s in sql.values())
    row = con.execute(f"SELECT count({clean}), {stats} FROM {relation}").fetchone()
    if row is None or not row[0]:
        return DateReading(ISO, sql[ISO])  # no values: the caller reports the blank rows
    total = int(row[0])
    spans = {
        fmt: (int(row[1 + 3 * i]), row[2 + 3 * i], row[3 + 3 * i])
        for i, fmt in enumerate(CANDIDATE_FORMATS)
    }
    full = [fmt for fmt in CANDIDATE_FORMATS if spans[fmt][0] == total]
    if not full:
        best = max(CANDIDATE_FORMATS, key=lambda fmt: spans[fmt][0])
        return DateReading(best, sql[best])
    latest = date.today() + timedelta(days=FUTURE_DAYS)
    plausible = [f for f in full if spans[f][1] >= EARLIEST_DATE and spans[f][2] <= latest]
    pool = _distinct_readings(con, relation, plausible or full, sql)
    if pool[0] == ISO:
        return DateReading(ISO, sql[ISO])
    if len(pool) == 1:
        why = "the only format reading every value as a plausible date"
        return DateReading(pool[0], sql[pool[0]], _note(pool[0], why))
    grids = {fmt: _grid(con, relation, sql[fmt]) for fmt in pool}
    regular = [fmt for fmt in pool if grids[fmt] is not None]
    if len(regular) == 1:
        why = f"the only reading giving a regular {grids[regular[0]]} grid"
        return DateReading(regular[0], sql[regular[0]], _note(regular[0], why))
    readings = "; ".join(f"{f} gives {spans[f][1]} to {spans[f][2]}" for f in pool)
    grid = "several give" if len(regular) > 1 else "none gives"
    raise DataValidationError(
        f"file {path}, column {column!r}: the dates can be read several ways ({readings}) and "
        f"{grid} a regular daily or weekly grid, so day and month cannot be told apart; pass "
        f"--date-format with the file's format (e.g. --date-format {pool[0]})"
    )


def _note(fmt: str, why: str) -> str:
    return f"dates read as {fmt} ({describe_format(fmt)}): {why}"


def _distinct_readings(
    con: duckdb.DuckDBPyConnection, relation: str, formats: list[str], sql: dict[str, str]
) -> list[str]:
    """``formats`` less those giving exactly the dates of an earlier one."""
    kept: list[str] = []
    for fmt in formats:
        same = False
        for other in kept:
            row = con.execute(
                f"SELECT count(*) FILTER (WHERE ({sql[fmt]}) IS DISTINCT FROM ({sql[other]})) FROM {relation}"
            ).fetchone()
            same = same or (row is not None and row[0] == 0)
        if not same:
            kept.append(fmt)
    return kept


def _grid(con: duckdb.DuckDBPyConnection, relation: str, day: str) -> str | None:
    """``daily`` or ``weekly`` if the distinct dates of ``day`` lie on that grid, else ``None``.

    Missing days are allowed: most gaps between consecutive distinct dates must be the
    step (1 or 7 days), and a weekly grid's gaps must all be whole weeks.
    """
    row = con.execute(
        f"""WITH d AS (SELECT DISTINCT {day} AS d FROM {relation} WHERE {day} IS NOT NULL),
        g AS (SELECT date_diff('day', lag(d) OVER (ORDER BY d), d) AS gap FROM d)
        SELECT count(gap), count(gap) FILTER (WHERE gap = 1), count(gap) FILTER (WHERE gap = 7),
               count(gap) FILTER (WHERE gap % 7 <> 0) FROM g"""
    ).fetchone()
    if row is None or not row[0]:
        return None
    gaps, days, weeks, off_week = (int(v) for v in row)
    if days >= _REGULAR_SHARE * gaps:
        return "daily"
    if weeks >= _REGULAR_SHARE * gaps and off_week == 0:
        return "weekly"
    return None
