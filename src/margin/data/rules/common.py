"""Shared pieces of the validation rules: sampling offending rows in SQL, and wording.

Rules never pull a table into Python. Each one is a SQL query that yields the offending
items as ``(k, v)`` pairs (``k`` the row id or row key, ``v`` the value shown to the
user); :func:`sample` aggregates them in DuckDB into a count, the first
:data:`~margin.data.rules.findings.MAX_ROWS_LISTED` ids and the first few values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from margin.data.ingest.sniff import excerpt
from margin.data.rules.findings import MAX_ROWS_LISTED, Finding, Severity

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import duckdb

__all__ = [
    "HUGE",
    "MAX_VALUES_SHOWN",
    "SEVERITY_ORDER",
    "Sample",
    "agree",
    "finding",
    "format_number",
    "listing",
    "plural",
    "received",
    "sample",
    "sample_from",
    "sample_sql",
    "sort_findings",
]

HUGE = 1e15
"""Any number larger in magnitude than this is taken for a unit or parsing error."""
MAX_VALUES_SHOWN = 5
"""At most this many offending values are quoted in a message."""
SEVERITY_ORDER: dict[Severity, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Sample:
    """What a rule found: ``n`` items, the first ``rows`` and ``(row, value)`` pairs to quote."""

    n: int
    rows: tuple[int | str, ...] = ()
    values: tuple[tuple[int | str, str | None], ...] = ()


def _python_id(value: Any) -> int | str:
    return value if isinstance(value, int) else str(value)


def sample_sql(key: str, value: str, where: str | None = None) -> str:
    """Three aggregates (count, first ids, first values) over the rows where ``where`` holds.

    ``key`` is a row number (BIGINT) or a row key (VARCHAR); rows with the same key count
    once. Listed ids are the smallest keys (row order, or chronological for date-first
    keys); quoted values are those of the first :data:`MAX_VALUES_SHOWN` rows.
    """
    only = f" FILTER (WHERE {where})" if where else ""
    pair = f"struct_pack(k := {key}, v := CAST({value} AS VARCHAR))"
    return (
        f"count(DISTINCT {key}){only}, min(DISTINCT {key}, {MAX_ROWS_LISTED}){only}, "
        f"arg_min({pair}, {key}, {MAX_VALUES_SHOWN}){only}"
    )


def sample_from(aggregates: Sequence[Any]) -> Sample:
    """The :class:`Sample` of the three values :func:`sample_sql` computed."""
    n, rows, values = aggregates
    if not n:
        return Sample(0)
    pairs = tuple((_python_id(s["k"]), s["v"]) for s in values or ())
    return Sample(int(n), tuple(_python_id(k) for k in rows or ()), pairs)


def sample(
    con: duckdb.DuckDBPyConnection, offending: str, params: Sequence[object] | None = None
) -> Sample:
    """Count and sample the items of ``offending``, a query yielding columns ``k`` and ``v``.

    A cheap count runs first; the rows and values are only gathered when it finds some.
    """
    source = f"({offending}) AS _offending(k, v)"
    counted = con.execute(f"SELECT count(DISTINCT k) FROM {source}", list(params or [])).fetchone()
    if counted is None or not counted[0]:
        return Sample(0)
    row = con.execute(f"SELECT {sample_sql('k', 'v')} FROM {source}", list(params or [])).fetchone()
    return Sample(0) if row is None else sample_from(row)


def format_number(value: float) -> str:
    """A number as a person reads it: ``-5``, ``1,250.5``, ``2.5e+16``, ``nan``."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < HUGE:
        return f"{int(value):,}"
    if abs(value) >= HUGE or abs(value) < 1e-3:
        return f"{value:.4g}"
    return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.2f}"


def _quoted(value: str | None) -> str:
    if value is None:
        return "(blank)"
    try:
        return format_number(float(value))
    except ValueError:
        return excerpt(value)  # a short, escaped quotation: never a whole cell of a file


def listing(found: Sample, *, label: str = "row", quote: bool = True) -> str:
    """``"row 3: -5; row 7: -1 (and 10 more)"``: the quoted values of a sample.

    ``quote``: format numbers and quote texts; else show the values as they are.
    """
    prefix = f"{label} " if label else ""
    pairs = [f"{prefix}{k}: {_quoted(v) if quote else (v or '(blank)')}" for k, v in found.values]
    if not pairs:
        return ""
    rest = found.n - len({k for k, _ in found.values})
    more = f" (and {rest:,} more)" if rest > 0 else ""
    return f"{'; '.join(pairs)}{more}"


def received(found: Sample, *, label: str = "row", quote: bool = True) -> str:
    """``"Received row 3: -5; row 7: -1 (and 10 more)."`` for a message, or ``""``."""
    shown = listing(found, label=label, quote=quote)
    return f"Received {shown}." if shown else ""


def finding(
    found: Sample,
    *,
    rule: str,
    severity: Severity,
    table: str,
    column: str | None,
    message: str,
    fix: str,
    file: str | None = None,
) -> list[Finding]:
    """Zero findings when nothing was found, else one for ``found``."""
    if found.n == 0:
        return []
    return [
        Finding(
            rule=rule,
            severity=severity,
            table=table,
            column=column,
            message=message,
            fix=fix,
            rows=found.rows,
            n_rows=found.n,
            file=file,
        )
    ]


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then notes; rule order kept within a severity."""
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])


_SINGULAR = {"are": "is", "have": "has", "were": "was"}


def agree(n: int, verb: str) -> str:
    """``verb`` (a plural present, ``have``, ``lie``) agreeing with a count of ``n``."""
    if n != 1:
        return verb
    return _SINGULAR.get(verb, verb + "s")


def plural(n: int, word: str) -> str:
    """``"1 row"``, ``"3 rows"``, ``"1,200 rows"``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"
