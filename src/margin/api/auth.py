"""Who is calling and what they may do: FastAPI dependencies.

Credentials, in order: an ``Authorization: Bearer KEY`` header (API clients), else the
session cookie a browser got at ``/login``. A Bearer header that is present but wrong is
refused outright (it never falls back to the cookie).

Roles: ``viewer < analyst < admin``; :func:`require` builds a dependency that refuses a
missing or bad credential with 401 and a too-low role with 403.

CSRF. A browser sends cookies with every request to the app, including ones a hostile
page triggers. So a state-changing request (anything but GET/HEAD/OPTIONS) that is
authenticated by the session cookie must also carry the session's CSRF token, as the
``X-CSRF-Token`` header (the dashboard's JavaScript) or the ``csrf_token`` form field
(HTML forms); the token is compared in constant time. Bearer requests need no token: a
browser never adds an ``Authorization`` header on its own. The cookie is also
SameSite=Strict, which already stops cross-site sends in current browsers; the token is
the second lock.

Guessing. Failed authentication (a wrong Bearer key, a malformed ``Authorization``
header, a wrong key at ``/login``) is throttled per client address
(:mod:`margin.api.throttle`): 429 with ``Retry-After`` once an address has failed too
often. A state-changing ``/api/`` request is authenticated before its body is read
(:class:`margin.api.middleware.AuthenticateFirst`); the route's dependency then reuses
that result.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from margin.api.keys import ROLES, Principal, authenticate, has_role, key_id_of
from margin.api.sessions import SESSION_COOKIE, lookup_session
from margin.api.state import AppState

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "app_state",
    "authentication_required",
    "client_address",
    "identify",
    "require",
    "set_audit",
    "throttled",
]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def app_state(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request``."""
    state = request.app.state.margin
    assert isinstance(state, AppState)
    return state


def set_audit(request: Request, **facts: Any) -> None:
    """Attach facts for the audit row of this request (``target=…``, ``detail`` items)."""
    target = facts.pop("target", None)
    if target is not None:
        request.state.audit_target = str(target)
    detail: dict[str, Any] = getattr(request.state, "audit_detail", {})
    detail.update(facts)
    request.state.audit_detail = detail


def _refuse(
    request: Request,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    **facts: Any,
) -> HTTPException:
    set_audit(request, reason=message, **facts)
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return HTTPException(status_code=status, detail=message, headers=headers)


def client_address(request: Request) -> str:
    """The address the request came from (what failed authentication is counted by)."""
    return request.client.host if request.client else "unknown"


def throttled(request: Request, retry_after: int) -> HTTPException:
    """429 for an address that failed authentication too often."""
    return _refuse(
        request,
        429,
        f"too many failed authentication attempts from {client_address(request)}; try again "
        f"in {retry_after} seconds (check the key: 'margin keys list' shows the ids)",
        headers={"Retry-After": str(retry_after)},
    )


def authentication_required(request: Request) -> HTTPException:
    """401 for a request that came without credentials."""
    return _refuse(
        request,
        401,
        "authentication required: send 'Authorization: Bearer <key>' (create one with "
        "'margin keys create --role viewer') or log in at /login",
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _refuse(
            request,
            401,
            "the Authorization header must be 'Bearer <key>'; create a key with "
            "'margin keys create --role viewer'",
        )
    return value.strip()


async def identify(request: Request) -> Principal | None:
    """The caller, or ``None`` when no credentials came; 401 for a bad Bearer key, 429 for
    an address that failed too often.

    Also stores the principal on ``request.state.principal`` for the audit trail; a
    second call for the same request returns the first one's answer.
    """
    if getattr(request.state, "identified", False):
        found: Principal | None = request.state.principal
        return found
    state = app_state(request)
    header = request.headers.get("authorization")
    token = request.cookies.get(SESSION_COOKIE) if header is None else None
    if header is None and not token:
        return None
    client = client_address(request)
    if header is not None:
        wait = state.throttle.retry_after(client)
        if wait is not None:
            raise throttled(request, wait)
    try:
        key = _bearer(request)
    except HTTPException:
        state.throttle.failed(client)
        raise

    def look_up() -> Principal | None:
        with state.open() as ws:
            if key is not None:
                return authenticate(ws, key)
            assert token is not None
            return lookup_session(ws, token)

    principal = await run_in_threadpool(look_up)
    if principal is None and key is not None:
        state.throttle.failed(client)
        raise _refuse(
            request,
            401,
            "the API key is not valid (unknown, mistyped or revoked); ask an admin for a "
            "key ('margin keys create')",
            claimed_key_id=key_id_of(key),
        )
    request.state.principal = principal
    request.state.identified = True
    return principal


async def _csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())


async def check_csrf(request: Request, principal: Principal) -> None:
    """Refuse (403) a cookie-authenticated state-changing request without the right token."""
    if request.method in SAFE_METHODS or principal.csrf_token is None:
        return
    if not await _csrf_ok(request, principal.csrf_token):
        raise _refuse(
            request,
            403,
            f"CSRF token missing or wrong: a request authenticated by the session cookie must "
            f"send the page's token as the {CSRF_HEADER} header or the {CSRF_FIELD} form field; "
            "reload the page and try again",
        )


def require(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that lets through callers with at least ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    async def dependency(request: Request) -> Principal:
        principal = await identify(request)
        if principal is None:
            raise authentication_required(request)
        await check_csrf(request, principal)
        if not has_role(principal.role, role):
            raise _refuse(
                request,
                403,
                f"this needs the {role} role or higher; key {principal.key_id} ({principal.name!r}) "
                f"has the {principal.role} role. Ask an admin for a key with the {role} role",
            )
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency
