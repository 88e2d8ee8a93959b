"""Raw text to words and sentences, keeping character offsets.

Where a dataset gives raw text rather than words (SemEval-2010 Task 8, GAP, the
Winograd schemas, SQuAD, HotpotQA, bAbI), its reader splits it with :func:`split_words`,
which keeps each word's character offsets, so annotations given as characters (GAP
mentions, SQuAD answers, SemEval's tags) land on whole words
(:func:`words_in_characters`, :func:`words_with_spans`). :func:`split_sentences` cuts
encyclopaedic prose into sentences (SQuAD's supporting facts).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache

import numpy as np

from lensnb.data.files import check_str
from lensnb.errors import LensError
from lensnb.examples import Span
from lensnb.flags import checks_flags

__all__ = [
    "find_phrase",
    "split_sentences",
    "split_words",
    "trim_range",
    "words_in_characters",
    "words_with_spans",
]

# Words: abbreviations with dots (U.S.), numbers with separators (3.5, 1,000, 10:30), English clitics split
# off as in the Penn Treebank (do|n't, John|'s), runs of letters and digits, and any other visible
# character on its own (punctuation, hyphens, symbols). Combining marks (accents written apart, Indic
# vowel signs, Arabic harakat, variation selectors) stay with the character before them, and the
# joiners ZWJ / ZWNJ inside a word or an emoji sequence too; the other invisible format characters
# (zero-width space, direction marks, byte-order mark, word joiner) are no word, like white space.
_JOINERS = "\u200c\u200d"


@lru_cache(maxsize=1)
def _word_pattern() -> re.Pattern:
    """The word pattern, built on first use (the classes of marks and format characters come from
    ``unicodedata``, a scan of the first three planes)."""
    marks, formats = [0xAD], []  # a soft hyphen stays in its word
    for code in range(0x30000):
        category = unicodedata.category(chr(code))
        if category in ("Mn", "Mc", "Me"):
            marks.append(code)
        elif category == "Cf" and code != 0xAD:
            formats.append(code)  # the joiners among them
    mark = "[" + _ranges(sorted(marks)) + "]"
    joiner = f"[{_JOINERS}]"
    visible = "[^\\s" + _ranges(formats) + "]"  # no white space, no format character
    return re.compile(
        rf"""
          (?:[^\W\d_]\.){{2,}}
        | \d+(?:[.,:]\d+)+
        | (?:[^\W_]|{mark})+?(?=n['’]t\b)
        | n['’]t\b
        | ['’](?:s|re|ve|ll|d|m)\b
        | [^\W_](?:[^\W_]|{mark}|{joiner}+(?=[^\W_]))*
        | {visible}{mark}*(?:{joiner}+{visible}{mark}*)*
        """,
        re.VERBOSE | re.IGNORECASE,
    )


def _ranges(codes: list[int]) -> str:
    """A regex character-class body for the sorted code points ``codes``, as ranges."""
    parts, start = [], None
    for i, code in enumerate(codes):
        if start is None:
            start = code
        if i + 1 == len(codes) or codes[i + 1] != code + 1:
            parts.append(re.escape(chr(start)) + ("" if start == code else "-" + re.escape(chr(code))))
            start = None
    return "".join(parts)


# Sentence ends: ., ! or ? (with closing quotes or brackets) then space and an upper-case letter, digit or opener.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_INITIALISM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # u.s, e.h, p.g (the last full stop is the match's)
#: Words that start sentences far more often than they follow a name such as "U.S." inside one.
_SENTENCE_STARTERS = frozenset(
    "the a an this that these those he she it they we i you his her its their our my there then in on at after "
    "before but however when while as since although though during for from by with if so yet also thus one some "
    "many most all both each such no what who which where why how".split()
)
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof gen col lt sgt capt gov sen rep rev hon mt ft vs etc no nos co corp inc ltd "
    "dept univ approx ca jan feb mar apr jun jul aug sep sept oct nov dec fig vol op ed eds e.g i.e".split()
)


def split_words(
    text: str, cuts: Iterable[int] = (), *, presplit: np.ndarray | None = None
) -> tuple[list[str], np.ndarray]:
    """Split ``text`` into words, keeping each word's character offsets.

    Parameters
    ----------
    text : str
    cuts : iterable of int
        Character positions where a word must end or begin (an annotation's boundaries):
        a word that straddles one is cut in two there.
    presplit : ndarray of int64, shape (n, 2), optional
        The offsets an earlier ``split_words(text)`` returned: only the cuts are applied
        (several questions on one paragraph, each with its own answer).

    Returns
    -------
    words : list of str, length n_words
    offsets : ndarray of int64, shape (n_words, 2)
        ``text[start:end] == word`` for each row.

    Notes
    -----
    A rule-based tokeniser close to the Penn Treebank's: clitics are split off
    (``do n't``, ``John 's``), abbreviations written with dots (``U.S.``) and numbers with
    separators (``1,000``, ``3.5``) stay whole, hyphens and other punctuation are words of
    their own (``well - known``; the treebank keeps hyphenated words whole).

    References
    ----------
    Marcus, Santorini & Marcinkiewicz (1993), "Building a large annotated corpus of
    English: the Penn Treebank" (the tokenisation approximated here).
    """
    check_str(text, "text")
    if presplit is None:
        bounds = [bound for match in _word_pattern().finditer(text) for bound in match.span()]
        offsets = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    else:
        offsets = np.asarray(presplit, dtype=np.int64).reshape(-1, 2)
    cuts = np.unique(np.fromiter(cuts, dtype=np.int64))
    if len(cuts) and len(offsets):
        word = np.searchsorted(offsets[:, 0], cuts, side="right") - 1
        valid = word >= 0
        inside = cuts[valid][(offsets[word[valid], 0] < cuts[valid]) & (cuts[valid] < offsets[word[valid], 1])]
        if len(inside):  # a cut inside a word ends one piece and starts the next
            offsets = np.stack([np.sort(np.r_[offsets[:, 0], inside]), np.sort(np.r_[offsets[:, 1], inside])], axis=1)
    return [text[start:end] for start, end in offsets.tolist()], offsets


def words_in_characters(offsets: np.ndarray, start: int, end: int) -> tuple[int, int]:
    """The words that overlap the characters ``[start, end)``, as ``(first, last + 1)``.

    Parameters
    ----------
    offsets : ndarray of int, shape (n_words, 2)
        Word offsets from :func:`split_words`.
    start, end : int
        A character range (end exclusive).

    Returns
    -------
    (int, int)
        Word indices, end exclusive; ``(k, k)`` (empty) when no word overlaps the range.
    """
    offsets = np.asarray(offsets)
    if offsets.ndim != 2 or offsets.shape[1:] != (2,) or offsets.dtype.kind not in "iu":
        raise LensError.bad_argument("offsets", offsets, "an integer array of shape (n_words, 2), from split_words")
    first = int(np.searchsorted(offsets[:, 1], start, side="right"))  # first word ending after start
    last = int(np.searchsorted(offsets[:, 0], end, side="left"))  # words starting before end
    return first, max(first, last)


def words_with_spans(text: str, ranges: Mapping[str, tuple[int, int]]) -> tuple[list[str], dict[str, Span]]:
    """Split ``text`` into words cut at the bounds of named character ranges, and each range's words.

    Parameters
    ----------
    text : str
    ranges : mapping of str to (int, int)
        Named character ranges of ``text`` (end exclusive): mentions, nominals.

    Returns
    -------
    words : list of str
        :func:`split_words` of ``text`` with every range's bounds as cuts, so each range
        is whole words.
    spans : dict of str to Span
        ``Span(first, stop, name)`` of each range's words (:func:`words_in_characters`),
        in the order of ``ranges``.
    """
    check_str(text, "text")
    words, offsets = split_words(text, cuts=[bound for span in ranges.values() for bound in span])
    return words, {name: Span(*words_in_characters(offsets, *ranges[name]), name) for name in ranges}


def trim_range(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` narrowed to exclude the white space at either end; ``(start, start)`` if all is white."""
    piece = text[start:end]
    if not piece.strip():
        return start, start
    return start + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip())


@checks_flags
def find_phrase(phrase: str, text: str, *, ignore_case: bool = False) -> list[tuple[int, int]]:
    """Character ranges of every occurrence of ``phrase`` in ``text`` on word boundaries, in order."""
    pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", re.IGNORECASE if ignore_case else 0)
    return [match.span() for match in pattern.finditer(text)]


def _starts_a_sentence(text: str, position: int) -> bool:
    """Whether the word at ``position`` (after opening quotes or brackets) is a usual first word of a sentence."""
    following = text[position : position + 24].lstrip("\"'“‘([").split(maxsplit=1)
    return bool(following) and following[0].rstrip(",;:").lower() in _SENTENCE_STARTERS


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character ranges of the sentences of ``text``, white space trimmed.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of (int, int)
        ``(start, end)`` of each sentence, in order, end exclusive.

    Notes
    -----
    A rule: a sentence ends at ``.``, ``!`` or ``?`` (and any closing quotes or brackets)
    followed by white space and an upper-case letter, a digit or an opening quote, unless
    the word before the full stop is a known abbreviation (``Dr.``, ``Jan.``, ``e.g.``), a
    single letter (an initial: ``John F. Kennedy``) or letters joined by full stops
    (``U.S. Army``, ``E.H. Schulz``) followed by a word that rarely starts a sentence (``in
    the U.S. Then`` ends one: "Then", "The", "He"... do). Good enough for encyclopaedic
    prose such as SQuAD's Wikipedia paragraphs; not a trained splitter.
    """
    check_str(text, "text")
    ranges, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        stop = match.start() + len(match.group(0).rstrip())
        previous = text[max(start, match.start() - 12) : match.start()].split()
        last_word = previous[-1].lower().lstrip("(\"'“‘") if previous else ""
        if text[match.start()] == "." and (
            last_word in _ABBREVIATIONS
            or (len(last_word) == 1 and last_word.isalpha())
            or (_INITIALISM.fullmatch(last_word) and not _starts_a_sentence(text, match.end()))
        ):
            continue
        ranges.append((start, stop))
        start = match.end()
    ranges.append((start, len(text)))
    trimmed = [trim_range(text, begin, end) for begin, end in ranges]
    return [(begin, end) for begin, end in trimmed if end > begin]
