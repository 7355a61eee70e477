"""What learning one channel's return would be worth to a plan: value of information.

A plan is chosen for the expected value ``E[v(plan, θ)]`` over the posterior draws ``θ``
(currency: ``kpi_value · KPI``, or profit). The posterior is unsure of each channel's
return, and a lift test on channel ``c`` would tell the plan, roughly, that channel's
marginal return around current spend, ``m_c(θ)``. Were ``m_c`` known, the plan could be
chosen for it; what that is worth on average is the expected value of partial perfect
information (EVPPI; Ades, Lu and Claxton, *Medical Decision Making* 24(2), 2004)::

    EVPPI_c = E_{m_c}[ max_plan E[v | m_c] ] − max_plan E[v]   (>= 0)

It bounds what a test of ``c``'s return can add to this decision (a real test measures
with error, and adds less), in currency over the plan's
horizon and carry-over tail: a channel with a wide interval but no bearing on the plan
is worth nothing to learn; a narrow interval on the channel the plan leans on can be
worth a lot.

Estimate (:func:`value_of_information`): sort the draws by ``m_c`` (marginal ROI at the
current plan, as the plan's proof computes it), split them into :data:`GROUPS` groups of
equal size, plan again on each group's draws (same budget, bounds, locks and objective,
same current plan), and average over groups what each group's plan adds on that group's
draws to the recommended plan (never below zero: a group could keep the recommended
plan). This is the binning estimator of Sadatsafavi et al. (*Value in Health* 16(2),
2013). It has two biases:

- **Too little**: knowing ``m_c`` to one of :data:`GROUPS` ranges is less than knowing it
  exactly (where the draws fall in :data:`GROUPS` distinct values the estimate is exact:
  ``tests/test_optimize_information.py`` checks it against a scalar optimum).
- **Too much**: a group's plan is fitted to that group's draws, and a few hundred draws
  differ from the posterior by chance in every channel, so re-planning finds a gain even
  where there is nothing to learn. The **noise floor** measures it: the same estimate with
  the draws split into groups at random (:data:`FLOOR_SEED`), where learning the group
  teaches nothing. A channel's value counts only when its 90% interval lies above the
  floor's (:attr:`ChannelInformation.above_floor`).

**A planned test's value (EVSI).** A test reads ``m_c`` with an error: given its
standard error ``se`` (ROI units; ``margin experiment design --budget`` gives it, as
``Design.roi_se``, from the minimum detectable ROI), each draw's world would
show ``y = m_c + se · ε`` (:data:`TEST_SEED`), and the same estimate with the draws
grouped by ``y`` instead of ``m_c`` is the expected value of that test's sample
information (the regression-on-a-summary idea of Strong et al., *Medical Decision
Making* 35(5), 2015, with bins for the regression). It is at most the EVPPI, equal to it
as ``se`` → 0 and down to the noise floor as ``se`` grows. A test measures the return
over its own spend change, not exactly the marginal return at current spend: the value
is for what the plan needs to know, read as well as that test reads it. A test given as
a design (:class:`~margin.optimize.planned_test.PlannedTest`, from ``design.json``) is
read as the model says that test would read, in its geos and weeks from its own spend
change (:func:`~margin.optimize.planned_test.reads_per_draw`), instead of ``m_c``.

Intervals are the Monte Carlo error of the average over draws (a bootstrap over draws,
:data:`BOOTSTRAP` resamples, with the group plans held fixed), not posterior intervals:
the value of information is an expectation over the posterior, one number whose estimate
has an error.

Only budget plans with the posterior-mean objective (``risk="mean"``) have this value;
target modes and risk measures are refused with a clear error.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from margin.checks import match_keys
from margin.errors import ConfigError
from margin.limits import MAX_TEST_SE
from margin.optimize.allocate import allocate
from margin.optimize.objective import Objective
from margin.optimize.planned_test import PlannedTest, check_planned_test, reads_per_draw
from margin.optimize.problem import Problem, build_problem
from margin.optimize.proof import channel_mroi
from margin.optimize.request import PlanRequest
from margin.optimize.results import AllocationResult, Interval
from margin.optimize.solver import plan_values
from margin.protocols import ResponseModel
from margin.types import FloatArray, quantiles

__all__ = [
    "BOOTSTRAP",
    "FLOOR_SEED",
    "GROUPS",
    "TEST_SEED",
    "ChannelInformation",
    "InformationValue",
    "check_request",
    "check_test_se",
    "check_tests",
    "parse_test_se",
    "value_of_information",
]

GROUPS = 4
"""Groups of draws per channel (each is re-planned on ``n_draws / GROUPS`` draws)."""
FLOOR_SEED = 0x5EED
"""Seed of the random grouping behind the noise floor and of the bootstrap."""
TEST_SEED = 0x7E57
"""Seed of the simulated test readings behind the value of a planned test (EVSI)."""
BOOTSTRAP = 1000
"""Bootstrap resamples of the per-draw differences behind each value's interval."""

TIES = 1e-9
"""Marginal returns closer than this share of their largest count as equal when sorting."""

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ChannelInformation:
    """What learning one channel's marginal return would be worth to the plan.

    Attributes:
        channel: the channel.
        value: EVPPI in currency over the horizon and carry-over tail (mean and 90%
            Monte Carlo interval).
        above_floor: the value's interval lies above the noise floor's.
        group_mroi: per group of draws (lowest marginal return first), the channel's mean
            marginal ROI at the current plan.
        group_spend: per group, what that group's plan would spend on the channel (total
            over the horizon): how the decision turns on what a test would find.
        test_se, test_value, test_above_floor: when a planned test's standard error was
            given (ROI units), the expected value of that test's information (EVSI) and
            whether it lies above the noise floor; ``None`` otherwise.
        test: the planned test, when it was given as a design; ``test_read`` then holds
            the ROI it would read, as the posterior predicts it before the test's noise
            (mean and 90% interval over draws).
    """

    channel: str
    value: Interval
    above_floor: bool
    group_mroi: tuple[float, ...]
    group_spend: tuple[float, ...]
    test_se: float | None = None
    test_value: Interval | None = None
    test_above_floor: bool | None = None
    test: PlannedTest | None = None
    test_read: Interval | None = None

    @property
    def test_note(self) -> str | None:
        """For a test given as a design, one sentence: the test, the ROI the model expects
        it to read, and its worth to the plan beside knowing the return exactly (what the
        CLI prints and the dashboard and report show)."""
        t, read, worth = self.test, self.test_read, self.test_value
        if t is None or read is None or worth is None:
            return None
        change = f"+{t.spend or 0:,.0f}" if t.kind == "heavy_up" else "switched off"
        return (
            f"planned test {t.design_id or ''} ({t.channel} {t.kind.replace('_', '-')}, {change} "
            f"in {', '.join(t.geos)} for {t.weeks} week(s)): the model expects it to read ROI "
            f"{read.mean:.2f} [{read.p05:.2f}, {read.p95:.2f}], measured with standard error "
            f"{t.se:.2g}; worth {worth.mean:,.0f} [{worth.p05:,.0f}, {worth.p95:,.0f}] to this "
            f"plan (knowing {t.channel}'s return exactly: {self.value.mean:,.0f})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value.to_json(),
            "above_floor": self.above_floor,
            "group_mroi": list(self.group_mroi),
            "group_spend": list(self.group_spend),
            "test_se": self.test_se,
            "test_value": None if self.test_value is None else self.test_value.to_json(),
            "test_above_floor": self.test_above_floor,
            "test_design": None if self.test is None else self.test.to_json(),
            "test_read": None if self.test_read is None else self.test_read.to_json(),
            "test_note": self.test_note,
        }


@dataclass(frozen=True)
class InformationValue:
    """Per channel, the value of learning its return (highest first), and the noise floor."""

    channels: tuple[ChannelInformation, ...]
    noise_floor: Interval
    groups: int
    draws: int
    weeks: int
    unit: str

    @property
    def best(self) -> ChannelInformation | None:
        """The most valuable channel to learn, if any is above the noise floor."""
        above = [c for c in self.channels if c.above_floor]
        return above[0] if above else None

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {
            "channels": {c.channel: c.to_json() for c in self.channels},
            "noise_floor": self.noise_floor.to_json(),
            "best": None if best is None else best.channel,
            "groups": self.groups,
            "draws": self.draws,
            "weeks": self.weeks,
            "unit": self.unit,
            "note": (
                "value: expected value of learning each channel's marginal return exactly, "
                "for this plan (EVPPI, binning estimate); test_value: the same for a test "
                "reading it with standard error test_se (EVSI); currency over the horizon "
                "and carry-over tail; intervals are Monte Carlo error; values whose interval "
                "is not above the noise floor (draws grouped at random) cannot be told from "
                "zero"
            ),
        }


def _values(problem: Problem, plan: FloatArray, objective: Objective, by_geo: bool) -> FloatArray:
    """``(n_draws,)`` value of ``plan`` (geos, weeks, channels) in currency, as the solver
    values it (:func:`~margin.optimize.solver.plan_values`; the baseline is left out: it
    is the same under every plan)."""
    totals = plan.sum(axis=1).ravel() if by_geo else plan.sum(axis=(0, 1))
    return plan_values(problem, totals, objective)


def check_request(model: ResponseModel, request: PlanRequest, groups: int = GROUPS) -> None:
    """Refuse, before any planning, a request whose value of information is not defined.

    Raises:
        ConfigError: a target mode, a risk measure, a bad ``groups`` or too few draws.
    """
    if request.mode != "budget":
        raise ConfigError(
            f"value of information is computed for budget plans; this request is in "
            f"{request.mode} mode. Drop --target-kpi/--min-roi to get it."
        )
    if request.risk != "mean":
        raise ConfigError(
            f"value of information is an expectation; the plan uses risk measure "
            f"{request.risk!r}. Use --risk mean to get it."
        )
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 2:
        raise ConfigError(f"groups = {groups!r}; expected a whole number >= 2")
    if model.n_draws < 25 * groups:
        raise ConfigError(
            f"value of information needs at least {25 * groups} posterior draws for "
            f"{groups} groups; the model has {model.n_draws}. Raise --max-draws."
        )


def _group_value(
    base: FloatArray, values: list[FloatArray], groups: list[np.ndarray[Any, Any]]
) -> FloatArray:
    """``(n_draws,)`` per-draw gain of each group's better plan over the recommended one."""
    gain = np.zeros_like(base)
    for idx, value in zip(groups, values, strict=True):
        better = value[idx] - base[idx]
        if better.mean() > 0:
            gain[idx] = better
    return gain


def _order(mroi: FloatArray) -> np.ndarray[Any, Any]:
    """Draws from lowest marginal return to highest; returns within :data:`TIES` of
    their scale count as equal (a finite difference carries rounding from the other
    channels' KPI, which would otherwise sort a channel the draws agree on by them)."""
    scale = float(np.max(np.abs(mroi))) or 1.0
    return np.argsort(np.round(mroi / scale / TIES) * TIES, kind="stable")


def _bootstrap(gain: FloatArray, rng: np.random.Generator) -> Interval:
    picks = rng.integers(0, gain.size, size=(BOOTSTRAP, gain.size))
    means = gain[picks].mean(axis=1)
    low, high = quantiles(means, axis=None)
    return Interval(float(gain.mean()), float(low), float(high))


def parse_test_se(text: str) -> tuple[str, float]:
    """``"tv=0.3"`` → ``("tv", 0.3)``: a planned test's standard error in ROI units."""
    name, sep, value = text.partition("=")
    try:
        if not (sep and name.strip()):
            raise ValueError(text)
        se = float(value)
    except ValueError as err:
        raise ConfigError(
            f"cannot read the test standard error {text!r}; write CHANNEL=SE with SE > 0 in "
            f"ROI units, e.g. tv=0.3 ({_SE_SOURCE})"
        ) from err
    _check_se(f"test standard error {text!r}", se)
    return name.strip(), se


_SE_SOURCE = "margin experiment design --budget B prints it for a designed test"


def _check_se(what: str, se: object) -> None:
    """Refuse a standard error that is not a number, not > 0 or above ``MAX_TEST_SE``."""
    accepted = f"expected a number > 0 and at most {MAX_TEST_SE:.0e} in ROI units ({_SE_SOURCE})"
    if isinstance(se, bool) or not isinstance(se, int | float) or math.isnan(se):
        raise ConfigError(f"{what} is not a number; {accepted}")
    if se > MAX_TEST_SE:
        raise ConfigError(f"{what} is too large (a test that noisy teaches nothing); {accepted}")
    if not se > 0:
        raise ConfigError(f"{what} is not positive; {accepted}")


def check_test_se(model: ResponseModel, test_se: Mapping[str, float]) -> dict[int, float]:
    """Channel index → standard error of each planned test, checked against ``model``.

    Raises:
        ConfigError: an unknown channel, or a standard error that is not a number > 0.
    """
    test_se = match_keys(test_se, model.channels, where="test standard error")
    for name, se in test_se.items():
        _check_se(f"test standard error of {name} = {se!r}", se)
    return {model.channels.index(name): float(se) for name, se in test_se.items()}


def check_tests(
    model: ResponseModel, test_se: Mapping[str, float], tests: Sequence[PlannedTest]
) -> dict[int, PlannedTest | float]:
    """Channel index → its planned test (a design) or a test's standard error, checked.

    Raises:
        ConfigError: as :func:`check_test_se`; a design with an unknown channel or geo or
            on a one-series model; two tests of one channel.
    """
    out: dict[int, PlannedTest | float] = dict(check_test_se(model, test_se))
    for test in tests:
        c, _ = check_planned_test(model, test)
        if c in out:
            raise ConfigError(
                f"two planned tests of {test.channel}; value one per channel at a time"
            )
        out[c] = test
    return out


def _check_known(
    known: InformationValue, model: ResponseModel, result: AllocationResult, groups: int
) -> None:
    """``known`` must be an answer for this model's draws, channels, horizon and groups."""
    same = (
        known.draws == model.n_draws
        and known.weeks == result.weeks
        and known.groups == groups
        and sorted(c.channel for c in known.channels) == sorted(model.channels)
    )
    if not same:
        raise ConfigError(
            f"the earlier value of information ({known.draws} draws, {known.weeks} weeks, "
            f"{known.groups} groups, channels {sorted(c.channel for c in known.channels)}) "
            f"is not for this plan ({model.n_draws} draws, {result.weeks} weeks, {groups} "
            f"groups, channels {sorted(model.channels)}); value the tests without it"
        )


def value_of_information(
    model: ResponseModel,
    result: AllocationResult,
    request: PlanRequest,
    *,
    groups: int = GROUPS,
    test_se: Mapping[str, float] | None = None,
    tests: Sequence[PlannedTest] = (),
    known: InformationValue | None = None,
    progress: Progress | None = None,
) -> InformationValue:
    """Per channel, the expected value of learning its return for this plan (module docstring).

    Args:
        model: the model the plan was made with.
        result: the recommended plan (:func:`~margin.optimize.request.plan`).
        request: the request it answers (budget mode, ``risk="mean"``).
        groups: groups of draws per channel (>= 2; each needs >= 25 draws).
        test_se: channel → standard error (ROI units) of a planned test's estimate of its
            return: those channels also get the value of that test (EVSI, below).
        tests: planned tests given as designs (geo models): their channels get the value
            of the test read as the model says it would read (at most one test per
            channel, counting ``test_se``).
        known: this function's earlier answer for the same model, plan and ``groups``:
            its channels' values and noise floor are kept and only the tests are valued
            (their re-plans alone; the tests' Monte Carlo intervals then come from another
            bootstrap stream than in one call, their means are the same).
        progress: called with (done, total) after each re-plan.

    Raises:
        ConfigError: a target mode, a risk measure, too few draws, a bad ``groups``, a
            bad ``test_se``, a test the model cannot place, or a ``known`` answer for
            another plan.
    """
    check_request(model, request, groups)
    planned = check_tests(model, test_se or {}, tests)
    if known is not None:
        _check_known(known, model, result, groups)
    objective = request.to_objective()
    constraints = request.to_constraints()
    problem = build_problem(
        model, result.weeks, constraints, cap=result.budget, by_geo=request.by_geo,
        reference=result.current_plan,
    )  # fmt: skip
    mroi = channel_mroi(problem, problem.current, result.budget)  # (n_draws, n_channels)
    base = _values(problem, result.plan, objective, request.by_geo)
    rng = np.random.default_rng(FLOOR_SEED)
    n_channels = len(model.channels)
    orders = []
    if known is None:  # each channel's value, and the noise floor (groups at random)
        orders = [_order(mroi[:, c]) for c in range(n_channels)]
        orders.append(rng.permutation(model.n_draws))
    noise = np.random.default_rng(TEST_SEED).standard_normal((model.n_draws, n_channels))
    tested = sorted(planned)
    reads: dict[int, FloatArray] = {}
    for c in tested:  # what the test would read in each draw's world
        given = planned[c]
        if isinstance(given, PlannedTest):
            reads[c] = reads_per_draw(model, result.current_plan, given)
            se = given.se
        else:
            reads[c], se = mroi[:, c], given
        orders.append(np.argsort(reads[c] + se * noise[:, c], kind="stable"))
    total, done = len(orders) * groups, 0
    gains, spends = [], []
    for order in orders:
        split = np.array_split(order, groups)
        values, spend = [], []
        for idx in split:
            replanned = allocate(
                model.take_draws(idx), result.budget, result.weeks, objective=objective,
                constraints=constraints, by_geo=request.by_geo, reference=result.current_plan,
            )  # fmt: skip
            values.append(_values(problem, replanned.plan, objective, request.by_geo))
            spend.append(replanned.plan.sum(axis=(0, 1)))
            done += 1
            if progress is not None:
                progress(done, total)
        gains.append(_group_value(base, values, split))
        spends.append((split, spend))
    first = 0 if known is not None else n_channels + 1  # where the tests' gains start
    floor = known.noise_floor if known is not None else _bootstrap(gains[n_channels], rng)
    test_values = {c: _bootstrap(gains[first + k], rng) for k, c in enumerate(tested)}
    earlier = {c.channel: c for c in known.channels} if known is not None else {}
    out = []
    for c, name in enumerate(model.channels):
        if known is None:
            value = _bootstrap(gains[c], rng)
            split, spend = spends[c]
            entry = ChannelInformation(
                channel=name,
                value=value,
                above_floor=value.p05 > floor.p95,
                group_mroi=tuple(float(mroi[idx, c].mean()) for idx in split),
                group_spend=tuple(float(s[c]) for s in spend),
            )
        else:
            entry = earlier[name]
        tested_value = test_values.get(c)
        test = planned.get(c)
        design, test_se_c = (test, test.se) if isinstance(test, PlannedTest) else (None, test)
        out.append(
            dataclasses.replace(
                entry,
                test_se=test_se_c,
                test_value=tested_value,
                test_above_floor=None if tested_value is None else tested_value.p05 > floor.p95,
                test=design,
                test_read=None if design is None else Interval.of(reads[c]),
            )
        )
    out.sort(key=lambda item: -item.value.mean)
    return InformationValue(
        channels=tuple(out),
        noise_floor=floor,
        groups=groups,
        draws=model.n_draws,
        weeks=result.weeks,
        unit="profit (currency)" if objective.kind == "profit" else "KPI value (currency)",
    )
