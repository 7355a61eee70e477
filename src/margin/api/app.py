"""The FastAPI app of ``margin serve``: REST API, dashboard pages and access control.

:func:`create_app` wires the pieces: routes (``routes_*``), the auth dependencies
(:mod:`margin.api.auth`), the middleware of :mod:`margin.api.middleware` (security
headers, audit, body limit, stop on disconnect, authentication before the body), JSON
error handlers, and the dashboard's static files and templates from :mod:`margin.report`
(served locally: nothing the app sends refers to another host).

Error messages never echo a received value at length: values, field names and whole
messages are cut (:data:`MAX_DETAIL_CHARS`).

OpenAPI: the schema is at ``/openapi.json`` and the interactive docs at ``/docs`` are
served without any CDN (see :mod:`margin.api.routes_docs`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from margin.api.middleware import (
    MAX_BODY_BYTES,
    AuditMiddleware,
    AuthenticateFirst,
    BodyLimit,
    SecurityHeaders,
    StopOnDisconnect,
    busy_detail,
    busy_response,
)
from margin.api.state import RETRY_AFTER_SECONDS, AppState, WorkspaceBusyError
from margin.cancellation import WorkCancelledError
from margin.errors import MarginError, NotFittedError

__all__ = [
    "API_DESCRIPTION", "MAX_DETAIL_CHARS", "SHUTDOWN_AUDIT_WAIT", "app_state_of", "create_app",
    "shown",
]  # fmt: skip

MAX_DETAIL_CHARS = 2000
"""The longest error message the API sends."""
_MAX_PROBLEMS = 5
SHUTDOWN_AUDIT_WAIT = 10.0
"""Seconds the server waits at shutdown to write audit rows still pending (they stay in
the journal beside the workspace for the next start if it stays busy)."""

API_DESCRIPTION = """\
margin's REST API: fitted marketing-mix runs, channel ROI with intervals, response curves,
budget optimization and scenarios, attribution and data quality.

**Authentication**: `Authorization: Bearer <key>` (create keys with
`margin keys create --role viewer|analyst|admin`). Roles: *viewer* reads, *analyst* also
runs optimizations and scenarios, *admin* also refreshes and manages keys.

**Errors** are JSON `{"detail": "<what went wrong and how to fix it>"}`: 400 bad payload,
401 missing or invalid key, 403 role too low or CSRF token missing, 404 unknown run,
413 body over 1 MiB, 422 infeasible plan, 429 too many failed authentications (see
`Retry-After`), 503 workspace busy or server stopping (see `Retry-After`).

Every number estimated from the model comes as `{"mean", "p05", "p95"}` (5th to 95th
percentile over posterior draws).
"""


def shown(value: Any, limit: int = 80) -> str:
    """``value`` for a message: its text (``repr`` for non-strings) cut to ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _loc(parts: tuple[Any, ...] | list[Any]) -> str:
    names = [shown(p, 40) for p in parts if p not in ("body", "query", "path")]
    return ".".join(names) or "body"


def _validation_message(err: RequestValidationError) -> str:
    problems = []
    errors = list(err.errors())
    for error in errors[:_MAX_PROBLEMS]:
        where = _loc(error.get("loc", ()))
        received = error.get("input")
        shown_value = "" if isinstance(received, dict) else f" (received {shown(repr(received))})"
        problems.append(f"{where}: {shown(error.get('msg', 'invalid'), 200)}{shown_value}")
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"and {len(errors) - _MAX_PROBLEMS} more")
    return "invalid request: " + "; ".join(problems)


def _json_error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    detail = shown(message, MAX_DETAIL_CHARS)
    if status >= 400:
        facts = getattr(request.state, "audit_detail", None) or {}
        request.state.audit_detail = {"reason": detail, **facts}
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, err: RequestValidationError) -> JSONResponse:
        return _json_error(request, 400, _validation_message(err))

    @app.exception_handler(WorkspaceBusyError)
    async def busy(request: Request, err: WorkspaceBusyError) -> JSONResponse:
        request.state.workspace_busy = True
        request.state.audit_detail = {"reason": busy_detail(err)}
        return busy_response(err)

    @app.exception_handler(WorkCancelledError)
    async def cancelled(request: Request, err: WorkCancelledError) -> JSONResponse:
        status = 503 if app_state_of(app).stopping.is_set() else 499  # 499: client went away
        return _json_error(request, status, f"{err}; nothing was recorded",
                           {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None)  # fmt: skip

    @app.exception_handler(MarginError)
    async def margin_error(request: Request, err: MarginError) -> JSONResponse:
        status = 409 if isinstance(err, NotFittedError) else 400
        return _json_error(request, status, str(err))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        headers = dict(err.headers) if err.headers else None
        return _json_error(request, err.status_code, str(err.detail), headers)

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> JSONResponse:
        return JSONResponse(
            status_code=500,
            content={"detail": f"internal error ({type(err).__name__}); the server log has "
                               "the details. Report it if it persists"},
        )  # fmt: skip


def app_state_of(app: FastAPI) -> AppState:
    """The :class:`AppState` of ``app``."""
    state = app.state.margin
    assert isinstance(state, AppState)
    return state


def _static_dir() -> Path | None:
    try:
        root = resources.files("margin.report") / "static"
    except ModuleNotFoundError:
        return None
    path = Path(str(root))
    return path if path.is_dir() else None


def create_app(
    workspace: str | os.PathLike[str],
    *,
    secure_cookies: bool | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The app serving the workspace at ``workspace``.

    Args:
        workspace: the workspace file (it must exist: ``margin ingest`` or ``margin demo``
            creates one). The app opens it per request; see :mod:`margin.api.state`.
        secure_cookies: force the session cookie's ``Secure`` flag on or off; by default
            it is set unless the request came to a loopback address (plain HTTP on
            127.0.0.1 is fine, anywhere else needs HTTPS in front).
        max_body_bytes: the largest request body accepted (413 above it).
    """
    from margin.api import (
        routes_breakdown,
        routes_data,
        routes_decide,
        routes_docs,
        routes_keys,
        routes_loop,
        routes_ltv,
        routes_pages,
        routes_plans,
        routes_runs,
    )
    from margin.data.workspace.store import Workspace

    path = Path(workspace)
    Workspace(path, read_only=not path.exists()).close()  # fail early, migrate if needed
    state = AppState(workspace=path, secure_cookies=secure_cookies)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.stopping.clear()
        state.flush_audit(wait=0.0)  # rows a previous run could not write
        yield
        state.stopping.set()  # running computations stop at their next checkpoint
        await run_in_threadpool(state.flush_audit, SHUTDOWN_AUDIT_WAIT)

    app = FastAPI(
        title="margin",
        lifespan=lifespan,
        description=API_DESCRIPTION,
        version=_version(),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.margin = state
    _install_error_handlers(app)
    for module in (routes_runs, routes_breakdown, routes_decide, routes_data, routes_keys,
                   routes_docs, routes_plans, routes_loop, routes_ltv, routes_pages):  # fmt: skip
        app.include_router(module.router)
    static = _static_dir()
    if static is not None:
        app.mount("/static", StaticFiles(directory=static), name="static")
    # added innermost first: the request meets SecurityHeaders first, AuthenticateFirst last
    app.add_middleware(AuthenticateFirst)
    app.add_middleware(StopOnDisconnect, state=state)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(AuditMiddleware, state=state, routes=lambda: app.routes)
    app.add_middleware(SecurityHeaders)
    return app


def _version() -> str:
    import margin

    return str(margin.__version__)
