"""SemEval-2010 Task 8 (relations between two marked nominals), and the word splitter the readers share.

The official files (``TRAIN_FILE.TXT``, ``TEST_FILE_FULL.TXT``) hold one record per
sentence::

    8001<TAB>"The most common <e1>audits</e1> were about <e2>waste</e2> and recycling."
    Message-Topic(e1,e2)
    Comment: Assuming an audit = an audit document.
    <blank line>

:func:`read_semeval2010` turns each record into an :class:`~lensnb.examples.Example` whose
words are the sentence without its tags and whose one :class:`~lensnb.examples.SpanPair`
joins the ``e1`` words to the ``e2`` words, labelled with the relation.

:func:`split_words` is the tokeniser every reader of this package uses where a dataset
gives raw text: it keeps each word's character offsets, so annotations given as
characters (GAP mentions, SQuAD answers, the tags here) land on whole words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from lensnb.errors import LensError
from lensnb.examples import Example, Span, SpanPair

__all__ = [
    "RELATION_TYPES",
    "read_semeval2010",
    "split_words",
    "words_in_characters",
    "resolve_data_file",
]

#: The nine relation types of SemEval-2010 Task 8 and ``Other`` (Hendrickx et al. 2010).
RELATION_TYPES = (
    "Cause-Effect",
    "Component-Whole",
    "Content-Container",
    "Entity-Destination",
    "Entity-Origin",
    "Instrument-Agency",
    "Member-Collection",
    "Message-Topic",
    "Product-Producer",
    "Other",
)

# Words: abbreviations with dots (U.S.), numbers with separators (3.5, 1,000, 10:30), English clitics split
# off as in the Penn Treebank (do|n't, John|'s), runs of letters and digits, and any other visible
# character on its own (punctuation, hyphens, symbols).
_WORD = re.compile(
    r"""
      (?:[^\W\d_]\.){2,}
    | \d+(?:[.,:]\d+)+
    | [^\W_]+?(?=n['’]t\b)
    | n['’]t\b
    | ['’](?:s|re|ve|ll|d|m)\b
    | [^\W_]+
    | \S
    """,
    re.VERBOSE | re.IGNORECASE,
)

_SENTENCE_LINE = re.compile(r"^(\d+)\s+\"(.*)\"\s*$")
_RELATION_LINE = re.compile(r"^([A-Za-z]+-[A-Za-z]+|Other)(?:\((e[12]),(e[12])\))?$")
_TAG = re.compile(r"</?e[12]>")
_TAG_ORDER = ["<e1>", "</e1>", "<e2>", "</e2>"]

_SEMEVAL_FILES = {
    split: (name, f"{folder}/{name}", f"SemEval2010_task8_all_data/{folder}/{name}")
    for split, folder, name in (
        ("train", "SemEval2010_task8_training", "TRAIN_FILE.TXT"),
        ("test", "SemEval2010_task8_testing_keys", "TEST_FILE_FULL.TXT"),
    )
}


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
    """
    if presplit is None:
        bounds = [bound for match in _WORD.finditer(text) for bound in match.span()]
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
    first = int(np.searchsorted(offsets[:, 1], start, side="right"))  # first word ending after start
    last = int(np.searchsorted(offsets[:, 0], end, side="left"))  # words starting before end
    return first, max(first, last)


def resolve_data_file(
    path: str | os.PathLike, split: str | None, layout: Mapping[str, Sequence[str]], dataset: str
) -> Path:
    """The file to read: ``path`` itself, or the file of ``split`` in the folder ``path``.

    Parameters
    ----------
    path : str or Path
        A file, or a folder laid out as the official download (``layout[split]`` lists
        the file's possible places in it, relative to the folder).
    split : str, optional
        Required when ``path`` is a folder; must be None when it is a file.
    layout : mapping of str to sequence of str
    dataset : str
        The dataset's name, for messages.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise LensError.bad_argument("path", path, f"a path to a {dataset} file or folder")
    path = Path(path).expanduser()
    if path.is_file():
        if split is not None:
            raise LensError.bad_argument(
                "split", split, "None when path is a file", "Pass the folder to choose a split by name."
            )
        return path
    if not path.is_dir():
        raise LensError.bad_argument("path", str(path), f"an existing {dataset} file or folder")
    if split not in layout:
        raise LensError.bad_argument("split", split, f"one of {sorted(layout)} when path is a folder")
    for relative in layout[split]:
        candidate = path / relative
        if candidate.is_file():
            return candidate
    which = f"the {dataset} file" if split is None else f"the {dataset} {split!r} file"
    raise LensError.bad_argument("path", str(path), f"a folder holding {which} as one of {list(layout[split])}")


def read_semeval2010(path: str | os.PathLike, split: str | None = None, *, directed: bool = True) -> list[Example]:
    """Read SemEval-2010 Task 8 relation examples.

    Parameters
    ----------
    path : str or Path
        ``TRAIN_FILE.TXT`` or ``TEST_FILE_FULL.TXT`` of the official release, or a folder
        holding them (flat, or the release's ``SemEval2010_task8_training/`` and
        ``SemEval2010_task8_testing_keys/`` sub-folders, possibly inside
        ``SemEval2010_task8_all_data/``).
    split : {"train", "test"}, optional
        Which file to read when ``path`` is a folder.
    directed : bool
        Label each pair with the directed relation, e.g. ``"Cause-Effect(e2,e1)"``
        (19 classes, as the official scorer counts them), or with its type only, e.g.
        ``"Cause-Effect"`` (10 classes; the official score averages over these 9 + Other).

    Returns
    -------
    list of Example
        One per sentence (8,000 train, 2,717 test). ``text`` is the sentence without its
        tags and quotes; ``words`` its words (:func:`split_words`, cut at the tags);
        ``span_pairs`` one ``SpanPair(e1, e2, relation)``; ``meta``: ``id`` (the record's
        number), ``relation`` (directed), ``relation_type`` (undirected), ``direction``
        (``"e1,e2"``, ``"e2,e1"`` or None for ``Other``), ``e1`` and ``e2`` (the nominals'
        text) and ``comment``.

    Raises
    ------
    LensError
        For a missing file, or a malformed record: the message names the file, the line
        and what was expected there.

    References
    ----------
    Hendrickx et al. 2010, "SemEval-2010 Task 8: Multi-Way Classification of Semantic
    Relations between Pairs of Nominals" (the format); Tenney et al. 2019, "What do you
    learn from context?" (relations as an edge-probing task on span pairs).
    """
    file = resolve_data_file(path, split, _SEMEVAL_FILES, "SemEval-2010 Task 8")
    with open(file, encoding="utf-8-sig") as handle:
        lines = handle.read().splitlines()
    examples: list[Example] = []
    seen: set[int] = set()
    number = 0
    while number < len(lines):
        if not lines[number].strip():
            number += 1
            continue
        start = number
        example, number = _read_record(lines, number, file, directed)
        if example.meta["id"] in seen:
            raise LensError.bad_argument(
                f"{file}, line {start + 1}", example.meta["id"], "a record number not used before in the file"
            )
        seen.add(example.meta["id"])
        examples.append(example)
    if not examples:
        raise LensError.bad_argument(str(file), "an empty file", "SemEval-2010 Task 8 records")
    return examples


def _read_record(lines: list[str], number: int, file: Path, directed: bool) -> tuple[Example, int]:
    """Parse the record starting at ``lines[number]``; return it and the index after it."""
    line = lines[number]
    match = _SENTENCE_LINE.match(line.strip())
    if match is None:
        raise LensError.bad_argument(
            f"{file}, line {number + 1}", line, 'a sentence line: a number, a tab and the sentence in "quotes"'
        )
    record_id, tagged = int(match.group(1)), match.group(2)
    text, entities = _untag(tagged, f"{file}, line {number + 1}")
    if number + 1 >= len(lines) or not lines[number + 1].strip():
        raise LensError.bad_argument(
            f"{file}, line {number + 2}", "the end of the record", "a relation line such as 'Cause-Effect(e1,e2)'"
        )
    relation_line = lines[number + 1].strip()
    relation, relation_type, direction = _parse_relation(relation_line, f"{file}, line {number + 2}")
    comment = None
    after = number + 2
    if after < len(lines) and lines[after].strip():
        if not lines[after].startswith("Comment"):
            raise LensError.bad_argument(
                f"{file}, line {after + 1}", lines[after], "a 'Comment:' line or a blank line after the relation"
            )
        comment = lines[after].partition(":")[2].strip()
        after += 1
    if after < len(lines) and lines[after].strip():
        raise LensError.bad_argument(f"{file}, line {after + 1}", lines[after], "a blank line between records")
    words, offsets = split_words(text, cuts=[bound for span in entities for bound in span])
    spans = []
    for name, (start, end) in zip(("e1", "e2"), entities):
        first, stop = words_in_characters(offsets, start, end)
        spans.append(Span(first, stop, name))
    example = Example(
        words=words,
        span_pairs=[SpanPair(spans[0], spans[1], relation if directed else relation_type)],
        meta={
            "id": record_id,
            "relation": relation,
            "relation_type": relation_type,
            "direction": direction,
            "e1": text[entities[0][0] : entities[0][1]],
            "e2": text[entities[1][0] : entities[1][1]],
            "comment": comment,
        },
        text=text,
    )
    return example, after


def _untag(tagged: str, where: str) -> tuple[str, list[tuple[int, int]]]:
    """The sentence without ``<e1>``/``<e2>`` tags, and each nominal's character range in it."""
    tags = [m.group(0) for m in _TAG.finditer(tagged)]
    if tags != _TAG_ORDER:
        raise LensError.bad_argument(where, tags, "the tags <e1>, </e1>, <e2>, </e2> once each, in that order")
    pieces, positions, cursor, length = [], [], 0, 0
    for match in _TAG.finditer(tagged):
        piece = tagged[cursor : match.start()]
        pieces.append(piece)
        length += len(piece)
        positions.append(length)
        cursor = match.end()
    pieces.append(tagged[cursor:])
    text = "".join(pieces)
    entities = []
    for name, (start, end) in zip(("e1", "e2"), (positions[0:2], positions[2:4])):
        inner = text[start:end]
        if not inner.strip():
            raise LensError.bad_argument(where, inner, f"a nominal with a visible character inside <{name}></{name}>")
        # trim spaces inside the tags so the range starts and ends on the nominal itself
        start += len(inner) - len(inner.lstrip())
        end -= len(inner) - len(inner.rstrip())
        entities.append((start, end))
    if not text.strip():
        raise LensError.bad_argument(where, tagged, "a non-empty sentence")
    return text, entities


def _parse_relation(line: str, where: str) -> tuple[str, str, str | None]:
    """``(directed label, relation type, direction)`` of a relation line."""
    match = _RELATION_LINE.match(line)
    expected = f"a relation line: one of {list(RELATION_TYPES[:-1])} followed by (e1,e2) or (e2,e1), or 'Other'"
    if match is None:
        raise LensError.bad_argument(where, line, expected)
    relation_type, first, second = match.groups()
    if relation_type not in RELATION_TYPES:
        raise LensError.bad_argument(where, line, expected)
    if relation_type == "Other":
        if first is not None:
            raise LensError.bad_argument(where, line, "'Other' without a direction")
        return "Other", "Other", None
    if first is None or {first, second} != {"e1", "e2"}:
        raise LensError.bad_argument(where, line, expected)
    direction = f"{first},{second}"
    return f"{relation_type}({direction})", relation_type, direction
