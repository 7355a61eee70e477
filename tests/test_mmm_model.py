"""The NumPyro model's structure options trace to finite log densities with the right sites."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from numpyro import handlers  # type: ignore[import-untyped]
from numpyro.infer.util import log_density  # type: ignore[import-untyped]

from margin.data.simulator import WorldParams, simulate_world
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.mmm.config import ModelConfig
from margin.mmm.inputs import ModelInputs, fit_scaling, model_inputs
from margin.mmm.model import FixedBeta, FixedGamma, mean_kpi, mmm_model, roi_latents

WORLD_SEED = 3
FLOAT32 = 1e-4


def test_delayed_logistic_student_t_geo_model_traces() -> None:
    params = WorldParams(n_geos=3, n_weeks=40, channels=DEFAULT_CHANNELS[:2], n_users=100)
    data = simulate_world(params, seed=WORLD_SEED).marketing_data()
    config = ModelConfig(adstock="delayed", saturation="logistic", likelihood="student_t")
    inputs = model_inputs(data, fit_scaling(data, config.fourier_terms))
    args = (inputs, config, jnp.zeros(2), jnp.ones(2), None)
    trace = handlers.trace(handlers.seed(mmm_model, jax.random.key(0))).get_trace(*args)
    for site in (
        "roi",
        "adstock_shape",
        "adstock_scale",
        "rate",
        "nu",
        "geo_z",
        "beta",
        "media_log_total",
        "media_log_ratio",
    ):
        assert site in trace
    assert "decay" not in trace
    values = {k: v["value"] for k, v in trace.items() if v["type"] == "sample"}
    density, _ = log_density(mmm_model, args, {}, values)
    assert np.isfinite(float(density))
    # beta is set so that each channel's revenue over the weeks equals ROI x spend
    site_values = {k: v["value"] for k, v in trace.items()}
    _, contributions = mean_kpi(site_values, inputs, config)
    revenue = (contributions * inputs.value[:, :, None]).sum(axis=(0, 1))
    np.testing.assert_allclose(revenue, site_values["roi"] * inputs.spend_total, rtol=FLOAT32)


ROI_LOC = jnp.asarray([0.2, -0.3, 0.5], dtype=jnp.float32)
ROI_SCALE = jnp.asarray([0.9, 0.5, 0.3], dtype=jnp.float32)
SPEND = jnp.asarray([3.0, 0.5, 12.0], dtype=jnp.float32)


def _roi_prior_trace(latents: dict[str, jax.Array]) -> dict[str, dict[str, object]]:
    from margin.mmm.model import _roi_prior

    model = handlers.substitute(handlers.seed(_roi_prior, jax.random.key(0)), latents)
    trace: dict[str, dict[str, object]] = handlers.trace(model).get_trace(ROI_LOC, ROI_SCALE, SPEND)
    return trace


def test_roi_coordinates_round_trip_and_keep_the_log_normal_prior_exactly() -> None:
    roi = jnp.asarray([1.7, 0.4, 2.5], dtype=jnp.float32)
    latents = roi_latents(roi, SPEND)
    trace = _roi_prior_trace(latents)
    np.testing.assert_allclose(trace["roi"]["value"], roi, rtol=FLOAT32)
    # the density on the sampled coordinates is the log-normal prior in log-ROI
    # coordinates (what NumPyro samples for roi ~ LogNormal) ...
    density = sum(  # the two sites' stand-in normals and the factor (a Unit distribution)
        float(site["fn"].log_prob(site["value"]).sum())  # type: ignore[attr-defined]
        for site in trace.values() if site["type"] == "sample"
    )  # fmt: skip
    oracle = scipy.stats.norm(ROI_LOC, ROI_SCALE).logpdf(np.log(np.asarray(roi))).sum()
    np.testing.assert_allclose(density, oracle, rtol=FLOAT32)
    # ... because the map from log ROI to them has unit Jacobian
    jacobian = jax.jacfwd(
        lambda log_roi: jnp.concatenate([
            jnp.atleast_1d(v) for v in roi_latents(jnp.exp(log_roi), SPEND).values()
        ])
    )(jnp.log(roi))  # fmt: skip
    np.testing.assert_allclose(abs(np.linalg.det(np.asarray(jacobian))), 1.0, rtol=FLOAT32)


def test_one_channel_samples_its_roi_as_the_total_alone() -> None:
    from margin.mmm.model import _roi_prior

    roi = jnp.asarray([0.8], dtype=jnp.float32)
    latents = roi_latents(roi, SPEND[:1])
    assert set(latents) == {"media_log_total"}
    model = handlers.substitute(handlers.seed(_roi_prior, jax.random.key(0)), latents)
    trace = handlers.trace(model).get_trace(ROI_LOC[:1], ROI_SCALE[:1], SPEND[:1])
    np.testing.assert_allclose(trace["roi"]["value"], roi, rtol=FLOAT32)
    assert "media_log_ratio" not in trace


@pytest.mark.parametrize("seasonality", ["additive", "multiplicative"])
def test_geo_intercepts_integrated_out_match_the_multivariate_normal_oracle(
    seasonality: str,
) -> None:
    """With the normal likelihood the geo intercepts are integrated out: the ``y`` factor
    equals the density of each geo's KPI under ``Normal(s·(intercept·w + rest), s²(σ²I +
    τ²wwᵀ))`` (scipy; ``w = 1``, or ``1 + season`` when the seasonality is multiplicative
    and scales the intercept), and the intercepts' conditional posterior matches Gaussian
    conditioning on the joint of (a_g, r_g) done with matrices."""
    params = WorldParams(n_geos=3, n_weeks=40, channels=DEFAULT_CHANNELS[:2], n_users=100)
    data = simulate_world(params, seed=WORLD_SEED).marketing_data()
    config = ModelConfig(seasonality=seasonality)  # type: ignore[arg-type]
    inputs = model_inputs(data, fit_scaling(data, config.fourier_terms))
    args = (inputs, config, jnp.zeros(2), jnp.ones(2), None)
    trace = handlers.trace(handlers.seed(mmm_model, jax.random.key(1))).get_trace(*args)
    assert "geo_z" not in trace
    assert "intercept_geo" not in trace
    values = {k: v["value"] for k, v in trace.items()}
    mu, tau, sigma = (float(values[k]) for k in ("intercept", "geo_sd", "sigma"))
    rest, _ = mean_kpi({**values, "intercept_geo": jnp.zeros(3)}, inputs, config)
    y, share = np.asarray(inputs.y, np.float64), np.asarray(inputs.share, np.float64)
    n = y.shape[1]
    w = np.ones(n)
    if seasonality == "multiplicative":
        w = 1 + np.asarray(inputs.season, np.float64) @ np.asarray(values["fourier"], np.float64)
    oracle, means, sds = 0.0, [], []
    for g in range(3):
        cov = share[g] ** 2 * (sigma**2 * np.eye(n) + tau**2 * np.outer(w, w))
        mean = share[g] * mu * w + np.asarray(rest[g], np.float64)
        oracle += scipy.stats.multivariate_normal(mean, cov).logpdf(y[g])
        # joint of (a_g, y_g): a ~ N(mu, tau²), y = s·a·w + rest + noise
        cross = share[g] * tau**2 * w
        gain = np.linalg.solve(cov, cross)
        means.append(mu + gain @ (y[g] - mean))
        sds.append(np.sqrt(tau**2 - cross @ gain))
    factor = float(trace["y"]["fn"].log_prob(trace["y"]["value"]))
    np.testing.assert_allclose(factor, oracle, rtol=1e-4)
    np.testing.assert_allclose(values["intercept_geo_mean"], means, rtol=1e-4)
    np.testing.assert_allclose(values["intercept_geo_sd"], sds, rtol=1e-3)


def test_geo_intercept_draws_follow_their_conditional_posterior() -> None:
    from margin.mmm.model import draw_geo_intercepts

    samples = {
        "intercept_geo_mean": np.broadcast_to([1.0, 2.0], (4, 5000, 2)).copy(),
        "intercept_geo_sd": np.broadcast_to([0.1, 0.3], (4, 5000, 2)).copy(),
        "roi": np.ones((4, 5000, 2)),
    }
    out = draw_geo_intercepts(samples, seed=0)
    assert set(out) == {"roi", "intercept_geo"}
    draws = out["intercept_geo"].reshape(-1, 2)
    np.testing.assert_allclose(draws.mean(axis=0), [1.0, 2.0], atol=0.01)  # ~5 se
    np.testing.assert_allclose(draws.std(axis=0), [0.1, 0.3], rtol=0.02)
    np.testing.assert_array_equal(draw_geo_intercepts(samples, seed=0)["intercept_geo"],
                                  out["intercept_geo"])  # fmt: skip
    assert draw_geo_intercepts({"roi": samples["roi"]}, seed=0).keys() == {"roi"}


def test_closed_form_beta_and_gamma_priors_match_scipy() -> None:
    x = np.array([1e-4, 0.05, 0.3, 0.5, 0.77, 0.999])
    for a, b in ((2.0, 2.0), (0.7, 3.5)):
        np.testing.assert_allclose(
            FixedBeta(a, b).log_prob(jnp.asarray(x)), scipy.stats.beta.logpdf(x, a, b), rtol=1e-5
        )
    y = np.array([0.01, 0.5, 3.0, 20.0, 90.0])
    for a, rate in ((2.0, 0.1), (5.0, 2.0)):
        np.testing.assert_allclose(
            FixedGamma(a, rate).log_prob(jnp.asarray(y)),
            scipy.stats.gamma.logpdf(y, a, scale=1 / rate),
            rtol=1e-5,
        )
    # expanded over a plate (as the model samples them) they keep the closed form and support
    expanded = FixedBeta(2.0, 2.0).expand((3,))
    assert expanded.log_prob(jnp.full(3, 0.5)).shape == (3,)
    draws = FixedBeta(2.0, 2.0).sample(jax.random.key(0), (4000,))
    assert float(draws.min()) > 0
    assert float(draws.max()) < 1
    assert float(draws.mean()) == pytest.approx(0.5, abs=0.02)


def _level_inputs() -> ModelInputs:
    params = WorldParams(n_geos=3, n_weeks=30, channels=DEFAULT_CHANNELS[:2], n_users=100)
    data = simulate_world(params, seed=WORLD_SEED).marketing_data()
    return model_inputs(data, fit_scaling(data, 2))


def test_intercept_sampled_as_the_level_keeps_its_normal_prior_exactly() -> None:
    from margin.mmm.model import INTERCEPT_PRIOR, _intercept

    inputs = _level_inputs()
    trend, media_total, level = jnp.float32(0.07), jnp.float32(9.0), jnp.float32(1.3)
    model = handlers.substitute(
        handlers.seed(_intercept, jax.random.key(0)), {"baseline_level": level}
    )
    trace = handlers.trace(model).get_trace(trend, media_total, inputs)
    # naive loop: the share-weighted mean of the years, and media revenue per unit of
    # share-weighted KPI value, over every (geo, week)
    share, value, years = (
        np.asarray(a, np.float64) for a in (inputs.share, inputs.value, inputs.trend)
    )
    weight = weighted_years = weighted_value = 0.0
    for g in range(share.shape[0]):
        for t in range(years.shape[0]):
            weight += share[g]
            weighted_years += share[g] * years[t]
            weighted_value += share[g] * value[g, t]
    offset = 0.07 * weighted_years / weight + 9.0 / weighted_value
    intercept = float(trace["intercept"]["value"])
    np.testing.assert_allclose(intercept, 1.3 - offset, rtol=FLOAT32)
    # the site's stand-in normal and the factor add up to the intercept's own prior ...
    density = sum(
        float(site["fn"].log_prob(site["value"]).sum())
        for site in trace.values() if site["type"] == "sample"
    )  # fmt: skip
    oracle = scipy.stats.norm(*INTERCEPT_PRIOR).logpdf(intercept)
    np.testing.assert_allclose(density, oracle, rtol=FLOAT32)
    # ... because (level, trend, media) -> (intercept, trend, media) is a shear: unit Jacobian
    from margin.mmm.model import level_offset

    def to_intercept(x: jax.Array) -> jax.Array:
        return jnp.stack([x[0] - level_offset(x[1], x[2], inputs), x[1], x[2]])

    jacobian = jax.jacfwd(to_intercept)(jnp.asarray([1.3, 0.07, 9.0], dtype=jnp.float32))
    np.testing.assert_allclose(np.linalg.det(np.asarray(jacobian)), 1.0, rtol=FLOAT32)


def test_a_starting_intercept_enters_the_sampled_level_coordinate() -> None:
    from margin.mmm.estimator import _level_init
    from margin.mmm.model import _intercept

    inputs = _level_inputs()
    init = {"intercept": 0.8, "trend": 0.05, "media_log_total": np.log(4.0)}
    level = _level_init(init, inputs)["baseline_level"]
    model = handlers.substitute(
        handlers.seed(_intercept, jax.random.key(0)), {"baseline_level": jnp.float32(level)}
    )
    trace = handlers.trace(model).get_trace(jnp.float32(0.05), jnp.float32(4.0), inputs)
    np.testing.assert_allclose(float(trace["intercept"]["value"]), 0.8, rtol=FLOAT32)
    assert _level_init({"intercept": 0.8}, inputs) == {}  # no media total: not used


def test_multiplicative_seasonality_scales_the_swing_with_the_level() -> None:
    from margin.mmm.model import baseline

    inputs = _level_inputs()
    n_geos, n_times = inputs.y.shape
    params = {
        "intercept_geo": jnp.linspace(0.8, 1.2, n_geos),
        "trend": jnp.float32(0.3),
        "fourier": jnp.asarray([0.1, -0.05, 0.02, 0.04]),
        "gamma": jnp.asarray([0.05, -0.02]),
    }
    level = np.asarray(params["intercept_geo"])[:, None] + 0.3 * np.asarray(inputs.trend)[None, :]
    season = np.asarray(inputs.season) @ np.asarray(params["fourier"])
    controls = np.asarray(inputs.controls) @ np.asarray(params["gamma"])
    np.testing.assert_allclose(
        baseline(params, inputs, "multiplicative"), level * (1 + season) + controls, rtol=FLOAT32
    )
    np.testing.assert_allclose(baseline(params, inputs), level + season + controls, rtol=FLOAT32)
    assert baseline(params, inputs).shape == (n_geos, n_times)


@pytest.mark.parametrize(
    ("adstock", "saturation"), [("geometric", "hill"), ("delayed", "logistic")]
)
def test_shape_priors_enter_the_density_exactly(adstock: str, saturation: str) -> None:
    """Per-channel shape priors from a spec change the model's log density by exactly the
    difference of their scipy log densities (Beta for the decay given by mean and sd,
    log-normal for the others given by median and log-sd), at the same parameter values."""
    from margin.mmm.config import DEFAULT_SHAPE_PRIORS, ShapePrior, model_config

    params = WorldParams(n_geos=1, n_weeks=40, channels=DEFAULT_CHANNELS[:2], n_users=100)
    data = simulate_world(params, seed=WORLD_SEED).marketing_data()
    structure = {"adstock": adstock, "saturation": saturation}
    default = model_config({"model": structure}, data.channels)
    custom_raw = {
        "decay": {"tv": [0.8, 0.05], "*": [0.3, 0.1]},
        "half_saturation": {"search": [2.5, 0.2]},
        "slope": {"*": [1.5, 0.1]},
        "adstock_shape": {"tv": [3.0, 0.2]},
        "adstock_scale": {"*": [1.5, 0.3]},
        "rate": {"search": [0.5, 0.4]},
    }
    used = default.shape_sites
    custom = model_config({"model": structure, "priors": {s: custom_raw[s] for s in used}},
                          data.channels)  # fmt: skip
    inputs = model_inputs(data, fit_scaling(data, default.fourier_terms))
    base = (inputs, default, jnp.zeros(2), jnp.ones(2), None)
    trace = handlers.trace(handlers.seed(mmm_model, jax.random.key(2))).get_trace(*base)
    values = {k: v["value"] for k, v in trace.items() if v["type"] == "sample"}
    densities = []
    for config in (default, custom):
        args = (inputs, config, jnp.zeros(2), jnp.ones(2), None, config.shape_arrays(data.channels))
        densities.append(float(log_density(mmm_model, args, {}, values)[0]))

    def scipy_logpdf(prior: ShapePrior, x: float) -> float:
        if prior.site == "decay":
            m, s = prior.center, prior.spread
            k = m * (1 - m) / s**2 - 1
            return float(scipy.stats.beta.logpdf(x, m * k, (1 - m) * k))
        return float(scipy.stats.lognorm.logpdf(x, prior.spread, scale=prior.center))

    expected = 0.0
    for site in used:
        for c, name in enumerate(data.channels):
            x = float(values[site][c])
            expected += scipy_logpdf(custom.shape_prior(site, name), x)
            expected -= scipy_logpdf(DEFAULT_SHAPE_PRIORS[site], x)
    assert densities[1] - densities[0] == pytest.approx(expected, rel=1e-3, abs=1e-3)
    # the default arrays are the model's defaults: passing them changes nothing
    args = (*base[:5], default.shape_arrays(data.channels))
    assert float(log_density(mmm_model, args, {}, values)[0]) == pytest.approx(densities[0])
