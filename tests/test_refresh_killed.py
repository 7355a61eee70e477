"""A refresh that never finished (its process killed), one interrupted, and one whose
first error a clean-up statement on the aborted transaction would have hidden.

The killed refresh is real: a child process runs ``refresh`` with ``ingest_file``
wrapped to load the file and then ``SIGKILL`` its own process, so the kill lands at a
known point (the file loaded inside the open transaction, the marker written), not at a
time a timer picks. The next refresh, in this process, must clean up and record it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from margin.data.workspace.store import Workspace
from margin.errors import InputFileError
from margin.refresh import RefreshError, RefreshSettings, refresh, save_settings
from margin.refresh.ledger import MARKER, begin, note_run_folder, partial_folder

SPEND = (
    "date,geo,channel,campaign,spend,impressions,clicks,currency\n2024-01-01,n,tv,c,10,1,0,USD\n"
)
SPEC = '[data]\nkpi = "revenue"\nmedia = ["tv"]\n'

KILL_DURING_INGEST = """
import os, signal, sys
from margin.data.ingest import pipeline as ingest
from margin.data.workspace.store import Workspace
from margin.refresh import refresh

real = ingest.ingest_file

def ingest_then_die(*args, **kwargs):
    real(*args, **kwargs)  # loaded inside the refresh's open transaction
    os.kill(os.getpid(), signal.SIGKILL)

ingest.ingest_file = ingest_then_die
with Workspace(sys.argv[1]) as ws:
    refresh(ws)
"""


def _settings(tmp_path: Path) -> RefreshSettings:
    drop = tmp_path / "drop"
    (drop / "spend").mkdir(parents=True)
    (drop / "spend" / "a.csv").write_text(SPEND, encoding="utf-8")
    (tmp_path / "spec.toml").write_text(SPEC, encoding="utf-8")
    return RefreshSettings(drop=drop, spec=tmp_path / "spec.toml")


def _failing_check(monkeypatch: pytest.MonkeyPatch, error: BaseException | None = None) -> None:
    """``margin check`` finds an error (or raises ``error``): a refresh that stops cheaply."""
    from margin.data.rules import validation
    from margin.data.rules.findings import Finding, Report

    def check(*_: Any, **__: Any) -> Report:
        if error is not None:
            raise error
        return Report((Finding("gap_weeks", "error", "spend", None, "A gap.", "Fill it."),))

    monkeypatch.setattr(validation, "check_workspace", check)


def _refresh_rows(ws: Workspace) -> dict[str, tuple[str, str]]:
    rows = ws.fetch("SELECT id, status, message FROM runs WHERE kind = 'refresh'")
    return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}


def test_a_killed_refresh_is_cleaned_up_and_recorded_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        save_settings(ws, _settings(tmp_path))
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DURING_INGEST, str(path)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (left,) = (tmp_path / "runs").glob(".partial-refresh-*")  # what a kill used to leave forever
    marker = json.loads((left / MARKER).read_text(encoding="utf-8"))
    killed_id = marker["refresh_id"]
    assert left.name == f".partial-{killed_id}"
    _failing_check(monkeypatch)
    with Workspace(path) as ws:
        assert ws.fetch("SELECT count(*) FROM loads") == [(0,)]  # the kill loaded nothing
        assert _refresh_rows(ws) == {}  # and recorded nothing
        with pytest.raises(RefreshError, match="step 'check'") as caught:
            refresh(ws)
        rows = _refresh_rows(ws)
    assert not list((tmp_path / "runs").glob(".partial-*"))
    status, message = rows[killed_id]
    assert status == "failed"
    started = datetime.fromisoformat(marker["started"])
    assert f"refresh {killed_id} started {started:%Y-%m-%d %H:%M:%S} UTC" in message
    assert f"(process {marker['pid']} on" in message
    assert "did not finish (process killed?)" in message
    assert f"its partial folder {left} was removed" in message
    assert rows[caught.value.result.id][0] == "failed"  # this refresh's own failure too
    assert message in caught.value.result.notes  # and it says what it cleaned up


def test_the_unrecorded_run_of_a_killed_refresh_is_removed_and_others_are_left(
    ws: Workspace, tmp_path: Path
) -> None:
    """Killed between moving its run into place and committing: the run folder goes too.
    A folder without a marker (an older margin) is cleaned up; one whose marker names
    another workspace sharing the runs folder, or whose refresh was recorded, is not
    recorded again."""
    from margin.refresh.ledger import insert_refresh_row, recover_abandoned

    runs = tmp_path / "runs"
    started = datetime(2024, 5, 6, 7, 8, 9)
    begin(runs, "refresh-aaaaaaaaaaaa", started, ws.path, seed=3)
    run = runs / "mmm-bbbbbbbbbbbb"
    run.mkdir()
    (run / "summary.json").write_text("{}", encoding="utf-8")
    note_run_folder(runs, "refresh-aaaaaaaaaaaa", run)
    legacy = partial_folder(runs, "refresh-cccccccccccc")
    legacy.mkdir()
    (legacy / "summary.json").write_text("{}", encoding="utf-8")
    begin(runs, "refresh-dddddddddddd", started, tmp_path / "other.duckdb", seed=0)
    begin(runs, "refresh-eeeeeeeeeeee", started, ws.path, seed=0)
    insert_refresh_row(ws, refresh_id="refresh-eeeeeeeeeeee", created=started, failed=False,
                       message="refreshed")  # fmt: skip
    notes = recover_abandoned(ws, runs)
    assert len(notes) == 2
    rows = _refresh_rows(ws)
    status, message = rows["refresh-aaaaaaaaaaaa"]
    assert status == "failed"
    assert "started 2024-05-06 07:08:09 UTC" in message
    assert f"the run folder it had not recorded ({run.resolve()})" in message
    assert not run.exists()
    assert rows["refresh-cccccccccccc"][0] == "failed"
    assert "refresh refresh-cccccccccccc last wrote its folder" in rows["refresh-cccccccccccc"][1]
    assert rows["refresh-eeeeeeeeeeee"] == ("ok", "refreshed")
    assert sorted(p.name for p in runs.iterdir()) == [".partial-refresh-dddddddddddd"]
    assert ws.fetch("SELECT seed FROM runs WHERE id = 'refresh-aaaaaaaaaaaa'") == [(3,)]
    assert recover_abandoned(ws, runs) == []  # nothing twice


def test_an_interrupted_refresh_is_recorded_and_leaves_no_folder(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_check(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        refresh(ws, settings=_settings(tmp_path))
    ((status, message),) = _refresh_rows(ws).values()
    assert status == "failed"
    assert "refresh failed at step 'check': interrupted (KeyboardInterrupt)" in message
    assert ws.fetch("SELECT count(*) FROM loads") == [(0,)]
    assert not list((tmp_path / "runs").glob(".partial-*"))


def test_the_first_error_is_reported_not_the_aborted_transaction(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load fails with a clear error after a DuckDB error aborted the transaction, and a
    clean-up statement in its ``finally`` then fails with "Current transaction is aborted"
    (what item 9 of issue 19 saw): the refresh reports the clear error."""
    from margin.data.ingest import pipeline as ingest

    def ingest_file(workspace: Workspace, kind: str, path: Path, **_: Any) -> Any:
        try:
            workspace.con.execute("SELECT CAST('1,000.00' AS DOUBLE)")
        except duckdb.Error as err:
            raise InputFileError(
                f"{path}: row 1, column 'spend': '1,000.00' is not a number"
            ) from err
        finally:
            workspace.con.execute("SELECT 1")  # raises: the transaction is aborted

    monkeypatch.setattr(ingest, "ingest_file", ingest_file)
    with pytest.raises(RefreshError) as caught:
        refresh(ws, settings=_settings(tmp_path))
    message = str(caught.value)
    assert message.startswith("refresh failed at step 'ingest' (file ")
    assert "row 1, column 'spend': '1,000.00' is not a number" in message
    assert "aborted" not in message
    assert isinstance(caught.value.__cause__, InputFileError)
    ((status, recorded),) = _refresh_rows(ws).values()
    assert (status, recorded) == ("failed", message)
    assert ws.fetch("SELECT count(*) FROM loads") == [(0,)]
