"""Inference settings as objects, parameters checked from one table, typed results whose
``to_json`` is the ``summary.json`` the dict-building code wrote, a model that prints itself."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pytest

from margin.data.panel.marketing_data import MarketingData
from margin.data.simulator import WorldParams, simulate_world
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.errors import ConfigError
from margin.mmm import Laplace, MarketingMixModel, Nuts
from margin.mmm.settings import PARAMETERS, inference_for
from margin.params import Constraint, check_params
from margin.refresh import RefreshSettings

# --- settings ---------------------------------------------------------------------------


def test_each_default_is_declared_once_and_shared() -> None:
    refresh = RefreshSettings(drop=Path("drop"), spec=Path("spec.toml"))
    assert refresh.inference == Nuts()
    assert (refresh.chains, refresh.draws, refresh.warmup) == (4, 500, 1000)
    assert refresh.approximate_steps == Laplace().steps == 2000  # the refresh said 3000
    approximate = dataclasses.replace(refresh, method="approximate", chains=1, draws=60)
    assert approximate.inference == Laplace(chains=1, draws=60)
    assert MarketingMixModel().inference == Nuts()
    flat = MarketingMixModel(method="approximate", chains=1, draws=40, approximate_steps=300)
    assert flat.inference == Laplace(chains=1, draws=40, steps=300)
    assert flat.method == "approximate"


def test_inference_for_builds_the_method_and_ignores_its_missing_knobs() -> None:
    assert inference_for("nuts", chains=2, approximate_steps=10) == Nuts(chains=2)
    assert inference_for("approximate", warmup=5, draws=None) == Laplace()
    assert inference_for("nuts", target_accept=0.95) == Nuts(target_accept=0.95)
    assert Laplace().warmup == 0
    with pytest.raises(TypeError, match="unknown settings"):
        inference_for("nuts", chain=2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Nuts(chains=0), r"^chains must be an integer >= 1; got 0$"),
        (lambda: Nuts(warmup=-1), "warmup must be an integer >= 0"),
        (lambda: Nuts(draws=True), "draws must be an integer >= 1; got True"),
        (lambda: Nuts(target_accept=1.0), r"target_accept must be a number in \[0.5, 1\)"),
        (
            lambda: Nuts(dense_mass=1),  # type: ignore[arg-type]
            "dense_mass must be true or false",
        ),
        (lambda: Laplace(steps=0), "steps must be an integer >= 1"),
        (lambda: inference_for("mcmc"), "method 'mcmc' is not one of .*pass --method nuts"),
        (lambda: MarketingMixModel(seed=-1), "seed must be an integer >= 0"),
        (lambda: MarketingMixModel(chains=0), "chains must be an integer >= 1"),
        (lambda: MarketingMixModel(inference=Nuts(), chains=2), "not both"),
        (
            lambda: RefreshSettings(Path("d"), Path("s"), approximate_steps=0),
            "refresh setting approximate_steps must be an integer >= 1; got 0",
        ),
        (
            lambda: RefreshSettings(Path("d"), Path("s"), calibrate="yes"),  # type: ignore[arg-type]
            "refresh setting calibrate must be true or false",
        ),
    ],
)
def test_bad_settings_name_the_parameter_value_and_range(make: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


def test_one_table_checks_every_kind() -> None:
    table = {
        "n": Constraint.integer(2, fix="use more"),
        "x": Constraint.number(0.0, 1.0),
        "pick": Constraint.one_of("a", "b"),
    }
    check_params({"n": 2, "x": 1.0, "pick": "a", "other": object()}, table)
    with pytest.raises(ConfigError, match=r"^n must be an integer >= 2; got 1; use more$"):
        check_params({"n": 1}, table)
    with pytest.raises(ConfigError, match=r"x must be a number in \[0, 1\]; got nan"):
        check_params({"x": float("nan")}, table)
    with pytest.raises(ConfigError, match=r"pick 'c' is not one of \['a', 'b'\]"):
        check_params({"pick": "c"}, table)
    assert {"chains", "draws", "warmup", "seed", "holdout_weeks", "method"} <= set(PARAMETERS)


def test_settings_import_no_jax() -> None:
    code = (
        "import sys, margin.mmm.settings, margin.refresh.settings; "
        "print([n for n in ('jax', 'numpyro', 'pandas') if n in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_unfitted_model_prints_its_settings() -> None:
    model = MarketingMixModel(inference=Laplace(chains=1), seed=3)
    assert repr(model) == (
        "<MarketingMixModel: not fitted, Laplace(chains=1, draws=500, steps=2000, starts=2), "
        "seed=3>"
    )


# --- results: to_json is what the dict-building code wrote ------------------------------


def _interval(values: npt.ArrayLike) -> dict[str, float]:
    """The dict-building code's interval (before the typed results), kept as the oracle."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    return {
        "mean": float(x.mean()),
        "p05": float(np.quantile(x, 0.05)),
        "p95": float(np.quantile(x, 0.95)),
    }


def _weekly(series: npt.NDArray[np.float64]) -> dict[str, list[float]]:
    return {
        "mean": series.mean(axis=0).tolist(),
        "p05": np.quantile(series, 0.05, axis=0).tolist(),
        "p95": np.quantile(series, 0.95, axis=0).tolist(),
    }


def _old_summarize(
    samples: Any, data: MarketingData, inputs: Any, scaling: Any, config: Any
) -> Any:
    """The dict-building ``summarize`` as it was, on the same draws."""
    from margin.mmm import summary

    params = summary.flat_params(samples)
    t = summary._totals(params, inputs, config, scaling.kpi_scale)
    per_channel, revenue, total_kpi = t.contribution, t.revenue, t.kpi
    total_media = per_channel.sum(axis=1)
    mroi = np.asarray(summary._mroi(params, inputs, config), dtype=np.float64)
    spend = data.spend.sum(axis=(0, 1))
    channels: dict[str, Any] = {}
    for c, name in enumerate(data.channels):
        entry = {
            "roi": _interval(revenue[:, c] / spend[c]),
            "mroi": _interval(mroi[:, c]),
            "contribution": _interval(per_channel[:, c]),
            "contribution_share": _interval(per_channel[:, c] / total_kpi),
            "media_share": _interval(per_channel[:, c] / total_media),
            "spend": float(spend[c]),
            "weekly_contribution": _weekly(t.weekly[:, :, c]),
        }
        if data.kpi_type == "conversions":
            entry["cpa"] = _interval(spend[c] / np.maximum(per_channel[:, c], 1e-12))
        channels[name] = entry
    totals = {
        "spend": float(spend.sum()),
        "contribution": _interval(total_media),
        "roi": _interval(revenue.sum(axis=1) / spend.sum()),
        "kpi_predicted": _interval(total_kpi),
        "kpi_observed": float(data.kpi.sum()),
        "media_share": _interval(total_media / total_kpi),
    }
    base = total_kpi - total_media
    baseline = {"kpi": _interval(base), "share": _interval(base / total_kpi)}
    return {"channels": channels, "totals": totals, "baseline": baseline}


def _old_result(model: MarketingMixModel, data: MarketingData) -> dict[str, Any]:
    """The dict-building ``MarketingMixModel.result()`` as it was, on the fitted model."""
    from margin.mmm.inputs import model_inputs

    fitted = data.slice_times(0, data.n_times - model.holdout_weeks)
    inputs = model_inputs(fitted, model.scaling_)
    body = _old_summarize(model.draws_.samples, fitted, inputs, model.scaling_, model.config_)
    settings = model.inference
    return {
        **body,
        "method": model.draws_.method,
        "diagnostics": model.diagnostics_,
        "fit": {
            "seconds": model.fit_seconds_,
            "chains": settings.chains,
            "draws": settings.draws,
            "warmup": settings.warmup if model.method == "nuts" else 0,
            "seed": model.seed,
            "method": model.draws_.method,
            "holdout_weeks": model.holdout_weeks,
            "lift_tests": model.n_lift_tests_,
        },
        "priors": model.config_.priors_json(tuple(body["channels"])),
    }


@pytest.fixture(scope="module")
def small() -> MarketingData:
    params = WorldParams(n_geos=2, n_weeks=40, channels=DEFAULT_CHANNELS[:2], n_users=100)
    return simulate_world(params, seed=4).marketing_data()


def _without_breakdown(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` less what issue 21 added (the baseline in parts, immediate vs carry-over,
    results by geo: ``tests/test_mmm_decomposition.py`` specifies those); asserts they are
    there, so the rest must equal the old summary exactly."""
    body = json.loads(json.dumps(body))
    assert "parts" in body["baseline"]
    body["baseline"].pop("parts")
    for channel in body["channels"].values():
        assert {"immediate", "carryover"} <= set(channel)
        channel.pop("immediate")
        channel.pop("carryover")
    body.pop("geos", None)
    return body


@pytest.mark.parametrize("kpi_type", ["revenue", "conversions"])
def test_summary_to_json_is_the_old_dict(
    small: MarketingData, kpi_type: Literal["revenue", "conversions"]
) -> None:
    from margin.mmm import summary
    from margin.mmm.config import ModelConfig
    from margin.mmm.inputs import fit_scaling, model_inputs

    data = dataclasses.replace(small, kpi_type=kpi_type)
    config = ModelConfig()
    scaling = fit_scaling(data, config.fourier_terms)
    inputs = model_inputs(data, scaling)
    rng = np.random.default_rng(5)
    n, c, g = 7, data.n_channels, data.n_geos
    samples = {
        "roi": rng.uniform(0.5, 3.0, (1, n, c)),
        "decay": rng.uniform(0.1, 0.8, (1, n, c)),
        "half_saturation": rng.uniform(0.5, 2.0, (1, n, c)),
        "slope": rng.uniform(0.7, 1.5, (1, n, c)),
        "beta": rng.uniform(0.05, 0.5, (1, n, c)),
        "intercept_geo": rng.uniform(0.8, 1.2, (1, n, g)),
        "trend": rng.uniform(-0.1, 0.1, (1, n)),
        "fourier": rng.uniform(-0.1, 0.1, (1, n, 2 * config.fourier_terms)),
        "gamma": rng.uniform(-0.1, 0.1, (1, n, data.controls.shape[2])),
    }
    new = summary.summarize(samples, data, inputs, scaling, config)
    old = _old_summarize(samples, data, inputs, scaling, config)
    assert json.dumps(_without_breakdown(new.to_json()), indent=2) == json.dumps(old, indent=2)
    assert (new.channels["tv"].cpa is None) == (kpi_type == "revenue")


def test_a_fit_prints_itself_and_its_result_is_the_old_summary_json(
    small: MarketingData,
) -> None:
    model = MarketingMixModel(inference=Laplace(chains=1, draws=60, steps=200), seed=2)
    model.fit(small.slice_times(0, 36), ())
    result = model.result()
    assert json.dumps(_without_breakdown(result.to_json()), indent=2) == json.dumps(
        _old_result(model, small.slice_times(0, 36)), indent=2
    )
    assert result.channels["tv"].roi.p05 <= result.channels["tv"].roi.mean
    assert result.totals.contribution == result.posterior.totals.contribution
    assert repr(model) == (
        "<MarketingMixModel: fitted by approximate (1 chains × 60 draws), 2 channels, "
        "2 geos × 36 weeks>"
    )
    table = model.summary()
    assert list(table.index) == list(small.channels)
    assert list(table.columns[:4]) == ["spend", "roi_mean", "roi_p05", "roi_p95"]
    assert table.loc["tv", "mroi_p95"] == result.channels["tv"].mroi.p95
