"""The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999).

Each transaction's value is ``Gamma(p, rate=ν)`` around the customer's mean ``p/ν``, with
``ν ~ Gamma(q, rate=gamma)`` across customers; spend is independent of the purchase
process. Fitted on repeat customers (frequency ``x >= 1``) and their mean repeat spend
``m_x``. The population mean spend per transaction is ``p · gamma / (q - 1)`` (finite for
``q > 1``).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax.scipy.special import gammaln

from margin.ltv.inputs import check_spend
from margin.ltv.mle import fit_mle
from margin.ltv.results import LtvFit
from margin.types import FloatArray

__all__ = ["conditional_expected_spend", "fit_gamma_gamma", "loglik", "mean_spend"]

_FILLER = (1.0, 1.0)
"""A valid row (x, m_x) for the zero-weight padding."""


def loglik(theta: Any, x: Any, m: Any, weights: Any) -> Any:
    """The weighted Gamma-Gamma log-likelihood of mean spends (the density of ``m_x``).

    Args:
        theta: ``log(p, q, gamma)``, ``(3,)``.
        x, m: frequency (``>= 1``) and mean repeat spend (``> 0``) per row, ``(n_rows,)``.
        weights: customers per row, ``(n_rows,)``.
    """
    p, q, g = jnp.exp(theta)
    px = p * x
    value = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * jnp.log(g)
        + (px - 1.0) * jnp.log(m) + px * jnp.log(x) - (px + q) * jnp.log(g + m * x)
    )  # fmt: skip
    return jnp.sum(weights * value)


def fit_gamma_gamma(
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
) -> LtvFit:
    """Fit Gamma-Gamma by weighted maximum likelihood on the repeat customers.

    Args:
        frequency: repeat transactions per row, ``(n_rows,)``; rows with 0 are left out.
        monetary: mean value of the repeat transactions per row, ``(n_rows,)``.
        weights: customers per row, ``(n_rows,)``; default 1 each.

    Raises:
        DataValidationError: bad rows (see :func:`~margin.ltv.inputs.check_spend`).
        LtvFitError: no convergence.
    """
    rows = check_spend(frequency, monetary, weights)
    assert rows.monetary is not None
    mean = float(np.average(rows.monetary, weights=rows.weights))
    start = np.log([1.0, 2.0, max(mean, 1e-6)])
    return fit_mle(
        "gamma_gamma", loglik, (rows.frequency, rows.monetary), rows.weights, start, _FILLER
    )


def mean_spend(params: dict[str, Any]) -> float:
    """Population mean spend per transaction, ``p · gamma / (q - 1)`` (``inf`` for ``q <= 1``)."""
    p, q, g = float(params["p"]), float(params["q"]), float(params["gamma"])
    return p * g / (q - 1.0) if q > 1.0 else float("inf")


def conditional_expected_spend(
    params: dict[str, Any], frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> FloatArray:
    """Expected spend per transaction given ``x`` repeat transactions of mean ``m_x``,
    ``p (gamma + x m_x) / (p x + q - 1)``, ``(n,)``: a weighted mean of the population
    mean and ``m_x``; the population mean for ``x = 0``."""
    p, q, g = float(params["p"]), float(params["q"]), float(params["gamma"])
    x = np.asarray(frequency, dtype=np.float64)
    m = np.where(x > 0, np.asarray(monetary, dtype=np.float64), 0.0)
    return np.asarray(p * (g + x * m) / (p * x + q - 1.0), dtype=np.float64)
