"""Open a report in headless Chromium and check it the way a person would.

Uses Debian's ``chromium`` (installed by ``.ci/run`` when missing) driven by Playwright's
Python client with ``executable_path``, so no browser is downloaded.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageCheck:
    console_errors: list[str]
    page_errors: list[str]
    figures: int
    rendered_figures: int
    seconds_to_render: float


def check_report(path: Path, screenshot: Path, timeout_s: float = 60.0) -> PageCheck:
    """Load ``path``, wait for every plotly figure to draw its SVG, screenshot the page."""
    import time

    from playwright.sync_api import sync_playwright

    console_errors: list[str] = []
    page_errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        start = time.perf_counter()
        page.goto(Path(path).resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
        figures = page.locator("div.plotly-graph-div").count()
        page.wait_for_function(
            "n => document.querySelectorAll('div.plotly-graph-div svg.main-svg').length >= n",
            arg=figures,
            timeout=timeout_s * 1000,
        )
        elapsed = time.perf_counter() - start
        rendered = page.evaluate(
            "() => Array.from(document.querySelectorAll('div.plotly-graph-div'))"
            ".filter(d => d.querySelector('svg.main-svg')).length"
        )
        page.screenshot(path=str(screenshot), full_page=False)
        browser.close()
    return PageCheck(console_errors, page_errors, figures, rendered, elapsed)
