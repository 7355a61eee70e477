"""Run artifacts: ``posterior.npz``, ``summary.json``, and the workspace ``runs`` row."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.data.panel import MarketingData
from margin.data.spec import Spec

if TYPE_CHECKING:
    from margin.data.workspace import Workspace
    from margin.mmm.estimator import MarketingMixModel

__all__ = ["RunRecord", "code_version", "record_run", "save_run"]


@dataclass(frozen=True)
class RunRecord:
    """What identifies a run: (data hash, spec hash, code version, seed) and where it lies."""

    id: str
    spec_hash: str
    data_hash: str
    code_version: str
    seed: int
    created: datetime
    status: str
    artifact_path: str
    message: str


def code_version() -> str:
    """margin's installed version (``0+unknown`` when not installed)."""
    import margin

    return str(margin.__version__)


def _status(result: dict[str, Any]) -> tuple[str, str]:
    warnings = result["diagnostics"]["warnings"]
    if result["method"] == "approximate":
        return "approximate", "approximate fit (SVI); " + f"{len(warnings)} warning(s)"
    return ("warning" if warnings else "ok"), "; ".join(warnings)[:2000]


def save_run(
    model: MarketingMixModel, data: MarketingData, spec: Spec, out: str | Path
) -> RunRecord:
    """Write ``out/summary.json`` and ``out/posterior.npz`` (every site, ``(chains, draws, ...)``)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    result = model.result()
    status, message = _status(result)
    record = RunRecord(
        id=f"mmm-{uuid.uuid4().hex[:12]}",
        spec_hash=spec.hash(),
        data_hash=data.data_hash(),
        code_version=code_version(),
        seed=model.seed,
        created=datetime.now(UTC).replace(tzinfo=None),
        status=status,
        artifact_path=str(folder.resolve()),
        message=message,
    )
    payload = {
        "run": {k: str(v) if isinstance(v, datetime) else v for k, v in record.__dict__.items()},
        "kpi": {"name": data.kpi_name, "type": data.kpi_type},
        "channels_order": list(data.channels),
        **result,
    }
    (folder / "summary.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    np.savez_compressed(folder / "posterior.npz", allow_pickle=False, **model.draws_.samples)
    return record


def record_run(workspace: Workspace, record: RunRecord) -> None:
    """Insert ``record`` as a ``kind='mmm'`` row of the workspace ``runs`` table."""
    with workspace.transaction():
        workspace.con.execute(
            "INSERT INTO runs (id, kind, spec_hash, data_hash, code_version, seed, created, "
            "status, artifact_path, message) VALUES (?, 'mmm', ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.id,
                record.spec_hash,
                record.data_hash,
                record.code_version,
                record.seed,
                record.created,
                record.status,
                record.artifact_path,
                record.message,
            ],
        )
