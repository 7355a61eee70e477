"""Geo panels, lift analysis (ASCM and TBR), inference agreement, A/B lift, registry."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from margin.data.workspace.store import Workspace
from margin.errors import ConfigError, DataValidationError
from margin.experiments import (
    analyze,
    export_calibration,
    list_experiments,
    load_panel_csv,
    load_panel_workspace,
    mean_lift,
    meridian_roi_prior,
    panel_from_frame,
    proportion_lift,
    record_experiment,
    simulate_geo_panel,
)
from margin.experiments.estimators import scm_counterfactual, simplex_least_squares
from margin.experiments.inference import (
    conformal_statistic,
    placebo_t_statistic,
    tbr_statistic,
)
from margin.experiments.panel import GeoPanel

WriteFile = Callable[[str, str | bytes], Path]

FLOAT64 = 1e-9
SOLVER = 1e-6  # nnls with a penalty row for sum-to-one
LEVEL = 0.9


def _csv(n_geos: int = 4, n_days: int = 30, spend: bool = True) -> str:
    rng = np.random.default_rng(0)
    lines = ["date,geo,kpi" + (",spend" if spend else "")]
    for t in range(n_days):
        day = date(2024, 1, 1) + timedelta(days=t)
        for g in range(n_geos):
            row = f"{day.isoformat()},geo{g},{100 + g + rng.normal():.3f}"
            lines.append(row + (f",{10 * g}" if spend else ""))
    return "\n".join(lines) + "\n"


def _frame_panel(kpi: np.ndarray, spend: np.ndarray | None = None) -> GeoPanel:
    dates = tuple(date(2024, 1, 1) + timedelta(days=t) for t in range(kpi.shape[1]))
    geos = tuple(f"g{i}" for i in range(kpi.shape[0]))
    return GeoPanel(dates, geos, kpi, spend, 1, "test")


# --- panel -------------------------------------------------------------------------------


def test_csv_panel_has_shapes_dates_and_spend(write_file: WriteFile) -> None:
    panel = load_panel_csv(write_file("p.csv", _csv()))
    assert panel.kpi.shape == (4, 30)
    assert panel.spend is not None
    assert panel.spend.shape == (4, 30)
    assert panel.spend[3, 0] == 30
    assert panel.geos == ("geo0", "geo1", "geo2", "geo3")
    assert panel.grain_days == 1
    assert panel.dates[0] == date(2024, 1, 1)
    assert panel.dates[-1] == date(2024, 1, 30)


def test_panel_with_a_missing_cell_is_a_gap(write_file: WriteFile) -> None:
    text = "\n".join(line for line in _csv().splitlines() if not line.startswith("2024-01-05,geo2"))
    with pytest.raises(DataValidationError, match=r"gaps.*geo2.*2024-01-05"):
        load_panel_csv(write_file("p.csv", text + "\n"))


def test_panel_with_a_missing_day_is_uneven(write_file: WriteFile) -> None:
    text = "\n".join(line for line in _csv().splitlines() if not line.startswith("2024-01-05"))
    with pytest.raises(DataValidationError, match="not evenly spaced"):
        load_panel_csv(write_file("p.csv", text + "\n"))


def test_panel_errors_name_the_problem(write_file: WriteFile) -> None:
    with pytest.raises(DataValidationError, match="2 geo"):
        load_panel_csv(write_file("a.csv", _csv(n_geos=2)))
    with pytest.raises(DataValidationError, match="missing column"):
        load_panel_csv(write_file("b.csv", "date,region,kpi\n2024-01-01,a,1\n"))
    bad = _csv().replace("2024-01-03,geo1,", "2024-01-03,geo1,abc", 1)
    with pytest.raises(DataValidationError, match="kpi"):
        load_panel_csv(write_file("c.csv", bad))
    duplicated = _csv() + "2024-01-01,geo0,5,0\n"
    with pytest.raises(DataValidationError, match="repeat"):
        load_panel_csv(write_file("d.csv", duplicated))


def test_workspace_panel_reads_geo_outcomes_and_spend(ws: Workspace) -> None:
    from margin.data.ingest.pipeline import ingest_frames

    days = pd.date_range("2024-01-01", periods=20, freq="D").date
    outcomes = pd.DataFrame(
        [(d, f"geo{g}", "sales", 100.0 + g) for d in days for g in range(3)],
        columns=["date", "geo", "kpi", "value"],
    )
    ingest_frames(ws, {"outcomes": outcomes}, file="mem", sha256="x" * 64, source="test")
    panel = load_panel_workspace(ws, "sales")
    assert panel.kpi.shape == (3, 20)
    assert panel.spend is None
    np.testing.assert_allclose(panel.kpi[:, 0], [100, 101, 102])
    with pytest.raises(DataValidationError, match="no geo-level outcomes for kpi 'orders'"):
        load_panel_workspace(ws, "orders")
    spend = pd.DataFrame(
        [(d, "geo1", "tv", "c1", "USD", 50.0, 0.0, 0.0) for d in days[:7]],
        columns=[
            "date",
            "geo",
            "channel",
            "campaign",
            "currency",
            "spend",
            "impressions",
            "clicks",
        ],
    )
    ingest_frames(ws, {"spend": spend}, file="mem2", sha256="y" * 64, source="test")
    with_spend = load_panel_workspace(ws, "sales", channel="tv")
    assert with_spend.spend is not None
    assert with_spend.spend.sum() == pytest.approx(350.0)
    assert with_spend.spend[0].sum() == 0.0
    weekly = load_panel_workspace(ws, "sales", weekly=True)  # 2 complete weeks of 20 days
    assert weekly.grain_days == 7
    np.testing.assert_allclose(weekly.kpi[:, 0], [700, 707, 714])
    with pytest.raises(DataValidationError, match="no spend for channel 'radio'"):
        load_panel_workspace(ws, "sales", channel="radio")


def test_public_names_are_sorted_and_importable() -> None:
    from margin import experiments

    assert experiments.__all__ == sorted(experiments.__all__)
    for name in experiments.__all__:
        assert getattr(experiments, name) is not None


# --- estimators --------------------------------------------------------------------------


def test_simplex_weights_match_scipy_slsqp() -> None:
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    design, target = rng.normal(size=(30, 5)), rng.normal(size=30)
    weights = simplex_least_squares(design, target)
    oracle = minimize(
        lambda w: float(((design @ w - target) ** 2).sum()),
        np.full(5, 0.2),
        bounds=[(0, 1)] * 5,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-14},
    )
    np.testing.assert_allclose(weights, oracle.x, atol=1e-4)
    assert weights.min() >= 0
    assert abs(weights.sum() - 1) < SOLVER


@pytest.mark.parametrize("method", ["ascm", "tbr"])
def test_exact_counterfactual_recovers_the_injected_lift(method: str) -> None:
    rng = np.random.default_rng(2)
    controls = 100 + np.cumsum(rng.normal(size=(6, 60)), axis=1)
    treated = 0.5 * controls[0] + 0.5 * controls[1] if method == "ascm" else 3 + 2 * controls.sum(0)
    kpi = np.vstack([treated, controls])
    kpi[0, 50:] += 7.0
    result = analyze(_frame_panel(kpi), ["g0"], date(2024, 2, 20), date(2024, 2, 29), method=method)
    assert result.cumulative_lift.mean == pytest.approx(70.0, rel=SOLVER)
    assert result.pre_rmse < SOLVER * 100
    assert result.pre_r2 == pytest.approx(1.0, abs=SOLVER)


def test_scm_weights_put_mass_on_the_matching_controls() -> None:
    rng = np.random.default_rng(3)
    controls = 50 + rng.normal(size=(5, 40)).cumsum(axis=1)
    y = 0.3 * controls[2] + 0.7 * controls[4]
    fitted = scm_counterfactual(y, controls, np.arange(40) < 30, ridge=0.0)
    np.testing.assert_allclose(fitted, y, atol=1e-4)


# --- inference ---------------------------------------------------------------------------


def test_conformal_interval_is_the_inverted_test() -> None:
    """Brute force: θ is in the interval exactly when p(θ) > 1 − level."""
    rng = np.random.default_rng(4)
    errors = rng.normal(size=29)
    stat = conformal_statistic(1.3, errors, LEVEL)
    for theta in np.linspace(-4, 6, 401):
        p = (1 + np.sum(np.abs(errors) >= abs(1.3 - theta))) / 30
        inside = abs(1.3 - theta) <= stat.half_width
        assert inside == (p > 1 - LEVEL), theta
    assert stat.p_value == pytest.approx((1 + np.sum(np.abs(errors) >= 1.3)) / 30, abs=FLOAT64)


def test_tbr_matches_the_ols_prediction_interval_oracle() -> None:
    rng = np.random.default_rng(5)
    x = 100 + rng.normal(size=50).cumsum()
    y = 5 + 0.8 * x + rng.normal(size=50)
    stat = tbr_statistic(y, x, 40, 50, LEVEL)
    fit = stats.linregress(x[:40], y[:40])
    residual = y[:40] - (fit.intercept + fit.slope * x[:40])
    sigma2 = residual @ residual / 38
    xbar = x[:40].mean()
    sxx = ((x[:40] - xbar) ** 2).sum()
    post = x[40:]
    # Var(Σ(y − ŷ)) = σ²·[L + L²/n + (Σ(x_t − x̄))² / Sxx]
    variance = sigma2 * (10 + 100 / 40 + ((post - xbar).sum()) ** 2 / sxx)
    estimate = (y[40:] - fit.intercept - fit.slope * post).sum()
    assert stat.estimate == pytest.approx(estimate, rel=FLOAT64)
    assert stat.scale == pytest.approx(math.sqrt(variance), rel=1e-7)
    assert stat.p_value == pytest.approx(2 * stats.t.sf(abs(estimate) / math.sqrt(variance), 38))


@pytest.mark.parametrize(
    ("method", "inference"),
    [("ascm", "placebo_t"), ("ascm", "conformal"), ("tbr", "placebo_t"), ("tbr", "analytic_t")],
)
def test_interval_and_p_value_always_agree(method: str, inference: str) -> None:
    for seed in range(12):
        sim = simulate_geo_panel(8, 50, seed=seed, lift=0.02 * (seed % 3), test_length=7)
        result = analyze(
            sim.panel,
            list(sim.treated),
            sim.start,
            sim.end,
            method=method,
            inference=inference,
            space_placebos=False,
        )
        excludes_zero = not (result.cumulative_lift.low <= 0 <= result.cumulative_lift.high)
        assert excludes_zero == (result.p_value <= 1 - LEVEL), seed
        assert (result.percent_lift.low <= 0 <= result.percent_lift.high) != excludes_zero


def test_placebo_t_matches_its_definition() -> None:
    rng = np.random.default_rng(6)
    errors = rng.normal(size=31)
    stat = placebo_t_statistic(2.0, errors, 40, 10, LEVEL)
    rms = math.sqrt(float(np.mean(errors**2)))
    dof = round(1.5 * (40 / 10 - 1))
    assert stat.scale == pytest.approx(rms, rel=FLOAT64)
    assert stat.n_reference == dof
    assert stat.half_width == pytest.approx(stats.t.ppf(0.95, dof) * rms, rel=FLOAT64)
    assert stat.p_value == pytest.approx(2 * stats.t.sf(2.0 / rms, dof), rel=FLOAT64)


def test_analysis_reports_fit_checks_roi_and_json_contract() -> None:
    sim = simulate_geo_panel(10, 60, seed=7, lift=0.1, test_length=10)
    result = analyze(sim.panel, list(sim.treated), sim.start, sim.end, spend_delta=500.0)
    payload = result.to_json()
    for key in ("cumulative_lift", "percent_lift", "incremental_roi"):
        assert set(payload[key]) == {"mean", "p05", "p95"}
    assert payload["method"] == "ascm"
    assert 0 <= payload["p_value"] <= 1
    assert payload["incremental_roi"]["mean"] == pytest.approx(result.cumulative_lift.mean / 500)
    assert result.placebo_in_space["n_placebos"] == 8
    assert "p_value" in result.placebo_in_time
    assert result.pre_r2 > 0.5
    assert result.cumulative_lift.low <= sim.true_lift <= result.cumulative_lift.high
    width = result.cumulative_lift.high - result.cumulative_lift.low
    assert result.lift_se == pytest.approx(width / (2 * stats.norm.ppf(0.95)), rel=FLOAT64)
    assert result.end == sim.end


def test_analysis_errors_are_clear() -> None:
    sim = simulate_geo_panel(6, 40, seed=0, test_length=7)
    with pytest.raises(ConfigError, match=r"nowhere.*not in the panel"):
        analyze(sim.panel, ["nowhere"], sim.start, sim.end)
    with pytest.raises(DataValidationError, match="placebo windows"):
        analyze(sim.panel, list(sim.treated), date(2024, 1, 15), date(2024, 1, 31))
    with pytest.raises(ConfigError, match="outside the panel"):
        analyze(sim.panel, list(sim.treated), sim.start, date(2030, 1, 1))
    with pytest.raises(ConfigError, match="method"):
        analyze(sim.panel, list(sim.treated), sim.start, sim.end, method="did")
    with pytest.raises(ConfigError, match="tbr"):
        analyze(sim.panel, list(sim.treated), sim.start, sim.end, inference="analytic_t")
    with pytest.raises(ConfigError, match="inference"):
        analyze(sim.panel, list(sim.treated), sim.start, sim.end, inference="bayes")


def test_coverage_and_false_positives_on_simulated_panels() -> None:
    """Small version of bench/experiments_coverage.py (which runs many more seeds)."""
    n_seeds, covered, false_positives = 40, 0, 0
    for seed in range(n_seeds):
        sim = simulate_geo_panel(8, 45, seed=seed, lift=0.05, test_length=7)
        r = analyze(sim.panel, list(sim.treated), sim.start, sim.end, space_placebos=False)
        covered += r.cumulative_lift.low <= sim.true_lift <= r.cumulative_lift.high
        null = simulate_geo_panel(8, 45, seed=10_000 + seed, lift=0.0, test_length=7)
        r0 = analyze(null.panel, list(null.treated), null.start, null.end, space_placebos=False)
        false_positives += r0.p_value <= 1 - LEVEL
    # Monte-Carlo tolerance: 3 binomial sd at n=40 is about 0.14
    assert abs(covered / n_seeds - LEVEL) <= 0.14
    assert abs(false_positives / n_seeds - (1 - LEVEL)) <= 0.14


# --- A/B ---------------------------------------------------------------------------------


def test_proportion_lift_matches_the_chi_square_oracle() -> None:
    result = proportion_lift(230, 10_000, 180, 10_000)
    table = np.array([[230, 9770], [180, 9820]])
    _, p_chi2, _, _ = stats.chi2_contingency(table, correction=False)
    assert result.p_value == pytest.approx(p_chi2, rel=1e-9)
    assert result.lift == pytest.approx(0.005)
    assert result.low < 0.005 < result.high
    with pytest.raises(ConfigError, match="exceed users"):
        proportion_lift(20, 10, 1, 10)


def test_mean_lift_matches_scipy_welch() -> None:
    result = mean_lift(5.2, 2.0, 400, 4.9, 2.5, 380)
    oracle = stats.ttest_ind_from_stats(5.2, 2.0, 400, 4.9, 2.5, 380, equal_var=False)
    assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-9)
    assert (result.low > 0) == (result.p_value <= 1 - LEVEL)


# --- registry ----------------------------------------------------------------------------


def test_registry_round_trip_and_exports(ws: Workspace) -> None:
    sim = simulate_geo_panel(8, 50, seed=3, lift=0.1, test_length=7)
    result = analyze(sim.panel, list(sim.treated), sim.start, sim.end, spend_delta=1000.0)
    row = record_experiment(ws, result, channel="tv", kpi="sales", design_id="d1")
    record_experiment(ws, result, channel="tv", kpi="sales", design_id="d1")  # idempotent
    frame = list_experiments(ws)
    assert len(frame) == 1
    assert frame.loc[0, "id"] == row["id"]
    assert list(frame.loc[0, "treatment_geos"]) == list(sim.treated)
    assert frame.loc[0, "lift"] == pytest.approx(result.cumulative_lift.mean)
    stored = {str(k): v for k, v in frame.iloc[0].to_dict().items()}
    robyn = export_calibration(stored, "robyn")
    assert robyn["liftAbs"] == pytest.approx(row["lift"])
    assert robyn["spend"] == 1000.0
    pymc = export_calibration(stored, "pymc_marketing")
    assert pymc["delta_x"] == 1000.0
    assert pymc["sigma"] == pytest.approx(row["lift_se"])
    meridian = export_calibration(stored, "meridian")["roi_m"]
    assert meridian["roi_mean"] == pytest.approx(row["lift"] / 1000.0)
    with pytest.raises(ConfigError, match="format"):
        export_calibration(stored, "lightweight")


def test_meridian_prior_moments_match_scipy_lognormal() -> None:
    prior = meridian_roi_prior(2.5, 0.8)
    dist = stats.lognorm(s=prior["sigma"], scale=math.exp(prior["mu"]))
    assert dist.mean() == pytest.approx(2.5, rel=1e-12)
    assert dist.std() == pytest.approx(0.8)
    with pytest.raises(ConfigError, match="positive ROI"):
        meridian_roi_prior(-1.0, 0.5)


def test_panel_from_frame_rejects_missing_values() -> None:
    frame = pd.DataFrame({"date": ["2024-01-01"] * 3, "geo": ["a", "b", "c"], "kpi": [1, None, 3]})
    with pytest.raises(DataValidationError, match="empty in 1 row"):
        panel_from_frame(frame, "frame")


@pytest.mark.shared_data
def test_geolift_whitepaper_data_loads(shared_data: Path) -> None:
    panel = load_panel_csv(
        shared_data / "geolift" / "data_positiveGLv1.csv",
        date_format="%d/%m/%y",
        geo_column="location",
        kpi_column="Y",
    )
    assert panel.kpi.shape == (40, 105)
    assert panel.dates[0] == date(2021, 6, 3)


def test_recovers_the_lift_tests_of_the_simulated_world() -> None:
    """The foundation's simulator runs a TV heavy-up and a search go-dark with known lift."""
    from margin.data.simulator import WorldParams, simulate_world

    world = simulate_world(WorldParams(n_geos=12, n_weeks=104), seed=0)
    frame = world.outcomes.drop(columns=["kpi"]).rename(columns={"value": "kpi"})
    panel = panel_from_frame(frame, "world")
    assert panel.grain_days == 7
    for test in world.truth["lift_tests"]:
        result = analyze(
            panel,
            list(test["treatment_geos"]),
            date.fromisoformat(test["start"]),
            date.fromisoformat(test["end"]),
            spend_delta=test["spend_delta"],
            space_placebos=False,
        )
        assert result.end == date.fromisoformat(test["end"])
        assert result.n_test == test["end_week"] - test["start_week"] + 1
        assert result.cumulative_lift.low <= test["lift_window"] <= result.cumulative_lift.high
