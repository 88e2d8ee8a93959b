"""``LayerHeatmap``: a layer x layer matrix (CKA, overlap, stitching penalty); a click shows both layers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from lensnb.errors import LensError
from lensnb.geometry.results import LayerMatrix
from lensnb.widgets.bokeh_model import LensBokehModel
from lensnb.widgets.colors import coloring_from_values
from lensnb.widgets.layer_slider import layer_names
from lensnb.widgets.plain_text import plain_text
from lensnb.widgets.resources import check_resources
from lensnb.widgets.selection import TokenLink
from lensnb.widgets.view import BokehSlot, LensView

__all__ = ["LayerHeatmap", "heatmap_figure", "text_color"]

TITLES = {
    "cka_linear": "linear CKA",
    "cka_linear_debiased": "linear CKA (debiased)",
    "cka_rbf": "RBF CKA",
    "cka_minibatch": "minibatch CKA",
    "neighborhood_overlap": "neighbourhood overlap",
    "stitching_penalty": "stitching penalty",
}


def _luminance(color: str) -> float:
    """Relative luminance (WCAG) of a "#rrggbb" colour, 0 (black) to 1 (white)."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_color(background: str) -> str:
    """Black or white, whichever contrasts more with ``background`` ("#rrggbb")."""
    luminance = _luminance(background)
    return "#000000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#ffffff"


def heatmap_figure(matrix: LayerMatrix, names_a: list[str], names_b: list[str], *, title: str, width: int = 380,
                   height: int = 340, output_backend: str = "canvas") -> tuple[Any, Any, Any]:  # fmt: skip
    """The matrix as coloured cells with their values; rows are A's layers, columns B's.

    Returns
    -------
    (figure, cells, chosen)
        ``cells``: one row per cell (a click selects one); ``chosen``: the outline of
        the chosen cell.
    """
    from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper, TapTool, Title
    from bokeh.plotting import figure

    values = np.asarray(matrix.values, dtype=np.float64)
    rows, cols = np.meshgrid(np.arange(values.shape[0]), np.arange(values.shape[1]), indexing="ij")
    coloring = coloring_from_values(title, values.ravel(), n_items=values.size, kind="continuous")
    colors = coloring.colors()
    finite = values[np.isfinite(values)]
    cells = ColumnDataSource({
        "x": cols.ravel().astype(float), "y": rows.ravel().astype(float), "value": values.ravel(),
        "color": colors, "text": ["" if not np.isfinite(v) else f"{v:.2f}" for v in values.ravel()],
        "text_color": [text_color(c) for c in colors],
        "a": [names_a[i] for i in rows.ravel()], "b": [names_b[j] for j in cols.ravel()],
        "layer_a": [int(matrix.layers_a[i]) for i in rows.ravel()],
        "layer_b": [int(matrix.layers_b[j]) for j in cols.ravel()],
    })  # fmt: skip
    model_a, model_b = (matrix.models or (None, None))[:2]
    fig = figure(width=width, height=height, title=Title(text=plain_text(title)), tools="", toolbar_location=None,
                 output_backend=output_backend, x_range=(-0.5, values.shape[1] - 0.5),
                 y_range=(-0.5, values.shape[0] - 0.5), match_aspect=True, name="lensnb-heatmap")  # fmt: skip
    fig.title.text_font_size = "11px"
    renderer = fig.rect("x", "y", 1, 1, source=cells, fill_color="color", line_color="#ffffff",
                        selection_fill_alpha=1.0, nonselection_fill_alpha=1.0, selection_line_color="#ffffff",
                        nonselection_line_color="#ffffff")  # fmt: skip
    if values.size <= 400:
        fig.text("x", "y", text="text", source=cells, text_align="center", text_baseline="middle",
                 text_font_size="9px", text_color="text_color")  # fmt: skip
    chosen = ColumnDataSource({"x": [], "y": []})
    fig.rect("x", "y", 1, 1, source=chosen, fill_alpha=0.0, line_color="#d62728", line_width=3)
    fig.xaxis.ticker = list(range(values.shape[1]))
    fig.xaxis.major_label_overrides = {j: str(matrix.layers_b[j]) for j in range(values.shape[1])}
    fig.yaxis.ticker = list(range(values.shape[0]))
    fig.yaxis.major_label_overrides = {i: str(matrix.layers_a[i]) for i in range(values.shape[0])}
    fig.xaxis.axis_label = plain_text(f"layer of {model_b}" if model_b and model_b != model_a else "layer")
    fig.yaxis.axis_label = plain_text(f"layer of {model_a}" if model_a and model_b != model_a else "layer")
    fig.add_tools(HoverTool(renderers=[renderer], tooltips="@a \u00d7 @b: @value{0.0000}"))
    fig.add_tools(TapTool(renderers=[renderer]))
    if len(finite):
        mapper = LinearColorMapper(palette=coloring.palette, low=coloring.low, high=coloring.high)
        fig.add_layout(ColorBar(color_mapper=mapper, width=8), "right")
    return fig, cells, chosen


class LayerHeatmap(LensView, widgets.VBox):
    """A layer x layer matrix; clicking a cell chooses that pair of layers.

    With projections, the two layers of the chosen cell are shown side by side below
    the matrix (linked scatters: a selection in one shows in the other).

    Parameters
    ----------
    matrix : LayerMatrix
        From :func:`lensnb.geometry.cka_matrix`, ``neighborhood_overlap_matrix``,
        ``stitching_penalty_matrix``...
    projections : Projection or (Projection, Projection), optional
        Projections of A's and B's items (one for both within a model), over the same
        items in the same order.
    texts : DataFrame, optional
        The text table, for the scatters' hover.
    names_a, names_b : sequence of str, optional
        The models' layer names.
    link : TokenLink, optional
        Shared selection of the scatters' items.
    colorings : mapping, optional
        Extra colourings for the scatters.
    title : str, optional
    width, height : int
        Size of the matrix plot in pixels (default 380 x 340; the scatters below it keep
        their own size).
    resources : {"auto", "cdn", "inline"}, optional

    Attributes
    ----------
    cell : tuple of (int, int)
        The chosen (layer of A, layer of B) (a traitlet).
    """

    cell = traitlets.Tuple(traitlets.Int(), traitlets.Int())

    def __init__(
        self,
        matrix: LayerMatrix,
        *,
        projections: Any = None,
        texts: pd.DataFrame | None = None,
        names_a: Any = None,
        names_b: Any = None,
        link: TokenLink | None = None,
        colorings: Mapping[str, Any] | None = None,
        title: str | None = None,
        width: int = 380,
        height: int = 340,
        resources: str | None = None,
    ):
        if not isinstance(matrix, LayerMatrix):
            raise LensError.bad_argument("matrix", matrix, "a LayerMatrix (from the core's layer x layer measures)")
        self.matrix = matrix
        self.layers_a, self.layers_b = tuple(matrix.layers_a), tuple(matrix.layers_b)
        self.names_a = layer_names(self.layers_a, names_a)
        self.names_b = layer_names(self.layers_b, names_b if names_b is not None else names_a)
        self.title = title or TITLES.get(matrix.name, matrix.name.replace("_", " "))
        self._resources = check_resources(resources)
        self._size = (width, height)
        fig, self.cells, self._chosen = heatmap_figure(matrix, self.names_a, self.names_b, title=self.title,
                                                       width=width, height=height)  # fmt: skip
        self.bokeh = LensBokehModel(fig)
        children: list[Any] = [BokehSlot(self.bokeh)]
        self.scatters: tuple[Any, ...] = ()
        if projections is not None:
            from lensnb.widgets.scatter import LinkedScatter

            pair = _checked_projections(projections, self.layers_a, self.layers_b)
            link = link if link is not None else TokenLink(len(pair[0].table))
            models = matrix.models or (None, None)
            self.scatters = tuple(
                LinkedScatter(
                    projection,
                    texts=texts,
                    colorings=colorings,
                    link=link,
                    names=names,
                    title=str(model or ""),
                    width=340,
                    height=320,
                    controls=side == 0,
                    layer=projection.layers[0],
                )  # fmt: skip
                for side, (projection, model, names) in enumerate(zip(pair, models, (names_a, names_b or names_a)))
            )
            for scatter in self.scatters[1:]:  # one colour picker drives both
                widgets.link((self.scatters[0], "color"), (scatter, "color"))
            children.append(widgets.HBox(list(self.scatters)))
        super().__init__(children)
        self.add_class("lensnb-heatmap")
        self.cells.selected.on_change("indices", self._clicked)
        self.cell = (self.layers_a[0], self.layers_b[0])
        self._show_cell()

    @traitlets.validate("cell")
    def _valid_cell(self, proposal) -> tuple[int, int]:
        a, b = proposal["value"]
        if a not in self.layers_a or b not in self.layers_b:
            raise LensError.bad_argument(
                "cell", proposal["value"], f"(a layer of {list(self.layers_a)}, a layer of {list(self.layers_b)})"
            )
        return (a, b)

    @traitlets.observe("cell")
    def _cell_changed(self, change) -> None:
        if hasattr(self, "_chosen"):
            self._show_cell()

    def _show_cell(self) -> None:
        a, b = self.cell
        self._chosen.data = {"x": [float(self.layers_b.index(b))], "y": [float(self.layers_a.index(a))]}
        for scatter, layer in zip(self.scatters, (a, b)):
            if layer in scatter.layers:
                scatter.layer = layer

    def _clicked(self, attr, old, new) -> None:
        if len(new) == 0:
            return
        index = int(new[0])
        cell = (int(self.cells.data["layer_a"][index]), int(self.cells.data["layer_b"][index]))
        self.cells.selected.indices = []
        if cell != self.cell:
            self.cell = cell
            return
        # the cell already chosen: traitlets sends no event for an unchanged value, so show it and tell
        # the observers again (whatever moved the layers since, a click on the outlined cell brings them back)
        self._show_cell()
        self.notify_change(traitlets.Bunch(name="cell", old=cell, new=cell, owner=self, type="change"))

    @property
    def value(self) -> float:
        """The matrix value of the chosen cell."""
        a, b = self.cell
        return float(np.asarray(self.matrix.values)[self.layers_a.index(a), self.layers_b.index(b)])

    def export_layout(self, *, output_backend: str = "canvas"):
        """A fresh figure of the matrix with the chosen cell outlined (for files)."""
        fig, _, chosen = heatmap_figure(self.matrix, self.names_a, self.names_b, title=self.title,
                                        width=self._size[0], height=self._size[1], output_backend=output_backend)  # fmt: skip
        a, b = self.cell
        chosen.data = {"x": [float(self.layers_b.index(b))], "y": [float(self.layers_a.index(a))]}
        if not self.scatters:
            return fig
        from bokeh.layouts import column, row

        return column(fig, row(*[s.export_layout(output_backend=output_backend) for s in self.scatters]))

    def to_html(self, path: str | Path | None = None, *, resources: str = "inline") -> str:
        """Standalone HTML of the matrix (and the chosen layers' scatters); also written to ``path``."""
        from lensnb.widgets.export import standalone_html, write_text

        page = standalone_html([self.export_layout()], title=self.title, resources=resources)
        if path is not None:
            write_text(page, path)
        return page


def _checked_projections(projections: Any, layers_a: tuple[int, ...], layers_b: tuple[int, ...]) -> tuple[Any, Any]:
    """(A's, B's) projection, after checking they hold the same items and every layer of the matrix."""
    from lensnb.widgets.columns import ITEM_KEY_COLUMNS

    pair = tuple(projections) if isinstance(projections, (tuple, list)) else (projections, projections)
    if len(pair) != 2:
        raise LensError.bad_argument("projections", projections, "a Projection or a pair of them")
    for projection in pair:
        if getattr(projection, "table", None) is None or getattr(projection, "layers", None) is None:
            raise LensError.bad_argument(
                "projections", projection, "Projections (from lensnb.geometry.project) with their item table"
            )
    table_a, table_b = pair[0].table, pair[1].table
    if pair[0] is not pair[1]:
        keys = [c for c in ITEM_KEY_COLUMNS if c in table_a.columns and c in table_b.columns]
        same = len(table_a) == len(table_b) and (
            all(np.array_equal(table_a[c].to_numpy(), table_b[c].to_numpy()) for c in keys)
            if keys
            else table_a.reset_index(drop=True).equals(table_b.reset_index(drop=True))
        )
        if not same:
            raise LensError.bad_argument(
                "projections", f"projections of {len(table_a)} and {len(table_b)} items that differ"
                + (f" (compared by {', '.join(keys)})" if keys else ""),
                "projections of the same items in the same order (e.g. CompareExplorer's matched items)",
            )  # fmt: skip
    for side, (projection, layers) in enumerate(zip(pair, (layers_a, layers_b))):
        missing = [layer for layer in layers if layer not in tuple(projection.layers)]
        if missing:
            raise LensError.bad_argument(
                "projections", f"a projection of {'AB'[side]}'s items over layers {list(projection.layers)}",
                f"a projection over every layer of the matrix's {'rows' if side == 0 else 'columns'} {list(layers)}",
                f"It lacks layers {missing}.",
            )  # fmt: skip
    return pair  # type: ignore[return-value]
