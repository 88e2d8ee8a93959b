"""Extractive question answering: a span head trained briefly on a model, and the answers it gives.

van Aken et al. (2019) look inside BERT fine-tuned for QA; offline, the embedded
all-MiniLM-L6-v2 gets a span head here (``lensnb.load_model(task="question-answering")``)
trained with :func:`fine_tune_qa` on SQuAD-style items, as the BERT QA recipe does: the
question and a window of the context as one input (``max_length`` 384 tokens; over long
contexts consecutive windows overlap by ``stride`` = 128 tokens, as Hugging Face's
``run_qa`` and its tokenizers' ``stride`` do: van Aken et al.'s code, like the original
``run_squad``, instead starts a window every 128 tokens, which gives more windows on a
long context; both cover every token), a start and an end logit per token,
cross-entropy on the gold start and end, and the [CLS] position for a window that does
not hold the answer. :func:`answer_questions` picks the best span of at most
``max_answer_tokens`` tokens over all windows of a context; :func:`squad_scores` gives
SQuAD's exact match and token F1.

Training shows progress and resumes from a checkpoint folder (safetensors + JSON), as
:func:`lensnb.fine_tune.fine_tune_classifier` does.

References
----------
Devlin et al. 2019 (BERT's QA recipe); Rajpurkar et al. 2016 (SQuAD, its scores);
van Aken et al. 2019, "How Does BERT Answer Questions?", CIKM.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lensnb.errors import LensError
from lensnb.examples import Example
from lensnb.extract import _as_lens_model
from lensnb.fine_tune import (
    FineTuneReport,
    TrainingOptions,
    check_max_length,
    data_digest,
    epoch_batches,
    padding,
    tokenizer_digest,
    train_steps,
)
from lensnb.flags import check_flag
from lensnb.geometry.inputs import check_integer
from lensnb.models import LensModel

__all__ = ["QAItem", "Answer", "qa_items", "fine_tune_qa", "answer_questions", "squad_scores"]


@dataclass(frozen=True)
class QAItem:
    """A question, its context and (for training and scoring) the gold answer.

    Attributes
    ----------
    question, context : str
    answer : str, optional
    answer_start : int, optional
        Character offset of the answer in ``context``.
    alternatives : tuple of str
        Every distinct gold answer, ``answer`` first (SQuAD v1.1's dev set has up to
        five annotations per question), for scoring: :func:`squad_scores` takes the
        best over them, as the official ``evaluate-v1.1.py`` does. Empty: ``answer`` only.
    """

    question: str
    context: str
    answer: str | None = None
    answer_start: int | None = None
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """A predicted answer: its text, its characters in the context, and its score (start + end logit)."""

    text: str
    start: int
    end: int
    score: float


def qa_items(examples: Sequence[Example], *, separator: str | None = None) -> list[QAItem]:
    """QA items from the examples of :func:`lensnb.data.read_squad` (question + context text, answer in ``meta``).

    Parameters
    ----------
    examples : sequence of Example
        Whose ``text`` is the question, ``separator`` and the paragraph, and whose
        ``meta`` holds ``question`` and, where known, ``answer`` and ``answer_start`` (the
        answer's offset in the paragraph), as :func:`lensnb.data.read_squad` makes them.
    separator : str, optional
        The separator given to the reader (``" "``, ``" [SEP] "``...). By default it is
        found in each example: the paragraph starts where the gold answer's offset puts
        the answer, before the first context word (without a gold offset: at the first
        context word).

    Returns
    -------
    list of QAItem
        ``context`` is exactly the paragraph, ``answer_start`` the gold offset in it.

    Raises
    ------
    LensError
        Naming the example, for one that does not start with its question (and
        ``separator``), or whose gold answer is not at its offset in the paragraph, or
        where the paragraph's start is ambiguous (pass ``separator`` then).
    """
    if isinstance(examples, Example) or not isinstance(examples, Sequence) or not examples:
        raise LensError.bad_argument("examples", examples, "a non-empty list of examples of read_squad")
    if separator is not None and not isinstance(separator, str):
        raise LensError.bad_argument("separator", separator, "None or the str given to read_squad")
    items = []
    for k, example in enumerate(examples):
        meta = getattr(example, "meta", None) or {}
        question = str(meta.get("question", "")).strip()
        text = getattr(example, "text", None)
        if not question or not isinstance(text, str) or not text.startswith(question):
            raise LensError.bad_argument(f"examples[{k}]", example, "an example of read_squad (question first)")
        answer, start = meta.get("answer"), meta.get("answer_start")
        if answer is not None and (not isinstance(answer, str) or not answer):
            raise LensError.bad_argument(f"examples[{k}].meta['answer']", answer, "a non-empty str")
        if start is not None and (isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0):
            raise LensError.bad_argument(f"examples[{k}].meta['answer_start']", start, "a non-negative int")
        begin = _context_start(example, question, separator, answer if start is not None else None, start, k)
        items.append(
            QAItem(
                question, text[begin:], answer, None if start is None else int(start), _gold_answers(example, answer, k)
            )
        )
    return items


def _gold_answers(example: Example, first: str | None, k: int) -> tuple[str, ...]:
    """The distinct gold answer texts of an example, ``first`` (its first gold answer) first.

    From ``meta["answer_texts"]`` (a JSON list, as :func:`lensnb.data.read_squad` keeps
    the file's answer texts), else from the words of its ``"answer"`` spans (readers that
    cut words at the answers, so that a span's words are the answer's text).
    """
    if first is None:
        return ()
    listed = (getattr(example, "meta", None) or {}).get("answer_texts")
    if listed is not None:
        try:
            texts = json.loads(listed) if isinstance(listed, str) else None
        except ValueError:
            texts = None
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise LensError.bad_argument(
                f"examples[{k}].meta['answer_texts']", listed, "a JSON list of the gold answer texts (read_squad's)"
            )  # fmt: skip
        return tuple(dict.fromkeys([first, *texts]))
    spans = [span for span in getattr(example, "spans", None) or () if getattr(span, "label", None) == "answer"]
    if not spans:
        return ()
    text, offsets = example.resolved_text(), example.word_offsets()
    answers = [first]
    for span in spans:
        answer = text[offsets[span.start, 0] : offsets[span.end - 1, 1]]
        if answer not in answers:
            answers.append(answer)
    return tuple(answers)


def _context_start(
    example: Example, question: str, separator: str | None, answer: str | None, start: int | None, k: int
) -> int:
    """Character offset in ``example.text`` where the paragraph starts (see :func:`qa_items`)."""
    text = example.text
    if separator is not None:
        if not text.startswith(question + separator):
            raise LensError.bad_argument(
                f"examples[{k}]", text[: len(question) + len(separator) + 20],
                f"a text that starts with its question and separator={separator!r}",
            )  # fmt: skip
        begin = len(question) + len(separator)
        candidates = [begin] if answer is None or text.startswith(answer, begin + start) else []
    else:
        first_word = _first_context_word(example, question)
        if answer is None:
            return first_word
        candidates = [c for c in range(len(question), first_word + 1) if text.startswith(answer, c + start)]
    if len(candidates) != 1:
        problem = "is not at" if not candidates else "does not tell where the paragraph starts, at"
        raise LensError.bad_argument(
            f"examples[{k}]", answer, f"a gold answer that its paragraph holds at answer_start={start}",
            f"The answer {problem} that offset"
            + ("" if separator is not None else " (pass the reader's separator to qa_items)") + ".",
        )  # fmt: skip
    return candidates[0]


def _first_context_word(example: Example, question: str) -> int:
    """Offset in ``example.text`` of the first word after the question's words (the text's end if none)."""
    roles = list((getattr(example, "labels", None) or {}).get("role", ()))
    n_question = next((i for i, role in enumerate(roles) if role != "question"), None)
    if n_question is None or not roles:
        return len(example.text)
    offsets = example.word_offsets()
    return int(offsets[n_question][0]) if int(offsets[n_question][0]) >= len(question) else len(example.text)


def _check_items(items: Sequence[QAItem], need_answers: bool) -> list[QAItem]:
    if isinstance(items, QAItem) or not isinstance(items, Sequence) or not items:
        raise LensError.bad_argument("items", items, "a non-empty list of QAItem")
    for k, item in enumerate(items):
        if (
            not isinstance(item, QAItem) or not isinstance(item.question, str) or not isinstance(item.context, str)
            or not item.question.strip() or not item.context.strip()
        ):  # fmt: skip
            raise LensError.bad_argument(f"items[{k}]", item, "a QAItem with a question and a context")
        if need_answers:
            _check_gold(item, k)
    return list(items)


def _check_gold(item: QAItem, k: int) -> None:
    """Refuse an item without a non-empty gold answer at its ``answer_start`` in the context."""
    if item.answer is None or item.answer_start is None:
        raise LensError.bad_argument(f"items[{k}]", item, "a QAItem with its answer and answer_start")
    if not isinstance(item.answer, str) or not item.answer.strip():
        raise LensError.bad_argument(f"items[{k}].answer", item.answer, "a non-empty answer text")
    start = item.answer_start
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise LensError.bad_argument(f"items[{k}].answer_start", start, "a non-negative int")
    if item.context[start : start + len(item.answer)] != item.answer:
        raise LensError.bad_argument(f"items[{k}].answer_start", item.answer_start,
                                     f"the offset of {item.answer!r} in the context")  # fmt: skip


def _check_window_room(tokenizer: Any, items: Sequence[QAItem], max_length: int, stride: int) -> None:
    """Refuse a question that leaves a window no more than ``stride`` tokens of context.

    A window is the question, the special tokens and a piece of the context; consecutive
    pieces overlap by ``stride`` tokens, so each must hold more than that.
    """
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    if max_length - specials - stride - 1 < 1:
        raise LensError.bad_argument(
            "max_length", max_length, f"at least {specials + stride + 2} tokens: {specials} special tokens, a "
            f"question and more than stride={stride} tokens of context",
        )  # fmt: skip
    lengths = [len(ids) for ids in tokenizer([i.question for i in items], add_special_tokens=False)["input_ids"]]
    for k, n in enumerate(lengths):
        if max_length - specials - n <= stride:
            raise LensError.bad_argument(
                f"items[{k}].question", f"a question of {n} tokens",
                f"at most {max_length - specials - stride - 1} tokens, so that a window of max_length={max_length} "
                f"holds it, {specials} special tokens and more than stride={stride} tokens of context",
                "Shorten the question, raise max_length (up to the model's limit) or lower stride.",
            )  # fmt: skip


def _windows(tokenizer: Any, items: Sequence[QAItem], max_length: int, stride: int) -> dict[str, Any]:
    """Tokenised (question, context window) pairs, with each window's item and context offsets."""
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 0 <= stride < max_length // 2:
        raise LensError.bad_argument("stride", stride, f"a number of tokens in 0..{max_length // 2 - 1} "
                                     f"(under half of max_length={max_length})")  # fmt: skip
    _check_window_room(tokenizer, items, max_length, stride)
    encoded = tokenizer(
        [i.question for i in items], [i.context for i in items], truncation="only_second", max_length=max_length,
        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length",
        padding_side="right",
    )  # fmt: skip
    windows = []
    for w in range(len(encoded["input_ids"])):
        sequence = encoded.sequence_ids(w)
        offsets = [o if sequence[t] == 1 else None for t, o in enumerate(encoded["offset_mapping"][w])]
        windows.append(offsets)
    return {
        "input_ids": torch.tensor(encoded["input_ids"]), "attention_mask": torch.tensor(encoded["attention_mask"]),
        "item": np.asarray(encoded["overflow_to_sample_mapping"]), "offsets": windows,
        **({"token_type_ids": torch.tensor(encoded["token_type_ids"])} if "token_type_ids" in encoded else {}),
    }  # fmt: skip


def _batch_inputs(windows: dict[str, Any], keys: list[str], rows: torch.Tensor, device: Any) -> dict[str, Any]:
    """The model inputs of windows ``rows``, cut to the longest of them (padding is right, so only padding goes)."""
    width = int(windows["attention_mask"][rows].sum(1).max())
    return {k: windows[k][rows, :width].to(device) for k in keys}


def _targets(windows: dict[str, Any], items: Sequence[QAItem]) -> tuple[np.ndarray, np.ndarray]:
    """Gold start and end token of every window; 0 ([CLS]) where the window does not hold the whole answer."""
    starts, ends = np.zeros(len(windows["item"]), np.int64), np.zeros(len(windows["item"]), np.int64)
    for w, (k, offsets) in enumerate(zip(windows["item"], windows["offsets"])):
        first, last = items[k].answer_start, items[k].answer_start + len(items[k].answer)
        inside = [t for t, o in enumerate(offsets) if o is not None]
        if not inside or offsets[inside[0]][0] > first or offsets[inside[-1]][1] < last:
            continue
        starts[w] = next(t for t in inside if offsets[t][1] > first)
        ends[w] = max(t for t in inside if offsets[t][0] < last)
    return starts, ends


def fine_tune_qa(
    model: Any,
    items: Sequence[QAItem],
    *,
    epochs: int = 1,
    learning_rate: float = 5e-5,
    batch_size: int = 16,
    max_length: int | None = None,
    stride: int | None = None,
    weight_decay: float = 0.01,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 100,
    progress: bool = True,
) -> FineTuneReport:
    """Train a span head (and the body) on QA items, in place.

    Parameters
    ----------
    model : LensModel
        Loaded with ``task="question-answering"``.
    items : sequence of QAItem
        With their answers (non-empty, at ``answer_start`` in the context).
    epochs, learning_rate, batch_size, weight_decay, seed
        AdamW with linear warm-up over the first 6% of the steps and linear decay; as
        :func:`lensnb.fine_tune.fine_tune_classifier` checks them.
    max_length : int, optional
        Window length (question + context window + specials), in tokens, at most the
        model's limit. Default: 384, or the model's limit if it is shorter.
    stride : int, optional
        Overlap of consecutive windows of a long context, in tokens: under half of
        ``max_length``, and under the room a window leaves each question for context.
        Default: 128, or less for short windows.
    checkpoint, checkpoint_every, progress
        As :func:`lensnb.fine_tune.fine_tune_classifier` (a resumed run ends exactly
        where an uninterrupted one would).

    Returns
    -------
    FineTuneReport
        The model is left trained, in eval mode.

    Raises
    ------
    LensError
        Naming the argument, for a model without a span head, items without a gold
        answer, a question too long for ``max_length``, any option out of its range,
        or a checkpoint that cannot be resumed.
    """
    lens_model = _check_qa_model(model)
    items = _check_items(items, need_answers=True)
    options = TrainingOptions.check(
        epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, weight_decay=weight_decay, seed=seed,
        checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress,
    )  # fmt: skip
    max_length = check_max_length(lens_model, max_length, default=384)
    stride = _default_stride(stride, max_length)
    with padding(lens_model):
        windows = _windows(lens_model.tokenizer, items, max_length, stride)
    starts, ends = _targets(windows, items)
    settings = {
        "task": "question-answering", **options.settings(), "max_length": max_length, "stride": int(stride),
        "n_items": len(items), "data": data_digest([(i.question, i.context, i.answer, int(i.answer_start)) for i in items]),
        "tokenizer": tokenizer_digest(lens_model.tokenizer),
    }  # fmt: skip
    batches = epoch_batches(len(starts), options.epochs, options.batch_size, options.seed)
    net, device = lens_model.model, lens_model.device
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in windows]

    def loss_of(rows: np.ndarray) -> torch.Tensor:
        inputs = _batch_inputs(windows, keys, torch.as_tensor(rows), device)
        return net(**inputs, start_positions=torch.as_tensor(starts[rows], device=device),
                   end_positions=torch.as_tensor(ends[rows], device=device)).loss  # fmt: skip

    return train_steps(lens_model, batches, loss_of, options, settings, "fine-tuning QA")


def _default_stride(stride: int | None, max_length: int) -> int:
    """``stride``, or by default 128 tokens, less for short windows (under half of ``max_length``)."""
    return min(128, max(0, max_length // 2 - 1)) if stride is None else stride


def _check_qa_model(model: Any) -> LensModel:
    lens_model = _as_lens_model(model)
    if not type(lens_model.model).__name__.endswith("ForQuestionAnswering"):
        raise LensError.bad_argument(
            "model", type(lens_model.model).__name__, "a question-answering model",
            "Load it with lensnb.load_model(name, task='question-answering').",
        )  # fmt: skip
    return lens_model


def answer_questions(
    model: Any,
    items: Sequence[QAItem],
    *,
    max_length: int | None = None,
    stride: int | None = None,
    max_answer_tokens: int = 30,
    batch_size: int = 16,
    progress: bool = True,
) -> list[Answer]:
    """The best answer span for each item, over all windows of its context.

    A span is a start token and an end token of the context (not the question), end >=
    start, at most ``max_answer_tokens`` long; its score is start logit + end logit.

    Parameters
    ----------
    model : LensModel
        With a span head (``task="question-answering"``).
    items : sequence of QAItem, length n_items
    max_length, stride : int, optional
        As :func:`fine_tune_qa`.
    max_answer_tokens : int
        Positive.
    batch_size : int
        Windows per forward pass (positive).
    progress : bool

    Returns
    -------
    list of Answer, one per item

    Raises
    ------
    LensError
        Naming the argument, for a model without a span head, bad items, a question too
        long for ``max_length``, or any option out of its range.
    """
    lens_model = _check_qa_model(model)
    net = lens_model.model
    items = _check_items(items, need_answers=False)
    max_length = check_max_length(lens_model, max_length, default=384)
    stride = _default_stride(stride, max_length)
    max_answer_tokens = check_integer("max_answer_tokens", max_answer_tokens, 1)
    batch_size = check_integer("batch_size", batch_size, 1)
    progress = check_flag("progress", progress)
    with padding(lens_model):
        windows = _windows(lens_model.tokenizer, items, max_length, stride)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in windows]
    best: list[Answer | None] = [None] * len(items)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            # shortest windows first, so that each batch is trimmed to little padding
            order = np.argsort(windows["attention_mask"].sum(1).numpy(), kind="stable")
            for begin in tqdm(range(0, len(order), batch_size), desc="answering", disable=not progress):
                rows = order[begin : begin + batch_size]
                out = net(**_batch_inputs(windows, keys, torch.as_tensor(rows), lens_model.device))
                start_logits = out.start_logits.float().cpu().numpy()
                end_logits = out.end_logits.float().cpu().numpy()
                width = start_logits.shape[1]
                for b, w in enumerate(rows):
                    k = int(windows["item"][w])
                    found = _best_span(start_logits[b], end_logits[b], windows["offsets"][w][:width], max_answer_tokens)
                    if found is not None and (best[k] is None or found[2] > best[k].score):
                        first, last, score = found
                        best[k] = Answer(items[k].context[first:last], first, last, score)
    finally:
        net.train(was_training)
    return [a if a is not None else Answer("", 0, 0, float("-inf")) for a in best]


def _best_span(start: np.ndarray, end: np.ndarray, offsets: list, longest: int) -> tuple[int, int, float] | None:
    context = np.array([o is not None for o in offsets])
    if not context.any():
        return None
    s = np.where(context, start, -np.inf)
    e = np.where(context, end, -np.inf)
    n = len(s)
    scores = s[:, None] + e[None, :]
    allowed = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=longest)
    scores = np.where(allowed, scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    if not np.isfinite(scores[i, j]):
        return None
    return int(offsets[i][0]), int(offsets[j][1]), float(scores[i, j])


def _normalise(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_scores(answers: Sequence[Answer | str], items: Sequence[QAItem]) -> dict[str, Any]:
    """SQuAD v1.1's exact match and token F1 of predicted answers against each item's gold answers.

    As the official ``evaluate-v1.1.py`` (``metric_max_over_ground_truths``), each
    prediction scores the best it reaches over the item's gold answers
    (``QAItem.alternatives``, from :func:`qa_items` on :func:`lensnb.data.read_squad`
    examples; ``answer`` alone where they are not given).

    Returns
    -------
    dict
        ``exact_match`` and ``f1`` (means, in 0..1) and ``per_item`` arrays of both.

    Raises
    ------
    LensError
        For ``items`` that is not a non-empty list of QAItem, an item without a gold
        answer (SQuAD v1.1 gives every question at least one: an empty prediction would
        match an empty gold answer), ``answers`` that is not a list of Answer or str, one
        per item.
    """
    if isinstance(items, QAItem) or not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise LensError.bad_argument("items", items, "a non-empty list of QAItem")
    if isinstance(answers, (str, Answer)) or not isinstance(answers, Sequence):
        raise LensError.bad_argument("answers", answers, "a list of Answer (or str), one per item")
    if len(answers) != len(items):
        raise LensError.bad_argument("answers", f"{len(answers)} answers", f"{len(items)}, one per item")
    for k, answer in enumerate(answers):
        if not isinstance(answer, (Answer, str)):
            raise LensError.bad_argument(f"answers[{k}]", answer, "an Answer or a str (the predicted text)")
    golds = []
    for k, item in enumerate(items):
        alternatives = getattr(item, "alternatives", None)
        if (
            not isinstance(item, QAItem)
            or not isinstance(alternatives, (tuple, list))
            or not all(isinstance(answer, str) for answer in alternatives)
        ):  # a str would be scored letter by letter
            raise LensError.bad_argument(
                f"items[{k}].alternatives", alternatives, "a tuple of gold answer texts (empty: the answer only)"
            )
        gold = tuple(alternatives) or ((item.answer,) if isinstance(item.answer, str) else ())
        if not any(answer.strip() for answer in gold):
            raise LensError.bad_argument(
                f"items[{k}]", item, "a QAItem with a gold answer (its answer or alternatives) to score against"
            )  # fmt: skip
        golds.append(gold)
    exact, f1 = np.zeros(len(items)), np.zeros(len(items))
    for k, (answer, gold_answers) in enumerate(zip(answers, golds)):
        predicted = _normalise(answer.text if isinstance(answer, Answer) else answer)
        for gold in gold_answers:
            gold = _normalise(gold)
            exact[k] = max(exact[k], float(predicted == gold))
            common = Counter(predicted.split()) & Counter(gold.split())
            overlap = sum(common.values())
            if overlap:
                precision, recall = overlap / len(predicted.split()), overlap / len(gold.split())
                f1[k] = max(f1[k], 2 * precision * recall / (precision + recall))
    return {"exact_match": float(exact.mean()), "f1": float(f1.mean()), "per_item": {"exact_match": exact, "f1": f1}}
