"""Deciding from a fitted run: optimize a budget, run a scenario, trace the frontier, forecast.

The maths is :mod:`margin.optimize` on the run's response model
(:func:`margin.mmm.response.load_response`, loaded once per run and cached). Each plan
made through the API is recorded in ``runs`` by :func:`margin.data.workspace.runs.record_plan` (the
CLI's rule: kind ``plan``, id from the run and the request, status from the plan's
checks, ``artifact_path`` = its ``plan.json`` under ``<run folder>/plans/<12 hex>/``) so a
later refresh can score it.
An infeasible request (bounds that cannot meet the budget, an unreachable target) is
422 with the optimizer's message.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from margin.api import runs
from margin.api.app import shown
from margin.api.auth import app_state, require, set_audit
from margin.api.keys import Principal
from margin.api.models import (
    ControlValue,
    Document,
    ForecastRequest,
    OptimizeRequest,
    PlanResponse,
    ScenarioRequest,
)
from margin.api.routes_runs import RunId
from margin.errors import ConfigError
from margin.limits import MAX_AMOUNT, MAX_WEEKS, PLANNING_DRAWS

__all__ = ["clean", "clean_dict", "router"]

router = APIRouter(prefix="/api/runs", tags=["decide"])

Analyst = Annotated[Principal, Depends(require("analyst"))]
MAX_FRONTIER_POINTS = 30


def clean(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def clean_dict(value: dict[str, Any]) -> dict[str, Any]:
    """:func:`clean` of a JSON object."""
    return {k: clean(v) for k, v in value.items()}


def _model_run(request: Request, run_id: str) -> tuple[dict[str, Any], Path]:
    with app_state(request).open() as ws:
        run = runs.find_run(ws, run_id)
    set_audit(request, target=run["id"])
    return run, runs.run_folder(run, needs="model.json")


def _channels(folder: Path) -> list[str]:
    summary = runs.read_summary(folder)
    return list(summary.get("channels_order") or summary["channels"])


def _canonical[V](field: str, given: dict[str, V], channels: list[str]) -> dict[str, V]:
    """``given`` keyed by the run's channel names (:func:`margin.checks.match_keys`: case
    differences are read as the run's spelling); 400 naming the unknown ones."""
    from margin.checks import match_keys

    unknown = sorted(n for n in given if n.casefold() not in {c.casefold() for c in channels})
    if unknown:
        listed = ", ".join(shown(repr(name), 40) for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise HTTPException(
            400,
            f"{field}: unknown channel(s) [{listed}]{more}; the run's channels are {channels}",
        )
    try:
        return match_keys(given, channels, where=field)
    except ConfigError as err:
        raise HTTPException(400, str(err)) from err


def _infeasible(err: ConfigError) -> HTTPException:
    return HTTPException(422, f"cannot plan this: {err}")


def _record_plan(request: Request, folder: Path, document: dict[str, Any]) -> dict[str, Any]:
    """Record the plan by :func:`margin.data.workspace.runs.record_plan`'s rule and write its
    ``plan.json``; returns the document with its ``plan_id``."""
    from margin.data.workspace.runs import plan_id, plan_path, record_plan

    identifier = plan_id(document)
    document = {**document, "plan_id": identifier}
    path = plan_path(folder, identifier)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean_dict(document), indent=2) + "\n", encoding="utf-8")
    with app_state(request).open() as ws:
        record_plan(ws, folder, document, path)
    set_audit(request, plan_id=identifier)
    return document


@router.post(
    "/{run_id}/optimize",
    response_model=PlanResponse,
    summary="Optimize a budget (analyst)",
    responses={422: {"description": "The plan is infeasible (message says why)."}},
)
def optimize(request: Request, _: Analyst, run_id: RunId, body: OptimizeRequest) -> dict[str, Any]:
    """The allocation that maximises expected KPI (or profit) for a budget and horizon.

    Returns spend per channel with its marginal ROI, the expected KPI and gain over the
    current plan with intervals, and P(the plan beats the current plan). The plan is
    recorded in the runs table (kind ``plan``) and its plan.json written.
    """
    from margin.optimize.request import PlanRequest, plan, plan_document

    run, folder = _model_run(request, run_id)
    bounds = _canonical("bounds", dict(body.bounds), _channels(folder))
    set_audit(request, payload=body.model_dump())
    try:
        plan_request = PlanRequest(
            budget=body.budget,
            weeks=body.weeks,
            bounds=bounds,
            bounds_relative=body.bounds_relative,
            max_change=body.max_change,
            objective=body.objective,
            margin=body.margin,
            target_kpi=body.target_kpi,
            min_roi=body.min_roi,
            by_geo=body.by_geo,
        )
        response = _response(request, folder, body.controls)
        result = plan(response, plan_request)
        document = plan_document(result, response, plan_request, run_id=run["id"])
        if body.value_of_information or body.test_se or body.test_designs:
            from margin.optimize.information import value_of_information
            from margin.optimize.planned_test import PlannedTest

            designs = [
                PlannedTest.from_design(d, source=f"test_designs[{i}]")
                for i, d in enumerate(body.test_designs)
            ]
            information = value_of_information(
                response, result, plan_request, test_se=body.test_se, tests=designs
            )
            document["value_of_information"] = information.to_json()
    except ConfigError as err:
        raise _infeasible(err) from err
    return clean_dict(_record_plan(request, folder, document))


@router.post("/{run_id}/scenario", response_model=Document, summary="What-if scenario (analyst)")
def run_scenario(
    request: Request, _: Analyst, run_id: RunId, body: ScenarioRequest
) -> dict[str, Any]:
    """Predicted KPI, gain and ROI (with intervals) when channels' spend changes."""
    from margin.optimize.request import scenario_document

    run, folder = _model_run(request, run_id)
    changes = _canonical("changes", dict(body.changes), _channels(folder))
    set_audit(request, payload=body.model_dump())
    try:
        response = _response(request, folder, body.controls)
        document = scenario_document(response, weeks=body.weeks, changes=changes)
    except ConfigError as err:
        raise _infeasible(err) from err
    return clean_dict({**document, "run_id": run["id"]})


@router.get("/{run_id}/frontier", response_model=Document, summary="Efficient frontier (analyst)")
def frontier(
    request: Request,
    _: Analyst,
    run_id: RunId,
    low: Annotated[
        float | None,
        Query(gt=0, le=MAX_AMOUNT, description="Smallest budget (default: 0.5 × current)."),
    ] = None,
    high: Annotated[
        float | None,
        Query(gt=0, le=MAX_AMOUNT, description="Largest budget (default: 1.5 × current)."),
    ] = None,
    points: Annotated[int, Query(ge=2, le=MAX_FRONTIER_POINTS)] = 9,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS)] = 13,
) -> dict[str, Any]:
    """The best plan's KPI, ROI and profit (with intervals) at evenly spaced budgets."""
    from margin.optimize import efficient_frontier
    from margin.optimize.request import current_budget

    run, folder = _model_run(request, run_id)
    try:
        response = runs.response(app_state(request), folder)
        current = current_budget(response, weeks)
        start = low if low is not None else 0.5 * current
        stop = high if high is not None else 1.5 * current
        if not start < stop:
            raise HTTPException(400, f"low ({start:,.2f}) must be below high ({stop:,.2f})")
        result = efficient_frontier(response, weeks, start, stop, n_points=points)
    except ConfigError as err:
        raise _infeasible(err) from err
    return clean_dict({**result.to_json(), "current_budget": current, "run_id": run["id"]})


@router.post("/{run_id}/forecast", response_model=Document, summary="KPI forecast (analyst)")
def run_forecast(
    request: Request, _: Analyst, run_id: RunId, body: ForecastRequest
) -> dict[str, Any]:
    """The next weeks' KPI for the current plan or a what-if (baseline and media, 90% bands,
    known future controls honoured), or a backtest on the run's held-out weeks (422 when
    the run held none out)."""
    from margin.optimize.request import backtest_document, forecast_request

    run, folder = _model_run(request, run_id)
    changes = _canonical("changes", dict(body.changes), _channels(folder))
    set_audit(request, payload=body.model_dump())
    if body.backtest and (body.changes or body.controls):
        raise HTTPException(
            400,
            "a backtest uses the spend and controls the held-out weeks had: no changes or "
            "controls with backtest",
        )
    try:
        if body.backtest:
            from margin.mmm.response import holdout_response

            response, spend, actual = holdout_response(folder, max_draws=PLANNING_DRAWS)
            document = backtest_document(response, spend, actual, seed=body.seed)
        else:
            response = _response(request, folder, body.controls)
            document = forecast_request(
                response, weeks=body.weeks, changes=changes or None, seed=body.seed
            )
    except ConfigError as err:
        raise _infeasible(err) from err
    return clean_dict({**document, "run_id": run["id"]})


def _response(request: Request, folder: Path, controls: list[ControlValue]) -> Any:
    """The run's (cached) response model, with the request's known future controls."""
    import pandas as pd

    from margin.errors import DataValidationError

    response = runs.response(app_state(request), folder)
    if not controls:
        return response
    frame = pd.DataFrame([c.model_dump(exclude_none=True) for c in controls])
    try:
        return response.with_controls(frame, source="controls", first_row=0)
    except DataValidationError as err:
        raise HTTPException(400, str(err)) from err
