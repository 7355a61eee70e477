"""The workspace store: one DuckDB file per workspace (:mod:`~margin.data.workspace.store`),
its tables and migrations (:mod:`~margin.data.workspace.schema`), the lock that serialises
writers (:mod:`~margin.data.workspace.locking`), the key that hashes identifiers
(:mod:`~margin.data.workspace.hashing`), and :mod:`~margin.data.workspace.runs`, the one
owner of run folders and the ``runs`` table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from margin.exports import lazy_exports

if TYPE_CHECKING:
    from margin.data.workspace.hashing import HashKey, ensure_key, load_key
    from margin.data.workspace.runs import (
        RunRecord,
        RunRow,
        list_runs,
        load_summary,
        record_plan,
        record_run,
    )
    from margin.data.workspace.schema import NATIONAL, TABLES, TableSchema
    from margin.data.workspace.store import (
        DEFAULT_WORKSPACE,
        Workspace,
        WorkspaceSettings,
        open_workspace,
        resolve_path,
    )

__all__ = [
    "DEFAULT_WORKSPACE",
    "NATIONAL",
    "TABLES",
    "HashKey",
    "RunRecord",
    "RunRow",
    "TableSchema",
    "Workspace",
    "WorkspaceSettings",
    "ensure_key",
    "list_runs",
    "load_key",
    "load_summary",
    "open_workspace",
    "record_plan",
    "record_run",
    "resolve_path",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "margin.data.workspace.hashing": ("HashKey", "ensure_key", "load_key"),
        "margin.data.workspace.runs": (
            "RunRecord",
            "RunRow",
            "list_runs",
            "load_summary",
            "record_plan",
            "record_run",
        ),
        "margin.data.workspace.schema": ("NATIONAL", "TABLES", "TableSchema"),
        "margin.data.workspace.store": (
            "DEFAULT_WORKSPACE",
            "Workspace",
            "WorkspaceSettings",
            "open_workspace",
            "resolve_path",
        ),
    },
)
