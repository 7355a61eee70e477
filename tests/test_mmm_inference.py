"""Samplers against a conjugate model whose posterior is known exactly.

``mu ~ Normal(m0, s0)``, ``y_i ~ Normal(mu, s)`` (s known) gives
``mu | y ~ Normal(m1, s1)`` with ``1/s1² = 1/s0² + n/s²`` and
``m1 = s1² (m0/s0² + Σy/s²)``; a positive site (``scale ~ LogNormal``) with no data
keeps its prior, which exercises the support transforms.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro  # type: ignore[import-untyped]
import numpyro.distributions as dist  # type: ignore[import-untyped]
import pytest

from margin.errors import ConfigError
from margin.mmm.inference import (
    initial_points,
    latent_sites,
    run_laplace,
    run_nuts,
    warm_start,
)

M0, S0, S = 1.0, 2.0, 0.5
Y = np.random.default_rng(7).normal(3.0, S, size=40).astype(np.float32)
S1 = (1 / S0**2 + len(Y) / S**2) ** -0.5
M1 = S1**2 * (M0 / S0**2 + Y.sum() / S**2)
FLOAT32 = 1e-3
"""Tolerance of a float32 optimum and Hessian."""
MONTE_CARLO = 4.0
"""Draw-based estimates within 4 Monte-Carlo standard errors."""


def conjugate(y: jax.Array) -> None:
    mu = numpyro.sample("mu", dist.Normal(M0, S0))
    numpyro.sample("scale", dist.LogNormal(0.0, 0.5))
    numpyro.deterministic("twice", 2 * mu)
    with numpyro.plate("obs", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, S), obs=y)


def test_latent_sites_and_initial_points() -> None:
    sites = latent_sites(lambda: conjugate(jnp.asarray(Y)))
    assert set(sites) == {"mu", "scale"}
    assert sites["mu"].shape == ()
    potential = jax.jit(
        lambda z: numpyro.infer.util.potential_energy(conjugate, (jnp.asarray(Y),), {}, z)
    )
    points = initial_points(sites, potential, np.random.default_rng(0), 3, init={"scale": 2.0})
    assert points["mu"].shape == (3,)
    assert np.all(np.abs(np.asarray(points["scale"]) - np.log(2.0)) <= 0.1 + 1e-6)
    with pytest.raises(ConfigError, match="shape"):
        initial_points(sites, potential, np.random.default_rng(0), 3, init={"mu": np.zeros(2)})
    with pytest.raises(ConfigError, match="support"):
        initial_points(sites, potential, np.random.default_rng(0), 3, init={"scale": -1.0})


def test_laplace_is_exact_on_a_gaussian_posterior() -> None:
    draws = run_laplace(conjugate, (jnp.asarray(Y),), seed=0, chains=2, draws=4000)
    mu = draws.samples["mu"]
    assert mu.shape == (2, 4000)
    assert draws.method == "approximate"
    assert draws.extra["hessian_positive_definite"]
    se = S1 / np.sqrt(mu.size)
    assert abs(mu.mean() - M1) < MONTE_CARLO * se + FLOAT32
    assert mu.std() == pytest.approx(S1, rel=0.05)
    np.testing.assert_allclose(draws.samples["twice"], 2 * mu, rtol=1e-6)
    # the unobserved positive site: its prior, log-normal(0, 0.5), mode-centred on the log scale
    assert np.log(draws.samples["scale"]).std() == pytest.approx(0.5, rel=0.05)


def test_nuts_recovers_the_posterior_and_reports_its_statistics() -> None:
    draws = run_nuts(conjugate, (jnp.asarray(Y),), seed=1, chains=2, draws=500, warmup=300)
    mu = draws.samples["mu"]
    assert mu.shape == (2, 500)
    assert draws.diverging is not None
    assert draws.num_steps is not None
    assert draws.diverging.shape == (2, 500)
    assert abs(mu.mean() - M1) < MONTE_CARLO * S1 / np.sqrt(mu.size / 2)
    assert mu.std() == pytest.approx(S1, rel=0.15)
    assert np.log(draws.samples["scale"]).std() == pytest.approx(0.5, rel=0.2)


def test_nuts_runs_a_single_chain() -> None:
    # NumPyro takes one chain's starting point without the chain axis (was a shape error)
    draws = run_nuts(conjugate, (jnp.asarray(Y),), seed=2, chains=1, draws=300, warmup=200)
    mu = draws.samples["mu"]
    assert mu.shape == (1, 300)
    assert draws.num_steps is not None
    assert draws.num_steps.shape == (1, 300)
    assert abs(mu.mean() - M1) < MONTE_CARLO * S1 / np.sqrt(mu.size / 2)


def test_warm_start_takes_posterior_medians_per_site() -> None:
    samples = {"mu": np.arange(12.0).reshape(2, 6), "beta": np.ones((2, 6, 3)), "flat": np.ones(3)}
    start = warm_start(samples)
    assert start["mu"] == pytest.approx(5.5)
    assert start["beta"].shape == (3,)
    assert "flat" not in start


def test_same_seed_same_draws() -> None:
    a = run_laplace(conjugate, (jnp.asarray(Y),), seed=3, chains=1, draws=50)
    b = run_laplace(conjugate, (jnp.asarray(Y),), seed=3, chains=1, draws=50)
    np.testing.assert_array_equal(a.samples["mu"], b.samples["mu"])


def test_starting_values_map_to_the_unconstrained_scale_as_numpyro_does() -> None:
    """``unconstrained_init`` inverts margin's site bijections in numpy (no eager JAX
    programs); the values equal NumPyro's own inverse, and values outside a support fail."""
    from numpyro.distributions.transforms import biject_to  # type: ignore[import-untyped]

    from margin.mmm.inference import LatentSite, unconstrained_init

    cases = {
        "level": (dist.constraints.real, np.array([-1.5, 0.0, 2.5])),
        "scale": (dist.constraints.positive, np.array([1e-3, 0.135, 7.0])),
        "decay": (dist.constraints.unit_interval, np.array([0.05, 0.5, 0.93])),
    }
    sites = {n: LatentSite(biject_to(c), (3,)) for n, (c, _) in cases.items()}
    fixed = unconstrained_init(sites, {n: v for n, (_, v) in cases.items()})
    for name, (constraint, value) in cases.items():
        expected = np.asarray(biject_to(constraint).inv(jnp.asarray(value, jnp.float32)))
        np.testing.assert_allclose(fixed[name], expected, rtol=1e-5, atol=1e-6)
    for name, bad in (("scale", [-1.0, 1.0, 1.0]), ("decay", [0.5, 1.0, 0.2])):
        with pytest.raises(ConfigError, match=f"{name!r} lies outside"):
            unconstrained_init(sites, {name: np.array(bad)})
