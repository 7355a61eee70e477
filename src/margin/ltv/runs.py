"""Customer-value runs: the folder ``margin ltv`` records in the workspace, and its reader.

A customer-value run is a ``runs`` row of kind ``ltv`` (recorded through the runs owner,
:mod:`margin.data.workspace.runs`) whose folder, ``runs/<run id>/`` beside the workspace,
holds (every estimate ``{"mean", "p05", "p95"}``, money in the workspace currency):

- ``ltv.json``: the purchase model's fit (``{"model", "params": {name: {"estimate",
  "p05", "p95"}}, "loglik", "n_customers", ...}``), with ``"spend"`` (the Gamma-Gamma
  fit, same shape) and ``"summary"`` (``unit``, ``period``, ``calibration_end``,
  ``observation_end``, ``n_customers``, ``n_transactions``);
- ``by_channel.json`` (when computed): channel → value, customers, CAC, LTV:CAC, ...;
- ``holdout.json`` (when the summary has a holdout): predicted vs actual repeat
  purchases per frequency bucket;
- ``p_alive.json``: how customers' P(alive) at the calibration end is spread,
  ``{"edges": [0, 0.1, ..., 1], "counts": [10 ints], "by_channel": {channel: [10 ints]}}``
  (:func:`p_alive_json`);
- ``predictions.parquet`` (when given): each customer's predicted value, for the
  platform exports (``customer_key``, ``acquired_at``, ``acquisition_channel``,
  ``predicted_value``, ``basis``; :func:`load_predictions`);
- ``summary.json``: the run block (id, hashes, code version, ...) the runs owner keeps.

The folder is written hidden (``runs/.partial-<id>``) and published by one rename, then
its row is recorded: a folder named after a run id is never half written, and a failed
save leaves no row. :func:`load_ltv_run` reads a run back (the newest by default);
:func:`channel_spend` sums the workspace's spend per channel over the acquisition window.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from margin.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from margin.data.workspace.store import Workspace

__all__ = [
    "FILES",
    "KIND",
    "P_ALIVE_EDGES",
    "channel_spend",
    "load_ltv_run",
    "load_predictions",
    "p_alive_json",
    "runs_folder",
    "save_ltv_run",
]

KIND = "ltv"
"""The ``runs`` kind of a customer-value run."""
FILES = ("ltv", "by_channel", "holdout", "p_alive")
"""The files a run folder may hold (``<name>.json``); ``ltv`` is required."""
P_ALIVE_EDGES = tuple(round(0.1 * i, 1) for i in range(11))
"""The P(alive) histogram's bin edges: ten bins of 0.1 (the last includes 1)."""
_FIX = "run margin ltv by-channel -w {workspace} (or margin ltv fit -w {workspace})"


def runs_folder(workspace: Workspace) -> Path:
    """Where runs go: ``runs/`` beside the workspace file."""
    return workspace.path.resolve().parent / "runs"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def _hashes(files: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """(spec hash, data hash): of the models and settings, and of the summary's data."""
    ltv = files["ltv"]
    spec = {"model": ltv.get("model"), "spend": (ltv.get("spend") or {}).get("model")}
    summary = ltv.get("summary") or {}
    spec |= {k: summary.get(k) for k in ("unit", "period", "calibration_end")}
    data = {k: summary.get(k) for k in ("n_customers", "n_transactions", "observation_end")}
    data["n_fit"] = ltv.get("n_customers")
    return (
        hashlib.sha256(_canonical(spec)).hexdigest(),
        hashlib.sha256(_canonical(data)).hexdigest(),
    )


def _check_files(files: Mapping[str, Mapping[str, Any]]) -> None:
    unknown = sorted(set(files) - set(FILES))
    if unknown:
        raise ConfigError(f"unknown customer-value run files {unknown}; expected some of {FILES}")
    if "ltv" not in files:
        raise ConfigError("a customer-value run needs its ltv.json (the purchase model's fit)")


PREDICTIONS = "predictions.parquet"


def _write_folder(
    folder: Path, files: Mapping[str, Mapping[str, Any]], predictions: pd.DataFrame | None
) -> None:
    folder.mkdir(parents=True)
    for name, body in files.items():
        text = json.dumps(body, indent=2, default=str) + "\n"
        (folder / f"{name}.json").write_text(text, encoding="utf-8")
    if predictions is not None:
        predictions.to_parquet(folder / PREDICTIONS, index=False)


def _save(
    ws: Workspace,
    files: Mapping[str, Mapping[str, Any]],
    message: str,
    predictions: pd.DataFrame | None,
) -> str:
    from dataclasses import asdict

    from margin.data.workspace import runs as owner

    spec_hash, data_hash = _hashes(files)
    root = runs_folder(ws)
    run_id = owner.new_run_id(KIND)
    partial, final = root / f".partial-{run_id}", root / run_id
    record = owner.RunRecord(
        id=run_id, spec_hash=spec_hash, data_hash=data_hash,
        code_version=owner.code_version(), seed=0, created=owner.utc_now(), status="ok",
        artifact_path=str(partial.resolve()), message=message,
    )  # fmt: skip
    try:
        _write_folder(partial, files, predictions)
        block = {k: str(v) if k == "created" else v for k, v in asdict(record).items()}
        owner.write_summary(partial, {"run": {**block, "kind": KIND}, "files": sorted(files)})
        record = owner.publish_run_folder(partial, final, record)
        owner.record_run(ws, record, kind=KIND)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if not owner.has_run(ws, run_id):
            shutil.rmtree(final, ignore_errors=True)
        raise
    return run_id


def save_ltv_run(
    workspace: Workspace | str | os.PathLike[str],
    files: Mapping[str, Mapping[str, Any]],
    *,
    message: str,
    predictions: pd.DataFrame | None = None,
) -> str:
    """Record a customer-value run: write its folder (``files``: name → JSON body, names
    from :data:`FILES`, ``ltv`` required) and its ``runs`` row of kind ``ltv``.

    Args:
        workspace: an open (writable) workspace, or its path.
        files: ``{"ltv": ..., "by_channel": ..., "holdout": ..., "p_alive": ...}``.
        message: one line for the runs table (what was fitted, on what).
        predictions: each customer's predicted value (written as ``predictions.parquet``).

    Returns:
        The run id (``ltv-`` and 12 hex digits).

    Raises:
        ConfigError: an unknown file name, or no ``ltv`` file.
    """
    _check_files(files)
    if not isinstance(workspace, str | os.PathLike):
        return _save(workspace, files, message, predictions)
    from margin.data.workspace.store import Workspace

    with Workspace(workspace) as ws:
        return _save(ws, files, message, predictions)


def _read(folder: Path, name: str, run_id: str) -> dict[str, Any] | None:
    from margin.data.workspace.runs import read_json_object

    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    fix = f"the folder of run {run_id} is damaged: restore it or run margin ltv again"
    return read_json_object(path, f"customer-value {name}", fix)


def _load(ws: Workspace, run_id: str | None) -> dict[str, Any]:
    from margin.data.workspace.runs import find_run, latest_run

    fix = _FIX.format(workspace=ws.path)
    row = latest_run(ws, kind=KIND) if run_id is None else find_run(ws, run_id)
    if row is None or row.kind != KIND:
        what = "no customer-value run" if run_id is None else f"no customer-value run {run_id!r}"
        raise ConfigError(f"workspace {ws.path} has {what}; {fix}")
    folder = row.path
    if not (folder / "ltv.json").is_file():
        raise ConfigError(
            f"customer-value run {row.id}'s folder {folder} has no ltv.json (moved or "
            f"deleted?); restore the folder or {fix}"
        )
    created = None if row.created is None else row.created.isoformat()
    body: dict[str, Any] = {"run_id": row.id, "created": created, "path": str(folder)}
    for name in FILES:
        body[name] = _read(folder, name, row.id)
    return body


def load_ltv_run(
    workspace: Workspace | str | os.PathLike[str] | None, run_id: str | None = None
) -> dict[str, Any]:
    """A customer-value run: ``{"run_id", "created" (ISO, UTC), "path" (its folder),
    "ltv", "by_channel", "holdout", "p_alive"}``, the files' bodies (``None`` where the
    run has no such file). The newest run unless ``run_id`` names one.

    Raises:
        ConfigError: the workspace has no (such) customer-value run, its folder lost its
            ``ltv.json``, or a file is not a JSON object.
        WorkspaceError: the workspace does not exist.
    """
    if workspace is not None and not isinstance(workspace, str | os.PathLike):
        return _load(workspace, run_id)
    from margin.data.workspace.store import Workspace

    with Workspace(workspace, read_only=True) as ws:
        return _load(ws, run_id)


def load_predictions(run: Mapping[str, Any]) -> pd.DataFrame:
    """The per-customer predictions of a run loaded with :func:`load_ltv_run`.

    Raises:
        ConfigError: the run recorded none (a fit from a summary file, or without spend).
    """
    import pandas as pd

    path = Path(str(run["path"])) / PREDICTIONS
    if not path.is_file():
        raise ConfigError(
            f"customer-value run {run['run_id']} has no per-customer predictions (it was "
            "fitted without transactions and spend); run margin ltv by-channel -w W first"
        )
    return pd.read_parquet(path)


def p_alive_json(
    p_alive: npt.ArrayLike,
    channels: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """``p_alive.json``: customers per P(alive) bin of :data:`P_ALIVE_EDGES`, overall and
    per channel (``channels``: one label per row; ``weights``: customers per row, default 1).
    """
    values = np.clip(np.asarray(p_alive, dtype=np.float64), 0.0, 1.0)
    counts = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    edges = np.asarray(P_ALIVE_EDGES)

    def histogram(mask: npt.NDArray[np.bool_]) -> list[int]:
        found, _ = np.histogram(values[mask], bins=edges, weights=counts[mask])
        return [round(float(n)) for n in found]

    out: dict[str, Any] = {
        "edges": list(P_ALIVE_EDGES),
        "counts": histogram(np.ones(values.shape, dtype=bool)),
        "by_channel": {},
    }
    if channels is not None:
        labels = np.asarray(channels).astype(str)
        for name in sorted(set(labels.tolist())):
            out["by_channel"][name] = histogram(labels == name)
    return out


def channel_spend(workspace: Workspace, start: date, end: date) -> dict[str, float]:
    """Spend per channel (workspace currency) from ``start`` to ``end``, both included:
    what acquiring the customers of that window cost. Empty when there is no spend."""
    rows = workspace.fetch(
        "SELECT channel, SUM(spend) FROM spend WHERE date BETWEEN ? AND ? "
        "GROUP BY channel ORDER BY channel",
        [start, end],
    )
    return {str(channel): float(total or 0.0) for channel, total in rows}
