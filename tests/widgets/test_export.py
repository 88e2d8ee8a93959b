"""PNG and SVG of the views through a headless browser (selenium + Chromium), where one is installed."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from lensnb.geometry.results import LayerMatrix
from lensnb.widgets import LayerCurves, LayerHeatmap, LinkedScatter
from tests.browser.bokeh_page import coloured_pixels
from tests.widgets.conftest import toy_profile, toy_projection, toy_texts


@pytest.fixture(scope="module", autouse=True)
def headless_browser():
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if not (shutil.which("chromedriver") or os.environ.get("BOKEH_CHROMEDRIVER_PATH")):
        missing.append("chromedriver")
    if missing:
        message = f"PNG/SVG export needs {' and '.join(missing)}"
        if os.environ.get("LENSNB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_scatter_png_shows_the_current_layer_and_colours(tmp_path):
    scatter = LinkedScatter(toy_projection(n_items=60), texts=toy_texts(60))
    scatter.layer = 2
    path = scatter.save_png(tmp_path / "scatter.png")
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and coloured_pixels(png) > 300


def test_svg_of_a_scatter_and_of_a_grid_of_curves(tmp_path):
    scatter = LinkedScatter(toy_projection(n_items=20), texts=toy_texts(20))
    svg = scatter.save_svg(tmp_path / "scatter.svg").read_text()
    assert svg.startswith("<svg") and ">embeddings<" in svg and ">VERB<" in svg  # the title and the legend, as text
    curves = LayerCurves([toy_profile(), toy_profile("label_overlap")])
    curves.save_svg(tmp_path / "curves.svg")
    written = sorted(p.name for p in tmp_path.glob("curves*.svg"))
    assert written and all((tmp_path / name).read_text().startswith("<svg") for name in written)


def test_heatmap_png(tmp_path):
    matrix = LayerMatrix("cka_linear", (0, 1), (0, 1), np.array([[1.0, 0.5], [0.5, 1.0]]))
    png = LayerHeatmap(matrix).save_png(tmp_path / "cka.png").read_bytes()
    assert coloured_pixels(png) > 1000
