"""The HTML report in a real browser (headless Chromium): charts and tables show, and the page
logs no error and requests nothing but itself. Slow: starts a browser."""

import os
import shutil

import pytest


def chromium_path() -> str:
    path = (
        os.environ.get("CAUSALITY_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if path is None:
        pytest.fail(
            "these tests need Chromium: apt-get install -y chromium (as .ci/run does), or set "
            "CAUSALITY_CHROMIUM=/path/to/chrome"
        )
    return path


@pytest.fixture(scope="module")
def page_of(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path())

        def open_report(report):
            path = tmp_path_factory.mktemp("html") / "report.html"
            report.to_html(path)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            events = {"console": [], "errors": [], "requests": []}
            page.on("console", lambda m: events["console"].append((m.type, m.text)))
            page.on("pageerror", lambda e: events["errors"].append(str(e)))
            page.on("request", lambda r: events["requests"].append(r.url))
            page.goto(path.as_uri(), wait_until="load")
            return page, events, path.as_uri()

        yield open_report
        browser.close()


@pytest.mark.slow
@pytest.mark.parametrize("which", ["example_report", "hostile_report"])
def test_report_renders_in_chromium(page_of, request, which):
    report = request.getfixturevalue(which)
    page, events, url = page_of(report)
    assert events["errors"] == []
    assert [m for m in events["console"] if m[0] in ("error", "warning")] == []
    assert events["requests"] == [url]  # self-contained: nothing else is fetched
    charts = page.locator("figure svg")
    assert charts.count() == 2 + (report.truth is not None)
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box["width"] > 600 and box["height"] > 150
        assert chart.locator("text").count() > 10  # tick and channel labels are text
    tables = page.locator("table.channel-table")
    assert tables.count() == len(report.results)
    for i in range(tables.count()):
        assert tables.nth(i).is_visible()
        rows = tables.nth(i).locator("tbody tr")
        assert rows.count() >= len(report.results[i].table) + 1
        assert rows.first.bounding_box()["height"] > 10
    # No script ran: the hostile title stayed text.
    assert page.title() == report.title
    assert page.evaluate("document.scripts.length") == 0


@pytest.mark.slow
def test_report_fits_the_viewport_width(page_of, example_report):
    page, _, _ = page_of(example_report)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1200
