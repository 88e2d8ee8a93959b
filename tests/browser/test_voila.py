"""The tour as a Voila app in a real Chromium: drawn, and driven from the keyboard and the mouse.

Voila runs the notebook in a kernel of its own and shows only the outputs. Offline,
its template asks the internet for web fonts and MathJax; those two failures are the
only console errors allowed (listed in the test), nothing from lensnb, bokeh or the widgets.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.bokeh_page import (
    coloured_pixels,
    drag,
    eventually,
    selected,
    settled_plot_box,
    source_column,
    views_ready,
)

pytestmark = pytest.mark.browser

EXPLORER = ".lensnb-layer-explorer"
COMPARE = ".lensnb-compare-explorer"
OFFLINE_TEMPLATE_ASSETS = re.compile(
    r"Failed to load resource: net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED|ADDRESS_UNREACHABLE)"
)


def test_tour_in_voila(lab, page, artifacts):
    external = []
    page.on("requestfailed", lambda r: external.append(r.url) if "127.0.0.1" not in r.url else None)
    page.goto(f"{lab.url}/voila/render/00_tour.ipynb?token={lab.token}", timeout=300_000)
    page.locator(EXPLORER).first.wait_for(timeout=300_000)
    page.get_by_text("all checks passed").wait_for(timeout=300_000)
    page.locator(EXPLORER).first.scroll_into_view_if_needed()
    views_ready(page, EXPLORER, minimum=2)
    page.screenshot(path=str(artifacts / "voila-1-explorer.png"))
    scatter_png = page.locator(f"{EXPLORER} .lensnb-scatter").first.screenshot()
    assert coloured_pixels(scatter_png) > 500

    start = int(
        re.search(r"\(layer (\d+)\)", page.locator(f"{EXPLORER} .lensnb-status-text").first.inner_text()).group(1)
    )
    x_before = source_column(page, EXPLORER, "lensnb-points", "x")[:20]
    page.locator(f"{EXPLORER} .lensnb-layer-slider .noUi-handle").first.click()
    page.keyboard.press("ArrowRight")
    page.locator(f"{EXPLORER} .lensnb-status-text", has_text=f"(layer {start + 1})").wait_for()
    eventually(lambda: source_column(page, EXPLORER, "lensnb-points", "x")[:20] != x_before,
               message="the scatter's coordinates changing with the layer")  # fmt: skip
    page.screenshot(path=str(artifacts / "voila-2-after-arrow-key.png"))

    page.locator(COMPARE).first.scroll_into_view_if_needed()
    views_ready(page, COMPARE, minimum=3)
    box = settled_plot_box(page, COMPARE, "lensnb-scatter", which=0)
    page.mouse.move(box["left"] + 0.5 * box["width"], box["top"] + 0.5 * box["height"])
    drag(page, (box["left"] + 0.2 * box["width"], box["top"] + 0.2 * box["height"]),
         (box["left"] + 0.8 * box["width"], box["top"] + 0.8 * box["height"]))  # fmt: skip
    page.locator(f"{COMPARE} .lensnb-status-text", has_text=re.compile(r"[1-9]\d* selected")).wait_for()
    first = selected(page, COMPARE, "lensnb-points", which=0)
    second = eventually(lambda: selected(page, COMPARE, "lensnb-points", which=1), message="the linked selection")
    assert first and first == second
    page.screenshot(path=str(artifacts / "voila-3-linked-selection.png"))

    problems = [p for p in page.problems if not OFFLINE_TEMPLATE_ASSETS.search(p)]
    assert not problems, problems
    assert all("127.0.0.1" not in url for url in external)
