"""Intervals: the 5th and 95th percentiles of each channel's credited conversions.

They describe the sampling noise of the journeys, computed without redrawing the
(possibly millions of) journeys one by one:

- **Rule-based models** — the Poisson bootstrap over journeys (each distinct path's
  converting journeys redrawn as Poisson with the observed count as mean). A channel's
  credit is then a weighted sum of independent Poisson counts, with exact mean
  ``Σ_p h_pc·conv_p`` and variance ``Σ_p h_pc²·conv_p`` (``h_pc`` the path's credit to
  the channel per conversion); its quantiles are those of the scaled Poisson with those
  two moments (exact for first, last and last non-direct touch, where ``h`` is 0 or 1).
  A path's time-decay shares are their mean over its journeys.
- **Shapley** — the same Poisson bootstrap, which on coalition counts is exact: the
  converting and non-converting journeys of each coalition are redrawn as Poisson
  (sums of independent Poissons), and the Shapley split rerun per replicate.
- **Markov** — a Dirichlet posterior on each state's outgoing transition counts (on the
  transitions observed), pushed through the exact removal effects per draw.

Journeys of one user are treated as independent (a user with several journeys counts as
several).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from margin.attribution.heuristics import credit_matrix, step_weights
from margin.attribution.markov import TransitionCounts, removal_effects
from margin.attribution.settings import HEURISTIC_MODELS, ModelSettings
from margin.attribution.shapley import CoalitionCounts, shapley_attribution
from margin.types import LEVELS, FloatArray

if TYPE_CHECKING:
    from margin.attribution.paths import PathTable

__all__ = ["heuristic_interval", "markov_draws", "shapley_draws"]


def heuristic_interval(
    table: PathTable, model: str, settings: ModelSettings, direct_channels: tuple[str, ...]
) -> tuple[FloatArray, FloatArray]:
    """``(p05, p95)``, each ``(n_channels,)``, of a rule-based model's credited conversions."""
    from scipy.stats import poisson

    if model not in HEURISTIC_MODELS:
        raise ValueError(f"{model!r} is not a rule-based model")
    matrix = credit_matrix(table, step_weights(table, model, settings, direct_channels)[0]).tocsr()
    mean = np.asarray(matrix.T @ table.conversions).ravel()
    var = np.asarray(matrix.multiply(matrix).T @ table.conversions).ravel()
    scale = np.divide(var, mean, out=np.ones_like(mean), where=mean > 0)
    rate = np.divide(mean, scale, out=np.zeros_like(mean), where=scale > 0)
    low, high = (scale * poisson.ppf(q, rate) for q in LEVELS)
    return np.nan_to_num(low), np.nan_to_num(high)


def shapley_draws(counts: CoalitionCounts, n_channels: int, settings: ModelSettings) -> FloatArray:
    """Credited conversions per Poisson-bootstrap replicate, ``(n_bootstrap, n_channels)``."""
    rng = np.random.default_rng(settings.seed)
    out = np.zeros((settings.n_bootstrap, n_channels))
    for b in range(settings.n_bootstrap):
        redrawn = CoalitionCounts(
            counts.masks,
            rng.poisson(counts.conversions).astype(np.float64),
            np.zeros(counts.masks.size),
            rng.poisson(counts.nulls).astype(np.float64),
        )
        out[b] = shapley_attribution(
            redrawn,
            n_channels,
            settings.shapley_max_exact,
            settings.shapley_permutations,
            settings.seed,
            settings.shapley_prior,
        )[0]
    return out


def markov_draws(
    counts: TransitionCounts, n_channels: int, total: float, settings: ModelSettings
) -> FloatArray:
    """Credited conversions per Dirichlet draw of the transition probabilities,
    ``(n_bootstrap, n_channels)`` (each draw's credits sum to ``total``)."""
    rng = np.random.default_rng(settings.seed)
    n = len(counts.states)
    source = np.concatenate([counts.flow_from + 1, np.arange(1, n + 1), np.arange(1, n + 1)])
    observed = np.concatenate([counts.flow, counts.conversions, counts.nulls])
    out = np.zeros((settings.n_bootstrap, n_channels))
    m = counts.flow.size
    # the moves come from a SQL aggregation in no set order: draw them in a canonical
    # order (by from, to state) so one seed gives one interval
    canonical = np.concatenate(
        [np.lexsort((counts.flow_to, counts.flow_from)), np.arange(m, m + 2 * n)]
    )
    for b in range(settings.n_bootstrap):
        gamma = np.zeros(observed.size)
        drawn = observed[canonical]
        gamma[canonical] = np.where(drawn > 0, rng.gamma(np.maximum(drawn, 1e-300)), 0.0)
        row = np.bincount(source, gamma, n + 1)
        prob = gamma / np.where(row[source] > 0, row[source], 1.0)
        draw = TransitionCounts(
            counts.order,
            counts.states,
            counts.flow_from,
            counts.flow_to,
            prob[:m],
            prob[m : m + n],
            np.zeros(n),
            prob[m + n :],
        )
        effects = removal_effects(draw, n_channels)[0]
        s = effects.sum()
        out[b] = effects / s * total if s > 0 else 0.0
    return out
