"""Finding items in a table: by text, by position in a text, by label. Pure pandas/numpy.

The token picker runs these in the kernel and sends only the hits it shows to the
browser, never the whole vocabulary.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from lensnb.errors import LensError

__all__ = ["normalise_piece", "find_by_text", "find_in_words", "find_by_position", "find_by_label", "TEXT_MATCHES"]

TEXT_MATCHES = ("contains", "exact", "starts", "regex")
_MARKERS = ("##", "\u0120", "\u2581")  # WordPiece continuation, GPT-2's space, SentencePiece's space


def normalise_piece(piece: str) -> str:
    """A word piece without its tokenizer's marker ("##ing" -> "ing", "Ġprice" -> "price")."""
    for marker in _MARKERS:
        if piece.startswith(marker):
            return piece[len(marker) :]
    return piece


def find_by_text(
    items: np.ndarray, query: str, *, match: str = "contains", case: bool = False, normalise: bool = True
) -> np.ndarray:
    """Rows whose item string matches ``query`` (markers such as ## ignored).

    Parameters
    ----------
    items : ndarray of str, shape (n_items,)
    query : str
    match : {"contains", "exact", "starts", "regex"}
    case : bool
        Case-sensitive.
    normalise : bool
        Strip tokenizer markers from ``items`` first (False: they are already search
        strings, e.g. :attr:`ItemText.search`).

    Returns
    -------
    ndarray of int64
        Matching rows, in table order.
    """
    if not _check_query(query, match):
        return np.zeros(0, dtype=np.int64)
    strings = pd.Series([normalise_piece(str(s)) if normalise else str(s) for s in items], dtype=object)
    if match == "regex":
        try:
            re.compile(query)
        except re.error as error:
            raise LensError.bad_argument("query", query, f"a valid regular expression ({error})") from None
        hits = strings.str.contains(query, case=case, regex=True)
    else:
        if not case:
            strings, query = strings.str.lower(), query.lower()
        if match == "contains":
            hits = strings.str.contains(query, regex=False)
        elif match == "starts":
            hits = strings.str.startswith(query)
        else:
            hits = strings == query
    return np.flatnonzero(hits.to_numpy(dtype=bool))


def _check_query(query: Any, match: Any) -> bool:
    """Refuse an unknown ``match`` or a non-string ``query``; False for the empty query (no hits)."""
    if match not in TEXT_MATCHES:
        raise LensError.bad_argument("match", match, f"one of {TEXT_MATCHES}")
    if not isinstance(query, str):
        raise LensError.bad_argument("query", query, "a string")
    return query != ""


def find_in_words(
    words: np.ndarray,
    word_offsets: np.ndarray,
    spans: np.ndarray,
    query: str,
    *,
    match: str = "contains",
    case: bool = False,
) -> np.ndarray:
    """Tokens holding characters of a match of ``query`` in their word (a word cut into pieces).

    Parameters
    ----------
    words : ndarray of str or None, shape (n_items,)
        The word of each token (None: not in a word).
    word_offsets : ndarray of int, shape (n_items,)
        Where each token's word starts in the text.
    spans : ndarray of int, shape (n_items, 2)
        Each token's characters in the text.
    query, match, case
        As for :func:`find_by_text`: "contains" finds every occurrence in a word,
        "starts" one at the word's start, "exact" the whole word, "regex" every match.

    Returns
    -------
    ndarray of int64
        Tokens whose characters overlap a match, in table order.
    """
    if not _check_query(query, match):
        return np.zeros(0, dtype=np.int64)
    flags = 0 if case else re.IGNORECASE
    try:
        pattern = re.compile(query if match == "regex" else re.escape(query), flags)
    except re.error as error:
        raise LensError.bad_argument("query", query, f"a valid regular expression ({error})") from None
    matches: dict[str, list[tuple[int, int]]] = {}
    for word in {w for w in words if w is not None}:
        if match == "exact":
            found = [(0, len(word))] if pattern.fullmatch(word) else []
        elif match == "starts":
            hit = pattern.match(word)
            found = [hit.span()] if hit else []
        else:
            found = [m.span() for m in pattern.finditer(word)]
        matches[word] = [(a, b) for a, b in found if b > a]
    rows = []
    for row, word in enumerate(words):
        if word is None or not matches.get(word):
            continue
        start, end = spans[row, 0] - word_offsets[row], spans[row, 1] - word_offsets[row]
        if any(start < b and end > a for a, b in matches[word]):
            rows.append(row)
    return np.asarray(rows, dtype=np.int64)


def find_by_position(table: pd.DataFrame, text_id: int, position: int | None = None) -> np.ndarray:
    """Rows of one text (all, or the one at ``position``: the token's place in the model input)."""
    for column in ("text_id",):
        if column not in table:
            raise LensError.bad_argument("table", list(table.columns), "a table with a text_id column")
    rows = np.flatnonzero(table["text_id"].to_numpy() == text_id)
    if position is None:
        return rows
    column = "position" if "position" in table else "word_index" if "word_index" in table else None
    if column is None:
        raise LensError.bad_argument("position", position, "None: these items have no position")
    return rows[table[column].to_numpy()[rows] == position]


def find_by_label(table: pd.DataFrame, column: str, value: object) -> np.ndarray:
    """Rows whose ``column`` equals ``value`` (compared as strings)."""
    if column not in table:
        raise LensError.bad_argument("column", column, f"one of the table's columns {list(table.columns)}")
    values = table[column]
    present = values.notna().to_numpy()
    equal = values.astype(str).to_numpy() == str(value)
    return np.flatnonzero(present & equal)
