"""The learning page's view-model (margin.report.learning): its maths against direct
computations, the latest plan, missing optional blocks, bad cycles, the offline report,
the API route and ``margin learning-report``.

Cycles come from the fixture factory of ``tests/_learning.py`` (cycle.json exactly as the
loop's spec writes it).
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _cli import margin, words
from _learning import CHANNELS, LOOP_ID, interval, make_cycle, make_loop, record_loop
from margin.errors import ConfigError
from margin.report.learning import (
    START_COMMAND,
    Z90,
    build_learning_report,
    combine_dependent,
    combine_independent,
    empty_view,
    learning_view,
)
from margin.types import Interval

MONTE_CARLO = 400_000
"""Draws of the direct (Monte Carlo) computations; their tolerance is 1% of the width."""


# -- interval arithmetic against direct computations -------------------------------------


def _normals(stats: list[Interval], rng: np.random.Generator) -> np.ndarray:
    """Independent normal draws, one column per estimate (sd = half-width / Z90)."""
    sds = np.array([(s.p95 - s.p05) / (2 * Z90) for s in stats])
    means = np.array([s.mean for s in stats])
    return means + sds * rng.standard_normal((MONTE_CARLO, len(stats)))


def test_independent_sum_matches_the_sum_of_independent_normals() -> None:
    stats = [Interval(20e3, 5e3, 35e3), Interval(-4e3, -10e3, 2e3), Interval(9e3, 8e3, 10e3)]
    total = _normals(stats, np.random.default_rng(7)).sum(axis=1)
    combined = combine_independent(stats)
    tolerance = 0.01 * (combined.p95 - combined.p05)
    assert combined.mean == pytest.approx(sum(s.mean for s in stats), abs=1e-9)
    assert combined.p05 == pytest.approx(np.quantile(total, 0.05), abs=tolerance)
    assert combined.p95 == pytest.approx(np.quantile(total, 0.95), abs=tolerance)
    # and the closed form: sd of the sum = sqrt of the summed variances
    sd = math.sqrt(sum(((s.p95 - s.p05) / (2 * Z90)) ** 2 for s in stats))
    assert combined.p95 - combined.mean == pytest.approx(Z90 * sd, rel=1e-12)


def test_dependent_sum_matches_comonotone_draws() -> None:
    stats = [Interval(20e3, 5e3, 35e3), Interval(9e3, 8e3, 10e3)]
    rng = np.random.default_rng(3)
    z = rng.standard_normal(MONTE_CARLO)  # one shock moves every estimate
    sds = [(s.p95 - s.p05) / (2 * Z90) for s in stats]
    total = sum(s.mean + sd * z for s, sd in zip(stats, sds, strict=True))
    combined = combine_dependent(stats)
    tolerance = 0.01 * (combined.p95 - combined.p05)
    assert combined.p05 == pytest.approx(np.quantile(total, 0.05), abs=tolerance)
    assert combined.p95 == pytest.approx(np.quantile(total, 0.95), abs=tolerance)


def test_a_skewed_estimate_stays_skewed_and_one_estimate_is_itself() -> None:
    skewed = Interval(10.0, 8.0, 40.0)
    assert combine_independent([skewed]) == skewed
    two = combine_independent([skewed, skewed])
    assert two.mean == 20.0
    assert two.mean - two.p05 == pytest.approx(2.0 * math.sqrt(2))
    assert two.p95 - two.mean == pytest.approx(30.0 * math.sqrt(2))
    assert combine_independent([]) == Interval(0.0, 0.0, 0.0)
    # independence never widens beyond full dependence
    wide = combine_dependent([skewed, skewed])
    assert wide.p05 <= two.p05
    assert two.p95 <= wide.p95


# -- the view-model ----------------------------------------------------------------------


def test_cumulative_gain_adds_the_cycles_expected_gains() -> None:
    cycles = make_loop(4)
    view = learning_view(cycles)
    gains = [Interval.from_json(c["expected_gain"]) for c in cycles[1:]]  # cycle 1: none
    per_cycle = view["cumulative"]["per_cycle"]
    assert [r["cycle"] for r in per_cycle] == [1, 2, 3, 4]
    assert per_cycle[0]["gain"] is None
    assert per_cycle[0]["cumulative"] is None
    assert view["cumulative"]["missing"] == [1]
    running = 0.0
    for row, gain, k in zip(per_cycle[1:], gains, range(1, 4), strict=True):
        running += gain.mean
        assert row["cumulative"]["mean"] == pytest.approx(running)
        assert row["cumulative"] == combine_independent(gains[:k]).to_json()
        assert row["cumulative_dependent"] == combine_dependent(gains[:k]).to_json()
    assert view["cumulative"]["total"] == per_cycle[-1]["cumulative"]
    assert "independent normal" in view["cumulative"]["method"]
    assert "$90.00k" in view["headline"][1]  # 20k + 30k + 40k, in the cycles' currency


def test_budget_roi_widths_and_test_markers() -> None:
    cycles = make_loop(4)
    view = learning_view(cycles)
    assert view["meta"]["channels"] == list(CHANNELS)
    assert view["meta"]["currency"] == "USD"
    assert view["meta"]["symbol"] == "$"
    assert view["budget"]["labels"] == ["cycle 1", "cycle 2", "cycle 3", "cycle 4"]
    tv_spend = [c["plan"]["tv"]["spend"] for c in cycles]
    assert view["budget"]["series"][0] == {"channel": "tv", "values": tv_spend}
    assert [c["budget"] for c in view["cycles"]] == [c["budget"] for c in cycles]
    for row in view["roi"]:
        stats = [c["roi"][row["channel"]]["after"] for c in cycles]
        assert row["width"] == pytest.approx([s["p95"] - s["p05"] for s in stats])
        assert row["mean"] == [s["mean"] for s in stats]
        assert row["first_width"] == pytest.approx(row["width"][0])
        assert row["last_width"] == pytest.approx(row["width"][-1])
    tested = {r["channel"]: r["tested"] for r in view["roi"]}
    assert tested == {
        "tv": [False, True, False, False],
        "search": [False, False, True, False],
        "social": [False, False, False, True],
    }


def test_each_test_says_what_it_taught() -> None:
    view = learning_view(make_loop(4))
    rows = view["tests"]["rows"]
    assert [(r["cycle"], r["channel"]) for r in rows] == [(2, "tv"), (3, "search"), (4, "social")]
    tv = rows[0]
    assert (tv["width_before"], tv["width_after"]) == (pytest.approx(1.6), pytest.approx(0.8))
    assert tv["narrowing"] == pytest.approx(0.5)
    assert tv["iroas"] == interval(1.5, 0.75, 2.25)
    assert "narrowed from 1.60× to 0.80× wide" in tv["taught"]
    table = view["tables"]["tests"]
    assert len(table["rows"]) == 3
    assert len(table["headers"]) == len(table["rows"][0])
    cells = dict(zip(table["headers"], table["rows"][0], strict=True))
    assert cells["lift"] == "$60.00k [$30.00k, $90.00k]"  # revenue: the lift is money
    assert cells["iROAS"] == "1.50× [0.75, 2.25]"
    assert cells["ROI interval width before → after"] == "1.60× → 0.80× (-50.0%)"
    assert cells["geos treated"] == "2: geo_a, geo_c"


def test_a_conversion_kpi_lift_carries_its_unit_and_worth() -> None:
    cycles = make_loop(2)
    for c in cycles:
        c["kpi"], c["kpi_value"] = "conversions", 50.0
        c["tests"]["analysed"] = [
            {**t, "lift": interval(1200.0, 600.0, 1800.0)} for t in c["tests"]["analysed"]
        ]
    cell = learning_view(cycles)["tables"]["tests"]["rows"][0][7]
    assert cell == "1.20k [600.00, 1.80k] conversions (worth $60.00k [$30.00k, $90.00k])"


def test_the_latest_plan_and_its_test_calendar() -> None:
    cycles = make_loop(4)
    nxt = learning_view(cycles)["next"]
    last = cycles[-1]
    assert (nxt["cycle"], nxt["start"], nxt["end"]) == (4, "2026-10-05", "2026-12-28")
    assert [row[0] for row in nxt["plan"]] == list(CHANNELS)
    assert nxt["plan"][0][1] == "$532.40k"  # tv's spend this cycle
    assert nxt["plan"][0][4] == "+10.0%"
    assert nxt["scheduled"] == last["tests"]["scheduled"]
    (calendar,) = nxt["calendar"]
    assert calendar[:3] == ["design-004", "tv", "heavy-up"]
    assert calendar[4] == "2: geo_b, geo_d"
    assert calendar[8] == "$25.00k [$5.00k, $60.00k]"
    assert any("25.0% change per channel" in g for g in nxt["guardrails"])
    assert any("$12.35k below the status quo" in g for g in nxt["guardrails"])


def test_a_plan_held_in_place_reads_as_such() -> None:
    cycles = make_loop(2)
    last = cycles[-1]
    last["guardrails"]["shrunk"] = 0.0
    last["tests"]["scheduled"] = []
    for block in last["plan"].values():
        block["change"] = -2.220446049250313e-16  # a rounding residue, as the loop writes it
    nxt = learning_view(cycles)["next"]
    assert [row[4] for row in nxt["plan"]] == ["+0.0%"] * len(CHANNELS)
    assert any("kept 0.0% of its step" in g for g in nxt["guardrails"])
    assert nxt["calendar"] == []
    assert nxt["calendar_note"] == "No test was scheduled in cycle 2."


def test_share_of_the_oracle_and_reconciliation_when_present() -> None:
    view = learning_view(make_loop(4, truth=True, reconciliation=True))
    truth = view["truth"]
    assert [r["share_of_oracle"] for r in truth["rows"]] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert truth["cumulative_gain"] == pytest.approx(100_000.0)
    assert "only in simulation" in truth["note"]
    recon = view["reconciliation"]
    assert recon["cycle"] == 4
    assert recon["headers"][:3] == ["channel", "MMM ROI", "attributed ROAS (last touch)"]
    tv = recon["rows"][0]
    assert tv[0] == "tv"
    assert tv[4] == "1.50× [0.75, 2.25] (1 test)"
    assert recon["rows"][2][-1] == "attribution_vs_mmm"
    assert recon["flags"] == ["social: last-touch ROAS is 3.0× the MMM's ROI"]
    assert any("known only in simulation" in c["label"] for c in view["cards"])


def test_missing_optional_blocks() -> None:
    required = {"format", "version", "loop_id", "cycle", "weeks", "currency", "plan"}
    cycles = [{k: v for k, v in make_cycle(k).items() if k in required} for k in (1, 2)]
    view = learning_view(cycles)
    assert view["cumulative"]["total"] is None
    assert view["cumulative"]["missing"] == [1, 2]
    assert view["truth"] is None
    assert view["reconciliation"] is None
    assert view["tests"]["rows"] == []
    assert view["next"]["calendar"] == []
    assert all(r["first_width"] is None for r in view["roi"])
    assert view["meta"]["policy"] == "margin"
    assert view["meta"]["kpi"] == "KPI"
    assert view["tables"]["cycles"]["rows"][0][-2:] == ["–", "–"]
    assert "truth" not in view["tables"]
    assert "reconciliation" not in view["tables"]
    # a channel missing from a cycle's plan and from its ROI block leaves gaps, no error
    cycles = make_loop(2)
    del cycles[0]["plan"]["social"], cycles[0]["roi"]["social"]
    view = learning_view(cycles)
    assert view["budget"]["series"][2]["values"][0] is None
    assert view["roi"][2]["mean"][0] is None


def test_cycles_are_shown_oldest_first() -> None:
    view = learning_view(list(reversed(make_loop(3))))
    assert [c["cycle"] for c in view["cycles"]] == [1, 2, 3]
    assert view["next"]["cycle"] == 3


def test_no_cycles_is_the_empty_state() -> None:
    view = learning_view([])
    assert view == empty_view()
    assert view["empty"] is True
    assert view["start_command"] == START_COMMAND


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda c: c.update(format="margin-mmm-run"), "format 'margin-mmm-run' version 1"),
        (lambda c: c.update(version=2), "expected 'margin-loop-cycle' version 1"),
        (lambda c: c.pop("plan"), "'plan' is NoneType, expected Mapping"),
        (lambda c: c.update(cycle="two"), "'cycle' is str, expected int"),
        (lambda c: c["weeks"].pop("start"), "'weeks' needs ISO dates"),
    ],
)
def test_a_bad_cycle_is_one_clear_error(change: Any, said: str) -> None:
    cycles = make_loop(3)
    change(cycles[1])
    with pytest.raises(ConfigError, match=re.escape(said)) as caught:
        learning_view(cycles)
    assert "cycle.json #2" in str(caught.value)
    assert "margin loop" in str(caught.value)


def test_cycles_of_two_loops_or_a_repeated_cycle_are_refused() -> None:
    other = make_cycle(2)
    other["loop_id"] = "loop-ffffffffffff"
    with pytest.raises(ConfigError, match="come from 2 loops"):
        learning_view([make_cycle(1), other])
    with pytest.raises(ConfigError, match="has a cycle number twice"):
        learning_view([make_cycle(1), make_cycle(1)])


def test_the_view_does_not_change_its_input() -> None:
    cycles = make_loop(3, truth=True, reconciliation=True)
    before = copy.deepcopy(cycles)
    learning_view(cycles)
    assert cycles == before


# -- the offline report ------------------------------------------------------------------


def _payload(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="margin-learning-view">(.*?)</script>',
                      html, re.S)  # fmt: skip
    assert found is not None
    return dict(json.loads(found.group(1)))


@pytest.mark.parametrize("cycles", [make_loop(4, truth=True, reconciliation=True), []])
def test_the_report_is_one_offline_file(cycles: list[dict[str, Any]]) -> None:
    from margin.report.html import CHART_JS, static_text

    html = build_learning_report(cycles)
    assert html.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)\s*=", html, re.I)
    assert "@import" not in html
    assert "url(" not in html
    assert static_text(CHART_JS)[:2000] in html
    assert "MarginCharts" in html
    assert static_text("margin-learning.js")[:500] in html
    assert _payload(html) == json.loads(json.dumps(learning_view(cycles)))
    if cycles:  # the text is rendered in the file itself, not only by its script
        assert "$90.00k [$70.74k, $197.70k]" in html
        assert 'id="table-tests"' in html
        assert "1.60× → 0.80× (-50.0%)" in html
    else:
        assert START_COMMAND.replace('"', "&#34;") in html


def test_a_channel_name_cannot_break_out_of_the_report() -> None:
    cycles = make_loop(2)
    for c in cycles:
        c["plan"]["</script><script>alert(1)</script>"] = dict(c["plan"]["tv"])
    html = build_learning_report(cycles)
    assert "<script>alert(1)" not in html
    assert _payload(html)["meta"]["channels"][-1] == "</script><script>alert(1)</script>"


# -- the API route and the command -------------------------------------------------------


@pytest.fixture
def loop_workspace(tmp_path: Path) -> Path:
    """A workspace holding a 4-cycle loop (with truth and reconciliation blocks)."""
    from margin.data.workspace.store import Workspace

    path = tmp_path / "ws.duckdb"
    Workspace(path).close()
    record_loop(path, make_loop(4, truth=True, reconciliation=True))
    return path


def _client(path: Path) -> tuple[Any, dict[str, str]]:
    from fastapi.testclient import TestClient

    from margin.api.app import create_app
    from margin.api.keys import create_key
    from margin.data.workspace.store import Workspace

    with Workspace(path) as ws:
        key = create_key(ws, "viewer")
    return TestClient(create_app(path)), {"Authorization": f"Bearer {key}"}


def test_api_serves_the_view_of_the_latest_loop(loop_workspace: Path) -> None:
    client, auth = _client(loop_workspace)
    with client:
        body = client.get("/api/loop/cycles", headers=auth).json()
        assert body == json.loads(json.dumps(learning_view(make_loop(4, truth=True,
                                                                     reconciliation=True))))  # fmt: skip
        assert client.get(f"/api/loop/cycles?loop={LOOP_ID}", headers=auth).json() == body
        missing = client.get("/api/loop/cycles?loop=loop-000000000000", headers=auth)
        assert missing.status_code == 404
        assert "no loop 'loop-000000000000'" in missing.text
        assert str(loop_workspace.parent) not in missing.text  # no server path
        assert client.get("/api/loop/cycles").status_code == 401


def test_api_without_a_loop_says_how_to_start_one(tmp_path: Path) -> None:
    from margin.data.workspace.store import Workspace

    Workspace(tmp_path / "ws.duckdb").close()
    client, auth = _client(tmp_path / "ws.duckdb")
    with client:
        body = client.get("/api/loop/cycles", headers=auth).json()
    assert body["empty"] is True
    assert body["start_command"] == START_COMMAND


def test_learning_report_command_writes_the_report(loop_workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "learning.html"
    done = margin("learning-report", "-w", str(loop_workspace), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "wrote" in words(done.stdout)
    assert "4 cycle(s)" in words(done.stdout)
    assert _payload(out.read_text(encoding="utf-8"))["meta"]["loop_id"] == LOOP_ID


def test_learning_report_command_without_a_loop_fails_clearly(tmp_path: Path) -> None:
    from margin.data.workspace.store import Workspace

    path = tmp_path / "ws.duckdb"
    Workspace(path).close()
    out = tmp_path / "learning.html"
    done = margin("learning-report", "-w", str(path), "--out", str(out))
    assert done.returncode == 2
    said = words(done.stderr + done.stdout)
    assert "has no learning loop yet" in said
    assert "margin loop --world" in said
    assert "Traceback" not in said
    assert not out.exists()


def test_the_truth_reads_the_plans_gain_and_the_net_after_the_tests_spend() -> None:
    """A record with the allocation's own gain and the executed plan's net of test spend
    (``margin.loop.records.true_block``): the page's gain is the plan's; the net beside it."""
    cycles = make_loop(2, truth=True)
    cycles[0]["true"] |= {"gain": 300.0, "allocation_gain": 100.0, "net_gain": -200.0}
    cycles[1]["true"] |= {"gain": 50.0, "allocation_gain": 50.0, "net_gain": 50.0}
    truth = learning_view(cycles)["truth"]
    assert [r["gain"] for r in truth["rows"]] == [100.0, 50.0]
    assert [r["net_gain"] for r in truth["rows"]] == [-200.0, 50.0]
    assert truth["cumulative_gain"] == pytest.approx(150.0)
    assert truth["cumulative_net_gain"] == pytest.approx(-150.0)
