"""Relevance shown as shaded text: every piece of text escaped before it reaches HTML.

Positive relevance is shaded red and negative blue, each text scaled by its own
largest absolute score. Token and word strings, the method name and the parameters go
through :func:`html.escape`, so a text holding ``<script>`` or ``<img onerror=...>``
renders as those characters and never as markup.

Tokens show as their characters in the text, never as byte-level pieces ("ĠcafÃ©"
reads " café"), each character once (:func:`lensnb.token_text.joined_pieces`).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np

from lensnb.errors import LensError
from lensnb.token_text import Piece, joined_pieces

if TYPE_CHECKING:
    from lensnb.relevance.result import Relevance

__all__ = ["NO_MATH", "piece_title", "relevance_html", "shade_color", "text_pieces"]

#: Classes that MathJax (classic notebook: ``tex2jax_ignore``; JupyterLab, MathJax 3:
#: ``mathjax_ignore``) does not typeset inside: escaped text keeps its "$" and "\\(" as written.
NO_MATH = "tex2jax_ignore mathjax_ignore"


def shade_color(value: float, scale: float) -> str:
    """Background colour of a score: red for positive, blue for negative, white at 0; ``scale`` is full strength."""
    strength = 0.0 if scale <= 0 or not np.isfinite(value) else min(1.0, abs(value) / scale)
    red, blue = (255, int(255 * (1 - strength))), (int(255 * (1 - strength)), 255)
    if value >= 0:
        return f"rgb({red[0]},{red[1]},{red[1]})"
    return f"rgb({blue[0]},{blue[0]},{blue[1]})"


def text_pieces(relevance: Relevance, text_id: int) -> list[Piece]:
    """One text's tokens of a Relevance as a joined line shows them (see :func:`joined_pieces`)."""
    rows = np.flatnonzero(relevance.tokens["text_id"].to_numpy() == text_id)
    return joined_pieces(relevance.tokens.iloc[rows].reset_index(drop=True), relevance.texts)


def piece_title(piece: str, score: float) -> str:
    """A shaded piece's hover (not escaped): its ``hover`` (a :class:`Piece`), then its score."""
    hover = getattr(piece, "hover", None)
    return f"{hover}: {score:.4g}" if hover is not None else f"{score:.4g}"


def _pieces(relevance: Relevance, text_id: int, words: str | None) -> tuple[list[str], np.ndarray]:
    if words is not None:
        frame = relevance.words(words)
        frame = frame[frame["text_id"] == text_id]
        return [str(w) for w in frame["word"]], frame["score"].to_numpy()
    return text_pieces(relevance, text_id), relevance.text(text_id)["score"].to_numpy()


def relevance_html(
    relevance: Relevance, *, text_id: int | None = None, words: str | None = None, max_texts: int = 20
) -> str:
    """HTML of one or more texts with each token (or word) shaded by its relevance.

    Parameters
    ----------
    relevance : Relevance
    text_id : int, optional
        One text; default the first ``max_texts`` texts.
    words : str, optional
        Word aggregation ("sum", "max", "mean", "first") to show words instead of tokens.
    max_texts : int

    Returns
    -------
    str
        Self-contained HTML (inline styles, no script).
    """
    if isinstance(max_texts, (bool, np.bool_)) or not isinstance(max_texts, (int, np.integer)) or max_texts < 1:
        raise LensError.bad_argument("max_texts", max_texts, "a positive integer")
    if text_id is not None:
        relevance._check_text(text_id)  # an id the relevance holds
    ids = [text_id] if text_id is not None else relevance.texts["text_id"].tolist()[:max_texts]
    title = html.escape(f"{relevance.method} ({', '.join(f'{k}={v}' for k, v in relevance.parameters.items())})")
    # MathJax (Jupyter's, or a page's) leaves these classes alone: "$5 or $10" in a text stays as written
    blocks = [f"<div class='lensnb-relevance {NO_MATH}'><div style='font-weight:bold'>{title}</div>"]
    segments = relevance.segments
    for tid in ids:
        pieces, scores = _pieces(relevance, tid, words)
        finite = scores[np.isfinite(scores)]
        scale = float(np.abs(finite).max()) if len(finite) else 0.0
        chosen = segments[segments["text_id"] == tid]
        names = chosen["target_name"] if "target_name" in chosen else chosen["target"]
        target = ", ".join(
            f"{int(t)} ({n!r})" if str(n) not in (str(t), f"LABEL_{t}") and int(t) >= 0 else str(int(t))
            for t, n in zip(chosen["target"], names)
        )  # one per window; -1: an output span
        spans = [
            f"<span title='{html.escape(piece_title(piece, score), quote=True)}' "
            f"style='background:{shade_color(score, scale)};white-space:pre-wrap;"
            f"padding:0 1px;margin:0 1px'>{html.escape(piece)}</span>"
            for piece, score in zip(pieces, scores)
        ]
        blocks.append(
            f"<div style='margin:4px 0;line-height:1.8'><span style='color:#666'>text {int(tid)}, target "
            f"{html.escape(str(target))}:</span> {''.join(spans)}</div>"
        )
    hidden = len(relevance.texts) - len(ids)
    if text_id is None and hidden > 0:
        blocks.append(f"<div style='color:#666'>... {hidden} more text(s); to_html(text_id=...) shows one.</div>")
    blocks.append("</div>")
    return "".join(blocks)
