"""``LinkedScatter``: one layer's 2-D projection of the items, linked with every other view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from lensnb.errors import LensError
from lensnb.widgets.bokeh_model import LensBokehModel
from lensnb.widgets.colors import Coloring, coloring_from_values, table_colorings
from lensnb.widgets.item_text import ItemText
from lensnb.widgets.layer_slider import layer_names
from lensnb.widgets.plain_text import plain_text
from lensnb.widgets.resources import check_resources
from lensnb.widgets.scatter_plot import ScatterPlot, normalised_coordinates
from lensnb.widgets.selection import TokenLink
from lensnb.widgets.view import BokehSlot, LensView

__all__ = ["LinkedScatter"]

NO_COLOR = "(one colour)"


class LinkedScatter(LensView, widgets.VBox):
    """A bokeh scatter of one layer of a projection; selection and picks shared through a link.

    Parameters
    ----------
    projection : Projection
        From :func:`lensnb.geometry.project`: (layer, item, 2) coordinates and the item table.
    texts : DataFrame, optional
        The text table, for the hover's context.
    colorings : mapping of str to Coloring or array, optional
        Extra colourings (a role column, a probe's correctness per layer, relevance...)
        besides the table's own label columns.
    color : str, optional
        The colouring shown first (default: the first label column, if any).
    link : TokenLink, optional
        Shared with the other views of the same item table.
    layer : int, optional
        The model layer shown first.
    names : sequence of str, optional
        The model's layer names.
    title : str
    normalize : bool
        Show each layer centred and scaled to unit spread, so that the slider moves
        points instead of zooming (the default). False shows the projection as it is.
    controls : bool
        Show the colour picker and the trajectory switch above the plot.
    width, height : int
    resources : {"auto", "cdn", "inline"}, optional
        Where the page gets BokehJS (see :mod:`lensnb.widgets.resources`).

    Attributes
    ----------
    layer : int
        The model layer shown (a traitlet).
    color : str
        The name of the colouring shown (a traitlet).
    show_trajectories : bool
        Draw the picked items' paths over all layers (a traitlet).
    """

    layer = traitlets.Int()
    color = traitlets.Unicode()
    show_trajectories = traitlets.Bool(False)

    def __init__(
        self,
        projection: Any,
        *,
        texts: pd.DataFrame | None = None,
        colorings: Mapping[str, Coloring | Any] | None = None,
        color: str | None = None,
        link: TokenLink | None = None,
        layer: int | None = None,
        names: Any = None,
        title: str = "",
        normalize: bool = True,
        controls: bool = True,
        width: int = 520,
        height: int = 440,
        resources: str | None = None,
    ):
        coordinates = getattr(projection, "coordinates", None)
        table = getattr(projection, "table", None)
        if coordinates is None or table is None or np.ndim(coordinates) != 3 or np.shape(coordinates)[2] != 2:
            raise LensError.bad_argument(
                "projection", projection, "a Projection (from lensnb.geometry.project) with its item table"
            )
        self.projection = projection
        self.layers = tuple(projection.layers)
        self.table = table
        self.names = layer_names(self.layers, names)
        self.title = title
        self.text = ItemText(table, texts)
        self.coordinates = normalised_coordinates(coordinates) if normalize else np.asarray(coordinates, np.float32)
        self.link = link if link is not None else TokenLink(len(table))
        self.link.bind(self.text.key(), len(table))
        self.colorings: dict[str, Coloring] = {NO_COLOR: None}
        self.colorings.update(table_colorings(table))
        for name, value in (colorings or {}).items():
            self.add_coloring(name, value, show=False)
        self._resources = check_resources(resources)

        self.plot = ScatterPlot(self.coordinates, self.text, title=title, width=width, height=height)
        self.bokeh = LensBokehModel(self.plot.figure)
        self.color_picker = widgets.Dropdown(options=list(self.colorings), description="colour",
                                             layout=widgets.Layout(width="320px"))  # fmt: skip
        self.trajectory_box = widgets.Checkbox(value=False, description="paths of picked items", indent=False)
        header = widgets.HBox([self.color_picker, self.trajectory_box])
        slot = BokehSlot(self.bokeh)
        super().__init__([header, slot] if controls else [slot])
        self.add_class("lensnb-scatter")

        first_label = next((n for n, c in self.colorings.items() if c is not None), NO_COLOR)
        self.layer = self.layers[0] if layer is None else layer
        self.color = color if color is not None else first_label
        widgets.link((self, "color"), (self.color_picker, "value"))
        widgets.link((self, "show_trajectories"), (self.trajectory_box, "value"))
        self.plot.points.selected.on_change("indices", self._selection_from_browser)
        self.link.observe(self._selection_from_link, "selected")
        self.link.observe(self._picked_from_link, "picked")
        self._draw_layer()
        self._draw_coloring()
        self._draw_picked()

    # -- state --------------------------------------------------------------------------
    def add_coloring(self, name: str, value: Coloring | Any, show: bool = True) -> None:
        """Offer another colouring: a Coloring, or values per item (or per layer and item)."""
        coloring = value if isinstance(value, Coloring) else coloring_from_values(name, value, n_items=len(self.table))
        if coloring.values.shape[-1] != len(self.table):
            raise LensError.bad_argument(f"colorings[{name!r}]", coloring.values, f"values for {len(self.table)} items")
        if coloring.per_layer and coloring.values.shape[0] != len(self.layers):
            raise LensError.bad_argument(
                f"colorings[{name!r}]",
                coloring.values,
                f"values for {len(self.layers)} layers x {len(self.table)} items",
            )
        self.colorings[name] = coloring
        if hasattr(self, "color_picker"):
            self._offer_colorings(name if show else self.color)

    def keep_colorings(self, names: Sequence[str]) -> None:
        """Offer only the colourings named in ``names`` (and one colour); the colouring shown
        becomes the first one kept when it is not among them. Two scatters whose colourings
        are linked offer only what both have.

        Raises
        ------
        LensError
            When ``names`` is not a list of colouring names (a single string included).
        """
        if isinstance(names, str) or not isinstance(names, (Sequence, set, frozenset)):
            raise LensError.bad_argument("names", names, f"a list of colouring names, of {list(self.colorings)}")
        self.colorings = {name: c for name, c in self.colorings.items() if name == NO_COLOR or name in names}
        shown = self.color if self.color in self.colorings else None
        self._offer_colorings(shown or next((n for n, c in self.colorings.items() if c is not None), NO_COLOR))

    def _offer_colorings(self, shown: str) -> None:
        """Put :attr:`colorings` in the dropdown and show ``shown`` (a change of options sends
        the dropdown back to its first option, and its value is linked to :attr:`color`)."""
        self.color_picker.options = list(self.colorings)
        self.color = self.color_picker.value = shown

    @traitlets.validate("layer")
    def _valid_layer(self, proposal) -> int:
        if proposal["value"] not in self.layers:
            raise LensError.bad_argument("layer", proposal["value"], f"one of the projected layers {list(self.layers)}")
        return proposal["value"]

    @traitlets.validate("color")
    def _valid_color(self, proposal) -> str:
        if proposal["value"] not in self.colorings:
            raise LensError.bad_argument("color", proposal["value"], f"one of {list(self.colorings)}")
        return proposal["value"]

    @property
    def position(self) -> int:
        """Row of the current layer in the coordinates."""
        return self.layers.index(self.layer)

    @property
    def selected(self) -> list[int]:
        """Rows of the current box / lasso selection (shared through the link)."""
        return self.link.selected

    @property
    def picked(self) -> list[int]:
        return self.link.picked

    # -- drawing ------------------------------------------------------------------------
    @traitlets.observe("layer")
    def _layer_changed(self, change) -> None:
        if hasattr(self, "plot"):
            self._draw_layer()
            coloring = self.colorings.get(self.color)
            if coloring is not None and coloring.per_layer:
                self._draw_coloring()
            self._draw_picked()

    @traitlets.observe("color")
    def _color_changed(self, change) -> None:
        if hasattr(self, "plot"):
            self._draw_coloring()

    @traitlets.observe("show_trajectories")
    def _trajectories_changed(self, change) -> None:
        if hasattr(self, "plot"):
            self._draw_picked()

    def _heading(self, position: int | None = None) -> str:
        """The plot's title at layer ``position`` (default: the layer shown)."""
        name = self.names[self.position if position is None else position]
        return f"{self.title} · {name}" if self.title else name

    def _draw_layer(self) -> None:
        self.plot.show_layer(self.position, self._heading())

    def _draw_coloring(self) -> None:
        self.plot.show_coloring(self.colorings.get(self.color), self.position)

    def _draw_picked(self) -> None:
        self.plot.show_picked(self.link.picked, self.position, self.text.item, self.show_trajectories)

    # -- linking ------------------------------------------------------------------------
    def _selection_from_browser(self, attr, old, new) -> None:
        rows = np.unique(np.asarray(new, dtype=np.int64))
        if not np.array_equal(rows, self.link.selected):
            self.link.selected = rows.tolist()

    def _selection_from_link(self, change) -> None:
        rows = np.asarray(change["new"], dtype=np.int64)
        shown = np.unique(np.asarray(self.plot.points.selected.indices, dtype=np.int64))
        if not np.array_equal(shown, rows):  # no echo to the view that made it
            self.plot.show_selection(rows)

    def _picked_from_link(self, change) -> None:
        self._draw_picked()

    # -- views and exports ----------------------------------------------------------------
    def export_layout(self, *, output_backend: str = "canvas", all_layers: bool = False):
        """A fresh bokeh layout of the current state (for files); ``all_layers`` adds a JS layer slider."""
        from bokeh.layouts import column
        from bokeh.models import CustomJS, Slider

        plot = ScatterPlot(self.coordinates, self.text, title=self._heading(), output_backend=output_backend,
                           width=self.plot.figure.width, height=self.plot.figure.height)  # fmt: skip
        plot.show_layer(self.position, self._heading())
        plot.show_coloring(self.colorings.get(self.color), self.position)
        plot.show_picked(self.link.picked, self.position, self.text.item, self.show_trajectories)
        plot.show_selection(self.link.selected)
        if not all_layers or len(self.layers) < 2:
            return plot.figure
        columns = {f"x{i}": self.coordinates[i, :, 0] for i in range(len(self.layers))}
        columns |= {f"y{i}": self.coordinates[i, :, 1] for i in range(len(self.layers))}
        coloring = self.colorings.get(self.color)
        per_layer = coloring is not None and coloring.per_layer
        legends: list[list[Any]] = []
        if per_layer:  # every layer's colours, hover text and legend, as the live view shows them
            for i in range(len(self.layers)):
                plot.show_coloring(coloring, i)
                columns[f"c{i}"] = plot.points.data["color"]
                columns[f"g{i}"] = plot.points.data["group"]
                legends.append(list(plot.legend.items))
            plot.show_coloring(coloring, self.position)
        from bokeh.models import ColumnDataSource

        every = ColumnDataSource(columns)
        slider = Slider(start=0, end=len(self.layers) - 1, value=self.position, step=1,
                        title="layer (position in the list of layers)", width=plot.figure.width)  # fmt: skip
        slider.js_on_change("value", CustomJS(
            args=dict(points=plot.points, picked=plot.picked, rows=[int(r) for r in self.link.picked], every=every,
                      title=plot.figure.title, headings=[plain_text(self._heading(i)) for i in range(len(self.names))],
                      per_layer=per_layer,
                      legend=plot.legend, legends=legends),
            code="const i = cb_obj.value; const xs = every.data['x' + i], ys = every.data['y' + i];"
                 "const d = Object.assign({}, points.data); d.x = xs; d.y = ys;"
                 "if (per_layer) { d.color = every.data['c' + i]; d.group = every.data['g' + i]; }"
                 "points.data = d;"
                 "if (per_layer) { legend.items = legends[i]; }"
                 "const p = Object.assign({}, picked.data); p.x = rows.map(r => xs[r]); p.y = rows.map(r => ys[r]);"
                 "picked.data = p; title.text = headings[i];",
        ))  # fmt: skip
        return column(slider, plot.figure)

    def to_html(self, path: str | Path | None = None, *, resources: str = "inline") -> str:
        """Standalone HTML of this scatter (every layer, a slider that works without a kernel).

        Colours and picks are those of the current state. Returns the HTML; also writes
        it to ``path`` when given.
        """
        from lensnb.widgets.export import Fragment, standalone_html, write_text

        caption = Fragment(f"<div class='lensnb-caption'>{_escape(self._caption())}</div>")
        page = standalone_html([caption, self.export_layout(all_layers=True)], title=self.title or "lensnb scatter",
                               resources=resources)  # fmt: skip
        if path is not None:
            write_text(page, path)
        return page

    def _caption(self) -> str:
        method = getattr(self.projection, "method", "projection")
        return (
            f"{method} of {len(self.table)} {getattr(self.projection, 'unit', 'item')}s over layers "
            f"{', '.join(self.names)}; coloured by {self.color}; {len(self.link.selected)} selected, "
            f"{len(self.link.picked)} picked"
        )


def _escape(text: str) -> str:
    import html

    return html.escape(text)
