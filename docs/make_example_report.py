"""Render the example report and screenshot it for the README (docs/example-report.png).

Needs matplotlib, playwright (the ``test`` extra) and a Chromium binary (Debian: ``apt-get
install chromium``; or set CAUSALITY_CHROMIUM). Run from anywhere::

    python docs/make_example_report.py [--html report.html]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import causality as ca

HERE = Path(__file__).resolve().parent
MODELS = ("last_click", "linear", "markov", "shapley")


def main() -> None:
    """Fit the four models on the example data, render the report and screenshot it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, help="also keep the HTML report here")
    parser.add_argument("--png", type=Path, default=HERE / "example-report.png")
    args = parser.parse_args()

    journeys = ca.Journeys.from_events(ca.datasets.load_example(), lookback="30D")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ca.errors.DataWarning)  # Shapley's negative Email
        results = [ca.attribute(journeys, m, seed=0) for m in MODELS]
    report = ca.report(results, journeys=journeys, title="Example shop: Q2 2024")
    with tempfile.TemporaryDirectory() as tmp:
        html = args.html or Path(tmp) / "report.html"
        report.to_html(html)
        screenshot(html, args.png)
    print(f"wrote {args.png}")


def screenshot(html: Path, png: Path) -> None:
    """The page from its top to the end of the last-click chart, 1200 px wide."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CAUSALITY_CHROMIUM") or shutil.which("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(html.resolve().as_uri(), wait_until="load")
        box = page.locator("section#last-click").bounding_box()
        bottom = box["y"] + box["height"] + 24
        page.screenshot(
            path=str(png), full_page=True, clip={"x": 0, "y": 0, "width": 1200, "height": bottom}
        )
        browser.close()


if __name__ == "__main__":
    main()
