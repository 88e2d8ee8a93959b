"""The tour notebook in a real JupyterLab and a real Chromium: drawn, driven by keyboard and mouse, escaped.

One test walks the whole tour (running it takes most of the time): after Run All it
checks that the plots carry drawn pixels, that the layer slider moves with the
keyboard (BokehJS data and the kernel both change), that a box selection in one
scatter of the comparison reaches the kernel and the other scatter, that a click on a
curve moves the slider, that the relevance view shows a hostile review as text, and
that the page logged no error. Screenshots of each step go to test-artifacts/browser/.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.bokeh_page import (
    coloured_pixels,
    data_point,
    drag,
    eventually,
    selected,
    settled_plot_box,
    source_column,
    views_ready,
)  # fmt: skip

pytestmark = pytest.mark.browser

EXPLORER = ".lensnb-layer-explorer"
COMPARE = ".lensnb-compare-explorer"
RELEVANCE = ".lensnb-relevance-explorer"


def run_all(page, url: str) -> None:
    page.goto(url)
    page.get_by_text("| Idle").wait_for(timeout=120_000)
    page.locator(".jp-Notebook").wait_for()
    page.get_by_text("Run", exact=True).first.click()
    page.get_by_text("Run All Cells", exact=True).click()
    page.locator(".jp-OutputArea-output", has_text="all checks passed").wait_for(timeout=300_000)


def status(page, selector: str) -> str:
    return page.locator(f"{selector} .lensnb-status-text").first.inner_text()


def test_tour_in_jupyterlab(lab, page, artifacts):
    run_all(page, f"{lab.url}/lab/tree/00_tour.ipynb?reset&token={lab.token}")

    # --- the layer explorer is drawn: pixels of colour in the scatter and the curves
    explorer = page.locator(EXPLORER).first
    explorer.scroll_into_view_if_needed()
    views_ready(page, EXPLORER, minimum=2)
    page.screenshot(path=str(artifacts / "tour-1-explorer.png"))
    scatter_png = page.locator(f"{EXPLORER} .lensnb-scatter").first.screenshot(
        path=str(artifacts / "tour-1-scatter.png")
    )
    curves_png = page.locator(f"{EXPLORER} .lensnb-curves").first.screenshot(path=str(artifacts / "tour-1-curves.png"))
    assert coloured_pixels(scatter_png) > 500, "the scatter shows no coloured points"
    assert coloured_pixels(curves_png) > 300, "the curves show no coloured lines"

    # --- keyboard: the slider moves, the kernel's observer writes the new layer, BokehJS has new x
    start = int(re.search(r"\(layer (\d+)\)", status(page, EXPLORER)).group(1))
    x_before = source_column(page, EXPLORER, "lensnb-points", "x")[:20]
    handle = page.locator(f"{EXPLORER} .lensnb-layer-slider .noUi-handle").first
    handle.click()
    page.keyboard.press("ArrowRight")
    page.locator(f"{EXPLORER} .lensnb-status-text", has_text=f"(layer {start + 1})").wait_for()
    eventually(lambda: source_column(page, EXPLORER, "lensnb-points", "x")[:20] != x_before,
               message="the scatter's coordinates changing with the layer")  # fmt: skip
    assert page.locator(f"{EXPLORER} .lensnb-layer-slider .widget-readout").first.inner_text() == f"layer {start + 1}"
    page.screenshot(path=str(artifacts / "tour-2-after-arrow-key.png"))

    # --- a click above layer 5 on the first curve moves the slider
    target = 5 if start + 1 != 5 else 4
    x, y = data_point(page, EXPLORER, "lensnb-curve", target)
    page.mouse.click(x, y)
    page.locator(f"{EXPLORER} .lensnb-status-text", has_text=f"(layer {target})").wait_for()
    assert page.locator(f"{EXPLORER} .lensnb-layer-slider .widget-readout").first.inner_text() == f"layer {target}"
    page.screenshot(path=str(artifacts / "tour-3-after-curve-click.png"))

    # --- box selection in the comparison's first scatter: reaches the kernel and the second scatter
    page.locator(COMPARE).first.scroll_into_view_if_needed()
    views_ready(page, COMPARE, minimum=3)
    box = settled_plot_box(page, COMPARE, "lensnb-scatter", which=0)
    page.mouse.move(box["left"] + 0.5 * box["width"], box["top"] + 0.5 * box["height"])
    drag(page, (box["left"] + 0.2 * box["width"], box["top"] + 0.2 * box["height"]),
         (box["left"] + 0.8 * box["width"], box["top"] + 0.8 * box["height"]))  # fmt: skip
    page.screenshot(path=str(artifacts / "tour-4-box-drawn.png"))
    page.locator(f"{COMPARE} .lensnb-status-text", has_text=re.compile(r"[1-9]\d* selected")).wait_for()
    n_selected = int(re.search(r"(\d+) selected", status(page, COMPARE)).group(1))
    first = selected(page, COMPARE, "lensnb-points", which=0)
    second = eventually(lambda: selected(page, COMPARE, "lensnb-points", which=1), message="the linked selection")
    assert len(first) == n_selected and first == second, (len(first), n_selected, len(second))
    page.screenshot(path=str(artifacts / "tour-4-linked-selection.png"))

    # --- the relevance view shows the hostile review as text: no <img>, no <b>, no alert
    page.locator(RELEVANCE).first.scroll_into_view_if_needed()
    text_picker = page.locator(f"{RELEVANCE} select").nth(2)
    text_picker.select_option(index=2)
    shown = page.locator(f"{RELEVANCE} .lensnb-relevance-text").first
    shown.filter(has_text="alert").wait_for()  # word pieces: "<", "img", "src", "=", ..., "alert", "(", "1", ")"
    assert "<b>not</b>" in shown.inner_text()  # the markup is shown as the characters typed
    assert page.locator(f"{RELEVANCE} .lensnb-relevance-text img").count() == 0
    assert page.locator(f"{RELEVANCE} .lensnb-relevance-text b").count() == 0
    assert page.locator(f"{RELEVANCE} .lensnb-relevance-comparison img").count() == 0
    page.locator(RELEVANCE).first.screenshot(path=str(artifacts / "tour-5-relevance-hostile.png"))

    assert not page.problems, page.problems
