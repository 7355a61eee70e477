"""The append-only audit trail: who did what, when, and how it ended.

Every state-changing request (POST or DELETE: login and logout, key creation and
revocation, optimizations, scenarios, refreshes) is recorded, refused ones included.
This module can only insert and read: there is no code path that updates or deletes an
audit row, and the API exposes the trail read-only (``GET /api/audit``, admins).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from margin.api.keys import utc_now

if TYPE_CHECKING:
    from margin.data.workspace import Workspace

__all__ = ["AuditEntry", "read_audit", "record"]

_COLUMNS = "id, ts, key_id, key_name, role, method, path, action, target, status, detail"


@dataclass(frozen=True)
class AuditEntry:
    """One thing someone tried to change.

    Attributes:
        key_id, key_name, role: who (``None`` when no valid credentials came with it).
        method, path: the request.
        action: what it was for (``optimize``, ``key.create``, ``login`` …).
        target: what it acted on (a run id, a key id), if anything.
        status: the HTTP status the request ended with (refusals are 401/403/4xx).
        detail: extra facts as JSON-able values (a new plan's id, a refusal's reason).
    """

    key_id: str | None
    key_name: str | None
    role: str | None
    method: str
    path: str
    action: str
    target: str | None
    status: int
    detail: dict[str, Any]


def record(ws: Workspace, entry: AuditEntry) -> None:
    """Append ``entry`` to the trail (the time is now, UTC)."""
    with ws.transaction() as con:
        con.execute(
            "INSERT INTO audit (ts, key_id, key_name, role, method, path, action, target, "
            "status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                utc_now(),
                entry.key_id,
                entry.key_name,
                entry.role,
                entry.method,
                entry.path,
                entry.action,
                entry.target,
                entry.status,
                json.dumps(entry.detail, default=str, sort_keys=True),
            ],
        )


def read_audit(
    ws: Workspace, *, limit: int = 100, before: int | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` rows (with ``id < before`` when given), newest first."""
    where = "" if before is None else "WHERE id < ?"
    params: list[Any] = [] if before is None else [before]
    rows = ws.fetch(
        f"SELECT {_COLUMNS} FROM audit {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
    names = [c.strip() for c in _COLUMNS.split(",")]
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        item["ts"] = item["ts"].isoformat()
        item["detail"] = json.loads(item["detail"])
        out.append(item)
    return out
