"""The one owner of runs (:mod:`margin.data.workspace.runs`): the ``runs`` table, run folders, the
summary check, and plan recording (one rule for the CLI and the API)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from margin.data.workspace.runs import (
    SUMMARY_KEYS,
    RunRecord,
    RunRow,
    find_run,
    has_run,
    latest_run,
    list_runs,
    load_summary,
    plan_id,
    plan_path,
    publish_run_folder,
    record_plan,
    record_run,
    structure_hash,
    write_summary,
)
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError

SRC = Path(__file__).resolve().parents[1] / "src" / "margin"
OWNER = SRC / "data" / "workspace" / "runs.py"
T0 = datetime(2024, 1, 1, 12, 0, 0)


def _record(run_id: str, folder: Path, *, status: str = "ok", minutes: int = 0) -> RunRecord:
    return RunRecord(
        id=run_id, spec_hash=f"spec-{run_id}", data_hash=f"data-{run_id}", code_version="0",
        seed=7, created=T0 + timedelta(minutes=minutes), status=status,
        artifact_path=str(folder), message="test",
    )  # fmt: skip


def _summary(record: RunRecord) -> dict[str, Any]:
    body: dict[str, Any] = {key: {} for key in SUMMARY_KEYS}
    body["run"] = {
        "id": record.id, "spec_hash": record.spec_hash, "data_hash": record.data_hash,
        "seed": record.seed, "artifact_path": record.artifact_path,
    }  # fmt: skip
    body["channels_order"] = ["tv"]
    return body


def _run_folder(root: Path, run_id: str, **options: Any) -> RunRecord:
    folder = root / run_id
    folder.mkdir(parents=True)
    record = _record(run_id, folder, **options)
    write_summary(folder, _summary(record))
    return record


@pytest.fixture
def ws(tmp_path: Path) -> Any:
    with Workspace(tmp_path / "ws.duckdb") as workspace:
        yield workspace


def test_record_list_find_and_load_round_trip(ws: Workspace, tmp_path: Path) -> None:
    old = _run_folder(tmp_path / "runs", "mmm-old", minutes=0)
    new = _run_folder(tmp_path / "runs", "mmm-new", minutes=1)
    failed = _run_folder(tmp_path / "runs", "mmm-failed", status="failed", minutes=2)
    approximate = _run_folder(tmp_path / "runs", "mmm-approx", status="approximate", minutes=3)
    for record in (old, new, failed, approximate):
        record_run(ws, record)
    refresh = RunRow("refresh-1", "refresh", None, None, "0", None, T0, "failed", None, "x")
    record_run(ws, refresh)

    assert [r.id for r in list_runs(ws, kind="mmm")] == [
        "mmm-approx", "mmm-failed", "mmm-new", "mmm-old",
    ]  # fmt: skip
    assert [r.id for r in list_runs(ws, limit=2)] == ["mmm-approx", "mmm-failed"]
    assert [r.id for r in list_runs(ws, kind="refresh")] == ["refresh-1"]
    latest = latest_run(ws, kind="mmm")
    assert latest is not None
    assert latest.id == "mmm-approx"
    only_ok = latest_run(ws, kind="mmm", statuses=("ok", "warning"))
    assert only_ok is not None
    assert only_ok.id == "mmm-new"
    assert latest_run(ws, kind="plan") is None
    row = find_run(ws, "mmm-old")
    assert row == old.row("mmm")
    assert find_run(ws, "refresh-1") == refresh
    assert find_run(ws, "nope") is None
    assert has_run(ws, "mmm-new")
    assert not has_run(ws, "nope")
    assert load_summary(row)["run"]["id"] == "mmm-old"
    assert load_summary(row.path) == load_summary(row)


def test_a_tampered_summary_is_refused_with_the_run_and_the_fix(
    ws: Workspace, tmp_path: Path
) -> None:
    record = _run_folder(tmp_path, "mmm-a")
    record_run(ws, record)
    row = find_run(ws, "mmm-a")
    assert row is not None
    body = json.loads((row.path / "summary.json").read_text(encoding="utf-8"))
    body["run"]["data_hash"] = "data-edited"
    write_summary(row.path, body)
    with pytest.raises(ConfigError, match=r"does not belong to run mmm-a.*data_hash") as err:
        load_summary(row)
    assert "restore the run's folder or fit the model again" in str(err.value)
    other = _run_folder(tmp_path, "mmm-b")
    shutil.copy(other.artifact_path + "/summary.json", row.path / "summary.json")
    with pytest.raises(ConfigError, match="does not belong to run mmm-a"):
        load_summary(row)


def test_a_damaged_or_missing_summary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_summary(tmp_path / "gone")
    with pytest.raises(ConfigError, match=r"no summary\.json"):
        load_summary(tmp_path)
    (tmp_path / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_summary(tmp_path)
    (tmp_path / "summary.json").write_text("[1]", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        load_summary(tmp_path)
    (tmp_path / "summary.json").write_text('{"run": {}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="lacks"):
        load_summary(tmp_path)


def test_an_edited_model_structure_is_refused(tmp_path: Path) -> None:
    record = _run_folder(tmp_path, "mmm-a")
    folder = Path(record.artifact_path)
    config = {"adstock": "geometric", "max_lag": 8}
    meta = {"format": "margin-mmm-run", "format_version": 1, "config": config,
            "config_hash": structure_hash(config)}  # fmt: skip
    (folder / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    assert load_summary(folder)["run"]["id"] == "mmm-a"
    meta["config"] = {**config, "max_lag": 12}
    (folder / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ConfigError, match="does not match its hash"):
        load_summary(folder)
    meta.update(config=config, format_version=0)
    (folder / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ConfigError, match="version 0"):
        load_summary(folder)


def test_publishing_a_run_folder_moves_it_and_its_path(tmp_path: Path) -> None:
    record = _run_folder(tmp_path / "partial", "run")
    final = tmp_path / "runs" / "mmm-final"
    final.parent.mkdir()
    moved = publish_run_folder(Path(record.artifact_path), final, record)
    assert not Path(record.artifact_path).exists()
    assert moved.artifact_path == str(final.resolve())
    assert load_summary(final)["run"]["artifact_path"] == moved.artifact_path


def _document(run_id: str, *, passed: bool = True, budget: float = 100.0) -> dict[str, Any]:
    return {
        "run_id": run_id, "budget": budget, "weeks": 4,
        "expected_gain": {"mean": 3.0, "p05": 1.0, "p95": 5.0},
        "checks": {"passed": passed}, "request": {"budget": budget, "weeks": 4},
        "weekly_kpi": {"dates": ["2024-01-01"], "mean": [1.0], "p05": [0.5], "p95": [1.5]},
    }  # fmt: skip


def test_a_plan_is_recorded_by_one_rule_and_idempotently(ws: Workspace, tmp_path: Path) -> None:
    run = _run_folder(tmp_path, "mmm-a")
    folder = Path(run.artifact_path)
    document = _document("mmm-a")
    recorded = record_plan(ws, folder, document)
    assert recorded.id == plan_id(document)
    assert re.fullmatch(r"plan-[0-9a-f]{12}", recorded.id)
    assert Path(recorded.artifact_path) == plan_path(folder, recorded.id).resolve()
    assert Path(recorded.artifact_path).parent.name == recorded.id.removeprefix("plan-")
    assert Path(recorded.artifact_path).parent.parent == (folder / "plans").resolve()
    assert (recorded.status, recorded.data_hash, recorded.seed) == ("ok", "data-mmm-a", 7)
    assert recorded.message.endswith("gain 3 [1, 5] (the workspace currency)")
    counted = record_plan(ws, folder, {**_document("mmm-a", budget=95.0), "kpi_value": 35.0})
    assert counted.message.endswith(
        "gain 3 [1, 5] KPI units (worth 105 in the workspace currency at 35 each)"
    )
    again = record_plan(ws, folder, document)
    assert again.id == recorded.id
    assert sorted(r.id for r in list_runs(ws, kind="plan")) == sorted([recorded.id, counted.id])
    warned = record_plan(ws, folder, _document("mmm-a", passed=False, budget=90.0))
    assert warned.id != recorded.id
    assert warned.status == "warning"
    assert plan_id(_document("mmm-b")) != recorded.id  # another run: another plan
    out = tmp_path / "elsewhere" / "plan.json"
    assert record_plan(ws, folder, document, out).artifact_path == str(out.resolve())


def _in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from margin.cli.main import run

    saved, sys.argv = sys.argv, ["margin", *args]
    environment = dict(os.environ)
    try:
        run()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
        os.environ.clear()
        os.environ.update(environment)
    return code, capsys.readouterr().err


def test_the_cli_and_the_api_record_the_same_plan_alike(
    fitted_run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastapi.testclient import TestClient

    from margin.api.app import create_app
    from margin.api.keys import create_key

    run = tmp_path / "run"
    shutil.copytree(fitted_run_dir, run)
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", tmp_path / "ws.duckdb")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.con.execute("UPDATE runs SET artifact_path = ?", [str(run)])
        key = create_key(ws, "analyst", name="runs")
        (run_id,) = ws.fetch("SELECT id FROM runs WHERE kind = 'mmm'")[0]
    code, err = _in_process(
        capsys, "optimize", "--run", str(run), "--weeks", "4",
        "--workspace", str(tmp_path / "ws.duckdb"),
    )  # fmt: skip
    assert code == 0, err
    with Workspace(tmp_path / "ws.duckdb", read_only=True) as ws:
        (from_cli,) = list_runs(ws, kind="plan")
    with TestClient(create_app(tmp_path / "ws.duckdb", secure_cookies=False)) as client:
        response = client.post(
            f"/api/runs/{run_id}/optimize", json={"weeks": 4},
            headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
    assert response.status_code == 200, response.text
    with Workspace(tmp_path / "ws.duckdb", read_only=True) as ws:
        (from_api,) = list_runs(ws, kind="plan")  # the same plan: one row, replaced
    assert response.json()["plan_id"] == from_cli.id == from_api.id
    assert from_api.artifact_path == from_cli.artifact_path
    assert Path(str(from_api.artifact_path)) == plan_path(run, from_cli.id).resolve()
    assert (from_api.status, from_api.spec_hash, from_api.data_hash, from_api.seed) == (
        from_cli.status, from_cli.spec_hash, from_cli.data_hash, from_cli.seed,
    )  # fmt: skip


# -- no other owner --------------------------------------------------------------------

_SQL = re.compile(r"\b(INSERT\s+INTO|FROM|UPDATE|DELETE\s+FROM)\s+runs\b", re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if isinstance(node, kinds) and node.body and isinstance(node.body[0], ast.Expr):
            found.add(id(node.body[0].value))
    return found


def _inside_fstring(tree: ast.AST) -> set[int]:
    return {id(n) for j in ast.walk(tree) if isinstance(j, ast.JoinedStr) for n in ast.walk(j)}


def trespasses(source: str) -> list[str]:
    """What in ``source`` only the runs owner may do: SQL on ``runs``, or a path built to
    a ``summary.json`` (``folder / "summary.json"``; a message naming the file is fine)."""
    tree = ast.parse(source)
    docs, messages = _docstrings(tree), _inside_fstring(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docs:
            hit = isinstance(node.value, str) and _SQL.search(node.value)
            found += [f"line {node.lineno}: SQL on runs"] if hit else []
        if (
            isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
            and isinstance(node.right, ast.Constant) and node.right.value == "summary.json"
            and id(node) not in messages
        ):  # fmt: skip
            found.append(f"line {node.lineno}: path to summary.json")
    return found


def test_the_checker_catches_a_trespass() -> None:
    source = (
        '"""FROM runs in a docstring is fine."""\n'
        'rows = con.execute("SELECT id FROM runs WHERE kind = ?")\n'
        'con.execute("INSERT INTO runs VALUES (?)")\n'
        'body = (folder / "summary.json").read_text()\n'
        "print(f\"wrote {out / 'summary.json'}\")\n"
    )
    assert trespasses(source) == [
        "line 2: SQL on runs", "line 3: SQL on runs", "line 4: path to summary.json",
    ]  # fmt: skip


def test_only_the_owner_touches_runs_and_summaries() -> None:
    found = {
        str(path.relative_to(SRC)): hits
        for path in sorted(SRC.rglob("*.py"))
        if path != OWNER and (hits := trespasses(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"go through margin.data.workspace.runs instead: {found}"
