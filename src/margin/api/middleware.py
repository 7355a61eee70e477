"""The ASGI layers around the app, outermost first.

1. :class:`SecurityHeaders`: every response gets a Content-Security-Policy (scripts,
   styles and everything else from this server only; no framing), ``X-Frame-Options:
   DENY``, ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``.
2. :class:`AuditMiddleware`: one audit row per state-changing request (POST, PUT, PATCH,
   DELETE), whatever the outcome, refusals included (401, 403, 413, 429, 503 …), written
   when the response starts (so the status is known), before the client sees it. When
   the workspace is busy the row goes to the pending journal and is written as soon as
   it is free (:meth:`AppState.audit`). Who: the principal the auth step found; what: the
   route's action and target; why refused: the reason attached to ``request.state``.
3. :class:`BodyLimit`: a body over :data:`MAX_BODY_BYTES` is refused with 413 before it
   is read (by its ``Content-Length``) or as soon as the bytes streamed in pass the limit
   (chunked bodies).
4. :class:`StopOnDisconnect`: once the body is in, it watches the connection; when the
   client goes away or the server shuts down, the request's computation stops at its next
   :func:`margin.cancellation.checkpoint`. It also bounds how long anything the request
   runs waits for a busy workspace (:data:`~margin.api.state.SERVER_LOCK_WAIT`).
5. :class:`AuthenticateFirst`: a state-changing ``/api/`` request must carry valid
   credentials before its body is read or parsed (401/429 otherwise).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from margin.api.audit import AuditEntry
from margin.api.keys import Principal
from margin.api.state import RETRY_AFTER_SECONDS, SERVER_LOCK_WAIT, AppState
from margin.cancellation import cancel_when
from margin.data.workspace.locking import wait_at_most
from margin.errors import WorkspaceBusyError

__all__ = [
    "ACTIONS",
    "CONTENT_SECURITY_POLICY",
    "MAX_BODY_BYTES",
    "SECURITY_HEADERS",
    "WRITE_METHODS",
    "AuditMiddleware",
    "AuthenticateFirst",
    "BodyLimit",
    "SecurityHeaders",
    "StopOnDisconnect",
    "busy_detail",
    "busy_response",
]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ACTIONS = {
    ("POST", "/login"): "login",
    ("POST", "/logout"): "logout",
    ("POST", "/api/keys"): "key.create",
    ("DELETE", "/api/keys/{key_id}"): "key.revoke",
    ("POST", "/api/runs/{run_id}/optimize"): "optimize",
    ("POST", "/api/runs/{run_id}/scenario"): "scenario",
    ("POST", "/api/runs/{run_id}/forecast"): "forecast",
    ("POST", "/api/refresh"): "refresh",
}
"""(method, route template) → the action name in the audit trail."""
MAX_BODY_BYTES = 1_048_576
"""The largest request body accepted (1 MiB); a larger one is refused with 413."""
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""Everything from this server only, no inline script or style, never in a frame."""
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}

_log = logging.getLogger("margin.api")


def busy_detail(err: WorkspaceBusyError) -> str:
    """What a request refused for a busy workspace is told: who holds it, not where it is."""
    return (
        f"the workspace is busy: held by {err.holder}; try again in {RETRY_AFTER_SECONDS} seconds"
    )


def busy_response(err: WorkspaceBusyError) -> JSONResponse:
    """503 with ``Retry-After`` for a busy workspace (:func:`busy_detail`)."""
    return JSONResponse(
        status_code=503,
        content={"detail": busy_detail(err)},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class SecurityHeaders:
    """Add :data:`SECURITY_HEADERS` to every HTTP response (a route's own CSP wins)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.decode("latin-1").lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name not in present:
                        headers.append((name.encode("latin-1"), value.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _route(scope: Scope, routes: Callable[[], list[BaseRoute]]) -> tuple[str, dict[str, Any]]:
    """The route template and path parameters of ``scope`` (matched here when the request
    was answered before routing, e.g. refused by :class:`AuthenticateFirst`)."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", scope["path"])), dict(scope.get("path_params") or {})
    partial: tuple[str, dict[str, Any]] | None = None
    for candidate in routes():
        match, child = candidate.matches(scope)
        found = (str(getattr(candidate, "path", scope["path"])), dict(child.get("path_params", {})))
        if match == Match.FULL:
            return found
        if match == Match.PARTIAL and partial is None:
            partial = found
    return partial or (scope["path"], {})


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class AuditMiddleware:
    """Record every state-changing request of ``app`` in the workspace's audit table."""

    def __init__(
        self, app: ASGIApp, state: AppState, routes: Callable[[], list[BaseRoute]]
    ) -> None:
        self.app = app
        self.state = state
        self.routes = routes

    def _entry(self, scope: Scope, status: int) -> AuditEntry:
        state: dict[str, Any] = scope.get("state") or {}
        principal = state.get("principal")
        template, params = _route(scope, self.routes)
        action = ACTIONS.get((scope["method"], template), "write")
        target = state.get("audit_target") or params.get("run_id") or params.get("key_id")
        who = principal if isinstance(principal, Principal) else None
        return AuditEntry(
            key_id=who.key_id if who else None,
            key_name=who.name if who else None,
            role=who.role if who else None,
            method=scope["method"],
            path=scope["path"],
            action=action,
            target=None if target is None else str(target),
            status=status,
            detail=dict(state.get("audit_detail") or {}),
            client=_client(scope),
        )

    def _write(self, scope: Scope, status: int) -> None:
        busy = bool((scope.get("state") or {}).get("workspace_busy"))
        self.state.audit(self._entry(scope, status), wait=0.0 if busy else 1.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        written = False

        async def send_recorded(message: Message) -> None:
            nonlocal written
            if message["type"] == "http.response.start" and not written:
                written = True
                status = int(message["status"])
                if status == 503:
                    scope["state"].setdefault("audit_detail", {}).setdefault("reason", "busy")
                await run_in_threadpool(self._write, scope, status)
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        except BaseException as err:
            if not written:  # 503: the server stopped it (shutdown); 500: it failed
                written = True
                status = 503 if isinstance(err, asyncio.CancelledError) else 500
                try:
                    await run_in_threadpool(self._write, scope, status)
                except Exception:  # the original error matters more
                    _log.exception("could not write the audit row of a failed request")
            raise


def _too_large(size: int | None, limit: int) -> str:
    got = f" ({size:,} bytes)" if size is not None else ""
    return (
        f"request body too large{got}: the limit is {limit:,} bytes ({limit / 1048576:g} MiB); "
        "send a smaller request (fewer bounds, changes or controls)"
    )


async def _send_json(
    scope: Scope, receive: Receive, send: Send, status: int, detail: str, headers: dict[str, str]
) -> None:
    response = JSONResponse(status_code=status, content={"detail": detail}, headers=headers)
    await response(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before reading them."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        size = int(declared) if declared is not None and declared.strip().isdigit() else None
        if size is not None and size > self.max_bytes:
            message = _too_large(size, self.max_bytes)
            _refused(scope, message)
            await _send_json(scope, receive, send, 413, message, {"Connection": "close"})
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    _refused(scope, _too_large(None, self.max_bytes))
                    raise HTTPException(413, _too_large(None, self.max_bytes))
            return message

        async def watch_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watch_start)
        except HTTPException as err:
            if started or err.status_code != 413:
                raise
            await _send_json(scope, receive, send, 413, str(err.detail), {"Connection": "close"})


def _refused(scope: Scope, reason: str) -> None:
    scope.setdefault("state", {}).setdefault("audit_detail", {})["reason"] = reason


class StopOnDisconnect:
    """Stop a request's computation when its client goes away or the server stops."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gone = asyncio.Event()
        pending: list[Message] = []
        watcher: asyncio.Task[Message] | None = None

        async def watch() -> Message:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return message
                pending.append(message)  # the (empty) body of a request without one

        async def relay() -> Message:
            nonlocal watcher
            if pending:
                return pending.pop(0)
            if watcher is not None:
                return await asyncio.shield(watcher)
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
            elif not message.get("more_body", False):
                watcher = asyncio.ensure_future(watch())  # the body is in: watch the line
            return message

        def reason() -> str | None:
            if self.state.stopping.is_set():
                return "the server is shutting down"
            return "the client closed the connection" if gone.is_set() else None

        if scope["method"] in ("GET", "HEAD"):
            watcher = asyncio.ensure_future(watch())
        try:  # any workspace opened for this request waits briefly, then 503
            with cancel_when(reason), wait_at_most(SERVER_LOCK_WAIT):
                await self.app(scope, relay, send)
        finally:
            if watcher is not None and not watcher.done():
                watcher.cancel()


class AuthenticateFirst:
    """Refuse a state-changing ``/api/`` request without valid credentials before its
    body is read (401, or 429 for an address that failed too often)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from margin.api.auth import authentication_required, identify

        if (
            scope["type"] != "http"
            or scope["method"] not in WRITE_METHODS
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        request = Request(scope)  # no receive: nothing here can read the body
        try:
            if await identify(request) is None:
                raise authentication_required(request)
        except HTTPException as err:
            headers = dict(err.headers) if err.headers else {}
            await _send_json(scope, receive, send, err.status_code, str(err.detail), headers)
            return
        except WorkspaceBusyError as err:
            scope["state"]["workspace_busy"] = True
            _refused(scope, busy_detail(err))
            await busy_response(err)(scope, receive, send)
            return
        await self.app(scope, receive, send)
