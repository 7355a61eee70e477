"""Finding runs in the workspace and reading their folders (no maths).

The ``runs`` table and run folders belong to :mod:`margin.data.workspace.runs`; this module turns
its answers into API responses (404s that name the fix).

``latest`` names the newest ``mmm`` run whose status is usable (ok, warning or
approximate). Loaded response models and curves are cached per run folder and file
modification time (:meth:`margin.api.state.AppState.cached`).

Responses never show the server's absolute paths to non-admins: :func:`public` gives
``artifact_path`` relative to the workspace's folder (admins see a path outside it in
full; others get ``null``), and messages name a run's folder by its name only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException

from margin.api.state import AppState
from margin.data.workspace import runs as owner
from margin.data.workspace.runs import SUMMARY, USABLE, RunRow

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = [
    "USABLE", "Run", "curves", "find_run", "list_runs", "public", "read_summary", "response",
]  # fmt: skip

_COLUMNS = ("id", "kind", "created", "status", "message", "artifact_path")

Run = dict[str, Any]


def _shown(value: str, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row(row: RunRow) -> Run:
    run: Run = {name: getattr(row, name) for name in _COLUMNS}
    run["created"] = row.created.isoformat() if row.created is not None else ""
    return run


def list_runs(ws: Workspace, *, kind: str | None = None, limit: int = 200) -> list[Run]:
    """Runs, newest first (``kind`` filters)."""
    return [_row(r) for r in owner.list_runs(ws, kind=kind or None, limit=limit)]


def find_run(ws: Workspace, run_id: str) -> Run:
    """The run ``run_id`` (or ``latest``); 404 with the known ids when there is none."""
    if run_id == "latest":
        latest = owner.latest_run(ws, kind="mmm", statuses=USABLE)
        if latest is None:
            raise HTTPException(
                404,
                "the workspace has no usable model run yet; fit one with 'margin mmm fit' "
                "(or 'margin demo')",
            )
        return _row(latest)
    found = owner.find_run(ws, run_id)
    if found is None:
        known = [r["id"] for r in list_runs(ws, kind="mmm", limit=5)]
        hint = f"recent model runs: {', '.join(known)}" if known else "the workspace has no runs"
        raise HTTPException(404, f"no run with id {_shown(run_id)}; {hint} (or use 'latest')")
    return _row(found)


def public(run: Run, workspace: Path, role: str) -> Run:
    """``run`` as the API shows it to a caller with ``role``: ``artifact_path`` relative
    to ``workspace``'s folder; a path outside it only for admins (``None`` otherwise)."""
    raw = run.get("artifact_path")
    if not raw:
        return run
    path, home = Path(raw), workspace.resolve().parent
    try:
        shown: str | None = path.resolve().relative_to(home).as_posix()
    except ValueError:
        shown = str(path) if role == "admin" else None
    return {**run, "artifact_path": shown}


def run_folder(run: Run, *, needs: str = SUMMARY) -> Path:
    """The run's folder; 404 when it (or the file ``needs``) is gone."""
    if run["kind"] != "mmm":
        raise HTTPException(
            404, f"run {run['id']} is a {run['kind']!r} run, not a model fit; use a 'mmm' run id"
        )
    folder = Path(run["artifact_path"] or "")
    if not (folder / needs).is_file():
        raise HTTPException(
            404,
            f"run {run['id']}: {needs} is missing from its folder {folder.name!r} (the run "
            "folder was moved or deleted); refit or restore the folder",
        )
    return folder


def read_summary(folder: Path) -> dict[str, Any]:
    """``summary.json`` of a run folder, checked (:func:`margin.data.workspace.runs.load_summary`):
    a damaged file is a 400 that names the run folder and the fix."""
    return owner.load_summary(folder)


def _stamp(folder: Path) -> float:
    files = [folder / n for n in (SUMMARY, "model.npz", "posterior.npz")]
    return max((f.stat().st_mtime for f in files if f.exists()), default=0.0)


def response(state: AppState, folder: Path) -> Any:
    """The run's response model (:func:`margin.mmm.response.load_response`), cached."""

    def build() -> Any:
        from margin.limits import PLANNING_DRAWS
        from margin.mmm.response import load_response

        return load_response(folder, max_draws=PLANNING_DRAWS)  # the CLI's default too

    return state.cached(("response", str(folder.resolve())), _stamp(folder), build)


def curves(state: AppState, folder: Path) -> dict[str, Any]:
    """The run's ``curves.json`` (computed from the response model when it is missing)."""
    path = folder / "curves.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data

    def build() -> dict[str, Any]:
        from margin.optimize.curves import response_curves

        return response_curves(response(state, folder))

    result = state.cached(("curves", str(folder.resolve())), _stamp(folder), build)
    assert isinstance(result, dict)
    return result
