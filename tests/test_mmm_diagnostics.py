"""Pre-fit data checks of the MMM: spend that barely varies, near-collinear channels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from margin.data.panel.marketing_data import MarketingData
from margin.data.simulator import WorldParams, simulate_world
from margin.mmm.diagnostics import MAX_CORRELATION, MIN_SPEND_CV, data_checks


@pytest.fixture(scope="module")
def data() -> MarketingData:
    world = simulate_world(WorldParams(n_geos=2, n_weeks=52, n_users=50), seed=3)
    return world.marketing_data()


def with_spend(data: MarketingData, columns: dict[int, np.ndarray]) -> MarketingData:
    """``data`` with channel ``k``'s weekly spend replaced (split evenly over geos)."""
    spend = data.spend.copy()
    for k, weekly in columns.items():
        spend[:, :, k] = weekly[None, :] / data.n_geos
    return dataclasses.replace(data, spend=spend)


def test_independent_varied_spend_raises_nothing(data: MarketingData) -> None:
    rng = np.random.default_rng(0)
    spend = {k: rng.uniform(50, 150, data.n_times) for k in range(data.n_channels)}
    assert data_checks(with_spend(data, spend)) == []


def test_flat_spend_is_flagged(data: MarketingData) -> None:
    rng = np.random.default_rng(1)
    spend = {k: rng.uniform(50, 150, data.n_times) for k in range(data.n_channels)}
    spend[1] = 100.0 * (1 + 0.5 * MIN_SPEND_CV * rng.uniform(-1, 1, data.n_times))
    (warning,) = data_checks(with_spend(data, spend))
    assert f"channel {data.channels[1]!r}: weekly spend barely varies" in warning


@pytest.mark.parametrize(("sign", "how"), [(1.0, "together"), (-1.0, "against each other")])
def test_near_collinear_channels_are_flagged_either_way(
    data: MarketingData, sign: float, how: str
) -> None:
    rng = np.random.default_rng(2)
    spend = {k: rng.uniform(50, 150, data.n_times) for k in range(data.n_channels)}
    wobble = rng.normal(0, 2, data.n_times)  # correlation ~0.99 in size
    spend[3] = 200.0 + sign * (spend[2] - 100.0) + wobble
    (warning,) = data_checks(with_spend(data, spend))
    a, b = data.channels[2], data.channels[3]
    assert f"channels {a!r} and {b!r} move {how}" in warning
    corr = float(np.corrcoef(spend[2], spend[3])[0, 1])
    assert abs(corr) > MAX_CORRELATION
    assert f"(correlation {corr:.2f})" in warning
