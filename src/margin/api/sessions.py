"""Browser sessions, kept server-side in the workspace's ``sessions`` table.

Logging in with a key creates a session: a random 32-byte token goes to the browser in
an HttpOnly, SameSite=Strict cookie, and only its SHA-256 is stored, with the key's id,
a per-session CSRF token and an expiry. A session is valid while it has not expired and
its key has not been revoked (revoking a key deletes its sessions, and the role is read
from the key on every request, so a session never outlives or outranks its key).
Logging out deletes the row.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from margin.api.keys import Principal, hash_key, utc_now
from margin.data.workspace.store import Workspace

__all__ = [
    "SESSION_COOKIE",
    "SESSION_HOURS",
    "NewSession",
    "end_session",
    "lookup_session",
    "start_session",
]

SESSION_COOKIE = "margin_session"
SESSION_HOURS = 12
"""A session lasts this long after login."""


@dataclass(frozen=True)
class NewSession:
    """A session just created: the cookie value (shown to the browser only) and its CSRF token."""

    token: str
    csrf_token: str
    max_age: int


def start_session(ws: Workspace, key_id: str, *, hours: int = SESSION_HOURS) -> NewSession:
    """Create a session for the key ``key_id`` (already authenticated)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utc_now()
    with ws.transaction() as con:
        con.execute("DELETE FROM sessions WHERE expires < ?", [now])
        con.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
            [hash_key(token), key_id, csrf, now, now + timedelta(hours=hours)],
        )
    return NewSession(token=token, csrf_token=csrf, max_age=hours * 3600)


def lookup_session(ws: Workspace, token: str) -> Principal | None:
    """The principal of a live session with cookie value ``token``, or ``None``.

    The lookup is by the token's SHA-256 (an index lookup on a hash does not leak the
    token through timing).
    """
    rows = ws.fetch(
        "SELECT k.id, k.name, k.role, s.csrf_token FROM sessions s JOIN api_keys k ON k.id = s.key_id "
        "WHERE s.token_hash = ? AND s.expires > ? AND k.revoked IS NULL",
        [hash_key(token), utc_now()],
    )
    if not rows:
        return None
    key_id, name, role, csrf = rows[0]
    return Principal(key_id=str(key_id), name=str(name), role=str(role), csrf_token=str(csrf))


def end_session(ws: Workspace, token: str) -> None:
    """Delete the session with cookie value ``token`` (nothing happens if there is none)."""
    with ws.transaction() as con:
        con.execute("DELETE FROM sessions WHERE token_hash = ?", [hash_key(token)])
