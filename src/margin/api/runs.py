"""Finding runs in the workspace and reading their folders (no maths).

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

if TYPE_CHECKING:
    from margin.data.workspace import Workspace

__all__ = [
    "USABLE", "Run", "curves", "find_run", "list_runs", "public", "read_summary", "response",
]  # fmt: skip

USABLE = ("ok", "warning", "approximate")
_COLUMNS = ("id", "kind", "created", "status", "message", "artifact_path")

Run = dict[str, Any]


def _shown(value: str, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row(values: tuple[Any, ...]) -> Run:
    run = dict(zip(_COLUMNS, values, strict=True))
    run["created"] = run["created"].isoformat() if run["created"] is not None else ""
    return run


def list_runs(ws: Workspace, *, kind: str | None = None, limit: int = 200) -> list[Run]:
    """Runs, newest first (``kind`` filters)."""
    where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
    rows = ws.fetch(
        f"SELECT {', '.join(_COLUMNS)} FROM runs {where} ORDER BY created DESC, id DESC LIMIT ?",
        [*params, limit],
    )
    return [_row(r) for r in rows]


def find_run(ws: Workspace, run_id: str) -> Run:
    """The run ``run_id`` (or ``latest``); 404 with the known ids when there is none."""
    if run_id == "latest":
        placeholders = ", ".join("?" for _ in USABLE)
        rows = ws.fetch(
            f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE kind = 'mmm' AND status IN "
            f"({placeholders}) ORDER BY created DESC, id DESC LIMIT 1",
            list(USABLE),
        )
        if not rows:
            raise HTTPException(
                404,
                "the workspace has no usable model run yet; fit one with 'margin mmm fit' "
                "(or 'margin demo')",
            )
        return _row(rows[0])
    rows = ws.fetch(f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE id = ?", [run_id])
    if not rows:
        known = [r["id"] for r in list_runs(ws, kind="mmm", limit=5)]
        hint = f"recent model runs: {', '.join(known)}" if known else "the workspace has no runs"
        raise HTTPException(404, f"no run with id {_shown(run_id)}; {hint} (or use 'latest')")
    return _row(rows[0])


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


def run_folder(run: Run, *, needs: str = "summary.json") -> Path:
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
    """``summary.json`` of a run folder."""
    data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _stamp(folder: Path) -> float:
    files = [folder / n for n in ("summary.json", "model.npz", "posterior.npz")]
    return max((f.stat().st_mtime for f in files if f.exists()), default=0.0)


def response(state: AppState, folder: Path) -> Any:
    """The run's response model (:func:`margin.mmm.response.load_response`), cached."""

    def build() -> Any:
        from margin.mmm.response import load_response

        return load_response(folder)

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
