"""Hierarchical BG/NBD and Gamma-Gamma across acquisition channels (``margin.ltv.hierarchical``):
recovery of each channel's known parameters, shrinkage of a small channel toward the
population, agreement with the maximum-likelihood fit for one channel, values per channel
from the draws, bad input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from margin.data.simulator.customers import (
    draw_purchase_rates,
    expected_repeat_purchases,
    purchase_process,
)
from margin.data.simulator.params import LtvParams
from margin.errors import ConfigError, DataValidationError
from margin.ltv.bgnbd import fit_bgnbd
from margin.ltv.hierarchical import (
    HierarchicalFit,
    fit_bgnbd_hierarchical,
    fit_gamma_gamma_hierarchical,
    hierarchical_new_customer_value,
)

TRUE = {
    "search": LtvParams(r=0.6, alpha=5.0, a=0.8, b=4.0, p_shape=6.0, q=4.0, gamma=20.0),
    "display": LtvParams(r=0.3, alpha=6.0, a=1.2, b=2.0, p_shape=5.0, q=4.0, gamma=15.0),
    "tiny": LtvParams(r=1.5, alpha=8.0, a=1.0, b=2.0, p_shape=6.0, q=4.0, gamma=15.0),
}
SIZES = {"search": 600, "display": 600, "tiny": 60}
FIRST = {"search": 40.0, "display": 25.0, "tiny": 30.0}
HORIZON = 52.0


def customers(name: str, n: int, rng: np.random.Generator) -> dict[str, Any]:
    """``n`` customers of ``name`` observed 40 to 52 whole weeks (the simulator's BG/NBD
    process), with their mean repeat spend (Gamma-Gamma)."""
    params = TRUE[name]
    age = rng.integers(40, 53, n).astype(float)
    rate, dropout = draw_purchase_rates(n, params, rng)
    customer, time, _ = purchase_process(rate, dropout, np.zeros(n), age, rng)
    x = np.bincount(customer, minlength=n).astype(float)
    last = np.zeros(n)
    np.maximum.at(last, customer, np.round(time, 2))
    nu = rng.gamma(params.q, 1.0 / params.gamma, n)
    spend = np.where(x > 0, rng.gamma(params.p_shape * np.maximum(x, 1), 1.0), 0.0)
    monetary = np.where(x > 0, spend / (nu * np.maximum(x, 1)), 0.0)
    return {"x": x, "t_x": np.minimum(last, age), "T": age, "m": monetary, "c": [name] * n}


@pytest.fixture(scope="module")
def world() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    parts = [customers(name, n, rng) for name, n in SIZES.items()]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("x", "t_x", "T", "m", "c")}


@pytest.fixture(scope="module")
def fit(world: dict[str, np.ndarray]) -> HierarchicalFit:
    return fit_bgnbd_hierarchical(
        world["x"], world["t_x"], world["T"], world["c"], draws=150, warmup=150, seed=1
    )


def test_big_channels_recover_their_parameters(fit: HierarchicalFit) -> None:
    assert fit.channels == ("display", "search", "tiny")
    assert fit.customers == {"display": 600.0, "search": 600.0, "tiny": 60.0}
    for name in ("search", "display"):
        truth, post = TRUE[name], fit.params[name]
        assert abs(post["r"].mean / truth.r - 1) < 0.25, name
        assert abs(post["alpha"].mean / truth.alpha - 1) < 0.25, name
        rate = fit.draws[name]["r"] / fit.draws[name]["alpha"]
        assert abs(float(rate.mean()) / truth.mean_rate - 1) < 0.15, name
    assert fit.divergences <= 4  # of 150 draws
    assert fit.max_rhat is None  # one chain


def test_small_channel_is_shrunk_toward_the_pool(
    fit: HierarchicalFit, world: dict[str, np.ndarray]
) -> None:
    tiny = world["c"] == "tiny"
    own = fit_bgnbd(world["x"][tiny], world["t_x"][tiny], world["T"][tiny]).estimates()
    pooled = fit_bgnbd(world["x"], world["t_x"], world["T"]).estimates()
    posterior = math.exp(float(np.log(fit.draws["tiny"]["r"]).mean()))
    own_gap = abs(math.log(own["r"] / pooled["r"]))
    assert own_gap > 0.5  # its own MLE is far from the pool
    assert abs(math.log(posterior / pooled["r"])) < own_gap
    truth = TRUE["tiny"]
    assert fit.params["tiny"]["alpha"].contains(truth.alpha)
    count = hierarchical_new_customer_value(
        fit, dict.fromkeys(TRUE, 1.0), dict.fromkeys(TRUE, 0.0), HORIZON
    )
    # value = E[X(52)] with spend 1 and no first purchase: covers the truth
    assert count["tiny"].contains(expected_repeat_purchases(truth, HORIZON))


def test_value_per_channel_from_the_draws(
    fit: HierarchicalFit, world: dict[str, np.ndarray]
) -> None:
    spend = fit_gamma_gamma_hierarchical(world["x"], world["m"], world["c"], draws=150,
                                         warmup=150, seed=2)  # fmt: skip
    assert set(spend.channels) == set(fit.channels)
    values = hierarchical_new_customer_value(fit, spend, FIRST, HORIZON)
    for name in ("search", "display"):
        truth = TRUE[name]
        true_value = FIRST[name] + expected_repeat_purchases(truth, HORIZON) * truth.mean_amount
        assert values[name].contains(true_value), (name, values[name], true_value)
    discounted = hierarchical_new_customer_value(
        fit, spend, FIRST, HORIZON, annual_discount_rate=0.2
    )
    assert discounted["search"].mean < values["search"].mean
    json = spend.to_json()
    assert set(json["channels"]["tiny"]["params"]) == {"p", "q", "gamma"}


def test_one_channel_matches_the_maximum_likelihood_fit(world: dict[str, np.ndarray]) -> None:
    one = world["c"] == "search"
    x, t_x, age = world["x"][one], world["t_x"][one], world["T"][one]
    mle = fit_bgnbd(x, t_x, age)
    post = fit_bgnbd_hierarchical(x, t_x, age, world["c"][one], draws=150, warmup=150,
                                  chains=2, seed=3)  # fmt: skip
    for name, estimate in mle.params.items():
        log_mean = float(np.log(post.draws["search"][name]).mean())
        assert abs(log_mean - math.log(estimate.estimate)) < 0.4 * estimate.se_log, name
    # one channel leaves μ and τ·z trading off (a ridge): R-hat and ESS are reported, loosely
    assert post.max_rhat is not None
    assert post.max_rhat < 1.2
    assert post.min_ess_bulk is not None
    assert post.min_ess_bulk > 10


def test_bad_input_is_refused_with_a_clear_error() -> None:
    x, t_x, age = np.array([1.0, 0.0]), np.array([2.0, 0.0]), np.array([5.0, 5.0])
    with pytest.raises(DataValidationError, match="one acquisition channel per row"):
        fit_bgnbd_hierarchical(x, t_x, age, ["a"])
    with pytest.raises(DataValidationError, match="at least one"):
        fit_bgnbd_hierarchical([], [], [], [])
    with pytest.raises(DataValidationError, match="row 1 has no channel"):
        fit_bgnbd_hierarchical(x, t_x, age, ["a", None])
    with pytest.raises(DataValidationError, match="no repeat customers"):
        fit_gamma_gamma_hierarchical([0.0], [0.0], ["a"])
    with pytest.raises(ConfigError, match="draws must be"):
        fit_bgnbd_hierarchical(x, t_x, age, ["a", "b"], draws=0)
