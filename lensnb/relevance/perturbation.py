"""Perturbed inputs from a relevance, and the classifier's probabilities on them.

The building blocks of the faithfulness metrics (:mod:`lensnb.relevance.faithfulness`):
turn a :class:`~lensnb.relevance.result.Relevance` into per-text token ids, special
token flags and scores; rank each text's content tokens by relevance; remove the first
``count`` of them (deleted from the sequence, or replaced with the mask token); and
classify the perturbed token-id sequences in right-padded batches.

- :func:`removal_order` ranks the content (non-special) tokens of one input, most
  relevant first (``order="positive"``) or least relevant first (``"negative"``),
  ties to the earlier position;
- :func:`removal_counts` turns fractions of content tokens into token counts
  (``round(fraction * n_content)``, halves up);
- :func:`perturbed_ids` builds one input's perturbed token ids, one per count;
- :func:`class_probabilities` classifies token-id sequences, the model in eval mode
  under ``torch.no_grad`` and put back as it was afterwards.

Special tokens ([CLS], [SEP], <s>) are never removed.

References
----------
Chefer, Gur & Wolf 2021, "Transformer Interpretability Beyond Attention
Visualization", CVPR (Section 5, positive and negative perturbation).
DeYoung, Jain, Rajani, Lehman, Xiong, Socher & Wallace 2020, "ERASER: A benchmark to
evaluate rationalized NLP models", ACL (Section 4, removing the top k% tokens, or
keeping only them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lensnb.errors import LensError
from lensnb.extract import _as_lens_model
from lensnb.flags import checks_flags
from lensnb.relevance.capture import prepared
from lensnb.relevance.result import Relevance
from lensnb.relevance.targets import head_kind

__all__ = [
    "ORDERS",
    "REMOVALS",
    "class_probabilities",
    "perturbed_ids",
    "removal_counts",
    "removal_order",
]

ORDERS = ("positive", "negative")
REMOVALS = ("delete", "mask")


# -- building perturbed inputs ------------------------------------------------------------
def removal_order(scores: np.ndarray, special: np.ndarray, order: str = "positive") -> np.ndarray:
    """Positions of the content tokens of one input, in the order they are removed.

    Parameters
    ----------
    scores : ndarray of float, shape (T,)
        Relevance of each token of the input.
    special : ndarray of bool, shape (T,)
        Special tokens, never removed.
    order : {"positive", "negative"}
        Highest relevance first, or lowest first; ties go to the earlier position.

    Returns
    -------
    ndarray of int64, shape (n_content,)
    """
    if order not in ORDERS:
        raise LensError.bad_argument("order", order, f"one of {ORDERS}")
    scores, special = np.asarray(scores, dtype=np.float64), np.asarray(special, dtype=bool)
    content = np.flatnonzero(~special)
    key = -scores[content] if order == "positive" else scores[content]
    return content[np.lexsort((content, key))].astype(np.int64)


def removal_counts(
    fractions: np.ndarray, n_content: int, *, at_least_one: bool = False, keep_one: bool = False
) -> np.ndarray:
    """Tokens removed at each fraction: ``round(fraction * n_content)``, halves up.

    With ``at_least_one``, every fraction above 0 removes at least one token (AOPC's
    bins); with ``keep_one``, at most ``n_content - 1`` (an input without special
    tokens is never deleted down to nothing). Shape (n_fractions,), int64.
    """
    counts = np.floor(np.asarray(fractions, dtype=np.float64) * n_content + 0.5 + 1e-9).astype(np.int64)
    if at_least_one:
        counts = np.where(np.asarray(fractions) > 0, np.maximum(counts, 1), counts)
    return np.clip(counts, 0, max(n_content - 1, 0) if keep_one else n_content)


def _apply(token_ids: np.ndarray, remove: np.ndarray, removal: str, mask_id: int | None) -> np.ndarray:
    if removal == "delete":
        return token_ids[~remove]
    out = token_ids.copy()
    out[remove] = mask_id
    return out


def perturbed_ids(
    token_ids: np.ndarray,
    special: np.ndarray,
    scores: np.ndarray,
    counts: Sequence[int],
    *,
    order: str = "positive",
    removal: str = "delete",
    mask_id: int | None = None,
) -> list[np.ndarray]:
    """One input's token ids with its first ``count`` ranked content tokens removed, per count.

    Parameters
    ----------
    token_ids : ndarray of int, shape (T,)
    special : ndarray of bool, shape (T,)
    scores : ndarray of float, shape (T,)
    counts : sequence of int
        How many content tokens to remove, one perturbed input each.
    order : {"positive", "negative"}
        See :func:`removal_order`.
    removal : {"delete", "mask"}
        Drop the tokens from the sequence, or replace them with ``mask_id``.
    mask_id : int, optional
        Needed for ``removal="mask"``.

    Returns
    -------
    list of ndarray of int64, one per count
    """
    if removal not in REMOVALS:
        raise LensError.bad_argument("removal", removal, f"one of {REMOVALS}")
    if removal == "mask" and mask_id is None:
        raise LensError.bad_argument("mask_id", None, "a token id for removal='mask'")
    token_ids = np.asarray(token_ids, dtype=np.int64)
    ranking = removal_order(scores, special, order)
    out = []
    for count in counts:
        remove = np.zeros(len(token_ids), dtype=bool)
        remove[ranking[: int(count)]] = True
        out.append(_apply(token_ids, remove, removal, mask_id))
    return out


# -- checking inputs ----------------------------------------------------------------------
@dataclass
class _Inputs:
    """Each text's token ids, special flags and scores, in the relevance's text order."""

    token_ids: list[np.ndarray]
    special: list[np.ndarray]
    scores: list[np.ndarray]
    reference: np.ndarray


def _prepare(lens_model: Any, relevance: Relevance, labels: Any) -> _Inputs:
    if not isinstance(relevance, Relevance):
        raise LensError.bad_argument("relevance", relevance, "a Relevance from a method's attribute()")
    if head_kind(lens_model.model) != "classification":
        raise LensError.bad_argument(
            "model", lens_model.name, "a sequence classifier (lensnb.load_model(..., task='sequence-classification'))"
        )
    text_ids = relevance.texts["text_id"].to_numpy()
    segment_text = relevance.segments["text_id"].to_numpy()
    if len(segment_text) != len(np.unique(segment_text)):
        raise LensError.bad_argument(
            "relevance", relevance, "one model input per text",
            "Texts explained window by window (overflow='window') have no single input to perturb; compute the "
            "relevance with overflow='truncate' or on shorter texts.",
        )  # fmt: skip
    tokens = relevance.tokens
    rows_by_text = np.argsort(tokens["text_id"].to_numpy(), kind="stable")
    bounds = np.searchsorted(tokens["text_id"].to_numpy()[rows_by_text], np.r_[text_ids, np.iinfo(np.int64).max])
    all_ids, all_special = tokens["token_id"].to_numpy(np.int64), tokens["special"].to_numpy(bool)
    positions = tokens["position"].to_numpy()
    ids, special, scores = [], [], []
    for i in range(len(text_ids)):
        rows = rows_by_text[bounds[i] : bounds[i + 1]]
        rows = rows[np.argsort(positions[rows], kind="stable")]
        values = relevance.scores[rows]
        if np.isnan(values[~all_special[rows]]).any():
            raise LensError.bad_argument("relevance", relevance, f"finite scores (text {text_ids[i]} has NaN scores)")
        ids.append(all_ids[rows])
        special.append(all_special[rows])
        scores.append(values)
    n_classes = int(getattr(lens_model.model.config, "num_labels", 0) or 0)
    if labels is None:
        target = dict(zip(segment_text.tolist(), relevance.segments["target"].to_numpy(np.int64).tolist()))
        reference = np.array([target.get(int(t), -1) for t in text_ids], dtype=np.int64)
        if (reference < 0).any():
            raise LensError.bad_argument(
                "relevance", relevance, "class targets (a relevance explaining a class of a sequence classifier)",
                "Pass labels=[one class per text] to score against given classes.",
            )  # fmt: skip
    else:
        values = np.asarray(labels.tolist() if isinstance(labels, torch.Tensor) else labels)
        if (values.shape != (len(text_ids),) or not np.issubdtype(values.dtype, np.integer)
                or (values < 0).any() or (n_classes and (values >= n_classes).any())):  # fmt: skip
            raise LensError.bad_argument(
                "labels", labels, f"{len(text_ids)} class indices in 0..{max(n_classes - 1, 0)}, one per text"
            )
        reference = values.astype(np.int64)
    return _Inputs(ids, special, scores, reference)


def _mask_id(lens_model: Any, removal: str) -> int | None:
    if removal not in REMOVALS:
        raise LensError.bad_argument("removal", removal, f"one of {REMOVALS}")
    if removal == "delete":
        return None
    tokenizer = lens_model.tokenizer
    for attribute in ("mask_token_id", "unk_token_id"):
        value = getattr(tokenizer, attribute, None)
        if isinstance(value, int):
            return value
    raise LensError.bad_argument(
        "removal", removal, "'delete': this tokenizer has neither a mask nor an unknown token to mask with"
    )


def _check_batch(batch_size: Any) -> int:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise LensError.bad_argument("batch_size", batch_size, "a positive int")
    return int(batch_size)


def _check_fractions(name: str, values: Any, *, with_zero: bool) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        array = np.array([np.nan])
    if (len(array) == 0 or not np.isfinite(array).all() or (array < 0).any() or (array > 1).any()
            or (np.diff(array) <= 0).any()):  # fmt: skip
        raise LensError.bad_argument(name, values, "increasing fractions between 0 and 1")
    if with_zero and array[0] > 0:
        array = np.r_[0.0, array]
    return array


# -- classifying --------------------------------------------------------------------------
@checks_flags
def class_probabilities(
    lens_model: Any,
    sequences: Sequence[np.ndarray],
    *,
    batch_size: int = 16,
    progress: bool = True,
    desc: str = "",
    name: str = "steps",
) -> np.ndarray:
    """Class probabilities of token-id sequences, in right-padded batches.

    The model runs in eval mode under ``torch.no_grad`` (its mode is restored after);
    ``name`` is the argument an empty sequence is blamed on. Decoder classifiers are
    padded with ``config.pad_token_id`` (their head finds the last real token by it),
    or run one by one when it is unset.

    Returns
    -------
    ndarray of float64, shape (n_sequences, n_classes)
    """
    lens_model = _as_lens_model(lens_model)
    batch_size = _check_batch(batch_size)
    model = lens_model.model
    device = next(model.parameters()).device
    pad = lens_model.padding_id
    if lens_model.is_decoder:  # the head reads the last token that is not config.pad_token_id
        configured = getattr(model.config, "pad_token_id", None)
        pad, batch_size = (configured, batch_size) if isinstance(configured, int) else (0, 1)  # else one by one
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    if (lengths == 0).any():
        raise LensError.bad_argument(
            name, "a fraction that removes every token", "inputs that keep at least one token",
            "This tokenizer adds no special tokens, so removing all content leaves nothing: use fractions below 1 "
            "(or removal='mask' with a tokenizer that has a mask or unknown token).",
        )  # fmt: skip
    sorted_rows = np.argsort(-lengths, kind="stable")
    out: np.ndarray | None = None
    with prepared(model, attentions=False), torch.no_grad():
        with tqdm(total=len(sequences), desc=desc or "classify", unit="input", disable=not progress) as bar:
            for start in range(0, len(sequences), batch_size):
                chosen = sorted_rows[start : start + batch_size]
                width = int(lengths[chosen].max())
                ids = np.full((len(chosen), width), pad, dtype=np.int64)
                mask = np.zeros((len(chosen), width), dtype=np.int64)
                for b, row in enumerate(chosen):
                    ids[b, : lengths[row]] = sequences[row]
                    mask[b, : lengths[row]] = 1
                logits = model(input_ids=torch.as_tensor(ids, device=device),
                               attention_mask=torch.as_tensor(mask, device=device)).logits  # fmt: skip
                probabilities = torch.softmax(logits.detach().to(torch.float64), dim=-1).cpu().numpy()
                if out is None:
                    out = np.empty((len(sequences), probabilities.shape[-1]))
                out[chosen] = probabilities
                bar.update(len(chosen))
    return out if out is not None else np.empty((0, 0))
