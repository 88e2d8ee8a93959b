"""What a relevance method explains: a class, a next token, or a span of output tokens.

The *target score* of a model input is one number per input, a function of the model's
logits that gradients and LRP start from:

- sequence classification, logits (batch, classes): the logit of the target class
  (default: the predicted class);
- causal language model, logits (batch, tokens, vocabulary): the logit of a next-token
  id at the last real position (default: the predicted token), or with
  :class:`OutputSpan`, the sum over a span of input positions of the logit each token
  received from the position before it (explaining a generated answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lensnb.errors import LensError

__all__ = ["OutputSpan", "HEADS", "head_kind", "resolve_targets", "target_scores"]

HEADS = ("classification", "causal-lm")


@dataclass(frozen=True)
class OutputSpan:
    """Explain the input tokens at positions ``[start, stop)`` of each input.

    Each token at position p is scored by the logit the model gave it at position
    p - 1, and the target score is their sum (for a causal language model).

    Parameters
    ----------
    start : int
        First position explained, at least 1 (position 0 has no predecessor).
        Negative values count from the end of each input.
    stop : int, optional
        One past the last position; default the end of each input.
    """

    start: int
    stop: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("stop", self.stop)):
            if (name == "start" or value is not None) and (
                isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))
            ):
                raise LensError.bad_argument(f"OutputSpan.{name}", value, "an integer token position")

    def positions(self, length: int) -> np.ndarray:
        """The explained positions of an input of ``length`` tokens."""
        start = self.start + length if self.start < 0 else self.start
        stop = length if self.stop is None else (self.stop + length if self.stop < 0 else self.stop)
        if not 1 <= start < stop <= length:
            raise LensError.bad_argument(
                "target", self, f"a span inside 1..{length} (an input of {length} tokens) with start < stop"
            )
        return np.arange(start, stop)


def head_kind(model: Any) -> str:
    """``"classification"`` or ``"causal-lm"``, from the model's class; else a LensError."""
    name = type(model).__name__
    if name.endswith("ForSequenceClassification"):
        return "classification"
    if name.endswith("ForCausalLM") or name.endswith("LMHeadModel"):
        return "causal-lm"
    raise LensError.bad_argument(
        "model",
        name,
        "a model with a sequence-classification or causal language-model head",
        "Relevance explains a logit: load with lensnb.load_model(name, task='sequence-classification') "
        "(e.g. num_labels=2) or task='causal-lm'.",
    )


def resolve_targets(target: Any, n_texts: int, segment_text: np.ndarray, head: str) -> np.ndarray | OutputSpan | None:
    """One target per model input from the user's ``target``.

    Parameters
    ----------
    target : None, int, sequence of int (one per text), or OutputSpan
    n_texts : int
    segment_text : ndarray of int, shape (n_inputs,)
        The text of each model input.
    head : {"classification", "causal-lm"}

    Returns
    -------
    None (the predicted class or token, chosen per input), ndarray of int64 of shape
    (n_inputs,), or the OutputSpan.
    """
    if target is None:
        return None
    if isinstance(target, OutputSpan):
        if head != "causal-lm":
            raise LensError.bad_argument(
                "target", target, "a class index (an OutputSpan needs a causal language model)"
            )
        return target
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return np.full(len(segment_text), int(target), dtype=np.int64)
    if isinstance(target, (Sequence, np.ndarray, torch.Tensor)) and not isinstance(target, str):
        values = np.asarray(target.tolist() if isinstance(target, torch.Tensor) else target)
        if values.shape != (n_texts,) or not np.issubdtype(values.dtype, np.integer):
            raise LensError.bad_argument("target", target, f"{n_texts} integer targets, one per text")
        return values.astype(np.int64)[segment_text]
    raise LensError.bad_argument(
        "target", target, "None (the predicted class or token), an int, one int per text, or an OutputSpan"
    )


def target_scores(
    logits: torch.Tensor,
    head: str,
    targets: np.ndarray | OutputSpan | None,
    input_ids: torch.Tensor,
    lengths: np.ndarray,
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The target score of every input of a batch, with the targets it used.

    Parameters
    ----------
    logits : Tensor, shape (batch, classes) or (batch, tokens, vocabulary)
    head : {"classification", "causal-lm"}
    targets : ndarray of int64 of shape (batch,), OutputSpan, or None
    input_ids : Tensor of int64, shape (batch, tokens)
    lengths : ndarray of int, shape (batch,)
        Real (non-padding) length of each input; padding is on the right.

    Returns
    -------
    scores : Tensor, shape (batch,)
        Differentiable target scores.
    chosen : ndarray of int64, shape (batch,)
        Class or token id explained (-1 for an output span).
    predicted : ndarray of int64, shape (batch,)
        The model's own top class, or top next token at the last real position.
    """
    batch = logits.shape[0]
    rows = torch.arange(batch, device=logits.device)
    if head == "classification":
        final = logits
    else:
        last = torch.as_tensor(np.asarray(lengths) - 1, device=logits.device)
        final = logits[rows, last]
    predicted = final.detach().argmax(-1).cpu().numpy().astype(np.int64)
    if isinstance(targets, OutputSpan):
        scores = []
        for b in range(batch):
            positions = torch.as_tensor(targets.positions(int(lengths[b])), device=logits.device)
            scores.append(logits[b, positions - 1, input_ids[b, positions]].sum())
        return torch.stack(scores), np.full(batch, -1, dtype=np.int64), predicted
    chosen = predicted if targets is None else np.asarray(targets, dtype=np.int64)
    n_outputs = final.shape[-1]
    bad = np.flatnonzero((chosen < 0) | (chosen >= n_outputs))
    if len(bad):
        what = "class" if head == "classification" else "token id"
        raise LensError.bad_argument("target", int(chosen[bad[0]]), f"a {what} in 0..{n_outputs - 1}")
    return final[rows, torch.as_tensor(chosen, device=logits.device)], chosen, predicted
