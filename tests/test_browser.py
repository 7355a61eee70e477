"""Browser tests: the dashboard and the static report in Debian's Chromium, offline.

Playwright (sync API) drives the Chromium binary found on PATH (``chromium``) or named by
``MARGIN_CHROMIUM``; it never downloads a browser (``scripts/browser.sh`` installs
Debian's). The app runs with uvicorn in a thread on a free 127.0.0.1 port; a route rule
fails the test on any request to another host, so a pass proves the pages work offline.
Screenshots of every page go to ``tests/artifacts/screenshots/`` (printed at the end).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
PAGES = {
    "/": ("overview", ["chart-waterfall", "chart-roi"]),
    "/contributions": ("contributions", ["chart-waterfall", "chart-over-time"]),
    "/roi": ("roi", ["chart-roi", "chart-mroi"]),
    "/curves": ("curves", ["chart-curve-0", "chart-curve-2", "chart-adstock-0", "chart-adstock-2"]),
    "/planner": ("planner", []),
    "/scenarios": ("scenarios", []),
    "/attribution": ("attribution", ["chart-attribution"]),
    "/diagnostics": ("diagnostics", ["chart-learning", "chart-fit", "chart-residuals"]),
    "/data-quality": ("data_quality", ["chart-dq"]),
    "/runs": ("runs", []),
}
"""Path → (page name, canvases that must be drawn on load)."""
ALLOWED_HOSTS = {"127.0.0.1"}


def chromium_path() -> str:
    """The Chromium binary, or a failure that says how to install it."""
    found = os.environ.get("MARGIN_CHROMIUM") or shutil.which("chromium")
    found = found or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            "no Chromium for the browser tests: run scripts/browser.sh (installs Debian's "
            "chromium) or set MARGIN_CHROMIUM=/path/to/chromium; skip with -m 'not browser'"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(ws_path: Path) -> Iterator[dict[str, Any]]:
    """The app on the workspace ``ws_path`` (with a viewer and an analyst key), served by
    uvicorn on a free 127.0.0.1 port while the context is open."""
    import uvicorn

    from margin.api.app import create_app
    from margin.api.keys import create_key
    from margin.data.workspace.store import Workspace

    with Workspace(ws_path) as ws:
        keys = {role: create_key(ws, role) for role in ("viewer", "analyst")}
    port = free_port()
    config = uvicorn.Config(
        create_app(ws_path), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 30 s")
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "keys": keys}
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(
    fitted_run_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """D's app on a copy of the fitted (national) workspace."""
    folder = tmp_path_factory.mktemp("site")
    ws_path = folder / "ws.duckdb"
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", ws_path)
    with serve(ws_path) as served:
        yield served


@pytest.fixture(scope="module")
def geo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app on a workspace with a run fitted on geos (4 geos × 104 weeks × 3 channels,
    seed 5, the approximate fit), where a designed geo test can be valued."""
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec
    from margin.data.simulator import WorldParams, simulate_world, write_world
    from margin.data.simulator.params import DEFAULT_CHANNELS
    from margin.data.workspace.store import Workspace
    from margin.mmm import MarketingMixModel, record_run, save_run

    base = tmp_path_factory.mktemp("geo-site")
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
    with serve(base / "ws.duckdb") as served:
        yield {**served, "geos": list(params.geos), "channels": list(params.channel_names)}


@pytest.fixture(scope="module")
def report_file(
    fitted_run_dir: Path, fitted_plan: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The static report of the fitted run with its plan, written to a file."""
    from margin.data.rules.quality import workspace_quality
    from margin.report import build_report

    path = tmp_path_factory.mktemp("report") / "report.html"
    findings, currency = workspace_quality(fitted_run_dir.parent / "ws.duckdb")
    path.write_text(
        build_report(fitted_run_dir, plan=fitted_plan, data_quality=findings, currency=currency)
    )
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield instance
        instance.close()


class Watch:
    """Console errors, page errors and requests that left 127.0.0.1, of one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.errors.append(f"page error: {err}"))
        page.route("**/*", self._route)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _route(self, route: Any) -> None:
        url = route.request.url
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob", "file") or parsed.hostname in ALLOWED_HOSTS:
            route.continue_()
            return
        self.outside.append(url)
        route.abort()

    def check(self) -> None:
        assert not self.outside, f"requests left 127.0.0.1: {self.outside}"
        assert not self.errors, self.errors


def drawn(page: Any, canvas_id: str) -> None:
    """Wait until the canvas is marked drawn, then check it has a size."""
    locator = page.locator(f"#{canvas_id}")
    locator.wait_for(state="attached", timeout=15_000)
    page.wait_for_selector(f"#{canvas_id}[data-rendered='1']", timeout=15_000)
    box = locator.bounding_box()
    assert box is not None, canvas_id
    assert box["width"] > 50, (canvas_id, box)
    assert box["height"] > 50, (canvas_id, box)


def log_in(page: Any, url: str, key: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def analyst(browser: Any, site: dict[str, Any]) -> Iterator[tuple[Any, Watch]]:
    """One logged-in analyst page for every visit."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    log_in(page, site["url"], site["keys"]["analyst"])
    yield page, watch
    context.close()
    print(f"\nscreenshots: {SCREENSHOTS}")


def test_login_rejects_a_wrong_key(browser: Any, site: dict[str, Any]) -> None:
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{site['url']}/login")
    page.fill("input[name=key]", "not-a-key")
    page.click("button[type=submit]")
    assert "not valid" in page.locator("#login-error").inner_text()
    assert page.url.endswith("/login")
    shot(page, "login_refused")
    watch.errors = [e for e in watch.errors if "401" not in e]  # the refused POST itself
    watch.check()
    context.close()


def test_login_returns_to_the_page_asked_for(browser: Any, site: dict[str, Any]) -> None:
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{site['url']}/curves?run=latest")
    page.wait_for_url(f"{site['url']}/login?next=*")
    page.fill("input[name=key]", site["keys"]["viewer"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{site['url']}/curves?run=latest")
    watch.check()
    context.close()


def test_every_page_renders_its_charts(analyst: tuple[Any, Watch], site: dict[str, Any]) -> None:
    page, watch = analyst
    for path, (name, canvases) in PAGES.items():
        page.goto(site["url"] + path)
        page.wait_for_selector("body[data-loaded='1']", timeout=60_000)
        assert page.locator("#page-error").is_hidden(), page.locator("#page-error").inner_text()
        for canvas_id in canvases:
            drawn(page, canvas_id)
        shot(page, name)
    assert page.locator("#table-runs tbody tr").count() >= 1
    watch.check()


def test_budget_planner_returns_a_plan(analyst: tuple[Any, Watch], site: dict[str, Any]) -> None:
    page, watch = analyst
    page.goto(site["url"] + "/planner")
    page.wait_for_selector("body[data-loaded='1']")
    page.fill("#weeks", "8")
    page.fill("input[data-channel='tv'][data-side='high']", "1.5")
    page.check("#information")
    with page.expect_response(lambda r: r.url.endswith("/optimize"), timeout=120_000) as answer:
        page.click("#planner-submit")
    page.wait_for_selector("#table-allocation tbody tr", timeout=120_000)
    assert page.locator("#table-allocation tbody tr").count() == 3
    body = answer.value.json()
    information = body["value_of_information"]  # asked for with the checkbox
    shown = page.locator("#table-information tbody tr td:first-child").all_inner_texts()
    assert shown == list(information["channels"])  # highest value first, as the API gives
    if information["best"] is not None:
        assert (
            f"lift test on {information['best']}" in page.locator("#information-note").inner_text()
        )
    assert page.locator("#plan-caveats li").all_inner_texts() == body["caveats"]
    gains = page.locator("#table-allocation tbody tr td:nth-child(6)").all_inner_texts()
    assert all("[" in cell for cell in gains)  # every channel's move has its interval
    assert "%" in page.locator("#plan-metrics").inner_text()
    drawn(page, "chart-allocation")
    drawn(page, "chart-weekly")
    assert page.url == site["url"] + "/planner"  # no page reload
    shot(page, "planner_plan")
    page.click("#frontier-button")
    drawn(page, "chart-frontier")
    shot(page, "planner_frontier")
    watch.check()


def test_planner_values_an_uploaded_test_design(
    browser: Any, geo_site: dict[str, Any], tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    log_in(page, geo_site["url"], geo_site["keys"]["analyst"])
    page.goto(geo_site["url"] + "/planner")
    page.wait_for_selector("body[data-loaded='1']")
    # a file that is not a design is refused in the page, naming the file; nothing is sent
    broken = tmp_path / "notes.json"
    broken.write_text("[1, 2]", encoding="utf-8")
    page.set_input_files("#test-designs", str(broken))
    page.click("#planner-submit")
    page.wait_for_selector("#planner-error:not(.hidden)")
    assert "notes.json: not a test design" in page.locator("#planner-error").inner_text()
    assert page.locator("#plan-result").is_hidden()
    # a design.json as margin experiment design --out writes it
    channel, geo = geo_site["channels"][1], geo_site["geos"][1]
    design = {"design_id": "search-up", "channel": channel, "kind": "heavy_up",
              "treatment_geos": [geo], "length_periods": 4, "grain_days": 7,
              "constraints": {"budget": 40000.0}, "roi_se": 0.4}  # fmt: skip
    path = tmp_path / "design.json"
    path.write_text(json.dumps(design), encoding="utf-8")
    page.set_input_files("#test-designs", str(path))
    with page.expect_response(lambda r: r.url.endswith("/optimize"), timeout=120_000) as answer:
        page.click("#planner-submit")
    page.wait_for_selector("#information-tests li", timeout=120_000)
    assert page.locator("#planner-error").is_hidden()
    body = answer.value.json()
    information = body["value_of_information"]  # the design implies it
    tested = information["channels"][channel]
    assert tested["test_design"]["design_id"] == "search-up"
    headers = page.locator("#table-information thead th").all_inner_texts()
    assert headers[-1] == "value of the planned test"
    rows = page.locator("#table-information tbody tr")
    names = rows.locator("td:first-child").all_inner_texts()
    assert names == list(information["channels"])
    cells = rows.locator("td:last-child").all_inner_texts()
    for name, cell in zip(names, cells, strict=True):
        assert ("se 0.400" in cell) == (name == channel), (name, cell)
    sentence = page.locator("#information-tests li").inner_text()
    assert sentence == tested["test_note"]  # the sentence the CLI prints, from the API
    assert sentence.startswith(f"planned test search-up ({channel} heavy-up, +40,000 in {geo} ")
    shot(page, "planner_test_design")
    watch.check()
    context.close()


def test_scenario_predicts_with_an_interval(
    analyst: tuple[Any, Watch], site: dict[str, Any]
) -> None:
    page, watch = analyst
    page.goto(site["url"] + "/scenarios")
    page.wait_for_selector("body[data-loaded='1']")
    page.fill("input[data-change='social']", "20")
    with page.expect_response(lambda r: r.url.endswith("/scenario"), timeout=120_000) as answer:
        page.click("#scenario-submit")
    drawn(page, "chart-scenario")
    text = page.locator("#scenario-metrics").inner_text()
    assert "[" in text
    assert "]" in text
    said = answer.value.json()["caveats"]
    assert page.locator("#scenario-caveats li").all_inner_texts() == said
    shot(page, "scenario_result")
    watch.check()


def test_viewer_cannot_plan(browser: Any, site: dict[str, Any]) -> None:
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    log_in(page, site["url"], site["keys"]["viewer"])
    page.goto(site["url"] + "/planner")
    page.wait_for_selector("body[data-loaded='1']")
    assert page.locator("#planner-submit").is_disabled()
    assert page.locator("#role-note").is_visible()
    page.click("#logout-form button")
    page.wait_for_url(f"{site['url']}/login")
    page.goto(site["url"] + "/roi")
    assert urlparse(page.url).path == "/login"  # the session ended
    watch.check()
    context.close()


def test_the_offline_guard_catches_outside_requests(browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    with page.expect_event("requestfailed"):
        page.set_content('<img src="https://cdn.example.com/chart.png">')
    assert watch.outside == ["https://cdn.example.com/chart.png"]
    with pytest.raises(AssertionError, match=r"left 127\.0\.0\.1"):
        watch.check()
    context.close()


def test_static_report_renders_offline(browser: Any, report_file: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report_file.as_uri())
    for canvas_id in ("chart-waterfall", "chart-over-time", "chart-roi", "chart-mroi",
                      "chart-allocation", "chart-curve-0", "chart-fit", "chart-residuals"):  # fmt: skip
        drawn(page, canvas_id)
    shot(page, "static_report")
    page.locator("#health").screenshot(path=str(SCREENSHOTS / "static_report_fit_check.png"))
    assert requests == [report_file.as_uri()], requests
    watch.check()
    context.close()
