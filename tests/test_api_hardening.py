"""Issue 19's server items: a busy workspace, refused writes audited, body limits,
the audit chain, throttled guessing, headers and path leaks, stopping work.

Most tests use a small workspace with keys and no run; the few that need a fitted run
copy the session's ``fitted_run_dir``. Another process holding the workspace is a real
subprocess (DuckDB's lock is per process), released when the test says so.
"""

from __future__ import annotations

import asyncio
import base64
import getpass
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from margin.api.app import create_app
from margin.api.audit import AuditEntry, bounded_detail, record, verify
from margin.api.keys import create_key
from margin.api.middleware import MAX_BODY_BYTES
from margin.api.throttle import FAILURE_BURST, REFILL_SECONDS, FailureThrottle
from margin.data.workspace.locking import _margin_command, describe_holder
from margin.data.workspace.schema import AUDIT_LIMITS
from margin.data.workspace.store import Workspace

HOLD = (
    "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); "
    "sys.stdin.readline(); c.close()"
)
"""Hold the workspace (read-write) until a line arrives on stdin."""


@contextmanager
def held(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holds ``path`` inside the block (or until ``release``)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        release(holder)


def release(holder: subprocess.Popen[str]) -> None:
    if holder.poll() is None:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=60)
    for stream in (holder.stdin, holder.stdout):
        if stream is not None:
            stream.close()


def cli(*args: str, **env: str) -> subprocess.Popen[str]:
    """``margin ARGS`` in a subprocess (output piped), with extra environment variables."""
    return subprocess.Popen(
        [sys.executable, "-m", "margin.cli.main", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", **env},
    )  # fmt: skip


@dataclass(frozen=True)
class Small:
    path: Path
    keys: dict[str, str]


@pytest.fixture
def small(tmp_path: Path) -> Small:
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        keys = {role: create_key(ws, role) for role in ("viewer", "analyst", "admin")}
    return Small(path, keys)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def audit_rows(path: Path) -> list[dict[str, Any]]:
    with Workspace(path) as ws:
        cols = ["id", "source", "client", "role", "method", "path", "action", "status", "detail"]
        rows = ws.fetch(f"SELECT {', '.join(cols)} FROM audit ORDER BY id")
    return [dict(zip(cols, r, strict=True)) | {"detail": json.loads(r[-1])} for r in rows]


# -- item 4: a busy workspace --------------------------------------------------------------


def test_a_command_waits_for_a_busy_workspace_and_says_who_holds_it(small: Small) -> None:
    with held(small.path) as holder:
        command = cli("keys", "create", "--role", "viewer", "--json", "-w", str(small.path),
                      MARGIN_LOCK_TIMEOUT="300")  # fmt: skip
        assert command.stderr is not None
        notice = command.stderr.readline()  # printed while it waits
        assert "is busy" in notice
        assert f"held by process {holder.pid}" in notice
        release(holder)
        out, err = command.communicate(timeout=120)
    assert command.returncode == 0, err
    assert set(json.loads(out)) == {"key", "role"}  # stdout stays clean
    assert "is free after" in err
    assert "Traceback" not in err


def test_a_command_gives_up_after_the_bound_naming_the_holder(small: Small) -> None:
    with held(small.path) as holder:
        command = cli("keys", "revoke", "ffffffffffff", "-w", str(small.path),
                      MARGIN_LOCK_TIMEOUT="0.3")  # fmt: skip
        _, err = command.communicate(timeout=120)
    assert command.returncode == 2
    error = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error) == 1
    assert f"held by process {holder.pid}" in error[0]
    assert "MARGIN_LOCK_TIMEOUT" in error[0]
    assert "Traceback" not in err


def test_a_bad_lock_timeout_is_one_clear_error(small: Small) -> None:
    command = cli("keys", "list", "-w", str(small.path), MARGIN_LOCK_TIMEOUT="soon")
    _, err = command.communicate(timeout=120)
    assert command.returncode == 2
    assert "MARGIN_LOCK_TIMEOUT='soon' is not a number of seconds" in err


def test_the_holder_is_named_from_the_lock_message() -> None:
    argv = ["/srv/.venv/bin/python", "/srv/.venv/bin/margin", "serve", "--port", "80"]
    assert _margin_command(argv) == "margin serve"
    argv = ["python3", "-m", "margin.cli.main", "--debug", "keys", "revoke", "3f9c0a1b2c4d"]
    assert _margin_command(argv) == "margin keys revoke"
    assert _margin_command(["python3", "-c", "import duckdb"]) is None
    me = f'Could not set lock on file "x": Conflicting lock is held in /bin/py (PID {os.getpid()})'
    assert describe_holder(me).startswith(f"process {os.getpid()} (`")
    assert describe_holder("Could not set lock on file 'x'") == "another process"
    gone = 2**22 + 7  # above Linux's default pid_max: no such process
    assert describe_holder(f"lock is held in /bin/x (PID {gone})") == f"process {gone}"


# -- item 5: refused writes are JSON and audited ---------------------------------------------


def test_writes_to_a_busy_workspace_get_json_503_and_keep_their_audit_rows(small: Small) -> None:
    journal = small.path.with_name(small.path.name + ".audit-pending.jsonl")
    with TestClient(create_app(small.path)) as client:
        with held(small.path) as holder:
            made = client.post(
                "/api/keys", json={"role": "viewer"}, headers=bearer(small.keys["admin"])
            )
            anonymous = client.post("/api/keys", json={"role": "viewer"})
            assert journal.exists()  # both rows wait on disk while the file is held
        for _ in range(600):  # the server writes them once the file is free (bounded wait)
            if not journal.exists():
                break
            time.sleep(0.1)
        assert not journal.exists()
    assert made.status_code == 503
    assert made.headers["content-type"] == "application/json"
    assert int(made.headers["retry-after"]) > 0
    assert f"process {holder.pid}" in made.json()["detail"]
    assert anonymous.status_code == 401
    rows = [(r["action"], r["status"]) for r in audit_rows(small.path)]
    assert rows[-2:] == [("key.create", 503), ("key.create", 401)]
    with Workspace(small.path) as ws:
        assert verify(ws).intact


def test_rows_left_in_the_journal_are_written_at_the_next_start(small: Small) -> None:
    from margin.api.audit import PendingAudit

    pending = PendingAudit(small.path)
    pending.add(AuditEntry(None, None, None, "POST", "/api/keys", "key.create", None, 503, {}))
    with open(pending.path, "a", encoding="utf-8") as journal:
        journal.write('{"torn": \n')  # a crash in the middle of a line
    assert pending.path.stat().st_mode & 0o777 == 0o600
    assert len(pending) == 2
    with TestClient(create_app(small.path)):
        pass
    rows = [(r["action"], r["status"]) for r in audit_rows(small.path)]
    assert rows == [("key.create", 503), ("audit.unreadable", 0)]
    assert not pending.path.exists()


# -- item 6: bodies ----------------------------------------------------------------------------


def asgi_post(app: Any, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bool]:
    """POST through the ASGI interface; returns the status and whether the body was read."""
    read = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"]), read


def test_a_body_over_the_limit_is_refused_before_it_is_read(small: Small) -> None:
    app = create_app(small.path)
    headers = bearer(small.keys["analyst"]) | {"content-length": str(MAX_BODY_BYTES + 1)}
    status, read = asgi_post(app, "/api/runs/latest/optimize", headers, b"")
    assert (status, read) == (413, False)
    with TestClient(app) as client:
        chunks = iter([b"[" + b" " * 600_000, b" " * 600_000 + b"]"])  # chunked: no length
        streamed = client.post(
            "/api/runs/latest/optimize", content=chunks,
            headers=bearer(small.keys["analyst"]) | {"content-type": "application/json"},
        )  # fmt: skip
    assert streamed.status_code == 413
    assert "1 MiB" in streamed.json()["detail"]
    assert [r["status"] for r in audit_rows(small.path)][-2:] == [413, 413]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer mgn_0123456789ab_" + "x" * 43}])
def test_a_body_is_not_read_before_authentication(small: Small, headers: dict[str, str]) -> None:
    app = create_app(small.path)
    body = json.dumps({"weeks": 4}).encode()
    headers = headers | {"content-type": "application/json", "content-length": str(len(body))}
    status, read = asgi_post(app, "/api/runs/latest/optimize", headers, body)
    assert (status, read) == (401, False)


def test_error_messages_do_not_echo_values_at_length(small: Small) -> None:
    with TestClient(create_app(small.path)) as client:
        body = {"k" * 5000: 1, "budget": "x" * 5000, **{f"f{i}": i for i in range(50)}}
        response = client.post("/api/runs/latest/optimize", json=body,
                               headers=bearer(small.keys["analyst"]))  # fmt: skip
        revoke = client.delete("/api/keys/" + "a" * 5000, headers=bearer(small.keys["admin"]))
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert len(detail) < 1500
    assert "k" * 100 not in detail
    assert "x" * 100 not in detail
    assert "more" in detail
    assert revoke.status_code == 404
    assert len(revoke.json()["detail"]) < 300


# -- item 7: the audit trail -------------------------------------------------------------------


def test_audit_fields_are_bounded_with_a_digest(small: Small) -> None:
    long_path = "/" + "a" * 30_000
    with TestClient(create_app(small.path)) as client:
        assert client.post(long_path).status_code in (404, 405)
    row = audit_rows(small.path)[-1]
    assert len(row["path"]) < AUDIT_LIMITS["path"] + 120
    assert hashlib.sha256(long_path.encode()).hexdigest() in row["path"]
    huge = {"reason": "refused", "payload": {"bounds": {f"c{i}": [0, i] for i in range(50_000)}}}
    stored = json.loads(bounded_detail(huge))
    assert stored["reason"] == "refused"
    assert stored["payload"]["truncated"] is True
    text = json.dumps(huge["payload"], sort_keys=True)
    assert stored["payload"]["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert len(bounded_detail(huge)) <= AUDIT_LIMITS["detail"]
    assert len(bounded_detail({f"k{i}": "v" * 400 for i in range(100)})) <= AUDIT_LIMITS["detail"]


def _rows(path: Path, n: int) -> None:
    with Workspace(path) as ws:
        for i in range(n):
            entry = AuditEntry(None, None, None, "POST", f"/api/x{i}", "write", None, 401,
                               {"i": i}, ts=datetime(2024, 1 + i, 1))  # fmt: skip
            record(ws, entry)


def test_audit_verify_finds_a_changed_or_deleted_row(small: Small) -> None:
    _rows(small.path, 5)
    ok = cli("audit", "verify", "-w", str(small.path))
    out, err = ok.communicate(timeout=120)
    assert ok.returncode == 0, err
    assert "5 rows, chain intact" in " ".join(out.split())
    with Workspace(small.path) as ws:
        ws.con.execute("UPDATE audit SET status = 200 WHERE id = 3")
    changed = cli("audit", "verify", "-w", str(small.path))
    _, err = changed.communicate(timeout=120)
    assert changed.returncode == 2
    assert "broken at row 3" in err
    assert "changed" in err
    with Workspace(small.path) as ws:
        ws.con.execute("UPDATE audit SET status = 401 WHERE id = 3")
        assert verify(ws).intact
        ws.con.execute("DELETE FROM audit WHERE id = 2")
        report = verify(ws)
    assert (report.broken_id, "deleted" in report.problem) == (3, True)


def test_audit_prune_keeps_the_chain_verifiable_and_is_audited(small: Small) -> None:
    _rows(small.path, 6)  # dated 2024-01-01 … 2024-06-01
    done = cli("audit", "prune", "--before", "2024-04-01", "-w", str(small.path))
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert "pruned 3 audit rows" in " ".join(out.split())
    rows = audit_rows(small.path)
    assert [r["path"] for r in rows[:3]] == ["/api/x3", "/api/x4", "/api/x5"]
    last = rows[-1]
    assert (last["action"], last["source"], last["method"]) == ("audit.prune", "cli", "CLI")
    with Workspace(small.path) as ws:
        anchor = ws.fetch("SELECT value FROM meta WHERE key = 'audit_anchor'")[0][0]
        assert verify(ws).intact
    assert last["detail"]["anchor"] == anchor
    assert last["detail"]["deleted"] == 3
    verified = cli("audit", "verify", "-w", str(small.path))
    assert verified.wait(timeout=120) == 0
    bad = cli("audit", "prune", "--before", "last week", "-w", str(small.path))
    _, err = bad.communicate(timeout=120)
    assert bad.returncode == 2
    assert "YYYY-MM-DD" in err
    for stream in (verified.stdout, verified.stderr):
        assert stream is not None
        stream.close()


def test_keys_created_and_revoked_with_the_cli_are_audited(small: Small) -> None:
    import pwd

    made = cli(
        "keys", "create", "--role", "analyst", "--name", "jo", "--json", "-w", str(small.path)
    )
    out, err = made.communicate(timeout=120)
    assert made.returncode == 0, err
    key_id = json.loads(out)["key"].split("_")[1]
    gone = cli("keys", "revoke", key_id, "-w", str(small.path))
    gone.communicate(timeout=120)
    assert gone.returncode == 0
    user = pwd.getpwuid(os.getuid()).pw_name  # the subprocess has no USER/LOGNAME
    rows = [(r["action"], r["source"], r["client"], r["status"]) for r in audit_rows(small.path)]
    assert rows == [("key.create", "cli", user, 201), ("key.revoke", "cli", user, 200)]
    assert getpass.getuser()  # the same lookup margin makes


def test_the_migration_bounds_and_chains_existing_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import margin.data.workspace.store as workspace_module
    from margin.data.workspace.schema import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "old.duckdb"
    with monkeypatch.context() as patch:
        patch.setattr(workspace_module, "MIGRATIONS", MIGRATIONS[:2])
        patch.setattr(workspace_module, "SCHEMA_VERSION", 2)
        with Workspace(path) as ws:
            for size in (1, 40_000):
                ws.con.execute(
                    "INSERT INTO audit (ts, method, path, action, status, detail) "
                    "VALUES (now(), 'POST', ?, 'write', 404, ?)",
                    ["/" + "p" * size, json.dumps({"payload": "d" * size})],
                )
    with Workspace(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION == 3
        report = verify(ws)
        sizes = ws.fetch("SELECT length(path), length(detail), source FROM audit ORDER BY id")
        record(ws, AuditEntry(None, None, None, "POST", "/new", "write", None, 401, {}))
        assert verify(ws).intact
    assert report.intact
    assert report.rows == 2
    assert sizes[0] == (2, 16, "api")
    assert sizes[1][0] < AUDIT_LIMITS["path"] + 120
    assert sizes[1][1] <= AUDIT_LIMITS["detail"]


# -- item 8: throttled guessing ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_is_a_token_bucket() -> None:
    clock = Clock()
    throttle = FailureThrottle(clock=clock)
    for _ in range(FAILURE_BURST):
        assert throttle.retry_after("a") is None
        throttle.failed("a")
    assert throttle.retry_after("a") == int(REFILL_SECONDS)
    assert throttle.retry_after("b") is None  # per address
    clock.now += REFILL_SECONDS
    assert throttle.retry_after("a") is None
    throttle.failed("a")
    assert throttle.retry_after("a") is not None


def test_failed_bearer_keys_and_logins_are_throttled_per_address(small: Small) -> None:
    clock = Clock()
    app = create_app(small.path, secure_cookies=False)
    app.state.margin.throttle = FailureThrottle(clock=clock)
    bad = bearer("mgn_0123456789ab_" + "x" * 43)
    with TestClient(app) as client, TestClient(app, client=("10.0.0.9", 1)) as other:
        for _ in range(30):  # successful authentication costs nothing
            assert client.get("/api/runs", headers=bearer(small.keys["viewer"])).status_code == 200
        statuses = [client.get("/api/runs", headers=bad).status_code for _ in range(FAILURE_BURST)]
        assert statuses == [401] * FAILURE_BURST
        refused = client.get("/api/runs", headers=bad)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert client.get("/api/runs", headers=bearer(small.keys["viewer"])).status_code == 429
        assert other.get("/api/runs", headers=bearer(small.keys["viewer"])).status_code == 200
        login = client.post("/login", data={"key": small.keys["viewer"], "csrf_token": "x"})
        assert login.status_code in (403, 429)
        form = client.get("/login")
        token = re.search(r"name=['\"]csrf_token['\"] value=['\"]([^'\"]+)", form.text)
        assert token
        page = client.post("/login", data={"key": "guess", "csrf_token": token.group(1)},
                           follow_redirects=False)  # fmt: skip
        assert page.status_code == 429
        assert "Too many failed logins" in page.text
        clock.now += REFILL_SECONDS
        assert client.get("/api/runs", headers=bearer(small.keys["viewer"])).status_code == 200
    assert 429 in [r["status"] for r in audit_rows(small.path) if r["action"] == "login"]


# -- item 14: headers and paths ----------------------------------------------------------------


def test_every_response_carries_the_security_headers(small: Small) -> None:
    from margin.api.routes_pages import PAGES

    with TestClient(create_app(small.path)) as client:
        viewer = bearer(small.keys["viewer"])
        responses = [client.get("/login"), client.get("/api/runs"), client.get("/static/margin.css"),
                     client.get("/api/runs", headers=viewer), client.post("/api/keys", json={})]  # fmt: skip
        pages = [client.get(path, headers=viewer) for path in PAGES]
        docs = client.get("/docs")
    for response in [*responses, *pages]:
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    for page in [*pages, responses[0]]:
        scripts = re.findall(r"<script\b[^>]*>", page.text)
        assert all("src=" in tag for tag in scripts), scripts  # no inline script
        assert not re.search(r"\son[a-z]+\s*=", page.text)  # no inline handlers
        assert not re.search(r"\sstyle\s*=", page.text)
    style = re.search(r"<style>(.*?)</style>", docs.text, re.S)
    assert style
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in docs.headers["content-security-policy"]
    assert docs.headers["x-frame-options"] == "DENY"


@dataclass(frozen=True)
class RunApi:
    path: Path
    keys: dict[str, str]
    run_folder: Path


@pytest.fixture(scope="module")
def run_api(fitted_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RunApi:
    base = tmp_path_factory.mktemp("hardening")
    shutil.copytree(fitted_run_dir, base / "runs" / "run")
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", base / "ws.duckdb")
    with Workspace(base / "ws.duckdb") as ws:
        ws.con.execute("UPDATE runs SET artifact_path = ?", [str(base / "runs" / "run")])
        keys = {role: create_key(ws, role) for role in ("viewer", "analyst", "admin")}
    return RunApi(base / "ws.duckdb", keys, base / "runs" / "run")


def test_no_absolute_server_path_reaches_a_viewer(run_api: RunApi) -> None:
    with TestClient(create_app(run_api.path)) as client:
        viewer = bearer(run_api.keys["viewer"])
        listed = client.get("/api/runs", headers=viewer)
        latest = client.get("/api/runs/latest", headers=viewer)
    root = str(run_api.path.parent)
    for response in (listed, latest):
        assert response.status_code == 200
        assert root not in response.text
    assert latest.json()["run"]["artifact_path"] == "runs/run"
    paths = {r["artifact_path"] for r in listed.json()["runs"]}
    assert "runs/run" in paths


def test_unknown_channels_are_listed_briefly(run_api: RunApi) -> None:
    with TestClient(create_app(run_api.path)) as client:
        response = client.post(
            "/api/runs/latest/scenario", headers=bearer(run_api.keys["analyst"]),
            json={"weeks": 4, "changes": {("z" * 3000) + str(i): 0.1 for i in range(200)}},
        )  # fmt: skip
    assert response.status_code == 400
    assert "and 195 more" in response.json()["detail"]
    assert len(response.json()["detail"]) < 800


# -- item 15: stopping work --------------------------------------------------------------------


def test_an_optimization_stops_when_its_client_goes_away(run_api: RunApi) -> None:
    app = create_app(run_api.path)
    body = json.dumps({"weeks": 4}).encode()
    sent: list[dict[str, Any]] = []
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}  # the client left as soon as it had sent

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = bearer(run_api.keys["analyst"]) | {"content-type": "application/json"}
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/runs/latest/optimize", "raw_path": b"",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 499
    row = audit_rows(run_api.path)[-1]
    assert (row["action"], row["status"]) == ("optimize", 499)
    assert "client closed the connection" in row["detail"]["reason"]


def test_a_stopping_server_stops_computations_and_shuts_down_promptly(run_api: RunApi) -> None:
    import signal

    from margin.cli.api_commands import SHUTDOWN_GRACE_SECONDS, server

    app = create_app(run_api.path)
    with TestClient(app) as client:
        app.state.margin.stopping.set()  # what SIGTERM does (below)
        response = client.post("/api/runs/latest/optimize", json={"weeks": 4},
                               headers=bearer(run_api.keys["analyst"]))  # fmt: skip
    assert response.status_code == 503
    assert "shutting down" in response.json()["detail"]
    assert int(response.headers["retry-after"]) > 0
    fresh = create_app(run_api.path)
    uvicorn_server = server(fresh, "127.0.0.1", 8765)
    assert uvicorn_server.config.timeout_graceful_shutdown == SHUTDOWN_GRACE_SECONDS
    uvicorn_server.handle_exit(signal.SIGTERM, None)
    assert uvicorn_server.should_exit
    assert fresh.state.margin.stopping.is_set()
