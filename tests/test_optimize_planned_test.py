"""A planned geo test as the model sees it (``margin.optimize.planned_test``), and its value.

The read of a test is checked against the simulator's own media response run on explicit
spend arrays (history, then the current plan with and without the test's change): a
second implementation of adstock, saturation and carry-over, independent of the
optimizer's model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from margin.data.simulator import WorldParams, simulate_world
from margin.data.simulator.media import media_effects
from margin.data.simulator.response import parametric_from_world
from margin.errors import ConfigError
from margin.optimize import ParametricResponse, PlanRequest, plan
from margin.optimize.information import value_of_information
from margin.optimize.planned_test import PlannedTest, read_design, reads_per_draw
from margin.optimize.problem import current_plan

WORLD_SEED = 4
FLOAT_RTOL = 1e-9


@pytest.fixture(scope="module")
def world_model() -> tuple[WorldParams, ParametricResponse]:
    params = WorldParams(n_geos=4, n_weeks=40, n_users=100)
    world = simulate_world(params, seed=WORLD_SEED)
    history = world.marketing_data().spend
    return params, parametric_from_world(params, history, n_draws=2, spread=0.0, seed=0)


def oracle_read(
    params: WorldParams, model: ParametricResponse, test: PlannedTest, delta: np.ndarray
) -> float:
    """ROI the test reads, from the simulator's ``media_effects`` on the whole timeline."""
    c = model.channels.index(test.channel)
    weekly = model.history[:, -13:, :].mean(axis=1)
    future = np.repeat(weekly[:, None, :], delta.shape[1], axis=1)
    before = np.concatenate([model.history, future], axis=1)
    after = np.concatenate([model.history, future + delta], axis=1)
    n_history = model.history.shape[1]
    lift = media_effects(after, params) - media_effects(before, params)
    assert np.allclose(np.delete(lift, c, axis=2), 0.0)  # only the tested channel moves
    return float(lift[:, n_history:, c].sum() * params.kpi_value / delta.sum())


@pytest.mark.parametrize("kind", ["heavy_up", "go_dark"])
def test_a_tests_read_is_the_simulators_counterfactual(
    world_model: tuple[WorldParams, ParametricResponse], kind: str
) -> None:
    params, model = world_model
    geos = model.geos[1:3]
    test = PlannedTest(channel="tv", se=0.2, geos=geos, weeks=3, kind=kind,
                       spend=300_000.0 if kind == "heavy_up" else None)  # fmt: skip
    current = current_plan(model, 13)
    reads = reads_per_draw(model, current, test)
    assert reads.shape == (model.n_draws,)
    # the change, built by hand: a heavy-up spreads its spend over the treated geos in
    # proportion to their TV spend, evenly over the weeks; a go-dark removes their TV
    weekly = current.mean(axis=1)
    c, treated = model.channels.index("tv"), [1, 2]
    delta = np.zeros((len(model.geos), 3 + model.carryover_weeks, len(model.channels)))
    if kind == "heavy_up":
        share = weekly[treated, c] / weekly[treated, c].sum()
        delta[treated, :3, c] = (300_000.0 * share / 3)[:, None]
        assert delta.sum() == pytest.approx(300_000.0)
    else:
        delta[treated, :3, c] = -weekly[treated, c][:, None]
    expected = oracle_read(params, model, test, delta)
    assert expected > 0  # TV pays: more spend, more KPI; less spend, less KPI
    np.testing.assert_allclose(reads, expected, rtol=FLOAT_RTOL)


def two_geo_model(n_draws: int = 200) -> ParametricResponse:
    """Channel a's saturation level is high in half the draws and low in the other half
    (interleaved); channel b is known. Two geos, no carry-over."""
    level = np.where(np.arange(n_draws) % 2 == 0, 900.0, 150.0)
    beta = np.stack([level, np.full(n_draws, 400.0)], axis=1)[:, None, :] / 2
    return ParametricResponse(
        channels=("a", "b"), geos=("east", "west"), kpi_value=1.0,
        history=np.full((2, 13, 2), 50.0), decay=np.zeros((n_draws, 2)), max_lag=(1, 1),
        half_saturation=np.full((n_draws, 2, 2), 75.0), slope=np.ones((n_draws, 2)),
        beta=np.broadcast_to(beta, (n_draws, 2, 2)).copy(), noise_sd=np.ones((n_draws, 2)),
    )  # fmt: skip


def test_a_precise_designed_test_is_worth_the_evppi_and_a_blind_one_nothing() -> None:
    """Where the test's read separates the draws as the channel's marginal return does
    (a's two levels), a precise test is worth the EVPPI exactly; a test whose standard
    error swamps the read is worth about nothing; and the read says what the model
    expects the test to find."""
    model = two_geo_model()
    request = PlanRequest(weeks=13)
    result = plan(model, request)
    values = {}
    for se in (1e-9, 1e3):
        test = PlannedTest(channel="a", se=se, geos=("east",), weeks=2, spend=500.0)
        info = value_of_information(model, result, request, groups=2, tests=[test])
        a = {c.channel: c for c in info.channels}["a"]
        assert a.test is test
        assert a.test_se == se
        assert a.test_value is not None
        assert a.test_read is not None
        values[se] = (a.value.mean, a.test_value.mean)
    (evppi, precise), (_, blind) = values[1e-9], values[1e3]
    assert evppi > 1.0
    assert precise == pytest.approx(evppi, rel=1e-9)
    assert blind < 0.05 * evppi
    reads = reads_per_draw(model, result.current_plan, test)
    assert reads[0] > reads[1]  # the high-level draws read a higher ROI
    assert a.test_read.mean == pytest.approx(reads.mean())
    document = a.to_json()
    assert document["test_design"]["geos"] == ["east"]
    assert document["test_read"]["p05"] <= document["test_read"]["p95"]


def test_tests_valued_on_an_earlier_answer_equal_one_call_and_replan_only_the_tests() -> None:
    """``known=``: the channels' values and the noise floor are the earlier answer's, the
    test's value has the same mean as in one call (the same re-plans), only the test's
    groups are re-planned, and an answer for another plan is refused."""
    model = two_geo_model()
    request = PlanRequest(weeks=13)
    result = plan(model, request)
    test = PlannedTest(channel="a", se=0.05, geos=("east",), weeks=2, spend=500.0)
    joint = value_of_information(model, result, request, groups=2, tests=[test])
    earlier = value_of_information(model, result, request, groups=2)
    steps: list[tuple[int, int]] = []
    later = value_of_information(
        model, result, request, groups=2, tests=[test], known=earlier,
        progress=lambda done, total: steps.append((done, total)),
    )  # fmt: skip
    assert steps[-1] == (2, 2)  # one test × two groups; no channel or floor re-plans
    assert later.noise_floor == earlier.noise_floor
    for mine, theirs, once in zip(later.channels, earlier.channels, joint.channels, strict=True):
        assert (mine.channel, mine.value, mine.group_spend) == (
            theirs.channel, theirs.value, theirs.group_spend,
        )  # fmt: skip
        assert (mine.test_value is None) == (once.test_value is None)
        if once.test_value is not None and mine.test_value is not None:
            assert mine.test_value.mean == pytest.approx(once.test_value.mean, rel=FLOAT_RTOL)
            assert mine.test_read == once.test_read
    shorter = plan(model, PlanRequest(weeks=8))
    with pytest.raises(ConfigError, match="is not for this plan"):
        value_of_information(model, shorter, PlanRequest(weeks=8), groups=2, tests=[test],
                             known=earlier)  # fmt: skip


def design_document(**changes: object) -> dict[str, object]:
    design: dict[str, object] = {
        "design_id": "abc123", "channel": "a", "kind": "heavy_up",
        "treatment_geos": ["east"], "length_periods": 10, "grain_days": 1,
        "constraints": {"budget": 500.0}, "roi_se": 0.3,
    }  # fmt: skip
    design.update(changes)
    return design


def test_a_design_file_becomes_a_planned_test(tmp_path: Path) -> None:
    path = tmp_path / "design.json"
    path.write_text(json.dumps(design_document()), encoding="utf-8")
    test = read_design(path)
    assert test == PlannedTest(channel="a", se=0.3, geos=("east",), weeks=2, kind="heavy_up",
                               spend=500.0, design_id="abc123")  # fmt: skip


@pytest.mark.parametrize(
    ("design", "message"),
    [
        (design_document(roi_se=None), "design it with --budget"),
        (design_document(constraints={"budget": None}), "a heavy-up needs its added spend"),
        ({"channel": "a"}, "not a test design"),
        (design_document(kind="pulse"), "kind 'pulse'"),
        (design_document(treatment_geos=[]), "no treatment geos"),
    ],
)
def test_bad_designs_are_refused(tmp_path: Path, design: dict[str, object], message: str) -> None:
    path = tmp_path / "design.json"
    path.write_text(json.dumps(design), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_design(path)


def test_unreadable_design_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such design file"):
        read_design(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.json: cannot read it as JSON"):
        read_design(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("test", "test_se", "message"),
    [
        (PlannedTest("radio", 0.3, ("east",), 2, spend=1.0), {}, "channel 'radio'"),
        (PlannedTest("a", 0.3, ("north",), 2, spend=1.0), {}, "geo(s) ['north']"),
        (PlannedTest("a", 0.3, ("east",), 2, spend=1.0), {"a": 0.2}, "two planned tests of a"),
    ],
)
def test_tests_the_model_cannot_place_are_refused(
    test: PlannedTest, test_se: dict[str, float], message: str
) -> None:
    model = two_geo_model()
    result = plan(model, PlanRequest(weeks=13))
    with pytest.raises(ConfigError, match=re.escape(message)):
        value_of_information(model, result, PlanRequest(weeks=13), groups=2,
                             test_se=test_se, tests=[test])  # fmt: skip


def test_a_one_series_model_cannot_take_a_geo_test() -> None:
    from test_optimize_information import model as national_model

    model = national_model()
    result = plan(model, PlanRequest(weeks=13))
    test = PlannedTest("a", 0.3, ("national",), 2, spend=100.0)
    with pytest.raises(ConfigError, match="fitted on one series"):
        value_of_information(model, result, PlanRequest(weeks=13), groups=2, tests=[test])
