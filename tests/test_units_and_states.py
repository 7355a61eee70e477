"""Units, chart data and dashboard states (issue 21 items 8, 9, 10) without a browser.

The formatting rules of :mod:`margin.wording` (one per number: money with its currency,
KPI amounts with their unit, a plan's gain the same way in the CLI, the report and the
dashboard, times to the minute), the report's views that use them, how far response
curves must reach, and the API behind the plan page and the overview's plan headline.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _cli import margin, words
from margin.types import Interval
from margin.wording import (
    abbreviate,
    gain_words,
    kpi_amount,
    kpi_span,
    minute,
    money,
    per_money,
)


def test_amounts_abbreviate_one_way_with_their_unit() -> None:
    assert abbreviate(17_223_603) == "17.22M"
    assert abbreviate(-344_380) == "-344.38k"
    assert abbreviate(12.5) == "12.50"
    assert abbreviate(float("nan")) == "–"
    assert money(344_380, "USD") == "$344.38k"
    assert money(-1_200_000, "EUR") == "-€1.20M"
    assert money(12.5, "CHF") == "CHF 12.50"
    assert money(5, None) == "5.00"  # no currency known: no symbol is made up
    assert kpi_amount(17_223_603, "conversions", "USD") == "17.22M conversions"
    assert kpi_amount(17_223_603, "revenue", "USD") == "$17.22M"
    assert kpi_amount(3.0, "conversions", "USD", "signups") == "3.00 signups"
    assert per_money("USD") == "$ per $"
    assert per_money(None) == "×"


def test_a_gain_says_its_unit_and_for_conversions_its_worth() -> None:
    gain = Interval(17_223_603, 9e6, 25e6)
    assert kpi_span(gain, "conversions", "USD") == "17.22M [9.00M, 25.00M] conversions"
    assert gain_words(gain, "conversions", "USD", 0.02) == (
        "17.22M [9.00M, 25.00M] conversions (worth $344.47k [$180.00k, $500.00k] at "
        "$0.02 a conversion)"
    )
    assert gain_words(Interval(212_492, -289_042, 948_516), "revenue", "USD", 1.0) == (
        "$212.49k [-$289.04k, $948.52k]"
    )


def test_timestamps_read_to_the_minute_in_utc() -> None:
    assert minute("2026-12-07 16:14:39.745317") == "2026-12-07 16:14 UTC"
    assert minute("2026-12-07T16:14:39+01:00") == "2026-12-07 15:14 UTC"
    assert minute("not a time") == "not a time"


def conversion_summary() -> dict[str, Any]:
    stat = {"mean": 2_379_490_335.0, "p05": 2.0e9, "p95": 2.7e9}
    roi = {"mean": 1.5, "p05": 1.2, "p95": 1.9}
    channel = {"spend": 1000.0, "roi": roi, "mroi": roi, "contribution": stat,
               "contribution_share": roi, "media_share": roi}  # fmt: skip
    return {
        "run": {"id": "mmm-x", "created": "2026-12-07 16:14:39.745317"},
        "kpi": {"name": "conversions", "type": "conversions"},
        "channels_order": ["tv"],
        "channels": {"tv": channel},
        "totals": {
            "roi": roi,
            "spend": 1000.0,
            "contribution": stat,
            "kpi_predicted": stat,
            "media_share": roi,
        },
        "baseline": {"share": roi, "kpi": stat},
        "diagnostics": {},
        "method": "approximate",
    }


def a_plan(tv_spend: float = 1300.0) -> dict[str, Any]:
    gain = {"mean": 17_223_603.0, "p05": 9e6, "p95": 25e6}
    return {
        "budget": 2600.0, "weeks": 13, "kpi_value": 0.02, "expected_gain": gain,
        "expected_kpi": gain, "p_beats_current": 0.9,
        "allocation": {"tv": {"spend": tv_spend, "current_spend": 1000.0, "gain": gain}},
    }  # fmt: skip


def test_the_report_labels_conversions_and_money() -> None:
    from margin.report.views import build_view

    view = build_view(conversion_summary(), plan=a_plan(), currency="USD")
    assert view["channels"][0]["contribution_text"] == "2.38B [2.00B, 2.70B] conversions"
    assert view["units"]["roi_unit"] == "$ per $"
    assert view["units"]["kpi_unit"] == "conversions"
    said = gain_words(Interval.from_json(a_plan()["expected_gain"]), "conversions", "USD", 0.02)
    assert view["plan"]["gain_text"] == said
    assert said in view["plan"]["verdict"]
    assert view["plan"]["rows"][0]["gain_text"] == "17.22M [9.00M, 25.00M] conversions"
    assert view["meta"]["created"] == "2026-12-07 16:14 UTC"


def test_curves_must_reach_past_the_plan() -> None:
    from margin.report.views import build_view, curve_reach

    grid = [0.0, 50.0, 100.0, 150.0, 200.0]  # 2.5 × a current weekly spend of 80
    stat = {"mean": grid, "p05": grid, "p95": grid}
    curves = {"horizon_weeks": 13, "channels": {
        "tv": {"current_weekly_spend": 80.0, "spend": grid, "kpi": stat}}}  # fmt: skip
    assert curve_reach(curves, None) == {}  # 1.2 × current is inside the grid
    assert curve_reach(curves, a_plan(tv_spend=13 * 150.0)) == {}  # 180 <= 200
    assert curve_reach(curves, a_plan(tv_spend=13 * 200.0)) == {"tv": pytest.approx(240.0)}
    view = build_view(conversion_summary(), curves=curves, plan=a_plan(tv_spend=13 * 200.0))
    assert view["curves"]["short"] == ["tv"]
    assert view["curves"]["channels"][0]["recommended_weekly_spend"] == pytest.approx(200.0)


def test_response_curves_reach_what_they_are_asked_to(fitted_run_dir: Path) -> None:
    from margin.mmm.response import load_response
    from margin.optimize.curves import CURVE_LEVELS, response_curves

    response = load_response(fitted_run_dir, max_draws=20)
    saved = json.loads((fitted_run_dir / "curves.json").read_text(encoding="utf-8"))
    far = 4 * saved["channels"]["tv"]["current_weekly_spend"]
    body = response_curves(response, weeks=13, reach={"tv": far})
    tv = body["channels"]["tv"]
    assert tv["spend"][-1] == pytest.approx(far)
    assert len(tv["spend"]) == CURVE_LEVELS
    assert body["channels"]["search"]["spend"] == pytest.approx(
        saved["channels"]["search"]["spend"]
    )


def test_only_known_pages_are_followed_after_login() -> None:
    from margin.api.routes_pages import safe_next

    assert safe_next("/plans/plan-0123456789ab") == "/plans/plan-0123456789ab"
    assert safe_next("/plans/latest") == "/plans/latest"
    assert safe_next("/plans/../keys") == "/"
    assert safe_next("/plans/plan-xyz") == "/"


@pytest.fixture(scope="module")
def served(
    fitted_run_dir: Path, fitted_plan: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The app on a copy of the fitted workspace, with an analyst key; no plan recorded."""
    from margin.api.app import create_app
    from margin.api.keys import create_key
    from margin.data.workspace.store import Workspace

    base = tmp_path_factory.mktemp("states")
    run = base / "run"
    shutil.copytree(fitted_run_dir, run)
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", base / "ws.duckdb")
    with Workspace(base / "ws.duckdb") as ws:
        ws.con.execute("UPDATE runs SET artifact_path = ?", [str(run)])
        key = create_key(ws, "analyst")
    with TestClient(create_app(base / "ws.duckdb", secure_cookies=False)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield {"client": client, "ws": base / "ws.duckdb", "run": run, "plan": fitted_plan}


def test_the_latest_plan_and_its_page(served: dict[str, Any]) -> None:
    from margin.data.workspace.runs import record_plan
    from margin.data.workspace.store import Workspace
    from margin.report.views import gain_text

    client = served["client"]
    missing = client.get("/api/plans/latest")
    assert missing.status_code == 404
    assert "margin optimize" in missing.json()["detail"]  # how to make one
    document = {**served["plan"], "weeks": 8}
    path = served["run"] / "plans" / "one" / "plan.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    with Workspace(served["ws"]) as ws:
        plan_id = record_plan(ws, served["run"], document, path).id
    body = client.get("/api/plans/latest").json()
    assert body["run"]["id"] == plan_id
    assert body["units"] == {"kpi_type": "revenue", "kpi_name": "revenue", "kpi_unit": "USD",
                             "currency": "USD", "symbol": "$", "roi_unit": "$ per $"}  # fmt: skip
    assert body["view"]["gain_text"] == gain_text(document, body["units"])
    assert body["view"]["gain_text"].startswith("$")
    assert [m["channel"] for m in body["top_moves"]] == sorted(
        (r["channel"] for r in body["view"]["rows"] if r["change"]),
        key=lambda name: -abs(body["plan"]["allocation"][name]["change"]),
    )[:3]
    assert client.get(f"/api/plans/{plan_id}").json()["run"]["id"] == plan_id
    assert client.get("/api/plans/plan-000000000000").status_code == 404
    page = client.get(f"/plans/{plan_id}")
    assert page.status_code == 200
    assert f'data-plan="{plan_id}"' in page.text
    assert 'data-currency="USD"' in page.text
    assert client.get("/plans/not-a-plan").status_code == 404


def test_curves_reach_a_plan_through_the_api(served: dict[str, Any]) -> None:
    from margin.data.workspace.runs import record_plan
    from margin.data.workspace.store import Workspace

    client = served["client"]
    saved = client.get("/api/runs/latest/curves").json()
    tv = saved["channels"]["tv"]
    document = json.loads(json.dumps(served["plan"]))
    weeks = int(document["weeks"])
    document["allocation"]["tv"]["spend"] = 4 * tv["current_weekly_spend"] * weeks
    document["request"] = {"far": True}  # another plan id
    path = served["run"] / "plans" / "far" / "plan.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    with Workspace(served["ws"]) as ws:
        plan_id = record_plan(ws, served["run"], document, path).id
    body = client.get(f"/api/runs/latest/curves?plan={plan_id}").json()
    assert body["channels"]["tv"]["spend"][-1] == pytest.approx(4.8 * tv["current_weekly_spend"])
    assert body["channels"]["search"]["spend"] == saved["channels"]["search"]["spend"]
    assert client.get("/api/runs/latest/curves?plan=nope").status_code in (400, 422)


def test_cli_plan_gain_reads_as_the_report_and_dashboard_say_it(
    fitted_run_dir: Path, tmp_path: Path
) -> None:
    from margin.data.workspace.runs import load_summary
    from margin.report.views import gain_text, units_of

    ws = tmp_path / "ws.duckdb"
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", ws)
    out = tmp_path / "plan.json"
    said = margin("optimize", "--run", str(fitted_run_dir), "--weeks", "4", "--max-draws", "50",
                  "--out", str(out), "-w", str(ws))  # fmt: skip
    assert said.returncode == 0, said.stderr
    plan = json.loads(out.read_text(encoding="utf-8"))
    gain = gain_text(plan, units_of(load_summary(fitted_run_dir), "USD"))
    assert gain.startswith("$")
    assert f"gain {gain} (90% interval)" in words(said.stdout)
