"""Posterior summaries computed in batches of draws equal the all-at-once computation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from margin.data.simulator import WorldParams, simulate_world
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.mmm import summary
from margin.mmm.config import ModelConfig
from margin.mmm.inputs import fit_scaling, model_inputs
from margin.mmm.model import mean_kpi

FLOAT32 = 1e-5
N_DRAWS = 7  # not a multiple of the batch below: the last batch is padded


def _draws(n_geos: int, n_channels: int) -> dict[str, jax.Array]:
    rng = np.random.default_rng(5)

    def draw(low: float, high: float, *shape: int) -> jax.Array:
        return jnp.asarray(rng.uniform(low, high, (N_DRAWS, *shape)), dtype=jnp.float32)

    return {
        "roi": draw(0.5, 3.0, n_channels),
        "beta": draw(0.05, 0.5, n_channels),
        "decay": draw(0.1, 0.8, n_channels),
        "half_saturation": draw(0.5, 2.0, n_channels),
        "slope": draw(0.7, 1.5, n_channels),
        "intercept_geo": draw(0.8, 1.2, n_geos),
        "trend": draw(-0.1, 0.1),
        "fourier": draw(-0.1, 0.1, 4),
        "gamma": draw(-0.1, 0.1, 2),
    }


def test_batched_predictions_and_totals_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    params = WorldParams(n_geos=3, n_weeks=40, channels=DEFAULT_CHANNELS[:2], n_users=100)
    data = simulate_world(params, seed=4).marketing_data()
    config = ModelConfig()
    inputs = model_inputs(data, fit_scaling(data, config.fourier_terms))
    draws = _draws(data.n_geos, data.n_channels)
    mu, contributions = jax.vmap(lambda p: mean_kpi(p, inputs, config))(draws)
    monkeypatch.setattr(summary, "DRAW_BATCH", 3)
    batched = summary.predict_draws(draws, inputs, config)
    assert batched.shape == (N_DRAWS, data.n_geos, data.n_times)
    np.testing.assert_allclose(batched, mu, rtol=FLOAT32)
    totals = summary._totals(draws, inputs, config, 2.0)
    contrib = 2.0 * np.asarray(contributions, dtype=np.float64)
    np.testing.assert_allclose(totals.kpi, 2.0 * np.asarray(mu).sum(axis=(1, 2)), rtol=FLOAT32)
    np.testing.assert_allclose(totals.contribution, contrib.sum(axis=(1, 2)), rtol=FLOAT32)
    value = np.asarray(inputs.value)[None, :, :, None]
    np.testing.assert_allclose(totals.revenue, (contrib * value).sum(axis=(1, 2)), rtol=FLOAT32)
    np.testing.assert_allclose(totals.weekly, contrib.sum(axis=1), rtol=FLOAT32)
    mroi = summary._mroi(draws, inputs, config)
    monkeypatch.setattr(summary, "DRAW_BATCH", 100)
    np.testing.assert_allclose(mroi, summary._mroi(draws, inputs, config), rtol=FLOAT32)


def test_marginal_roi_is_the_whole_kpi_gain_of_a_one_percent_bump() -> None:
    """Oracle: in float64, the KPI of every draw with one channel's spend raised by 1%,
    minus the KPI as it is, in KPI value, over 1% of the channel's spend. margin computes
    it in float32 on the bumped channel's contribution alone: float32's rounding over a
    1% step is ~6e-6 of the result."""
    params = WorldParams(n_geos=3, n_weeks=40, channels=DEFAULT_CHANNELS[:3], n_users=100)
    data = simulate_world(params, seed=4).marketing_data()
    config = ModelConfig()
    inputs = model_inputs(data, fit_scaling(data, config.fourier_terms))
    draws = _draws(data.n_geos, data.n_channels)
    got = summary._mroi(draws, inputs, config)
    with jax.enable_x64(True):
        wide = type(inputs)(*(jnp.asarray(np.asarray(a), dtype=jnp.float64) for a in inputs))
        params64 = {k: jnp.asarray(np.asarray(v), dtype=jnp.float64) for k, v in draws.items()}

        def kpi(media: jax.Array) -> np.ndarray:
            bumped = wide._replace(media=media)
            return np.asarray(jax.vmap(lambda p: mean_kpi(p, bumped, config)[0])(params64))

        base = kpi(wide.media)
        oracle = np.empty((N_DRAWS, data.n_channels))
        for c in range(data.n_channels):
            factor = np.ones(data.n_channels)
            factor[c] += summary.MROI_STEP
            gain = ((kpi(wide.media * factor) - base) * np.asarray(wide.value)).sum(axis=(1, 2))
            oracle[:, c] = gain / (summary.MROI_STEP * float(wide.spend_total[c]))
    np.testing.assert_allclose(got, oracle, rtol=FLOAT32)


def test_a_run_summary_names_its_fit_verdict() -> None:
    """``RunSummary.fit_verdict`` reads the fit check the fit stored in its diagnostics
    (``None`` for runs saved before it)."""
    from margin.types import Interval

    one = Interval.exact(1.0)
    posterior = summary.PosteriorSummary(
        {}, summary.Totals(1.0, one, one, one, 1.0, one), summary.Baseline(one, one)
    )
    record = summary.FitRecord(1.0, 1, 10, 0, 0, "approximate", 0, 0)
    fitted = summary.RunSummary(
        posterior, "approximate", {"model_fit": {"level": "poor"}}, record, {}
    )
    assert fitted.fit_verdict == "poor"
    assert summary.RunSummary(posterior, "approximate", {}, record, {}).fit_verdict is None
