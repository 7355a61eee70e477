"""What a workspace holds: its settings and, per table, the rows and the dates they span.

``margin status`` prints it; the API can serve it (:meth:`WorkspaceStatus.to_json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = ["SPAN_COLUMNS", "TableStatus", "WorkspaceStatus", "workspace_status"]

SPAN_COLUMNS: dict[str, str] = {
    "events": "ts",
    "transactions": "ts",
    "experiments": "start",
    "runs": "created",
}
"""The column whose dates a table spans (``date`` for the tables not named)."""


@dataclass(frozen=True)
class TableStatus:
    """One table: its rows and the first and last day they cover (``None`` when empty)."""

    name: str
    rows: int
    first: date | None
    last: date | None

    def to_json(self) -> dict[str, Any]:
        """``{"name", "rows", "first", "last"}`` with ISO dates (or ``None``)."""
        return {
            "name": self.name,
            "rows": self.rows,
            "first": None if self.first is None else self.first.isoformat(),
            "last": None if self.last is None else self.last.isoformat(),
        }


@dataclass(frozen=True)
class WorkspaceStatus:
    """A workspace's file, schema version, settings and tables, in the schema's order."""

    path: Path
    schema_version: int
    currency: str
    week_start: str
    tables: tuple[TableStatus, ...]

    def to_json(self) -> dict[str, Any]:
        """The status as plain JSON values."""
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "currency": self.currency,
            "week_start": self.week_start,
            "tables": [t.to_json() for t in self.tables],
        }


def workspace_status(workspace: Workspace) -> WorkspaceStatus:
    """Rows per table of ``workspace`` and the dates each spans (:data:`SPAN_COLUMNS`)."""
    tables = []
    for name, rows in workspace.counts().items():
        column = SPAN_COLUMNS.get(name, "date")
        first, last = workspace.fetch(
            f'SELECT CAST(min("{column}") AS DATE), CAST(max("{column}") AS DATE) FROM {name}'
        )[0]
        tables.append(TableStatus(name=name, rows=rows, first=first, last=last))
    settings = workspace.settings
    return WorkspaceStatus(
        path=workspace.path,
        schema_version=workspace.schema_version,
        currency=settings.currency,
        week_start=settings.week_start,
        tables=tuple(tables),
    )
