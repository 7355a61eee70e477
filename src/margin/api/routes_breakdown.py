"""``/api/runs/{id}/decomposition`` and ``/api/runs/{id}/geos``: a run's breakdown.

The predicted KPI in parts (baseline components, each channel, immediate vs carry-over)
and ROI and contribution by geo × channel, as the report draws them
(:mod:`margin.report.breakdown`). Runs saved before the breakdown existed answer with
``available: false`` and a message saying how to get it, not an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from margin.api import runs
from margin.api.auth import app_state, require
from margin.api.keys import Principal
from margin.api.models import Document
from margin.api.routes_runs import RunId

__all__ = ["router"]

router = APIRouter(prefix="/api/runs", tags=["runs"])

Viewer = Annotated[Principal, Depends(require("viewer"))]


def _folder(request: Request, run_id: str) -> tuple[Path, dict[str, Any]]:
    with app_state(request).open() as ws:
        run = runs.find_run(ws, run_id)
    folder = runs.run_folder(run)
    return folder, runs.read_summary(folder)


def _geo_names(folder: Path) -> list[str] | None:
    """The geos the run was fitted on (``model.json``), ``None`` when it is unreadable."""
    from margin.data.workspace.runs import read_json_object
    from margin.errors import ConfigError

    path = folder / "model.json"
    if not path.is_file():
        return None
    try:
        geos = read_json_object(path, "run model", "refit the model").get("geos")
    except ConfigError:
        return None
    return [str(g) for g in geos] if isinstance(geos, list) else None


@router.get(
    "/{run_id}/decomposition",
    response_model=Document,
    summary="The predicted KPI in parts (viewer)",
)
def get_decomposition(request: Request, _: Viewer, run_id: RunId) -> dict[str, Any]:
    """The baseline in parts (intercept, trend, seasonality, each control by name) and each
    channel, with the KPI over the fitted weeks and the share of the predicted KPI (90%
    intervals; they sum to ``predicted``); per channel, its immediate (lag 0) and
    carry-over (lags ≥ 1) contribution. ``available`` is false for runs saved before."""
    from margin.report.breakdown import decomposition_view

    return decomposition_view(_folder(request, run_id)[1])


@router.get("/{run_id}/geos", response_model=Document, summary="Results by geo (viewer)")
def get_geos(request: Request, _: Viewer, run_id: RunId) -> dict[str, Any]:
    """ROI (revenue per unit of spend) and contribution by geo × channel, with 90%
    intervals, and each geo's predicted KPI. National runs answer ``national: true``."""
    from margin.report.breakdown import geos_view

    folder, summary = _folder(request, run_id)
    return geos_view(summary, _geo_names(folder))
