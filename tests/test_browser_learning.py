"""Browser tests of the learning loop's page (/learning) and its static report, offline.

The app serves a workspace holding a 4-cycle loop written by the fixture factory of
``tests/_learning.py`` (cycle.json exactly as the loop's spec writes it, ``runs`` rows of
kind ``loop_cycle``), and an empty workspace for the empty state. Screenshots go to
``tests/artifacts/screenshots/`` (``learning.png``, ``learning_empty.png``,
``learning_report.png``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _learning import make_loop, record_loop
from margin.report.learning import START_COMMAND, build_learning_report
from test_browser import SCREENSHOTS, Watch, chromium_path, drawn, serve, shot

pytestmark = pytest.mark.browser

CHARTS = ("chart-budget", "chart-roi-0", "chart-roi-1", "chart-roi-2", "chart-cumulative",
          "chart-truth")  # fmt: skip
"""The canvases the page draws for the fixture loop."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield instance
        instance.close()


def _workspace(folder: Path, cycles: list[dict[str, Any]]) -> Path:
    from margin.data.workspace.store import Workspace

    path = folder / "ws.duckdb"
    Workspace(path).close()
    if cycles:
        record_loop(path, cycles)
    return path


def _page(browser: Any, served: dict[str, Any]) -> tuple[Any, Any, Watch]:
    """A viewer's page, logged in, on /learning."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{served['url']}/login?next=/learning")
    page.fill("input[name=key]", served["keys"]["viewer"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{served['url']}/learning")
    page.wait_for_selector("body[data-loaded='1']", timeout=60_000)
    return context, page, watch


def test_learning_page_draws_the_loop(browser: Any, tmp_path: Path) -> None:
    path = _workspace(tmp_path, make_loop(4, truth=True, reconciliation=True))
    with serve(path) as served:
        context, page, watch = _page(browser, served)
        assert page.locator("#page-error").is_hidden(), page.locator("#page-error").inner_text()
        assert page.locator("#learning-empty").is_hidden()
        for canvas_id in CHARTS:
            drawn(page, canvas_id)
        assert page.locator("#table-tests tbody tr").count() == 3
        assert page.locator("#table-cycles tbody tr").count() == 4
        assert page.locator("#table-calendar tbody tr").count() == 1
        assert page.locator("#table-reconciliation tbody tr").count() == 3
        cards = page.locator("#learning-cards").inner_text()
        assert "$90.00k" in cards
        assert "[$70.74k, $197.70k]" in cards
        assert "1.60× → 0.80× (-50.0%)" in page.locator("#table-tests").inner_text()
        assert "known only in simulation" in page.locator("#truth").inner_text().lower()
        nav = page.locator("header nav a[aria-current=page]")
        assert nav.inner_text() == "Learning loop"
        shot(page, "learning")
        watch.check()
        context.close()


def test_learning_page_without_a_loop_says_how_to_start_one(browser: Any, tmp_path: Path) -> None:
    with serve(_workspace(tmp_path, [])) as served:
        context, page, watch = _page(browser, served)
        assert page.locator("#learning-empty").is_visible()
        assert page.locator("#learning-body").is_hidden()
        assert page.locator("#learning-start").inner_text() == START_COMMAND
        assert page.locator("#page-error").is_hidden()
        shot(page, "learning_empty")
        watch.check()
        context.close()


def test_learning_report_renders_offline(browser: Any, tmp_path: Path) -> None:
    report = tmp_path / "learning.html"
    report.write_text(build_learning_report(make_loop(4, truth=True, reconciliation=True)))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    for canvas_id in CHARTS:
        drawn(page, canvas_id)
    assert page.locator("#table-tests tbody tr").count() == 3
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot(page, "learning_report")
    assert requests == [report.as_uri()], requests
    watch.check()
    context.close()


def test_learning_page_shows_a_bad_record_as_an_error(browser: Any, tmp_path: Path) -> None:
    cycles = make_loop(2)
    cycles[1]["version"] = 9
    with serve(_workspace(tmp_path, cycles)) as served:
        context, page, watch = _page(browser, served)
        error = page.locator("#page-error")
        assert error.is_visible()
        assert "cycle.json #2" in error.inner_text()
        assert page.locator("#learning-empty").is_hidden()
        assert page.locator("#learning-body").is_hidden()
        watch.errors = [e for e in watch.errors if "400" not in e]  # the refused GET itself
        watch.check()
        context.close()
