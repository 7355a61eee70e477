"""The shifted-beta-geometric (sBG) retention model (Fader & Hardie 2007, "How to project
customer retention").

A subscriber renews each period with a constant probability ``1 - θ``; ``θ ~ Beta(alpha,
beta)`` across subscribers, so a cohort's retention rises over time as the likelier
churners leave. Data: a cohort's survival counts, period 0 = the cohort size, then the
subscribers still active at the end of each period (non-increasing).

``P(T = t) = B(alpha+1, beta+t-1) / B(alpha, beta)``, ``S(t) = B(alpha, beta+t) /
B(alpha, beta)``, retention ``r(t) = (beta + t - 1) / (alpha + beta + t - 1)``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax.scipy.special import gammaln
from scipy.special import betaln, hyp2f1

from margin.ltv.inputs import check_survival
from margin.ltv.mle import fit_mle
from margin.ltv.results import LtvFit
from margin.types import FloatArray

__all__ = ["derl", "fit_sbg", "loglik", "retention", "survival", "survivors"]

_FILLER = (1.0, 0.0)
"""A valid row (period, censored) for the zero-weight padding."""


def _log_beta(a: Any, b: Any) -> Any:
    return gammaln(a) + gammaln(b) - gammaln(a + b)


def loglik(theta: Any, period: Any, censored: Any, weights: Any) -> Any:
    """The weighted sBG log-likelihood.

    Args:
        theta: ``log(alpha, beta)``, ``(2,)``.
        period: the period ``t >= 1`` of each row, ``(n_rows,)``.
        censored: 0 if the row's customers were lost in ``t`` (``P(T = t)``), 1 if still
            active at the end of ``t`` (``S(t)``), ``(n_rows,)``.
        weights: customers per row, ``(n_rows,)``.
    """
    alpha, beta = jnp.exp(theta)
    base = _log_beta(alpha, beta)
    lost = _log_beta(alpha + 1.0, beta + period - 1.0) - base
    kept = _log_beta(alpha, beta + period) - base
    return jnp.sum(weights * jnp.where(censored > 0, kept, lost))


def fit_sbg(alive: npt.ArrayLike) -> LtvFit:
    """Fit sBG to one cohort's survival counts by maximum likelihood, with Laplace intervals.

    Args:
        alive: the cohort size (period 0), then customers still active at the end of
            each period, ``(n_periods + 1,)``.

    Raises:
        DataValidationError: fewer than 2 periods, an increasing series, a bad cohort
            (see :func:`~margin.ltv.inputs.check_survival`).
        LtvFitError: no convergence (e.g. nobody lost: the churn rate is not identified).
    """
    rows = check_survival(alive)
    keep = rows.weights > 0
    return fit_mle(
        "sbg", loglik, (rows.period[keep], rows.censored[keep]), rows.weights[keep],
        np.zeros(2), _FILLER, n_customers=float(rows.alive[0]),
    )  # fmt: skip


def survival(params: dict[str, Any], periods: npt.ArrayLike) -> FloatArray:
    """``S(t)``: the share of the cohort still active at the end of period ``t``, ``(n,)``."""
    alpha, beta = float(params["alpha"]), float(params["beta"])
    t = np.asarray(periods, dtype=np.float64)
    return np.asarray(np.exp(betaln(alpha, beta + t) - betaln(alpha, beta)), dtype=np.float64)


def retention(params: dict[str, Any], periods: npt.ArrayLike) -> FloatArray:
    """``r(t) = S(t) / S(t-1)``: the share of period ``t-1``'s survivors renewing in ``t``."""
    alpha, beta = float(params["alpha"]), float(params["beta"])
    t = np.asarray(periods, dtype=np.float64)
    return np.asarray((beta + t - 1.0) / (alpha + beta + t - 1.0), dtype=np.float64)


def survivors(params: dict[str, Any], cohort: float, periods: npt.ArrayLike) -> FloatArray:
    """Projected active customers of a cohort of ``cohort`` at the end of each period."""
    return np.asarray(cohort * survival(params, periods), dtype=np.float64)


def derl(params: dict[str, Any], discount_rate: float, renewals: int = 0) -> float:
    """Discounted expected residual lifetime, in periods (Fader & Hardie 2010).

    For a customer active at the end of period ``renewals`` (0: just acquired): the
    expected number of payments from now on, this period's included, each discounted by
    ``1 / (1 + discount_rate)`` per period:
    ``Σ_k≥0 S(n+k)/S(n) δ^k = ₂F₁(1, beta+n; alpha+beta+n; δ)``, ``δ = 1/(1 + d)``.

    Args:
        params: ``alpha``, ``beta``.
        discount_rate: per period, ``> 0``.
        renewals: periods the customer has already survived, ``>= 0``.
    """
    from margin.errors import ConfigError

    if not (np.isfinite(discount_rate) and discount_rate > 0) or renewals < 0:
        raise ConfigError(
            f"derl needs discount_rate > 0 (per period) and renewals >= 0; got "
            f"{discount_rate!r} and {renewals!r}."
        )
    alpha, beta = float(params["alpha"]), float(params["beta"])
    return float(hyp2f1(1.0, beta + renewals, alpha + beta + renewals, 1.0 / (1.0 + discount_rate)))
