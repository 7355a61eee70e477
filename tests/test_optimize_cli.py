"""``margin optimize``, ``scenario`` and ``frontier`` as a user runs them, on a small fitted run.

The plan itself runs the real entry point in a subprocess; the other commands run the same
entry point (``margin.cli.main.run``) in-process, which skips a JAX start-up per command.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from _cli import margin, words
from _decide import SmallRun, small_run
from margin.data.workspace.store import Workspace

CSV_CENT = 0.005
"""The CSV plan rounds each cell to cents."""


def made_workspace(path: Path) -> Path:
    """An empty workspace at ``path`` (``optimize -w`` records into one, never creates it)."""
    Workspace(path).close()
    return path


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``margin ARGS…`` through ``margin.cli.main.run`` in-process: exit code, stdout, stderr."""
    from margin.cli.main import run

    saved, sys.argv = sys.argv, ["margin", *args]
    environment = dict(os.environ)  # run() sets JAX variables for the process: restore them
    try:
        run()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
        os.environ.clear()
        os.environ.update(environment)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SmallRun:
    return small_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def planned(run: SmallRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("plan")
    made = margin("init", "--workspace", str(folder / "ws.duckdb"))  # -w never creates one
    assert made.returncode == 0, made.stderr
    result = margin(
        "optimize", "--run", str(run.path), "--weeks", "13", "--bounds", "tv=0.5:1.5",
        "--out", str(folder / "plan.json"), "--workspace", str(folder / "ws.duckdb"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def test_plan_json_keeps_the_contract(run: SmallRun, planned: tuple[Path, str]) -> None:
    folder, stdout = planned
    document = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    last = run.data.dates[-1]
    assert document["start"] == str(last + np.timedelta64(7, "D"))
    assert document["weeks"] == 13
    assert document["run_id"].startswith("mmm-")
    assert set(document["allocation"]) == set(run.data.channels)
    current = sum(a["current_spend"] for a in document["allocation"].values())
    assert document["budget"] == pytest.approx(current)  # no --budget: the current plan's
    for entry in document["allocation"].values():
        assert entry["mroi"]["p05"] <= entry["mroi"]["mean"] <= entry["mroi"]["p95"]
    for key in ("expected_kpi", "expected_gain"):
        stat = document[key]
        assert stat["p05"] <= stat["mean"] <= stat["p95"]
    assert 0 <= document["p_beats_current"] <= 1
    assert document["checks"]["passed"] is True
    weekly = document["weekly_kpi"]
    assert len(weekly["dates"]) == 13
    assert weekly["dates"][0] == document["start"]
    assert len(weekly["mean"]) == len(weekly["p05"]) == len(weekly["p95"]) == 13
    # the table's cells are checked in the JSON above; the lines outside it, however wrapped
    said = words(stdout)
    assert "current plan" in said
    assert "P(beats current)" in said
    assert "optimality checks passed" in said
    assert isinstance(document["caveats"], list)
    for caveat in document["caveats"]:  # every caveat is said on the terminal too
        assert caveat[:40] in said
    if document["expected_gain"]["mean"] > 0:
        assert any("optimizer's curse" in c for c in document["caveats"])


def test_csv_plan_sums_to_the_budget_and_the_plan_is_recorded(planned: tuple[Path, str]) -> None:
    folder, _ = planned
    document = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    with (folder / "plan.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 13 * 5
    total = sum(float(r["spend"]) for r in rows)
    assert total == pytest.approx(document["budget"], abs=CSV_CENT * len(rows))
    assert rows[0]["week_start"] == document["start"]
    with Workspace(folder / "ws.duckdb", read_only=True) as ws:
        kinds = ws.fetch("SELECT kind, status FROM runs")
    assert kinds == [("plan", "ok")]


def test_a_recorded_plan_without_out_keeps_its_file_in_the_run_folder(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = in_process(
        capsys, "optimize", "--run", str(run.path), "--weeks", "4",
        "--workspace", str(made_workspace(tmp_path / "ws.duckdb")),
    )  # fmt: skip
    assert code == 0, err
    with Workspace(tmp_path / "ws.duckdb", read_only=True) as ws:
        (path,) = ws.fetch("SELECT artifact_path FROM runs WHERE kind = 'plan'")[0]
    plan_file = Path(path)
    assert plan_file.name == "plan.json"
    assert plan_file.is_relative_to(run.path.resolve() / "plans")
    assert json.loads(plan_file.read_text(encoding="utf-8"))["weeks"] == 4


def test_scenario_of_the_plan_csv_predicts_the_plans_kpi(
    run: SmallRun, planned: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = planned
    document = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    out = folder / "scenario.json"
    code, _, err = in_process(capsys, "scenario", "--run", str(run.path), "--plan",
                              str(folder / "plan.csv"), "--out", str(out))  # fmt: skip
    assert code == 0, err
    scenario = json.loads(out.read_text(encoding="utf-8"))
    assert scenario["kpi"]["mean"] == pytest.approx(document["expected_kpi"]["mean"], rel=1e-6)
    assert scenario["gain"]["mean"] == pytest.approx(document["expected_gain"]["mean"], rel=1e-3)
    changes = ("--change", "social=+20%", "--change", "search=-10%")
    code, stdout, err = in_process(
        capsys, "scenario", "--run", str(run.path), *changes, "--out", str(out)
    )
    assert code == 0, err
    scenario = json.loads(out.read_text(encoding="utf-8"))
    assert scenario["spend"]["social"] == pytest.approx(1.2 * scenario["current_spend"]["social"])
    assert scenario["spend"]["tv"] == pytest.approx(scenario["current_spend"]["tv"])
    assert "P(beats current)" in words(stdout)


def test_frontier_spends_each_budget_and_marks_a_recommended_point(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "frontier.json"
    code, stdout, err = in_process(capsys, "frontier", "--run", str(run.path), "--from", "2e6",
                                   "--to", "1.2e7", "--points", "4", "--out", str(out))  # fmt: skip
    assert code == 0, err
    frontier = json.loads(out.read_text(encoding="utf-8"))
    budgets = [p["budget"] for p in frontier["points"]]
    assert budgets == pytest.approx(np.linspace(2e6, 1.2e7, 4).tolist())
    for point in frontier["points"]:
        assert sum(point["spend"].values()) == pytest.approx(point["budget"], rel=1e-6)
    kpis = [p["kpi"]["mean"] for p in frontier["points"]]
    assert kpis == sorted(kpis)
    assert 0 <= frontier["recommended"] < 4
    assert "recommended budget" in words(stdout)


def test_value_of_information_ranks_channels_and_names_a_test(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.json"
    code, stdout, err = in_process(capsys, "optimize", "--run", str(run.path),
                                   "--value-of-information", "--test-se", "tv=0.4",
                                   "--out", str(out))  # fmt: skip
    assert code == 0, err
    document = json.loads(out.read_text(encoding="utf-8"))
    information = document["value_of_information"]
    assert set(information["channels"]) == set(run.data.channels)
    values = [c["value"]["mean"] for c in information["channels"].values()]
    assert values == sorted(values, reverse=True)  # highest first
    for entry in information["channels"].values():
        assert entry["value"]["p05"] <= entry["value"]["mean"] <= entry["value"]["p95"]
        assert entry["value"]["mean"] >= 0  # a group may always keep the recommended plan
        assert len(entry["group_spend"]) == information["groups"] == 4
        assert entry["group_mroi"] == sorted(entry["group_mroi"])
    assert information["draws"] == 120  # the small run's draws (FIT_SETTINGS), none thinned
    tv = information["channels"]["tv"]
    assert tv["test_se"] == 0.4
    assert tv["test_value"]["mean"] >= 0
    assert all(c["test_value"] is None for n, c in information["channels"].items() if n != "tv")
    # the table (each channel's value, the planned test's "(se 0.4") is checked in the JSON
    # above: where Rich wraps a cell depends on the terminal; the lines outside it do not
    said = words(stdout)
    assert "noise floor (draws grouped at random)" in said
    if information["best"] is not None:
        assert f"experiment design --channel {information['best']}" in said
    else:
        assert "no channel's return is worth learning" in said


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("optimize", "--bounds", "radio=0.5:2"), "unknown channel(s) ['radio']"),
        (("optimize", "--budget", "-5"), "budget = -5"),
        (("optimize", "--target-kpi", "1e7", "--min-roi", "1.2"), "one target at a time"),
        (("optimize", "--budget", "1e9", "--bounds", "tv=0:1", "--bounds", "search=0:1",
          "--bounds", "social=0:1", "--bounds", "display=0:1", "--bounds", "video=0:1"),
         "below the budget"),
        (("optimize", "--value-of-information", "--risk", "cvar"), "Use --risk mean"),
        (("optimize", "--value-of-information", "--max-draws", "50"), "Raise --max-draws"),
        (("optimize", "--test-se", "tv=abc"), "cannot read the test standard error"),
        (("optimize", "--test-se", "radio=0.2"), "unknown channel(s) ['radio']"),
        (("scenario", "--change", "radio=+10%"), "unknown channel 'radio'"),
        (("scenario",), "give spend changes"),
    ],
)  # fmt: skip
def test_bad_requests_exit_2_with_one_line(
    run: SmallRun, args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = in_process(capsys, *args[:1], "--run", str(run.path), *args[1:])
    assert code == 2, stdout + err
    assert message in err
    assert "optimality checks" not in words(stdout)  # refused before planning, not after
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    result = margin("optimize", "--run", str(tmp_path))
    assert result.returncode == 2
    assert "lacks" in result.stderr
    assert "refit" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_known_future_controls_move_the_kpi_level_not_the_plan_or_the_gain(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The baseline is the same under every plan, so a holiday announced for the horizon
    raises the expected KPI of the plan and the current plan alike and leaves the
    allocation and the gain where they were."""
    import pandas as pd

    from margin.mmm.response import load_response

    response = load_response(run.path)
    weeks = [(response.start + timedelta(weeks=w)).isoformat() for w in range(2)]
    rows = [{"date": week, "name": "holiday", "value": 1.0} for week in weeks]
    level = dict(zip(response.control_names, response.control_level[0], strict=True))
    rows += [{"date": week, "name": "price", "value": level["price"]} for week in weeks]
    path = tmp_path / "future.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    documents = {}
    for label, extra in (("plain", ()), ("told", ("--controls", str(path)))):
        for command in ("optimize", "scenario"):
            out = tmp_path / f"{command}-{label}.json"
            more = ("--change", "tv=+30%") if command == "scenario" else ()
            code, stdout, err = in_process(
                capsys, command, "--run", str(run.path), "--weeks", "6", *more, *extra,
                "--out", str(out),
            )  # fmt: skip
            assert code == 0, stdout + err
            documents[command, label] = json.loads(out.read_text())
    plain, told = documents["optimize", "plain"], documents["optimize", "told"]
    assert told["expected_kpi"]["mean"] > plain["expected_kpi"]["mean"] * (1 + HOLIDAY_LIFT)
    for name, entry in plain["allocation"].items():
        assert told["allocation"][name]["spend"] == pytest.approx(entry["spend"], rel=1e-4)
    assert told["expected_gain"]["mean"] == pytest.approx(plain["expected_gain"]["mean"], rel=1e-4)
    assert "controls as known for the first 2 weeks" in told["baseline_note"]
    plain, told = documents["scenario", "plain"], documents["scenario", "told"]
    assert told["kpi"]["mean"] > plain["kpi"]["mean"]
    assert told["gain"] == pytest.approx(plain["gain"], rel=1e-6)


HOLIDAY_LIFT = 0.005
"""Two holiday weeks in six lift the horizon's KPI visibly on this world (fitted effect > 0)."""


def test_default_bounds_are_said_and_can_be_widened_or_lifted(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plans = {}
    for name, extra in (
        ("default", ()),
        ("wide", ("--max-change", "100%")),
        ("unbounded", ("--unbounded",)),
    ):
        out = tmp_path / f"{name}.json"
        code, stdout, err = in_process(
            capsys, "optimize", "--run", str(run.path), "--weeks", "8", *extra,
            "--out", str(out), "--workspace", str(made_workspace(tmp_path / "ws.duckdb")),
        )  # fmt: skip
        assert code == 0, err
        plans[name] = (json.loads(out.read_text(encoding="utf-8")), words(stdout))
    default, said = plans["default"]
    assert default["request"]["max_change"] == 0.5
    assert default["headline"], "the plan says its bounds in a headline"
    assert words(default["headline"][0]) in said  # printed as a sentence, not in a table
    assert "--max-change" in said
    for a in default["allocation"].values():
        if a["current_spend"] > 0:
            assert (
                0.5 * a["current_spend"] * 0.999 <= a["spend"] <= 1.5 * a["current_spend"] * 1.001
            )
    assert plans["wide"][0]["request"]["max_change"] == 1.0
    assert plans["unbounded"][0]["request"]["max_change"] is None


def test_unbounded_and_max_change_together_are_refused(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = in_process(
        capsys, "optimize", "--run", str(run.path), "--unbounded", "--max-change", "80%",
        "--workspace", str(made_workspace(tmp_path / "ws.duckdb")),
    )  # fmt: skip
    assert code == 2
    assert "contradict" in err
    assert "Traceback" not in err
