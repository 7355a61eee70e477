"""The dashboard and the command line share one workspace (issue 19, items 4 and 5).

A real ``margin serve`` (a subprocess on a free loopback port) answers a steady stream
of reads and writes from a thread while real ``margin`` commands (subprocesses: DuckDB's
lock is per process) revoke a key, ingest a file and refresh (a refit with the quick
approximate settings of tests/test_refresh.py). Every command must succeed, every
request must get 200 or a JSON 503 with ``Retry-After`` (never a plain 500), and every
write request must leave its audit row. Nothing here measures time.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from margin.api.audit import verify
from margin.api.keys import create_key, key_id_of
from margin.data.workspace.store import Workspace

NEW_WEEK = "2024-12-30"
"""The week after the fitted world's last one (see conftest.fitted_run_dir)."""
SCENARIO = {"weeks": 4, "changes": {"tv": 0.1}}
FIT = ["--method", "approximate", "--chains", "1", "--draws", "60",
       "--approximate-steps", "300", "--seed", "1"]  # fmt: skip


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    text: str


def _request(
    port: int, method: str, path: str, key: str | None, body: Any = None, timeout: float = 300
) -> Answer:
    """One request on a new connection (stdlib only)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8")
        found = {k.lower(): v for k, v in response.getheaders()}
        return Answer(method, path, response.status, found, text)
    finally:
        connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "MARGIN_LOCK_TIMEOUT": "600"}


def _margin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "margin.cli.main", *args],
        capture_output=True, text=True, env=_env(), check=False, timeout=900,
    )  # fmt: skip


def _next_week(world: Path, kind: str) -> pd.DataFrame:
    """The last week's rows of ``kind``, dated one week later."""
    frame = pd.read_csv(world / f"{kind}.csv")
    last = frame[frame["date"] == frame["date"].max()].copy()
    last["date"] = NEW_WEEK
    return last


@dataclass
class Stream:
    """Requests sent from a thread until ``stop``; each answer kept."""

    port: int
    keys: dict[str, str]
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[Answer] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        scenario = SCENARIO
        try:
            while not self.stop.is_set():
                for method, path, role, body in (
                    ("GET", "/api/runs", "viewer", None),
                    ("POST", "/api/runs/latest/scenario", "analyst", scenario),
                    ("GET", "/api/runs/latest/channels", "viewer", None),
                ):
                    self.answers.append(_request(self.port, method, path, self.keys[role], body))
                time.sleep(0.05)
        except BaseException as err:  # reported by the test
            self.failures.append(err)


@pytest.fixture
def shared(fitted_run_dir: Path, tmp_path: Path) -> dict[str, Any]:
    shutil.copytree(fitted_run_dir, tmp_path / "runs" / "run")
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", tmp_path / "ws.duckdb")
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ws.con.execute("UPDATE runs SET artifact_path = ?", [str(tmp_path / "runs" / "run")])
        keys = {role: create_key(ws, role) for role in ("viewer", "analyst", "admin")}
        keys["stolen"] = create_key(ws, "admin", name="stolen laptop")
    world = fitted_run_dir.parent / "world"
    _next_week(world, "spend").to_csv(tmp_path / "spend_new.csv", index=False)
    drop = tmp_path / "drop"
    (drop / "controls").mkdir(parents=True)
    _next_week(world, "controls").to_csv(drop / "controls" / f"{NEW_WEEK}.csv", index=False)
    _next_week(world, "outcomes").to_csv(drop / f"outcomes__{NEW_WEEK}.csv", index=False)
    return {"path": path, "keys": keys, "world": world, "drop": drop, "root": tmp_path}


def _start_server(path: Path, port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "margin.cli.main", "serve", "--port", str(port), "-w", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    for _ in range(1200):  # until it answers (bounded)
        try:
            if _request(port, "GET", "/login", None, timeout=5).status == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.1)
    server.kill()
    _, err = server.communicate()
    pytest.fail(f"margin serve did not start: {err}")


def test_the_cli_works_while_the_dashboard_is_used(shared: dict[str, Any]) -> None:
    path, keys = shared["path"], shared["keys"]
    port = _free_port()
    server = _start_server(path, port)
    stream = Stream(port, keys)
    thread = threading.Thread(target=stream.run, name="request-stream")
    try:
        warming: list[
            Answer
        ] = []  # a loaded machine may answer a busy 503 at first: retry (bounded)
        for _ in range(30):
            warm = _request(port, "POST", "/api/runs/latest/scenario", keys["analyst"], SCENARIO)
            warming.append(warm)
            if warm.status != 503:
                break
            time.sleep(1.0)
        assert warm.status == 200, warm  # the run's model is loaded and cached from here on
        thread.start()
        stolen = str(key_id_of(keys["stolen"]))
        spec = str(shared["world"] / "spec.toml")
        commands = [
            _margin("keys", "revoke", stolen, "-w", str(path)),
            _margin("ingest", "spend", str(shared["root"] / "spend_new.csv"), "-w", str(path)),
            _margin(
                "refresh", "--drop", str(shared["drop"]), "--spec", spec, *FIT, "-w", str(path)
            ),
            _margin("status", "-w", str(path)),
        ]
        after = _request(port, "GET", "/api/runs", keys["stolen"])
    finally:
        stream.stop.set()
        thread.join(timeout=600)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        finally:
            if server.poll() is None:
                server.kill()
            server.communicate()
    assert not stream.failures, stream.failures
    for done in commands:
        assert done.returncode == 0, (done.args, done.stderr)
        assert "Traceback" not in done.stderr
    assert after.status in (401, 503)  # revoked: the key no longer works
    assert stream.answers
    for answer in stream.answers:
        assert answer.status in (200, 503), answer
        assert answer.headers["content-type"] == "application/json", answer
        body = json.loads(answer.text)
        if answer.status == 503:
            assert int(answer.headers["retry-after"]) > 0
            assert "busy" in body["detail"]
    sent = Counter(a.status for a in [*warming, *stream.answers] if a.method == "POST")
    with Workspace(path) as ws:
        rows = ws.fetch(
            "SELECT status, action, path FROM audit WHERE method = 'POST' AND path LIKE '%/scenario'"
        )
        report = verify(ws)
        refreshed = ws.fetch("SELECT count(*) FROM runs WHERE kind = 'refresh'")[0][0]
    journal = path.with_name(path.name + ".audit-pending.jsonl")
    assert not journal.exists(), journal.read_text(encoding="utf-8")  # written at shutdown
    assert Counter(int(r[0]) for r in rows) == sent, rows  # every write request has its row
    assert report.intact
    assert refreshed == 1
