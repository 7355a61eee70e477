"""``margin keys`` and ``margin serve``'s bind rule; the access-control migration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _cli import margin
from margin.api.keys import authenticate, create_key, hash_key, list_keys
from margin.cli.api_commands import bind_check, is_loopback
from margin.data.workspace.schema import MIGRATIONS, SCHEMA_VERSION
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws.duckdb"
    Workspace(path).close()
    return path


def test_keys_create_json_prints_only_the_key_and_role(workspace: Path) -> None:
    done = margin(
        "keys", "create", "--role", "Analyst", "--name", "jo", "--json", "-w", str(workspace)
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == {"key", "role"}
    assert printed["role"] == "analyst"
    assert done.stdout == json.dumps(printed) + "\n"
    with Workspace(workspace) as ws:
        principal = authenticate(ws, printed["key"])
        stored = ws.fetch("SELECT key_hash FROM api_keys")[0][0]
    assert principal is not None
    assert (principal.role, principal.name) == ("analyst", "jo")
    assert stored == hash_key(printed["key"])
    assert stored != printed["key"]


def test_keys_list_and_revoke(workspace: Path) -> None:
    with Workspace(workspace) as ws:
        key = create_key(ws, "viewer", name="reader")
        key_id = list_keys(ws)[0].id
    listed = margin("keys", "list", "-w", str(workspace), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(k["id"], k["name"], k["role"]) for k in json.loads(listed.stdout)] == [
        (key_id, "reader", "viewer")
    ]
    assert key not in listed.stdout
    table = margin("keys", "list", "-w", str(workspace))  # the table: any width, never the key
    assert table.returncode == 0, table.stderr
    assert key not in table.stdout
    assert margin("keys", "revoke", key_id, "-w", str(workspace)).returncode == 0
    with Workspace(workspace) as ws:
        assert authenticate(ws, key) is None
    again = margin("keys", "revoke", key_id, "-w", str(workspace))
    assert again.returncode == 2
    assert "already revoked" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("keys", "create", "--role", "root"), "role 'root' is not known"),
        (("keys", "revoke", "ffffffffffff"), "no API key has id"),
        (("serve", "--host", "0.0.0.0"), "refusing to listen on 0.0.0.0"),
    ],
)
def test_cli_errors_are_one_line(workspace: Path, args: tuple[str, ...], says: str) -> None:
    done = margin(*args, "-w", str(workspace))
    assert done.returncode == 2
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_keys_need_an_existing_workspace(tmp_path: Path) -> None:
    done = margin("keys", "create", "--role", "admin", "-w", str(tmp_path / "none.duckdb"))
    assert done.returncode == 2
    assert "does not exist" in done.stderr
    assert not (tmp_path / "none.duckdb").exists()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("::", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_binds_elsewhere_only_with_keys() -> None:
    with pytest.raises(ConfigError, match="no API keys are configured"):
        bind_check("0.0.0.0", 0)
    assert any("margin keys create" in note for note in bind_check("127.0.0.1", 0))
    assert bind_check("127.0.0.1", 2) == []
    assert any("HTTPS" in note for note in bind_check("0.0.0.0", 1))


def test_access_migration_upgrades_a_v1_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import margin.data.workspace.store as workspace_module

    path = tmp_path / "old.duckdb"
    with monkeypatch.context() as patch:
        patch.setattr(workspace_module, "MIGRATIONS", MIGRATIONS[:1])
        patch.setattr(workspace_module, "SCHEMA_VERSION", 1)
        with Workspace(path) as ws:
            assert ws.schema_version == 1
            ws.con.execute(
                "INSERT INTO runs (id, kind, created, status) VALUES ('r1', 'mmm', now(), 'ok')"
            )
    with Workspace(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION >= 2
        tables = {r[0] for r in ws.fetch("SELECT table_name FROM information_schema.tables")}
        assert {"api_keys", "sessions", "audit"} <= tables
        assert ws.fetch("SELECT id FROM runs") == [("r1",)]
        key = create_key(ws, "admin")
        assert authenticate(ws, key) is not None
