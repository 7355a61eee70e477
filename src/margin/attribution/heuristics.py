"""Rule-based models as per-step weights: each path's credit is split over its touches.

For every model a path's weights sum to 1, so the credits sum to the conversions (and
the value). ``credit[c] = Σ_steps weight · conversions[path]`` over the steps of ``c``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from margin.attribution.paths import PathTable
from margin.attribution.settings import HEURISTIC_MODELS, ModelSettings
from margin.types import FloatArray, IntArray

__all__ = ["credit_matrix", "is_direct", "step_weights"]


def is_direct(labels: tuple[str, ...], direct_channels: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    """``(n_channels,)`` whether each label is a direct channel (``"direct / x"`` too)."""
    wanted = {d.lower() for d in direct_channels}
    return np.array(
        [label.split(" / ")[0].strip().lower() in wanted for label in labels], dtype=bool
    )


def _positions(table: PathTable) -> tuple[IntArray, IntArray]:
    """``(n_steps,)`` 0-based position of each step and its path's length."""
    return table.position, table.lengths[table.path_of_step]


def _last_non_direct(table: PathTable, direct: npt.NDArray[np.bool_]) -> FloatArray:
    position, _ = _positions(table)
    path = table.path_of_step
    candidate = np.where(direct[table.steps], -1, position)
    best = np.full(table.n_paths, -1, dtype=np.int64)
    np.maximum.at(best, path, candidate)
    best = np.where(best < 0, table.lengths - 1, best)  # all direct: the last touch
    weights: FloatArray = (position == best[path]).astype(np.float64)
    return weights


def _position_based(table: PathTable, weights: tuple[float, float, float]) -> FloatArray:
    first, middle, last = weights
    position, n = _positions(table)
    inner = middle / np.maximum(n - 2, 1)
    out = np.where(position == 0, first, np.where(position == n - 1, last, inner))
    out = np.where(n == 2, np.where(position == 0, first, last) / (first + last), out)
    out = np.where(n == 1, 1.0, out).astype(np.float64)
    if middle > 0:
        return out
    return out / np.bincount(table.path_of_step, out, table.n_paths)[table.path_of_step]


def _positional_decay(table: PathTable, half_life_steps: float) -> FloatArray:
    position, n = _positions(table)
    raw = np.power(0.5, (n - 1 - position) / half_life_steps)
    return raw / np.bincount(table.path_of_step, raw, table.n_paths)[table.path_of_step]


def step_weights(
    table: PathTable, model: str, settings: ModelSettings, direct_channels: tuple[str, ...]
) -> tuple[FloatArray, FloatArray]:
    """Per-step weights ``(n_steps,)`` for conversions and for value under ``model``.

    Time decay uses the path table's per-step shares when it has them (journeys from
    events) and decays by position otherwise (aggregated paths have no timestamps).
    """
    if model not in HEURISTIC_MODELS:
        raise ValueError(f"{model!r} is not a rule-based model")
    position, n = _positions(table)
    if model == "first_touch":
        w = (position == 0).astype(np.float64)
    elif model == "last_touch":
        w = (position == n - 1).astype(np.float64)
    elif model == "last_non_direct":
        w = _last_non_direct(table, is_direct(table.channels, direct_channels))
    elif model == "linear":
        w = 1.0 / n
    elif model == "position_based":
        w = _position_based(table, settings.position_weights)
    elif table.decay is not None and table.decay_value is not None:
        return table.decay, table.decay_value
    else:
        w = _positional_decay(table, settings.half_life_steps)
    return w, w


def credit_matrix(table: PathTable, weights: FloatArray) -> Any:
    """``(n_paths, n_channels)`` sparse: each path's credit per channel for one conversion."""
    import scipy.sparse as sp

    return sp.csr_matrix(
        (weights, (table.path_of_step, table.steps)), shape=(table.n_paths, table.n_channels)
    )
