"""BokehJS from the CDN (as on Binder), a re-displayed view and a reloaded page, in a real browser.

The CDN is played by Playwright: requests to cdn.bokeh.org are answered with the
BokehJS files of the installed bokeh package, after a delay like a real download's,
so that the asynchronous loading path runs exactly as online.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest

from tests.browser.bokeh_page import JS_VIEWS, coloured_pixels, eventually, views_ready

pytestmark = pytest.mark.browser

SETUP = """\
import numpy as np, pandas as pd
from lensnb.geometry import Projection
from lensnb.widgets import LinkedScatter

rng = np.random.default_rng(0)
words = [f"word{i}" for i in range(300)]
text = " ".join(words)
starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
table = pd.DataFrame({"text_id": 0, "position": np.arange(300), "token": words, "char_start": starts,
                      "char_end": starts + [len(w) for w in words], "group": rng.choice(["a", "b", "c"], 300)})
projection = Projection("pca", (0, 1, 2), rng.normal(size=(3, 300, 2)).astype(np.float32), table=table)
scatter = LinkedScatter(projection, texts=pd.DataFrame({"text_id": [0], "text": [text]}), color="group",
                        resources=RESOURCES)
scatter"""


def write_notebook(folder: Path, name: str, resources: str, extra: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP.replace("RESOURCES", repr(resources)))]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in extra]
    nbformat.write(nb, folder / name)
    return name


def serve_cdn_from_package(page, delay: float = 0.4) -> list[str]:
    """Answer cdn.bokeh.org from bokeh's own static files; returns the URLs served."""
    import bokeh

    static = Path(bokeh.__file__).parent / "server" / "static" / "js"
    served: list[str] = []

    def answer(route):
        name = re.sub(r"-\d+\.\d+\.\d+(?:\.\w+)?(\.min\.js)$", r"\1", route.request.url.rsplit("/", 1)[-1])
        time.sleep(delay)  # a download takes a while: the loader must wait for it
        served.append(route.request.url)
        route.fulfill(path=str(static / name), content_type="application/javascript")

    page.route(re.compile(r"https://cdn\.bokeh\.org/.*"), answer)
    return served


def plot_titles(page) -> list[str]:
    return page.evaluate(
        """() => {"""
        + JS_VIEWS
        + """
          return [...Bokeh.index.all_views()].filter(v => v.model.name === "lensnb-scatter")
                 .map(v => v.model.title.text.text);  // a PlainText: never typeset as TeX
        }"""
    )


def saved_sources(path: Path) -> list[str]:
    """The sources of the notebook's cells on disk (none while the server is writing the file)."""
    try:
        return [cell.source for cell in nbformat.read(path, as_version=4).cells]
    except (OSError, ValueError):  # half-written JSON (nbformat's NotJSONError is a ValueError)
        return []


def run_all(page, lab, name: str) -> None:
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.get_by_text("| Idle").wait_for(timeout=120_000)
    page.get_by_text("Run", exact=True).first.click()
    page.get_by_text("Run All Cells", exact=True).click()


def test_bokehjs_from_the_cdn_draws_the_view(lab, page, artifacts):
    served = serve_cdn_from_package(page)
    name = write_notebook(lab.root, "cdn.ipynb", "cdn", ["print('done', scatter.layer)"])
    run_all(page, lab, name)
    page.locator(".jp-OutputArea-output", has_text="done 0").wait_for()
    views_ready(page, ".lensnb-scatter")
    png = page.locator(".lensnb-scatter").first.screenshot(path=str(artifacts / "cdn-scatter.png"))
    assert coloured_pixels(png) > 300
    assert any("bokeh-3" in url for url in served), served  # BokehJS came from the (played) CDN
    assert not page.problems, page.problems


def test_a_redisplayed_view_and_a_reloaded_page_show_the_current_state(lab, page, artifacts):
    name = write_notebook(lab.root, "redisplay.ipynb", "inline", [])
    run_all(page, lab, name)
    views_ready(page, ".lensnb-scatter")
    page.locator(".lensnb-scatter .widget-dropdown").first.wait_for()
    # the kernel moves the view to layer 2 (as a slider would), then shows it again in a new cell
    page.locator(".jp-Notebook").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below
    page.keyboard.press("Enter")
    page.keyboard.type("scatter.layer = 2\nscatter")
    page.keyboard.press("Shift+Enter")
    eventually(lambda: plot_titles(page).count("layer 2") == 2, message="both views showing layer 2")
    page.screenshot(path=str(artifacts / "redisplay-both-views.png"))
    # save, reload the page: the views are rebuilt from the kernel's state, at layer 2 (not the first layer)
    # (a slow machine takes seconds to write the inline BokehJS; reloading before that loses the new cell)
    page.keyboard.press("Control+s")
    eventually(
        lambda: "scatter.layer = 2\nscatter" in saved_sources(lab.root / name),
        timeout=90,
        message="the notebook saved with its new cell",
    )
    eventually(lambda: page.locator(".jp-mod-dirty").count() == 0, timeout=90, message="no unsaved mark")
    page.reload()
    page.get_by_text("| Idle").wait_for(timeout=120_000)
    views_ready(page, ".lensnb-scatter", minimum=1)
    titles = eventually(lambda: plot_titles(page) if len(plot_titles(page)) == 2 else [], message="two views")
    assert titles == ["layer 2", "layer 2"], titles
    page.screenshot(path=str(artifacts / "reloaded-page.png"))
    assert not page.problems, page.problems


def test_a_standalone_html_export_works_without_a_kernel(page, artifacts, tmp_path):
    """The file from ``to_html`` draws in a browser with no server, and its layer slider works there."""
    import numpy as np

    from lensnb.widgets import LinkedScatter
    from tests.widgets.conftest import toy_projection, toy_texts

    scatter = LinkedScatter(toy_projection(n_items=200, n_layers=3), texts=toy_texts(200), title="export")
    scatter.link.picked = [5]
    path = tmp_path / "scatter.html"
    scatter.to_html(path)  # inline BokehJS: no network at all
    page.goto(path.as_uri())
    page.wait_for_function("() => window.Bokeh && Bokeh.index.roots.length > 0 && "
                           "Bokeh.index.roots.every(r => r.has_finished())")  # fmt: skip
    assert coloured_pixels(page.screenshot(path=str(artifacts / "standalone-export.png"))) > 300
    title = "() => [...Bokeh.index.all_views()].find(v => v.model.name === 'lensnb-scatter').model.title.text.text"
    assert page.evaluate(title) == "export · embeddings"
    page.locator(".noUi-handle").first.click()
    page.keyboard.press("ArrowRight")
    eventually(lambda: page.evaluate(title) == "export · layer 1", message="the file's own slider moving the layer")
    x = page.evaluate("() => Array.from(Bokeh.documents[0].get_model_by_name('lensnb-points').data.x.slice(0, 5))")
    assert np.allclose(x, scatter.coordinates[1, :5, 0], atol=1e-6)
    ring = page.evaluate("() => Array.from(Bokeh.documents[0].get_model_by_name('lensnb-picked').data.x)")
    assert np.allclose(ring, scatter.coordinates[1, [5], 0], atol=1e-6)  # the picked token's ring moves too
    assert not page.problems, page.problems
