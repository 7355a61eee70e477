"""Customer value over a horizon: expected transactions times expected spend, optionally
discounted, with intervals from both fits' parameter uncertainty.

The purchase model (BG/NBD or Pareto/NBD) gives expected transactions; Gamma-Gamma gives
the expected spend per transaction; spend is independent of the purchase process, so value
is their product. With a discount rate, each period's expected transactions (the increase
of the cumulative expectation over that period) are discounted to its end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from margin.errors import ConfigError
from margin.ltv import bgnbd, pareto_nbd
from margin.ltv.gamma_gamma import conditional_expected_spend, mean_spend
from margin.ltv.mle import DRAWS, predict, predict_scalar
from margin.ltv.results import LtvFit, Predictions
from margin.types import FloatArray, Interval

__all__ = [
    "PURCHASE_MODELS",
    "customer_value",
    "discounted_transactions",
    "horizon_grid",
    "new_customer_value",
]

PURCHASE_MODELS: dict[str, tuple[Callable[..., FloatArray], Callable[..., FloatArray]]] = {
    "bgnbd": (bgnbd.expected_transactions, bgnbd.conditional_expected_transactions),
    "pareto_nbd": (pareto_nbd.expected_transactions, pareto_nbd.conditional_expected_transactions),
}


def horizon_grid(horizon: float, annual_discount_rate: float, periods_per_year: float
          ) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Period ends ``1, 2, …, horizon`` (the last one partial) and their discount factors."""
    if not (math.isfinite(horizon) and horizon > 0):
        raise ConfigError(f"horizon must be a number of periods > 0; got {horizon!r}.")
    if not (math.isfinite(annual_discount_rate) and annual_discount_rate >= 0):
        raise ConfigError(
            f"annual_discount_rate must be >= 0 (0.1 for 10% a year); got {annual_discount_rate!r}."
        )
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ConfigError(f"periods_per_year must be > 0 (52 for weeks); got {periods_per_year!r}.")
    ends = np.append(np.arange(1.0, math.ceil(horizon)), horizon)
    factors = (1.0 + annual_discount_rate) ** (-ends / periods_per_year)
    return ends, factors


def discounted_transactions(
    cumulative: Callable[[FloatArray], FloatArray], ends: FloatArray, factors: FloatArray
) -> FloatArray:
    """``Σ_k factor_k · (E(end_k) - E(end_k-1))`` for a cumulative expectation ``E``.

    Args:
        cumulative: period ends ``(n_periods,)`` → expected transactions by then,
            ``(n_periods, n)`` (or ``(n_periods,)``).
        ends: period ends, ``(n_periods,)``; factors: their discount factors.
    """
    values = np.asarray(cumulative(ends), dtype=np.float64)
    increments = np.diff(values, axis=0, prepend=np.zeros_like(values[:1]))
    return np.asarray(np.tensordot(factors, increments, axes=(0, 0)), dtype=np.float64)


def _purchase_functions(fit: LtvFit) -> tuple[Callable[..., FloatArray], Callable[..., FloatArray]]:
    if fit.model not in PURCHASE_MODELS:
        raise ConfigError(
            f"customer value needs a BG/NBD or Pareto/NBD purchase fit; got {fit.model!r}."
        )
    return PURCHASE_MODELS[fit.model]


def _check_spend(fit: LtvFit) -> None:
    if fit.model != "gamma_gamma":
        raise ConfigError(f"customer value needs a Gamma-Gamma spend fit; got {fit.model!r}.")


def new_customer_value(
    purchases: LtvFit,
    spend: LtvFit,
    horizon: float,
    first_purchase_value: float,
    *,
    annual_discount_rate: float = 0.0,
    periods_per_year: float = 52.0,
    draws: int = DRAWS,
    seed: int = 0,
) -> Interval:
    """Value of a newly acquired customer over ``horizon`` periods, first purchase included:
    ``first_purchase_value + Σ discounted E[X(t)] increments × mean spend``.

    Args:
        purchases: a BG/NBD or Pareto/NBD fit; spend: a Gamma-Gamma fit.
        horizon: in the fits' time unit (weeks for CDNOW-like summaries).
        first_purchase_value: the mean value of the acquiring purchase (money).
        annual_discount_rate: e.g. 0.1 for 10% a year; 0 for none.
        periods_per_year: periods of the time unit in a year (52 for weeks).
        draws, seed: parameter draws behind the interval (each fit drawn independently).

    Returns:
        The value in the spend's money unit: mean and 90% interval over the draws.
    """
    expected, _ = _purchase_functions(purchases)
    _check_spend(spend)
    ends, factors = horizon_grid(horizon, annual_discount_rate, periods_per_year)

    def value(purchase_params: dict[str, Any], spend_params: dict[str, Any]) -> float:
        count = discounted_transactions(lambda t: expected(purchase_params, t), ends, factors)
        return float(first_purchase_value + float(count) * mean_spend(spend_params))

    _, values = predict_scalar((purchases, spend), value, draws=draws, seed=seed)
    return Interval.of(values)


def customer_value(
    purchases: LtvFit,
    spend: LtvFit,
    horizon: float,
    summary: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    *,
    annual_discount_rate: float = 0.0,
    periods_per_year: float = 52.0,
    draws: int = DRAWS,
    seed: int = 0,
) -> Predictions:
    """Expected value of existing customers over the next ``horizon`` periods.

    Args:
        purchases: a BG/NBD or Pareto/NBD fit; spend: a Gamma-Gamma fit.
        horizon: in the fits' time unit.
        summary: ``(frequency, recency, T, monetary_value)``, ``(n,)`` each.
        annual_discount_rate, periods_per_year: discounting (see :func:`new_customer_value`).
        draws, seed: parameter draws behind the intervals.

    Returns:
        Per customer: future transactions' expected value (money), with intervals.
    """
    _, conditional = _purchase_functions(purchases)
    _check_spend(spend)
    ends, factors = horizon_grid(horizon, annual_discount_rate, periods_per_year)
    x, t_x, t, m = (np.asarray(v, dtype=np.float64) for v in summary)
    n_purchase = len(purchases.names)

    def value(params: dict[str, Any]) -> FloatArray:
        purchase_params = dict(list(params.items())[:n_purchase])
        spend_params = {k.removeprefix("spend_"): v for k, v in list(params.items())[n_purchase:]}
        count = discounted_transactions(
            lambda e: conditional(purchase_params, e[:, None], x, t_x, t), ends, factors
        )
        return np.asarray(count * conditional_expected_spend(spend_params, x, m))

    joint = _joint(purchases, spend)
    return predict(joint, value, f"expected value over {horizon:g} periods", draws, seed)


def _joint(purchases: LtvFit, spend: LtvFit) -> LtvFit:
    """One fit holding both models' parameters (independent blocks), so one draw gives both."""
    from dataclasses import replace

    n, k = len(purchases.names), len(spend.names)
    cov = np.zeros((n + k, n + k))
    cov[:n, :n] = np.asarray(purchases.log_covariance)
    cov[n:, n:] = np.asarray(spend.log_covariance)
    return replace(
        purchases,
        params={**purchases.params, **{f"spend_{k}": v for k, v in spend.params.items()}},
        log_estimate=purchases.log_estimate + spend.log_estimate,
        log_covariance=tuple(tuple(float(v) for v in row) for row in cov),
    )
