"""What extraction consumes: plain texts or word-level annotated examples.

An :class:`Example` is a sentence (or document) as words, with per-word label
columns, labelled spans and span pairs (word indices, end exclusive) and
text-level labels. Plain strings become examples whose words are the
whitespace-separated pieces of the text. Everything is validated here, at the
boundary, so the extraction loop never meets malformed input.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lensnb.errors import LensError

__all__ = [
    "Example",
    "Span",
    "SpanPair",
    "as_examples",
    "inputs_digest",
    "word_text",
    "RESERVED_TOKEN_COLUMNS",
    "RESERVED_LABEL_NAMES",
    "RESERVED_SPAN_COLUMNS",
]

#: Columns of the token table that user label columns may not reuse.
RESERVED_TOKEN_COLUMNS = (
    "text_id",
    "position",
    "token",
    "token_id",
    "word_index",
    "char_start",
    "char_end",
    "special",
    "first_piece",
    "last_piece",
    "window",
)
#: Label names taken by the tables: the token table's columns and the word table's text.
RESERVED_LABEL_NAMES = (*RESERVED_TOKEN_COLUMNS, "word")
#: Bookkeeping columns of the span and span-pair tables (everything but their ``label``).
RESERVED_SPAN_COLUMNS = (
    "span_id", "pair_id", "text_id", "complete",
    *(f"{name}{side}" for side in ("", "_1", "_2") for name in ("word_start", "word_end", "token_start", "token_end")),
)  # fmt: skip
#: Columns of the text table that text-level labels may not reuse.
RESERVED_TEXT_COLUMNS = ("text_id", "text", "n_words", "n_tokens", "n_windows", "token_start", "token_end")

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Span:
    """A labelled run of words ``words[start:end]`` (end exclusive).

    ``label`` is a scalar, or a tuple of labels for multi-label tasks (edge probing).
    """

    start: int
    end: int
    label: Any = None


@dataclass(frozen=True)
class SpanPair:
    """Two spans of the same example with a label for the pair (relations, coreference)."""

    first: Span
    second: Span
    label: Any = None


@dataclass
class Example:
    """One text as words, with word, span, span-pair and text-level labels.

    Parameters
    ----------
    words : sequence of str, length n_words
        The words, in order. None may be empty or whitespace only.
    labels : mapping of str to sequence, each of length n_words
        Per-word label columns (e.g. ``{"pos": [...], "ner": [...]}``).
    spans : sequence of Span
        Labelled word spans, ``0 <= start < end <= n_words``.
    span_pairs : sequence of SpanPair
        Labelled pairs of spans.
    meta : mapping of str to scalar
        Text-level labels and identifiers (sentence label, document id...).
    text : str, optional
        The original text. The words must occur in it in order; their character
        offsets are found there. By default the words are joined by single spaces.
    """

    words: Sequence[str]
    labels: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    spans: Sequence[Span] = ()
    span_pairs: Sequence[SpanPair] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    text: str | None = None
    _offsets: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _offsets_of: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def resolved_text(self) -> str:
        """The text the tokenizer sees."""
        return self.text if self.text is not None else " ".join(self.words)

    def word_offsets(self) -> np.ndarray:
        """Character offsets of each word in :meth:`resolved_text`, shape (n_words, 2).

        Computed once, and again if the words or the text were changed since.
        """
        if isinstance(self.words, TextWords):  # a plain text's words are cut from its offsets
            return self._offsets
        key = (self.text, tuple(self.words))
        if self._offsets is None or self._offsets_of != key:
            self._offsets, self._offsets_of = self._find_offsets(), key
        return self._offsets

    def _find_offsets(self) -> np.ndarray:
        text = self.resolved_text()
        offsets, cursor = [], 0
        for index, word in enumerate(self.words):
            start = _find_word(text, word, cursor)
            if start < 0:
                raise LensError.bad_argument(
                    f"words[{index}]",
                    word,
                    f"a word found in the example's text after character {cursor}",
                    "The words must appear in the text in order.",
                )
            offsets.append((start, start + len(word)))
            cursor = start + len(word)
        return np.asarray(offsets, dtype=np.int64).reshape(-1, 2)


def with_word_offsets(example: Example, offsets: np.ndarray) -> Example:
    """``example`` with its words' character offsets given, not searched for: for readers that
    know them (the text's own places of words a search could find earlier, in a separator say).

    Parameters
    ----------
    example : Example
    offsets : ndarray of int, shape (n_words, 2)
        ``text[start:end] == word`` for each word, in order, not overlapping.

    Returns
    -------
    Example
        The same object (kept as long as its words and text stay as they are).
    """
    text = example.resolved_text()
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    if len(offsets) != len(example.words) or any(
        text[start:end] != word for (start, end), word in zip(offsets.tolist(), example.words)
    ) or (len(offsets) > 1 and bool(np.any(offsets[1:, 0] < offsets[:-1, 1]))):  # fmt: skip
        raise LensError.bad_argument("offsets", offsets, "the character offsets of the example's words, in order")
    example._offsets, example._offsets_of = offsets, (example.text, tuple(example.words))
    return example


def _find_word(text: str, word: str, cursor: int) -> int:
    """Where ``word`` starts in ``text`` at or after ``cursor`` (-1: nowhere).

    Its first occurrence, unless that one lies inside another run of letters away from
    the previous word (the "E" of a separator "[SEP]" before a context word "E"): then
    the first occurrence that starts a word, where there is one. A word that goes on
    from the previous one ("do" + "n't", an answer's bound cutting "golden") starts
    right at ``cursor`` and is taken as it is."""
    first = text.find(word, cursor)
    start = first
    if word[:1].isalnum():
        while start > cursor and text[start - 1].isalnum():
            start = text.find(word, start + 1)
            if start < 0:
                return first
    return start


class TextWords(Sequence):
    """The whitespace-separated words of a text, cut from it on demand.

    Plain-text inputs keep only their text and an (n_words, 2) array of offsets, not a
    Python string per word: a corpus of plain texts costs little memory before the model
    has even run.
    """

    __slots__ = ("_text", "_offsets")

    def __init__(self, text: str, offsets: np.ndarray):
        self._text, self._offsets = text, offsets

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        start, end = self._offsets[index]
        return self._text[start:end]

    def __repr__(self) -> str:
        return repr(list(self))


def example_from_text(text: str) -> Example:
    """An :class:`Example` whose words are the whitespace-separated pieces of ``text``."""
    offsets = np.fromiter((bound for match in _WORD.finditer(text) for bound in match.span()), dtype=np.int64).reshape(
        -1, 2
    )
    example = Example(words=TextWords(text, offsets), text=text)
    example._offsets = offsets
    return example


def as_examples(inputs: Any, name: str = "inputs") -> list[Example]:
    """Validate ``inputs`` and return them as a list of :class:`Example`.

    Accepts one string, a sequence of strings, a sequence of :class:`Example`, or a
    sequence of mappings with the fields of :class:`Example`.
    """
    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, Mapping) or not isinstance(inputs, Iterable):
        raise LensError.bad_argument(name, inputs, "a string, a list of strings, or a list of lensnb.Example")
    examples = []
    for index, item in enumerate(inputs):
        where = f"{name}[{index}]"
        if isinstance(item, str):
            if not item.strip():
                raise LensError.bad_argument(where, item, "a non-empty text (not only whitespace)")
            _check_unicode(item, where)
            examples.append(example_from_text(item))  # valid by construction
            continue
        elif isinstance(item, Example):
            example = item
        elif isinstance(item, Mapping):
            try:
                example = Example(**item)
            except TypeError as error:
                raise LensError.bad_argument(
                    where, sorted(item), "a mapping with the fields of lensnb.Example", str(error)
                ) from None
        else:
            raise LensError.bad_argument(where, item, "a string, a lensnb.Example or a mapping of Example fields")
        _validate(example, where)
        examples.append(example)
    if not examples:
        raise LensError.bad_argument(name, inputs, "at least one text or example")
    return examples


def _validate(example: Example, where: str) -> None:
    words = example.words
    if isinstance(words, str) or not isinstance(words, Sequence):
        raise LensError.bad_argument(f"{where}.words", words, "a list of strings")
    if len(words) == 0:
        raise LensError.bad_argument(f"{where}.words", words, "at least one word")
    for i, word in enumerate(words):
        if not isinstance(word, str):
            raise LensError.bad_argument(f"{where}.words[{i}]", word, "a string")
        if not word.strip():
            raise LensError.bad_argument(f"{where}.words[{i}]", word, "a word with a visible character")
        if example.text is None:
            _check_unicode(word, f"{where}.words[{i}]")
    if example.text is not None:
        if not isinstance(example.text, str) or not example.text.strip():
            raise LensError.bad_argument(f"{where}.text", example.text, "a non-empty string or None")
        _check_unicode(example.text, f"{where}.text")
        try:
            example.word_offsets()  # raises if the words are not found in order
        except LensError as error:
            raise LensError(f"{where}.{error}") from None
    for field_name, value in (("labels", example.labels), ("meta", example.meta)):
        if not isinstance(value, Mapping):
            expected = "a list with one label per word" if field_name == "labels" else "a scalar"
            raise LensError.bad_argument(f"{where}.{field_name}", value, f"a mapping of name to {expected}")
    for field_name in ("spans", "span_pairs"):
        value = getattr(example, field_name)
        if isinstance(value, (str, Span, SpanPair)) or not isinstance(value, Sequence):
            kind = "lensnb.Span" if field_name == "spans" else "lensnb.SpanPair"
            raise LensError.bad_argument(f"{where}.{field_name}", value, f"a list of {kind} (possibly empty)")
    for field_name in ("labels", "meta"):
        for column in getattr(example, field_name):
            if not isinstance(column, str):
                raise LensError.bad_argument(f"{where}.{field_name}", column, "label names that are strings")
    for column, values in example.labels.items():
        if column in RESERVED_LABEL_NAMES:
            raise LensError.bad_argument(f"{where}.labels", column, f"a label name other than {RESERVED_LABEL_NAMES}")
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise LensError.bad_argument(f"{where}.labels[{column!r}]", values, "a list with one label per word")
        if len(values) != len(words):
            raise LensError.bad_argument(
                f"{where}.labels[{column!r}]",
                f"{len(values)} labels",
                f"{len(words)} labels, one per word",
            )
    for column in example.meta:
        if column in RESERVED_TEXT_COLUMNS:
            raise LensError.bad_argument(f"{where}.meta", column, f"a label name other than {RESERVED_TEXT_COLUMNS}")
    for i, span in enumerate(example.spans):
        _validate_span(span, len(words), f"{where}.spans[{i}]")
    for i, pair in enumerate(example.span_pairs):
        if not isinstance(pair, SpanPair):
            raise LensError.bad_argument(f"{where}.span_pairs[{i}]", pair, "a lensnb.SpanPair")
        _validate_span(pair.first, len(words), f"{where}.span_pairs[{i}].first")
        _validate_span(pair.second, len(words), f"{where}.span_pairs[{i}].second")


_DROPPED_BY_NORMALISERS = frozenset({"Mn", "Mc", "Me", "Cf"})  # combining marks, format characters


def word_text(text: str, start: int, end: int) -> str:
    """A word as written: ``text[start:end]`` (its first piece's start, its last piece's
    end), extended over the combining marks and format characters right after it, which
    tokenizers' normalisers drop from the pieces' offsets (the accent of a decomposed
    "café", the variation selector of "❤️"), without surrounding whitespace."""
    while end < len(text) and unicodedata.category(text[end]) in _DROPPED_BY_NORMALISERS:
        end += 1
    return text[start:end].strip()


def unencodable_value(examples: Sequence[Example], name: str = "inputs") -> LensError:
    """The error for the first label, span label or meta value that is a string UTF-8
    cannot encode (an unpaired surrogate), naming where it is. Called only after an
    encoding failed, so that valid inputs pay nothing for the search."""
    for i, example in enumerate(examples):
        places = [
            *((f"labels[{column!r}][{j}]", value) for column, values in example.labels.items()
              for j, value in enumerate(values)),
            *((f"spans[{j}].label", span.label) for j, span in enumerate(example.spans)),
            *((f"span_pairs[{j}].label", pair.label) for j, pair in enumerate(example.span_pairs)),
            *((f"meta[{key!r}]", value) for key, value in example.meta.items()),
        ]  # fmt: skip
        for place, value in places:
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as error:
                    return _surrogate_error(f"{name}[{i}].{place}", value, error)
    return LensError.bad_argument(
        name, "a value UTF-8 cannot encode", "valid Unicode text in every label and meta value"
    )


def _check_unicode(text: str, where: str) -> None:
    """Refuse text the tokenizer cannot encode: an unpaired surrogate (half of a character
    outside the Basic Multilingual Plane, e.g. from a bad decode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _surrogate_error(where, text, error) from None


def _surrogate_error(where: str, text: str, error: UnicodeEncodeError) -> LensError:
    return LensError.bad_argument(
        where, f"a string with the unpaired surrogate {text[error.start]!r} at character {error.start}",
        "valid Unicode text", "Decode the source with errors='replace', or fix its encoding.",
    )  # fmt: skip


def _validate_span(span: Any, n_words: int, where: str) -> None:
    if not isinstance(span, Span):
        raise LensError.bad_argument(where, span, "a lensnb.Span")
    if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in (span.start, span.end)):
        raise LensError.bad_argument(where, span, "integer word indices start and end")
    if not 0 <= span.start < span.end <= n_words:
        raise LensError.bad_argument(
            where,
            f"Span(start={span.start}, end={span.end})",
            f"0 <= start < end <= {n_words} (the number of words; end is exclusive)",
        )


def inputs_digest(examples: Sequence[Example]) -> str:
    """A sha256 digest of the inputs' text, words and labels, in order.

    Two extractions with the same digest saw the same data; a store records it so it
    can refuse to be resumed or reused with other inputs.
    """
    digest = hashlib.sha256()
    for example in examples:
        if isinstance(example.words, TextWords):  # a plain text: its words follow from it
            digest.update(json.dumps({"text": example.text}).encode("utf-8"))
            digest.update(b"\n")
            continue
        record = {
            "text": example.resolved_text(),
            "words": list(example.words),
            "labels": {k: list(v) for k, v in example.labels.items()},
            "spans": [[s.start, s.end, s.label] for s in example.spans],
            "pairs": [[p.first.start, p.first.end, p.second.start, p.second.end, p.label] for p in example.span_pairs],
            "meta": dict(example.meta),
        }
        digest.update(json.dumps(record, sort_keys=True, default=_digest_value).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _digest_value(value: Any) -> Any:
    """What a label or meta value JSON cannot write counts as in :func:`inputs_digest`: numpy
    scalars and arrays as the Python values they hold (``np.int64(1)`` as ``1``), anything
    else as its type and text, so that ``1`` and ``"1"`` (a table of ints, a table of
    strings) never digest alike."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return {"type": f"{type(value).__module__}.{type(value).__qualname__}", "text": str(value)}
