"""Dashboard pages, login and logout.

Pages are Jinja2 templates of :mod:`margin.report` (``templates/pages/<page>.html``),
rendered with ``{"page", "role", "csrf_token", "run_id", "plan_id", "currency"}``
(``currency``: the workspace's, which every money figure shows); their JavaScript calls
the REST API with the session cookie and sends ``csrf_token`` as ``X-CSRF-Token``. A
recorded plan has its own read-only page, ``/plans/<plan id>`` (or ``/plans/latest``).

Login: ``GET /login`` sets a short-lived login-CSRF cookie and renders a form whose
``csrf_token`` field carries the same value; ``POST /login`` (fields ``key`` and
``csrf_token``) checks both match (so another site cannot log a browser in with the
attacker's key), checks the key, starts a session and redirects to the page the browser
asked for: a page visited without a session redirects to ``/login?next=<page>``, the
form carries ``next`` on, and only a dashboard page of this site (:data:`PAGES`, with
its query) is followed, anything else goes to ``/`` (no open redirect).
"""

from __future__ import annotations

import functools
import hmac
import html
import ipaddress
import re
import secrets
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from margin.api.auth import app_state, check_csrf, client_address, identify, set_audit
from margin.api.keys import Principal, authenticate
from margin.api.sessions import SESSION_COOKIE, end_session, start_session

__all__ = ["LOGIN_CSRF_COOKIE", "PAGES", "PLAN_PAGE", "router", "safe_next"]

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "margin_login_csrf"
PAGES = {
    "/": "overview",
    "/contributions": "contributions",
    "/roi": "roi",
    "/geos": "geos",
    "/curves": "curves",
    "/planner": "planner",
    "/scenarios": "scenarios",
    "/attribution": "attribution",
    "/diagnostics": "diagnostics",
    "/data-quality": "data_quality",
    "/runs": "runs",
    "/learning": "learning",
    "/value": "value",
}
"""URL path → page name (template ``pages/<name>.html``)."""
PLAN_PAGE = re.compile(r"/plans/(latest|plan-[0-9a-f]{12})")
"""The path of a plan's page (template ``pages/plan.html``)."""
_LOOPBACK_NAMES = {"localhost"}


@functools.cache
def _environment() -> Any:
    import jinja2

    root = resources.files("margin.report") / "templates"
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        autoescape=jinja2.select_autoescape(("html", "xml"), default=True),
        undefined=jinja2.StrictUndefined,
    )


def _render(page: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    body = _environment().get_template(f"pages/{page}.html").render(**context)
    return HTMLResponse(body, status_code=status)


def _template_exists(page: str) -> bool:
    try:
        return (resources.files("margin.report") / "templates" / "pages" / f"{page}.html").is_file()
    except ModuleNotFoundError:
        return False


def secure_cookie(request: Request) -> bool:
    """Whether cookies for ``request`` get the ``Secure`` flag (see :func:`create_app`)."""
    forced = app_state(request).secure_cookies
    if forced is not None:
        return forced
    if request.url.scheme == "https":
        return True
    server = request.scope.get("server")
    host = str(server[0]) if server else (request.url.hostname or "")
    if host in _LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def safe_next(target: str | None) -> str:
    """Where to go after login: ``target`` if it is a dashboard page of this site
    (path in :data:`PAGES` or a plan's page, optional query, nothing else), else ``/``."""
    if not target or len(target) > 2000 or not target.startswith("/") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    known = parts.path in PAGES or PLAN_PAGE.fullmatch(parts.path) is not None
    if parts.scheme or parts.netloc or parts.fragment or not known:
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _login_page(
    request: Request, error: str | None, status: int, next_page: str = "/"
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    context = {
        "page": "login", "role": None, "csrf_token": token, "run_id": None, "error": error,
        "next_page": next_page, "plan_id": None, "currency": "",
    }  # fmt: skip
    if _template_exists("login"):
        response = _render("login", context, status)
    else:  # a plain form, so access control works before the dashboard's templates exist
        message = f"<p role='alert'>{html.escape(error)}</p>" if error else ""
        response = HTMLResponse(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>margin: log in"
            f"</title></head><body><h1>margin</h1>{message}<form method='post' action='/login'>"
            f"<input type='hidden' name='csrf_token' value='{html.escape(token)}'>"
            f"<input type='hidden' name='next' value='{html.escape(next_page)}'>"
            "<label>API key <input type='password' name='key' autocomplete='off' required>"
            "</label> <button type='submit'>Log in</button></form></body></html>",
            status_code=status,
        )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:
    """The login form (or the page asked for, for a browser already logged in)."""
    target = safe_next(next)
    if await identify(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, None, 200, target)


@router.post("/login")
async def login(
    request: Request,
    key: Annotated[str, Form(description="An API key.")] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form(description="The page to go to after login.")] = "/",
) -> Response:
    """Check the key and start a session (cookie ``margin_session``), then go to ``next``."""
    target = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        set_audit(request, reason="login form token missing or stale")
        return _login_page(request, "The login form expired; please try again.", 403, target)
    state = app_state(request)
    wait = state.throttle.retry_after(client_address(request))
    if wait is not None:
        set_audit(request, reason=f"throttled: too many failed logins (retry in {wait} s)")
        page = _login_page(
            request,
            f"Too many failed logins from this address; try again in {wait} seconds.",
            429,
            target,
        )
        page.headers["Retry-After"] = str(wait)
        return page

    def check() -> tuple[Principal | None, Any]:
        with state.open() as ws:
            principal = authenticate(ws, key.strip())
            return principal, (start_session(ws, principal.key_id) if principal else None)

    principal, session = await run_in_threadpool(check)
    if principal is None or session is None:
        state.throttle.failed(client_address(request))
        set_audit(request, reason="invalid, unknown or revoked key")
        return _login_page(
            request, "That key is not valid (unknown, mistyped or revoked).", 401, target
        )
    request.state.principal = principal
    set_audit(request, target=principal.key_id)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=session.max_age,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def _session_principal(request: Request) -> Principal | None:
    return await identify(request)


@router.post("/logout")
async def logout(
    request: Request, principal: Annotated[Principal | None, Depends(_session_principal)]
) -> Response:
    """End the browser's session (needs the page's CSRF token) and go back to /login."""
    token = request.cookies.get(SESSION_COOKIE)
    if principal is not None and token:
        await check_csrf(request, principal)
        state = app_state(request)

        def end() -> None:
            with state.open() as ws:
                end_session(ws, token)

        await run_in_threadpool(end)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def _show(
    request: Request, path: str, page: str, run: str, plan_id: str | None = None
) -> Response:
    """A dashboard page for a logged-in browser (else the login page, then back here)."""
    principal = await identify(request)
    if principal is None:
        here = path + (f"?{request.url.query}" if request.url.query else "")
        where = "" if here == "/" else f"?next={quote(safe_next(here), safe='')}"
        return RedirectResponse(f"/login{where}", status_code=303)
    if not _template_exists(page):
        return HTMLResponse(
            f"<!doctype html><title>margin</title><p>The dashboard page {html.escape(page)!s} "
            "is not installed (margin.report templates missing).</p>",
            status_code=501,
        )
    from margin.api.routes_plans import workspace_currency
    from margin.errors import WorkspaceBusyError

    try:
        currency = await run_in_threadpool(workspace_currency, request)
    except WorkspaceBusyError:
        currency = ""  # the page still loads; its API calls answer 503 with the holder
    context = {
        "page": page,
        "role": principal.role,
        "csrf_token": principal.csrf_token or "",
        "run_id": run,
        "plan_id": plan_id,
        "currency": currency,
    }
    return _render(page, context)


def _page_route(path: str, page: str) -> None:
    async def show(request: Request, run: str = "latest") -> Response:
        return await _show(request, path, page, run)

    show.__name__ = f"page_{page}"
    router.add_api_route(path, show, methods=["GET"], response_class=HTMLResponse)


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
async def plan_page(request: Request, plan_id: str) -> Response:
    """A recorded plan, read-only: headline, allocation with intervals, caveats."""
    path = f"/plans/{plan_id}"
    if PLAN_PAGE.fullmatch(path) is None:
        return HTMLResponse(
            "<!doctype html><title>margin</title><p>No such plan page: plan ids look like "
            "plan-0123456789ab (see Runs).</p>",
            status_code=404,
        )
    return await _show(request, path, "plan", "latest", plan_id)


for _path, _page in PAGES.items():
    _page_route(_path, _page)
