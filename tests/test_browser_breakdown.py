"""Browser tests of the breakdown pages (issue 21 items 11 and 12): the contributions page's
baseline in parts, the "by geo" page on a geo run and on a national run, the planner's
by-geo option; screenshots in tests/artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from test_browser import Watch, browser, drawn, geo_site, log_in, shot, site

pytestmark = pytest.mark.browser
__all__ = ["browser", "geo_site", "site"]  # fixtures shared with tests/test_browser.py


def _page(browser: Any, served: dict[str, Any], role: str = "analyst") -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    log_in(page, served["url"], served["keys"][role])
    return context, page, watch


@pytest.fixture(scope="module")
def geo_page(browser: Any, geo_site: dict[str, Any]) -> Iterator[tuple[Any, Watch]]:
    context, page, watch = _page(browser, geo_site)
    yield page, watch
    context.close()


def test_contributions_page_shows_the_baseline_in_parts(
    geo_page: tuple[Any, Watch], geo_site: dict[str, Any]
) -> None:
    page, watch = geo_page
    page.goto(geo_site["url"] + "/contributions")
    page.wait_for_selector("body[data-breakdown-loaded='1']", timeout=60_000)
    for canvas in ("chart-waterfall", "chart-parts", "chart-carryover"):
        drawn(page, canvas)
    parts = page.locator("#table-parts").inner_text()
    for label in ("intercept (level)", "trend", "seasonality", "holiday", "predicted total"):
        assert label in parts, label
    carry = page.locator("#table-carryover").inner_text()
    assert all(channel in carry for channel in geo_site["channels"])
    shot(page, "contributions_breakdown")
    watch.check()


def test_geo_page_shows_roi_by_geo(geo_page: tuple[Any, Watch], geo_site: dict[str, Any]) -> None:
    page, watch = geo_page
    page.goto(geo_site["url"] + "/geos")
    page.wait_for_selector("body[data-loaded='1']", timeout=60_000)
    assert page.locator("#page-error").is_hidden()
    drawn(page, "chart-geo-roi")
    drawn(page, "chart-geo-contribution")
    table = page.locator("#table-geos").inner_text()
    assert all(geo in table for geo in geo_site["geos"])
    assert page.locator("#table-geos tbody tr").count() == len(geo_site["geos"]) * len(
        geo_site["channels"]
    )
    assert page.locator("nav a.active").inner_text() == "By geo"
    shot(page, "geos")
    watch.check()


def test_planner_plans_by_geo(geo_page: tuple[Any, Watch], geo_site: dict[str, Any]) -> None:
    page, watch = geo_page
    page.goto(geo_site["url"] + "/planner")
    page.wait_for_selector("body[data-loaded='1']", timeout=60_000)
    page.fill("#weeks", "4")
    page.check("#by-geo")
    with page.expect_response("**/optimize") as caught:
        page.click("#planner-submit")
    response = caught.value
    assert response.ok, response.text()
    assert response.request.post_data_json["by_geo"] is True
    page.wait_for_selector("#plan-result:not(.hidden)", timeout=60_000)
    shot(page, "planner_by_geo")
    watch.check()


def test_geo_page_of_a_national_run_says_national(browser: Any, site: dict[str, Any]) -> None:
    context, page, watch = _page(browser, site, "viewer")
    page.goto(site["url"] + "/geos")
    page.wait_for_selector("body[data-loaded='1']", timeout=60_000)
    assert "national" in page.locator("#geos-note").inner_text()
    assert page.locator("#geos-block").is_hidden()
    shot(page, "geos_national")
    watch.check()
    context.close()


def test_static_report_draws_the_breakdown(
    browser: Any, geo_site: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The report of the geo site's run (its folder under the session's base temp) draws
    the parts, the split and the geo ROIs offline."""
    from margin.report import build_report

    run = sorted(tmp_path_factory.getbasetemp().glob("geo-site*/run"))[-1]
    path = tmp_path_factory.mktemp("breakdown-report") / "report.html"
    path.write_text(build_report(run), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(path.as_uri())
    for canvas in ("chart-parts", "chart-carryover", "chart-geo-roi"):
        drawn(page, canvas)
    assert "intercept (level)" in page.locator("#report-parts").inner_text()
    page.locator("#breakdown").screenshot(path=str(_shots() / "report_breakdown.png"))
    watch.check()
    context.close()


def _shots() -> Any:
    from test_browser import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
