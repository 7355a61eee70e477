"""Request and response models of the REST API (pydantic, the API's edge).

They make ``/openapi.json`` say what each endpoint takes and returns, with examples.
Requests refuse unknown fields (a typo such as ``"budjet"`` is a 400, not ignored).
Response documents that other parts of margin produce (a run's summary, a plan, a
scenario, attribution, the data-quality report) are typed for their stable fields and
allow the rest through unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from margin.limits import DEFAULT_MAX_CHANGE, MAX_TEST_SE, MAX_WEEKS, check_amount, check_change

__all__ = [
    "AuditList",
    "AuditRow",
    "ChannelRow",
    "ChannelTable",
    "ControlValue",
    "Document",
    "ForecastRequest",
    "Interval",
    "KeyCreate",
    "KeyCreated",
    "KeyList",
    "KeyRow",
    "OptimizeRequest",
    "PlanResponse",
    "RunDetail",
    "RunList",
    "RunRow",
    "ScenarioRequest",
    "Session",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Document(BaseModel):
    """A JSON document whose shape is defined elsewhere in margin (passed through)."""

    model_config = ConfigDict(extra="allow")


class Interval(BaseModel):
    """An estimate over posterior draws: the mean and the 5th and 95th percentiles.

    The OpenAPI face of :class:`margin.types.Interval` (its JSON form, ``to_json()``); a test
    keeps the fields the same as the dataclass's.
    """

    mean: float
    p05: float
    p95: float

    model_config = ConfigDict(json_schema_extra={"example": {"mean": 2.1, "p05": 1.4, "p95": 2.9}})


class RunRow(BaseModel):
    """One row of the workspace's ``runs`` table."""

    id: str
    kind: str = Field(description="'mmm' (a fit), 'plan' (an optimization), 'refresh' ...")
    created: str = Field(description="ISO time, UTC")
    status: str
    message: str | None = None
    artifact_path: str | None = None


class RunList(BaseModel):
    runs: list[RunRow] = Field(description="Newest first.")


class RunDetail(BaseModel):
    run: RunRow
    summary: Document = Field(description="The run's summary.json.")


class ChannelRow(BaseModel):
    """A channel's money figures for a fitted run."""

    channel: str
    spend: float = Field(description="Spend over the fitted weeks, workspace currency.")
    roi: Interval
    mroi: Interval
    contribution: Interval
    contribution_share: Interval


class ChannelTable(BaseModel):
    run_id: str
    channels: list[ChannelRow]


class ControlValue(_Request):
    """One known future control value: a week (its first day), the control, the value."""

    date: str = Field(description="The week's first day, YYYY-MM-DD (a forecast week).")
    name: str = Field(description="The control, as the model names it (e.g. holiday).")
    value: float
    geo: str | None = Field(None, description="The geo (omit: every geo).")


class OptimizeRequest(_Request):
    """A budget plan to compute from a fitted run."""

    budget: float | None = Field(
        None,
        gt=0,
        description="Total spend over the horizon; null = what the current plan spends.",
    )
    weeks: int = Field(13, ge=1, le=MAX_WEEKS, description="Horizon in weeks.")
    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="channel → [low, high]: multiples of current spend (bounds_relative) "
        "or currency amounts over the horizon.",
    )
    bounds_relative: bool = True
    max_change: float | None = Field(
        DEFAULT_MAX_CHANGE,
        gt=0,
        description="Budget plans keep each channel without bounds of its own within "
        "±max_change of its current spend, scaled to the budget (0.5 = ±50%, 1 = from 0 "
        "to double); null = no default bounds (the unbounded optimum).",
    )
    objective: Literal["kpi", "profit"] = "kpi"
    margin: float = Field(1.0, gt=0, le=1, description="Profit share of KPI value ('profit').")
    by_geo: bool = Field(False, description="Allocate each geo × channel (runs fitted on geos).")
    target_kpi: float | None = Field(None, gt=0, description="Least spend reaching this KPI.")
    min_roi: float | None = Field(None, gt=0, description="Largest plan with ROI ≥ this.")
    controls: list[ControlValue] = Field(
        default_factory=list,
        description="Known future controls (holidays, planned prices) for consecutive weeks "
        "from the first planned week; they move the expected KPI, not the plan.",
    )
    value_of_information: bool = Field(
        False,
        description="Also value learning each channel's return for this plan (which lift "
        "test is worth most; budget plans only; some seconds per channel).",
    )
    test_se: dict[str, float] = Field(
        default_factory=dict,
        description="channel → standard error (ROI units) of a planned test: those channels "
        "also get that test's value to the plan (implies value_of_information).",
    )
    test_designs: list[dict[str, Any]] = Field(
        default_factory=list,
        description="design.json documents of planned geo tests (margin experiment design "
        "--budget): each is valued as the model says it would read in its geos and weeks "
        "(geo-level runs; implies value_of_information).",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "budget": 1_300_000,
                "weeks": 13,
                "bounds": {"tv": [0.5, 2.0]},
                "objective": "kpi",
                "target_kpi": None,
                "min_roi": None,
            }
        },
    )

    @field_validator("budget", "target_kpi", "min_roi", "max_change")
    @classmethod
    def _finite(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None:  # not a number, or too large (margin.limits says which)
            check_amount(str(info.field_name), value, "a number")
        return value

    @field_validator("test_se")
    @classmethod
    def _test_se(cls, value: dict[str, float]) -> dict[str, float]:
        for channel, se in value.items():  # a 400 naming the cause, not the planner's 422
            check_amount(
                f"test_se.{channel[:40]}",
                se,
                "a standard error in ROI units",
                maximum=MAX_TEST_SE,
            )
        return value

    @field_validator("bounds")
    @classmethod
    def _ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for channel, (low, high) in value.items():
            if not (math.isfinite(low) and 0 <= low <= high):
                raise ValueError(
                    f"bound of {channel!r} is [{low:g}, {high:g}]; expected 0 <= low <= high"
                )
        return value


class PlanResponse(Document):
    """A plan (plan.json): allocation per channel, expected KPI and gain with intervals."""

    plan_id: str = Field(description="The plan's id in the runs table (kind 'plan').")
    budget: float
    weeks: int
    allocation: dict[str, Document]
    expected_kpi: Interval
    expected_gain: Interval
    p_beats_current: float = Field(description="P(the plan's KPI beats the current plan's).")
    caveats: list[str] = Field(
        default_factory=list,
        description="What the plan's intervals cannot show, in words: the fit's own "
        "warnings, moves resting on the prior, spend outside the data's weekly range, the "
        "optimizer's curse, the channel carrying most of the doubt, the default bounds, "
        "and whether spending less would pay.",
    )
    headline: list[str] = Field(
        default_factory=list,
        description="The plan's headline sentences: the default bounds, each move that "
        "rests on the prior, and whether spending less would pay.",
    )
    bounds: Document | None = Field(
        None,
        description="Which default bounds applied: max_change (null: none), the channels "
        "they bound, and a note on how to widen them.",
    )
    run_id: str | None = None
    value_of_information: Document | None = Field(
        None,
        description="When asked: per channel, the expected value of learning its return for "
        "this plan (currency, Monte Carlo interval), highest first, and the noise floor.",
    )


def _changes(value: dict[str, float]) -> dict[str, float]:
    """Relative spend changes, each a fraction from -1 to ``margin.limits.MAX_CHANGE``."""
    for channel, change in value.items():
        check_change(channel, change)
    return value


class ScenarioRequest(_Request):
    """A what-if: change each channel's weekly spend by a fraction (0.2 = +20%)."""

    weeks: int = Field(13, ge=1, le=MAX_WEEKS)
    changes: dict[str, float] = Field(
        description="channel → relative change of its spend every week (-1 = stop it)."
    )
    controls: list[ControlValue] = Field(
        default_factory=list,
        description="Known future controls (holidays, planned prices) for consecutive weeks "
        "from the first week; they move the KPI of both plans, not the gain.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"weeks": 13, "changes": {"social": 0.2, "search": -0.1}}},
    )

    @field_validator("changes")
    @classmethod
    def _sensible(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("give at least one channel's change, e.g. {'social': 0.2}")
        return _changes(value)


class ForecastRequest(_Request):
    """Forecast the next weeks' KPI (the current plan, or a what-if), or backtest the run."""

    weeks: int = Field(13, ge=1, le=MAX_WEEKS)
    changes: dict[str, float] = Field(
        default_factory=dict,
        description="channel → relative change of its spend every week (none: the current plan).",
    )
    controls: list[ControlValue] = Field(
        default_factory=list,
        description="Known future controls (a holiday calendar, planned prices) for consecutive "
        "weeks from the first forecast week; the rest are held at their 13-week mean.",
    )
    backtest: bool = Field(
        False,
        description="Forecast the weeks the fit held out from the spend and controls that ran "
        "in them, and score it (no changes or controls then).",
    )
    seed: int = Field(0, ge=0, description="Seed of the observation-noise draws.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "weeks": 13,
                "changes": {"social": 0.2},
                "controls": [{"date": "2025-11-24", "name": "holiday", "value": 1.0}],
            }
        },
    )

    @field_validator("changes")
    @classmethod
    def _sensible(cls, value: dict[str, float]) -> dict[str, float]:
        return _changes(value)


class KeyCreate(_Request):
    role: Literal["viewer", "analyst", "admin"]
    name: str | None = Field(None, min_length=1, max_length=64, description="Who holds it.")

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"role": "analyst", "name": "jo"}}
    )


class KeyCreated(BaseModel):
    id: str
    key: str = Field(description="The key itself: shown this once, stored only as a hash.")
    role: str
    name: str


class KeyRow(BaseModel):
    id: str
    name: str
    role: str
    created: str
    revoked: str | None
    active: bool


class KeyList(BaseModel):
    keys: list[KeyRow]


class Session(BaseModel):
    key_id: str
    name: str
    role: str
    csrf_token: str | None = Field(
        description="The session's CSRF token (browser sessions only; null with a Bearer key)."
    )


class AuditRow(BaseModel):
    id: int
    ts: str = Field(description="ISO time, UTC")
    source: str | None = Field(None, description="'api' (a request) or 'cli' (a command).")
    client: str | None = Field(None, description="The caller's address (api) or the OS user (cli).")
    key_id: str | None
    key_name: str | None
    role: str | None
    method: str
    path: str
    action: str
    target: str | None
    status: int
    detail: dict[str, Any]


class AuditList(BaseModel):
    entries: list[AuditRow] = Field(description="Newest first.")
    next_before: int | None = Field(
        description="Pass as ?before= to read older entries; null at the start of the trail."
    )
