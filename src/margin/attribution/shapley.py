"""Shapley values over channel coalitions.

Journeys are grouped by their coalition ``T`` (the set of channels they touched). The
worth of a coalition ``S`` is a conversion rate: ``v(S) = max over observed U ⊆ S of
r(U)`` with ``v(∅) = 0``, where ``r(U) = (conv(U) + a·p) / (conv(U) + null(U) + a)`` is
the rate of journeys exposed to exactly ``U``, shrunk toward the overall rate ``p`` by a
Beta prior worth ``a`` journeys (``prior``, default 100: a coalition seen a few times
cannot claim an extreme rate), and closed upwards so that adding a channel never lowers
the worth (unobserved coalitions inherit their best observed subset). For each converting
coalition ``T`` the Shapley values of the game ``v`` restricted to subsets of ``T``
split its conversions (and value) among its channels, in proportion (they sum to
``v(T) > 0``). The split is exact for coalitions of up to ``max_exact`` channels
(``2^|T|`` worths each); larger coalitions use the mean marginal contribution over
``permutations`` random orderings of their channels (seeded), a Monte-Carlo
approximation whose standard error falls as ``1/sqrt(permutations)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from margin.attribution.paths import PathTable
from margin.errors import ConfigError
from margin.types import FloatArray, IntArray

__all__ = [
    "MAX_CHANNELS",
    "CoalitionCounts",
    "coalition_incidence",
    "coalitions_from_paths",
    "shapley_attribution",
    "shapley_shares",
]

MAX_CHANNELS = 62
"""Coalitions are 64-bit masks: at most this many channels (credit channels, not campaigns)."""
_CHUNK = 1 << 22


@dataclass(frozen=True)
class CoalitionCounts:
    """Journeys by coalition: ``masks`` ``(n,)`` bitmasks of channel indices, with their
    ``conversions``, ``value`` and ``nulls`` ``(n,)``."""

    masks: IntArray
    conversions: FloatArray
    value: FloatArray
    nulls: FloatArray


def coalition_incidence(table: PathTable) -> tuple[IntArray, IntArray]:
    """The distinct coalition masks ``(n,)`` and each path's coalition ``(n_paths,)``."""
    if table.n_channels > MAX_CHANNELS:
        raise ConfigError(
            f"Shapley values need at most {MAX_CHANNELS} channels; the journeys have "
            f"{table.n_channels}. Credit channels rather than campaigns (level 'channel')"
        )
    bits = np.left_shift(np.int64(1), table.steps.astype(np.int64))
    mask = np.zeros(table.n_paths, dtype=np.int64)
    np.bitwise_or.at(mask, table.path_of_step, bits)
    masks, of_path = np.unique(mask, return_inverse=True)
    return masks.astype(np.int64), of_path.astype(np.int64)


def coalitions_from_paths(table: PathTable) -> CoalitionCounts:
    """Coalition counts from aggregated paths."""
    masks, of_path = coalition_incidence(table)
    n = masks.size
    return CoalitionCounts(
        masks,
        np.bincount(of_path, table.conversions, n),
        np.bincount(of_path, table.value, n),
        np.bincount(of_path, table.nulls, n),
    )


def _bits(mask: int) -> list[int]:
    return [b for b in range(MAX_CHANNELS + 1) if mask >> b & 1]


class _Worth:
    """Observed conversion rates by coalition, looked up by mask."""

    def __init__(self, counts: CoalitionCounts, prior: float) -> None:
        order = np.argsort(counts.masks)
        self.masks = counts.masks[order]
        conv = counts.conversions[order]
        total = conv + counts.nulls[order]
        overall = conv.sum() / total.sum() if total.sum() > 0 else 0.0
        self.rate = (conv + prior * overall) / np.maximum(total + prior, 1e-300)

    def observed(self, masks: IntArray) -> FloatArray:
        """The observed rate of each mask (0 where never observed)."""
        idx = np.clip(np.searchsorted(self.masks, masks), 0, max(self.masks.size - 1, 0))
        found = self.masks[idx] == masks
        return np.where(found, self.rate[idx], 0.0)

    def closed(self, masks: IntArray, within: int) -> FloatArray:
        """``v(S)`` for arbitrary masks ``S ⊆ within``: the best observed subset's rate."""
        inside = (self.masks & ~np.int64(within)) == 0
        subs, rates = self.masks[inside], self.rate[inside]
        out = np.zeros(masks.size)
        for start in range(0, masks.size, 4096):
            block = masks[start : start + 4096]
            hit = (subs[None, :] & ~block[:, None]) == 0
            out[start : start + 4096] = np.where(hit, rates[None, :], 0.0).max(axis=1, initial=0.0)
        return out


def _positions(masks: IntArray, size: int) -> IntArray:
    """``(len(masks), size)`` the channel indices of each mask, ascending."""
    bits = (masks[:, None] >> np.arange(MAX_CHANNELS + 1, dtype=np.int64)) & 1
    positions: IntArray = np.nonzero(bits)[1].reshape(len(masks), size).astype(np.int64)
    return positions


@functools.lru_cache(maxsize=32)
def _lattice(size: int) -> tuple[IntArray, IntArray, list[IntArray], list[FloatArray]]:
    """For coalitions of ``size`` channels: local subset codes, their bits, and per
    channel the subsets without it with their Shapley weights."""
    local = np.arange(1 << size, dtype=np.int64)
    local_bits = (local[:, None] >> np.arange(size)) & 1
    sizes = local_bits.sum(axis=1)
    by_size = np.array(
        [
            math.factorial(k) * math.factorial(size - k - 1) / math.factorial(size)
            for k in range(size)
        ]
    )
    without = [local[(local >> i) & 1 == 0] for i in range(size)]
    weights = [by_size[sizes[w]] for w in without]
    return local, local_bits, without, weights


def _exact_group(worth: _Worth, positions: IntArray) -> FloatArray:
    """Shapley values ``(n, size)`` of coalitions whose channels are ``positions`` ``(n, size)``."""
    n, size = positions.shape
    local, local_bits, without, weights = _lattice(size)
    glob = local_bits @ np.left_shift(np.int64(1), positions).T  # (n_sub, n)
    v = worth.observed(glob.T.ravel()).reshape(n, local.size)
    for j in range(size):
        with_j = local[(local >> j) & 1 == 1]
        v[:, with_j] = np.maximum(v[:, with_j], v[:, with_j - (1 << j)])
    phi = np.empty((n, size))
    for i in range(size):
        phi[:, i] = (v[:, without[i] + (1 << i)] - v[:, without[i]]) @ weights[i]
    return phi


def _sampled(worth: _Worth, mask: int, permutations: int, rng: np.random.Generator) -> FloatArray:
    members = np.array(_bits(mask), dtype=np.int64)
    m = members.size
    orders = np.argsort(rng.random((permutations, m)), axis=1)
    bits = np.left_shift(np.int64(1), members)[orders]
    prefix = np.cumsum(bits, axis=1)
    values = worth.closed(prefix.ravel(), mask).reshape(permutations, m)
    gains = np.diff(values, axis=1, prepend=0.0)
    phi = np.zeros(m)
    np.add.at(phi, orders.ravel(), gains.ravel())
    return phi / permutations


def shapley_shares(
    counts: CoalitionCounts,
    max_exact: int = 15,
    permutations: int = 2000,
    seed: int = 0,
    prior: float = 100.0,
) -> list[tuple[IntArray, IntArray, FloatArray]]:
    """The converting coalitions by size: ``(index, channels, shares)`` per size, with
    ``index`` ``(n,)`` into ``counts``, ``channels`` and ``shares`` ``(n, size)`` (rows
    sum to 1)."""
    worth = _Worth(counts, prior)
    converting = np.flatnonzero(counts.conversions > 0)
    masks = counts.masks[converting]
    sizes = np.array([int(m).bit_count() for m in masks], dtype=np.int64)
    rng = np.random.default_rng(seed)
    out = []
    for size in (int(k) for k in np.unique(sizes)):
        group = converting[sizes == size]
        positions = _positions(counts.masks[group], size)
        if size <= max_exact:
            step = max(1, _CHUNK >> size)
            phi = np.vstack(
                [_exact_group(worth, positions[i : i + step]) for i in range(0, group.size, step)]
            )
        else:
            phi = np.vstack(
                [_sampled(worth, int(counts.masks[g]), permutations, rng) for g in group]
            )
        total = phi.sum(axis=1, keepdims=True)
        shares = np.where(total > 0, phi / np.where(total > 0, total, 1.0), 1.0 / size)
        out.append((group, positions, shares))
    return out


def shapley_attribution(
    counts: CoalitionCounts,
    n_channels: int,
    max_exact: int = 15,
    permutations: int = 2000,
    seed: int = 0,
    prior: float = 100.0,
) -> tuple[FloatArray, FloatArray]:
    """Credits ``(n_channels,)`` in conversions and in value."""
    conv = np.zeros(n_channels)
    value = np.zeros(n_channels)
    for group, positions, shares in shapley_shares(counts, max_exact, permutations, seed, prior):
        conv += np.bincount(
            positions.ravel(), (shares * counts.conversions[group, None]).ravel(), n_channels
        )
        value += np.bincount(
            positions.ravel(), (shares * counts.value[group, None]).ravel(), n_channels
        )
    return conv, value
