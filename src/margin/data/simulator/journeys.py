"""User-level touches and conversions consistent with the KPI decomposition.

A sample of ``n_users`` users is split across geos by population share. In geo ``g``,
week ``t``, channel ``c``:

* touches ~ Poisson(impressions · event_sample_fraction · touch_tracking_rate), at least
  one whenever the channel spent, each to a uniformly drawn user of the geo at a uniform
  time in the week;
* caused conversions ~ Poisson(event_sample_fraction · effect_gtc · kpi_value /
  value_per_conversion); each goes to the user of one of channel ``c``'s touches in the
  adstock window, the touch's week ``t - l`` drawn with probability ∝ ``w_l · touches``,
  after the touch in time;
* organic conversions ~ Poisson(event_sample_fraction · baseline_gt · kpi_value /
  value_per_conversion) to uniformly drawn users of the geo.

Each user has a Gamma-Gamma spend scale ``ν ~ Gamma(q, rate=γ)`` (the world's ``ltv``).
Once a user is acquired (their first conversion), ``ν`` is mapped to the same quantile of
the acquiring channel's ``Gamma(q_c, rate=γ_c)`` (:func:`channel_spend_scale`, identity
without per-channel parameters), and every conversion's value is ``Gamma(p_c, rate=ν_c)``
with that channel's parameters. Conversion events carry no channel, campaign or creative
(null).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from margin.data.simulator.media import adstock_weights
from margin.data.simulator.params import ORGANIC, WorldParams
from margin.types import FloatArray, IntArray

__all__ = [
    "ORGANIC",
    "Conversions",
    "Touches",
    "UserSample",
    "channel_spend_scale",
    "events_frame",
    "sample_users",
    "simulate_conversions",
    "simulate_touches",
    "user_keys",
]

_WEEK_US = 7 * 24 * 3600 * 1_000_000
_CREATIVES = ("a", "b", "c")


def user_keys(n_users: int, seed: int) -> npt.NDArray[np.str_]:
    """Opaque keys ``"u" + 16 hex digits`` of a BLAKE2b hash of the seed and user index.

    The letter prefix keeps a key from ever reading as a number in a CSV.
    """
    keys = [
        "u" + hashlib.blake2b(f"margin-simulator:{seed}:{i}".encode(), digest_size=8).hexdigest()
        for i in range(n_users)
    ]
    return np.array(keys, dtype=np.str_)


@dataclass(frozen=True)
class UserSample:
    """The sampled users: ``geo_offset[g] .. geo_offset[g] + geo_count[g]`` live in geo g."""

    keys: npt.NDArray[np.str_]
    geo: IntArray
    geo_offset: IntArray
    geo_count: IntArray
    spend_scale: FloatArray


def sample_users(params: WorldParams, seed: int, rng: np.random.Generator) -> UserSample:
    """Split ``n_users`` across geos by population share (largest remainder, ≥ 1 each)."""
    share = np.asarray(params.population_share)
    exact = share * params.n_users
    counts = np.maximum(np.floor(exact).astype(np.int64), 1)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    for g in order[: max(params.n_users - int(counts.sum()), 0)]:
        counts[g] += 1
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    total = int(counts.sum())
    scale = rng.gamma(params.ltv.q, 1.0 / params.ltv.gamma, total)
    geo = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    return UserSample(user_keys(total, seed), geo, offsets, counts, scale)


def channel_spend_scale(params: WorldParams, scale: FloatArray, cause: IntArray) -> FloatArray:
    """Spend scales ``ν`` drawn from the world's ``Gamma(q, rate=γ)`` as the acquiring channel's.

    Each ``scale[i]`` goes to the same quantile of ``Gamma(q_c, rate=γ_c)`` of the channel
    ``cause[i]`` (channel index, ``-1`` organic): a draw from the channel's distribution
    that uses no random numbers, so a world without per-channel parameters is unchanged.
    """
    world = params.ltv
    out = np.array(scale, dtype=np.float64)
    for k, ltv in enumerate(params.ltv_table):
        if (ltv.q, ltv.gamma) == (world.q, world.gamma):
            continue
        pick = cause == (k if k < len(params.channels) else -1)
        x = out[pick] * world.gamma
        lower, upper = special.gammainc(world.q, x), special.gammaincc(world.q, x)
        mapped = np.where(
            lower < 0.5,
            special.gammaincinv(ltv.q, lower),
            special.gammainccinv(ltv.q, upper),
        )
        out[pick] = np.maximum(mapped, 1e-300) / ltv.gamma
    return out


def _conversion_values(
    params: WorldParams,
    users: UserSample,
    user: IntArray,
    cause: IntArray,
    order: IntArray,
    acquired: IntArray | None,
    rng: np.random.Generator,
) -> FloatArray:
    """Each conversion's value ``Gamma(p_c, rate=ν_c)`` with its user's acquiring channel ``c``.

    ``user`` and ``cause`` are unsorted, ``order`` sorts them by time. ``acquired`` holds
    each user's acquiring cause so far (below -1: not yet a customer); a user acquired here
    takes the cause of their first conversion in time.
    """
    channel = np.full(users.keys.size, -2, dtype=np.int64)
    if acquired is not None:
        channel[:] = acquired
    first_user, first = np.unique(user[order], return_index=True)
    new = channel[first_user] < -1
    channel[first_user[new]] = cause[order][first[new]]
    channel_of = channel[user]
    shape = np.array([ltv.p_shape for ltv in params.ltv_table])[channel_of]
    scale = channel_spend_scale(params, users.spend_scale[user], channel_of)
    value: FloatArray = rng.gamma(shape, 1.0 / scale)
    return value


@dataclass(frozen=True)
class Touches:
    """Touch events sorted by cell ``(g, t, c)``; ``count``/``offset`` index cells."""

    user: IntArray
    geo: IntArray
    week: IntArray
    channel: IntArray
    ts_us: IntArray
    creative: IntArray
    count: IntArray
    offset: IntArray


def _week_start_us(params: WorldParams) -> int:
    epoch = np.datetime64(params.start.isoformat(), "us").astype(np.int64)
    return int(epoch)


def simulate_touches(
    impressions: FloatArray, params: WorldParams, users: UserSample, rng: np.random.Generator
) -> Touches:
    """Touches per cell ∝ impressions (≥ 1 where impressions > 0), see module docstring.

    Args:
        impressions: ``(n_geos, n_times, n_channels)``.
    """
    rate = params.event_sample_fraction * params.touch_tracking_rate
    count = rng.poisson(impressions * rate).astype(np.int64)
    count = np.where(impressions > 0, np.maximum(count, 1), 0).reshape(-1)
    cells = np.repeat(np.arange(count.size, dtype=np.int64), count)
    geo, week, channel = np.unravel_index(cells, impressions.shape)
    user = users.geo_offset[geo] + np.floor(rng.random(cells.size) * users.geo_count[geo]).astype(
        np.int64
    )
    ts = (
        _week_start_us(params)
        + week * _WEEK_US
        + np.floor(rng.random(cells.size) * _WEEK_US).astype(np.int64)
    )
    creative = rng.integers(0, len(_CREATIVES), cells.size)
    offset = np.cumsum(count) - count
    return Touches(
        user=user,
        geo=geo.astype(np.int64),
        week=week.astype(np.int64),
        channel=channel.astype(np.int64),
        ts_us=ts,
        creative=creative.astype(np.int64),
        count=count.reshape(impressions.shape),
        offset=offset.reshape(impressions.shape),
    )


@dataclass(frozen=True)
class Conversions:
    """Conversion events; ``cause`` is the channel index, or -1 for organic."""

    user: IntArray
    geo: IntArray
    week: IntArray
    cause: IntArray
    ts_us: IntArray
    value: FloatArray
    touch_ts_us: IntArray


def _caused_conversions(
    cells: IntArray, params: WorldParams, touches: Touches, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """For conversions in flat cells ``(g, t, c)``: the causing touch and its lag."""
    geo, week, channel = np.unravel_index(cells, touches.count.shape)
    weights = adstock_weights(
        [c.decay for c in params.channels], [c.max_lag for c in params.channels]
    )
    lags = np.arange(weights.shape[0])
    source_week = week[:, None] - lags[None, :]
    valid = source_week >= 0
    clipped = np.where(valid, source_week, 0)
    n_touch = touches.count[geo[:, None], clipped, channel[:, None]]
    prob = np.where(valid, weights[lags[None, :], channel[:, None]] * n_touch, 0.0)
    cumulative = np.cumsum(prob, axis=1)
    draw = rng.random(cells.size) * cumulative[:, -1]
    lag = np.minimum((cumulative <= draw[:, None]).sum(axis=1), lags.size - 1)
    src = week - lag
    pick = np.floor(rng.random(cells.size) * touches.count[geo, src, channel]).astype(np.int64)
    return touches.offset[geo, src, channel] + pick, lag.astype(np.int64)


def simulate_conversions(
    organic: FloatArray,
    caused: FloatArray,
    params: WorldParams,
    users: UserSample,
    touches: Touches,
    rng: np.random.Generator,
    acquired: IntArray | None = None,
) -> Conversions:
    """Sample organic and caused conversions (see module docstring), sorted by time.

    Args:
        organic: expected organic conversions in the sample, ``(n_geos, n_times)``.
        caused: expected caused conversions in the sample, ``(n_geos, n_times, n_channels)``.
        acquired: each user's acquiring cause from earlier windows (below -1: none yet).
    """
    start = _week_start_us(params)
    n_org = rng.poisson(organic).reshape(-1)
    org_cells = np.repeat(np.arange(n_org.size, dtype=np.int64), n_org)
    org_geo, org_week = np.unravel_index(org_cells, organic.shape)
    org_user = users.geo_offset[org_geo] + np.floor(
        rng.random(org_cells.size) * users.geo_count[org_geo]
    ).astype(np.int64)
    org_ts = (
        start
        + org_week * _WEEK_US
        + np.floor(rng.random(org_cells.size) * _WEEK_US).astype(np.int64)
    )

    n_inc = rng.poisson(caused).reshape(-1)
    inc_cells = np.repeat(np.arange(n_inc.size, dtype=np.int64), n_inc)
    inc_geo, inc_week, inc_channel = np.unravel_index(inc_cells, caused.shape)
    touch, lag = _caused_conversions(inc_cells, params, touches, rng)
    week_start = start + inc_week * _WEEK_US
    earliest = np.where(lag == 0, touches.ts_us[touch] + 1, week_start)
    span = week_start + _WEEK_US - earliest
    inc_ts = earliest + np.floor(rng.random(inc_cells.size) * span).astype(np.int64)

    user = np.concatenate([org_user, touches.user[touch]]).astype(np.int64)
    order = np.argsort(np.concatenate([org_ts, inc_ts]), kind="stable")
    cause = np.concatenate([np.full(org_cells.size, -1), inc_channel]).astype(np.int64)
    value = _conversion_values(params, users, user, cause, order, acquired, rng)
    return Conversions(
        user=user[order],
        geo=np.concatenate([org_geo, inc_geo]).astype(np.int64)[order],
        week=np.concatenate([org_week, inc_week]).astype(np.int64)[order],
        cause=cause[order],
        ts_us=np.concatenate([org_ts, inc_ts])[order],
        value=np.round(value[order], 2),
        touch_ts_us=np.concatenate([np.full(org_cells.size, -1), touches.ts_us[touch]])[order],
    )


def events_frame(
    params: WorldParams,
    users: UserSample,
    touches: Touches,
    conversions: Conversions,
    campaigns: npt.NDArray[np.str_],
) -> pd.DataFrame:
    """The ``events`` long table: user_key, ts, channel, campaign, creative, event, value.

    Sorted by time then user key; conversions have null channel, campaign and creative.
    """
    channel_names = np.array(params.channel_names, dtype=object)
    touch_campaign = campaigns[touches.week, touches.channel].astype(object)
    creative = touch_campaign + "_" + np.array(_CREATIVES, dtype=object)[touches.creative]
    n_conv = conversions.user.size
    none = np.full(n_conv, None, dtype=object)
    keys = np.concatenate([users.keys[touches.user], users.keys[conversions.user]])
    ts = np.concatenate([touches.ts_us, conversions.ts_us])
    order = np.lexsort((keys, ts))
    columns = {
        "user_key": keys,
        "ts": ts.astype("datetime64[us]"),
        "channel": np.concatenate([channel_names[touches.channel], none]),
        "campaign": np.concatenate([touch_campaign, none]),
        "creative": np.concatenate([creative, none]),
        "event": np.repeat(
            np.array(["touch", "conversion"], dtype=object), [touches.user.size, n_conv]
        ),
        "value": np.concatenate([np.zeros(touches.user.size), conversions.value]),
    }
    return pd.DataFrame({name: values[order] for name, values in columns.items()})
