"""HotpotQA (distractor setting) as question + context examples for layer-wise analysis.

One :class:`~lensnb.examples.Example` per question, its ten paragraphs as the context,
in the layout of :mod:`lensnb.data.qa` (roles, sentences, answer spans, SUP span pairs).
"""

from __future__ import annotations

import os
from typing import Any

from lensnb.data.files import check_str, json_field, load_json, resolve_data_file
from lensnb.data.qa import qa_example
from lensnb.data.text import find_phrase, trim_range
from lensnb.errors import LensError
from lensnb.examples import Example
from lensnb.flags import checks_flags

__all__ = ["read_hotpotqa"]

_HOTPOT_FILES = {
    "dev": ("hotpot_dev_distractor_v1.json",),
    "train": ("hotpot_train_v1.1.json",),
    "dev_fullwiki": ("hotpot_dev_fullwiki_v1.json",),
}


@checks_flags
def read_hotpotqa(
    path: str | os.PathLike, split: str | None = None, *, separator: str = " ", titles: bool = True
) -> list[Example]:
    """Read HotpotQA (distractor setting): one example per question, its ten paragraphs as the context.

    Parameters
    ----------
    path : str or Path
        A HotpotQA JSON file: a list of records in the original layout (``_id``,
        ``context`` as ``[[title, [sentence, ...]], ...]``, ``supporting_facts`` as
        ``[[title, sentence_index], ...]``) or in the Hugging Face ``datasets`` layout
        (``context`` as ``{"title": [...], "sentences": [[...], ...]}``,
        ``supporting_facts`` as ``{"title": [...], "sent_id": [...]}``); or the folder of
        the official downloads.
    split : {"dev", "train", "dev_fullwiki"}, optional
        Which official file to read when ``path`` is a folder
        (``hotpot_dev_distractor_v1.json``, ``hotpot_train_v1.1.json``,
        ``hotpot_dev_fullwiki_v1.json``).
    separator : str
        Put between the question and the context, and between paragraphs, in ``text``.
    titles : bool
        Begin each paragraph with its title and ``": "`` (their words have role
        ``"other"`` and sentence -1). The supporting facts often need the title to be
        understood ("He lives in Los Angeles").

    Returns
    -------
    list of Example
        One per record, in order; words, labels, spans and span pairs as described in
        :mod:`lensnb.data.qa`. Sentences are numbered through the whole context (the
        ``sentence`` label), the given sentences of each paragraph; the supporting facts
        are the records' own. The answer is not given by offsets: its occurrences (whole
        words, case first kept, then ignored) in the supporting facts are marked, else
        its first occurrence anywhere in the context; ``yes``/``no`` answers and answers
        not found mark no words. ``meta``: ``id`` (``_id``, ``id`` or the record's
        index), ``question``, ``answer``, ``answer_location`` (``"supporting"``,
        ``"context"`` or ``"none"``), ``type``, ``level``, ``n_supporting`` and
        ``unmatched_supporting`` (supporting facts naming a title or sentence the
        context lacks: HotpotQA has a few, they are left out).

    Raises
    ------
    LensError
        For a missing file, JSON that does not parse, or a record without the fields
        above or with fields of the wrong type: the message names the file and the
        record's index.

    References
    ----------
    Yang et al. 2018, "HotpotQA: A Dataset for Diverse, Explainable Multi-hop Question
    Answering"; van Aken et al. 2019, "How Does BERT Answer Questions?".
    """
    check_str(separator, "separator")
    file = resolve_data_file(path, split, _HOTPOT_FILES, "HotpotQA")
    records = load_json(file)
    if not isinstance(records, list) or not records:
        raise LensError.bad_argument(f"{file}, top level", records, "a non-empty JSON array of HotpotQA records")
    return [
        _hotpot_example(record, index, f"{file}, record {index}", separator, titles)
        for index, record in enumerate(records)
    ]


def _hotpot_paragraphs(record: dict, where: str) -> list[tuple[str, list[str]]]:
    context = record.get("context")
    if isinstance(context, dict):  # the Hugging Face layout
        pairs = _column_pairs(context, ("title", "sentences"), ("titles", "sentence lists"), f"{where}.context")
    elif isinstance(context, list):
        pairs = []
        for k, item in enumerate(context):
            if not isinstance(item, list) or len(item) != 2:
                raise LensError.bad_argument(f"{where}.context[{k}]", item, "a [title, [sentence, ...]] pair")
            pairs.append((item[0], item[1]))
    else:
        raise LensError.bad_argument(f"{where}.context", context, "a list of [title, sentences] or a dict of lists")
    for k, (title, sentences) in enumerate(pairs):
        if (
            not isinstance(title, str)
            or not isinstance(sentences, list)
            or not all(isinstance(s, str) for s in sentences)
        ):
            raise LensError.bad_argument(f"{where}.context[{k}]", [title, sentences], "a title and a list of sentences")
    return pairs


def _hotpot_facts(record: dict, where: str) -> list[tuple[str, int]]:
    facts = record.get("supporting_facts")
    if isinstance(facts, dict):  # the Hugging Face layout
        pairs = _column_pairs(facts, ("title", "sent_id"), ("titles", "ids"), f"{where}.supporting_facts")
    elif isinstance(facts, list):
        pairs = [tuple(fact) if isinstance(fact, list) and len(fact) == 2 else (None, None) for fact in facts]
    else:
        raise LensError.bad_argument(f"{where}.supporting_facts", facts, "a list of [title, sentence index]")
    for k, (title, index) in enumerate(pairs):
        if not isinstance(title, str) or not isinstance(index, int) or isinstance(index, bool):
            raise LensError.bad_argument(f"{where}.supporting_facts[{k}]", facts, "[title, sentence index] pairs")
    return pairs


def _column_pairs(columns: dict, keys: tuple[str, str], nouns: tuple[str, str], where: str) -> list[tuple]:
    """The pairs of a Hugging Face ``datasets`` record: a dict of two lists of equal length."""
    first, second = (json_field(columns, key, list, where) for key in keys)
    if len(first) != len(second):
        received = f"{len(first)} {nouns[0]} and {len(second)} {nouns[1]}"
        raise LensError.bad_argument(where, received, "as many of each")
    return list(zip(first, second))


def _hotpot_example(record: Any, index: int, where: str, separator: str, titles: bool) -> Example:
    question = json_field(record, "question", str, where)
    answer = json_field(record, "answer", str, where)
    paragraphs = _hotpot_paragraphs(record, where)
    facts = set(_hotpot_facts(record, where))
    pieces, sentences, supporting, length = [], [], [], 0
    matched = set()
    for title, paragraph in paragraphs:
        if pieces:
            pieces.append(separator)
            length += len(separator)
        if titles:
            pieces.append(f"{title}: ")
            length += len(title) + 2
        for k, sentence in enumerate(paragraph):
            if k and sentence[:1].strip() and pieces[-1][-1:].strip():  # keep neighbouring sentences apart
                pieces.append(" ")
                length += 1
            sentences.append((length, length + len(sentence)))
            supporting.append((title, k) in facts)
            if (title, k) in facts:
                matched.add((title, k))
            pieces.append(sentence)
            length += len(sentence)
    context = "".join(pieces)
    sentences = [trim_range(context, start, end) for start, end in sentences]
    answers, location = _find_answer(answer, context, sentences, supporting)
    meta = {
        "id": record.get("_id", record.get("id", index)),
        "question": question,
        "answer": answer,
        "answer_location": location,
        "type": record.get("type"),
        "level": record.get("level"),
        "n_supporting": len(matched),
        "unmatched_supporting": len(facts - matched),
    }
    return qa_example(question, context, sentences, supporting, answers, separator, meta, where, all_answer_roles=True)


def _find_answer(
    answer: str, context: str, sentences: list[tuple[int, int]], supporting: list[bool]
) -> tuple[list[tuple[int, int]], str]:
    """Character ranges of ``answer`` in the supporting facts, else its first one in the context."""
    answer = answer.strip()
    if not answer or answer.lower() in ("yes", "no"):
        return [], "none"
    facts = [bounds for bounds, flag in zip(sentences, supporting) if flag]
    found = [find_phrase(answer, context, ignore_case=ignore) for ignore in (False, True)]  # case kept first
    for spans in found:
        inside = [(s, e) for s, e in spans if any(start <= s and e <= end for start, end in facts)]
        if inside:
            return inside, "supporting"
    for spans in found:
        if spans:
            return spans[:1], "context"
    return [], "none"
