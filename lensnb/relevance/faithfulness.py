"""Faithfulness of relevance: perturbation curves, their AUC, and AOPC.

A relevance map is faithful when the tokens it ranks high are the ones the model
needs. Two tests re-classify each text with tokens removed in the order the relevance
gives:

- **perturbation curves** (Chefer et al. 2021, Section 5): remove 0%, 10%, ... 100%
  of the content tokens, most relevant first (``order="positive"``) or least relevant
  first (``"negative"``), and record how often the model still gives the class that
  was explained. The area under that accuracy curve (trapezoid, including the
  unperturbed point) is low for a faithful map under positive order and high under
  negative order;
- **AOPC comprehensiveness and sufficiency** (DeYoung et al. 2020, ERASER): the drop
  of the explained class's probability when the top k% tokens are removed, and when
  only they are kept, averaged over bins k.

Special tokens ([CLS], [SEP], <s>) are never removed. Every perturbed input of every
text is classified in padded batches (right padding with an attention mask), the
model in eval mode under ``torch.no_grad`` and put back as it was afterwards; the
perturbed inputs are built and classified by :mod:`lensnb.relevance.perturbation`.

References
----------
Chefer, Gur & Wolf 2021, "Transformer Interpretability Beyond Attention
Visualization", CVPR (Section 5, positive and negative perturbation, AUC).
DeYoung, Jain, Rajani, Lehman, Xiong, Socher & Wallace 2020, "ERASER: A benchmark to
evaluate rationalized NLP models", ACL (Section 4, comprehensiveness, sufficiency and
their AOPC over bins 1, 5, 10, 20, 50%).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lensnb.errors import LensError
from lensnb.extract import _as_lens_model
from lensnb.flags import checks_flags
from lensnb.relevance.perturbation import (
    ORDERS,
    REMOVALS,
    _apply,
    _check_batch,
    _check_fractions,
    _mask_id,
    _prepare,
    class_probabilities,
    perturbed_ids,
    removal_counts,
    removal_order,
)
from lensnb.relevance.result import Relevance

__all__ = [
    "AOPCResult",
    "ORDERS",
    "PerturbationCurve",
    "REMOVALS",
    "aopc",
    "perturbation_auc",
    "perturbation_curve",
]

DEFAULT_STEPS = tuple(float(f) for f in np.round(np.arange(0, 1.01, 0.1), 10))
AOPC_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)


@dataclass(frozen=True)
class PerturbationCurve:
    """Accuracy of a classifier as the tokens a relevance ranks first are removed.

    Attributes
    ----------
    fractions : ndarray of float64, shape (n_steps,)
        Fraction of each text's content (non-special) tokens removed; starts at 0.
    accuracy : ndarray of float64, shape (n_steps,)
        Fraction of texts whose predicted class equals the reference class ``y``.
    probability : ndarray of float64, shape (n_steps,)
        Mean probability of ``y`` over texts.
    order : {"positive", "negative"}
        Most relevant tokens removed first, or least relevant first.
    method : str
        The relevance method scored.
    parameters : dict
        ``removal``, ``reference`` (``"explained target"`` or ``"labels"``), and the
        relevance's own parameters under ``relevance``.
    predicted : ndarray of int64, shape (n_texts, n_steps)
        The model's class for each text at each step.
    reference : ndarray of int64, shape (n_texts,)
        The class ``y`` each text is scored against.

    Notes
    -----
    :attr:`auc` is the trapezoid area under ``accuracy`` over ``fractions``; lower is
    better (more faithful) for positive order, higher is better for negative order.
    """

    fractions: np.ndarray
    accuracy: np.ndarray
    probability: np.ndarray
    order: str
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    predicted: np.ndarray | None = None
    reference: np.ndarray | None = None

    @property
    def auc(self) -> float:
        """Trapezoid area under the accuracy curve, between 0 and 1 for steps spanning [0, 1].

        Lower is better for ``order="positive"``, higher for ``"negative"``. With steps
        that stop before 1 the area covers [0, last step] only (not rescaled).
        """
        # the trapezoid rule by hand: np.trapezoid is NumPy >= 2.0 only (np.trapz before it), and
        # lensnb supports numpy >= 1.26
        accuracy, fractions = np.asarray(self.accuracy, np.float64), np.asarray(self.fractions, np.float64)
        return float(np.sum((accuracy[1:] + accuracy[:-1]) / 2 * np.diff(fractions)))

    @property
    def auc_percent(self) -> float:
        """:attr:`auc` in percent, as the paper's tables give it."""
        return 100.0 * self.auc

    def to_pandas(self) -> pd.DataFrame:
        """One row per step: fraction, accuracy, probability."""
        return pd.DataFrame({"fraction": self.fractions, "accuracy": self.accuracy, "probability": self.probability})

    def __repr__(self) -> str:
        return (f"PerturbationCurve({self.method}, order={self.order!r}, {len(self.fractions)} steps, "
                f"AUC={self.auc_percent:.2f}%)")  # fmt: skip


@dataclass(frozen=True)
class AOPCResult:
    """AOPC comprehensiveness and sufficiency of a relevance (ERASER).

    Attributes
    ----------
    bins : ndarray of float64, shape (n_bins,)
        Fractions k of content tokens (at least one token per text).
    comprehensiveness_per_bin, sufficiency_per_bin : ndarray of float64, shape (n_bins, n_texts)
        ``p(y|x) - p(y|x without its top k)`` and ``p(y|x) - p(y|only its top k)``.
    full_probability : ndarray of float64, shape (n_texts,)
        ``p(y|x)`` on the unperturbed inputs.
    reference : ndarray of int64, shape (n_texts,)
        The class ``y`` of each text.
    method : str
    parameters : dict
    """

    bins: np.ndarray
    comprehensiveness_per_bin: np.ndarray
    sufficiency_per_bin: np.ndarray
    full_probability: np.ndarray
    reference: np.ndarray
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def comprehensiveness(self) -> float:
        """AOPC comprehensiveness: mean over bins and texts (higher is better)."""
        return float(self.comprehensiveness_per_bin.mean())

    @property
    def sufficiency(self) -> float:
        """AOPC sufficiency: mean over bins and texts (lower is better)."""
        return float(self.sufficiency_per_bin.mean())

    def to_pandas(self) -> pd.DataFrame:
        """One row per bin: bin, comprehensiveness, sufficiency (means over texts)."""
        return pd.DataFrame({
            "bin": self.bins, "comprehensiveness": self.comprehensiveness_per_bin.mean(axis=1),
            "sufficiency": self.sufficiency_per_bin.mean(axis=1),
        })  # fmt: skip

    def __repr__(self) -> str:
        return (f"AOPCResult({self.method}, comprehensiveness={self.comprehensiveness:.4f}, "
                f"sufficiency={self.sufficiency:.4f}, {len(self.bins)} bins)")  # fmt: skip


def _parameters(removal: str, labels: Any, relevance: Relevance) -> dict[str, Any]:
    reference = "explained target" if labels is None else "labels"
    return {"removal": removal, "reference": reference, "relevance": dict(relevance.parameters)}


# -- the metrics --------------------------------------------------------------------------
@checks_flags
def perturbation_curve(
    model: Any,
    relevance: Relevance,
    *,
    labels: Sequence[int] | np.ndarray | None = None,
    order: str = "positive",
    steps: Sequence[float] | np.ndarray = DEFAULT_STEPS,
    removal: str = "delete",
    batch_size: int = 16,
    progress: bool = True,
) -> PerturbationCurve:
    """Accuracy as the content tokens are removed in the order of their relevance.

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
        The sequence classifier the relevance explained.
    relevance : Relevance
        One model input per text (not explained window by window).
    labels : sequence of int, shape (n_texts,), optional
        Class of each text to score against (e.g. gold labels). Default: the class the
        relevance explained, ``relevance.segments["target"]``, which is the predicted
        class when ``attribute`` was called with ``target=None`` (the paper's
        "predicted class" setting; the unperturbed accuracy is then 1).
    order : {"positive", "negative"}
        Remove the most relevant tokens first (positive) or the least relevant first
        (negative). Ties go to the earlier position.
    steps : sequence of float
        Increasing fractions of each text's content tokens to remove; 0 is added when
        missing. Each removes ``round(fraction * n_content)`` tokens (halves up); an
        input without special tokens (GPT-2 style) keeps its last-ranked token when
        deleting, as the model needs one token to classify.
    removal : {"delete", "mask"}
        Drop the tokens from the sequence (special tokens kept), or replace them with
        the mask token (the unknown token when the tokenizer has no mask).
    batch_size : int
        Perturbed inputs per forward pass (all texts and steps are batched together).
    progress : bool
        Show a progress bar.

    Returns
    -------
    PerturbationCurve
        Its ``auc`` (trapezoid, the unperturbed point included) is lower-is-better for
        positive order and higher-is-better for negative order.

    References
    ----------
    Chefer, Gur & Wolf 2021, "Transformer Interpretability Beyond Attention
    Visualization", CVPR (Section 5, perturbation tests).
    """
    lens_model = _as_lens_model(model)
    if order not in ORDERS:
        raise LensError.bad_argument("order", order, f"one of {ORDERS}")
    fractions = _check_fractions("steps", steps, with_zero=True)
    mask_id = _mask_id(lens_model, removal)
    size = _check_batch(batch_size)
    inputs = _prepare(lens_model, relevance, labels)
    sequences = []
    for ids, special, scores in zip(inputs.token_ids, inputs.special, inputs.scores):
        keep_one = removal == "delete" and not special.any()
        counts = removal_counts(fractions, int((~special).sum()), keep_one=keep_one)
        sequences.extend(perturbed_ids(ids, special, scores, counts, order=order, removal=removal, mask_id=mask_id))
    probabilities = class_probabilities(lens_model, sequences, batch_size=size, progress=progress,
                                        desc=f"perturbation ({order})")  # fmt: skip
    n_texts, n_steps = len(inputs.reference), len(fractions)
    probabilities = probabilities.reshape(n_texts, n_steps, -1)
    predicted = probabilities.argmax(-1)
    correct = predicted == inputs.reference[:, None]
    p_reference = np.take_along_axis(probabilities, inputs.reference[:, None, None], axis=-1)[..., 0]
    return PerturbationCurve(
        fractions=fractions,
        accuracy=correct.mean(axis=0).astype(np.float64),
        probability=p_reference.mean(axis=0),
        order=order,
        method=relevance.method,
        parameters=_parameters(removal, labels, relevance),
        predicted=predicted.astype(np.int64),
        reference=inputs.reference,
    )


def perturbation_auc(
    model: Any, relevance: Relevance, labels: Sequence[int] | np.ndarray | None = None, **options: Any
) -> dict[str, float]:
    """AUC of the positive and negative perturbation curves: ``{"positive": .., "negative": ..}``.

    Lower is better for positive, higher for negative. ``options`` go to
    :func:`perturbation_curve` (``steps``, ``removal``, ``batch_size``, ``progress``).
    """
    if "order" in options:
        raise LensError.bad_argument("order", options["order"], "no order: both are computed")
    return {order: perturbation_curve(model, relevance, labels=labels, order=order, **options).auc for order in ORDERS}


@checks_flags
def aopc(
    model: Any,
    relevance: Relevance,
    *,
    bins: Sequence[float] | np.ndarray = AOPC_BINS,
    labels: Sequence[int] | np.ndarray | None = None,
    removal: str = "delete",
    batch_size: int = 16,
    progress: bool = True,
) -> AOPCResult:
    """AOPC comprehensiveness and sufficiency of the top-k% most relevant tokens.

    For each bin k, the top ``max(1, round(k * n_content))`` content tokens by
    relevance (ties to the earlier position) are the rationale. Comprehensiveness is
    ``p(y|x) - p(y|x without them)`` (higher is better), sufficiency is
    ``p(y|x) - p(y|only them)`` (special tokens kept; lower is better; an input
    without special tokens keeps one token when deleting); each is averaged over the
    bins and texts given, as ERASER's scorer does (no k = 0 term: it would add 0).

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
    relevance : Relevance
        One model input per text.
    bins : sequence of float
        Increasing fractions k in (0, 1]; default ERASER's 1, 5, 10, 20 and 50%.
    labels : sequence of int, shape (n_texts,), optional
        The class y of each text; default the class the relevance explained.
    removal : {"delete", "mask"}
        How tokens are removed (ERASER deletes them).
    batch_size : int
    progress : bool

    Returns
    -------
    AOPCResult

    References
    ----------
    DeYoung et al. 2020, "ERASER: A benchmark to evaluate rationalized NLP models",
    ACL (Section 4, Eq. for comprehensiveness and sufficiency, AOPC).
    """
    lens_model = _as_lens_model(model)
    fractions = _check_fractions("bins", bins, with_zero=False)
    if fractions[0] <= 0:
        raise LensError.bad_argument("bins", bins, "increasing fractions in (0, 1]")
    mask_id = _mask_id(lens_model, removal)
    size = _check_batch(batch_size)
    inputs = _prepare(lens_model, relevance, labels)
    n_bins = len(fractions)
    sequences = []
    for ids, special, scores in zip(inputs.token_ids, inputs.special, inputs.scores):
        ranking = removal_order(scores, special, "positive")
        sequences.append(ids)
        keep_one = removal == "delete" and not special.any()
        for count in removal_counts(fractions, len(ranking), at_least_one=True):
            top = np.zeros(len(ids), dtype=bool)
            top[ranking[:count]] = True
            dropped = np.zeros(len(ids), dtype=bool)
            dropped[ranking[: min(count, len(ranking) - 1) if keep_one else count]] = True
            sequences.append(_apply(ids, dropped, removal, mask_id))  # comprehensiveness: top k removed
            sequences.append(_apply(ids, ~top & ~special, removal, mask_id))  # sufficiency: only top k kept
    probabilities = class_probabilities(
        lens_model, sequences, batch_size=size, progress=progress, desc="AOPC", name="bins"
    )
    n_texts = len(inputs.reference)
    p = np.take_along_axis(probabilities.reshape(n_texts, 1 + 2 * n_bins, -1),
                           inputs.reference[:, None, None], axis=-1)[..., 0]  # fmt: skip
    full, without, only = p[:, 0], p[:, 1::2], p[:, 2::2]
    return AOPCResult(
        bins=fractions,
        comprehensiveness_per_bin=(full[:, None] - without).T,
        sufficiency_per_bin=(full[:, None] - only).T,
        full_probability=full,
        reference=inputs.reference,
        method=relevance.method,
        parameters=_parameters(removal, labels, relevance),
    )
