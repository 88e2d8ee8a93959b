"""How tokens read as text: their characters as written, never their byte-level pieces.

Byte-level BPE (GPT-2, Llama-3) names tokens by pieces such as "ĠcafÃ©"; the token table
keeps each token's character offsets in its text, and everything lensnb shows reads
those characters instead (" café"). Three rules, shared by the relevance HTML and the
widgets (core, so both may use it):

- :func:`token_strings`: what each token reads as on its own, its characters as
  written. A sentencepiece stand-alone "▁" that the token table puts in no word (it
  covers no character of the text, though its offsets are those of the word's first
  character) reads "␣", never the word's first character.
- :func:`visible_whitespace`: how a token of only whitespace shows where a view shows
  it alone (hovers, labels, hit lists): "⏎" for a newline, "␣" for a space, "⇥" for a
  tab, "␍" for a carriage return.
- :func:`joined_pieces`: tokens as one line shows them (a shaded text, a bar chart).
  Byte-level BPE splits a character of several bytes over several tokens that all carry
  the character's offsets; each character is shown once, by the first token that holds
  it (``text[max(start, previous_end):end]``), and a token left with no character of its
  own shows :data:`BYTE_MARKER` ("·"), so that it can still be hovered. The hover keeps
  the token's whole characters and says "byte piece k of n". Whitespace stays as
  written, so the line reads as the text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lensnb.errors import LensError

__all__ = [
    "BYTE_MARKER",
    "NEWLINE_MARKER",
    "SPACE_MARKER",
    "Piece",
    "blank_pieces",
    "is_space_piece",
    "marks_absent_space",
    "text_lookup",
    "joined_pieces",
    "token_characters",
    "token_strings",
    "visible_whitespace",
]

#: What a token shows in a joined line when an earlier token already showed all its characters.
BYTE_MARKER = "\u00b7"
#: How a space shows when it is a token's only character ("Ġ", "▁").
SPACE_MARKER = "\u2423"
#: How a newline shows when it is a token's only character ("Ċ", "<0x0A>").
NEWLINE_MARKER = "\u23ce"
_VISIBLE = {"\n": NEWLINE_MARKER, "\t": "\u21e5", "\r": "\u240d"}  # any other whitespace: SPACE_MARKER
_SPACE_PIECE_CHARACTERS = "\u2581\u0120 \t\n\r"  # sentencepiece's metaspace, byte-level BPE's space, whitespace


def is_space_piece(piece: str) -> bool:
    """Whether a token string only stands for a space: not empty, and only "▁" (sentencepiece),
    "Ġ" (byte-level BPE) and whitespace."""
    return bool(piece) and not piece.strip(_SPACE_PIECE_CHARACTERS)


def marks_absent_space(piece: str, covered: str) -> bool:
    """Whether a space piece (:func:`is_space_piece`) whose offsets cover ``covered`` marks a space
    that is not in the text: its characters are not whitespace and hold none of the piece's own
    (a "▁" written in the text is a word, not a marker).

    Sentencepiece tokenizers (Llama-1/2, Mistral, T5) prepend "▁" to a text; when the first
    word does not merge with it, the stand-alone "▁" gets the offsets of the word's first
    character. The token table (from the tokenizer's output) and the views (from a token
    table) both tell such markers by this rule.
    """
    return not covered.isspace() and not set(covered) & set(piece)


class Piece(str):
    """A token as a joined line shows it (the string itself), with ``hover``: what it reads as alone.

    Parameters
    ----------
    shown : str
        The characters the line shows for the token.
    hover : str, optional
        The token's whole characters (whitespace made visible), with a note for a byte
        piece; default ``shown``.
    """

    hover: str

    def __new__(cls, shown: str, hover: str | None = None) -> Piece:
        piece = super().__new__(cls, shown)
        piece.hover = str(shown) if hover is None else hover
        return piece


def visible_whitespace(chars: str) -> str:
    """A string of only whitespace made visible ("\\n" -> "⏎", " " -> "␣"); any other string as it is."""
    if not chars or not chars.isspace():
        return chars
    return "".join(_VISIBLE.get(c, SPACE_MARKER) for c in chars)


def text_lookup(texts: pd.DataFrame | None) -> dict[int, str]:
    """Each text's string by its id, from a text table (``text_id``, ``text``); empty without one."""
    if texts is None or "text" not in texts or "text_id" not in texts:
        return {}
    return {int(t): str(s) for t, s in zip(texts["text_id"], texts["text"])}


@dataclass(frozen=True)
class _Located:
    """A token table's tokens located in their texts, worked out once per call.

    ``spans``: the characters each token holds (n_tokens, 2), (-1, -1) for specials,
    blank pieces and tokens without offsets; ``blank``: :func:`blank_pieces`."""

    lookup: dict[int, str]
    text_ids: np.ndarray
    spans: np.ndarray
    blank: np.ndarray


def _locate(tokens: pd.DataFrame, texts: pd.DataFrame | None) -> _Located:
    if not isinstance(tokens, pd.DataFrame) or "token" not in tokens.columns:
        columns = list(tokens.columns) if isinstance(tokens, pd.DataFrame) else type(tokens).__name__
        raise LensError.bad_argument(
            "tokens", columns, "a token table with a 'token' column (Activations.tokens, Relevance.tokens)"
        )
    lookup = text_lookup(texts)
    offsets = _offsets(tokens, lookup)
    blank = _blank(tokens, lookup, offsets)
    spans = offsets.copy()
    spans[blank] = -1
    text_ids = tokens["text_id"].to_numpy(np.int64) if "text_id" in tokens else np.zeros(len(tokens), np.int64)
    return _Located(lookup, text_ids, spans, blank)


def _offsets(tokens: pd.DataFrame, lookup: dict[int, str]) -> np.ndarray:
    """Each token's (start, end) characters in its text, shape (n_tokens, 2); (-1, -1) where it has none."""
    out = np.full((len(tokens), 2), -1, dtype=np.int64)
    if not lookup or not {"text_id", "char_start", "char_end"} <= set(tokens.columns):
        return out
    lengths = pd.Series(tokens["text_id"].to_numpy(np.int64)).map({t: len(s) for t, s in lookup.items()})
    lengths = lengths.fillna(-1).to_numpy(np.int64)  # -1: a text not in the text table
    starts, ends = tokens["char_start"].to_numpy(np.int64), tokens["char_end"].to_numpy(np.int64)
    valid = (starts >= 0) & (starts < ends) & (ends <= lengths)
    out[valid] = np.stack([starts[valid], ends[valid]], axis=1)
    return out


def blank_pieces(tokens: pd.DataFrame, texts: pd.DataFrame | None) -> np.ndarray:
    """Which tokens are only a space marker over a character that is not theirs, shape (n_tokens,) bool.

    Such a token: not special, in no word (``word_index`` -1, where the table says), a
    space piece (:func:`is_space_piece`) that marks an absent space
    (:func:`marks_absent_space`). The token table applies the same rule to the
    tokenizer's output; this reads a token table, as views get it.
    """
    return _locate(tokens, texts).blank


def _blank(tokens: pd.DataFrame, lookup: dict[int, str], offsets: np.ndarray) -> np.ndarray:
    blank = np.zeros(len(tokens), dtype=bool)
    if not lookup:
        return blank
    candidates = offsets[:, 1] > offsets[:, 0]
    if "word_index" in tokens:
        candidates &= tokens["word_index"].to_numpy(np.int64) < 0
    if "special" in tokens:
        candidates &= ~tokens["special"].to_numpy(bool)
    pieces, text_ids = tokens["token"].astype(str).to_numpy(), tokens["text_id"].to_numpy(np.int64)
    for row in np.flatnonzero(candidates):
        piece = pieces[row]
        if is_space_piece(piece):
            covered = lookup[int(text_ids[row])][offsets[row, 0] : offsets[row, 1]]
            blank[row] = marks_absent_space(piece, covered)
    return blank


def _characters(located: _Located) -> list[str | None]:
    columns = (located.text_ids.tolist(), located.spans[:, 0].tolist(), located.spans[:, 1].tolist())
    return [None if s < 0 else located.lookup[t][s:e] for t, s, e in zip(*columns)]  # Python ints: a fast loop


def token_characters(tokens: pd.DataFrame, texts: pd.DataFrame | None) -> list[str | None]:
    """Each token's characters in its text as written; None for a token holding none of its own.

    A special token, a token without offsets (or without its text) and a blank piece
    (:func:`blank_pieces`) hold none.
    """
    return _characters(_locate(tokens, texts))


def _strings(tokens: pd.DataFrame, located: _Located) -> np.ndarray:
    pieces = tokens["token"].astype(str).to_numpy(dtype=object)
    shown = [
        c if c is not None else SPACE_MARKER if b else p for c, b, p in zip(_characters(located), located.blank, pieces)
    ]
    return np.array(shown, dtype=object)


def token_strings(tokens: pd.DataFrame, texts: pd.DataFrame | None) -> np.ndarray:
    """What each token reads as on its own, shape (n_tokens,): its characters in its text, as written.

    A blank piece (:func:`blank_pieces`) shows :data:`SPACE_MARKER`; a special token or
    one without offsets shows its piece. Views showing a token alone pass the string
    through :func:`visible_whitespace`.
    """
    return _strings(tokens, _locate(tokens, texts))


def _overlap_groups(text_ids: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """A group per run of consecutive tokens sharing characters (the bytes of one character), -1 for none."""
    groups = np.full(len(spans), -1, dtype=np.int64)
    group, text, end = -1, None, -1
    for row, (start, stop) in enumerate(spans):
        if start < 0:
            continue
        if text_ids[row] != text or start >= end:
            group, text, end = group + 1, text_ids[row], stop
        end = max(end, stop)
        groups[row] = group
    return groups


def _byte_notes(text_ids: np.ndarray, spans: np.ndarray) -> list[str]:
    """Each token's note: ' (byte piece k of n)' in a group of tokens sharing characters, else ''."""
    groups = _overlap_groups(text_ids, spans)
    sizes = np.bincount(groups[groups >= 0]) if (groups >= 0).any() else np.zeros(0, np.int64)
    notes, seen = [""] * len(spans), np.zeros(len(sizes), dtype=np.int64)
    for row in np.flatnonzero(groups >= 0):
        group = groups[row]
        seen[group] += 1
        if sizes[group] > 1:
            notes[row] = f" (byte piece {seen[group]} of {sizes[group]})"
    return notes


def joined_pieces(tokens: pd.DataFrame, texts: pd.DataFrame | None) -> list[Piece]:
    """Tokens as one line shows them, in table order: each character of a text once.

    Parameters
    ----------
    tokens : DataFrame
        Token table rows (``token``, ``text_id``, ``char_start``, ``char_end``; ``word_index``
        and ``special`` where known), each text's tokens in order.
    texts : DataFrame, optional
        The text table (``text_id``, ``text``).

    Returns
    -------
    list of Piece
        A token shows the characters of its span that no earlier token of its text
        showed, ``text[max(start, previous_end):end]``, or :data:`BYTE_MARKER` when none
        are left; whitespace stays as written. Special tokens and tokens without offsets
        show their piece, blank pieces :data:`SPACE_MARKER`. Each piece's ``hover`` is
        :func:`token_strings`' string, whitespace made visible, with "(byte piece k of
        n)" for tokens that share a character.
    """
    located = _locate(tokens, texts)
    alone = [visible_whitespace(s) for s in _strings(tokens, located)]
    spans, lookup, text_ids = located.spans, located.lookup, located.text_ids
    notes = _byte_notes(text_ids, spans)
    shown_until: dict[int, int] = {}  # per text: the end of the characters shown so far
    pieces = []
    for row, (start, end) in enumerate(spans):
        if start < 0:
            pieces.append(Piece(alone[row], alone[row]))
            continue
        text_id = int(text_ids[row])
        begin = max(start, shown_until.get(text_id, start))
        shown_until[text_id] = max(end, shown_until.get(text_id, end))
        pieces.append(Piece(lookup[text_id][begin:end] or BYTE_MARKER, alone[row] + notes[row]))
    return pieces
