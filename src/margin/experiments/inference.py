"""Inference procedures; each gives the interval and the p-value from one reference
distribution, so they always agree.

* **Placebo-in-time t** (default, :func:`placebo_t_statistic`): the same held-out-window
  errors as below; their root mean square is the scale and a Student-t with the
  overlapping-batch-means degrees of freedom is the reference.
* **Placebo-in-time conformal** (synthetic control; any counterfactual function): every
  window of the test's length inside the pre-period is held out in turn, the estimator
  is fitted on the rest of the pre-period and its cumulative error on the held-out
  window recorded. If the test window's error were exchangeable with these ``K``
  placebo errors (only approximately: overlapping, interpolated windows make it
  anti-conservative on autocorrelated panels, see docs/benchmarks.md), ``p(θ) = (1 + #{|e_k| >= |est - θ|}) / (K + 1)`` and the
  interval is ``{θ : p(θ) > α}`` = ``est ± q``. ``0`` is inside the interval exactly when
  ``p(0) > α``.
* **TBR predictive t** (Kerman et al. 2017): the cumulative effect's predictive variance
  ``σ²(L + s'(X'X)⁻¹s)`` with ``s = Σ_post (1, x_t)``; interval and p-value from the same
  Student-t with ``T0 - 2`` degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from margin.errors import ConfigError
from margin.experiments.estimators import tbr_fit
from margin.types import FloatArray

__all__ = [
    "Counterfactual",
    "TestStatistic",
    "conformal_statistic",
    "conformal_threshold",
    "min_placebo_windows",
    "placebo_errors",
    "placebo_t_statistic",
    "tbr_statistic",
]

Counterfactual = Callable[[FloatArray, FloatArray, npt.NDArray[np.bool_]], FloatArray]


@dataclass(frozen=True)
class TestStatistic:
    """A cumulative-effect estimate with its inference.

    ``estimate`` is the cumulative effect; ``half_width`` the distance from it to either
    end of the ``level`` interval (``inf`` when the data cannot give one); ``p_value``
    two-sided for "no effect"; ``scale`` a standard-error-like spread (TBR: the predictive
    sd; conformal: ``half_width / z_{(1+level)/2}``).
    """

    estimate: float
    half_width: float
    p_value: float
    scale: float
    n_reference: int


def min_placebo_windows(level: float) -> int:
    """The fewest placebo windows that can give a finite ``level`` interval."""
    return max(1, math.ceil(1.0 / (1.0 - level)) - 1)


def placebo_errors(
    y: FloatArray,
    controls: FloatArray,
    pre_end: int,
    length: int,
    counterfactual: Counterfactual,
    stride: int = 1,
    min_fit: int = 4,
) -> FloatArray:
    """Cumulative errors of the estimator on held-out pre-period windows, ``(K,)``.

    Windows ``[a, a + length)`` for ``a = 0, stride, …`` inside ``[0, pre_end)``; each fit
    uses the other pre-period periods (at least ``min_fit`` of them).
    """
    errors = []
    times = np.arange(y.shape[0])
    for start in range(0, pre_end - length + 1, stride):
        held = (times >= start) & (times < start + length)
        mask = (times < pre_end) & ~held
        if mask.sum() < min_fit:
            continue
        fitted = counterfactual(y, controls, mask)
        errors.append(float((y[held] - fitted[held]).sum()))
    return np.asarray(errors, dtype=np.float64)


def conformal_threshold(abs_errors: FloatArray, level: float) -> float:
    """``q`` with ``p(θ) > 1 - level  ⇔  |est - θ| <= q``; ``inf`` if too few errors."""
    n = abs_errors.shape[0]
    alpha = 1.0 - level
    needed = math.floor(alpha * (n + 1) - 1.0) + 1
    if needed < 1:
        return math.inf
    ordered = np.sort(abs_errors)[::-1]
    return float(ordered[needed - 1])


def conformal_statistic(estimate: float, errors: FloatArray, level: float) -> TestStatistic:
    """Inference for ``estimate`` against the placebo ``errors`` (test inversion)."""
    from scipy.stats import norm  # type: ignore[import-untyped,unused-ignore]

    magnitudes = np.abs(errors)
    p_value = (1.0 + float((magnitudes >= abs(estimate)).sum())) / (errors.shape[0] + 1.0)
    half = conformal_threshold(magnitudes, level)
    scale = half / float(norm.ppf(0.5 + level / 2.0))
    return TestStatistic(estimate, half, p_value, scale, int(errors.shape[0]))


def tbr_statistic(
    y: FloatArray, x: FloatArray, pre_end: int, end: int, level: float
) -> TestStatistic:
    """TBR cumulative effect over ``[pre_end, end)`` with its predictive-t inference."""
    from scipy.stats import t as student_t  # type: ignore[import-untyped,unused-ignore]

    times = np.arange(y.shape[0])
    fit_mask = times < pre_end
    fit = tbr_fit(y, x, fit_mask)
    if fit.dof < 1:
        raise ConfigError(
            f"TBR needs at least 3 pre-period periods to estimate its noise; got {pre_end}"
        )
    post = (times >= pre_end) & (times < end)
    predicted = fit.coef[0] + fit.coef[1] * x[post]
    estimate = float((y[post] - predicted).sum())
    summed = np.array([post.sum(), x[post].sum()], dtype=np.float64)
    variance = fit.sigma2 * (float(post.sum()) + float(summed @ fit.xtx_inv @ summed))
    scale = math.sqrt(max(variance, 0.0))
    critical = float(student_t.ppf(0.5 + level / 2.0, fit.dof))
    if scale == 0.0:
        p_value = 0.0 if estimate != 0.0 else 1.0
    else:
        p_value = float(2.0 * student_t.sf(abs(estimate) / scale, fit.dof))
    return TestStatistic(estimate, critical * scale, p_value, scale, fit.dof)


def placebo_t_statistic(
    estimate: float, errors: FloatArray, pre_end: int, length: int, level: float
) -> TestStatistic:
    """Placebo-in-time t: the placebo errors' root mean square as the scale, and a Student-t
    reference whose degrees of freedom are those of an overlapping-batch-means variance
    estimate, ``1.5 · (pre_end / length − 1)`` (Meketon & Schmeiser 1984).

    Overlapping placebo windows share most of their periods, so they carry far fewer
    independent errors than their count; the t reference accounts for the noise of the
    estimated scale. Interval and p-value come from the same t, so they agree.
    """
    from scipy.stats import t as student_t  # type: ignore[import-untyped,unused-ignore]

    scale = float(np.sqrt(np.mean(errors**2)))
    dof = max(round(1.5 * (pre_end / length - 1.0)), 1)
    critical = float(student_t.ppf(0.5 + level / 2.0, dof))
    if scale == 0.0:
        p_value = 0.0 if estimate != 0.0 else 1.0
    else:
        p_value = float(2.0 * student_t.sf(abs(estimate) / scale, dof))
    return TestStatistic(estimate, critical * scale, p_value, scale, dof)
