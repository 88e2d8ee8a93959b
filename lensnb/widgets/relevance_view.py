"""``RelevanceView``: a text with its tokens shaded by relevance, with method, target and layer pickers.

It reads :class:`lensnb.relevance.Relevance` results only (computed beforehand, e.g.
with :func:`lensnb.relevance.explain`); it never runs a model. Every string that
reaches HTML (tokens, words, method names, parameters) is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from lensnb.errors import LensError
from lensnb.relevance.html import piece_title, shade_color, text_pieces
from lensnb.relevance.result import Relevance
from lensnb.widgets.bokeh_model import LensBokehModel
from lensnb.widgets.layer_slider import LayerSlider
from lensnb.widgets.plain_text import plain_text
from lensnb.widgets.resources import check_resources
from lensnb.widgets.view import BokehSlot, LensView

__all__ = ["RelevanceView", "RelevanceEntry", "relevance_entries", "relevance_notes", "shaded_text"]

INPUT_LEVEL = -1  # the relevance of the input tokens (Relevance.scores), before any layer


@dataclass(frozen=True)
class RelevanceEntry:
    """One Relevance with the labels the pickers show."""

    method: str
    target: str
    relevance: Relevance


def target_label(relevance: Relevance, limit: int = 6) -> str:
    """What a Relevance explains.

    "predicted" when each text's target is its predicted class or next token (a single
    text included); "class 3 (positive)" or "next token ' J'" when every text has that
    target; "output span" for a language model's span; else the targets themselves:
    "per text: 1, 0, 1" (the first ``limit``, then how many in all).
    """
    segments = relevance.segments
    targets = segments["target"].to_numpy()
    predicted = segments["predicted"].to_numpy() if "predicted" in segments else None
    if len(targets) and int(targets[0]) < 0 and np.all(targets == targets[0]):
        return "output span"
    if predicted is not None and len(targets) and np.array_equal(targets, predicted):
        return "predicted"
    if len(targets) and np.all(targets == targets[0]):
        return target_name(relevance, 0)
    shown = ", ".join(str(int(t)) for t in targets[:limit])
    more = f", \u2026 ({len(targets)} inputs)" if len(targets) > limit else ""
    return f"per text: {shown}{more}"


def target_name(relevance: Relevance, row: int, column: str = "target") -> str:
    """Segment ``row``'s target (or prediction, ``column="predicted"``) as a reader names it:
    "next token ' J' (id 42)" for a language model, "class 1 (positive)" for a classifier."""
    segment = relevance.segments.iloc[row]
    value = int(segment[column])
    name = segment.get(f"{column}_name")
    if relevance.parameters.get("head") == "causal-lm":
        return f"next token {name!r} (id {value})" if name is not None else f"next token id {value}"
    if name is not None and str(name) not in (str(value), f"LABEL_{value}"):  # not transformers' default names
        return f"class {value} ({name})"
    return f"class {value}"


def relevance_entries(relevances: Sequence[Relevance] | Mapping[str, Relevance]) -> list[RelevanceEntry]:
    """Label each Relevance by method (parameters added where two share a method) and target.

    Results that explain the same targets with the same method and parameters are the
    same explanation: they are shown once only when their scores agree, and the merge is
    reported (:func:`relevance_notes`). When their scores differ (results of two models,
    say), they are refused: pass a mapping of labels to tell them apart.

    Raises
    ------
    LensError
        Naming ``relevances``: nothing given, something that is not a Relevance,
        results over other texts, or two different results under one label.
    """
    return _entries(relevances)[0]


def relevance_notes(relevances: Sequence[Relevance] | Mapping[str, Relevance]) -> list[str]:
    """What :func:`relevance_entries` merged: one line per result shown as another one."""
    return _entries(relevances)[1]


def _entries(relevances: Sequence[Relevance] | Mapping[str, Relevance]) -> tuple[list[RelevanceEntry], list[str]]:
    items = list(relevances.items()) if isinstance(relevances, Mapping) else [(None, r) for r in relevances]
    if not items:
        raise LensError.bad_argument("relevances", relevances, "at least one Relevance")
    for _, relevance in items:
        if not isinstance(relevance, Relevance):
            raise LensError.bad_argument("relevances", relevance, "Relevance results (from a method's attribute())")
    first = items[0][1].texts["text"].tolist()
    for _, relevance in items[1:]:
        if relevance.texts["text"].tolist() != first:
            raise LensError.bad_argument("relevances", relevance, "results over the same texts, in the same order")
    entries: list[RelevanceEntry] = []
    notes: list[str] = []
    kept: dict[tuple[str, str], tuple[int, tuple[int, ...]]] = {}  # (method, target label) -> (index, targets)
    for index, (label, relevance) in enumerate(items):
        method = label if label is not None else _method_label(relevance, [r for _, r in items])
        targets = tuple(int(t) for t in relevance.segments["target"].to_numpy())
        target = target_label(relevance)
        key = (method, target)
        if key in kept:
            other_index, other_targets = kept[key]
            other = entries[_find(entries, key)].relevance
            if other_targets == targets and _same_scores(other, relevance):
                notes.append(
                    f"result {index} ({method}, {target}) is the same explanation as result {other_index}: shown once"
                )
                continue
            if other_targets == targets:
                raise LensError.bad_argument(
                    "relevances", f"results {other_index} and {index} ({method}, {target}) with different scores",
                    "one result per method, parameters and target",
                    "They explain the same targets with the same method and parameters (two models?): pass a "
                    "mapping of labels to Relevance to tell them apart.",
                )  # fmt: skip
            target = _unique_target(target, targets, {k[1] for k in kept if k[0] == method})
            key = (method, target)
        kept[key] = (index, targets)
        entries.append(RelevanceEntry(method, target, relevance))
    return entries, notes


def _find(entries: list[RelevanceEntry], key: tuple[str, str]) -> int:
    return next(i for i, e in enumerate(entries) if (e.method, e.target) == key)


def _same_scores(a: Relevance, b: Relevance) -> bool:
    same = np.array_equal(np.asarray(a.scores), np.asarray(b.scores), equal_nan=True)
    if same and (a.layer_scores is None) != (b.layer_scores is None):
        return False
    if same and a.layer_scores is not None:
        same = np.array_equal(np.asarray(a.layer_scores), np.asarray(b.layer_scores), equal_nan=True)
    return bool(same and a.parameters == b.parameters)


def _unique_target(label: str, targets: tuple[int, ...], taken: set[str]) -> str:
    """A label for other targets that read the same when cut: every target, else a number."""
    full = "per text: " + ", ".join(str(t) for t in targets)
    if full not in taken:
        return full
    number = 2
    while f"{label} #{number}" in taken:
        number += 1
    return f"{label} #{number}"


def _method_label(relevance: Relevance, others: list[Relevance]) -> str:
    same = [r for r in others if r.method == relevance.method and r.parameters != relevance.parameters]
    if not same:
        return relevance.method
    differing = {k: v for k, v in relevance.parameters.items() if any(r.parameters.get(k) != v for r in same)}
    return f"{relevance.method} ({', '.join(f'{k}={v}' for k, v in differing.items())})"


def shaded_text(pieces: Sequence[str], scores: np.ndarray) -> str:
    """Pieces of text as escaped HTML spans shaded by score (red +, blue -), scaled by the largest |score|.

    Whitespace is kept as written (a newline token breaks the line). Each span's hover
    is the piece's ``hover`` (a :class:`lensnb.token_text.Piece`: the token's whole
    characters, whitespace made visible, "byte piece k of n") and its score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    finite = scores[np.isfinite(scores)]
    scale = float(np.abs(finite).max()) if len(finite) else 0.0
    spans = [
        f"<span class='lensnb-piece' title='{html.escape(piece_title(p, s), quote=True)}' "
        f"style='background:{shade_color(s, scale)};white-space:pre-wrap;padding:0 1px;margin:0 1px;"
        "border-radius:2px'>"
        f"{html.escape(str(p))}</span>"
        for p, s in zip(pieces, scores)
    ]
    return "<span class='lensnb-shaded' style='line-height:1.9'>" + "".join(spans) + "</span>"


def pieces_and_scores(
    relevance: Relevance, text_id: int, level: int, words: str | None
) -> tuple[list[str], np.ndarray]:
    """One text's pieces (tokens, or words merged with ``words``) and their scores at ``level``.

    Tokens are :class:`lensnb.token_text.Piece` strings, as one line shows them
    (:func:`lensnb.token_text.joined_pieces`): each character once, a byte piece
    whose character an earlier token showed as "·", its whole character in its hover.
    """
    layer = None if level == INPUT_LEVEL else level
    if words:
        frame = relevance.words(words, layer=layer)
        frame = frame[frame["text_id"] == text_id]
        return [str(w) for w in frame["word"]], frame["score"].to_numpy(dtype=np.float64)
    frame = relevance.text(text_id)
    scores = frame["score"].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(relevance.tokens["text_id"].to_numpy() == text_id)
    if layer is not None:
        scores = relevance.layer(layer)[rows]
    # each token as its characters in the text (a byte-level piece "ĠcafÃ©" reads " café"), special ones as pieces
    return list(text_pieces(relevance, text_id)), scores


class RelevanceView(LensView, widgets.VBox):
    """One text shaded by relevance, with pickers for the method, the target, the text and the layer.

    Parameters
    ----------
    relevances : sequence of Relevance, or mapping of method label to Relevance
        Results over the same texts (one per method and target).
    text_id : int, optional
        The text shown first.
    words : {"sum", "max", "mean", "first"}, optional
        Show words, their pieces merged this way, instead of tokens.
    resources : {"auto", "cdn", "inline"}, optional

    Attributes
    ----------
    method, target : str
        The chosen method and target labels (traitlets).
    notes : list of str
        Results shown as another one (the same method, parameters, targets and scores).
    text_id : int
    level : int
        -1 for the input tokens' relevance, else a residual-stream level (0 = embedding
        output) of a method with per-layer relevance.
    """

    method = traitlets.Unicode()
    target = traitlets.Unicode()
    text_id = traitlets.Int()
    level = traitlets.Int(INPUT_LEVEL)

    def __init__(
        self,
        relevances: Sequence[Relevance] | Mapping[str, Relevance],
        *,
        text_id: int | None = None,
        words: str | None = None,
        resources: str | None = None,
    ):
        self._resources = check_resources(resources)
        self.entries, self.notes = _entries(relevances)
        self.words = words
        texts = self.entries[0].relevance.texts
        self.text_ids = [int(t) for t in texts["text_id"]]
        methods = list(dict.fromkeys(e.method for e in self.entries))
        self.method_picker = widgets.Dropdown(
            options=methods, description="method", layout=widgets.Layout(width="380px")
        )
        self.target_picker = widgets.Dropdown(options=[], description="target")
        self.text_picker = widgets.Dropdown(
            options=[(f"text {t}: {_preview(s)}", int(t)) for t, s in zip(texts["text_id"], texts["text"])],
            description="text", layout=widgets.Layout(width="560px"),
        )  # fmt: skip
        self.info = widgets.HTML()
        self.notes_html = widgets.HTML(
            "".join(f"<div class='lensnb-note'>{html.escape(note)}</div>" for note in self.notes)
        )
        self.text_html = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.text_html.add_class("lensnb-relevance-text")
        n_levels = max((len(e.relevance.layers or ()) for e in self.entries), default=0)
        self.slider = LayerSlider([INPUT_LEVEL, *range(n_levels)], names={INPUT_LEVEL: "input tokens"},
                                  description="relevance at")  # fmt: skip
        self.figure, self.bars = _bar_figure()
        self.bokeh = LensBokehModel(self.figure)
        super().__init__([
            widgets.HBox([self.method_picker, self.target_picker]), self.notes_html, self.text_picker, self.slider,
            self.info,
            self.text_html, BokehSlot(self.bokeh),
        ])  # fmt: skip
        self.add_class("lensnb-relevance-view")
        self.method = methods[0]
        self._update_targets()
        self.text_id = self.text_ids[0] if text_id is None else text_id
        widgets.link((self, "method"), (self.method_picker, "value"))
        widgets.link((self, "target"), (self.target_picker, "value"))
        widgets.link((self, "text_id"), (self.text_picker, "value"))
        widgets.link((self, "level"), (self.slider, "layer"))
        self._draw()

    # -- state ----------------------------------------------------------------------------
    @property
    def entry(self) -> RelevanceEntry:
        """The Relevance shown."""
        return next(e for e in self.entries if e.method == self.method and e.target == self.target)

    @traitlets.validate("method")
    def _valid_method(self, proposal) -> str:
        if not any(e.method == proposal["value"] for e in self.entries):
            raise LensError.bad_argument("method", proposal["value"], f"one of {[e.method for e in self.entries]}")
        return proposal["value"]

    @traitlets.validate("target")
    def _valid_target(self, proposal) -> str:
        options = [e.target for e in self.entries if e.method == self.method]
        if proposal["value"] not in options:
            raise LensError.bad_argument("target", proposal["value"], f"one of {options} for {self.method}")
        return proposal["value"]

    @traitlets.validate("text_id")
    def _valid_text(self, proposal) -> int:
        if proposal["value"] not in self.text_ids:
            raise LensError.bad_argument("text_id", proposal["value"], f"one of the text ids {self.text_ids[:10]}...")
        return proposal["value"]

    @traitlets.validate("level")
    def _valid_level(self, proposal) -> int:
        level = proposal["value"]
        layers = getattr(self, "entries", None) and self._levels()
        if level != INPUT_LEVEL and (not layers or level not in layers):
            raise LensError.bad_argument("level", level, f"-1 (input tokens) or a level of {list(layers or ())}")
        return level

    def _levels(self) -> tuple[int, ...]:
        entry = self.entry if self.target else None
        return tuple(entry.relevance.layers or ()) if entry is not None else ()

    def _update_targets(self) -> None:
        options = [e.target for e in self.entries if e.method == self.method]
        self.target_picker.options = options
        if self.target not in options:
            self.target = options[0]

    @traitlets.observe("method")
    def _method_changed(self, change) -> None:
        if hasattr(self, "target_picker"):
            self._update_targets()
            if self.level != INPUT_LEVEL and self.level not in self._levels():
                self.level = INPUT_LEVEL
            self._draw()

    @traitlets.observe("target", "text_id", "level")
    def _state_changed(self, change) -> None:
        if hasattr(self, "bars") and self.target:
            self._draw()

    # -- drawing --------------------------------------------------------------------------
    def _draw(self) -> None:
        entry = self.entry
        relevance = entry.relevance
        self.slider.slider.disabled = self.slider.play.disabled = relevance.layer_scores is None
        pieces, scores = pieces_and_scores(relevance, self.text_id, self.level, self.words)
        self.text_html.value = shaded_text(pieces, scores)
        row = int(np.flatnonzero(relevance.segments["text_id"].to_numpy() == self.text_id)[0])
        segment = relevance.segments.iloc[row]
        explained = "an output span" if int(segment["target"]) < 0 else target_name(relevance, row)
        parts = [f"explains {explained}"]
        if "target_score" in segment and np.isfinite(segment["target_score"]):
            parts[0] += f" (score {float(segment['target_score']):.3f})"
        if "predicted" in segment:
            after = " after the text" if relevance.parameters.get("head") == "causal-lm" else ""
            parts.append(f"model predicts {target_name(relevance, row, 'predicted')}{after}")
        if "delta" in segment and np.isfinite(segment["delta"]):
            parts.append(f"conservation delta {float(segment['delta']):.2e}")
        if self.level != INPUT_LEVEL:
            parts.append(f"relevance at the residual stream of level {self.level}")
        self.info.value = f"<span class='lensnb-relevance-info'>{html.escape('; '.join(parts))}</span>"
        colors = ["#d62728" if s >= 0 else "#1f77b4" for s in np.nan_to_num(scores)]
        self.bars.data = {"x": np.arange(len(pieces), dtype=float), "top": np.nan_to_num(scores), "piece": pieces,
                          "color": colors}  # fmt: skip
        self.figure.title.text = plain_text(self._heading())

    def export_layout(self, *, output_backend: str = "canvas"):
        """A fresh bar chart of the shown text's relevance (for files)."""
        figure, bars = _bar_figure(output_backend=output_backend)
        bars.data = dict(self.bars.data)
        figure.title.text = plain_text(self._heading())
        return figure

    def _heading(self) -> str:
        return f"{self.method}: text {self.text_id}"

    def to_html(self, path: str | Path | None = None, *, resources: str = "inline") -> str:
        """Standalone HTML: the shaded text and the bar chart; also written to ``path`` when given."""
        from lensnb.widgets.export import Fragment, standalone_html, write_text

        heading = Fragment(f"<h3>{html.escape(self.method)}, text {self.text_id}</h3>")
        parts = [heading, Fragment(self.info.value), Fragment(f"<p>{self.text_html.value}</p>"), self.export_layout()]
        page = standalone_html(parts, title=f"lensnb relevance: {self.method}", resources=resources)
        if path is not None:
            write_text(page, path)
        return page


def _preview(text: Any, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width] + "\u2026"


def _bar_figure(output_backend: str = "canvas") -> tuple[Any, Any]:
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    bars = ColumnDataSource({"x": [], "top": [], "piece": [], "color": []})
    fig = figure(width=640, height=220, tools="pan,wheel_zoom,reset,save", output_backend=output_backend,
                 title="relevance per piece")  # fmt: skip
    fig.title.text_font_size = "11px"
    renderer = fig.vbar(x="x", top="top", width=0.8, source=bars, color="color")
    fig.add_tools(HoverTool(renderers=[renderer], tooltips="@piece: @top{0.0000}"))
    fig.xaxis.axis_label = "piece (position in the text)"
    fig.yaxis.axis_label = "relevance"
    return fig, bars
