"""Question answering for layer-wise analysis: the example layout the QA readers share, SQuAD v1.1, SUP.

Every QA reader (:func:`read_squad`, :func:`lensnb.data.hotpotqa.read_hotpotqa`,
:func:`lensnb.data.babi.read_babi`) gives one :class:`~lensnb.examples.Example` per
question: the question's words followed by the context's words (the order of a BERT QA
input, ``question [SEP] context``), with the labels van Aken et al. (2019) colour and probe:

- ``labels["role"]``: ``"question"``, ``"answer"`` (answer words in the context),
  ``"supporting"`` (the other words of a supporting-fact sentence) or ``"other"``;
- ``labels["sentence"]``: the context sentence a word belongs to (0, 1, ...), -1 for
  question words and words outside any sentence (HotpotQA titles);
- ``spans``: the answer's words, label ``"answer"``;
- ``span_pairs``: ``SpanPair(question, sentence, is_supporting)`` for every context
  sentence, the SUP probing task (is this sentence a supporting fact for the question?).

:func:`qa_example` builds this layout from character ranges; :func:`sup_examples` cuts
these examples into one short example per (question, sentence).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from lensnb.data.files import check_str, json_field, load_json, resolve_data_file
from lensnb.data.text import split_sentences, split_words, words_in_characters
from lensnb.errors import LensError
from lensnb.examples import Example, Span, SpanPair, with_word_offsets
from lensnb.flags import checks_flags

__all__ = ["ROLES", "qa_example", "read_squad", "sup_examples"]

#: The values of ``labels["role"]``.
ROLES = ("question", "answer", "supporting", "other")

_SQUAD_FILES = {"dev": ("dev-v1.1.json",), "train": ("train-v1.1.json",)}


@checks_flags
def qa_example(
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
    """One question + context example in the layout of the QA readers (module docstring).

    Parameters
    ----------
    question, context : str
        The question (white space at its ends is dropped) and its context.
    sentences : sequence of (int, int), length n_sentences
        Character ranges of the context's sentences, in order, not overlapping (end
        exclusive). Words are cut at their bounds.
    supporting : sequence of bool, length n_sentences
        Whether each sentence is a supporting fact.
    answers : sequence of (int, int)
        Character ranges of the answer's occurrences in the context. Each becomes an
        ``"answer"`` span (duplicates once); the words of the first (of every one with
        ``all_answer_roles``) get the role ``"answer"``.
    separator : str
        Put between the question and the context in ``text``.
    meta : dict
        The example's ``meta``.
    where : str
        The record's place in its file, for messages.
    cut_answers : bool
        Also cut words at the answers' bounds, so every answer is whole words.
    all_answer_roles : bool
        Give the role ``"answer"`` to the words of every answer, not only the first.
    presplit : ndarray of int64, shape (n_words, 2), optional
        The context's uncut word offsets (:func:`~lensnb.data.text.split_words`), when
        several questions share it.

    Returns
    -------
    Example
        Words ``question words + context words``; labels ``role`` and ``sentence``; the
        answer spans; one ``SpanPair(question, sentence, is_supporting)`` per non-empty
        sentence; ``text`` ``question + separator + context``.

    References
    ----------
    van Aken et al. 2019, "How Does BERT Answer Questions?" (token roles; the SUP task).
    """
    question = question.strip()
    q_words, q_offsets = split_words(question)
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
    example = Example(
        words=q_words + c_words,
        labels={"role": ["question"] * n_question + role.tolist(), "sentence": [-1] * n_question + sentence.tolist()},
        spans=spans,
        span_pairs=pairs,
        meta=meta,
        text=question + separator + context,
    )
    # the words' own places, not a search that could find a context word in the separator ("E" in "[SEP]")
    return with_word_offsets(example, np.concatenate([q_offsets, c_offsets + len(question) + len(separator)]))


@checks_flags
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
        question are the sentences (:func:`~lensnb.data.text.split_sentences`) that hold its first answer.
        ``role == "answer"`` marks the first gold answer; every distinct gold answer is a
        span. ``meta``: ``id``, ``title`` (the article: split by it, since questions on one
        paragraph share their context), ``paragraph`` (the paragraph's index in the file),
        ``question``, ``answer`` (the first answer's text), ``answer_start``,
        ``n_answers`` (distinct gold answers: distinct offsets), ``answer_texts`` (a JSON
        list of the distinct gold answer texts, in the file's order: what the official
        evaluation script scores against, whole even where ``cut_at_answers=False`` lets
        an answer span cover more of its words).

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
    check_str(separator, "separator")
    file = resolve_data_file(path, split, _SQUAD_FILES, "SQuAD v1.1")
    data = load_json(file)
    articles = json_field(data, "data", list, f"{file}, top level")
    examples = []
    paragraph_index = -1
    for a, article in enumerate(articles):
        where_article = f"{file}, data[{a}]"
        title = json_field(article, "title", str, where_article)
        for p, paragraph in enumerate(json_field(article, "paragraphs", list, where_article)):
            paragraph_index += 1
            where_paragraph = f"{where_article}.paragraphs[{p}]"
            context = json_field(paragraph, "context", str, where_paragraph)
            sentences = split_sentences(context)
            presplit = split_words(context)[1]
            for q, qa in enumerate(json_field(paragraph, "qas", list, where_paragraph)):
                where = f"{where_paragraph}.qas[{q}]"
                question = json_field(qa, "question", str, where)
                answers = []
                for k, answer in enumerate(json_field(qa, "answers", list, where)):
                    text = json_field(answer, "text", str, f"{where}.answers[{k}]")
                    start = json_field(answer, "answer_start", int, f"{where}.answers[{k}]")
                    if start < 0 or not text.strip() or context[start : start + len(text)] != text:
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
                    "id": json_field(qa, "id", str, where),
                    "title": title,
                    "paragraph": paragraph_index,
                    "question": question,
                    "answer": context[first_start:first_end],
                    "answer_start": first_start,
                    "n_answers": len(answers),
                    "answer_texts": json.dumps(list(dict.fromkeys(context[a:b] for a, b in answers))),
                }
                examples.append(
                    qa_example(
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
    check_str(separator, "separator")
    if (
        isinstance(examples, (str, bytes))
        or not isinstance(examples, Sequence)
        or not all(isinstance(e, Example) for e in examples)
    ):
        raise LensError.bad_argument(
            "examples", examples, "a sequence of Example from read_squad, read_hotpotqa or read_babi"
        )
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
