"""``LensView``: what every lensnb view does on display, on close and on export.

- **Display** (``_ipython_display_``): put BokehJS into the page first (CDN or inline,
  see :mod:`lensnb.widgets.resources`), send each plot's current state (so a
  re-displayed view never shows a stale plot), then show the widget.
- **Close**: closes the view and every widget inside it; closing twice is harmless.
- **Export**: :meth:`save_png` and :meth:`save_svg` write the current plot(s) through a
  headless browser; :meth:`to_html` writes standalone HTML that needs no kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lensnb.widgets.bokeh_model import LensBokehModel
from lensnb.widgets.resources import load_bokehjs, resolve_resources

__all__ = ["LensView", "descendants"]


def descendants(widget: Any) -> list[Any]:
    """Every widget inside ``widget`` (children of boxes, recursively), depth first."""
    found = []
    for child in getattr(widget, "children", ()) or ():
        found.extend(descendants(child))
        found.append(child)
    return found


class LensView:
    """Mixin for lensnb's ipywidgets views (put it before the ipywidgets base class)."""

    _resources: str | None = None

    def bokeh_models(self) -> list[LensBokehModel]:
        """The bokeh widgets inside this view."""
        return [w for w in descendants(self) if isinstance(w, LensBokehModel)]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        load_bokehjs(resolve_resources(self._resources))
        for model in self.bokeh_models():
            model.refresh()
        display(self._repr_mimebundle_(), raw=True)

    def close(self) -> None:
        for widget in descendants(self):
            widget.close()
        super().close()

    # -- exports --------------------------------------------------------------------------
    def export_layout(self, *, output_backend: str = "canvas") -> Any:  # pragma: no cover - each view has its own
        raise NotImplementedError

    def save_png(self, path: str | Path) -> Path:
        """Write the current plot(s) as a PNG image (needs selenium and a headless browser)."""
        from lensnb.widgets.export import save_image

        return save_image(_without_toolbars(self.export_layout()), path, "png")

    def save_svg(self, path: str | Path) -> Path:
        """Write the current plot(s) as SVG (needs selenium and a headless browser).

        A layout of several plots gives one file per plot (``name_1.svg``, ``name_2.svg``...).
        """
        from lensnb.widgets.export import save_image

        return save_image(_without_toolbars(self.export_layout(output_backend="svg")), path, "svg")


def _without_toolbars(layout: Any) -> Any:
    from bokeh.models import GridPlot, Plot

    for plot in layout.select({"type": Plot}):
        plot.toolbar_location = None
    for grid in layout.select({"type": GridPlot}):
        grid.toolbar_location = None
    return layout
