"""``/api/loop``: the learning loop's cycles as the learning page's view-model.

``GET /api/loop/cycles`` reads the cycles of the workspace's latest loop (or ``?loop=``)
through :func:`margin.loop.records.list_cycles` and returns
:func:`margin.report.learning.learning_view` of them: cycles on a time axis, budget by
channel, ROI intervals per cycle, tests and what they taught, the estimated cumulative
gain with its interval, the latest plan and test calendar (every estimate
``{"mean", "p05", "p95"}``, every table cell text with its unit). A workspace without a
loop (or a margin without the loop package) gets the empty view, which says how to
start one (``{"empty": true, "reason", "start_command"}``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from margin.api.auth import app_state, require
from margin.api.keys import Principal
from margin.api.models import Document
from margin.api.state import SERVER_LOCK_WAIT

__all__ = ["router"]

router = APIRouter(prefix="/api/loop", tags=["loop"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
LoopId = Annotated[
    str | None,
    Query(description="A loop id (loop-…); default: the workspace's latest loop.",
          max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
]  # fmt: skip


@router.get("/cycles", response_model=Document, summary="The learning loop's cycles (viewer)")
def cycles(request: Request, _: Viewer, loop: LoopId = None) -> dict[str, Any]:
    """The learning page's view-model of the latest loop's cycles (or ``loop``'s): see
    :mod:`margin.report.learning`. ``{"empty": true, ...}`` when there is no loop; 404
    for a ``loop`` the workspace does not have."""
    from margin.data.workspace.locking import wait_at_most
    from margin.errors import ConfigError
    from margin.report.learning import empty_view, learning_view

    try:
        from margin.loop.records import list_cycles
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("margin.loop"):
            raise
        return empty_view("This margin has no learning loop package (margin.loop).")
    state = app_state(request)
    # list_cycles opens the file itself (read-only): keep this server's requests off it
    with state.exclusive("reading the learning loop's cycles"), wait_at_most(SERVER_LOCK_WAIT):
        try:
            found = list_cycles(state.workspace, loop)
        except ConfigError as err:
            if loop is None:
                raise
            raise HTTPException(
                404, f"the workspace has no loop {loop!r}; leave out ?loop= for the latest"
            ) from err
    return learning_view(found) if found else empty_view()
