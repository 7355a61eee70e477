"""The world client: margin drives a world (a simulator, or the business) through files.

A world is an executable ``CMD`` (split with :func:`shlex.split`); margin appends a
subcommand (``docs/worlds.md`` has the whole interface)::

    CMD init  --state DIR                      # writes DIR/world.json, DIR/history/*.csv
    CMD step  --state DIR --plan PLAN.csv --out OUT
    CMD score --state DIR --plan PLAN.csv      # optional: true expected KPI, JSON on stdout

:class:`WorldClient` runs those commands with a timeout, captures their output and checks
everything they return (``world.json``, and every CSV: its columns, exactly the plan's
weeks, the world's geos and channels). A failure is one :class:`WorldError` line naming the
command, the exit code and the last line the world wrote on stderr.
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from margin.errors import MarginError
from margin.types import FloatArray

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "DEFAULT_CARRYOVER_WEEKS",
    "STATUS_QUO_WEEKS",
    "TIMEOUT_SECONDS",
    "World",
    "WorldClient",
    "WorldError",
    "WorldInfo",
    "check_files",
    "history_end",
    "plan_frame",
    "status_quo_weekly",
]

TIMEOUT_SECONDS = 3600.0
"""Longest a world command may run (a world may be slow; it may not hang)."""
DEFAULT_CARRYOVER_WEEKS = 4
"""Carry-over weeks assumed for a world whose ``world.json`` does not say."""
COLUMNS: dict[str, tuple[str, ...]] = {
    "spend": ("date", "geo", "channel", "spend"),
    "outcomes": ("date", "geo", "kpi", "value"),
    "controls": ("date", "geo", "name", "value"),
    "events": ("user_id", "ts", "channel", "campaign", "creative", "event", "value"),
    "transactions": ("customer_id", "ts", "amount", "acquisition_channel"),
}
"""The columns each file a world returns must have (margin's generic ingest layouts)."""
STATUS_QUO_WEEKS = 13
"""The status quo is each geo × channel's mean weekly spend over this many history weeks."""
REQUIRED = ("spend", "outcomes", "controls")
USERS = ("events", "transactions")
_KEYS = ("kpi", "kpi_type", "currency", "geos", "channels", "controls", "week_start", "next_week")


class WorldError(MarginError, RuntimeError):
    """A world command failed, or returned something that breaks the world interface."""


@dataclass(frozen=True)
class WorldInfo:
    """``world.json``: what the world measures and where it stands.

    Attributes:
        next_week: the Monday of the first week ``step`` will play.
        week_start: the first week of the history.
        kpi_value: currency per KPI unit (1 for a revenue KPI).
        carryover_weeks: weeks a plan's spend keeps acting (a default when not given).
    """

    kpi: str
    kpi_type: str
    currency: str
    geos: tuple[str, ...]
    channels: tuple[str, ...]
    controls: tuple[str, ...]
    week_start: date
    next_week: date
    kpi_value: float = 1.0
    carryover_weeks: int = DEFAULT_CARRYOVER_WEEKS
    has_users: bool = False
    can_score: bool = False

    @classmethod
    def from_json(cls, body: Any, where: str) -> WorldInfo:
        """Check ``world.json``'s body (``where`` names the file in errors)."""
        if not isinstance(body, dict):
            raise WorldError(f"{where}: expected a JSON object with keys {', '.join(_KEYS)}")
        missing = [k for k in _KEYS if k not in body]
        if missing:
            raise WorldError(f"{where}: missing key(s) {', '.join(missing)}; see docs/worlds.md")
        names = {k: _names(body[k], k, where) for k in ("geos", "channels", "controls")}
        if not names["geos"] or not names["channels"]:
            raise WorldError(f"{where}: 'geos' and 'channels' must list at least one name")
        kpi_type = str(body["kpi_type"])
        if kpi_type not in ("revenue", "conversions"):
            raise WorldError(f"{where}: kpi_type {kpi_type!r}; expected revenue or conversions")
        start, nxt = (
            _monday(body["week_start"], "week_start", where),
            _monday(body["next_week"], "next_week", where),
        )
        value, carry = body.get("kpi_value", 1.0), body.get("carryover_weeks")
        if not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
            raise WorldError(f"{where}: kpi_value {value!r}; expected a positive number")
        if carry is not None and (not isinstance(carry, int) or not 0 <= carry <= 104):
            raise WorldError(f"{where}: carryover_weeks {carry!r}; expected an integer 0-104")
        return cls(
            kpi=str(body["kpi"]), kpi_type=kpi_type, currency=str(body["currency"]),
            geos=names["geos"], channels=names["channels"], controls=names["controls"],
            week_start=start, next_week=nxt, kpi_value=float(value),
            carryover_weeks=DEFAULT_CARRYOVER_WEEKS if carry is None else carry,
            has_users=bool(body.get("has_users", False)),
            can_score=bool(body.get("can_score", False)),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi, "kpi_type": self.kpi_type, "kpi_value": self.kpi_value,
            "currency": self.currency, "geos": list(self.geos), "channels": list(self.channels),
            "controls": list(self.controls), "week_start": self.week_start.isoformat(),
            "next_week": self.next_week.isoformat(), "carryover_weeks": self.carryover_weeks,
            "has_users": self.has_users, "can_score": self.can_score,
        }  # fmt: skip


def _names(value: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise WorldError(f"{where}: {key!r} must be a list of non-empty names")
    if len(set(value)) != len(value):
        raise WorldError(f"{where}: {key!r} lists a name twice")
    return tuple(value)


def _monday(value: Any, key: str, where: str) -> date:
    try:
        day = date.fromisoformat(str(value))
    except ValueError as err:
        raise WorldError(f"{where}: {key} {value!r} is not an ISO date (YYYY-MM-DD)") from err
    if day.weekday() != 0:
        raise WorldError(f"{where}: {key} {day} is not a Monday (weeks start on Mondays)")
    return day


def plan_frame(info: WorldInfo, weekly: FloatArray, start: date) -> pd.DataFrame:
    """``PLAN.csv``'s rows from ``weekly`` ``(n_weeks, n_geos, n_channels)`` spend in the
    world's geo and channel order, weeks from ``start``: ``date, geo, channel, spend``."""
    import pandas as pd

    arr = np.asarray(weekly, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (len(info.geos), len(info.channels)):
        raise WorldError(
            f"a plan of shape {arr.shape}; expected (weeks, {len(info.geos)} geos, "
            f"{len(info.channels)} channels)"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise WorldError("a plan with negative or non-finite spend; every cell must be >= 0")
    n_weeks, n_geos, n_channels = arr.shape
    days = [(start + timedelta(weeks=w)).isoformat() for w in range(n_weeks)]
    return pd.DataFrame(
        {
            "date": np.repeat(days, n_geos * n_channels),
            "geo": np.tile(np.repeat(info.geos, n_channels), n_weeks),
            "channel": np.tile(info.channels, n_weeks * n_geos),
            "spend": np.round(arr.reshape(-1), 2),
        }
    )


class World(Protocol):
    """What the loop asks of a world: :class:`WorldClient` (an executable) or
    :class:`margin.loop.business.BusinessWorld` (the workspace's own data, the user in the
    loop; ``business`` is true)."""

    business: bool
    command: str
    state_dir: Path

    def init(self) -> WorldInfo: ...
    def info(self) -> WorldInfo: ...
    def history(self) -> dict[str, Path]: ...
    def outputs(self, folder: Path, first: date, n_weeks: int) -> dict[str, Path]: ...
    def history_end(self) -> date: ...
    def status_quo(self, info: WorldInfo) -> FloatArray: ...
    def step(self, plan: pd.DataFrame, out: Path) -> dict[str, Path]: ...
    def score(self, plans: Mapping[str, pd.DataFrame]) -> dict[str, float]: ...


class WorldClient:
    """Runs one world's commands on its state folder (``command`` is split with shlex)."""

    business = False

    def __init__(
        self, command: str | Sequence[str], state_dir: str | Path, *, timeout: float | None = None
    ) -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.argv:
            raise WorldError("the world command is empty; give the executable that runs the world")
        self.command = command if isinstance(command, str) else shlex.join(command)
        self.state_dir = Path(state_dir)
        self.timeout = TIMEOUT_SECONDS if timeout is None else timeout

    def __repr__(self) -> str:
        return f"WorldClient({self.command!r}, {str(self.state_dir)!r})"

    def _run(self, *args: str) -> str:
        """Run ``CMD args``; its stdout, or a :class:`WorldError`."""
        argv = [*self.argv, *args]
        shown = f"world command '{shlex.join(argv)}'"
        try:
            done = subprocess.run(  # the user's own world command, no shell
                argv, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except FileNotFoundError as err:
            raise WorldError(
                f"{shown}: {self.argv[0]!r} not found; give the world's executable (a path or a "
                "command on PATH) in --world"
            ) from err
        except PermissionError as err:
            raise WorldError(f"{shown}: {self.argv[0]!r} is not executable") from err
        except subprocess.TimeoutExpired as err:
            raise WorldError(f"{shown} ran past {self.timeout:g} s and was stopped") from err
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            last = lines[-1] if lines else "(nothing on stderr)"
            raise WorldError(f"{shown} exited with code {done.returncode}: {last}")
        return done.stdout

    def init(self) -> WorldInfo:
        """The world's info, running ``init`` first when ``world.json`` is missing."""
        if not (self.state_dir / "world.json").is_file():
            made = [d for d in (self.state_dir, *self.state_dir.parents) if not d.exists()]
            self.state_dir.mkdir(parents=True, exist_ok=True)
            try:
                self._run("init", "--state", str(self.state_dir))
            except BaseException:  # a world that failed to start leaves no folder behind
                if made:
                    shutil.rmtree(made[-1], ignore_errors=True)
                raise
        info = self.info()
        self.history()  # present and readable
        return info

    def info(self) -> WorldInfo:
        """``world.json``, checked."""
        path = self.state_dir / "world.json"
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise WorldError(
                f"cannot read {path}: {err.strerror or err}; run the world's init"
            ) from err
        except json.JSONDecodeError as err:
            raise WorldError(f"{path} is not valid JSON (line {err.lineno}: {err.msg})") from err
        return WorldInfo.from_json(body, str(path))

    def history(self) -> dict[str, Path]:
        """The history files ``init`` wrote, by kind (checked: columns, geos, channels)."""
        info = self.info()
        return check_files(info, self.state_dir / "history", None, None)

    def outputs(self, folder: Path, first: date, n_weeks: int) -> dict[str, Path]:
        """What ``step`` wrote in ``folder`` for the ``n_weeks`` weeks from ``first``, checked."""
        return check_files(self.info(), folder, first, n_weeks)

    def history_end(self) -> date:
        """The week after the history's last spend week."""
        return history_end(self.history()["spend"])

    def status_quo(self, info: WorldInfo) -> FloatArray:
        """The history's status quo (:func:`status_quo_weekly`)."""
        return status_quo_weekly(info, self.history()["spend"])

    def step(self, plan: pd.DataFrame, out: Path) -> dict[str, Path]:
        """Spend ``plan`` (``date, geo, channel, spend``) in the world; the files it returned
        in ``out``, checked to cover exactly the plan's weeks."""
        info = self.info()
        weeks = _plan_weeks(info, plan)
        out.mkdir(parents=True, exist_ok=True)
        plan_path = out.parent / f"{out.name}.plan.csv"
        plan.to_csv(plan_path, index=False)
        try:
            self._run(
                "step", "--state", str(self.state_dir), "--plan", str(plan_path), "--out", str(out)
            )
        finally:
            plan_path.unlink(missing_ok=True)
        files = check_files(info, out, weeks[0], len(weeks))
        after = self.info().next_week
        if after != weeks[-1] + timedelta(weeks=1):
            raise WorldError(
                f"world command '{self.command}': after step, next_week is {after}; expected "
                f"{weeks[-1] + timedelta(weeks=1)} (the week after the plan)"
            )
        return files

    def score(self, plans: Mapping[str, pd.DataFrame]) -> dict[str, float]:
        """Each plan's TRUE expected value (currency) over its weeks plus the carry-over,
        from the world's ``score`` in one batch call (benchmarks only)."""
        import pandas as pd

        if not plans:
            return {}
        info = self.info()
        frames = []
        for name, frame in plans.items():
            _plan_weeks(info, frame)
            frames.append(frame.assign(plan=name)[["plan", *COLUMNS["spend"]]])
        path = self.state_dir.parent / f".{self.state_dir.name}-score-plan.csv"
        pd.concat(frames).to_csv(path, index=False)
        try:
            stdout = self._run("score", "--state", str(self.state_dir), "--plan", str(path))
        finally:
            path.unlink(missing_ok=True)
        return _scores(stdout, list(plans), self.command)


def _scores(stdout: str, names: list[str], command: str) -> dict[str, float]:
    where = f"world command '{command}' score"
    try:
        body = json.loads(stdout)
        found = body["plans"]
        values = {name: float(found[name]["value"]) for name in names}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise WorldError(
            f'{where}: expected JSON {{"plans": {{id: {{"kpi", "value"}}}}}} naming every '
            f"plan ({', '.join(names)}); got {stdout.strip()[:120]!r}"
        ) from err
    bad = [n for n, v in values.items() if not math.isfinite(v)]
    if bad:
        raise WorldError(f"{where}: non-finite value for plan(s) {', '.join(bad)}")
    return values


def _plan_weeks(info: WorldInfo, plan: pd.DataFrame) -> list[date]:
    """The plan's weeks (consecutive from ``next_week``), checked against the world."""
    if list(plan.columns) != list(COLUMNS["spend"]):
        raise WorldError(
            f"a plan has columns {list(plan.columns)}; expected date,geo,channel,spend"
        )
    days = sorted({date.fromisoformat(str(d)[:10]) for d in plan["date"]})
    expected = [info.next_week + timedelta(weeks=w) for w in range(len(days))]
    if days != expected:
        raise WorldError(
            f"a plan covers {days[0] if days else 'no weeks'} to {days[-1] if days else '-'}; "
            f"plans are consecutive weeks from the world's next_week {info.next_week}"
        )
    if len(plan) != len(days) * len(info.geos) * len(info.channels):
        raise WorldError(
            f"a plan has {len(plan)} rows; expected {len(days)} week(s) × every geo × channel"
        )
    return days


def check_files(
    info: WorldInfo, folder: Path, first: date | None, n_weeks: int | None
) -> dict[str, Path]:
    """The CSVs a world wrote in ``folder`` by kind, each checked: its header, the world's
    geos and channels, and (given ``first``) exactly the ``n_weeks`` weeks from ``first``."""
    found: dict[str, Path] = {}
    for kind in (*REQUIRED, *USERS):
        path = folder / f"{kind}.csv"
        if not path.is_file():
            if kind in REQUIRED or (info.has_users and kind == "events"):
                raise WorldError(f"the world wrote no {path}; a world returns {kind}.csv")
            continue
        _check_csv(info, kind, path, first, n_weeks)
        found[kind] = path
    return found


def _check_csv(
    info: WorldInfo, kind: str, path: Path, first: date | None, n_weeks: int | None
) -> None:
    import pandas as pd

    try:  # users' files are checked by their header here, by the ingest row by row
        rows = 0 if kind in USERS else None
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=rows)
    except (OSError, ValueError) as err:
        raise WorldError(f"{path}: cannot be read as CSV ({err})") from err
    missing = [c for c in COLUMNS[kind] if c not in frame.columns]
    if missing:
        raise WorldError(
            f"{path}: missing column(s) {', '.join(missing)}; {kind}.csv has columns "
            f"{','.join(COLUMNS[kind])}"
        )
    if kind in USERS:
        return
    _check_labels(frame, "geo", info.geos, path, every=kind != "controls")
    if kind == "spend":
        _check_labels(frame, "channel", info.channels, path, every=True)
    if kind == "outcomes" and info.kpi not in set(frame["kpi"]):
        raise WorldError(f"{path}: no rows of the world's kpi {info.kpi!r} (world.json's kpi)")
    try:
        days = sorted({date.fromisoformat(d[:10]) for d in frame["date"]})
    except ValueError as err:
        raise WorldError(f"{path}: a date is not ISO (YYYY-MM-DD): {err}") from err
    if first is not None and n_weeks is not None:
        expected = [first + timedelta(weeks=w) for w in range(n_weeks)]
        if days != expected:
            span = f"{days[0]} to {days[-1]}" if days else "no rows"
            raise WorldError(
                f"{path}: covers {span} ({len(days)} week(s)); the step played {n_weeks} "
                f"week(s) from {first}: a world returns exactly the plan's weeks"
            )


def _check_labels(
    frame: pd.DataFrame, column: str, known: tuple[str, ...], path: Path, *, every: bool
) -> None:
    """Every ``column`` value is one of ``known`` (and, with ``every``, each one appears)."""
    unknown = sorted(set(frame[column]) - set(known))
    if unknown:
        raise WorldError(
            f"{path}: {column}(s) {', '.join(unknown[:5])} are not in world.json's {column}s "
            f"({', '.join(known)})"
        )
    missing = [name for name in known if name not in set(frame[column])] if every else []
    if missing:
        raise WorldError(f"{path}: no rows for {column}(s) {', '.join(missing[:5])} of world.json")


def status_quo_weekly(info: WorldInfo, spend_csv: Path) -> FloatArray:
    """``(n_geos, n_channels)`` mean weekly spend over the last :data:`STATUS_QUO_WEEKS`
    weeks of the history before ``info.next_week``."""
    import pandas as pd

    frame = pd.read_csv(spend_csv, usecols=["date", "geo", "channel", "spend"])
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    first = info.next_week - timedelta(weeks=STATUS_QUO_WEEKS)
    recent = frame[(frame["date"] >= first) & (frame["date"] < info.next_week)]
    weeks = recent["date"].nunique()
    if weeks == 0:
        raise WorldError(
            f"{spend_csv}: no spend in the {STATUS_QUO_WEEKS} weeks before {info.next_week}; "
            "the status quo is the mean weekly spend of those weeks"
        )
    sums = recent.groupby(["geo", "channel"], as_index=False)["spend"].sum()
    out = np.zeros((len(info.geos), len(info.channels)))
    for geo, channel, value in sums.itertuples(index=False):
        out[info.geos.index(str(geo)), info.channels.index(str(channel))] = float(value) / weeks
    return out


def history_end(spend_csv: Path) -> date:
    """The week after the last week of a world's ``spend.csv``."""
    import pandas as pd

    days = pd.read_csv(spend_csv, usecols=["date"])["date"]
    return date.fromisoformat(str(days.max())[:10]) + timedelta(weeks=1)
