"""The NumPyro model's structure options trace to finite log densities with the right sites."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers  # type: ignore[import-untyped]
from numpyro.infer.util import log_density  # type: ignore[import-untyped]

from margin.data.simulator import WorldParams, simulate_world
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.mmm.config import ModelConfig
from margin.mmm.inputs import fit_scaling, model_inputs
from margin.mmm.model import mean_kpi, mmm_model

WORLD_SEED = 3
FLOAT32 = 1e-4


def test_delayed_logistic_student_t_geo_model_traces() -> None:
    params = WorldParams(n_geos=3, n_weeks=40, channels=DEFAULT_CHANNELS[:2], n_users=100)
    data = simulate_world(params, seed=WORLD_SEED).marketing_data()
    config = ModelConfig(adstock="delayed", saturation="logistic", likelihood="student_t")
    inputs = model_inputs(data, fit_scaling(data, config.fourier_terms))
    args = (inputs, config, jnp.zeros(2), jnp.ones(2), None)
    trace = handlers.trace(handlers.seed(mmm_model, jax.random.key(0))).get_trace(*args)
    for site in ("roi", "adstock_shape", "adstock_scale", "rate", "nu", "geo_z", "beta"):
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
