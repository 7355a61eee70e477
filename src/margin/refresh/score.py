"""Did the last plan deliver? Its weekly KPI forecast against the KPI that arrived since.

The plan is the newest ``runs`` row with ``kind='plan'``; its ``artifact_path`` is a
``plan.json`` holding ``"start"`` and ``"weekly_kpi": {"dates", "mean", "p05", "p95"}``
(total KPI over all geos per week, mean and the plan's 90% band). Weeks of the plan whose
actual KPI is in the workspace are scored:

- **coverage**: the share of scored weeks whose actual KPI lies in the week's 90% band
  (about 0.9 when the band is a calibrated predictive band; lower when the plan's band
  is a credible band of the expected KPI, which leaves out week-to-week noise);
- **MAPE**: mean of ``|actual - mean| / |actual|`` over the weeks;
- **bias**: ``(Σ actual - Σ mean) / |Σ mean|``, positive when the plan under-promised;
- **total**: actual against predicted over the scored weeks. The total's interval is
  ``[Σ p05, Σ p95]``, the interval of the sum when weeks move together, the widest
  plausible (a plan stores weekly bands only); verdict ``"fell short"`` below it,
  ``"exceeded"`` above it, ``"delivered"`` inside it, ``"pending"`` with no week yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.data.workspace.runs import read_json_object
from margin.errors import ConfigError

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = ["PlanForecast", "PlanScore", "WeekScore", "latest_plan", "read_plan", "score_plan"]


@dataclass(frozen=True)
class PlanForecast:
    """The part of a ``plan.json`` that is scored."""

    plan_id: str
    path: str
    run_id: str | None
    start: date
    dates: tuple[date, ...]
    mean: tuple[float, ...]
    p05: tuple[float, ...]
    p95: tuple[float, ...]


@dataclass(frozen=True)
class WeekScore:
    """One planned week that has arrived."""

    date: date
    actual: float
    mean: float
    p05: float
    p95: float

    @property
    def inside(self) -> bool:
        return self.p05 <= self.actual <= self.p95

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "actual": self.actual,
            "predicted": {"mean": self.mean, "p05": self.p05, "p95": self.p95},
            "inside": self.inside,
        }


@dataclass(frozen=True)
class PlanScore:
    """The plan's forecast scored on the weeks that arrived (see the module docstring)."""

    plan: PlanForecast
    weeks: tuple[WeekScore, ...]
    pending: tuple[date, ...]

    @property
    def coverage(self) -> float | None:
        return sum(w.inside for w in self.weeks) / len(self.weeks) if self.weeks else None

    @property
    def mape(self) -> float | None:
        errors = [abs(w.actual - w.mean) / abs(w.actual) for w in self.weeks if w.actual != 0]
        return sum(errors) / len(errors) if errors else None

    @property
    def actual_total(self) -> float:
        return sum(w.actual for w in self.weeks)

    @property
    def predicted_total(self) -> dict[str, float]:
        return {
            "mean": sum(w.mean for w in self.weeks),
            "p05": sum(w.p05 for w in self.weeks),
            "p95": sum(w.p95 for w in self.weeks),
        }

    @property
    def bias(self) -> float | None:
        predicted = self.predicted_total["mean"]
        if not self.weeks or predicted == 0:
            return None
        return (self.actual_total - predicted) / abs(predicted)

    @property
    def verdict(self) -> str:
        if not self.weeks:
            return "pending"
        total = self.predicted_total
        if self.actual_total < total["p05"]:
            return "fell short"
        if self.actual_total > total["p95"]:
            return "exceeded"
        return "delivered"

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan.plan_id,
            "plan_path": self.plan.path,
            "plan_run_id": self.plan.run_id,
            "start": self.plan.start.isoformat(),
            "weeks_scored": len(self.weeks),
            "weeks_pending": [d.isoformat() for d in self.pending],
            "weeks": [w.to_dict() for w in self.weeks],
            "coverage_90": self.coverage,
            "mape": self.mape,
            "bias": self.bias,
            "actual_total": self.actual_total if self.weeks else None,
            "predicted_total": self.predicted_total if self.weeks else None,
            "verdict": self.verdict,
        }


def _numbers(raw: Any, where: str, n: int | None) -> tuple[float, ...]:
    if not isinstance(raw, list) or (n is not None and len(raw) != n):
        expected = "a list" if n is None else f"a list of {n} numbers (one per date)"
        raise ConfigError(f"{where} must be {expected}; the plan file is damaged: make a new plan")
    try:
        values = tuple(float(v) for v in raw)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"{where} holds a value that is not a number ({err}); make a new plan"
        ) from err
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{where} holds a value that is not finite; make a new plan")
    return values


def _date(raw: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError as err:
        raise ConfigError(f"{where} = {raw!r} is not a date (YYYY-MM-DD); make a new plan") from err


def read_plan(path: str | Path, plan_id: str = "") -> PlanForecast:
    """The forecast of a ``plan.json`` (``start`` and ``weekly_kpi``), checked."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"plan file {path} (plan {plan_id or '?'}) does not exist; was it moved? "
            "Make a new plan with margin optimize"
        )
    body = read_json_object(path, "plan file", "make a new plan with margin optimize")
    weekly = body.get("weekly_kpi")
    if not isinstance(weekly, dict) or "start" not in body:
        raise ConfigError(
            f"plan file {path} lacks 'start' or 'weekly_kpi' {{dates, mean, p05, p95}}; it was "
            "written by an older margin: make a new plan with margin optimize"
        )
    dates_raw = weekly.get("dates")
    if not isinstance(dates_raw, list):
        raise ConfigError(f"{path}: weekly_kpi.dates must be a list of dates; make a new plan")
    dates = tuple(_date(d, f"{path}: weekly_kpi.dates[{i}]") for i, d in enumerate(dates_raw))
    n = len(dates)
    run_id = body.get("run_id")
    return PlanForecast(
        plan_id=plan_id or path.parent.name,
        path=str(path),
        run_id=None if run_id is None else str(run_id),
        start=_date(body["start"], f"{path}: start"),
        dates=dates,
        mean=_numbers(weekly.get("mean"), f"{path}: weekly_kpi.mean", n),
        p05=_numbers(weekly.get("p05"), f"{path}: weekly_kpi.p05", n),
        p95=_numbers(weekly.get("p95"), f"{path}: weekly_kpi.p95", n),
    )


def latest_plan(workspace: Workspace) -> PlanForecast | None:
    """The newest recorded plan with a plan file, or ``None`` when there is none.

    Plans are ``runs`` rows with ``kind='plan'``; one recorded without a file (``margin
    optimize`` without ``--out`` records the run folder instead) cannot be scored and is
    passed over.
    """
    from margin.data.workspace.runs import list_runs

    for row in list_runs(workspace, kind="plan", exclude_failed=True):
        path = Path(str(row.artifact_path))
        if not path.is_dir():
            return read_plan(path, row.id)
    return None


def score_plan(plan: PlanForecast, actual: dict[date, float]) -> PlanScore:
    """Score ``plan`` against ``actual`` (week start → total KPI over all geos)."""
    weeks = []
    pending = []
    for i, week in enumerate(plan.dates):
        if week in actual:
            weeks.append(
                WeekScore(week, float(actual[week]), plan.mean[i], plan.p05[i], plan.p95[i])
            )
        else:
            pending.append(week)
    return PlanScore(plan, tuple(weeks), tuple(pending))
