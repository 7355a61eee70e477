"""Browser tests of the "Customer value" page (/value), offline.

The app serves a workspace holding a customer-value run recorded by the fixture factory of
``tests/_ltv_run.py``, and an empty workspace for the empty state. Screenshots go to
``tests/artifacts/screenshots/`` (``value.png``, ``value_empty.png``,
``value_report.png``: the HTML report's section, opened from a file).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _ltv_run import make_ltv_run, record_ltv_run
from margin.report.ltv import START_COMMAND
from test_browser import SCREENSHOTS, Watch, chromium_path, drawn, serve, shot

pytestmark = pytest.mark.browser

CHARTS = ("chart-ltv-value", "chart-ltv-alive", "chart-ltv-holdout")
"""The canvases the page draws for the fixture run."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield instance
        instance.close()


def _page(browser: Any, served: dict[str, Any]) -> tuple[Any, Any, Watch]:
    """A viewer's page, logged in, on /value."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{served['url']}/login?next=/value")
    page.fill("input[name=key]", served["keys"]["viewer"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{served['url']}/value")
    page.wait_for_selector("body[data-loaded='1']", timeout=60_000)
    return context, page, watch


def test_value_page_draws_the_run(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    run_id = record_ltv_run(path)
    with serve(path) as served:
        context, page, watch = _page(browser, served)
        assert page.locator("#page-error").is_hidden(), page.locator("#page-error").inner_text()
        assert page.locator("#ltv-empty").is_hidden()
        for canvas_id in CHARTS:
            drawn(page, canvas_id)
        assert page.locator("#chart-ltv-value").get_attribute("data-whiskers") == "2"
        table = page.locator("#table-ltv-channels")
        assert table.locator("tbody tr").count() == 2
        text = table.inner_text()
        assert "value of a new customer, 52 weeks (USD)" in text
        assert "$40.00 (exact)" in text
        assert "pooled fit" in text
        assert page.locator("#table-ltv-holdout tbody tr").count() == 8
        assert run_id in page.locator("#ltv-meta").inner_text()
        assert "social: too few customers" in page.locator("#ltv-notes").inner_text()
        nav = page.locator("header nav a[aria-current=page]")
        assert nav.inner_text() == "Customer value"
        shot(page, "value")
        watch.check()
        context.close()


def test_value_page_without_a_run_says_what_to_run(browser: Any, tmp_path: Path) -> None:
    from margin.data.workspace.store import Workspace

    path = tmp_path / "ws.duckdb"
    Workspace(path).close()
    with serve(path) as served:
        context, page, watch = _page(browser, served)
        assert page.locator("#ltv-empty").is_visible()
        assert page.locator("#ltv-body").is_hidden()
        assert page.locator("#ltv-start").inner_text() == START_COMMAND
        assert "no customer-value run yet" in page.locator("#ltv-empty-reason").inner_text()
        assert page.locator("#page-error").is_hidden()
        shot(page, "value_empty")
        watch.errors = [e for e in watch.errors if "404" not in e]  # the GET that found none
        watch.check()
        context.close()


def test_report_section_renders_offline(browser: Any, fitted_run_dir: Path, tmp_path: Path) -> None:
    from margin.report.html import build_report

    run = {"run_id": "ltv-0123456789ab", "created": "2026-01-01T00:00:00", **make_ltv_run()}
    report = tmp_path / "report.html"
    report.write_text(build_report(fitted_run_dir, ltv=run), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    for canvas_id in CHARTS:
        drawn(page, canvas_id)
    assert page.locator("#table-ltv-channels tbody tr").count() == 2
    page.locator("#customer-value").screenshot(path=str(SCREENSHOTS / "value_report.png"))
    assert requests == [report.as_uri()], requests
    watch.check()
    context.close()
