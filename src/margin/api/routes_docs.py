"""``/docs``: the API reference as one plain HTML page, built from the OpenAPI schema.

FastAPI's Swagger UI and ReDoc load their JavaScript from a CDN, and margin must work
with no internet, so both are switched off; this page lists every operation (method,
path, summary, description, parameters, request example) with no script at all. The
machine-readable schema stays at ``/openapi.json``. Both are public: they describe the
API and reveal no data. Its one inline stylesheet is allowed by its hash in the page's
Content-Security-Policy (:data:`DOCS_POLICY`); nothing else inline is.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

__all__ = ["DOCS_POLICY", "render_reference", "router"]

router = APIRouter(include_in_schema=False)

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code,pre{background:#f4f4f4;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto}"
    ".op{border-top:1px solid #ddd;padding:.6rem 0}.m{font-weight:bold;margin-right:.5rem}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
DOCS_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""The reference page's Content-Security-Policy: no script at all, its own style only."""


def _schema_example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = components.get(ref.rsplit("/", 1)[-1], {})
    return schema.get("example")


def _operation(method: str, path: str, op: dict[str, Any], components: dict[str, Any]) -> str:
    e = html.escape
    parts = [
        f"<div class='op'><span class='m'>{e(method.upper())}</span><code>{e(path)}</code>",
        f"<p><b>{e(op.get('summary', ''))}</b></p>",
        f"<p>{e(op.get('description', ''))}</p>",
    ]
    params = op.get("parameters", [])
    if params:
        items = "".join(
            f"<li><code>{e(p['name'])}</code> ({e(p['in'])}{', required' if p.get('required') else ''})"
            f" {e(p.get('description', '') or '')}</li>"
            for p in params
        )
        parts.append(f"<ul>{items}</ul>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    example = _schema_example(body.get("schema", {}), components) if body else None
    if example is not None:
        parts.append(f"<pre>{e(json.dumps(example, indent=2))}</pre>")
    codes = ", ".join(e(code) for code in op.get("responses", {}))
    parts.append(f"<p>Responses: {codes}</p></div>")
    return "".join(parts)


def render_reference(schema: dict[str, Any]) -> str:
    """The reference page for an OpenAPI ``schema``."""
    components = schema.get("components", {}).get("schemas", {})
    info = schema.get("info", {})
    description = html.escape(info.get("description", "")).replace("\n\n", "<br><br>")
    ops = [
        _operation(method, path, op, components)
        for path, methods in schema.get("paths", {}).items()
        for method, op in methods.items()
    ]
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>"
        f"{html.escape(info.get('title', 'API'))} API</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(info.get('title', 'API'))} REST API {html.escape(info.get('version', ''))}"
        f"</h1><p>{description}</p><p>Machine-readable schema: <a href='/openapi.json'>"
        f"/openapi.json</a></p>{''.join(ops)}</body></html>"
    )


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """The API reference (offline)."""
    return HTMLResponse(
        render_reference(request.app.openapi()), headers={"Content-Security-Policy": DOCS_POLICY}
    )
