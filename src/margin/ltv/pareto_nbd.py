"""The Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

While alive, a customer buys at rate ``λ ~ Gamma(r, rate=alpha)``; their lifetime is
exponential with rate ``μ ~ Gamma(s, rate=beta)``. Data as for BG/NBD: ``x`` (frequency),
``t_x`` (recency), ``T`` (age).

The likelihood (Fader & Hardie 2005, "A note on deriving the Pareto/NBD model") is

    L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^-(r+x) (β+T)^-s  +  s · I ],
    I = ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ,

where ``s · I`` is the customer having died between ``t_x`` and ``T``. ``I = J(t_x) -
J(T)`` with ``J(t) = (m+t)^-A · ₂F₁(A, b; A+1; z) / A`` (``A = r+s+x``, ``m =
max(alpha, beta)``, ``z = |alpha-beta|/(m+t)``, ``b = s+1`` if ``alpha >= beta`` else
``r+x``: the ``alpha >= beta`` switch of lifetimes' ``_log_A_0``, which keeps ``0 <= z <
1``). The ₂F₁ is ``∫_0^∞ e^-v (1 - z e^(-v/A))^-b dv``, computed in log space by the
trapezoid rule in ``u = log v`` (an exp-type quadrature: the near-singularity at ``v ≈
-A(1-z)`` stays at distance π from the real ``u`` axis, so the error is ~1e-14 for any
``z < 1`` and large ``x``); smooth and differentiable by JAX to any order.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax.scipy.special import gammaln, logsumexp

from margin.ltv.inputs import check_customers
from margin.ltv.mle import fit_mle, float64
from margin.ltv.results import LtvFit
from margin.types import FloatArray

__all__ = [
    "conditional_expected_transactions",
    "expected_transactions",
    "fit_pareto_nbd",
    "log_hyp2f1",
    "loglik",
    "p_alive",
]

_STEP = 0.25
_U = np.arange(-42.0, 4.0 + _STEP / 2, _STEP)
_NODES = np.exp(_U)
_LOG_WEIGHTS = np.log(_STEP) + _U - _NODES
"""Trapezoid nodes ``v = e^u`` and log weights ``log(δ e^u e^-v)`` for ``∫_0^∞ e^-v f(v) dv``."""
_FILLER = (0.0, 0.0, 1.0)
"""A valid row (x, t_x, T) for the zero-weight padding."""


def log_hyp2f1(a: Any, b: Any, z: Any) -> Any:
    """``log ₂F₁(a, b; a + 1; z)`` for ``a > 0``, ``b > 0``, ``0 <= z < 1`` (elementwise).

    ``₂F₁(a, b; a+1; z) = ∫_0^∞ e^-v (1 - z e^(-v/a))^-b dv`` (from Euler's integral with
    ``y = e^(-v/a)``), by the trapezoid rule in ``log v`` (185 nodes).
    """
    a, b, z = (jnp.asarray(v)[..., None] for v in (a, b, z))
    terms = _LOG_WEIGHTS - b * jnp.log1p(-z * jnp.exp(-_NODES / a))
    return logsumexp(terms, axis=-1)


def _log_j(r: Any, alpha: Any, s: Any, beta: Any, x: Any, t: Any) -> Any:
    """``log J(t)``, ``J(t) = ∫_t^∞ (α+τ)^-(r+x) (β+τ)^-(s+1) dτ``."""
    big = r + s + x
    m = jnp.maximum(alpha, beta)
    b = jnp.where(alpha >= beta, s + 1.0, r + x)
    z = jnp.abs(alpha - beta) / (m + t)
    return -big * jnp.log(m + t) - jnp.log(big) + log_hyp2f1(big, b, z)


def _log_terms(params: tuple[Any, ...], x: Any, t_x: Any, age: Any) -> tuple[Any, Any]:
    """``(log alive, log dropped)``: the likelihood's two terms without the common factor
    ``Γ(r+x) α^r β^s / Γ(r)``; ``log dropped = log(s · I)`` (``-inf`` where ``t_x = T``)."""
    r, alpha, s, beta = params
    alive = -(r + x) * jnp.log(alpha + age) - s * jnp.log(beta + age)
    gap = age > t_x
    log_jx = _log_j(r, alpha, s, beta, x, t_x)
    diff = jnp.where(gap, _log_j(r, alpha, s, beta, x, age) - log_jx, -1.0)
    dropped = jnp.where(gap, jnp.log(s) + log_jx + jnp.log(-jnp.expm1(diff)), -jnp.inf)
    return alive, dropped


def loglik(theta: Any, x: Any, t_x: Any, age: Any, weights: Any) -> Any:
    """The weighted Pareto/NBD log-likelihood.

    Args:
        theta: ``log(r, alpha, s, beta)``, ``(4,)``.
        x, t_x, age: frequency, recency and T per row, ``(n_rows,)``.
        weights: customers per row, ``(n_rows,)``.
    """
    r, alpha, s, beta = jnp.exp(theta)
    head = gammaln(r + x) - gammaln(r) + r * jnp.log(alpha) + s * jnp.log(beta)
    alive, dropped = _log_terms((r, alpha, s, beta), x, t_x, age)
    return jnp.sum(weights * (head + jnp.logaddexp(alive, dropped)))


def fit_pareto_nbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
) -> LtvFit:
    """Fit Pareto/NBD by weighted maximum likelihood, with Laplace intervals.

    Args:
        frequency, recency, age: lifetimes' ``frequency, recency, T``, ``(n_rows,)`` each.
        weights: customers per row, ``(n_rows,)``; default 1 each.

    Raises:
        DataValidationError: bad rows (see :func:`~margin.ltv.inputs.check_customers`).
        LtvFitError: no convergence.
    """
    rows = check_customers(frequency, recency, age, weights)
    scale = max(float(np.average(rows.age, weights=rows.weights)), 1e-3) / 4.0
    start = np.log([1.0, scale, 1.0, scale])
    return fit_mle(
        "pareto_nbd", loglik, (rows.frequency, rows.recency, rows.age), rows.weights, start,
        _FILLER,
    )  # fmt: skip


def _params(params: dict[str, Any]) -> tuple[float, float, float, float]:
    return float(params["r"]), float(params["alpha"]), float(params["s"]), float(params["beta"])


def p_alive(
    params: dict[str, Any], frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike
) -> FloatArray:
    """P(alive at T | x, t_x, T) = alive term / (alive + dropped), ``(n,)``."""
    x, t_x, t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, age))
    with float64():
        alive, dropped = _log_terms(_params(params), jnp.asarray(x), jnp.asarray(t_x),
                                    jnp.asarray(t))  # fmt: skip
        value = jnp.exp(alive - jnp.logaddexp(alive, dropped))
    return np.asarray(value, dtype=np.float64)


def _lifetime_share(s: float, beta_t: Any, horizon: Any) -> Any:
    """``β_T / (s - 1) · [1 - (β_T / (β_T + t))^(s-1)]``: expected alive time in ``(T, T+t]``
    of a customer alive at T, times ``1/β_T`` scale (its ``s → 1`` limit is
    ``β_T · log(1 + t/β_T)``)."""
    log_ratio = np.log1p(horizon / beta_t)
    if abs(s - 1.0) < 1e-8:
        return beta_t * log_ratio
    return beta_t * -np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0)


def conditional_expected_transactions(
    params: dict[str, Any],
    horizon: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
) -> FloatArray:
    """Expected transactions in ``(T, T + horizon]`` given ``x, t_x, T``, ``(n,)``:
    ``(r+x)/(α+T) · (β+T)/(s-1) · [1 - ((β+T)/(β+T+t))^(s-1)] · P(alive)``."""
    r, alpha, s, _ = _params(params)
    x, t = np.asarray(frequency, dtype=np.float64), np.asarray(age, dtype=np.float64)
    h = np.asarray(horizon, dtype=np.float64)
    rate = (r + x) / (alpha + t)
    share = _lifetime_share(s, float(params["beta"]) + t, h)
    return np.asarray(rate * share * p_alive(params, x, recency, t), dtype=np.float64)


def expected_transactions(params: dict[str, Any], horizon: npt.ArrayLike) -> FloatArray:
    """``E[X(t)] = r β / (α (s-1)) · [1 - (β/(β+t))^(s-1)]``: repeat transactions of a new customer."""
    r, alpha, s, beta = _params(params)
    h = np.asarray(horizon, dtype=np.float64)
    return np.asarray(r / alpha * _lifetime_share(s, beta, h), dtype=np.float64)
