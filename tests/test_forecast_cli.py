"""``margin forecast`` as a user runs it: the next weeks' KPI, what-ifs, and a backtest."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _decide import HOLDOUT_WEEKS, SmallRun, small_run
from test_optimize_cli import in_process

FLOAT_RTOL = 1e-9
"""The command is thin: its figures are the API's to rounding."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SmallRun:
    return small_run(tmp_path_factory.getbasetemp())


def _forecast(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, run: SmallRun, *args: str
) -> tuple[dict[str, object], str]:
    out = tmp_path / "forecast.json"
    code, stdout, err = in_process(
        capsys, "forecast", "--run", str(run.path), *args, "--out", str(out)
    )
    assert code == 0, stdout + err
    document: dict[str, object] = json.loads(out.read_text())
    return document, stdout


def test_forecast_of_the_current_plan_is_the_apis(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from margin.mmm.response import load_response
    from margin.optimize import forecast
    from margin.optimize.problem import current_plan

    document, stdout = _forecast(capsys, tmp_path, run, "--weeks", "6", "--seed", "4")
    response = load_response(run.path, max_draws=1000)
    oracle = forecast(response, current_plan(response, 6), seed=4).to_json()
    assert document["kind"] == "forecast"
    start = date.fromisoformat(str(document["start"]))
    assert start == response.start
    assert document["dates"] == [(start + timedelta(weeks=k)).isoformat() for k in range(6)]
    total = document["total"]
    assert isinstance(total, dict)
    for key in ("mean", "p05", "p95"):
        np.testing.assert_allclose(total[key], oracle["total"][key], rtol=FLOAT_RTOL)
    assert all(
        lo <= m <= hi for lo, m, hi in zip(total["p05"], total["mean"], total["p95"], strict=True)
    )
    np.testing.assert_allclose(
        np.add(document["baseline"], document["media"]), total["mean"], rtol=FLOAT_RTOL
    )
    horizon = document["horizon_total"]
    assert isinstance(horizon, dict)
    assert horizon["p05"] < horizon["mean"] < horizon["p95"]
    text = " ".join(stdout.split())
    assert "6 weeks together: KPI" in text
    assert "spend: the current plan" in text


def test_a_what_if_moves_only_the_media_part(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = _forecast(capsys, tmp_path, run, "--weeks", "5")
    more, stdout = _forecast(capsys, tmp_path, run, "--weeks", "5", "--change", "tv=+50%")
    np.testing.assert_allclose(more["baseline"], base["baseline"], rtol=FLOAT_RTOL)
    assert np.all(np.greater(more["media"], base["media"]))  # more TV, more media KPI
    spend, before = more["spend"], base["spend"]
    assert isinstance(spend, dict)
    assert isinstance(before, dict)
    assert spend["tv"] == pytest.approx(1.5 * before["tv"], rel=FLOAT_RTOL)
    assert spend["search"] == pytest.approx(before["search"], rel=FLOAT_RTOL)
    assert "the current plan with tv=+50%" in " ".join(stdout.split())


def test_backtest_scores_the_held_out_weeks_with_their_actual_spend_and_controls(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document, stdout = _forecast(capsys, tmp_path, run, "--backtest")
    assert document["kind"] == "backtest"
    assert document["weeks"] == HOLDOUT_WEEKS
    held_out = slice(run.data.n_times - HOLDOUT_WEEKS, None)
    actual = run.data.kpi[:, held_out].sum(axis=0)
    np.testing.assert_allclose(document["actual"], actual, rtol=FLOAT_RTOL)
    spend = document["spend"]
    assert isinstance(spend, dict)
    for c, name in enumerate(run.data.channels):
        assert spend[name] == pytest.approx(run.data.spend[:, held_out, c].sum(), rel=FLOAT_RTOL)
    total = document["total"]
    assert isinstance(total, dict)
    errors = [(f - a) / a for f, a in zip(total["mean"], actual, strict=True)]
    assert document["mape"] == pytest.approx(np.mean(np.abs(errors)), rel=FLOAT_RTOL)
    assert document["bias"] == pytest.approx(np.mean(errors), rel=FLOAT_RTOL)
    assert 0.0 <= float(document["coverage"]) <= 1.0  # type: ignore[arg-type]
    assert float(document["mape"]) < BACKTEST_MAPE  # type: ignore[arg-type]
    text = " ".join(stdout.split())  # rich wraps lines at the terminal's width
    assert "controls as known for the first 4 weeks" in text
    assert "of the geo-weeks inside their 90% band" in text


BACKTEST_MAPE = 0.1
"""The small run's forecast of its 4 held-out weeks, with their actual spend and
controls, within 10% a week on average (the fit's own in-sample error is a few %)."""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--backtest", "--change", "tv=+10%"), "without --change, --plan or --controls"),
        (("--backtest", "--controls", "future.csv"), "without --change, --plan or --controls"),
        (("--change", "tv=+10%", "--plan", "plan.csv"), "not both"),
        (("--change", "radio=+10%"), "unknown channel 'radio'"),
        (("--weeks", "0"), "weeks = 0"),
    ],
)
def test_bad_requests_exit_2_with_one_line(
    run: SmallRun, args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = in_process(capsys, "forecast", "--run", str(run.path), *args)
    assert code == 2, stdout + err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_backtest_of_a_run_fitted_on_every_week_says_how_to_get_one(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "all-weeks"
    shutil.copytree(run.path, folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["fitted_weeks"], meta["holdout_weeks"] = len(meta["dates"]), 0
    (folder / "model.json").write_text(json.dumps(meta))
    code, _, err = in_process(capsys, "forecast", "--run", str(folder), "--backtest")
    assert code == 2
    assert "--holdout-weeks" in err
    assert len(err.strip().splitlines()) == 1


def test_known_future_controls_move_the_baseline_of_their_weeks(
    run: SmallRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A holiday announced for the second forecast week raises that week's baseline only
    (the model's holiday effect is positive on this world), and the output says so."""
    from margin.mmm.response import load_response

    response = load_response(run.path)
    level = response.control_level[0]  # the 13-week means the forecast holds otherwise
    names = response.control_names
    rows = [
        {"date": (response.start + timedelta(weeks=w)).isoformat(), "name": name,
         "value": (1.0 if (name == "holiday" and w == 1) else level[c])}
        for w in range(2) for c, name in enumerate(names)
    ]  # fmt: skip
    path = tmp_path / "future.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    plain, _ = _forecast(capsys, tmp_path, run, "--weeks", "4")
    told, stdout = _forecast(capsys, tmp_path, run, "--weeks", "4", "--controls", str(path))
    base, with_holiday = np.asarray(plain["baseline"]), np.asarray(told["baseline"])
    np.testing.assert_allclose(with_holiday[[0, 2, 3]], base[[0, 2, 3]], rtol=1e-6)
    assert with_holiday[1] > base[1] * (1 + HOLIDAY_LIFT)
    assert "controls as known for the first 2 weeks" in " ".join(stdout.split())
    bad = tmp_path / "bad.csv"
    pd.DataFrame(rows).drop(columns="value").to_csv(bad, index=False)
    code, _, err = in_process(capsys, "forecast", "--run", str(run.path), "--controls", str(bad))
    assert code == 2
    assert str(bad) in err
    assert "lacks column(s) ['value']" in err
    assert len(err.strip().splitlines()) == 1


HOLIDAY_LIFT = 0.02
"""The simulated world's holiday weeks sell well above others; the fitted effect shows it."""
