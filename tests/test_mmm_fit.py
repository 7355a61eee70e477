"""Fitting the MMM: contract, reproducibility, recovery of a simulated world, calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from margin.data.panel.marketing_data import MarketingData
from margin.data.simulator import World, WorldParams, simulate_world
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.errors import ConfigError, NotFittedError
from margin.mmm import Laplace, MarketingMixModel, Nuts

WORLD_SEED = 7
FIT_SEED = 1
N_WEEKS = 104
RECOVERY_SHARE = 2 / 3
"""At least this share of channels must have the true ROI inside the 90% interval."""
TOTAL_CONTRIBUTION_RTOL = 0.35
"""Total media contribution within this relative error of the truth."""


@pytest.fixture(scope="module")
def national() -> World:
    params = WorldParams.national(n_weeks=N_WEEKS, channels=DEFAULT_CHANNELS[:3], n_users=200)
    return simulate_world(params, seed=WORLD_SEED)


@pytest.fixture(scope="module")
def fitted(national: World) -> MarketingMixModel:
    nuts = Nuts(chains=2, draws=150, warmup=150)
    model = MarketingMixModel(inference=nuts, seed=FIT_SEED, holdout_weeks=8)
    return model.fit(national.marketing_data())


@pytest.mark.slow
def test_summary_contract(fitted: MarketingMixModel, national: World) -> None:
    result = fitted.result()
    data = national.marketing_data()
    assert set(result.channels) == set(data.channels)
    for name, channel in result.channels.items():
        for key in ("roi", "mroi", "contribution", "contribution_share"):
            stat = getattr(channel, key)
            assert stat.p05 <= stat.mean <= stat.p95, (name, key)
        c = data.channels.index(name)
        assert channel.spend == pytest.approx(data.spend[:, : N_WEEKS - 8, c].sum())
    diagnostics = result.diagnostics
    for key in ("max_rhat", "min_ess_bulk", "divergences", "holdout_mape", "warnings"):
        assert key in diagnostics
    assert 0 <= diagnostics["holdout_mape"] < 0.2
    fit = result.fit
    assert (fit.chains, fit.draws, fit.warmup, fit.seed) == (2, 150, 150, 1)
    assert result.method == "nuts"
    assert repr(fitted) == (
        "<MarketingMixModel: fitted by nuts (2 chains × 150 draws), 3 channels, "
        f"1 geos × {N_WEEKS - 8} weeks>"
    )
    table = fitted.summary()
    assert list(table.index) == list(data.channels)
    assert table.loc["tv", "roi_mean"] == result.channels["tv"].roi.mean
    assert table.loc["tv", "spend"] == result.channels["tv"].spend


@pytest.mark.slow
def test_recovers_true_roi_and_total_contribution(
    fitted: MarketingMixModel, national: World
) -> None:
    truth = national.truth["channels"]
    result = fitted.result().channels
    inside = [result[c].roi.contains(truth[c]["roi"]) for c in truth]
    assert np.mean(inside) >= RECOVERY_SHARE, {c: (result[c].roi, truth[c]["roi"]) for c in truth}
    fitted_weeks = slice(0, N_WEEKS - 8)
    true_total = national.arrays.media[:, fitted_weeks].sum()
    estimate = fitted.result().totals.contribution.mean
    assert estimate == pytest.approx(true_total, rel=TOTAL_CONTRIBUTION_RTOL)


@pytest.mark.slow
def test_same_seed_same_numbers(national: World) -> None:
    data = national.marketing_data()
    laplace = Laplace(chains=1, draws=50, steps=200)
    first = MarketingMixModel(inference=laplace, seed=3).fit(data).result()
    second = MarketingMixModel(inference=laplace, seed=3).fit(data).result()
    assert first.channels == second.channels
    assert first.method == "approximate"
    assert any("approximate" in w for w in first.diagnostics["warnings"])


def test_unfitted_model_and_bad_settings_raise(national: World) -> None:
    data = national.marketing_data()
    with pytest.raises(NotFittedError, match="not fitted"):
        MarketingMixModel().predict(data)
    with pytest.raises(NotFittedError, match="not fitted"):
        MarketingMixModel().result()
    with pytest.raises(ConfigError, match="holdout_weeks"):
        MarketingMixModel(holdout_weeks=90).fit(data)
    with pytest.raises(ConfigError, match="method"):
        MarketingMixModel(method="mcmc").fit(data)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="chains"):
        MarketingMixModel(chains=0).fit(data)


def test_approximate_fit_without_controls_and_with_a_warm_start(national: World) -> None:
    """A panel with no control columns fits (zero-width sites), and ``init`` is honoured."""
    full = national.marketing_data()
    data = MarketingData(
        dates=full.dates, geos=full.geos, channels=full.channels, control_names=(),
        spend=full.spend, kpi=full.kpi, controls=np.zeros((1, full.n_times, 0)),
    )  # fmt: skip
    settings = {"method": "approximate", "chains": 1, "draws": 40, "approximate_steps": 300}
    first = MarketingMixModel(**settings).fit(data)  # type: ignore[arg-type]
    assert "gamma" not in first.draws_.samples
    assert first.result().channels.keys() == set(full.channels)
    from margin.mmm.inference import warm_start

    start = warm_start(first.draws_.samples)
    again = MarketingMixModel(**settings).fit(data, init=start)  # type: ignore[arg-type]
    for name in full.channels:
        roi = again.result().channels[name].roi
        assert roi.contains(first.result().channels[name].roi.mean)
    for site in ("roi", "decay"):
        with pytest.raises(ConfigError, match=f"'{site}' has shape"):
            MarketingMixModel(**settings).fit(data, init={site: np.ones(7)})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'roi' lies outside"):
        MarketingMixModel(**settings).fit(data, init={"roi": -np.ones(len(full.channels))})  # type: ignore[arg-type]
    # ROIs alone (a run saved before ROI was sampled as total and split) start there too
    old = {"roi": np.median(first.draws_.samples["roi"].reshape(-1, len(full.channels)), axis=0)}
    MarketingMixModel(**settings).fit(data, init=old)  # type: ignore[arg-type]


MAX_PROGRAMS = 7
"""XLA programs lowered by one NUTS fit and its summary (5 measured on 2026-12-04 evening:
the starting points' check, sampling, the deterministic sites, two summary programs; 12
that afternoon, 83 before margin's set-up and summaries stopped running eager JAX
operations, each of which lowers and compiles its own small program, ~30 ms apiece on a
2-core machine; the PRNG keys and starting points are numpy's now)."""


def test_a_nuts_fit_lowers_a_handful_of_programs(national: World) -> None:
    """Counted as lowerings (the persistent compilation cache skips compiles, not these),
    after clearing JAX's in-memory caches so programs compiled by earlier tests count."""
    import jax
    from jax import monitoring

    data = national.marketing_data().slice_times(0, 40)
    lowered: list[str] = []

    def listen(event: str, _seconds: float, **_: object) -> None:
        if event == "/jax/core/compile/jaxpr_to_mlir_module_duration":
            lowered.append(event)

    jax.clear_caches()
    monitoring.register_event_duration_secs_listener(listen)
    try:
        MarketingMixModel(chains=2, draws=20, warmup=20, seed=FIT_SEED).fit(data).result()
    finally:
        monitoring.unregister_event_duration_listener(listen)
    assert 2 <= len(lowered) <= MAX_PROGRAMS, len(lowered)  # at least sampling and summary


def test_a_multiplicative_seasonality_run_keeps_its_structure_when_planned(
    national: World, tmp_path: Path
) -> None:
    """The option reaches the run folder: the planning model built from it predicts the
    baseline the fitted model does (the weeks after ``end`` with their own controls)."""
    import dataclasses

    from margin.data.panel.spec import DataSpec, Spec
    from margin.mmm import ModelConfig, save_run
    from margin.mmm.response import load_response

    data = national.marketing_data()
    model = MarketingMixModel(
        config=ModelConfig(seasonality="multiplicative"),
        method="approximate", chains=1, draws=60, approximate_steps=300, seed=FIT_SEED,
    ).fit(data)  # fmt: skip
    save_run(model, data, Spec(DataSpec(kpi="revenue", media=data.channels)), tmp_path / "run")
    end = 60
    response = load_response(tmp_path / "run", end=end)
    assert response.config.seasonality == "multiplicative"
    silent = dataclasses.replace(data, spend=np.zeros_like(data.spend))
    oracle = model.predict(silent)[:, :, end : end + 12]
    np.testing.assert_allclose(response.baseline_kpi(12), oracle, rtol=MULTIPLICATIVE_RTOL)
    additive = dataclasses.replace(response, config=ModelConfig())
    assert not np.allclose(additive.baseline_kpi(12), oracle, rtol=MULTIPLICATIVE_RTOL)


MULTIPLICATIVE_RTOL = 1e-4
"""float32 predictions of the same draws through two code paths."""


def test_a_tight_shape_prior_holds_the_fit_there_and_is_reported(national: World) -> None:
    """A spec's ``[priors.decay]`` reaches the sampler: a tight prior far from the default
    holds that channel's decay there, the others stay free, and ``summary.json`` says
    which priors each channel was fitted with."""
    from margin.mmm import ModelConfig, ShapePrior

    data = national.marketing_data()
    tight = ShapePrior("decay", 0.9, 0.01)
    config = ModelConfig(shape={"decay": {"tv": tight}})
    model = MarketingMixModel(method="approximate", chains=1, draws=200, approximate_steps=300,
                              seed=FIT_SEED, config=config)  # fmt: skip
    model.fit(data)
    decay = model.draws_.samples["decay"].reshape(-1, data.n_channels)
    tv = data.channels.index("tv")
    assert decay[:, tv].mean() == pytest.approx(0.9, abs=0.02)  # 2 prior sd
    assert decay[:, tv].std() < 0.02
    assert decay[:, 1 - tv].std() > 0.03  # search keeps the default Beta(2, 2)'s freedom
    priors = model.result().priors
    assert priors["tv"]["decay"] == {"distribution": "beta", "mean": 0.9, "sd": 0.01}
    assert priors["search"]["decay"]["sd"] == pytest.approx(0.05**0.5)


def test_chains_start_the_level_and_geo_sd_near_their_priors(
    national: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unless the caller starts them, the KPI level starts at its prior's mean and the geo
    sd at its prior's median (``START``); a caller's starting values win."""
    from margin.mmm import estimator
    from margin.mmm.model import START

    seen: list[dict[str, object]] = []

    def capture(*_: object, init: dict[str, object], **__: object) -> None:
        seen.append(init)
        raise RuntimeError("captured")

    monkeypatch.setattr(estimator, "run_inference", capture)
    data = national.marketing_data()
    for init in (None, {"baseline_level": 0.8}):
        with pytest.raises(RuntimeError, match="captured"):
            MarketingMixModel(chains=1, draws=10, warmup=10).fit(data, init=init)
    assert seen[0] == START
    assert {"baseline_level": 1.0, "geo_sd": pytest.approx(0.2 * 0.6745)} == START
    assert seen[1]["baseline_level"] == 0.8
    assert seen[1]["geo_sd"] == START["geo_sd"]
