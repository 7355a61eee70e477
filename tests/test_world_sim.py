"""margin's simulator as a stepping world (``margin world init | step | score``, docs/worlds.md).

Oracles: the history is :func:`simulate_world`'s; a step's expected KPI is
:func:`expected_kpi` over the whole spend so far; score is :func:`expected_kpi` over the
history, the plan and ``L`` zero weeks at the expected price; media differences are
:func:`media_effects` differences.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _cli import margin, words
from margin.data.simulator import WorldParams, expected_kpi, media_effects, simulate_world
from margin.data.simulator.plan import expected_price_path, holiday_flags
from margin.data.simulator.stepping import (
    DriftOptions,
    WorldOptions,
    init,
    load_state,
    score,
    score_plans,
    step,
    world_drift,
    world_params,
)
from margin.data.simulator.stepping_drift import drift_multipliers
from margin.data.simulator.stepping_state import WorldState
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError, DataValidationError

SEED = 4
DOCS = Path(__file__).resolve().parents[1] / "docs" / "worlds.md"
ALL_DRIFT = DriftOptions(kinds=("effects", "saturation", "competitor"), competitor_week=2)


def _params(**overrides: object) -> WorldParams:
    return replace(world_params(geos=3, history_weeks=40, n_users=300), **overrides)


def _world(folder: Path, options: WorldOptions | None = None, **overrides: object) -> WorldState:
    init(_params(**overrides), SEED, options or WorldOptions(), folder)
    return load_state(folder)


def _plan(state: WorldState, weeks: int = 6, scale: float = 1.0) -> np.ndarray:
    """Last year's mean weekly spend per geo and channel, ``(n_geos, weeks, n_channels)``."""
    mean = state.float_array("spend")[:, -26:].mean(axis=1) * scale
    return np.round(np.repeat(mean[:, None, :], weeks, axis=1), 2)


def _write_plan(state: WorldState, path: Path, *plans: np.ndarray) -> Path:
    """``plans`` as PLAN.csv (with a ``plan`` column when there are several)."""
    rows = []
    for k, plan in enumerate(plans):
        for g, t, c in np.ndindex(plan.shape):
            day = (state.next_week + timedelta(weeks=t)).isoformat()
            geo, channel = state.params.geos[g], state.params.channel_names[c]
            rows.append({"plan": f"p{k}", "date": day, "geo": geo, "channel": channel, "spend": plan[g, t, c]})  # fmt: skip
    frame = pd.DataFrame(rows)
    (frame if len(plans) > 1 else frame.drop(columns="plan")).to_csv(path, index=False)
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _oracle(state: WorldState, plan: np.ndarray) -> float:
    """``score`` by hand: expected_kpi over history + plan + L zero weeks, expected price."""
    lag, t0 = state.carryover_weeks, state.n_weeks
    zeros = np.zeros((plan.shape[0], lag, plan.shape[2]))
    spend = np.concatenate([state.float_array("spend"), plan, zeros], axis=1)
    full = replace(state.params, n_weeks=spend.shape[1])
    future = expected_price_path(
        state.params, state.float_array("price_drift"), spend.shape[1] - t0
    )
    price = np.concatenate([state.float_array("price"), future], axis=1)
    drift = world_drift(state, spend.shape[1])
    return float(expected_kpi(spend, price, holiday_flags(full), full, drift)[:, t0:].sum())


# --- the command line ------------------------------------------------------------------


def test_cli_init_step_score_follow_the_interface(tmp_path: Path) -> None:
    state = tmp_path / "world"
    made = margin("world", "--seed", "2", "--geos", "3", "--history-weeks", "30", "--kpi", "conversions", "init", "--state", str(state))  # fmt: skip
    assert made.returncode == 0, made.stderr
    info = json.loads((state / "world.json").read_text())
    assert set(info) >= {"kpi", "kpi_type", "currency", "geos", "channels", "controls", "week_start", "next_week"}  # fmt: skip
    assert info["kpi"] == info["kpi_type"] == "conversions"
    assert info["kpi_value"] == 35.0
    assert info["has_users"]
    assert info["can_score"]
    assert info["carryover_weeks"] == 8
    for name in ("spend", "outcomes", "controls", "events", "transactions"):
        assert (state / "history" / f"{name}.csv").is_file()
    world = load_state(state)
    plan = _write_plan(world, tmp_path / "plan.csv", _plan(world, weeks=4))
    scored = margin("world", "score", "--state", str(state), "--plan", str(plan))
    assert scored.returncode == 0, scored.stderr
    body = json.loads(scored.stdout)  # JSON only
    assert body["weeks"] == 4
    assert body["carryover_weeks"] == 8
    assert body["value"] == pytest.approx(body["kpi"] * 35.0)
    stepped = margin("world", "step", "--state", str(state), "--plan", str(plan), "--out", str(tmp_path / "out"))  # fmt: skip
    assert stepped.returncode == 0, stepped.stderr
    out = {p.stem: pd.read_csv(p) for p in (tmp_path / "out").glob("*.csv")}
    assert set(out) == {"spend", "outcomes", "controls", "events", "transactions"}
    assert list(out["spend"].columns[:4]) == ["date", "geo", "channel", "spend"]
    assert list(out["outcomes"].columns) == ["date", "geo", "kpi", "value"]
    assert list(out["controls"].columns) == ["date", "geo", "name", "value"]
    assert list(out["events"].columns) == ["user_id", "ts", "channel", "campaign", "creative", "event", "value"]  # fmt: skip
    assert list(out["transactions"].columns) == ["customer_id", "ts", "amount", "acquisition_channel"]  # fmt: skip
    assert sorted(out["outcomes"]["date"].unique()) == sorted(pd.read_csv(plan)["date"].unique())
    assert np.array_equal(out["outcomes"]["value"], np.round(out["outcomes"]["value"]))
    after = json.loads((state / "world.json").read_text())
    assert after["next_week"] == (world.next_week + timedelta(weeks=4)).isoformat()


BAD_PLANS = {
    "missing row": (lambda f: f.iloc[1:], "missing the row date="),
    "duplicate row": (
        lambda f: pd.concat([f, f.iloc[:1]]),
        "row 61 (line 62): a second row for date=",
    ),
    "extra geo": (
        lambda f: pd.concat([f, f.iloc[:1].assign(geo="atlantis")]),
        "row 61 (line 62), column geo: 'atlantis' is not a geo",
    ),
    "negative spend": (
        lambda f: f.assign(spend=np.where(f.index == 4, -1.0, f["spend"])),
        "row 5 (line 6), column spend: '-1.0' is not a finite amount >= 0",
    ),
    "wrong start week": (
        lambda f: f.assign(
            date=(pd.to_datetime(f["date"]) + pd.Timedelta(weeks=1)).dt.strftime("%Y-%m-%d")
        ),
        "column date: the plan starts on",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_a_bad_plan_exits_2_naming_the_row_and_column(tmp_path: Path, case: str) -> None:
    world = _world(tmp_path / "world", WorldOptions(users=False))
    good = _write_plan(world, tmp_path / "good.csv", _plan(world, weeks=4))
    change, said = BAD_PLANS[case]
    change(pd.read_csv(good)).to_csv(tmp_path / "bad.csv", index=False)
    before = _digest(tmp_path / "world")
    for command in ("step", "score"):
        extra = ["--out", str(tmp_path / "out")] if command == "step" else []
        result = margin("world", command, "--state", str(tmp_path / "world"), "--plan", str(tmp_path / "bad.csv"), *extra)  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert said in words(result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""
    assert _digest(tmp_path / "world") == before
    assert not (tmp_path / "out").exists()


def test_step_refuses_a_world_json_without_state(tmp_path: Path) -> None:
    world = _world(tmp_path / "world", WorldOptions(users=False))
    plan = _write_plan(world, tmp_path / "plan.csv", _plan(world, weeks=2))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "world.json").write_text((tmp_path / "world" / "world.json").read_text())
    result = margin("world", "step", "--state", str(foreign), "--plan", str(plan), "--out", str(tmp_path / "o"))  # fmt: skip
    assert result.returncode == 2
    assert "has no margin simulator state" in words(result.stderr)
    with pytest.raises(ConfigError, match="does not exist"):
        step(tmp_path / "empty", plan, tmp_path / "o")
    with pytest.raises(ConfigError, match="exists: a world is created once"):
        init(_params(), SEED, WorldOptions(), tmp_path / "world")


# --- the history and the steps -----------------------------------------------------------


def test_the_history_is_the_usual_simulators(tmp_path: Path) -> None:
    world = _world(tmp_path / "world")
    truth = simulate_world(_params(), seed=SEED).arrays
    assert np.array_equal(world.float_array("spend"), truth.spend)
    assert np.array_equal(world.float_array("price"), truth.price)
    assert np.array_equal(world.float_array("observed"), truth.observed)
    outcomes = pd.read_csv(tmp_path / "world" / "history" / "outcomes.csv")
    assert np.allclose(outcomes["value"].to_numpy().reshape(3, -1), truth.observed)
    assert world.next_week == _params().start + timedelta(weeks=40)


def test_same_seed_and_plans_give_identical_files(tmp_path: Path) -> None:
    digests = []
    for run in ("a", "b"):
        folder = tmp_path / run
        world = _world(folder / "world", WorldOptions(drift=ALL_DRIFT))
        for k in range(2):
            plan = _write_plan(world, folder / f"plan{k}.csv", _plan(world, weeks=3, scale=1 + k))
            step(folder / "world", plan, folder / f"out{k}")
            world = load_state(folder / "world")
        digests.append(_digest(folder))
    assert digests[0] == digests[1]
    assert len(digests[0]) > 15


def test_a_steps_expected_kpi_is_the_one_shot_simulation_of_all_weeks(tmp_path: Path) -> None:
    folder = tmp_path / "world"
    world = _world(folder, WorldOptions(drift=ALL_DRIFT))
    for k in range(2):
        t0 = world.n_weeks
        plan = _plan(world, weeks=5, scale=0.5 + k)
        step(folder, _write_plan(world, tmp_path / f"p{k}.csv", plan), tmp_path / f"out{k}")
        world = load_state(folder)
        spend = world.float_array("spend")
        assert np.array_equal(spend[:, t0:], plan)
        full = replace(world.params, n_weeks=world.n_weeks)
        drift = drift_multipliers(ALL_DRIFT, world.params, SEED, 40, world.n_weeks)
        oracle = expected_kpi(spend, world.float_array("price"), holiday_flags(full), full, drift)
        assert np.allclose(world.float_array("expected")[:, t0:], oracle[:, t0:], rtol=1e-12)
        without_history = spend.copy()
        without_history[:, :t0] = 0
        cut = expected_kpi(without_history, world.float_array("price"), holiday_flags(full), full, drift)  # fmt: skip
        assert cut[:, t0].sum() < oracle[:, t0].sum()  # the history's carry-over counts
        outcomes = pd.read_csv(tmp_path / f"out{k}" / "outcomes.csv")
        observed = outcomes["value"].to_numpy().reshape(3, -1)
        assert np.array_equal(observed, world.float_array("observed")[:, t0:])
        sd = world.params.noise_cv * world.params.intercept * np.asarray(world.params.population_share)  # fmt: skip
        assert np.all(np.abs(observed - oracle[:, t0:]) < 6 * sd[:, None])


def test_users_continue_across_steps(tmp_path: Path) -> None:
    folder = tmp_path / "world"
    world = _world(folder)
    tables = [pd.read_csv(folder / "history" / "transactions.csv")]
    for k in range(2):
        plan = _write_plan(world, tmp_path / f"p{k}.csv", _plan(world, weeks=4))
        step(folder, plan, tmp_path / f"out{k}")
        events = pd.read_csv(tmp_path / f"out{k}" / "events.csv")
        start = pd.Timestamp(world.next_week)
        ts = pd.to_datetime(events["ts"])
        assert ts.min() >= start
        assert ts.max() < start + pd.Timedelta(weeks=4)
        assert {"touch", "conversion"} <= set(events["event"])
        tables.append(pd.read_csv(tmp_path / f"out{k}" / "transactions.csv"))
        world = load_state(folder)
    ledger = pd.concat(tables)
    assert ledger.groupby("customer_id")["acquisition_channel"].nunique().max() == 1
    assert len(tables[1]) > 0
    assert len(tables[2]) > 0


def test_step_outputs_are_valid_margin_inputs(tmp_path: Path, ws: Workspace) -> None:
    from margin.data.ingest.pipeline import ingest_file

    folder = tmp_path / "world"
    world = _world(folder)
    step(folder, _write_plan(world, tmp_path / "p.csv", _plan(world, weeks=3)), tmp_path / "out")
    for source in (folder / "history", tmp_path / "out"):
        for kind in ("spend", "outcomes", "controls", "events", "transactions"):
            result = ingest_file(ws, kind, source / f"{kind}.csv")
            assert result.rows_written > 0, (source, kind)
            assert not [f for f in result.findings if f.severity == "error"]
    weeks = ws.con.execute("select count(distinct date) from outcomes").fetchone()
    assert weeks == (43,)


# --- score ---------------------------------------------------------------------------------


def test_score_is_the_true_expected_kpi_and_more_spend_adds_exactly_its_media(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "world"
    world = _world(folder, WorldOptions(users=False, drift=ALL_DRIFT))
    base = _plan(world, weeks=4)
    more = base.copy()
    more[1, 2, 0] += 50_000.0
    body = score(folder, _write_plan(world, tmp_path / "a.csv", base))
    assert body["kpi"] == pytest.approx(_oracle(world, base), rel=1e-12)
    higher = score(folder, _write_plan(world, tmp_path / "b.csv", more))["kpi"]
    lag, history = world.carryover_weeks, world.float_array("spend")
    zeros = np.zeros((3, lag, 5))
    spend_a = np.concatenate([history, base, zeros], axis=1)
    spend_b = np.concatenate([history, more, zeros], axis=1)
    drift = world_drift(world, spend_a.shape[1])
    media = media_effects(spend_b, world.params, drift) - media_effects(
        spend_a, world.params, drift
    )
    assert media.sum() > 0
    assert higher - body["kpi"] == pytest.approx(media.sum(), rel=1e-9)


def test_score_counts_carry_over_and_never_changes_the_world(tmp_path: Path) -> None:
    folder = tmp_path / "world"
    world = _world(folder)
    zero = np.zeros((3, 4, 5))
    last = zero.copy()
    last[:, -1, 0] = 100_000.0
    before = _digest(folder)
    plans = _write_plan(world, tmp_path / "batch.csv", zero, last, _plan(world, weeks=4))
    batch = score(folder, plans)
    singles = [
        score(folder, _write_plan(world, tmp_path / f"s{k}.csv", plan))["kpi"]
        for k, plan in enumerate((zero, last, _plan(world, weeks=4)))
    ]
    assert _digest(folder) == before
    assert list(batch["plans"]) == ["p0", "p1", "p2"]
    assert [batch["plans"][k]["kpi"] for k in ("p0", "p1", "p2")] == pytest.approx(singles, rel=1e-12)  # fmt: skip
    media_now = media_effects(np.concatenate([world.float_array("spend"), zero, np.zeros((3, 8, 5))], axis=1), world.params)  # fmt: skip
    media_last = media_effects(np.concatenate([world.float_array("spend"), last, np.zeros((3, 8, 5))], axis=1), world.params)  # fmt: skip
    carried = (media_last - media_now)[:, world.n_weeks + 4 :].sum()
    assert carried > 0  # the plan's last week acts on the carry-over weeks
    assert singles[1] - singles[0] == pytest.approx((media_last - media_now).sum(), rel=1e-9)
    assert batch["weeks"] == 4
    assert batch["carryover_weeks"] == 8
    direct = score_plans(world, np.stack([zero, last]))
    assert direct.tolist() == pytest.approx(singles[:2], rel=1e-12)


# --- drift -------------------------------------------------------------------------------


def test_drift_is_as_documented_and_truth_follows_it(tmp_path: Path) -> None:
    params = _params()
    drift = drift_multipliers(ALL_DRIFT, params, SEED, 40, 40 + 104)
    assert drift is not None
    assert drift.beta is not None
    assert drift.half_saturation is not None
    assert drift.baseline is not None
    assert np.all(drift.beta[:41] == 1.0)
    assert np.all(drift.baseline[:42] == 1.0)
    assert np.all(drift.baseline[42:] == 0.95)
    years = 52 * 7 / 365.25
    assert drift.half_saturation[40 + 52, 0] == pytest.approx(1.3**years)
    assert np.all(drift.half_saturation[:, 1:] == 1.0)
    effects = drift_multipliers(DriftOptions(kinds=("effects",)), params, SEED, 40, 40 + 104)
    assert effects is not None
    assert effects.beta is not None
    yearly = np.log(effects.beta[40 + 52])
    assert np.all(np.abs(yearly) < 0.4)
    assert np.any(np.abs(yearly) > 0.01)
    competitor = drift.beta / effects.beta
    assert np.allclose(competitor[42:, 1], 0.7)
    assert np.allclose(competitor[:, [0, 2, 3, 4]], 1.0)

    plain = _world(tmp_path / "plain", WorldOptions(users=False))
    drifting = _world(tmp_path / "drift", WorldOptions(users=False, drift=ALL_DRIFT))
    assert np.array_equal(plain.float_array("observed"), drifting.float_array("observed"))
    plan = _plan(plain, weeks=8)
    path = _write_plan(plain, tmp_path / "p.csv", plan)
    assert score(tmp_path / "drift", path)["kpi"] == pytest.approx(_oracle(drifting, plan))
    assert score(tmp_path / "drift", path)["kpi"] < score(tmp_path / "plain", path)["kpi"]
    with pytest.raises(ConfigError, match="not a channel"):
        DriftOptions(kinds=("saturation",), saturation_channel="radio").channels(params)
    with pytest.raises(ConfigError, match="unknown"):
        DriftOptions(kinds=("weather",))


def test_a_crash_before_world_json_leaves_the_world_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from margin.data.simulator import stepping_state

    folder = tmp_path / "world"
    world = _world(folder, WorldOptions(users=False))
    plan = _write_plan(world, tmp_path / "p.csv", _plan(world, weeks=2))
    real = stepping_state.write_json_atomic

    def crash(path: Path, body: dict[str, object]) -> None:
        if path.name == "world.json":
            raise OSError("disk full")
        real(path, body)

    monkeypatch.setattr(stepping_state, "write_json_atomic", crash)
    with pytest.raises(OSError, match="disk full"):
        step(folder, plan, tmp_path / "out")
    monkeypatch.undo()
    assert load_state(folder).next_week == world.next_week
    step(folder, plan, tmp_path / "out")
    assert load_state(folder).next_week == world.next_week + timedelta(weeks=2)
    assert len(list((folder / ".sim").glob("state-*"))) == 2


def test_read_plan_rejects_a_batch_in_step(tmp_path: Path) -> None:
    folder = tmp_path / "world"
    world = _world(folder, WorldOptions(users=False))
    plans = _write_plan(world, tmp_path / "b.csv", _plan(world, 2), _plan(world, 2))
    with pytest.raises(DataValidationError, match="expected exactly date,geo,channel,spend"):
        step(folder, plans, tmp_path / "out")


# --- the interface, written by someone else --------------------------------------------------


def _doc_world(tmp_path: Path) -> Path:
    """The minimal world of docs/worlds.md, written to a file."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    example = [b for b in blocks if "def main" in b]
    assert len(example) == 1, "docs/worlds.md must hold one example world (a main function)"
    path = tmp_path / "tiny_world.py"
    path.write_text(example[0], encoding="utf-8")
    return path


def test_the_minimal_world_in_the_docs_follows_the_interface(tmp_path: Path) -> None:
    script = _doc_world(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(script), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    state = tmp_path / "state"
    assert run("init", "--state", str(state)).returncode == 0
    info = json.loads((state / "world.json").read_text())
    for name in ("spend", "outcomes", "controls"):
        assert (state / "history" / f"{name}.csv").is_file()
    rows = [
        {"date": info["next_week"], "geo": g, "channel": c, "spend": 100.0}
        for g in info["geos"]
        for c in info["channels"]
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "plan.csv", index=False)
    scored = run("score", "--state", str(state), "--plan", str(tmp_path / "plan.csv"))
    assert scored.returncode == 0, scored.stderr
    assert set(json.loads(scored.stdout)) >= {"kpi", "value", "weeks", "carryover_weeks"}
    stepped = run("step", "--state", str(state), "--plan", str(tmp_path / "plan.csv"), "--out", str(tmp_path / "out"))  # fmt: skip
    assert stepped.returncode == 0, stepped.stderr
    after = json.loads((state / "world.json").read_text())
    assert after["next_week"] > info["next_week"]
    outcomes = pd.read_csv(tmp_path / "out" / "outcomes.csv")
    assert list(outcomes.columns) == ["date", "geo", "kpi", "value"]
    again = run("step", "--state", str(state), "--plan", str(tmp_path / "plan.csv"), "--out", str(tmp_path / "o2"))  # fmt: skip
    assert again.returncode != 0
    assert again.stderr.strip()
