"""The weekly refresh: new files from a drop folder in, refit, compare, score the last plan.

``refresh(ws)`` is idempotent and safe to run from cron (``margin refresh``); see
:mod:`margin.refresh.refresh` for the steps and what a failure leaves behind. Importing
this package does not import JAX.
"""

from margin.refresh.compare import ChannelShift, Comparison, compare_runs, compare_summaries
from margin.refresh.drop import LOAD_ORDER, DropFile, DropScan, IgnoredFile, scan_drop
from margin.refresh.refresh import Progress, RefreshError, RefreshResult, refresh
from margin.refresh.score import (
    PlanForecast,
    PlanScore,
    WeekScore,
    latest_plan,
    read_plan,
    score_plan,
)
from margin.refresh.settings import RefreshSettings, load_settings, save_settings

__all__ = [
    "LOAD_ORDER",
    "ChannelShift",
    "Comparison",
    "DropFile",
    "DropScan",
    "IgnoredFile",
    "PlanForecast",
    "PlanScore",
    "Progress",
    "RefreshError",
    "RefreshResult",
    "RefreshSettings",
    "WeekScore",
    "compare_runs",
    "compare_summaries",
    "latest_plan",
    "load_settings",
    "read_plan",
    "refresh",
    "save_settings",
    "scan_drop",
    "score_plan",
]
