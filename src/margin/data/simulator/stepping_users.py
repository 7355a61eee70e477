"""Users of a stepping world, week window by week window: touches, conversions, customers.

The same journeys as :func:`simulate_world` (:mod:`.journeys`): the user sample is fixed
by the seed; in each window touches follow impressions, and a caused conversion goes to a
touch of its channel in the adstock window, which may lie in earlier windows (the touches
of the last ``L − 1`` weeks are kept). Customers follow :mod:`.customers`' BG/NBD process,
continued across windows (it is memoryless): a user's first conversion acquires them, and
each customer's rate, dropout and whether they dropped out are kept. Rates, dropouts and
spend come from the acquiring channel's parameters (``WorldParams.ltv_for``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from margin.data.simulator.customers import draw_customer_rates, purchase_process
from margin.data.simulator.journeys import (
    ORGANIC,
    Conversions,
    Touches,
    UserSample,
    channel_spend_scale,
    events_frame,
    sample_users,
    simulate_conversions,
    simulate_touches,
)
from margin.data.simulator.params import WorldParams
from margin.data.simulator.world import world_rngs

__all__ = ["TIMESTAMP_FORMAT", "UsersWindow", "simulate_users_window"]

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
_WEEK_US = 7 * 24 * 3600 * 1_000_000
_TOUCH_FIELDS = ("user", "week", "channel", "ts_us", "creative")
_NOT_CUSTOMER = -2


@dataclass(frozen=True, eq=False)
class UsersWindow:
    """One window's users: ``events`` and ``transactions`` frames and the state after it.

    ``state`` holds ``touch_*`` (the touches of the last ``L − 1`` weeks) and
    ``customer_*`` arrays (one entry per user) for :func:`simulate_users_window`.
    """

    events: pd.DataFrame
    transactions: pd.DataFrame
    state: dict[str, np.ndarray]


def _merge_touches(
    users: UserSample, previous: dict[str, np.ndarray], new: Touches, shape: tuple[int, ...]
) -> Touches:
    """Earlier touches and ``new`` ones as one :class:`Touches` sorted by cell."""
    fields = {
        name: np.concatenate([previous[f"touch_{name}"], getattr(new, name)]).astype(np.int64)
        for name in _TOUCH_FIELDS
    }
    geo = users.geo[fields["user"]]
    cell = np.ravel_multi_index((geo, fields["week"], fields["channel"]), shape)
    order = np.argsort(cell, kind="stable")
    count = np.bincount(cell, minlength=int(np.prod(shape)))
    return Touches(
        user=fields["user"][order],
        geo=geo[order],
        week=fields["week"][order],
        channel=fields["channel"][order],
        ts_us=fields["ts_us"][order],
        creative=fields["creative"][order],
        count=count.reshape(shape),
        offset=(np.cumsum(count) - count).reshape(shape),
    )


def _empty_state(n_users: int) -> dict[str, np.ndarray]:
    state: dict[str, np.ndarray] = {
        f"touch_{name}": np.zeros(0, dtype=np.int64) for name in _TOUCH_FIELDS
    }
    state["customer_channel"] = np.full(n_users, _NOT_CUSTOMER, dtype=np.int64)
    state["customer_dropped"] = np.zeros(n_users, dtype=bool)
    state["customer_rate"] = np.zeros(n_users)
    state["customer_dropout"] = np.zeros(n_users)
    return state


def _customers(
    params: WorldParams,
    users: UserSample,
    conversions: Conversions,
    state: dict[str, np.ndarray],
    window: tuple[int, int],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Acquisitions and purchases in weeks ``window``; updates the ``customer_*`` arrays."""
    channel = state["customer_channel"]
    first_user, first = np.unique(conversions.user, return_index=True)
    new = channel[first_user] == _NOT_CUSTOMER
    first_user, first = first_user[new], first[new]
    channel[first_user] = conversions.cause[first]
    rate, dropout = draw_customer_rates(params, conversions.cause[first], rng)
    state["customer_rate"][first_user] = rate
    state["customer_dropout"][first_user] = dropout
    epoch = int(np.datetime64(params.start.isoformat(), "us").astype(np.int64))
    acquired_weeks = (conversions.ts_us[first] - epoch) / _WEEK_US
    live = np.flatnonzero((channel != _NOT_CUSTOMER) & ~state["customer_dropped"])
    starts = np.full(users.keys.size, float(window[0]))
    starts[first_user] = acquired_weeks
    who, weeks, dropped = purchase_process(
        state["customer_rate"][live], state["customer_dropout"][live], starts[live],
        np.full(live.size, float(window[1])), rng,
    )  # fmt: skip
    state["customer_dropped"][live[dropped]] = True
    buyer = live[who]
    end_us = epoch + window[1] * _WEEK_US
    repeat_ts = np.minimum(epoch + np.round(weeks * _WEEK_US).astype(np.int64), end_us - 1)
    shape = np.array([ltv.p_shape for ltv in params.ltv_table])[channel[buyer]]
    scale = channel_spend_scale(params, users.spend_scale[buyer], channel[buyer])
    amount = rng.gamma(shape, 1.0 / scale)
    labels = np.array([*params.channel_names, ORGANIC], dtype=object)
    user = np.concatenate([first_user, buyer])
    frame = pd.DataFrame(
        {
            "customer_id": users.keys[user],
            "ts": np.concatenate([conversions.ts_us[first], repeat_ts]).astype("datetime64[us]"),
            "amount": np.concatenate([conversions.value[first], np.round(amount, 2)]),
            "acquisition_channel": labels[channel[user]],
        }
    )
    frame = frame.sort_values(["ts", "customer_id"], kind="stable", ignore_index=True)
    frame["ts"] = frame["ts"].dt.strftime(TIMESTAMP_FORMAT)
    return frame


def simulate_users_window(
    params: WorldParams,
    seed: int,
    arrays: dict[str, np.ndarray],
    window: tuple[int, int],
    previous: dict[str, np.ndarray] | None,
    rngs: dict[str, np.random.Generator],
) -> UsersWindow:
    """Users' events and transactions in weeks ``window = (t0, t1)`` of a world.

    Args:
        params: the world's parameters over weeks ``0..t1-1`` (start = the history's).
        seed: the world's seed (fixes the user sample).
        arrays: ``impressions`` ``(n_geos, t1 − t0, n_channels)`` of the window, and over
            weeks ``0..t1-1``: ``expected`` ``(n_geos, t1)``, ``media`` ``(n_geos, t1,
            n_channels)`` (KPI units) and ``campaigns`` ``(t1, n_channels)``.
        previous: the state after the previous window (``None`` for the first).
        rngs: generators ``touches``, ``conversions`` and ``ltv``.
    """
    t0, t1 = window
    users = sample_users(params, seed, world_rngs(seed)["users"])
    state = _empty_state(users.keys.size) if previous is None else dict(previous)
    state = {name: np.array(values) for name, values in state.items()}
    media = arrays["media"]
    impressions = np.zeros_like(media)
    impressions[:, t0:t1] = arrays["impressions"]
    new = simulate_touches(impressions, params, users, rngs["touches"])
    touches = _merge_touches(users, state, new, media.shape)
    to_conversions = params.event_sample_fraction * params.kpi_value / params.value_per_conversion
    organic = np.zeros(media.shape[:2])
    organic[:, t0:t1] = (arrays["expected"] - media.sum(axis=2))[:, t0:t1] * to_conversions
    caused = np.zeros(media.shape)
    caused[:, t0:t1] = media[:, t0:t1] * to_conversions
    conversions = simulate_conversions(
        organic, caused, params, users, touches, rngs["conversions"], state["customer_channel"]
    )
    events = events_frame(params, users, new, conversions, arrays["campaigns"])
    events = events.rename(columns={"user_key": "user_id"})
    events["ts"] = events["ts"].dt.strftime(TIMESTAMP_FORMAT)
    transactions = _customers(params, users, conversions, state, window, rngs["ltv"])
    keep = touches.week >= t1 - (max(c.max_lag for c in params.channels) - 1)
    for name in _TOUCH_FIELDS:
        state[f"touch_{name}"] = getattr(touches, name)[keep]
    return UsersWindow(events, transactions, state)
