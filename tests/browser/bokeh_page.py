"""Reading and driving BokehJS plots inside a Jupyter page, for the browser tests.

Plots are found by the bokeh ``name`` lensnb gives them (``lensnb-scatter``,
``lensnb-curve``, ``lensnb-points``...) among the views under a widget's DOM element
(BokehJS draws inside shadow roots, so views are matched through their root view).
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["views_ready", "plot_box", "data_point", "source_column", "selected", "coloured_pixels", "drag", "JS_VIEWS"]

# every BokehJS view whose root view sits under the index-th element matching the selector
JS_VIEWS = """
function lensnbViews(selector, index) {
  const container = document.querySelectorAll(selector)[index];
  if (!container || !window.Bokeh || !Bokeh.index) return [];
  const roots = Bokeh.index.roots.filter(r => container.contains(r.el));
  const out = [];
  for (const v of Bokeh.index.all_views()) {
    let top = v; while (top.parent) top = top.parent;
    if (roots.includes(top)) out.push(v);
  }
  return out;
}
"""


def views_ready(page, selector: str, index: int = 0, minimum: int = 1) -> None:
    """Wait until the widget's bokeh views exist and have finished drawing."""
    page.wait_for_function(
        """([selector, index, minimum]) => {"""
        + JS_VIEWS
        + """
          const container = document.querySelectorAll(selector)[index];
          if (!container || !window.Bokeh || !Bokeh.index) return false;
          const roots = Bokeh.index.roots.filter(r => container.contains(r.el));
          return roots.length >= minimum && roots.every(r => r.has_finished());
        }""",
        arg=[selector, index, minimum],
    )


def plot_box(page, selector: str, plot_name: str, index: int = 0, which: int = 0) -> dict:
    """The plot's frame in page pixels: left, top, width, height."""
    return page.evaluate(
        """([selector, index, name, which]) => {"""
        + JS_VIEWS
        + """
          const plots = lensnbViews(selector, index).filter(v => v.model.name === name && v.frame);
          const view = plots[which];
          const canvas = view.canvas_view.el.getBoundingClientRect();
          const box = view.frame.bbox;
          return {left: canvas.left + box.x0, top: canvas.top + box.y0, width: box.width, height: box.height};
        }""",
        [selector, index, plot_name, which],
    )


def settled_plot_box(page, selector: str, plot_name: str, index: int = 0, which: int = 0) -> dict:
    """``plot_box`` once the page has stopped moving: two reads 0.2 s apart agree (a scroll has settled)."""
    import time

    def stable():
        first = plot_box(page, selector, plot_name, index, which)
        time.sleep(0.2)
        return first if plot_box(page, selector, plot_name, index, which) == first else None

    return eventually(stable, message=f"{plot_name} holding still after the scroll")


def data_point(page, selector: str, plot_name: str, x: float, y: float | None = None, index: int = 0,
               which: int = 0) -> tuple[float, float]:  # fmt: skip
    """Page pixels of data coordinates (x, y) in a plot (y None: the frame's vertical middle)."""
    return tuple(page.evaluate(
        """([selector, index, name, which, x, y]) => {""" + JS_VIEWS + """
          const view = lensnbViews(selector, index).filter(v => v.model.name === name && v.frame)[which];
          const canvas = view.canvas_view.el.getBoundingClientRect();
          const px = view.frame.x_scale.compute(x);
          const py = y === null ? view.frame.bbox.vcenter : view.frame.y_scale.compute(y);
          return [canvas.left + px, canvas.top + py];
        }""",
        [selector, index, plot_name, which, x, y],
    ))  # fmt: skip


def source_column(page, selector: str, source_name: str, column: str, index: int = 0, which: int = 0) -> list:
    """A column of a named ColumnDataSource, as BokehJS holds it."""
    return page.evaluate(
        """([selector, index, name, column, which]) => {"""
        + JS_VIEWS
        + """
          const docs = [...new Set(lensnbViews(selector, index).map(v => v.model.document).filter(d => d))];
          const sources = docs.map(d => d.get_model_by_name(name)).filter(m => m);
          return Array.from(sources[which].data[column]);
        }""",
        [selector, index, source_name, column, which],
    )


def selected(page, selector: str, source_name: str, index: int = 0, which: int = 0) -> list[int]:
    """The selected indices of a named ColumnDataSource in BokehJS."""
    return page.evaluate(
        """([selector, index, name, which]) => {"""
        + JS_VIEWS
        + """
          const docs = [...new Set(lensnbViews(selector, index).map(v => v.model.document).filter(d => d))];
          const sources = docs.map(d => d.get_model_by_name(name)).filter(m => m);
          return Array.from(sources[which].selected.indices).sort((a, b) => a - b);
        }""",
        [selector, index, source_name, which],
    )


def drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 12) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def coloured_pixels(png: bytes, saturation: float = 0.25) -> int:
    """Pixels of a screenshot that carry colour (not white, grey or black): what a plot draws."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64) / 255
    high, low = pixels.max(axis=2), pixels.min(axis=2)
    chroma = np.where(high > 0, (high - low) / np.maximum(high, 1e-9), 0)
    return int(((chroma > saturation) & (high > 0.2)).sum())


def eventually(check, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll ``check()`` until it returns something truthy; return it, or fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} did not hold within {timeout} s (last value {value!r})")
        time.sleep(interval)
