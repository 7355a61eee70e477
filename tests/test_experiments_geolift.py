"""GeoLift parity: ``method="geolift"`` reproduces GeoLift's walkthrough numbers.

GeoLift's walkthrough (``vignettes/GeoLift_Walkthrough.md``) analyses ``GeoLift_Test.csv``
with chicago and portland treated from 2021-04-01 to 2021-04-15 (times 91-105) and its
default model (augsynth, no prognostic function, fixed effects) and reports 4,667
incremental units, a 5.4% lift and an ATT of 155.6. The published figures are rounded
(to the unit, 0.1% and 0.1): the tolerances are half a unit of the last printed digit
plus a little for the quadratic program's solver (GeoLift's augsynth solves it with OSQP,
margin with non-negative least squares), i.e. 0.2% of the incremental units.

GeoLift's MMM-calibration whitepaper (``Whitepapers/MMM Calibration/GeoLift_Calibration.pdf``)
prints its two studies' incremental totals to the unit (7,159,530 and -3,366,433) and the
go-dark study's weights to four significant digits: those match to 0.01% and 1e-4.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from margin.errors import ConfigError
from margin.experiments import analyze, load_panel_csv, simulate_geo_panel
from margin.experiments.analysis import METHODS, counterfactual_for
from margin.experiments.estimators import geolift_counterfactual, geolift_weights

TREATED = ["chicago", "portland"]


def _walkthrough(shared_data: Path, method: str, inference: str = "placebo_t") -> object:
    panel = load_panel_csv(
        shared_data / "geolift" / "GeoLift_Test.csv", geo_column="location", kpi_column="Y"
    )
    return analyze(
        panel,
        TREATED,
        date(2021, 4, 1),
        date(2021, 4, 15),
        method=method,
        inference=inference,
        space_placebos=False,
    )


def test_geolift_reproduces_the_walkthrough(shared_data: Path) -> None:
    from margin.experiments.analysis import LiftResult

    result = _walkthrough(shared_data, "geolift")
    assert isinstance(result, LiftResult)
    assert result.n_pre == 90
    assert result.n_test == 15
    assert result.cumulative_lift.mean == pytest.approx(4667, abs=10)
    assert result.percent_lift.mean == pytest.approx(5.4, abs=0.06)
    assert result.att.mean == pytest.approx(155.6, abs=0.3)
    # an interval and a p-value like the other methods; GeoLift reports p = 0.01
    assert result.cumulative_lift.low > 0
    assert result.p_value < 0.05
    assert result.cumulative_lift.low < 4667 < result.cumulative_lift.high


def test_geolift_differs_from_ascm_on_the_walkthrough(shared_data: Path) -> None:
    from margin.experiments.analysis import LiftResult

    ascm = _walkthrough(shared_data, "ascm")
    assert isinstance(ascm, LiftResult)
    # margin's ASCM (rescaled controls plus a ridge step) lands elsewhere: ~5,808
    assert ascm.cumulative_lift.mean > 5000


def test_geolift_is_a_method() -> None:
    assert "geolift" in METHODS
    sim = simulate_geo_panel(8, 60, seed=3, lift=0.05, test_length=10)
    result = analyze(
        sim.panel, list(sim.treated), sim.start, sim.end, method="geolift", space_placebos=True
    )
    assert result.method == "geolift"
    assert result.to_json()["method"] == "geolift"
    assert np.isfinite(result.cumulative_lift.low)
    assert np.isfinite(result.cumulative_lift.high)
    assert result.placebo_in_space["n_placebos"] > 0
    conformal = analyze(
        sim.panel,
        list(sim.treated),
        sim.start,
        sim.end,
        method="geolift",
        inference="conformal",
        space_placebos=False,
    )
    assert conformal.cumulative_lift.mean == pytest.approx(result.cumulative_lift.mean)
    with pytest.raises(ConfigError, match="analytic_t"):
        analyze(
            sim.panel,
            list(sim.treated),
            sim.start,
            sim.end,
            method="geolift",
            inference="analytic_t",
        )


def test_geolift_fits_the_treated_average_on_demeaned_controls() -> None:
    rng = np.random.default_rng(0)
    controls = rng.normal(100.0, 5.0, size=(5, 40)) + np.arange(5)[:, None] * 50.0
    # two treated geos = 0.3·c0 + 0.7·c3 (de-meaned) around their own levels 400 and 600
    shape = 0.3 * controls[0] + 0.7 * controls[3]
    shape = shape - shape[:30].mean()
    y = (400.0 + shape) + (600.0 + shape)
    mask = np.arange(40) < 30
    fitted = geolift_counterfactual(y, controls, mask, n_treated=2)
    np.testing.assert_allclose(fitted, y, atol=1e-6)
    # the same as the method's counterfactual with two treated geos
    np.testing.assert_allclose(counterfactual_for("geolift", 2)(y, controls, mask), fitted)


def test_geolift_power_fits_the_treated_average() -> None:
    from margin.experiments import DesignSpec, design_test, simulate_power

    sim = simulate_geo_panel(8, 70, seed=5, lift=0.0, test_length=10)
    idx = [sim.panel.geos.index(g) for g in sim.treated]
    rest = [i for i in range(sim.panel.n_geos) if i not in idx]
    y, controls = sim.panel.kpi[idx].sum(axis=0), sim.panel.kpi[rest]
    # power with two treated geos = power of their average scaled: relative MDEs agree
    summed = simulate_power(y, controls, 10, method="geolift", n_treated=2, stride=5)
    averaged = simulate_power(y / 2, controls, 10, method="geolift", n_treated=1, stride=5)
    assert summed.mde == pytest.approx(averaged.mde)
    spec = DesignSpec(channel="tv", lengths=(7,), method="geolift", n_candidates=2)
    assert design_test(sim.panel, spec).to_json()["method"] == "geolift"


def _whitepaper(shared_data: Path, name: str, treated: list[str]) -> tuple[float, object]:
    panel = load_panel_csv(
        shared_data / "geolift" / name,
        date_format="%d/%m/%y",
        geo_column="location",
        kpi_column="Y",
    )
    result = analyze(
        panel, treated, date(2021, 9, 1), date(2021, 9, 15), method="geolift", space_placebos=False
    )
    return result.cumulative_lift.mean, panel


def test_geolift_reproduces_the_whitepaper_studies(shared_data: Path) -> None:
    positive = [
        "atlanta",
        "austin",
        "boston",
        "chicago",
        "columbus",
        "denver",
        "detroit",
        "indianapolis",
        "jacksonville",
        "kansas city",
        "las vegas",
        "milwaukee",
        "new orleans",
        "oakland",
        "oklahoma city",
        "orlando",
        "phoenix",
        "reno",
        "saint paul",
        "san francisco",
    ]
    lift, _ = _whitepaper(shared_data, "data_positiveGLv1.csv", positive)
    assert lift == pytest.approx(7_159_530, rel=1e-4)
    dark = [
        "boston",
        "columbus",
        "detroit",
        "jacksonville",
        "kansas city",
        "milwaukee",
        "new orleans",
        "orlando",
        "saint paul",
        "salt lake city",
    ]
    lift, panel = _whitepaper(shared_data, "data_negativeGLv2.csv", dark)
    assert lift == pytest.approx(-3_366_433, rel=1e-4)
    from margin.experiments.panel import GeoPanel

    assert isinstance(panel, GeoPanel)
    t_idx = panel.geo_indices(dark, "treated")
    c_idx = [i for i in range(panel.n_geos) if i not in t_idx]
    weights = geolift_weights(
        panel.kpi[t_idx].mean(axis=0), panel.kpi[c_idx], np.arange(panel.n_times) < 90
    )
    by_geo = {panel.geos[c]: w for c, w in zip(c_idx, weights, strict=True)}
    published = {"minneapolis": 0.5032, "cleveland": 0.1222, "los angeles": 0.1206}
    for geo, weight in published.items():
        assert by_geo[geo] == pytest.approx(weight, abs=1e-4)


def test_the_cli_analyses_the_walkthrough_with_geolift(shared_data: Path, tmp_path: Path) -> None:
    from _cli import margin

    out = tmp_path / "lift.json"
    done = margin(
        "experiment", "analyze", "--panel", str(shared_data / "geolift" / "GeoLift_Test.csv"),
        "--geo-column", "location", "--kpi", "Y", "--treated", "chicago,portland",
        "--start", "2021-04-01", "--end", "2021-04-15", "--method", "geolift",
        "--out", str(out), "--no-record", "-w", str(tmp_path / "w.duckdb"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["method"] == "geolift"
    assert body["cumulative_lift"]["mean"] == pytest.approx(4667, abs=10)
