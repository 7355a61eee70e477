"""A refresh's records: its ``runs`` row, and the folder it keeps while it runs.

Every refresh keeps a hidden folder ``<runs folder>/.partial-<refresh id>/`` from its
first step to its last: a marker ``started.json`` (refresh id, start time, process,
workspace) and, while the fit is written, the half-written run (``run/``). A refresh
that ends, well or not, removes the folder. One whose process was killed (``kill -9``,
a reboot, the machine out of memory) cannot: the next refresh of the same workspace
finds the folder, removes it (and a run folder the killed refresh had finished but not
recorded), and records the killed refresh as a ``kind='refresh'`` row with status
``'failed'`` saying so (:func:`recover_abandoned`). Refreshes of one workspace never
overlap (each holds the workspace's write lock from start to end), so any such folder
of this workspace found when a refresh starts is abandoned. A folder whose marker names
another workspace (two workspaces sharing a runs folder) is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = [
    "MARKER",
    "Abandoned",
    "begin",
    "discard_partial",
    "find_abandoned",
    "insert_refresh_row",
    "note_run_folder",
    "partial_folder",
    "recover_abandoned",
]

MARKER = "started.json"
"""The marker file in a running refresh's partial folder."""
_PREFIX = ".partial-"
_MESSAGE_CHARS = 2000
"""Longest ``runs.message`` a refresh stores."""


def partial_folder(runs: Path, refresh_id: str) -> Path:
    """The hidden folder refresh ``refresh_id`` keeps while it runs."""
    return runs / f"{_PREFIX}{refresh_id}"


def discard_partial(runs: Path, refresh_id: str) -> None:
    """Remove the partial folder of this refresh (its marker, a half-written run), if any."""
    shutil.rmtree(partial_folder(runs, refresh_id), ignore_errors=True)


def begin(runs: Path, refresh_id: str, started: datetime, workspace: Path, seed: int) -> Path:
    """Create the partial folder of refresh ``refresh_id`` with its marker; returns the folder.

    The marker is written in a temporary folder that is then renamed, so a partial
    folder without a marker is never one a running refresh is writing.

    Raises:
        OSError: the runs folder cannot be written.
    """
    runs.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".starting-", dir=runs))
    marker = {
        "refresh_id": refresh_id,
        "started": started.isoformat(),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "workspace": str(workspace.resolve()),
        "seed": seed,
        "run_folder": None,
    }
    try:
        (scratch / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        folder = partial_folder(runs, refresh_id)
        scratch.rename(folder)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return folder


def note_run_folder(runs: Path, refresh_id: str, run_folder: Path) -> None:
    """Say in the marker that the finished run is about to be moved to ``run_folder``
    (recorded only when the refresh commits: a killed refresh's run is removed)."""
    path = partial_folder(runs, refresh_id) / MARKER
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no marker (the runs folder was not writable at start)
        return
    marker["run_folder"] = str(run_folder.resolve())
    path.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Abandoned:
    """A partial folder left by a refresh that did not finish.

    ``started`` is the marker's start time, or, with ``marked`` false, the folder's last
    change (a folder without a readable marker, e.g. left by a margin older than the
    marker); ``pid``/``host`` the process that ran it; ``run_folder`` the run folder it
    was about to record.
    """

    refresh_id: str
    folder: Path
    started: datetime
    marked: bool = True
    pid: int | None = None
    host: str | None = None
    seed: int | None = None
    run_folder: Path | None = None

    def message(self, removed: list[str]) -> str:
        process = "" if self.pid is None else f" (process {self.pid} on {self.host})"
        when = "started" if self.marked else "last wrote its folder"
        return (
            f"refresh {self.refresh_id} {when} {self.started:%Y-%m-%d %H:%M:%S} UTC"
            f"{process} did not finish (process killed?); nothing it loaded was kept, and "
            f"{' and '.join(removed)} {'was' if len(removed) == 1 else 'were'} removed"
        )


def find_abandoned(runs: Path, workspace: Path) -> list[Abandoned]:
    """The partial folders in ``runs`` left by refreshes of ``workspace`` (oldest first)."""
    if not runs.is_dir():
        return []
    here = str(workspace.resolve())
    found = []
    for folder in sorted(runs.glob(f"{_PREFIX}*")):
        if not folder.is_dir():
            continue
        entry = _read(folder)
        if entry is not None and entry[1] in (None, here):
            found.append(entry[0])
    return sorted(found, key=lambda a: a.started)


def _read(folder: Path) -> tuple[Abandoned, str | None] | None:
    """The folder as :class:`Abandoned` and the workspace its marker names (None: no marker)."""
    refresh_id = folder.name[len(_PREFIX) :]
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        started = datetime.fromisoformat(str(marker["started"]))
    except (OSError, ValueError, KeyError, TypeError):  # none, or damaged: the folder's time
        changed = datetime.fromtimestamp(folder.stat().st_mtime, UTC).replace(tzinfo=None)
        return Abandoned(refresh_id, folder, changed, marked=False), None
    run_folder = marker.get("run_folder")
    seed = marker.get("seed")
    return Abandoned(
        refresh_id=str(marker.get("refresh_id") or refresh_id), folder=folder, started=started,
        pid=marker.get("pid"), host=marker.get("host"),
        seed=seed if isinstance(seed, int) else None,
        run_folder=None if not run_folder else Path(str(run_folder)),
    ), marker.get("workspace")  # fmt: skip


def recover_abandoned(ws: Workspace, runs: Path) -> list[str]:
    """Clean up after the refreshes of ``ws`` that never finished; one sentence per refresh.

    Each gets a ``failed`` ``kind='refresh'`` row (unless it has a row already: it was
    recorded and only its folder was left), then its partial folder is removed, and a
    run folder it finished but never recorded. Recording comes first, so a folder that
    cannot be removed is found again next time and not recorded twice.
    """
    notes = []
    for abandoned in find_abandoned(runs, ws.path):
        recorded = _has_row(ws, abandoned.refresh_id)
        removed = [f"its partial folder {abandoned.folder}"]
        run = abandoned.run_folder
        if run is not None and run.is_dir() and not _has_row(ws, run.name):
            removed.append(f"the run folder it had not recorded ({run})")
        message = abandoned.message(removed)
        if not recorded:
            insert_refresh_row(
                ws, refresh_id=abandoned.refresh_id, created=abandoned.started, failed=True,
                message=message, seed=abandoned.seed,
            )  # fmt: skip
            notes.append(message)
        if len(removed) > 1 and run is not None:
            shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(abandoned.folder, ignore_errors=True)
    return notes


def _has_row(ws: Workspace, run_id: str) -> bool:
    from margin.data.workspace.runs import has_run

    return has_run(ws, run_id)


def insert_refresh_row(
    ws: Workspace,
    *,
    refresh_id: str,
    created: datetime,
    failed: bool,
    message: str,
    seed: int | None = None,
    spec_hash: str | None = None,
    data_hash: str | None = None,
    artifact: Path | None = None,
) -> None:
    """Insert a refresh's ``kind='refresh'`` row in ``runs``, in a transaction of its own."""
    from margin.data.workspace.runs import RunRow, code_version, record_run

    row = RunRow(
        id=refresh_id, kind="refresh", spec_hash=spec_hash, data_hash=data_hash,
        code_version=code_version(), seed=seed, created=created,
        status="failed" if failed else "ok",
        artifact_path=None if artifact is None else str(artifact),
        message=message[:_MESSAGE_CHARS],
    )  # fmt: skip
    record_run(ws, row)
