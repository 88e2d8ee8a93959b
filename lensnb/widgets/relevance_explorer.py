"""``RelevanceExplorer``: one text explained by every method, side by side, with a detailed view of one."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from lensnb.relevance.result import Relevance
from lensnb.widgets.relevance_view import INPUT_LEVEL, RelevanceView, pieces_and_scores, shaded_text
from lensnb.widgets.resources import check_resources
from lensnb.widgets.view import LensView

__all__ = ["RelevanceExplorer"]


class RelevanceExplorer(LensView, widgets.VBox):
    """Every method's relevance for one text and target, with a :class:`RelevanceView` to dig into one.

    Parameters
    ----------
    relevances : sequence of Relevance, or mapping of method label to Relevance
        Computed beforehand, e.g. ``lensnb.relevance.explain(model, texts, targets=(None, 0, 1))``;
        the explorer never runs a model.
    text_id : int, optional
    words : {"sum", "max", "mean", "first"}, optional
        Show words instead of word pieces.
    resources : {"auto", "cdn", "inline"}, optional

    Attributes
    ----------
    view : RelevanceView
        The detailed view (method, target, text and layer pickers).
    comparison : ipywidgets.HTML
        Every method on the chosen text and target (escaped HTML).
    """

    text_id = traitlets.Int()

    def __init__(
        self,
        relevances: Sequence[Relevance] | Mapping[str, Relevance],
        *,
        text_id: int | None = None,
        words: str | None = None,
        resources: str | None = None,
    ):
        self._resources = check_resources(resources)
        self.view = RelevanceView(relevances, text_id=text_id, words=words, resources=resources)
        self.comparison = widgets.HTML()
        self.comparison.add_class("lensnb-relevance-comparison")
        super().__init__([
            self.view, widgets.HTML("<b>Every method on this text and target</b>"), self.comparison,
        ])  # fmt: skip
        self.add_class("lensnb-relevance-explorer")
        widgets.link((self, "text_id"), (self.view, "text_id"))
        self.view.observe(self._draw_comparison, ["text_id", "target", "level"])
        self._draw_comparison()

    def _draw_comparison(self, change: Any = None) -> None:
        view = self.view
        rows = []
        for entry in view.entries:
            if entry.target != view.target:
                continue
            level = (
                view.level
                if view.level != INPUT_LEVEL and view.level in (entry.relevance.layers or ())
                else INPUT_LEVEL
            )
            pieces, scores = pieces_and_scores(entry.relevance, view.text_id, level, view.words)
            where = "input" if level == INPUT_LEVEL else f"level {level}"
            rows.append(
                f"<tr><td style='padding:2px 8px;white-space:nowrap;vertical-align:top'>{html.escape(entry.method)}"
                f"<br><span style='color:#777'>{html.escape(where)}</span></td>"
                f"<td style='padding:2px 8px'>{shaded_text(pieces, scores)}</td></tr>"
            )
        note = f"target: {view.target}; each row scaled by its own largest |relevance|; red +, blue -"
        self.comparison.value = (
            f"<div style='color:#555'>{html.escape(note)}</div><table class='lensnb-comparison'>{''.join(rows)}</table>"
        )

    def export_layout(self, *, output_backend: str = "canvas"):
        """The detailed view's bar chart (for PNG / SVG)."""
        return self.view.export_layout(output_backend=output_backend)

    def to_html(self, path: str | Path | None = None, *, resources: str = "inline") -> str:
        """Standalone HTML: the comparison table and the detailed view; also written to ``path``."""
        from lensnb.widgets.export import Fragment, standalone_html, write_text

        parts = [
            Fragment(f"<h3>Relevance of text {self.view.text_id}</h3>"), Fragment(self.comparison.value),
            Fragment(f"<h4>{html.escape(self.view.method)}</h4>{self.view.info.value}<p>{self.view.text_html.value}</p>"),
            self.view.export_layout(),
        ]  # fmt: skip
        page = standalone_html(parts, title="lensnb relevance", resources=resources)
        if path is not None:
            write_text(page, path)
        return page
