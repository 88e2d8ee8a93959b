"""Extractive question answering: a span head trained briefly on a model, and the answers it gives.

van Aken et al. (2019) look inside BERT fine-tuned for QA; offline, the embedded
all-MiniLM-L6-v2 gets a span head here (``lensnb.load_model(task="question-answering")``)
trained with :func:`fine_tune_qa` on SQuAD-style items, as the BERT QA recipe does: the
question and a window of the context as one input (``max_length`` 384 tokens, windows
``stride`` 128 tokens apart over long contexts), a start and an end logit per token,
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

import hashlib
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
from lensnb.fine_tune import FineTuneReport, resume_checkpoint, save_checkpoint
from lensnb.flags import check_flag

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
    """

    question: str
    context: str
    answer: str | None = None
    answer_start: int | None = None


@dataclass(frozen=True)
class Answer:
    """A predicted answer: its text, its characters in the context, and its score (start + end logit)."""

    text: str
    start: int
    end: int
    score: float


def qa_items(examples: Sequence[Example]) -> list[QAItem]:
    """QA items from the examples of :func:`lensnb.data.read_squad` (question + context text, answer in ``meta``)."""
    items = []
    for k, example in enumerate(examples):
        meta = getattr(example, "meta", None) or {}
        question = str(meta.get("question", "")).strip()
        if not question or not example.text.startswith(question):
            raise LensError.bad_argument(f"examples[{k}]", example, "an example of read_squad (question first)")
        context = example.text[len(question) :].lstrip()
        offset = len(example.text) - len(context)
        answer, start = meta.get("answer"), meta.get("answer_start")
        if answer is not None and context[start : start + len(answer)] != answer:
            start = context.find(answer)  # some readers count offsets from the start of the example text
            if start < 0:
                raise LensError.bad_argument(
                    f"examples[{k}]", answer, f"an answer found in its context (offset {offset})"
                )
        items.append(QAItem(question, context, answer, start))
    return items


def _check_items(items: Sequence[QAItem], need_answers: bool) -> list[QAItem]:
    if isinstance(items, QAItem) or not isinstance(items, Sequence) or not items:
        raise LensError.bad_argument("items", items, "a non-empty list of QAItem")
    for k, item in enumerate(items):
        if not isinstance(item, QAItem) or not item.question.strip() or not item.context.strip():
            raise LensError.bad_argument(f"items[{k}]", item, "a QAItem with a question and a context")
        if need_answers:
            if item.answer is None or item.answer_start is None:
                raise LensError.bad_argument(f"items[{k}]", item, "a QAItem with its answer and answer_start")
            if item.context[item.answer_start : item.answer_start + len(item.answer)] != item.answer:
                raise LensError.bad_argument(f"items[{k}].answer_start", item.answer_start,
                                             f"the offset of {item.answer!r} in the context")  # fmt: skip
    return list(items)


def _windows(tokenizer: Any, items: Sequence[QAItem], max_length: int, stride: int) -> dict[str, Any]:
    """Tokenised (question, context window) pairs, with each window's item and context offsets."""
    if not isinstance(stride, (int, np.integer)) or not 0 <= stride < max_length // 2:
        raise LensError.bad_argument("stride", stride, f"a number of tokens in 0..{max_length // 2 - 1} "
                                     f"(under half of max_length={max_length})")  # fmt: skip
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
    max_length: int = 384,
    stride: int = 128,
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
        With their answers.
    epochs, learning_rate, batch_size, weight_decay, seed
        AdamW with linear warm-up over the first 6% of the steps and linear decay.
    max_length, stride : int
        Window length (question + context window + specials) and the overlap of
        consecutive windows of a long context, in tokens.
    checkpoint, checkpoint_every, progress
        As :func:`lensnb.fine_tune.fine_tune_classifier`.

    Returns
    -------
    FineTuneReport
    """
    lens_model = _as_lens_model(model)
    net, tokenizer = lens_model.model, lens_model.tokenizer
    if not type(net).__name__.endswith("ForQuestionAnswering"):
        raise LensError.bad_argument(
            "model", type(net).__name__, "a question-answering model",
            "Load it with lensnb.load_model(name, task='question-answering').",
        )  # fmt: skip
    items = _check_items(items, need_answers=True)
    progress = check_flag("progress", progress)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("max_length", max_length)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise LensError.bad_argument(name, value, "a positive int")
    windows = _windows(tokenizer, items, max_length, stride)
    starts, ends = _targets(windows, items)
    settings = {
        "task": "question-answering", "epochs": int(epochs), "learning_rate": float(learning_rate),
        "batch_size": int(batch_size), "max_length": int(max_length), "stride": int(stride),
        "weight_decay": float(weight_decay), "seed": int(seed), "n_items": len(items),
        "data": hashlib.sha1(json.dumps([(i.question, i.context, i.answer, i.answer_start) for i in items])
                             .encode()).hexdigest(),
    }  # fmt: skip
    rng = np.random.default_rng(seed)
    n = len(starts)
    batches = [order[i : i + batch_size] for order in (rng.permutation(n) for _ in range(epochs))
               for i in range(0, n, batch_size)]  # fmt: skip
    total = len(batches)
    start = resume_checkpoint(net, checkpoint, settings)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=learning_rate,
                                  weight_decay=weight_decay)  # fmt: skip
    warmup = max(1, int(0.06 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + start + 1) / warmup, max(0.0, (total - s - start) / max(1, total - warmup)))
    )
    torch.manual_seed(seed + start)
    device, losses = lens_model.device, []
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in windows]
    net.train()
    try:
        for step in tqdm(range(start, total), desc="fine-tuning QA", initial=start, total=total, disable=not progress):
            inputs = _batch_inputs(windows, keys, torch.as_tensor(batches[step]), device)
            out = net(**inputs, start_positions=torch.as_tensor(starts[batches[step]], device=device),
                      end_positions=torch.as_tensor(ends[batches[step]], device=device))  # fmt: skip
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(out.loss.item())
            if checkpoint is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == total):
                save_checkpoint(net, checkpoint, settings, step + 1)
    finally:
        net.eval()
    return FineTuneReport(steps=total, losses=np.asarray(losses), resumed_from=start, parameters=settings)


def answer_questions(
    model: Any,
    items: Sequence[QAItem],
    *,
    max_length: int = 384,
    stride: int = 128,
    max_answer_tokens: int = 30,
    batch_size: int = 16,
    progress: bool = True,
) -> list[Answer]:
    """The best answer span for each item, over all windows of its context.

    A span is a start token and an end token of the context (not the question), end >=
    start, at most ``max_answer_tokens`` long; its score is start logit + end logit.

    Returns
    -------
    list of Answer, one per item
    """
    lens_model = _as_lens_model(model)
    net, tokenizer = lens_model.model, lens_model.tokenizer
    items = _check_items(items, need_answers=False)
    progress = check_flag("progress", progress)
    windows = _windows(tokenizer, items, max_length, stride)
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
    """SQuAD v1.1's exact match and token F1 of predicted answers against each item's gold answer.

    Returns
    -------
    dict
        ``exact_match`` and ``f1`` (means, in 0..1) and ``per_item`` arrays of both.
    """
    if len(answers) != len(items):
        raise LensError.bad_argument("answers", f"{len(answers)} answers", f"{len(items)}, one per item")
    exact, f1 = np.zeros(len(items)), np.zeros(len(items))
    for k, (answer, item) in enumerate(zip(answers, items)):
        predicted = _normalise(answer.text if isinstance(answer, Answer) else str(answer))
        gold = _normalise(item.answer or "")
        exact[k] = float(predicted == gold)
        common = Counter(predicted.split()) & Counter(gold.split())
        overlap = sum(common.values())
        if overlap:
            precision, recall = overlap / len(predicted.split()), overlap / len(gold.split())
            f1[k] = 2 * precision * recall / (precision + recall)
    return {"exact_match": float(exact.mean()), "f1": float(f1.mean()), "per_item": {"exact_match": exact, "f1": f1}}
