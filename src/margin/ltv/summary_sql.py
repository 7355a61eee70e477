"""The customer-summary SQL, written once and run by any :class:`~margin.engines.Engine`.

Input: a raw transactions view (a file's columns, or the workspace table) with ``_row``.
:class:`Columns` maps it to typed expressions; :func:`check_rows` names the rows that
break the contract; :func:`normalised_sql` gives one row per transaction with the
customer's key (hashed on arrival when the input holds raw ids), microseconds since
1970 ``us``, the purchase's period ``p`` (a day number; for weekly periods the Monday
that starts the week) and its amount. :func:`customers_sql` aggregates per customer,
:func:`collapsed_sql` collapses identical ``(frequency, recency, T)`` rows.

Only constructs DuckDB and Spark share are used (``CASE``, window functions, ``FLOOR``,
``%``, ``translate``, ``sha2``/``sha256`` through :func:`hash_sql`); integer day counts
come back, and the division into weeks happens in Python, so both engines agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from margin.data.ingest.readers import quote_identifier
from margin.data.workspace.hashing import HMAC_SHA256, HashKey
from margin.engines.checks import check_rules
from margin.errors import DataValidationError

if TYPE_CHECKING:
    from margin.engines import Engine

__all__ = [
    "CANDIDATES",
    "Columns",
    "check_rows",
    "collapsed_sql",
    "customers_sql",
    "hash_sql",
    "normalised_sql",
    "resolve_columns",
]

CANDIDATES: dict[str, tuple[str, ...]] = {
    "customer_key": ("customer_key",),
    "customer_id": ("customer_id", "customer", "user_id"),
    "ts": ("ts", "timestamp", "date", "time", "order_date", "datetime"),
    "amount": ("amount", "revenue", "value", "order_value"),
    "channel": ("acquisition_channel", "channel"),
    "acquired_at": ("acquired_at",),
}
"""Accepted names (case and ``_``/space insensitive) of each column, first match wins."""
_US_PER_DAY = 86_400_000_000
_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)


def _norm(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", " ").split())


def resolve_columns(columns: list[tuple[str, str]], source: str) -> dict[str, tuple[str, str]]:
    """Canonical name → ``(column, type)`` of the source; raises naming what is missing."""
    by_norm = {_norm(n): (n, t) for n, t in columns if n != "_row"}
    found: dict[str, tuple[str, str]] = {}
    for canonical, names in CANDIDATES.items():
        hit = next((by_norm[_norm(n)] for n in names if _norm(n) in by_norm), None)
        if hit is not None:
            found[canonical] = hit
    missing = [c for c in ("ts", "amount") if c not in found]
    if "customer_key" not in found and "customer_id" not in found:
        missing.insert(0, "customer_id (or customer_key)")
    if missing:
        raise DataValidationError(
            f"{source} (transactions): missing required column(s) {missing}; it has "
            f"{[n for n, _ in columns if n != '_row']}. Transactions need customer_id (raw ids, "
            "hashed on arrival) or customer_key (margin's hash), ts, amount and optionally "
            "acquisition_channel and acquired_at; rename the columns to these names"
        )
    return found


def _is_text(kind: str) -> bool:
    return kind.startswith(("varchar", "char", "string"))


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104)."""
    if len(key) > _BLOCK:
        import hashlib

        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hash_sql(engine: Engine, key: HashKey, value: str) -> str:
    """SQL hashing the text ``value`` as :meth:`HashKey.hash` does (NULL stays NULL).

    DuckDB uses the workspace's own expression; Spark spells SHA-256 ``sha2`` and
    UTF-8 bytes ``encode``.
    """
    if engine.name == "duckdb":
        return key.sql(value)
    for version in key.versions:
        if version.algorithm == HMAC_SHA256:
            inner_pad, outer_pad = _pads(bytes.fromhex(version.secret))
            inner = (
                f"unhex(sha2(concat(unhex('{inner_pad.hex()}'), encode({value}, 'UTF-8')), 256))"
            )
            value = f"left(sha2(concat(unhex('{outer_pad.hex()}'), {inner}), 256), 32)"
        else:
            secret = version.secret.replace("'", "''")
            value = f"left(sha2(encode(concat('{secret}:', {value}), 'UTF-8'), 256), 32)"
    return value


@dataclass(frozen=True)
class Columns:
    """Typed SQL expressions for the canonical columns of a raw view.

    Attributes:
        key: the customer's stored key (hashed when the input has raw ids).
        raw_key: the id as given (only for NULL and shape checks; never shown).
        prehashed: whether the input's ids are margin's hashes (``customer_key``).
        ts, ts_text: the purchase time as TIMESTAMP, and as the text given.
        amount, amount_text: the amount as DOUBLE, and as the text given.
        channel: the acquisition channel (NULL where not given).
        acquired, acquired_text: the stated acquisition time, or None.
    """

    key: str
    raw_key: str
    prehashed: bool
    ts: str
    ts_text: str
    amount: str
    amount_text: str
    channel: str
    acquired: str | None
    acquired_text: str | None

    @classmethod
    def of(cls, engine: Engine, found: dict[str, tuple[str, str]], ids: HashKey | None) -> Columns:
        """Expressions for ``found`` (see :func:`resolve_columns`); ``ids`` hashes raw ids."""

        def q(name: str) -> str:
            return quote_identifier(name) if engine.name == "duckdb" else f"`{name}`"

        def text(key: str) -> str:
            return f"NULLIF(trim(CAST({q(found[key][0])} AS STRING)), '')"

        def timestamp(key: str) -> str:
            name, kind = found[key]
            if _is_text(kind):
                return engine.parse_timestamp(text(key))
            if "with time zone" in kind:
                return f"CAST(timezone('UTC', {q(name)}) AS TIMESTAMP)"
            return f"CAST({q(name)} AS TIMESTAMP)"

        prehashed = "customer_key" in found
        raw = text("customer_key" if prehashed else "customer_id")
        if not prehashed and ids is None:
            raise DataValidationError("raw customer ids need a key to be hashed with")
        key = raw if prehashed or ids is None else hash_sql(engine, ids, raw)
        amount_name, amount_kind = found["amount"]
        amount = (
            f"TRY_CAST({text('amount')} AS DOUBLE)"
            if _is_text(amount_kind)
            else f"CAST({q(amount_name)} AS DOUBLE)"
        )
        has_acq = "acquired_at" in found
        return cls(
            key=key,
            raw_key=raw,
            prehashed=prehashed,
            ts=timestamp("ts"),
            ts_text=text("ts"),
            amount=amount,
            amount_text=text("amount"),
            channel=text("channel") if "channel" in found else "CAST(NULL AS STRING)",
            acquired=timestamp("acquired_at") if has_acq else None,
            acquired_text=text("acquired_at") if has_acq else None,
        )


def _rules(x: Columns) -> list[tuple[str, str, str, str]]:
    """(condition, shown value, what the rows have, how to fix it)."""
    none = "CAST(NULL AS STRING)"
    rules = [
        (f"{x.raw_key} IS NULL", none, "have no customer id", "fill it in or drop those rows"),
        (
            f"{x.ts} IS NULL",
            f"COALESCE({x.ts_text}, '')",
            "have a timestamp that is missing or does not parse (column ts)",
            "use ISO 8601 timestamps, e.g. 2024-03-01 or 2024-03-01T14:05:00Z",
        ),
        (
            f"{x.amount} IS NULL",
            f"COALESCE({x.amount_text}, '')",
            "have an amount that is missing or not a number (column amount)",
            "write amounts as plain numbers with '.' for decimals",
        ),
        (
            f"{x.amount} < 0",
            x.amount_text,
            "have a negative amount (column amount)",
            "leave refunds out of the transactions (or net them into the purchase they refund)",
        ),
    ]
    if x.prehashed:
        rules.append(
            (
                f"length({x.raw_key}) <> 32 OR translate({x.raw_key}, '0123456789abcdef', '') <> ''",
                none,
                "have a customer_key that is not margin's hash (32 lowercase hex characters; "
                "values not shown, as they may be raw ids)",
                "name the column customer_id to have margin hash the ids",
            )
        )
    if x.acquired is not None and x.acquired_text is not None:
        rules.append(
            (
                f"{x.acquired_text} IS NOT NULL AND {x.acquired} IS NULL",
                x.acquired_text,
                "have an acquired_at that does not parse",
                "use ISO 8601 timestamps, e.g. 2024-03-01",
            )
        )
        rules.append(
            (
                f"{x.ts} < {x.acquired}",
                f"concat({x.ts_text}, ' < ', {x.acquired_text})",
                "are purchases before the customer's stated acquisition date (ts < acquired_at)",
                "correct acquired_at (a customer is acquired by or at the first purchase) or ts",
            )
        )
    return rules


def check_rows(engine: Engine, view: str, x: Columns, source: str) -> None:
    """Raise one :class:`DataValidationError` naming every broken rule and its first rows."""
    check_rules(engine, view, _rules(x), f"{source} (transactions)")


def normalised_sql(engine: Engine, view: str, x: Columns, period: str) -> str:
    """One row per transaction: ``key, us, p, amount, channel`` (``p``: the period's day)."""
    us = engine.epoch_micros(x.ts)
    day = f"CAST(FLOOR({us} / {_US_PER_DAY}.0) AS BIGINT)"
    p = day if period == "day" else f"({day} - ((({day} + 3) % 7) + 7) % 7)"  # Monday
    return (
        f"SELECT {x.key} AS key, {us} AS us, {p} AS p, {x.amount} AS amount, "
        f"{x.channel} AS channel FROM {view}"
    )


def customers_sql(table: str, calibration_day: int, end_day: int, key: str = "a.key") -> str:
    """Per customer acquired by ``calibration_day``: first purchase, frequency, recency and
    age in days, repeat spend, and holdout counts up to ``end_day`` (lifetimes' semantics:
    purchases in one period collapse; frequency = periods − 1). ``key``: the output
    ``customer_key`` from ``a.key`` (its hash, when ``table`` holds raw ids)."""
    cal, end = int(calibration_day), int(end_day)
    return f"""
    WITH per AS (
      SELECT key, p, SUM(amount) AS amount FROM {table} WHERE p <= {end} GROUP BY key, p
    ), per0 AS (
      SELECT key, p, amount, MIN(p) OVER (PARTITION BY key) AS p0 FROM per
    ), agg AS (
      SELECT key, MIN(p0) AS p0,
        MAX(CASE WHEN p <= {cal} THEN p END) AS p1,
        SUM(CASE WHEN p <= {cal} THEN 1 ELSE 0 END) AS n_cal,
        SUM(CASE WHEN p = p0 THEN amount ELSE 0.0 END) AS first_value,
        SUM(CASE WHEN p > p0 AND p <= {cal} THEN amount ELSE 0.0 END) AS repeat_value,
        SUM(CASE WHEN p > {cal} THEN 1 ELSE 0 END) AS n_hold,
        SUM(CASE WHEN p > {cal} THEN amount ELSE 0.0 END) AS v_hold
      FROM per0 GROUP BY key
    ), firsts AS (
      SELECT key, us, channel FROM (
        SELECT key, us, channel,
          ROW_NUMBER() OVER (PARTITION BY key ORDER BY us, channel NULLS LAST) AS rn
        FROM {table} WHERE p <= {cal}
      ) ranked WHERE rn = 1
    )
    SELECT {key} AS customer_key, f.us AS first_us,
      COALESCE(f.channel, 'unknown') AS acquisition_channel,
      a.first_value, CAST(a.n_cal - 1 AS BIGINT) AS frequency,
      CAST(a.p1 - a.p0 AS BIGINT) AS recency_days, CAST({cal} - a.p0 AS BIGINT) AS age_days,
      CASE WHEN a.n_cal > 1 THEN a.repeat_value / (a.n_cal - 1) ELSE 0.0 END AS monetary_value,
      CAST(a.n_hold AS BIGINT) AS frequency_holdout, a.v_hold AS value_holdout
    FROM agg a JOIN firsts f ON a.key = f.key
    WHERE a.p0 <= {cal}
    """


def collapsed_sql(table: str, by_channel: bool) -> str:
    """Identical ``(frequency, recency, T)`` (and channel) rows as one row with a ``weight``."""
    keys = "frequency, recency_days, age_days" + (", acquisition_channel" if by_channel else "")
    return (
        f"SELECT {keys}, CAST(COUNT(*) AS BIGINT) AS weight FROM {table} "
        f"GROUP BY {keys} ORDER BY {keys}"
    )
