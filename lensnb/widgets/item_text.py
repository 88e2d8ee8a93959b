"""What each item (token, word, span, text) reads as, and the text around it.

Pure pandas/numpy, no widgets: the scatter's hover, the token picker's hit list and
the exports all show items through these functions. Contexts are cut to ``width``
characters a side and the cut is marked with an ellipsis; nothing is cut silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["item_strings", "item_contexts", "ItemText"]

ELLIPSIS = "\u2026"


class ItemText:
    """Display strings of a table's items: the item itself and its left and right context.

    Parameters
    ----------
    table : DataFrame
        An item table (token table, word table from ``pool_words``, span or text table).
    texts : DataFrame, optional
        The text table (``text_id``, ``text``) of the extraction.
    width : int
        Characters of context kept on each side.

    Attributes
    ----------
    item, left, right : ndarray of str, shape (n_items,)
    """

    def __init__(self, table: pd.DataFrame, texts: pd.DataFrame | None = None, width: int = 40):
        self.item = item_strings(table, texts)
        self.left, self.right = item_contexts(table, texts, width)

    def context(self, row: int) -> str:
        """One item in its context, the item between square brackets."""
        return f"{self.left[row]}[{self.item[row]}]{self.right[row]}"


def _text_lookup(texts: pd.DataFrame | None) -> dict[int, str]:
    if texts is None or "text" not in texts or "text_id" not in texts:
        return {}
    return {int(t): str(s) for t, s in zip(texts["text_id"], texts["text"])}


def item_strings(table: pd.DataFrame, texts: pd.DataFrame | None = None) -> np.ndarray:
    """The string each item shows as: its token, word, span text or text, shape (n_items,)."""
    for column in ("token", "word", "span_text", "text"):
        if column in table:
            return table[column].astype(str).to_numpy(dtype=object)
    lookup = _text_lookup(texts)
    if "char_start" in table and "char_end" in table and "text_id" in table and lookup:
        return np.array(
            [
                lookup[int(t)][int(s) : int(e)]
                for t, s, e in zip(table["text_id"], table["char_start"], table["char_end"])
            ],
            dtype=object,
        )
    if "text_id" in table and lookup:
        return np.array([lookup[int(t)] for t in table["text_id"]], dtype=object)
    return np.array([f"item {i}" for i in range(len(table))], dtype=object)


def _clip_left(text: str, width: int) -> str:
    return text if len(text) <= width else ELLIPSIS + text[len(text) - width :]


def _clip_right(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width] + ELLIPSIS


def item_contexts(
    table: pd.DataFrame, texts: pd.DataFrame | None = None, width: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Text left and right of each item, shape (n_items,) each.

    Tokens (character offsets into their text) take the characters around them; words
    (``pool_words``) take the neighbouring words of their text; texts have none.
    """
    n = len(table)
    left = np.full(n, "", dtype=object)
    right = np.full(n, "", dtype=object)
    lookup = _text_lookup(texts)
    if n == 0 or "text_id" not in table:
        return left, right
    text_ids = table["text_id"].to_numpy()
    if {"char_start", "char_end"} <= set(table.columns) and lookup:
        starts, ends = table["char_start"].to_numpy(), table["char_end"].to_numpy()
        for row in range(n):
            text = lookup.get(int(text_ids[row]), "")
            start, end = int(starts[row]), int(ends[row])
            if start < 0 or end < start:  # a special token: no characters of its own
                continue
            left[row] = _clip_left(text[:start], width)
            right[row] = _clip_right(text[end:], width)
        return left, right
    if "word" in table and "word_index" in table:
        words = table["word"].astype(str).to_numpy()
        for _, rows in pd.Series(np.arange(n)).groupby(text_ids):
            ordered = rows.to_numpy()[np.argsort(table["word_index"].to_numpy()[rows.to_numpy()], kind="stable")]
            sentence = words[ordered]
            for i, row in enumerate(ordered):
                before, after = " ".join(sentence[:i]), " ".join(sentence[i + 1 :])
                left[row] = _clip_left(before + " " if before else "", width)
                right[row] = _clip_right(" " + after if after else "", width)
        return left, right
    return left, right
