"""A stepping world's files: the public ``world.json`` and the private state under ``.sim/``.

``DIR/world.json`` is the commit point. The private state of the world whose next week is
``W`` lives in ``DIR/.sim/state-W.json`` (parameters, seed, options, step counter) and
``DIR/.sim/state-W.npz`` (every array so far). A step writes its outputs, then the new
state under new names, then replaces ``world.json`` (``os.replace``), and only then removes
the old state: a crash at any point leaves a consistent world at the old or new week.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from margin.data.simulator.params import ChannelParams, LiftTestParams, LtvParams, WorldParams
from margin.data.simulator.stepping_drift import DriftOptions
from margin.errors import ConfigError, DataValidationError
from margin.types import FloatArray

__all__ = [
    "STATE_FORMAT",
    "WorldOptions",
    "WorldState",
    "load_state",
    "params_from_json",
    "params_to_json",
    "save_state",
    "write_json_atomic",
]

STATE_FORMAT = "margin-world-state"
_VERSION = 1
_HIDDEN = ".sim"


@dataclass(frozen=True)
class WorldOptions:
    """How a stepping world behaves beyond its :class:`WorldParams`.

    ``users``: simulate users (touch and conversion events, customer transactions);
    ``drift``: how the truth changes after the history.
    """

    users: bool = True
    drift: DriftOptions = field(default_factory=DriftOptions)


@dataclass(frozen=True, eq=False)
class WorldState:
    """Everything a stepping world knows after ``step`` steps (0 = just initialised).

    ``arrays`` hold ``spend`` ``(n_geos, n_weeks, n_channels)``, ``price``, ``expected``,
    ``observed`` ``(n_geos, n_weeks)``, ``price_drift`` ``(n_geos,)`` and, with users, the
    touches of the last carry-over weeks (``touch_*``) and the customers (``customer_*``).
    """

    params: WorldParams
    seed: int
    options: WorldOptions
    step: int
    history_weeks: int
    arrays: dict[str, np.ndarray] = field(repr=False)

    @property
    def n_weeks(self) -> int:
        """Weeks simulated so far (history and steps)."""
        return int(self.arrays["spend"].shape[1])

    @property
    def next_week(self) -> date:
        """The Monday of the next week to play."""
        return self.params.start + timedelta(weeks=self.n_weeks)

    @property
    def carryover_weeks(self) -> int:
        """The longest adstock length ``L`` (weeks a week's spend still acts, itself included)."""
        return max(c.max_lag for c in self.params.channels)

    def float_array(self, name: str) -> FloatArray:
        """One of the float arrays."""
        return np.asarray(self.arrays[name], dtype=np.float64)

    def world_json(self) -> dict[str, Any]:
        """The public ``world.json`` body."""
        p = self.params
        return {
            "kpi": p.kpi_name,
            "kpi_type": p.kpi_type,
            "kpi_value": p.kpi_value,
            "currency": p.currency,
            "geos": list(p.geos),
            "channels": list(p.channel_names),
            "controls": ["price", "holiday"],
            "week_start": p.start.isoformat(),
            "next_week": self.next_week.isoformat(),
            "carryover_weeks": self.carryover_weeks,
            "has_users": self.options.users,
            "can_score": True,
        }


def params_to_json(params: WorldParams) -> dict[str, Any]:
    """``params`` as JSON-able data (:func:`params_from_json` inverts it exactly)."""
    body = asdict(params)
    body["start"] = params.start.isoformat()
    return body


def params_from_json(body: dict[str, Any]) -> WorldParams:
    """The :class:`WorldParams` of :func:`params_to_json`'s output."""
    d = dict(body)
    d["start"] = date.fromisoformat(d["start"])
    d["channels"] = tuple(ChannelParams(**c) for c in d["channels"])
    d["lift_tests"] = tuple(
        LiftTestParams(**{**t, "treatment_geos": tuple(t["treatment_geos"])})
        for t in d["lift_tests"]
    )
    d["ltv"] = LtvParams(**d["ltv"])
    d.setdefault("ltv_by_channel", ())  # a world created before per-channel customers
    for name in ("geos", "population", "seasonality_cos", "seasonality_sin"):
        d[name] = tuple(d[name])
    return WorldParams(**d)


def write_json_atomic(path: Path, body: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path``, then move it into place."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(body, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _state_paths(state_dir: Path, next_week: date) -> tuple[Path, Path]:
    stem = state_dir / _HIDDEN / f"state-{next_week.isoformat()}"
    return stem.with_suffix(".json"), stem.with_suffix(".npz")


def save_state(state: WorldState, state_dir: Path) -> None:
    """Write ``state`` under ``.sim/``, commit it by replacing ``world.json``, drop the old."""
    json_path, npz_path = _state_paths(state_dir, state.next_week)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = npz_path.with_name(f".{npz_path.stem}.tmp.npz")
    arrays: dict[str, Any] = dict(state.arrays)  # numpy types savez's keywords as its options
    np.savez(temporary, **arrays)
    os.replace(temporary, npz_path)
    write_json_atomic(
        json_path,
        {
            "format": STATE_FORMAT,
            "version": _VERSION,
            "seed": state.seed,
            "step": state.step,
            "history_weeks": state.history_weeks,
            "params": params_to_json(state.params),
            "options": asdict(state.options),
        },
    )
    write_json_atomic(state_dir / "world.json", state.world_json())
    for old in (state_dir / _HIDDEN).glob("state-*"):
        if old not in (json_path, npz_path):
            old.unlink()


def _read_world_json(state_dir: Path) -> date:
    path = state_dir / "world.json"
    if not path.is_file():
        raise ConfigError(
            f"{path} does not exist; create the world first (margin world init --state {state_dir})"
        )
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return date.fromisoformat(body["next_week"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataValidationError(
            f"{path} is not a world.json with a next_week date ({err}); restore it or "
            "create the world again in an empty folder"
        ) from err


def load_state(state_dir: Path) -> WorldState:
    """The state of the world in ``state_dir`` at ``world.json``'s ``next_week``.

    Raises:
        ConfigError: there is no ``world.json``, or no margin simulator state for it.
    """
    state_dir = Path(state_dir)
    next_week = _read_world_json(state_dir)
    json_path, npz_path = _state_paths(state_dir, next_week)
    if not (json_path.is_file() and npz_path.is_file()):
        raise ConfigError(
            f"{state_dir / 'world.json'} has no margin simulator state for its next_week "
            f"{next_week.isoformat()} ({json_path.relative_to(state_dir)}): this world was "
            "not created by margin world init, or its state was removed; create it again"
        )
    body = json.loads(json_path.read_text(encoding="utf-8"))
    if body.get("format") != STATE_FORMAT or body.get("version") != _VERSION:
        raise ConfigError(f"{json_path} is not a {STATE_FORMAT} version {_VERSION} file")
    options = body["options"]
    drift = {**options["drift"], "kinds": tuple(options["drift"]["kinds"])}
    with np.load(npz_path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return WorldState(
        params=params_from_json(body["params"]),
        seed=int(body["seed"]),
        options=WorldOptions(users=bool(options["users"]), drift=DriftOptions(**drift)),
        step=int(body["step"]),
        history_weeks=int(body["history_weeks"]),
        arrays=arrays,
    )
