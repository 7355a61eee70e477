"""Validation rules and the data-quality report.

Two entry points, both plain SQL over DuckDB so they scale to tens of millions of rows
(rules aggregate in the database and fetch only counts and the first offending rows):

- :func:`validate_load` judges the normalised rows of one file before they are written;
  an ``error`` finding stops the load (:mod:`margin.data.ingest.pipeline` raises
  :class:`~margin.errors.LoadRejectedError`).
- :func:`check_workspace` runs the rules of ``margin check`` over everything loaded and
  returns a :class:`~margin.data.rules.findings.Report`.

Load rules (:mod:`margin.data.rules.load`), by id and severity:

============================  ========  ==============================================
``missing_values``            error     a required value is blank (per column)
``non_finite``                error     NaN or infinity in a numeric column
``huge_values``               error     a number beyond ±1e15 (a unit or parsing error)
``date_out_of_range``         error     before 1990-01-01 or over 366 days ahead
``negative_spend``            error     spend below zero
``negative_counts``           error     impressions or clicks below zero
``nonpositive_fx_rate``       error     an exchange rate of zero or below
``unknown_event``             error     an event that is neither touch nor conversion
``negative_conversion_value`` error     a conversion worth less than zero
``negative_amount``           error     a transaction amount below zero
``end_before_start``          error     a lift test ending before it starts
``nonpositive_lift_se``       error     a lift test's standard error of zero or below
``duplicate_ids``             error     two lift tests with the same id
``duplicate_rows``            warning   rows identical to an earlier row of the file
``implausible_values``        warning   clicks over impressions; one row above a ceiling
``mixed_currencies``          info      spend in other currencies, converted on load
============================  ========  ==============================================

Workspace rules (:data:`WORKSPACE_RULES`) are listed there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from margin.data.rules.common import sort_findings
from margin.data.rules.findings import Finding, Report
from margin.data.rules.load import (
    LOAD_KINDS,
    duplicate_ids,
    duplicate_rows,
    mixed_currencies,
    row_rules,
    run_row_rules,
)
from margin.data.rules.weekly import (
    date_gaps,
    no_spend_variation,
    outcomes_without_spend,
    outliers,
    spend_without_outcomes,
)
from margin.data.rules.workspace import (
    CheckContext,
    empty_workspace,
    implausible_values,
    negative_spend,
    spend_from_several_sources,
)
from margin.data.rules.workspace import duplicate_rows as duplicate_keys
from margin.data.rules.workspace import mixed_currencies as converted_currencies
from margin.errors import ConfigError

if TYPE_CHECKING:
    import duckdb

    from margin.data.workspace.store import Workspace

__all__ = ["WORKSPACE_RULES", "WorkspaceRule", "check_workspace", "validate_load"]

WorkspaceRule = Callable[["duckdb.DuckDBPyConnection", CheckContext], list[Finding]]
"""A workspace rule: the connection and the context in, its findings out."""

WORKSPACE_RULES: tuple[tuple[str, WorkspaceRule], ...] = (
    ("empty_workspace", empty_workspace),  # info
    ("negative_spend", negative_spend),  # error
    ("duplicate_rows", duplicate_keys),  # warning
    ("spend_from_several_sources", spend_from_several_sources),  # warning
    ("date_gaps", date_gaps),  # warning
    ("no_spend_variation", no_spend_variation),  # warning
    ("outliers", outliers),  # warning
    ("spend_without_outcomes", spend_without_outcomes),  # warning
    ("outcomes_without_spend", outcomes_without_spend),  # warning
    ("mixed_currencies", converted_currencies),  # info; error where spend_original is lost
    ("implausible_values", implausible_values),  # warning
)
"""The rules of ``margin check`` in the order they run: ``(id, rule)``."""


def validate_load(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    relation: str,
    *,
    file: str,
    currency: str,
    today: date | None = None,
) -> list[Finding]:
    """Judge the rows about to be loaded into table ``kind``.

    Args:
        con: the workspace connection holding ``relation``.
        kind: the contract table, one of :data:`margin.data.ingest.pipeline.INGESTABLE`.
        relation: a (temporary) table with that table's columns less ``load_id``, plus
            ``_row``, the 1-based data-row number in the file.
        file: the file the rows came from (named in every finding).
        currency: the workspace currency.
        today: the date "the future" starts after (default: today).

    Returns:
        Findings, errors first; their ``rows`` are ``_row`` numbers. Any ``error``
        means the load must not be written.
    """
    if kind not in LOAD_KINDS:
        raise ConfigError(f"no load rules for table {kind!r}; use one of {', '.join(LOAD_KINDS)}")
    rules = row_rules(kind, today or date.today())
    findings = run_row_rules(con, kind, relation, rules, file)
    findings += duplicate_ids(con, kind, relation, file)
    findings += duplicate_rows(con, kind, relation, file)
    findings += mixed_currencies(con, kind, relation, file, currency)
    return sort_findings(findings)


def check_workspace(workspace: Workspace, *, today: date | None = None) -> Report:
    """Run every rule of :data:`WORKSPACE_RULES` over the workspace (``margin check``).

    Read-only: the rules only query, so a workspace opened with ``read_only=True`` works.
    Findings name rows by key (``"2024-01-01/north/tv"``) and have no ``file``.
    """
    ctx = CheckContext(currency=workspace.settings.currency, today=today or date.today())
    findings: list[Finding] = []
    for _, rule in WORKSPACE_RULES:
        findings.extend(rule(workspace.con, ctx))
    return Report(
        findings=tuple(sort_findings(findings)),
        checked=tuple(rule_id for rule_id, _ in WORKSPACE_RULES),
    )
