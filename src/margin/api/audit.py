"""The audit trail: who did what, when, and how it ended; bounded and tamper-evident.

Every state-changing request to ``margin serve`` (logins and logouts, key creation and
revocation, optimizations, scenarios, refreshes, refused ones included) and every key
created or revoked with the CLI (``source = 'cli'``, the OS user as ``client``) is
appended to the workspace's ``audit`` table.

- **Bounded**: no field keeps more than :data:`~margin.data.workspace.schema.AUDIT_LIMITS`
  characters; a longer value is cut with a marker holding its length and the SHA-256 of
  the whole value (:func:`bounded_text`, :func:`bounded_detail`).
- **Hash chain**: each row stores ``prev_hash`` (the previous row's hash) and
  ``row_hash`` = SHA-256 of ``prev_hash`` and the row's fields
  (:func:`~margin.data.workspace.schema.audit_hash_sql`). :func:`verify` recomputes the chain
  and names the first row that was changed, deleted or inserted out of turn
  (``margin audit verify``). Whoever can rewrite the file can also rewrite the whole
  chain, so keep the head hash ``verify`` prints somewhere else to compare later.
- **Retention**: :func:`prune` (``margin audit prune --before DATE``, CLI only) deletes
  the oldest rows; the hash of the last deleted row stays as the anchor
  (``meta.audit_anchor`` and the prune's own audit row), so the rest still verifies.
  It is the only code that deletes audit rows; nothing updates them, and the API exposes
  the trail read-only (``GET /api/audit``, admins).
- **Never lost**: a row that cannot be written because another process holds the
  workspace goes to a journal file beside it (:class:`PendingAudit`) and is moved into
  the table at the next chance (the server retries in the background).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.api.keys import utc_now
from margin.data.workspace.schema import AUDIT_GENESIS, AUDIT_LIMITS, audit_hash_sql
from margin.errors import ConfigError

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = [
    "AuditEntry",
    "ChainReport",
    "PendingAudit",
    "PruneResult",
    "bounded_detail",
    "bounded_text",
    "cli_entry",
    "prune",
    "read_audit",
    "record",
    "verify",
]

_COLUMNS = (
    "id, ts, source, client, key_id, key_name, role, method, path, action, target, status, detail"
)
_INSERTED = (*(c.strip() for c in _COLUMNS.split(",")),)
_FIELD_CHARS = 500
"""A value inside ``detail`` longer than this (as JSON) is cut when the detail is too long."""
_CHAIN_LOCK = threading.RLock()
"""One writer of the chain at a time in this process (DuckDB allows one writing process)."""


@dataclass(frozen=True)
class AuditEntry:
    """One thing someone tried to change.

    Attributes:
        key_id, key_name, role: who (``None`` when no valid credentials came with it).
        method, path: the request (``CLI`` and the command for the command line).
        action: what it was for (``optimize``, ``key.create``, ``login`` …).
        target: what it acted on (a run id, a key id), if anything.
        status: the HTTP status the request ended with (refusals are 401/403/4xx; the
            CLI records 201 for a creation and 200 otherwise).
        detail: extra facts as JSON-able values (a new plan's id, a refusal's reason).
        source: ``api`` or ``cli``.
        client: the caller's address (``api``) or the OS user (``cli``).
        ts: when (naive UTC); ``None`` means now.
    """

    key_id: str | None
    key_name: str | None
    role: str | None
    method: str
    path: str
    action: str
    target: str | None
    status: int
    detail: dict[str, Any] = field(default_factory=dict)
    source: str = "api"
    client: str | None = None
    ts: datetime | None = None

    def to_json(self) -> str:
        """One line of the pending journal."""
        data = asdict(self)
        data["ts"] = (self.ts or utc_now()).isoformat()
        return json.dumps(data, default=str, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> AuditEntry:
        data = json.loads(line)
        data["ts"] = datetime.fromisoformat(data["ts"])
        return cls(**data)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def bounded_text(value: str | None, limit: int) -> str | None:
    """``value`` if it has at most ``limit`` characters, else its first ``limit`` characters
    and ``…[truncated: N chars, sha256 <hex of the whole value>]``."""
    if value is None or len(value) <= limit:
        return value
    return f"{value[:limit]}…[truncated: {len(value)} chars, sha256 {_sha256(value)}]"


def _cut(text: str, keep: int) -> dict[str, Any]:
    return {"truncated": True, "chars": len(text), "sha256": _sha256(text), "head": text[:keep]}


def bounded_detail(detail: dict[str, Any]) -> str:
    """``detail`` as JSON of at most ``AUDIT_LIMITS['detail']`` characters.

    Too long: each value longer than 500 characters (as JSON) becomes
    ``{"truncated": true, "chars", "sha256", "head"}``; if that is still too long, the whole
    detail does.
    """
    limit = AUDIT_LIMITS["detail"]
    text = json.dumps(detail, default=str, sort_keys=True)
    if len(text) <= limit:
        return text
    shrunk = {}
    for name, value in detail.items():
        shown = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
        shrunk[str(name)[:_FIELD_CHARS]] = (
            _cut(shown, _FIELD_CHARS // 2) if len(shown) > _FIELD_CHARS else value
        )
    smaller = json.dumps(shrunk, default=str, sort_keys=True)
    if len(smaller) <= limit:
        return smaller
    return json.dumps(_cut(text, limit // 2), sort_keys=True)


def _clean(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    text = value.encode("utf-8", "replace").decode("utf-8").replace("\0", "\\0")
    return bounded_text(text, AUDIT_LIMITS.get(name, 128))


def record(ws: Workspace, entry: AuditEntry) -> int:
    """Append ``entry`` to the trail, chained to the last row; returns its id.

    Inside an outer :meth:`Workspace.transaction` the row commits with it.
    """
    values = [
        entry.ts or utc_now(),
        _clean(entry.source, "source"),
        _clean(entry.client, "client"),
        _clean(entry.key_id, "key_id"),
        _clean(entry.key_name, "key_name"),
        _clean(entry.role, "role"),
        _clean(entry.method, "method"),
        _clean(entry.path, "path"),
        _clean(entry.action, "action"),
        _clean(entry.target, "target"),
        int(entry.status),
        bounded_detail(entry.detail),
    ]
    names = _INSERTED[1:]
    typed = ", ".join(
        f"?::{'TIMESTAMP' if n == 'ts' else 'INTEGER' if n == 'status' else 'VARCHAR'} AS {n}"
        for n in names
    )
    with _CHAIN_LOCK, ws.transaction() as con:
        (new_id,) = con.execute("SELECT nextval('audit_id')").fetchone() or (0,)
        con.execute(
            f"INSERT INTO audit ({_COLUMNS}, prev_hash, row_hash) "
            f"SELECT v.*, p.h, {audit_hash_sql('p.h', 'v')} "
            f"FROM (SELECT ?::BIGINT AS id, {typed}) v, (SELECT coalesce("
            "(SELECT row_hash FROM audit ORDER BY id DESC LIMIT 1), "
            "(SELECT value FROM meta WHERE key = 'audit_anchor'), ?) AS h) p",
            [new_id, *values, AUDIT_GENESIS],
        )
    return int(new_id)


def cli_entry(
    action: str,
    command: str,
    *,
    target: str | None = None,
    status: int = 200,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """An entry for a change made with the CLI (``source='cli'``, the OS user as client)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        user = f"uid {os.getuid()}"
    return AuditEntry(
        key_id=None, key_name=None, role=None, method="CLI", path=command, action=action,
        target=target, status=status, detail=detail or {}, source="cli", client=user,
    )  # fmt: skip


def read_audit(
    ws: Workspace, *, limit: int = 100, before: int | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` rows (with ``id < before`` when given), newest first."""
    where = "" if before is None else "WHERE id < ?"
    params: list[Any] = [] if before is None else [before]
    rows = ws.fetch(
        f"SELECT {_COLUMNS} FROM audit {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
    out = []
    for row in rows:
        item = dict(zip(_INSERTED, row, strict=True))
        item["ts"] = item["ts"].isoformat()
        item["detail"] = json.loads(item["detail"])
        out.append(item)
    return out


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found.

    Attributes:
        rows: rows in the table; ``first_id``/``last_id``: their ids (``None`` if empty).
        head: the last row's hash (keep it elsewhere to detect a rewrite of the whole trail).
        anchor: the hash the first row must follow (genesis, or the last pruned row's).
        broken_id: the first row that fails (``None`` when the chain is intact).
        problem: what is wrong with it.
    """

    rows: int
    first_id: int | None
    last_id: int | None
    head: str
    anchor: str
    broken_id: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def _anchor(ws: Workspace) -> str:
    rows = ws.fetch("SELECT value FROM meta WHERE key = 'audit_anchor'")
    return str(rows[0][0]) if rows else AUDIT_GENESIS


def verify(ws: Workspace) -> ChainReport:
    """Recompute every row's hash and link; the first failure is in ``broken_id``."""
    anchor = _anchor(ws)
    rows, first, last, head = ws.fetch(
        "SELECT count(*), min(id), max(id), "
        "(SELECT row_hash FROM audit ORDER BY id DESC LIMIT 1) FROM audit"
    )[0]
    report = ChainReport(int(rows), first, last, str(head or anchor), anchor)
    bad = ws.fetch(
        f"SELECT id, prev_hash, row_hash, computed, before, n FROM ("
        f"SELECT a.id, a.prev_hash, a.row_hash, {audit_hash_sql('a.prev_hash', 'a')} AS computed, "
        "lag(a.row_hash) OVER (ORDER BY a.id) AS before, row_number() OVER (ORDER BY a.id) AS n "
        "FROM audit a) WHERE row_hash IS NULL OR prev_hash IS NULL OR computed <> row_hash "
        "OR (n = 1 AND prev_hash <> ?) OR (n > 1 AND prev_hash <> before) ORDER BY id LIMIT 1",
        [anchor],
    )
    if not bad:
        return report
    row_id, prev_hash, row_hash, computed, before, n = bad[0]
    if row_hash is None or prev_hash is None:
        problem = "it has no hash (it was inserted around margin)"
    elif computed != row_hash:
        problem = "its content no longer matches its hash (the row was changed)"
    elif n == 1:
        problem = (
            "it does not follow the anchor of the last pruning (rows before it were deleted "
            "outside 'margin audit prune', or the anchor was changed)"
        )
    else:
        problem = (
            "it does not follow the row before it (a row between them was deleted, or a "
            f"row was inserted or changed; expected previous hash {str(before)[:12]}…)"
        )
    return replace(report, broken_id=int(row_id), problem=problem)


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune` did: rows deleted, the new anchor, the id of its own audit row."""

    deleted: int
    anchor: str
    first_kept: int | None
    audit_id: int


def prune(ws: Workspace, before: datetime, entry: AuditEntry) -> PruneResult:
    """Delete the oldest rows: every row before the first one dated on or after ``before``.

    The hash of the last deleted row becomes the anchor (``meta.audit_anchor`` and the
    ``detail`` of ``entry``, which is recorded as the prune's own row), so the remaining
    chain still verifies. All in one transaction.

    Raises:
        ConfigError: the chain is already broken (pruning would destroy the evidence).
    """
    report = verify(ws)
    if not report.intact:
        raise ConfigError(
            f"the audit chain is broken at row {report.broken_id}: {report.problem}. Prune "
            "refuses to delete rows of a broken trail; keep a copy of the workspace and look "
            "into it first ('margin audit verify')"
        )
    with _CHAIN_LOCK, ws.transaction() as con:
        kept = con.execute("SELECT min(id) FROM audit WHERE ts >= ?", [before]).fetchone()
        cutoff = kept[0] if kept and kept[0] is not None else (report.last_id or 0) + 1
        last = con.execute(
            "SELECT count(*), (SELECT row_hash FROM audit WHERE id < ? ORDER BY id DESC LIMIT 1) "
            "FROM audit WHERE id < ?",
            [cutoff, cutoff],
        ).fetchone()
        deleted, anchor = (int(last[0]), last[1]) if last else (0, None)
        anchor = str(anchor) if anchor is not None else report.anchor
        if deleted:
            con.execute("DELETE FROM audit WHERE id < ?", [cutoff])
            con.execute("DELETE FROM meta WHERE key = 'audit_anchor'")
            con.execute("INSERT INTO meta VALUES ('audit_anchor', ?)", [anchor])
        facts = {"before": before.isoformat(), "deleted": deleted, "anchor": anchor}
        audit_id = record(ws, replace(entry, detail=entry.detail | facts))
    return PruneResult(deleted, anchor, kept[0] if kept else None, audit_id)


def _unreadable(line: str) -> AuditEntry:
    """A journal line that cannot be read, kept as a row of its own (nothing is dropped)."""
    return AuditEntry(
        None, None, None, "?", "?", "audit.unreadable", None, 0,
        {"line": line}, source="api",
    )  # fmt: skip


class PendingAudit:
    """Audit rows waiting for the workspace: a journal file beside it, one JSON line each.

    ``<workspace>.audit-pending.jsonl`` (mode 0600); :meth:`flush` moves them into the table in one
    transaction (oldest first, with their original times) and then deletes the file. A
    flush first renames the journal, so rows added meanwhile go to a new one.
    """

    def __init__(self, workspace: Path) -> None:
        self.path = workspace.with_name(workspace.name + ".audit-pending.jsonl")
        self._lock = threading.Lock()
        self._maybe = True  # a journal left by an earlier run is picked up too

    def _files(self) -> list[Path]:
        taken = sorted(self.path.parent.glob(self.path.name + ".*.flushing"))
        return [*taken, self.path] if self.path.exists() else taken

    def __len__(self) -> int:
        return sum(
            1 for f in self._files() for line in f.read_text("utf-8").splitlines() if line.strip()
        )

    def waiting(self) -> bool:
        """Whether any row waits (cheap when none has been added since the last flush)."""
        with self._lock:
            if self._maybe and not self._files():
                self._maybe = False
            return self._maybe

    def add(self, entry: AuditEntry) -> None:
        """Append ``entry`` (written to disk before this returns)."""
        line = (entry if entry.ts else replace(entry, ts=utc_now())).to_json()
        with self._lock:
            handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(handle, "a", encoding="utf-8") as journal:
                journal.write(line + "\n")
                journal.flush()
                os.fsync(journal.fileno())
            self._maybe = True

    def flush(self, ws: Workspace) -> int:
        """Move every waiting row into ``ws``'s trail; returns how many."""
        with self._lock:
            if self.path.exists():
                self.path.rename(self.path.with_name(f"{self.path.name}.{os.getpid()}.flushing"))
            files = self._files()
            entries = []
            for f in files:
                for line in f.read_text("utf-8", errors="replace").splitlines():
                    if not line.strip():
                        continue
                    try:
                        entry = AuditEntry.from_json(line)
                    except (ValueError, TypeError, KeyError):  # a torn line (a crash mid-write)
                        entry = _unreadable(line)
                    entries.append(entry)
            with ws.transaction():
                for entry in entries:
                    record(ws, entry)
            for f in files:
                f.unlink(missing_ok=True)
            self._maybe = self.path.exists()
        return len(entries)
