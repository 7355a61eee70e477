"""What-if scenarios: a change to the current plan, or a full plan, against the current plan.

Changes are written ``"+20% social, -10% search"`` (also ``"social=+20%"``, ``"social +20%"``;
``−`` and ``-`` both work): each listed channel's spend in every week and geo of the current
plan is multiplied by ``1 + change``. A full plan is a long table with columns ``week``,
``channel``, ``spend`` and, for geo models, ``geo`` (the CSV :func:`write_plan_csv` writes);
week × channel [× geo] cells it leaves out spend nothing. Without a ``geo`` column a
channel's weekly spend is split over geos like the current plan's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from margin.checks import check_known, match_names
from margin.errors import ConfigError, DataValidationError
from margin.limits import check_change
from margin.optimize.caveats import plan_caveats
from margin.optimize.problem import Constraints, build_problem
from margin.optimize.results import Interval
from margin.protocols import ResponseModel
from margin.types import FloatArray

__all__ = ["ScenarioResult", "parse_changes", "plan_from_frame", "scenario"]

_VALUE = r"[+\-\u2212]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+\-]?\d+)?|inf(?:inity)?|nan)"
"""A number as Python reads it (exponents, inf and nan too: they get their own message)."""
_NUMBER = rf"(?P<pct>{_VALUE})\s*%"
_CHANNEL = r"(?P<channel>[A-Za-z_][\w\-]*)"
_FORMS = (
    re.compile(rf"^{_CHANNEL}\s*[=:]?\s*{_NUMBER}$", re.IGNORECASE),
    re.compile(rf"^{_NUMBER}\s+{_CHANNEL}$", re.IGNORECASE),
)
_BARE = (
    re.compile(rf"^{_CHANNEL}\s*[=:]?\s*{_VALUE}$", re.IGNORECASE),
    re.compile(rf"^{_VALUE}\s+{_CHANNEL}$", re.IGNORECASE),
)
_EXAMPLE = '"+20% social, -10% search" or "social=+20%"'


def _parse_item(item: str) -> tuple[str, float]:
    """``"social=+20%"`` → ``("social", 0.2)``; the change is checked (-100% up to
    :data:`margin.limits.MAX_CHANGE`)."""
    text = item.strip()
    for form in _FORMS:
        match = form.match(text)
        if match:
            change = float(match["pct"].replace("\u2212", "-")) / 100.0
            return match["channel"], check_change(match["channel"], change, given=text)
    if any(form.match(text) for form in _BARE):
        raise ConfigError(
            f"cannot read the spend change {item!r}: the number needs a % sign (changes are "
            f"percentages of current spend); write changes like {_EXAMPLE}."
        )
    raise ConfigError(f"cannot read the spend change {item!r}; write changes like {_EXAMPLE}.")


def parse_changes(changes: str | Iterable[str], channels: tuple[str, ...]) -> dict[str, float]:
    """Channel → relative change (``0.2`` for +20%) from change strings.

    Args:
        changes: ``"+20% social, -10% search"``, or items such as ``["social=+20%"]``.
        channels: the model's channels.

    Raises:
        ConfigError: unreadable item, unknown or repeated channel, a cut below -100%, or
            no change at all.
    """
    items = changes.split(",") if isinstance(changes, str) else list(changes)
    items = [part for item in items for part in item.split(",") if part.strip()]
    if not items:
        raise ConfigError(f"no spend change given; write changes like {_EXAMPLE}.")
    out: dict[str, float] = {}
    for item in items:
        name, change = _parse_item(item)
        try:
            (channel,) = match_names([name], channels)
        except ConfigError as err:
            raise ConfigError(
                f"unknown channel {name!r} in change {item.strip()!r}; channels are {list(channels)}."
            ) from err
        if channel in out:
            raise ConfigError(f"channel {channel!r} is changed twice; give one change per channel.")
        out[channel] = change
    return out


def _cells(frame: pd.DataFrame, model: ResponseModel) -> tuple[list[Any], bool]:
    missing = {"week", "channel", "spend"} - set(frame.columns)
    if missing:
        raise DataValidationError(
            f"plan table lacks column(s) {sorted(missing)}; expected week, channel, spend "
            "[, geo] (as written by write_plan_csv)."
        )
    check_known(frame, "channel", model.channels, table="plan table")
    has_geo = "geo" in frame.columns
    if has_geo:
        check_known(frame, "geo", model.geos, table="plan table")
    spend = pd.to_numeric(frame["spend"], errors="coerce").to_numpy(dtype=np.float64)
    bad_rows = np.flatnonzero(~np.isfinite(spend) | (spend < 0))
    if bad_rows.size:
        row = int(bad_rows[0])
        raise DataValidationError(
            f"plan table row {row}: spend {frame['spend'].iloc[row]} is not an amount >= 0; "
            "give a finite amount of currency."
        )
    keys = ["week", "channel", *(["geo"] if has_geo else [])]
    if frame.duplicated(keys).any():
        raise DataValidationError(f"plan table repeats some {keys} cells; give each once.")
    return sorted(frame["week"].unique()), has_geo


def plan_from_frame(
    frame: pd.DataFrame, model: ResponseModel, reference: FloatArray | None = None
) -> FloatArray:
    """A long plan table as ``(n_geos, n_weeks, n_channels)``, weeks in sorted order.

    Args:
        frame: columns ``week``, ``channel``, ``spend`` [, ``geo``].
        model: the response model (channel and geo names).
        reference: ``(n_geos, n_weeks, n_channels)`` plan whose geo split is used when the
            table has no ``geo`` column (default: the current plan).

    Raises:
        DataValidationError: missing columns, unknown names, bad amounts, duplicate cells.
    """
    weeks, has_geo = _cells(frame, model)
    week_index = {w: i for i, w in enumerate(weeks)}
    n_geos, n_channels = len(model.geos), len(model.channels)
    plan = np.zeros((n_geos if has_geo else 1, len(weeks), n_channels))
    t = frame["week"].map(week_index).to_numpy()
    c = frame["channel"].astype(str).map(model.channels.index).to_numpy()
    g = (
        frame["geo"].astype(str).map(model.geos.index).to_numpy()
        if has_geo
        else np.zeros(len(frame), int)
    )
    plan[g, t, c] = pd.to_numeric(frame["spend"]).to_numpy(dtype=np.float64)
    if has_geo or n_geos == 1:
        return plan
    ref = build_problem(model, len(weeks), Constraints(), cap=1.0, reference=reference).reference
    totals = ref.sum(axis=0, keepdims=True)
    share = np.where(totals > 0, ref / np.where(totals > 0, totals, 1.0), 1.0 / n_geos)
    result: FloatArray = share * plan
    return result


@dataclass(frozen=True, eq=False)
class ScenarioResult:
    """A plan against the current plan over the same weeks (KPI with the spend's carry-over tail).

    Attributes:
        spend, current_spend: channel → total over the horizon.
        kpi, current_kpi: KPI (baseline included).
        gain: ``kpi − current_kpi`` per draw.
        roi, current_roi: media ROI ``kpi_value · (KPI − KPI without spend) / spend``.
        p_beats_current: share of draws in which the plan's KPI is higher.
        plan: ``(n_geos, n_weeks, n_channels)``.
        caveats: the fit's own warnings, moves of prior-dominated channels and spend
            outside the data's weekly range (:mod:`margin.optimize.caveats`).
    """

    spend: dict[str, float]
    current_spend: dict[str, float]
    kpi: Interval
    current_kpi: Interval
    gain: Interval
    roi: Interval
    current_roi: Interval
    p_beats_current: float
    plan: FloatArray
    caveats: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "spend": dict(self.spend),
            "current_spend": dict(self.current_spend),
            "kpi": self.kpi.to_json(),
            "current_kpi": self.current_kpi.to_json(),
            "gain": self.gain.to_json(),
            "roi": self.roi.to_json(),
            "current_roi": self.current_roi.to_json(),
            "p_beats_current": self.p_beats_current,
            "caveats": list(self.caveats),
        }


def _kpi(model: ResponseModel, plan: FloatArray) -> FloatArray:
    tail = np.zeros((plan.shape[0], model.carryover_weeks, plan.shape[2]))
    media = model.media_kpi(np.concatenate([plan, tail], axis=1)).sum(axis=(1, 2))
    result: FloatArray = model.baseline_kpi(plan.shape[1]).sum(axis=(1, 2)) + media
    return result


def _roi(model: ResponseModel, kpi: FloatArray, zero: FloatArray, spend: float) -> Interval:
    if spend <= 0:
        return Interval(math.nan, math.nan, math.nan)
    return Interval.of(model.kpi_value * (kpi - zero) / spend)


def scenario(
    model: ResponseModel,
    weeks: int,
    *,
    changes: str | Iterable[str] | None = None,
    plan: pd.DataFrame | FloatArray | None = None,
    reference: FloatArray | None = None,
) -> ScenarioResult:
    """Predict a what-if plan against the current plan, with intervals.

    Args:
        model: the response model.
        weeks: horizon length N (a table plan must have N distinct weeks).
        changes: relative changes to the current plan (see :func:`parse_changes`).
        plan: a long table (see :func:`plan_from_frame`) or ``(n_geos, N, n_channels)``.
        reference: the current plan, ``(n_geos, N, n_channels)`` (default: recent average).

    Raises:
        ConfigError: neither or both of ``changes`` and ``plan``, bad changes, or a plan
            whose shape does not match.
    """
    if (changes is None) == (plan is None):
        raise ConfigError("scenario needs exactly one of changes or plan.")
    current = build_problem(model, weeks, Constraints(), cap=1.0, reference=reference).reference
    if changes is not None:
        factors = parse_changes(changes, model.channels)
        multiplier = np.array([1.0 + factors.get(c, 0.0) for c in model.channels])
        proposed = current * multiplier
    elif isinstance(plan, pd.DataFrame):
        if "week" in plan.columns and plan["week"].nunique() != weeks:
            raise ConfigError(
                f"the plan table covers {plan['week'].nunique()} distinct weeks; the scenario "
                f"needs {weeks}: one row per week (× channel [× geo])."
            )
        proposed = plan_from_frame(plan, model, reference=current)
    else:
        proposed = np.asarray(plan, dtype=np.float64)
    if proposed.shape != current.shape:
        raise ConfigError(
            f"the plan covers shape {proposed.shape} (geos, weeks, channels); the scenario "
            f"needs {current.shape}: {weeks} weeks of every geo and channel."
        )
    kpi, current_kpi = _kpi(model, proposed), _kpi(model, current)
    zero = _kpi(model, np.zeros_like(current))
    return ScenarioResult(
        spend=dict(zip(model.channels, proposed.sum(axis=(0, 1)).tolist(), strict=True)),
        current_spend=dict(zip(model.channels, current.sum(axis=(0, 1)).tolist(), strict=True)),
        kpi=Interval.of(kpi),
        current_kpi=Interval.of(current_kpi),
        gain=Interval.of(kpi - current_kpi),
        roi=_roi(model, kpi, zero, float(proposed.sum())),
        current_roi=_roi(model, current_kpi, zero, float(current.sum())),
        p_beats_current=float(np.mean(kpi > current_kpi)),
        plan=proposed,
        caveats=plan_caveats(
            model, proposed, Interval.of(kpi - current_kpi), None, current, chosen=False
        ),
    )
