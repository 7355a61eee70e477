"""The customer-value models: published numbers, oracles, limits, invariances, bad input.

Tolerance tiers: ``PUBLISHED`` (3 significant digits, as the papers print them),
``FLOAT64`` (same maths, other data layout or compilation), ``ORACLE`` (SciPy quadrature
of the defining integrals), ``MONTE_CARLO`` (simulated customers).
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from margin.errors import ConfigError, DataValidationError, MarginError
from margin.ltv import bgnbd, gamma_gamma, pareto_nbd, sbg
from margin.ltv.holdout import holdout_check
from margin.ltv.inputs import collapse_rows
from margin.ltv.mle import float64
from margin.ltv.results import LtvFit, LtvFitError
from margin.ltv.value import customer_value, new_customer_value

FLOAT64 = 1e-8
ORACLE = 1e-7
LIFETIMES = "lifetimes"

REGULAR = (1000, 631, 468, 382, 326, 289, 262, 241)
HIGH_END = (1000, 869, 743, 653, 593, 551, 517, 491)
CUSTOMERS = (  # (x, t_x, T): a repeat buyer, a one-off, an early heavy buyer gone quiet
    (2.0, 30.43, 38.86),
    (0.0, 0.0, 38.86),
    (7.0, 10.0, 38.86),
)


def sig3(value: float) -> float:
    """``value`` to 3 significant digits."""
    return float(f"{value:.3g}")


def assert_published(fit: LtvFit, expected: dict[str, float]) -> None:
    for name, value in expected.items():
        assert sig3(fit.params[name].estimate) == sig3(value), (name, fit.params[name])


def _lifetimes(name: str) -> pd.DataFrame:
    """A CDNOW file of ../shared/data/lifetimes (skips the test when it is absent)."""
    from conftest import SHARED_DATA

    path = SHARED_DATA / LIFETIMES / name
    if not path.is_file():
        pytest.skip(f"peer reference data not found at {path}")
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return _lifetimes("cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def cdnow_spend() -> pd.DataFrame:
    return _lifetimes("cdnow_customers_summary_with_transactions.csv")


@pytest.fixture(scope="module")
def collapsed(cdnow: pd.DataFrame) -> tuple[tuple[Any, ...], Any]:
    return collapse_rows(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def bgnbd_fit(collapsed: tuple[tuple[Any, ...], Any]) -> LtvFit:
    rows, weights = collapsed
    return bgnbd.fit_bgnbd(*rows, weights=weights)


@pytest.fixture(scope="module")
def pareto_fit(collapsed: tuple[tuple[Any, ...], Any]) -> LtvFit:
    rows, weights = collapsed
    return pareto_nbd.fit_pareto_nbd(*rows, weights=weights)


@pytest.fixture(scope="module")
def spend_fit(cdnow_spend: pd.DataFrame) -> LtvFit:
    return gamma_gamma.fit_gamma_gamma(cdnow_spend["x"], cdnow_spend["zbar"])


# -- published numbers ----------------------------------------------------------------


@pytest.mark.shared_data
def test_bgnbd_reproduces_fader_hardie_lee_2005(bgnbd_fit: LtvFit) -> None:
    assert_published(bgnbd_fit, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    assert bgnbd_fit.loglik == pytest.approx(-9582.4, abs=0.05)
    assert bgnbd_fit.n_customers == 2357
    assert bgnbd_fit.n_rows < 2357


@pytest.mark.shared_data
def test_pareto_nbd_reproduces_clvtools(pareto_fit: LtvFit) -> None:
    assert_published(pareto_fit, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
    assert pareto_fit.loglik == pytest.approx(-9595.0, abs=0.05)


@pytest.mark.shared_data
def test_gamma_gamma_reproduces_fader_hardie_lee_rfm(spend_fit: LtvFit) -> None:
    assert_published(spend_fit, {"p": 6.25, "q": 3.74, "gamma": 15.44})
    assert spend_fit.n_customers == 946  # the repeat customers only


@pytest.mark.parametrize(
    ("alive", "alpha", "beta"), [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)]
)
def test_sbg_reproduces_fader_hardie_2007(
    alive: tuple[int, ...], alpha: float, beta: float
) -> None:
    fit = sbg.fit_sbg(alive)
    assert_published(fit, {"alpha": alpha, "beta": beta})
    assert fit.n_customers == 1000
    e = fit.estimates()
    periods = np.arange(1, 8)
    # the survival curve's identities: S(t) = Π r(k), projected survivors = cohort · S(t)
    assert sbg.survival(e, periods) == pytest.approx(np.cumprod(sbg.retention(e, periods)))
    assert sbg.survivors(e, 1000, [0])[0] == pytest.approx(1000)


# -- oracles ----------------------------------------------------------------------------


def _bgnbd_oracle(
    params: dict[str, float], x: float, t_x: float, age: float, t: float
) -> tuple[float, float]:
    """P(alive) and E[Y(t)] by quadrature over p of the λ-integrated joint (FHL 2005)."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    g = stats.beta(a, b).pdf
    lam = math.exp(special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha))
    alive = lam * (alpha + age) ** -(r + x) * integrate.quad(lambda p: (1 - p) ** x * g(p), 0, 1)[0]
    dropped = 0.0
    if x > 0:
        dropped = (
            lam
            * (alpha + t_x) ** -(r + x)
            * integrate.quad(lambda p: p * (1 - p) ** (x - 1) * g(p), 0, 1)[0]
        )
    future = lam * integrate.quad(
        lambda p: (1 - p) ** x / p * ((alpha + age) ** -(r + x) - (alpha + age + p * t) ** -(r + x)) * g(p),
        0, 1, epsabs=0, epsrel=1e-11,
    )[0]  # fmt: skip
    return alive / (alive + dropped), future / (alive + dropped)


def _pareto_oracle(
    params: dict[str, float], x: float, t_x: float, age: float, t: float
) -> tuple[float, float]:
    """P(alive) and E[Y(t)] by quadrature over τ and μ of the defining integrals."""
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    alive = (alpha + age) ** -(r + x) * (beta + age) ** -s
    died = s * integrate.quad(
        lambda tau: (alpha + tau) ** -(r + x) * (beta + tau) ** -(s + 1), t_x, age,
        epsabs=0, epsrel=1e-12,
    )[0]  # fmt: skip
    p_alive = alive / (alive + died)
    g = stats.gamma(s, scale=1 / beta).pdf
    upper = integrate.quad(
        lambda mu: -math.expm1(-mu * t) / mu * math.exp(-mu * age) * g(mu), 0, np.inf, epsrel=1e-11
    )[0]
    lower = integrate.quad(lambda mu: math.exp(-mu * age) * g(mu), 0, np.inf, epsrel=1e-11)[0]
    return p_alive, p_alive * (r + x) / (alpha + age) * upper / lower


@pytest.mark.parametrize("customer", CUSTOMERS)
def test_bgnbd_predictions_match_quadrature(customer: tuple[float, float, float]) -> None:
    params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    x, t_x, age = customer
    alive, future = _bgnbd_oracle(params, x, t_x, age, 39.0)
    assert bgnbd.p_alive(params, [x], [t_x], [age])[0] == pytest.approx(alive, rel=ORACLE)
    got = bgnbd.conditional_expected_transactions(params, 39.0, [x], [t_x], [age])[0]
    assert got == pytest.approx(future, rel=1e-6)


@pytest.mark.parametrize("customer", CUSTOMERS)
@pytest.mark.parametrize(
    "params",
    [
        {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},  # alpha < beta
        {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 0.05},  # alpha >> beta: z near 1
    ],
)
def test_pareto_nbd_predictions_match_quadrature(
    customer: tuple[float, float, float], params: dict[str, float]
) -> None:
    x, t_x, age = customer
    alive, future = _pareto_oracle(params, x, t_x, age, 39.0)
    assert pareto_nbd.p_alive(params, [x], [t_x], [age])[0] == pytest.approx(alive, rel=ORACLE)
    got = pareto_nbd.conditional_expected_transactions(params, 39.0, [x], [t_x], [age])[0]
    assert got == pytest.approx(future, rel=1e-6)


@pytest.mark.parametrize(
    ("a", "b", "z"),
    [
        (1.2, 1.6, 0.09),
        (50.0, 49.0, 0.5),
        (200.0, 199.0, 0.9),
        (0.8, 0.6, 0.95),
        (0.3, 1.2, 0.9999),
        (2.0, 3.0, 0.0),
    ],
)
def test_log_hyp2f1_matches_scipy(a: float, b: float, z: float) -> None:
    with float64():
        got = float(pareto_nbd.log_hyp2f1(a, b, z))
    assert got == pytest.approx(math.log(special.hyp2f1(a, b, a + 1, z)), rel=1e-12, abs=1e-12)


def test_gamma_gamma_conditional_spend_is_a_weighted_mean() -> None:
    params = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    population = gamma_gamma.mean_spend(params)
    assert population == pytest.approx(6.25 * 15.44 / 2.74)
    got = gamma_gamma.conditional_expected_spend(params, [0, 1, 50], [0.0, 20.0, 20.0])
    assert got[0] == pytest.approx(population)
    weight = 6.25 * 1 / (6.25 * 1 + 3.74 - 1)
    assert got[1] == pytest.approx((1 - weight) * population + weight * 20.0)
    assert abs(got[2] - 20.0) < abs(got[1] - 20.0)  # more purchases: closer to their own mean


def test_derl_matches_the_discounted_sum() -> None:
    params = {"alpha": 0.704, "beta": 1.182}
    d, n = 0.1, 3
    k = np.arange(0, 5000)
    direct = np.sum(sbg.survival(params, n + k) / sbg.survival(params, [n])[0] / (1 + d) ** k)
    assert sbg.derl(params, d, renewals=n) == pytest.approx(direct, rel=1e-10)
    with pytest.raises(ConfigError, match="discount_rate"):
        sbg.derl(params, 0.0)


# -- analytic limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "params"),
    [
        (bgnbd, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
        (pareto_nbd, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
    ],
)
def test_new_customer_limit_and_p_alive_falls_with_silence(
    module: Any, params: dict[str, float]
) -> None:
    # x = 0 observed for no time: the conditional expectation is a new customer's E[X(t)]
    new = module.expected_transactions(params, [39.0])[0]
    cond = module.conditional_expected_transactions(params, 39.0, [0.0], [0.0], [1e-12])[0]
    assert cond == pytest.approx(new, rel=1e-9)
    assert module.expected_transactions(params, [1e-9])[0] == pytest.approx(0.0, abs=1e-8)
    # a repeat buyer silent for longer is less likely alive
    ages = np.array([20.0, 40.0, 80.0, 400.0])
    alive = module.p_alive(params, np.full(4, 3.0), np.full(4, 10.0), ages)
    assert np.all(np.diff(alive) < 0)
    assert alive[-1] < 0.01


def test_pareto_p_alive_of_a_one_off_falls_with_age() -> None:
    params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    alive = pareto_nbd.p_alive(params, np.zeros(3), np.zeros(3), [1.0, 39.0, 400.0])
    assert np.all(np.diff(alive) < 0)
    assert bgnbd.p_alive({"r": 1, "alpha": 1, "a": 1, "b": 1}, [0], [0], [400])[0] == 1.0


# -- invariances --------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("fit", [bgnbd.fit_bgnbd, pareto_nbd.fit_pareto_nbd])
def test_collapsed_rows_give_the_same_fit(cdnow: pd.DataFrame, fit: Any) -> None:
    part = cdnow.iloc[:1000]  # rows and collapsed rows share a compiled size (1024)
    full = fit(part["frequency"], part["recency"], part["T"])
    rows, weights = collapse_rows(part["frequency"], part["recency"], part["T"])
    collapsed = fit(*rows, weights=weights)
    assert full.n_rows == 1000
    assert collapsed.n_rows < 700
    assert full.n_customers == collapsed.n_customers == 1000
    assert full.loglik == pytest.approx(collapsed.loglik, rel=FLOAT64)
    assert full.log_estimate == pytest.approx(collapsed.log_estimate, rel=1e-7, abs=1e-9)
    assert full.log_covariance[0] == pytest.approx(collapsed.log_covariance[0], rel=1e-5)


@pytest.mark.shared_data
@pytest.mark.parametrize("model", [bgnbd, pareto_nbd])
def test_jit_equals_eager(model: Any, collapsed: tuple[tuple[Any, ...], Any]) -> None:
    import jax
    import jax.numpy as jnp

    rows, weights = collapsed
    rows, weights = tuple(v[:40] for v in rows), weights[:40]
    theta = jnp.log(jnp.array([0.5, 8.0, 0.7, 3.0]))
    with float64():
        args = (theta, *(jnp.asarray(v) for v in rows), jnp.asarray(weights))
        compiled = float(jax.jit(model.loglik)(*args))
        with jax.disable_jit():
            eager = float(model.loglik(*args))
    assert compiled == pytest.approx(eager, rel=1e-12)


@pytest.mark.shared_data
def test_laplace_standard_errors_match_a_finite_difference_hessian(
    collapsed: tuple[tuple[Any, ...], Any], bgnbd_fit: LtvFit
) -> None:
    """The second differences of the log-likelihood's values (no gradients) at the fit."""
    from scipy.optimize import approx_fprime

    rows, weights = collapsed
    theta = np.array(bgnbd_fit.log_estimate)

    def nll(t: Any) -> float:
        with float64():
            return -float(bgnbd.loglik(np.asarray(t), *rows, weights))

    def grad(t: Any) -> Any:
        return approx_fprime(t, nll, 1e-6)

    h = np.array([(grad(theta + e) - grad(theta - e)) / 2e-4 for e in np.eye(4) * 1e-4])
    se = np.sqrt(np.diag(np.linalg.inv((h + h.T) / 2)))
    got = [p.se_log for p in bgnbd_fit.params.values()]
    assert got == pytest.approx(se, rel=2e-3)


# -- value and holdout --------------------------------------------------------------------


@pytest.mark.shared_data
def test_new_customer_value_and_discounting(bgnbd_fit: LtvFit, spend_fit: LtvFit) -> None:
    plain = new_customer_value(bgnbd_fit, spend_fit, 52, 30.0, draws=200)
    point = 30.0 + bgnbd.expected_transactions(bgnbd_fit.estimates(), [52.0])[0] * (
        gamma_gamma.mean_spend(spend_fit.estimates())
    )
    assert plain.p05 < point < plain.p95
    assert plain.mean == pytest.approx(point, rel=0.05)
    discounted = new_customer_value(
        bgnbd_fit, spend_fit, 52, 30.0, annual_discount_rate=0.2, draws=200
    )
    assert 30.0 < discounted.mean < plain.mean
    with pytest.raises(ConfigError, match="Gamma-Gamma"):
        new_customer_value(bgnbd_fit, bgnbd_fit, 52, 30.0)
    with pytest.raises(ConfigError, match="horizon"):
        new_customer_value(bgnbd_fit, spend_fit, -1, 30.0)


@pytest.mark.shared_data
def test_customer_value_per_customer(pareto_fit: LtvFit, spend_fit: LtvFit) -> None:
    x, t_x, age = (np.array(v) for v in zip(*CUSTOMERS, strict=True))
    money = np.array([20.0, 0.0, 40.0])
    got = customer_value(pareto_fit, spend_fit, 39, (x, t_x, age, money), draws=100)
    expected = pareto_nbd.conditional_expected_transactions(
        pareto_fit.estimates(), 39.0, x, t_x, age
    ) * gamma_gamma.conditional_expected_spend(spend_fit.estimates(), x, money)
    assert got.estimate == pytest.approx(expected, rel=1e-9)
    assert np.all(got.p05 <= got.p95)
    assert len(got) == 3


def test_holdout_check_on_simulated_customers() -> None:
    from margin.data.simulator.customers import draw_purchase_rates, purchase_process
    from margin.data.simulator.params import LtvParams

    truth = LtvParams()
    rng = np.random.default_rng(7)
    n = 1000
    age = rng.choice([26.0, 32.0, 39.0], n)
    rate, dropout = draw_purchase_rates(n, truth, rng)
    who, when, _ = purchase_process(rate, dropout, np.zeros(n), age + 39.0, rng)
    calibration = when <= age[who]
    x = np.bincount(who[calibration], minlength=n).astype(float)
    t_x = np.zeros(n)
    np.maximum.at(t_x, who[calibration], when[calibration])
    holdout = np.bincount(who[~calibration], minlength=n).astype(float)
    fit = bgnbd.fit_bgnbd(x, t_x, age)
    check = holdout_check(fit, (x, t_x, age), holdout, 39.0, draws=100)
    assert check.buckets[0] == "0"
    assert check.buckets[-1] == "7+"
    assert sum(check.customers) == n
    for i in range(3):  # the populous buckets: prediction within Monte-Carlo noise
        assert check.predicted[i] == pytest.approx(
            check.actual[i], abs=0.1 + 0.15 * check.actual[i]
        )
        assert check.predicted_p05[i] <= check.predicted[i] <= check.predicted_p95[i]
    body = check.to_json()
    assert set(body["buckets"][0]["predicted"]) == {"mean", "p05", "p95"}
    assert "holdout check" in str(check)


# -- results ----------------------------------------------------------------------------


def test_fit_json_and_text() -> None:
    fit = sbg.fit_sbg(REGULAR)
    body = fit.to_json()
    assert body["model"] == "sbg"
    assert list(body["params"]) == ["alpha", "beta"]
    assert set(body["params"]["alpha"]) == {"estimate", "p05", "p95"}
    assert body["interval_method"] == "Laplace on log scale"
    assert body["n_customers"] == 1000
    a = fit.params["alpha"]
    assert a.p05 < a.estimate < a.p95
    assert a.estimate == pytest.approx(math.sqrt(a.p05 * a.p95))  # symmetric on the log scale
    text = str(fit)
    assert "sbg" in text
    assert "alpha" in text
    assert "Laplace" in text


def test_import_is_light() -> None:
    code = "import sys, margin.ltv; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "recency", "age", "message"),
    [
        ([1, -1], [1, 0], [5, 5], "row 1 has a negative frequency"),
        ([1, 2], [1, 6], [5, 5], "row 1 has recency > T"),
        ([1, 0], [-1, 0], [5, 5], "row 0 has recency < 0"),
        ([0, 1], [2, 1], [5, 5], "row 0 has frequency 0 with recency != 0"),
        ([1, 1], [1, float("nan")], [5, 5], "'recency' has a non-finite value nan at row 1"),
        ([1.5, 1], [1, 1], [5, 5], "row 0 has a fractional frequency"),
        ([1], [1, 1], [5, 5], "same number of rows"),
    ],
)
@pytest.mark.parametrize("fit", [bgnbd.fit_bgnbd, pareto_nbd.fit_pareto_nbd])
def test_bad_summaries_are_refused(
    fit: Any, frequency: Any, recency: Any, age: Any, message: str
) -> None:
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit(frequency, recency, age)


def test_bad_spend_is_refused() -> None:
    with pytest.raises(
        DataValidationError, match="row 1 is a repeat customer with mean spend <= 0"
    ):
        gamma_gamma.fit_gamma_gamma([1, 2, 0], [10.0, -5.0, 0.0])
    with pytest.raises(DataValidationError, match="no repeat customers"):
        gamma_gamma.fit_gamma_gamma([0, 0], [0.0, 0.0])


@pytest.mark.parametrize(
    ("alive", "message"),
    [
        ((1000, 631, 700, 500), "period 2 has 700 active customers, more than period 1"),
        ((0, 0, 0), "period 0 must be the cohort size"),
        ((1000,), "at least one later period"),
        ((1000, 500.5), "not a whole number"),
        ((1000, float("inf")), "non-finite"),
    ],
)
def test_bad_survival_series_are_refused(alive: tuple[float, ...], message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        sbg.fit_sbg(alive)


def test_a_fit_that_cannot_converge_says_so() -> None:
    # nobody churned: the churn probability's distribution runs off to zero
    with pytest.raises(LtvFitError, match="sbg") as caught:
        sbg.fit_sbg((1000, 1000, 1000, 1000))
    assert isinstance(caught.value, MarginError)
