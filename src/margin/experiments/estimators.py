"""Counterfactual estimators on arrays: synthetic control (two variants) and time-based regression.

All take the treated series ``y`` (the sum of the treated geos, ``(n_times,)``), the
control geos ``controls`` ``(n_controls, n_times)`` and a boolean ``fit_mask``
``(n_times,)`` of the periods to fit on, and return the counterfactual ``(n_times,)``
for every period. Pure functions; no randomness.

* **Augmented synthetic control** (Ben-Michael, Feller & Rothstein 2021, ridge ASCM,
  with unit fixed effects): controls are rescaled to the treated pre-period mean and
  de-meaned; simplex weights minimise the pre-period misfit; a ridge regression of the
  remaining misfit on the controls corrects the bias.
* **GeoLift's synthetic control** (GeoLift's default: ``augsynth`` with no prognostic
  function and ``fixedeff = TRUE``): every geo's pre-period mean is removed (unit fixed
  effects), simplex weights fit the *average* treated geo on the de-meaned controls over
  the pre-period (no rescaling, no ridge step), and the counterfactual is the treated
  pre-period mean plus the weighted de-meaned controls, times the number of treated geos.
* **Time-based regression** (Kerman, Wang & Vaver 2017): ``y_t = a + b·x_t + e_t`` with
  ``x`` the sum of the controls, fitted by least squares on the pre-period; its
  predictive distribution gives a t-based interval for the cumulative effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from margin.types import FloatArray

__all__ = [
    "DEFAULT_RIDGE",
    "TbrFit",
    "geolift_counterfactual",
    "geolift_weights",
    "scm_counterfactual",
    "simplex_least_squares",
    "tbr_counterfactual",
    "tbr_fit",
]

BoolArray = npt.NDArray[np.bool_]

DEFAULT_RIDGE = 0.1
"""Ridge penalty of the augmentation, relative to the mean squared norm of a control."""

_SUM_TO_ONE_WEIGHT = 1e3


def simplex_least_squares(design: FloatArray, target: FloatArray) -> FloatArray:
    """Weights ``w >= 0, sum(w) = 1`` minimising ``||design @ w - target||``.

    ``design`` is ``(n_obs, n_units)``, ``target`` ``(n_obs,)``; returns ``(n_units,)``. The
    sum-to-one constraint enters as a heavily weighted extra row of a non-negative least
    squares problem (Lawson–Hanson, ``scipy.optimize.nnls``).
    """
    from scipy.optimize import nnls  # type: ignore[import-untyped,unused-ignore]

    penalty = _SUM_TO_ONE_WEIGHT * (float(np.abs(design).max()) + 1.0)
    a = np.vstack([design, np.full((1, design.shape[1]), penalty)])
    b = np.concatenate([target, [penalty]])
    weights, _ = nnls(a, b, maxiter=50 * design.shape[1])
    total = weights.sum()
    return np.asarray(weights / total if total > 0 else weights, dtype=np.float64)


def scm_counterfactual(
    y: FloatArray, controls: FloatArray, fit_mask: BoolArray, ridge: float = DEFAULT_RIDGE
) -> FloatArray:
    """Ridge-augmented synthetic control with unit fixed effects; returns ``(n_times,)``."""
    pre_y = y[fit_mask]
    pre_means = controls[:, fit_mask].mean(axis=1)
    safe = np.where(np.abs(pre_means) > 1e-12, pre_means, 1.0)
    scaled = controls * (pre_y.mean() / safe)[:, None]
    mu_y = pre_y.mean()
    mu_x = scaled[:, fit_mask].mean(axis=1)
    centred = scaled - mu_x[:, None]
    x_pre = centred[:, fit_mask]
    weights = simplex_least_squares(x_pre.T, pre_y - mu_y)
    if ridge > 0:
        residual = (pre_y - mu_y) - x_pre.T @ weights
        n_controls = x_pre.shape[0]
        lam = ridge * float((x_pre**2).sum()) / n_controls + 1e-12
        gram = x_pre @ x_pre.T + lam * np.eye(n_controls)
        weights = weights + np.linalg.solve(gram, x_pre @ residual)
    return np.asarray(mu_y + weights @ centred, dtype=np.float64)


def geolift_counterfactual(
    y: FloatArray,
    controls: FloatArray,
    fit_mask: BoolArray,
    ridge: float = DEFAULT_RIDGE,
    n_treated: int = 1,
) -> FloatArray:
    """GeoLift's default counterfactual for the treated sum ``y``; returns ``(n_times,)``.

    ``y`` sums ``n_treated`` geos; the weights fit their average, as augsynth does with
    several treated units (``ridge`` is unused; same signature as the others).
    """
    del ridge
    average = y / max(n_treated, 1)
    pre_mean = float(average[fit_mask].mean())
    centred = controls - controls[:, fit_mask].mean(axis=1)[:, None]
    weights = geolift_weights(average, controls, fit_mask)
    return np.asarray(n_treated * (pre_mean + weights @ centred), dtype=np.float64)


def geolift_weights(average: FloatArray, controls: FloatArray, fit_mask: BoolArray) -> FloatArray:
    """GeoLift's synthetic-control weights ``(n_controls,)`` (GeoLift's ``GetWeights``).

    ``average`` is the average treated geo ``(n_times,)``; simplex weights fit it on the
    controls, both de-meaned over the periods in ``fit_mask``.
    """
    centred = controls[:, fit_mask] - controls[:, fit_mask].mean(axis=1)[:, None]
    target = average[fit_mask] - average[fit_mask].mean()
    return simplex_least_squares(centred.T, target)


@dataclass(frozen=True)
class TbrFit:
    """Least-squares fit of ``y = a + b·x`` on the pre-period.

    ``coef`` is ``(a, b)``, ``xtx_inv`` the ``(2, 2)`` inverse Gram matrix, ``sigma2`` the
    residual variance with ``dof`` degrees of freedom.
    """

    coef: FloatArray
    xtx_inv: FloatArray
    sigma2: float
    dof: int


def tbr_fit(y: FloatArray, x: FloatArray, fit_mask: BoolArray) -> TbrFit:
    """Fit TBR on the periods in ``fit_mask``; ``y`` and ``x`` are ``(n_times,)``."""
    design = np.column_stack([np.ones(int(fit_mask.sum())), x[fit_mask]])
    coef, *_ = np.linalg.lstsq(design, y[fit_mask], rcond=None)
    residual = y[fit_mask] - design @ coef
    dof = design.shape[0] - 2
    sigma2 = float(residual @ residual) / max(dof, 1)
    return TbrFit(coef, np.linalg.pinv(design.T @ design), sigma2, dof)


def tbr_counterfactual(
    y: FloatArray, controls: FloatArray, fit_mask: BoolArray, ridge: float = DEFAULT_RIDGE
) -> FloatArray:
    """TBR prediction ``a + b·x`` for every period (``ridge`` is unused; same signature)."""
    del ridge
    x = controls.sum(axis=0)
    fit = tbr_fit(y, x, fit_mask)
    return np.asarray(fit.coef[0] + fit.coef[1] * x, dtype=np.float64)
