"""Small synthetic geo panels with a known injected lift, for tests and benchmarks.

``kpi[g, t] = level_g · (1 + Σ_k loading_gk · factor_kt) + noise_gt`` with ``factor``
stationary AR(1) series (the first with a weekly cycle), ``level`` log-normal across geos and independent
Normal noise with sd ``noise · level_g``. The lift multiplies the treated geos' KPI by
``1 + lift`` inside the window, so the true cumulative lift is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from margin.experiments.panel import GeoPanel
from margin.types import FloatArray

__all__ = ["SimulatedTest", "simulate_geo_panel"]


@dataclass(frozen=True)
class SimulatedTest:
    """A simulated panel and the truth of its test (``true_lift`` in KPI units)."""

    panel: GeoPanel
    treated: tuple[str, ...]
    start: date
    end: date
    true_lift: float


def _ar1(rng: np.random.Generator, n: int, n_times: int, phi: float, sd: float) -> FloatArray:
    """``(n, n_times)`` stationary AR(1) paths with coefficient ``phi`` and marginal sd ``sd``."""
    shocks = rng.normal(0.0, sd * np.sqrt(1.0 - phi**2), size=(n, n_times))
    paths = np.empty((n, n_times))
    paths[:, 0] = rng.normal(0.0, sd, size=n)
    for t in range(1, n_times):
        paths[:, t] = phi * paths[:, t - 1] + shocks[:, t]
    return paths


def simulate_geo_panel(  # noqa: PLR0913 (see tests/test_architecture.py)
    n_geos: int,
    n_times: int,
    *,
    seed: int,
    n_treated: int = 2,
    test_length: int = 14,
    lift: float = 0.0,
    noise: float = 0.03,
    n_factors: int = 2,
    persistence: float = 0.5,
    grain_days: int = 1,
) -> SimulatedTest:
    """A daily (or weekly) panel whose last ``test_length`` periods are the test window.

    The treated geos are the first ``n_treated`` of a random permutation; ``lift`` is the
    relative lift applied to them in the window.
    """
    rng = np.random.default_rng(seed)
    factors = _ar1(rng, n_factors, n_times, persistence, 0.05)
    factors[0] += 0.1 * np.sin(2 * np.pi * np.arange(n_times) / 7.0)
    loadings = rng.uniform(0.5, 1.5, size=(n_geos, n_factors))
    level = np.exp(rng.normal(np.log(1000.0), 0.5, size=n_geos))
    mean = level[:, None] * (1.0 + loadings @ factors)
    kpi = mean + rng.normal(0.0, 1.0, size=mean.shape) * noise * level[:, None]
    treated_idx = np.sort(rng.permutation(n_geos)[:n_treated])
    window = slice(n_times - test_length, n_times)
    true_lift = float(lift * kpi[treated_idx, window].sum())
    kpi[treated_idx, window] *= 1.0 + lift
    geos = tuple(f"g{i:03d}" for i in range(n_geos))
    first = date(2024, 1, 1)
    dates = tuple(first + timedelta(days=grain_days * t) for t in range(n_times))
    panel = GeoPanel(dates, geos, kpi, None, grain_days, f"simulated(seed={seed})")
    return SimulatedTest(
        panel,
        tuple(geos[i] for i in treated_idx),
        dates[n_times - test_length],
        dates[-1],
        true_lift,
    )
