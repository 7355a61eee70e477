"""Browser tests of issue 21's units, charts and dashboard states (items 8, 9 and 10).

A conversion-KPI run (national, 3 channels, approximate fit) with a plan made by the CLI
(``margin optimize -w``, TV held at 2.8–3× its spend so the plan lies past the response
curves' saved grid) is served by the app; an empty workspace is served beside it. The
pages are checked in Debian's Chromium and screenshotted into ``tests/artifacts/screenshots``
(helpers and the offline guard from :mod:`test_browser`).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _cli import margin, words
from test_browser import SCREENSHOTS, Watch, browser, drawn, log_in, serve, shot

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the shared Chromium fixture, imported for these tests

MINUTE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")


@pytest.fixture(scope="module")
def conversion_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fitted conversion-KPI run, a plan made and recorded by the CLI, and its report."""
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec
    from margin.data.simulator import WorldParams, simulate_world, write_world
    from margin.data.simulator.params import DEFAULT_CHANNELS
    from margin.data.workspace.hashing import create_key
    from margin.data.workspace.store import Workspace
    from margin.mmm import MarketingMixModel, record_run
    from margin.refresh.fit import save_fit

    base = tmp_path_factory.mktemp("conversions")
    params = WorldParams.national(
        n_weeks=104, channels=DEFAULT_CHANNELS[:3], n_users=200, kpi_type="conversions"
    )
    paths = write_world(simulate_world(params, seed=4), base / "world")
    ws_path, run = base / "ws.duckdb", base / "run"
    with Workspace(ws_path) as workspace:
        create_key(workspace)
        for kind in ("spend", "outcomes", "controls"):
            ingest_file(workspace, kind, paths[kind])
        spec = load_spec(paths["spec"])
        panel = load_panel(spec, workspace=workspace)
        model = MarketingMixModel(method="approximate", draws=200, seed=0, approximate_steps=1500)
        record_run(workspace, save_fit(model.fit(panel), panel, spec, run))
    curves = json.loads((run / "curves.json").read_text(encoding="utf-8"))
    weekly = {n: c["current_weekly_spend"] for n, c in curves["channels"].items()}
    budget = 8 * (sum(weekly.values()) + 2.5 * weekly["tv"])
    plan_file = base / "plan.json"
    said = margin("optimize", "--run", str(run), "--weeks", "8", "--budget", f"{budget:.0f}",
                  "--unbounded", "--bounds", "tv=2.8:3", "--max-draws", "200",
                  "--out", str(plan_file), "-w", str(ws_path))  # fmt: skip
    assert said.returncode == 0, said.stderr
    report = base / "report.html"
    made = margin("report", "--run", str(run), "--plan", str(plan_file), "--out", str(report),
                  "-w", str(ws_path))  # fmt: skip
    assert made.returncode == 0, made.stderr
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    return {"ws": ws_path, "run": run, "plan": plan, "cli": words(said.stdout), "report": report,
            "curves": curves}  # fmt: skip


@pytest.fixture(scope="module")
def conversion_site(conversion_world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with serve(conversion_world["ws"]) as served:
        yield served


@pytest.fixture(scope="module")
def empty_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app on a workspace with nothing loaded: no events, no runs, no plans."""
    from margin.data.workspace.store import Workspace

    path = tmp_path_factory.mktemp("empty") / "ws.duckdb"
    Workspace(path).close()
    with serve(path) as served:
        yield served


@pytest.fixture(scope="module")
def analyst(browser: Any, conversion_site: dict[str, Any]) -> Iterator[tuple[Any, Watch]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    log_in(page, conversion_site["url"], conversion_site["keys"]["analyst"])
    yield page, watch
    context.close()


def visit(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-loaded='1']", timeout=60_000)
    assert page.locator("#page-error").is_hidden(), page.locator("#page-error").inner_text()


def expected_gain(world: dict[str, Any]) -> str:
    """The plan's gain as margin words it (the CLI's, the report's, the dashboard's text)."""
    from margin.data.workspace.runs import load_summary
    from margin.report.views import gain_text, units_of

    return gain_text(world["plan"], units_of(load_summary(world["run"]), "USD"))


def test_a_conversion_plan_reads_the_same_in_cli_report_and_dashboard(
    analyst: tuple[Any, Watch], conversion_site: dict[str, Any], conversion_world: dict[str, Any],
    browser: Any,
) -> None:  # fmt: skip
    gain = expected_gain(conversion_world)
    assert " conversions (worth $" in gain  # the KPI's unit, then its worth in the currency
    assert f"gain {gain} (90% interval)" in conversion_world["cli"]
    page, watch = analyst
    # Runs: the CLI's plan is a link to its read-only page; times to the minute
    visit(page, conversion_site["url"] + "/runs")
    created = page.locator("#table-runs tbody tr td:nth-child(3)").all_inner_texts()
    assert created
    assert all(MINUTE.match(text) for text in created), created
    link = page.locator("#table-runs a[href^='/plans/plan-']")
    assert link.count() == 1
    shot(page, "states_runs_with_plan")
    link.click()
    page.wait_for_url(re.compile(r".*/plans/plan-[0-9a-f]{12}$"))
    page.wait_for_selector("body[data-loaded='1']")
    assert page.locator("#page-error").is_hidden(), page.locator("#page-error").inner_text()
    assert page.locator("#plan-gain").inner_text() == gain
    assert page.locator("#table-allocation tbody tr").count() == 3
    cells = page.locator("#table-allocation tbody tr td:nth-child(6)").all_inner_texts()
    assert all(cell.endswith(" conversions") and "[" in cell for cell in cells), cells
    assert page.locator("#plan-caveats li").all_inner_texts() == conversion_world["plan"]["caveats"]
    for i in range(3):
        drawn(page, f"chart-plan-curve-{i}")
    shot(page, "states_plan_page")
    watch.check()
    # the report says it in the same words
    context = browser.new_context()
    report = context.new_page()
    report.goto(conversion_world["report"].as_uri())
    assert report.locator("#plan-gain").inner_text() == gain
    context.close()


def test_response_curves_reach_past_the_plan(
    analyst: tuple[Any, Watch], conversion_site: dict[str, Any], conversion_world: dict[str, Any],
    browser: Any,
) -> None:  # fmt: skip
    plan = conversion_world["plan"]
    planned = plan["allocation"]["tv"]["spend"] / plan["weeks"]
    saved = conversion_world["curves"]["channels"]["tv"]
    assert saved["spend"][-1] < 1.2 * planned  # the fit's grid stops short of this plan
    page, watch = analyst
    visit(page, conversion_site["url"] + "/runs")
    plan_id = page.locator("#table-runs a[href^='/plans/']").inner_text()
    body = page.evaluate(
        "url => fetch(url).then(r => r.json())",
        f"/api/runs/latest/curves?plan={plan_id}",
    )
    assert body["channels"]["tv"]["spend"][-1] >= 1.2 * planned * (1 - 1e-9)
    # the report drew its curves extended the same way (margin report --plan)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    report = context.new_page()
    report.goto(conversion_world["report"].as_uri())
    view = json.loads(report.locator("#margin-view").text_content())
    tv = next(c for c in view["curves"]["channels"] if c["channel"] == "tv")
    assert tv["spend"][-1] >= 1.2 * tv["recommended_weekly_spend"] * (1 - 1e-9)
    assert view["curves"]["short"] == []
    drawn(report, "chart-curve-0")
    report.locator("#curves").screenshot(path=str(SCREENSHOTS / "states_report_curves.png"))
    context.close()
    watch.check()


def test_overview_says_where_the_next_dollar_goes(
    analyst: tuple[Any, Watch], conversion_site: dict[str, Any], conversion_world: dict[str, Any]
) -> None:
    page, watch = analyst
    visit(page, conversion_site["url"] + "/")
    block = page.locator("#next-dollar-plan")
    assert block.is_visible()
    assert page.locator("#next-dollar-none").is_hidden()
    assert page.locator("#next-dollar-title").inner_text() == "Where the next $ goes"
    assert expected_gain(conversion_world) in page.locator("#next-dollar-gain").inner_text()
    moves = page.locator("#next-dollar-moves li").all_inner_texts()
    assert moves
    assert moves[0].startswith("tv: +$")  # TV's forced move is the largest
    assert page.locator("#next-dollar-link").get_attribute("href").startswith("/plans/plan-")
    assert MINUTE.match(page.locator("#run-info").inner_text().split("fitted ")[1].split(";")[0])
    shot(page, "states_overview_next_dollar")
    watch.check()


def test_conversions_and_currency_are_labelled(
    analyst: tuple[Any, Watch], conversion_site: dict[str, Any], conversion_world: dict[str, Any],
    browser: Any,
) -> None:  # fmt: skip
    page, watch = analyst
    visit(page, conversion_site["url"] + "/contributions")
    headers = page.locator("#table-contributions thead th").all_inner_texts()
    assert headers[1] == "conversions (conversions)"
    cells = page.locator("#table-contributions tbody tr td:nth-child(2)").all_inner_texts()
    assert all(cell.endswith(" conversions") for cell in cells), cells
    drawn(page, "chart-waterfall")
    # p05–p95 error bars on every step: baseline, 3 channels, predicted
    assert page.locator("#chart-waterfall").get_attribute("data-whiskers") == "5"
    shot(page, "states_contributions_conversions")
    visit(page, conversion_site["url"] + "/roi")
    headers = page.locator("#table-roi thead th").all_inner_texts()
    assert headers[2] == "ROI ($ per $)"
    spend = page.locator("#table-roi tbody tr td:nth-child(2)").all_inner_texts()
    assert all(cell.startswith("$") for cell in spend), spend
    watch.check()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    report = context.new_page()
    report.goto(conversion_world["report"].as_uri())
    drawn(report, "chart-waterfall")
    assert report.locator("#chart-waterfall").get_attribute("data-whiskers") == "5"
    contributions = report.locator("#contributions table tbody tr td:nth-child(2)")
    assert all(c.endswith(" conversions") for c in contributions.all_inner_texts())
    assert "(conversions)" in report.locator("#contributions table thead").inner_text()
    assert "ROI ($ per $)" in report.locator("#summary table thead").inner_text()
    report.locator("#contributions").screenshot(
        path=str(SCREENSHOTS / "states_report_waterfall.png")
    )
    context.close()


def test_scenario_shows_the_difference_with_its_interval(
    analyst: tuple[Any, Watch], conversion_site: dict[str, Any]
) -> None:
    page, watch = analyst
    visit(page, conversion_site["url"] + "/scenarios")
    page.fill("input[data-change='social']", "20")
    with page.expect_response(lambda r: r.url.endswith("/scenario"), timeout=120_000) as answer:
        page.click("#scenario-submit")
    drawn(page, "chart-scenario")
    gain = answer.value.json()["gain"]
    labels = page.locator("#scenario-metrics .label").all_inner_texts()
    assert labels[0] == "Difference (scenario − current plan)"
    value = page.locator("#scenario-metrics .value").first.inner_text()
    assert value.endswith(" conversions")
    first = page.locator("#scenario-metrics .range").first.inner_text()
    assert first.startswith(value.removesuffix(" conversions") + " [")
    assert "] conversions (worth $" in first
    chart = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('chart-scenario'));"
        " return {labels: c.data.labels, bars: c.data.datasets[0].data}; }"
    )
    assert len(chart["labels"]) == 1  # one difference, not two near-identical bars
    assert chart["bars"][0] == pytest.approx([gain["p05"], gain["p95"]])
    shot(page, "states_scenario_difference")
    watch.check()


def test_empty_workspace_pages_say_what_to_load(browser: Any, empty_site: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    log_in(page, empty_site["url"], empty_site["keys"]["viewer"])
    expected = {
        "/attribution": ("No journeys to attribute yet", "margin ingest events"),
        "/": ("No model fitted yet", "margin mmm fit"),
        "/contributions": ("No model fitted yet", "margin mmm fit"),
        "/runs": ("No runs yet", "margin mmm fit"),
    }
    for path, (title, command) in expected.items():
        visit(page, empty_site["url"] + path)
        assert page.locator("#empty-state").is_visible(), path
        assert page.locator("#empty-title").inner_text() == title
        assert command in page.locator("#empty-command").inner_text()
        assert page.locator("#page-body").is_hidden()  # no empty chart, no "Loading…"
        assert "Loading" not in page.locator("main").inner_text()
        name = "overview" if path == "/" else path.strip("/")
        shot(page, f"states_empty_{name}")
    watch.errors = [e for e in watch.errors if "status of 400" not in e and "404" not in e]
    watch.check()
    context.close()


def test_overview_without_a_plan_says_how_to_make_one(
    browser: Any, fitted_run_dir: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws.duckdb"
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", ws)
    with serve(ws) as site:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch = Watch(page)
        log_in(page, site["url"], site["keys"]["viewer"])
        visit(page, site["url"] + "/")
        assert page.locator("#next-dollar-plan").is_hidden()
        none = page.locator("#next-dollar-none")
        assert none.is_visible()
        assert "margin optimize --run" in none.inner_text()
        # a revenue KPI: money everywhere in the workspace's currency
        label = page.locator("#chart-waterfall")
        drawn(page, "chart-waterfall")
        assert label.get_attribute("data-whiskers") == "5"
        shot(page, "states_overview_no_plan")
        watch.check()
        context.close()


def test_a_long_plan_shows_progress_and_can_be_cancelled(
    browser: Any, conversion_site: dict[str, Any]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    log_in(page, conversion_site["url"], conversion_site["keys"]["analyst"])
    visit(page, conversion_site["url"] + "/planner")
    held: list[Any] = []

    def hold(route: Any) -> None:  # no answer: a long computation (a bound method will not do)
        held.append(route)

    page.route("**/optimize", hold)
    page.check("#information")
    page.click("#planner-submit")
    page.wait_for_selector("#planner-progress:not(.hidden)")
    status = page.locator("#planner-status")
    page.wait_for_function(
        "() => /^optimizing, then valuing a test of each channel… [1-9]\\d* s$/"
        ".test(document.getElementById('planner-status').textContent)",
        timeout=5_000,
    )
    assert held  # the request is out, waiting
    shot(page, "states_planner_progress")
    page.click("#planner-cancel")
    page.wait_for_selector("#planner-progress.hidden", state="attached")
    assert status.inner_text().startswith("cancelled after ")
    assert page.locator("#planner-error").is_hidden()  # cancelling is not an error
    assert page.locator("#plan-result").is_hidden()
    assert page.locator("#planner-cancel").is_hidden()
    assert page.locator("#planner-submit").is_enabled()
    watch.check()
    context.close()
