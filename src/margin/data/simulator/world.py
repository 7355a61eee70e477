"""``simulate_world``: one seeded causal world, all of its views, and its truth."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from margin.data.panel.marketing_data import MarketingData
from margin.data.simulator.customers import simulate_transactions
from margin.data.simulator.frames import (
    controls_frame,
    outcomes_frame,
    panel_frame,
    spec_toml,
    spend_frame,
)
from margin.data.simulator.journeys import (
    ORGANIC,
    Conversions,
    Touches,
    UserSample,
    events_frame,
    sample_users,
    simulate_conversions,
    simulate_touches,
)
from margin.data.simulator.lift import evaluate_lift_tests, experiments_frame
from margin.data.simulator.media import media_effects
from margin.data.simulator.outcomes import expected_kpi, observe_kpi
from margin.data.simulator.params import WorldParams
from margin.data.simulator.plan import (
    apply_lift_tests,
    campaign_names,
    holiday_flags,
    impressions_and_clicks,
    simulate_price,
    simulate_spend_plan,
)
from margin.data.simulator.truth import EventTruth, build_truth
from margin.errors import ConfigError
from margin.types import FloatArray

__all__ = ["World", "WorldArrays", "simulate_arrays", "simulate_world", "world_rngs"]

_STREAMS = (
    "price",
    "plan",
    "impressions",
    "noise",
    "lift",
    "users",
    "touches",
    "conversions",
    "ltv",
)


@dataclass(frozen=True, eq=False)
class WorldArrays:
    """The world's arrays; spend-like ``(n_geos, n_times, n_channels)``, others ``(n_geos, n_times)``.

    ``planned_spend`` is the plan before lift tests; ``spend`` is what was bought (and
    recorded). ``expected`` is the noise-free KPI, ``observed`` the recorded one.
    """

    planned_spend: FloatArray
    spend: FloatArray
    impressions: FloatArray
    clicks: FloatArray
    price: FloatArray
    holiday: FloatArray
    expected: FloatArray
    observed: FloatArray
    media: FloatArray


@dataclass(frozen=True, eq=False)
class World:
    """A simulated world: the workspace's long tables, the wide panel, and the truth.

    ``conversion_causes`` is simulator-only ground truth, one row per conversion event:
    ``user_key, ts, cause`` (a channel or ``"organic"``) and ``touch_ts`` (the causing
    touch's time, NaT for organic).
    """

    params: WorldParams
    seed: int
    spend: pd.DataFrame
    outcomes: pd.DataFrame
    controls: pd.DataFrame
    events: pd.DataFrame
    transactions: pd.DataFrame
    experiments: pd.DataFrame
    panel: pd.DataFrame
    spec: str
    truth: dict[str, Any]
    arrays: WorldArrays = field(repr=False)
    conversion_causes: pd.DataFrame = field(repr=False)

    def marketing_data(self) -> MarketingData:
        """The world's weekly panel as :class:`MarketingData` (no spec or workspace needed).

        Observed KPI (revenue), spend ``(n_geos, n_weeks, n_channels)``, controls
        ``price`` and ``holiday``, population: what the spec of :func:`write_world` loads
        from its files, straight from the arrays.
        """
        p, a = self.params, self.arrays
        return MarketingData(
            dates=np.datetime64(p.start, "D") + 7 * np.arange(p.n_weeks),
            geos=p.geos,
            channels=p.channel_names,
            control_names=("price", "holiday"),
            spend=a.spend,
            kpi=a.observed,
            controls=np.stack([a.price, a.holiday], axis=2),
            population=np.asarray(p.population),
        )


def _causes_frame(
    params: WorldParams, keys: npt.NDArray[np.str_], conversions: Conversions
) -> pd.DataFrame:
    labels = np.array([*params.channel_names, ORGANIC], dtype=object)
    touch_ts = pd.Series(conversions.touch_ts_us.astype("datetime64[us]"))
    return pd.DataFrame(
        {
            "user_key": keys[conversions.user],
            "ts": conversions.ts_us.astype("datetime64[us]"),
            "cause": labels[conversions.cause],
            "touch_ts": touch_ts.where(conversions.cause >= 0),
        }
    )


def _event_truth(
    params: WorldParams,
    users: UserSample,
    touches: Touches,
    conversions: Conversions,
    organic: FloatArray,
    caused: FloatArray,
    customers: dict[str, int],
) -> EventTruth:
    counts = np.bincount(conversions.cause + 1, minlength=len(params.channels) + 1)
    names = params.channel_names
    return EventTruth(
        n_users=int(users.geo_count.sum()),
        n_touches=int(touches.user.size),
        expected_conversions=float(organic.sum() + caused.sum()),
        conversions_by_cause={ORGANIC: int(counts[0])}
        | {name: int(counts[c + 1]) for c, name in enumerate(names)},
        expected_conversions_by_cause={ORGANIC: float(organic.sum())}
        | {name: float(caused[:, :, c].sum()) for c, name in enumerate(names)},
        customers_by_channel=customers,
        n_transactions=0,
    )


def _simulate_arrays(params: WorldParams, rngs: dict[str, np.random.Generator]) -> WorldArrays:
    price = simulate_price(params, rngs["price"])
    holiday = holiday_flags(params)
    plan = simulate_spend_plan(params, rngs["plan"])
    spend = apply_lift_tests(plan, params)
    impressions, clicks = impressions_and_clicks(spend, params, rngs["impressions"])
    expected = expected_kpi(spend, price, holiday, params)
    observed = observe_kpi(expected, params, rngs["noise"])
    media = media_effects(spend, params)
    return WorldArrays(plan, spend, impressions, clicks, price, holiday, expected, observed, media)


def world_rngs(seed: int) -> dict[str, np.random.Generator]:
    """One generator per component (``"price"``, ``"plan"``, ``"noise"``, ``"users"``, …),
    each a child of ``SeedSequence(seed)``: the streams :func:`simulate_world` draws from."""
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"simulate_world(seed={seed!r}) needs a non-negative integer seed.")
    streams = np.random.SeedSequence(int(seed)).spawn(len(_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, streams, strict=True)}


def simulate_arrays(params: WorldParams, *, seed: int) -> WorldArrays:
    """The arrays of :func:`simulate_world` alone (spend, controls, KPI), same numbers."""
    return _simulate_arrays(params, world_rngs(seed))


def simulate_world(params: WorldParams | None = None, *, seed: int) -> World:
    """Simulate one causal world; pure and deterministic given ``params`` and ``seed``.

    Each component draws from its own child of ``SeedSequence(seed)``, so changing, say,
    the number of users leaves spend and outcomes unchanged.
    """
    params = params or WorldParams()
    rngs = world_rngs(seed)
    seed = int(seed)
    a = _simulate_arrays(params, rngs)
    lifts = evaluate_lift_tests(params, a.planned_spend, a.spend, a.price, a.holiday, rngs["lift"])

    to_conversions = params.event_sample_fraction * params.kpi_value / params.value_per_conversion
    organic = (a.expected - a.media.sum(axis=2)) * to_conversions
    caused = a.media * to_conversions
    users = sample_users(params, seed, rngs["users"])
    touches = simulate_touches(a.impressions, params, users, rngs["touches"])
    conversions = simulate_conversions(organic, caused, params, users, touches, rngs["conversions"])
    transactions, customers = simulate_transactions(params, users, conversions, rngs["ltv"])
    campaigns = campaign_names(params)

    event_truth = _event_truth(params, users, touches, conversions, organic, caused, customers)
    event_truth = replace(event_truth, n_transactions=len(transactions))
    arrays = {
        "spend": a.spend,
        "price": a.price,
        "holiday": a.holiday,
        "expected": a.expected,
        "observed": a.observed,
    }
    return World(
        params=params,
        seed=seed,
        spend=spend_frame(params, a.spend, a.impressions, a.clicks, campaigns),
        outcomes=outcomes_frame(params, a.observed),
        controls=controls_frame(params, a.price, a.holiday),
        events=events_frame(params, users, touches, conversions, campaigns),
        transactions=transactions,
        experiments=experiments_frame(lifts, params),
        panel=panel_frame(params, a.observed, a.spend, a.price, a.holiday),
        spec=spec_toml(params),
        truth=build_truth(params, seed, arrays, lifts, event_truth),
        arrays=a,
        conversion_causes=_causes_frame(params, users.keys, conversions),
    )
