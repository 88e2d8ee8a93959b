"""Question answering for layer-wise analysis: SQuAD v1.1, HotpotQA and bAbI.

Every reader gives one :class:`~lensnb.examples.Example` per question: the question's
words followed by the context's words (the order of a BERT QA input, ``question [SEP]
context``), with the labels van Aken et al. (2019) colour and probe:

- ``labels["role"]``: ``"question"``, ``"answer"`` (answer words in the context),
  ``"supporting"`` (the other words of a supporting-fact sentence) or ``"other"``;
- ``labels["sentence"]``: the context sentence a word belongs to (0, 1, ...), -1 for
  question words and words outside any sentence (HotpotQA titles);
- ``spans``: the answer's words, label ``"answer"``;
- ``span_pairs``: ``SpanPair(question, sentence, is_supporting)`` for every context
  sentence, the SUP probing task (is this sentence a supporting fact for the question?).

:func:`sup_examples` cuts these into one short example per (question, sentence).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensnb.data.semeval import resolve_data_file, split_words, words_in_characters
from lensnb.errors import LensError
from lensnb.examples import Example, Span, SpanPair

__all__ = ["ROLES", "read_squad", "read_hotpotqa", "read_babi", "sup_examples", "split_sentences"]

#: The values of ``labels["role"]``.
ROLES = ("question", "answer", "supporting", "other")

_SQUAD_FILES = {"dev": ("dev-v1.1.json",), "train": ("train-v1.1.json",)}
_HOTPOT_FILES = {
    "dev": ("hotpot_dev_distractor_v1.json",),
    "train": ("hotpot_train_v1.1.json",),
    "dev_fullwiki": ("hotpot_dev_fullwiki_v1.json",),
}

# Sentence ends: ., ! or ? (with closing quotes or brackets) then space and an upper-case letter, digit or opener.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof gen col lt sgt capt gov sen rep rev hon mt ft vs etc no nos co corp inc ltd "
    "dept univ approx ca jan feb mar apr jun jul aug sep sept oct nov dec fig vol op ed eds e.g i.e".split()
)
_BABI_LINE = re.compile(r"^(\d+) (.*)$")


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
    the word before the full stop is a known abbreviation (``Dr.``, ``Jan.``, ``e.g.``) or
    a single letter (an initial: ``John F. Kennedy``). Good enough for encyclopaedic
    prose such as SQuAD's Wikipedia paragraphs; not a trained splitter.
    """
    ranges, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        stop = match.start() + len(match.group(0).rstrip())
        previous = text[max(start, match.start() - 12) : match.start()].split()
        last_word = previous[-1].lower().lstrip("(\"'“‘") if previous else ""
        if text[match.start()] == "." and (
            last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())
        ):
            continue
        ranges.append((start, stop))
        start = match.end()
    ranges.append((start, len(text)))
    trimmed = []
    for begin, end in ranges:
        piece = text[begin:end]
        begin, end = begin + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip())
        if end > begin:
            trimmed.append((begin, end))
    return trimmed


def _qa_example(
    question: str,
    context: str,
    sentences: Sequence[tuple[int, int]],
    supporting: Sequence[bool],
    answers: Sequence[tuple[int, int]],
    separator: str,
    meta: dict[str, Any],
    where: str,
    *,
    cut_answers: bool = True,
    all_answer_roles: bool = False,
    presplit: np.ndarray | None = None,
) -> Example:
    """Assemble one question + context example.

    ``sentences`` and ``answers`` are character ranges in ``context``. The words of the
    first answer (of every answer with ``all_answer_roles``) get the role ``"answer"``;
    every answer becomes a span. ``presplit``: the context's uncut word offsets.
    """
    question = question.strip()
    q_words, _ = split_words(question)
    cuts = [bound for span in sentences for bound in span]
    if cut_answers:
        cuts += [bound for span in answers for bound in span]
    c_words, c_offsets = split_words(context, cuts=cuts, presplit=presplit)
    if not q_words or not c_words:
        raise LensError.bad_argument(
            where, question if not q_words else context, "a question and a context with at least one word each"
        )
    n_question, n_context = len(q_words), len(c_words)
    bounds = np.asarray(sentences, dtype=np.int64).reshape(-1, 2)
    # sentences are in order and never share a word (the words are cut at their bounds)
    firsts = np.searchsorted(c_offsets[:, 1], bounds[:, 0], side="right")
    stops = np.maximum(firsts, np.searchsorted(c_offsets[:, 0], bounds[:, 1], side="left"))
    flags = np.asarray(supporting, dtype=bool).reshape(-1)
    inside = np.zeros(n_context, dtype=bool)
    owner = np.zeros(n_context, dtype=np.int64)
    if len(bounds):
        owner = np.searchsorted(bounds[:, 0], c_offsets[:, 0], side="right") - 1  # last sentence starting before
        inside = owner >= 0
        owner = np.maximum(owner, 0)
        inside &= c_offsets[:, 1] <= bounds[owner, 1]
    sentence = np.where(inside, owner, -1)
    role = np.where(inside & flags[owner] if len(flags) else inside, "supporting", "other").astype(object)
    spans = []
    for rank, (start, end) in enumerate(answers):
        first, stop = words_in_characters(c_offsets, start, end)
        if stop > first:
            if rank == 0 or all_answer_roles:
                role[first:stop] = "answer"
            span = Span(n_question + first, n_question + stop, "answer")
            if span not in spans:
                spans.append(span)
    question_span = Span(0, n_question, "question")
    pairs = [
        SpanPair(question_span, Span(n_question + first, n_question + stop, "sentence"), flag)
        for first, stop, flag in zip(firsts.tolist(), stops.tolist(), flags.tolist())
        if stop > first
    ]
    return Example(
        words=q_words + c_words,
        labels={"role": ["question"] * n_question + role.tolist(), "sentence": [-1] * n_question + sentence.tolist()},
        spans=spans,
        span_pairs=pairs,
        meta=meta,
        text=question + separator + context,
    )


def read_squad(
    path: str | os.PathLike, split: str | None = None, *, separator: str = " ", cut_at_answers: bool = True
) -> list[Example]:
    """Read SQuAD v1.1: one example per question, its paragraph as the context.

    Parameters
    ----------
    path : str or Path
        ``dev-v1.1.json`` or ``train-v1.1.json`` of the official release, or the folder
        holding them.
    split : {"dev", "train"}, optional
        Which file to read when ``path`` is a folder.
    separator : str
        Put between the question and the paragraph in ``text`` (e.g. ``" [SEP] "`` for a
        BERT tokenizer to insert its separator token; the default, a space).
    cut_at_answers : bool
        Cut words at the answers' character boundaries, so every answer is whole words
        (``Denver`` in ``Denver's``). Without it an answer covers the words it overlaps.

    Returns
    -------
    list of Example
        One per question (10,570 in dev), in the file's order; words, labels, spans and
        span pairs as described in :mod:`lensnb.data.qa`. The supporting facts of a SQuAD
        question are the sentences (:func:`split_sentences`) that hold its first answer.
        ``role == "answer"`` marks the first gold answer; every distinct gold answer is a
        span. ``meta``: ``id``, ``title`` (the article: split by it, since questions on one
        paragraph share their context), ``paragraph`` (the paragraph's index in the file),
        ``question``, ``answer`` (the first answer's text), ``answer_start``,
        ``n_answers`` (distinct gold answers).

    Raises
    ------
    LensError
        For a missing file, JSON that does not parse (line and column), or a record
        without the fields of SQuAD v1.1, or whose answer text is not at its
        ``answer_start`` in the context: the message names the file and the record's
        place (``data[3].paragraphs[2].qas[5]``).

    References
    ----------
    Rajpurkar et al. 2016, "SQuAD: 100,000+ Questions for Machine Comprehension of Text";
    van Aken et al. 2019, "How Does BERT Answer Questions?" (question, supporting-fact and
    answer tokens; the SUP task).
    """
    file = resolve_data_file(path, split, _SQUAD_FILES, "SQuAD v1.1")
    data = _load_json(file)
    articles = _field(data, "data", list, f"{file}, top level")
    examples = []
    paragraph_index = -1
    for a, article in enumerate(articles):
        where_article = f"{file}, data[{a}]"
        title = _field(article, "title", str, where_article)
        for p, paragraph in enumerate(_field(article, "paragraphs", list, where_article)):
            paragraph_index += 1
            where_paragraph = f"{where_article}.paragraphs[{p}]"
            context = _field(paragraph, "context", str, where_paragraph)
            sentences = split_sentences(context)
            presplit = split_words(context)[1]
            for q, qa in enumerate(_field(paragraph, "qas", list, where_paragraph)):
                where = f"{where_paragraph}.qas[{q}]"
                question = _field(qa, "question", str, where)
                answers = []
                for k, answer in enumerate(_field(qa, "answers", list, where)):
                    text = _field(answer, "text", str, f"{where}.answers[{k}]")
                    start = _field(answer, "answer_start", int, f"{where}.answers[{k}]")
                    if not text.strip() or context[start : start + len(text)] != text:
                        raise LensError.bad_argument(
                            f"{where}.answers[{k}]", {"text": text, "answer_start": start},
                            "an answer_start where the context holds the answer's text",
                            f"The context there reads {context[start : start + len(text)]!r}.",
                        )  # fmt: skip
                    span = (start, start + len(text))
                    if span not in answers:
                        answers.append(span)
                if not answers:
                    raise LensError.bad_argument(where, "no answers", "at least one answer (SQuAD v1.1)")
                first_start, first_end = answers[0]
                supporting = [start < first_end and first_start < end for start, end in sentences]
                meta = {
                    "id": _field(qa, "id", str, where),
                    "title": title,
                    "paragraph": paragraph_index,
                    "question": question,
                    "answer": context[first_start:first_end],
                    "answer_start": first_start,
                    "n_answers": len(answers),
                }
                examples.append(
                    _qa_example(
                        question,
                        context,
                        sentences,
                        supporting,
                        answers,
                        separator,
                        meta,
                        where,
                        cut_answers=cut_at_answers,
                        presplit=presplit,
                    )  # fmt: skip
                )
    if not examples:
        raise LensError.bad_argument(str(file), "no questions", "SQuAD articles with questions")
    return examples


def _load_json(file: Path) -> Any:
    try:
        with open(file, encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise LensError.bad_argument(
            f"{file}, line {error.lineno}, column {error.colno}", error.msg, "valid JSON"
        ) from None


def _field(record: Any, name: str, kind: type, where: str) -> Any:
    """``record[name]``, checked to be a ``kind``."""
    if not isinstance(record, dict):
        raise LensError.bad_argument(where, record, f"a JSON object with a {name!r} field")
    if name not in record:
        raise LensError.bad_argument(where, f"fields {sorted(record)}", f"a {name!r} field")
    value = record[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise LensError.bad_argument(f"{where}.{name}", value, f"a JSON {_JSON_NAMES[kind]}")
    return value


_JSON_NAMES = {str: "string", int: "integer", list: "array", dict: "object"}


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
    file = resolve_data_file(path, split, _HOTPOT_FILES, "HotpotQA")
    records = _load_json(file)
    if not isinstance(records, list) or not records:
        raise LensError.bad_argument(f"{file}, top level", records, "a non-empty JSON array of HotpotQA records")
    return [
        _hotpot_example(record, index, f"{file}, record {index}", separator, titles)
        for index, record in enumerate(records)
    ]


def _hotpot_paragraphs(record: dict, where: str) -> list[tuple[str, list[str]]]:
    context = record.get("context")
    if isinstance(context, dict):  # the Hugging Face layout
        titles = _field(context, "title", list, f"{where}.context")
        sentences = _field(context, "sentences", list, f"{where}.context")
        if len(titles) != len(sentences):
            raise LensError.bad_argument(
                f"{where}.context", f"{len(titles)} titles and {len(sentences)} sentence lists", "as many of each"
            )
        pairs = list(zip(titles, sentences))
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
        titles = _field(facts, "title", list, f"{where}.supporting_facts")
        ids = _field(facts, "sent_id", list, f"{where}.supporting_facts")
        if len(titles) != len(ids):
            raise LensError.bad_argument(
                f"{where}.supporting_facts", f"{len(titles)} titles, {len(ids)} ids", "as many of each"
            )
        pairs = list(zip(titles, ids))
    elif isinstance(facts, list):
        pairs = [tuple(fact) if isinstance(fact, list) and len(fact) == 2 else (None, None) for fact in facts]
    else:
        raise LensError.bad_argument(f"{where}.supporting_facts", facts, "a list of [title, sentence index]")
    for k, (title, index) in enumerate(pairs):
        if not isinstance(title, str) or not isinstance(index, int) or isinstance(index, bool):
            raise LensError.bad_argument(f"{where}.supporting_facts[{k}]", facts, "[title, sentence index] pairs")
    return pairs


def _hotpot_example(record: Any, index: int, where: str, separator: str, titles: bool) -> Example:
    question = _field(record, "question", str, where)
    answer = _field(record, "answer", str, where)
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
    sentences = [_trim(context, start, end) for start, end in sentences]
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
    return _qa_example(question, context, sentences, supporting, answers, separator, meta, where, all_answer_roles=True)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    if not piece.strip():
        return start, start
    return start + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip())


def _find_answer(
    answer: str, context: str, sentences: list[tuple[int, int]], supporting: list[bool]
) -> tuple[list[tuple[int, int]], str]:
    """Character ranges of ``answer`` in the supporting facts, else its first one in the context."""
    answer = answer.strip()
    if not answer or answer.lower() in ("yes", "no"):
        return [], "none"
    facts = [bounds for bounds, flag in zip(sentences, supporting) if flag]
    found = [
        [m.span() for m in re.finditer(r"(?<!\w)" + re.escape(answer) + r"(?!\w)", context, flags)]
        for flags in (0, re.IGNORECASE)  # case kept first
    ]
    for spans in found:
        inside = [(s, e) for s, e in spans if any(start <= s and e <= end for start, end in facts)]
        if inside:
            return inside, "supporting"
    for spans in found:
        if spans:
            return spans[:1], "context"
    return [], "none"


def read_babi(
    path: str | os.PathLike, task: int | None = None, split: str | None = None, *, separator: str = " "
) -> list[Example]:
    """Read a bAbI task: one example per question, the story so far as the context.

    Parameters
    ----------
    path : str or Path
        A task file of the official release (``qa1_single-supporting-fact_train.txt``),
        or a folder of them (``tasks_1-20_v1-2/en-10k/``).
    task : int, optional
        The task number (1-20) when ``path`` is a folder.
    split : {"train", "test", "valid"}, optional
        The split when ``path`` is a folder (``valid``: the release's ``en-valid``
        folders).
    separator : str
        Put between the question and the story in ``text``.

    Returns
    -------
    list of Example
        One per question, in the file's order (1,000 per test file, 10,000 per train
        file of en-10k; the 1k setting is the first 1,000 of a train file); words, labels,
        spans and span pairs as described in :mod:`lensnb.data.qa`. The context is the
        story's statements up to the question (earlier questions left out), one
        sentence each; the supporting facts are the question's line numbers; the answer
        words are the words of the supporting facts equal to the answer (or to one of a
        list answer's items, ``football,apple``), case ignored; answers not in the story
        (``yes``, ``two``, directions ``s,w``) mark none. ``meta``: ``task``, ``story``
        (its index in the file: split by story), ``line`` (the question's line number),
        ``question``, ``answer``, ``supporting_lines`` (as written, e.g. ``"4 15"``),
        ``answer_in_context``.

    Raises
    ------
    LensError
        For a missing file, or a malformed line (no number, numbers that do not count up
        from 1 in a story, a question without an answer or supporting-fact numbers, a
        supporting fact that is not an earlier statement of the story): the message names
        the file and the line.

    References
    ----------
    Weston et al. 2015, "Towards AI-Complete Question Answering: A Set of Prerequisite
    Toy Tasks"; van Aken et al. 2019, "How Does BERT Answer Questions?".
    """
    file = _babi_file(path, task, split)
    name = re.match(r"qa(\d+)_", file.name)
    task_number = int(name.group(1)) if name else task
    with open(file, encoding="utf-8-sig") as handle:
        lines = handle.read().splitlines()
    examples: list[Example] = []
    story_index, expected = -1, 1
    story = _Story()
    for number, raw in enumerate(lines, start=1):
        where = f"{file}, line {number}"
        if not raw.strip():
            continue
        match = _BABI_LINE.match(raw.strip())
        if match is None:
            raise LensError.bad_argument(where, raw, "a line number, a space and a statement or question")
        line_id, content = int(match.group(1)), match.group(2)
        if line_id == 1:
            story_index, story, expected = story_index + 1, _Story(), 1
        if line_id != expected or story_index < 0:
            raise LensError.bad_argument(
                where, line_id, f"line number {expected} (numbers count up from 1 in each story)"
            )
        expected += 1
        if "\t" not in content:
            if not content.strip():
                raise LensError.bad_argument(where, raw, "a statement after the line number")
            story.add(line_id, content.strip())
            continue
        fields = content.split("\t")
        if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
            raise LensError.bad_argument(where, raw, "a question, a tab, the answer, a tab and supporting line numbers")
        question, answer, support = fields[0].strip(), fields[1].strip(), fields[2].strip()
        support_ids = [int(x) for x in support.split()] if re.fullmatch(r"\d+(?: \d+)*", support) else []
        if not support_ids or any(x not in story.position for x in support_ids):
            raise LensError.bad_argument(
                where, support, "the numbers of earlier statements of the story, separated by spaces"
            )
        if not story.lines:
            raise LensError.bad_argument(where, raw, "a question after at least one statement of its story")
        meta = {"task": task_number, "story": story_index, "line": line_id}
        examples.append(story.example(question, answer, support_ids, separator, where, meta))
    if not examples:
        raise LensError.bad_argument(str(file), "no questions", "bAbI stories with questions")
    return examples


class _Story:
    """A bAbI story's statements so far, each split into words once."""

    def __init__(self) -> None:
        self.lines: list[int] = []
        self.position: dict[int, int] = {}  # line number -> index among the statements
        self.pieces: list[str] = []
        self.sentences: list[tuple[int, int]] = []
        self.offsets: list[np.ndarray] = []
        self.words: list[list[str]] = []
        self.length = 0

    def add(self, line_id: int, statement: str) -> None:
        if self.pieces:
            self.pieces.append(" ")
            self.length += 1
        words, offsets = split_words(statement)
        self.position[line_id] = len(self.lines)
        self.lines.append(line_id)
        self.pieces.append(statement)
        self.sentences.append((self.length, self.length + len(statement)))
        self.offsets.append(offsets + self.length)
        self.words.append(words)
        self.length += len(statement)

    def example(
        self, question: str, answer: str, support: list[int], separator: str, where: str, meta: dict[str, Any]
    ) -> Example:
        supporting = [False] * len(self.lines)
        items = {item.strip().lower() for item in answer.split(",") if item.strip()}
        answers = []
        for line_id in support:
            index = self.position[line_id]
            supporting[index] = True
            answers += [
                tuple(span)
                for word, span in zip(self.words[index], self.offsets[index].tolist())
                if word.lower() in items
            ]
        answers.sort()
        meta = {
            **meta, "question": question, "answer": answer,
            "supporting_lines": " ".join(str(x) for x in support), "answer_in_context": bool(answers),
        }  # fmt: skip
        return _qa_example(
            question, "".join(self.pieces), self.sentences, supporting, answers, separator, meta, where,
            all_answer_roles=True, presplit=np.concatenate(self.offsets),
        )  # fmt: skip


def _babi_file(path: str | os.PathLike, task: int | None, split: str | None) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise LensError.bad_argument("path", path, "a path to a bAbI task file or folder")
    path = Path(path).expanduser()
    if path.is_file():
        if task is not None or split is not None:
            raise LensError.bad_argument("task", task, "None (and split None) when path is a file")
        return path
    if not path.is_dir():
        raise LensError.bad_argument("path", str(path), "an existing bAbI task file or folder")
    if not isinstance(task, int) or isinstance(task, bool) or not 1 <= task <= 20:
        raise LensError.bad_argument("task", task, "a task number from 1 to 20 when path is a folder")
    if split not in ("train", "test", "valid"):
        raise LensError.bad_argument("split", split, "'train', 'test' or 'valid' when path is a folder")
    pattern = f"qa{task}_*{split}.txt"  # qa1_single-supporting-fact_train.txt; qa1_valid.txt in en-valid/
    found = sorted(path.glob(pattern))
    if len(found) != 1:
        raise LensError.bad_argument(
            "path", str(path), f"a folder with one file {pattern}", f"Found {[f.name for f in found]}."
        )
    return found[0]


def sup_examples(examples: Sequence[Example], *, separator: str = " ") -> list[Example]:
    """One short example per (question, context sentence): the SUP task on its own.

    Parameters
    ----------
    examples : sequence of Example
        Question + context examples from :func:`read_squad`, :func:`read_hotpotqa` or
        :func:`read_babi` (labels ``role`` and ``sentence``, the question's words first).
    separator : str
        Put between the question and the sentence in ``text``.

    Returns
    -------
    list of Example
        For each example and each of its context sentences, in order: the question's
        words then the sentence's words, labels ``role`` and ``sentence`` carried over,
        one ``SpanPair(question, sentence, is_supporting)``, and ``meta`` the example's
        plus ``sentence`` (the sentence's index) and ``supporting`` (bool). Encoding a
        question with one sentence at a time is cheaper than with the whole context, but
        is not how a QA model reads it: van Aken et al. probe the sentence inside the
        full input (the span pairs of the examples themselves).

    References
    ----------
    van Aken et al. 2019, "How Does BERT Answer Questions?" (the SUP probing task).
    """
    result = []
    for index, example in enumerate(examples):
        labels = example.labels
        if "role" not in labels or "sentence" not in labels:
            raise LensError.bad_argument(
                f"examples[{index}].labels", sorted(labels), "the 'role' and 'sentence' labels of a QA reader's example"
            )
        role, sentence = list(labels["role"]), np.asarray(labels["sentence"])
        text, offsets = example.resolved_text(), example.word_offsets()
        n_question = next((k for k, r in enumerate(role) if r != "question"), len(role))
        if n_question == 0:
            raise LensError.bad_argument(
                f"examples[{index}]", "no question words", "an example that starts with a question"
            )
        question = text[offsets[0, 0] : offsets[n_question - 1, 1]]
        for pair in example.span_pairs:
            first, stop = pair.second.start, pair.second.end
            number = int(sentence[first])
            sentence_text = text[offsets[first, 0] : offsets[stop - 1, 1]]
            words = list(example.words[:n_question]) + list(example.words[first:stop])
            n_sentence = stop - first
            result.append(
                Example(
                    words=words,
                    labels={
                        "role": role[:n_question] + role[first:stop],
                        "sentence": [-1] * n_question + [number] * n_sentence,
                    },
                    span_pairs=[
                        SpanPair(
                            Span(0, n_question, "question"),
                            Span(n_question, n_question + n_sentence, "sentence"),
                            pair.label,
                        )
                    ],
                    meta={**example.meta, "sentence": number, "supporting": bool(pair.label)},
                    text=question + separator + sentence_text,
                )
            )
    return result
