"""Value of information per channel (``margin.optimize.information``) against exact oracles.

Two channels on one geo, no carry-over, Hill slope 1. Channel ``a``'s saturation level is
``HIGH`` in half the draws and ``LOW`` in the other half; channel ``b`` is known. Grouping
the draws by ``a``'s marginal return then separates the two halves exactly, so the binning
estimate is the exact EVPPI, computed here by a bounded scalar maximisation of each
half's expected KPI over the split (scipy), independent of the planner's solver.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.optimize import minimize_scalar  # type: ignore[import-untyped,unused-ignore]

from margin.errors import ConfigError
from margin.optimize import ParametricResponse, PlanRequest, plan
from margin.optimize.information import InformationValue, value_of_information

WEEKS = 13
WEEKLY = 100.0
"""Each channel's weekly spend in history (so the budget is 2 × 13 × 100)."""
HALF = 150.0
HIGH, LOW, KNOWN = 900.0, 150.0, 400.0
"""Channel a's weekly saturation level in half the draws each; channel b's in all."""
N_DRAWS = 200
SOLVER_RTOL = 1e-4
"""The planner's SLSQP stops at a relative objective change of 1e-12; the split it finds
is within 1e-4 of scipy's bounded scalar optimum in value."""


def model(n_draws: int = N_DRAWS) -> ParametricResponse:
    beta_a = np.where(np.arange(n_draws) % 2 == 0, HIGH, LOW)  # interleaved halves
    beta = np.stack([beta_a, np.full(n_draws, KNOWN)], axis=1)[:, None, :]
    return ParametricResponse(
        channels=("a", "b"),
        geos=("national",),
        kpi_value=1.0,
        history=np.full((1, 13, 2), WEEKLY),
        decay=np.zeros((n_draws, 2)),
        max_lag=(1, 1),
        half_saturation=np.full((n_draws, 1, 2), HALF),
        slope=np.ones((n_draws, 2)),
        beta=beta,
        noise_sd=np.ones((n_draws, 1)),
    )


def expected_kpi(share_a: float, beta_a: float, budget: float) -> float:
    """KPI over the horizon with ``share_a`` of ``budget`` on a, spread evenly over weeks."""
    x_a, x_b = share_a * budget / WEEKS, (1 - share_a) * budget / WEEKS
    return WEEKS * (beta_a * x_a / (HALF + x_a) + KNOWN * x_b / (HALF + x_b))


def best_share(beta_a: float, budget: float) -> float:
    found = minimize_scalar(
        lambda s: -expected_kpi(s, beta_a, budget), bounds=(0.0, 1.0), method="bounded",
        options={"xatol": 1e-10},
    )  # fmt: skip
    return float(found.x)


@pytest.fixture(scope="module")
def answer() -> tuple[InformationValue, float]:
    response = model()
    request = PlanRequest(weeks=WEEKS)
    result = plan(response, request)
    return value_of_information(response, result, request, groups=2), result.budget


def test_the_uncertain_channels_value_is_the_exact_evppi(
    answer: tuple[InformationValue, float],
) -> None:
    info, budget = answer
    pooled = best_share((HIGH + LOW) / 2, budget)
    exact = np.mean(
        [
            expected_kpi(best_share(level, budget), level, budget)
            - expected_kpi(pooled, level, budget)
            for level in (HIGH, LOW)
        ]
    )
    assert exact > 1.0  # the oracle's split moves: there is something to learn
    a = {c.channel: c for c in info.channels}["a"]
    assert a.value.mean == pytest.approx(exact, rel=SOLVER_RTOL)
    assert a.group_mroi[0] < a.group_mroi[1]  # low marginal return first
    assert a.group_spend[0] < a.group_spend[1]  # learning a is low moves money away from it
    assert a.group_spend[0] == pytest.approx(best_share(LOW, budget) * budget, rel=1e-3)


def test_a_known_channel_is_worth_nothing_and_the_best_is_above_the_floor(
    answer: tuple[InformationValue, float],
) -> None:
    info, _ = answer
    by_name = {c.channel: c for c in info.channels}
    a, b = by_name["a"], by_name["b"]
    # b's marginal return is the same in every draw: its groups are index halves, which
    # hold the same mix of a's two levels, so re-planning on them finds nothing
    assert b.value.mean == pytest.approx(0.0, abs=SOLVER_RTOL * a.value.mean)
    assert not b.above_floor
    assert a.above_floor
    assert info.best is a
    assert info.channels[0] is a
    floor = info.noise_floor
    assert 0.0 <= floor.mean < a.value.p05
    assert a.value.p05 <= a.value.mean <= a.value.p95
    document = info.to_json()
    assert document["best"] == "a"
    assert set(document["channels"]) == {"a", "b"}


@pytest.mark.parametrize(
    ("request_", "groups", "n_draws", "message"),
    [
        (PlanRequest(weeks=WEEKS, risk="cvar"), 2, N_DRAWS, "--risk mean"),
        (PlanRequest(weeks=WEEKS, target_kpi=1e4), 2, N_DRAWS, "budget plans"),
        (PlanRequest(weeks=WEEKS), 1, N_DRAWS, "groups = 1"),
        (PlanRequest(weeks=WEEKS), 4, 60, "at least 100 posterior draws"),
    ],
)
def test_requests_it_cannot_value_are_refused(
    request_: PlanRequest, groups: int, n_draws: int, message: str
) -> None:
    response = model(n_draws)
    result = plan(response, PlanRequest(weeks=WEEKS))
    with pytest.raises(ConfigError, match=message.replace("-", "\\-")):
        value_of_information(response, result, request_, groups=groups)


def test_a_planned_tests_value_falls_from_the_evppi_to_the_floor_as_it_reads_worse() -> None:
    response = model()
    request = PlanRequest(weeks=WEEKS)
    result = plan(response, request)
    exact = value_of_information(response, result, request, groups=2)
    a_perfect = {c.channel: c for c in exact.channels}["a"].value.mean
    mroi = {c.channel: c for c in exact.channels}["a"].group_mroi
    gap = mroi[1] - mroi[0]  # a's two marginal returns, low and high
    readings = {}
    for se in (1e-9 * gap, gap, 1e3 * gap):
        info = value_of_information(response, result, request, groups=2, test_se={"a": se})
        a = {c.channel: c for c in info.channels}["a"]
        assert a.test_se == se
        assert a.test_value is not None
        assert a.value.mean == pytest.approx(a_perfect, rel=1e-12)  # EVPPI unchanged
        readings[se] = a.test_value.mean
    precise, blurred, blind = readings.values()
    assert precise == pytest.approx(a_perfect, rel=1e-9)  # a test that reads exactly: EVPPI
    assert a_perfect > blurred > blind  # worse readings are worth less
    assert blind < 0.05 * a_perfect  # a test that reads nothing: about the noise floor
    b = {c.channel: c for c in info.channels}["b"]
    assert b.test_value is None
    assert b.test_se is None


@pytest.mark.parametrize(
    ("test_se", "message"),
    [({"radio": 0.1}, "unknown channel(s) ['radio']"), ({"a": -1.0}, "expected a number > 0")],
)
def test_bad_test_standard_errors_are_refused(test_se: dict[str, float], message: str) -> None:
    response = model()
    result = plan(response, PlanRequest(weeks=WEEKS))
    with pytest.raises(ConfigError, match=re.escape(message)):
        value_of_information(response, result, PlanRequest(weeks=WEEKS), groups=2, test_se=test_se)
