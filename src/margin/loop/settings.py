"""The loop's settings: the policy, the cycle, the guardrails, the tests and the fit.

A loop keeps the settings it was started with (``loop.json``); a later run on the same
world must give the same ones (:meth:`LoopSettings.differences` names those that differ).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from margin.errors import ConfigError
from margin.mmm.settings import PARAMETERS as FIT_PARAMETERS
from margin.mmm.settings import Inference, inference_for
from margin.params import Constraint, check_params

__all__ = ["MMM_POLICIES", "POLICIES", "TEST_KINDS", "LoopSettings"]

POLICIES = ("margin", "mmm-only", "status-quo", "last-touch", "markov", "oracle")
"""``margin``: fit, plan with guardrails, test; ``mmm-only``: the same without tests;
``status-quo``: repeat the status quo; ``last-touch``/``markov``: re-allocate in proportion
to attributed ROAS; ``oracle``: plan on the world's true score (benchmarks only)."""
TEST_KINDS = ("heavy_up", "go_dark", "either")
"""``heavy_up``: add spend in the test geos (it reads the return of more spend, what a
re-allocation needs); ``go_dark``: switch the channel off there (cheaper, but it reads the
channel's average return); ``either``: design both, run the one whose worth exceeds its
cost by more."""
MMM_POLICIES = ("margin", "mmm-only")
"""Policies that fit the MMM each cycle."""

PARAMETERS: dict[str, Constraint] = {
    "policy": Constraint.one_of(*POLICIES),
    "weeks": Constraint("integer", low=4, high=104, fix="a cycle is 4 to 104 weeks"),
    "max_change": Constraint("number", low=0.01, high=10.0),
    "min_share": Constraint.number(0.0, 1.0),
    "max_loss": Constraint("number", low=0.0),
    "max_loss_share": Constraint.number(0.0, 1.0),
    "budget": Constraint("number", low=1.0, high=1e15, fix="the spend over one cycle, currency"),
    "test_share": Constraint.number(0.0, 0.5),
    "max_tests": Constraint("integer", low=0, high=10),
    "test_kind": Constraint.one_of(*TEST_KINDS),
    "test_horizon": Constraint("integer", low=1, high=52, fix="cycles a test's read informs"),
    "test_candidates": Constraint("integer", low=1, high=200),
    "seed": Constraint("integer", low=0),
    "score": Constraint("boolean"),
    "risk": Constraint.one_of("mean", "mean_sd", "cvar"),
    "risk_aversion": Constraint("number", low=0.0, high=100.0),
    **{k: v for k, v in FIT_PARAMETERS.items() if k in ("method", "chains", "draws", "warmup")},
    "approximate_steps": FIT_PARAMETERS.get("approximate_steps", Constraint.integer(1)),
}


@dataclass(frozen=True)
class LoopSettings:
    """How the loop runs each cycle (validated on construction).

    Attributes:
        policy: one of :data:`POLICIES`.
        weeks: weeks per cycle.
        max_change: the most a channel's cycle total moves from the previous cycle's
            (a share: 0.25 = ±25%).
        min_share: a channel never gets less than this share of its status-quo spend.
        max_loss: the gain interval's p05 (vs the status quo, currency over the cycle and
            its carry-over) must be at least ``-max_loss``; ``None``: ``max_loss_share`` of
            the status quo's expected media contribution over the cycle.
        budget: spend over a cycle (currency); ``None``: the status quo's.
        test_share: the tests of a cycle add at most this share of the cycle budget.
        max_tests: the most tests running at once.
        test_kind: the tests designed (:data:`TEST_KINDS`).
        test_horizon: the cycles whose plans a test's read informs: a test runs only when
            its value of sample information to a plan, times this, exceeds its expected
            net cost (the spend it adds less what that spend returns, by the model).
        test_candidates: candidate treated sets each test design simulates.
        method, chains, draws, warmup, approximate_steps: the MMM fit
            (:func:`margin.mmm.settings.inference_for`); default the approximate fit,
            1 chain × 500 draws.
        seed: the fit's seed (the world has its own).
        score: ask the world's ``score`` for the true value of each cycle's plans
            (benchmarks; never used to decide, except by the ``oracle`` policy).
        risk, risk_aversion: what the MMM's plan maximises over the posterior draws:
            ``"mean"``, ``"mean_sd"`` (mean − ``risk_aversion`` · sd: money moves into a
            channel only as far as the evidence on it carries) or ``"cvar"`` (the worst
            10% of draws); the tests are valued on the mean optimum either way.
    """

    policy: str = "margin"
    weeks: int = 13
    max_change: float = 0.25
    min_share: float = 0.1
    max_loss: float | None = None
    max_loss_share: float = 0.01
    budget: float | None = None
    test_share: float = 0.1
    max_tests: int = 1
    test_kind: str = "heavy_up"
    test_horizon: int = 4
    test_candidates: int = 8
    method: str = "approximate"
    chains: int = 1
    draws: int = 500
    warmup: int = 1000
    approximate_steps: int = 2000
    seed: int = 0
    score: bool = False
    risk: str = "mean_sd"
    risk_aversion: float = 1.0

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        check_params(
            {k: v for k, v in values.items() if v is not None}, PARAMETERS, owner="loop setting "
        )
        if self.draws * self.chains < 100 and self.policy == "margin":
            raise ConfigError(
                f"loop setting draws: {self.chains} chain(s) × {self.draws} draws; the value of "
                "information behind the tests needs at least 100 draws in all"
            )

    @property
    def inference(self) -> Inference:
        """The MMM fit's settings."""
        return inference_for(
            self.method, chains=self.chains, draws=self.draws, warmup=self.warmup,
            approximate_steps=self.approximate_steps,
        )  # fmt: skip

    @property
    def fits(self) -> bool:
        """The policy fits the MMM each cycle."""
        return self.policy in MMM_POLICIES

    @property
    def tests(self) -> bool:
        """The policy schedules lift tests."""
        return self.policy == "margin" and self.max_tests > 0 and self.test_share > 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Any, source: str) -> LoopSettings:
        """Settings from :meth:`to_json`'s form (``source`` names it in errors)."""
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) - names:
            extra = sorted(set(raw) - names) if isinstance(raw, dict) else raw
            raise ConfigError(f"{source}: unknown loop settings {extra}; expected {sorted(names)}")
        return cls(**raw)

    def differences(self, other: LoopSettings) -> list[str]:
        """``name: mine vs theirs`` for each setting that differs."""
        return [
            f"{f.name}={getattr(other, f.name)!r} (asked: {getattr(self, f.name)!r})"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]
