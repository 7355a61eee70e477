"""Lift tests as calibration data: read them, and place them on the model's panel.

A lift test says: in ``treatment_geos`` from ``start`` to ``end`` the channel's spend
changed by ``spend_delta`` (currency, negative for a go-dark) and the KPI changed by
``lift`` ± ``lift_se`` (including carry-over). The model predicts the same number from
its own counterfactual: the KPI with actual spend minus the KPI with the test's change
removed, in the treated geos over the test weeks plus ``max_lag - 1`` carry-over weeks.

Where the change went is not in the table, only its total, so it is spread evenly over
the treated geo-weeks, except that a heavy-up (``spend_delta > 0``) never takes out of a
geo-week more than was bought in it: cells with less spend than the even share give all
they have and the rest is shared evenly by the others (water-filling,
:func:`spread_delta`). That is exact for an amount added every week (the even share
never exceeds what was bought), and puts a multiplied flight's change in its weeks on
air (a doubled TV flight that is off for three of six weeks gets nothing in them; evenly
among the other three). Spreading it evenly put negative spend in the counterfactual's
off weeks.
A go-dark (``spend_delta < 0``) is spread evenly: the spend it removed is not in the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax.numpy as jnp
import numpy as np

from margin.data.panel.marketing_data import MarketingData
from margin.errors import ConfigError, DataValidationError
from margin.mmm.inputs import Scaling
from margin.mmm.model import LiftArrays

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace

__all__ = [
    "LiftTest", "lift_arrays", "read_lift_tests_csv", "read_lift_tests_workspace", "spread_delta",
]  # fmt: skip

_COLUMNS = ("id", "channel", "treatment_geos", "start", "end", "spend_delta", "lift", "lift_se")


@dataclass(frozen=True)
class LiftTest:
    """One lift test; ``lift`` and ``lift_se`` are in KPI units, dates inclusive."""

    id: str
    channel: str
    treatment_geos: tuple[str, ...]
    start: date
    end: date
    spend_delta: float
    lift: float
    lift_se: float

    def __post_init__(self) -> None:
        where = f"lift test {self.id!r}"
        if not (np.isfinite(self.lift_se) and self.lift_se > 0):
            raise DataValidationError(f"{where}: lift_se must be > 0; got {self.lift_se!r}")
        if not (np.isfinite(self.lift) and np.isfinite(self.spend_delta)):
            raise DataValidationError(f"{where}: lift and spend_delta must be finite numbers")
        if self.spend_delta == 0:
            raise DataValidationError(f"{where}: spend_delta is 0, so the test changed nothing")
        if self.end < self.start:
            raise DataValidationError(f"{where}: end {self.end} is before start {self.start}")
        if not self.treatment_geos:
            raise DataValidationError(f"{where}: no treatment geos")


def _geos(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(g.strip() for g in value.split(";") if g.strip())
    return tuple(str(g) for g in value)


def _from_record(record: dict[str, Any], where: str) -> LiftTest:
    missing = [c for c in _COLUMNS if c not in record]
    if missing:
        raise DataValidationError(f"{where}: missing column(s) {missing}; need {list(_COLUMNS)}")
    try:
        return LiftTest(
            id=str(record["id"]),
            channel=str(record["channel"]),
            treatment_geos=_geos(record["treatment_geos"]),
            start=np.datetime64(record["start"], "D").astype(date),
            end=np.datetime64(record["end"], "D").astype(date),
            spend_delta=float(record["spend_delta"]),
            lift=float(record["lift"]),
            lift_se=float(record["lift_se"]),
        )
    except (TypeError, ValueError) as err:
        raise DataValidationError(
            f"{where}: cannot read lift test {record.get('id')!r}: {err}"
        ) from err


def read_lift_tests_csv(path: str | Path) -> list[LiftTest]:
    """Lift tests from a CSV with columns ``id, channel, treatment_geos`` (``;``-separated),
    ``start, end, spend_delta, lift, lift_se`` (the simulator's ``experiments.csv``)."""
    import pandas as pd

    frame = pd.read_csv(path)
    return [
        _from_record({str(k): v for k, v in row.items()}, f"{path} row {i + 2}")
        for i, row in enumerate(frame.to_dict(orient="records"))
    ]


def read_lift_tests_workspace(workspace: Workspace, kpi: str | None = None) -> list[LiftTest]:
    """Lift tests from the workspace ``experiments`` table (optionally one KPI's)."""
    rows = workspace.con.execute(
        'SELECT id, channel, treatment_geos, start, "end", spend_delta, lift, lift_se, kpi '
        "FROM experiments ORDER BY id"
    ).fetchall()
    names = (*_COLUMNS, "kpi")
    records = [dict(zip(names, row, strict=True)) for row in rows]
    return [
        _from_record(r, "workspace table experiments")
        for r in records
        if kpi is None or r["kpi"] in (None, kpi)
    ]


def _cells(test: LiftTest, data: MarketingData, max_lag: int) -> tuple[list[int], int, int, int]:
    if data.is_national and set(test.treatment_geos) - set(data.geos):
        geos = [0]
    else:
        unknown = sorted(set(test.treatment_geos) - set(data.geos))
        if unknown:
            raise ConfigError(
                f"lift test {test.id!r} treats geo(s) {unknown} that are not in the panel "
                f"(geos: {list(data.geos)})"
            )
        geos = [data.geos.index(g) for g in test.treatment_geos]
    first = int(np.searchsorted(data.dates, np.datetime64(test.start, "D"), side="right")) - 1
    last = int(np.searchsorted(data.dates, np.datetime64(test.end, "D"), side="right")) - 1
    panel_end = data.dates[-1] + np.timedelta64(6, "D")
    beyond = np.datetime64(test.end, "D") > panel_end
    if first < 0 or beyond or data.channels.count(test.channel) == 0:
        raise ConfigError(
            f"lift test {test.id!r} ({test.channel}, {test.start} to {test.end}) is outside "
            f"the fitted panel ({list(data.channels)}, {data.dates[0]} to {data.dates[-1]})"
        )
    return geos, first, last, min(last + max_lag - 1, data.n_times - 1)


def spread_delta(delta: float, bought: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A test's spend change over its cells (module docstring): even, but a heavy-up takes
    at most what was bought in each cell. ``bought``: the channel's spend in the cells,
    any shape (the result has it).

    Raises:
        ConfigError: a heavy-up larger than all the spend bought in its cells.
    """
    shape = np.shape(bought)
    bought = np.asarray(bought, dtype=np.float64).ravel()
    n = bought.size
    even = np.full(shape, delta / n)
    if delta <= 0 or np.all(bought >= delta / n):
        return even
    total = float(bought.sum())
    if total < delta * (1 - 1e-9):
        raise ConfigError(
            f"the test added {delta:,.2f} of spend but only {total:,.2f} was spent in its "
            "geos and weeks; check its spend_delta, dates and geos, and that the test's spend "
            "is in the spend data"
        )
    low = np.sort(bought)
    given = 0.0
    for k in range(n):  # the level that the cells below it fill to
        level = (delta - given) / (n - k)
        if level <= low[k]:
            break
        given += low[k]
    result: np.ndarray[Any, Any] = np.minimum(bought, level).reshape(shape)
    return result


def lift_arrays(
    tests: Sequence[LiftTest], data: MarketingData, scaling: Scaling, max_lag: int
) -> LiftArrays:
    """Place ``tests`` on the fitted panel, in scaled model units.

    National panels take every test as national (the treated share of the country is
    unknown, so a geo test on national data overstates the treated spend per head: give
    geo data when the tests are geo tests).

    Raises:
        ConfigError: a test's channel, geos or dates are not in the panel.
    """
    shape = (len(tests), data.n_geos, data.n_times, data.n_channels)
    delta = np.zeros(shape)
    window = np.zeros(shape[:3])
    for i, test in enumerate(tests):
        geos, first, last, carry_end = _cells(test, data, max_lag)
        c = data.channels.index(test.channel)
        bought = data.spend[geos, first : last + 1, c]
        try:
            cells = spread_delta(test.spend_delta, bought)
        except ConfigError as err:
            raise ConfigError(f"lift test {test.id!r} ({test.channel}): {err}") from err
        for k, g in enumerate(geos):
            delta[i, g, first : last + 1, c] = cells[k] / scaling.share[g] / scaling.spend_scale[c]
            window[i, g, first : carry_end + 1] = 1.0
    lift = np.array([t.lift for t in tests]) / scaling.kpi_scale
    se = np.array([t.lift_se for t in tests]) / scaling.kpi_scale
    return LiftArrays(*(jnp.asarray(a, dtype=jnp.float32) for a in (delta, window, lift, se)))
