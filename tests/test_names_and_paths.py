"""Names and paths a person gives, and one answer per request (issue 21, items 13 and 6).

Channel names match case-insensitively wherever a person names one (one helper,
:func:`margin.checks.match_names`); commands that read a workspace never create one and name
the path they looked at; options are checked before any output; piped output is not cut
at 80 columns; the CLI's and the API's scenario are one code path with one draw count.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _cli import margin, words
from margin.checks import NAMES_LOGGER, match_keys, match_names
from margin.errors import ConfigError
from margin.optimize.request import PlanRequest, canonical_request


def _run_channels(run: Path) -> list[str]:
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return list(summary["channels_order"])


# --- 13(a): one helper for the names people give ----------------------------------------


def test_match_names_reads_another_case_as_the_canonical_name_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=NAMES_LOGGER):
        assert match_names(["Channel0", "tv"], ["channel0", "tv"]) == ["channel0", "tv"]
    assert "channel 'Channel0' read as 'channel0'" in caplog.text
    assert match_keys({"TV": 1.0}, ["tv"]) == {"tv": 1.0}


def test_match_names_refuses_unknown_and_repeated_names_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"--lock: unknown channel\(s\) \['radio'\]; .*\['tv'\]"):
        match_names(["radio"], ["tv"], where="--lock")
    with pytest.raises(ConfigError, match="given twice"):
        match_keys({"TV": 1.0, "tv": 2.0}, ["tv"])
    with pytest.raises(ConfigError, match="unknown"):  # ambiguous by case: not guessed
        match_names(["Tv"], ["TV", "tv"])


def test_bounds_locks_changes_and_test_se_match_the_model_case_insensitively(
    fitted_run_dir: Path,
) -> None:
    from margin.mmm.response import load_response
    from margin.optimize.information import check_test_se
    from margin.optimize.scenario import parse_changes

    response = load_response(fitted_run_dir, max_draws=50)
    first, second = response.channels[:2]
    request = PlanRequest(bounds={first.upper(): (0.5, 2.0)}, locked=(second.upper(),))
    canonical = canonical_request(response, request)
    assert dict(canonical.bounds) == {first: (0.5, 2.0)}
    assert canonical.locked == (second,)
    assert parse_changes([f"{first.upper()}=+20%"], response.channels) == {first: 0.2}
    assert check_test_se(response, {first.title(): 0.2}) == {0: 0.2}


def test_spec_roi_prior_keys_match_channels_case_insensitively() -> None:
    from margin.mmm.config import model_config

    raw = {"priors": {"roi": {"Channel0": [2.0, 0.5]}}}
    config = model_config(raw, ("channel0", "channel1"))
    assert "channel0" in repr(config)
    with pytest.raises(ConfigError, match=r"\['radio'\]"):
        model_config({"priors": {"roi": {"radio": [2.0, 0.5]}}}, ("channel0",))


def test_cli_scenario_notes_the_case_it_read(fitted_run_dir: Path, tmp_path: Path) -> None:
    channel = _run_channels(fitted_run_dir)[0]
    out = tmp_path / "scenario.json"
    done = margin(
        "scenario", "--run", str(fitted_run_dir), "--change", f"{channel.upper()}=+10%",
        "--weeks", "4", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"channel '{channel.upper()}' read as '{channel}'" in words(done.stderr)
    assert json.loads(out.read_text(encoding="utf-8"))["changes"] == {channel: 0.1}


# --- 13(b): commands that read a workspace do not create one -----------------------------


def test_mmm_fit_without_a_workspace_names_it_and_creates_nothing(
    fitted_run_dir: Path, tmp_path: Path
) -> None:
    spec = fitted_run_dir.parent / "world" / "spec.toml"
    assert spec.is_file()
    done = margin("mmm", "fit", "--spec", str(spec), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert done.returncode == 2
    said = words(done.stderr)
    assert "workspace margin.duckdb does not exist" in said
    assert "pass -w or set MARGIN_WORKSPACE" in said
    assert not (tmp_path / "margin.duckdb").exists()
    assert done.stdout == ""


@pytest.mark.parametrize("command", [("status",), ("check",)])
def test_reading_commands_say_which_workspace_they_looked_at(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    done = margin(*command, cwd=tmp_path)
    assert done.returncode == 2
    assert "workspace margin.duckdb does not exist; pass -w or set MARGIN_WORKSPACE" in words(
        done.stderr
    )
    assert not (tmp_path / "margin.duckdb").exists()


def _key_files() -> set[str]:
    folder = Path(os.environ["XDG_CONFIG_HOME"]) / "margin" / "hash-keys"
    return {p.name for p in folder.glob("*.json")} if folder.is_dir() else set()


def test_a_failed_first_ingest_leaves_no_workspace_and_no_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,geo,channel,spend\n2024-01-01,a,tv,abc\n", encoding="utf-8")
    keys = _key_files()
    done = margin("ingest", "spend", str(bad), "-w", "new.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert "column 'spend'" in words(done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
    assert _key_files() == keys
    assert "created the key" not in done.stdout  # announced only once a load succeeded
    good = tmp_path / "good.csv"
    good.write_text("date,geo,channel,spend\n2024-01-01,a,tv,5\n", encoding="utf-8")
    done = margin("ingest", "spend", str(good), "-w", "new.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "created the key" in words(done.stdout)
    assert len(_key_files() - keys) == 1


@pytest.mark.parametrize(
    "command",
    [("hash-key", "rotate", "-w", "none.duckdb"), ("hash-key", "create", "-w", "none.duckdb")],
)
def test_key_commands_never_create_a_workspace(command: tuple[str, ...], tmp_path: Path) -> None:
    done = margin(*command, cwd=tmp_path)
    assert done.returncode == 2
    assert "workspace none.duckdb does not exist" in words(done.stderr)
    assert list(tmp_path.iterdir()) == []


def test_optimize_recording_into_a_missing_workspace_fails_before_planning(
    fitted_run_dir: Path, tmp_path: Path
) -> None:
    done = margin("optimize", "--run", str(fitted_run_dir), "-w", "none.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert "workspace none.duckdb does not exist" in words(done.stderr)
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


# --- 13(c), (d): messages before any output ----------------------------------------------


def test_report_with_the_plan_csv_says_pass_plan_json(fitted_run_dir: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("week,channel,spend\n", encoding="utf-8")
    done = margin(
        "report", "--run", str(fitted_run_dir), "--out", str(tmp_path / "r.html"),
        "--plan", str(plan),
    )  # fmt: skip
    assert done.returncode == 2
    assert "pass plan.json (margin optimize --out), not the CSV" in words(done.stderr)
    assert "not valid JSON" not in done.stderr


def test_mmm_fit_checks_its_method_before_any_output(fitted_run_dir: Path, tmp_path: Path) -> None:
    spec = fitted_run_dir.parent / "world" / "spec.toml"
    done = margin(
        "mmm", "fit", "--spec", str(spec), "--method", "nut", "--out", str(tmp_path / "run"),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "method 'nut' is not one of" in words(done.stderr)
    assert done.stdout == ""
    assert not (tmp_path / "margin.duckdb").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "recording needs the channel tested: pass --channel"),
        (("--method", "nut", "--no-record"), "method='nut' is not known"),
    ],
)
def test_experiment_analyze_checks_options_before_any_output(
    extra: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    panel = tmp_path / "panel.csv"
    rows = [
        f"2024-01-{d:02d},{g},{100 + d + i}" for d in range(1, 29) for i, g in enumerate("abcd")
    ]
    panel.write_text("date,geo,kpi\n" + "\n".join(rows) + "\n", encoding="utf-8")
    done = margin(
        "experiment", "analyze", "--panel", str(panel), "--treated", "a",
        "--start", "2024-01-22", "--end", "2024-01-28", *extra, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert message in words(done.stderr)
    assert done.stdout == ""
    assert not (tmp_path / "margin.duckdb").exists()


# --- 13(e): piped output is not cut at 80 columns ----------------------------------------


def test_piped_tables_keep_long_headers_and_cells_whole(fitted_run_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run(
        [sys.executable, "-m", "margin.cli.main", "optimize", "--run", str(fitted_run_dir)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "mROI at recommended" in done.stdout
    assert "gain of this move" in done.stdout
    assert "…" not in done.stdout


# --- 6: same request, same numbers ---------------------------------------------------------


@pytest.fixture(scope="module")
def app_run(fitted_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the shared run and its workspace (the run's row pointing at the copy)."""
    from margin.data.workspace.store import Workspace

    base = tmp_path_factory.mktemp("names")
    run = base / "run"
    shutil.copytree(fitted_run_dir, run)
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", base / "ws.duckdb")
    with Workspace(base / "ws.duckdb") as ws:
        ws.con.execute("UPDATE runs SET artifact_path = ?", [str(run)])
    return run, base / "ws.duckdb"


def _api_scenario(workspace: Path, body: dict[str, Any]) -> dict[str, Any]:
    from margin.api.app import create_app
    from margin.api.keys import create_key
    from margin.data.workspace.store import Workspace

    with Workspace(workspace) as ws:
        key = create_key(ws, "analyst", name="names-test")
    with TestClient(create_app(workspace, secure_cookies=False)) as client:
        answer = client.post(
            "/api/runs/latest/scenario", json=body, headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert isinstance(result, dict)
    return result


def test_cli_and_api_scenarios_are_one_answer(app_run: tuple[Path, Path], tmp_path: Path) -> None:
    run, workspace = app_run
    channel = _run_channels(run)[1]
    out = tmp_path / "scenario.json"
    done = margin(
        "scenario", "--run", str(run), "--change", f"{channel}=+30%", "--weeks", "6",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cli = json.loads(out.read_text(encoding="utf-8"))
    api = _api_scenario(workspace, {"weeks": 6, "changes": {channel: 0.3}})
    assert api == cli


def test_the_api_plans_on_the_cli_default_draw_count(
    app_run: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import margin.limits
    from margin.api import runs
    from margin.api.state import AppState
    from margin.cli.options import MAX_DRAWS

    assert MAX_DRAWS == margin.limits.PLANNING_DRAWS
    monkeypatch.setattr(margin.limits, "PLANNING_DRAWS", 40)
    run, workspace = app_run
    state = AppState(workspace)
    assert runs.response(state, run).n_draws == 40
