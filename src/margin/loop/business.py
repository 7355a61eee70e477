"""The business as the world: the user in the loop.

On real data there is no world command: the workspace is the world's record, a step is
"run this quarter's plan", and margin prints the plan and the test calendar to execute.
:class:`BusinessWorld` answers the loop's questions from the workspace: what it measures
(the KPI, geos, channels, controls and currency of the data the user ingested), where it
stands (``next_week``: the week after the last outcome week) and the status quo (the mean
weekly spend of the 13 weeks before it). It never steps: the user executes ``plan.csv``,
ingests the weeks' data (``margin ingest``) and runs ``margin loop plan`` again, which
records the executed cycle and plans the next one.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.errors import ConfigError
from margin.loop.world import DEFAULT_CARRYOVER_WEEKS, WorldInfo
from margin.types import FloatArray

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BUSINESS", "BusinessWorld"]

BUSINESS = "business"
"""The world command a business loop keeps in ``loop.json``."""
STATUS_QUO_WEEKS = 13


class BusinessWorld:
    """The workspace's own data as the world (see the module docstring).

    ``kpi``: the KPI to plan for (needed when the workspace has several).
    """

    business = True
    command = BUSINESS

    def __init__(self, workspace: Path, kpi: str | None = None) -> None:
        self.workspace = Path(workspace)
        self.state_dir = self.workspace
        self.kpi = kpi

    def __repr__(self) -> str:
        return f"BusinessWorld({str(self.workspace)!r})"

    def init(self) -> WorldInfo:
        return self.info()

    def info(self) -> WorldInfo:
        """What the workspace holds, as a world's ``world.json``.

        Raises:
            ConfigError: no spend or outcomes by geo yet, or several KPIs and none named.
        """
        from margin.data.workspace.schema import NATIONAL
        from margin.data.workspace.store import Workspace

        with Workspace(self.workspace, read_only=True) as ws:
            kpi = self._kpi(ws.fetch("SELECT DISTINCT kpi FROM outcomes ORDER BY 1"))
            weeks = ws.fetch(
                "SELECT min(week), max(week) FROM outcomes_weekly WHERE kpi = ? AND geo <> ?",
                [kpi, NATIONAL],
            )[0]
            geos = _names(ws.fetch("SELECT DISTINCT geo FROM spend WHERE geo <> ?", [NATIONAL]))
            channels = _names(ws.fetch("SELECT DISTINCT channel FROM spend"))
            controls = _names(ws.fetch("SELECT DISTINCT name FROM controls"))
            has_users = bool(ws.fetch("SELECT count(*) FROM events")[0][0])
            currency = ws.settings.currency
        if weeks[0] is None or not geos or not channels:
            raise ConfigError(
                f"workspace {self.workspace} has no spend and {kpi!r} outcomes by geo to plan "
                "from; ingest them first (margin ingest spend FILE, margin ingest outcomes FILE)"
            )
        first, last = (date.fromisoformat(str(w)[:10]) for w in weeks)
        return WorldInfo(
            kpi=kpi, kpi_type="revenue", currency=currency, geos=geos, channels=channels,
            controls=controls, week_start=first, next_week=last + timedelta(weeks=1),
            carryover_weeks=DEFAULT_CARRYOVER_WEEKS, has_users=has_users, can_score=False,
        )  # fmt: skip

    def _kpi(self, rows: list[Any]) -> str:
        kpis = [str(r[0]) for r in rows]
        if self.kpi is not None:
            if self.kpi not in kpis:
                raise ConfigError(
                    f"workspace {self.workspace} has no outcomes of kpi {self.kpi!r} "
                    f"(kpis: {', '.join(kpis) or 'none'}); pass one of them with --kpi"
                )
            return self.kpi
        if not kpis:
            raise ConfigError(
                f"workspace {self.workspace} has no outcomes to plan for; ingest spend and "
                "outcomes by geo first (margin ingest spend FILE, margin ingest outcomes FILE)"
            )
        if len(kpis) != 1:
            raise ConfigError(
                f"workspace {self.workspace} has {len(kpis)} kpis ({', '.join(kpis) or 'none'}); "
                "name the one to plan for with --kpi"
            )
        return kpis[0]

    def history(self) -> dict[str, Path]:
        """Nothing to ingest: the user ingests the data."""
        return {}

    def outputs(self, folder: Path, first: date, n_weeks: int) -> dict[str, Path]:
        """Nothing to ingest: the user ingested the cycle's weeks."""
        return {}

    def history_end(self) -> date:
        return self.info().next_week

    def status_quo(self, info: WorldInfo) -> FloatArray:
        """``(n_geos, n_channels)`` mean weekly spend of the 13 weeks before ``next_week``."""
        from margin.data.workspace.store import Workspace

        first = info.next_week - timedelta(weeks=STATUS_QUO_WEEKS)
        with Workspace(self.workspace, read_only=True) as ws:
            rows = ws.fetch(
                "SELECT geo, channel, sum(spend), count(DISTINCT week) FROM spend_weekly "
                "WHERE week >= ? AND week < ? GROUP BY ALL",
                [first, info.next_week],
            )
        out = np.zeros((len(info.geos), len(info.channels)))
        for geo, channel, spend, _ in rows:
            if geo in info.geos:
                out[info.geos.index(geo), info.channels.index(channel)] = float(spend)
        return out / STATUS_QUO_WEEKS

    def step(self, plan: pd.DataFrame, out: Path) -> dict[str, Path]:
        """A business is stepped by its people, not by margin."""
        raise ConfigError(
            "the business runs this plan: execute plan.csv and its tests, ingest the weeks' "
            "data (margin ingest), then run margin loop plan again"
        )

    def score(self, plans: Any) -> dict[str, float]:
        raise ConfigError("a business has no true score; --score and the oracle need a world")


def _names(rows: list[Any]) -> tuple[str, ...]:
    return tuple(sorted(str(r[0]) for r in rows))
