"""Findings of validation rules and the data-quality report that collects them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["MAX_ROWS_LISTED", "Finding", "Report", "Severity"]

Severity = Literal["error", "warning", "info"]
MAX_ROWS_LISTED = 10
"""At most this many offending rows are listed in a finding; ``n_rows`` counts them all."""


@dataclass(frozen=True)
class Finding:
    """One problem a validation rule found.

    Attributes:
        rule: the rule's id, e.g. ``negative_spend``.
        severity: ``error`` stops a load; ``warning`` and ``info`` are reported only.
        table: the contract table (or ``file`` for a file being loaded).
        column: the column at fault, or ``None`` when the finding is about rows or dates.
        message: what is wrong, with the values received.
        fix: how to fix it.
        rows: up to :data:`MAX_ROWS_LISTED` locations: 1-based data-row numbers of the file
            being loaded, or row keys (``"2024-01-01/north/tv"``) for workspace tables.
        n_rows: how many rows are affected in all.
        file: the file being loaded, when the finding came from a load.
    """

    rule: str
    severity: Severity
    table: str
    column: str | None
    message: str
    fix: str
    rows: tuple[int | str, ...] = ()
    n_rows: int = 0
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows"] = list(self.rows)
        return out

    def describe(self) -> str:
        """One paragraph a person can act on."""
        where = [f"table {self.table}"]
        if self.file:
            where.insert(0, f"file {self.file}")
        if self.column:
            where.append(f"column {self.column!r}")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows)
            more = (
                f" and {self.n_rows - len(self.rows)} more" if self.n_rows > len(self.rows) else ""
            )
            where.append(f"rows {shown}{more}")
        return f"[{self.severity}] {self.rule} ({'; '.join(where)}): {self.message} Fix: {self.fix}"


@dataclass(frozen=True)
class Report:
    """The findings of a set of rules, errors first."""

    findings: tuple[Finding, ...] = field(default_factory=tuple)
    checked: tuple[str, ...] = ()
    """The ids of the rules that ran."""

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "n_info": len(self.findings) - len(self.errors) - len(self.warnings),
            "rules_checked": list(self.checked),
            "findings": [f.to_dict() for f in self.findings],
        }
