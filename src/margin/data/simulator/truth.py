"""The ``truth`` dictionary: every true parameter and effect, JSON-able."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from margin.data.simulator.customers import expected_customer_value, expected_repeat_purchases
from margin.data.simulator.journeys import ORGANIC
from margin.data.simulator.lift import LiftOutcome
from margin.data.simulator.outcomes import (
    MROI_STEP,
    baseline,
    channel_contributions,
    marginal_roi,
    noise_sd,
)
from margin.data.simulator.params import LtvParams, WorldParams
from margin.data.simulator.plan import week_starts
from margin.types import FloatArray

__all__ = ["DEFINITIONS", "LTV_HORIZONS_WEEKS", "EventTruth", "build_truth"]

LTV_HORIZONS_WEEKS: tuple[int, ...] = (26, 52, 104)
"""Horizons (weeks after acquisition) of the true customer values in ``truth["ltv"]``."""

DEFINITIONS: dict[str, str] = {
    "contribution": "sum over geos and weeks of E[KPI | actual spend] - E[KPI | channel zero in every week], KPI units, carry-over included",
    "roi": "contribution * kpi.unit_value / spend",
    "mroi": f"(E[KPI | channel spend x {1 + MROI_STEP}] - E[KPI | actual]) * kpi.unit_value / ({MROI_STEP} * spend), summed over geos and weeks",
    "contribution_share": "contribution / sum of all channels' contributions",
    "kpi_share": "contribution / total expected KPI",
    "media_effect": "beta * s_g * hill(adstock(spend)_gt / s_g; half_saturation, slope) / kpi.unit_value, s_g = population share",
    "adstock": "geometric, normalised: w_l = decay^l / sum_{k<max_lag} decay^k for l = 0..max_lag-1",
    "hill": "x^slope / (x^slope + half_saturation^slope)",
    "baseline": "intercept * s_g * [(1 + trend_per_year * years)(1 + seasonality) + holiday_effect * holiday + price_coefficient * (price - reference_price)] / kpi.unit_value",
    "lift_total": "E[KPI | actual] - E[KPI | test cells at plan] in treated geos, test window plus max_lag - 1 carry-over weeks; lift_window: test window only",
    "customer_value": "expected undiscounted revenue of a newly acquired customer within h weeks, first purchase included: mean_amount * (1 + E[X(h)]), E[X(h)] = (a+b-1)/(a-1) * [1 - (alpha/(alpha+h))^r * 2F1(r, b; a+b-1; h/(alpha+h))] (BG/NBD, FHL 2005 eq. 9), mean_amount = p * gamma / (q - 1) (Gamma-Gamma), currency units",
}


@dataclass(frozen=True)
class EventTruth:
    """Aggregates of the simulated event log that only the simulator knows."""

    n_users: int
    n_touches: int
    expected_conversions: float
    conversions_by_cause: dict[str, int]
    expected_conversions_by_cause: dict[str, float]
    customers_by_channel: dict[str, int]
    n_transactions: int


def _channel_truth(
    params: WorldParams, spend: FloatArray, price: FloatArray, holiday: FloatArray, total_kpi: float
) -> dict[str, Any]:
    by_geo = channel_contributions(spend, price, holiday, params)
    contribution = by_geo.sum(axis=0)
    mroi = marginal_roi(spend, price, holiday, params)
    share = np.asarray(params.population_share)
    out: dict[str, Any] = {}
    for c, ch in enumerate(params.channels):
        total_spend = float(spend[:, :, c].sum())
        roi = contribution[c] * params.kpi_value / total_spend if total_spend > 0 else None
        out[ch.name] = {
            "spend": total_spend,
            "contribution": float(contribution[c]),
            "contribution_by_geo": dict(zip(params.geos, by_geo[:, c].tolist(), strict=True)),
            "contribution_share": float(contribution[c] / contribution.sum()),
            "kpi_share": float(contribution[c] / total_kpi),
            "roi": None if roi is None else float(roi),
            "mroi": None if np.isnan(mroi[c]) else float(mroi[c]),
            "adstock": {"type": "geometric", "decay": ch.decay, "max_lag": ch.max_lag},
            "saturation": {
                "type": "hill",
                "half_saturation": ch.half_saturation,
                "slope": ch.slope,
                "half_saturation_by_geo": dict(
                    zip(params.geos, (ch.half_saturation * share).tolist(), strict=True)
                ),
            },
            "beta": ch.beta,
            "beta_by_geo": dict(zip(params.geos, (ch.beta * share).tolist(), strict=True)),
            "spend_pattern": ch.pattern,
            "cost_per_thousand": ch.cost_per_thousand,
            "click_through_rate": ch.click_through_rate,
        }
    return out


def _baseline_truth(params: WorldParams, holiday: FloatArray) -> dict[str, Any]:
    weeks = week_starts(params)
    return {
        "intercept": params.intercept,
        "trend_per_year": params.trend_per_year,
        "seasonality": {
            "period_days": 365.25,
            "cos": list(params.seasonality_cos),
            "sin": list(params.seasonality_sin),
        },
        "holiday_effect": params.holiday_effect,
        "holiday_weeks": [weeks[t].isoformat() for t in np.flatnonzero(holiday[0])],
        "price_coefficient": params.price_coefficient,
        "reference_price": params.reference_price,
    }


def _events_truth(params: WorldParams, events: EventTruth) -> dict[str, Any]:
    return {
        "sample_fraction": params.event_sample_fraction,
        "touch_tracking_rate": params.touch_tracking_rate,
        "touches_per_impression": params.event_sample_fraction * params.touch_tracking_rate,
        "n_users": events.n_users,
        "n_touches": events.n_touches,
        "n_conversions": sum(events.conversions_by_cause.values()),
        "expected_conversions": events.expected_conversions,
        "causal_conversions": events.conversions_by_cause,
        "expected_causal_conversions": events.expected_conversions_by_cause,
        "organic_label": ORGANIC,
    }


def _customer_truth(ltv: LtvParams, customers: int, own: bool, currency: str) -> dict[str, Any]:
    """One acquisition channel's true customer parameters and value of a new customer."""
    horizons = [str(h) for h in LTV_HORIZONS_WEEKS]
    return {
        "source": "ltv_by_channel" if own else "ltv",
        "r": ltv.r,
        "alpha": ltv.alpha,
        "a": ltv.a,
        "b": ltv.b,
        "p": ltv.p_shape,
        "q": ltv.q,
        "gamma": ltv.gamma,
        "mean_rate_per_week": ltv.mean_rate,
        "mean_dropout": ltv.mean_dropout,
        "mean_amount": ltv.mean_amount,
        "customers": customers,
        "expected_repeat_purchases": {
            h: expected_repeat_purchases(ltv, float(h)) for h in horizons
        },
        "value": {h: expected_customer_value(ltv, float(h)) for h in horizons},
        "value_unit": currency,
    }


def _ltv_by_channel(params: WorldParams, events: EventTruth) -> dict[str, Any]:
    own = dict(params.ltv_by_channel)
    return {
        name: _customer_truth(
            params.ltv_for(name),
            events.customers_by_channel.get(name, 0),
            name in own,
            params.currency,
        )
        for name in (*params.channel_names, ORGANIC)
    }


def _ltv_truth(params: WorldParams, events: EventTruth) -> dict[str, Any]:
    ltv = params.ltv
    return {
        "model": "bg_nbd + gamma_gamma",
        "time_unit": "week",
        "r": ltv.r,
        "alpha": ltv.alpha,
        "a": ltv.a,
        "b": ltv.b,
        "p": ltv.p_shape,
        "q": ltv.q,
        "gamma": ltv.gamma,
        "mean_amount": ltv.mean_amount,
        "n_customers": sum(events.customers_by_channel.values()),
        "customers_by_channel": events.customers_by_channel,
        "n_transactions": events.n_transactions,
        "value_horizons_weeks": list(LTV_HORIZONS_WEEKS),
        "by_channel": _ltv_by_channel(params, events),
    }


def build_truth(
    params: WorldParams,
    seed: int,
    arrays: dict[str, FloatArray],
    lift_tests: tuple[LiftOutcome, ...],
    events: EventTruth,
) -> dict[str, Any]:
    """Assemble ``truth`` from the world's arrays ``spend, price, holiday, expected, observed``."""
    spend, price, holiday = arrays["spend"], arrays["price"], arrays["holiday"]
    expected = arrays["expected"]
    base = baseline(params, price, holiday)
    total_kpi = float(expected.sum())
    return {
        "seed": seed,
        "kpi": {
            "name": params.kpi_name,
            "type": params.kpi_type,
            "unit_value": params.kpi_value,
            "value_per_conversion": params.value_per_conversion,
            "currency": params.currency,
        },
        "calendar": {
            "start": params.start.isoformat(),
            "n_weeks": params.n_weeks,
            "week_start": "monday",
        },
        "geos": {
            "names": list(params.geos),
            "population": list(params.population),
            "population_share": list(params.population_share),
        },
        "channels": _channel_truth(params, spend, price, holiday, total_kpi),
        "baseline": _baseline_truth(params, holiday),
        "noise": {
            "cv": params.noise_cv,
            "sd_by_geo": dict(zip(params.geos, noise_sd(params).tolist(), strict=True)),
        },
        "totals": {
            "kpi_expected": total_kpi,
            "kpi_observed": float(arrays["observed"].sum()),
            "baseline": float(base.sum()),
            "media": total_kpi - float(base.sum()),
            "spend": float(spend.sum()),
        },
        "lift_tests": [test.to_json(params) for test in lift_tests],
        "events": _events_truth(params, events),
        "ltv": _ltv_truth(params, events),
        "definitions": dict(DEFINITIONS),
    }
