"""The learning loop (issue 22 §2): the world interface, cycles, guardrails, tests, resumes.

Everything runs against a tiny world written here (:data:`TINY_WORLD`): 3 geos × 3
channels, a known log response with geometric carry-over, users whose touches and
conversions follow spend; ``--break init|step|column`` makes it fail on purpose.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from _cli import margin, words
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError, MarginError
from margin.loop import LoopSettings, WorldClient, WorldError, list_cycles, plan_frame, run_loop
from margin.loop.ledger import Loop, latest_loop
from margin.loop.planning import channel_bounds, clamp, mmm_plan, spread
from margin.loop.policies import project
from margin.loop.schedule import (
    blocked_geos,
    economics_of_test,
    fold_tests,
    geo_groups,
    pre_start,
    window_lengths,
)

TINY_WORLD = r'''
"""A tiny world for margin's loop tests: known log response, geometric carry-over."""
import argparse, csv, json, sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np

GEOS, CHANNELS, HISTORY, DECAY, LAG = ["g1", "g2", "g3"], ["tv", "search", "social"], 52, 0.4, 3
BETA, SCALE, BASE = np.array([900.0, 1500.0, 300.0]), np.array([800.0, 300.0, 600.0]), 5000.0
START = date(2024, 1, 1)


def media(adstock):  # (geos, channels) -> kpi (geos,)
    return (BETA * np.log1p(adstock / SCALE)).sum(axis=-1)


def play(state, spend, noise):  # spend (weeks, geos, channels) -> kpi (weeks, geos), new adstock
    ad, out = np.array(state["adstock"]), []
    for w in range(spend.shape[0]):
        ad = DECAY * ad + spend[w]
        rng = np.random.default_rng([state["seed"], state["week"] + w])
        out.append(BASE * (1 + 0.1 * np.arange(len(GEOS))) + media(ad) + noise * rng.normal(0, 150, len(GEOS)))
    return np.array(out), ad


def write(out, first, spend, kpi):
    out.mkdir(parents=True, exist_ok=True)
    days = [(first + timedelta(weeks=w)).isoformat() for w in range(spend.shape[0])]
    with open(out / "spend.csv", "w", newline="") as f:
        csv.writer(f).writerows([["date", "geo", "channel", "spend"]] + [[d, g, c, round(float(spend[w, i, j]), 2)] for w, d in enumerate(days) for i, g in enumerate(GEOS) for j, c in enumerate(CHANNELS)])
    with open(out / "outcomes.csv", "w", newline="") as f:
        csv.writer(f).writerows([["date", "geo", "kpi", "value"]] + [[d, g, "revenue", round(float(kpi[w, i]), 2)] for w, d in enumerate(days) for i, g in enumerate(GEOS)])
    with open(out / "controls.csv", "w", newline="") as f:
        csv.writer(f).writerows([["date", "geo", "name", "value"]] + [[d, g, "price", 1.0 + 0.01 * (w % 5)] for w, d in enumerate(days) for g in GEOS])


def users(out, first, spend, seed):
    rows = [["user_id", "ts", "channel", "campaign", "creative", "event", "value"]]
    for w in range(spend.shape[0]):
        rng = np.random.default_rng([seed, 99, w])
        day = first + timedelta(weeks=w)
        for i, g in enumerate(GEOS):
            for j, c in enumerate(CHANNELS):
                for u in range(int(spend[w, i, j] // 40)):
                    uid, ts = f"u{day}-{g}-{c}-{u}", f"{day}T10:00:00"
                    rows.append([uid, ts, c, c + "-1", "", "touch", ""])
                    if rng.random() < (0.2, 0.5, 0.1)[j]:
                        rows.append([uid, f"{day}T12:00:00", "", "", "", "conversion", 100])
    with open(out / "events.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)


def read_plan(path, state):
    rows = list(csv.DictReader(open(path)))
    batch = "plan" in rows[0] if rows else False
    plans = {}
    for r in rows:
        plans.setdefault(r.get("plan", ""), []).append(r)
    out = {}
    for pid, rs in plans.items():
        weeks = sorted({r["date"] for r in rs})
        if weeks[0] != state["next_week"] or len(rs) != len(weeks) * len(GEOS) * len(CHANNELS):
            sys.exit(print("plan must start at next_week with every geo x channel", file=sys.stderr) or 2)
        arr = np.zeros((len(weeks), len(GEOS), len(CHANNELS)))
        for r in rs:
            arr[weeks.index(r["date"]), GEOS.index(r["geo"]), CHANNELS.index(r["channel"])] = float(r["spend"])
        out[pid] = arr
    return out, batch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd"); p.add_argument("--state", type=Path); p.add_argument("--plan"); p.add_argument("--out", type=Path)
    p.add_argument("--seed", type=int, default=1); p.add_argument("--break", dest="broken", default="")
    a = p.parse_args()
    if a.broken == a.cmd:
        sys.exit(print("the world broke on purpose", file=sys.stderr) or 1)
    info, priv = a.state / "world.json", a.state / "private.json"
    if a.cmd == "init":
        if info.exists():
            sys.exit(print("world.json exists", file=sys.stderr) or 2)
        rng = np.random.default_rng(a.seed)
        spend = np.array([200.0, 150.0, 100.0]) * rng.uniform(0.5, 1.5, (HISTORY, len(GEOS), len(CHANNELS)))
        state = {"seed": a.seed, "week": 0, "adstock": np.zeros((len(GEOS), len(CHANNELS))).tolist()}
        kpi, ad = play(state, spend, 1.0)
        write(a.state / "history", START, spend, kpi)
        users(a.state / "history", START, spend, a.seed)
        state.update(week=HISTORY, adstock=ad.tolist(), next_week=(START + timedelta(weeks=HISTORY)).isoformat())
        priv.write_text(json.dumps(state))
        info.write_text(json.dumps({"kpi": "revenue", "kpi_type": "revenue", "kpi_value": 1.0, "currency": "USD", "geos": GEOS, "channels": CHANNELS, "controls": ["price"], "week_start": START.isoformat(), "next_week": state["next_week"], "carryover_weeks": LAG, "has_users": True, "can_score": True}))
        return
    state = json.loads(priv.read_text())
    plans, batch = read_plan(a.plan, state)
    if a.cmd == "score":
        values = {}
        for pid, arr in plans.items():
            kpi, _ = play(state, np.concatenate([arr, np.zeros((LAG,) + arr.shape[1:])]), 0.0)
            values[pid] = {"kpi": float(kpi.sum()), "value": float(kpi.sum())}
        n = next(iter(plans.values())).shape[0]
        body = {"plans": values} if batch else values[""]
        print(json.dumps({**body, "weeks": n, "carryover_weeks": LAG}))
        return
    arr = plans[""]
    kpi, ad = play(state, arr, 1.0)
    first = date.fromisoformat(state["next_week"])
    write(a.out, first, arr, kpi)
    if a.broken == "column":
        (a.out / "outcomes.csv").write_text("date,geo,kpi\n")
    users(a.out, first, arr, state["seed"] + state["week"])
    if a.broken == "events":  # a row the ingest's checks reject
        with open(a.out / "events.csv", "a") as f:
            f.write("u1,2025-01-01T10:00:00,tv,tv-1,,click,\n")
    nxt = (first + timedelta(weeks=arr.shape[0])).isoformat()
    state.update(week=state["week"] + arr.shape[0], adstock=ad.tolist(), next_week=nxt)
    priv.write_text(json.dumps(state))
    body = json.loads(info.read_text()); body["next_week"] = nxt
    info.write_text(json.dumps(body))


main()
'''
"""A world of 3 geos × 3 channels with a known response (see the module docstring)."""

FAST = {"draws": 100, "approximate_steps": 200, "test_candidates": 4}
"""Quick fits: the approximate method, 100 draws (what the value of information needs)."""


@pytest.fixture(scope="module")
def world_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("world") / "tiny_world.py"
    path.write_text(TINY_WORLD, encoding="utf-8")
    return path


def command(script: Path, *extra: str) -> str:
    """The world's command line (``extra``: e.g. ``--break step``)."""
    return " ".join([sys.executable, str(script), *extra])


def counts(workspace: Path) -> dict[str, int]:
    """Rows per table the loop writes, and runs per kind."""
    with Workspace(workspace, read_only=True) as ws:
        out = {
            t: int(ws.fetch(f"SELECT count(*) FROM {t}")[0][0])
            for t in ("spend", "outcomes", "controls", "events", "experiments", "loads")
        }
        for kind, n in ws.fetch("SELECT kind, count(*) FROM runs GROUP BY 1"):
            out[f"runs:{kind}"] = int(n)
    return out


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A cycle.json body without what differs between two workspaces (ids, timings), its
    numbers to 9 significant digits (DuckDB's parallel sums may differ in the last bits)."""

    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.9g}")
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return [rounded(v) for v in value] if isinstance(value, list) else value

    kept = {k: v for k, v in body.items() if k not in ("loop_id", "timings", "run_id")}
    out: dict[str, Any] = rounded(kept)
    return out


# -- the world interface ---------------------------------------------------------------


def test_world_client_speaks_the_interface(world_script: Path, tmp_path: Path) -> None:
    client = WorldClient(command(world_script), tmp_path / "state")
    info = client.init()
    assert (info.geos, info.channels, info.kpi, info.carryover_weeks) == (
        ("g1", "g2", "g3"), ("tv", "search", "social"), "revenue", 3,
    )  # fmt: skip
    assert info.has_users
    assert info.can_score
    assert set(client.history()) == {"spend", "outcomes", "controls", "events"}
    assert client.init() == info  # init runs once: world.json exists
    plan = plan_frame(info, np.full((2, 3, 3), 100.0), info.next_week)
    assert list(plan.columns) == ["date", "geo", "channel", "spend"]
    assert len(plan) == 18
    more = plan_frame(info, np.full((2, 3, 3), 200.0), info.next_week)
    scores = client.score({"a": plan, "b": more})
    assert scores["b"] > scores["a"] > 0  # more spend, more KPI: a known increasing response
    files = client.step(plan, tmp_path / "out")
    assert pd.read_csv(files["spend"])["spend"].sum() == pytest.approx(1800.0)
    assert client.info().next_week == info.next_week + pd.Timedelta(weeks=2).to_pytimedelta()
    with pytest.raises(WorldError, match="consecutive weeks from the world's next_week"):
        client.step(plan, tmp_path / "again")  # the plan's weeks are now in the past


def test_a_bad_world_json_is_named_with_its_fix() -> None:
    from margin.loop import WorldInfo

    good = {
        "kpi": "revenue", "kpi_type": "revenue", "currency": "USD", "geos": ["a", "b", "c"],
        "channels": ["tv"], "controls": [], "week_start": "2024-01-01",
        "next_week": "2025-01-06",
    }  # fmt: skip
    assert WorldInfo.from_json(good, "w.json").carryover_weeks == 4  # the default
    for change, message in (
        ({"geos": None}, "'geos' must be a list"),
        ({"next_week": "2025-01-07"}, "next_week 2025-01-07 is not a Monday"),
        ({"kpi_type": "clicks"}, "kpi_type 'clicks'; expected revenue or conversions"),
        ({"channels": ["tv", "tv"]}, "'channels' lists a name twice"),
        ({"kpi_value": 0}, "kpi_value 0; expected a positive number"),
    ):
        with pytest.raises(WorldError, match=message):
            WorldInfo.from_json({**good, **change}, "w.json")
    with pytest.raises(WorldError, match=r"w\.json: missing key\(s\) currency"):
        WorldInfo.from_json({k: v for k, v in good.items() if k != "currency"}, "w.json")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "not found"),
        (("--break", "init"), "exited with code 1: the world broke on purpose"),
        (("--break", "step"), "exited with code 1: the world broke on purpose"),
        (("--break", "column"), "missing column\\(s\\) value"),
    ],
)
def test_a_failing_world_is_one_line_and_writes_nothing_for_that_cycle(
    world_script: Path, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    cmd = "/nonexistent/world" if not extra else command(world_script, *extra)
    workspace = tmp_path / "ws.duckdb"
    with pytest.raises(WorldError, match=message) as caught:
        run_loop(workspace, cmd, 1, LoopSettings(policy="status-quo"), state=tmp_path / "w")
    assert "\n" not in str(caught.value)
    if extra[-1:] in ((), ("init",)):
        assert not workspace.exists()  # nothing to ingest: no workspace made
        assert not (tmp_path / "w").exists()  # nor the world's folder
        return
    assert "runs:loop_cycle" not in counts(workspace)
    assert not list((tmp_path / "loop").glob("loop-*/cycle-*/cycle.json"))
    assert not list((tmp_path / "loop").glob("loop-*/cycle-*/step.json"))


def test_a_cycle_whose_files_are_rejected_loads_none_of_them(
    world_script: Path, tmp_path: Path
) -> None:
    ws, settings = tmp_path / "ws.duckdb", LoopSettings(policy="status-quo")
    cmd = command(world_script, "--break", "events")
    run_loop(ws, cmd, 1, settings)  # the step's events have a bad row: seen on ingest
    before = counts(ws)
    with pytest.raises(MarginError, match="event"):
        run_loop(ws, cmd, 1, settings)
    assert counts(ws) == before  # the spend and outcomes of that step did not load either
    assert not (latest_loop(ws).cycle_dir(2) / "ingest.json").exists()


def test_bad_cycles_and_settings_are_refused_before_anything_runs(
    world_script: Path, tmp_path: Path
) -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="cycles must be an integer"):
            run_loop(tmp_path / "ws.duckdb", command(world_script), bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="loop setting policy 'bandit' is not one of"):
        LoopSettings(policy="bandit")
    with pytest.raises(ConfigError, match="loop setting max_change must be"):
        LoopSettings(max_change=-0.1)
    assert not (tmp_path / "ws.duckdb").exists()
    assert not (tmp_path / "loop").exists()


def test_cli_runs_cycles_prints_the_next_plan_and_fails_in_one_line(
    world_script: Path, tmp_path: Path
) -> None:
    ws, out = tmp_path / "ws.duckdb", tmp_path / "loop.json"
    done = margin(
        "loop", "--world", command(world_script), "--cycles", "2", "-w", str(ws),
        "--policy", "status-quo", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = words(done.stdout)
    assert "cycle 1: 2024-12-30 to 2025-03-24 (13 weeks)" in said
    assert "cycle 2: 2025-03-31" in said
    assert "next cycle (13 weeks from 2025-06-30, budget" in said
    assert "expected gain vs status quo: n/a (no model)" in said
    body = json.loads(out.read_text())
    assert [c["cycle"] for c in body["cycles"]] == [1, 2]
    assert body["next_plan"]["plan"]
    planned = margin("loop", "plan", "-w", str(ws))  # the planned cycle 3, printed again
    assert planned.returncode == 0, planned.stderr
    assert "next cycle (13 weeks from 2025-06-30" in words(planned.stdout)
    bad = margin("loop", "--world", command(world_script), "--cycles", "0", "-w", str(ws))
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "cycles must be an integer from 1 to 1000; got 0" in words(bad.stderr)
    none = margin("loop", "plan", "-w", str(tmp_path / "other.duckdb"))
    assert none.returncode == 2
    assert "other.duckdb does not exist" in words(none.stderr)


# -- resumability ----------------------------------------------------------------------


class CrashError(Exception):
    """Raised inside a step to simulate a kill."""


RESUMED = LoopSettings(policy="last-touch")
"""The crash tests' policy: it ingests and attributes events (the rows most at risk)."""


@pytest.fixture(scope="module")
def clean_run(world_script: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two cycles run without a crash: what a resumed run must equal."""
    clean = tmp_path_factory.mktemp("clean") / "ws.duckdb"
    run_loop(clean, command(world_script), 2, RESUMED)
    return clean


@pytest.mark.parametrize("where", ["ingest", "step", "record"])
def test_a_crash_mid_cycle_resumes_and_counts_nothing_twice(
    world_script: Path, clean_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:  # fmt: skip
    settings, clean, cmd = RESUMED, clean_run, command(world_script)
    crashed = tmp_path / "crashed" / "ws.duckdb"
    run_loop(crashed, cmd, 1, settings)
    _crash_after(monkeypatch, where)  # cycle 2 dies after its step did its work
    with pytest.raises(CrashError):
        run_loop(crashed, cmd, 1, settings)
    monkeypatch.undo()
    result = run_loop(crashed, cmd, 1, settings)  # resumes cycle 2
    assert [c["cycle"] for c in result.cycles] == [2]
    assert counts(crashed) == counts(clean)
    assert [comparable(c) for c in list_cycles(crashed)] == [
        comparable(c) for c in list_cycles(clean)
    ]
    for k in (1, 2):
        plans = [pd.read_csv(latest_loop(ws).cycle_dir(k) / "plan.csv") for ws in (clean, crashed)]
        assert plans[0][["date", "geo", "channel"]].equals(plans[1][["date", "geo", "channel"]])
        assert plans[0]["spend"].to_numpy() == pytest.approx(plans[1]["spend"], abs=0.011)


def _crash_after(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Make ``where`` do its work, then raise :class:`CrashError` (before its file is kept)."""
    from margin.loop import records, steps

    module, name = {
        "ingest": (steps, "ingest"), "step": (WorldClient, "step"),
        "record": (records, "write_json"),
    }[where]  # fmt: skip
    original = getattr(module, name)

    def crash(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise CrashError(where)

    monkeypatch.setattr(module, name, crash)


# -- the margin policy: two cycles, with a crash in the second's fit ------------------------


@pytest.fixture(scope="module")
def margin_loop(
    world_script: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, Any]]]:
    """Two cycles of the margin policy; the second is killed after its fit was saved and
    recorded but before ``fit.json`` was kept, then resumed."""
    from margin.loop import cycle

    ws = tmp_path_factory.mktemp("margin") / "ws.duckdb"
    settings = LoopSettings(**FAST, test_horizon=52)  # tests pay over a year of weekly cycles
    run_loop(ws, command(world_script), 1, settings)
    with pytest.MonkeyPatch.context() as patch:
        keep = cycle.write_json

        def crash(path: Path, body: Any) -> Path:
            if path.name == "fit.json":
                raise CrashError("fit")
            return keep(path, body)

        patch.setattr(cycle, "write_json", crash)
        with pytest.raises(CrashError):
            run_loop(ws, command(world_script), 1, settings)
    run_loop(ws, command(world_script), 1, settings)
    return ws, list_cycles(ws)


def test_margin_cycles_are_recorded_in_the_spec_format(
    margin_loop: tuple[Path, list[dict[str, Any]]],
) -> None:
    ws, cycles = margin_loop
    assert [c["cycle"] for c in cycles] == [1, 2]
    first, second = cycles
    assert first["format"] == "margin-loop-cycle"
    assert first["version"] == 1
    assert first["policy"] == "margin"
    assert first["currency"] == "USD"
    assert first["weeks"] == {"start": "2024-12-30", "end": "2025-03-24", "n": 13}
    for body in cycles:
        assert set(body["expected_gain"]) == {"mean", "p05", "p95"}
        assert 0.0 <= body["p_beats_status_quo"] <= 1.0
        assert sum(p["spend"] for p in body["plan"].values()) == pytest.approx(body["budget"])
        assert set(body["timings"]) == {"ingest", "analyse", "fit", "plan", "design", "step"}
    assert first["roi"]["tv"]["before"] is None
    assert set(first["roi"]["tv"]["after"]) == {
        "mean",
        "p05",
        "p95",
    }
    assert second["roi"]["tv"]["before"] == first["roi"]["tv"]["after"]
    assert second["learned"]["tv"]["width_before"] > 0
    assert first["reconciliation"] is not None
    n = counts(ws)
    assert n["runs:loop_cycle"] == 2
    assert n["runs:mmm"] == 2


def test_margin_cycles_keep_the_guardrails(
    margin_loop: tuple[Path, list[dict[str, Any]]],
) -> None:
    ws, cycles = margin_loop
    loop = latest_loop(ws)
    sq = loop.status_quo_totals()
    for body in cycles:
        for c, name in enumerate(loop.channels):
            row = body["plan"][name]
            assert abs(row["spend"] / row["previous"] - 1) <= 0.25 + 1e-6
            assert row["spend"] >= 0.1 * sq[c] - 1e-6
        gain, loss = body["expected_gain"], body["guardrails"]["max_loss"]
        assert loss > 0
        assert gain["p05"] >= -loss


def _risky_model(n_draws: int = 200) -> Any:
    """A known response over :func:`_loop`'s geos and channels: tv pays most on average but
    is very uncertain (log-normal, sd 1.2 on the log scale), search is known."""
    from margin.optimize.parametric import ParametricResponse

    rng = np.random.default_rng(0)
    beta = np.empty((n_draws, 2, 3))
    beta[:, :, 0] = 4000 * rng.lognormal(0, 1.2, (n_draws, 1))
    beta[:, :, 1], beta[:, :, 2] = 2500.0, 300.0
    return ParametricResponse(
        channels=("tv", "search", "social"), geos=("a", "b"), kpi_value=1.0,
        history=np.tile([[[100.0, 50.0, 10.0]], [[300.0, 50.0, 30.0]]], (1, 8, 1)),
        decay=np.full((n_draws, 3), 0.3), max_lag=(3, 3, 3),
        half_saturation=np.full((n_draws, 2, 3), 200.0), slope=np.ones((n_draws, 3)),
        beta=beta, noise_sd=np.full((n_draws, 2), 10.0),
    )  # fmt: skip


def test_the_risk_guardrail_shrinks_a_risky_plan_toward_the_previous(tmp_path: Path) -> None:
    model = _risky_model()
    previous = _loop(tmp_path).status_quo_totals()
    mean = {"max_change": 0.5, "risk": "mean"}  # the plain mean's optimum bets on tv
    free = mmm_plan(model, _loop(tmp_path, max_loss=1e9, **mean), previous)
    assert free.shrunk is None
    assert free.gain.p05 < -300  # the optimum bets on tv: a loss at its p05
    guarded = mmm_plan(model, _loop(tmp_path, max_loss=300.0, **mean), previous)
    assert guarded.shrunk == 0.25  # halved twice: 1/2 still lost more than 300 at p05
    assert guarded.gain.p05 >= -300.0
    assert guarded.totals == pytest.approx(previous + 0.25 * (free.totals - previous))
    assert guarded.totals.sum() == pytest.approx(previous.sum())
    none = mmm_plan(model, _loop(tmp_path, max_loss=0.0, **mean), previous)
    assert none.shrunk == 0.0  # nothing but the previous plan risks no loss
    assert none.totals == pytest.approx(previous)


def test_the_default_plan_moves_into_an_uncertain_channel_only_as_far_as_the_evidence(
    tmp_path: Path,
) -> None:
    """mean − 1 sd over the draws (the default) puts less into tv, whose return is very
    uncertain, than the plain mean does, and risks less at the gain's p05."""
    model = _risky_model()
    previous = _loop(tmp_path).status_quo_totals()
    mean = mmm_plan(model, _loop(tmp_path, max_change=0.5, max_loss=1e9, risk="mean"), previous)
    robust = mmm_plan(model, _loop(tmp_path, max_change=0.5, max_loss=1e9), previous)
    assert LoopSettings().risk == "mean_sd"
    assert robust.totals[0] < mean.totals[0] - 1.0
    assert robust.gain.p05 > mean.gain.p05
    assert robust.totals.sum() == pytest.approx(previous.sum())


def test_margin_schedules_tests_without_shared_geos_and_analyses_them(
    margin_loop: tuple[Path, list[dict[str, Any]]],
) -> None:
    ws, cycles = margin_loop
    first, second = cycles
    scheduled = first["tests"]["scheduled"]
    assert scheduled, "the first cycle schedules a test"
    used: set[str] = set()
    for test in scheduled:
        geos = {*test["treated"], *test["controls"]}
        assert not geos & used
        assert not set(test["treated"]) & set(test["controls"])
        used |= geos
        assert test["start"] == first["weeks"]["start"]
        assert (test["spend"] > 0) == (test["kind"] == "heavy_up")
        assert set(test["value"]) == {"mean", "p05", "p95"}
        assert test["economics"]["net"] > 0  # worth more than it costs, by the model
    assert first["test_spend"] == pytest.approx(sum(t["spend"] for t in scheduled))
    executed = pd.read_csv(latest_loop(ws).cycle_dir(1) / "plan.csv")
    assert executed["spend"].sum() == pytest.approx(first["budget"] + first["test_spend"], abs=1)
    analysed = second["tests"]["analysed"]
    assert [t["design_id"] for t in analysed] == [t["design_id"] for t in scheduled]
    assert all(set(t["iroas"]) == {"mean", "p05", "p95"} for t in analysed if t["id"])
    assert counts(ws)["experiments"] == len([t for t in analysed if t["id"]])


def test_each_test_designed_is_weighed_against_its_cost_and_the_best_worth_it_runs(
    margin_loop: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, cycles = margin_loop
    for cycle in cycles:
        considered = cycle["tests"]["considered"]
        scheduled = {t["design_id"] for t in cycle["tests"]["scheduled"]}
        assert {t["design_id"] for t in considered if t["scheduled"]} == scheduled
        for t in considered:
            assert t["kind"] in {"heavy_up", "go_dark"}
            assert t["net"] == pytest.approx(t["worth"] - t["cost"])
            assert t["worth"] == pytest.approx(
                max(t["value_per_cycle"] - t["noise_floor"], 0) * t["horizon_cycles"]
            )
            mine = [u for u in considered if u["channel"] == t["channel"]]
            if t["scheduled"]:  # only a channel's best test, and only when worth its cost
                assert t["net"] > 0
                assert t["net"] == max(u["net"] for u in mine)
        # one slot (max_tests 1): a test runs whenever one is worth its cost
        assert len(scheduled) == (1 if any(t["net"] > 0 for t in considered) else 0)
    assert cycles[0]["tests"]["scheduled"], "with a year of cycles to inform, a test pays"


def test_a_tests_cost_is_the_spend_it_adds_less_what_that_spend_returns() -> None:
    heavy = economics_of_test(value=300.0, floor=100.0, read=0.3, spend_change=1000.0, horizon=4)
    assert heavy["worth"] == pytest.approx(800.0)  # (300 − 100) × 4 cycles
    assert heavy["cost"] == pytest.approx(700.0)  # 1000 added, 300 back
    assert heavy["net"] == pytest.approx(100.0)
    dark = economics_of_test(value=300.0, floor=100.0, read=1.7, spend_change=-1000.0, horizon=1)
    assert dark["cost"] == pytest.approx(700.0)  # 1000 saved, 1700 of KPI value lost
    assert dark["net"] == pytest.approx(-500.0)
    cheap = economics_of_test(value=50.0, floor=100.0, read=0.6, spend_change=-1000.0, horizon=4)
    assert cheap["worth"] == 0.0  # below the noise floor: nothing learnt
    assert cheap["cost"] == pytest.approx(-400.0)  # switching off a channel returning 0.6 saves
    assert cheap["net"] == pytest.approx(400.0)


def test_the_next_plan_says_why_no_test_runs() -> None:
    from margin.cli.console import console
    from margin.cli.loop_command import _print_next

    plan = {
        "currency": "USD", "start": "2025-01-06", "budget": 1000.0,
        "plan": {"tv": {"spend": 1000.0, "change": 0.0}}, "tests": {"scheduled": []},
        "value_of_information": {"considered": [
            {"channel": "tv", "kind": "heavy_up", "worth": 1200.0, "cost": 5000.0,
             "net": -3800.0, "horizon_cycles": 4.0},
            {"channel": "tv", "kind": "go_dark", "worth": 1900.0, "cost": 2000.0,
             "net": -100.0, "horizon_cycles": 4.0},
        ]},
    }  # fmt: skip
    with console.capture() as captured:
        _print_next(plan, LoopSettings())
        plan["value_of_information"]["considered"][1]["bound"] = True  # not designed
        _print_next(plan, LoopSettings())
    said = words(captured.get())
    assert (
        "no new test this cycle (the best, a tv go-dark, would cost at least 2,000 USD net "
        "and is worth at most 1,900 USD"
    ) in said
    assert (
        "test calendar: no new test this cycle (the best, a tv go-dark, would cost 2,000 USD "
        "net and is worth 1,900 USD to the next 4 cycles' plans)"
    ) in said


# -- scheduling rules and guardrail arithmetic ----------------------------------------------


def _test(treated: list[str], controls: list[str], start: str, end: str) -> dict[str, Any]:
    return {
        "treated": treated, "controls": controls, "start": start, "end": end,
        "carryover_weeks": 2, "channel": "tv", "kind": "heavy_up", "spend": 130.0,
    }  # fmt: skip


def test_tests_never_share_geos_and_pre_periods_start_after_the_carryover() -> None:
    from datetime import date

    a = _test(["g1"], ["g2", "g3"], "2025-01-06", "2025-02-02")  # 4 weeks, carry-over 2
    b = _test(["g4"], ["g5", "g6"], "2024-06-03", "2024-06-30")  # long over
    assert blocked_geos([a, b], date(2025, 2, 10)) == {"g1", "g2", "g3"}  # still carrying over
    assert blocked_geos([a, b], date(2025, 2, 17)) == set()  # window + 2 weeks ended
    assert pre_start([a, b], {"g1", "g5"}) == date(2025, 2, 17)
    assert pre_start([a, b], {"g2", "g7"}) is None  # controls of a test stay clean
    groups = geo_groups(["g6", "g1", "g3", "g2", "g5", "g4", "g7"], 2)
    assert len(groups) == 2
    assert not set(groups[0]) & set(groups[1])
    assert min(len(g) for g in groups) >= 3
    assert geo_groups(["g1", "g2"], 2) == []
    assert window_lengths(13, 3) == (4, 5, 6, 7, 8)
    assert window_lengths(10, 4) == (4, 5, 6)
    assert window_lengths(6, 8) == (4, 5, 6, 7, 8)  # none fits: analysed in a later cycle


def _loop(tmp_path: Path, **settings: Any) -> Loop:
    sq = np.array([[100.0, 50.0, 10.0], [300.0, 50.0, 30.0]])  # 2 geos × 3 channels
    return Loop(
        id="loop-test", folder=tmp_path, workspace=tmp_path / "ws.duckdb", command="w",
        state=tmp_path / "w", settings=LoopSettings(policy="status-quo", **settings),
        geos=("a", "b"), channels=("tv", "search", "social"), status_quo=sq,
        start=pd.Timestamp("2025-01-06").date(),
    )  # fmt: skip


def test_folding_a_heavy_up_adds_its_spend_over_its_geos_and_weeks(tmp_path: Path) -> None:
    loop = _loop(tmp_path)
    weekly = spread(loop, loop.status_quo_totals())
    assert weekly.shape == (13, 2, 3)
    assert weekly[0].tolist() == loop.status_quo.tolist()
    test = _test(["a", "b"], [], "2025-01-13", "2025-02-09")  # weeks 1-4 of the cycle
    folded = fold_tests(loop, weekly, [test], 1)
    extra = folded - weekly
    assert extra.sum() == pytest.approx(130.0)
    assert extra[1:5, :, 0].sum(axis=0) == pytest.approx([32.5, 97.5])  # 1:3 as planned
    assert extra[0].sum() == 0
    assert extra[5:].sum() == 0
    assert extra[:, :, 1:].sum() == 0


def test_bounds_clamp_and_projection_respect_change_minimum_and_budget(tmp_path: Path) -> None:
    loop = _loop(tmp_path, max_change=0.25, min_share=0.5)
    previous = loop.status_quo_totals()
    low, high = channel_bounds(loop, previous)
    assert high == pytest.approx(previous * 1.25)
    assert low == pytest.approx(previous * 0.75)
    proposed = previous * np.array([3.0, 0.1, 1.0])
    x = clamp(loop, proposed, previous)
    assert x.sum() == pytest.approx(loop.budget())
    assert np.all(x >= low - 1e-6)
    assert np.all(x <= high + 1e-6)
    assert x[0] > previous[0]  # moved toward the proposal as far as the budget allows
    assert x[1] == pytest.approx(low[1])
    y = project(np.array([5.0, -3.0, 1.0]), np.array([1.0, 1.0, 0.0]), 6.0)
    assert y.sum() == pytest.approx(6.0)
    assert np.all(y >= [1.0, 1.0, 0.0])


def test_a_test_that_cannot_pay_is_not_even_designed(world_script: Path, tmp_path: Path) -> None:
    """A large test (half the budget) read for one cycle costs more than even perfect
    information is worth in the tiny world: the bounds say so and no design is simulated."""
    from margin.loop import schedule

    designed: list[Any] = []
    keep = schedule._design

    def counted(*args: Any, **kwargs: Any) -> Any:
        designed.append(args)
        return keep(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "_design", counted)
        (body,) = run_loop(
            tmp_path / "ws.duckdb", command(world_script), 1,
            LoopSettings(**FAST, test_share=0.5, test_horizon=1),
        ).cycles  # fmt: skip
    considered = body["tests"]["considered"]
    assert considered, "the most valuable channel was weighed"
    assert all(t["bound"] and t["design_id"] is None for t in considered)
    assert all(t["net"] <= 0 and t["kind"] == "heavy_up" for t in considered)
    assert body["tests"]["scheduled"] == []
    assert designed == []


# -- each policy runs a cycle ----------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    ["status-quo", "last-touch", "markov", "oracle", "mmm-only"],
)
def test_each_policy_runs_a_cycle(
    world_script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    from margin.loop import policies

    monkeypatch.setattr(policies, "ORACLE_CALLS", 8)  # a short search: the test is the plumbing
    settings = LoopSettings(policy=policy, score=policy == "oracle", **FAST)
    (body,) = run_loop(tmp_path / "ws.duckdb", command(world_script), 1, settings).cycles
    assert body["policy"] == policy
    assert sum(p["spend"] for p in body["plan"].values()) == pytest.approx(body["budget"])
    assert body["tests"]["scheduled"] == []
    assert body["test_spend"] == 0
    if policy == "status-quo":
        assert all(p["change"] == pytest.approx(0.0) for p in body["plan"].values())
    if policy == "oracle":  # the oracle's own plan is its benchmark: share 1
        assert body["true"]["share_of_oracle"] == pytest.approx(1.0)
        assert body["true"]["oracle_gain"] > 0
    if policy == "mmm-only":
        assert body["expected_gain"] is not None
        assert body["run_id"]


# -- the business as the world: the user in the loop ---------------------------------------


def test_a_business_loop_plans_waits_for_its_data_then_records_and_plans_on(
    world_script: Path, tmp_path: Path
) -> None:
    from margin.loop.cycle import plan_next_cycle
    from margin.loop.steps import ingest

    business = WorldClient(command(world_script), tmp_path / "real")  # stands for the business
    ws = tmp_path / "ws.duckdb"
    ingest(ws, business.init() and business.history(), "USD")  # the user ingests the history
    settings = LoopSettings(policy="last-touch")
    plan, kept = plan_next_cycle(ws, settings=settings)
    assert kept == settings
    assert plan["start"] == "2024-12-30"
    assert sum(p["spend"] for p in plan["plan"].values()) == pytest.approx(plan["budget"])
    assert plan_next_cycle(ws)[0] == plan  # no new data yet: the same plan, nothing re-planned
    assert list_cycles(ws) == []
    loop = latest_loop(ws)
    executed = pd.read_csv(loop.cycle_dir(1) / "plan.csv", dtype={"date": str})
    ingest(ws, business.step(executed, tmp_path / "quarter"), "USD")  # run it, ingest it
    after, _ = plan_next_cycle(ws)
    (cycle,) = list_cycles(ws)
    assert cycle["cycle"] == 1
    assert cycle["weeks"]["start"] == "2024-12-30"
    assert cycle["plan"] == plan["plan"]
    assert after["start"] == "2025-03-31"
    assert counts(ws)["runs:loop_cycle"] == 1
    with pytest.raises(MarginError, match="does not exist"):
        plan_next_cycle(tmp_path / "none" / "ws.duckdb")
    Workspace(tmp_path / "empty" / "ws.duckdb").close()
    with pytest.raises(ConfigError, match="has no outcomes to plan for; ingest"):
        plan_next_cycle(tmp_path / "empty" / "ws.duckdb")


def test_a_worlds_weeks_years_ahead_load_on_the_worlds_clock(tmp_path: Path) -> None:
    """A simulated world's weeks may lie years after today: the loop ingests them on the
    world's own clock (its current week), where a real file that far ahead is refused."""
    from margin.errors import LoadRejectedError
    from margin.loop.steps import ingest

    spend = tmp_path / "spend.csv"
    spend.write_text("date,geo,channel,spend\n2031-03-03,a,tv,10\n", encoding="utf-8")
    with pytest.raises(LoadRejectedError, match="date_out_of_range"):
        ingest(tmp_path / "real.duckdb", {"spend": spend}, "USD")
    loaded = ingest(
        tmp_path / "world.duckdb", {"spend": spend}, "USD", today=pd.Timestamp("2031-03-10").date()
    )
    assert loaded["files"]["spend"]["rows"] == 1
