"""Customer transactions from a known BG/NBD purchase process with Gamma-Gamma spend.

A customer is a sampled user who converted; the first conversion is the acquisition (the
first transaction, its amount the conversion's value, its channel the conversion's
cause or ``"organic"``). After it, in weeks: purchases arrive at rate ``λ ~ Gamma(r,
rate=α)`` while the customer is alive, and after each repeat purchase the customer
drops out with probability ``p ~ Beta(a, b)`` (never at the acquisition itself, as in
Fader, Hardie & Lee 2005). Each amount is ``Gamma(p_shape, rate=ν)`` with the user's
``ν ~ Gamma(q, rate=γ)``. Later conversions of the same user in the event log are pixel
events, not reconciled with this ledger.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from margin.data.simulator.journeys import ORGANIC, Conversions, UserSample
from margin.data.simulator.params import LtvParams, WorldParams
from margin.errors import ConfigError
from margin.types import FloatArray, IntArray

__all__ = [
    "draw_purchase_rates",
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
    horizons: FloatArray, ltv: LtvParams, rng: np.random.Generator
) -> tuple[IntArray, FloatArray]:
    rate, dropout = draw_purchase_rates(horizons.size, ltv, rng)
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
    return _repeat_purchases(horizons, ltv or LtvParams(), np.random.default_rng(seed))


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
    customer, weeks = _repeat_purchases(horizons, params.ltv, rng)
    repeat_ts = np.minimum(
        acquired_us[customer] + np.round(weeks * _WEEK_US).astype(np.int64), end_us - 1
    )
    repeat_amount = rng.gamma(params.ltv.p_shape, 1.0 / users.spend_scale[first_user[customer]])
    labels = np.array([*params.channel_names, ORGANIC], dtype=object)
    channel = labels[conversions.cause[first]]  # cause -1 (organic) picks the last label
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
