"""All files of a refresh land, or none do.

``ingest_file`` commits each file in its own transaction and cannot join an outer one,
so a refresh keeps a copy of every table it is about to change (in temporary tables of
the same connection) and puts it back, in one transaction, when any later step fails.
The copy lives as long as the connection: if the process is killed mid-refresh, files
ingested so far stay loaded (each one complete), and the next refresh skips them and
loads the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from margin.data.workspace import Workspace

__all__ = ["TableSnapshot"]

_PREFIX = "_refresh_keep_"


class TableSnapshot:
    """A copy of ``tables`` and of ``loads`` to restore the workspace from.

    Args:
        workspace: the open workspace.
        tables: contract tables (``spend``, ``outcomes``, ...) that may change.
    """

    def __init__(self, workspace: Workspace, tables: Iterable[str]) -> None:
        self.workspace = workspace
        self.tables = tuple(dict.fromkeys(tables))
        con = workspace.con
        for table in (*self.tables, "loads"):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_PREFIX}{table} AS SELECT * FROM main.{table}"
            )
        self._active = True

    def restore(self) -> None:
        """Put every copied table back as it was (one transaction), then drop the copies."""
        if not self._active:
            return
        with self.workspace.transaction() as con:
            for table in self.tables:
                con.execute(f"DELETE FROM main.{table}")
                con.execute(f"INSERT INTO main.{table} SELECT * FROM {_PREFIX}{table}")
            # loads has a primary key: remove only the loads made since, re-add any removed
            keep = f"{_PREFIX}loads"
            con.execute(f"DELETE FROM main.loads WHERE load_id NOT IN (SELECT load_id FROM {keep})")
            con.execute(
                f"INSERT INTO main.loads SELECT * FROM {keep} "
                "WHERE load_id NOT IN (SELECT load_id FROM main.loads)"
            )
        self.discard()

    def discard(self) -> None:
        """Drop the copies (the refresh succeeded, or they were restored)."""
        if not self._active:
            return
        for table in (*self.tables, "loads"):
            self.workspace.con.execute(f"DROP TABLE IF EXISTS {_PREFIX}{table}")
        self._active = False
