"""``/api/plans/{id}``: a recorded plan (``runs`` kind ``plan``) with its view and units.

A plan made by ``margin optimize -w`` or by ``POST /api/runs/{id}/optimize`` is a row of
the ``runs`` table whose ``artifact_path`` is its ``plan.json``. This route reads that file
and answers, for the dashboard's plan page (``/plans/<id>``) and the overview's "where the
next dollar goes":

    {"run": <the plan's runs row>, "plan": <plan.json>, "units": <views.units_of>,
     "view": <views.plan_view: rows with intervals, verdict, gain_text, headline, caveats>,
     "top_moves": [<the largest moves, biggest first>]}

``latest`` names the newest recorded plan. Money is in the workspace's currency; the
gain is in the KPI's unit (conversions carry their worth in money), worded once by
:func:`margin.report.views.gain_text`, the words the CLI and the report use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam

from margin.api import runs
from margin.api.auth import app_state, require
from margin.api.keys import Principal
from margin.api.models import Document

__all__ = ["PLAN_ID", "router", "workspace_currency"]

router = APIRouter(prefix="/api/plans", tags=["runs"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
PLAN_ID = r"^(latest|plan-[0-9a-f]{12})$"
"""A plan id as :func:`margin.data.workspace.runs.plan_id` makes them, or ``latest``."""
PlanId = Annotated[
    str,
    PathParam(description="A plan id from GET /api/runs?kind=plan, or 'latest'.",
              examples=["latest"], pattern=PLAN_ID),
]  # fmt: skip
TOP_MOVES = 3
"""How many of a plan's moves the overview shows."""


def workspace_currency(request: Request) -> str:
    """The workspace's currency (ISO code), as every money figure of the dashboard shows it."""
    with app_state(request).open() as ws:
        return str(ws.settings.currency)


def _plan_row(request: Request, plan_id: str) -> runs.Run:
    with app_state(request).open() as ws:
        if plan_id == "latest":
            found = runs.list_runs(ws, kind="plan", limit=1)
            if not found:
                raise HTTPException(
                    404,
                    "no plan recorded yet; make one with 'margin optimize --run RUN_FOLDER "
                    "-w WORKSPACE' or the dashboard's Budget planner",
                )
            return found[0]
        run = runs.find_run(ws, plan_id)
    if run["kind"] != "plan":
        raise HTTPException(404, f"run {plan_id} is a {run['kind']!r} run, not a plan")
    return run


def _read_plan(run: runs.Run) -> dict[str, Any]:
    from margin.data.workspace.runs import read_json_object

    path = Path(run["artifact_path"] or "")
    if not path.is_file():
        raise HTTPException(
            404,
            f"plan {run['id']}: its plan.json ({path.name or 'no file'}) is gone; make the "
            "plan again with 'margin optimize -w' or the Budget planner",
        )
    return read_json_object(path, "plan", "make the plan again with margin optimize")


def _units(request: Request, plan: dict[str, Any], currency: str) -> dict[str, Any]:
    """The plan's units: its run's KPI (revenue if the run is gone) and ``currency``."""
    from margin.report.views import units_of

    kpi = {"name": "KPI", "type": "revenue"}
    try:
        with app_state(request).open() as ws:
            folder = runs.run_folder(runs.find_run(ws, str(plan.get("run_id"))))
        kpi = runs.read_summary(folder)["kpi"]
    except HTTPException:
        pass  # the run was removed: the plan still reads, in money
    return units_of({"kpi": kpi}, currency)


def top_moves(view: dict[str, Any], count: int = TOP_MOVES) -> list[dict[str, Any]]:
    """The plan's largest moves (by absolute change of spend), biggest first."""
    moved = [r for r in view["rows"] if abs(r["change"]) > 0]
    return sorted(moved, key=lambda r: -abs(r["change"]))[:count]


@router.get("/{plan_id}", response_model=Document, summary="A recorded plan (viewer)")
def get_plan(request: Request, principal: Viewer, plan_id: PlanId) -> dict[str, Any]:
    """The plan's ``runs`` row, its ``plan.json``, its units and its view (allocation with
    intervals, expected gain in the KPI's unit, headline and caveats)."""
    from margin.report.views import plan_view

    run = _plan_row(request, plan_id)
    plan = _read_plan(run)
    units = _units(request, plan, workspace_currency(request))
    view = plan_view(plan, units)
    return {
        "run": runs.public(run, app_state(request).workspace, principal.role),
        "plan": plan,
        "units": units,
        "view": view,
        "top_moves": top_moves(view),
    }
