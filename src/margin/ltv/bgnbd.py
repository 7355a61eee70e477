"""The BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While alive, a customer buys at rate ``λ ~ Gamma(r, rate=alpha)``; after each repeat
purchase they drop out with probability ``p ~ Beta(a, b)``. Data per customer: ``x``
(frequency: repeat purchases), ``t_x`` (recency: time of the last one since the first)
and ``T`` (age: time since the first), in one time unit (weeks for CDNOW).

The log-likelihood (FHL 2005, eq. 6) is a pure ``jnp`` function of the log-parameters;
the predictions are pure NumPy/SciPy functions of the parameters (name → value):
:func:`p_alive`, :func:`conditional_expected_transactions` (in ``(T, T + t]``) and
:func:`expected_transactions` (``E[X(t)]`` of a new customer).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax.scipy.special import gammaln
from scipy.special import hyp2f1

from margin.ltv.inputs import check_customers
from margin.ltv.mle import fit_mle
from margin.ltv.results import LtvFit
from margin.types import FloatArray

__all__ = [
    "conditional_expected_transactions",
    "expected_transactions",
    "fit_bgnbd",
    "loglik",
    "p_alive",
]

_FILLER = (0.0, 0.0, 1.0)
"""A valid row (x, t_x, T) for the zero-weight padding."""


def loglik(theta: Any, x: Any, t_x: Any, age: Any, weights: Any) -> Any:
    """The weighted BG/NBD log-likelihood.

    Args:
        theta: ``log(r, alpha, a, b)``, ``(4,)``.
        x, t_x, age: frequency, recency and T per row, ``(n_rows,)``.
        weights: customers per row, ``(n_rows,)``.
    """
    r, alpha, a, b = jnp.exp(theta)
    repeat = x > 0
    safe_x = jnp.where(repeat, x, 1.0)
    # log B(a, b + x) - log B(a, b) by gammaln: cheaper to compile than betaln
    beta_ratio = gammaln(b + x) - gammaln(b) + gammaln(a + b) - gammaln(a + b + x)
    head = gammaln(r + x) - gammaln(r) + r * jnp.log(alpha) + beta_ratio
    alive = -(r + x) * jnp.log(alpha + age)
    dropped = jnp.log(a) - jnp.log(b + safe_x - 1.0) - (r + x) * jnp.log(alpha + t_x)
    tail = jnp.where(repeat, jnp.logaddexp(alive, dropped), alive)
    return jnp.sum(weights * (head + tail))


def fit_bgnbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
) -> LtvFit:
    """Fit BG/NBD by weighted maximum likelihood, with Laplace intervals.

    Args:
        frequency, recency, age: lifetimes' ``frequency, recency, T``, ``(n_rows,)`` each.
        weights: customers per row (rows collapsed with
            :func:`~margin.ltv.inputs.collapse_rows`), ``(n_rows,)``; default 1 each.

    Raises:
        DataValidationError: bad rows (see :func:`~margin.ltv.inputs.check_customers`).
        LtvFitError: no convergence.
    """
    rows = check_customers(frequency, recency, age, weights)
    scale = float(np.average(rows.age, weights=rows.weights))
    start = np.log([1.0, max(scale, 1e-3) / 10.0, 1.0, 1.0])
    return fit_mle(
        "bgnbd", loglik, (rows.frequency, rows.recency, rows.age), rows.weights, start, _FILLER
    )


def _values(params: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    return params["r"], params["alpha"], params["a"], params["b"]


def p_alive(
    params: dict[str, Any], frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike
) -> FloatArray:
    """P(alive at T | x, t_x, T) (FHL 2005 note, eq. 1), ``(n,)``; 1 for x = 0."""
    r, alpha, a, b = _values(params)
    x, t_x, t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, age))
    safe_x = np.where(x > 0, x, 1.0)
    log_odds = (
        np.log(a) - np.log(b + safe_x - 1.0) + (r + x) * (np.log(alpha + t) - np.log(alpha + t_x))
    )
    return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_odds, 700.0))), 1.0)


def conditional_expected_transactions(
    params: dict[str, Any],
    horizon: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
) -> FloatArray:
    """Expected transactions in ``(T, T + horizon]`` given ``x, t_x, T`` (FHL 2005, eq. 10), ``(n,)``."""
    r, alpha, a, b = _values(params)
    x, t_x, t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, age))
    h = np.asarray(horizon, dtype=np.float64)
    z = h / (alpha + t + h)
    hyper = hyp2f1(r + x, b + x, a + b + x - 1.0, z)
    body = (
        (a + b + x - 1.0) / (a - 1.0) * (1.0 - ((alpha + t) / (alpha + t + h)) ** (r + x) * hyper)
    )
    return np.asarray(body * p_alive(params, x, t_x, t), dtype=np.float64)


def expected_transactions(params: dict[str, Any], horizon: npt.ArrayLike) -> FloatArray:
    """``E[X(t)]``: expected repeat transactions of a new customer in ``(0, t]`` (FHL 2005, eq. 9)."""
    r, alpha, a, b = _values(params)
    h = np.asarray(horizon, dtype=np.float64)
    hyper = hyp2f1(r, b, a + b - 1.0, h / (alpha + h))
    value = (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + h)) ** r * hyper)
    return np.asarray(value, dtype=np.float64)
