"""ASGI middleware that writes one audit row per state-changing request.

It wraps every POST, PUT, PATCH and DELETE, whatever the outcome: the row is written
when the response starts (so the status is known), before the client sees it. Refusals
(401, 403, 4xx payloads) are recorded like successes. Who: the principal the auth
dependency found (``request.state.principal``); what: the route's action and target;
why refused: the reason the dependency or handler attached (``request.state``).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from margin.api.audit import AuditEntry, record
from margin.api.keys import Principal
from margin.api.state import AppState

__all__ = ["ACTIONS", "WRITE_METHODS", "AuditMiddleware"]

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

_log = logging.getLogger("margin.api")


def _entry(scope: Scope, status: int) -> AuditEntry:
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    route = scope.get("route")
    template = str(getattr(route, "path", scope["path"]))
    action = ACTIONS.get((scope["method"], template), "write")
    params = scope.get("path_params") or {}
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
    )


class AuditMiddleware:
    """Record every state-changing request of ``app`` in the workspace's audit table."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    def _write(self, scope: Scope, status: int) -> None:
        with self.state.open() as ws:
            record(ws, _entry(scope, status))

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
                await run_in_threadpool(self._write, scope, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        except Exception:
            if not written:
                written = True
                try:
                    await run_in_threadpool(self._write, scope, 500)
                except Exception:  # the original error matters more
                    _log.exception("could not write the audit row of a failed request")
            raise
