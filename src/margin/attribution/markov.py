"""Markov-chain attribution: removal effects solved exactly from the absorbing chain.

States are the last ``order`` channels of a journey (fewer at its start), plus a start
state and two absorbing states, conversion and null. With transient-to-transient
probabilities ``Q`` and transient-to-conversion probabilities ``r`` (counts over row
totals), the probability of converting from each state solves ``(I - Q) x = r`` and
``P(conversion) = x[start]``. Removing channel ``c`` sends every visit to a state that
contains ``c`` to null: the same system restricted to the other states. The removal
effect is ``RE_c = 1 - x_{-c}[start] / x[start]`` and channel ``c`` is credited
``RE_c / Σ RE`` of the conversions. Value works the same with ``r`` replaced by the
value of conversions leaving each state over its row total, so ``x[start]`` is the
expected value per journey. No path is simulated; each removal is one sparse solve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from margin.attribution.paths import PathTable
from margin.errors import ConfigError
from margin.types import FloatArray, IntArray

__all__ = [
    "MarkovResult",
    "TransitionCounts",
    "decode_state",
    "markov_attribution",
    "removal_effects",
    "state_code",
    "transition_incidence",
    "transitions_from_paths",
]


@dataclass(frozen=True)
class TransitionCounts:
    """Counts of an order-k chain (``n_states`` transient states besides the start).

    Attributes:
        order: the chain order.
        states: ``n_states`` tuples of channel indices (the last ``order`` channels).
        flow_from: ``(n_flow,)`` state of each move, ``-1`` for the start.
        flow_to: ``(n_flow,)`` state it moves to.
        flow: ``(n_flow,)`` how many journeys made the move.
        conversions: ``(n_states,)`` journeys converting from each state.
        value: ``(n_states,)`` their conversion value.
        nulls: ``(n_states,)`` journeys ending without conversion in each state.
    """

    order: int
    states: tuple[tuple[int, ...], ...]
    flow_from: IntArray
    flow_to: IntArray
    flow: FloatArray
    conversions: FloatArray
    value: FloatArray
    nulls: FloatArray


@dataclass(frozen=True)
class MarkovResult:
    """Removal effects and credits, ``(n_channels,)`` each."""

    removal_conversions: FloatArray
    removal_value: FloatArray
    conversions: FloatArray
    value: FloatArray
    conversion_rate: float


def state_code(labels: tuple[int, ...], base: int) -> int:
    """The integer code of a state (label indices, oldest first): ``Σ_j (c_j + 1) · base^j``
    with ``j`` counting back from the latest label (the convention of the journey SQL)."""
    return sum((c + 1) * base**j for j, c in enumerate(reversed(labels)))


def decode_state(code: int, base: int) -> tuple[int, ...]:
    """The label indices (oldest first) of a state code."""
    digits = []
    while code:
        digits.append(code % base - 1)
        code //= base
    return tuple(reversed(digits))


def _state_codes(table: PathTable, order: int) -> IntArray:
    """``(n_steps,)`` the state code at each step (see :func:`state_code`)."""
    base = table.n_channels + 1
    if base**order >= 2**62:
        raise ConfigError(
            f"Markov order {order} with {table.n_channels} channels has too many possible states; "
            "use a lower --order or credit channels rather than campaigns"
        )
    position = table.position
    code = np.zeros(table.steps.size, dtype=np.int64)
    for lag in range(order):
        shifted = np.zeros(table.steps.size, dtype=np.int64)
        shifted[lag:] = table.steps[: table.steps.size - lag] + 1
        code += np.where(position >= lag, shifted, 0) * base**lag
    return code


@dataclass(frozen=True)
class TransitionIncidence:
    """How each distinct path contributes to the transition counts (for resampling).

    ``flow_matrix`` is ``(n_flow, n_paths)``: how often each path makes each move;
    ``exit_state`` is ``(n_paths,)``: the state each path ends in.
    """

    order: int
    states: tuple[tuple[int, ...], ...]
    flow_from: IntArray
    flow_to: IntArray
    flow_matrix: Any
    exit_state: IntArray

    def counts(
        self, conversions: FloatArray, value: FloatArray, nulls: FloatArray
    ) -> TransitionCounts:
        """Transition counts for given per-path outcomes, each ``(n_paths,)``."""
        n = len(self.states)
        flow = np.asarray(self.flow_matrix @ (conversions + nulls), dtype=np.float64)
        return TransitionCounts(
            self.order,
            self.states,
            self.flow_from,
            self.flow_to,
            flow,
            np.bincount(self.exit_state, conversions, n),
            np.bincount(self.exit_state, value, n),
            np.bincount(self.exit_state, nulls, n),
        )


def transition_incidence(table: PathTable, order: int) -> TransitionIncidence:
    """The moves of each distinct path of ``table`` in an order-``order`` chain."""
    import scipy.sparse as sp

    codes = _state_codes(table, order)
    unique, state_of_step = np.unique(codes, return_inverse=True)
    base = table.n_channels + 1
    states = tuple(decode_state(int(c), base) for c in unique)
    path = table.path_of_step
    first = np.zeros(table.steps.size, dtype=bool)
    first[table.offsets[:-1][table.lengths > 0]] = True
    prev = np.full(table.steps.size, -1, dtype=np.int64)
    prev[1:] = state_of_step[:-1]
    prev[first] = -1
    n_states = len(states)
    pair = (prev + 1) * n_states + state_of_step
    moves, move_of_step = np.unique(pair, return_inverse=True)
    matrix = sp.csr_matrix(
        (np.ones(table.steps.size), (move_of_step, path)), shape=(moves.size, table.n_paths)
    )
    last = table.offsets[1:] - 1
    exit_state = np.where(table.lengths > 0, state_of_step[np.maximum(last, 0)], 0)
    return TransitionIncidence(
        order, states, moves // n_states - 1, moves % n_states, matrix, exit_state.astype(np.int64)
    )


def transitions_from_paths(table: PathTable, order: int = 1) -> TransitionCounts:
    """Transition counts of an order-``order`` chain from aggregated paths."""
    return transition_incidence(table, order).counts(table.conversions, table.value, table.nulls)


def _solve(counts: TransitionCounts, keep: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """``(P(conversion), expected value)`` per journey from the start, only ``keep`` states."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    n = len(counts.states)
    out = counts.conversions + counts.nulls
    np.add.at(out, counts.flow_from[counts.flow_from >= 0], counts.flow[counts.flow_from >= 0])
    start_total = counts.flow[counts.flow_from < 0].sum()
    if start_total <= 0:
        return 0.0, 0.0
    index = np.full(n, -1, dtype=np.int64)
    index[keep] = np.arange(int(keep.sum()))
    internal = (
        (counts.flow_from >= 0) & keep[counts.flow_to] & keep[np.maximum(counts.flow_from, 0)]
    )
    m = int(keep.sum())
    if m == 0:
        return 0.0, 0.0
    prob = counts.flow[internal] / out[counts.flow_from[internal]]
    q = sp.csc_matrix(
        (prob, (index[counts.flow_from[internal]], index[counts.flow_to[internal]])), shape=(m, m)
    )
    safe = np.where(out > 0, out, 1.0)
    rhs = np.column_stack([counts.conversions[keep] / safe[keep], counts.value[keep] / safe[keep]])
    x = spsolve(sp.identity(m, format="csc") - q, rhs)
    x = np.asarray(x).reshape(m, 2)
    starts = (counts.flow_from < 0) & keep[counts.flow_to]
    weights = counts.flow[starts] / start_total
    reach = weights @ x[index[counts.flow_to[starts]]]
    return float(reach[0]), float(reach[1])


def removal_effects(
    counts: TransitionCounts, n_channels: int
) -> tuple[FloatArray, FloatArray, float, float]:
    """Removal effects ``(n_channels,)`` in conversions and in value, and the base
    conversion probability and expected value per journey."""
    n = len(counts.states)
    everything = np.ones(n, dtype=bool)
    base_conv, base_value = _solve(counts, everything)
    members = np.zeros((n_channels, n), dtype=bool)
    for s, state in enumerate(counts.states):
        members[list(state), s] = True
    re_conv = np.zeros(n_channels)
    re_value = np.zeros(n_channels)
    for c in range(n_channels):
        if not members[c].any():
            continue
        conv, value = _solve(counts, ~members[c])
        re_conv[c] = 1.0 - conv / base_conv if base_conv > 0 else 0.0
        re_value[c] = 1.0 - value / base_value if base_value > 0 else 0.0
    return re_conv, re_value, base_conv, base_value


def _share(effects: FloatArray, total: float) -> FloatArray:
    s = effects.sum()
    return effects / s * total if s > 0 else np.zeros_like(effects)


def markov_attribution(
    counts: TransitionCounts, n_channels: int, total_conversions: float, total_value: float
) -> MarkovResult:
    """Credits ``RE_c / Σ RE`` of the totals, in conversions and in value."""
    re_conv, re_value, rate, _ = removal_effects(counts, n_channels)
    return MarkovResult(
        removal_conversions=re_conv,
        removal_value=re_value,
        conversions=_share(re_conv, total_conversions),
        value=_share(re_value, total_value),
        conversion_rate=rate,
    )
