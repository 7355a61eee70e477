"""Frozen results of the customer-value models: fitted parameters, predictions, holdout checks.

A fit is a :class:`LtvFit`: the parameters with their 90% intervals (Laplace on the log
scale: the inverse Hessian of the negative log-likelihood at the maximum, so each interval
is ``exp(log estimate ± 1.645 se)``), the log-likelihood, and the sizes of the data. It
prints itself and gives its JSON form with :meth:`LtvFit.to_json`; the log-scale estimate
and covariance it keeps are what predictions draw parameter vectors from.

This module imports no JAX.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from margin.errors import MarginError
from margin.types import FloatArray, Interval

__all__ = [
    "LAPLACE",
    "MODEL_PARAMS",
    "Z90",
    "HoldoutCheck",
    "LtvFit",
    "LtvFitError",
    "ParamEstimate",
    "Predictions",
]

Z90 = 1.6448536269514722
"""The standard normal's 95th percentile: ``estimate ± Z90 · se`` spans a 90% interval."""
LAPLACE = "Laplace on log scale"
"""The interval method of every maximum-likelihood fit."""
MODEL_PARAMS: dict[str, tuple[str, ...]] = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "gamma_gamma": ("p", "q", "gamma"),
    "sbg": ("alpha", "beta"),
}
"""Model name → its parameter names, in the order of the fit's log-scale vector."""


class LtvFitError(MarginError, RuntimeError):
    """A customer-value model could not be fitted (no convergence, a flat likelihood)."""


@dataclass(frozen=True)
class ParamEstimate:
    """One fitted parameter: the maximum-likelihood estimate and its 90% interval.

    Attributes:
        estimate: the maximum-likelihood estimate.
        p05, p95: the interval's ends, ``exp(log estimate ∓ 1.645 se)``.
        se_log: the standard error of the log of the parameter.
    """

    estimate: float
    p05: float
    p95: float
    se_log: float

    def interval(self) -> Interval:
        """The estimate as an :class:`Interval` (``mean`` is the estimate)."""
        return Interval(self.estimate, self.p05, self.p95)

    def to_json(self) -> dict[str, float]:
        """``{"estimate", "p05", "p95"}``."""
        return {"estimate": self.estimate, "p05": self.p05, "p95": self.p95}


@dataclass(frozen=True)
class LtvFit:
    """A fitted customer-value model.

    Attributes:
        model: ``"bgnbd"``, ``"pareto_nbd"``, ``"gamma_gamma"`` or ``"sbg"``.
        params: parameter name → :class:`ParamEstimate`, in :data:`MODEL_PARAMS` order.
        loglik: the maximised log-likelihood (weighted sum over rows).
        n_customers: customers behind the fit (the sum of the row weights; the cohort for sBG).
        n_rows: rows the likelihood was evaluated on (after collapsing identical rows).
        interval_method: how the intervals were made (:data:`LAPLACE`).
        iterations: optimizer iterations.
        log_estimate: the estimate on the log scale, ``(n_params,)``.
        log_covariance: the Laplace covariance on the log scale, ``(n_params, n_params)``.
    """

    model: str
    params: Mapping[str, ParamEstimate]
    loglik: float
    n_customers: float
    n_rows: int
    interval_method: str = LAPLACE
    iterations: int = 0
    log_estimate: tuple[float, ...] = field(default=(), repr=False)
    log_covariance: tuple[tuple[float, ...], ...] = field(default=(), repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The parameter names, in the order of :attr:`log_estimate`."""
        return tuple(self.params)

    def estimates(self) -> dict[str, float]:
        """Parameter name → estimate."""
        return {name: p.estimate for name, p in self.params.items()}

    def draws(self, n_draws: int, seed: int) -> dict[str, FloatArray]:
        """Parameter vectors drawn from the Laplace normal on the log scale.

        Args:
            n_draws: how many vectors.
            seed: random seed.

        Returns:
            Parameter name → values ``(n_draws,)`` on the natural scale.
        """
        mean = np.asarray(self.log_estimate, dtype=np.float64)
        cov = np.asarray(self.log_covariance, dtype=np.float64)
        rng = np.random.default_rng(seed)
        logs = rng.multivariate_normal(mean, cov, size=n_draws, method="cholesky")
        return {name: np.exp(logs[:, i]) for i, name in enumerate(self.names)}

    def to_json(self) -> dict[str, Any]:
        """``{"model", "params": {name: {"estimate", "p05", "p95"}}, "loglik", "n_customers",
        "n_rows", "interval_method", "iterations"}``."""
        return {
            "model": self.model,
            "params": {name: p.to_json() for name, p in self.params.items()},
            "loglik": self.loglik,
            "n_customers": self.n_customers,
            "n_rows": self.n_rows,
            "interval_method": self.interval_method,
            "iterations": self.iterations,
        }

    def __str__(self) -> str:
        lines = [
            f"{self.model}: {_count(self.n_customers)} customers in {self.n_rows:,} rows, "
            f"log-likelihood {self.loglik:,.2f}",
            f"  parameter  estimate  90% interval ({self.interval_method})",
        ]
        for name, p in self.params.items():
            lines.append(f"  {name:<9}  {p.estimate:>8.4g}  [{p.p05:.4g}, {p.p95:.4g}]")
        return "\n".join(lines)


def _count(n: float) -> str:
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,.2f}"


@dataclass(frozen=True)
class Predictions:
    """A prediction per customer (or per period) with its 90% interval.

    The interval carries the parameters' uncertainty: the prediction is evaluated for
    parameter vectors drawn from the fit's Laplace normal (seeded).

    Attributes:
        quantity: what is predicted, with its unit (e.g. ``"expected transactions in 52 weeks"``).
        estimate: the prediction at the maximum-likelihood parameters, ``(n,)``.
        mean, p05, p95: the mean and the 5th/95th percentiles over the draws, ``(n,)`` each.
    """

    quantity: str
    estimate: FloatArray = field(repr=False)
    mean: FloatArray = field(repr=False)
    p05: FloatArray = field(repr=False)
    p95: FloatArray = field(repr=False)

    def __len__(self) -> int:
        return int(self.estimate.size)

    def at(self, index: int) -> Interval:
        """The ``index``-th prediction as an :class:`Interval`."""
        return Interval(float(self.mean[index]), float(self.p05[index]), float(self.p95[index]))

    def to_json(self) -> dict[str, Any]:
        """``{"quantity", "estimate": [...], "mean": [...], "p05": [...], "p95": [...]}``."""
        return {
            "quantity": self.quantity,
            "estimate": self.estimate.tolist(),
            "mean": self.mean.tolist(),
            "p05": self.p05.tolist(),
            "p95": self.p95.tolist(),
        }


@dataclass(frozen=True)
class HoldoutCheck:
    """Predicted vs actual mean holdout transactions per calibration frequency bucket
    (Fader, Hardie & Lee 2005, Figure 4).

    Attributes:
        model: the purchase model checked.
        holdout_length: the holdout period's length, in the summaries' time unit.
        buckets: bucket labels, ``"0"``, ``"1"``, …, ``"7+"``.
        customers: customers in each bucket, ``(n_buckets,)``.
        actual: their mean actual holdout transactions, ``(n_buckets,)``.
        predicted: their mean predicted holdout transactions, ``(n_buckets,)``.
        predicted_p05, predicted_p95: the 90% interval of ``predicted`` (parameter uncertainty).
    """

    model: str
    holdout_length: float
    buckets: tuple[str, ...]
    customers: tuple[float, ...]
    actual: tuple[float, ...]
    predicted: tuple[float, ...]
    predicted_p05: tuple[float, ...]
    predicted_p95: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"model", "holdout_length", "buckets": [{"frequency", "customers", "actual",
        "predicted": {"mean", "p05", "p95"}}]}``."""
        rows = [
            {
                "frequency": label,
                "customers": self.customers[i],
                "actual": self.actual[i],
                "predicted": Interval(
                    self.predicted[i], self.predicted_p05[i], self.predicted_p95[i]
                ).to_json(),
            }
            for i, label in enumerate(self.buckets)
        ]
        return {"model": self.model, "holdout_length": self.holdout_length, "buckets": rows}

    def __str__(self) -> str:
        lines = [
            f"{self.model} holdout check ({self.holdout_length:g} periods): "
            "mean repeat transactions per customer",
            "  frequency  customers   actual  predicted [90% interval]",
        ]
        for i, label in enumerate(self.buckets):
            lines.append(
                f"  {label:>9}  {_count(self.customers[i]):>9}  {self.actual[i]:>7.3f}  "
                f"{self.predicted[i]:>9.3f} [{self.predicted_p05[i]:.3f}, "
                f"{self.predicted_p95[i]:.3f}]"
            )
        return "\n".join(lines)


def param_estimates(
    names: tuple[str, ...], log_estimate: FloatArray, log_covariance: FloatArray
) -> dict[str, ParamEstimate]:
    """Name → :class:`ParamEstimate` from the log-scale estimate and Laplace covariance."""
    out = {}
    for i, name in enumerate(names):
        se = math.sqrt(max(float(log_covariance[i, i]), 0.0))
        centre = float(log_estimate[i])
        out[name] = ParamEstimate(
            math.exp(centre), math.exp(centre - Z90 * se), math.exp(centre + Z90 * se), se
        )
    return out
