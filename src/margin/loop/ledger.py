"""The loop's ledger: its folder, ``loop.json``, the cycle folders and their step files.

A loop lives in ``<workspace folder>/loop/<loop id>/`` (the id is a hash of the workspace
and the world's state folder, so one world is driven by one loop per workspace). ``loop.json`` keeps what is fixed for
the whole loop: the world command and state folder, the settings and the status quo (each
geo × channel's mean weekly spend over the 13 history weeks before the first cycle).
Cycle ``k`` lives in ``cycle-<k:03d>/``; each step writes its result file there (atomically)
before the next step starts, so a re-run resumes at the first step without one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from margin.errors import ConfigError
from margin.loop.settings import LoopSettings
from margin.loop.world import STATUS_QUO_WEEKS, World, WorldInfo
from margin.types import FloatArray

__all__ = [
    "FORMAT",
    "Loop",
    "default_state",
    "latest_loop",
    "loop_id",
    "loops_folder",
    "open_loop",
    "read_step",
    "write_json",
]

FORMAT = "margin-loop"
VERSION = 1


def loops_folder(workspace: Path) -> Path:
    """``<workspace folder>/loop``: where loops (and by default the world's state) live."""
    return workspace.resolve().parent / "loop"


def default_state(workspace: Path) -> Path:
    """The world's state folder when none is given: ``<workspace folder>/loop/world``."""
    return loops_folder(workspace) / "world"


def loop_id(workspace: Path, state: Path) -> str:
    """``loop-<12 hex>``: a hash of the workspace and the world's state folder."""
    key = f"{workspace.resolve()}\n{state.resolve()}"
    return "loop-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def write_json(path: Path, body: Any) -> Path:
    """Write ``body`` as JSON to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def read_step(path: Path) -> dict[str, Any] | None:
    """A step's result file, or ``None`` when the step has not finished."""
    from margin.data.workspace.runs import read_json_object

    if not path.is_file():
        return None
    return read_json_object(path, "loop step file", "delete it to redo that step")


@dataclass(frozen=True)
class Loop:
    """One loop: its folder, world, settings and status quo.

    Attributes:
        status_quo: ``(n_geos, n_channels)`` mean weekly spend, in the world's order.
        start: the first cycle's first week (the world's ``next_week`` at creation).
    """

    id: str
    folder: Path
    workspace: Path
    command: str
    state: Path
    settings: LoopSettings
    geos: tuple[str, ...]
    channels: tuple[str, ...]
    status_quo: FloatArray
    start: date

    def cycle_dir(self, k: int) -> Path:
        """Cycle ``k``'s folder (1-based)."""
        return self.folder / f"cycle-{k:03d}"

    def cycle_start(self, k: int) -> date:
        """Cycle ``k``'s first week (cycles follow each other without gaps)."""
        return self.start + timedelta(weeks=(k - 1) * self.settings.weeks)

    def budget(self) -> float:
        """Spend over one cycle: the setting, or the status quo's."""
        if self.settings.budget is not None:
            return float(self.settings.budget)
        return float(self.status_quo.sum() * self.settings.weeks)

    def status_quo_totals(self) -> FloatArray:
        """``(n_channels,)`` the status quo's spend over one cycle, scaled to the budget."""
        totals: FloatArray = self.status_quo.sum(axis=0) * self.settings.weeks
        total = float(totals.sum())
        return totals * (self.budget() / total) if total > 0 else totals

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "loop_id": self.id,
            "workspace": str(self.workspace),
            "world": {"command": self.command, "state": str(self.state)},
            "settings": self.settings.to_json(),
            "start": self.start.isoformat(),
            "status_quo": {
                "weeks": STATUS_QUO_WEEKS,
                "unit": "currency per week",
                "geos": list(self.geos),
                "channels": list(self.channels),
                "weekly": self.status_quo.tolist(),
            },
        }

    def finished_cycles(self) -> list[int]:
        """The cycles with a ``cycle.json`` (oldest first)."""
        found = sorted(self.folder.glob("cycle-*/cycle.json"))
        return [int(p.parent.name.removeprefix("cycle-")) for p in found]


def _from_json(body: dict[str, Any], path: Path) -> Loop:
    if body.get("format") != FORMAT or body.get("version") != VERSION:
        raise ConfigError(f"{path}: not a {FORMAT} v{VERSION} file; move it away to start again")
    sq = body["status_quo"]
    return Loop(
        id=body["loop_id"], folder=path.parent, workspace=Path(body["workspace"]),
        command=body["world"]["command"], state=Path(body["world"]["state"]),
        settings=LoopSettings.from_json(body["settings"], str(path)),
        geos=tuple(sq["geos"]), channels=tuple(sq["channels"]),
        status_quo=np.asarray(sq["weekly"], dtype=np.float64),
        start=date.fromisoformat(body["start"]),
    )  # fmt: skip


def open_loop(workspace: Path, world: World, settings: LoopSettings, info: WorldInfo) -> Loop:
    """The loop driving ``world``: read from ``loop.json``, or created (the status quo from
    the world's history) when there is none.

    Raises:
        ConfigError: the stored loop was started with other settings or another world.
    """
    from margin.data.workspace.runs import read_json_object

    state = world.state_dir
    ident = loop_id(workspace, state)
    path = loops_folder(workspace) / ident / "loop.json"
    if path.is_file():
        loop = _from_json(read_json_object(path, "loop file", "move it away to start again"), path)
        diff = settings.differences(loop.settings)
        if diff:
            raise ConfigError(
                f"loop {ident} ({path}) was started with {'; '.join(diff)}; run it with the "
                "same settings, or start another loop with another --state"
            )
        if (loop.geos, loop.channels) != (info.geos, info.channels):
            raise ConfigError(f"loop {ident}: the world's geos or channels changed since it began")
        return loop
    if info.next_week != world.history_end():
        raise ConfigError(
            f"the world in {state} has already been stepped (next_week {info.next_week}) but "
            f"this workspace has no loop for it; start from a fresh --state folder"
        )
    loop = Loop(
        id=ident, folder=path.parent, workspace=workspace.resolve(), command=world.command,
        state=state.resolve(), settings=settings, geos=info.geos, channels=info.channels,
        status_quo=world.status_quo(info), start=info.next_week,
    )  # fmt: skip
    write_json(path, loop.to_json())
    return loop


def latest_loop(workspace: Path, ident: str | None = None) -> Loop:
    """The workspace's loop ``ident``, or the one whose ``loop.json`` changed last.

    Raises:
        ConfigError: no such loop.
    """
    from margin.data.workspace.runs import read_json_object

    folder = loops_folder(workspace)
    found = sorted(folder.glob("loop-*/loop.json"), key=lambda p: p.stat().st_mtime)
    fix = "move it away to start again"
    loops = [_from_json(read_json_object(p, "loop file", fix), p) for p in found]
    mine = [
        loop for loop in loops
        if loop.workspace == workspace.resolve() and ident in (None, loop.id)
    ]  # fmt: skip
    if not mine:
        named = f" called {ident}" if ident else ""
        raise ConfigError(
            f"workspace {workspace} has no loop{named} (in {folder}); start one with "
            "margin loop --world CMD --cycles N"
        )
    return mine[-1]
