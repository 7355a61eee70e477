"""The `margin` command as a user runs it: exit codes, messages, JSON outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from _cli import margin, words
from margin.data.workspace.store import Workspace

WriteFile = Callable[[str, str | bytes], Path]


def test_help_is_instant_because_heavy_modules_stay_unimported() -> None:
    code = (
        "import sys, margin.cli.main as m; "
        "heavy = [n for n in ('duckdb', 'pandas', 'numpy', 'jax', 'numpyro', 'pyspark', 'scipy') if n in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    result = margin("--help")
    assert result.returncode == 0
    for command in ("ingest", "import", "check", "simulate", "demo", "status", "init"):
        assert command in result.stdout


def test_ingest_prints_what_it_did_and_writes_json(tmp_path: Path, write_file: WriteFile) -> None:
    spend = write_file("s.csv", "date,channel,spend\n2024-01-01,tv,10\n2024-01-02,tv,20\n")
    out = tmp_path / "load.json"
    result = margin(
        "ingest", "spend", str(spend), "-w", str(tmp_path / "w.duckdb"), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "2 rows read" in words(result.stdout)
    payload = json.loads(out.read_text())
    assert payload["loads"][0]["rows_written"] == 2
    assert payload["loads"][0]["grain"] == "daily"


def test_bad_file_gives_a_clear_error_without_traceback(
    tmp_path: Path, write_file: WriteFile
) -> None:
    bad = write_file("bad.csv", "date,channel,spend\n2024-01-01,tv,abc\n")
    ws = tmp_path / "w.duckdb"
    result = margin("ingest", "spend", str(bad), "-w", str(ws))
    assert result.returncode == 2
    assert "error:" in result.stderr
    assert "bad.csv" in result.stderr
    assert "row 1: 'abc'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    debug = margin("--debug", "ingest", "spend", str(bad), "-w", str(ws))
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr


def test_rejected_load_lists_findings_and_writes_nothing(
    tmp_path: Path, write_file: WriteFile
) -> None:
    ws = tmp_path / "w.duckdb"
    assert margin("init", "-w", str(ws)).returncode == 0  # (a new one is not even created)
    bad = write_file("neg.csv", "date,channel,spend\n2024-01-01,tv,10\n2024-01-08,tv,-3\n")
    result = margin("ingest", "spend", str(bad), "-w", str(ws))
    assert result.returncode == 2
    assert "negative_spend" in result.stderr
    assert "nothing was written" in result.stderr
    with Workspace(ws, read_only=True) as w:
        assert w.counts()["spend"] == 0


def test_one_bad_file_leaves_the_whole_command_unloaded(
    tmp_path: Path, write_file: WriteFile
) -> None:
    ws = tmp_path / "w.duckdb"
    assert margin("init", "-w", str(ws)).returncode == 0  # (a new one is not even created)
    good = write_file("good.csv", "date,channel,spend\n2024-01-01,tv,10\n")
    bad = write_file("bad.csv", "date,channel,spend\n2024-01-01,radio,abc\n")
    result = margin("ingest", "spend", str(good), str(bad), "-w", str(ws))
    assert result.returncode == 2
    assert "bad.csv" in result.stderr
    assert "good.csv" not in result.stdout  # nothing reported as loaded
    with Workspace(ws, read_only=True) as w:
        assert w.counts()["spend"] == 0
        assert w.fetch("SELECT count(*) FROM loads") == [(0,)]
    again = margin("ingest", "spend", str(good), "-w", str(ws))
    assert again.returncode == 0, again.stderr
    with Workspace(ws, read_only=True) as w:
        assert w.counts()["spend"] == 1


def test_bad_options_are_explained(tmp_path: Path, write_file: WriteFile) -> None:
    ws = str(tmp_path / "w.duckdb")
    result = margin("init", "-w", ws, "--currency", "euro")
    assert result.returncode == 2
    assert "ISO 4217" in result.stderr
    spend = write_file("s.csv", "date,channel,spend\n2024-01-01,tv,10\n")
    result = margin("ingest", "spend", str(spend), "-w", ws, "--map", "spend")
    assert result.returncode == 2
    assert "CANONICAL=SOURCE_COLUMN" in result.stderr
    result = margin("ingest", "sales", str(spend), "-w", ws)
    assert result.returncode == 2
    assert "cannot be ingested" in result.stderr


def test_check_reports_errors_with_exit_code_and_json(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        ws.con.execute(
            "INSERT INTO spend VALUES ('2024-01-01', 'national', 'tv', '', 'USD', -5, -5, NULL, NULL, 'generic', 1)"
        )
    out = tmp_path / "report.json"
    result = margin("check", "-w", str(path), "--out", str(out))
    assert result.returncode == 1
    report = json.loads(out.read_text())
    assert report["ok"] is False
    assert any(
        f["rule"] == "negative_spend" and f["severity"] == "error" for f in report["findings"]
    )
    assert "negative_spend" in result.stdout


def test_check_on_a_missing_workspace(tmp_path: Path) -> None:
    result = margin("check", "-w", str(tmp_path / "none.duckdb"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_simulate_writes_every_file(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = margin(
        "simulate",
        "--out",
        str(out),
        "--seed",
        "3",
        "--geos",
        "2",
        "--weeks",
        "30",
        "--users",
        "500",
    )
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out.iterdir()}
    assert {
        "spend.csv",
        "outcomes.csv",
        "controls.csv",
        "events.parquet",
        "transactions.csv",
        "experiments.csv",
        "panel.csv",
        "spec.toml",
        "truth.json",
    } <= names
    truth = json.loads((out / "truth.json").read_text())
    assert truth["seed"] == 3


def test_demo_runs_the_loop_and_keeps_a_named_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "demo.duckdb"
    result = margin("demo", "-w", str(ws), "--seed", "1", "--cycles", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    said = words(result.stdout)  # however the terminal wraps the lines
    assert "demo finished" in said
    assert "MarketingData: 6 geos × 104 weeks × 5 channels" in said
    assert "recommended reallocation" in said
    status = margin("status", "-w", str(ws))
    assert status.returncode == 0
    with Workspace(ws, read_only=True) as w:
        counts = w.counts()
        kinds = sorted(kind for (kind,) in w.fetch("SELECT kind FROM runs"))
    assert all(
        counts[t] > 0
        for t in ("spend", "outcomes", "controls", "events", "experiments", "transactions")
    )
    # the run and its plan are recorded beside the kept workspace; the report is written
    assert kinds == ["mmm", "plan"]
    assert (tmp_path / "runs" / "demo" / "summary.json").is_file()
    plan_json = json.loads(
        (tmp_path / "runs" / "demo" / "plans" / "demo" / "plan.json").read_text(encoding="utf-8")
    )
    information = plan_json["value_of_information"]  # which test would inform the plan most
    assert set(information["channels"]) == set(plan_json["allocation"])
    if information["best"] is not None:
        best = information["best"]
        assert f"a lift test on {best} would inform this plan most" in said
        # the demo designs that channel's test beside the plan and values it as designed
        design = json.loads(
            (tmp_path / "runs" / "demo" / "plans" / "demo" / "design.json").read_text("utf-8")
        )
        assert design["channel"] == best
        assert design["roi_se"] > 0
        tested = information["channels"][best]
        assert tested["test_design"]["design_id"] == design["design_id"]
        # a test is worth at most learning the return exactly (EVSI <= EVPPI), up to the
        # Monte Carlo noise of two re-plans (5%)
        assert 0 <= tested["test_value"]["mean"] <= tested["value"]["mean"] * 1.05
        assert f"planned test {design['design_id']} ({best} heavy-up" in said
    report = (tmp_path / "margin-demo-report.html").read_text(encoding="utf-8")
    assert "chart.js" in report.lower()
    assert "margin serve -w" in said
    # the short learning loop: one cycle against the stepping world, scored by its truth
    assert "10. learn" in said
    assert "cycle 1:" in said
    assert "of the oracle's" in said
    assert "over 1 cycle(s) margin's plans gained" in said
    assert "less their extra spend" in said
    learning = (tmp_path / "margin-demo-report-learning.html").read_text(encoding="utf-8")
    assert "cycle 1" in learning.lower()
    from margin.loop import list_cycles

    (cycle,) = list_cycles(tmp_path / "demo-loop.duckdb")
    assert cycle["policy"] == "margin"
    assert cycle["true"]["share_of_oracle"] is not None


@pytest.mark.shared_data
def test_import_peer_file_twice_is_idempotent_and_spec_loads_a_panel(
    tmp_path: Path, shared_data: Path
) -> None:
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec

    ws = tmp_path / "w.duckdb"
    spec = tmp_path / "spec.toml"
    source = shared_data / "robyn" / "dt_simulated_weekly.csv"
    first = margin("import", "robyn", str(source), "-w", str(ws), "--spec-out", str(spec))
    assert first.returncode == 0, first.stderr
    with Workspace(ws, read_only=True) as w:
        before = w.counts()
    again = margin("import", "robyn", str(source), "-w", str(ws))
    assert again.returncode == 0, again.stderr
    with Workspace(ws, read_only=True) as w:
        assert w.counts() == before
        panel = load_panel(load_spec(spec), workspace=w)
    assert (panel.n_geos, panel.n_times, panel.n_channels) == (1, 208, 5)


@pytest.mark.shared_data
def test_imported_pymc_frame_gives_the_same_panel_as_the_file(
    tmp_path: Path, shared_data: Path
) -> None:
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec

    ws, spec = tmp_path / "w.duckdb", tmp_path / "spec.toml"
    source = shared_data / "pymc-marketing" / "mmm_example.csv"
    result = margin("import", "pymc", str(source), "-w", str(ws), "--spec-out", str(spec))
    assert result.returncode == 0, result.stderr
    with Workspace(ws, read_only=True) as w:
        from_workspace = load_panel(load_spec(spec), workspace=w)
    from_file = load_panel(load_spec(spec), data=source)
    assert from_workspace.data_hash() == from_file.data_hash()


def test_configure_jax_sets_devices_and_cache_but_keeps_user_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from margin.cli.main import configure_jax

    for name in ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR", "MARGIN_JAX_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    configure_jax()
    assert "--xla_force_host_platform_device_count=" in os.environ["XLA_FLAGS"]
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "margin" / "jax")

    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.setenv("MARGIN_JAX_CACHE", "0")
    configure_jax()
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ
