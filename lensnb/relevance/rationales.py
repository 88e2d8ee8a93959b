"""Agreement of relevance with human rationales: ERASER token F1 of the top-k words.

Word pieces are merged into words (:meth:`Relevance.words`; by default a word scores
its highest piece, as Chefer et al.'s benchmark does), scores are clamped at 0 (as that
benchmark does before its top-k), the k highest-scoring words of
each text are the predicted rationale, and precision, recall and F1 compare them with
the human rationale words, for k = 5 ... 80.

ERASER's scorer (``score_hard_rationale_predictions`` in the benchmark's
``metrics.py``, applied to token-level rationales as ``token_prf``) reports two
averages: ``instance_macro`` (precision, recall and F1 of each document, averaged
over documents) and ``instance_micro`` (counts pooled over documents). The "token F1"
of the ERASER paper's tables and of Chefer et al.'s movie-review experiment is the
instance macro F1; :attr:`RationaleF1.f1` is that one, :attr:`RationaleF1.f1_micro`
the pooled one.

References
----------
DeYoung, Jain, Rajani, Lehman, Xiong, Socher & Wallace 2020, "ERASER: A benchmark to
evaluate rationalized NLP models", ACL (Section 5, token-level precision, recall, F1).
Chefer, Gur & Wolf 2021, "Transformer Interpretability Beyond Attention
Visualization", CVPR (Section 5, top-k token F1 on Movie Reviews).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lensnb.errors import LensError
from lensnb.flags import check_flag
from lensnb.relevance.result import Relevance

__all__ = ["RationaleF1", "DEFAULT_K", "rationale_token_f1"]

DEFAULT_K = (5, 10, 20, 30, 40, 50, 60, 70, 80)
_WORD_COLUMNS = ("text_id", "word_index", "word", "score")


@dataclass(frozen=True)
class RationaleF1:
    """Token-level precision, recall and F1 of the top-k words against human rationales.

    Attributes
    ----------
    k : ndarray of int64, shape (n_k,)
    f1, precision, recall : ndarray of float64, shape (n_k,)
        ERASER's instance macro averages: each document's score, averaged over the
        documents that have a rationale word or a predicted word. ``f1`` is the mean
        of the documents' F1 (not the F1 of the mean precision and recall), ERASER's
        "token F1".
    f1_micro, precision_micro, recall_micro : ndarray of float64, shape (n_k,)
        ERASER's instance micro scores: counts pooled over documents.
    per_text_f1 : ndarray of float64, shape (n_k, n_texts)
        Each document's F1.
    method : str
        The relevance method scored.
    parameters : dict
        ``aggregate``, ``clamp``, ``only_seen``, ``rationales`` and the relevance's own
        parameters under ``relevance``.
    """

    k: np.ndarray
    f1: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1_micro: np.ndarray
    precision_micro: np.ndarray
    recall_micro: np.ndarray
    per_text_f1: np.ndarray
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_pandas(self) -> pd.DataFrame:
        """One row per k: k, f1, precision, recall (macro) and their micro versions."""
        return pd.DataFrame({
            "k": self.k, "f1": self.f1, "precision": self.precision, "recall": self.recall,
            "f1_micro": self.f1_micro, "precision_micro": self.precision_micro, "recall_micro": self.recall_micro,
        })  # fmt: skip

    def __repr__(self) -> str:
        shown = ", ".join(f"k={k}: {f:.3f}" for k, f in zip(self.k.tolist(), self.f1.tolist()))
        return f"RationaleF1({self.method}, token F1 (macro) {shown})"


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)


def _check_k(k: Any) -> np.ndarray:
    values = [k] if isinstance(k, (int, np.integer)) else k
    ok = isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, str) and len(values) > 0
    ok = ok and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values)
    if not ok or len(set(int(v) for v in values)) != len(values):
        raise LensError.bad_argument("k", k, "a positive int or a list of distinct positive ints, e.g. (5, 10, 20)")
    return np.asarray([int(v) for v in values], dtype=np.int64)


def _binary(values: Any, name: str) -> np.ndarray:
    """0/1 (or bool) values as a bool array, else a LensError naming ``name``."""
    array = np.asarray(values, dtype=object).reshape(-1) if not isinstance(values, np.ndarray) else values.reshape(-1)
    try:
        numbers = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):
        numbers = np.full(len(array), np.nan)
    if not np.isin(numbers, (0.0, 1.0)).all():
        bad = array[~np.isin(numbers, (0.0, 1.0))][:3].tolist()
        raise LensError.bad_argument(name, values, f"0/1 (or bool) values for every word; found {bad}")
    return numbers.astype(bool)


def _truth(
    relevance: Relevance, words: pd.DataFrame, rationales: Any, text_ids: np.ndarray, only_seen: bool
) -> list[np.ndarray]:
    """Each text's rationale words, as a bool array over its word indices."""
    n_words = relevance.texts["n_words"].to_numpy(np.int64) if "n_words" in relevance.texts else None
    seen = [words["word_index"].to_numpy(np.int64)[words["text_id"].to_numpy() == t] for t in text_ids]
    if isinstance(rationales, str):
        labels = [c for c in words.columns if c not in _WORD_COLUMNS]
        if rationales not in labels:
            raise LensError.bad_argument(
                "rationales", rationales, f"a word label column of the token table, one of {labels}, "
                "or a list of 0/1 arrays (one per text, over its words)",
            )  # fmt: skip
        column = words[rationales].to_numpy()
        truth = []
        for i, t in enumerate(text_ids):
            width = int(n_words[i]) if n_words is not None else int(seen[i].max(initial=-1)) + 1
            missing = width - len(np.unique(seen[i]))
            if missing and not only_seen:
                raise LensError.bad_argument(
                    "rationales", rationales, "a list of 0/1 arrays over all words when a text was cut",
                    f"Text {t} has {width} words but the model saw {width - missing}: the token table holds "
                    "labels only for seen words, so unseen rationale words cannot be counted from it. Pass "
                    f"rationales=[example.labels[{rationales!r}] for example in examples] (unseen rationale words "
                    "then count against recall) or only_seen=True.",
                )  # fmt: skip
            values = _binary(column[words["text_id"].to_numpy() == t], f"rationales ({rationales!r} of text {t})")
            mask = np.zeros(width, dtype=bool)
            mask[seen[i]] = values
            truth.append(mask)
        return truth
    if isinstance(rationales, (str, bytes)) or not isinstance(rationales, (Sequence, np.ndarray)):
        raise LensError.bad_argument("rationales", rationales, "a word label column name or a list of 0/1 arrays")
    if len(rationales) != len(text_ids):
        raise LensError.bad_argument(
            "rationales", rationales, f"{len(text_ids)} arrays of 0/1 word labels, one per text"
        )
    truth = []
    for i, values in enumerate(rationales):
        mask = _binary(values, f"rationales[{i}]")
        width = int(n_words[i]) if n_words is not None else None
        if (width is not None and len(mask) != width) or int(seen[i].max(initial=-1)) >= len(mask):
            raise LensError.bad_argument(
                f"rationales[{i}]", values, f"{width if width is not None else 'one value per word,'} "
                f"values: one per word of text {text_ids[i]}",
            )  # fmt: skip
        if only_seen:
            kept = np.zeros(len(mask), dtype=bool)
            kept[seen[i]] = mask[seen[i]]
            mask = kept
        truth.append(mask)
    return truth


def rationale_token_f1(
    relevance: Relevance,
    rationales: str | Sequence[Any],
    *,
    k: int | Sequence[int] = DEFAULT_K,
    aggregate: str = "max",
    clamp: bool = True,
    only_seen: bool = False,
) -> RationaleF1:
    """ERASER token precision, recall and F1 of each text's top-k words, per k.

    Parameters
    ----------
    relevance : Relevance
        Relevance of the texts the rationales annotate (any method; windows fine).
    rationales : str or list of array-like
        The name of a word label column of the token table (e.g. ``"rationale"``
        when the relevance was computed on :func:`lensnb.data.read_eraser_movies`
        examples), or one 0/1 array per text (in ``relevance.texts`` order) over all
        the text's words.
    k : int or sequence of int
        Number of top words per text; a text with fewer seen words predicts them all.
    aggregate : {"max", "sum", "mean", "first"}
        How word pieces combine into a word's score (:meth:`Relevance.words`). The
        default, a word's highest piece, is what Chefer et al.'s Movie Reviews benchmark
        takes (``scores_per_word_from_scores_per_token`` in the authors'
        ``bert_pipeline.py``, after clamping each piece at 0: with ``clamp`` the order
        does not matter for ``"max"``). ``"sum"`` ranks a word split into many pieces
        higher.
    clamp : bool
        Clamp scores at 0 before ranking (Chefer et al.'s benchmark does), so that
        negative evidence ranks with zero evidence; ties go to the earlier word.
    only_seen : bool
        Rationale words the model never saw (cut off by ``overflow="truncate"``, or
        words without a token of their own) still count as rationale words by default,
        so they lower recall, as they would in ERASER's scorer on whole documents.
        ``only_seen=True`` scores against the seen rationale words only. A label
        column (``rationales`` given as a name) holds only seen words: with a cut text
        it needs ``only_seen=True`` or the per-word arrays from the examples.

    Returns
    -------
    RationaleF1
        ``f1`` is ERASER's instance macro token F1; ``f1_micro`` the pooled one.

    Notes
    -----
    Per document, precision = |top-k & rationale| / |top-k| and recall =
    |top-k & rationale| / |rationale|, each 0 when its denominator is, and F1 = 0 when
    both are 0 (ERASER's conventions). Macro averages run over the documents with a
    rationale word or a predicted word.

    References
    ----------
    DeYoung et al. 2020, "ERASER: A benchmark to evaluate rationalized NLP models",
    ACL. Chefer, Gur & Wolf 2021, CVPR (Section 5).
    """
    if not isinstance(relevance, Relevance):
        raise LensError.bad_argument("relevance", relevance, "a Relevance from a method's attribute()")
    ks = _check_k(k)
    clamp, only_seen = check_flag("clamp", clamp), check_flag("only_seen", only_seen)
    words = relevance.words(aggregate)
    text_ids = relevance.texts["text_id"].to_numpy()
    truth = _truth(relevance, words, rationales, text_ids, only_seen)
    word_text = words["text_id"].to_numpy()
    word_index = words["word_index"].to_numpy(np.int64)
    scores = words["score"].to_numpy(np.float64)
    if clamp:
        scores = np.maximum(scores, 0.0)
    tp = np.zeros((len(ks), len(text_ids)))
    n_pred = np.zeros((len(ks), len(text_ids)))
    n_true = np.array([mask.sum() for mask in truth], dtype=np.float64)
    for i, t in enumerate(text_ids):
        rows = np.flatnonzero(word_text == t)
        ranked = word_index[rows][np.lexsort((word_index[rows], -scores[rows]))]
        hits = np.r_[0, np.cumsum(truth[i][ranked])]  # hits[j]: rationale words among the top j
        taken = np.minimum(ks, len(ranked))
        n_pred[:, i] = taken
        tp[:, i] = hits[taken]
    precision = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
    recall = np.divide(tp, n_true[None, :], out=np.zeros_like(tp), where=n_true[None, :] > 0)
    per_text = _f1(precision, recall)
    counted = (n_pred > 0) | (n_true[None, :] > 0)
    n_counted = np.maximum(counted.sum(axis=1), 1)
    pooled_tp, pooled_pred, pooled_true = tp.sum(axis=1), n_pred.sum(axis=1), n_true.sum()
    precision_micro = np.divide(pooled_tp, pooled_pred, out=np.zeros_like(pooled_tp), where=pooled_pred > 0)
    recall_micro = pooled_tp / pooled_true if pooled_true > 0 else np.zeros_like(pooled_tp)
    return RationaleF1(
        k=ks,
        f1=(per_text * counted).sum(axis=1) / n_counted,
        precision=(precision * counted).sum(axis=1) / n_counted,
        recall=(recall * counted).sum(axis=1) / n_counted,
        f1_micro=_f1(precision_micro, recall_micro),
        precision_micro=precision_micro,
        recall_micro=recall_micro,
        per_text_f1=per_text,
        method=relevance.method,
        parameters={
            "aggregate": aggregate,
            "clamp": clamp,
            "only_seen": only_seen,
            "rationales": rationales if isinstance(rationales, str) else "arrays",
            "relevance": dict(relevance.parameters),
        },  # fmt: skip
    )
