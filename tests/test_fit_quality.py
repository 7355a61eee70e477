"""The fit check: verdict thresholds (numbers → words), the chart series, and the keys a fit
writes to ``summary.json`` checked against a numpy oracle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from margin.mmm.fit_quality import (
    FAIR_COVERAGE,
    GOOD_COVERAGE,
    GOOD_MAPE,
    GOOD_R2,
    POOR_MAPE,
    POOR_R2,
    fit_verdict,
    model_fit,
    national_series,
    ppc_p_value,
)

GOOD = {"r2": 0.93, "mape": 0.04, "coverage_90": 0.9}


def fit(**changes: float) -> dict[str, float]:
    return {**GOOD, **changes}


@pytest.mark.parametrize(
    ("in_sample", "level"),
    [
        (GOOD, "good"),
        (fit(r2=GOOD_R2), "good"),  # the edges belong to the better side
        (fit(mape=GOOD_MAPE), "good"),
        (fit(coverage_90=GOOD_COVERAGE[0]), "good"),
        (fit(coverage_90=GOOD_COVERAGE[1]), "good"),
        (fit(r2=GOOD_R2 - 1e-9), "fair"),
        (fit(mape=GOOD_MAPE + 1e-9), "fair"),
        (fit(coverage_90=GOOD_COVERAGE[0] - 1e-9), "fair"),
        (fit(coverage_90=0.99), "fair"),  # a band too wide
        (fit(r2=POOR_R2), "fair"),
        (fit(mape=POOR_MAPE), "fair"),
        (fit(coverage_90=FAIR_COVERAGE), "fair"),
        (fit(r2=POOR_R2 - 1e-9), "poor"),
        (fit(mape=POOR_MAPE + 1e-9), "poor"),
        (fit(coverage_90=FAIR_COVERAGE - 1e-9), "poor"),
        (fit(r2=0.31, mape=0.31), "poor"),  # issue 21: "converged" beside MAPE 31%
    ],
)
def test_verdict_follows_the_thresholds(in_sample: dict[str, float], level: str) -> None:
    verdict = fit_verdict(in_sample)
    assert verdict.level == level
    assert (verdict.reasons == ()) == (level == "good")
    words = {
        "good": "fits the data well",
        "fair": "fits the data only fairly",
        "poor": "does not fit the data well",
    }
    assert words[level] in verdict.text
    assert f"R² {in_sample['r2']:.2f}" in verdict.text
    if level == "poor":
        assert "understate the uncertainty" in verdict.text
        assert "residuals" in verdict.text


def test_the_holdout_and_the_predictive_check_can_only_lower_the_verdict() -> None:
    assert fit_verdict(GOOD, fit(mape=0.12)).level == "good"  # holdout bar: 15%
    assert fit_verdict(GOOD, fit(coverage_90=1.0)).level == "good"  # 8 weeks, all inside
    assert fit_verdict(GOOD, fit(coverage_90=0.7)).level == "fair"
    assert fit_verdict(GOOD, fit(coverage_90=0.5)).level == "poor"
    assert fit_verdict(GOOD, fit(mape=0.2)).level == "fair"
    assert fit_verdict(GOOD, fit(mape=0.3)).level == "poor"
    assert fit_verdict(GOOD, fit(r2=0.3)).level == "fair"
    assert fit_verdict(GOOD, fit(r2=-0.1)).level == "poor"
    assert "holdout MAPE 30.0%" in fit_verdict(GOOD, fit(mape=0.3)).text
    assert fit_verdict(GOOD, None, 0.5).level == "good"
    assert fit_verdict(GOOD, None, 0.001).level == "fair"
    assert fit_verdict(GOOD, None, 0.999).level == "fair"
    assert fit_verdict(fit(r2=0.1), None, 0.5).level == "poor"


def test_no_numbers_no_verdict() -> None:
    assert fit_verdict(None).level == "unknown"
    assert fit_verdict({"r2": float("nan"), "mape": None}).level == "unknown"


def test_series_and_p_value_against_a_loop() -> None:
    rng = np.random.default_rng(0)
    observed = rng.gamma(5.0, 100.0, size=(3, 20))
    predictive = observed[None] + rng.normal(0.0, 60.0, size=(400, 3, 20))
    series = national_series(observed, predictive)
    for t in range(20):
        total = [predictive[s, :, t].sum() for s in range(400)]
        assert series["actual"][t] == pytest.approx(observed[:, t].sum())
        assert series["mean"][t] == pytest.approx(np.mean(total))
        assert series["p05"][t] == pytest.approx(np.quantile(total, 0.05))
        assert series["p95"][t] == pytest.approx(np.quantile(total, 0.95))
    above = sum(predictive[s].std() >= observed.std() for s in range(400))
    assert ppc_p_value(observed, predictive) == pytest.approx(above / 400)
    assert 0.01 < ppc_p_value(observed, predictive) <= 1.0  # noise adds spread
    assert ppc_p_value(observed, np.repeat(observed[None] * 0.2, 10, axis=0)) == 0.0


def test_model_fit_joins_fitted_and_holdout_weeks() -> None:
    fitted = {"actual": [1.0, 2.0], "mean": [1.0, 2.0], "p05": [0.5, 1.5], "p95": [1.5, 2.5]}
    held = {"actual": [3.0], "mean": [2.0], "p05": [1.0], "p95": [2.5]}
    body = model_fit(GOOD, fit(mape=0.3), fitted, held, 0.4)
    assert body["level"] == "poor"
    assert body["series"]["actual"] == [1.0, 2.0, 3.0]
    assert body["series"]["holdout_weeks"] == 1
    assert body["ppc_p_value"] == 0.4
    assert json.loads(json.dumps(body)) == body


def _r2_mape_coverage(
    actual: np.ndarray, mean: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[float, float, float]:
    r2 = 1.0 - float(((actual - mean) ** 2).sum() / ((actual - actual.mean()) ** 2).sum())
    mape = float(np.mean(np.abs(actual - mean) / np.abs(actual)))
    coverage = float(((actual >= low) & (actual <= high)).mean())
    return r2, mape, coverage


def test_a_fit_writes_the_fit_check_to_the_summary(fitted_run_dir: Path) -> None:
    summary: dict[str, Any] = json.loads((fitted_run_dir / "summary.json").read_text())
    diagnostics = summary["diagnostics"]
    model = diagnostics["model_fit"]
    series = model["series"]
    held = summary["fit"]["holdout_weeks"]
    assert held > 0
    assert series["holdout_weeks"] == held
    n = len(series["actual"])
    assert n - held == len(
        summary["channels"][summary["channels_order"][0]]["weekly_contribution"]["mean"]
    )
    arrays = {k: np.asarray(series[k]) for k in ("actual", "mean", "p05", "p95")}
    assert np.all(arrays["p05"] <= arrays["mean"])
    assert np.all(arrays["mean"] <= arrays["p95"])
    assert arrays["actual"][: n - held].sum() == pytest.approx(summary["totals"]["kpi_observed"])
    # a national world: the geo-week metrics are the weekly series' (numpy oracle)
    for window, part in (("fit", slice(0, n - held)), ("holdout", slice(n - held, n))):
        r2, mape, coverage = _r2_mape_coverage(
            *(arrays[k][part] for k in ("actual", "mean", "p05", "p95"))
        )
        assert diagnostics[window]["r2"] == pytest.approx(r2, rel=1e-9, abs=1e-12)
        assert diagnostics[window]["mape"] == pytest.approx(mape, rel=1e-9)
        assert diagnostics[window]["coverage_90"] == pytest.approx(coverage, abs=1e-12)
    assert 0.0 <= model["ppc_p_value"] <= 1.0
    expected = fit_verdict(diagnostics["fit"], diagnostics["holdout"], model["ppc_p_value"])
    assert model["level"] == expected.level
    assert model["text"] == expected.text
