"""The predicted KPI in parts (issue 21 items 11 and 12): baseline parts, immediate vs
carry-over, per geo; each an invariant per draw against the model's own predictions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from margin.data.simulator import WorldParams, simulate_world
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.mmm import decomposition, summary
from margin.mmm.config import ModelConfig
from margin.mmm.inputs import fit_scaling, model_inputs
from margin.mmm.model import baseline, mean_kpi, media_response
from margin.mmm.transforms import hill

N_DRAWS = 7
REL = 1e-4  # float32 sums over a few hundred geo-weeks


def _draws(n_geos: int, n_channels: int, n_controls: int, *, decay: float | None = None) -> dict:
    rng = np.random.default_rng(5)

    def draw(low: float, high: float, *shape: int) -> np.ndarray:
        return rng.uniform(low, high, (N_DRAWS, *shape)).astype(np.float32)

    out = {
        "roi": draw(0.5, 3.0, n_channels),
        "beta": draw(0.05, 0.5, n_channels),
        "decay": draw(0.1, 0.8, n_channels),
        "adstock_shape": draw(0.8, 2.0, n_channels),
        "adstock_scale": draw(1.0, 3.0, n_channels),
        "half_saturation": draw(0.5, 2.0, n_channels),
        "slope": draw(0.7, 1.5, n_channels),
        "rate": draw(0.5, 2.0, n_channels),
        "intercept_geo": draw(0.8, 1.2, n_geos),
        "trend": draw(-0.1, 0.1),
        "fourier": draw(-0.1, 0.1, 4),
        "gamma": draw(-0.1, 0.1, n_controls),
    }
    if decay is not None:
        out["decay"] = np.full_like(out["decay"], decay)
    return out


def _world(n_geos: int = 3):
    params = WorldParams(n_geos=n_geos, n_weeks=40, channels=DEFAULT_CHANNELS[:3], n_users=100)
    return simulate_world(params, seed=4).marketing_data()


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(),
        ModelConfig(seasonality="multiplicative"),
        ModelConfig(adstock="delayed", saturation="logistic"),
    ],
    ids=["additive", "multiplicative", "delayed-logistic"],
)
def test_parts_and_media_sum_to_the_predicted_kpi_per_draw(config: ModelConfig) -> None:
    data = _world()
    scaling = fit_scaling(data, config.fourier_terms)
    inputs = model_inputs(data, scaling)
    draws = _draws(data.n_geos, data.n_channels, data.controls.shape[2])
    m = scaling.kpi_scale
    result = decomposition.decompose(draws, inputs, config, m)
    mu, contributions = jax.vmap(lambda p: mean_kpi(p, inputs, config))(draws)
    kpi = m * np.asarray(mu, dtype=np.float64).sum(axis=(1, 2))
    contrib = m * np.asarray(contributions, dtype=np.float64)
    np.testing.assert_allclose(result.kpi, kpi, rtol=REL)
    np.testing.assert_allclose(result.contribution, contrib.sum(axis=(1, 2)), rtol=REL)
    # baseline parts + media = predicted KPI, per draw
    np.testing.assert_allclose(
        result.parts.sum(axis=1) + result.contribution.sum(axis=1), kpi, rtol=REL
    )
    # the parts sum to the model's own baseline, per draw and per week
    base = jax.vmap(lambda p: baseline(p, inputs, config.seasonality))(draws)
    weekly = m * (np.asarray(base) * np.asarray(inputs.share)[None, :, None]).sum(axis=1)
    np.testing.assert_allclose(result.parts_weekly.sum(axis=2), weekly, rtol=REL, atol=1e-3 * m)
    # immediate + carry-over = contribution, each part within [0, contribution]
    np.testing.assert_allclose(result.immediate + result.carryover, result.contribution, rtol=1e-12)
    assert np.all(result.immediate >= 0)
    assert np.all(result.carryover >= -1e-6 * m)
    # geo contributions sum to the national ones, per draw
    np.testing.assert_allclose(result.geo_contribution.sum(axis=1), result.contribution, rtol=REL)
    np.testing.assert_allclose(result.geo_kpi.sum(axis=1), kpi, rtol=REL)


def test_additive_parts_are_the_model_terms() -> None:
    """With additive seasonality each part is its own term: trend · years, season, and
    control_k · gamma_k (times the geo's share, summed)."""
    config = ModelConfig()
    data = _world()
    scaling = fit_scaling(data, config.fourier_terms)
    inputs = model_inputs(data, scaling)
    draws = _draws(data.n_geos, data.n_channels, data.controls.shape[2])
    result = decomposition.decompose(draws, inputs, config, 1.0)
    share = np.asarray(inputs.share, dtype=np.float64)
    years = np.asarray(inputs.trend, dtype=np.float64)
    trend = draws["trend"] * years.sum() * share.sum()
    np.testing.assert_allclose(result.parts[:, 1], trend, rtol=REL, atol=1e-4)
    season = (np.asarray(inputs.season) @ draws["fourier"].T).sum(axis=0) * share.sum()
    np.testing.assert_allclose(result.parts[:, 2], season, rtol=REL, atol=1e-4)
    controls = np.asarray(inputs.controls, dtype=np.float64)
    low = controls.min(axis=(0, 1))  # each control counted from its lowest value
    for k in range(controls.shape[2]):
        term = (share[:, None] * (controls[:, :, k] - low[k])).sum() * draws["gamma"][:, k]
        np.testing.assert_allclose(result.parts[:, 3 + k], term, rtol=REL, atol=1e-4)
    level = (draws["intercept_geo"] * share).sum(axis=1) + draws["gamma"] @ low
    intercept = level * share.sum() * data.n_times
    np.testing.assert_allclose(result.parts[:, 0], intercept, rtol=REL)


def test_zero_carry_over_leaves_everything_immediate() -> None:
    """Analytic case: decay 0 puts all adstock weight on lag 0: no carry-over."""
    config = ModelConfig()
    data = _world()
    inputs = model_inputs(data, fit_scaling(data, config.fourier_terms))
    draws = _draws(data.n_geos, data.n_channels, data.controls.shape[2], decay=0.0)
    result = decomposition.decompose(draws, inputs, config, 1.0)
    assert np.abs(result.carryover).max() <= 1e-6 * np.abs(result.contribution).max()
    strong = decomposition.decompose(
        _draws(data.n_geos, data.n_channels, data.controls.shape[2], decay=0.8), inputs, config, 1.0
    )
    assert np.all(strong.carryover > 0.3 * strong.contribution)


def test_the_split_uses_the_models_own_adstock() -> None:
    """The adstocked media the split divides is the one the model saturates."""
    config = ModelConfig()
    data = _world()
    inputs = model_inputs(data, fit_scaling(data, config.fourier_terms))
    draws = _draws(data.n_geos, data.n_channels, data.controls.shape[2])
    one = {k: jnp.asarray(v[0]) for k, v in draws.items()}
    carried = decomposition._carried(one, inputs.media, config)
    ours = hill(carried, one["half_saturation"], one["slope"])
    np.testing.assert_allclose(ours, media_response(one, inputs.media, config), rtol=1e-5)


def test_summary_json_carries_the_parts_and_geos() -> None:
    config = ModelConfig()
    data = _world()
    scaling = fit_scaling(data, config.fourier_terms)
    inputs = model_inputs(data, scaling)
    draws = {k: v[None] for k, v in _draws(data.n_geos, data.n_channels, 2).items()}
    body = summary.summarize(draws, data, inputs, scaling, config).to_json()
    parts = body["baseline"]["parts"]
    assert list(parts)[:3] == ["intercept", "trend", "seasonality"]
    assert list(parts)[3:] == list(data.control_names)
    total = sum(p["kpi"]["mean"] for p in parts.values())
    assert total == pytest.approx(body["baseline"]["kpi"]["mean"], rel=1e-4)
    for name, c in body["channels"].items():
        assert c["immediate"]["mean"] + c["carryover"]["mean"] == pytest.approx(
            c["contribution"]["mean"], rel=1e-6
        ), name
    geos = body["geos"]
    assert list(geos) == list(data.geos)
    for channel in data.channels:
        summed = sum(g["channels"][channel]["contribution"]["mean"] for g in geos.values())
        assert summed == pytest.approx(body["channels"][channel]["contribution"]["mean"], rel=1e-4)
