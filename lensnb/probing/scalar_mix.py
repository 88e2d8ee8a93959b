"""Scalar-mix probing and cumulative probing (Tenney, Das & Pavlick 2019).

A scalar mix learns one softmax weight per layer and a scale, h = gamma * sum_l s_l h_l,
jointly with the probe that reads h: the weights say which layers the probe draws on
(their centre of gravity sum_l l s_l). Cumulative probing trains a mix over layers
0..l for every l; the gain Delta_l from adding layer l gives the expected layer
E_Delta[l], where the information first becomes available.

Input format of :class:`ScalarMixProbe`
---------------------------------------
A scikit-learn ``X`` of shape (n_items, n_layers * dim): each item's layers side by
side, layer-major (columns ``l * dim .. (l + 1) * dim`` are layer l), with the
``n_layers`` parameter saying how many layers there are (None: one layer). For
convenience ``X`` may also be the (n_layers, n_items, dim) stack lensnb uses elsewhere;
it is turned into the 2-D form (so ``n_features_in_`` is n_layers * dim either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted

from lensnb.errors import LensError
from lensnb.flags import check_flag, checks_flags
from lensnb.geometry.inputs import check_seed, is_real
from lensnb.geometry.results import LayerProfile
from lensnb.probing.controls import _check_count, labelled_stack, resolve_train
from lensnb.probing.probe_checks import (
    check_choice,
    check_features,
    check_labels,
    check_number,
    encode_classes,
    to_numpy,
)

__all__ = ["ScalarMixProbe", "centre_of_gravity", "expected_layer", "scalar_mix", "cumulative_probing", "METRICS"]

HEADS = ("linear", "mlp")
METRICS = ("accuracy", "macro_f1")


class ScalarMixProbe(ClassifierMixin, BaseEstimator):
    """A scalar mix of layers feeding a classifier, trained jointly (a scikit-learn classifier).

    Parameters
    ----------
    head : {"mlp", "linear"}
        ``"mlp"``: the layers of Tenney et al.'s classifier MLP, Linear(dim -> hidden) ->
        tanh -> LayerNorm -> Dropout -> Linear(hidden -> n_classes), on one vector per
        item; ``"linear"``: one Linear. Not their edge probe as a whole: see the Notes.
    hidden : int
    dropout : float in [0, 1)
    lr : float
        Adam learning rate (mix weights, scale and head alike).
    weight_decay : float
        Adam weight decay on the head (not on the mix).
    batch_size : int
    max_epochs : int
    patience : int
        Stop after this many epochs without a lower validation loss; the best
        epoch's parameters are kept.
    validation : float in (0, 1)
        Share of the training items held out for early stopping (at least one item,
        never all; with a single training item there is no validation and training
        runs ``max_epochs``).
    standardize_layers : bool
        Divide each layer by its root mean square (over training items) before
        mixing, so that the weights are not driven by layers' different norms. The
        paper does not (default False).
    seed : int
    device : str or torch.device, optional
        Where training runs (default CPU). Prediction runs on the CPU in float64, so
        that it does not depend on how the items are batched.
    n_layers : int, optional
        Number of layers in a 2-D ``X`` of shape (n_items, n_layers * dim). None: one
        layer for a 2-D ``X``, the first axis of a 3-D ``X``.

    Attributes
    ----------
    weights_ : ndarray, shape (n_layers_,)
        softmax(w), the mixing weights s_l.
    gamma_ : float
    classes_ : ndarray, shape (n_classes,)
    n_features_in_ : int
        n_layers_ * dim_.
    n_layers_, dim_ : int
    scale_ : ndarray, shape (n_layers_,)
        The root mean square of each layer when ``standardize_layers``, else ones.
    n_epochs_ : int

    Notes
    -----
    A generic mixed-layer classifier, not Tenney et al.'s mixed edge probe. It trains a
    softmax cross-entropy (one class per item) on per-item vectors (already pooled),
    with Adam at ``lr`` 1e-3, no learning-rate decay and early stopping on the
    validation cross-entropy. jiant's mixed edge probe mixes the token states first,
    then projects each span side's tokens, pools them (self-attentive) and trains
    sigmoid binary cross-entropy on multi-hot labels, with jiant's trainer (AMSGrad,
    learning rate 1e-4, gradient clipping, the rate halved on plateaus of the dev
    micro-F1). For that, use :func:`lensnb.papers.tenney.fit_mix_edge_probe`, which
    :mod:`lensnb.papers.tenney` runs for its cumulative probes.

    References
    ----------
    Tenney, Das & Pavlick (2019), "BERT Rediscovers the Classical NLP Pipeline", ACL,
    Eq. 1; the classifier of Tenney et al. (2019), "What do you learn from context?",
    ICLR, App. A.
    """

    def __init__(
        self,
        head: str = "mlp",
        hidden: int = 256,
        dropout: float = 0.3,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 32,
        max_epochs: int = 50,
        patience: int = 5,
        validation: float = 0.1,
        standardize_layers: bool = False,
        seed: int = 0,
        device: str | torch.device | None = None,
        n_layers: int | None = None,
    ):
        self.head = head
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation = validation
        self.standardize_layers = standardize_layers
        self.seed = seed
        self.device = device
        self.n_layers = n_layers

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # every setting, so results record the full probe
        return f"ScalarMixProbe({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def _check_params(self) -> None:
        check_choice(self.head, "head", HEADS)
        for name in ("hidden", "batch_size", "max_epochs", "patience"):
            check_number(getattr(self, name), name, low=1, integer=True, inclusive=True)
        check_number(self.lr, "lr", low=0.0)
        check_number(self.weight_decay, "weight_decay", low=0.0, inclusive=True)
        check_seed(self.seed)
        check_flag("standardize_layers", self.standardize_layers)
        if not isinstance(self.validation, (int, float, np.integer, np.floating)) or not 0 < self.validation < 1:
            raise LensError.bad_argument("validation", self.validation, "a fraction strictly between 0 and 1")
        if not isinstance(self.dropout, (int, float, np.integer, np.floating)) or not 0 <= self.dropout < 1:
            raise LensError.bad_argument("dropout", self.dropout, "a probability in [0, 1)")
        if self.n_layers is not None:
            check_number(self.n_layers, "n_layers", low=1, integer=True, inclusive=True)

    def _layered(self, X: Any, *, reset: bool) -> np.ndarray:
        """``X`` (n_items, n_layers * dim) or (n_layers, n_items, dim) as a validated (n_items, n_layers, dim) array."""
        X = to_numpy(X, "X")
        try:
            three_d = (X.ndim if hasattr(X, "ndim") else np.ndim(X)) == 3
        except (ValueError, TypeError):  # ragged nesting: let scikit-learn's validation word it
            three_d = False
        if three_d:
            stack = np.asarray(X)
            expected_layers = self.n_layers if reset else self.n_layers_
            if expected_layers is not None and stack.shape[0] != expected_layers:
                raise LensError.bad_argument(
                    "X", stack, f"a (n_layers, n_items, dim) stack with n_layers = {expected_layers}",
                    "the n_layers parameter" if reset else "as at fit",
                )  # fmt: skip
            if not reset and stack.shape[2:] != (self.dim_,):
                raise LensError.bad_argument("X", stack, f"a ({self.n_layers_}, n_items, {self.dim_}) stack as at fit")
            layers = stack.shape[0]
            X = stack.transpose(1, 0, 2).reshape(stack.shape[1], -1)
        matrix = check_features(self, X, reset=reset)
        if reset:
            layers = layers if three_d else (1 if self.n_layers is None else int(self.n_layers))
            if matrix.shape[1] % layers:
                raise LensError.bad_argument(
                    "n_layers", self.n_layers, f"a divisor of X's {matrix.shape[1]} columns (n_layers * dim)"
                )
            self.n_layers_, self.dim_ = layers, matrix.shape[1] // layers
        return matrix.reshape(len(matrix), self.n_layers_, self.dim_)

    def fit(self, X: Any, y: Any) -> ScalarMixProbe:
        """Fit on ``X`` of shape (n_items, n_layers * dim) or (n_layers, n_items, dim), labels ``y`` (n_items,)."""
        self._check_params()
        x = self._layered(X, reset=True)
        y = check_labels(y, len(x))
        self.classes_, codes = encode_classes(y)
        if self.standardize_layers:  # each layer's root mean square, found on the layer over its largest value
            peak = np.abs(x).max(axis=(0, 2)).astype(np.float64)  # so that the squares cannot under- or overflow
            unit = np.where(peak > 0, peak, 1.0)
            rms = unit * np.sqrt(np.mean(np.square(x / unit[None, :, None], dtype=np.float64), axis=(0, 2)))
            self.scale_ = np.where(rms > 0, rms, 1.0)
        else:
            self.scale_ = np.ones(self.n_layers_)
        device = torch.device(self.device) if self.device is not None else torch.device("cpu")
        x = torch.from_numpy((x / self.scale_[:, None]).astype(np.float32, copy=False)).to(device)
        targets = torch.as_tensor(codes, dtype=torch.long, device=device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            self.module_ = _MixClassifier(self.n_layers_, self.dim_, len(self.classes_), self.head, int(self.hidden),
                                          float(self.dropout)).to(device)  # fmt: skip
            generator = torch.Generator().manual_seed(int(self.seed))
            n = len(x)
            order = torch.randperm(n, generator=generator)
            n_valid = min(max(int(round(self.validation * n)), 1), n - 1)
            valid, train = order[:n_valid].to(device), order[n_valid:].to(device)
            self.n_epochs_ = self._train(x, targets, train, valid, generator)
        self.module_ = self.module_.to("cpu", torch.float64).eval()
        return self

    def _train(self, x, targets, train, valid, generator) -> int:
        module = self.module_
        optimizer = torch.optim.Adam([
            {"params": module.mix.parameters(), "weight_decay": 0.0},
            {"params": module.classifier.parameters(), "weight_decay": float(self.weight_decay)},
        ], lr=float(self.lr))  # fmt: skip
        loss_fn = torch.nn.CrossEntropyLoss()
        best, best_state, waited, epochs = np.inf, None, 0, 0
        while epochs < self.max_epochs:
            epochs += 1
            module.train()
            for batch in train[torch.randperm(len(train), generator=generator).to(train.device)].split(
                int(self.batch_size)
            ):
                optimizer.zero_grad()
                loss_fn(module(x[batch]), targets[batch]).backward()
                optimizer.step()
            if len(valid) == 0:  # a single training item: no early stopping
                continue
            module.eval()
            with torch.no_grad():
                loss = float(loss_fn(module(x[valid]), targets[valid]))
            if loss < best - 1e-6:
                best, waited = loss, 0
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                waited += 1
                if waited >= self.patience:
                    break
        if best_state is not None:  # None when every validation loss was NaN, or without validation
            module.load_state_dict(best_state)
        return epochs

    @property
    def weights_(self) -> np.ndarray:
        check_is_fitted(self)
        return torch.softmax(self.module_.mix.logits.detach(), 0).numpy().astype(np.float64)

    @property
    def gamma_(self) -> float:
        check_is_fitted(self)
        return float(self.module_.mix.gamma.detach())

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_items, n_classes), for ``X`` shaped as at fit."""
        check_is_fitted(self)
        x = torch.from_numpy(np.asarray(self._layered(X, reset=False), dtype=np.float64) / self.scale_[:, None])
        outputs = []
        with torch.no_grad():
            for chunk in x.split(4096):
                outputs.append(torch.softmax(self.module_(chunk), -1))
        if not outputs:
            return np.zeros((0, len(self.classes_)))
        return torch.cat(outputs).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels, shape (n_items,)."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy on ``X`` (as at fit) and ``y`` (n_items,)."""
        return float(accuracy_score(np.asarray(to_numpy(y, "y")), self.predict(X), sample_weight=sample_weight))


class _ScalarMix(torch.nn.Module):
    def __init__(self, n_layers: int):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(n_layers))  # uniform weights at the start
        self.gamma = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, layer, dim) -> (batch, dim)
        return self.gamma * torch.einsum("l,bld->bd", torch.softmax(self.logits, 0).to(x.dtype), x)


class _MixClassifier(torch.nn.Module):
    def __init__(self, n_layers: int, dim: int, n_classes: int, head: str, hidden: int, dropout: float):
        super().__init__()
        self.mix_dim = dim
        self.mix = _ScalarMix(n_layers)
        if head == "linear":
            self.classifier = torch.nn.Linear(dim, n_classes)
        else:
            self.classifier = torch.nn.Sequential(
                torch.nn.Linear(dim, hidden), torch.nn.Tanh(), torch.nn.LayerNorm(hidden),
                torch.nn.Dropout(dropout), torch.nn.Linear(hidden, n_classes),
            )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.mix(x))


def centre_of_gravity(weights: Any, layers: Sequence[int] | None = None) -> float:
    """E_s[l] = sum_l l * s_l, the mixing weights' centre of gravity in model layers.

    References
    ----------
    Tenney, Das & Pavlick (2019), Sec. 3 ("center of gravity", Eq. 2).
    """
    s = np.asarray(weights, dtype=np.float64)
    numbers = np.arange(len(s)) if layers is None else np.asarray(layers, dtype=np.float64)
    if s.ndim != 1 or numbers.shape != s.shape:
        raise LensError.bad_argument("weights", s, f"a 1-D array with one weight per layer ({len(numbers)})")
    return float(np.sum(numbers * s) / np.sum(s))


def expected_layer(scores: Any, layers: Sequence[int] | None = None) -> float:
    """E_Delta[l] = sum_{l>=1} l Delta_l / sum_{l>=1} Delta_l, Delta_l = score(<= l) - score(<= l-1).

    Parameters
    ----------
    scores : array of shape (n_layers,)
        Score of the cumulative probe over layers 0..l, for each l in order.
    layers : sequence of int, optional
        Model layer of each entry (default 0..n_layers-1); the first is the baseline.

    Returns
    -------
    float
        NaN when the gains sum to zero.

    References
    ----------
    Tenney, Das & Pavlick (2019), Sec. 3 ("cumulative scoring", Eq. 3); the sum runs
    over l = 1..L, layer 0 (the lexical baseline P^(0)) only enters through Delta_1.
    """
    try:
        scores = np.asarray(scores, dtype=np.float64)
        numbers = np.arange(scores.shape[-1]) if layers is None else np.asarray(layers, dtype=np.float64)
    except (TypeError, ValueError):
        raise LensError.bad_argument("scores", scores, "numbers, one score per layer (and layers as numbers)") from None
    if scores.shape[-1] < 2 or numbers.shape != (scores.shape[-1],):
        raise LensError.bad_argument("scores", scores, f"at least 2 scores, one per layer ({len(numbers)})")
    delta = np.diff(scores, axis=-1)
    total = delta.sum(axis=-1)
    usable = np.abs(total) > 1e-12
    value = np.where(usable, (delta * numbers[1:]).sum(axis=-1) / np.where(usable, total, 1.0), np.nan)
    return float(value) if value.ndim == 0 else value


@checks_flags
def scalar_mix(
    data: Any,
    labels: Any,
    *,
    probe: ScalarMixProbe | None = None,
    layers: Sequence[int] | int | None = None,
    train: Any = None,
    test_size: float = 0.2,
    repeats: int = 1,
    seed: int = 0,
    metric: str = "accuracy",
    site: str | None = None,
    pool: str | None = None,
    progress: bool = True,
) -> LayerProfile:
    """Mixing weights s_l of a scalar-mix probe over all layers, and their centre of gravity.

    Parameters
    ----------
    data : Activations, array (layer, item, dim) or list of (item, dim) arrays
    labels : str or array of shape (n_items,)
    probe : ScalarMixProbe, optional
        Its settings (default ``ScalarMixProbe()``: Tenney's MLP head); refitted with
        seeds ``seed``, ``seed + 1``, ... for each repeat, and ``n_layers`` set to the
        number of layers mixed (the probe's own ``n_layers`` is ignored).
    layers : optional
    train : array of bool, shape (n_items,), optional
        Training items; default a seeded random split (by text when the table has
        ``text_id``).
    test_size : float
    repeats : int
        Trainings with different seeds; values are the mean weights, errors their std.
    seed : int
    metric : {"accuracy", "macro_f1"}
        Test score reported in ``details`` (micro-F1 equals accuracy for one label per
        item).
    site, pool
        See :func:`lensnb.geometry.inputs.layer_stack`.
    progress : bool

    Returns
    -------
    LayerProfile
        name ``"scalar_mix_weights"``, values (n_layers,) = s_l (summing to 1).
        ``details``: ``centre_of_gravity`` (mean over repeats), ``centre_of_gravity_runs``
        (repeats,), ``gamma`` (repeats,), ``score`` (repeats,), ``weights_runs``
        (repeats, n_layers).

    References
    ----------
    Tenney, Das & Pavlick (2019), "BERT Rediscovers the Classical NLP Pipeline", ACL,
    Eq. 1-2.
    """
    from tqdm.auto import tqdm

    seed = check_seed(seed)
    stack, codes, classes, keep = labelled_stack(data, labels, layers, site, pool)
    _check_metric(metric)
    repeats = _check_count(repeats, "repeats")
    if repeats < 1:
        raise LensError.bad_argument("repeats", repeats, "an integer >= 1")
    mask, split = resolve_train(train, keep, stack, test_size, seed)
    n_layers = len(stack.layers)
    x = np.concatenate([stack.matrix(p, np.float32) for p in range(n_layers)], axis=1)  # (item, layer * dim)
    train_x, test_x = x[mask], x[~mask]
    weights, gammas, scores = [], [], []
    for r in tqdm(range(repeats), desc="scalar mix", disable=not progress):
        fitted = _fresh(probe, seed + r, n_layers).fit(train_x, codes[mask])
        weights.append(fitted.weights_)
        gammas.append(fitted.gamma_)
        scores.append(_score(metric, codes[~mask], fitted.predict(test_x), len(classes)))
    weights = np.asarray(weights)
    centres = np.asarray([centre_of_gravity(w, stack.layers) for w in weights])
    details = {
        "centre_of_gravity": float(centres.mean()), "centre_of_gravity_runs": centres, "gamma": np.asarray(gammas),
        "score": np.asarray(scores), "weights_runs": weights,
    }  # fmt: skip
    params = dict(probe=repr(_fresh(probe, seed, n_layers)), split=split, test_size=test_size, repeats=repeats, seed=seed,
                  metric=metric, n_train=int(mask.sum()), n_test=int((~mask).sum()), n_classes=len(classes),
                  pool=pool, error="std over training seeds" if repeats > 1 else "none")  # fmt: skip
    errors = weights.std(axis=0, ddof=1) if repeats > 1 else None
    return LayerProfile(
        "scalar_mix_weights", stack.layers, weights.mean(axis=0), errors, params, stack.table, stack.unit, details
    )


@checks_flags
def cumulative_probing(
    data: Any,
    labels: Any,
    *,
    probe: ScalarMixProbe | None = None,
    layers: Sequence[int] | int | None = None,
    train: Any = None,
    test_size: float = 0.2,
    seed: int = 0,
    metric: str = "accuracy",
    bootstrap: int = 1000,
    confidence: float = 0.95,
    site: str | None = None,
    pool: str | None = None,
    progress: bool = True,
) -> LayerProfile:
    """Cumulative scalar-mix probes over layers 0..l for every l, and the expected layer.

    Parameters
    ----------
    data, labels, probe, layers, train, test_size, seed, metric, site, pool
        As in :func:`scalar_mix`. The first layer is the baseline P^(0) (Tenney: the
        lexical layer 0).
    bootstrap : int
        Resamples of the test items for the interval of the expected layer (and error
        bars of the scores); 0 for none.
    confidence : float
        Level of the percentile interval.
    progress : bool

    Returns
    -------
    LayerProfile
        name ``"cumulative_score"``, values (n_layers,) = score of the probe on layers
        up to each layer; errors: bootstrap std. ``details``: ``delta`` (n_layers,),
        Delta_l with Delta_0 = NaN; ``expected_layer`` E_Delta[l];
        ``expected_layer_interval`` (2,) percentile interval; ``expected_layer_error``
        bootstrap std; ``expected_layer_bootstrap`` (bootstrap,);
        ``weights`` (n_layers, n_layers) mixing weights of each cumulative probe (row l:
        layers 0..l, NaN beyond); ``centre_of_gravity`` of the probe over all layers.

    Notes
    -----
    The interval covers the sampling of the test items with the probes held fixed, not
    the variation between training runs. Gains may be negative (a probe with more
    layers can score lower by chance), as in the paper.

    References
    ----------
    Tenney, Das & Pavlick (2019), "BERT Rediscovers the Classical NLP Pipeline", ACL,
    Sec. 3, Eq. 3 (Delta and E_Delta[l]).
    """
    from tqdm.auto import tqdm

    seed = check_seed(seed)
    stack, codes, classes, keep = labelled_stack(data, labels, layers, site, pool)
    _check_metric(metric)
    bootstrap = _check_count(bootstrap, "bootstrap")
    if not (is_real(confidence) and 0 < confidence < 1):
        raise LensError.bad_argument("confidence", confidence, "a fraction strictly between 0 and 1")
    n_layers = len(stack.layers)
    if n_layers < 2:
        raise LensError.bad_argument("layers", stack.layers, "at least 2 layers (a baseline and one more)")
    mask, split = resolve_train(train, keep, stack, test_size, seed)
    x = np.concatenate([stack.matrix(p, np.float32) for p in range(n_layers)], axis=1)  # (item, layer * dim)
    dim = x.shape[1] // n_layers
    train_x, test_x = x[mask], x[~mask]
    truth = codes[~mask]
    predictions, weights = [], np.full((n_layers, n_layers), np.nan)
    for top in tqdm(range(n_layers), desc="cumulative probes", disable=not progress):
        columns = slice(0, (top + 1) * dim)  # layers 0..top
        fitted = _fresh(probe, seed, top + 1).fit(train_x[:, columns], codes[mask])
        predictions.append(fitted.predict(test_x[:, columns]))  # codes, as the probe was fitted on codes
        weights[top, : top + 1] = fitted.weights_
    predictions = np.asarray(predictions)
    scores = np.asarray([_score(metric, truth, p, len(classes)) for p in predictions])
    expected = expected_layer(scores, stack.layers)
    details: dict[str, Any] = {
        "delta": np.r_[np.nan, np.diff(scores)], "expected_layer": expected, "weights": weights,
        "centre_of_gravity": centre_of_gravity(weights[-1], stack.layers),
        "expected_layer_interval": None, "expected_layer_error": None, "expected_layer_bootstrap": None,
    }  # fmt: skip
    errors = None
    if bootstrap >= 2:
        rows = np.random.default_rng([seed, 2]).integers(0, len(truth), size=(bootstrap, len(truth)))
        resampled = np.stack([_score_rows(metric, truth, p, rows, len(classes)) for p in predictions], axis=1)
        samples = expected_layer(resampled, stack.layers)  # (bootstrap,)
        finite = samples[np.isfinite(samples)]
        tail = (1 - confidence) / 2 * 100
        details["expected_layer_bootstrap"] = samples
        if len(finite) >= 2:
            details["expected_layer_interval"] = np.percentile(finite, [tail, 100 - tail])
            details["expected_layer_error"] = float(finite.std(ddof=1))
        errors = resampled.std(axis=0, ddof=1)
    params = dict(probe=repr(_fresh(probe, seed, n_layers)), split=split, test_size=test_size, seed=seed, metric=metric,
                  bootstrap=bootstrap, confidence=confidence, n_train=int(mask.sum()), n_test=int((~mask).sum()),
                  n_classes=len(classes), pool=pool, error="bootstrap std over test items" if errors is not None
                  else "none")  # fmt: skip
    return LayerProfile("cumulative_score", stack.layers, scores, errors, params, stack.table, stack.unit, details)


# ---------------------------------------------------------------------- helpers
def _fresh(probe: ScalarMixProbe | None, seed: int, n_layers: int) -> ScalarMixProbe:
    seed = check_seed(seed)
    if probe is None:
        return ScalarMixProbe(seed=seed, n_layers=n_layers)
    if not isinstance(probe, ScalarMixProbe):
        raise LensError.bad_argument("probe", probe, "a lensnb ScalarMixProbe (its settings) or None")
    return ScalarMixProbe(**{**probe.get_params(), "seed": seed, "n_layers": n_layers})


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise LensError.bad_argument("metric", metric, f"one of {METRICS}")


def _score(metric: str, truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    return float(_score_rows(metric, truth, predicted, np.arange(len(truth))[None], n_classes)[0])


def _score_rows(metric: str, truth: np.ndarray, predicted: np.ndarray, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """The metric on each resample ``rows`` (n_samples, n) of the test items, shape (n_samples,)."""
    t, p = truth[rows], predicted[rows]
    if metric == "accuracy":
        return (t == p).mean(axis=1)
    scores = np.zeros(len(rows))
    present = np.zeros(len(rows))
    for c in range(n_classes):  # macro F1 over the classes present in truth or prediction of each resample
        tp = ((t == c) & (p == c)).sum(axis=1)
        support = (t == c).sum(axis=1) + (p == c).sum(axis=1)
        used = support > 0
        scores += np.where(used, 2 * tp / np.maximum(support, 1), 0.0)
        present += used
    return scores / np.maximum(present, 1)
