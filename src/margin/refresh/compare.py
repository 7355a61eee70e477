"""Previous run versus new run, from their ``summary.json``.

Per channel and metric (ROI, marginal ROI, contribution share, average weekly
contribution) the posterior means and 90% intervals of both runs are set side by side.
A shift is **flagged** when the new mean falls outside the previous run's 90% interval,
or the previous mean outside the new one: the two runs then disagree by more than either
is unsure. Contribution is compared per week, because a refreshed run covers more weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from margin.data.workspace.runs import RunRow, load_summary
from margin.errors import ConfigError

__all__ = [
    "METRICS",
    "ChannelShift",
    "Comparison",
    "compare_runs",
    "compare_summaries",
    "read_summary",
]

METRICS = ("roi", "mroi", "contribution_share", "weekly_contribution")
"""What is compared per channel, in this order."""
_DIAGNOSTICS = ("converged", "max_rhat", "min_ess_bulk", "divergences")


@dataclass(frozen=True)
class ChannelShift:
    """One channel's metric in the previous and the new run (mean and 90% interval each)."""

    channel: str
    metric: str
    previous: dict[str, float]
    new: dict[str, float]

    @property
    def change(self) -> float:
        return self.new["mean"] - self.previous["mean"]

    @property
    def relative_change(self) -> float | None:
        base = self.previous["mean"]
        return None if base == 0 else self.change / abs(base)

    @property
    def flagged(self) -> bool:
        """The new mean is outside the previous 90% interval, or the reverse."""
        new_out = not self.previous["p05"] <= self.new["mean"] <= self.previous["p95"]
        old_out = not self.new["p05"] <= self.previous["mean"] <= self.new["p95"]
        return new_out or old_out

    @property
    def direction(self) -> str:
        return "up" if self.change > 0 else "down" if self.change < 0 else "flat"

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "metric": self.metric,
            "previous": self.previous,
            "new": self.new,
            "change": self.change,
            "relative_change": self.relative_change,
            "direction": self.direction,
            "flagged": self.flagged,
        }


@dataclass(frozen=True)
class Comparison:
    """What changed between two runs."""

    previous_run: str
    new_run: str
    shifts: tuple[ChannelShift, ...]
    added_channels: tuple[str, ...]
    removed_channels: tuple[str, ...]
    convergence: dict[str, dict[str, Any]]
    new_warnings: tuple[str, ...]
    resolved_warnings: tuple[str, ...]

    @property
    def flagged(self) -> tuple[ChannelShift, ...]:
        return tuple(s for s in self.shifts if s.flagged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "previous_run": self.previous_run,
            "new_run": self.new_run,
            "shifts": [s.to_dict() for s in self.shifts],
            "flagged": [s.to_dict() for s in self.flagged],
            "added_channels": list(self.added_channels),
            "removed_channels": list(self.removed_channels),
            "convergence": self.convergence,
            "new_warnings": list(self.new_warnings),
            "resolved_warnings": list(self.resolved_warnings),
        }


def _interval(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, dict) or not all(k in raw for k in ("mean", "p05", "p95")):
        raise ConfigError(f"{where} is not a {{mean, p05, p95}} interval; the summary is damaged")
    return {k: float(raw[k]) for k in ("mean", "p05", "p95")}


def _metric(entry: dict[str, Any], metric: str, where: str) -> dict[str, float] | None:
    if metric != "weekly_contribution":
        return _interval(entry[metric], f"{where}.{metric}") if metric in entry else None
    total = _interval(entry.get("contribution"), f"{where}.contribution")
    weeks = len(entry.get("weekly_contribution", {}).get("mean", []))
    if weeks == 0:
        return None
    return {k: v / weeks for k, v in total.items()}


def _run_id(summary: dict[str, Any]) -> str:
    run = summary.get("run", {})
    return str(run.get("id", "?")) if isinstance(run, dict) else "?"


def compare_summaries(previous: dict[str, Any], new: dict[str, Any]) -> Comparison:
    """Compare two ``summary.json`` bodies (previous first)."""
    old_channels = previous.get("channels")
    new_channels = new.get("channels")
    if not isinstance(old_channels, dict) or not isinstance(new_channels, dict):
        raise ConfigError("a run summary has no 'channels' table; the summary.json is damaged")
    shifts = []
    for channel in (c for c in new_channels if c in old_channels):
        for metric in METRICS:
            before = _metric(old_channels[channel], metric, f"previous channels.{channel}")
            after = _metric(new_channels[channel], metric, f"new channels.{channel}")
            if before is not None and after is not None:
                shifts.append(ChannelShift(channel, metric, before, after))
    old_diag = previous.get("diagnostics", {})
    new_diag = new.get("diagnostics", {})
    convergence = {
        "previous": {
            "method": previous.get("method"),
            **{k: old_diag.get(k) for k in _DIAGNOSTICS},
        },
        "new": {"method": new.get("method"), **{k: new_diag.get(k) for k in _DIAGNOSTICS}},
    }
    old_warnings = [str(w) for w in old_diag.get("warnings", [])]
    new_warnings = [str(w) for w in new_diag.get("warnings", [])]
    return Comparison(
        previous_run=_run_id(previous),
        new_run=_run_id(new),
        shifts=tuple(shifts),
        added_channels=tuple(c for c in new_channels if c not in old_channels),
        removed_channels=tuple(c for c in old_channels if c not in new_channels),
        convergence=convergence,
        new_warnings=tuple(w for w in new_warnings if w not in old_warnings),
        resolved_warnings=tuple(w for w in old_warnings if w not in new_warnings),
    )


def read_summary(run: str | Path | RunRow) -> dict[str, Any]:
    """A run's ``summary.json``, checked (:func:`margin.data.workspace.runs.load_summary`)."""
    return load_summary(run)


def compare_runs(previous_dir: str | Path, new_dir: str | Path) -> Comparison:
    """Compare the runs in two folders (each holding ``summary.json``)."""
    return compare_summaries(read_summary(previous_dir), read_summary(new_dir))
