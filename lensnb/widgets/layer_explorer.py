"""``LayerExplorer``: one model's layers: scatter, layer slider, token picker and per-layer curves.

Everything is computed through the core once, when the explorer is built (with
progress bars): the projection of every layer, the geometry profile (intrinsic
dimension, overlap with the next layer, overlap with the labels) and a probe per
layer. Moving a control afterwards only swaps precomputed columns.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.geometry.results import LayerProfile, Projection
from lensnb.widgets.colors import probe_correctness
from lensnb.widgets.columns import is_label_column, label_columns_of
from lensnb.widgets.curves import LayerCurves, neighbour_overlap_profile
from lensnb.widgets.layer_slider import LayerSlider
from lensnb.widgets.resources import check_resources
from lensnb.widgets.scatter import LinkedScatter
from lensnb.widgets.selection import TokenLink
from lensnb.widgets.token_picker import TokenPicker
from lensnb.widgets.view import LensView

__all__ = ["LayerExplorer", "label_columns", "prepare_items"]


def label_columns(acts: Activations, labels: str | Sequence[str] | None) -> list[str]:
    """The label columns to colour and probe by: those named, or every label column of the table.

    Bookkeeping columns (:data:`lensnb.widgets.columns.NON_LABEL_COLUMNS`: token, word,
    text and span bookkeeping) are never labels.
    """
    table = acts.table
    if labels is None:
        return label_columns_of(table)
    if not isinstance(labels, str):
        try:
            labels = list(labels)
        except TypeError:
            raise LensError.bad_argument("labels", labels, "a label column name or a list of them") from None
    names = [labels] if isinstance(labels, str) else labels
    offered = label_columns_of(table)
    for name in names:
        if not isinstance(name, str) or name not in table.columns:
            raise LensError.bad_argument("labels", name, f"a column of the item table {list(table.columns)}")
        if not is_label_column(name):
            raise LensError.bad_argument(
                "labels", name, f"a label column of the item table {offered}",
                f"{name!r} is a bookkeeping column of the {acts.unit} table, not a label.",
            )  # fmt: skip
    return names


def prepare_items(acts: Activations, drop_special: bool, site: str | None, argument: str = "acts") -> Activations:
    """The items to show: one site, special tokens dropped for token activations when asked.
    ``argument`` names ``acts`` in errors."""
    if not isinstance(acts, Activations):
        raise LensError.bad_argument(argument, acts, "Activations (from lensnb.extract, or pooled from them)")
    if site is not None:
        acts = acts.select(sites=site)
    elif len(acts.sites) > 1:
        raise LensError.bad_argument("site", None, f"one of {acts.sites} (these activations hold several)")
    if drop_special and acts.unit == "token" and "special" in acts.table:
        acts = acts.drop_special()
    if len(acts) < 3:
        raise LensError.bad_argument("acts", f"{len(acts)} items", "at least 3 items to project and compare")
    return acts


def _probe(items: Activations, label: str, progress: bool) -> LayerProfile:
    from lensnb.probing.features import token_task
    from lensnb.probing.sweep import probe_layers

    if items.unit == "token":
        return probe_layers(items, token_task(label), progress=progress)
    values = items.table[label]
    keep = values.notna().to_numpy()
    arrays = np.asarray(items.values)[:, keep]
    groups = items.table["text_id"].to_numpy()[keep] if "text_id" in items.table else None
    profile = probe_layers(arrays, values[keep].astype(str).to_numpy(), groups=groups, progress=progress)
    # keys for the correctness colouring: the kept rows of the item table
    table = items.table[keep].reset_index(drop=True).assign(label=values[keep].astype(str).to_numpy())
    return LayerProfile(profile.name, items.layers, profile.values, profile.errors,
                        {**profile.params, "task": {"label": label}}, table, items.unit, profile.details,
                        per_layer=profile.per_layer)  # fmt: skip


def _items_of_projection(items: Activations, projection: Projection) -> Activations:
    """The items over the layers of a ready projection (so that probes and curves offer only those)."""
    table = getattr(projection, "table", None)
    if projection.coordinates.shape[1] != len(items) or (
        table is not None and len(table) == len(items) and not _same_rows(table, items.table)
    ):
        raise LensError.bad_argument("projection", projection, f"a projection of these {len(items)} items")
    layers = tuple(int(layer) for layer in projection.layers)
    missing = [layer for layer in layers if layer not in items.layers]
    if missing:
        raise LensError.bad_argument(
            "projection", f"a projection over layers {list(layers)}",
            f"a projection over layers of these activations {list(items.layers)}", f"It has layers {missing} more.",
        )  # fmt: skip
    return items if layers == tuple(items.layers) else items.select(layers=list(layers))


def _same_rows(a: Any, b: Any) -> bool:
    from lensnb.widgets.columns import ITEM_KEY_COLUMNS

    keys = [c for c in ITEM_KEY_COLUMNS if c in a.columns and c in b.columns]
    return all(np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in keys)


class LayerExplorer(LensView, widgets.VBox):
    """Scatter of every layer, a layer slider, a token picker and the per-layer curves, linked.

    Parameters
    ----------
    acts : Activations
        Token activations from :func:`lensnb.extract` (or pooled: words, texts).
    labels : str or sequence of str, optional
        Label columns to colour by and probe (default: every label column).
    projection : str or Projection
        ``"pca"`` (default), ``"pca_joint"``, ``"ica"``, ``"tsne"``, ``"umap"``, or a
        ready :class:`~lensnb.geometry.Projection` of the same items. A projection over
        some of the layers makes the whole explorer (probe, geometry, curves) use
        those layers only.
    site : str, optional
        The site to show when the activations hold several.
    drop_special : bool
        Leave out special tokens ([CLS], [SEP]...) (default True).
    probe : bool
        Train a linear probe per layer for the first label (accuracy with its 95%
        interval; items coloured by whether the probe got them right).
    geometry : bool
        Intrinsic dimension, overlap with the next layer and with the first label.
    profiles : sequence of LayerProfile, optional
        More curves (layer metrics, another probe...).
    colorings : mapping, optional
        More colourings for the scatter (a role column, relevance...).
    k : int
        Neighbours for the overlaps (default 30, fewer for small data).
    seed : int
    progress : bool
    title : str, optional
    resources : {"auto", "cdn", "inline"}, optional

    Attributes
    ----------
    layer : int
        The layer shown everywhere (a traitlet).
    slider, picker, scatter, curves : the building blocks
    link : TokenLink
        The shared selection and picked tokens.
    """

    layer = traitlets.Int()

    def __init__(
        self,
        acts: Activations,
        labels: str | Sequence[str] | None = None,
        *,
        projection: str | Projection = "pca",
        site: str | None = None,
        drop_special: bool = True,
        probe: bool = True,
        geometry: bool = True,
        profiles: Sequence[LayerProfile] = (),
        colorings: Mapping[str, Any] | None = None,
        k: int = 30,
        seed: int = 0,
        progress: bool = True,
        title: str | None = None,
        resources: str | None = None,
    ):
        from lensnb import geometry as geo

        self._resources = check_resources(resources)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise LensError.bad_argument("k", k, "a positive number of neighbours (fewer are used for small data)")
        items = prepare_items(acts, drop_special, site)
        self.labels = label_columns(items, labels)
        names = items.model.get("layer_names")
        if isinstance(projection, Projection):
            items = _items_of_projection(items, projection)
            self.projection = projection
        else:
            self.projection = geo.project(items, projection, seed=seed, progress=progress)
        self.items = items
        self.notes: list[str] = []
        curves: list[LayerProfile] = []
        extra_colorings = dict(colorings or {})
        first = self.labels[0] if self.labels else None
        if probe and first is not None:
            try:
                probed = _probe(items, first, progress)
            except LensError as error:
                self.notes.append(f"no probe for {first!r}: {error}")
            else:
                curves.append(probed)
                try:
                    correctness = probe_correctness(probed, items.table, items.layers)
                except LensError as error:
                    self.notes.append(f"no colouring by the probe's correctness on {first!r}: {error}")
                else:
                    extra_colorings[f"probe on {first}: correct?"] = correctness
        self.geometry = None
        if geometry:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # duplicate points are reported in the profile's details
                    profile = geo.geometry_profile(items, first, k=max(2, min(k, len(items) - 1)), bootstrap=20,
                                                   seed=seed, progress=progress)  # fmt: skip
            except LensError as error:
                self.notes.append(f"no geometry profile: {error}")
                geometry = False
        if geometry:
            self.geometry = profile
            curves.append(profile.intrinsic_dimension)
            if len(items.layers) > 1:
                curves.append(neighbour_overlap_profile(profile.overlap))
            if profile.label_overlap is not None:
                curves.append(profile.label_overlap)
        curves.extend(profiles)

        self.link = TokenLink(len(items))
        self.slider = LayerSlider(self.projection.layers, names=names)
        self.picker = TokenPicker(items.table, items.texts, link=self.link, label_columns=self.labels)
        self.scatter = LinkedScatter(
            self.projection, texts=items.texts, colorings=extra_colorings, link=self.link, names=names,
            color=first, title=title or str(items.model.get("name") or ""), width=470, height=430, resources=resources,
        )  # fmt: skip
        self.curves = (
            LayerCurves(
                curves,
                names=names,
                columns=1,
                width=300,
                height=max(150, 600 // len(curves)),
                layers=self.projection.layers,
                resources=resources,
            )  # fmt: skip
            if curves
            else None
        )
        self.status = widgets.HTML()
        self.status.add_class("lensnb-status")
        notes = widgets.HTML("".join(f"<div class='lensnb-note'>{html.escape(n)}</div>" for n in self.notes))
        right = [self.curves] if self.curves is not None else []
        super().__init__([
            self.slider,
            widgets.HBox([self.scatter, *right]),
            self.status,
            notes,
            widgets.HTML("<b>Find and pick tokens</b>"),
            self.picker,
        ])  # fmt: skip
        self.add_class("lensnb-layer-explorer")
        self.layer = self.slider.layer
        widgets.link((self, "layer"), (self.slider, "layer"))
        widgets.link((self, "layer"), (self.scatter, "layer"))
        if self.curves is not None:
            widgets.link((self, "layer"), (self.curves, "layer"))
        self.link.observe(self._show_status, ["selected", "picked"])
        self.scatter.observe(self._show_status, "color")
        self._show_status()

    @traitlets.validate("layer")
    def _valid_layer(self, proposal) -> int:
        slider = getattr(self, "slider", None)
        if slider is not None and proposal["value"] not in slider.layers:
            raise LensError.bad_argument("layer", proposal["value"], f"one of the layers {list(slider.layers)}")
        return proposal["value"]

    @traitlets.observe("layer")
    def _layer_changed(self, change) -> None:
        if hasattr(self, "status"):
            self._show_status()

    def _show_status(self, change: Any = None) -> None:
        text = (
            f"{self.slider.name_of(self.layer)} (layer {self.layer}) · colour: {self.scatter.color} · "
            f"{len(self.link.selected)} selected · {len(self.link.picked)} picked"
        )
        self.status.value = f"<span class='lensnb-status-text'>{html.escape(text)}</span>"

    @property
    def selected_tokens(self):
        """The selected items' rows of the item table."""
        return self.items.table.iloc[self.link.selected]

    # -- exports ----------------------------------------------------------------------
    def export_layout(self, *, output_backend: str = "canvas"):
        """The scatter and the curves as they are now, side by side (for files)."""
        from bokeh.layouts import row

        parts = [self.scatter.export_layout(output_backend=output_backend)]
        if self.curves is not None:
            parts.append(self.curves.export_layout(output_backend=output_backend))
        return row(*parts)

    def to_html(self, path: str | Path | None = None, *, resources: str = "inline") -> str:
        """Standalone HTML (scatter with a working layer slider, and the curves); no kernel needed."""
        from lensnb.widgets.export import Fragment, standalone_html, write_text

        parts: list[Any] = [
            Fragment(f"<h3>{html.escape(self.scatter.title or 'lensnb')}: layer explorer</h3>"),
            Fragment(f"<div class='lensnb-caption'>{html.escape(self.scatter._caption())}</div>"),
            self.scatter.export_layout(all_layers=True),
        ]
        if self.curves is not None:
            parts.append(self.curves.export_layout())
        page = standalone_html(parts, title="lensnb layer explorer", resources=resources)
        if path is not None:
            write_text(page, path)
        return page
