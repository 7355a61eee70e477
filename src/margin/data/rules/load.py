"""The rules a load must pass: checks on the normalised rows of one file, before writing.

Every per-row rule is a :class:`RowRule` (a SQL condition over one row); all of them run
in a single scan of the staged relation. Rules over several rows (duplicates, currencies)
run as their own aggregate queries. Nothing is fetched but counts and the first rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from margin.data.ingest.readers import quote_identifier, quote_literal
from margin.data.rules.common import (
    HUGE,
    Sample,
    agree,
    format_number,
    plural,
    received,
    sample,
)
from margin.data.rules.findings import Finding, Severity
from margin.data.workspace.schema import TABLES

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "EARLIEST_DATE",
    "FUTURE_DAYS",
    "LOAD_KINDS",
    "PLAUSIBLE_MAX",
    "RowRule",
    "duplicate_ids",
    "duplicate_rows",
    "mixed_currencies",
    "row_rules",
    "run_row_rules",
]

LOAD_KINDS = ("spend", "outcomes", "controls", "events", "experiments", "transactions", "fx_rates")
EARLIEST_DATE = date(1990, 1, 1)
"""Dates before this are taken for a parsing error."""
FUTURE_DAYS = 366
"""Dates more than this many days after today are taken for a parsing error."""
PLAUSIBLE_MAX: dict[tuple[str, str], float] = {
    ("spend", "spend"): 1e9,
    ("spend", "impressions"): 1e11,
    ("spend", "clicks"): 1e10,
    ("events", "value"): 1e7,
    ("transactions", "amount"): 1e7,
    ("fx_rates", "rate"): 1e6,
}
"""Per (table, column): larger values in a single row are implausible (a warning)."""

_REQUIRED: dict[str, tuple[str, ...]] = {
    "spend": ("date", "geo", "channel", "campaign", "currency"),
    "outcomes": ("date", "geo", "kpi", "value"),
    "controls": ("date", "geo", "name", "value"),
    "events": ("user_key", "ts", "event"),
    "experiments": ("id", "channel", "start", "end", "lift", "lift_se"),
    "transactions": ("customer_key", "ts", "amount"),
    "fx_rates": ("date", "currency", "rate"),
}
_MISSING_FIX = {
    "channel": "add a channel column, or taxonomy rules (--taxonomy) that map these campaigns to a channel",
    "campaign": "fill in the campaign (an empty text is fine) or drop those rows",
}
_DERIVED = {("spend", "spend_original")}
"""Columns margin computes from another one already checked (spend is spend_original × rate)."""
_COMBINED = {
    "spend": "summed",
    "outcomes": "summed",
    "controls": "averaged",
    "fx_rates": "averaged",
    "events": "kept as separate events",
    "transactions": "kept as separate purchases",
}


@dataclass(frozen=True)
class RowRule:
    """A rule that judges one row at a time.

    Attributes:
        condition: SQL that is true for an offending row of the relation.
        shown: SQL for the value quoted in the message (``None``: quote nothing).
        says: what the offending rows have, completing "N rows ...".
        quoted: quote ``shown`` as a number or text (else it is shown as it is).
    """

    rule: str
    severity: Severity
    column: str | None
    condition: str
    shown: str | None
    says: str
    fix: str
    quoted: bool = True


def _q(column: str) -> str:
    return quote_identifier(column)


def _required(kind: str) -> list[RowRule]:
    rules = [
        RowRule(
            "missing_values",
            "error",
            column,
            f"{_q(column)} IS NULL",
            None,
            f"have no {column}",
            _MISSING_FIX.get(column, f"fill in the {column} or drop those rows"),
        )
        for column in _REQUIRED[kind]
    ]
    if kind == "spend":
        rules.append(
            RowRule(
                "missing_values",
                "warning",
                "spend",
                "spend IS NULL",
                None,
                "have no spend (an ad export writes '--' for none): kept, and counted as 0 in weekly sums",
                "fill in the spend if it was not 0",
            )
        )
    if kind == "events":
        rules.append(
            RowRule(
                "missing_values",
                "error",
                "channel",
                "channel IS NULL AND event = 'touch'",
                None,
                "are touches without a channel",
                "every touch needs the channel it came through: fill it in, add taxonomy rules, or drop those rows",
            )
        )
    return rules


def _numeric_columns(kind: str) -> list[str]:
    return [
        name
        for name, dtype in TABLES[kind].columns
        if dtype == "DOUBLE" and (kind, name) not in _DERIVED
    ]


def _numeric(kind: str) -> list[RowRule]:
    rules: list[RowRule] = []
    for column in _numeric_columns(kind):
        c = _q(column)
        rules.append(
            RowRule(
                "non_finite",
                "error",
                column,
                f"NOT isfinite({c})",
                c,
                f"have {column} that is not a finite number (NaN or infinity)",
                "fix those values in the source; NaN and inf usually come from a division by zero in the export",
            )
        )
        rules.append(
            RowRule(
                "huge_values",
                "error",
                column,
                f"isfinite({c}) AND abs({c}) > {HUGE}",
                c,
                f"have {column} beyond ±1e15, which looks like a unit or parsing error",
                "check the column's unit (micros, cents) and its decimal and thousands separators, then fix or drop those rows",
            )
        )
        ceiling = PLAUSIBLE_MAX.get((kind, column))
        if ceiling is not None:
            rules.append(
                RowRule(
                    "implausible_values",
                    "warning",
                    column,
                    f"isfinite({c}) AND abs({c}) > {ceiling} AND abs({c}) <= {HUGE}",
                    c,
                    f"have {column} above {format_number(ceiling)} in a single row, which is implausible",
                    "check the unit (micros, cents) and the currency of those rows; fix them if they are wrong",
                )
            )
    return rules


def _date_columns(kind: str) -> list[tuple[str, str]]:
    return [(n, t) for n, t in TABLES[kind].columns if t in ("DATE", "TIMESTAMP")]


def _dates(kind: str, today: date) -> list[RowRule]:
    latest = today + timedelta(days=FUTURE_DAYS)
    rules = []
    for column, dtype in _date_columns(kind):
        day = _q(column) if dtype == "DATE" else f"CAST({_q(column)} AS DATE)"
        rules.append(
            RowRule(
                "date_out_of_range",
                "error",
                column,
                f"{day} < DATE '{EARLIEST_DATE}' OR {day} > DATE '{latest}'",
                _q(column),
                f"have a {column} before {EARLIEST_DATE} or after {latest} (more than {FUTURE_DAYS} days ahead)",
                "check the date format (two-digit years, day and month swapped) and fix or drop those rows",
            )
        )
    return rules


def _spend_rules() -> list[RowRule]:
    rules = [
        RowRule(
            "negative_spend",
            "error",
            "spend",
            "isfinite(spend) AND spend < 0",
            "spend",
            "have negative spend",
            "negative spend is usually a refund or a credit note: net it into the spend of the period it "
            "belongs to, or drop those rows",
        ),
        RowRule(
            "implausible_values",
            "warning",
            "clicks",
            "isfinite(clicks) AND isfinite(impressions) AND clicks > impressions",
            "format('{} clicks, {} impressions', clicks, impressions)",
            "have more clicks than impressions",
            "check that the clicks and impressions columns are not swapped or mapped to the wrong metric",
            quoted=False,
        ),
    ]
    rules.extend(
        RowRule(
            "negative_counts",
            "error",
            column,
            f"isfinite({column}) AND {column} < 0",
            column,
            f"have negative {column}",
            f"{column} are counts and cannot be negative; fix or drop those rows",
        )
        for column in ("impressions", "clicks")
    )
    return rules


_FX_RULES = (
    RowRule(
        "nonpositive_fx_rate",
        "error",
        "rate",
        "isfinite(rate) AND rate <= 0",
        "rate",
        "have an exchange rate of zero or below",
        "a rate is the workspace currency per unit of the row's currency and must be positive; "
        "fix or drop those rows",
    ),
    RowRule(
        "invalid_currency",
        "error",
        "currency",
        "currency IS NOT NULL AND NOT regexp_full_match(currency, '[A-Z]{3}')",
        "currency",
        "have a currency that is not an ISO 4217 code",
        "write each currency as its three-letter code, such as USD or EUR",
    ),
)
_EVENT_RULES = (
    RowRule(
        "unknown_event",
        "error",
        "event",
        "event NOT IN ('touch', 'conversion')",
        "event",
        "have an event type other than 'touch' or 'conversion'",
        "rename the event types to touch (an ad view or click) or conversion, or drop other events",
    ),
    RowRule(
        "negative_conversion_value",
        "error",
        "value",
        "event = 'conversion' AND isfinite(value) AND value < 0",
        "value",
        "are conversions with a negative value",
        "give conversions their value (0 or more); load refunds as part of transactions, not as events",
    ),
)
_TRANSACTION_RULES = (
    RowRule(
        "negative_amount",
        "error",
        "amount",
        "isfinite(amount) AND amount < 0",
        "amount",
        "have a negative amount",
        "the LTV models expect purchases only: net refunds into the purchase they reverse, or drop those rows",
    ),
)
_EXPERIMENT_RULES = (
    RowRule(
        "end_before_start",
        "error",
        "end",
        '"end" < start',
        "format('{} to {}', start, \"end\")",
        "end before their start",
        "swap start and end, or check the date format (day and month swapped?)",
        quoted=False,
    ),
    RowRule(
        "nonpositive_lift_se",
        "error",
        "lift_se",
        "isfinite(lift_se) AND lift_se <= 0",
        "lift_se",
        "have a standard error (lift_se) of zero or below",
        "give each test's standard error (above 0); a lift without its uncertainty cannot calibrate a model",
    ),
)


def _kind_rules(kind: str) -> list[RowRule]:
    """The rules specific to one table (signs, event types, test windows)."""
    if kind == "spend":
        return _spend_rules()
    by_kind = {
        "fx_rates": _FX_RULES,
        "events": _EVENT_RULES,
        "transactions": _TRANSACTION_RULES,
        "experiments": _EXPERIMENT_RULES,
    }
    return list(by_kind.get(kind, ()))


def row_rules(kind: str, today: date) -> list[RowRule]:
    """Every per-row rule for table ``kind``, errors first."""
    rules = _required(kind) + _numeric(kind) + _dates(kind, today) + _kind_rules(kind)
    return sorted(rules, key=lambda r: r.severity != "error")


def _agreeing(n: int, says: str) -> str:
    verb, _, rest = says.partition(" ")
    return f"{agree(n, verb)} {rest}"


def _row_finding(rule: RowRule, found: Sample, kind: str, file: str) -> Finding:
    quoted = received(found, quote=rule.quoted) if rule.shown is not None else ""
    return Finding(
        rule=rule.rule,
        severity=rule.severity,
        table=kind,
        column=rule.column,
        message=f"{plural(found.n, 'row')} {_agreeing(found.n, rule.says)}. {quoted}".strip(),
        fix=rule.fix[0].upper() + rule.fix[1:] + ".",
        rows=found.rows,
        n_rows=found.n,
        file=file,
    )


def run_row_rules(
    con: duckdb.DuckDBPyConnection, kind: str, relation: str, rules: list[RowRule], file: str
) -> list[Finding]:
    """Run ``rules`` over ``relation``; one finding per rule that found rows.

    One scan counts the offending rows of every rule; only the rules that found some
    rescan to list their first rows and values (clean files cost a single scan).
    """
    if not rules:
        return []
    counts = ", ".join(f"count(*) FILTER (WHERE {r.condition})" for r in rules)
    row = con.execute(f"SELECT {counts} FROM {relation}").fetchone()
    if row is None:  # pragma: no cover - an aggregate always returns a row
        return []
    findings = []
    for rule, n in zip(rules, row, strict=True):
        if n:
            found = sample(
                con, f"SELECT _row, {rule.shown or 'NULL'} FROM {relation} WHERE {rule.condition}"
            )
            findings.append(_row_finding(rule, found, kind, file))
    return findings


def duplicate_rows(
    con: duckdb.DuckDBPyConnection, kind: str, relation: str, file: str
) -> list[Finding]:
    """Rows identical in every column to an earlier row of the same file (a warning)."""
    if kind not in _COMBINED:
        return []
    columns = ", ".join(_q(c) for c in TABLES[kind].column_names if c != "load_id")
    repeated = con.execute(  # a hash aggregate first: the window below costs more
        f"SELECT EXISTS (SELECT 1 FROM {relation} GROUP BY {columns} HAVING count(*) > 1)"
    ).fetchone()
    if repeated is None or not repeated[0]:
        return []
    found = sample(
        con,
        f"""SELECT _row, first_row FROM (
                SELECT _row, min(_row) OVER (PARTITION BY {columns}) AS first_row FROM {relation}
            ) WHERE _row > first_row""",
    )
    if not found.n:  # pragma: no cover - the aggregate above found repeats
        return []
    pairs = "; ".join(f"row {k} repeats row {v}" for k, v in found.values)
    return [
        Finding(
            rule="duplicate_rows",
            severity="warning",
            table=kind,
            column=None,
            message=(
                f"{plural(found.n, 'row')} {agree(found.n, 'repeat')} an earlier row exactly ({pairs}). They will be "
                f"{_COMBINED[kind]}, which double counts if the file holds a double export."
            ),
            fix="Remove the repeated rows if the export ran twice; keep them only if each is a real, separate record.",
            rows=found.rows,
            n_rows=found.n,
            file=file,
        )
    ]


def duplicate_ids(
    con: duckdb.DuckDBPyConnection, kind: str, relation: str, file: str
) -> list[Finding]:
    """Experiments whose id appears on an earlier row of the same file (an error)."""
    if kind != "experiments":
        return []
    found = sample(
        con,
        f"""SELECT _row, id FROM (
                SELECT _row, id, min(_row) OVER (PARTITION BY id) AS first_row
                FROM {relation} WHERE id IS NOT NULL
            ) WHERE _row > first_row""",
    )
    if not found.n:
        return []
    ids = ", ".join(repr(v) for _, v in found.values)
    return [
        Finding(
            rule="duplicate_ids",
            severity="error",
            table=kind,
            column="id",
            message=f"{plural(found.n, 'row')} {agree(found.n, 'repeat')} the id of an earlier test ({ids}); each lift test needs its own id.",
            fix="Give every test a unique id, or keep one row per test.",
            rows=found.rows,
            n_rows=found.n,
            file=file,
        )
    ]


def mixed_currencies(
    con: duckdb.DuckDBPyConnection, kind: str, relation: str, file: str, currency: str
) -> list[Finding]:
    """A note on spend rows in other currencies than the workspace's (converted on load)."""
    if kind != "spend":
        return []
    other = f"currency IS NOT NULL AND currency <> {quote_literal(currency)}"
    found = sample(con, f"SELECT _row, currency FROM {relation} WHERE {other}")
    if not found.n:
        return []
    counts = con.execute(
        f"SELECT currency, count(DISTINCT _row) FROM {relation} WHERE currency IS NOT NULL "
        "GROUP BY currency ORDER BY count(DISTINCT _row) DESC, currency LIMIT 10"
    ).fetchall()
    listed = ", ".join(f"{c} ({plural(int(n), 'row')})" for c, n in counts)
    return [
        Finding(
            rule="mixed_currencies",
            severity="info",
            table=kind,
            column="currency",
            message=(
                f"The file has spend in {listed}; {plural(found.n, 'row')} not in {currency} {agree(found.n, 'were')} converted "
                f"to {currency} with the workspace's fx_rates (spend_original keeps the amounts as entered)."
            ),
            fix="Nothing to do if the rates are right; to change them, ingest better fx_rates and re-ingest this file.",
            rows=found.rows,
            n_rows=found.n,
            file=file,
        )
    ]
