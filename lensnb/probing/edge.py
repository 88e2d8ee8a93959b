"""Edge probing (Tenney et al. 2019): a span (or span-pair) classifier on one layer's token states.

Input format
------------
``X`` is one layer's token states, shape (n_tokens, dim); ``spans`` gives each item's
token rows of ``X``, end exclusive (lensnb's convention; Tenney et al.'s code uses
inclusive ends): shape (n_items, 2) ``[start, end)`` for single spans or (n_items, 4)
``[start1, end1, start2, end2]`` for span pairs; ``y`` has one row per item. Without
``spans``, every row of ``X`` is a one-token span, and the probe is an ordinary
classifier on rows (so scikit-learn's estimator checks apply to it).
:func:`lensnb.probing.features.probing_data` with ``pool="self_attentive"`` produces
``X`` and ``spans`` from :class:`~lensnb.Activations`.

Architecture (Tenney et al. 2019, section 3, as their code builds it): per span side a
Linear projection of every token to 256 (its own parameters for span 1 and span 2);
pooling over the span's tokens (self-attentive, Lee et al. 2017: ``a_t = w^T p_t + b``,
span vector ``sum_t softmax(a)_t p_t``, one pooler per side; or mean, max, endpoints);
the side vectors concatenated; Linear(-> 256) -> tanh -> LayerNorm -> Dropout(0.3) ->
Linear(-> n_classes); sigmoid outputs trained with binary cross-entropy on multi-hot
labels; a label is predicted when its logit is >= 0; scored by micro-F1.

Training, as jiant's trainer runs it (``jiant/trainer.py``: ``build_trainer``,
``SamplingMultiTaskTrainer.train``, ``_check_history``, ``_check_stop``;
``config/defaults.conf`` and ``config/edgeprobe/edgeprobe_bert.conf``): Adam with AMSGrad,
learning rate 1e-4, gradients clipped to norm 5 at every step, batches of 32 sentences
with all their targets (32 items when the items' texts are not given), validation
micro-F1 watched (best weights kept), the rate halved at the 6th validation in a row
without improvement (``ReduceLROnPlateau``, patience 5, threshold 1e-4), training stopped
at the 21st validation without a new best (patience 20, counted as jiant's
``_check_history``: patience + 1) or once the rate falls below 1e-6.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, f1_score
from sklearn.utils.validation import check_is_fitted

from lensnb.errors import LensError
from lensnb.flags import check_flag
from lensnb.probing.probe_checks import (
    check_choice,
    check_features,
    check_labels,
    check_number,
    encode_classes,
    split_validation,
    standardization,
    to_numpy,
)
from lensnb.probing.probe_training import (
    SeededDropout,
    generator_from,
    predict_in_chunks,
    seeded_linear,
    torch_dtype,
    train_minibatch,
)

__all__ = ["EdgeProbe", "check_spans", "edge_micro_f1", "EDGE_MONITORS", "EDGE_POOLINGS", "EdgeNetwork"]

EDGE_POOLINGS = ("self_attentive", "mean", "max", "endpoints")
EDGE_MONITORS = ("micro_f1", "loss")


def check_spans(spans: Any, n_tokens: int, argument: str = "spans", n_sides: int | None = None) -> np.ndarray:
    """Span rows as int64 (n_items, 2 * n_sides), each ``0 <= start < end <= n_tokens``.

    ``spans=None`` gives one one-token span per row: ``[[0, 1], [1, 2], ...]``.

    Raises
    ------
    LensError
        For a shape other than (n_items, 2) or (n_items, 4), non-integer values or a
        span out of range or empty.
    """
    if spans is None:
        rows = np.arange(n_tokens, dtype=np.int64)
        single = np.stack([rows, rows + 1], axis=1)
        return single if n_sides in (None, 1) else np.tile(single, (1, n_sides))
    array = np.asarray(to_numpy(spans, argument))
    columns = (2, 4) if n_sides is None else (2 * n_sides,)
    if array.ndim != 2 or array.shape[1] not in columns or len(array) == 0:
        expected = " or ".join(f"(n_items, {c})" for c in columns)
        raise LensError.bad_argument(argument, array, f"a non-empty integer array of shape {expected}")
    if not np.issubdtype(array.dtype, np.integer):
        raise LensError.bad_argument(argument, array, "integer token rows")
    array = array.astype(np.int64)
    start, end = array[:, 0::2], array[:, 1::2]
    bad = (start < 0) | (end > n_tokens) | (end <= start)
    if bad.any():
        item = int(np.flatnonzero(bad.any(axis=1))[0])
        raise LensError.bad_argument(
            argument, f"{int(bad.any(axis=1).sum())} item(s) out of range, the first {array[item].tolist()}",
            f"spans [start, end) with 0 <= start < end <= {n_tokens} (the rows of X; end exclusive)",
        )  # fmt: skip
    return array


def edge_micro_f1(logits: torch.Tensor, target: torch.Tensor, *, multilabel: bool = True) -> float:
    """Micro-F1 of edge-probe predictions against 0/1 targets.

    Parameters
    ----------
    logits : tensor, shape (n_items, n_classes)
    target : tensor of 0/1, shape (n_items, n_classes)
    multilabel : bool
        Predict every label whose logit is >= 0 (Tenney et al.), or each item's top label.

    Returns
    -------
    float
        ``2 TP / (2 TP + FP + FN)``; 0 when nothing is to be found nor predicted.
    """
    if multilabel:
        predicted = logits >= 0
    else:
        predicted = torch.zeros_like(logits, dtype=torch.bool)
        predicted[torch.arange(len(logits)), logits.argmax(dim=1)] = True
    truth = target > 0.5
    tp = int((predicted & truth).sum())
    denominator = int(predicted.sum()) + int(truth.sum())
    return 2.0 * tp / denominator if denominator else 0.0


class EdgeNetwork(torch.nn.Module):
    """Per-side projection and pooling, then the MLP of Tenney et al. 2019.

    Projection and pooling are computed in the cheaper, mathematically identical order
    where they commute: with ``p_t = P x_t + c`` and attention scores ``a_t = w^T p_t``,
    ``sum_t softmax(a)_t p_t = P (sum_t softmax(a)_t x_t) + c`` and ``a_t = (P^T w)^T x_t
    + w^T c`` (a shift the softmax ignores), so the span's tokens are pooled first and
    one vector per span is projected; the same holds for the mean. Max pooling projects
    every token; endpoints project the two end tokens. The parameters, the function and
    its gradients are those of the paper's order (an attention bias would have no
    effect, so there is none).
    """

    def __init__(self, n_sides, dim, projection, hidden, n_out, pooling, dropout, generator, dtype):
        super().__init__()
        self.pooling = pooling
        self.projections = torch.nn.ModuleList(
            [seeded_linear(dim, projection, generator, dtype) for _ in range(n_sides)]
        )
        bound = 1.0 / projection**0.5
        self.attention = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.empty(projection, dtype=dtype).uniform_(-bound, bound, generator=generator))
             for _ in range(n_sides if pooling == "self_attentive" else 0)]
        )  # fmt: skip
        width = projection * n_sides * (2 if pooling == "endpoints" else 1)
        self.hidden = seeded_linear(width, hidden, generator, dtype)
        self.norm = torch.nn.LayerNorm(hidden, dtype=dtype)
        self.dropout = SeededDropout(dropout)
        self.output = seeded_linear(hidden, n_out, generator, dtype)

    def pool(self, side: int, tokens: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        """Span vectors (B, projection or 2 * projection) of one side."""
        project = self.projections[side]
        if self.pooling == "endpoints":
            return torch.cat([project(tokens[start]), project(tokens[end - 1])], dim=1)
        lengths = end - start
        offsets = torch.arange(int(lengths.max()))
        mask = offsets[None, :] < lengths[:, None]  # (B, W)
        x = tokens[torch.where(mask, start[:, None] + offsets[None, :], start[:, None])]  # (B, W, dim)
        if self.pooling == "max":
            return project(x).masked_fill(~mask[..., None], float("-inf")).amax(1)
        if self.pooling == "mean":
            return project((x * mask[..., None]).sum(1) / lengths[:, None].to(x.dtype))
        scores = (x @ (project.weight.T @ self.attention[side])).masked_fill(~mask, float("-inf"))  # (B, W)
        return project(torch.einsum("bw,bwd->bd", torch.softmax(scores, dim=1), x))

    def forward(self, tokens: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        sides = [self.pool(j, tokens, spans[:, 2 * j], spans[:, 2 * j + 1]) for j in range(len(self.projections))]
        hidden = self.dropout(self.norm(torch.tanh(self.hidden(torch.cat(sides, dim=1)))))
        return self.output(hidden)


class EdgeProbe(ClassifierMixin, BaseEstimator):
    """Tenney et al.'s edge-probing classifier on one layer's token states and span rows.

    Parameters
    ----------
    pooling : {"self_attentive", "mean", "max", "endpoints"}
        How a span's projected tokens become one vector (each side its own pooler).
    projection_size : int
        Per-token projection width (256).
    hidden_size : int
        Width of the MLP's hidden layer (256).
    dropout : float
        Dropout after the LayerNorm (0.3).
    learning_rate : float
        Adam's initial step size (1e-4).
    batch_size : int
        Texts per step when :meth:`fit` gets ``groups`` (the items' texts): 32 sentences
        with all their targets, as jiant batches them. Without ``groups``, items per step
        (the same for tasks with one target per sentence, such as SemEval relations).
    max_epochs : int
        Passes over the training items at most.
    patience : int
        jiant's early-stopping patience (20): stop at the ``patience + 1``-th validation in
        a row without a strictly better validation measure (jiant's ``_check_history``).
    lr_patience : int
        jiant's ``lr_patience`` (5), the patience of torch's ``ReduceLROnPlateau``: the
        rate is multiplied by ``lr_factor`` at the ``lr_patience + 1``-th validation in a
        row without an improvement larger than ``lr_threshold`` (the 6th, then the 12th,
        18th... when nothing improves).
    lr_factor : float
        jiant's ``lr_decay_factor``: 0.5.
    lr_threshold : float
        jiant's ``scheduler_threshold`` (absolute): 1e-4.
    min_lr : float
        Stop once the rate is below this (jiant's ``min_lr``: 1e-6; 0: never).
    monitor : {"micro_f1", "loss"}
        What validation watches for the best weights, the schedule and the stop:
        micro-F1 of the predictions, maximised (jiant's edge-probing ``val_metric``,
        ``<task>_f1``; for a 1-D ``y``, where each item gets its top label, micro-F1 is the
        accuracy), or the binary cross-entropy, minimised (lensnb's earlier default).
    amsgrad : bool
        Adam's AMSGrad variant (jiant's ``adam`` is AMSGrad).
    max_grad_norm : float, optional
        Clip the gradients' total norm to this before each step (jiant: 5.0); None: no
        clipping.
    validate_every : int, optional
        Steps between validations; default once per epoch. jiant validates every 500 steps
        in its edge-probing template (``edges-tmpl``), every 100 for SemEval, SPR and DPR
        (``edges-tmpl-small``), 1,000 for the OntoNotes tasks and UD dependencies
        (``edges-tmpl-large``; ``config/defaults.conf``) and 250 for CoNLL-2003 entities
        (their experiment scripts): training sets of 10^4-10^5 sentences.
        lensnb's defaults assume smaller sets (an epoch of a few thousand items is about
        as many steps as one of jiant's intervals), so it validates once per epoch; pass
        ``validate_every`` to follow jiant's count of steps.
    validation_fraction : float
        Without ``eval_set``, the share of training items held out for validation
        (random items, not whole texts: pass ``eval_set`` to keep texts apart, as
        :func:`lensnb.probing.sweep.probe_layers` does).
    tol : float
        Smallest improvement of the validation measure counted as one (0: any, as jiant).
    standardize : bool
        z-score the token states first (off in the paper).
    dtype : {"float32", "float64"}
    n_threads : int, optional
        torch intra-op threads while training (restored afterwards); default one (small
        mini-batches run faster on one thread); None: torch's own setting.
    random_state : int, RandomState or None
        Seeds the weights, the batch order, the validation split and the dropout masks.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        The labels (``arange(n_classes)`` for a multi-hot ``y``).
    multilabel_ : bool
        Whether ``y`` was a multi-hot (n_items, n_classes) matrix.
    n_sides_ : int
        1 for spans, 2 for span pairs.
    module_ : torch.nn.Module
        The trained network (float64, eval mode).
    mean_, scale_ : ndarray, shape (dim,)
    n_iter_ : int
        Epochs run.
    training_log_ : TrainingLog
    n_features_in_ : int

    Notes
    -----
    With a 1-D ``y`` (one label per item) the probe is trained the same way (binary
    cross-entropy on one-hot targets) but predicts the label with the largest logit, and
    ``predict_proba`` is the softmax of the logits (scores consistent with ``predict``,
    not the paper's independent sigmoids); Tenney et al. frame every task as multi-label
    and threshold each logit at 0: pass a multi-hot ``y`` (``multilabel=True`` in
    :func:`lensnb.probing.features.span_task`) for that.

    Batches: jiant's batch is 32 sentences, each with all its targets (``BucketIterator``
    over sentence instances, ``jiant/tasks/edge_probing.py``), so a POS or constituent
    step sees hundreds of spans. Pass ``groups`` (each item's text) to :meth:`fit` to
    batch so; without it a batch is ``batch_size`` items, which for tasks with many
    targets per sentence means many more, smaller steps per epoch. The batches' texts are
    drawn at random each epoch, not bucketed by length as jiant's iterator does.

    Layer 0: lensnb's layer 0 is Hugging Face's ``hidden_states[0]``, the embedding
    block's output (word + position + token-type embeddings, then LayerNorm), whereas
    Tenney et al.'s lexical baseline ("layer 0" of their BERT runs) is LayerNorm(word
    embeddings) without position or segment embeddings. Layer 0 scores here are
    therefore not their "lexical" column.

    References
    ----------
    Tenney, Xia, Chen, Wang, Poliak, McCoy, Kim, Van Durme, Bowman, Das & Pavlick (2019),
    "What do you learn from context? Probing for sentence structure in contextualized
    word representations", ICLR, section 3 and appendix. Lee, He, Lewis & Zettlemoyer
    (2017), "End-to-end neural coreference resolution", EMNLP (self-attentive span
    pooling, their equations 1-3).
    """

    def __init__(
        self,
        *,
        pooling: str = "self_attentive",
        projection_size: int = 256,
        hidden_size: int = 256,
        dropout: float = 0.3,
        learning_rate: float = 1e-4,
        batch_size: int = 32,
        max_epochs: int = 50,
        patience: int = 20,
        lr_patience: int = 5,
        lr_factor: float = 0.5,
        lr_threshold: float = 1e-4,
        min_lr: float = 1e-6,
        monitor: str = "micro_f1",
        amsgrad: bool = True,
        max_grad_norm: float | None = 5.0,
        validate_every: int | None = None,
        validation_fraction: float = 0.1,
        tol: float = 0.0,
        standardize: bool = False,
        dtype: str = "float32",
        n_threads: int | None = 1,
        random_state: Any = None,
    ):
        self.pooling = pooling
        self.projection_size = projection_size
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr_patience = lr_patience
        self.lr_factor = lr_factor
        self.lr_threshold = lr_threshold
        self.min_lr = min_lr
        self.monitor = monitor
        self.amsgrad = amsgrad
        self.max_grad_norm = max_grad_norm
        self.validate_every = validate_every
        self.validation_fraction = validation_fraction
        self.tol = tol
        self.standardize = standardize
        self.dtype = dtype
        self.n_threads = n_threads
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _check_params(self) -> torch.dtype:
        check_choice(self.pooling, "pooling", EDGE_POOLINGS)
        check_choice(self.monitor, "monitor", EDGE_MONITORS)
        for name in ("projection_size", "hidden_size", "batch_size", "max_epochs", "patience"):
            check_number(getattr(self, name), name, low=1, integer=True, inclusive=True)
        check_number(self.lr_patience, "lr_patience", low=0, integer=True, inclusive=True)
        for name in ("learning_rate", "lr_factor", "validation_fraction"):
            check_number(getattr(self, name), name, low=0.0)
        if self.lr_factor >= 1:
            raise LensError.bad_argument("lr_factor", self.lr_factor, "a factor in (0, 1)")
        for name in ("tol", "lr_threshold", "min_lr"):
            check_number(getattr(self, name), name, low=0.0, inclusive=True)
        if self.max_grad_norm is not None:
            check_number(self.max_grad_norm, "max_grad_norm", low=0.0)
        check_flag("amsgrad", self.amsgrad)
        check_number(self.dropout, "dropout", low=0.0, inclusive=True)
        if not 0 <= self.dropout < 1:
            raise LensError.bad_argument("dropout", self.dropout, "a probability in [0, 1)")
        if self.validation_fraction >= 1:
            raise LensError.bad_argument("validation_fraction", self.validation_fraction, "a fraction in (0, 1)")
        if self.n_threads is not None:
            check_number(self.n_threads, "n_threads", low=1, integer=True, inclusive=True)
        if self.validate_every is not None:
            check_number(self.validate_every, "validate_every", low=1, integer=True, inclusive=True)
        check_flag("standardize", self.standardize)
        return torch_dtype(self.dtype)

    def fit(self, X: Any, y: Any, *, spans: Any = None, groups: Any = None, eval_set: tuple | None = None) -> EdgeProbe:
        """Train on token states ``X`` (n_tokens, dim), labels ``y`` and ``spans``.

        Parameters
        ----------
        X : array, shape (n_tokens, dim)
        y : array, shape (n_items,) of labels, or (n_items, n_classes) of 0/1
        spans : int array, shape (n_items, 2) or (n_items, 4), optional
            Token rows of X, end exclusive. Default: every row its own span.
        groups : array, shape (n_items,), optional
            The text (any hashable key) of each item: a step then takes ``batch_size``
            texts with all their items, as jiant batches sentences. None: ``batch_size``
            items per step.
        eval_set : (X_val, y_val) or (X_val, y_val, spans_val), optional
            Validation data for early stopping and the learning-rate schedule. X_val
            may be the same array as X (items of other texts on the same tokens).
        """
        dtype = self._check_params()
        X_given = X
        X = check_features(self, X, reset=True)
        spans = check_spans(spans, len(X))
        y = check_labels(y, len(spans), multi_label=True)
        group_codes = None
        if groups is not None:
            keys = np.asarray(to_numpy(groups, "groups"))
            if keys.shape != (len(spans),):
                raise LensError.bad_argument("groups", keys, f"one text key per item, shape ({len(spans)},)")
            group_codes = np.unique(keys, return_inverse=True)[1].reshape(-1)
        self.n_sides_ = spans.shape[1] // 2
        self.multilabel_ = y.ndim == 2
        if self.multilabel_:
            self.classes_, targets = np.arange(y.shape[1]), y.astype(np.float64)
            codes = np.zeros(len(y), dtype=np.int64)
        else:
            self.classes_, codes = encode_classes(y)
            targets = np.eye(len(self.classes_))[codes]
        generator = generator_from(self.random_state)
        self.mean_, self.scale_ = (
            standardization(X) if self.standardize else (np.zeros(X.shape[1]), np.ones(X.shape[1]))
        )
        tokens = self._tokens(X, dtype)
        target = torch.from_numpy(targets).to(dtype)
        validation = self._validation(X_given, tokens, spans, target, codes, eval_set, generator, dtype)
        train_rows, val_tokens, val_spans, val_target = validation
        span_tensor = torch.from_numpy(spans[train_rows])
        train_target = target[train_rows]
        train_groups = None
        if group_codes is not None:
            train_groups = np.unique(group_codes[train_rows], return_inverse=True)[1].reshape(-1)
        module = EdgeNetwork(
            self.n_sides_, X.shape[1], int(self.projection_size), int(self.hidden_size), len(self.classes_),
            self.pooling, float(self.dropout), generator, dtype,
        )  # fmt: skip
        module.dropout.generator = generator

        def batch_loss(rows: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(module(tokens, span_tensor[rows]), train_target[rows])

        validation_metric = None
        if val_spans is not None:

            def validation_metric() -> float:
                logits = predict_in_chunks(lambda rows: module(val_tokens, val_spans[rows]), len(val_spans), 1024)
                if self.monitor == "loss":
                    return float(F.binary_cross_entropy_with_logits(logits, val_target))
                return edge_micro_f1(logits, val_target, multilabel=self.multilabel_)

        self.training_log_ = train_minibatch(
            module, batch_loss, len(train_rows), validation_metric=validation_metric, generator=generator,
            learning_rate=float(self.learning_rate), batch_size=int(self.batch_size),
            max_epochs=int(self.max_epochs), patience=int(self.patience) + 1, monitor=self.monitor,
            maximize=self.monitor == "micro_f1", tol=float(self.tol), lr_patience=int(self.lr_patience),
            lr_factor=float(self.lr_factor), lr_threshold=float(self.lr_threshold), min_lr=float(self.min_lr),
            validate_every=self.validate_every, amsgrad=bool(self.amsgrad),
            max_grad_norm=None if self.max_grad_norm is None else float(self.max_grad_norm), groups=train_groups,
            threads=self.n_threads,
        )  # fmt: skip
        module.dropout.generator = None
        self.module_ = module.to(torch.float64)
        self.n_iter_ = self.training_log_.n_epochs
        return self

    def _tokens(self, X: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        if self.standardize:
            X = (X - self.mean_) / self.scale_
        return torch.from_numpy(np.ascontiguousarray(X)).to(dtype)

    def _validation(self, X_given, tokens, spans, target, codes, eval_set, generator, dtype):
        """Training item rows and validation tokens, spans (tensor) and targets (None: no validation)."""
        if eval_set is not None:
            if not isinstance(eval_set, (tuple, list)) or len(eval_set) not in (2, 3):
                raise LensError.bad_argument("eval_set", eval_set, "(X_val, y_val) or (X_val, y_val, spans_val)")
            if eval_set[0] is X_given:
                val_tokens = tokens
            else:
                val_X = check_features(self, eval_set[0], reset=False, argument="eval_set[0]")
                val_tokens = self._tokens(val_X, dtype)
            val_spans = check_spans(
                eval_set[2] if len(eval_set) == 3 else None, len(val_tokens), "eval_set[2]", self.n_sides_
            )
            val_y = check_labels(eval_set[1], len(val_spans), multi_label=True, argument="eval_set[1]")
            if self.multilabel_:
                if val_y.ndim != 2 or val_y.shape[1] != len(self.classes_):
                    raise LensError.bad_argument(
                        "eval_set[1]", val_y, f"a 0/1 matrix with {len(self.classes_)} columns"
                    )
                val_target = torch.from_numpy(val_y.astype(np.float64)).to(dtype)
            else:
                known = np.isin(val_y, self.classes_)
                if not known.any():
                    raise LensError.bad_argument("eval_set[1]", val_y, "validation labels among the training classes")
                val_spans, val_y = val_spans[known], val_y[known]
                val_target = torch.from_numpy(np.eye(len(self.classes_))[np.searchsorted(self.classes_, val_y)]).to(
                    dtype
                )
            return np.arange(len(spans)), val_tokens, torch.from_numpy(val_spans), val_target
        train_rows, val_rows, _ = split_validation(
            codes, float(self.validation_fraction), generator, np.arange(len(codes))
        )
        if val_rows is None:
            return train_rows, None, None, None
        return train_rows, tokens, torch.from_numpy(spans[val_rows]), target[val_rows]

    # ------------------------------------------------------------------ prediction

    def _logits(self, X: Any, spans: Any) -> np.ndarray:
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        span_rows = torch.from_numpy(check_spans(spans, len(X), n_sides=self.n_sides_))
        tokens = self._tokens(X.astype(np.float64, copy=False), torch.float64)
        return predict_in_chunks(lambda rows: self.module_(tokens, span_rows[rows]), len(span_rows), 1024).numpy()

    def decision_function(self, X: Any, spans: Any = None) -> np.ndarray:
        """Logits, shape (n_items, n_classes); for two single-label classes the difference z1 - z0, shape (n_items,)."""
        logits = self._logits(X, spans)
        if not self.multilabel_ and logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X: Any, spans: Any = None) -> np.ndarray:
        """Sigmoid of each logit (multi-label), or the softmax of the logits (single label); (n_items, n_classes)."""
        logits = self._logits(X, spans)
        if self.multilabel_:
            return 1.0 / (1.0 + np.exp(-logits))
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        return logits / logits.sum(axis=1, keepdims=True)

    def predict(self, X: Any, spans: Any = None) -> np.ndarray:
        """Multi-hot (n_items, n_classes) with logits >= 0, or the top label of each item (n_items,)."""
        logits = self._logits(X, spans)
        if self.multilabel_:
            return (logits >= 0).astype(np.int64)
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None, spans: Any = None) -> float:
        """Micro-F1 (multi-label) or accuracy (single label) on ``X``, ``spans`` and ``y``."""
        predicted = self.predict(X, spans)
        if self.multilabel_:
            return float(
                f1_score(
                    np.asarray(to_numpy(y, "y")),
                    predicted,
                    average="micro",
                    sample_weight=sample_weight,
                    zero_division=0,
                )
            )
        return float(accuracy_score(np.asarray(to_numpy(y, "y")), predicted, sample_weight=sample_weight))
