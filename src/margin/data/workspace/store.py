"""The local workspace: one DuckDB file holding the contract tables.

Open it with :func:`open_workspace` (or ``Workspace(path)``); it is created and migrated
on first use. Every write goes through :meth:`Workspace.transaction`, so a failed load
leaves the file exactly as it was.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.data.workspace import locking
from margin.data.workspace.hashing import move_legacy_secret, new_workspace_id
from margin.data.workspace.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    WEEKDAYS,
    weekly_views_sql,
)
from margin.errors import ConfigError, WorkspaceError

if TYPE_CHECKING:
    import duckdb

__all__ = ["DEFAULT_WORKSPACE", "Workspace", "WorkspaceSettings", "open_workspace", "resolve_path"]

DEFAULT_WORKSPACE = "margin.duckdb"
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The workspace path: ``path`` if given, else ``$MARGIN_WORKSPACE``, else ``./margin.duckdb``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("MARGIN_WORKSPACE") or DEFAULT_WORKSPACE)


@dataclass(frozen=True)
class WorkspaceSettings:
    """Settings fixed per workspace.

    Attributes:
        currency: ISO 4217 code every money column is converted to.
        week_start: the weekday weeks start on (``monday`` gives ISO weeks).
    """

    currency: str = "USD"
    week_start: str = "monday"

    def __post_init__(self) -> None:
        if not _CURRENCY.match(self.currency):
            raise ConfigError(
                f"currency {self.currency!r} is not an ISO 4217 code; use three capital letters such as 'USD' or 'EUR'"
            )
        if self.week_start not in WEEKDAYS:
            raise ConfigError(
                f"week start {self.week_start!r} is not a weekday; use one of {', '.join(WEEKDAYS)}"
            )


class Workspace:
    """A DuckDB workspace file with the margin schema.

    Args:
        path: the file; created (with ``settings``) if it does not exist.
        settings: currency and week start for a new workspace. For an existing one they
            must match what it holds, or be ``None``.
        read_only: open without taking the write lock (several readers may share it).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        settings: WorkspaceSettings | None = None,
        read_only: bool = False,
    ) -> None:
        import duckdb

        self.path = resolve_path(path)
        self.read_only = read_only
        self._depth, self._doomed = 0, False
        new = not self.path.exists()
        if read_only and new:
            raise WorkspaceError(
                f"workspace {self.path} does not exist; pass -w or set MARGIN_WORKSPACE, or "
                "create it with 'margin ingest' or 'margin demo' first"
            )
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # waits (bounded, see margin.data.workspace.locking) while another process holds the file
            self.con: duckdb.DuckDBPyConnection = locking.connect(self.path, read_only=read_only)
        except duckdb.Error as err:
            raise WorkspaceError(
                f"cannot open workspace {self.path}: {err}. If the file is not a margin "
                "workspace, pass another --workspace"
            ) from err
        try:
            self._migrate(settings if new else None)
            if not read_only:
                move_legacy_secret(self)  # once, for a workspace made before keys left the file
        except BaseException:
            self.con.close()
            raise
        if settings is not None and not new and settings != self.settings:
            current = self.settings
            self.con.close()
            raise ConfigError(
                f"workspace {self.path} uses currency {current.currency} and weeks starting "
                f"{current.week_start}; it cannot be reopened with {settings.currency}/{settings.week_start}. "
                "Use a new workspace for other settings"
            )

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block as one transaction: all of it is written, or none of it.

        Blocks nest: an inner ``transaction()`` joins the outermost one, so several
        steps that each write transactionally (e.g. loading several files) can be made
        one all-or-nothing step. Nothing is committed before the outermost block ends.
        If an inner block fails, the whole transaction is rolled back, even when the
        outer block catches the error: it then ends with a :class:`WorkspaceError` and
        nothing is written (DuckDB has no savepoints to undo the inner block alone).
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.con
            except BaseException:
                self._doomed = True
                raise
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth, self._doomed = 1, False
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0
        if self._doomed:
            self.con.execute("ROLLBACK")
            raise WorkspaceError(
                f"a step inside a transaction on {self.path} failed and its error was caught; "
                "the whole transaction was rolled back and nothing was written. Let the "
                "error propagate, or run that step outside the transaction"
            )
        self.con.execute("COMMIT")

    # -- schema ----------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def _version(self) -> int:
        has_meta = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta' AND table_schema = 'main'"
        ).fetchone()
        if not has_meta or has_meta[0] == 0:
            others = self.con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchone()
            if others and others[0] > 0:
                raise WorkspaceError(
                    f"{self.path} is a DuckDB file but not a margin workspace (it has no 'meta' table); "
                    "pass another --workspace"
                )
            return 0
        value = self._meta("schema_version")
        return int(value) if value is not None else 0

    def _migrate(self, settings: WorkspaceSettings | None) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"workspace {self.path} has schema version {version}, newer than this margin "
                f"understands ({SCHEMA_VERSION}); upgrade margin"
            )
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise WorkspaceError(
                f"workspace {self.path} has schema version {version}; this margin needs "
                f"{SCHEMA_VERSION} and cannot upgrade a workspace opened read-only: run "
                f"`margin init --workspace {self.path}` once to upgrade it, then retry"
            )
        with self.transaction() as con:
            for step in MIGRATIONS[version:]:
                for statement in step:
                    con.execute(statement)
            if version == 0:
                chosen = settings or WorkspaceSettings()
                con.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [
                        ["currency", chosen.currency],
                        ["week_start", chosen.week_start],
                        ["workspace_id", new_workspace_id()],
                        ["schema_version", str(SCHEMA_VERSION)],
                    ],
                )
                for statement in weekly_views_sql(chosen.week_start):
                    con.execute(statement)
            else:
                con.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
                )

    @property
    def schema_version(self) -> int:
        return self._version()

    @property
    def settings(self) -> WorkspaceSettings:
        return WorkspaceSettings(
            currency=self._meta("currency") or "USD",
            week_start=self._meta("week_start") or "monday",
        )

    @property
    def workspace_id(self) -> str | None:
        """The workspace's non-secret id: it names the key file (:mod:`margin.data.workspace.hashing`).

        ``None`` only for a workspace made by an older margin and opened read-only since.
        """
        return self._meta("workspace_id")

    def rewrite(self) -> None:
        """Rewrite the file from its live rows, so that deleted values leave no bytes behind.

        DuckDB reuses the blocks of deleted rows later but does not clear them; this copies
        the database into a new file and puts it in the old one's place (other processes
        that open the path from then on get the new file). Used when a secret leaves the
        workspace and when ids are re-keyed. Not inside a transaction.
        """
        from margin.data.ingest.readers import quote_identifier, quote_literal

        if self._depth or self.read_only:
            raise WorkspaceError(
                f"workspace {self.path} cannot be rewritten inside a transaction or read-only"
            )
        fresh = self.path.with_name(f"{self.path.name}.rewrite")
        for stale in (fresh, fresh.with_name(f"{fresh.name}.wal")):
            stale.unlink(missing_ok=True)
        row = self.con.execute("SELECT current_database()").fetchone()
        catalog = quote_identifier(str(row[0]) if row else "")
        marker = secrets.token_hex(8)
        try:
            self.con.execute("CHECKPOINT")
            self.con.execute(f"ATTACH {quote_literal(str(fresh))} AS margin_rewrite")
            try:
                self.con.execute(f"COPY FROM DATABASE {catalog} TO margin_rewrite")
                self.con.execute(
                    "INSERT INTO margin_rewrite.meta VALUES ('rewrite_marker', ?)", [marker]
                )
            finally:
                self.con.execute("DETACH margin_rewrite")
            fresh.chmod(self.path.stat().st_mode & 0o777)  # keep who may read it
            os.replace(fresh, self.path)
        except BaseException as err:
            fresh.unlink(missing_ok=True)
            raise WorkspaceError(
                f"could not rewrite workspace {self.path} ({err}); it is unchanged. Check the "
                "free disk space beside it and retry"
            ) from err
        self.con.close()
        self.con = locking.connect(self.path, read_only=False)
        if self._meta("rewrite_marker") != marker:  # pragma: no cover - another connection
            raise WorkspaceError(
                f"workspace {self.path} is still open elsewhere in this process; close the "
                "other connection and open it again"
            )
        self.con.execute("DELETE FROM meta WHERE key = 'rewrite_marker'")

    # -- reading ---------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Rows per contract table."""
        out: dict[str, int] = {}
        for name in TABLES:
            row = self.con.execute(f"SELECT count(*) FROM {name}").fetchone()
            out[name] = int(row[0]) if row else 0
        return out

    def fetch(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()


def open_workspace(
    path: str | os.PathLike[str] | None = None,
    *,
    settings: WorkspaceSettings | None = None,
    read_only: bool = False,
) -> Workspace:
    """Open (creating and migrating if needed) the workspace at ``path``."""
    return Workspace(path, settings=settings, read_only=read_only)
