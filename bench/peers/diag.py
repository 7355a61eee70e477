"""Rank-normalised split R-hat and bulk ESS (Vehtari et al. 2021), numpy + scipy only.

Every runner of the peer benchmark computes its convergence figures with this one
implementation (the same formulas as ArviZ's ``rhat(method="rank")`` and
``ess(method="bulk")``), so no peer is favoured by a different estimator. It imports
neither margin nor any peer library.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata


def _split(x: np.ndarray) -> np.ndarray:
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)


def _z_scale(x: np.ndarray) -> np.ndarray:
    ranks = rankdata(x, method="average", axis=None).reshape(x.shape)
    return ndtri((ranks - 0.375) / (x.size + 0.25))


def _rhat(x: np.ndarray) -> float:
    n = x.shape[1]
    between = n * np.var(x.mean(axis=1), ddof=1)
    within = np.mean(np.var(x, axis=1, ddof=1))
    if within == 0:
        return float("nan")
    return float(np.sqrt((between / within + n - 1) / n))


def _autocov(x: np.ndarray) -> np.ndarray:
    n = x.shape[1]
    m = 1 << (2 * n - 1).bit_length()
    centred = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(centred, n=m, axis=1)
    return np.fft.irfft(f * np.conjugate(f), n=m, axis=1)[:, :n] / n


def _ess(x: np.ndarray) -> float:
    m, n = x.shape
    acov = _autocov(x)
    chain_mean = x.mean(axis=1)
    mean_var = np.mean(acov[:, 0]) * n / (n - 1)
    var_plus = mean_var * (n - 1) / n
    if m > 1:
        var_plus += np.var(chain_mean, ddof=1)
    if var_plus == 0:
        return float("nan")
    rho = np.zeros(n)
    even, odd = 1.0, 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho[0], rho[1] = even, odd
    t = 1
    while t < n - 3 and even + odd > 0:
        even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if even + odd >= 0:
            rho[t + 1], rho[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0:
        rho[max_t + 1] = even
    t = 1
    while t <= max_t - 2:  # Geyer's initial monotone sequence
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2
        t += 2
    total = m * n
    tau = -1 + 2 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1 : max_t + 2])
    return float(total / max(tau, 1 / np.log10(total)))


def rhat_rank(x: np.ndarray) -> float:
    """Rank-normalised split R-hat of ``x`` ``(chains, draws)`` (max of bulk and folded)."""
    split = _split(np.asarray(x, dtype=np.float64))
    folded = np.abs(split - np.median(split))
    return max(_rhat(_z_scale(split)), _rhat(_z_scale(folded)))


def ess_bulk(x: np.ndarray) -> float:
    """Bulk ESS of ``x`` ``(chains, draws)``."""
    return _ess(_z_scale(_split(np.asarray(x, dtype=np.float64))))


def summarize(samples: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Min bulk ESS and max R-hat over every scalar of every ``(chains, draws, ...)`` array."""
    ess, rhat = [], []
    for values in samples.values():
        arr = np.asarray(values, dtype=np.float64)
        flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
        for k in range(flat.shape[2]):
            column = flat[:, :, k]
            if np.ptp(column) == 0:
                continue
            ess.append(ess_bulk(column))
            rhat.append(rhat_rank(column))
    return {"min_ess_bulk": float(np.nanmin(ess)), "max_rhat": float(np.nanmax(rhat))}
