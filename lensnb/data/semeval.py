"""SemEval-2010 Task 8: the relation between two marked nominals of a sentence.

The official files (``TRAIN_FILE.TXT``, ``TEST_FILE_FULL.TXT``) hold one record per
sentence::

    8001<TAB>"The most common <e1>audits</e1> were about <e2>waste</e2> and recycling."
    Message-Topic(e1,e2)
    Comment: Assuming an audit = an audit document.
    <blank line>

:func:`read_semeval2010` turns each record into an :class:`~lensnb.examples.Example` whose
words are the sentence without its tags and whose one :class:`~lensnb.examples.SpanPair`
joins the ``e1`` words to the ``e2`` words, labelled with the relation. The words are
:func:`~lensnb.data.text.split_words` of the sentence. By default each nominal's span is
the whole white-space tokens that hold its tags (``elements.``, ``factory's``), as the
edge-probing converter of Tenney et al. has it; ``nominals="tags"`` cuts it exactly at the
tags instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lensnb.data.files import read_lines, resolve_data_file
from lensnb.data.text import trim_range, words_with_spans
from lensnb.errors import LensError
from lensnb.examples import Example, SpanPair
from lensnb.flags import checks_flags

__all__ = ["NOMINALS", "RELATION_TYPES", "read_semeval2010"]

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

_SENTENCE_LINE = re.compile(r"^(\d+)\s+\"(.*)\"\s*$")
_RELATION_LINE = re.compile(r"^([A-Za-z]+-[A-Za-z]+|Other)(?:\((e[12]),(e[12])\))?$")
_TAG = re.compile(r"</?e[12]>")
_TAG_ORDER = ["<e1>", "</e1>", "<e2>", "</e2>"]
#: How a nominal's span is cut: the whole white-space tokens holding its tags, or exactly at the tags.
NOMINALS = ("tokens", "tags")

_SEMEVAL_FILES = {
    split: (name, f"{folder}/{name}", f"SemEval2010_task8_all_data/{folder}/{name}")
    for split, folder, name in (
        ("train", "SemEval2010_task8_training", "TRAIN_FILE.TXT"),
        ("test", "SemEval2010_task8_testing_keys", "TEST_FILE_FULL.TXT"),
    )
}


@checks_flags
def read_semeval2010(
    path: str | os.PathLike, split: str | None = None, *, directed: bool = True, nominals: str = "tokens"
) -> list[Example]:
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
    nominals : {"tokens", "tags"}
        Where each nominal's span begins and ends. ``"tokens"`` (default, the reference's
        convention): the whole white-space tokens of the tagged sentence that hold its
        tags, so characters attached to a nominal belong to its span (``<e2>elements</e2>.``
        spans ``elements .``, ``<e1>factory</e1>'s`` spans ``factory 's``). ``"tags"``: the
        words between ``<eN>`` and ``</eN>`` only, the words cut at the tags where a tag
        sits inside a white-space token (``The<e1>staff</e1>`` gives ``The`` and ``staff``).

    Returns
    -------
    list of Example
        One per sentence (8,000 train, 2,717 test). ``text`` is the sentence without its
        tags and quotes; ``words`` its words (:func:`~lensnb.data.text.split_words`; with
        ``nominals="tags"`` also cut at the tags, so every span is whole words either way,
        and each word's pieces are those a tokenizer gives its characters);
        ``span_pairs`` one ``SpanPair(e1, e2, relation)``; ``meta``: ``id`` (the record's
        number), ``relation`` (directed), ``relation_type`` (undirected), ``direction``
        (``"e1,e2"``, ``"e2,e1"`` or None for ``Other``), ``e1`` and ``e2`` (the nominals'
        text between their tags, whatever ``nominals`` is) and ``comment``.

    Raises
    ------
    LensError
        For a missing file, or a malformed record: the message names the file, the line
        and what was expected there; for a ``nominals`` other than ``"tokens"`` or ``"tags"``.

    Notes
    -----
    The default follows the converter Tenney et al. (2019) ran, jiant's
    ``probing/data/convert-semeval2010-task8.py`` (``get_entity_spans``): it splits the
    tagged sentence on white space, strips the tags token by token and spans the tokens
    that hold them; its BERT retokenisation (``jiant/utils/retokenize.py``, ``align_wpm``)
    keeps every word piece of a white-space token, so attached punctuation and clitics are
    inside its spans and seen by the self-attentive pooling. The two conventions differ on
    3,524 of the 16,000 nominal spans of the training file (22%) and on 1,134 of the 5,434
    of the test file. A tag glued to a word (``The<e1>staff</e1>``, record 2740) makes the
    whole token ``Thestaff`` the nominal's span under ``"tokens"``, as in jiant.

    References
    ----------
    Hendrickx et al. 2010, "SemEval-2010 Task 8: Multi-Way Classification of Semantic
    Relations between Pairs of Nominals" (the format); Tenney et al. 2019, "What do you
    learn from context?" (relations as an edge-probing task on span pairs).
    """
    if not isinstance(nominals, str) or nominals not in NOMINALS:
        raise LensError.bad_argument(
            "nominals", nominals, f"one of {list(NOMINALS)}",
            "'tokens': whole white-space tokens, as Tenney et al.'s converter; 'tags': cut exactly at the tags.",
        )  # fmt: skip
    file = resolve_data_file(path, split, _SEMEVAL_FILES, "SemEval-2010 Task 8")
    lines = read_lines(file)
    examples: list[Example] = []
    seen: set[int] = set()
    number = 0
    while number < len(lines):
        if not lines[number].strip():
            number += 1
            continue
        start = number
        example, number = _read_record(lines, number, file, directed, nominals)
        if example.meta["id"] in seen:
            raise LensError.bad_argument(
                f"{file}, line {start + 1}", example.meta["id"], "a record number not used before in the file"
            )
        seen.add(example.meta["id"])
        examples.append(example)
    if not examples:
        raise LensError.bad_argument(str(file), "an empty file", "SemEval-2010 Task 8 records")
    return examples


def _read_record(lines: list[str], number: int, file: Path, directed: bool, nominals: str) -> tuple[Example, int]:
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
    ranges = entities if nominals == "tags" else [_whole_tokens(text, *entity) for entity in entities]
    words, spans = words_with_spans(text, dict(zip(("e1", "e2"), ranges)))
    example = Example(
        words=words,
        span_pairs=[SpanPair(spans["e1"], spans["e2"], relation if directed else relation_type)],
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
        entities.append(trim_range(text, start, end))  # the range starts and ends on the nominal itself
    if not text.strip():
        raise LensError.bad_argument(where, tagged, "a non-empty sentence")
    return text, entities


def _whole_tokens(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` widened to the bounds of the white-space tokens it touches (``str.split``'s tokens)."""
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return start, end


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
