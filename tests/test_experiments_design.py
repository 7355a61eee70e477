"""Power by simulation on the history, test design, and the ``margin experiment`` commands."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm  # type: ignore[import-untyped,unused-ignore]

from _cli import margin, words
from margin.errors import ConfigError, DataValidationError
from margin.experiments import DesignSpec, design_test, simulate_geo_panel, simulate_power
from margin.experiments.panel import GeoPanel
from margin.experiments.power import wilson_interval

LEVEL = 0.9


def _arrays(seed: int, n_times: int = 80) -> tuple[np.ndarray, np.ndarray]:
    sim = simulate_geo_panel(10, n_times, seed=seed, test_length=10)
    treated = [sim.panel.geos.index(g) for g in sim.treated]
    controls = [i for i in range(10) if i not in treated]
    return sim.panel.kpi[treated].sum(axis=0), sim.panel.kpi[controls]


@pytest.mark.parametrize("method", ["ascm", "tbr"])
def test_false_positive_rate_at_zero_lift_matches_the_level(method: str) -> None:
    """Non-overlapping windows (stride = length) over many independent histories."""
    rejections, windows = 0.0, 0
    for seed in range(30):
        y, controls = _arrays(seed)
        result = simulate_power(y, controls, 10, method=method, min_pre=30, stride=10)
        rejections += result.false_positive_rate * result.n_windows
        windows += result.n_windows
    assert windows == 150
    # Monte-Carlo tolerance: 3 binomial sd at n=150 is about 0.075
    assert abs(rejections / windows - (1 - LEVEL)) <= 0.075


def test_power_is_monotone_and_the_mde_reaches_the_target() -> None:
    y, controls = _arrays(1, n_times=90)
    result = simulate_power(y, controls, 10, min_pre=30, stride=2)
    assert np.all(np.diff(result.power) >= 0)
    assert result.power[0] <= result.false_positive_rate
    assert result.power[-1] == 1.0
    assert result.power_at(result.mde) >= 0.8
    assert result.power_at(result.mde * 0.999) < 0.8 or result.mde == 0.0
    assert result.mde_low <= result.mde <= result.mde_high
    dark = simulate_power(y, controls, 10, min_pre=30, stride=2, direction=-1)
    assert np.all(np.diff(dark.power) >= 0)
    assert np.all(dark.effects <= 0)


def test_injected_lift_shifts_the_estimate_exactly() -> None:
    """The shortcut behind the power curve: re-running with the lift added gives the same call."""
    from margin.experiments.analysis import analyze_window

    y, controls = _arrays(2, n_times=60)
    base, _ = analyze_window(y, controls, 50, 60, "ascm", LEVEL)
    lifted = y.copy()
    lifted[50:60] *= 1.03
    shifted, _ = analyze_window(lifted, controls, 50, 60, "ascm", LEVEL)
    assert shifted.estimate == pytest.approx(base.estimate + 0.03 * y[50:60].sum(), rel=1e-9)
    assert shifted.half_width == pytest.approx(base.half_width, rel=1e-12)


def test_short_history_is_refused() -> None:
    y, controls = _arrays(0, n_times=30)
    with pytest.raises(DataValidationError, match="needs at least"):
        simulate_power(y, controls, 10)


def test_wilson_interval_matches_a_naive_inversion() -> None:
    low, high = wilson_interval(3, 20)
    z = 1.6448536269514722
    grid = np.linspace(0, 1, 200_001)
    inside = grid[np.abs(0.15 - grid) <= z * np.sqrt(grid * (1 - grid) / 20)]
    assert low == pytest.approx(inside.min(), abs=1e-5)
    assert high == pytest.approx(inside.max(), abs=1e-5)


def test_design_respects_constraints_and_is_reproducible() -> None:
    sim = simulate_geo_panel(12, 70, seed=5, test_length=7)
    spec = DesignSpec(
        channel="tv",
        lengths=(7,),
        n_treated=(2, 3),
        must_treat=("g001",),
        never_treat=("g002", "g003"),
        budget=2000.0,
        roi=1.5,
        n_candidates=2,
    )
    design = design_test(sim.panel, spec)
    assert "g001" in design.treated
    assert not {"g002", "g003"} & set(design.treated)
    assert len(design.treated) in (2, 3)
    assert design.length == 7
    assert set(design.treated) | set(design.controls) == set(sim.panel.geos)
    payload = design.to_json()
    assert payload["design_id"].startswith("tv-heavy_up-")
    assert payload["spend_needed"]["mean"] == pytest.approx(design.power.mde_absolute / 1.5)
    assert payload["spend_needed"]["p05"] <= payload["spend_needed"]["mean"]
    assert payload["spend_needed"]["mean"] <= payload["spend_needed"]["p95"]
    assert set(payload["matched_markets"]) == set(design.treated)
    assert design_test(sim.panel, spec).to_json() == payload


def test_go_dark_design_uses_the_panel_spend() -> None:
    sim = simulate_geo_panel(8, 50, seed=6, test_length=7)
    spend = np.full_like(sim.panel.kpi, 10.0)
    panel = GeoPanel(sim.panel.dates, sim.panel.geos, sim.panel.kpi, spend, 1, "with spend")
    spec = DesignSpec(channel="tv", lengths=(7,), kind="go_dark", roi=2.0, n_candidates=2)
    design = design_test(panel, spec)
    assert np.all(design.power.effects <= 0)
    removed = 10.0 * 7 * len(design.treated)
    assert design.min_detectable_roi == pytest.approx(design.power.mde_absolute / removed)
    # the MDE is 1.645 + 0.842 standard errors at a 90% level and 80% power (scipy's normal)
    z = norm.ppf(0.95) + norm.ppf(0.8)
    assert design.roi_se == pytest.approx(design.min_detectable_roi / z, rel=1e-12)
    assert design.to_json()["roi_se"] == design.roi_se
    assert design.power_at_budget is not None


def test_design_errors_are_clear() -> None:
    sim = simulate_geo_panel(6, 70, seed=5, test_length=7)
    with pytest.raises(ConfigError, match="both"):
        DesignSpec(channel="tv", lengths=(7,), must_treat=("a",), never_treat=("a",))
    with pytest.raises(ConfigError, match="kind"):
        DesignSpec(channel="tv", lengths=(7,), kind="sideways")
    with pytest.raises(ConfigError, match="impossible"):
        design_test(sim.panel, DesignSpec(channel="tv", lengths=(7,), n_treated=(5,)))
    with pytest.raises(ConfigError, match="not in the panel"):
        design_test(sim.panel, DesignSpec(channel="tv", lengths=(7,), must_treat=("zz",)))
    with pytest.raises(DataValidationError, match="periods of history"):
        design_test(sim.panel, DesignSpec(channel="tv", lengths=(30,)))


# --- CLI ---------------------------------------------------------------------------------


def _write_panel(path: Path, lift: float) -> date:
    sim = simulate_geo_panel(8, 63, seed=11, lift=lift, test_length=7)
    lines = ["date,geo,kpi"]
    for t, day in enumerate(sim.panel.dates):
        lines += [f"{day},{g},{sim.panel.kpi[i, t]:.4f}" for i, g in enumerate(sim.panel.geos)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sim.start


def test_cli_design_analyze_list_round_trip(tmp_path: Path) -> None:
    start = _write_panel(tmp_path / "panel.csv", 0.2)
    history = tmp_path / "history.csv"
    rows = (tmp_path / "panel.csv").read_text().splitlines()
    history.write_text("\n".join(r for r in rows if r < f"{start}" or r.startswith("date")) + "\n")
    design = margin(
        "experiment", "design", "--panel", "history.csv", "--channel", "tv",
        "--weeks", "1", "--candidates", "3", "--budget", "1000", "--roi", "2",
        "--out", "design.json", cwd=tmp_path,
    )  # fmt: skip
    assert design.returncode == 0, design.stderr
    plan = json.loads((tmp_path / "design.json").read_text())
    assert plan["length_periods"] == 7
    assert "mde_percent" in plan["power"]
    # the MDE is 1.645 + 0.842 standard errors at the defaults (90% level, 80% power)
    assert plan["roi_se"] == pytest.approx(plan["min_detectable_roi"]["mean"] / 2.4866, rel=1e-4)
    assert f"--test-se tv={plan['roi_se']:.3g}" in words(design.stdout)
    analyze = margin(
        "experiment", "analyze", "--panel", "panel.csv", "--design", "design.json",
        "--start", str(start), "--spend-delta", "500", "--out", "lift.json", cwd=tmp_path,
    )  # fmt: skip
    assert analyze.returncode == 0, analyze.stderr
    lift = json.loads((tmp_path / "lift.json").read_text())
    for key in ("cumulative_lift", "percent_lift", "incremental_roi"):
        assert set(lift[key]) == {"mean", "p05", "p95"}
    assert isinstance(lift["p_value"], float)
    assert lift["method"] == "ascm"
    assert lift["treatment_geos"] == plan["treatment_geos"]
    assert lift["end"] == str(start + timedelta(days=6))
    assert lift["registry"]["design_id"] == plan["design_id"]
    listed = margin("experiment", "list", "--export", "robyn", "--out", "reg.json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    registry = json.loads((tmp_path / "reg.json").read_text())
    assert registry["experiments"][0]["id"] == lift["registry"]["id"]
    assert registry["robyn"][0]["liftStartDate"] == str(start)


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    start = _write_panel(tmp_path / "panel.csv", 0.0)
    bad = margin(
        "experiment", "analyze", "--panel", "panel.csv", "--treated", "g001,nowhere",
        "--start", str(start), "--end", str(start + timedelta(days=6)), "--no-record", cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "nowhere" in bad.stderr
    assert "Traceback" not in bad.stderr
    weeks = margin(
        "experiment",
        "design",
        "--panel",
        "panel.csv",
        "--channel",
        "tv",
        "--weeks",
        "x",
        cwd=tmp_path,
    )
    assert weeks.returncode == 2
    assert "--weeks" in weeks.stderr


def test_cli_ab_matches_the_library(tmp_path: Path) -> None:
    out = margin("experiment", "ab", "--treated", "230/10000", "--holdout", "180/10000",
                 "--out", "ab.json", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    payload = json.loads((tmp_path / "ab.json").read_text())
    assert payload["method"] == "two_proportion_z"
    assert payload["lift"]["mean"] == pytest.approx(0.005)
