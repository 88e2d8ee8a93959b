"""Texts to padded model inputs for relevance, and per-input scores back to token rows.

Tokenization is extraction's (:func:`lensnb.token_table.tokenize_examples`), so a
:class:`~lensnb.relevance.Relevance` shares the token table, its word indices and
label columns with :class:`~lensnb.Activations`. Inputs longer than the model's
maximum are refused (``overflow="error"``, the default), or, when asked by name,
covered by sliding windows (each window explained on its own, every token scored
once) or cut with a warning that says how many tokens were dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lensnb.errors import LensError
from lensnb.examples import as_examples
from lensnb.extract import batch_segments, padded_inputs
from lensnb.token_table import TokenPlan, tokenize_examples

__all__ = ["OVERFLOWS", "ModelBatch", "plan_inputs", "model_batches", "ScoreSheet"]

OVERFLOWS = ("error", "window", "truncate")


@dataclass
class ModelBatch:
    """One padded batch of model inputs (right padding).

    Attributes
    ----------
    segments : ndarray of int64, shape (batch,)
        Which model inputs of the plan these are.
    input_ids, attention_mask : Tensor of int64, shape (batch, tokens)
    lengths : ndarray of int64, shape (batch,)
        Real length of each input.
    """

    segments: np.ndarray
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    lengths: np.ndarray

    @property
    def valid(self) -> torch.Tensor:
        """Boolean mask of real tokens, shape (batch, tokens)."""
        return self.attention_mask.bool()


def plan_inputs(
    lens_model: Any, inputs: Any, *, max_length: int | None, overflow: str, stride: int | None
) -> TokenPlan:
    """Tokenize ``inputs`` (str, list of str or of Example) into the token table and model inputs."""
    if overflow not in OVERFLOWS:
        raise LensError.bad_argument("overflow", overflow, f"one of {OVERFLOWS}")
    limit = lens_model.max_length
    if max_length is None:
        if limit is None:
            raise LensError.bad_argument("max_length", None, "an int: the model states no maximum input length")
        max_length = limit
    if not isinstance(max_length, (int, np.integer)) or max_length < 2 or (limit is not None and max_length > limit):
        raise LensError.bad_argument("max_length", max_length, f"an int between 2 and the model's limit {limit}")
    if stride is None:
        stride = max_length // 4
    if isinstance(stride, (bool, np.bool_)) or not isinstance(stride, (int, np.integer)) or stride < 0:
        raise LensError.bad_argument(
            "stride", stride, "None or a non-negative int (tokens shared by consecutive windows)"
        )
    examples = as_examples(inputs)
    return tokenize_examples(
        examples,
        lens_model.tokenizer,
        max_length=int(max_length),
        stride=int(stride),
        overflow=overflow,
        causal=lens_model.is_decoder,
        vocabulary=lens_model.vocabulary,
    )


def model_batches(plan: TokenPlan, pad_id: int, batch_size: int, device: torch.device) -> Iterator[ModelBatch]:
    """Padded batches of the plan's model inputs, similar lengths together."""
    token_ids = plan.tokens["token_id"].to_numpy()
    lengths = np.diff(plan.segment_offsets)
    for segments in batch_segments(plan, np.arange(plan.n_segments), batch_size, max_batch_tokens=batch_size * 512):
        ids, mask = padded_inputs(plan, segments, token_ids, pad_id)
        yield ModelBatch(
            segments=segments,
            input_ids=torch.as_tensor(ids, device=device),
            attention_mask=torch.as_tensor(mask, device=device),
            lengths=lengths[segments],
        )


class ScoreSheet:
    """Collects per-input scores into token-table rows (each token from the input that keeps it).

    Parameters
    ----------
    plan : TokenPlan
    n_levels : int
        Residual-stream levels kept per token (0 for none).
    """

    def __init__(self, plan: TokenPlan, n_levels: int = 0):
        self.plan = plan
        n_tokens, n_inputs = len(plan.tokens), plan.n_segments
        self.scores = np.full(n_tokens, np.nan)
        self.layer_scores = np.full((n_levels, n_tokens), np.nan) if n_levels else None
        self.target = np.full(n_inputs, -1, dtype=np.int64)
        self.predicted = np.full(n_inputs, -1, dtype=np.int64)
        self.target_score = np.full(n_inputs, np.nan)
        self.delta = np.full(n_inputs, np.nan)

    def add(
        self,
        batch: ModelBatch,
        scores: torch.Tensor,
        *,
        target: np.ndarray,
        predicted: np.ndarray,
        target_score: torch.Tensor,
        delta: torch.Tensor | None = None,
        layer_scores: torch.Tensor | None = None,
    ) -> None:
        """Store one batch: ``scores`` (batch, tokens); ``layer_scores`` (batch, levels, tokens)."""
        plan = self.plan
        values = scores.detach().to("cpu", torch.float64).numpy()
        levels = None if layer_scores is None else layer_scores.detach().to("cpu", torch.float64).numpy()
        for b, segment in enumerate(batch.segments):
            start, stop = plan.keep_rows[segment]
            local = plan.keep_local[segment]
            self.scores[start:stop] = values[b, local : local + stop - start]
            if levels is not None and self.layer_scores is not None:
                self.layer_scores[:, start:stop] = levels[b, :, local : local + stop - start]
        self.target[batch.segments] = target
        self.predicted[batch.segments] = predicted
        self.target_score[batch.segments] = target_score.detach().to("cpu", torch.float64).numpy()
        if delta is not None:
            self.delta[batch.segments] = delta.detach().to("cpu", torch.float64).numpy()

    def segment_table(self):
        import pandas as pd

        return pd.DataFrame({
            "text_id": self.plan.segment_text, "window": self.plan.segment_window, "target": self.target,
            "target_score": self.target_score, "predicted": self.predicted, "delta": self.delta,
        })  # fmt: skip
