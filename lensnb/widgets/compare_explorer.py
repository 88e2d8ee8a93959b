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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.widgets.columns import ITEM_KEY_COLUMNS
from lensnb.widgets.heatmap import LayerHeatmap
from lensnb.widgets.layer_explorer import label_columns, prepare_items
from lensnb.widgets.layer_slider import LayerSlider
from lensnb.widgets.resources import check_resources
from lensnb.widgets.scatter import LinkedScatter
from lensnb.widgets.selection import TokenLink
from lensnb.widgets.token_picker import TokenPicker
from lensnb.widgets.view import LensView

__all__ = ["CompareExplorer", "Matching", "match_items", "matched_items"]


def _same_tokens(a: Activations, b: Activations) -> bool:
    if a.unit != b.unit or len(a) != len(b):
        return False
    columns = [c for c in ITEM_KEY_COLUMNS if c in a.table and c in b.table and c != "window"]
    return bool(columns) and all(np.array_equal(a.table[c].to_numpy(), b.table[c].to_numpy()) for c in columns)


def _text_pairs(a: Activations, b: Activations) -> dict[int, int] | None:
    """B's text id of each of A's texts, matched by their text (repeated texts in order); None without texts."""
    if a.texts is None or b.texts is None or "text" not in a.texts or "text" not in b.texts:
        return None
    free: dict[str, list[int]] = {}
    for text_id, text in zip(b.texts["text_id"].astype(int), b.texts["text"].astype(str)):
        free.setdefault(text, []).append(int(text_id))
    pairs = {}
    for text_id, text in zip(a.texts["text_id"].astype(int), a.texts["text"].astype(str)):
        if free.get(text):
            pairs[int(text_id)] = free[text].pop(0)
    return pairs


@dataclass(frozen=True)
class Matching:
    """How two models' items were paired (what :func:`match_items` returns).

    Attributes
    ----------
    a, b : Activations
        The paired items, row for row.
    unit : str
        "token" (the same token tables) or "word" (pieces averaged into words), or
        the activations' own unit when they were pooled already.
    left_out_a, left_out_b : int
        Items of each side that had no partner (texts or words only one side has, or
        that differ) and are not shown.
    """

    a: Activations
    b: Activations
    unit: str
    left_out_a: int = 0
    left_out_b: int = 0

    def note(self) -> str:
        """One line for the reader: what was paired and what was left out."""
        text = f"{len(self.a)} {self.unit}s in common"
        if self.left_out_a or self.left_out_b:
            text += (
                f"; left out {self.left_out_a} {self.unit}s of A and {self.left_out_b} of B "
                "(texts or words that only one side has, or that differ)"
            )
        return text


def matched_items(a: Activations, b: Activations) -> tuple[Activations, Activations, str]:
    """The two models' activations over the same items, row for row (see :func:`match_items`).

    Returns
    -------
    (a, b, unit)
    """
    matching = match_items(a, b)
    return matching.a, matching.b, matching.unit


def match_items(a: Activations, b: Activations) -> Matching:
    """Pair the two models' items by text and word.

    Texts are matched by their text (not their id: the two extractions may order them
    differently). When the item tables agree over texts that agree, they are kept as
    they are; else token activations are pooled to words (mean of the pieces) and
    words are paired by (text, word index) when the word itself is the same on both
    sides. Items without a partner are left out and counted (:meth:`Matching.note`).

    Raises
    ------
    LensError
        Naming ``acts_b`` when fewer than 3 items pair up (other texts, say), or when
        pooled activations (words, spans, texts) differ and cannot be pooled again.
    """
    pairs = _text_pairs(a, b)
    texts_agree = pairs is None or (
        len(pairs) == len(a.texts) == len(b.texts) and all(k == v for k, v in pairs.items())
    )
    if texts_agree and _same_tokens(a, b):
        return Matching(a, b, a.unit)
    if a.unit != "token" or b.unit != "token":
        raise LensError.bad_argument(
            "acts_b", f"{len(b)} {b.unit}s", f"the same {len(a)} {a.unit}s over the same texts as acts_a "
            "(or token activations to pool into words)",
        )  # fmt: skip
    if pairs is not None and not pairs:
        raise LensError.bad_argument(
            "acts_b", f"activations over {len(b.texts)} other texts", f"the same texts as acts_a ({len(a.texts)})"
        )
    words_a, words_b = a.pool_words("mean"), b.pool_words("mean")
    table_a, table_b = words_a.table, words_b.table
    text_b = table_a["text_id"].map(pairs) if pairs is not None else table_a["text_id"]
    keys_a = pd.MultiIndex.from_arrays([text_b.fillna(-1).astype(np.int64), table_a["word_index"]])
    keys_b = pd.MultiIndex.from_frame(table_b[["text_id", "word_index"]].astype(np.int64))
    keys_b_unique = ~keys_b.duplicated()
    where_b = pd.Series(np.flatnonzero(keys_b_unique), index=keys_b[keys_b_unique])
    rows_b = where_b.reindex(keys_a).to_numpy()
    found = ~pd.isna(rows_b) & text_b.notna().to_numpy()
    rows_a = np.flatnonzero(found)
    rows_b = rows_b[found].astype(np.int64)
    if "word" in table_a and "word" in table_b:  # the same word on both sides, not just the same index
        same = table_a["word"].to_numpy()[rows_a] == table_b["word"].to_numpy()[rows_b]
        rows_a, rows_b = rows_a[same], rows_b[same]
    if len(rows_a) < 3:
        raise LensError.bad_argument(
            "acts_b", f"{len(rows_a)} words in common with acts_a", "the same texts as acts_a (at least 3 words)"
        )
    return Matching(_take(words_a, rows_a), _take(words_b, rows_b), "word",
                    len(words_a) - len(rows_a), len(words_b) - len(rows_b))  # fmt: skip


def _take(acts: Activations, rows: np.ndarray) -> Activations:
    """The items at ``rows``, in that order (``Activations.select`` sorts its rows)."""
    if len(rows) == 0 or np.all(np.diff(rows) > 0):
        return acts.select(items=rows)
    return Activations(
        {site: np.asarray(array)[:, rows] for site, array in acts.arrays.items()}, acts.layers_by_site,
        acts.table.iloc[rows].reset_index(drop=True), unit=acts.unit, texts=acts.texts, model=acts.model,
    )  # fmt: skip


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
    colorings : mapping of str to Coloring or array, optional
        Extra colourings for both scatters (a role column, a probe's correctness...)
        besides the label columns, over the paired items in the order of
        ``items_a.table`` (the same as ``items_b.table``): values of shape (n_items,),
        or (n_layers, n_items) for a colouring that changes with the layer (then both
        models need that many layers).
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

        self._resources = check_resources(resources)
        self.matching = match_items(
            prepare_items(acts_a, drop_special, site, "acts_a"), prepare_items(acts_b, drop_special, site, "acts_b")
        )
        a, b, unit = self.matching.a, self.matching.b, self.matching.unit
        self.items_a, self.items_b, self.unit = a, b, unit
        self.labels = label_columns(a, labels)
        missing = [name for name in self.labels if name not in b.table.columns]
        if missing and labels is not None:
            raise LensError.bad_argument(
                "acts_b", f"an item table without {missing}", f"activations whose item table has {missing} too",
                "Both scatters are coloured by the same labels. Name labels that both extractions have.",
            )  # fmt: skip
        self.labels = [name for name in self.labels if name not in missing]  # by default: the labels both have
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
        shared = [name for name in self.scatter_a.colorings if name in self.scatter_b.colorings]
        for scatter in (self.scatter_a, self.scatter_b):  # the colourings are linked: only what both have
            scatter.keep_colorings(shared)
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
        pooled = "; word pieces were averaged into words" if unit == "word" and acts_a.unit == "token" else ""
        self.note = widgets.HTML(f"<div class='lensnb-note'>{html.escape(self.matching.note() + pooled)}</div>")
        note = self.note
        super().__init__([
            widgets.HBox([self.slider_a, self.same_depth]), self.slider_b,
            widgets.HBox([self.scatter_a, self.scatter_b]), self.status, note,
            *([self.heatmap] if self.heatmap is not None else []),
            widgets.HTML("<b>Find and pick tokens</b>"), self.picker,
        ])  # fmt: skip
        self.add_class("lensnb-compare-explorer")
        self.layer_a, self.layer_b = self.projections[0].layers[0], self.projections[1].layers[0]
        widgets.link((self, "layer_a"), (self.slider_a, "layer"))
        widgets.link((self, "layer_b"), (self.slider_b, "layer"))
        widgets.link((self, "layer_a"), (self.scatter_a, "layer"))
        widgets.link((self, "layer_b"), (self.scatter_b, "layer"))
        if self.heatmap is not None:
            self.heatmap.observe(self._cell_chosen, "cell")
        self.link.observe(self._show_status, ["selected", "picked"])
        self._show_status()

    @traitlets.validate("layer_a", "layer_b")
    def _valid_layer(self, proposal) -> int:
        side = 0 if proposal["trait"].name == "layer_a" else 1
        projections = getattr(self, "projections", None)
        if projections is not None and proposal["value"] not in projections[side].layers:
            raise LensError.bad_argument(
                proposal["trait"].name, proposal["value"], f"one of the layers {list(projections[side].layers)}"
            )
        return proposal["value"]

    @traitlets.observe("layer_a")
    def _a_moved(self, change) -> None:
        if getattr(self, "same_depth", None) is not None and self.same_depth.value and not self._from_cell:
            layers_a, layers_b = tuple(self.projections[0].layers), tuple(self.projections[1].layers)
            depth = layers_a.index(change["new"]) / max(1, len(layers_a) - 1)
            self.layer_b = layers_b[int(round(depth * (len(layers_b) - 1)))]
        self._follow_layers()

    @traitlets.observe("layer_b")
    def _b_moved(self, change) -> None:
        self._follow_layers()

    def _follow_layers(self) -> None:
        """Outline the CKA cell of the layers shown, and update the status line."""
        if self._from_cell:
            return
        heatmap = getattr(self, "heatmap", None)
        if heatmap is not None and self.layer_a in heatmap.layers_a and self.layer_b in heatmap.layers_b:
            heatmap.cell = (self.layer_a, self.layer_b)
        if hasattr(self, "status"):
            self._show_status()

    def _cell_chosen(self, change) -> None:
        if self._from_cell:
            return
        self._from_cell = True
        try:
            self.layer_a, self.layer_b = change["new"]
        finally:
            self._from_cell = False
        self._follow_layers()

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
