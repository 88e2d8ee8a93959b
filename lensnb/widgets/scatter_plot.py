"""The bokeh side of a scatter of items at one layer: figure, sources and their updates.

:class:`ScatterPlot` owns one bokeh figure and its data sources; the ipywidget
(:class:`lensnb.widgets.scatter.LinkedScatter`) drives it, and the exports build a
fresh one in the same way. Moving to another layer sends only the new x and y columns
(float32 buffers); the item strings go once. Hover and picked labels show an item of
only whitespace visibly ("⏎", "␣"; see :mod:`lensnb.widgets.item_text`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lensnb.token_text import visible_whitespace
from lensnb.widgets.colors import Coloring
from lensnb.widgets.item_text import ItemText
from lensnb.widgets.plain_text import plain_text

__all__ = ["ScatterPlot", "normalised_coordinates", "HOVER_TEMPLATE"]

HOVER_TEMPLATE = (
    "<div style='max-width:460px;white-space:normal'><span style='color:#555'>@left</span>"
    "<b style='background:#ffe08a'>@item</b><span style='color:#555'>@right</span></div>"
    "<div style='color:#333'>@group</div>"
)


def normalised_coordinates(coordinates: np.ndarray) -> np.ndarray:
    """Each layer's 2-D points centred and scaled to unit spread (root mean square radius).

    Parameters
    ----------
    coordinates : ndarray, shape (n_layers, n_items, 2)

    Returns
    -------
    ndarray of float32, same shape
        Layers whose points all coincide are only centred.
    """
    coords = np.asarray(coordinates, dtype=np.float64)
    centred = coords - coords.mean(axis=1, keepdims=True)
    spread = np.sqrt((centred**2).sum(axis=2).mean(axis=1))[:, None, None]
    return (centred / np.where(spread > 0, spread, 1.0)).astype(np.float32)


class ScatterPlot:
    """A bokeh figure of items at one layer, with picked items and their trajectories.

    Parameters
    ----------
    coordinates : ndarray of float32, shape (n_layers, n_items, 2)
    text : ItemText
        The items' strings and contexts (for hover).
    title : str
    width, height : int
        Pixels.
    output_backend : {"canvas", "webgl", "svg"}
    """

    def __init__(self, coordinates: np.ndarray, text: ItemText, *, title: str = "", width: int = 520,
                 height: int = 440, output_backend: str = "canvas"):  # fmt: skip
        from bokeh.models import (
            BoxSelectTool,
            ColorBar,
            ColumnDataSource,
            DataRange1d,
            HoverTool,
            LassoSelectTool,
            Legend,
            LinearColorMapper,
            PanTool,
            ResetTool,
            SaveTool,
            Title,
            WheelZoomTool,
        )  # fmt: skip
        from bokeh.plotting import figure

        self.coordinates = coordinates
        n_items = coordinates.shape[1]
        self.points = ColumnDataSource(name="lensnb-points", data={
            "x": coordinates[0, :, 0].copy(), "y": coordinates[0, :, 1].copy(),
            "color": np.full(n_items, "#1f77b4", dtype=object), "group": np.full(n_items, "", dtype=object),
            "item": text.shown, "left": text.left, "right": text.right,
        })  # fmt: skip
        self.picked = ColumnDataSource(name="lensnb-picked", data={"x": [], "y": [], "item": []})
        self.paths = ColumnDataSource({"xs": [], "ys": []})
        self.path_points = ColumnDataSource({"x": [], "y": [], "layer": []})
        self.figure = figure(
            width=width, height=height, title=Title(text=plain_text(title)), output_backend=output_backend,
            toolbar_location="right",
            tools=[PanTool(), WheelZoomTool(), BoxSelectTool(), LassoSelectTool(), ResetTool(), SaveTool()],
            x_range=DataRange1d(), y_range=DataRange1d(), match_aspect=True, name="lensnb-scatter",
        )  # fmt: skip
        fig = self.figure
        fig.toolbar.active_drag = fig.select_one(BoxSelectTool)
        fig.xaxis.axis_label = "component 1 (unit spread per layer)"
        fig.yaxis.axis_label = "component 2"
        self.renderer = fig.scatter(
            "x", "y", source=self.points, size=6, fill_color="color", line_color=None, fill_alpha=0.8,
            selection_fill_alpha=1.0, selection_line_color="#000000", selection_line_alpha=0.6,
            nonselection_fill_alpha=0.12, nonselection_line_alpha=0.0,
        )  # fmt: skip
        fig.x_range.renderers = [self.renderer]  # trajectories never stretch the view
        fig.y_range.renderers = [self.renderer]
        self.path_renderer = fig.multi_line(
            "xs", "ys", source=self.paths, line_color="#444444", line_alpha=0.7, line_width=1.5, line_dash="dashed",
            visible=False,
        )  # fmt: skip
        self.path_point_renderer = fig.scatter("x", "y", source=self.path_points, size=5, color="#444444",
                                               visible=False)  # fmt: skip
        self.picked_renderer = fig.scatter(
            "x", "y", source=self.picked, size=14, fill_alpha=0.0, line_color="#000000", line_width=2.5,
        )  # fmt: skip
        from bokeh.models import LabelSet

        self.picked_labels = LabelSet(x="x", y="y", text="item", source=self.picked, x_offset=8, y_offset=6,
                                      text_font_size="11px", text_font_style="bold")  # fmt: skip
        fig.add_layout(self.picked_labels)
        fig.add_tools(HoverTool(renderers=[self.renderer], tooltips=HOVER_TEMPLATE))
        self.legend = Legend(items=[], location="top_left", label_text_font_size="10px", spacing=0, padding=4)
        fig.add_layout(self.legend, "right")
        self.color_mapper = LinearColorMapper(palette=["#ffffff", "#000000"], low=0, high=1)
        self.color_bar = ColorBar(color_mapper=self.color_mapper, width=10, visible=False, title="")
        fig.add_layout(self.color_bar, "right")

    # -- updates ------------------------------------------------------------------------
    def show_layer(self, position: int, title: str) -> None:
        """Move every point to the layer at ``position`` of the coordinates."""
        coords = self.coordinates[position]
        self.points.data.update(x=coords[:, 0], y=coords[:, 1])
        self.figure.title.text = plain_text(title)

    def show_coloring(self, coloring: Coloring | None, position: int) -> None:
        """Colour the points (None: one colour) and set the legend or colour bar."""
        from bokeh.models import LegendItem

        n = self.coordinates.shape[1]
        if coloring is None:
            self.points.data.update(color=np.full(n, "#1f77b4", dtype=object), group=np.full(n, "", dtype=object))
            self.legend.items, self.color_bar.visible, self.legend.visible = [], False, False
            return
        values = coloring.values[position] if coloring.per_layer else coloring.values
        colors = coloring.colors(position)
        if coloring.kind == "categorical":
            groups = np.array(["" if v is None else f"{coloring.name}: {v}" for v in _labels(values)], dtype=object)
        else:
            groups = np.array([f"{coloring.name}: {v:.4g}" for v in np.asarray(values, dtype=float)], dtype=object)
        self.points.data.update(color=colors, group=groups)
        if coloring.kind == "categorical":
            items = []
            for label, color in coloring.legend():
                rows = np.flatnonzero(colors == color)
                if len(rows):  # the legend draws that row's marker, so it has the class's colour
                    items.append(LegendItem(label=label, renderers=[self.renderer], index=int(rows[0])))
            self.legend.items, self.legend.visible = items, True
            self.legend.title = coloring.name
            self.color_bar.visible = False
        else:
            self.legend.items, self.legend.visible = [], False
            self.color_mapper.update(palette=coloring.palette, low=coloring.low, high=coloring.high)
            self.color_bar.title, self.color_bar.visible = plain_text(coloring.name), True

    def show_picked(self, rows: Sequence[int], position: int, items: np.ndarray, trajectories: bool) -> None:
        """Ring the picked items at this layer; draw their paths over all layers if asked."""
        rows = np.asarray(rows, dtype=np.int64)
        coords = self.coordinates[position]
        if len(rows) or len(self.picked.data["x"]):  # nothing to send when nothing is or was picked
            shown = [visible_whitespace(str(items[r])) for r in rows]  # a newline token's label reads "⏎"
            self.picked.data = {"x": coords[rows, 0], "y": coords[rows, 1], "item": shown}
        if trajectories and len(rows):
            path = self.coordinates[:, rows, :]  # (layer, picked, 2)
            self.paths.data = {"xs": [path[:, i, 0] for i in range(len(rows))],
                               "ys": [path[:, i, 1] for i in range(len(rows))]}  # fmt: skip
            layers = np.repeat(np.arange(path.shape[0]), len(rows))
            self.path_points.data = {"x": path[:, :, 0].ravel(), "y": path[:, :, 1].ravel(), "layer": layers}
        elif len(self.paths.data["xs"]):
            self.paths.data = {"xs": [], "ys": []}
            self.path_points.data = {"x": [], "y": [], "layer": []}
        self.path_renderer.visible = self.path_point_renderer.visible = bool(trajectories)

    def show_selection(self, rows: Sequence[int]) -> None:
        """Highlight ``rows`` as the current selection (an int32 array: checked and sent as one buffer)."""
        self.points.selected.indices = np.asarray(rows, dtype=np.int32)


def _labels(values) -> list:
    out = []
    for value in np.ravel(values).tolist():  # numpy scalars become Python ones
        missing = value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
        out.append(None if missing else value)
    return out
