"""Customer transactions from a known BG/NBD purchase process with Gamma-Gamma spend.

A customer is a sampled user who converted; the first conversion is the acquisition (the
first transaction, its amount the conversion's value, its channel the conversion's
cause or ``"organic"``). After it, in weeks: purchases arrive at rate ``λ ~ Gamma(r,
rate=α)`` while the customer is alive, and after each repeat purchase the customer
drops out with probability ``p ~ Beta(a, b)`` (never at the acquisition itself, as in
Fader, Hardie & Lee 2005). Each amount is ``Gamma(p_shape, rate=ν)`` with the user's
``ν ~ Gamma(q, rate=γ)``. All of ``r, α, a, b, p_shape, q, γ`` are the acquiring
channel's (``WorldParams.ltv_for``; organic customers and channels without their own
take ``WorldParams.ltv``). Later conversions of the same user in the event log are pixel
events, not reconciled with this ledger.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from margin.data.simulator.journeys import ORGANIC, Conversions, UserSample, channel_spend_scale
from margin.data.simulator.params import LtvParams, WorldParams
from margin.errors import ConfigError
from margin.types import FloatArray, IntArray

__all__ = [
    "draw_customer_rates",
    "draw_purchase_rates",
    "expected_customer_value",
    "expected_repeat_purchases",
    "purchase_process",
    "simulate_repeat_purchases",
    "simulate_transactions",
]

_WEEK_US = 7 * 24 * 3600 * 1_000_000
_MIN_RATE = 1e-300


def draw_purchase_rates(
    n: int, ltv: LtvParams, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Each of ``n`` customers' purchase rate ``λ`` (per week) and dropout ``p``, ``(n,)`` each."""
    rate = np.maximum(rng.gamma(ltv.r, 1.0 / ltv.alpha, n), _MIN_RATE)
    dropout = rng.beta(ltv.a, ltv.b, n)
    return rate, dropout


def draw_customer_rates(
    params: WorldParams, cause: IntArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Purchase rate and dropout of customers acquired by ``cause`` (channel index, -1 organic).

    The same draws as :func:`draw_purchase_rates` with each customer's channel parameters.
    """
    table = params.ltv_table
    r, alpha, a, b = (
        np.array([getattr(t, k) for t in table])[cause] for k in ("r", "alpha", "a", "b")
    )
    rate = np.maximum(rng.gamma(r, 1.0 / alpha), _MIN_RATE)
    dropout = rng.beta(a, b)
    return rate, dropout


def expected_repeat_purchases(ltv: LtvParams, weeks: float) -> float:
    """BG/NBD ``E[X(t)]``: repeat purchases of a new customer within ``weeks`` (FHL 2005 eq. 9).

    ``(a+b-1)/(a-1) * [1 - (α/(α+t))^r * 2F1(r, b; a+b-1; t/(α+t))]``; within ``1e-8``
    of ``a = 1``, the limit as the mean of ``a = 1 ± 1e-5``.
    """
    if abs(ltv.a - 1) < 1e-8:
        return 0.5 * sum(
            expected_repeat_purchases(replace(ltv, a=1 + d), weeks) for d in (-1e-5, 1e-5)
        )
    t = float(weeks)
    z = t / (ltv.alpha + t)
    bracket = 1 - (ltv.alpha / (ltv.alpha + t)) ** ltv.r * special.hyp2f1(
        ltv.r, ltv.b, ltv.a + ltv.b - 1, z
    )
    return float((ltv.a + ltv.b - 1) / (ltv.a - 1) * bracket)


def expected_customer_value(ltv: LtvParams, weeks: float) -> float:
    """True undiscounted value of a newly acquired customer within ``weeks``, currency units.

    The first purchase plus ``E[X(t)]`` repeat purchases, each worth the Gamma-Gamma mean
    ``p * gamma / (q - 1)`` (the spend scale is independent of the purchase process).
    """
    return ltv.mean_amount * (1.0 + expected_repeat_purchases(ltv, weeks))


def purchase_process(
    rate: FloatArray,
    dropout: FloatArray,
    starts: FloatArray,
    horizons: FloatArray,
    rng: np.random.Generator,
) -> tuple[IntArray, FloatArray, npt.NDArray[np.bool_]]:
    """Purchases of live customers from ``starts`` to ``horizons`` (weeks, ``(n,)`` each).

    A live customer buys at rate ``rate`` and drops out with probability ``dropout`` after
    each purchase; the process is memoryless, so a path continues from any time.

    Returns:
        ``(customer, time, dropped)``: index and time of each purchase (unsorted), and who
        dropped out before the horizon, ``(n,)``.
    """
    clock = np.array(starts, dtype=np.float64)
    dropped = np.zeros(rate.size, dtype=bool)
    alive = np.arange(rate.size, dtype=np.int64)
    customers: list[IntArray] = []
    times: list[FloatArray] = []
    while alive.size:
        arrival = clock[alive] + rng.standard_exponential(alive.size) / rate[alive]
        inside = arrival <= horizons[alive]
        alive, arrival = alive[inside], arrival[inside]
        customers.append(alive)
        times.append(arrival)
        clock[alive] = arrival
        stays = rng.random(alive.size) >= dropout[alive]
        dropped[alive[~stays]] = True
        alive = alive[stays]
    customer = np.concatenate([np.zeros(0, dtype=np.int64), *customers])
    time = np.concatenate([np.zeros(0), *times])
    return customer, time, dropped


def _repeat_purchases(
    horizons: FloatArray, rate: FloatArray, dropout: FloatArray, rng: np.random.Generator
) -> tuple[IntArray, FloatArray]:
    customer, time, _ = purchase_process(rate, dropout, np.zeros(horizons.size), horizons, rng)
    order = np.lexsort((time, customer))
    return customer[order], time[order]


def simulate_repeat_purchases(
    horizons: FloatArray, ltv: LtvParams | None = None, *, seed: int
) -> tuple[IntArray, FloatArray]:
    """Repeat purchases of customers acquired at time 0 and observed until ``horizons``.

    Args:
        horizons: observation length per customer in weeks, shape ``(n_customers,)``.
        ltv: BG/NBD parameters (CDNOW defaults).
        seed: random seed.

    Returns:
        ``(customer, time)``: the customer index and the purchase time in weeks after
        acquisition (``0 < time <= horizon``) of each repeat purchase, both
        ``(n_purchases,)``, sorted by customer then time.
    """
    horizons = np.asarray(horizons, dtype=np.float64)
    if horizons.ndim != 1 or np.any(~np.isfinite(horizons)) or np.any(horizons < 0):
        raise ConfigError(
            "simulate_repeat_purchases needs a 1-d array of finite horizons >= 0 weeks."
        )
    rng = np.random.default_rng(seed)
    rate, dropout = draw_purchase_rates(horizons.size, ltv or LtvParams(), rng)
    return _repeat_purchases(horizons, rate, dropout, rng)


def simulate_transactions(
    params: WorldParams, users: UserSample, conversions: Conversions, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The ``transactions`` table and the number of customers per acquisition channel.

    Returns:
        A frame with ``customer_key, ts, amount, acquisition_channel`` sorted by time,
        and ``{channel or "organic": n_customers}``.
    """
    first_user, first = np.unique(conversions.user, return_index=True)
    acquired_us = conversions.ts_us[first]
    end_us = (
        int(np.datetime64(params.start.isoformat(), "us").astype(np.int64))
        + params.n_weeks * _WEEK_US
    )
    horizons = (end_us - acquired_us) / _WEEK_US
    cause = conversions.cause[first]
    rate, dropout = draw_customer_rates(params, cause, rng)
    customer, weeks = _repeat_purchases(horizons, rate, dropout, rng)
    repeat_ts = np.minimum(
        acquired_us[customer] + np.round(weeks * _WEEK_US).astype(np.int64), end_us - 1
    )
    scale = channel_spend_scale(params, users.spend_scale[first_user], cause)
    shape = np.array([ltv.p_shape for ltv in params.ltv_table])[cause]
    repeat_amount = rng.gamma(shape[customer], 1.0 / scale[customer])
    labels = np.array([*params.channel_names, ORGANIC], dtype=object)
    channel = labels[cause]  # cause -1 (organic) picks the last label
    frame = pd.DataFrame(
        {
            "customer_key": users.keys[np.concatenate([first_user, first_user[customer]])],
            "ts": np.concatenate([acquired_us, repeat_ts]).astype("datetime64[us]"),
            "amount": np.concatenate([conversions.value[first], np.round(repeat_amount, 2)]),
            "acquisition_channel": np.concatenate([channel, channel[customer]]),
        }
    )
    frame = frame.sort_values(["ts", "customer_key"], kind="stable", ignore_index=True)
    counts = {str(name): int(np.sum(channel == name)) for name in labels}
    return frame, counts
