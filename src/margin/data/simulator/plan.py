"""The world's calendar, controls and media plan (spend, impressions, clicks, lift tests).

Spend patterns, national level per week then split to geos by population share with
log-normal noise:

* ``flighted`` (TV): on/off bursts of 3-8 weeks; off gaps sized for ``active_share``.
* ``demand`` (search): always on, proportional to the squared demand index (trend ×
  seasonality + holidays), so it *chases* the baseline: a confounder for naive models.
* ``seasonal`` (social, display): a yearly sine with a seed-drawn phase.
* ``sparse`` (video): independent weeks on with probability ``active_share``.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from margin.data.simulator.params import ChannelParams, WorldParams
from margin.types import FloatArray

__all__ = [
    "DAYS_PER_YEAR",
    "apply_lift_tests",
    "black_friday",
    "campaign_names",
    "demand_index",
    "expected_price_path",
    "holiday_flags",
    "impressions_and_clicks",
    "lift_test_mask",
    "seasonality",
    "simulate_price",
    "simulate_price_path",
    "simulate_spend_plan",
    "week_starts",
    "years_elapsed",
]

DAYS_PER_YEAR = 365.25
_SEARCH_DEMAND_ELASTICITY = 2.0
_SEASONAL_AMPLITUDE = 0.35
_FLIGHT_WEEKS = (3, 8)
_LEVEL_CV = 0.1
_IMPRESSION_CV = 0.1
_PRICE_AR = 0.7


def week_starts(params: WorldParams) -> list[date]:
    """The Monday starting each week, length ``n_times``."""
    return [params.start + timedelta(weeks=t) for t in range(params.n_weeks)]


def years_elapsed(params: WorldParams) -> FloatArray:
    """Years since the first week, shape ``(n_times,)``."""
    years: FloatArray = np.arange(params.n_weeks, dtype=np.float64) * 7.0 / DAYS_PER_YEAR
    return years


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    thanksgiving = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thanksgiving + timedelta(days=1)


def holiday_flags(params: WorldParams) -> FloatArray:
    """1.0 in weeks containing Black Friday or Christmas Day, else 0; ``(n_geos, n_times)``."""
    flags = np.zeros(params.n_weeks)
    for t, monday in enumerate(week_starts(params)):
        days = {monday + timedelta(days=d) for d in range(7)}
        for year in {monday.year, (monday + timedelta(days=6)).year}:
            if black_friday(year) in days or date(year, 12, 25) in days:
                flags[t] = 1.0
    result: FloatArray = np.broadcast_to(flags, (len(params.geos), params.n_weeks)).copy()
    return result


def seasonality(params: WorldParams) -> FloatArray:
    """Yearly Fourier seasonality ``Σ_k cos_k cos(kθ) + sin_k sin(kθ)``, shape ``(n_times,)``.

    ``θ`` is the angle of each week's Monday within its calendar year (Jan 1 is 0).
    """
    days = np.array([(d - date(d.year, 1, 1)).days for d in week_starts(params)], dtype=np.float64)
    theta = 2 * math.pi * days / DAYS_PER_YEAR
    season = np.zeros(params.n_weeks)
    for k, (cos_k, sin_k) in enumerate(
        zip(params.seasonality_cos, params.seasonality_sin, strict=True), 1
    ):
        season += cos_k * np.cos(k * theta) + sin_k * np.sin(k * theta)
    return season


def demand_index(params: WorldParams) -> FloatArray:
    """National demand (baseline without price) relative to its mean, shape ``(n_times,)``."""
    holiday = holiday_flags(params)[0]
    demand = (1 + params.trend_per_year * years_elapsed(params)) * (1 + seasonality(params))
    demand = demand + params.holiday_effect * holiday
    index: FloatArray = demand / demand.mean()
    return index


def simulate_price(params: WorldParams, rng: np.random.Generator) -> FloatArray:
    """Price index per geo-week: AR(1) drift times promotional cuts, ``(n_geos, n_times)``.

    Rounded to 4 decimals (the stored value is the one the KPI responds to).
    """
    price, _ = simulate_price_path(params, rng, params.n_weeks)
    return price


def simulate_price_path(
    params: WorldParams,
    rng: np.random.Generator,
    n_times: int,
    previous: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """``n_times`` weeks of the price process and its AR(1) drift, both ``(n_geos, n_times)``.

    ``previous`` (``(n_geos,)``) is the drift of the week before the first, to continue a
    path; without it the first week's drift is drawn from the stationary law (as
    :func:`simulate_price`, which draws the same numbers).
    """
    n_geos = len(params.geos)
    shocks = rng.normal(0.0, params.price_sd * math.sqrt(1 - _PRICE_AR**2), (n_geos, n_times))
    drift = np.zeros((n_geos, n_times))
    if previous is None:
        drift[:, 0] = rng.normal(0.0, params.price_sd, n_geos)
    else:
        drift[:, 0] = _PRICE_AR * previous + shocks[:, 0]
    for t in range(1, n_times):
        drift[:, t] = _PRICE_AR * drift[:, t - 1] + shocks[:, t]
    promo = rng.random((n_geos, n_times)) < params.promo_rate
    price = params.reference_price * (1 + drift) * np.where(promo, 1 - params.promo_depth, 1.0)
    rounded: FloatArray = np.round(price, 4)
    return rounded, drift


def expected_price_path(params: WorldParams, previous: FloatArray, n_times: int) -> FloatArray:
    """E[price] for the ``n_times`` weeks after a week whose drift was ``previous`` (``(n_geos,)``).

    ``reference_price · (1 + AR^k · previous) · (1 − promo_rate · promo_depth)`` in week
    ``k = 1..n_times`` after it, shape ``(n_geos, n_times)``; the KPI is linear in price,
    so this gives its expected baseline.
    """
    decay = _PRICE_AR ** np.arange(1, n_times + 1)
    promo = 1 - params.promo_rate * params.promo_depth
    path: FloatArray = params.reference_price * (1 + previous[:, None] * decay[None, :]) * promo
    return path


def _flights(channel: ChannelParams, n_times: int, rng: np.random.Generator) -> FloatArray:
    low, high = _FLIGHT_WEEKS
    mean_on = (low + high) / 2
    mean_off = mean_on * (1 - channel.active_share) / channel.active_share
    on = np.zeros(n_times, dtype=bool)
    t = int(rng.integers(0, high))
    while t < n_times:
        length = int(rng.integers(low, high + 1))
        on[t : t + length] = True
        t += length + max(1, round(mean_off * rng.uniform(0.5, 1.5)))
    return on.astype(np.float64)


def _national_level(
    channel: ChannelParams, params: WorldParams, rng: np.random.Generator
) -> FloatArray:
    """A channel's national weekly spend, shape ``(n_times,)``."""
    n_times = params.n_weeks
    if channel.pattern == "flighted":
        shape = _flights(channel, n_times, rng)
    elif channel.pattern == "demand":
        shape = demand_index(params) ** _SEARCH_DEMAND_ELASTICITY
        shape = shape / shape.mean()
    elif channel.pattern == "seasonal":
        theta = 2 * math.pi * np.arange(n_times) * 7 / DAYS_PER_YEAR + rng.uniform(0, 2 * math.pi)
        shape = 1 + _SEASONAL_AMPLITUDE * np.sin(theta)
    else:
        shape = (rng.random(n_times) < channel.active_share).astype(np.float64)
        if not shape.any():
            shape[rng.integers(0, n_times)] = 1.0
    level = channel.weekly_spend * (1 + _LEVEL_CV * rng.standard_normal(n_times)).clip(0.5)
    national: FloatArray = shape * level
    return national


def simulate_spend_plan(params: WorldParams, rng: np.random.Generator) -> FloatArray:
    """Planned spend before lift tests, currency units, ``(n_geos, n_times, n_channels)``.

    Rounded to cents (the stored value is the one the KPI responds to).
    """
    share = np.asarray(params.population_share)[:, None]
    sigma = params.spend_noise_cv
    plan = np.empty((len(params.geos), params.n_weeks, len(params.channels)))
    for c, channel in enumerate(params.channels):
        national = _national_level(channel, params, rng)
        noise = rng.lognormal(-(sigma**2) / 2, sigma, (len(params.geos), params.n_weeks))
        plan[:, :, c] = national[None, :] * share * noise
    rounded: FloatArray = np.round(plan, 2)
    return rounded


def lift_test_mask(params: WorldParams, test_index: int) -> npt.NDArray[np.bool_]:
    """Cells a lift test changes, ``(n_geos, n_times, n_channels)`` booleans."""
    test = params.lift_tests[test_index]
    mask = np.zeros((len(params.geos), params.n_weeks, len(params.channels)), dtype=bool)
    geos = [params.geos.index(g) for g in test.treatment_geos]
    c = params.channel_names.index(test.channel)
    mask[geos, test.start_week : test.start_week + test.n_weeks, c] = True
    return mask


def apply_lift_tests(plan: FloatArray, params: WorldParams, skip: int | None = None) -> FloatArray:
    """Spend with every lift test (except index ``skip``) applied, same shape as ``plan``."""
    spend = plan.copy()
    for i, test in enumerate(params.lift_tests):
        if i != skip:
            mask = lift_test_mask(params, i)
            changed = spend[mask] * test.spend_multiplier + test.weekly_spend_added
            spend[mask] = np.round(changed, 2)
    return spend


def impressions_and_clicks(
    spend: FloatArray, params: WorldParams, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Impressions (spend / CPM × 1000 with noise, ≥ 1 where spend > 0) and clicks (Poisson).

    Both whole numbers as floats, shape ``(n_geos, n_times, n_channels)``.
    """
    cpm = np.array([c.cost_per_thousand for c in params.channels])
    ctr = np.array([c.click_through_rate for c in params.channels])
    noise = rng.lognormal(-(_IMPRESSION_CV**2) / 2, _IMPRESSION_CV, spend.shape)
    impressions = np.round(spend / cpm * 1000.0 * noise)
    impressions = np.where(spend > 0, np.maximum(impressions, 1.0), 0.0)
    clicks = rng.poisson(impressions * ctr).astype(np.float64)
    return impressions, clicks


def campaign_names(params: WorldParams) -> npt.NDArray[np.str_]:
    """Campaign per week and channel, e.g. ``"tv_brand_q1_2023"``, ``(n_times, n_channels)``."""
    names = [
        [f"{c.name}_{c.theme}_q{(d.month - 1) // 3 + 1}_{d.year}" for c in params.channels]
        for d in week_starts(params)
    ]
    return np.array(names, dtype=np.str_)
