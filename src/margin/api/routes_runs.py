"""``/api/runs``: the runs table, a run's summary, its channel table and response curves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam

from margin.api import runs
from margin.api.auth import app_state, require
from margin.api.keys import Principal
from margin.api.models import ChannelRow, ChannelTable, Document, RunDetail, RunList
from margin.api.state import AppState

__all__ = ["RunId", "router"]

router = APIRouter(prefix="/api/runs", tags=["runs"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
RunId = Annotated[
    str,
    PathParam(description="A run id from GET /api/runs, or 'latest' (newest usable model fit).",
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
def get_curves(
    request: Request,
    _: Viewer,
    run_id: RunId,
    plan: Annotated[
        str | None,
        Query(
            description="A plan id (GET /api/runs?kind=plan): the curves reach at least "
            "1.2× the larger of current and planned weekly spend.",
            pattern=r"^plan-[0-9a-f]{12}$",
        ),
    ] = None,
) -> dict[str, Any]:
    """``curves.json``: KPI and marginal ROI against weekly spend per channel, adstock.

    With ``plan``, a channel whose saved curve stops before 1.2× its planned (or current)
    weekly spend is evaluated further from the run's model, so the plan's marker sits on
    its curve."""
    state = app_state(request)
    with state.open() as ws:
        run = runs.find_run(ws, run_id)
        plan_row = None if plan is None else runs.find_run(ws, plan)
    folder = runs.run_folder(run)
    saved = runs.curves(state, folder)
    if plan_row is None:
        return saved
    return _curves_to_plan(state, folder, saved, plan_row)


def _curves_to_plan(
    state: AppState, folder: Path, saved: dict[str, Any], plan_row: runs.Run
) -> dict[str, Any]:
    """``saved`` curves, extended (from the run's response model, cached) where they stop
    short of the plan (:func:`margin.report.views.curve_reach`)."""
    from margin.data.workspace.runs import read_json_object
    from margin.report.views import curve_reach

    path = Path(plan_row["artifact_path"] or "")
    if plan_row["kind"] != "plan" or not path.is_file():
        raise HTTPException(404, f"{plan_row['id']} is not a recorded plan with its plan.json")
    reach = curve_reach(saved, read_json_object(path, "plan", "make the plan again"))
    if not reach:
        return saved

    def build() -> dict[str, Any]:
        from margin.optimize.curves import response_curves

        model = runs.response(state, folder)
        return response_curves(model, weeks=int(saved["horizon_weeks"]), reach=reach)

    key = ("curves-to-plan", str(folder.resolve()), str(plan_row["id"]))
    result = state.cached(key, path.stat().st_mtime, build)
    assert isinstance(result, dict)
    return result


@router.get("/{run_id}/health", response_model=Document, summary="Model health (viewer)")
def get_health(request: Request, _: Viewer, run_id: RunId) -> dict[str, Any]:
    """Convergence and fit in plain words (the report's "Model health"): ``headline``,
    ``state``, ``checks``, ``fit`` (verdict, actual-vs-fitted and residual series; ``null``
    for runs saved before the fit check) and ``warnings``."""
    from margin.report.views import health_view

    return health_view(_summary(request, run_id)[1])
