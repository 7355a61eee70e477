"""``margin mmm fit`` as a user runs it: files, the runs row, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _cli import margin
from margin.data.simulator import WorldParams, simulate_world, write_world
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.data.workspace.store import Workspace

WORLD_SEED = 5


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    params = WorldParams.national(n_weeks=60, channels=DEFAULT_CHANNELS[:2], n_users=200)
    folder = tmp_path_factory.mktemp("world")
    write_world(simulate_world(params, seed=WORLD_SEED), folder)
    return folder


@pytest.mark.parametrize(
    ("addition", "expected"),
    [
        ("[priors.roi]\nradio = [1.0, 0.5]\n", ("radio", "not in the data")),
        ("[priors.decay]\ntv = [0.5, 0.9]\n", ("priors.decay.tv", "sd below 0.500")),
        ('[priors.rate]\n"*" = [1.0, 0.5]\n', ("[priors.rate]", "saturation = 'logistic'")),
    ],
)
def test_bad_priors_fail_with_a_clear_message(
    world_dir: Path, tmp_path: Path, addition: str, expected: tuple[str, str]
) -> None:
    spec = tmp_path / "spec.toml"
    text = (world_dir / "spec.toml").read_text(encoding="utf-8")
    spec.write_text(text + "\n" + addition, encoding="utf-8")
    result = margin("mmm", "fit", "--spec", str(spec), "--data", str(world_dir / "panel.csv"),
                    "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 2
    for part in expected:
        assert part in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_fit_writes_summary_posterior_and_runs_row(world_dir: Path, tmp_path: Path) -> None:
    out, ws_path = tmp_path / "run", tmp_path / "ws.duckdb"
    result = margin(
        "mmm", "fit", "--spec", str(world_dir / "spec.toml"), "--data",
        str(world_dir / "panel.csv"), "--out", str(out), "--workspace", str(ws_path),
        "--method", "approximate", "--chains", "1", "--draws", "100", "--seed", "4",
        "--holdout-weeks", "6",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "approximate" in result.stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["channels"]) == {"tv", "search"}
    assert summary["fit"]["seed"] == 4
    assert summary["method"] == "approximate"
    assert summary["diagnostics"]["holdout_mape"] is not None
    assert (out / "posterior.npz").is_file()
    with Workspace(ws_path, read_only=True) as ws:
        rows = ws.fetch("SELECT kind, seed, status, spec_hash, data_hash FROM runs")
    assert len(rows) == 1
    assert rows[0][0] == "mmm"
    assert rows[0][1] == 4
    assert rows[0][2] == "approximate"
    assert rows[0][3] == summary["run"]["spec_hash"]
    assert rows[0][4] == summary["run"]["data_hash"]
