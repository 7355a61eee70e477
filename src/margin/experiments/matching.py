"""Market similarity: correlation and dynamic-time-warping distance between geo series."""

from __future__ import annotations

import numpy as np

from margin.types import FloatArray

__all__ = ["correlation_matrix", "dtw_distances", "matches_for", "standardize"]


def standardize(series: FloatArray) -> FloatArray:
    """Each row of ``(n_geos, n_times)`` to mean 0, sd 1 (constant rows stay 0)."""
    centred = series - series.mean(axis=1, keepdims=True)
    sd = centred.std(axis=1, keepdims=True)
    return np.asarray(centred / np.where(sd > 0, sd, 1.0), dtype=np.float64)


def correlation_matrix(series: FloatArray) -> FloatArray:
    """Pearson correlations ``(n_geos, n_geos)`` of the rows of ``(n_geos, n_times)``."""
    z = standardize(series)
    return np.asarray(z @ z.T / series.shape[1], dtype=np.float64)


def dtw_distances(series: FloatArray, window: int = 7) -> FloatArray:
    """DTW distances ``(n_geos, n_geos)`` between standardized rows, Sakoe–Chiba band ``window``.

    The recursion ``D[i, j] = |a_i - b_j| + min(D[i-1, j], D[i, j-1], D[i-1, j-1])`` runs
    for all pairs at once (vectorised over pairs); the distance is ``D[T, T] / T``.
    """
    z = standardize(series)
    n_geos, n_times = z.shape
    left, right = np.triu_indices(n_geos, k=1)
    a, b = z[left], z[right]
    previous = np.full((left.shape[0], n_times + 1), np.inf)
    previous[:, 0] = 0.0
    for i in range(1, n_times + 1):
        current = np.full_like(previous, np.inf)
        for j in range(max(1, i - window), min(n_times, i + window) + 1):
            step = np.abs(a[:, i - 1] - b[:, j - 1])
            best = np.minimum(np.minimum(previous[:, j], current[:, j - 1]), previous[:, j - 1])
            current[:, j] = step + best
        previous = current
    final = previous[:, n_times]
    out = np.zeros((n_geos, n_geos))
    out[left, right] = final / n_times
    out[right, left] = out[left, right]
    return out


def matches_for(
    geo: int, candidates: list[int], correlation: FloatArray, dtw: FloatArray, n: int = 3
) -> list[dict[str, float | int]]:
    """The ``n`` candidates closest to ``geo`` by DTW distance, with their correlation."""
    ranked = sorted(candidates, key=lambda c: (dtw[geo, c], -correlation[geo, c]))
    return [
        {"geo": c, "dtw": float(dtw[geo, c]), "correlation": float(correlation[geo, c])}
        for c in ranked[:n]
    ]
