"""Probes on one layer's (n_items, dim) array, with scikit-learn's estimator contract.

:class:`LinearProbe` is multinomial logistic regression with an L2 penalty, fitted by
full-batch L-BFGS in torch to the same stopping rule as scikit-learn's ``lbfgs``
solver; :class:`MLPProbe` is a one-hidden-layer network trained with Adam on
mini-batches and stopped early on a validation set (Jawahar et al. 2019's SentEval
probe: 50 sigmoid units). Both follow scikit-learn's contract (parameters set in
``__init__`` and nothing else, ``fit(X, y)`` returns the estimator, learned attributes
end in ``_``, ``classes_``, ``predict``, ``predict_proba``, ``score``), so
:func:`sklearn.base.clone`, pipelines and grid searches work with them;
:func:`lensnb.probing.sweep.probe_layers` lifts them over layers.

Inputs are numpy arrays or torch tensors; predictions come back as numpy arrays.
Bad inputs raise :class:`lensnb.LensError` (a ``ValueError``) naming the argument.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from lensnb.errors import LensError
from lensnb.flags import check_flag, checks_flags
from lensnb.probing.probe_checks import (
    check_choice,
    check_eval_set,
    check_features,
    check_labels,
    check_number,
    encode_classes,
    split_validation,
    standardization,
)
from lensnb.probing.probe_training import (
    ACTIVATIONS,
    STOPPING,
    SeededDropout,
    activation,
    generator_from,
    predict_in_chunks,
    seeded_linear,
    torch_dtype,
    torch_threads,
    train_minibatch,
)

#: What :class:`MLPProbe` may watch on its validation set.
MLP_MONITORS = ("loss", "accuracy")
#: Below this many multiply-adds per pass (rows x features x classes), L-BFGS runs on one thread.
_SMALL_PROBLEM = 2_000_000

__all__ = ["LinearProbe", "MLPProbe", "fit_multinomial_lbfgs"]


# ----------------------------------------------------------------------------- linear probe


@checks_flags
def fit_multinomial_lbfgs(
    X: np.ndarray,
    codes: np.ndarray,
    n_classes: int,
    *,
    C: float = 1.0,
    tol: float = 1e-4,
    max_iter: int = 1000,
    fit_intercept: bool = True,
    standardize: bool = True,
    dtype: torch.dtype = torch.float32,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Multinomial logistic regression with an L2 penalty, by full-batch L-BFGS.

    Minimises ``mean_i CE(softmax(W x_i + b), y_i) + ||W||^2 / (2 C n)`` (the intercept
    is not penalised): scikit-learn's ``LogisticRegression(C=C)`` objective divided by
    n. It stops when the largest absolute gradient entry of that objective is <= ``tol``
    (scipy's ``gtol``, as scikit-learn's ``lbfgs`` solver sets it) or after ``max_iter``
    iterations; L-BFGS keeps 10 correction pairs (scipy's default) and uses a strong
    Wolfe line search.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    codes : ndarray of int64, shape (n,)
        Class index of each row, in [0, n_classes).
    n_classes : int
    C : float
        Inverse L2 strength, as in scikit-learn.
    tol : float
    max_iter : int
    fit_intercept : bool
    standardize : bool
        Fit on z-scored columns (training mean and std). The penalty then applies to the
        weights of the standardised features; the returned weights are folded back so
        that they act on the raw ``X``.
    dtype : torch.dtype
        float32 (faster) or float64.
    n_threads : int, optional
        torch intra-op threads during the fit (restored afterwards); None: torch's
        setting, except one thread for small problems (rows x features x classes < 2e6).

    Returns
    -------
    coef : ndarray of float64, shape (n_classes, d)
    intercept : ndarray of float64, shape (n_classes,)
    n_iter : int
        L-BFGS iterations run.

    References
    ----------
    Liu & Nocedal (1989), "On the limited memory BFGS method for large scale
    optimization", Mathematical Programming 45. Pedregosa et al. (2011), scikit-learn's
    ``LogisticRegression`` (its ``lbfgs`` objective and stopping rule).
    """
    n, d = X.shape
    mean, scale = standardization(X) if standardize else (np.zeros(d), np.ones(d))
    Z = torch.from_numpy(np.ascontiguousarray(((X - mean) / scale) if standardize else X)).to(dtype)
    target = torch.from_numpy(codes)
    weight = torch.zeros(d, n_classes, dtype=dtype, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=dtype, requires_grad=fit_intercept)
    params = [weight, bias] if fit_intercept else [weight]
    penalty = 0.5 / (C * n)
    optimizer = torch.optim.LBFGS(
        params, lr=1.0, max_iter=max_iter, max_eval=2 * max_iter + 10, tolerance_grad=tol,
        tolerance_change=float(torch.finfo(dtype).eps), history_size=10, line_search_fn="strong_wolfe",
    )  # fmt: skip

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(torch.addmm(bias, Z, weight), target) + penalty * weight.pow(2).sum()
        loss.backward()
        return loss

    if n_threads is None and n * d * n_classes < _SMALL_PROBLEM:
        n_threads = 1
    with torch_threads(n_threads):
        optimizer.step(closure)
    n_iter = int(optimizer.state[optimizer._params[0]].get("n_iter", 0))
    W = weight.detach().to(torch.float64).numpy() / scale[:, None]  # (d, K) on raw features
    b = bias.detach().to(torch.float64).numpy() - mean @ W
    return np.ascontiguousarray(W.T), b, n_iter


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Multinomial logistic-regression probe (L2), fitted by L-BFGS in torch.

    Parameters
    ----------
    C : float
        Inverse L2 strength, as scikit-learn's ``LogisticRegression(C=...)``: the
        objective is ``mean cross-entropy + ||W||^2 / (2 C n_samples)``.
    tol : float
        Stop when the largest absolute gradient entry of that objective is <= tol
        (scikit-learn's lbfgs rule).
    max_iter : int
        Most L-BFGS iterations; a :class:`~sklearn.exceptions.ConvergenceWarning` says
        when they ran out. The default is higher than scikit-learn's 100, which often
        stops short on transformer states.
    fit_intercept : bool
    standardize : bool
        z-score the features with the training mean and std before fitting (the usual
        practice for probes; it also conditions L-BFGS). The L2 penalty then acts on
        standardised weights. ``coef_`` is folded back onto the raw features.
    dtype : {"float32", "float64"}
        Precision of the optimisation. float32 (default) was 1.2-1.4x faster than
        float64 with two threads and 2-2.6x with one (7 layers x 16,000 MiniLM tokens x
        384, 17 classes) and gave the same test accuracy to within 0.05 points; choose
        float64 to reproduce scikit-learn's probabilities closely (with a small ``tol``).
        Predictions are always computed in float64.
    n_threads : int, optional
        torch intra-op threads while fitting (restored afterwards). None: torch's own
        setting (one thread for small problems). On a machine whose cores other
        processes keep busy, ``n_threads=1`` avoids threads waiting on each other:
        measured 3-4x faster there, and 1.1-1.3x slower than two threads on idle cores.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    coef_ : ndarray of float64, shape (n_classes, n_features)
        One weight vector per class (also for two classes: softmax over two logits,
        unlike scikit-learn's single binary logit; equivalent to it with twice the C).
    intercept_ : ndarray of float64, shape (n_classes,)
    n_iter_ : int
        L-BFGS iterations run.
    n_features_in_ : int

    Notes
    -----
    Deterministic: zero initialisation of a strictly convex objective; no seed needed.
    One layer at a time: on 7 layers x 20,000 MiniLM tokens x 17 classes, one batched
    model over all layers (block-diagonal L-BFGS) took 3-5x longer than seven separate
    fits, because one line search and one curvature history must then serve all layers.

    References
    ----------
    Alain & Bengio (2017), "Understanding intermediate layers using linear classifier
    probes", ICLR workshop. Liu & Nocedal (1989) for L-BFGS.
    """

    def __init__(
        self,
        C: float = 1.0,
        *,
        tol: float = 1e-4,
        max_iter: int = 1000,
        fit_intercept: bool = True,
        standardize: bool = True,
        dtype: str = "float32",
        n_threads: int | None = None,
    ):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.dtype = dtype
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any) -> LinearProbe:
        """Fit on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,)."""
        check_number(self.C, "C", low=0.0)
        check_number(self.tol, "tol", low=0.0)
        check_number(self.max_iter, "max_iter", low=1, integer=True, inclusive=True)
        if self.n_threads is not None:
            check_number(self.n_threads, "n_threads", low=1, integer=True, inclusive=True)
        dtype = torch_dtype(self.dtype)
        X = check_features(self, X, reset=True)
        y = check_labels(y, len(X))
        self.classes_, codes = encode_classes(y)
        coef, intercept, n_iter = fit_multinomial_lbfgs(
            X, codes, len(self.classes_), C=float(self.C), tol=float(self.tol), max_iter=int(self.max_iter),
            fit_intercept=check_flag("fit_intercept", self.fit_intercept), standardize=check_flag("standardize", self.standardize), dtype=dtype,
            n_threads=self.n_threads,
        )  # fmt: skip
        self.coef_, self.intercept_, self.n_iter_ = coef, intercept, n_iter
        if n_iter >= self.max_iter:
            warnings.warn(
                f"LinearProbe: L-BFGS stopped after max_iter={self.max_iter} iterations before the gradient fell "
                f"below tol={self.tol}; raise max_iter or standardize the features.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _logits(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        return X.astype(np.float64, copy=False) @ self.coef_.T + self.intercept_

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits, shape (n_samples, n_classes); for two classes the log-odds of ``classes_[1]``, shape (n_samples,)."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), rows summing to 1."""
        logits = self._logits(X)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        return logits / logits.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log class probabilities, shape (n_samples, n_classes)."""
        logits = self._logits(X)
        shift = logits.max(axis=1, keepdims=True)
        return logits - shift - np.log(np.exp(logits - shift).sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, shape (n_samples,)."""
        logits = self._logits(X)
        return self.classes_[np.argmax(logits, axis=1)]


# ----------------------------------------------------------------------------- MLP probe


class _MLP(torch.nn.Module):
    """Linear(d, h) -> activation -> dropout -> Linear(h, C)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, act: str, dropout: float, generator, dtype):
        super().__init__()
        self.hidden = seeded_linear(n_in, hidden, generator, dtype)
        self.output = seeded_linear(hidden, n_out, generator, dtype)
        self.dropout = SeededDropout(dropout)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(activation(self.act)(self.hidden(x))))


class MLPProbe(ClassifierMixin, BaseEstimator):
    """One-hidden-layer probe trained with Adam, stopped early on a validation set.

    Parameters
    ----------
    hidden_size : int
        Hidden units (Jawahar et al. 2019, after SentEval: 50).
    activation : {"sigmoid", "tanh", "relu", "gelu"}
        Hidden activation (Jawahar et al.: sigmoid).
    dropout : float
        Dropout on the hidden layer, in [0, 1).
    alpha : float
        L2 penalty ``alpha / 2 * ||W||^2`` on both weight matrices (not biases), added to
        the mean cross-entropy.
    learning_rate : float
        Adam's step size.
    batch_size : int
        Jawahar et al. (SentEval): 64.
    max_epochs : int
        Passes over the training rows at most.
    early_stopping : bool
        Keep the weights of the best validation and stop when ``stopping`` says so. The
        validation set is ``eval_set`` when given to :meth:`fit`, else a stratified
        random ``validation_fraction`` of the training rows. Off: train ``max_epochs``.
    validation_fraction : float
    patience : int
        Validations without improvement before the stop, counted as ``stopping`` says
        (SentEval's "tenacity": 5).
    tol : float
        Smallest improvement of the monitored measure that counts as one.
    monitor : {"loss", "accuracy"}
        What validation watches: the cross-entropy (minimised) or the accuracy
        (maximised, as SentEval).
    check_every : int
        Passes over the training rows between validations (SentEval's ``epoch_size``: 4).
    stopping : {"consecutive", "senteval"}
        ``"consecutive"``: stop at the ``patience``-th validation in a row without
        improvement. ``"senteval"``: SentEval's count (``senteval/tools/classifier.py``,
        ``PyTorchClassifier.fit``): the validations without improvement are counted from
        the start and the count is never reset by an improvement; training stops at the
        validation without improvement that finds the count already at ``patience``, the
        ``patience + 1``-th in all (the 6th with tenacity 5).
    standardize : bool
        z-score the features with the training mean and std (the statistics are kept
        and applied at prediction). SentEval and Jawahar et al.'s code train on the raw
        features (pass ``standardize=False`` to follow them).
    dtype : {"float32", "float64"}
        Training precision; predictions are computed in float64.
    n_threads : int, optional
        torch intra-op threads while training (restored afterwards). Mini-batches are
        small: one thread (default) was 1.2-3x faster per epoch than two on 2 cores.
        None: torch's own setting.
    random_state : int, RandomState or None
        Seeds the initial weights, the validation split, the batch order and the dropout
        masks (through a private torch generator: the global RNG is not touched).

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    module_ : torch.nn.Module
        The trained network (float64, eval mode).
    mean_, scale_ : ndarray of float64, shape (n_features,)
        Standardisation (zeros and ones when ``standardize`` is off).
    n_iter_ : int
        Epochs run.
    training_log_ : TrainingLog
        Validation values, learning rates and the validation kept.
    n_features_in_ : int

    Notes
    -----
    Deviations from SentEval's ``MLP`` (``senteval/tools/classifier.py``), which
    Jawahar et al.'s code copies (``probing/senteval_tool.py``):

    - Jawahar et al. choose the L2 strength on the dev set; here ``alpha`` is a
      parameter (choose it with ``param_grid`` in :func:`lensnb.probing.sweep.probe_layers`,
      which selects on the dev split).
    - The defaults validate every pass on the validation loss and stop after
      ``patience`` validations in a row without improvement; SentEval validates every 4
      passes on the accuracy with its cumulative count and stops at 200 passes (its loop,
      ``while nepoch <= max_epoch``, may start a last block of 4 at pass 200, so 204 at
      most). ``monitor="accuracy", check_every=4, stopping="senteval", patience=5,
      tol=0, max_epochs=204`` reproduce it. Jawahar et al.'s copy returns from inside
      its training loop (``self.model = bestmodel; return bestaccuracy`` is indented into
      the ``while``), so it trains 4 passes, checks once and stops; lensnb follows
      SentEval.
    - The defaults standardise the features; the reference does not (``standardize``).
    - Dropout comes after the activation (Linear -> activation -> Dropout -> Linear); the
      reference's ``nn.Sequential`` has Linear -> Dropout -> Sigmoid -> Linear. The same
      network when ``dropout`` is 0 (Jawahar et al.'s default).
    - The reference's L2 is Adam's ``weight_decay`` on every parameter, biases included;
      here the penalty covers the two weight matrices only (the same gradient on the
      weights; to decay the biases too there is no switch).

    References
    ----------
    Jawahar, Sagot & Seddah (2019), "What does BERT learn about the structure of
    language?", ACL, section 4 (SentEval probing). Conneau et al. (2018), "What you can
    cram into a single vector", ACL. Kingma & Ba (2015), Adam.
    """

    def __init__(
        self,
        hidden_size: int = 50,
        *,
        activation: str = "sigmoid",
        dropout: float = 0.0,
        alpha: float = 0.0,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 5,
        tol: float = 1e-4,
        monitor: str = "loss",
        check_every: int = 1,
        stopping: str = "consecutive",
        standardize: bool = True,
        dtype: str = "float32",
        n_threads: int | None = 1,
        random_state: Any = None,
    ):
        self.hidden_size = hidden_size
        self.activation = activation
        self.dropout = dropout
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.monitor = monitor
        self.check_every = check_every
        self.stopping = stopping
        self.standardize = standardize
        self.dtype = dtype
        self.n_threads = n_threads
        self.random_state = random_state

    def _check_params(self) -> torch.dtype:
        if self.n_threads is not None:
            check_number(self.n_threads, "n_threads", low=1, integer=True, inclusive=True)
        check_number(self.hidden_size, "hidden_size", low=1, integer=True, inclusive=True)
        check_choice(self.activation, "activation", ACTIVATIONS)
        check_number(self.dropout, "dropout", low=0.0, inclusive=True)
        if self.dropout >= 1:
            raise LensError.bad_argument("dropout", self.dropout, "a probability in [0, 1)")
        check_number(self.alpha, "alpha", low=0.0, inclusive=True)
        check_number(self.learning_rate, "learning_rate", low=0.0)
        check_number(self.batch_size, "batch_size", low=1, integer=True, inclusive=True)
        check_number(self.max_epochs, "max_epochs", low=1, integer=True, inclusive=True)
        check_number(self.patience, "patience", low=1, integer=True, inclusive=True)
        check_number(self.check_every, "check_every", low=1, integer=True, inclusive=True)
        check_number(self.tol, "tol", low=0.0, inclusive=True)
        check_choice(self.monitor, "monitor", MLP_MONITORS)
        check_choice(self.stopping, "stopping", STOPPING)
        check_number(self.validation_fraction, "validation_fraction", low=0.0)
        if self.validation_fraction >= 1:
            raise LensError.bad_argument("validation_fraction", self.validation_fraction, "a fraction in (0, 1)")
        check_flag("early_stopping", self.early_stopping)
        check_flag("standardize", self.standardize)
        return torch_dtype(self.dtype)

    def fit(self, X: Any, y: Any, *, eval_set: tuple[Any, Any] | None = None) -> MLPProbe:
        """Fit on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,).

        Parameters
        ----------
        eval_set : (X_val, y_val), optional
            Validation data for early stopping (e.g. the dev split); labels unseen in
            training are ignored there.
        """
        dtype = self._check_params()
        X = check_features(self, X, reset=True)
        y = check_labels(y, len(X))
        self.classes_, codes = encode_classes(y)
        generator = generator_from(self.random_state)
        train_rows, val_X, val_codes = self._validation(X, codes, eval_set, generator)
        self.mean_, self.scale_ = standardization(X[train_rows]) if self.standardize else (
            np.zeros(X.shape[1]), np.ones(X.shape[1]))  # fmt: skip
        inputs = torch.from_numpy(np.ascontiguousarray((X[train_rows] - self.mean_) / self.scale_)).to(dtype)
        target = torch.from_numpy(codes[train_rows])
        module = _MLP(X.shape[1], int(self.hidden_size), len(self.classes_), self.activation, float(self.dropout),
                      generator, dtype)  # fmt: skip
        module.dropout.generator = generator
        alpha = float(self.alpha)

        def batch_loss(rows: torch.Tensor) -> torch.Tensor:
            loss = F.cross_entropy(module(inputs[rows]), target[rows])
            if alpha:
                loss = loss + 0.5 * alpha * (module.hidden.weight.pow(2).sum() + module.output.weight.pow(2).sum())
            return loss

        validation = None
        if val_X is not None:
            val_inputs = torch.from_numpy(np.ascontiguousarray((val_X - self.mean_) / self.scale_)).to(dtype)
            val_target = torch.from_numpy(val_codes)

            def validation() -> float:
                logits = module(val_inputs)
                if self.monitor == "accuracy":
                    return float((logits.argmax(dim=1) == val_target).to(torch.float64).mean())
                return float(F.cross_entropy(logits, val_target))

        steps_per_pass = -(-len(train_rows) // int(self.batch_size))
        self.training_log_ = train_minibatch(
            module, batch_loss, len(train_rows), validation_metric=validation, generator=generator,
            learning_rate=float(self.learning_rate), batch_size=int(self.batch_size),
            max_epochs=int(self.max_epochs), patience=int(self.patience), monitor=self.monitor,
            maximize=self.monitor == "accuracy", tol=float(self.tol), stopping=self.stopping,
            validate_every=int(self.check_every) * steps_per_pass, threads=self.n_threads,
        )  # fmt: skip
        module.dropout.generator = None
        self.module_ = module.to(torch.float64)
        self.n_iter_ = self.training_log_.n_epochs
        return self

    def _validation(self, X, codes, eval_set, generator):
        """Training rows, and the validation inputs and class indices (None without early stopping)."""
        all_rows = np.arange(len(X))
        if not self.early_stopping:
            return all_rows, None, None
        if eval_set is not None:
            val_X, val_y = check_eval_set(self, eval_set)
            known = np.isin(val_y, self.classes_)
            if not known.any():
                raise LensError.bad_argument("eval_set", val_y, "validation labels among the training classes")
            return all_rows, val_X[known], np.searchsorted(self.classes_, val_y[known])
        return split_validation(codes, float(self.validation_fraction), generator, X)

    def _logits(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        inputs = torch.from_numpy(np.ascontiguousarray((X - self.mean_) / self.scale_, dtype=np.float64))
        return predict_in_chunks(lambda rows: self.module_(inputs[rows]), len(inputs)).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax), shape (n_samples, n_classes)."""
        logits = self._logits(X)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        return logits / logits.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, shape (n_samples,)."""
        logits = self._logits(X)
        return self.classes_[np.argmax(logits, axis=1)]
