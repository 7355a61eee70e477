"""The breakdown of a run (issue 21 items 11 and 12) end to end: a fitted geo world's
per-geo ROI against the simulator's truth, ``summary.json``, the report, the REST API,
the planner's ``by_geo``, and summaries saved before the breakdown existed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from margin.api.app import create_app
from margin.api.keys import create_key
from margin.data.workspace.store import Workspace
from margin.report import build_report
from margin.report.breakdown import decomposition_view, geos_view
from margin.report.views import build_view

NEW_KEYS_CHANNEL = ("immediate", "carryover")


@dataclass(frozen=True)
class GeoRun:
    run: Path
    ws: Path
    truth: dict[str, Any]
    kpi_value: float


@pytest.fixture(scope="module")
def geo_run(tmp_path_factory: pytest.TempPathFactory) -> GeoRun:
    """A run fitted on a simulated geo world (4 geos × 104 weeks × 3 channels, seed 5, the
    approximate fit, as tests/test_browser.py's geo site), recorded in a workspace."""
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec
    from margin.data.simulator import WorldParams, simulate_world, write_world
    from margin.data.simulator.params import DEFAULT_CHANNELS
    from margin.mmm import MarketingMixModel, record_run, save_run

    base = tmp_path_factory.mktemp("geo-breakdown")
    params = WorldParams(n_geos=4, n_weeks=104, channels=DEFAULT_CHANNELS[:3], n_users=200)
    world = simulate_world(params, seed=5)
    paths = write_world(world, base / "world")
    with Workspace(base / "ws.duckdb") as workspace:
        for kind in ("spend", "outcomes", "controls"):
            ingest_file(workspace, kind, paths[kind])
        spec = load_spec(paths["spec"])
        panel = load_panel(spec, workspace=workspace)
        model = MarketingMixModel(method="approximate", draws=200, seed=0, approximate_steps=1500)
        record_run(workspace, save_run(model.fit(panel), panel, spec, base / "run"))
    return GeoRun(base / "run", base / "ws.duckdb", world.truth, params.kpi_value)


def _summary(run: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return body


def test_geo_roi_intervals_contain_the_truth(geo_run: GeoRun) -> None:
    """Known truth: the simulator's contribution per geo × channel over the geo's spend."""
    summary = _summary(geo_run.run)
    cells = hits = 0
    for geo, body in summary["geos"].items():
        for channel, cell in body["channels"].items():
            truth = geo_run.truth["channels"][channel]["contribution_by_geo"][geo]
            roi = truth * geo_run.kpi_value / cell["spend"]
            cells += 1
            hits += cell["roi"]["p05"] <= roi <= cell["roi"]["p95"]
    assert cells == 12
    assert hits >= 10, f"{hits} of {cells} geo ROI intervals contain the truth"


def test_geo_summary_sums_to_the_national_one(geo_run: GeoRun) -> None:
    summary = _summary(geo_run.run)
    for channel, c in summary["channels"].items():
        by_geo = [g["channels"][channel] for g in summary["geos"].values()]
        contribution = sum(cell["contribution"]["mean"] for cell in by_geo)
        assert contribution == pytest.approx(c["contribution"]["mean"], rel=1e-6)
        assert sum(cell["spend"] for cell in by_geo) == pytest.approx(c["spend"], rel=1e-9)
        split = c["immediate"]["mean"] + c["carryover"]["mean"]
        assert split == pytest.approx(c["contribution"]["mean"], rel=1e-6)
    predicted = sum(g["kpi_predicted"]["mean"] for g in summary["geos"].values())
    assert predicted == pytest.approx(summary["totals"]["kpi_predicted"]["mean"], rel=1e-6)
    parts = summary["baseline"]["parts"]
    assert [p["kind"] for p in parts.values()][:3] == ["intercept", "trend", "seasonality"]
    assert parts["holiday"]["kind"] == "holiday"
    total = sum(p["kpi"]["mean"] for p in parts.values())
    assert total == pytest.approx(summary["baseline"]["kpi"]["mean"], rel=1e-5)


def test_national_summary_has_parts_but_no_geos(fitted_run_dir: Path) -> None:
    summary = _summary(fitted_run_dir)
    assert "geos" not in summary
    assert summary["baseline"]["parts"]
    view = geos_view(summary, ["national"])
    assert view["national"]
    assert not view["available"]
    assert "national" in view["message"]


def _old(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as margin wrote it before the breakdown: no parts, split or geos."""
    old = json.loads(json.dumps(summary))
    old["baseline"].pop("parts")
    old.pop("geos", None)
    for c in old["channels"].values():
        for key in NEW_KEYS_CHANNEL:
            c.pop(key)
    return old


def test_old_summaries_still_render(geo_run: GeoRun, tmp_path: Path) -> None:
    old = _old(_summary(geo_run.run))
    view = decomposition_view(old)
    assert not view["available"]
    assert "refit" in view["message"]
    assert view["carryover"] == []
    geos = geos_view(old, ["a", "b"])
    assert not geos["available"]
    assert not geos["national"]
    assert "refit" in geos["message"]
    assert build_view(old)["breakdown"]["available"] is False
    folder = tmp_path / "run"
    shutil.copytree(geo_run.run, folder)
    (folder / "summary.json").write_text(json.dumps(old), encoding="utf-8")
    page = build_report(folder)
    assert 'id="breakdown-missing"' in page
    assert 'id="report-geos"' not in page


def test_report_has_the_parts_and_the_geo_table(geo_run: GeoRun) -> None:
    page = build_report(geo_run.run)
    for marker in (
        'id="report-parts"',
        'id="chart-parts"',
        'id="report-carryover"',
        'id="report-geos"',
        'id="chart-geo-roi"',
        "intercept (level)",
        "holiday",
    ):
        assert marker in page, marker  # fmt: skip
    summary = _summary(geo_run.run)
    view = decomposition_view(summary)
    media = [r for r in view["rows"] if r["kind"] == "media"]
    assert [r["name"] for r in media] == summary["channels_order"]
    total = sum(r["kpi"]["mean"] for r in view["rows"])
    assert total == pytest.approx(view["predicted"]["mean"], rel=1e-5)


@pytest.fixture(scope="module")
def client(geo_run: GeoRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    base = tmp_path_factory.mktemp("geo-api")
    shutil.copy(geo_run.ws, base / "ws.duckdb")
    with Workspace(base / "ws.duckdb") as ws:
        key = create_key(ws, "analyst")
    with TestClient(create_app(base / "ws.duckdb", secure_cookies=False)) as test_client:
        yield test_client, key


def test_api_decomposition_and_geos(client: tuple[Any, str], geo_run: GeoRun) -> None:
    test_client, key = client
    headers = {"Authorization": f"Bearer {key}"}
    body = test_client.get("/api/runs/latest/decomposition", headers=headers).json()
    assert body["available"]
    assert body["rows"][0]["name"] == "intercept"
    assert {r["channel"] for r in body["carryover"]} == set(_summary(geo_run.run)["channels"])
    geos = test_client.get("/api/runs/latest/geos", headers=headers).json()
    assert geos["available"]
    assert not geos["national"]
    assert len(geos["rows"]) == 12
    assert {g["geo"] for g in geos["geos"]} == set(_summary(geo_run.run)["geos"])
    assert set(geos["rows"][0]["roi"]) == {"mean", "p05", "p95"}
    page = test_client.get("/geos", headers=headers)
    assert page.status_code == 200
    assert "chart-geo-roi" in page.text


def test_api_plans_by_geo(client: tuple[Any, str]) -> None:
    test_client, key = client
    headers = {"Authorization": f"Bearer {key}"}
    response = test_client.post(
        "/api/runs/latest/optimize", json={"weeks": 4, "by_geo": True}, headers=headers
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["request"]["by_geo"] is True
    for cell in plan["allocation"].values():
        assert len(cell["spend_by_geo"]) == 4


def test_api_geos_of_a_national_run_says_national(fitted_run_dir: Path, tmp_path: Path) -> None:
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", tmp_path / "ws.duckdb")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        key = create_key(ws, "viewer")
    with TestClient(create_app(tmp_path / "ws.duckdb", secure_cookies=False)) as test_client:
        body = test_client.get(
            "/api/runs/latest/geos", headers={"Authorization": f"Bearer {key}"}
        ).json()
    assert body["national"] is True
    assert "national" in body["message"]
