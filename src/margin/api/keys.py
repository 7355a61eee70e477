"""API keys: created once, shown once, stored only as a hash.

A key looks like ``mgn_<id>_<secret>``: ``id`` is 12 public hex characters (it names
the key in listings, the audit trail and ``margin keys revoke``), ``secret`` is 32
random bytes from :mod:`secrets`, URL-safe base64. The workspace stores the SHA-256 of
the whole key, never the key.

Why SHA-256 and not a slow password hash (scrypt, PBKDF2): slow hashes protect
*guessable* secrets (passwords) against offline brute force. A key with 256 bits of
randomness cannot be guessed whatever the hash costs, so a fast hash loses nothing in
safety and keeps each request's check cheap (every API call authenticates). The same
reasoning is behind GitHub's and Stripe's token storage.

The key's role is one of ``viewer < analyst < admin``; each role may do everything the
roles below it may.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from margin.errors import ConfigError

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = [
    "KEY_PREFIX",
    "ROLES",
    "KeyInfo",
    "Principal",
    "active_key_count",
    "authenticate",
    "create_key",
    "has_role",
    "hash_key",
    "key_id_of",
    "list_keys",
    "revoke_key",
    "utc_now",
]

KEY_PREFIX = "mgn"
ROLES = ("viewer", "analyst", "admin")
"""Roles from least to most allowed."""

_ID = re.compile(r"^[0-9a-f]{12}$")
_NAME = re.compile(r"^[\w .@:/+-]{1,64}$")
_DUMMY_HASH = hashlib.sha256(b"margin: no such key").hexdigest()


def utc_now() -> datetime:
    """The current time as naive UTC (the workspace stores TIMESTAMP in UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key (id, name, role) and how it was presented.

    ``csrf_token`` is ``None`` for ``Authorization: Bearer`` requests; for a browser
    session it holds the session's CSRF token.
    """

    key_id: str
    name: str
    role: str
    csrf_token: str | None = None

    @property
    def via_session(self) -> bool:
        return self.csrf_token is not None


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed: never the key or its hash."""

    id: str
    name: str
    role: str
    created: datetime
    revoked: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created": self.created.isoformat(),
            "revoked": None if self.revoked is None else self.revoked.isoformat(),
            "active": self.revoked is None,
        }


def has_role(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (viewer < analyst < admin)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def hash_key(key: str) -> str:
    """The hex SHA-256 of ``key`` (what the workspace stores)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_role(role: str) -> str:
    value = role.strip().lower()
    if value not in ROLES:
        raise ConfigError(f"role {role!r} is not known; use one of {', '.join(ROLES)}")
    return value


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"key name {name!r} is not allowed; use 1 to 64 letters, digits, spaces or . _ @ : / + -"
        )
    return name


def create_key(ws: Workspace, role: str, *, name: str | None = None) -> str:
    """Create a key with ``role`` and return it; it cannot be shown again.

    Args:
        ws: the workspace the key lives in.
        role: ``viewer``, ``analyst`` or ``admin``.
        name: a label for people (who holds the key); defaults to ``<role>-<id>``.

    Raises:
        ConfigError: unknown role or a name with odd characters.
    """
    chosen = _check_role(role)
    key_id = secrets.token_hex(6)
    label = _check_name(name) if name is not None else f"{chosen}-{key_id}"
    key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    with ws.transaction() as con:
        con.execute(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
            [key_id, label, chosen, hash_key(key), utc_now()],
        )
    return key


def key_id_of(key: str) -> str | None:
    """The public id inside ``key``, or ``None`` when it is not shaped like a margin key."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not _ID.match(parts[1]):
        return None
    return parts[1]


def list_keys(ws: Workspace) -> list[KeyInfo]:
    """Every key, oldest first (revoked ones included, marked)."""
    rows = ws.fetch("SELECT id, name, role, created, revoked FROM api_keys ORDER BY created, id")
    return [KeyInfo(str(r[0]), str(r[1]), str(r[2]), r[3], r[4]) for r in rows]


def active_key_count(ws: Workspace) -> int:
    """How many keys are not revoked."""
    row = ws.fetch("SELECT count(*) FROM api_keys WHERE revoked IS NULL")
    return int(row[0][0]) if row else 0


def revoke_key(ws: Workspace, key_id: str) -> KeyInfo:
    """Revoke the key ``key_id`` (its sessions end with it) and return it as listed.

    Raises:
        ConfigError: no key has that id, or it is already revoked.
    """
    rows = ws.fetch("SELECT revoked FROM api_keys WHERE id = ?", [key_id])
    if not rows:
        raise ConfigError(f"no API key has id {key_id!r}; 'margin keys list' shows the ids")
    if rows[0][0] is not None:
        raise ConfigError(f"API key {key_id!r} was already revoked at {rows[0][0]:%Y-%m-%d %H:%M}")
    with ws.transaction() as con:
        con.execute("UPDATE api_keys SET revoked = ? WHERE id = ?", [utc_now(), key_id])
        con.execute("DELETE FROM sessions WHERE key_id = ?", [key_id])
    return next(k for k in list_keys(ws) if k.id == key_id)


def authenticate(ws: Workspace, key: str) -> Principal | None:
    """The principal a presented ``key`` stands for, or ``None``.

    ``None`` for a malformed, unknown or revoked key. The hash comparison runs in
    constant time (:func:`hmac.compare_digest`) and a hash is computed and compared
    even when the id is unknown, so timing does not tell which part was wrong.
    """
    key_id = key_id_of(key)
    rows = (
        ws.fetch("SELECT name, role, key_hash, revoked FROM api_keys WHERE id = ?", [key_id])
        if key_id is not None
        else []
    )
    stored = str(rows[0][2]) if rows else _DUMMY_HASH
    match = hmac.compare_digest(hash_key(key), stored)
    if not rows or not match or rows[0][3] is not None or key_id is None:
        return None
    return Principal(key_id=key_id, name=str(rows[0][0]), role=str(rows[0][1]))
