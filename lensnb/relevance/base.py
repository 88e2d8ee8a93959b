"""One uniform call for every relevance method, Captum-style.

``Method(model, **hyperparameters).attribute(inputs, target=None, return_delta=False)``
returns a :class:`~lensnb.relevance.Relevance`. Subclasses implement one batch; this
class tokenizes (extraction's token table), batches with right padding, resolves
targets, runs the model in the requested precision inside temporary settings that are
undone afterwards, shows progress and gathers the scores back into token rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from lensnb.errors import LensError
from lensnb.extract import _as_lens_model
from lensnb.flags import check_flag, checks_flags
from lensnb.relevance.capture import DTYPES, model_for_dtype, prepared
from lensnb.relevance.inputs import ModelBatch, ScoreSheet, model_batches, plan_inputs
from lensnb.relevance.result import Relevance
from lensnb.relevance.targets import OutputSpan, head_kind, resolve_targets

__all__ = ["RelevanceMethod", "BatchRelevance"]


@dataclass
class BatchRelevance:
    """One batch's relevance.

    Attributes
    ----------
    scores : Tensor, shape (batch, T)
    target_score : Tensor, shape (batch,)
    target, predicted : ndarray of int64, shape (batch,)
    delta : Tensor of shape (batch,), optional
    layer_scores : Tensor of shape (batch, L + 1, T), optional
        Levels 0..L of the residual stream.
    """

    scores: torch.Tensor
    target_score: torch.Tensor
    target: np.ndarray
    predicted: np.ndarray
    delta: torch.Tensor | None = None
    layer_scores: torch.Tensor | None = None


class RelevanceMethod:
    """Base of every relevance method.

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
        A model with a sequence-classification head, or a causal language model where
        the method supports one (``lensnb.load_model(..., task=...)``).
    batch_size : int
        Model inputs per forward pass (padded batches give the same relevance as
        one-by-one calls).
    dtype : {"float32", "float64"}
        Precision of the run; ``"float64"`` works on a float64 copy of the model, for
        exact comparisons.
    max_length : int, optional
        Longest model input; default the model's limit.
    overflow : {"error", "window", "truncate"}
        Texts longer than ``max_length``: refuse them (default); explain each sliding
        window on its own (every token scored once, by the window that keeps it; encoders
        only: a decoder's window would explain the token after its own end, inside the
        text, and its windows different tokens); or cut them, with a warning that counts
        the dropped tokens.
    stride : int, optional
        Tokens shared by consecutive windows (``overflow="window"``).
    progress : bool
        Show a progress bar.
    """

    name: ClassVar[str] = "relevance"
    supports_layers: ClassVar[bool] = False
    supports_decoders: ClassVar[bool] = True
    needs_attentions: ClassVar[bool] = False

    def __init__(
        self,
        model: Any,
        *,
        batch_size: int = 16,
        dtype: str = "float32",
        max_length: int | None = None,
        overflow: str = "error",
        stride: int | None = None,
        progress: bool = True,
    ):
        self.lens_model = _as_lens_model(model)
        self.head = head_kind(self.lens_model.model)
        if self.head == "causal-lm" and not self.supports_decoders:
            raise LensError.bad_argument(
                "model", self.lens_model.name, f"a sequence classifier for {type(self).__name__}",
                "This method follows the paper's [CLS]-classifier set-up; AttnLRP, integrated gradients, "
                "input x gradient and the attention baselines explain language models.",
            )  # fmt: skip
        progress = check_flag("progress", progress)
        if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise LensError.bad_argument("batch_size", batch_size, "a positive int")
        if dtype not in DTYPES:
            raise LensError.bad_argument("dtype", dtype, f"one of {tuple(DTYPES)}")
        self.batch_size = int(batch_size)
        self.dtype = dtype
        self.max_length = max_length
        self.overflow = overflow
        self.stride = stride
        self.progress = progress
        self._model_copy: torch.nn.Module | None = None

    # -- what subclasses provide -------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        """The method's own parameters, recorded in every Relevance."""
        return {}

    def _attribute_batch(self, model: torch.nn.Module, batch: ModelBatch, targets, layers: bool) -> BatchRelevance:
        raise NotImplementedError

    # -- the uniform call ---------------------------------------------------------------
    def _model(self) -> torch.nn.Module:
        model = self.lens_model.model
        if self.dtype == "float32" and next(model.parameters()).dtype == torch.float32:
            return model
        if self._model_copy is None:
            self._model_copy = model_for_dtype(model, self.dtype)
        return self._model_copy

    def read_positions(self, batch: ModelBatch) -> torch.Tensor:
        """The token each input's head reads: [CLS] (0) for encoders, the last real token for decoders.

        A decoder's classification head reads, as transformers finds it, the rightmost token
        that is not ``config.pad_token_id``: for GPT-2 set up with its EOS as the pad token, a
        text that ends in EOS is read at the token before it."""
        device = batch.input_ids.device
        if not self.lens_model.is_decoder:
            return torch.zeros(len(batch.lengths), dtype=torch.long, device=device)
        pad = getattr(self.lens_model.model.config, "pad_token_id", None)
        if self.head == "classification" and isinstance(pad, int):
            positions = torch.arange(batch.input_ids.shape[1], device=device)
            return (positions * (batch.input_ids != pad)).argmax(dim=-1)
        return torch.as_tensor(batch.lengths - 1, device=device)

    @checks_flags
    def attribute(
        self, inputs: Any, target: Any = None, return_delta: bool = False, *, layers: bool = False
    ) -> Relevance | tuple[Relevance, np.ndarray]:
        """Relevance of every input token for ``target``.

        Parameters
        ----------
        inputs : str, sequence of str, or sequence of Example
        target : None, int, sequence of int (one per text), or OutputSpan
            Class index (classifiers) or next-token id (language models); None explains
            the predicted one; an :class:`OutputSpan` explains a span of output tokens.
        return_delta : bool
            Also return the conservation delta of every model input (Captum's
            convention); it is in ``Relevance.segments["delta"]`` either way.
        layers : bool
            Also keep the relevance at every residual-stream level (``layer_scores``),
            for the methods that define it.

        Returns
        -------
        Relevance, or (Relevance, ndarray of shape (n_inputs,)) with ``return_delta``.
        """
        if layers and not self.supports_layers:
            raise LensError.bad_argument(
                "layers", layers, f"False for {type(self).__name__}",
                "Per-layer relevance exists for TransformerAttribution, AttentionRollout, FullLRP, AttnLRP "
                "and InputXGradient.",
            )  # fmt: skip
        lens_model = self.lens_model
        plan = plan_inputs(lens_model, inputs, max_length=self.max_length, overflow=self.overflow, stride=self.stride)
        _refuse_decoder_windows(lens_model, plan.segment_text)
        targets = resolve_targets(target, len(plan.texts), plan.segment_text, self.head)
        model = self._model()
        n_levels = lens_model.n_layers + 1 if layers else 0
        sheet = ScoreSheet(plan, n_levels)
        device = next(model.parameters()).device
        pad_id, batch_size = lens_model.padding_id, self.batch_size
        if self.head == "classification" and lens_model.is_decoder:
            # a decoder classifier reads its last real token, found from the config's padding id
            config_pad = getattr(model.config, "pad_token_id", None)
            if config_pad is None:
                batch_size = 1  # transformers cannot find it in a padded batch without one
            else:
                pad_id = int(config_pad)
        batches = list(model_batches(plan, pad_id, batch_size, device))
        with prepared(model, attentions=self.needs_attentions):
            bar = tqdm(total=plan.n_segments, desc=type(self).__name__, unit="input", disable=not self.progress)
            with bar:
                for batch in batches:
                    chosen = targets if targets is None or isinstance(targets, OutputSpan) else targets[batch.segments]
                    result = self._attribute_batch(model, batch, chosen, layers)
                    sheet.add(
                        batch, result.scores, target=result.target, predicted=result.predicted,
                        target_score=result.target_score, delta=result.delta, layer_scores=result.layer_scores,
                    )  # fmt: skip
                    bar.update(len(batch.segments))
        parameters = {**self.hyperparameters(), "dtype": self.dtype, "overflow": self.overflow, "head": self.head}
        relevance = Relevance(
            method=self.name,
            parameters=parameters,
            tokens=plan.tokens,
            texts=plan.texts,
            scores=sheet.scores,
            segments=_named(sheet.segment_table(), lens_model, self.head),
            layer_scores=sheet.layer_scores,
            layers=tuple(range(lens_model.n_layers + 1)) if layers else None,
        )
        return (relevance, relevance.delta) if return_delta else relevance

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({self.lens_model.name!r}{', ' if shown else ''}{shown})"


def stack_levels(levels: dict[int, torch.Tensor], n_levels: int, like: torch.Tensor) -> torch.Tensor:
    """(batch, n_levels, T) from a dict of level -> (batch, T), NaN where a level is missing."""
    out = torch.full((like.shape[0], n_levels, like.shape[-1]), float("nan"), dtype=like.dtype, device=like.device)
    for level, values in levels.items():
        out[:, level] = values
    return out


def _refuse_decoder_windows(lens_model: Any, segment_text: np.ndarray) -> None:
    """Refuse a decoder's text split into windows: each window's head reads its own last token,
    so the windows would explain different tokens (the one after each window's end, inside the text)."""
    if not lens_model.is_decoder or len(segment_text) == 0:
        return
    windows = np.bincount(np.asarray(segment_text, dtype=np.int64))
    if windows.max() > 1:
        text = int(np.argmax(windows > 1))
        raise LensError.bad_argument(
            "overflow", "window", "'error' or 'truncate' for a decoder, or a max_length that holds each text",
            f"Text {text} needs {int(windows[text])} windows. A decoder's window explains the token after its own "
            "end, so the windows would explain different tokens, most of them inside the text. Shorten the texts "
            "to the part before the token to explain, or raise max_length.",
        )  # fmt: skip


def _named(segments: pd.DataFrame, lens_model: Any, head: str) -> pd.DataFrame:
    """``segments`` with target_name and predicted_name: what each target and prediction id stands for."""
    if head == "causal-lm":
        tokenizer = lens_model.tokenizer

        def name(value: int) -> str:
            return tokenizer.decode([value]) if value >= 0 else ""
    else:
        labels = getattr(lens_model.model.config, "id2label", None) or {}

        def name(value: int) -> str:
            return str(labels.get(value, labels.get(str(value), value))) if value >= 0 else ""

    segments = segments.copy()
    for column in ("target", "predicted"):
        if column in segments:
            segments[f"{column}_name"] = [name(int(value)) for value in segments[column]]
    return segments
