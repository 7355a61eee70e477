"""The negative-binomial likelihood for conversion counts: its density against scipy,
recovery on a small-count world, the saved run's noise, and the clear errors."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from numpyro import handlers  # type: ignore[import-untyped]
from numpyro.infer.util import log_density  # type: ignore[import-untyped]

from margin.data.panel.marketing_data import MarketingData
from margin.data.simulator import WorldParams
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.data.simulator.world import simulate_arrays
from margin.errors import ConfigError
from margin.mmm.config import ModelConfig, model_config
from margin.mmm.estimator import MarketingMixModel
from margin.mmm.inputs import fit_scaling, model_inputs
from margin.mmm.model import (
    COUNT_FLOOR,
    CountData,
    _log_count_mean,
    count_mean,
    mmm_model,
    nb_log_prob,
)

NB = ModelConfig(likelihood="negative_binomial")
TRUE_PHI = 8.0
PER_WEEK = 30.0
"""Expected conversions a week before media: a small-count world."""


@pytest.mark.parametrize("phi", [0.3, 2.0, 8.0, 75.0, 3e4, 1e9])
def test_log_density_matches_scipy_nbinom(phi: float) -> None:
    y = np.array([0, 1, 2, 5, 17, 40, 130, 900], dtype=np.float32)
    mean = np.array([0.2, 1.5, 3.0, 4.0, 20.0, 35.0, 100.0, 1000.0], dtype=np.float32)
    got = np.asarray(nb_log_prob(jnp.asarray(y), jnp.asarray(mean), jnp.float32(phi)))
    oracle = scipy.stats.nbinom(n=phi, p=phi / (phi + mean.astype(np.float64))).logpmf(y)
    if phi > 1e8:  # scipy's own nbinom loses digits there; the limit is the Poisson
        oracle = scipy.stats.poisson(mean.astype(np.float64)).logpmf(y)
    # float32: lgamma(900) ≈ 5,220 carries ~5e-4 of rounding, hence the relative tolerance
    np.testing.assert_allclose(got, oracle, rtol=1e-4, atol=2e-4)


def test_log_density_is_the_same_jitted_and_its_gradient_is_finite() -> None:
    y, mean = jnp.asarray([0.0, 3.0, 12.0]), jnp.asarray([0.5, 2.0, 15.0])
    for phi in (0.5, 9.99, 10.01, 1e6):
        eager = nb_log_prob(y, mean, jnp.float32(phi))
        jitted = jax.jit(nb_log_prob)(y, mean, jnp.float32(phi))
        np.testing.assert_allclose(np.asarray(eager), np.asarray(jitted), rtol=1e-5)  # fusion
        grad = jax.grad(lambda p, m: nb_log_prob(y, m, p).sum(), argnums=(0, 1))(
            jnp.float32(phi), mean
        )
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grad)
    # continuous across the switch to Stirling's series at phi = 10
    below = nb_log_prob(y, mean, jnp.float32(10.0 - 1e-3))
    above = nb_log_prob(y, mean, jnp.float32(10.0 + 1e-3))
    np.testing.assert_allclose(np.asarray(below), np.asarray(above), atol=1e-3)


def test_count_mean_is_positive_and_the_identity_above_a_few_counts() -> None:
    mu = jnp.asarray([-1e4, -3.0, 0.0, 4.0, 50.0])
    mean = np.asarray(count_mean(mu))
    assert np.all(mean[1:] > 0)
    assert mean[0] == 0  # e^-20000 underflows to 0 in float32 ...
    log_mean = np.asarray(_log_count_mean(mu))  # ... so the likelihood takes its log directly
    assert np.all(np.isfinite(log_mean))
    np.testing.assert_allclose(log_mean[0], np.log(COUNT_FLOOR) - 1e4 / COUNT_FLOOR, rtol=1e-6)
    np.testing.assert_allclose(log_mean[1:], np.log(mean[1:]), rtol=1e-5)
    np.testing.assert_allclose(mean[3:], [4.0, 50.0], atol=1e-3)


def _world(seed: int = 7) -> tuple[MarketingData, np.ndarray, np.ndarray]:
    """A national small-count conversions world with negative-binomial noise: the
    simulator's expected conversions (about :data:`PER_WEEK` a week) drawn as NB(phi = 8)."""
    value = WorldParams().intercept / PER_WEEK  # currency per conversion
    params = WorldParams.national(
        n_weeks=104, channels=DEFAULT_CHANNELS[:3], kpi_type="conversions",
        value_per_conversion=value, n_users=100,
    )  # fmt: skip
    arrays = simulate_arrays(params, seed=seed)
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.gamma(TRUE_PHI, arrays.expected / TRUE_PHI)).astype(np.float64)
    true_roi = arrays.media.sum(axis=(0, 1)) * value / arrays.spend.sum(axis=(0, 1))
    data = MarketingData(
        dates=np.datetime64(params.start, "D") + 7 * np.arange(params.n_weeks),
        geos=params.geos,
        channels=params.channel_names,
        control_names=("price", "holiday"),
        spend=arrays.spend,
        kpi=counts,
        controls=np.stack([arrays.price, arrays.holiday], axis=2),
        kpi_name="conversions",
        kpi_type="conversions",
        revenue_per_kpi=np.full_like(counts, value),
    )
    return data, true_roi, arrays.expected


@pytest.fixture(scope="module")
def fitted() -> tuple[MarketingMixModel, MarketingData, np.ndarray]:
    data, true_roi, _ = _world()
    model = MarketingMixModel(NB, method="approximate", draws=250, seed=0)
    return model.fit(data), data, true_roi


def test_model_traces_count_sites_and_a_finite_density() -> None:
    data, _, _ = _world()
    scaling = fit_scaling(data, NB.fourier_terms)
    inputs = model_inputs(data, scaling)
    counts = CountData(jnp.asarray(data.kpi, jnp.float32), jnp.float32(scaling.kpi_scale))
    args = (inputs, NB, jnp.zeros(3), jnp.ones(3), None, None, counts)
    trace = handlers.trace(handlers.seed(mmm_model, jax.random.key(0))).get_trace(*args)
    assert {"nb_inv_sqrt_phi", "phi", "y"} <= set(trace)
    assert "sigma" not in trace
    np.testing.assert_array_equal(np.asarray(trace["y"]["value"]), data.kpi)  # counts, unscaled
    values = {k: v["value"] for k, v in trace.items() if v["type"] == "sample"}
    assert np.isfinite(float(log_density(mmm_model, args, {}, values)[0]))
    with pytest.raises(ValueError, match="counts"):
        handlers.trace(handlers.seed(mmm_model, jax.random.key(0))).get_trace(*args[:6])


def test_recovers_roi_and_phi_on_a_small_count_world(
    fitted: tuple[MarketingMixModel, MarketingData, np.ndarray],
) -> None:
    model, _, true_roi = fitted
    table = model.summary()
    inside = (table["roi_p05"].to_numpy() <= true_roi) & (true_roi <= table["roi_p95"].to_numpy())
    assert inside.sum() >= 2, (table, true_roi)
    dispersion = model.diagnostics_["dispersion"]
    assert dispersion["likelihood"] == "negative_binomial"
    phi = dispersion["phi"]
    assert phi["p05"] < phi["mean"] < phi["p95"]
    assert TRUE_PHI / 2 < phi["mean"] < TRUE_PHI * 2, phi
    # the posterior predictive draws counts: ~90% of weeks inside its 90% band
    assert 0.8 <= model.diagnostics_["fit"]["coverage_90"] <= 0.98


def test_saved_run_gives_the_count_noise(
    fitted: tuple[MarketingMixModel, MarketingData, np.ndarray], tmp_path: Path
) -> None:
    from margin.data.panel.spec import parse_spec
    from margin.mmm import save_run
    from margin.mmm.response import load_response

    model, data, _ = fitted
    spec = parse_spec({"data": {"date": "date", "kpi": "conversions", "kpi_type": "conversions",
                                "media": list(data.channels)}})  # fmt: skip
    save_run(model, data, spec, tmp_path / "run")
    response = load_response(tmp_path / "run")
    assert response.config.likelihood == "negative_binomial"
    assert response.phi is not None
    m = response.scaling.kpi_scale
    expected = np.sqrt(m + m**2 / model.draws_.samples["phi"].reshape(-1))
    np.testing.assert_allclose(response.observation_sd()[:, 0], expected, rtol=1e-5)
    fewer = response.take_draws(np.arange(5))
    assert fewer.phi is not None
    assert fewer.phi.shape == (5,)


def test_config_accepts_negative_binomial() -> None:
    config = model_config({"model": {"likelihood": "negative_binomial"}}, ("tv",))
    assert config.likelihood == "negative_binomial"
    with pytest.raises(ConfigError, match="negative_binomial"):
        model_config({"model": {"likelihood": "poisson"}}, ("tv",))


def test_revenue_kpi_is_refused_with_the_spec_keys() -> None:
    data, _, _ = _world()
    revenue = MarketingData(
        dates=data.dates, geos=data.geos, channels=data.channels,
        control_names=data.control_names, spend=data.spend, kpi=data.kpi * 10.0,
        controls=data.controls,
    )  # fmt: skip
    model = MarketingMixModel(NB, method="approximate")
    with pytest.raises(ConfigError, match=r'\[model\] likelihood.*kpi_type = "conversions"'):
        model.fit(revenue)


@pytest.mark.parametrize(("value", "what"), [(2.5, "2.5"), (-1.0, "-1.0")])
def test_non_count_kpi_is_refused_naming_the_week(value: float, what: str) -> None:
    data, _, _ = _world()
    kpi = data.kpi.copy()
    kpi[0, 3] = value
    bad = MarketingData(
        dates=data.dates, geos=data.geos, channels=data.channels,
        control_names=data.control_names, spend=data.spend, kpi=kpi,
        controls=data.controls, kpi_name="conversions", kpi_type="conversions",
    )  # fmt: skip
    with pytest.raises(ConfigError, match=rf"whole counts.*{data.dates[3]}.*{what}"):
        MarketingMixModel(NB, method="approximate").fit(bad)
