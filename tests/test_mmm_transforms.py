"""Media transforms: naive-loop oracles, analytic limits, jit = eager, simulator agreement."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from margin.data.simulator import geometric_adstock as sim_adstock
from margin.data.simulator import hill as sim_hill
from margin.mmm import transforms
from margin.mmm.transforms import (
    delayed_adstock,
    geometric_adstock,
    geometric_weights,
    hill,
    logistic_saturation,
    weibull_weights,
)

FLOAT32 = 1e-5
"""Relative tolerance of float32 arithmetic on O(1) values."""
SEED = 20261123


@pytest.fixture
def media() -> np.ndarray:
    return np.random.default_rng(SEED).gamma(2.0, 1.0, size=(3, 20, 4)).astype(np.float32)


def _loop_adstock(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x, dtype=np.float64)
    g_n, t_n, c_n = x.shape
    for g in range(g_n):
        for t in range(t_n):
            for c in range(c_n):
                for lag in range(weights.shape[0]):
                    if t - lag >= 0:
                        out[g, t, c] += weights[lag, c] * x[g, t - lag, c]
    return out


def test_geometric_adstock_matches_naive_loop(media: np.ndarray) -> None:
    decay = np.array([0.0, 0.3, 0.6, 0.9])
    weights = np.array([[d**lag for d in decay] for lag in range(5)])
    weights = weights / weights.sum(axis=0)
    got = geometric_adstock(media, decay, 5)
    np.testing.assert_allclose(got, _loop_adstock(media, weights), rtol=FLOAT32, atol=FLOAT32)


@pytest.mark.parametrize("stacked_max", [0, transforms.STACKED_MAX], ids=["loop", "stacked"])
def test_both_adstock_forms_match_the_naive_loop_and_each_others_gradient(
    media: np.ndarray, stacked_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small panels take the stacked contraction, big ones the loop over lags: the same
    numbers and the same gradients (with respect to the weights and to the media)."""
    weights = np.random.default_rng(SEED + 1).dirichlet(np.ones(6), size=4).T.astype(np.float32)

    def loss(w: jax.Array, x: jax.Array) -> jax.Array:
        return (transforms.apply_lag_weights(x, w) ** 2).sum()

    monkeypatch.setattr(transforms, "STACKED_MAX", 0)
    loop_grads = jax.grad(loss, argnums=(0, 1))(jnp.asarray(weights), jnp.asarray(media))
    monkeypatch.setattr(transforms, "STACKED_MAX", stacked_max)
    got = transforms.apply_lag_weights(media, weights)
    np.testing.assert_allclose(got, _loop_adstock(media, weights), rtol=FLOAT32, atol=FLOAT32)
    grads = jax.grad(loss, argnums=(0, 1))(jnp.asarray(weights), jnp.asarray(media))
    for mine, oracle in zip(grads, loop_grads, strict=True):
        np.testing.assert_allclose(mine, oracle, rtol=FLOAT32, atol=FLOAT32)


def test_unnormalised_weights_are_powers_of_decay() -> None:
    weights = geometric_weights(jnp.array([0.5]), 4, normalize=False)
    np.testing.assert_allclose(weights[:, 0], [1, 0.5, 0.25, 0.125], rtol=FLOAT32)


def test_decay_zero_is_identity(media: np.ndarray) -> None:
    got = geometric_adstock(media, np.zeros(4), 6)
    np.testing.assert_allclose(got, media, rtol=FLOAT32)


def test_adstock_preserves_mass_after_the_tail(media: np.ndarray) -> None:
    padded = np.concatenate([media, np.zeros((3, 7, 4), np.float32)], axis=1)
    got = geometric_adstock(padded, np.array([0.2, 0.5, 0.7, 0.95]), 8)
    np.testing.assert_allclose(got.sum(axis=1), padded.sum(axis=1), rtol=FLOAT32)


def test_geometric_adstock_agrees_with_simulator(media: np.ndarray) -> None:
    decay = np.array([0.1, 0.4, 0.7, 0.8])
    expected = sim_adstock(media.astype(np.float64), decay, 8)
    np.testing.assert_allclose(geometric_adstock(media, decay, 8), expected, rtol=FLOAT32)


def test_delayed_adstock_matches_loop_and_peaks_late(media: np.ndarray) -> None:
    shape, scale = np.array([0.8, 1.5, 2.5, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])
    lags = np.arange(1, 7, dtype=np.float64)[:, None]
    pdf = shape / scale * (lags / scale) ** (shape - 1) * np.exp(-((lags / scale) ** shape))
    weights = pdf / pdf.sum(axis=0)
    got = delayed_adstock(media, shape, scale, 6)
    np.testing.assert_allclose(got, _loop_adstock(media, weights), rtol=1e-4, atol=1e-5)
    w = np.asarray(weibull_weights(shape, scale, 6))
    assert int(np.argmax(w[:, 3])) > 0
    np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=FLOAT32)


def test_hill_half_saturation_zero_and_simulator() -> None:
    half = np.array([0.5, 1.0, 2.0])
    slope = np.array([0.8, 1.0, 2.5])
    np.testing.assert_allclose(hill(half, half, slope), 0.5, rtol=FLOAT32)
    assert np.all(np.asarray(hill(np.zeros(3), half, slope)) == 0)
    x = np.random.default_rng(SEED).uniform(0, 4, size=(2, 5, 3))
    np.testing.assert_allclose(hill(x, half, slope), sim_hill(x, half, slope), rtol=FLOAT32)


def test_hill_gradient_is_finite_at_zero() -> None:
    grad = jax.grad(lambda s: hill(jnp.zeros(3), 1.0, s).sum())(1.3)
    assert np.isfinite(grad)


def test_logistic_saturation_limits() -> None:
    rate = np.array([0.5, 2.0])
    assert np.all(np.asarray(logistic_saturation(np.zeros(2), rate)) == 0)
    np.testing.assert_allclose(logistic_saturation(np.log(3.0) / rate, rate), 0.5, rtol=FLOAT32)
    x = np.array([0.3, 1.7])
    np.testing.assert_allclose(logistic_saturation(x, rate), np.tanh(rate * x / 2), rtol=FLOAT32)


def test_zero_media_gives_zero_response() -> None:
    x = jnp.zeros((2, 10, 3))
    carried = geometric_adstock(x, jnp.array([0.3, 0.5, 0.7]), 4)
    assert float(jnp.abs(hill(carried, 1.0, 1.0)).max()) == 0.0


def test_jit_equals_eager(media: np.ndarray) -> None:
    decay = jnp.array([0.1, 0.4, 0.7, 0.8])

    def response(x: jax.Array, d: jax.Array) -> jax.Array:
        return hill(geometric_adstock(x, d, 6), 1.0, 1.2)

    eager = response(jnp.asarray(media), decay)
    compiled = jax.jit(response)(jnp.asarray(media), decay)
    np.testing.assert_allclose(compiled, eager, rtol=FLOAT32)
