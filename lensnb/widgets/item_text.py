"""What each item (token, word, span, text) reads as, and the text around it.

Pure pandas/numpy, no widgets: the scatter's hover, the token picker's hit list and
the exports all show items through these functions. Contexts are cut to ``width``
characters a side and the cut is marked with an ellipsis; nothing is cut silently.

Tokens read as their characters in the text (:func:`lensnb.token_text.token_strings`,
shared with the relevance HTML). Where an item is shown alone (:attr:`ItemText.shown`:
hover, picked labels, hit list) a token of only whitespace shows it visibly, and it is
searched as shown: "⏎" for a newline (GPT-2's "Ċ", sentencepiece's "<0x0A>"), "␣" for
a space (a stand-alone "Ġ" or "▁"). A sentencepiece "▁" that covers no character of
the text reads "␣" too, never the word's first character. A query written with the
token table's markers, "Ġ"/"▁" for a space and "Ċ" for a newline (not a regex), is
compared with each item's characters as written, whitespace kept: "Ġr" finds the
piece " r", "Ċ" the newlines, "Ġ" (exact) the stand-alone spaces. A query without
markers searches as before.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd

from lensnb.token_text import blank_pieces, text_lookup, token_characters, token_strings, visible_whitespace

__all__ = ["item_strings", "item_contexts", "search_strings", "written_strings", "token_words", "ItemText"]

ELLIPSIS = "\u2026"
_WORD = re.compile(r"\S+")  # how the core cuts a plain text into words, and joins given words
_MARKER_WHITESPACE = {"\u0120": " ", "\u2581": " ", "\u010a": "\n"}  # GPT-2's space and newline, sentencepiece's space


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
        What each item shows as (a token's own characters, not its byte-level piece),
        and the text around it.
    shown : ndarray of str, shape (n_items,)
        ``item`` as a view shows it alone (hover, label, hit list): an item of only
        whitespace made visible ("⏎", "␣").
    search : ndarray of str, shape (n_items,)
        What a text search compares the query with: the item's characters without
        surrounding whitespace, or a piece without its tokenizer's marker; a token of
        only whitespace as shown ("⏎", "␣").
    written : ndarray of str, shape (n_items,)
        The item's characters with their whitespace, what a query written with
        tokenizer markers ("Ġr", "Ċ") is compared with (see :func:`written_strings`).
    words : tuple or None
        For tokens, the word each belongs to (see :func:`token_words`): a search for a
        word cut into pieces finds its pieces.
    """

    def find(self, query: str, *, match: str = "contains", case: bool = False) -> np.ndarray:
        """Rows matching ``query``: items whose text matches, and tokens holding part of a matching word.

        A query holding the token table's markers ("Ġ", "▁", "Ċ"; not a regex) reads them as
        the whitespace they stand for and is compared with :attr:`written`.
        """
        from lensnb.widgets.token_search import find_by_text, find_in_words

        if match != "regex" and isinstance(query, str) and any(m in query for m in _MARKER_WHITESPACE):
            spelled = "".join(_MARKER_WHITESPACE.get(c, c) for c in query)
            return find_by_text(self.written, spelled, match=match, case=case, normalise=False)
        hits = find_by_text(self.search, query, match=match, case=case, normalise=False)
        if self.words is None or query == "":
            return hits
        more = find_in_words(*self.words, query, match=match, case=case)
        return np.union1d(hits, more).astype(np.int64)

    def __init__(self, table: pd.DataFrame, texts: pd.DataFrame | None = None, width: int = 40):
        self.item = item_strings(table, texts)
        self.shown = np.array([visible_whitespace(str(s)) for s in self.item], dtype=object)
        self.left, self.right = item_contexts(table, texts, width)
        self.search = search_strings(table, texts, self.item)
        self.written = written_strings(table, texts, self.item)
        self.words = token_words(table, texts)

    def key(self) -> str:
        """A digest of what every row shows (item and context), in order: two tables whose rows
        read alike, as two models' matched words do, share it; two subsets of one size do not."""
        shown = pd.DataFrame({"item": self.item, "left": self.left, "right": self.right})
        return hashlib.sha256(pd.util.hash_pandas_object(shown, index=False).to_numpy().tobytes()).hexdigest()[:32]

    def context(self, row: int) -> str:
        """One item in its context, the item between square brackets (whitespace alone made visible)."""
        return f"{self.left[row]}[{self.shown[row]}]{self.right[row]}"


def _word_offsets(texts: pd.DataFrame | None) -> dict[int, np.ndarray]:
    """Character offsets (n_words, 2) of each text's words, where the text's own words can be found.

    A text's words are its whitespace-separated runs (how plain texts are cut, and how
    words given as a list are joined); a text whose run count differs from its
    ``n_words`` (words given with a text of their own) gets no offsets.
    """
    lookup = text_lookup(texts)
    counts = (
        dict(zip(texts["text_id"].astype(int), texts["n_words"].astype(int)))
        if texts is not None and "n_words" in texts
        else {}
    )
    out = {}
    for text_id, text in lookup.items():
        offsets = np.array([m.span() for m in _WORD.finditer(text)], dtype=np.int64).reshape(-1, 2)
        if text_id not in counts or counts[text_id] == len(offsets):
            out[text_id] = offsets
    return out


def _span_offsets(table: pd.DataFrame, texts: pd.DataFrame | None, suffix: str = "") -> np.ndarray | None:
    """Character offsets (n_items, 2) of spans given by words ``[word_start, word_end)``; -1 where unknown."""
    start_column, end_column = f"word_start{suffix}", f"word_end{suffix}"
    if not {"text_id", start_column, end_column} <= set(table.columns):
        return None
    words = _word_offsets(texts)
    out = np.full((len(table), 2), -1, dtype=np.int64)
    rows = zip(table["text_id"].to_numpy(), table[start_column].to_numpy(), table[end_column].to_numpy())
    for row, (text_id, start, end) in enumerate(rows):
        offsets = words.get(int(text_id))
        if offsets is not None and 0 <= int(start) < int(end) <= len(offsets):
            out[row] = (offsets[int(start), 0], offsets[int(end) - 1, 1])
    return out


def _char_offsets(table: pd.DataFrame, texts: pd.DataFrame | None) -> np.ndarray | None:
    """Character offsets (n_items, 2) of each item in its text: a token's, or a span's words'."""
    if {"char_start", "char_end", "text_id"} <= set(table.columns):
        return np.stack([table["char_start"].to_numpy(np.int64), table["char_end"].to_numpy(np.int64)], axis=1)
    return _span_offsets(table, texts)


def _cut(lookup: dict[int, str], text_ids: np.ndarray, offsets: np.ndarray) -> list[str | None]:
    """Each item's characters, None where it has none (a special token, unknown offsets)."""
    out: list[str | None] = []
    for text_id, (start, end) in zip(text_ids, offsets):
        text = lookup.get(int(text_id))
        out.append(text[int(start) : int(end)] if text is not None and 0 <= start < end <= len(text) else None)
    return out


def item_strings(table: pd.DataFrame, texts: pd.DataFrame | None = None) -> np.ndarray:
    """The string each item shows as, shape (n_items,).

    Tokens show their characters in the text (``text[char_start:char_end]``), so that a
    byte-level piece such as "ĠcafÃ©" reads " café", whitespace as written (views showing
    an item alone make it visible: :attr:`ItemText.shown`); a sentencepiece "▁" over no
    character of its own reads "␣"; special tokens and tokens without offsets show their
    piece (see :func:`lensnb.token_text.token_strings`). Words show their word, spans
    the words they cover, span pairs both spans, texts their text.
    """
    lookup = text_lookup(texts)
    if "token" in table:
        return token_strings(table, texts)
    for column in ("word", "span_text"):
        if column in table:
            return table[column].astype(str).to_numpy(dtype=object)
    if "word_start_1" in table and "word_start_2" in table:
        first, second = (_span_strings(table, texts, suffix) for suffix in ("_1", "_2"))
        return np.array([f"{a} \u2194 {b}" for a, b in zip(first, second)], dtype=object)
    if "word_start" in table:
        return _span_strings(table, texts, "")
    if "text" in table:
        return table["text"].astype(str).to_numpy(dtype=object)
    offsets = _char_offsets(table, texts) if lookup else None
    if offsets is not None:
        cut = _cut(lookup, table["text_id"].to_numpy(), offsets)
        return np.array([c if c is not None else "" for c in cut], dtype=object)
    if "text_id" in table and lookup:
        return np.array([lookup.get(int(t), f"text {t}") for t in table["text_id"]], dtype=object)
    return np.array([f"item {i}" for i in range(len(table))], dtype=object)


def _span_strings(table: pd.DataFrame, texts: pd.DataFrame | None, suffix: str) -> np.ndarray:
    """A span's words as written in its text, or "words a-b of text t" where they cannot be found."""
    lookup = text_lookup(texts)
    offsets = _span_offsets(table, texts, suffix)
    text_ids = table["text_id"].to_numpy()
    cut = _cut(lookup, text_ids, offsets) if offsets is not None else [None] * len(table)
    starts, ends = table[f"word_start{suffix}"].to_numpy(), table[f"word_end{suffix}"].to_numpy()
    return np.array(
        [c if c is not None else f"words {s}-{e} of text {t}" for c, s, e, t in zip(cut, starts, ends, text_ids)],
        dtype=object,
    )


def search_strings(table: pd.DataFrame, texts: pd.DataFrame | None, items: np.ndarray | None = None) -> np.ndarray:
    """What a text search compares with, shape (n_items,): characters stripped, pieces without markers.

    A token of only whitespace is compared as it shows ("⏎", "␣"), not as ``""``.
    """
    from lensnb.widgets.token_search import normalise_piece

    items = item_strings(table, texts) if items is None else items
    if "token" not in table:
        return np.array([str(s) for s in items], dtype=object)
    pieces = table["token"].astype(str).to_numpy(dtype=object)
    return np.array([_search_string(str(s), p, normalise_piece(p)) for s, p in zip(items, pieces)], dtype=object)


def _search_string(item: str, piece: str, plain_piece: str) -> str:
    """A token's search string: its piece without marker (a special token, one without offsets), else its
    characters stripped; either one of only whitespace as it shows ("⏎", "␣")."""
    return visible_whitespace(plain_piece if item == piece else item.strip() or item)


def written_strings(table: pd.DataFrame, texts: pd.DataFrame | None, items: np.ndarray | None = None) -> np.ndarray:
    """Each item's characters with their whitespace, shape (n_items,): what a query with markers is compared with.

    Tokens: their characters in the text; a sentencepiece "▁" over no character of its
    own " "; a piece (special, or without offsets) with "Ġ"/"▁" as a space and "Ċ" as a
    newline. Other items: as :func:`item_strings` shows them.
    """
    items = item_strings(table, texts) if items is None else items
    if "token" not in table:
        return np.array([str(s) for s in items], dtype=object)
    blank = blank_pieces(table, texts)
    pieces = table["token"].astype(str).to_numpy(dtype=object)
    written = [
        c if c is not None else " " if b else "".join(_MARKER_WHITESPACE.get(ch, ch) for ch in p)
        for c, b, p in zip(token_characters(table, texts), blank, pieces)
    ]
    return np.array(written, dtype=object)


def token_words(table: pd.DataFrame, texts: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The word each token belongs to, for searches that cross pieces ("café" = "Ca" + "fé").

    Returns
    -------
    (words, offsets, spans) or None
        ``words``: the word's characters (None for tokens outside words), shape
        (n_items,); ``offsets``: where the word starts in its text, shape (n_items,);
        ``spans``: the token's (start, end) characters, shape (n_items, 2). None when
        the table has no token offsets and word indices, or no texts.
    """
    lookup = text_lookup(texts)
    needed = {"token", "text_id", "word_index", "char_start", "char_end"}
    if not lookup or not needed <= set(table.columns) or len(table) == 0:
        return None
    text_ids = table["text_id"].to_numpy(np.int64)
    word_index = table["word_index"].to_numpy(np.int64)
    starts, ends = table["char_start"].to_numpy(np.int64), table["char_end"].to_numpy(np.int64)
    valid = (word_index >= 0) & (starts >= 0) & (ends > starts)
    frame = pd.DataFrame({"text_id": text_ids[valid], "word_index": word_index[valid],
                          "start": starts[valid], "end": ends[valid]})  # fmt: skip
    bounds = frame.groupby(["text_id", "word_index"]).agg(start=("start", "min"), end=("end", "max"))
    words = np.full(len(table), None, dtype=object)
    offsets = np.zeros(len(table), dtype=np.int64)
    found = {}
    for (text_id, index), (start, end) in zip(bounds.index, bounds.to_numpy()):
        text = lookup.get(int(text_id), "")
        piece = text[int(start) : int(end)]
        lead = len(piece) - len(piece.lstrip())  # a byte-level piece's leading space is not the word's
        found[(int(text_id), int(index))] = (piece.strip(), int(start) + lead)
    for row in np.flatnonzero(valid):
        words[row], offsets[row] = found[(int(text_ids[row]), int(word_index[row]))]
    return words, offsets, np.stack([starts, ends], axis=1)


def _clip_left(text: str, width: int) -> str:
    return text if len(text) <= width else ELLIPSIS + text[len(text) - width :]


def _clip_right(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width] + ELLIPSIS


def item_contexts(
    table: pd.DataFrame, texts: pd.DataFrame | None = None, width: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Text left and right of each item, shape (n_items,) each.

    Tokens (character offsets into their text) and spans (the characters of their words)
    take the characters around them; words (``pool_words``) take the neighbouring words
    of their text; texts have none.
    """
    n = len(table)
    left = np.full(n, "", dtype=object)
    right = np.full(n, "", dtype=object)
    lookup = text_lookup(texts)
    if n == 0 or "text_id" not in table:
        return left, right
    text_ids = table["text_id"].to_numpy()
    offsets = _char_offsets(table, texts) if lookup else None
    if offsets is not None:
        blank = blank_pieces(table, texts) if "token" in table else np.zeros(n, dtype=bool)
        for row in range(n):
            text = lookup.get(int(text_ids[row]), "")
            start, end = int(offsets[row, 0]), int(offsets[row, 1])
            if start < 0 or end <= start:  # a special token: no characters of its own
                continue
            end = start if blank[row] else end  # a sentencepiece "▁" stands before its word's first character
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
