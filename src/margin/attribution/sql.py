"""The journey SQL, written once and run by any :class:`~margin.engines.Engine`.

Input: the table ``_mt_events``, one row per event: ``uid`` (a 64-bit hash of the user
key), ``us`` (microseconds since 1970), ``code`` (the 0-based index of the touch's label, the
channel or ``channel / campaign``, among the sorted labels; NULL on conversions),
``is_conv`` (1 or 0) and ``value`` (the conversion's value, 0 on touches).

Every window is over one user's events in one order ``K`` (time, touches before
conversions, label code, value), so an engine sorts the events twice in all:

1. ``_mt_touches``: each kept touch with its journey number ``jid`` (per user), position
   ``ord`` (1-based), whether it ends its journey, whether its journey converts, the
   time of that conversion, and the label codes of up to ``order`` touches before it. A
   conversion closes a journey; a touch is on the converting journey when it lies within
   the lookback before the next conversion; the other touches form non-converting
   journeys, a new one wherever the lookback passes without a touch.
2. ``_mt_conversions``: conversions by (user, time), and ``_mt_journeys``: one row per
   journey with its path (label codes in order, an array), coalition bitmask, outcome
   and value.
3. Aggregates: path counts, coalition counts, order-k transition counts, time-decay
   shares per (path, position), totals.

States of the order-k chain are integers: ``Σ_j (code_j + 1) · base^j`` over the last k
labels (``base`` = number of labels + 1), the latest label least significant.

Only constructs DuckDB and Spark share are used; the ordered array aggregate, epoch
microseconds and the 64-bit hash come from the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from margin.engines import Engine

__all__ = [
    "coalitions_sql",
    "conversions_sql",
    "decay_sql",
    "journeys_sql",
    "paths_sql",
    "totals_sql",
    "touches_sql",
    "transitions_sql",
]

_K = "us, is_conv, code NULLS LAST, value"
_W = f"PARTITION BY uid ORDER BY {_K}"
_RUNNING = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"


def _lags(order: int) -> str:
    return "".join(f", LAG(code, {j}) OVER ({_W}) AS lag{j}" for j in range(1, order + 1))


def touches_sql(lookback_us: int, collapse_repeats: bool, order: int) -> str:
    """``_mt_touches``: kept touches with journey, position, end flag and earlier codes."""
    lookback = int(lookback_us)
    in_conv = f"(next_conv IS NOT NULL AND us >= next_conv - {lookback})"
    kept = (
        f"""
    , kept AS (
      SELECT uid, us, code, is_conv, value, in_conv, next_conv, start,
        ROW_NUMBER() OVER (PARTITION BY uid ORDER BY {_K}) AS rn
      FROM flagged WHERE start = 1 OR prev_code IS NULL OR prev_code <> code
    )"""
        if collapse_repeats
        else """
    , kept AS (SELECT * FROM flagged)"""
    )
    return f"""
    WITH o AS (
      SELECT uid, us, code, is_conv, value,
        MIN(CASE WHEN is_conv = 1 THEN us END) OVER
          ({_W} ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS next_conv,
        LAG(us) OVER ({_W}) AS prev_us,
        LAG(is_conv) OVER ({_W}) AS prev_conv,
        LAG(code) OVER ({_W}) AS prev_code,
        ROW_NUMBER() OVER ({_W}) - SUM(is_conv) OVER ({_W} {_RUNNING}) AS rn
      FROM _mt_events
    ), flagged AS (
      SELECT uid, us, code, is_conv, value, next_conv, prev_code, rn,
        CASE WHEN {in_conv} THEN 1 ELSE 0 END AS in_conv,
        CASE WHEN prev_us IS NULL OR prev_conv = 1 THEN 1
             WHEN {in_conv} THEN CASE WHEN prev_us >= next_conv - {lookback} THEN 0 ELSE 1 END
             WHEN us - prev_us > {lookback} THEN 1
             ELSE 0 END AS start
      FROM o WHERE is_conv = 0
    ){kept}
    SELECT uid, us, code, in_conv, next_conv,
      SUM(start) OVER ({_W} {_RUNNING}) AS jid,
      rn - MAX(CASE WHEN start = 1 THEN rn END) OVER ({_W} {_RUNNING}) + 1 AS ord,
      COALESCE(LEAD(start) OVER ({_W}), 1) AS is_last
      {_lags(order)}
    FROM kept
    """


def conversions_sql() -> str:
    """``_mt_conversions``: conversions by user and time (the first one's value)."""
    return """
    SELECT uid, us, MIN(value) AS value FROM _mt_events WHERE is_conv = 1 GROUP BY uid, us
    """


def journeys_sql(engine: Engine, n_labels: int) -> str:
    """``_mt_journeys``: one row per journey with its path, coalition mask and outcome.

    With more than 62 labels the coalition ``mask`` (one bit per label) is NULL.
    """
    path = engine.ordered_array("code", "ord", n_labels + 1)
    mask = "bit_or(CAST(POWER(2, code) AS BIGINT))" if n_labels <= 62 else "CAST(NULL AS BIGINT)"
    return f"""
    WITH j AS (
      SELECT uid, jid, MAX(in_conv) AS in_conv, MAX(next_conv) AS conv_us, MAX(us) AS last_us,
        {path} AS path, {mask} AS mask
      FROM _mt_touches GROUP BY uid, jid
    )
    SELECT j.uid, j.jid, j.in_conv, j.last_us, j.path, j.mask,
      CASE WHEN j.in_conv = 1 THEN COALESCE(c.value, 0.0) ELSE 0.0 END AS value
    FROM j LEFT JOIN _mt_conversions c ON j.in_conv = 1 AND j.uid = c.uid AND j.conv_us = c.us
    """


def paths_sql() -> str:
    """``_mt_paths``: path counts in ChannelAttribution's terms, numbered by ``pid`` in
    path order (1-based)."""
    return """
    SELECT path, ROW_NUMBER() OVER (ORDER BY path) AS pid,
      CAST(SUM(in_conv) AS DOUBLE) AS conversions, SUM(value) AS value,
      CAST(SUM(1 - in_conv) AS DOUBLE) AS nulls
    FROM _mt_journeys GROUP BY path
    """


def coalitions_sql() -> str:
    """Coalition counts: journeys by the bitmask of the codes they touched."""
    return """
    SELECT mask, CAST(SUM(in_conv) AS DOUBLE) AS conversions, SUM(value) AS value,
      CAST(SUM(1 - in_conv) AS DOUBLE) AS nulls
    FROM _mt_journeys GROUP BY mask
    """


def decay_sql(half_life_us: float) -> str:
    """Time-decay shares summed per (path ``pid``, position) over converting journeys.

    A touch's weight is ``0.5 ** ((t_last - t) / half_life)``, normalised per journey
    (relative to the journey's last touch, so nothing underflows).
    """
    weight = f"POWER(0.5, CAST(j.last_us - t.us AS DOUBLE) / {float(half_life_us)!r})"
    return f"""
    WITH w AS (
      SELECT j.path, t.ord, j.value, {weight} AS w,
        SUM({weight}) OVER (PARTITION BY t.uid, t.jid) AS wsum
      FROM _mt_touches t JOIN _mt_journeys j ON t.uid = j.uid AND t.jid = j.jid
      WHERE j.in_conv = 1
    ), s AS (
      SELECT path, ord, SUM(w / wsum) AS decay, SUM(value * w / wsum) AS decay_value
      FROM w GROUP BY path, ord
    )
    SELECT p.pid, s.ord, s.decay, s.decay_value FROM s JOIN _mt_paths p ON s.path = p.path
    """


def _state(order: int, offset: int, base: int) -> str:
    """The state code of positions ``ord - offset - order + 1 .. ord - offset``."""
    terms = []
    for power, j in enumerate(range(offset, offset + order)):
        digit = "(code + 1)" if j == 0 else f"CASE WHEN ord > {j} THEN lag{j} + 1 ELSE 0 END"
        terms.append(f"{digit} * {base**power}")
    return f"CAST({' + '.join(terms)} AS BIGINT)"


def transitions_sql(order: int, n_labels: int) -> str:
    """Order-``order`` transition counts: ``from_state`` (NULL: the start), ``to_state``
    (NULL on exits), ``exit`` (0 a move, 1 to conversion, 2 to null), ``n`` and ``value``."""
    base = n_labels + 1
    return f"""
    SELECT from_state, to_state, exit, CAST(SUM(cnt) AS DOUBLE) AS n, SUM(val) AS value FROM (
      SELECT CASE WHEN ord = 1 THEN CAST(NULL AS BIGINT) ELSE {_state(order, 1, base)} END AS from_state,
        {_state(order, 0, base)} AS to_state, 0 AS exit, 1 AS cnt, 0.0 AS val
      FROM _mt_touches
      UNION ALL
      SELECT {_state(order, 0, base)}, CAST(NULL AS BIGINT), CASE WHEN t.in_conv = 1 THEN 1 ELSE 2 END, 1,
        CASE WHEN t.in_conv = 1 THEN COALESCE(c.value, 0.0) ELSE 0.0 END
      FROM _mt_touches t
      LEFT JOIN _mt_conversions c ON t.in_conv = 1 AND t.uid = c.uid AND t.next_conv = c.us
      WHERE t.is_last = 1
    ) x GROUP BY from_state, to_state, exit
    """


def totals_sql() -> str:
    """Conversions and value in all (attributed or not), users and events."""
    return """
    SELECT CAST(SUM(is_conv) AS DOUBLE) AS conversions,
      SUM(CASE WHEN is_conv = 1 THEN value ELSE 0.0 END) AS value,
      CAST(COUNT(*) AS DOUBLE) AS events, CAST(COUNT(DISTINCT uid) AS DOUBLE) AS users
    FROM _mt_events
    """
