"""Privacy of ids: every id is hashed with a key kept outside the workspace (issue 19, items 2-3)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from _cli import margin, words
from margin.data.ingest.pipeline import ingest_file, ingest_frames
from margin.data.workspace.hashing import (
    KEY_ENV,
    LEGACY_SHA256,
    HashKey,
    KeyVersion,
    create_key,
    export_key,
    key_path,
    load_key,
    rotate_key,
)
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError, DataValidationError, WorkspaceError

WriteFile = Callable[[str, str | bytes], Path]
EVENTS = "user_key,ts,channel,event,value\nCUST-000001,2024-01-01,tv,touch,0\nCUST-000002,2024-01-02,tv,conversion,5\n"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder of this test's own (the key files go to ``config/margin/hash-keys``)."""
    folder = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder


def _ids(ws: Workspace, table: str = "events", column: str = "user_key") -> list[str]:
    return [str(r[0]) for r in ws.fetch(f"SELECT {column} FROM {table} ORDER BY ts")]


def _file_bytes(path: Path) -> bytes:
    """The workspace file and its WAL, as an attacker who copied them would have them."""
    wal = path.with_name(path.name + ".wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _material(key: HashKey) -> list[bytes]:
    """Every form a key could take in a file: hex, raw bytes, HMAC's padded keys."""
    out = []
    for version in key.versions:
        out.append(version.secret.encode())
        if version.algorithm != LEGACY_SHA256:
            raw = bytes.fromhex(version.secret)
            padded = raw.ljust(64, b"\0")
            pads = [bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)]
            out += [raw, *pads, *(p.hex().encode() for p in pads)]
    return out


# -- item 2: every id is hashed, whatever its column is called --------------------------------
def test_ids_in_a_user_key_column_are_hashed(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(ws, "events", write_file("e.csv", EVENTS))
    key = load_key(ws)
    assert _ids(ws) == [key.hash("CUST-000001"), key.hash("CUST-000002")]
    assert not any(i.startswith("CUST") for i in _ids(ws))


def test_hash_is_hmac_sha256_of_the_key(ws: Workspace, write_file: WriteFile) -> None:
    """Oracle: Python's hmac module, on the key read from the key file itself."""
    ingest_file(ws, "events", write_file("e.csv", EVENTS))
    stored = json.loads(key_path(str(ws.workspace_id)).read_text(encoding="utf-8"))
    secret = bytes.fromhex(stored["versions"][0]["key"])
    expected = hmac.new(secret, b"CUST-000001", hashlib.sha256).hexdigest()[:32]
    assert _ids(ws)[0] == expected


def test_mapped_email_column_is_hashed(ws: Workspace, write_file: WriteFile) -> None:
    text = "email,ts,channel,event\nann@example.com,2024-01-01,tv,touch\n"
    ingest_file(ws, "events", write_file("e.csv", text), mapping={"user_key": "email"})
    assert _ids(ws) == [load_key(ws).hash("ann@example.com")]


def test_customer_key_column_is_hashed(ws: Workspace, write_file: WriteFile) -> None:
    text = "customer_key,ts,amount\nCUST-000007,2024-01-01,10\n"
    ingest_file(ws, "transactions", write_file("t.csv", text))
    assert _ids(ws, "transactions", "customer_key") == [load_key(ws).hash("CUST-000007")]


def test_frames_ids_are_hashed(ws: Workspace) -> None:
    frame = pd.DataFrame(
        {
            "user_key": ["CUST-000001"],
            "ts": [pd.Timestamp("2024-01-01")],
            "channel": ["tv"],
            "campaign": [""],
            "creative": [""],
            "event": ["touch"],
            "value": [0.0],
        }
    )
    ingest_frames(ws, {"events": frame}, file="frames", sha256="f", source="test")
    assert _ids(ws) == [load_key(ws).hash("CUST-000001")]


def test_prehashed_ids_are_kept(ws: Workspace, write_file: WriteFile) -> None:
    key = load_key(ws)
    hashed = key.hash("CUST-000001")
    text = f"user_key,ts,channel,event\n{hashed},2024-01-01,tv,touch\n"
    ingest_file(ws, "events", write_file("e.csv", text), prehashed=True)
    ingest_file(ws, "events", write_file("f.csv", EVENTS))
    assert ws.fetch("SELECT count(DISTINCT user_key) FROM events") == [(2,)]
    assert _ids(ws)[0] == hashed


def test_prehashed_refuses_values_that_are_not_hashes(ws: Workspace, write_file: WriteFile) -> None:
    good = load_key(ws).hash("x")
    text = (
        f"user_id,ts,channel,event\n{good},2024-01-01,tv,touch\nCUST-000002,2024-01-02,tv,touch\n"
    )
    with pytest.raises(DataValidationError) as caught:
        ingest_file(ws, "events", write_file("e.csv", text), prehashed=True)
    message = str(caught.value)
    assert "e.csv" in message
    assert "column 'user_id'" in message
    assert "row 2" in message
    assert "--prehashed" in message
    assert "CUST-000002" not in message
    assert ws.counts()["events"] == 0


def test_cli_prehashed_bad_value_exits_2_in_one_line(tmp_path: Path, write_file: WriteFile) -> None:
    path = write_file("t.csv", "customer_key,ts,amount\nCUST-1,2024-01-01,3\n")
    result = margin(
        "ingest", "transactions", str(path), "--prehashed", "-w", str(tmp_path / "w.duckdb")
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "row 1" in result.stderr
    assert "customer_key" in result.stderr


# -- item 3: the key lives outside the workspace ----------------------------------------------
def test_ingest_without_a_key_is_refused(
    tmp_path: Path, config: Path, write_file: WriteFile
) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        with pytest.raises(WorkspaceError, match="margin hash-key create"):
            ingest_file(ws, "events", write_file("e.csv", EVENTS))
        assert ws.counts()["events"] == 0
        assert ws.workspace_id is not None
        assert not key_path(ws.workspace_id).exists()  # refused, not made silently
    assert not (config / "margin").exists()


def test_key_file_is_private_and_the_workspace_holds_no_key(
    tmp_path: Path, config: Path, write_file: WriteFile
) -> None:
    path = tmp_path / "w.duckdb"
    result = margin("ingest", "events", str(write_file("e.csv", EVENTS)), "-w", str(path))
    assert result.returncode == 0, result.stderr
    with Workspace(path, read_only=True) as ws:
        key = load_key(ws)
        file = key_path(str(ws.workspace_id))
    assert "created the key that hashes" in words(result.stdout)
    assert str(file) in words(result.stdout)
    assert file.parent == config / "margin" / "hash-keys"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    content = _file_bytes(path)
    assert not [m for m in _material(key) if m in content]
    assert b"CUST-00000" not in content
    assert key.hash("CUST-000001").encode() in content  # the hashes are there, the key is not


def test_a_key_file_others_can_read_is_refused(ws: Workspace) -> None:
    path = key_path(str(ws.workspace_id))
    path.chmod(0o644)
    with pytest.raises(WorkspaceError, match="chmod 600"):
        load_key(ws)


def test_an_altered_workspace_id_cannot_steer_the_key_file(ws: Workspace) -> None:
    ws.con.execute("UPDATE meta SET value = '../../../tmp/x' WHERE key = 'workspace_id'")
    with pytest.raises(WorkspaceError, match="not 32 hex characters"):
        load_key(ws)


def test_lost_key_is_said_and_force_starts_a_new_one(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(ws, "events", write_file("e.csv", EVENTS))
    key_path(str(ws.workspace_id)).unlink()
    with pytest.raises(WorkspaceError, match="is missing") as caught:
        ingest_file(ws, "events", write_file("f.csv", EVENTS.replace("2024", "2025")))
    assert "restore" in str(caught.value).lower()
    with pytest.raises(WorkspaceError, match="--force"):
        create_key(ws)
    create_key(ws, force=True)
    ingest_file(ws, "events", write_file("f.csv", EVENTS.replace("2024", "2025")))
    assert ws.counts()["events"] == 4


def test_environment_key(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch, write_file: WriteFile
) -> None:
    monkeypatch.setenv(KEY_ENV, "k" * 40)
    with Workspace(tmp_path / "w.duckdb") as ws:
        ingest_file(ws, "events", write_file("e.csv", EVENTS))
        expected = hmac.new(b"k" * 40, b"CUST-000001", hashlib.sha256).hexdigest()[:32]
        assert _ids(ws)[0] == expected
        monkeypatch.setenv(KEY_ENV, "z" * 40)
        with pytest.raises(WorkspaceError, match="not the one"):
            load_key(ws)
        monkeypatch.setenv(KEY_ENV, "short")
        with pytest.raises(ConfigError, match="at least 32"):
            load_key(ws)
    assert not (config / "margin").exists()


def test_exported_key_works_from_the_environment(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, write_file: WriteFile
) -> None:
    ingest_file(ws, "events", write_file("e.csv", EVENTS))
    rotate_key(ws)
    line, before = export_key(ws), _ids(ws)
    key_path(str(ws.workspace_id)).unlink()
    monkeypatch.setenv(KEY_ENV, line)
    ingest_file(ws, "events", write_file("f.csv", EVENTS.replace("2024-01-02", "2024-01-03")))
    assert ws.fetch("SELECT count(DISTINCT user_key) FROM events") == [(2,)]
    assert set(_ids(ws)) == set(before)


# -- rotation -----------------------------------------------------------------------------
def test_rotation_rekeys_stored_ids_and_keeps_one_key_per_person(
    ws: Workspace, write_file: WriteFile
) -> None:
    ingest_file(ws, "events", write_file("e.csv", EVENTS))
    file = key_path(str(ws.workspace_id))
    old_copy, old_key, old_ids = file.read_bytes(), load_key(ws), _ids(ws)
    key, counts = rotate_key(ws)
    assert counts == {"events": 2, "transactions": 0}
    assert len(key.versions) == 2
    assert _ids(ws) == [key.versions[1].hash(i) for i in old_ids]
    ingest_file(ws, "events", write_file("f.csv", EVENTS.replace("2024-01-0", "2024-02-0")))
    assert ws.fetch("SELECT count(DISTINCT user_key) FROM events") == [(2,)]
    path = ws.path
    ws.close()
    content = _file_bytes(path)
    assert not [i for i in old_ids if i.encode() in content]  # the old hashes are gone
    assert not [m for m in _material(key) if m in content]
    file.write_bytes(old_copy)  # an older backup of the key no longer fits
    with Workspace(path) as again, pytest.raises(WorkspaceError, match="older copy"):
        load_key(again)
    assert old_key.versions[0].secret == key.versions[0].secret


def test_unfinished_rotation_changes_nothing(ws: Workspace, write_file: WriteFile) -> None:
    """A crash after the key file got its new version, before the commit: the workspace
    keeps its version; the next rotation replaces the unused one."""
    ingest_file(ws, "events", write_file("e.csv", EVENTS))
    file = key_path(str(ws.workspace_id))
    body = json.loads(file.read_text(encoding="utf-8"))
    body["versions"].append({"version": 2, "algorithm": "hmac-sha256", "key": "ab" * 32})
    file.write_text(json.dumps(body), encoding="utf-8")
    assert len(load_key(ws).versions) == 1
    key, _ = rotate_key(ws)
    assert len(key.versions) == 2
    assert key.versions[1].secret != "ab" * 32


# -- workspaces made before keys left the file ----------------------------------------------
def _legacy_workspace(path: Path, secret: str) -> None:
    """What an earlier margin wrote: the secret in ``meta``, a legacy hash and a raw id
    (a ``user_key`` column loaded as it was)."""
    with Workspace(path) as ws:
        ws.con.execute(
            "DELETE FROM meta WHERE key IN ('workspace_id', 'hash_key_versions', 'hash_key_check')"
        )
        ws.con.execute("INSERT INTO meta VALUES ('user_key_secret', ?)", [secret])
        legacy = hashlib.sha256(f"{secret}:CUST-000001".encode()).hexdigest()[:32]
        for user, day in ((legacy, 1), ("CUST-000002", 2)):
            ws.con.execute(
                f"INSERT INTO events VALUES (?, TIMESTAMP '2024-01-0{day}', 'tv', '', '', 'touch', 0, 1)",
                [user],
            )


def test_legacy_secret_moves_out_once_and_ids_stay_valid(
    tmp_path: Path, config: Path, write_file: WriteFile, caplog: pytest.LogCaptureFixture
) -> None:
    path, secret = tmp_path / "old.duckdb", "5e" * 32
    _legacy_workspace(path, secret)
    assert secret.encode() in _file_bytes(path)
    path.chmod(0o600)  # the rewritten file keeps who may read it
    with (
        caplog.at_level(logging.WARNING, logger="margin.data.workspace.hashing"),
        Workspace(path) as ws,
    ):
        assert ws.fetch("SELECT count(*) FROM meta WHERE key = 'user_key_secret'") == [(0,)]
        file = key_path(str(ws.workspace_id))
        version = load_key(ws).versions
        assert version == (KeyVersion(1, LEGACY_SHA256, secret, version[0].created),)
        legacy = hashlib.sha256(f"{secret}:CUST-000002".encode()).hexdigest()[:32]
        assert _ids(ws)[1] == legacy  # the raw id stored by the old bug is hashed now
        ingest_file(ws, "events", write_file("e.csv", EVENTS.replace("2024-01-0", "2024-03-0")))
        assert ws.fetch("SELECT count(DISTINCT user_key) FROM events") == [(2,)]
    [record] = [r for r in caplog.records if r.name == "margin.data.workspace.hashing"]
    assert str(file) in record.getMessage()
    assert "1 ids" in record.getMessage()
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = _file_bytes(path)
    assert secret.encode() not in content
    assert b"CUST-00000" not in content
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="margin.data.workspace.hashing"), Workspace(path):
        pass
    assert not [r for r in caplog.records if r.name == "margin.data.workspace.hashing"]  # once


def test_legacy_workspace_read_only_is_not_touched(tmp_path: Path, config: Path) -> None:
    path = tmp_path / "old.duckdb"
    _legacy_workspace(path, "6f" * 32)
    with Workspace(path, read_only=True) as ws:
        assert ws.workspace_id is None
        with pytest.raises(WorkspaceError, match="margin init"):
            load_key(ws)


# -- the command line ---------------------------------------------------------------------------
def test_cli_init_creates_the_key_and_hash_key_commands(
    tmp_path: Path, write_file: WriteFile
) -> None:
    path = str(tmp_path / "w.duckdb")
    init = margin("init", "-w", path)
    assert init.returncode == 0, init.stderr
    assert "created the key" in words(init.stdout)
    again = margin("init", "-w", path)
    assert "ids are hashed with the key in" in words(again.stdout)
    assert margin("ingest", "events", str(write_file("e.csv", EVENTS)), "-w", path).returncode == 0
    show = margin("hash-key", "show", "-w", path)
    assert show.returncode == 0
    assert "version 1: hmac-sha256" in words(show.stdout)
    rotate = margin("hash-key", "rotate", "-w", path)
    assert rotate.returncode == 0
    assert "re-keyed 2 event ids" in words(rotate.stdout)
    exported = margin("hash-key", "export", "-w", path)
    assert exported.returncode == 0
    assert exported.stdout.startswith("mhk1.")
    create = margin("hash-key", "create", "-w", path)
    assert create.returncode == 2
    assert "has its key already" in words(create.stderr)


def test_cli_ingest_into_a_keyless_workspace_says_how(
    tmp_path: Path, write_file: WriteFile
) -> None:
    path = tmp_path / "w.duckdb"
    Workspace(path).close()  # made by a library user, without a key
    result = margin("ingest", "events", str(write_file("e.csv", EVENTS)), "-w", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "margin hash-key create" in words(result.stderr)
    assert os.environ.get(KEY_ENV) is None


def test_demo_key_of_a_temporary_workspace_is_removed(tmp_path: Path) -> None:
    from margin.workflows.demo import demo_key

    with Workspace(tmp_path / "demo.duckdb") as ws:
        with demo_key(ws, keep=False):
            file = key_path(str(ws.workspace_id))
            assert file.exists()
        assert not file.exists()
    with Workspace(tmp_path / "kept.duckdb") as ws:
        with demo_key(ws, keep=True):  # a kept workspace keeps its key
            pass
        assert key_path(str(ws.workspace_id)).exists()
