"""Value by acquisition channel (``margin.ltv.channels``): recovery of each channel's known
customer value, CAC arithmetic, payback, the incremental CAC, the pooled fallback, bad input."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from margin.data.simulator.customers import draw_purchase_rates, purchase_process
from margin.data.simulator.params import LtvParams
from margin.errors import ConfigError
from margin.ltv.channels import MIN_CUSTOMERS, ValueByChannel, value_by_channel
from margin.ltv.summary import CustomerSummary, SummarySettings, summarize_table
from margin.types import Interval

START = date(2024, 1, 1)
END = date(2025, 12, 28)  # the calibration end: about 104 weeks after the first acquisition
FIRST_MEAN = {"search": 40.0, "display": 25.0, "tiny": 30.0}
TRUE = {
    "search": LtvParams(r=0.6, alpha=5.0, a=0.8, b=4.0, p_shape=6.0, q=4.0, gamma=20.0),
    "display": LtvParams(r=0.3, alpha=6.0, a=1.2, b=2.0, p_shape=5.0, q=4.0, gamma=15.0),
    "tiny": LtvParams(),
}
HORIZON = 52.0


def true_value(params: LtvParams, first: float, weeks: float) -> float:
    """First purchase + E[X(t)] (FHL 2005 eq. 9) × the Gamma-Gamma mean spend."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    hyper = hyp2f1(r, b, a + b - 1.0, weeks / (alpha + weeks))
    count = (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + weeks)) ** r * hyper)
    return first + count * params.p_shape * params.gamma / (params.q - 1.0)


def channel_transactions(name: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` customers of ``name`` acquired uniformly over the first 52 weeks, with their
    repeat purchases (the simulator's BG/NBD process) up to the calibration end."""
    params = TRUE[name]
    start_weeks = rng.uniform(0, 52, n).round()  # whole weeks: acquisitions on Mondays
    horizons = (END - START).days / 7 - start_weeks
    rate, dropout = draw_purchase_rates(n, params, rng)
    customer, time, _ = purchase_process(rate, dropout, np.zeros(n), horizons, rng)
    scale = rng.gamma(params.q, 1.0 / params.gamma, n)
    first_ts = [START + timedelta(weeks=float(w)) for w in start_weeks]
    repeat_ts = [
        START + timedelta(weeks=float(start_weeks[c]), days=max(1, round(7 * t)))
        for c, t in zip(customer, time, strict=True)
    ]
    ids = np.array([f"{name}-{i}" for i in range(n)])
    return pd.DataFrame(
        {
            "customer_id": np.concatenate([ids, ids[customer]]),
            "ts": pd.to_datetime([*first_ts, *repeat_ts]),
            "amount": np.concatenate(
                [
                    rng.exponential(FIRST_MEAN[name], n).round(2) + 0.01,
                    rng.gamma(params.p_shape, 1.0 / scale[customer]).round(2) + 0.01,
                ]
            ),
            "acquisition_channel": name,
        }
    )


@pytest.fixture(scope="module")
def summary() -> CustomerSummary:
    rng = np.random.default_rng(7)
    frame = pd.concat(
        [
            channel_transactions("search", 3000, rng),
            channel_transactions("display", 3000, rng),
            channel_transactions("tiny", MIN_CUSTOMERS // 4, rng),
        ],
        ignore_index=True,
    )
    return summarize_table(frame, SummarySettings(calibration_end=END))


@pytest.fixture(scope="module")
def by_channel(summary: CustomerSummary) -> ValueByChannel:
    return value_by_channel(
        summary, HORIZON, spend={"search": 60_000.0, "display": 90_000.0},
        incrementality={"search": Interval(0.4, 0.25, 0.6)}, currency="USD", seed=3,
    )  # fmt: skip


def test_each_channels_interval_covers_its_known_customer_value(by_channel: ValueByChannel) -> None:
    found = {c.channel: c for c in by_channel.channels}
    for name in ("search", "display"):
        c = found[name]
        truth = true_value(TRUE[name], FIRST_MEAN[name] + 0.01, HORIZON)
        assert not c.pooled
        assert c.value.p05 <= truth <= c.value.p95, (name, c.value, truth)
        assert c.value.p95 - c.value.p05 < 0.5 * truth  # informative, not just wide
    # the two channels are told apart: search customers are worth more
    assert found["search"].value.p05 > found["display"].value.p95


def test_cac_ltv_cac_and_the_incremental_cac(by_channel: ValueByChannel) -> None:
    search = next(c for c in by_channel.channels if c.channel == "search")
    assert search.customers == 3000
    assert search.cac == pytest.approx(20.0)  # 60,000 / 3,000
    assert search.ltv_cac is not None
    assert search.ltv_cac.mean == pytest.approx(search.value.mean / 20.0, rel=1e-9)
    assert search.incremental_cac is not None
    # 40% of the credited customers were caused: the incremental CAC is 20 / 0.4 = 50
    assert search.incremental_cac.p05 < 50.0 < search.incremental_cac.p95
    assert search.incremental_cac.p05 == pytest.approx(20 / 0.6, rel=0.1)
    assert search.incremental_cac.p95 == pytest.approx(20 / 0.25, rel=0.1)
    tiny = next(c for c in by_channel.channels if c.channel == "tiny")
    assert tiny.cac is None  # no spend given
    assert tiny.incremental_cac is None


def test_payback_is_when_expected_value_reaches_the_cac(summary: CustomerSummary) -> None:
    cheap = value_by_channel(summary, HORIZON, spend={"search": 3000.0 * 5}, seed=1)
    search = next(c for c in cheap.channels if c.channel == "search")
    assert search.payback_weeks is not None  # a CAC of 5 is paid by the first purchase
    assert search.payback_weeks.p95 == 0.0
    dear = value_by_channel(summary, HORIZON, spend={"display": 3000.0 * 10_000}, seed=1)
    display = next(c for c in dear.channels if c.channel == "display")
    assert display.payback_weeks is None  # a CAC of 10,000 is never paid back
    body = dear.to_json()["display"]
    assert body["payback_weeks"] is None
    assert body["currency"] == ""
    assert set(body["value"]) == {"mean", "p05", "p95"}


def test_a_channel_with_few_customers_uses_the_pooled_fit(by_channel: ValueByChannel) -> None:
    tiny = next(c for c in by_channel.channels if c.channel == "tiny")
    assert tiny.pooled
    assert tiny.customers == MIN_CUSTOMERS // 4
    assert "(pooled fit)" in str(by_channel)
    assert [c.channel for c in by_channel.channels][:2] in (
        ["search", "display"],
        ["display", "search"],
    )


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"horizon_weeks": 0.0}, "horizon_weeks must be in (0, 520]"),
        ({"annual_discount_rate": -0.1}, "annual_discount_rate must be >= 0"),
        ({"draws": 10}, "draws must be an integer >= 100"),
    ],
)
def test_bad_settings_are_named(
    summary: CustomerSummary, kwargs: dict[str, Any], said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        value_by_channel(summary, **kwargs)
    assert said in str(caught.value)
