"""Budget allocation against oracles (analytic optimum, brute-force grids) and invariants."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from margin.data.simulator import WorldParams
from margin.data.simulator.response import parametric_from_world
from margin.errors import ConfigError
from margin.optimize import (
    AllocationResult,
    Constraints,
    Objective,
    ParametricResponse,
    allocate,
    allocate_target,
    current_plan,
)
from margin.optimize.proof import BOUND_RTOL, BUDGET_RTOL, MARGINAL_RTOL
from margin.optimize.solver import project_to_budget

ORACLE_RTOL = 1e-4
"""Solver vs analytic optimum (relative to the budget)."""
GRID_VALUE_RTOL = 1e-9
"""The optimizer's objective may not fall below the grid's best by more than this."""


def _hill_model(
    beta: list[float], half: list[float], *, n_draws: int = 1, slope: list[float] | None = None
) -> ParametricResponse:
    n = len(beta)
    return ParametricResponse(
        channels=tuple(f"ch{c}" for c in range(n)), geos=("national",), kpi_value=1.0,
        history=np.full((1, 13, n), 100.0), decay=np.zeros((n_draws, n)), max_lag=(1,) * n,
        half_saturation=np.broadcast_to(np.array(half), (n_draws, 1, n)).copy(),
        slope=np.broadcast_to(np.array(slope or [1.0] * n), (n_draws, n)).copy(),
        beta=np.broadcast_to(np.array(beta), (n_draws, 1, n)).copy(),
        noise_sd=np.ones((n_draws, 1)),
    )  # fmt: skip


def _analytic_optimum(beta: np.ndarray, half: np.ndarray, budget: float) -> np.ndarray:
    """argmax Σ β x/(x+K) s.t. Σ x = B: x = max(0, sqrt(β K / λ) − K), λ by bisection."""
    lo, hi = 1e-12, float((beta / half).max())
    for _ in range(200):
        lam = np.sqrt(lo * hi)
        x = np.maximum(0.0, np.sqrt(beta * half / lam) - half)
        lo, hi = (lo, lam) if x.sum() < budget else (lam, hi)
    return x


def _world(
    n_geos: int = 1, n_draws: int = 60, spread: float = 0.2, seed: int = 5
) -> ParametricResponse:
    params = WorldParams(n_geos=n_geos, n_weeks=40, lift_tests=())
    rng = np.random.default_rng(seed)
    weekly = np.array([c.weekly_spend for c in params.channels]) * np.array(
        [1.0, 1.0, 1.3, 2.5, 0.4]
    )
    share = np.array(params.population_share)[:, None, None]
    history = weekly * share * rng.uniform(0.7, 1.3, (n_geos, 16, 5))
    return parametric_from_world(params, history, n_draws=n_draws, spread=spread, seed=seed)


def _current_budget(model: ParametricResponse, weeks: int) -> float:
    return float(current_plan(model, weeks).sum())


def test_matches_the_analytic_optimum_of_a_separable_concave_problem() -> None:
    beta, half = np.array([5e5, 3e5, 1e5, 2e5]), np.array([1e5, 5e4, 2e4, 3e5])
    budget = 2.5e5
    result = allocate(_hill_model(list(beta), list(half)), budget, 1)
    expected = _analytic_optimum(beta, half, budget)
    got = np.array([a.spend for a in result.allocation])
    np.testing.assert_allclose(got, expected, atol=ORACLE_RTOL * budget)
    assert result.allocation[3].status == "lower"  # the weakest channel gets nothing
    assert "lower bound" in result.allocation[3].explanation
    assert result.checks.passed


def _solve_to_the_analytic_optimum() -> AllocationResult:
    """Allocate on a separable four-channel Hill problem; assert the analytic optimum and
    passed checks."""
    beta, half = np.array([5e5, 3e5, 1e5, 2e5]), np.array([1e5, 5e4, 2e4, 3e5])
    budget = 2.5e5
    result = allocate(_hill_model(list(beta), list(half)), budget, 1)
    got = np.array([a.spend for a in result.allocation])
    np.testing.assert_allclose(
        got, _analytic_optimum(beta, half, budget), atol=ORACLE_RTOL * budget
    )
    assert result.checks.passed
    return result


def test_a_stalled_solve_restarts_from_its_end_point_until_the_kkt_checks_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SLSQP can stop short of the optimum (seen on a fitted MMM); both default starts are
    made to stop after one iteration here, and the restart must still reach the analytic
    optimum."""
    from margin.optimize import solver

    real, calls = solver.minimize, []

    def stalling(*args: object, **kwargs: dict[str, object]) -> object:
        calls.append(kwargs)
        if len(calls) <= 2:
            kwargs = {**kwargs, "options": {**kwargs["options"], "maxiter": 1}}
        return real(*args, **kwargs)

    monkeypatch.setattr(solver, "minimize", stalling)
    _solve_to_the_analytic_optimum()
    assert len(calls) >= 3  # the two stalled starts, then at least one restart


def test_when_slsqp_fails_the_interior_point_fallback_reaches_the_optimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SLSQP can fail outright on a fitted MMM (its first step jumps to a corner where a
    channel with saturation slope < 1 has an unbounded marginal return; seen: the whole
    budget on one channel, "Inequality constraints incompatible"). Every SLSQP call is made
    to end in such a corner here; the plan must still be the analytic optimum."""
    from scipy.optimize import OptimizeResult

    from margin.optimize import solver

    real, methods = solver.minimize, []

    def failing(fun: object, x0: np.ndarray, **kwargs: object) -> object:
        methods.append(kwargs["method"])
        if kwargs["method"] == "SLSQP":
            corner = np.zeros_like(x0)
            corner[0] = x0.sum()
            return OptimizeResult(x=corner, message="Inequality constraints incompatible")
        return real(fun, x0, **kwargs)

    monkeypatch.setattr(solver, "minimize", failing)
    result = _solve_to_the_analytic_optimum()
    assert result.checks.solver_message.startswith("trust-constr")
    assert "trust-constr" in methods


def test_two_channels_with_carry_over_and_uncertainty_beat_a_fine_grid() -> None:
    model = _world(n_draws=40)
    two = replace(
        model, channels=model.channels[:2], history=model.history[:, :, :2],
        decay=model.decay[:, :2], max_lag=model.max_lag[:2],
        half_saturation=model.half_saturation[:, :, :2], slope=model.slope[:, :2],
        beta=model.beta[:, :, :2],
    )  # fmt: skip
    weeks, budget = 4, 1.6e6
    result = allocate(two, budget, weeks)
    grid = np.linspace(0.0, budget, 801)
    plan = current_plan(two, weeks)
    shape = plan / plan.sum(axis=(0, 1))
    tail = np.zeros((1, two.carryover_weeks, 2))
    values = [
        two.media_kpi(np.concatenate([shape * np.array([x, budget - x]), tail], axis=1))
        .sum(axis=(1, 2))
        .mean()
        for x in grid
    ]
    best = int(np.argmax(values))
    achieved = result.expected_kpi.mean  # no baseline in this model
    assert achieved >= values[best] * (1 - GRID_VALUE_RTOL)
    assert result.allocation[0].spend == pytest.approx(grid[best], abs=2 * (grid[1] - grid[0]))


def test_three_channels_with_s_curves_beat_a_simplex_grid() -> None:
    model = _hill_model([4e5, 3e5, 2e5], [1e5, 8e4, 5e4], slope=[2.0, 1.3, 0.8])
    budget = 3e5
    result = allocate(model, budget, 1)
    step = budget / 150
    points = (
        np.array([(i, j, 150 - i - j) for i in range(151) for j in range(151 - i)], dtype=float)
        * step
    )
    grid_model = _hill_model(
        [4e5, 3e5, 2e5], [1e5, 8e4, 5e4], n_draws=len(points), slope=[2.0, 1.3, 0.8]
    )
    values = grid_model.media_kpi(points[:, None, None, :]).sum(axis=(1, 2))
    assert result.expected_kpi.mean >= values.max() * (1 - GRID_VALUE_RTOL)
    got = np.array([a.spend for a in result.allocation])
    np.testing.assert_allclose(got, points[np.argmax(values)], atol=2 * step)


def test_invariants_on_a_simulated_world() -> None:
    model = _world()
    weeks = 13
    budget = _current_budget(model, weeks)
    result = allocate(model, budget, weeks)
    spends = np.array([a.spend for a in result.allocation])
    assert abs(spends.sum() - budget) <= BUDGET_RTOL * budget
    assert result.plan.sum() == pytest.approx(budget, rel=BUDGET_RTOL)
    assert np.all(result.plan >= 0)
    assert result.expected_kpi.mean >= result.current_kpi.mean
    assert result.expected_gain.mean > 0
    assert result.expected_gain.p05 <= result.expected_gain.mean <= result.expected_gain.p95
    assert 0.5 < result.p_beats_current <= 1.0
    assert result.checks.passed
    assert result.checks.marginal_spread <= MARGINAL_RTOL
    interior = [a for a in result.allocation if a.status == "interior"]
    assert len(interior) >= 2
    means = np.array([a.mroi.mean for a in interior])
    assert np.ptp(means) <= MARGINAL_RTOL * means.mean()
    assert not np.allclose(spends, budget / spends.size, rtol=0.05)  # not an equal split
    # the weekly shape of each channel follows the current plan's (flat) shape
    np.testing.assert_allclose(result.plan[:, 1:, :], result.plan[:, :-1, :], rtol=1e-12)


def test_equal_split_only_when_it_is_optimal() -> None:
    symmetric = _hill_model([3e5] * 3, [1e5] * 3, n_draws=3)
    result = allocate(symmetric, 3e5, 1)
    np.testing.assert_allclose([a.spend for a in result.allocation], 1e5, rtol=1e-6)
    asymmetric = allocate(_hill_model([3e5, 2e5, 1e5], [1e5] * 3), 3e5, 1)
    assert np.ptp([a.spend for a in asymmetric.allocation]) > 0.1 * 1e5


def test_bounds_locks_and_their_explanations() -> None:
    model = _world()
    weeks = 13
    budget = _current_budget(model, weeks)
    current = current_plan(model, weeks).sum(axis=(0, 1))
    constraints = Constraints(
        bounds={"search": (0.0, 0.5 * current[1])},
        relative_bounds={"display": (0.9, 1.1)},
        locked=("tv",),
    )
    result = allocate(model, budget, weeks, constraints=constraints)
    by_name = {a.channel: a for a in result.allocation}
    assert by_name["tv"].spend == pytest.approx(current[0], rel=1e-12)
    assert by_name["tv"].status == "locked"
    assert by_name["search"].spend <= 0.5 * current[1] * (1 + BOUND_RTOL)
    assert by_name["search"].status == "upper"
    assert by_name["search"].mroi.mean >= result.checks.multiplier * (1 - MARGINAL_RTOL)
    assert "upper bound" in by_name["search"].explanation
    assert (
        0.9 * current[3] * (1 - BOUND_RTOL)
        <= by_name["display"].spend
        <= 1.1 * current[3] * (1 + BOUND_RTOL)
    )
    assert sum(a.spend for a in result.allocation) == pytest.approx(budget, rel=BUDGET_RTOL)
    assert result.checks.passed


def test_minimum_spend_switches_a_channel_off_or_on_as_a_brute_force_says() -> None:
    model = _hill_model([4e5, 3e5, 1e5], [1e5, 8e4, 5e4])
    budget = 2e5
    free = allocate(model, budget, 1)
    weak = free.allocation[2].spend
    assert 0 < weak < 5e4
    result = allocate(model, budget, 1, constraints=Constraints(min_spend={"ch2": 5e4}))
    options = []
    for on in (False, True):
        bounds = {"ch2": (5e4, budget)} if on else {"ch2": (0.0, 0.0)}
        options.append(
            allocate(model, budget, 1, constraints=Constraints(bounds=bounds)).expected_kpi.mean
        )
    assert result.expected_kpi.mean == pytest.approx(max(options), rel=1e-9)
    if options[0] > options[1]:
        assert result.allocation[2].spend == 0.0
        assert result.allocation[2].status == "off"
    else:
        assert result.allocation[2].spend >= 5e4 * (1 - BOUND_RTOL)
    assert result.checks.passed


def test_risk_aware_objectives_each_win_on_their_own_measure() -> None:
    model = _world(spread=0.4)
    weeks = 13
    budget = _current_budget(model, weeks)
    plans = {
        risk: allocate(
            model, budget, weeks, objective=Objective(risk=risk, risk_aversion=2.0, cvar_alpha=0.1)
        )
        for risk in ("mean", "mean_sd", "cvar")
    }
    for risk, result in plans.items():
        assert result.checks.passed, risk
    kpi = {r: p.expected_kpi.mean for r, p in plans.items()}
    assert kpi["mean"] >= max(kpi["mean_sd"], kpi["cvar"])
    assert plans["cvar"].expected_kpi.p05 >= plans["mean"].expected_kpi.p05 * (1 - 1e-6)


def test_relative_risk_reads_each_draws_gain_over_the_reference() -> None:
    """``Objective(relative=True)``: the risk measure of (plan − reference) per draw. Its
    values are the plain values less the reference's in the same draw (an identity), and the
    plan it picks is the best on that measure among the plain one's and its own (both on
    the same draws), while the mean is untouched."""
    from margin.optimize.problem import build_problem
    from margin.optimize.solver import plan_values

    model = _world(spread=0.6)
    weeks = 13
    budget = _current_budget(model, weeks)
    plain = Objective(risk="mean_sd", risk_aversion=1.0)
    relative = Objective(risk="mean_sd", risk_aversion=1.0, relative=True)
    problem = build_problem(model, weeks, Constraints(), cap=budget)
    x = problem.current * 1.1
    reference = model.kpi_value * problem.kpi_draws(problem.current)
    np.testing.assert_allclose(
        plan_values(problem, x, relative), plan_values(problem, x, plain) - reference, rtol=1e-12
    )
    picked = {
        name: allocate(model, budget, weeks, objective=objective)
        for name, objective in (("plain", plain), ("relative", relative))
    }

    def gain_measure(result: AllocationResult) -> float:
        gain = plan_values(problem, result.plan.sum(axis=(0, 1)), relative)
        return float(gain.mean() - gain.std())

    assert picked["relative"].checks.passed
    assert gain_measure(picked["relative"]) >= gain_measure(picked["plain"]) - 1e-6 * budget


def test_profit_objective_stops_where_marginal_profit_is_zero() -> None:
    model = _world(n_draws=30)
    weeks = 13
    cap = 3 * _current_budget(model, weeks)
    margin = 0.6
    result = allocate(model, cap, weeks, objective=Objective(kind="profit", margin=margin))
    assert result.spend < cap
    for channel in result.allocation:
        if channel.status == "interior":
            assert margin * channel.mroi.mean == pytest.approx(1.0, rel=MARGINAL_RTOL)
    assert result.checks.passed
    kpi_plan = allocate(model, cap, weeks)
    profit = margin * result.expected_kpi.mean - result.spend
    assert profit >= margin * kpi_plan.expected_kpi.mean - kpi_plan.spend


def test_target_modes() -> None:
    model = _world(n_draws=30)
    weeks = 13
    budget = _current_budget(model, weeks)
    fixed = allocate(model, budget, weeks)
    least = allocate_target(model, weeks, max_budget=2 * budget, target_kpi=fixed.expected_kpi.mean)
    assert least.spend == pytest.approx(budget, rel=1e-3)
    assert least.expected_kpi.mean >= fixed.expected_kpi.mean * (1 - 1e-9)
    assert least.mode == "target_kpi"
    floor = 1.2
    roi = allocate_target(model, weeks, max_budget=5 * budget, min_roi=floor)
    assert roi.roi.mean == pytest.approx(floor, rel=1e-6)
    assert roi.checks.passed
    with pytest.raises(ConfigError, match="out of reach"):
        allocate_target(model, weeks, max_budget=budget, target_kpi=10 * fixed.expected_kpi.mean)
    with pytest.raises(ConfigError, match="exactly one"):
        allocate_target(model, weeks, max_budget=budget)


def test_geo_allocation_is_at_least_as_good_as_channel_allocation() -> None:
    model = _world(n_geos=3, n_draws=20)
    weeks = 6
    budget = _current_budget(model, weeks)
    national = allocate(model, budget, weeks)
    by_geo = allocate(model, budget, weeks, by_geo=True)
    assert by_geo.expected_kpi.mean >= national.expected_kpi.mean * (1 - 1e-9)
    assert by_geo.plan.sum() == pytest.approx(budget, rel=BUDGET_RTOL)
    assert by_geo.checks.passed
    capped = allocate(
        model,
        budget,
        weeks,
        by_geo=True,
        constraints=Constraints(relative_bounds={"tv": (0.0, 0.5)}),
    )
    tv = capped.plan[:, :, 0].sum()
    assert tv <= 0.5 * current_plan(model, weeks)[:, :, 0].sum() * (1 + BOUND_RTOL)
    assert capped.checks.passed


def test_geo_by_channel_allocation_reaches_the_analytic_optimum_across_unequal_geos() -> None:
    """Geo × channel units of very unequal size (the case the solver's per-unit scaling is
    for), one week, slope 1: the analytic optimum of a separable concave problem."""
    shares = np.array([0.6, 0.25, 0.1, 0.04, 0.01])
    beta_c, half_c = np.array([5e5, 2e5]), np.array([1e5, 4e4])
    beta, half = shares[:, None] * beta_c, shares[:, None] * half_c  # (geos, channels)
    model = ParametricResponse(
        channels=("tv", "search"), geos=tuple(f"g{g}" for g in range(5)), kpi_value=1.0,
        history=np.full((5, 13, 2), 100.0), decay=np.zeros((1, 2)), max_lag=(1, 1),
        half_saturation=half[None].copy(), slope=np.ones((1, 2)), beta=beta[None].copy(),
        noise_sd=np.ones((1, 5)),
    )  # fmt: skip
    budget = 1.2e5
    result = allocate(model, budget, 1, by_geo=True)
    expected = _analytic_optimum(beta.ravel(), half.ravel(), budget).reshape(5, 2)
    np.testing.assert_allclose(result.plan[:, 0, :], expected, atol=ORACLE_RTOL * budget)
    assert result.checks.passed
    assert not result.checks.solver_message.startswith("trust-constr")  # SLSQP got there


def test_plan_json_contract() -> None:
    model = _world(n_draws=20)
    result = allocate(model, _current_budget(model, 13), 13)
    payload = json.loads(json.dumps(result.to_json()))
    assert payload["weeks"] == 13
    assert set(payload["allocation"]) == set(model.channels)
    for entry in payload["allocation"].values():
        assert {"spend", "current_spend", "mroi"} <= set(entry)
        assert set(entry["mroi"]) == {"mean", "p05", "p95"}
    assert set(payload["expected_kpi"]) == set(payload["expected_gain"]) == {"mean", "p05", "p95"}
    assert 0 <= payload["p_beats_current"] <= 1
    assert payload["checks"]["passed"] is True
    assert "13 weeks" in payload["current_plan"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": -5.0}, "budget = -5.0"),
        (
            {"constraints": Constraints(bounds={"radio": (0, 1)})},
            r"unknown channel\(s\) \['radio'\]",
        ),
        ({"constraints": Constraints(bounds={"tv": (2.0, 1.0)})}, "0 <= low <= high"),
        (
            {
                "constraints": Constraints(
                    bounds=dict.fromkeys(("tv", "search", "social", "display", "video"), (0.0, 1e4))
                )
            },
            r"upper bounds sum to 50,000.00, below the budget .* by",
        ),
        (
            {"constraints": Constraints(bounds={"tv": (1e9, 2e9)})},
            r"channel 'tv': its bounds conflict \(low 1,000,000,000.00 > high 1,000,000.00",
        ),
        (
            {"constraints": Constraints(bounds={"tv": (6e5, 1e6), "search": (6e5, 1e6)})},
            r"lower bounds .* sum to 1,200,000.00, above the budget 1,000,000.00 by 200,000.00",
        ),
    ],
)
def test_bad_requests_get_clear_errors(kwargs: dict[str, object], message: str) -> None:
    model = _world(n_draws=5)
    args = {"budget": 1e6, **kwargs}
    with pytest.raises(ConfigError, match=message):
        allocate(model, args.pop("budget"), 13, **args)  # type: ignore[arg-type]


def test_bad_objectives_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"Objective\.risk = 'median'"):
        Objective(risk="median")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"Objective\.margin"):
        Objective(kind="profit", margin=1.5)


def test_projection_meets_the_budget_and_bounds_exactly() -> None:
    rng = np.random.default_rng(11)
    point = rng.normal(size=8) * 10
    low, high = np.zeros(8), np.full(8, 4.0)
    x = project_to_budget(point, low, high, 12.0)
    assert x.sum() == pytest.approx(12.0, rel=1e-14)
    assert np.all((x >= low) & (x <= high))


@pytest.mark.parametrize("risk", ["mean", "mean_sd", "cvar"])
def test_risk_weights_are_the_gradient_of_the_risk_value(risk: str) -> None:
    from margin.optimize.objective import risk_value, risk_weights

    objective = Objective(risk=risk, risk_aversion=1.5, cvar_alpha=0.25)  # type: ignore[arg-type]
    values = np.random.default_rng(8).normal(10.0, 2.0, 41)
    weights = risk_weights(values, objective)
    step = 1e-6
    for d in (0, 7, 20, 40):
        up, down = values.copy(), values.copy()
        up[d] += step
        down[d] -= step
        numeric = (risk_value(up, objective) - risk_value(down, objective)) / (2 * step)
        assert weights[d] == pytest.approx(numeric, abs=1e-6)
    assert weights.sum() == pytest.approx(1.0, rel=1e-12)
