"""Benchmark: the widgets' Python side per control, and key press to redrawn plot in a real browser.

What is measured
----------------
1. **Slider update, Python side.** A ``LayerExplorer`` (no probe, no geometry: the
   scatter, the layer slider, the picker and the status line) over real MiniLM
   states of 1k, 10k and 50k UD EWT tokens (PCA per layer). One update is what the
   kernel does when the browser moves the slider: handle the ipywidgets message, move
   every linked view, build the bokeh patch (x and y as float32 buffers) and the
   status. The peer is what a user would otherwise write with ipywidgets + bokeh +
   jupyter_bokeh: an ``IntSlider`` whose observer replaces the source's data
   (``source.data = {...}``, every column resent, strings included).
2. **Linked selection, Python side.** Two ``LinkedScatter`` views sharing a
   ``TokenLink``: BokehJS reports a box selection of 10% of the points in one; the
   kernel updates the link and sends the selection to the other (no echo). The peer
   is bokeh's own linking, two figures on one shared source in one document, where
   the kernel only records the change.
3. **Key press to redrawn plot, in Chromium** (10k tokens; Debian's chromium, headless,
   CPU rendering). JupyterLab runs a notebook with the explorer; the slider handle is
   focused and ArrowRight / ArrowLeft pressed in turn; the time runs from the keydown
   event to the end of the scatter's first repaint after its data changed.

Python-side figures are medians over ``--reps`` updates after warm-up, on an idle
machine. The last line printed is a JSON object with the key figures. Run::

    PYTHONUNBUFFERED=1 .venv/bin/python benchmarks/bench_widgets.py [--reps 30] [--skip-browser]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the browser-test helpers (tests/browser)
sys.path.insert(0, str(REPO / "benchmarks"))

from geometry_data import ewt_examples  # noqa: E402

import lensnb  # noqa: E402
from lensnb import geometry as geo  # noqa: E402

SIZES = (1_000, 10_000, 50_000)


def ewt_tokens(n_tokens: int) -> lensnb.Activations:
    """MiniLM activations of the first EWT sentences, special tokens dropped, cut to ``n_tokens`` tokens."""
    model = lensnb.load_model()
    examples = ewt_examples(limit=n_tokens // 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acts = lensnb.extract(model, examples, progress=False).drop_special()
    if len(acts) < n_tokens:
        raise SystemExit(f"only {len(acts)} tokens from {len(examples)} sentences")
    return acts.select(items=np.arange(n_tokens))


def browser_message(widget, **state) -> None:
    widget._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def bokeh_selection(bokeh_widget, source, rows) -> None:
    bokeh_widget._sync_model(bokeh_widget, {
        "event": "jsevent", "kind": "ModelChanged", "model": {"id": source.selected.id}, "attr": "indices",
        "new": [int(r) for r in rows],
    }, [])  # fmt: skip


def median_ms(step, reps: int, warmup: int = 3) -> float:
    for i in range(warmup):
        step(i)
    times = []
    for i in range(reps):
        start = time.perf_counter()
        step(warmup + i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# ---------------------------------------------------------------- the peers
def peer_slider(projection, text):
    """ipywidgets + bokeh as a user would write it: replace the data on every slider move."""
    import ipywidgets as widgets
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure
    from jupyter_bokeh import BokehModel

    coords = projection.coordinates

    def columns(position):
        return {"x": coords[position, :, 0], "y": coords[position, :, 1], "item": text.item, "left": text.left,
                "right": text.right}  # fmt: skip

    source = ColumnDataSource(columns(0))
    fig = figure(tools="box_select,lasso_select,reset")
    renderer = fig.scatter("x", "y", source=source)
    fig.add_tools(HoverTool(renderers=[renderer], tooltips="@left@item@right"))
    plot = BokehModel(fig)
    slider = widgets.IntSlider(0, 0, len(projection.layers) - 1)
    slider.observe(lambda change: setattr(source, "data", columns(change["new"])), "value")
    return slider, plot


def peer_shared_selection(projection):
    """bokeh's own linked brushing: two figures on one source, one document."""
    from bokeh.layouts import row
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure
    from jupyter_bokeh import BokehModel

    coords = projection.coordinates
    source = ColumnDataSource({"x": coords[0, :, 0], "y": coords[0, :, 1], "x2": coords[-1, :, 0],
                               "y2": coords[-1, :, 1]})  # fmt: skip
    left, right = figure(tools="box_select"), figure(tools="box_select")
    left.scatter("x", "y", source=source)
    right.scatter("x2", "y2", source=source)
    return BokehModel(row(left, right)), source


# ---------------------------------------------------------------- Python side
def measure_size(n: int, reps: int, states: lensnb.Activations, rng: np.random.Generator) -> dict[str, float]:
    """Slider update and linked selection over the first ``n`` tokens, lensnb and peer."""
    from lensnb.widgets import LayerExplorer, LinkedScatter, TokenLink
    from lensnb.widgets.item_text import ItemText

    items = states.select(items=np.arange(n))
    projection = geo.project(items, "pca", progress=False)
    explorer = LayerExplorer(items, "upos", projection=projection, probe=False, geometry=False, progress=False)
    n_layers = len(projection.layers)
    slider_ms = median_ms(lambda i: browser_message(explorer.slider.slider, index=(i + 1) % n_layers), reps)
    assert explorer.scatter.layer == projection.layers[(reps + 3) % n_layers]
    slider, _ = peer_slider(projection, ItemText(items.table, items.texts))
    peer_ms = median_ms(lambda i: browser_message(slider, value=(i + 1) % n_layers), reps)

    link = TokenLink(n)
    first = LinkedScatter(projection, texts=items.texts, link=link)
    second = LinkedScatter(projection, texts=items.texts, link=link, layer=projection.layers[-1])
    picks = [np.sort(rng.choice(n, size=n // 10, replace=False)) for _ in range(reps + 3)]
    select_ms = median_ms(lambda i: bokeh_selection(first.bokeh, first.plot.points, picks[i]), reps)
    assert np.array_equal(second.plot.points.selected.indices, picks[reps + 2])  # the linked view followed
    shared, source = peer_shared_selection(projection)
    peer_select_ms = median_ms(lambda i: bokeh_selection(shared, source, picks[i]), reps)
    for view in (explorer, first, second):
        view.close()
    return {"slider": slider_ms, "slider_peer": peer_ms, "select": select_ms, "select_peer": peer_select_ms}


def python_side(sizes, reps: int, states: lensnb.Activations) -> dict:
    out: dict = {}
    rng = np.random.default_rng(0)
    print(
        f"\n{'tokens':>7} {'slider ms':>10} {'peer ms':>8} {'ratio':>6} {'select ms':>10} {'peer ms':>8} {'ratio':>6}"
    )
    for n in sizes:
        m = measure_size(n, reps, states, rng)
        print(f"{n:>7} {m['slider']:>10.2f} {m['slider_peer']:>8.2f} {m['slider_peer'] / m['slider']:>6.1f} "
              f"{m['select']:>10.2f} {m['select_peer']:>8.2f} {m['select_peer'] / m['select']:>6.1f}")  # fmt: skip
        key = f"{n // 1000}k"
        out.update({
            f"slider_update_ms_{key}": round(m["slider"], 3), f"slider_update_peer_ms_{key}": round(m["slider_peer"], 3),
            f"slider_speedup_vs_peer_{key}": round(m["slider_peer"] / m["slider"], 2),
            f"selection_ms_{key}": round(m["select"], 3), f"selection_peer_ms_{key}": round(m["select_peer"], 3),
            f"selection_speedup_vs_peer_{key}": round(m["select_peer"] / m["select"], 2),
        })  # fmt: skip
    return out


# ---------------------------------------------------------------- the browser
NOTEBOOK = """\
import lensnb
from lensnb.widgets import LayerExplorer
acts = lensnb.Activations.load(STORE)
explorer = LayerExplorer(acts, "upos", probe=False, geometry=False, progress=False)
explorer"""

HOOK = """([selector]) => {
  const container = document.querySelector(selector);
  const roots = Bokeh.index.roots.filter(r => container.contains(r.el));
  const views = [...Bokeh.index.all_views()].filter(v => {
    let top = v; while (top.parent) top = top.parent; return roots.includes(top);
  });
  const plot = views.find(v => v.model.name === "lensnb-scatter" && v.frame);
  const source = plot.model.document.get_model_by_name("lensnb-points");
  window.lensnbTimes = {key: null, data: null, drawn: null};
  document.addEventListener("keydown", () => { window.lensnbTimes = {key: performance.now(), data: null, drawn: null}; },
                            {capture: true});
  source.change.connect(() => { if (window.lensnbTimes.key !== null && window.lensnbTimes.data === null)
                                   window.lensnbTimes.data = performance.now(); });
  const paint = plot.paint.bind(plot);
  plot.paint = (...args) => {
    const result = paint(...args);
    const t = window.lensnbTimes;
    if (t.data !== null && t.drawn === null) t.drawn = performance.now();
    return result;
  };
  return source.data.x.length;
}"""


def browser_side(states: lensnb.Activations, presses: int) -> dict:
    import nbformat
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS
    from tests.browser.servers import JupyterServer

    scratch = Path(tempfile.mkdtemp(prefix="lensnb-bench-widgets-"))
    try:
        store = states.select(items=np.arange(10_000)).save(scratch / "store")
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK.replace("STORE", repr(str(store))))]
        nbformat.write(nb, scratch / "bench.ipynb")
        server = JupyterServer(scratch, scratch, {"HF_HUB_OFFLINE": "1", "LENSNB_BOKEH_RESOURCES": "inline"})
        server.start()
        try:
            with sync_playwright() as playwright:
                context = playwright.chromium.launch_persistent_context(
                    str(scratch / "profile"), executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                    headless=True, args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000},
                )  # fmt: skip
                page = context.new_page()
                page.goto(f"{server.url}/lab/tree/bench.ipynb?reset&token={server.token}")
                page.get_by_text("| Idle").wait_for(timeout=120_000)
                page.get_by_text("Run", exact=True).first.click()
                page.get_by_text("Run All Cells", exact=True).click()
                page.locator(".lensnb-layer-explorer").wait_for(timeout=300_000)
                page.wait_for_function(
                    "() => window.Bokeh && Bokeh.index.roots.length > 0 && Bokeh.index.roots.every(r => r.has_finished())",
                    timeout=120_000,
                )
                n_points = page.evaluate(HOOK, [".lensnb-layer-explorer"])
                handle = page.locator(".lensnb-layer-explorer .lensnb-layer-slider .noUi-handle").first
                handle.click()
                page.wait_for_timeout(1500)
                totals, to_data = [], []
                for i in range(presses):
                    page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                    page.wait_for_function("() => window.lensnbTimes.drawn !== null", timeout=30_000)
                    times = page.evaluate("() => window.lensnbTimes")
                    totals.append(times["drawn"] - times["key"])
                    to_data.append(times["data"] - times["key"])
                    page.wait_for_timeout(300)
                context.close()
        finally:
            server.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nbrowser, {n_points} points: key press -> new data in BokehJS {statistics.median(to_data):.0f} ms, "
          f"-> redrawn {statistics.median(totals):.0f} ms (median of {presses}; all: "
          f"{', '.join(f'{t:.0f}' for t in totals)})")  # fmt: skip
    return {"browser_key_to_redraw_ms_10k": round(statistics.median(totals), 1),
            "browser_key_to_data_ms_10k": round(statistics.median(to_data), 1), "browser_presses": presses}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--presses", type=int, default=12)
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    import torch

    print(f"lensnb {lensnb.__version__}, {platform.processor() or platform.machine()}, python "
          f"{platform.python_version()}, torch threads {torch.get_num_threads()}")  # fmt: skip
    states = ewt_tokens(max(SIZES))
    print(f"{len(states)} MiniLM tokens of UD EWT, {len(states.layers)} layers")
    summary = python_side(SIZES, args.reps, states)
    if not args.skip_browser:
        summary.update(browser_side(states, args.presses))
    summary["reps"] = args.reps
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
