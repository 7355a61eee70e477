"""Weighted maximum likelihood in JAX: fit, Laplace intervals, predictions with intervals.

A model gives a pure log-likelihood ``loglik(theta, *data, weights) -> scalar`` with
``theta`` the log of its parameters, ``(n_params,)``, and ``data``/``weights`` arrays
``(n_rows,)``; each row stands for ``weights`` identical customers. :func:`fit_mle`
minimises the mean negative log-likelihood with L-BFGS-B (SciPy) on the exact gradient
(``jax.value_and_grad``, compiled once per model and size bucket), polishes with Newton
steps, and inverts the Hessian (central differences of the exact gradient) for the
Laplace covariance on the log scale. Everything runs in float64 (:func:`float64`), whatever the process-wide
JAX setting.

:func:`predict` carries parameter uncertainty into any prediction: it draws parameter
vectors from the Laplace normal (seeded), evaluates the prediction for each and
summarises the draws with the 5th/95th percentiles.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from margin.ltv.results import MODEL_PARAMS, LtvFit, LtvFitError, Predictions, param_estimates
from margin.types import FloatArray, quantiles

__all__ = ["DRAWS", "LogLik", "fit_mle", "float64", "predict", "predict_scalar"]

LogLik = Callable[..., Any]
"""``loglik(theta, *data, weights) -> scalar``: the weighted log-likelihood (pure ``jnp``)."""
DRAWS = 500
"""Default number of parameter draws behind a prediction's interval."""
_MAXITER = 2000
_MIN_BUCKET = 1024
_NEWTON_STEPS = 6
_HESSIAN_STEP = 1e-5
_GRADIENT_TOLERANCE = 1e-6  # on the mean log-likelihood per customer


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """JAX computes in float64 inside the block (restored afterwards)."""
    with jax.enable_x64(True):
        yield


@functools.cache
def _compiled(loglik: LogLik) -> Callable[..., Any]:
    """The jitted value and gradient (``jax.value_and_grad``) of a model's mean negative
    log-likelihood per customer at ``theta`` ``(n_params,)``; compiled once per model and
    size bucket."""

    def mean_nll(theta: Any, data: tuple[Any, ...], weights: Any) -> Any:
        return -loglik(theta, *data, weights) / jnp.sum(weights)

    return jax.jit(jax.value_and_grad(mean_nll))


def _padded(data: tuple[npt.ArrayLike, ...], weights: npt.ArrayLike, filler: tuple[float, ...]
            ) -> tuple[tuple[Any, ...], Any]:  # fmt: skip
    """The rows padded with zero-weight ``filler`` rows to a power of two (at least 1024), so
    a model compiles once per size bucket, not once per data set."""
    w = np.asarray(weights, dtype=np.float64)
    size = max(_MIN_BUCKET, 1 << int(np.ceil(np.log2(max(w.size, 1)))))
    extra = size - w.size
    arrays = tuple(
        jnp.asarray(np.append(np.asarray(a, dtype=np.float64), np.full(extra, fill)))
        for a, fill in zip(data, filler, strict=True)
    )
    return arrays, jnp.asarray(np.append(w, np.zeros(extra)))


def fit_mle(
    model: str,
    loglik: LogLik,
    data: tuple[npt.ArrayLike, ...],
    weights: npt.ArrayLike,
    start: npt.ArrayLike,
    filler: tuple[float, ...],
    n_customers: float | None = None,
) -> LtvFit:
    """Maximise a weighted log-likelihood over the log of the parameters.

    L-BFGS-B (SciPy) on the exact gradient finds the maximum; Newton steps polish it to
    float64 precision; the Hessian for the Laplace covariance is the central difference
    of the exact gradient (a Jacobian of ``jax.grad``: as accurate as ``jax.hessian`` to
    ~1e-8 here, without a second, slow compilation of second derivatives of ``gammaln``).

    Args:
        model: the model's name (a key of :data:`MODEL_PARAMS`).
        loglik: its pure log-likelihood (see :data:`LogLik`).
        data: the data arrays, ``(n_rows,)`` each.
        weights: customers per row, ``(n_rows,)``.
        start: the starting point on the log scale, ``(n_params,)``.
        filler: one valid value per data array for the zero-weight padding rows.
        n_customers: the customers behind the fit (default: the sum of the weights).

    Raises:
        LtvFitError: the optimizer did not converge, or the Hessian at its end is not
            positive definite (a parameter is not identified by these data).
    """
    from scipy.optimize import minimize

    total = float(np.sum(np.asarray(weights, dtype=np.float64)))
    with float64():
        arrays, w = _padded(data, weights, filler)
        evaluate = _Objective(_compiled(loglik), arrays, w)
        found = minimize(evaluate, np.asarray(start, dtype=np.float64), jac=True,
                         method="L-BFGS-B",
                         options={"maxiter": _MAXITER, "ftol": 1e-15, "gtol": 1e-10})  # fmt: skip
        theta, value, grad, h = _polish(evaluate, np.asarray(found.x, dtype=np.float64))
    _check_converged(model, theta, value, grad, int(found.nit))
    covariance = _invert(model, h * total)
    return LtvFit(
        model=model,
        params=param_estimates(MODEL_PARAMS[model], theta, covariance),
        loglik=-value * total,
        n_customers=total if n_customers is None else float(n_customers),
        n_rows=int(np.asarray(weights).size),
        iterations=int(found.nit),
        log_estimate=tuple(float(v) for v in theta),
        log_covariance=tuple(tuple(float(v) for v in row) for row in covariance),
    )


class _Objective:
    """The compiled mean negative log-likelihood and its gradient as NumPy, for SciPy."""

    def __init__(self, value_and_grad: Callable[..., Any], data: tuple[Any, ...], weights: Any
                 ) -> None:  # fmt: skip
        self._value_and_grad, self._data, self._weights = value_and_grad, data, weights

    def __call__(self, theta: FloatArray) -> tuple[float, FloatArray]:
        value, grad = self._value_and_grad(jnp.asarray(theta), self._data, self._weights)
        v = float(value)
        return (v if np.isfinite(v) else np.inf), np.asarray(grad, dtype=np.float64)

    def hessian(self, theta: FloatArray) -> FloatArray:
        """The Hessian by central differences of the exact gradient, symmetrised."""
        n = theta.size
        h = np.empty((n, n))
        for i in range(n):
            step = np.zeros(n)
            step[i] = _HESSIAN_STEP
            h[:, i] = (self(theta + step)[1] - self(theta - step)[1]) / (2 * _HESSIAN_STEP)
        return np.asarray((h + h.T) / 2, dtype=np.float64)


def _polish(
    objective: _Objective, theta: FloatArray
) -> tuple[FloatArray, float, FloatArray, FloatArray]:
    """Newton steps from L-BFGS-B's end, each kept only if it does not raise the objective.

    Returns:
        ``(theta, value, gradient, hessian)`` at the polished point.
    """
    value, grad = objective(theta)
    h = objective.hessian(theta)
    for _ in range(_NEWTON_STEPS):
        try:
            step = np.linalg.solve(h, grad)
        except np.linalg.LinAlgError:
            break
        new_value, new_grad = objective(theta - step)
        if not np.isfinite(new_value) or new_value > value + 1e-15 * abs(value):
            break
        theta, value, grad = theta - step, new_value, new_grad
        h = objective.hessian(theta)
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return theta, value, grad, h


def _check_converged(
    model: str, theta: FloatArray, value: float, grad: FloatArray, iterations: int
) -> None:
    if not (np.isfinite(value) and np.all(np.isfinite(theta)) and np.all(np.isfinite(grad))):
        raise LtvFitError(
            f"{model}: the fit did not converge (the log-likelihood is not finite after "
            f"{iterations} iterations); check the data for extreme values."
        )
    if float(np.max(np.abs(grad))) > _GRADIENT_TOLERANCE:
        params = ", ".join(
            f"{n}={np.exp(v):.4g}" for n, v in zip(MODEL_PARAMS[model], theta, strict=True)
        )
        raise LtvFitError(
            f"{model}: the fit did not converge after {iterations} iterations (largest "
            f"gradient {float(np.max(np.abs(grad))):.2g} at {params}); the data may not "
            "identify the model: check it has enough repeat customers."
        )


def _invert(model: str, h: FloatArray) -> FloatArray:
    try:
        np.linalg.cholesky(h)
    except np.linalg.LinAlgError as err:
        raise LtvFitError(
            f"{model}: the log-likelihood is flat or not at a maximum in some direction "
            "(its Hessian is not positive definite), so the intervals cannot be computed; "
            "the data do not identify every parameter."
        ) from err
    covariance = np.linalg.inv(h)
    return np.asarray((covariance + covariance.T) / 2, dtype=np.float64)


def predict(
    fit: LtvFit,
    prediction: Callable[[dict[str, Any]], npt.ArrayLike],
    quantity: str,
    draws: int = DRAWS,
    seed: int = 0,
) -> Predictions:
    """A prediction with its 90% interval from the fit's parameter uncertainty.

    Args:
        fit: the fitted model.
        prediction: parameters (name → float) → the prediction, ``(n,)``.
        quantity: what is predicted, with its unit.
        draws: parameter vectors drawn from the Laplace normal on the log scale.
        seed: random seed of the draws.
    """
    estimate = np.atleast_1d(np.asarray(prediction(fit.estimates()), dtype=np.float64))
    drawn = fit.draws(draws, seed)
    values = np.stack(
        [
            np.atleast_1d(np.asarray(prediction({k: float(v[i]) for k, v in drawn.items()})))
            for i in range(draws)
        ]
    ).astype(np.float64)
    low, high = quantiles(values, axis=0)
    return Predictions(quantity, estimate, values.mean(axis=0), low, high)


def predict_scalar(
    fits: tuple[LtvFit, ...],
    prediction: Callable[..., float],
    draws: int = DRAWS,
    seed: int = 0,
) -> tuple[float, FloatArray]:
    """A scalar prediction from several independent fits: its value at the estimates and
    its value for each of ``draws`` parameter draws (each fit drawn with its own seed)."""
    estimate = float(prediction(*(f.estimates() for f in fits)))
    drawn = [f.draws(draws, seed + i) for i, f in enumerate(fits)]
    values = np.array(
        [
            prediction(*({k: float(v[j]) for k, v in d.items()} for d in drawn))
            for j in range(draws)
        ],
        dtype=np.float64,
    )
    return estimate, values
