"""The FastAPI app of ``margin serve``: REST API, dashboard pages and access control.

:func:`create_app` wires the pieces: routes (``routes_*``), the auth dependencies
(:mod:`margin.api.auth`), the audit middleware, JSON error handlers, and the dashboard's
static files and templates from :mod:`margin.report` (served locally: nothing the app
sends refers to another host).

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
from starlette.staticfiles import StaticFiles

from margin.api.middleware import AuditMiddleware
from margin.api.state import AppState, WorkspaceBusyError
from margin.errors import MarginError, NotFittedError

__all__ = ["API_DESCRIPTION", "create_app"]

API_DESCRIPTION = """\
margin's REST API: fitted marketing-mix runs, channel ROI with intervals, response curves,
budget optimization and scenarios, attribution and data quality.

**Authentication**: `Authorization: Bearer <key>` (create keys with
`margin keys create --role viewer|analyst|admin`). Roles: *viewer* reads, *analyst* also
runs optimizations and scenarios, *admin* also refreshes and manages keys.

**Errors** are JSON `{"detail": "<what went wrong and how to fix it>"}`: 400 bad payload,
401 missing or invalid key, 403 role too low or CSRF token missing, 404 unknown run,
422 infeasible plan, 503 workspace busy.

Every number estimated from the model comes as `{"mean", "p05", "p95"}` (5th to 95th
percentile over posterior draws).
"""


def _loc(parts: tuple[Any, ...] | list[Any]) -> str:
    names = [str(p) for p in parts if p not in ("body", "query", "path")]
    return ".".join(names) or "body"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _validation_message(err: RequestValidationError) -> str:
    problems = []
    for error in err.errors():
        where = _loc(error.get("loc", ()))
        received = error.get("input")
        shown = "" if isinstance(received, dict) else f" (received {_short(received)})"
        problems.append(f"{where}: {error.get('msg', 'invalid')}{shown}")
    return "invalid request: " + "; ".join(problems)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, err: RequestValidationError) -> JSONResponse:
        message = _validation_message(err)
        request.state.audit_detail = {"reason": message}
        return JSONResponse(status_code=400, content={"detail": message})

    @app.exception_handler(WorkspaceBusyError)
    async def busy(request: Request, err: WorkspaceBusyError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(err)})

    @app.exception_handler(MarginError)
    async def margin_error(request: Request, err: MarginError) -> JSONResponse:
        status = 409 if isinstance(err, NotFittedError) else 400
        request.state.audit_detail = {"reason": str(err)}
        return JSONResponse(status_code=status, content={"detail": str(err)})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse(
            status_code=err.status_code,
            content={"detail": err.detail},
            headers=dict(err.headers) if err.headers else None,
        )


def _static_dir() -> Path | None:
    try:
        root = resources.files("margin.report") / "static"
    except ModuleNotFoundError:
        return None
    path = Path(str(root))
    return path if path.is_dir() else None


def create_app(workspace: str | os.PathLike[str], *, secure_cookies: bool | None = None) -> FastAPI:
    """The app serving the workspace at ``workspace``.

    Args:
        workspace: the workspace file (it must exist: ``margin ingest`` or ``margin demo``
            creates one). The app opens it per request; see :mod:`margin.api.state`.
        secure_cookies: force the session cookie's ``Secure`` flag on or off; by default
            it is set unless the request came to a loopback address (plain HTTP on
            127.0.0.1 is fine, anywhere else needs HTTPS in front).
    """
    from margin.api import (
        routes_data,
        routes_decide,
        routes_docs,
        routes_keys,
        routes_pages,
        routes_runs,
    )
    from margin.data.workspace import Workspace

    path = Path(workspace)
    Workspace(path, read_only=not path.exists()).close()  # fail early, migrate if needed
    state = AppState(workspace=path, secure_cookies=secure_cookies)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

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
    for module in (routes_runs, routes_decide, routes_data, routes_keys, routes_docs, routes_pages):
        app.include_router(module.router)
    static = _static_dir()
    if static is not None:
        app.mount("/static", StaticFiles(directory=static), name="static")
    app.add_middleware(AuditMiddleware, state=state)
    return app


def _version() -> str:
    import margin

    return str(margin.__version__)
