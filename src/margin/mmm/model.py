"""The NumPyro model: baseline + controls + media (adstock, then saturation).

In national-equivalent scaled units (see :mod:`margin.mmm.inputs`), for geo ``g``,
week ``t`` and channel ``c``::

    mu[g, t] = s_g · (intercept_g + trend · years_t + season_t · fourier
                      + controls[g, t] · gamma + Σ_c beta_c · sat_c(adstock_c(x[g, :, c]))_t)
    y[g, t]  ~ Normal(mu, sigma · s_g)   or   StudentT(nu, mu, sigma · s_g)

Geo intercepts are partially pooled and non-centred (``intercept_g = intercept +
tau · z_g``). Media coefficients are not sampled directly: each channel's ROI is,
with a log-normal prior, and ``beta_c`` is the value that makes the channel's
contribution over the fitted weeks equal ``ROI_c × spend_c``::

    beta_c = ROI_c · spend_c / (m · Σ_{g,t} s_g · sat_gtc · value_gt)

so the ROI prior is exactly the prior a user sets. Lift tests add
``lift_i ~ Normal(predicted_lift_i, se_i)`` where ``predicted_lift_i`` is the model's
own counterfactual (see :mod:`margin.mmm.calibration`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro  # type: ignore[import-untyped]
import numpyro.distributions as dist  # type: ignore[import-untyped]
from jax import Array

from margin.mmm.config import ModelConfig
from margin.mmm.inputs import ModelInputs
from margin.mmm.transforms import delayed_adstock, geometric_adstock, hill, logistic_saturation

__all__ = ["LiftArrays", "mean_kpi", "media_response", "mmm_model"]


class LiftArrays(NamedTuple):
    """Lift tests in model units.

    Attributes:
        delta: ``(n_tests, n_geos, n_times, n_channels)`` the test's change in scaled
            media (actual minus counterfactual).
        window: ``(n_tests, n_geos, n_times)`` 1 where the lift is measured.
        lift: ``(n_tests,)`` measured lift over kpi_scale; se: ``(n_tests,)`` its sd.
    """

    delta: Array
    window: Array
    lift: Array
    se: Array


def media_response(params: dict[str, Array], media: Array, config: ModelConfig) -> Array:
    """Saturated adstocked media ``(n_geos, n_times, n_channels)``, before beta.

    Runs as one compiled program per model structure, so the eager passes NumPyro makes
    while initialising compile once instead of once per primitive.
    """
    names = _RESPONSE_SITES[(config.adstock, config.saturation)]
    fn = _response_program(config.adstock, config.saturation, config.max_lag)
    result: Array = fn(media, *(params[name] for name in names))
    return result


_RESPONSE_SITES = {
    ("geometric", "hill"): ("decay", "half_saturation", "slope"),
    ("geometric", "logistic"): ("decay", "rate"),
    ("delayed", "hill"): ("adstock_shape", "adstock_scale", "half_saturation", "slope"),
    ("delayed", "logistic"): ("adstock_shape", "adstock_scale", "rate"),
}


@functools.cache
def _response_program(adstock: str, saturation: str, max_lag: int) -> Callable[..., Array]:
    def response(media: Array, *args: Array) -> Array:
        if adstock == "geometric":
            carried, rest = geometric_adstock(media, args[0], max_lag), args[1:]
        else:
            carried, rest = delayed_adstock(media, args[0], args[1], max_lag), args[2:]
        if saturation == "hill":
            return hill(carried, rest[0], rest[1])
        return logistic_saturation(carried, rest[0])

    return jax.jit(response)


def baseline(params: dict[str, Array], inputs: ModelInputs) -> Array:
    """Baseline per head ``(n_geos, n_times)``: intercept, trend, seasonality, controls."""
    level = params["intercept_geo"][:, None] + params["trend"] * inputs.trend[None, :]
    level = level + (inputs.season @ params["fourier"])[None, :]
    return level + inputs.controls @ params["gamma"]


def mean_kpi(
    params: dict[str, Array], inputs: ModelInputs, config: ModelConfig
) -> tuple[Array, Array]:
    """Expected scaled KPI ``(n_geos, n_times)`` and media contributions ``(g, t, c)``."""
    share = inputs.share[:, None]
    media = params["beta"] * media_response(params, inputs.media, config)
    contributions = share[:, :, None] * media
    return share * baseline(params, inputs) + contributions.sum(axis=2), contributions


def _media_priors(config: ModelConfig, roi_loc: Array, roi_scale: Array) -> dict[str, Array]:
    n = roi_loc.shape[0]
    params: dict[str, Array] = {}
    with numpyro.plate("channel", n):
        params["roi"] = numpyro.sample("roi", dist.LogNormal(roi_loc, roi_scale))
        if config.adstock == "geometric":
            params["decay"] = numpyro.sample("decay", dist.Beta(2.0, 2.0))
        else:
            params["adstock_shape"] = numpyro.sample("adstock_shape", dist.LogNormal(0.5, 0.5))
            params["adstock_scale"] = numpyro.sample("adstock_scale", dist.LogNormal(0.7, 0.7))
        if config.saturation == "hill":
            params["half_saturation"] = numpyro.sample("half_saturation", dist.LogNormal(0.0, 0.7))
            params["slope"] = numpyro.sample("slope", dist.LogNormal(0.0, 0.3))
        else:
            params["rate"] = numpyro.sample("rate", dist.LogNormal(0.1, 0.7))
    return params


def _baseline_priors(inputs: ModelInputs, config: ModelConfig) -> dict[str, Array]:
    n_geos, n_controls = inputs.share.shape[0], inputs.controls.shape[2]
    intercept = numpyro.sample("intercept", dist.Normal(1.0, 0.5))
    if n_geos > 1:
        tau = numpyro.sample("geo_sd", dist.HalfNormal(0.2))
        with numpyro.plate("geo", n_geos):
            z = numpyro.sample("geo_z", dist.Normal(0.0, 1.0))
        intercept_geo = numpyro.deterministic("intercept_geo", intercept + tau * z)
    else:
        intercept_geo = numpyro.deterministic("intercept_geo", jnp.reshape(intercept, (1,)))
    trend = numpyro.sample("trend", dist.Normal(0.0, 0.2)) if config.trend else jnp.zeros(())
    fourier, gamma = jnp.zeros(0), jnp.zeros(0)  # no seasonality terms / no controls
    if inputs.season.shape[1]:
        with numpyro.plate("fourier_term", inputs.season.shape[1]):
            fourier = numpyro.sample("fourier", dist.Normal(0.0, 0.2))
    if n_controls:
        with numpyro.plate("control", n_controls):
            gamma = numpyro.sample("gamma", dist.Normal(0.0, 0.5))
    return {"intercept_geo": intercept_geo, "trend": trend, "fourier": fourier, "gamma": gamma}


def _lift_likelihood(
    params: dict[str, Array], inputs: ModelInputs, config: ModelConfig, lift: LiftArrays
) -> None:
    actual = params["beta"] * media_response(params, inputs.media, config)

    def predicted(delta: Array, window: Array) -> Array:
        counterfactual = jnp.maximum(inputs.media - delta, 0.0)
        changed = params["beta"] * media_response(params, counterfactual, config)
        diff = (actual - changed).sum(axis=2) * inputs.share[:, None]
        return (diff * window).sum()

    pred = numpyro.deterministic("lift_predicted", jax.vmap(predicted)(lift.delta, lift.window))
    with numpyro.plate("lift_test", lift.lift.shape[0]):
        numpyro.sample("lift_obs", dist.Normal(pred, lift.se), obs=lift.lift)


def mmm_model(
    inputs: ModelInputs,
    config: ModelConfig,
    roi_loc: Array,
    roi_scale: Array,
    lift: LiftArrays | None = None,
) -> None:
    """The NumPyro model (arguments as in :func:`mean_kpi`; ``roi_loc/scale`` ``(n_channels,)``)."""
    params = _media_priors(config, roi_loc, roi_scale)
    params.update(_baseline_priors(inputs, config))
    response = media_response(params, inputs.media, config)
    weighted = (response * inputs.share[:, None, None] * inputs.value[:, :, None]).sum(axis=(0, 1))
    beta = params["roi"] * inputs.spend_total / jnp.maximum(weighted, 1e-9)
    params["beta"] = numpyro.deterministic("beta", beta)
    mu, _ = mean_kpi(params, inputs, config)
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.2))
    scale = sigma * inputs.share[:, None]
    if config.likelihood == "student_t":
        nu = numpyro.sample("nu", dist.Gamma(2.0, 0.1))
        likelihood: dist.Distribution = dist.StudentT(nu, mu, scale)
    else:
        likelihood = dist.Normal(mu, scale)
    with numpyro.plate("geo_obs", mu.shape[0], dim=-2), numpyro.plate("time", mu.shape[1]):
        numpyro.sample("y", likelihood, obs=inputs.y)
    if lift is not None:
        _lift_likelihood(params, inputs, config, lift)
