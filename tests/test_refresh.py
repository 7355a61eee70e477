"""``margin refresh``: two weeks arriving one after another, a no-op, a broken file.

One story (module fixture): a simulated national world of ``HISTORY + 3`` weeks; the first
``HISTORY`` weeks are in the workspace; week ``HISTORY + 1`` is dropped and refreshed (the
first run), a 4-week plan is made from that run, week ``HISTORY + 2`` is dropped and
refreshed (the second run, a comparison, the plan scored on its first week), a refresh
with nothing new, then week ``HISTORY + 3`` with a broken outcomes file. Fits use the
approximate method with few steps: these tests check the refresh, not the model.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from _cli import margin, words
from margin.data.ingest.pipeline import ingest_file
from margin.data.simulator import World, WorldParams, simulate_world
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.data.workspace.hashing import ensure_key
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError
from margin.refresh import (
    ChannelShift,
    PlanForecast,
    RefreshError,
    RefreshResult,
    RefreshSettings,
    compare_summaries,
    load_settings,
    read_plan,
    refresh,
    save_settings,
    scan_drop,
    score_plan,
)
from margin.refresh.fit import last_good_run

HISTORY = 60
WORLD_SEED = 5
TABLES = ("spend", "outcomes", "controls")
FIT = {"method": "approximate", "chains": 1, "draws": 60, "approximate_steps": 300, "seed": 1}


def _week_frame(world: World, kind: str, weeks: list[str]) -> pd.DataFrame:
    frame: pd.DataFrame = getattr(world, kind)
    return frame[frame["date"].isin(weeks)]


def _counts(ws: Workspace) -> dict[str, Any]:
    counts: dict[str, Any] = {k: v for k, v in ws.counts().items() if k != "runs"}
    counts["loads"] = ws.fetch("SELECT load_id, kind, sha256 FROM loads ORDER BY load_id")
    counts["mmm"] = ws.fetch("SELECT id FROM runs WHERE kind = 'mmm' ORDER BY created")
    return counts


def _drop_week(world: World, drop: Path, week: str) -> None:
    """Spend and controls in kind subfolders, outcomes as ``outcomes__<week>.csv``."""
    for kind in ("spend", "controls"):
        (drop / kind).mkdir(parents=True, exist_ok=True)
        _week_frame(world, kind, [week]).to_csv(drop / kind / f"{week}.csv", index=False)
    _week_frame(world, "outcomes", [week]).to_csv(drop / f"outcomes__{week}.csv", index=False)


def _make_plan(ws: Workspace, run_dir: Path, out: Path) -> dict[str, Any]:
    """A 4-week plan from ``run_dir`` written to ``out`` and recorded as ``kind='plan'``."""
    from margin.mmm.artifacts import RunRecord, code_version, record_run
    from margin.mmm.response import load_response
    from margin.optimize.request import PlanRequest, plan, plan_document

    response = load_response(run_dir, max_draws=60)
    request = PlanRequest(weeks=4)
    document = plan_document(plan(response, request), response, request)
    out.write_text(json.dumps(document), encoding="utf-8")
    record = RunRecord(
        id="plan-test", spec_hash="-", data_hash="-", code_version=code_version(), seed=0,
        created=datetime.now(UTC).replace(tzinfo=None), status="ok",
        artifact_path=str(out), message="test plan",
    )  # fmt: skip
    record_run(ws, record, kind="plan")
    return document


@dataclass
class Story:
    world: World
    weeks: list[str]
    root: Path
    drop: Path
    first: RefreshResult
    second: RefreshResult
    again: RefreshResult
    plan: dict[str, Any]
    broken: RefreshError
    before_broken: dict[str, Any]
    after_broken: dict[str, Any]
    last_good_after_broken: str | None
    runs_rows: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def ws_path(self) -> Path:
        return self.root / "ws.duckdb"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    root = tmp_path_factory.mktemp("refresh")
    params = WorldParams.national(n_weeks=HISTORY + 3, channels=DEFAULT_CHANNELS[:3], n_users=200)
    world = simulate_world(params, seed=WORLD_SEED)
    weeks = sorted(world.spend["date"].unique())
    start = root / "start"
    start.mkdir()
    for kind in TABLES:
        _week_frame(world, kind, weeks[:HISTORY]).to_csv(start / f"{kind}.csv", index=False)
    (root / "spec.toml").write_text(world.spec, encoding="utf-8")
    drop = root / "drop"
    drop.mkdir()
    with Workspace(root / "ws.duckdb") as ws:
        for kind in TABLES:
            ingest_file(ws, kind, start / f"{kind}.csv")
        save_settings(ws, RefreshSettings(drop=drop, spec=root / "spec.toml", **FIT))  # type: ignore[arg-type]
        _drop_week(world, drop, weeks[HISTORY])
        first = refresh(ws)
        assert first.run is not None
        plan = _make_plan(ws, Path(first.run["path"]), root / "plan.json")
        _drop_week(world, drop, weeks[HISTORY + 1])
        second = refresh(ws)
        again = refresh(ws)
        (drop / "spend" / f"{weeks[HISTORY + 2]}.csv").write_text(
            _week_frame(world, "spend", [weeks[HISTORY + 2]]).to_csv(index=False)
        )
        bad = _week_frame(world, "outcomes", [weeks[HISTORY + 2]]).astype({"value": object})
        bad.loc[bad.index[0], "value"] = "12o0"
        (drop / "outcomes").mkdir()
        bad.to_csv(drop / "outcomes" / "broken.csv", index=False)
        before = _counts(ws)
        with pytest.raises(RefreshError) as caught:
            refresh(ws)
        after = _counts(ws)
        good = last_good_run(ws)
        rows = ws.fetch(
            "SELECT id, kind, status, artifact_path, message FROM runs ORDER BY created"
        )
    return Story(
        world, weeks, root, drop, first, second, again, plan, caught.value, before, after,
        None if good is None else good.id, rows,
    )  # fmt: skip


# -- the story -------------------------------------------------------------------------


def test_two_weeks_arriving_give_two_runs(story: Story) -> None:
    first, second = story.first, story.second
    assert first.status == second.status == "refreshed"
    assert [load.kind for load in first.loads] == ["spend", "outcomes", "controls"]
    assert all(load.first_date == date.fromisoformat(story.weeks[HISTORY]) for load in first.loads)
    assert first.run is not None
    assert second.run is not None
    assert first.run["id"] != second.run["id"]
    assert first.previous_run is None
    assert first.comparison is None
    assert second.previous_run is not None
    assert second.previous_run.id == first.run["id"]
    mmm = [row for row in story.runs_rows if row[1] == "mmm"]
    assert [row[0] for row in mmm] == [first.run["id"], second.run["id"]]
    for run in (first.run, second.run):
        folder = Path(run["path"])
        assert folder.parent == story.root / "runs"
        assert folder.name == run["id"]
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        assert summary["run"]["artifact_path"] == str(folder)
        assert set(run["channels"]) == {"tv", "search", "social"}
    assert not list((story.root / "runs").glob(".partial-*"))


def test_each_refresh_is_recorded_with_its_artifact(story: Story) -> None:
    refreshes = [row for row in story.runs_rows if row[1] == "refresh"]
    assert [row[0] for row in refreshes] == [
        story.first.id,
        story.second.id,
        story.broken.result.id,
    ]
    assert [row[2] for row in refreshes] == ["ok", "ok", "failed"]
    for row, result in zip(refreshes[:2], (story.first, story.second), strict=True):
        body = json.loads(Path(row[3]).read_text(encoding="utf-8"))
        assert body["id"] == result.id
        assert body["status"] == "refreshed"
        assert body["run"]["id"] == result.run["id"]  # type: ignore[index]
        assert Path(row[3]) == story.root / "runs" / result.id / "refresh.json"


def test_second_run_is_compared_with_the_first(story: Story) -> None:
    comparison = story.second.comparison
    assert comparison is not None
    assert story.first.run
    assert story.second.run
    assert comparison.previous_run == story.first.run["id"]
    assert comparison.new_run == story.second.run["id"]
    assert {(s.channel, s.metric) for s in comparison.shifts} == {
        (c, m)
        for c in ("tv", "search", "social")
        for m in ("roi", "mroi", "contribution_share", "weekly_contribution")
    }
    roi = {s.channel: s for s in comparison.shifts if s.metric == "roi"}
    for name, shift in roi.items():
        assert shift.previous == story.first.run["channels"][name]["roi"]
        assert shift.new == story.second.run["channels"][name]["roi"]
    assert comparison.convergence["new"]["method"] == "approximate"


def test_the_plan_is_scored_on_the_week_that_arrived(story: Story) -> None:
    score = story.second.plan_score
    assert score is not None
    week = date.fromisoformat(story.weeks[HISTORY + 1])
    assert story.plan["start"] == story.weeks[HISTORY + 1]
    assert [w.date for w in score.weeks] == [week]
    assert len(score.pending) == 3
    actual = story.world.outcomes
    expected = float(actual.loc[actual["date"] == story.weeks[HISTORY + 1], "value"].sum())
    scored = score.weeks[0]
    assert scored.actual == pytest.approx(expected, rel=1e-12)
    assert scored.mean == pytest.approx(story.plan["weekly_kpi"]["mean"][0], rel=1e-12)
    assert score.mape == pytest.approx(abs(expected - scored.mean) / expected, rel=1e-12)
    assert score.bias == pytest.approx((expected - scored.mean) / abs(scored.mean), rel=1e-12)
    inside = scored.p05 <= expected <= scored.p95
    assert score.coverage == (1.0 if inside else 0.0)
    assert score.verdict == (
        "delivered" if inside else "fell short" if expected < scored.p05 else "exceeded"
    )
    assert story.first.plan_score is None  # no plan existed at the first refresh


def test_nothing_new_is_a_no_op(story: Story) -> None:
    again = story.again
    assert again.status == "nothing new"
    assert again.run is None
    assert again.artifact is None
    assert again.loads == ()
    assert again.scan is not None
    assert again.scan.new == ()
    assert len(again.scan.loaded_before) == 6
    assert again.id not in [row[0] for row in story.runs_rows]
    assert not (story.root / "runs" / again.id).exists()


def test_a_broken_file_changes_nothing_and_says_why(story: Story) -> None:
    err = story.broken
    message = str(err)
    assert "step 'ingest'" in message
    assert "broken.csv" in message
    assert "column 'value'" in message
    assert "row 1" in message
    assert "'12o0'" in message
    assert "the 1 file(s) loaded before were rolled back with it" in message  # the good spend file
    assert story.after_broken == story.before_broken  # tables, loads and mmm runs
    assert story.second.run is not None
    assert story.last_good_after_broken == story.second.run["id"]
    failed = next(row for row in story.runs_rows if row[0] == err.result.id)
    assert failed[2] == "failed"
    assert "broken.csv" in failed[4]
    body = json.loads(Path(failed[3]).read_text(encoding="utf-8"))
    assert body["status"] == "failed"
    assert body["failed_step"] == "ingest"
    assert err.result.run is None


# -- the CLI ---------------------------------------------------------------------------


def _copy_workspace(story: Story, tmp_path: Path) -> Path:
    copy = tmp_path / "ws.duckdb"
    shutil.copy(story.ws_path, copy)
    return copy


def test_cli_nothing_new_saves_flags_and_exits_0(story: Story, tmp_path: Path) -> None:
    ws_path = _copy_workspace(story, tmp_path)
    empty = tmp_path / "incoming"
    empty.mkdir()
    result = margin("refresh", "--workspace", str(ws_path), "--drop", str(empty), "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "nothing new"
    assert body["settings"]["drop"] == str(empty.resolve())
    with Workspace(ws_path, read_only=True) as ws:
        saved = load_settings(ws)
    assert saved is not None
    assert saved.drop == empty.resolve()
    assert saved.method == "approximate"
    plain = margin("refresh", "--workspace", str(ws_path))
    assert plain.returncode == 0
    assert "nothing new" in plain.stdout


def test_cli_refresh_cleans_up_after_a_killed_one_and_says_so(story: Story, tmp_path: Path) -> None:
    """The folder a killed refresh left (its marker and a half-written run) is removed by
    the next refresh, which records the killed one as failed and says so, even when it has
    nothing new itself (tests/test_refresh_killed.py kills one for real)."""
    from margin.refresh.ledger import begin

    ws_path = _copy_workspace(story, tmp_path)
    empty = tmp_path / "incoming"
    empty.mkdir()
    started = datetime(2024, 5, 6, 7, 8, 9)
    left = begin(tmp_path / "runs", "refresh-0123456789ab", started, ws_path, seed=1)
    (left / "run").mkdir()
    (left / "run" / "summary.json").write_text("{", encoding="utf-8")  # cut short
    result = margin("refresh", "--workspace", str(ws_path), "--drop", str(empty))
    assert result.returncode == 0, result.stderr
    said = words(result.stdout)
    assert "nothing new" in said
    assert "note: refresh refresh-0123456789ab started 2024-05-06 07:08:09 UTC" in said
    assert "did not finish (process killed?)" in said
    assert not left.exists()
    with Workspace(ws_path, read_only=True) as ws:
        rows = ws.fetch("SELECT kind, status, message FROM runs WHERE id = 'refresh-0123456789ab'")
    ((kind, status, message),) = rows
    assert (kind, status) == ("refresh", "failed")
    assert f"its partial folder {left} was removed" in message
    again = margin("refresh", "--workspace", str(ws_path))
    assert again.returncode == 0, again.stderr
    assert "did not finish" not in again.stdout  # said and recorded once


def test_cli_failed_refresh_exits_2_with_one_line(story: Story, tmp_path: Path) -> None:
    ws_path = _copy_workspace(story, tmp_path)
    drop = tmp_path / "incoming"
    (drop / "outcomes").mkdir(parents=True)
    (drop / "outcomes" / "late.csv").write_text(
        "date,geo,kpi,value\n2024-03-04,national,revenue,lots\n", encoding="utf-8"
    )
    result = margin("refresh", "--workspace", str(ws_path), "--drop", str(drop))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "late.csv" in result.stderr
    assert "'lots'" in result.stderr
    assert result.stderr.startswith("error: refresh failed at step 'ingest'")


def test_cli_first_run_without_settings_says_which_flags(tmp_path: Path) -> None:
    result = margin("refresh", "--workspace", str(tmp_path / "new.duckdb"))
    assert result.returncode == 2
    assert "--drop and --spec" in result.stderr
    assert "Traceback" not in result.stderr


def test_files_outside_the_model_load_without_a_refit(story: Story, tmp_path: Path) -> None:
    ws_path = _copy_workspace(story, tmp_path)
    drop = tmp_path / "incoming"
    drop.mkdir()
    (drop / "transactions__week.csv").write_text(
        "customer_key,ts,amount,acquisition_channel\nc1,2024-03-05 10:00:00,23.5,organic\n",
        encoding="utf-8",
    )
    with Workspace(ws_path) as ws:
        ensure_key(ws)  # transactions carry ids, hashed with the workspace's key
        settings = load_settings(ws)
        assert settings is not None
        mmm_before = _counts(ws)["mmm"]
        result = refresh(ws, settings=replace(settings, drop=drop))
        assert result.status == "data only"
        assert result.run is None
        assert [load.kind for load in result.loads] == ["transactions"]
        assert _counts(ws)["mmm"] == mmm_before
        assert ws.counts()["transactions"] == 1
        row = ws.fetch("SELECT kind, status FROM runs WHERE id = ?", [result.id])
        assert row == [("refresh", "ok")]


def test_warm_start_from_the_previous_run_where_sound(story: Story) -> None:
    import tomllib

    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec, parse_spec
    from margin.refresh.fit import _warm_start

    assert story.first.warm_start == {"used": False, "reason": "no previous run"}
    assert story.second.warm_start is not None
    assert story.second.warm_start["used"] is True
    assert story.first.run is not None
    assert story.first.run["id"] in story.second.warm_start["reason"]
    with Workspace(story.ws_path, read_only=True) as ws:
        spec = load_spec(story.root / "spec.toml")
        panel = load_panel(spec, workspace=ws)
        previous = last_good_run(ws)
    raw = tomllib.loads(story.world.spec)
    other = parse_spec({**raw, "data": {**raw["data"], "controls": ["price"]}})
    assert "spec changed" in _warm_start(previous, other, panel)["reason"]
    assert _warm_start(previous, spec, panel)["used"] is True


# -- the pieces ------------------------------------------------------------------------


def test_refresh_without_settings_is_a_config_error(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="no refresh settings"):
        refresh(ws)


def test_settings_round_trip_through_the_workspace(ws: Workspace, tmp_path: Path) -> None:
    assert load_settings(ws) is None
    stored = save_settings(ws, RefreshSettings(drop=Path("in"), spec=Path("s.toml"), draws=9))
    assert stored.drop.is_absolute()
    assert stored.spec.is_absolute()
    assert load_settings(ws) == stored
    assert stored.runs_folder(ws) == ws.path.resolve().parent / "runs"
    with pytest.raises(ConfigError, match="method 'mcmc'"):
        RefreshSettings(drop=Path("in"), spec=Path("s.toml"), method="mcmc")
    with pytest.raises(ConfigError, match="draws must be an integer >= 1"):
        RefreshSettings(drop=Path("in"), spec=Path("s.toml"), draws=0)


SPEND = (
    "date,geo,channel,campaign,spend,impressions,clicks,currency\n2024-01-01,n,tv,c,10,1,0,USD\n"
)


def test_scan_drop_layout(ws: Workspace, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    (drop / "spend").mkdir(parents=True)
    (drop / "spend" / "a.csv").write_text(SPEND)
    (drop / "spend" / "same_as_a.csv").write_text(SPEND)
    (drop / "spend" / ".b.csv.part").write_text("half")
    (drop / "fx_rates__eur.csv").write_text("date,currency,rate\n2024-01-01,EUR,1.1\n")
    (drop / "notes.txt").write_text("hello\n")
    (drop / "weekly.csv").write_text(SPEND)
    (drop / "stuff").mkdir()
    (drop / "README.md").write_text("x")
    scan = scan_drop(ws, drop)
    assert [(f.path.name, f.kind) for f in scan.new] == [
        ("fx_rates__eur.csv", "fx_rates"),
        ("a.csv", "spend"),
    ]
    ignored = {f.path.name: f.reason for f in scan.ignored}
    assert set(ignored) == {"same_as_a.csv", "notes.txt", "weekly.csv", "stuff", "README.md"}
    assert "same content" in ignored["same_as_a.csv"]
    assert "KIND__name.csv" in ignored["weekly.csv"]
    ingest_file(ws, "spend", drop / "spend" / "a.csv")
    again = scan_drop(ws, drop)
    assert [f.path.name for f in again.loaded_before] == ["a.csv", "same_as_a.csv"]
    assert [f.path.name for f in again.new] == ["fx_rates__eur.csv"]
    with pytest.raises(ConfigError, match=r"drop folder .* does not exist"):
        scan_drop(ws, tmp_path / "missing")


def test_a_refresh_is_one_transaction(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mid-refresh, the loaded file is visible to the refresh and to no other connection
    (so a killed process leaves nothing); a failure rolls it back."""
    from margin.data.rules import validation
    from margin.data.rules.findings import Finding, Report

    drop = tmp_path / "drop"
    (drop / "spend").mkdir(parents=True)
    (drop / "spend" / "a.csv").write_text(SPEND)
    spec = tmp_path / "spec.toml"
    spec.write_text('[data]\nkpi = "revenue"\nmedia = ["tv"]\n', encoding="utf-8")
    other = ws.con.cursor()
    seen: dict[str, Any] = {}

    def check(*_: Any, **__: Any) -> Report:
        seen["refresh"] = ws.fetch("SELECT count(*) FROM loads")
        seen["other"] = other.execute("SELECT count(*) FROM loads").fetchall()
        return Report((Finding("gap_weeks", "error", "spend", None, "A gap.", "Fill it."),))

    monkeypatch.setattr(validation, "check_workspace", check)
    with pytest.raises(RefreshError, match="step 'check'"):
        refresh(ws, settings=RefreshSettings(drop=drop, spec=spec))
    assert seen == {"refresh": [(1,)], "other": [(0,)]}
    assert ws.fetch("SELECT count(*) FROM loads") == [(0,)]
    assert ws.fetch("SELECT kind, status FROM runs") == [("refresh", "failed")]


def test_a_missing_spec_fails_before_anything_is_loaded(ws: Workspace, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    (drop / "spend").mkdir(parents=True)
    (drop / "spend" / "a.csv").write_text(SPEND)
    settings = RefreshSettings(drop=drop, spec=tmp_path / "missing.toml")
    with pytest.raises(RefreshError, match="step 'spec'") as caught:
        refresh(ws, settings=settings)
    assert ws.counts()["spend"] == 0
    assert caught.value.result.status == "failed"
    assert ws.fetch("SELECT kind, status FROM runs") == [("refresh", "failed")]


def _interval(mean: float, low: float, high: float) -> dict[str, float]:
    return {"mean": mean, "p05": low, "p95": high}


def _summary(run: str, roi: dict[str, float], warnings: list[str], weeks: int) -> dict[str, Any]:
    return {
        "run": {"id": run},
        "method": "nuts",
        "channels": {
            "tv": {
                "roi": roi,
                "mroi": _interval(1.0, 0.5, 1.5),
                "contribution_share": _interval(0.1, 0.05, 0.15),
                "contribution": _interval(100.0 * weeks, 50.0 * weeks, 150.0 * weeks),
                "weekly_contribution": {"mean": [0.0] * weeks},
            }
        },
        "diagnostics": {"converged": True, "max_rhat": 1.0, "warnings": warnings},
    }


def test_compare_flags_shifts_beyond_either_interval() -> None:
    old = _summary("a", _interval(2.0, 1.5, 2.5), ["w1", "w2"], weeks=10)
    inside = compare_summaries(old, _summary("b", _interval(2.2, 1.0, 3.0), ["w2"], weeks=20))
    by_metric = {s.metric: s for s in inside.shifts}
    assert not any(s.flagged for s in inside.shifts)
    # contribution compared per week: 1000/10 == 2000/20, no change
    assert by_metric["weekly_contribution"].change == 0.0
    assert by_metric["roi"].change == pytest.approx(0.2)
    assert inside.resolved_warnings == ("w1",)
    assert inside.new_warnings == ()
    # the new mean outside the old interval
    up = compare_summaries(old, _summary("b", _interval(2.6, 1.0, 4.0), [], weeks=10))
    assert [(s.metric, s.direction) for s in up.flagged] == [("roi", "up")]
    # the old mean outside a narrower new interval, the new mean inside the old one
    narrow = ChannelShift("tv", "roi", _interval(2.0, 1.5, 2.5), _interval(2.4, 2.3, 2.45))
    assert narrow.flagged
    added = compare_summaries(old, {**old, "channels": {**old["channels"], "tiktok": {}}})
    assert added.added_channels == ("tiktok",)
    assert added.removed_channels == ()


def _plan(mean: list[float], low: list[float], high: list[float]) -> PlanForecast:
    dates = tuple(date(2024, 1, 1 + 7 * i) for i in range(len(mean)))
    return PlanForecast(
        "p", "plan.json", "run", dates[0], dates, tuple(mean), tuple(low), tuple(high)
    )


def test_score_numbers_and_verdicts() -> None:
    plan = _plan([100.0, 200.0, 300.0], [90.0, 180.0, 270.0], [110.0, 220.0, 330.0])
    arrived = {date(2024, 1, 1): 95.0, date(2024, 1, 8): 230.0}
    score = score_plan(plan, arrived)
    assert [w.inside for w in score.weeks] == [True, False]
    assert score.coverage == 0.5
    assert score.mape == pytest.approx((5 / 95 + 30 / 230) / 2)
    assert score.bias == pytest.approx((325 - 300) / 300)
    assert score.predicted_total == {"mean": 300.0, "p05": 270.0, "p95": 330.0}
    assert score.verdict == "delivered"
    assert score.pending == (date(2024, 1, 15),)
    assert score_plan(plan, {date(2024, 1, 1): 80.0}).verdict == "fell short"
    assert score_plan(plan, {date(2024, 1, 1): 111.0}).verdict == "exceeded"
    nothing = score_plan(plan, {})
    assert nothing.verdict == "pending"
    assert nothing.coverage is None
    assert nothing.to_dict()["actual_total"] is None


def test_read_plan_rejects_damaged_files(write_file: Any) -> None:
    with pytest.raises(ConfigError, match="lacks 'start' or 'weekly_kpi'"):
        read_plan(write_file("old.json", json.dumps({"budget": 1})))
    short = {
        "start": "2024-01-01",
        "weekly_kpi": {"dates": ["2024-01-01"], "mean": [1.0], "p05": [], "p95": [2.0]},
    }
    with pytest.raises(ConfigError, match="p05 must be a list of 1 numbers"):
        read_plan(write_file("short.json", json.dumps(short)))
    with pytest.raises(ConfigError, match="does not exist"):
        read_plan(Path("/nonexistent/plan.json"))


def test_a_change_of_fit_settings_means_a_refit(tmp_path: Path) -> None:
    from margin.refresh.fit import PreviousRun
    from margin.refresh.refresh import _same_fit

    fit = {"method": "approximate", "chains": 1, "draws": 60, "warmup": 0, "seed": 1}
    run = {"id": "mmm-x", "spec_hash": "s", "data_hash": "d"}
    parts = {k: {} for k in ("kpi", "channels", "totals", "baseline", "diagnostics")}
    body = {"run": run, "channels_order": [], **parts, "fit": {**fit, "holdout_weeks": 0}}
    (tmp_path / "summary.json").write_text(json.dumps(body))
    previous = PreviousRun("mmm-x", tmp_path, "s", "d", "approximate")
    settings = RefreshSettings(drop=tmp_path, spec=tmp_path / "s.toml", **FIT)  # type: ignore[arg-type]
    assert _same_fit(previous, settings)
    assert not _same_fit(previous, replace(settings, seed=2))
    assert not _same_fit(previous, replace(settings, method="nuts"))
    assert not _same_fit(PreviousRun("mmm-y", tmp_path / "gone", "s", "d", "ok"), settings)


def test_a_check_error_takes_the_loaded_files_out_again(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from margin.data.rules import validation
    from margin.data.rules.findings import Finding, Report

    drop = tmp_path / "drop"
    (drop / "spend").mkdir(parents=True)
    (drop / "spend" / "a.csv").write_text(SPEND)
    spec = tmp_path / "spec.toml"
    spec.write_text('[data]\nkpi = "revenue"\nmedia = ["tv"]\n', encoding="utf-8")
    finding = Finding("gap_weeks", "error", "spend", None, "Week 2024-01-08 is missing.", "Add it.")
    monkeypatch.setattr(validation, "check_workspace", lambda *_, **__: Report((finding,)))
    with pytest.raises(RefreshError, match="step 'check'") as caught:
        refresh(ws, settings=RefreshSettings(drop=drop, spec=spec))
    assert "gap_weeks" in str(caught.value)
    assert "the 1 file(s) loaded before were rolled back with it" in str(caught.value)
    assert ws.counts()["spend"] == 0
    assert ws.fetch("SELECT count(*) FROM loads") == [(0,)]
    assert [f.path.name for f in scan_drop(ws, drop).new] == ["a.csv"]
