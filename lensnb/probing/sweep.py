"""``probe_layers``: the same probe trained and tested on every layer, with baselines and intervals.

For each layer and each seed, a fresh copy of the probe is fitted on the train split
(early stopping, and any hyper-parameter choice, on dev) and scored on test. Splits
keep each text's items together. The result is a :class:`~lensnb.geometry.results.
LayerProfile`: accuracy per layer (micro-F1 for multi-label tasks) with an error bar,
the majority-class baseline, macro-F1, the numbers of every seed and, on request, the
confusion matrices.

One layer at a time: measured on 7 layers x 20,000 MiniLM tokens x 17 classes, one
batched L-BFGS model over all layers was 3-5x slower than seven separate
:class:`~lensnb.probing.estimators.LinearProbe` fits, and for the edge probe a step of a
7-layer batched model cost more (20.7 ms) than 7 single-layer steps (7 x 2.0 ms).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import ParameterGrid
from sklearn.utils import get_tags

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.geometry.inputs import layer_stack
from lensnb.geometry.results import LayerProfile
from lensnb.probing.controls import warn_unseen_test_labels
from lensnb.probing.estimators import LinearProbe
from lensnb.probing.features import ProbingData, ProbingTask, encode_labels, probing_data
from lensnb.probing.splits import Split, as_split, split_by_group, split_from_values

__all__ = ["probe_layers", "scores", "majority_baseline", "AUTO_BOOTSTRAP"]

#: Resamples of the test texts ``probe_layers`` draws by itself (``bootstrap=None``) when
#: the seeds give no spread on a fixed split.
AUTO_BOOTSTRAP = 1000


@checks_flags
def probe_layers(
    acts: Any,
    task: ProbingTask | str | Any,
    *,
    probe: Any = None,
    layers: Sequence[int] | int | None = None,
    site: str | None = None,
    splits: Sequence[float] | str | Split | Mapping[str, Any] = (0.8, 0.1, 0.1),
    seeds: Sequence[int] = (0, 1, 2),
    bootstrap: int | None = None,
    groups: Any = None,
    param_grid: Mapping[str, Sequence[Any]] | None = None,
    confusion: bool = False,
    progress: bool = True,
) -> LayerProfile:
    """Train and test a probe on every layer.

    Parameters
    ----------
    acts : Activations, or array of shape (layer, n_items, dim), or list of (n_items, dim) arrays
        Token-level activations from :func:`lensnb.extract`; for a token task also
        word-level ones (``acts.pool_words(how)``: each labelled word an item, grouped
        by text for the splits; see :func:`~lensnb.probing.features.probing_data`); or
        ready-made per-layer features (numpy or torch).
    task : ProbingTask, str or array-like
        For Activations: a :class:`~lensnb.probing.features.ProbingTask` (``token_task``,
        ``span_task``, ``span_pair_task``, ``text_task``) or a per-word label column name
        (``token_task(name)``: first pieces, or the word rows of word-level
        Activations). For arrays: the labels, shape (n_items,) or multi-hot (n_items,
        n_classes).
    probe : estimator, optional
        Any scikit-learn classifier; cloned for every layer and seed. Default
        :class:`~lensnb.probing.estimators.LinearProbe`. A probe whose ``fit`` takes
        ``spans`` (:class:`~lensnb.probing.edge.EdgeProbe`) gets token states and span
        rows for tasks with ``pool="self_attentive"``; one whose ``fit`` takes
        ``eval_set`` gets the dev split for early stopping; one whose ``fit`` takes
        ``groups`` gets each training item's group (its text, or ``groups`` below), by
        which EdgeProbe batches.
    layers : int or sequence of int, optional
        Model layers (Activations) or positions (arrays); default all.
    site : str, optional
        Which site of Activations holding several; default the only one. The site used
        is recorded in ``params["site"]``.
    splits : (train, dev, test) fractions, str, Split or mapping
        Fractions: whole texts drawn at random, again for every seed. A string: a column
        of the item table or of the text table (``Example.meta``) naming each item's part
        ("train", "dev"/"validation", "test", or SentEval's "tr", "va", "te"; see
        :data:`~lensnb.probing.splits.SPLIT_NAMES`): the data's own split. A
        :class:`~lensnb.probing.splits.Split` or ``{"train": rows, "dev": rows, "test":
        rows}``: item rows. Both fixed splits give every seed the same parts.
    seeds : sequence of int
        One run per seed: it seeds the probe (``random_state``) and, for fractions, the
        split.
    bootstrap : int, optional
        When > 0, error bars come from this many resamples of the test texts (a cluster
        bootstrap of the seed-averaged score) instead of the spread over seeds; 0: from
        the seeds. None (default): from the seeds, except on a fixed split (a column,
        Split or mapping) when every seed gives the same score at every layer (a
        deterministic probe such as the default LinearProbe, or a single seed): the
        seeds' spread is then zero and says nothing about the test sample, so the error
        bars come from :data:`AUTO_BOOTSTRAP` (1000) resamples of the test texts, as
        ``bootstrap=1000`` would give them (``params["errors"]`` says so). With 0 in
        that case the errors are 0 and the interval has zero width, with a warning.
    groups : array-like, shape (n_items,), optional
        For arrays: the text of each item, kept together by the splits (default: every
        item its own group).
    param_grid : mapping of str to sequence, optional
        Probe parameters to choose per layer and seed on the dev split (e.g.
        ``{"C": [0.1, 1, 10]}``, or MLPProbe's ``alpha``); the best model on dev is
        scored on test.
    confusion : bool
        Also return the confusion matrix of every layer (summed over seeds; rows = true
        class, columns = predicted, in the order of ``details["classes"]``); single-label
        tasks only.
    progress : bool
        Show a progress bar.

    Returns
    -------
    LayerProfile
        ``values``: mean test accuracy over seeds (micro-F1 for multi-label tasks);
        ``errors``: standard deviation over seeds (ddof=1; None for one seed on drawn
        splits), or the bootstrap standard error. ``details``: ``accuracy``,
        ``micro_f1``, ``macro_f1`` (n_layers,) and ``*_per_seed`` (n_layers, n_seeds);
        ``majority_baseline`` (the same score for always predicting the most frequent
        training label, or label set) and ``majority_baseline_per_seed``; ``ci_low``,
        ``ci_high`` (95%: a t-interval of the seed mean, or bootstrap percentiles);
        ``classes``; ``split_sizes``;
        ``test_rows`` and ``predictions`` of the first seed; ``confusion`` (n_layers,
        n_classes, n_classes) when asked; ``chosen_params`` with a grid; ``bootstrap``
        (n_layers, n_resamples) when the error bars come from it. ``params``: the task
        (its ``pool`` is ``"pooled words"`` for word-level Activations), probe, splits,
        seeds, ``bootstrap`` (the resamples drawn, 0 for none), ``errors`` (``"seeds"``,
        ``"bootstrap"`` or ``"bootstrap (automatic ...)"``) and ``site`` (the site
        probed, also when it was the default; None for arrays).
        :meth:`~lensnb.geometry.results.LayerProfile.to_pandas` gives the per-layer
        numbers as a table: value, error, accuracy, micro- and macro-F1, the majority
        baseline and the interval.

    Warns
    -----
    UserWarning
        Once per call, on a fixed split (a column, Split or mapping) whose test part
        holds a label that its training part lacks (for a multi-label task, a class with
        positives in test and none in train): the probe cannot predict it. The message
        names the labels and how many test items carry them. Also when the split is
        fixed, ``bootstrap=0`` and the seeds give no spread (no interval).

    Notes
    -----
    :func:`~lensnb.probing.controls.control_task_selectivity` takes the same Activations
    and task (token-level with the default first pieces, or ``pool_words`` rows) and
    probes the same items, but its defaults differ: one seeded 80/20 split by text
    (``test_size=0.2``, no dev part) and a bootstrap over test items, where this function
    averages three seeds of (0.8, 0.1, 0.1) splits. Its ``task_accuracy`` is therefore
    not this function's ``values``. To compare them, give both one split: with ``train``
    a mask over the Activations' rows and ``labelled = acts.table["upos"].notna()
    .to_numpy()``, ``probe_layers(acts, "upos", splits={"train":
    np.flatnonzero(train[labelled]), "test": np.flatnonzero(~train[labelled])})`` and
    ``control_task_selectivity(acts, "upos", train=train)`` give the same task accuracy
    (the default LinearProbe).

    Raises
    ------
    LensError
        For ``acts`` that are neither Activations nor per-layer arrays (a Relevance,
        say), a task that does not fit the activations (see
        :func:`~lensnb.probing.features.probing_data`), a probe that cannot take the
        task's inputs, bad splits (an empty train or test part, too few texts) or seeds.

    References
    ----------
    Tenney et al. (2019), "What do you learn from context?", ICLR; Hewitt & Liang
    (2019), "Designing and interpreting probes with control tasks", EMNLP (baselines
    and intervals as probing hygiene).
    """
    from tqdm.auto import tqdm

    probe = LinearProbe() if probe is None else probe
    if not hasattr(probe, "fit") or not hasattr(probe, "predict"):
        raise LensError.bad_argument("probe", probe, "a scikit-learn classifier (with fit and predict)")
    seeds = _check_seeds(seeds)
    if bootstrap is not None and (
        not isinstance(bootstrap, (int, np.integer)) or isinstance(bootstrap, bool) or bootstrap < 0
    ):
        raise LensError.bad_argument(
            "bootstrap", bootstrap, "None (automatic) or a non-negative integer (0: error bars from seeds)"
        )  # fmt: skip
    data = _as_data(acts, task, layers, site, groups)
    site_used = acts._site(site) if isinstance(acts, Activations) else None
    fit_parameters = inspect.signature(probe.fit).parameters
    takes_spans, takes_eval = "spans" in fit_parameters, "eval_set" in fit_parameters
    takes_groups = "groups" in fit_parameters
    if data.spans is not None and not takes_spans:
        raise LensError.bad_argument(
            "probe", probe, "a probe whose fit takes spans= (EdgeProbe) for pool='self_attentive'",
            "Or pool the spans as fixed features: pool='mean', 'max' or 'endpoints'.",
        )  # fmt: skip
    if data.multilabel and not get_tags(probe).classifier_tags.multi_label:
        raise LensError.bad_argument("probe", probe, "a multi-label probe (EdgeProbe) for labels that are sets")
    if confusion and data.multilabel:
        raise LensError.bad_argument("confusion", confusion, "False for a multi-label task")
    split_list = _splits(splits, data, seeds, acts)
    unknown = sorted(set(param_grid or {}) - set(probe.get_params()))
    if unknown:
        raise LensError.bad_argument(
            "param_grid", dict(param_grid), f"settings of the probe {type(probe).__name__}: {sorted(probe.get_params())}",
            f"It has no {', '.join(map(repr, unknown))}.",
        )  # fmt: skip
    candidates = list(ParameterGrid(dict(param_grid))) if param_grid else [{}]
    if param_grid and any(len(s.dev) == 0 for s in split_list):
        raise LensError.bad_argument("param_grid", dict(param_grid), "a split with a dev part to choose on")
    has_seed = "random_state" in probe.get_params()
    fixed = not _is_fractions(splits)  # every seed gets the same parts
    if fixed:
        warn_unseen_test_labels(
            data.y[split_list[0].train], data.y[split_list[0].test], "probe_layers", "splits",
            "Move texts with these labels into the training part, or drop the labels.",
            classes=data.classes if data.multilabel else None, stacklevel=4,  # the caller, past checks_flags' wrapper
        )  # fmt: skip
    automatic = bootstrap is None and fixed  # bootstrap when the seeds turn out to give no spread
    bootstrap = 0 if bootstrap is None else int(bootstrap)

    n_layers, n_seeds = len(data.layers), len(seeds)
    per_seed = {name: np.zeros((n_layers, n_seeds)) for name in ("value", "accuracy", "micro_f1", "macro_f1")}
    boot = np.zeros((n_layers, bootstrap)) if bootstrap else None
    kept_predictions: list[list[np.ndarray]] = [[] for _ in data.layers]
    matrices = np.zeros((n_layers, len(data.classes), len(data.classes)), dtype=np.int64) if confusion else None
    chosen, first_predictions = [], []
    bar = tqdm(
        total=n_layers * n_seeds * len(candidates), desc=f"probing {data.task.display_name}", disable=not progress
    )
    with bar:
        for position, layer in enumerate(data.layers):
            X = data.features(layer)
            layer_choices = []
            for s, (seed, split) in enumerate(zip(seeds, split_list)):
                base = clone(probe).set_params(random_state=seed) if has_seed else clone(probe)
                model, params = _fit_best(base, candidates, X, data, split, takes_spans, takes_eval, takes_groups, bar)
                layer_choices.append(params)
                predicted = _predict(model, X, data, split.test, takes_spans)
                truth = data.y[split.test]
                numbers = scores(truth, predicted, data.classes if not data.multilabel else None)
                for name in per_seed:
                    per_seed[name][position, s] = numbers[name]
                if bootstrap:
                    boot[position] += _bootstrap(truth, predicted, data.groups[split.test], bootstrap, seed) / n_seeds
                if automatic:
                    kept_predictions[position].append(predicted)
                if confusion:
                    matrices[position] += confusion_matrix(truth, predicted, labels=data.classes)
                if s == 0:
                    first_predictions.append(predicted)
            chosen.append(layer_choices)

    baseline = np.array([majority_baseline(data.y[sp.train], data.y[sp.test])["value"] for sp in split_list])
    values = per_seed["value"].mean(axis=1)
    no_spread = bool(np.all(per_seed["value"] == per_seed["value"][:, :1]))
    errors_from = "bootstrap" if bootstrap else "seeds"
    if automatic and no_spread:  # as bootstrap=AUTO_BOOTSTRAP would have drawn them
        bootstrap, errors_from = AUTO_BOOTSTRAP, "bootstrap (automatic: fixed split, no spread over the seeds)"
        test, truth = split_list[0].test, data.y[split_list[0].test]
        boot = np.zeros((n_layers, bootstrap))
        for position in range(n_layers):
            for seed, predicted in zip(seeds, kept_predictions[position]):
                boot[position] += _bootstrap(truth, predicted, data.groups[test], bootstrap, seed) / n_seeds
    elif fixed and no_spread and not bootstrap:
        why = (
            "there is one seed, so there are no error bars (None)"
            if n_seeds == 1
            else f"all {n_seeds} seeds gave the same scores, so the errors are 0"
        )
        warnings.warn(
            f"probe_layers: the split is fixed and {why}, and ci_low == ci_high: that is no interval. Leave "
            f"bootstrap=None (the default) or pass bootstrap={AUTO_BOOTSTRAP} for one over resamples of the test "
            "texts.",
            stacklevel=3,  # the caller, past checks_flags' wrapper
        )
    if bootstrap:
        errors = boot.std(axis=1, ddof=1) if bootstrap > 1 else np.zeros(n_layers)
        low, high = np.percentile(boot, [2.5, 97.5], axis=1)
    elif n_seeds > 1:
        from scipy.stats import t as student_t

        errors = per_seed["value"].std(axis=1, ddof=1)
        half = student_t.ppf(0.975, n_seeds - 1) * errors / np.sqrt(n_seeds)
        low, high = values - half, values + half
    else:
        errors, low, high = None, values.copy(), values.copy()
    metric = "micro_f1" if data.multilabel else "accuracy"
    details: dict[str, Any] = {
        "metric": metric,
        "accuracy": per_seed["accuracy"].mean(axis=1),
        "micro_f1": per_seed["micro_f1"].mean(axis=1),
        "macro_f1": per_seed["macro_f1"].mean(axis=1),
        "accuracy_per_seed": per_seed["accuracy"],
        "micro_f1_per_seed": per_seed["micro_f1"],
        "macro_f1_per_seed": per_seed["macro_f1"],
        "value_per_seed": per_seed["value"],
        "majority_baseline": float(baseline.mean()),
        "majority_baseline_per_seed": baseline,
        "ci_low": low,
        "ci_high": high,
        "classes": data.classes,
        "split_sizes": [sp.sizes() for sp in split_list],
        "test_rows": split_list[0].test,
        "predictions": np.stack(first_predictions),
    }
    if bootstrap:
        details["bootstrap"] = boot
    if confusion:
        details["confusion"] = matrices
    if param_grid:
        details["chosen_params"] = chosen
    params = {
        "task": data.task.describe(),
        "probe": repr(probe),
        "probe_params": probe.get_params(deep=False),
        "splits": _describe_splits(splits, split_list[0]),
        "seeds": tuple(seeds),
        "bootstrap": int(bootstrap),
        "errors": errors_from,
        "param_grid": dict(param_grid) if param_grid else None,
        "n_items": data.n_items,
        "n_classes": len(data.classes),
        "site": site_used,
    }
    per_layer = ("accuracy", "micro_f1", "macro_f1", "majority_baseline", "ci_low", "ci_high")
    return LayerProfile(
        f"probe_{metric}", data.layers, values, errors, params, data.table, data.unit, details, per_layer
    )  # fmt: skip


# ----------------------------------------------------------------------------- metrics


def scores(truth: np.ndarray, predicted: np.ndarray, classes: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy, micro-F1 and macro-F1 of predictions, and the headline ``value``.

    Parameters
    ----------
    truth, predicted : ndarray, shape (n,) of labels, or (n, n_classes) multi-hot
    classes : ndarray, optional
        The label set for macro-F1 (single label); default the labels present.

    Returns
    -------
    dict
        ``accuracy`` (exact match for multi-hot rows), ``micro_f1``, ``macro_f1`` (over
        ``classes``; a class never predicted nor present scores 0) and ``value``
        (accuracy for single labels, micro-F1 for multi-label).
    """
    from sklearn.metrics import accuracy_score, f1_score

    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.ndim == 2:
        micro = f1_score(truth, predicted, average="micro", zero_division=0)
        macro = f1_score(truth, predicted, average="macro", zero_division=0)
        accuracy = float(np.mean(np.all(truth == predicted, axis=1)))
        return {"accuracy": accuracy, "micro_f1": float(micro), "macro_f1": float(macro), "value": float(micro)}
    accuracy = float(accuracy_score(truth, predicted))
    labels = classes if classes is not None else np.unique(np.concatenate([truth, predicted]))
    macro = f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)
    return {"accuracy": accuracy, "micro_f1": accuracy, "macro_f1": float(macro), "value": accuracy}


def majority_baseline(y_train: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Scores of always predicting the most frequent training label (or label set, for multi-hot rows)."""
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.ndim == 2:
        patterns, counts = np.unique(y_train, axis=0, return_counts=True)
        guess = np.broadcast_to(patterns[np.argmax(counts)], y_test.shape)
    else:
        values, counts = np.unique(y_train, return_counts=True)
        guess = np.full(len(y_test), values[np.argmax(counts)], dtype=y_train.dtype)
    return scores(y_test, guess)


def _bootstrap(truth: np.ndarray, predicted: np.ndarray, groups: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The score on ``n`` resamples of the test groups (with replacement), shape (n,).

    Each resample weighs every group by how often it was drawn; the counts it needs
    (hits, items, true / false positives) are summed per group first, and the resamples
    are drawn a block at a time (the same draws as all at once), so the memory stays
    near 4 million numbers, not (n, n_items). The sums are of integers, exact in
    float64, so the scores are those of weighing every item."""
    _, group_of = np.unique(groups, return_inverse=True)
    n_groups = int(group_of.max()) + 1
    if truth.ndim == 2:  # micro-F1 from resampled counts of true / false positives and false negatives
        columns = [
            (truth & predicted).sum(axis=1),
            ((1 - truth) & predicted).sum(axis=1),
            (truth & (1 - predicted)).sum(axis=1),
        ]
    else:  # accuracy: hits over items
        columns = [(truth == predicted).astype(np.float64), np.ones(len(truth))]
    per_group = np.stack([np.bincount(group_of, weights=c, minlength=n_groups) for c in columns], axis=1)
    rng, block = np.random.default_rng(seed), max(1, 4_000_000 // n_groups)
    totals = np.concatenate([
        rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=min(block, n - start)) @ per_group
        for start in range(0, n, block)
    ]) if n else np.zeros((0, len(columns)))  # fmt: skip
    if truth.ndim == 2:
        tp, fp, fn = totals.T
        return np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(n), where=(2 * tp + fp + fn) > 0)
    return totals[:, 0] / totals[:, 1]


# ----------------------------------------------------------------------------- plumbing


def _fit_best(base, candidates, X, data: ProbingData, split: Split, takes_spans, takes_eval, takes_groups, bar):
    """The probe fitted on train (best candidate on dev when there are several) and its parameters."""
    best, best_score, best_params = None, -np.inf, {}
    for params in candidates:
        model = clone(base).set_params(**params) if params else base
        kwargs = {}
        if takes_spans and data.spans is not None:
            kwargs["spans"] = data.spans[split.train]
        if takes_groups:  # the items' texts (EdgeProbe batches by text)
            kwargs["groups"] = data.groups[split.train]
        if takes_eval and len(split.dev):
            dev_y = data.y[split.dev]
            kwargs["eval_set"] = (X, dev_y, data.spans[split.dev]) if "spans" in kwargs else (X[split.dev], dev_y)
        model.fit(X if "spans" in kwargs else X[split.train], data.y[split.train], **kwargs)
        bar.update(1)
        if len(candidates) == 1:
            return model, params
        score = scores(data.y[split.dev], _predict(model, X, data, split.dev, takes_spans))["value"]
        if score > best_score:
            best, best_score, best_params = model, score, params
    return best, best_params


def _predict(model, X, data: ProbingData, rows, takes_spans) -> np.ndarray:
    if takes_spans and data.spans is not None:
        return model.predict(X, spans=data.spans[rows])
    return model.predict(X[rows])


def _as_data(acts, task, layers, site, groups) -> ProbingData:
    if isinstance(acts, Activations):
        if groups is not None:
            raise LensError.bad_argument("groups", groups, "None for Activations (items are grouped by text)")
        return probing_data(acts, task, layers=layers, site=site)
    if not (hasattr(acts, "shape") or isinstance(acts, (list, tuple))):
        raise _not_states(acts)
    if isinstance(task, (ProbingTask, str)):
        raise LensError.bad_argument("task", task, "the labels themselves (one per item) when acts is an array")
    stack = layer_stack(acts, layers, argument="acts")
    labels = np.asarray(task.detach().cpu().numpy() if hasattr(task, "detach") else task)
    n = stack.n_items
    if labels.shape[:1] != (n,) or labels.ndim > 2:
        raise LensError.bad_argument("task", labels, f"labels of shape ({n},) or ({n}, n_classes), one per item")
    if labels.ndim == 2:
        if labels.shape[1] < 2 or not np.isin(labels, (0, 1)).all():
            raise LensError.bad_argument("task", labels, "a 0/1 multi-hot matrix with at least 2 columns")
        y, classes = labels.astype(np.int64), np.arange(labels.shape[1])
    else:
        y, classes = encode_labels(labels.astype(object), ProbingTask("item", "labels", "rows", False))
    group_keys = np.arange(n) if groups is None else np.asarray(groups)
    if group_keys.shape != (n,):
        raise LensError.bad_argument("groups", group_keys, f"one group key per item, shape ({n},)")
    import pandas as pd

    table = pd.DataFrame({"item": np.arange(n), "group": group_keys})
    sides = [(np.arange(n), np.arange(n + 1), "rows")]
    task_info = ProbingTask("item", "labels", "rows", labels.ndim == 2)
    return ProbingData(task_info, stack.layers, y, classes, group_keys, table, "item", None, list(stack.arrays), sides)


def _not_states(acts: Any) -> LensError:
    """The error for an ``acts`` that is neither Activations nor per-layer arrays."""
    hint = ""
    if type(acts).__name__ in ("Relevance", "BatchRelevance"):
        hint = (
            "A Relevance holds relevance scores (one number per token), not hidden states: probe the model's "
            "states, acts = lensnb.extract(model, texts)."
        )
    return LensError.bad_argument(
        "acts", acts, "Activations from lensnb.extract (or their pool_words()), or per-layer features: an array of "
        "shape (layer, n_items, dim) or a list of (n_items, dim) arrays",
        hint,
    )  # fmt: skip


def _splits(splits, data: ProbingData, seeds, acts) -> list[Split]:
    if _is_fractions(splits):
        return [split_by_group(data.groups, splits, seed=seed) for seed in seeds]
    if isinstance(splits, str):
        if splits in data.table.columns:
            values = data.table[splits].to_numpy()
        elif isinstance(acts, Activations) and acts.texts is not None and splits in acts.texts.columns:
            by_text = dict(zip(acts.texts["text_id"], acts.texts[splits]))
            values = np.array([by_text[t] for t in data.groups], dtype=object)
        else:
            raise LensError.bad_argument("splits", splits, "a column of the item or text table naming each item's part")
        split = split_from_values(values)
    else:
        split = as_split(splits, data.n_items)
    return [split] * len(seeds)


def _describe_splits(splits, first: Split) -> dict[str, Any]:
    if _is_fractions(splits):
        return {"method": "by_group", "fractions": tuple(float(f) for f in splits)}
    if isinstance(splits, str):
        return {"method": "given", "column": splits}
    return {"method": first.method}


def _is_fractions(splits) -> bool:
    return isinstance(splits, (tuple, list)) and len(splits) == 3 and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in splits
    )  # fmt: skip


def _check_seeds(seeds) -> tuple[int, ...]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = (int(seeds),)
    if isinstance(seeds, np.ndarray) and seeds.ndim == 1:
        seeds = seeds.tolist()
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or len(seeds) == 0:
        raise LensError.bad_argument("seeds", seeds, "a non-empty sequence of integer seeds")
    for seed in seeds:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise LensError.bad_argument("seeds", list(seeds), "integer seeds in 0 .. 2**32 - 1")
    return tuple(int(s) for s in seeds)
