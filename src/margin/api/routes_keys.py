"""Key management and the audit trail (admins only).

There is deliberately no endpoint that edits or deletes audit rows.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from margin.api import keys
from margin.api.app import shown
from margin.api.audit import read_audit
from margin.api.auth import app_state, require, set_audit
from margin.api.keys import Principal
from margin.api.models import AuditList, KeyCreate, KeyCreated, KeyList, KeyRow, Session

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["access"])

Admin = Annotated[Principal, Depends(require("admin"))]
Viewer = Annotated[Principal, Depends(require("viewer"))]


@router.get("/session", response_model=Session, summary="Who am I (viewer)")
def session(principal: Viewer) -> dict[str, Any]:
    """The caller's key id, name and role; for a browser session also its CSRF token.

    The dashboard's JavaScript sends ``csrf_token`` as ``X-CSRF-Token`` on every POST.
    """
    return {
        "key_id": principal.key_id,
        "name": principal.name,
        "role": principal.role,
        "csrf_token": principal.csrf_token,
    }


@router.post("/keys", response_model=KeyCreated, status_code=201, summary="Create a key (admin)")
def create_key(request: Request, _: Admin, body: KeyCreate) -> dict[str, Any]:
    """A new API key with a role. The key is in this response only; store it now."""
    with app_state(request).open() as ws:
        key = keys.create_key(ws, body.role, name=body.name)
        key_id = keys.key_id_of(key)
        info = next(k for k in keys.list_keys(ws) if k.id == key_id)
    set_audit(request, target=info.id, role=info.role, name=info.name)
    return {"id": info.id, "key": key, "role": info.role, "name": info.name}


@router.get("/keys", response_model=KeyList, summary="List keys (admin)")
def list_keys(request: Request, _: Admin) -> dict[str, Any]:
    """Every key's id, name, role and dates (never the key or its hash)."""
    with app_state(request).open() as ws:
        return {"keys": [KeyRow(**k.to_dict()) for k in keys.list_keys(ws)]}


@router.delete("/keys/{key_id}", response_model=KeyRow, summary="Revoke a key (admin)")
def revoke_key(request: Request, principal: Admin, key_id: str) -> dict[str, Any]:
    """Revoke a key: it stops working at once, and its browser sessions end."""
    with app_state(request).open() as ws:
        known = {k.id: k for k in keys.list_keys(ws)}
        if key_id not in known:
            raise HTTPException(
                404, f"no API key has id {shown(repr(key_id))}; GET /api/keys lists them"
            )
        if known[key_id].revoked is not None:
            raise HTTPException(409, f"API key {shown(repr(key_id))} is already revoked")
        info = keys.revoke_key(ws, key_id)
    set_audit(request, self_revoked=key_id == principal.key_id)
    return info.to_dict()


@router.get("/audit", response_model=AuditList, summary="The audit trail (admin)")
def audit(
    request: Request,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, description="Only entries older than this id.")
    ] = None,
) -> dict[str, Any]:
    """Every state-changing request (refused ones included), newest first. Read-only."""
    with app_state(request).open() as ws:
        entries = read_audit(ws, limit=limit, before=before)
    more = len(entries) == limit and entries[-1]["id"] > 1
    return {"entries": entries, "next_before": entries[-1]["id"] if more else None}
