"""From a test design to its value for a plan, as a user runs it: ``margin experiment
design --budget --out design.json``, then ``margin optimize --test-design design.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _cli import margin, words
from _decide import small_run
from margin.data.panel.spec import DataSpec, Spec
from margin.data.simulator import WorldParams, simulate_world
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.mmm import MarketingMixModel, save_run

WORLD_SEED = 12
FIT = {"method": "approximate", "chains": 1, "draws": 120, "approximate_steps": 300, "seed": 3}


@pytest.fixture(scope="module")
def geo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fitted 6-geo run (TV and search) and a weekly geo panel of its KPI and TV spend."""
    params = WorldParams(n_geos=6, n_weeks=80, channels=DEFAULT_CHANNELS[:2], n_users=100)
    data = simulate_world(params, seed=WORLD_SEED).marketing_data()
    model = MarketingMixModel(**FIT).fit(data)  # type: ignore[arg-type]
    folder = tmp_path_factory.mktemp("geo-run")
    save_run(model, data, Spec(DataSpec(kpi="revenue", media=data.channels)), folder / "run")
    tv = data.channels.index("tv")
    lines = ["date,geo,kpi,spend"]
    for t, day in enumerate(data.dates.astype("datetime64[D]")):
        lines += [
            f"{day},{geo},{data.kpi[g, t]:.2f},{data.spend[g, t, tv]:.2f}"
            for g, geo in enumerate(data.geos)
        ]
    (folder / "panel.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "run", folder / "panel.csv"


def test_a_designed_test_is_valued_for_the_plan(geo_run: tuple[Path, Path], tmp_path: Path) -> None:
    run, panel = geo_run
    design = margin(
        "experiment", "design", "--panel", str(panel), "--channel", "tv", "--weeks", "2:3",
        "--candidates", "3", "--budget", "200000", "--out", "design.json", cwd=tmp_path,
    )  # fmt: skip
    assert design.returncode == 0, design.stderr
    assert "--test-design design.json" in words(design.stdout)
    chosen = json.loads((tmp_path / "design.json").read_text(encoding="utf-8"))
    result = margin(
        "optimize", "--run", str(run), "--test-design", str(tmp_path / "design.json"),
        "--out", str(tmp_path / "plan.json"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    information = json.loads((tmp_path / "plan.json").read_text())["value_of_information"]
    tv = information["channels"]["tv"]
    assert tv["test_design"]["design_id"] == chosen["design_id"]
    assert tv["test_design"]["geos"] == chosen["treatment_geos"]
    assert tv["test_design"]["spend"] == 200000
    assert tv["test_se"] == pytest.approx(chosen["roi_se"])
    read = tv["test_read"]
    assert 0 < read["p05"] <= read["mean"] <= read["p95"]  # TV pays in every draw
    assert tv["test_value"]["mean"] >= 0
    assert information["channels"]["search"]["test_design"] is None
    said = words(result.stdout)  # the planned test's sentence, printed below the table
    assert f"planned test {chosen['design_id']} (tv heavy-up" in said
    assert "the model expects it to read ROI" in said


@pytest.mark.parametrize(
    ("design", "message"),
    [
        ({"channel": "tv"}, "not a test design"),
        (None, "no such design file"),
    ],
)
def test_bad_design_files_exit_2_before_planning(
    geo_run: tuple[Path, Path], tmp_path: Path, design: dict[str, str] | None, message: str
) -> None:
    path = tmp_path / "design.json"
    if design is not None:
        path.write_text(json.dumps(design), encoding="utf-8")
    result = margin("optimize", "--run", str(geo_run[0]), "--test-design", str(path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "optimality checks" not in words(result.stdout)  # refused before planning
    assert "Traceback" not in result.stderr


def test_a_national_run_cannot_value_a_geo_test(tmp_path: Path) -> None:
    run = small_run(tmp_path)
    design = {
        "design_id": "d1", "channel": "tv", "kind": "heavy_up", "treatment_geos": ["north"],
        "length_periods": 2, "grain_days": 7, "constraints": {"budget": 1000.0}, "roi_se": 0.4,
    }  # fmt: skip
    (tmp_path / "design.json").write_text(json.dumps(design), encoding="utf-8")
    result = margin("optimize", "--run", str(run.path), "--test-design",
                    str(tmp_path / "design.json"))  # fmt: skip
    assert result.returncode == 2
    assert "fitted on one series" in result.stderr
    assert "optimality checks" not in words(result.stdout)  # refused before planning
