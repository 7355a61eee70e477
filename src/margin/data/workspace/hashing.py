"""The key that hashes user and customer ids, kept outside the workspace.

margin never stores an id: ``events.user_key`` and ``transactions.customer_key`` hold a
keyed hash of it, ``HMAC-SHA256(key, id)`` as 32 lowercase hex characters (its first 128
bits). The key is not in the workspace file, so the file alone does not let anyone
recover ids by hashing guesses. It lives in a key file only its owner can read (0600)::

    $XDG_CONFIG_HOME/margin/hash-keys/<workspace id>.json   (default ~/.config/margin/…)

one per workspace, named by the workspace's id (``meta.workspace_id``, not secret); or in
the environment variable ``MARGIN_HASH_KEY`` (a key of at least 32 characters, or what
``margin hash-key export`` prints), which then takes precedence over the file.

Versions. :func:`rotate_key` appends a key version and re-keys the stored ids with it
(``stored ← HMAC(new, stored)``), so an id is hashed through every version in turn: the
same person keeps one key, and the stored ids are useless to anyone who lacks the newest
version. A workspace made before keys left the file keeps its old secret as version 1
(``legacy-sha256``: ``sha256(secret || ':' || id)``), so the ids it holds stay valid.

The workspace records how many versions its ids went through and a check value (the
hash of a fixed text), so a wrong, stale or missing key stops a load with a clear error
instead of silently splitting one person in two. Nothing here creates a key as a side
effect of hashing: :func:`create_key` is called on purpose (``margin init``, ``margin
hash-key create``, the demo).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.errors import ConfigError, WorkspaceError

if TYPE_CHECKING:
    import duckdb

    from margin.data.workspace.store import Workspace

__all__ = [
    "HASH_PATTERN",
    "ID_COLUMNS",
    "KEY_ENV",
    "HashKey",
    "KeyVersion",
    "create_key",
    "delete_key_file",
    "ensure_key",
    "export_key",
    "key_path",
    "load_key",
    "move_legacy_secret",
    "new_workspace_id",
    "rotate_key",
]

KEY_ENV = "MARGIN_HASH_KEY"
"""Environment variable holding the key (it then takes precedence over the key file)."""
HASH_PATTERN = "[0-9a-f]{32}"
"""What a stored id looks like: 32 lowercase hex characters."""
ID_COLUMNS = {"events": "user_key", "transactions": "customer_key"}
"""The hashed id column of each table that has one."""
HMAC_SHA256 = "hmac-sha256"
LEGACY_SHA256 = "legacy-sha256"
_FORMAT = "margin-hash-key"
_EXPORT_PREFIX = "mhk1."
_CHECK_TEXT = "margin hash-key check"
_MIN_ENV_KEY = 32
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
_HEX_KEY = re.compile(r"^(?:[0-9a-f]{2}){16,}$")
_BLOCK = 64  # SHA-256 block size, bytes (RFC 2104)
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyVersion:
    """One version of a workspace's key.

    Attributes:
        version: 1, 2, … in the order ids are hashed through them.
        algorithm: ``hmac-sha256``, or ``legacy-sha256`` (version 1 of a migrated workspace).
        secret: hex of the key bytes (HMAC), or the old secret text (legacy). Never printed.
        created: when it was made (ISO 8601, UTC; empty for a key given in the environment).
    """

    version: int
    algorithm: str
    secret: str = field(repr=False)
    created: str = ""

    def sql(self, value: str) -> str:
        """A DuckDB expression hashing the VARCHAR expression ``value`` (NULL stays NULL)."""
        if self.algorithm == LEGACY_SHA256:
            return f"left(sha256('{self.secret}:' || {value}), 32)"
        inner_pad, outer_pad = _pads(bytes.fromhex(self.secret))
        inner = f"unhex(sha256(unhex('{inner_pad.hex()}') || encode({value})))"
        return f"left(sha256(unhex('{outer_pad.hex()}') || {inner}), 32)"

    def hash(self, value: str) -> str:
        """The same hash in Python."""
        if self.algorithm == LEGACY_SHA256:
            return hashlib.sha256(f"{self.secret}:{value}".encode()).hexdigest()[:32]
        digest = hmac.new(bytes.fromhex(self.secret), value.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104), so that SQL's sha256 computes HMAC."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


@dataclass(frozen=True)
class HashKey:
    """The versions a workspace's ids are hashed through, and where they came from.

    Attributes:
        workspace_id: the workspace they belong to.
        versions: oldest first; an id is hashed by each in turn.
        source: the key file's path, or ``MARGIN_HASH_KEY``.
    """

    workspace_id: str
    versions: tuple[KeyVersion, ...]
    source: str

    def sql(self, value: str) -> str:
        """A DuckDB expression hashing the VARCHAR expression ``value`` (NULL stays NULL)."""
        for version in self.versions:
            value = version.sql(value)
        return value

    def hash(self, value: str) -> str:
        """The stored form of the id ``value``."""
        for version in self.versions:
            value = version.hash(value)
        return value

    @property
    def check(self) -> str:
        """The hash of a fixed text: tells whether a key is the one a workspace used."""
        return self.hash(_CHECK_TEXT)


def new_workspace_id() -> str:
    """A random, non-secret workspace id (32 hex characters): the key file's name."""
    return secrets.token_hex(16)


def key_path(workspace_id: str) -> Path:
    """Where the key file of workspace ``workspace_id`` lives.

    ``$XDG_CONFIG_HOME/margin/hash-keys/<id>.json``, or ``~/.config/margin/…`` when
    ``XDG_CONFIG_HOME`` is unset or not absolute.
    """
    if not _HEX_ID.match(workspace_id):
        raise WorkspaceError(
            f"workspace id {workspace_id[:40]!r} is not 32 hex characters; the workspace's meta "
            "table was altered: restore it from a backup"
        )
    root = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(root) if root and Path(root).is_absolute() else Path.home() / ".config"
    return base / "margin" / "hash-keys" / f"{workspace_id}.json"


# -- what the workspace records ------------------------------------------------------------
def _workspace_id(workspace: Workspace) -> str:
    wid = workspace.workspace_id
    if wid is None:
        raise WorkspaceError(
            f"workspace {workspace.path} was made by an older margin and has not been upgraded "
            f"yet (it was opened read-only): run `margin init -w {workspace.path}` once, then retry"
        )
    return wid


def _recorded(workspace: Workspace) -> tuple[int, str | None]:
    """(versions the stored ids went through, check value), or (0, None) before any key."""
    rows = dict(
        workspace.fetch(
            "SELECT key, value FROM meta WHERE key IN ('hash_key_versions', 'hash_key_check')"
        )
    )
    return int(rows.get("hash_key_versions") or 0), rows.get("hash_key_check")


def _record(workspace: Workspace, key: HashKey) -> None:
    with workspace.transaction() as con:
        con.execute("DELETE FROM meta WHERE key IN ('hash_key_versions', 'hash_key_check')")
        con.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [["hash_key_versions", str(len(key.versions))], ["hash_key_check", key.check]],
        )


# -- loading -----------------------------------------------------------------------------
def load_key(workspace: Workspace) -> HashKey:
    """The key ``workspace``'s ids are hashed with: from ``MARGIN_HASH_KEY`` or the key file.

    It is checked against what the workspace recorded. A workspace that recorded no key
    yet records this one (when opened for writing).

    Raises:
        WorkspaceError: there is no key, it is missing, stale, damaged, readable by others
            or not this workspace's; the message says how to fix it.
        ConfigError: ``MARGIN_HASH_KEY`` is malformed or too short.
    """
    wid = _workspace_id(workspace)
    n, check = _recorded(workspace)
    env = os.environ.get(KEY_ENV, "").strip()
    if env:
        versions, source = _env_versions(env, wid), KEY_ENV
    else:
        path = key_path(wid)
        if not path.exists():
            raise WorkspaceError(
                _lost(workspace, path) if check is not None else _absent(workspace, path)
            )
        versions, source = _read_key_file(path, wid), str(path)
    if check is None:
        key = HashKey(wid, versions, source)
        if not workspace.read_only:
            _record(workspace, key)
        return key
    if n > len(versions):
        raise WorkspaceError(
            f"the key in {source} has {len(versions)} version(s), but the ids of workspace "
            f"{workspace.path} were re-keyed to version {n} (margin hash-key rotate): it is an "
            "older copy. Restore the latest backup of the key file"
        )
    key = HashKey(wid, versions[:n], source)
    if not hmac.compare_digest(key.check, check):
        hint = f"; unset {KEY_ENV} to use the key file" if source == KEY_ENV else ""
        raise WorkspaceError(
            f"the key in {source} is not the one the ids of workspace {workspace.path} were "
            f"hashed with (its check value differs){hint}. Use this workspace's own key: "
            f"`margin hash-key show -w {workspace.path}` says where it belongs"
        )
    return key


def _absent(workspace: Workspace, path: Path) -> str:
    return (
        f"workspace {workspace.path} has no key to hash user and customer ids with (margin "
        "stores ids only as keyed hashes and keeps the key outside the workspace). Create "
        f"one with `margin hash-key create -w {workspace.path}` (it is written to {path}; "
        f"back it up), or set {KEY_ENV} to a key of at least {_MIN_ENV_KEY} characters"
    )


def _lost(workspace: Workspace, path: Path) -> str:
    return (
        f"the key that hashed the ids of workspace {workspace.path} is missing: expected "
        f"{path}. Restore that file from your backup (or set {KEY_ENV} to what `margin "
        "hash-key export` printed); ids loaded without it could not be matched to those "
        f"stored. If it is lost for good, `margin hash-key create --force -w {workspace.path}` "
        "starts a new key (the ids stored so far then stay apart from new ones)"
    )


def _env_versions(text: str, workspace_id: str) -> tuple[KeyVersion, ...]:
    """The versions in ``MARGIN_HASH_KEY``: an exported key, or one plain key."""
    if text.startswith(_EXPORT_PREFIX):
        try:
            data = json.loads(base64.urlsafe_b64decode(text[len(_EXPORT_PREFIX) :].encode()))
        except ValueError as err:
            raise ConfigError(
                f"{KEY_ENV} starts with {_EXPORT_PREFIX!r} but is not what `margin hash-key "
                f"export` prints ({type(err).__name__}); export the key again"
            ) from err
        return _parse_versions(data, workspace_id, KEY_ENV)
    if len(text) < _MIN_ENV_KEY:
        raise ConfigError(
            f"{KEY_ENV} is {len(text)} characters long; a key needs at least {_MIN_ENV_KEY} "
            "random characters, e.g. from python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return (KeyVersion(1, HMAC_SHA256, text.encode().hex()),)


def _read_key_file(path: Path, workspace_id: str) -> tuple[KeyVersion, ...]:
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise WorkspaceError(
                f"key file {path} can be read by other users (mode {mode:o}); run chmod 600 {path}"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise WorkspaceError(
            f"key file {path} cannot be read ({type(err).__name__}: {err}); restore it from your backup"
        ) from err
    return _parse_versions(data, workspace_id, str(path))


def _parse_versions(data: Any, workspace_id: str, where: str) -> tuple[KeyVersion, ...]:
    """Validate a key file's (or an export's) content; raise naming ``where``."""

    def damaged(what: str) -> WorkspaceError:
        return WorkspaceError(f"key {where} is damaged ({what}); restore it from your backup")

    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise damaged(f"it is not a {_FORMAT} file")
    if data.get("workspace_id") != workspace_id:
        raise WorkspaceError(
            f"key {where} belongs to workspace {str(data.get('workspace_id'))[:40]}, not to this "
            f"one ({workspace_id}); use this workspace's own key"
        )
    items = data.get("versions")
    if not isinstance(items, list) or not items:
        raise damaged("no versions")
    versions = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or item.get("version") != number:
            raise damaged(f"version {number} is missing or out of order")
        algorithm, secret = item.get("algorithm"), item.get("key")
        legacy = algorithm == LEGACY_SHA256 and number == 1
        if not isinstance(secret, str) or not (
            legacy or (algorithm == HMAC_SHA256 and _HEX_KEY.match(secret))
        ):
            raise damaged(f"version {number} has no valid algorithm and key")
        versions.append(KeyVersion(number, str(algorithm), secret, str(item.get("created", ""))))
    return tuple(versions)


# -- writing -----------------------------------------------------------------------------
def _write_key_file(path: Path, key: HashKey, workspace_path: Path) -> None:
    """Write (atomically, mode 0600, in a 0700 folder) the key file of ``key``."""
    body = {
        "format": _FORMAT,
        "workspace_id": key.workspace_id,
        "workspace": str(workspace_path.resolve()),
        "note": "Keys that hash the ids of the margin workspace above. Keep it secret and "
        "back it up apart from the workspace; see margin hash-key --help.",
        "versions": [
            {"version": v.version, "algorithm": v.algorithm, "key": v.secret, "created": v.created}
            for v in key.versions
        ],
    }
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(json.dumps(body, indent=2) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as err:
        raise WorkspaceError(
            f"cannot write the key file {path}: {err}. Make that folder writable, or set "
            "XDG_CONFIG_HOME to a folder that is"
        ) from err


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def create_key(workspace: Workspace, *, force: bool = False) -> HashKey:
    """Create ``workspace``'s key file (one random 256-bit HMAC key) and record it.

    Args:
        force: replace a key that was recorded but is lost (its file is gone). The ids
            stored so far then cannot be matched to ids loaded later.

    Raises:
        WorkspaceError: the workspace has a key already (or lost one, without ``force``).
        ConfigError: ``MARGIN_HASH_KEY`` is set (the workspace uses it; no file is needed).
    """
    wid = _workspace_id(workspace)
    if os.environ.get(KEY_ENV, "").strip():
        raise ConfigError(
            f"{KEY_ENV} is set, so margin hashes ids with it and needs no key file; unset it "
            "to create one"
        )
    path = key_path(wid)
    if path.exists():
        raise WorkspaceError(
            f"workspace {workspace.path} has its key already: {path}. `margin hash-key rotate "
            f"-w {workspace.path}` replaces it with a new version"
        )
    if _recorded(workspace)[1] is not None and not force:
        raise WorkspaceError(_lost(workspace, path))
    key = HashKey(
        wid, (KeyVersion(1, HMAC_SHA256, secrets.token_bytes(32).hex(), _now()),), str(path)
    )
    _write_key_file(path, key, workspace.path)
    _record(workspace, key)
    return key


def ensure_key(workspace: Workspace) -> tuple[HashKey, bool]:
    """``workspace``'s key, created if it never had one; and whether it was created now."""
    wid = _workspace_id(workspace)
    if (
        os.environ.get(KEY_ENV, "").strip()
        or key_path(wid).exists()
        or _recorded(workspace)[1] is not None
    ):
        return load_key(workspace), False
    return create_key(workspace), True


def delete_key_file(workspace: Workspace) -> None:
    """Remove ``workspace``'s key file (for a workspace about to be deleted too)."""
    key_path(_workspace_id(workspace)).unlink(missing_ok=True)


def export_key(workspace: Workspace) -> str:
    """``workspace``'s key as one line, for a backup or ``MARGIN_HASH_KEY``. It is secret."""
    key = load_key(workspace)
    body = {
        "format": _FORMAT,
        "workspace_id": key.workspace_id,
        "versions": [
            {"version": v.version, "algorithm": v.algorithm, "key": v.secret, "created": v.created}
            for v in key.versions
        ],
    }
    return _EXPORT_PREFIX + base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def rotate_key(workspace: Workspace) -> tuple[HashKey, dict[str, int]]:
    """Add a key version and re-key every stored id with it, in one transaction.

    The key file gets the new version first (a version the workspace has not recorded is
    unused, so a crash before the commit changes nothing); the workspace then re-keys
    ``user_key`` and ``customer_key`` (``HMAC(new, stored)``) and records the version,
    and the file is rewritten so that the old hashes leave no bytes behind.

    Returns:
        The new key, and the ids re-keyed per table.
    """
    if os.environ.get(KEY_ENV, "").strip():
        raise ConfigError(
            f"{KEY_ENV} is set: rotation writes a new version to the key file; unset it, "
            "rotate, then export the key again (margin hash-key export)"
        )
    current = load_key(workspace)
    new = KeyVersion(len(current.versions) + 1, HMAC_SHA256, secrets.token_bytes(32).hex(), _now())
    key = HashKey(current.workspace_id, (*current.versions, new), current.source)
    _write_key_file(Path(current.source), key, workspace.path)
    counts: dict[str, int] = {}
    with workspace.transaction() as con:
        for table, column in ID_COLUMNS.items():
            row = con.execute(f"SELECT count({column}) FROM {table}").fetchone()
            counts[table] = int(row[0]) if row else 0
            con.execute(
                f"UPDATE {table} SET {column} = {new.sql(column)} WHERE {column} IS NOT NULL"
            )
        _record(workspace, key)
    workspace.rewrite()
    return key, counts


# -- workspaces made before keys left the file ------------------------------------------
def move_legacy_secret(workspace: Workspace) -> bool:
    """Move an old workspace's ``meta.user_key_secret`` to its key file, once.

    The secret becomes key version 1 (``legacy-sha256``), so the stored ids stay valid;
    ids an older margin stored unhashed (a ``user_key`` column loaded as it was) are
    hashed; the meta row is deleted and the file rewritten so that no copy of the secret
    remains in it. Says what it did on the ``margin.data.workspace.hashing`` logger (a warning).

    Returns:
        Whether there was a secret to move.
    """
    rows = dict(
        workspace.fetch(
            "SELECT key, value FROM meta WHERE key IN ('user_key_secret', 'workspace_id')"
        )
    )
    secret = rows.get("user_key_secret")
    if secret is None:
        return False
    wid = rows.get("workspace_id") or new_workspace_id()
    path = key_path(wid)
    key = HashKey(wid, (KeyVersion(1, LEGACY_SHA256, secret, _now()),), str(path))
    if path.exists():  # an earlier attempt wrote it, then stopped
        if _read_key_file(path, wid)[0].secret != secret:
            raise WorkspaceError(
                f"cannot move the id-hashing secret of workspace {workspace.path} to {path}: "
                "that file holds another key. Move it aside and retry"
            )
    else:
        _write_key_file(path, key, workspace.path)
    with workspace.transaction() as con:
        con.execute("DELETE FROM meta WHERE key IN ('user_key_secret', 'workspace_id')")
        con.execute("INSERT INTO meta VALUES ('workspace_id', ?)", [wid])
        _record(workspace, key)
        hashed = _hash_unhashed_ids(con, key)
    workspace.rewrite()
    also = f"; hashed {hashed:,} ids an earlier margin had stored unhashed" if hashed else ""
    _log.warning(
        "margin: moved the secret that hashes the ids of workspace %s out of the workspace file, "
        "to %s (readable by you only)%s. Back that file up apart from the workspace. Copies of "
        "the workspace made before now still hold the secret: if they may have leaked, run "
        "`margin hash-key rotate -w %s`",
        workspace.path,
        path,
        also,
        workspace.path,
    )
    return True


def _hash_unhashed_ids(con: duckdb.DuckDBPyConnection, key: HashKey) -> int:
    """Hash the stored ids that are not shaped like a hash; return how many."""
    total = 0
    for table, column in ID_COLUMNS.items():
        unhashed = f"{column} IS NOT NULL AND NOT regexp_full_match({column}, '{HASH_PATTERN}')"
        row = con.execute(f"SELECT count(*) FROM {table} WHERE {unhashed}").fetchone()
        total += int(row[0]) if row else 0
        con.execute(f"UPDATE {table} SET {column} = {key.sql(column)} WHERE {unhashed}")
    return total
