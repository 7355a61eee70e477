"""Checked inputs of the customer-value models, and the collapse of identical rows.

Each model's fit calls one check here first; the check names the row, the column, what
it received and how to fix it (``DataValidationError``). Inside the models the arrays are
trusted. :func:`collapse_rows` is the in-memory collapse of identical ``(frequency,
recency, T[, monetary])`` rows into weighted rows (``margin.ltv.summary`` does the same
in SQL for large tables).

This module imports no JAX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from margin.errors import DataValidationError
from margin.types import FloatArray

__all__ = [
    "CustomerRows",
    "SurvivalRows",
    "check_customers",
    "check_spend",
    "check_survival",
    "collapse_rows",
]


@dataclass(frozen=True)
class CustomerRows:
    """Checked RFM rows: ``frequency`` (repeat transactions), ``recency`` (time of the
    last one since the first), ``age`` (T: time since the first), ``weights`` (customers
    per row), each ``(n_rows,)`` float64; ``monetary`` (mean repeat spend) or ``None``."""

    frequency: FloatArray
    recency: FloatArray
    age: FloatArray
    weights: FloatArray
    monetary: FloatArray | None = None


@dataclass(frozen=True)
class SurvivalRows:
    """A checked cohort survival series as weighted likelihood rows: ``period`` (1…K, then
    K again), ``censored`` (0: lost in that period; 1: still alive at the end of K),
    ``weights`` (customers), each ``(K + 1,)``; ``alive`` is the series itself."""

    period: FloatArray
    censored: FloatArray
    weights: FloatArray
    alive: FloatArray


def _array(name: str, values: npt.ArrayLike, where: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataValidationError(
            f"{where}: column {name!r} must hold numbers ({err}); fix the input and retry."
        ) from err
    if array.ndim != 1:
        raise DataValidationError(
            f"{where}: column {name!r} must be one-dimensional, got shape {array.shape}."
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise DataValidationError(
            f"{where}: column {name!r} has a non-finite value {float(array[bad[0]])} at row "
            f"{int(bad[0])} ({bad.size} such rows); remove or fill those rows."
        )
    return array


def _first(mask: npt.NDArray[np.bool_]) -> int | None:
    rows = np.flatnonzero(mask)
    return int(rows[0]) if rows.size else None


def _fail_at(row: int | None, what: str, how: str, where: str, mask_count: int) -> None:
    if row is not None:
        raise DataValidationError(f"{where}: row {row} {what} ({mask_count} such rows); {how}")


def check_customers(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    where: str = "customer summary",
) -> CustomerRows:
    """Check RFM rows (lifetimes' layout ``frequency, recency, T``), one ``(n_rows,)`` each.

    Raises:
        DataValidationError: non-numbers or non-finite values, a negative or fractional
            frequency, recency < 0 or > T, frequency 0 with recency ≠ 0, weights ≤ 0, no rows.
    """
    x = _array("frequency", frequency, where)
    t_x = _array("recency", recency, where)
    t = _array("T", age, where)
    w = np.ones_like(x) if weights is None else _array("weights", weights, where)
    if not (x.size == t_x.size == t.size == w.size) or x.size == 0:
        raise DataValidationError(
            f"{where}: frequency, recency, T (and weights) need the same number of rows, at "
            f"least one; got {x.size}, {t_x.size}, {t.size}, {w.size}."
        )
    checks = (
        (x < 0, "has a negative frequency", "frequency counts repeat purchases (>= 0)."),
        (x != np.round(x), "has a fractional frequency", "frequency is a whole count."),
        (t_x < 0, "has recency < 0", "recency is the time from first to last purchase (>= 0)."),
        (t_x > t, "has recency > T", "recency cannot exceed the customer's age T."),
        ((x == 0) & (t_x != 0), "has frequency 0 with recency != 0",
         "a customer with no repeat purchase has recency 0."),
        (w <= 0, "has a weight <= 0", "weights count customers (> 0)."),
    )  # fmt: skip
    for mask, what, how in checks:
        _fail_at(_first(mask), what, how, where, int(mask.sum()))
    if float(t.max()) <= 0:
        raise DataValidationError(f"{where}: every T is 0; customers need an age T > 0.")
    return CustomerRows(x, t_x, t, w)


def check_spend(
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    where: str = "customer summary",
) -> CustomerRows:
    """Check Gamma-Gamma rows and keep the repeat customers (frequency ≥ 1).

    Raises:
        DataValidationError: non-finite values, negative frequency, a repeat customer with
            mean spend ≤ 0, or no repeat customers.
    """
    x = _array("frequency", frequency, where)
    m = _array("monetary_value", monetary, where)
    w = np.ones_like(x) if weights is None else _array("weights", weights, where)
    if not (x.size == m.size == w.size):
        raise DataValidationError(
            f"{where}: frequency, monetary_value (and weights) need the same number of rows; "
            f"got {x.size}, {m.size}, {w.size}."
        )
    _fail_at(_first(x < 0), "has a negative frequency", "frequency counts repeat purchases.",
             where, int((x < 0).sum()))  # fmt: skip
    bad = (x >= 1) & (m <= 0)
    _fail_at(_first(bad), f"is a repeat customer with mean spend <= 0 ({m[bad][:1]})",
             "the Gamma-Gamma model needs positive mean repeat spend; drop refunds or "
             "zero-value rows first.", where, int(bad.sum()))  # fmt: skip
    _fail_at(_first(w <= 0), "has a weight <= 0", "weights count customers (> 0).", where,
             int((w <= 0).sum()))  # fmt: skip
    keep = x >= 1
    if not keep.any():
        raise DataValidationError(
            f"{where}: no repeat customers (frequency >= 1); the spend model needs some."
        )
    return CustomerRows(x[keep], np.zeros(int(keep.sum())), np.zeros(int(keep.sum())), w[keep],
                        m[keep])  # fmt: skip


def check_survival(alive: npt.ArrayLike, *, where: str = "survival series") -> SurvivalRows:
    """Check a cohort survival series (period 0 = the cohort, then customers still active
    at the end of each period) and turn it into weighted likelihood rows.

    Raises:
        DataValidationError: fewer than 2 periods, non-finite or fractional counts, a
            cohort ≤ 0, a count that increases.
    """
    n = _array("alive", alive, where)
    if n.size < 2:
        raise DataValidationError(
            f"{where}: needs the cohort (period 0) and at least one later period; got "
            f"{n.size} value(s)."
        )
    if n[0] <= 0:
        raise DataValidationError(f"{where}: period 0 must be the cohort size (> 0); got {n[0]:g}.")
    _fail_at(_first(n < 0), "is negative", "counts of active customers are >= 0.", where,
             int((n < 0).sum()))  # fmt: skip
    _fail_at(_first(n != np.round(n)), "is not a whole number of customers",
             "give counts of customers, not shares.", where, int((n != np.round(n)).sum()))  # fmt: skip
    rises = np.flatnonzero(np.diff(n) > 0)
    if rises.size:
        k = int(rises[0]) + 1
        raise DataValidationError(
            f"{where}: period {k} has {n[k]:g} active customers, more than period {k - 1} "
            f"({n[k - 1]:g}); a cohort's survivors cannot increase: count only customers "
            "of the period-0 cohort, without new or returning ones."
        )
    periods = np.arange(1, n.size, dtype=np.float64)
    lost = n[:-1] - n[1:]
    return SurvivalRows(
        period=np.append(periods, periods[-1]),
        censored=np.append(np.zeros(periods.size), 1.0),
        weights=np.append(lost, n[-1]),
        alive=n,
    )


def collapse_rows(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
    monetary: npt.ArrayLike | None = None,
) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Collapse identical rows into weighted rows (CLVTools' trick), in memory.

    Args:
        frequency, recency, age: per customer, ``(n_customers,)`` each.
        monetary: mean repeat spend per customer, ``(n_customers,)``, or ``None``.

    Returns:
        ``((frequency, recency, age[, monetary]), weights)``: the unique rows, sorted,
        ``(n_rows,)`` each, and how many customers each stands for.
    """
    columns = [np.asarray(c, dtype=np.float64) for c in (frequency, recency, age)]
    if monetary is not None:
        columns.append(np.asarray(monetary, dtype=np.float64))
    unique, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return tuple(np.ascontiguousarray(unique[:, i]) for i in range(len(columns))), counts.astype(
        np.float64
    )
