"""``LensView``: what every lensnb view does on display, on close and on export.

- **Display** (``_ipython_display_``): put BokehJS into the page first (CDN or inline,
  see :mod:`lensnb.widgets.resources`), send each plot's current state (so a
  re-displayed view never shows a stale plot), then show the widget. jupyter_bokeh's
  plots need BokehJS in the page the moment they are drawn; inline BokehJS runs at
  once, but a copy from the CDN arrives a little later. So with the CDN each plot sits
  in a :class:`BokehSlot` that shows a note until a small script, once BokehJS has
  loaded, presses a hidden button: the kernel then puts the plots in.
- **Close**: closes the view and every widget inside it; closing twice is harmless.
- **Export**: :meth:`save_png` and :meth:`save_svg` write the current plot(s) through a
  headless browser; :meth:`to_html` writes standalone HTML that needs no kernel.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from lensnb.widgets.bokeh_model import LensBokehModel
from lensnb.widgets.resources import load_bokehjs, resolve_resources

__all__ = ["LensView", "BokehSlot", "descendants", "GATE_SCRIPT"]

#: Presses the hidden button of one display once BokehJS is in the page (polling, for 60 s).
GATE_SCRIPT = """(function () {
  var started = Date.now();
  function ready() {
    var button = document.querySelector("button.GATE");
    if (window.Bokeh && window.Bokeh.require && !(window._bokeh_is_loading > 0) && button) {
      button.click();
    } else if (Date.now() - started < 60000) {
      setTimeout(ready, 50);
    } else {
      console.warn("lensnb: BokehJS did not arrive from the CDN within 60 s");
    }
  }
  ready();
})();"""

WAITING = (
    "<div class='lensnb-waiting' style='color:#777;font-style:italic;padding:8px'>loading BokehJS from "
    "cdn.bokeh.org... If no plot appears, this browser cannot reach the CDN: display the view again after "
    'setting <code>LENSNB_BOKEH_RESOURCES=inline</code> or passing <code>resources="inline"</code>.</div>'
)


class BokehSlot(widgets.Box):
    """The place of one bokeh plot in a view: the plot, or a note while BokehJS is on its way.

    Parameters
    ----------
    model : LensBokehModel
    """

    def __init__(self, model: LensBokehModel):
        self.model = model
        self.note = widgets.HTML(WAITING)
        super().__init__([model])
        self.add_class("lensnb-bokeh-slot")

    @property
    def armed(self) -> bool:
        """Whether the plot itself (not the note) is in place."""
        return self.children == (self.model,)

    def arm(self) -> None:
        if not self.armed:
            self.children = (self.model,)

    def disarm(self) -> None:
        self.children = (self.note,)

    def close(self) -> None:
        self.model.close()
        self.note.close()
        super().close()


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

    def bokeh_slots(self) -> list[BokehSlot]:
        """The places of the bokeh plots inside this view."""
        return [w for w in descendants(self) if isinstance(w, BokehSlot)]

    def bokeh_models(self) -> list[LensBokehModel]:
        """The bokeh widgets inside this view."""
        return [slot.model for slot in self.bokeh_slots()]

    def _ipython_display_(self) -> None:
        from IPython.display import Javascript, display

        mode = resolve_resources(self._resources)
        load_bokehjs(mode)
        slots = self.bokeh_slots()
        for slot in slots:
            slot.model.refresh()
        if mode == "cdn" and slots:
            # the plots go in once BokehJS has arrived (the script presses the hidden button)
            gate = widgets.Button(layout=widgets.Layout(display="none"))
            name = f"lensnb-gate-{uuid.uuid4().hex}"
            gate.add_class(name)
            gate.on_click(lambda _: _arm(slots, gate))
            for slot in slots:
                slot.disarm()
            display(Javascript(GATE_SCRIPT.replace("GATE", name)))
            display(gate)
        else:
            for slot in slots:
                slot.arm()
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


def _arm(slots: list[BokehSlot], gate: Any) -> None:
    for slot in slots:
        slot.arm()
    gate.close()
