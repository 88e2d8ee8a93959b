"""``CompareExplorer``: two models (or a pre-trained and a fine-tuned one) side by side on the same items.

Both models' items are matched first: the same token table when the tokenizers
agree, else words (word pieces mean-pooled) matched by text and word. A selection or
a pick in one scatter shows in the other; the CKA map between the two models' layers
picks the pair of layers to show.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.widgets.heatmap import LayerHeatmap
from lensnb.widgets.layer_explorer import label_columns, prepare_items
from lensnb.widgets.layer_slider import LayerSlider
from lensnb.widgets.scatter import LinkedScatter
from lensnb.widgets.selection import TokenLink
from lensnb.widgets.token_picker import TokenPicker
from lensnb.widgets.view import LensView

__all__ = ["CompareExplorer", "matched_items"]


def _same_tokens(a: Activations, b: Activations) -> bool:
    if a.unit != b.unit or len(a) != len(b):
        return False
    columns = [c for c in ("text_id", "token", "word_index") if c in a.table and c in b.table]
    return bool(columns) and all(np.array_equal(a.table[c].to_numpy(), b.table[c].to_numpy()) for c in columns)


def matched_items(a: Activations, b: Activations) -> tuple[Activations, Activations, str]:
    """The two models' activations over the same items, row for row.

    Returns
    -------
    (a, b, unit)
        Unchanged when the item tables agree; else both pooled to words (mean of the
        pieces) and kept to the words both have, matched by (text_id, word_index).
    """
    if _same_tokens(a, b):
        return a, b, a.unit
    if a.unit != "token" or b.unit != "token":
        raise LensError.bad_argument(
            "acts_b", f"{len(b)} {b.unit}s", f"the same {len(a)} {a.unit}s as acts_a (or token activations to pool)"
        )
    words_a, words_b = a.pool_words("mean"), b.pool_words("mean")
    keys_a = pd.MultiIndex.from_frame(words_a.table[["text_id", "word_index"]])
    keys_b = pd.MultiIndex.from_frame(words_b.table[["text_id", "word_index"]])
    common = keys_a.intersection(keys_b)
    if len(common) < 3:
        raise LensError.bad_argument("acts_b", f"{len(common)} words in common", "the same texts as acts_a")
    rows_a = keys_a.get_indexer(common)
    rows_b = keys_b.get_indexer(common)
    order = np.argsort(rows_a)
    return words_a.select(items=rows_a[order]), words_b.select(items=rows_b[order]), "word"


class CompareExplorer(LensView, widgets.VBox):
    """Two models' layers side by side over the same items, linked by item.

    Parameters
    ----------
    acts_a, acts_b : Activations
        The same texts through two models (e.g. a pre-trained and a fine-tuned one).
    labels : str or sequence of str, optional
        Label columns to colour by (default: every label column of A's table).
    names : (str, str), optional
        Titles of the two models (default: their names).
    projection : str
        The projection of every layer of each model (``"pca"`` by default).
    cka : bool
        Compute the layer x layer linear CKA between the models (a click on a cell
        shows that pair of layers).
    drop_special, site, seed, progress, resources
        As for :class:`LayerExplorer`.

    Attributes
    ----------
    layer_a, layer_b : int
        The layer shown for each model (traitlets).
    link : TokenLink
        The shared selection and picked items.
    """

    layer_a = traitlets.Int()
    layer_b = traitlets.Int()
    _from_cell = False  # a heatmap click sets both layers: no relative-depth move in between

    def __init__(
        self,
        acts_a: Activations,
        acts_b: Activations,
        labels: str | Sequence[str] | None = None,
        *,
        names: tuple[str, str] | None = None,
        projection: str = "pca",
        cka: bool = True,
        colorings: Mapping[str, Any] | None = None,
        drop_special: bool = True,
        site: str | None = None,
        seed: int = 0,
        progress: bool = True,
        resources: str | None = None,
    ):
        from lensnb import geometry as geo

        a, b, unit = matched_items(prepare_items(acts_a, drop_special, site), prepare_items(acts_b, drop_special, site))
        self.items_a, self.items_b, self.unit = a, b, unit
        self.labels = label_columns(a, labels)
        self._resources = resources
        titles = names or (str(a.model.get("name") or "A"), str(b.model.get("name") or "B"))
        if titles[0] == titles[1]:
            titles = (f"{titles[0]} (A)", f"{titles[1]} (B)")
        self.titles = titles
        self.projections = (geo.project(a, projection, seed=seed, progress=progress),
                            geo.project(b, projection, seed=seed, progress=progress))  # fmt: skip
        self.link = TokenLink(len(a))
        layer_names_a, layer_names_b = a.model.get("layer_names"), b.model.get("layer_names")
        self.slider_a = LayerSlider(a.layers, names=layer_names_a, description=titles[0][:24])
        self.slider_b = LayerSlider(b.layers, names=layer_names_b, description=titles[1][:24])
        first = self.labels[0] if self.labels else None
        self.scatter_a = LinkedScatter(self.projections[0], texts=a.texts, colorings=colorings, link=self.link,
                                       names=layer_names_a, title=titles[0], width=440, height=400, color=first)  # fmt: skip
        self.scatter_b = LinkedScatter(self.projections[1], texts=b.texts, colorings=colorings, link=self.link,
                                       names=layer_names_b, title=titles[1], width=440, height=400, controls=False,
                                       color=first if first in b.table else None)  # fmt: skip
        widgets.link((self.scatter_a, "color"), (self.scatter_b, "color"))
        self.same_depth = widgets.Checkbox(value=True, description="move both to the same relative depth", indent=False)
        self.heatmap = None
        if cka:
            matrix = geo.cka_matrix(a, b, progress=progress)
            matrix = dataclasses.replace(matrix, models=titles)
            self.heatmap = LayerHeatmap(matrix, names_a=layer_names_a, names_b=layer_names_b,
                                        title="linear CKA between the models", resources=resources)  # fmt: skip
        self.picker = TokenPicker(a.table, a.texts, link=self.link, label_columns=self.labels)
        self.status = widgets.HTML()
        self.status.add_class("lensnb-status")
        note = widgets.HTML(
            f"<div class='lensnb-note'>{len(a)} {html.escape(unit)}s in common"
            + ("; the tokenizers differ, so word pieces were averaged into words" if unit == "word" and
               acts_a.unit == "token" else "") + "</div>"
        )  # fmt: skip
        super().__init__([
            widgets.HBox([self.slider_a, self.same_depth]), self.slider_b,
            widgets.HBox([self.scatter_a, self.scatter_b]), self.status, note,
            *([self.heatmap] if self.heatmap is not None else []),
            widgets.HTML("<b>Find and pick tokens</b>"), self.picker,
        ])  # fmt: skip
        self.add_class("lensnb-compare-explorer")
        self.layer_a, self.layer_b = a.layers[0], b.layers[0]
        widgets.link((self, "layer_a"), (self.slider_a, "layer"))
        widgets.link((self, "layer_b"), (self.slider_b, "layer"))
        widgets.link((self, "layer_a"), (self.scatter_a, "layer"))
        widgets.link((self, "layer_b"), (self.scatter_b, "layer"))
        if self.heatmap is not None:
            self.heatmap.observe(self._cell_chosen, "cell")
        self.link.observe(self._show_status, ["selected", "picked"])
        self._show_status()

    @traitlets.observe("layer_a")
    def _a_moved(self, change) -> None:
        if getattr(self, "same_depth", None) is not None and self.same_depth.value and not self._from_cell:
            layers_a, layers_b = self.items_a.layers, self.items_b.layers
            depth = layers_a.index(change["new"]) / max(1, len(layers_a) - 1)
            self.layer_b = layers_b[int(round(depth * (len(layers_b) - 1)))]
        if hasattr(self, "status"):
            self._show_status()

    @traitlets.observe("layer_b")
    def _b_moved(self, change) -> None:
        if hasattr(self, "status"):
            self._show_status()

    def _cell_chosen(self, change) -> None:
        self._from_cell = True
        try:
            self.layer_a, self.layer_b = change["new"]
        finally:
            self._from_cell = False

    def _show_status(self, change: Any = None) -> None:
        text = (
            f"{self.titles[0]}: {self.slider_a.name_of(self.layer_a)} · "
            f"{self.titles[1]}: {self.slider_b.name_of(self.layer_b)} · "
            f"{len(self.link.selected)} selected · {len(self.link.picked)} picked"
        )
        self.status.value = f"<span class='lensnb-status-text'>{html.escape(text)}</span>"

    def export_layout(self, *, output_backend: str = "canvas"):
        """Both scatters as they are now, side by side (for files)."""
        from bokeh.layouts import row

        return row(self.scatter_a.export_layout(output_backend=output_backend),
                   self.scatter_b.export_layout(output_backend=output_backend))  # fmt: skip

    def to_html(self, path: str | Path | None = None, *, resources: str = "inline") -> str:
        """Standalone HTML: both models' scatters (each with a working layer slider) and the CKA map."""
        from lensnb.widgets.export import Fragment, standalone_html, write_text

        parts: list[Any] = [
            Fragment(f"<h3>{html.escape(self.titles[0])} vs {html.escape(self.titles[1])}</h3>"),
            self.scatter_a.export_layout(all_layers=True), self.scatter_b.export_layout(all_layers=True),
        ]  # fmt: skip
        if self.heatmap is not None:
            parts.append(self.heatmap.export_layout())
        page = standalone_html(parts, title="lensnb comparison", resources=resources)
        if path is not None:
            write_text(page, path)
        return page
