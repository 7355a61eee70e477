"""``PLAN.csv``, read strictly: weekly spend for every geo × channel from the world's next week.

Columns ``date,geo,channel,spend`` (``score`` also takes a first column ``plan``, a plan
id, for several plans at once). Rows are numbered from 1 after the header; an error names
the row and column, what was found and what the world expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from margin.errors import DataValidationError, InputFileError
from margin.types import FloatArray

__all__ = ["PLAN_COLUMNS", "PlanSet", "read_plan"]

PLAN_COLUMNS = ("date", "geo", "channel", "spend")


@dataclass(frozen=True, eq=False)
class PlanSet:
    """Plans read from one file: ``spend`` is ``(n_plans, n_geos, n_weeks, n_channels)``.

    ``ids`` name the plans in file order; a file without a ``plan`` column holds one plan
    with id ``""`` (``batch`` false).
    """

    ids: tuple[str, ...]
    spend: FloatArray
    batch: bool


def _fail(path: Path, row: int | None, column: str, message: str) -> DataValidationError:
    where = f"{path.name} row {row} (line {row + 1}), column {column}" if row else f"{path.name}"
    return DataValidationError(f"{where}: {message}")


def _read(path: Path, allow_batch: bool) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise InputFileError(
            f"cannot read the plan {path}: {err}; give a CSV with columns {','.join(PLAN_COLUMNS)}"
        ) from err
    columns = [c.strip() for c in frame.columns]
    expected = [list(PLAN_COLUMNS)] + ([["plan", *PLAN_COLUMNS]] if allow_batch else [])
    if columns not in expected:
        batch = " (or plan,date,geo,channel,spend for several plans)" if allow_batch else ""
        raise DataValidationError(
            f"{path.name}: columns are {','.join(columns) or 'none'}; expected exactly "
            f"{','.join(PLAN_COLUMNS)}{batch}"
        )
    frame.columns = pd.Index(columns)
    if frame.empty:
        raise DataValidationError(f"{path.name}: no rows; a plan needs at least one week")
    return frame


def _first(mask: np.ndarray) -> int:
    """The 1-based row of the first ``True``."""
    return int(np.flatnonzero(mask)[0]) + 1


def _parse(
    frame: pd.DataFrame, path: Path, geos: tuple[str, ...], channels: tuple[str, ...]
) -> tuple[pd.Series, FloatArray]:
    """Dates (as ``datetime64``) and spend, after checking every cell."""
    dates = pd.to_datetime(frame["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        row = _first(dates.isna().to_numpy())
        value = frame["date"].iloc[row - 1]
        raise _fail(path, row, "date", f"{value!r} is not an ISO date (YYYY-MM-DD)")
    not_monday = (dates.dt.day_of_week != 0).to_numpy()
    if not_monday.any():
        row = _first(not_monday)
        raise _fail(path, row, "date", f"{frame['date'].iloc[row - 1]} is not a Monday")
    for column, names in (("geo", geos), ("channel", channels)):
        unknown = ~frame[column].isin(names).to_numpy()
        if unknown.any():
            row = _first(unknown)
            raise _fail(
                path, row, column,
                f"{frame[column].iloc[row - 1]!r} is not a {column} of this world "
                f"({', '.join(names)})",
            )  # fmt: skip
    spend = pd.to_numeric(frame["spend"].str.strip(), errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(spend) | (spend < 0)
    if bad.any():
        row = _first(bad)
        raise _fail(
            path, row, "spend",
            f"{frame['spend'].iloc[row - 1]!r} is not a finite amount >= 0 (currency per week)",
        )  # fmt: skip
    return dates, spend


def _check_weeks(dates: pd.Series, path: Path, next_week: date) -> int:
    """The number of weeks; they must run consecutively from ``next_week``."""
    first = dates.min().date()
    if first != next_week:
        row = _first((dates == dates.min()).to_numpy())
        raise _fail(
            path, row, "date",
            f"the plan starts on {first.isoformat()}; this world's next week is "
            f"{next_week.isoformat()} (world.json next_week)",
        )  # fmt: skip
    offset = ((dates - pd.Timestamp(next_week)).dt.days // 7).to_numpy()
    n_weeks = int(offset.max()) + 1
    missing = sorted(set(range(n_weeks)) - set(offset.tolist()))
    if missing:
        gap = next_week + timedelta(weeks=missing[0])
        raise DataValidationError(
            f"{path.name}: no rows for the week of {gap.isoformat()}; a plan covers "
            f"consecutive weeks from {next_week.isoformat()}"
        )
    return n_weeks


def read_plan(
    path: Path,
    geos: tuple[str, ...],
    channels: tuple[str, ...],
    next_week: date,
    *,
    allow_batch: bool = False,
) -> PlanSet:
    """Read and check ``PLAN.csv``: one row per week, geo and channel, from ``next_week``.

    Raises:
        InputFileError: the file cannot be read as CSV.
        DataValidationError: a column, row or value breaks the contract (named in the message).
    """
    path = Path(path)
    frame = _read(path, allow_batch)
    dates, spend = _parse(frame, path, geos, channels)
    n_weeks = _check_weeks(dates, path, next_week)
    week = ((dates - pd.Timestamp(next_week)).dt.days // 7).to_numpy()
    plan_ids = frame["plan"] if "plan" in frame.columns else pd.Series([""] * len(frame))
    ids = tuple(dict.fromkeys(plan_ids.tolist()))
    index = pd.DataFrame(
        {
            "plan": pd.Categorical(plan_ids, categories=ids).codes,
            "geo": pd.Categorical(frame["geo"], categories=geos).codes,
            "week": week,
            "channel": pd.Categorical(frame["channel"], categories=channels).codes,
        }
    )
    duplicated = index.duplicated().to_numpy()
    if duplicated.any():
        row = _first(duplicated)
        again = frame.iloc[row - 1]
        raise DataValidationError(
            f"{path.name} row {row} (line {row + 1}): a second row for date={again['date']}, "
            f"geo={again['geo']}, channel={again['channel']}; give each once"
        )
    out = np.full((len(ids), len(geos), n_weeks, len(channels)), np.nan)
    out[index["plan"], index["geo"], index["week"], index["channel"]] = spend
    if np.isnan(out).any():
        p, g, t, c = np.argwhere(np.isnan(out))[0]
        plan = f"plan {ids[p]!r}: " if "plan" in frame.columns else ""
        raise DataValidationError(
            f"{path.name}: {plan}missing the row date={(next_week + timedelta(weeks=int(t))).isoformat()}, "
            f"geo={geos[g]}, channel={channels[c]}; a plan has one row per week, geo and "
            f"channel ({n_weeks} weeks × {len(geos)} geos × {len(channels)} channels)"
        )
    return PlanSet(ids=ids, spend=out, batch="plan" in frame.columns)
