"""``/api/runs``: the runs table, a run's summary, its channel table and response curves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from margin.api import runs
from margin.api.auth import app_state, require
from margin.api.keys import Principal
from margin.api.models import ChannelRow, ChannelTable, Document, RunDetail, RunList

__all__ = ["RunId", "router"]

router = APIRouter(prefix="/api/runs", tags=["runs"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
RunId = Annotated[
    str,
    Path(description="A run id from GET /api/runs, or 'latest' (newest usable model fit).",
         examples=["latest"]),
]  # fmt: skip


@router.get("", response_model=RunList, summary="List runs (viewer)")
def list_runs(
    request: Request,
    principal: Viewer,
    kind: Annotated[str | None, Query(description="Only runs of this kind, e.g. 'mmm'.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Runs newest first: model fits (``mmm``), plans, refreshes.

    ``artifact_path`` is relative to the workspace's folder."""
    state = app_state(request)
    with state.open() as ws:
        found = runs.list_runs(ws, kind=kind, limit=limit)
    return {"runs": [runs.public(r, state.workspace, principal.role) for r in found]}


def _summary(request: Request, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    with app_state(request).open() as ws:
        run = runs.find_run(ws, run_id)
    return run, runs.read_summary(runs.run_folder(run))


@router.get("/{run_id}", response_model=RunDetail, summary="A run and its summary (viewer)")
def get_run(request: Request, principal: Viewer, run_id: RunId) -> dict[str, Any]:
    """The run's row (``artifact_path`` relative to the workspace's folder) and its
    ``summary.json``."""
    run, summary = _summary(request, run_id)
    return {
        "run": runs.public(run, app_state(request).workspace, principal.role),
        "summary": summary,
    }


@router.get("/{run_id}/summary", response_model=Document, summary="A run's summary (viewer)")
def get_summary(request: Request, _: Viewer, run_id: RunId) -> dict[str, Any]:
    """``summary.json``: channels (ROI, mROI, contribution with intervals), totals, diagnostics."""
    return _summary(request, run_id)[1]


@router.get(
    "/{run_id}/channels", response_model=ChannelTable, summary="ROI table per channel (viewer)"
)
def get_channels(request: Request, _: Viewer, run_id: RunId) -> dict[str, Any]:
    """Spend, ROI, marginal ROI and contribution per channel, each with its interval."""
    run, summary = _summary(request, run_id)
    order = summary.get("channels_order") or list(summary["channels"])
    rows = []
    for name in order:
        channel = summary["channels"][name]
        rows.append(
            ChannelRow(
                channel=name,
                spend=channel["spend"],
                roi=channel["roi"],
                mroi=channel["mroi"],
                contribution=channel["contribution"],
                contribution_share=channel["contribution_share"],
            )
        )
    return {"run_id": run["id"], "channels": rows}


@router.get("/{run_id}/curves", response_model=Document, summary="Response curves (viewer)")
def get_curves(request: Request, _: Viewer, run_id: RunId) -> dict[str, Any]:
    """``curves.json``: KPI and marginal ROI against weekly spend per channel, adstock."""
    state = app_state(request)
    with state.open() as ws:
        run = runs.find_run(ws, run_id)
    return runs.curves(state, runs.run_folder(run))


@router.get("/{run_id}/health", response_model=Document, summary="Model health (viewer)")
def get_health(request: Request, _: Viewer, run_id: RunId) -> dict[str, Any]:
    """Convergence and fit in plain words (the report's "Model health"): ``headline``,
    ``state``, ``checks``, ``fit`` (verdict, actual-vs-fitted and residual series; ``null``
    for runs saved before the fit check) and ``warnings``."""
    from margin.report.views import health_view

    return health_view(_summary(request, run_id)[1])
