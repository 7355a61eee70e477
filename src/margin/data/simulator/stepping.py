"""margin's simulator as a world that reacts to plans: ``init``, ``step``, ``score``.

A stepping world is the causal world of :func:`simulate_world` played week window by week
window (``docs/worlds.md`` is the interface; :mod:`margin.cli.world_command` the command):

* :func:`init` simulates ``params.n_weeks`` weeks of history with the usual simulator
  (its spend patterns, controls and KPI; users through :mod:`.stepping_users`) and writes
  ``DIR/world.json`` and ``DIR/history/*.csv``.
* :func:`step` spends exactly a plan, continues the history (adstock over all weeks so
  far, the price process from its last week, the calendar's holidays, drift) and writes
  the new weeks' files. Observation noise and every other draw of step ``k`` come from
  ``SeedSequence([seed, k])``: the world is deterministic given its seed and its plans.
* :func:`score` is the true expected KPI of plans over their weeks plus ``L`` weeks of
  zero spend (``L`` = the longest adstock), future price at its expectation, from the
  current state; it writes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from margin.data.simulator.frames import controls_frame, outcomes_frame, spend_frame
from margin.data.simulator.media import Drift, media_effects
from margin.data.simulator.outcomes import baseline, expected_kpi, observe_kpi
from margin.data.simulator.params import WorldParams
from margin.data.simulator.plan import (
    campaign_names,
    expected_price_path,
    holiday_flags,
    impressions_and_clicks,
    simulate_price_path,
)
from margin.data.simulator.stepping_drift import DriftOptions, drift_multipliers
from margin.data.simulator.stepping_plan import read_plan
from margin.data.simulator.stepping_state import WorldOptions, WorldState, load_state, save_state
from margin.data.simulator.stepping_users import simulate_users_window
from margin.data.simulator.world import simulate_arrays, world_rngs
from margin.errors import ConfigError
from margin.types import FloatArray

__all__ = [
    "DriftOptions",
    "WorldOptions",
    "init",
    "load_state",
    "score",
    "score_plans",
    "step",
    "world_drift",
    "world_params",
]

_STEP_STREAMS = ("price", "impressions", "noise", "touches", "conversions", "ltv")
_SPEND_COLUMNS = (
    "date",
    "geo",
    "channel",
    "spend",
    "campaign",
    "impressions",
    "clicks",
    "currency",
)
_STORED = ("spend", "price", "expected", "observed", "price_drift")
"""The arrays a state keeps besides the users' (``touch_*``, ``customer_*``)."""


def world_params(
    *,
    geos: int = 6,
    history_weeks: int = 156,
    kpi_type: str = "revenue",
    n_users: int = 5_000,
    start: date = date(2023, 1, 2),
) -> WorldParams:
    """The default parameters of a stepping world: no lift tests in its history."""
    return WorldParams(
        n_geos=geos,
        n_weeks=history_weeks,
        kpi_type=kpi_type,  # type: ignore[arg-type]  # validated by WorldParams
        n_users=n_users,
        start=start,
        lift_tests=(),
    )


def _full_params(params: WorldParams, n_weeks: int) -> WorldParams:
    """``params`` over weeks ``0..n_weeks-1`` (the calendar, trend and seasonality go on)."""
    if n_weeks > 520:
        raise ConfigError(
            f"this world would reach week {n_weeks}; margin's simulator holds at most 520 "
            "weeks (history, steps and carry-over): create a world with a shorter history"
        )
    return replace(params, n_weeks=n_weeks)


def _step_rngs(seed: int, step_index: int) -> dict[str, np.random.Generator]:
    streams = np.random.SeedSequence([seed, step_index]).spawn(len(_STEP_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(_STEP_STREAMS, streams, strict=True)}


def world_drift(state: WorldState, n_weeks: int) -> Drift | None:
    """The world's drift over weeks ``0..n_weeks-1`` (``None`` without drift)."""
    return drift_multipliers(
        state.options.drift, state.params, state.seed, state.history_weeks, n_weeks
    )


def _tables(
    params: WorldParams, arrays: dict[str, np.ndarray], first: int
) -> dict[str, pd.DataFrame]:
    """Spend, outcomes and controls of weeks ``first..`` (``params`` covers every week)."""
    spend = arrays["spend"]
    impressions = np.zeros_like(spend)
    clicks = np.zeros_like(spend)
    impressions[:, first:] = arrays["impressions"]
    clicks[:, first:] = arrays["clicks"]
    frames = {
        "spend": spend_frame(params, spend, impressions, clicks, campaign_names(params)),
        "outcomes": outcomes_frame(params, arrays["observed"]),
        "controls": controls_frame(params, arrays["price"], holiday_flags(params)),
    }
    cut = (params.start + timedelta(weeks=first)).isoformat()
    frames = {name: f[f["date"] >= cut].reset_index(drop=True) for name, f in frames.items()}
    frames["spend"] = frames["spend"][list(_SPEND_COLUMNS)]
    return frames


def _write_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in tables.items():
        paths[name] = folder / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def _users_state(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in arrays.items() if k.startswith(("touch_", "customer_"))}


def _kept(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays a state keeps: the stored ones and the users' state."""
    return {k: v for k, v in arrays.items() if k in _STORED} | _users_state(arrays)


def _users(
    state: WorldState,
    full: WorldParams,
    arrays: dict[str, np.ndarray],
    window: tuple[int, int],
    rngs: dict[str, np.random.Generator],
) -> dict[str, pd.DataFrame]:
    """Events and transactions of ``window``; the users' state goes into ``arrays``."""
    media = media_effects(arrays["spend"], full, world_drift(state, window[1]))
    inputs = {
        "impressions": arrays["impressions"],
        "expected": arrays["expected"],
        "media": media,
        "campaigns": campaign_names(full),
    }
    previous = None if window[0] == 0 else _users_state(state.arrays)
    result = simulate_users_window(full, state.seed, inputs, window, previous, rngs)
    arrays.update(result.state)
    return {"events": result.events, "transactions": result.transactions}


def init(params: WorldParams, seed: int, options: WorldOptions, state_dir: Path) -> dict[str, Any]:
    """Create a stepping world in ``state_dir``: its history, ``world.json`` and state.

    Returns:
        The ``world.json`` body.

    Raises:
        ConfigError: ``state_dir/world.json`` exists already, or an option is invalid.
    """
    state_dir = Path(state_dir)
    if (state_dir / "world.json").exists():
        raise ConfigError(
            f"{state_dir / 'world.json'} exists: a world is created once; step it, or give "
            "an empty folder to --state"
        )
    options.drift.channels(params)
    a = simulate_arrays(params, seed=seed)
    _, price_drift = simulate_price_path(params, world_rngs(seed)["price"], params.n_weeks)
    arrays: dict[str, np.ndarray] = {
        "spend": a.spend, "price": a.price, "expected": a.expected, "observed": a.observed,
        "price_drift": price_drift[:, -1], "impressions": a.impressions, "clicks": a.clicks,
    }  # fmt: skip
    state = WorldState(params, int(seed), options, 0, params.n_weeks, arrays)
    tables = _tables(params, arrays, 0)
    if options.users:
        tables |= _users(state, params, arrays, (0, params.n_weeks), _step_rngs(seed, 0))
    _write_tables(state_dir / "history", tables)
    state = replace(state, arrays=_kept(arrays))
    save_state(state, state_dir)
    return state.world_json()


def step(state_dir: Path, plan_csv: Path, out: Path) -> dict[str, Path]:
    """Spend exactly ``plan_csv``, advance the world and write the new weeks' files to ``out``.

    Returns:
        Table name (``spend``, ``outcomes``, ``controls``, ``events``, ``transactions``) →
        the CSV written.

    Raises:
        ConfigError: ``state_dir`` holds no margin simulator world.
        DataValidationError: the plan breaks the contract (row and column named).
    """
    state_dir = Path(state_dir)
    state = load_state(state_dir)
    p = state.params
    plan = read_plan(Path(plan_csv), p.geos, p.channel_names, state.next_week).spend[0]
    t0, t1 = state.n_weeks, state.n_weeks + plan.shape[1]
    full = _full_params(p, t1)
    rngs = _step_rngs(state.seed, state.step + 1)
    price, drift = simulate_price_path(p, rngs["price"], t1 - t0, state.float_array("price_drift"))
    arrays: dict[str, np.ndarray] = {
        "spend": np.concatenate([state.float_array("spend"), plan], axis=1),
        "price": np.concatenate([state.float_array("price"), price], axis=1),
        "price_drift": drift[:, -1],
    }
    expected = expected_kpi(
        arrays["spend"], arrays["price"], holiday_flags(full), full, world_drift(state, t1)
    )
    arrays["expected"] = expected
    observed = observe_kpi(expected[:, t0:], p, rngs["noise"])
    arrays["observed"] = np.concatenate([state.float_array("observed"), observed], axis=1)
    arrays["impressions"], arrays["clicks"] = impressions_and_clicks(plan, p, rngs["impressions"])
    tables = _tables(full, arrays, t0)
    if state.options.users:
        tables |= _users(state, full, arrays, (t0, t1), rngs)
    paths = _write_tables(Path(out), tables)
    save_state(replace(state, step=state.step + 1, arrays=_kept(arrays)), state_dir)
    return paths


def score_plans(state: WorldState, spend: FloatArray) -> FloatArray:
    """True expected KPI of each plan over its weeks plus ``L`` weeks of zero spend.

    Args:
        state: the world now.
        spend: plans from the next week, ``(n_plans, n_geos, n_weeks, n_channels)``.

    Returns:
        KPI units, ``(n_plans,)``: baseline at the expected price (and the calendar's
        holidays), plus media, the history's carry-over included.
    """
    n_plans, n_geos, n_weeks, n_channels = spend.shape
    lag, t0 = state.carryover_weeks, state.n_weeks
    t_end = t0 + n_weeks + lag
    full = _full_params(state.params, t_end)
    drift = world_drift(state, t_end)
    future = expected_price_path(state.params, state.float_array("price_drift"), n_weeks + lag)
    price = np.concatenate([state.float_array("price"), future], axis=1)
    base = baseline(full, price, holiday_flags(full))[:, t0:]
    if drift is not None and drift.baseline is not None:
        base = base * drift.baseline[t0:]
    lead = lag - 1
    history = state.float_array("spend")[:, max(0, t0 - lead) : t0]
    prefix = np.zeros((n_geos, lead, n_channels))
    prefix[:, lead - history.shape[1] :] = history
    segments = np.concatenate(
        [
            np.broadcast_to(prefix, (n_plans, *prefix.shape)),
            spend,
            np.zeros((n_plans, n_geos, lag, n_channels)),
        ],
        axis=2,
    )  # each plan after the history's last weeks; plans side by side in time
    length = segments.shape[2]
    stacked = segments.transpose(1, 0, 2, 3).reshape(n_geos, n_plans * length, n_channels)
    weeks = np.tile(np.clip(np.arange(t0 - lead, t_end), 0, None), n_plans)
    batch_drift = None
    if drift is not None and drift.beta is not None and drift.half_saturation is not None:
        batch_drift = Drift(beta=drift.beta[weeks], half_saturation=drift.half_saturation[weeks])
    media = media_effects(stacked, state.params, batch_drift)
    media = media.reshape(n_geos, n_plans, length, n_channels)[:, :, lead:]
    values: FloatArray = base.sum() + media.sum(axis=(0, 2, 3))
    return values


def score(state_dir: Path, plan_csv: Path) -> dict[str, Any]:
    """``score``'s JSON for ``plan_csv`` (one plan, or several with a ``plan`` column)."""
    state = load_state(Path(state_dir))
    p = state.params
    plans = read_plan(Path(plan_csv), p.geos, p.channel_names, state.next_week, allow_batch=True)
    values = score_plans(state, plans.spend)
    head = {"weeks": int(plans.spend.shape[2]), "carryover_weeks": state.carryover_weeks}
    tail = {"currency": p.currency}
    results = {
        plan_id: {"kpi": float(v), "value": float(v) * p.kpi_value}
        for plan_id, v in zip(plans.ids, values, strict=True)
    }
    if plans.batch:
        return {"plans": results} | head | tail
    return results[plans.ids[0]] | head | tail
