"""``/api/ltv``: customer-value runs (``margin ltv``) and the "Customer value" page's view.

``GET /api/ltv`` answers the workspace's newest customer-value run, ``GET /api/ltv/{run_id}``
a named one, as recorded (:func:`margin.ltv.runs.load_ltv_run`): ``ltv`` (the purchase
model's fit, the spend model's as ``spend``, the summary's sizes and dates), ``by_channel``
(per acquisition channel: the value of a new customer, customers, CAC, LTV:CAC, payback,
incremental CAC; every estimate ``{"mean", "p05", "p95"}``, money in ``currency``),
``holdout`` (predicted vs actual repeat purchases per frequency bucket) and ``p_alive``
(customers per P(alive) bin); a body the run lacks is ``null``. ``view`` is the dashboard
page's view-model of the same run (:func:`margin.report.ltv.ltv_view`: chart series and
table cells as text with their units). A workspace without such a run answers 404 with
the command that records one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict

from margin.api.auth import app_state, require
from margin.api.keys import Principal
from margin.api.models import Document, Interval

__all__ = ["router"]

router = APIRouter(prefix="/api/ltv", tags=["customer value"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
LtvRunId = Annotated[
    str,
    PathParam(description="A customer-value run id (ltv-…) from GET /api/runs.",
              max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
              examples=["ltv-0123456789ab"]),
]  # fmt: skip


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class ParamEstimate(BaseModel):
    """A fitted parameter: the maximum-likelihood estimate and its 90% interval."""

    estimate: float
    p05: float
    p95: float


class LtvFit(_Body):
    """``ltv.json``: the purchase model's fit (``spend``: the Gamma-Gamma fit, same shape;
    ``summary``: unit, period, calibration and observation ends, sizes)."""

    model: str
    params: dict[str, ParamEstimate]
    loglik: float | None = None
    n_customers: float | None = None


class ChannelValue(_Body):
    """One acquisition channel: money in ``currency``, every estimate a 90% interval."""

    value: Interval
    first_purchase: Interval | None = None
    customers: int
    pooled: bool
    spend: float | None = None
    cac: Interval | None = None
    ltv_cac: Interval | None = None
    payback_weeks: Interval | None = None
    incremental_factor: Interval | None = None
    incremental_cac: Interval | None = None
    incremental_ltv_cac: Interval | None = None
    horizon_weeks: float
    currency: str
    annual_discount_rate: float


class HoldoutBucket(BaseModel):
    """Customers with ``frequency`` purchases in calibration: their mean repeat purchases in
    the holdout, actual and predicted (90% interval)."""

    frequency: str
    customers: float
    actual: float
    predicted: Interval


class HoldoutCheck(_Body):
    """``holdout.json``: the holdout check (Fader, Hardie & Lee 2005, Figure 4)."""

    model: str
    holdout_length: float
    buckets: list[HoldoutBucket]


class PAlive(_Body):
    """``p_alive.json``: customers per P(alive) bin (``edges``: n + 1, ``counts``: n)."""

    edges: list[float]
    counts: list[int]
    by_channel: dict[str, list[int]] = {}


class LtvRun(BaseModel):
    """A customer-value run as recorded, and the page's view-model of it."""

    run_id: str
    created: str | None
    ltv: LtvFit
    by_channel: dict[str, ChannelValue] | None
    holdout: HoldoutCheck | None
    p_alive: PAlive | None
    view: Document


def _run(request: Request, run_id: str | None) -> dict[str, Any]:
    from margin.data.workspace.runs import find_run, latest_run
    from margin.ltv.runs import KIND, load_ltv_run
    from margin.report.ltv import START_COMMAND, ltv_view

    state = app_state(request)
    with state.open() as ws:
        row = latest_run(ws, kind=KIND) if run_id is None else find_run(ws, run_id)
        if row is None or row.kind != KIND:
            what = "no customer-value run yet" if run_id is None else (
                f"no customer-value run {run_id!r} (see GET /api/runs for the ids)")  # fmt: skip
            raise HTTPException(404, f"the workspace has {what}; record one with {START_COMMAND} "
                                     "(W: the workspace file)")  # fmt: skip
        run = load_ltv_run(ws, row.id)
        currency = str(ws.settings.currency or "")
    body = {name: run.get(name) for name in ("run_id", "created", "ltv", "by_channel",
                                             "holdout", "p_alive")}  # fmt: skip
    return {**body, "view": ltv_view(run, currency)}


@router.get("", response_model=LtvRun, summary="The newest customer-value run (viewer)")
def latest_ltv(request: Request, _: Viewer) -> dict[str, Any]:
    """The workspace's newest customer-value run (``margin ltv``) and its page view-model;
    404, with the command to run, when there is none."""
    return _run(request, None)


@router.get("/{run_id}", response_model=LtvRun, summary="A customer-value run (viewer)")
def get_ltv(request: Request, _: Viewer, run_id: LtvRunId) -> dict[str, Any]:
    """The customer-value run ``run_id`` and its page view-model; 404 when the workspace
    has no customer-value run of that id."""
    return _run(request, run_id)
