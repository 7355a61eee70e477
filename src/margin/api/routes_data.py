"""Attribution, the data-quality report, and refresh.

Attribution and the data-quality report are computed as ``margin attribute --workspace``
and ``margin check`` compute them, and cached until the workspace's loads change.
``POST /api/refresh`` runs :func:`margin.refresh.refresh` (admins only); it holds the
workspace for the length of the refit, so other requests get 503 (with ``Retry-After``,
naming the refresh) meanwhile.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from margin.api.auth import app_state, require, set_audit
from margin.api.keys import Principal
from margin.api.models import Document
from margin.api.routes_decide import clean_dict
from margin.api.state import AppState

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["data"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def _loads_stamp(state: AppState) -> float:
    """A number that changes whenever a load is added (the cache key of derived reports)."""
    with state.open() as ws:
        count, last = ws.fetch("SELECT count(*), coalesce(max(load_id), 0) FROM loads")[0]
    return float(count) * 1e9 + float(last)


@router.get("/attribution", response_model=Document, summary="Multi-touch attribution (viewer)")
def attribution(
    request: Request,
    _: Viewer,
    bootstrap: Annotated[
        int, Query(ge=0, le=1000, description="Replicates for the p05/p95 intervals.")
    ] = 200,
) -> dict[str, Any]:
    """Conversions credited per channel under rule-based, Markov and Shapley models.

    Built from the workspace's ``events`` table (as ``margin attribute --workspace``). It
    is correlational credit along observed paths, not causal effect (``note``).
    """
    state = app_state(request)

    def build() -> dict[str, Any]:
        from margin.attribution import (
            MODELS,
            JourneySettings,
            ModelSettings,
            attribute,
            journeys_from_workspace,
        )

        journey = JourneySettings()
        settings = ModelSettings(n_bootstrap=bootstrap)
        with state.exclusive("an attribution computation"):  # it opens the file read-only
            data = journeys_from_workspace(state.workspace, journey=journey, order=settings.order)
        return dict(attribute(data, MODELS, settings, journey).to_dict())

    result = state.cached(("attribution", str(bootstrap)), _loads_stamp(state), build)
    return clean_dict(result)


@router.get("/data-quality", response_model=Document, summary="Data-quality report (viewer)")
def data_quality(request: Request, _: Viewer) -> dict[str, Any]:
    """The findings of the validation rules over the workspace (as ``margin check``)."""
    state = app_state(request)

    def build() -> dict[str, Any]:
        from margin.data.rules.validation import check_workspace

        with state.open() as ws:
            return dict(check_workspace(ws).to_dict())

    return clean_dict(state.cached(("data-quality",), _loads_stamp(state), build))


@router.post(
    "/refresh",
    response_model=Document,
    summary="Refresh: ingest, refit (admin)",
    responses={422: {"description": "The refresh failed; nothing changed (body says why)."}},
)
def refresh(request: Request, _: Admin) -> dict[str, Any]:
    """Ingest new files from the drop folder, refit, compare and score the last plan.

    Idempotent: with nothing new it says so and changes nothing.
    """
    from margin.refresh import RefreshError
    from margin.refresh import refresh as run_refresh

    state = app_state(request)
    try:
        with state.exclusive("a refresh started from the dashboard"), state.open() as ws:
            result = run_refresh(ws)
    except RefreshError as err:
        failed = clean_dict(err.result.to_dict())
        set_audit(request, refresh_id=failed.get("id"), outcome="failed")
        return JSONResponse(  # type: ignore[return-value]
            status_code=422,
            content={"detail": f"the refresh failed and changed nothing: {err}", "refresh": failed},
        )
    document = clean_dict(result.to_dict())
    set_audit(request, refresh_id=document.get("id"), outcome=document.get("status"))
    return document
