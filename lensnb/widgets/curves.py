"""``LayerCurves``: per-layer profiles (probe accuracy, ID, overlaps, layer metrics); a click picks the layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from lensnb.errors import LensError
from lensnb.geometry.results import LayerMatrix, LayerProfile
from lensnb.widgets.bokeh_model import LensBokehModel
from lensnb.widgets.layer_slider import layer_names
from lensnb.widgets.plain_text import plain_text
from lensnb.widgets.resources import check_resources
from lensnb.widgets.view import BokehSlot, LensView

__all__ = ["LayerCurves", "neighbour_overlap_profile", "profile_title"]

TITLES = {
    "intrinsic_dimension_twonn": "intrinsic dimension (TwoNN)",
    "intrinsic_dimension_gride": "intrinsic dimension (GRIDE)",
    "label_overlap": "overlap with the labels",
    "neighborhood_overlap_next": "overlap with the next layer",
    "probe_accuracy": "probe accuracy",
    "probe_micro_f1": "probe micro-F1",
    "prompt_entropy": "prompt entropy",
    "dataset_entropy": "dataset entropy",
    "curvature": "curvature",
}


def profile_title(profile: LayerProfile) -> str:
    """A reader's title for a profile: the measure, and for probes the task."""
    title = TITLES.get(profile.name, profile.name.replace("_", " "))
    task = (profile.params or {}).get("task")
    if isinstance(task, dict) and task.get("label"):
        title += f": {task['label']}"
    k = (profile.params or {}).get("k")
    if k is not None and "overlap" in profile.name:
        title += f" (k={k})"
    return title


def neighbour_overlap_profile(matrix: LayerMatrix) -> LayerProfile:
    """The overlap of each layer with the next, from a layer x layer overlap matrix.

    Returns
    -------
    LayerProfile
        One value per layer but the last (named ``neighborhood_overlap_next``).
    """
    values = np.asarray(matrix.values)
    if values.shape[0] != values.shape[1] or values.shape[0] < 2:
        raise LensError.bad_argument("matrix", matrix, "a square layer x layer matrix of at least 2 layers")
    return LayerProfile(
        "neighborhood_overlap_next", tuple(matrix.layers_a[:-1]), np.diag(values, 1).astype(np.float64),
        None, dict(matrix.params), matrix.table, matrix.unit,
    )  # fmt: skip


def curve_figure(
    title: str,
    profile: LayerProfile,
    layers: tuple[int, ...],
    names: Mapping[int, str],
    *,
    width: int = 330,
    height: int = 190,
    output_backend: str = "canvas",
    axis: Sequence[int] | None = None,
) -> tuple[Any, Any, Any]:
    """One profile's plot over ``layers``: line, markers, interval or error bars, baseline.

    ``layers`` are the layers a click can choose; ``axis`` (default ``layers``) the
    layers the x axis shows.

    Returns
    -------
    (figure, hits, marker)
        ``hits`` is a source with one invisible full-height column per layer (a click
        selects one); ``marker`` is the vertical line at the current layer.
    """
    from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, Range1d, Span, TapTool, Title, Whisker
    from bokeh.plotting import figure

    x = np.asarray(profile.layers, dtype=np.float64)
    values = np.asarray(profile.values, dtype=np.float64)
    errors = None if profile.errors is None else np.asarray(profile.errors, dtype=np.float64)
    details = profile.details or {}
    data = {"layer": x, "value": values, "name": [names.get(int(v), str(int(v))) for v in x],
            "error": errors if errors is not None else np.zeros_like(values)}  # fmt: skip
    has_interval = "ci_low" in details and "ci_high" in details
    if has_interval:
        data["low"], data["high"] = np.asarray(details["ci_low"], float), np.asarray(details["ci_high"], float)
    elif errors is not None:
        data["low"], data["high"] = values - errors, values + errors
    source = ColumnDataSource(data)
    axis = tuple(layers) if axis is None else tuple(axis)
    fig = figure(width=width, height=height, title=Title(text=plain_text(title)), tools="", toolbar_location=None,
                 output_backend=output_backend, x_range=Range1d(min(axis) - 0.5, max(axis) + 0.5),
                 y_range=DataRange1d(), name="lensnb-curve")  # fmt: skip
    fig.title.text_font_size = "11px"
    fig.xaxis.ticker = list(axis)
    fig.xaxis.axis_label = "layer"
    shown = []
    if has_interval:
        shown.append(fig.varea("layer", "low", "high", source=source, fill_color="#1f77b4", fill_alpha=0.18))
    line = fig.line("layer", "value", source=source, line_width=2, color="#1f77b4")
    dots = fig.scatter("layer", "value", source=source, size=7, color="#1f77b4")
    shown += [line, dots]
    if errors is not None and not has_interval:
        fig.add_layout(Whisker(base="layer", lower="low", upper="high", source=source, line_color="#1f77b4"))
    baseline = details.get("majority_baseline")
    if baseline is not None and np.isfinite(baseline):
        shown.append(fig.line([min(axis) - 0.5, max(axis) + 0.5], [baseline, baseline], line_dash="dashed",
                              color="#888888", legend_label=f"majority {baseline:.3f}"))  # fmt: skip
        fig.legend.label_text_font_size = "9px"
        fig.legend.location = "bottom_right"
        fig.legend.padding = 2
    fig.y_range.renderers = shown
    tooltip = "@name: @value{0.000}" + (" [@low{0.000}, @high{0.000}]" if "low" in data else "")
    fig.add_tools(HoverTool(renderers=[dots], tooltips=tooltip))
    # an invisible full-height column per layer, so that a click anywhere above a layer selects it
    hits = ColumnDataSource({"left": np.asarray(layers, float) - 0.5, "right": np.asarray(layers, float) + 0.5,
                             "layer": list(layers)})  # fmt: skip
    columns = fig.quad(left="left", right="right", bottom=-1e12, top=1e12, source=hits, fill_alpha=0.0,
                       line_alpha=0.0, selection_fill_alpha=0.0, nonselection_fill_alpha=0.0,
                       selection_line_alpha=0.0, nonselection_line_alpha=0.0)  # fmt: skip
    fig.add_tools(TapTool(renderers=[columns]))
    marker = Span(location=float(layers[0]), dimension="height", line_color="#d62728", line_width=2, line_alpha=0.7)
    fig.add_layout(marker)
    return fig, hits, marker


class LayerCurves(LensView, widgets.VBox):
    """Small plots of per-layer profiles, sharing the layer axis; clicking a layer selects it.

    Parameters
    ----------
    profiles : sequence of LayerProfile, or mapping of title to LayerProfile
        Probe accuracy (drawn with its 95% interval and majority baseline), intrinsic
        dimension (with error bars), overlaps, layer metrics.
    layer : int, optional
        The layer marked first.
    names : sequence of str, optional
        The model's layer names (for hover and ticks).
    columns : int
        Plots per row.
    width, height : int
        Pixels of each plot.
    layers : sequence of int, optional
        The layers a click can choose (e.g. those of the scatter the curves are linked
        with); default every layer of the profiles. Points at other layers are drawn
        but cannot be chosen.
    resources : {"auto", "cdn", "inline"}, optional

    Attributes
    ----------
    layer : int
        The marked layer (a traitlet; a click on a plot sets it).
    """

    layer = traitlets.Int()

    def __init__(
        self,
        profiles: Sequence[LayerProfile] | Mapping[str, LayerProfile],
        *,
        layer: int | None = None,
        names: Any = None,
        columns: int = 2,
        width: int = 330,
        height: int = 190,
        layers: Sequence[int] | None = None,
        resources: str | None = None,
    ):
        from bokeh.layouts import gridplot

        items = list(profiles.items()) if isinstance(profiles, Mapping) else [(None, p) for p in profiles]
        if not items:
            raise LensError.bad_argument("profiles", profiles, "at least one LayerProfile")
        for _, profile in items:
            if not isinstance(profile, LayerProfile):
                raise LensError.bad_argument("profiles", profile, "LayerProfile objects (from the core's measures)")
        for title, profile in items:
            if len(profile.layers) == 0:
                raise LensError.bad_argument(
                    "profiles", f"profile {title or profile.name!r} over no layers", "profiles over at least one layer"
                )
        self.profiles = [p for _, p in items]
        drawn = tuple(sorted({int(layer) for p in self.profiles for layer in p.layers}))
        if layers is None:
            self.layers = drawn
        else:
            try:
                self.layers = tuple(sorted({int(layer) for layer in layers}))
            except (TypeError, ValueError):
                raise LensError.bad_argument("layers", layers, "a list of layer numbers") from None
            if not self.layers:
                raise LensError.bad_argument("layers", layers, "at least one layer")
        self._axis = tuple(sorted({*drawn, *self.layers}))  # the x axis: every point drawn, every layer offered
        self.names = dict(zip(self._axis, layer_names(self._axis, names)))
        self._resources = check_resources(resources)
        self._markers: list[Any] = []
        self._hit_sources: list[Any] = []
        self.titles = [title or profile_title(p) for title, p in items]
        self._size = (width, height, max(1, int(columns)))
        figures = []
        for title, profile in zip(self.titles, self.profiles):
            fig, hits, marker = curve_figure(title, profile, self.layers, self.names, width=width, height=height,
                                             axis=self._axis)  # fmt: skip
            hits.selected.on_change("indices", self._clicked)
            figures.append(fig)
            self._hit_sources.append(hits)
            self._markers.append(marker)
        self.grid = gridplot(figures, ncols=self._size[2], toolbar_location=None)
        self.bokeh = LensBokehModel(self.grid)
        super().__init__([BokehSlot(self.bokeh)])
        self.add_class("lensnb-curves")
        self.layer = self.layers[0] if layer is None else layer
        self._mark()

    @traitlets.validate("layer")
    def _valid_layer(self, proposal) -> int:
        if proposal["value"] not in self.layers:
            raise LensError.bad_argument("layer", proposal["value"], f"one of the layers {list(self.layers)}")
        return proposal["value"]

    @traitlets.observe("layer")
    def _layer_changed(self, change) -> None:
        if self._markers:
            self._mark()

    def _mark(self) -> None:
        for marker in self._markers:
            marker.location = float(self.layer)

    def _clicked(self, attr, old, new) -> None:
        if len(new) == 0:
            return
        source = next(s for s in self._hit_sources if np.array_equal(s.selected.indices, new))
        self.layer = int(source.data["layer"][int(new[0])])
        source.selected.indices = []  # ready for the next click on the same layer

    def export_layout(self, *, output_backend: str = "canvas"):
        """A fresh layout of the curves as they are now (for files)."""
        from bokeh.layouts import gridplot

        width, height, columns = self._size
        figures = []
        for title, profile in zip(self.titles, self.profiles):
            fig, _, marker = curve_figure(title, profile, self.layers, self.names, width=width, height=height,
                                          output_backend=output_backend, axis=self._axis)  # fmt: skip
            marker.location = float(self.layer)
            figures.append(fig)
        return gridplot(figures, ncols=columns, toolbar_location=None)

    def to_html(self, path: Any = None, *, resources: str = "inline") -> str:
        """Standalone HTML of the curves (no kernel needed); also written to ``path`` if given."""
        from lensnb.widgets.export import standalone_html, write_text

        page = standalone_html([self.export_layout()], title="lensnb layer curves", resources=resources)
        if path is not None:
            write_text(page, path)
        return page
