"""Control tasks and selectivity (Hewitt & Liang 2019), and the split and probe helpers probes share.

A control task gives every word *type* a label drawn at random from the task's label
distribution, fixed for that type. A probe that scores as well on the control task as
on the linguistic task is reading word identity, not the property: selectivity
(task accuracy minus control accuracy, same probe, same splits) says how much of the
score the representation, rather than the probe's memory, is responsible for.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.geometry.inputs import LayerStack, check_seed, is_real, layer_stack
from lensnb.geometry.overlap import encode_labels
from lensnb.geometry.results import LayerProfile
from lensnb.probing.features import _missing
from lensnb.probing.probe_checks import mixed_labels

__all__ = [
    "default_probe",
    "check_probe",
    "train_test_mask",
    "labelled_stack",
    "control_labels",
    "control_task_selectivity",
]


def default_probe() -> Any:
    """The probe used when none is given: :class:`lensnb.probing.estimators.LinearProbe`.

    L2-regularised multinomial logistic regression (the objective of scikit-learn's
    ``LogisticRegression``), trained with torch L-BFGS. Any scikit-learn classifier can
    be passed instead (it is cloned for every layer).
    """
    from lensnb.probing.estimators import LinearProbe

    return LinearProbe()


def check_probe(probe: Any, *, needs_proba: bool = False, argument: str = "probe") -> Any:
    """``probe`` or the default, after checking it looks like a scikit-learn classifier."""
    if probe is None:
        return default_probe()
    wanted = ("fit", "predict", "get_params") + (("predict_proba",) if needs_proba else ())
    missing = [name for name in wanted if not callable(getattr(probe, name, None))]
    if missing:
        raise LensError.bad_argument(
            argument, probe, f"a scikit-learn classifier (with {', '.join(wanted)})", f"It lacks {missing}."
        )
    return probe


def train_test_mask(n_items: int, *, test_size: float = 0.2, seed: int = 0, groups: Any = None) -> np.ndarray:
    """A seeded random train / test split as a boolean mask (True = train).

    Parameters
    ----------
    n_items : int
    test_size : float in (0, 1)
        Share of items held out for testing.
    seed : int
    groups : array of shape (n_items,), optional
        Items of one group (e.g. the same text) land on the same side. Groups are
        drawn in random order into the test side until it holds ``test_size`` of the
        items. With a single group the items are split one by one.

    Returns
    -------
    ndarray of bool, shape (n_items,)
        Both sides hold at least one item.
    """
    if not isinstance(n_items, (int, np.integer)) or n_items < 2:
        raise LensError.bad_argument("n_items", n_items, "an integer >= 2 (items to split)")
    if not (is_real(test_size) and 0 < test_size < 1):
        raise LensError.bad_argument("test_size", test_size, "a fraction strictly between 0 and 1")
    rng = np.random.default_rng(check_seed(seed))
    n_test = min(max(int(round(test_size * n_items)), 1), n_items - 1)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n_items,):
            raise LensError.bad_argument("groups", groups, f"one group per item, shape ({n_items},)")
        unique, codes = np.unique(groups, return_inverse=True)
        if len(unique) >= 2:
            order = rng.permutation(len(unique))
            sizes = np.bincount(codes, minlength=len(unique))[order]
            taken = int(np.searchsorted(np.cumsum(sizes), n_test)) + 1
            taken = min(taken, len(unique) - 1)
            test_groups = np.zeros(len(unique), bool)
            test_groups[order[:taken]] = True
            return ~test_groups[codes]
    train = np.ones(n_items, bool)
    train[rng.permutation(n_items)[:n_test]] = False
    return train


def labelled_stack(
    data: Any, labels: Any, layers: Sequence[int] | int | None, site: str | None, pool: str | None
) -> tuple[LayerStack, np.ndarray, np.ndarray, np.ndarray]:
    """The layer stack restricted to the items with a label.

    Returns
    -------
    stack : LayerStack
        Only labelled items (table rows renumbered).
    codes : ndarray of int64, shape (n_labelled,)
        Label codes 0..n_classes-1.
    classes : ndarray, shape (n_classes,)
        The label values, sorted.
    keep : ndarray of bool, shape (n_items,)
        Which of the original items are kept.
    """
    stack = layer_stack(data, layers, site=site, pool=pool)
    codes, classes, keep = encode_labels(labels, stack)
    if len(classes) < 2:
        raise LensError.bad_argument("labels", f"a single class {classes.tolist()}", "at least 2 distinct labels")
    if not keep.all():
        stack = stack.subset(keep)
    return stack, codes, classes, keep


def resolve_train(
    train: Any, keep: np.ndarray, stack: LayerStack, test_size: float, seed: int, group_by: str | None = "text_id"
) -> tuple[np.ndarray, str]:
    """The train mask over the kept items, and how it was made (for ``params``)."""
    if train is not None:
        mask = np.asarray(train.detach().cpu().numpy() if hasattr(train, "detach") else train)
        if mask.dtype != bool or mask.shape != keep.shape:
            raise LensError.bad_argument(
                "train", mask, f"a boolean mask of shape {keep.shape}, True for training items"
            )
        mask = mask[keep]
        if mask.all() or not mask.any():
            raise LensError.bad_argument("train", f"{int(mask.sum())} of {len(mask)} labelled items", "both training and test items")  # fmt: skip
        return mask, "given"
    groups = None
    if group_by and stack.table is not None and group_by in stack.table.columns:
        groups = stack.table[group_by].to_numpy()
    mask = train_test_mask(stack.n_items, test_size=test_size, seed=seed, groups=groups)
    return mask, f"random by {group_by}" if groups is not None and len(np.unique(groups)) > 1 else "random by item"


@checks_flags
def control_labels(
    word_types: Any, labels: Any, *, seed: int = 0, reference: Any = None, lowercase: bool = False
) -> np.ndarray:
    """Control-task labels: each word type gets one label drawn from the empirical label distribution.

    Parameters
    ----------
    word_types : array of shape (n_items,)
        The word (type) of each item.
    labels : array of shape (n_items,)
        The linguistic task's labels, one for every item, all of one type (strings or
        numbers); their frequencies over the ``reference`` items give the distribution
        the control labels are drawn from.
    seed : int
    reference : array of bool, shape (n_items,), optional
        Items whose labels define the distribution (Hewitt & Liang: the training set).
        Default: all items.
    lowercase : bool
        Treat words that differ only in case as the same type.

    Returns
    -------
    ndarray, shape (n_items,)
        Values from the task's label set; two items of the same type share one.

    Raises
    ------
    LensError
        For a missing label (None, NaN) or labels of several types (``1`` and ``"1"``
        would otherwise be one class), lengths that differ, or a ``reference`` mask
        that is not boolean or selects nothing.

    References
    ----------
    Hewitt & Liang (2019), "Designing and Interpreting Probes with Control Tasks",
    EMNLP, Sec. 2 (control behaviour sampled from the empirical tag distribution).
    """
    types = _as_1d(word_types, "word_types")
    values = _as_1d(labels, "labels")
    if len(types) != len(values):
        raise LensError.bad_argument("word_types", types, f"one type per label, shape ({len(values)},)")
    if lowercase:
        types = np.asarray([str(t).lower() for t in types], dtype=object)
    mask = np.ones(len(values), bool) if reference is None else np.asarray(reference)
    if mask.dtype != bool or mask.shape != values.shape or not mask.any():
        raise LensError.bad_argument("reference", mask, f"a boolean mask of shape {values.shape} with a True item")
    missing = _missing(values)
    if missing.any():
        raise LensError.bad_argument(
            "labels", f"{int(missing.sum())} missing label(s) (None or NaN) of {len(values)}, the first at item "
            f"{int(np.argmax(missing))}", "a label for every item",
            "Leave the unlabelled items out first (control_task_selectivity does so).",
        )  # fmt: skip
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:  # labels of several types that do not compare (1 and "1")
        raise mixed_labels(values, "labels") from None
    frequencies = np.bincount(codes[mask], minlength=len(classes)) / mask.sum()
    type_keys = types.astype(str) if types.dtype == object else types
    unique_types, type_codes = np.unique(type_keys, return_inverse=True)
    drawn = np.random.default_rng(check_seed(seed)).choice(len(classes), size=len(unique_types), p=frequencies)
    first_of_class = np.unique(codes, return_index=True)[1]
    return values[first_of_class][drawn][type_codes]


@checks_flags
def control_task_selectivity(
    data: Any,
    labels: Any,
    word_types: Any = "word",
    *,
    probe: Any = None,
    layers: Sequence[int] | int | None = None,
    train: Any = None,
    test_size: float = 0.2,
    seed: int = 0,
    lowercase: bool = False,
    bootstrap: int = 200,
    site: str | None = None,
    pool: str | None = None,
    progress: bool = True,
) -> LayerProfile:
    """Selectivity per layer: linguistic-task accuracy minus control-task accuracy.

    Both tasks use the same probe (cloned per layer and task) and the same split.

    Parameters
    ----------
    data : Activations, array (layer, item, dim) or list of (item, dim) arrays
        Word-level states (``acts.pool_words()``), or token-level Activations from
        :func:`lensnb.extract`: with a per-word label column, its items are then the
        words' first pieces (the pieces that carry the label), the items of
        ``probe_layers(acts, labels)``.
    labels : str or array of shape (n_items,)
        Column of the items' table or the labels (items without one are left out).
    word_types : str or array of shape (n_items,)
        Column of the table holding each item's word (default ``"word"``) or the words,
        one per row of ``data``. For token-level Activations, whose token table has no
        ``"word"`` column, ``"word"`` is :meth:`lensnb.Activations.token_words`, the
        ``word`` column ``pool_words`` gives: the text of the input that the word's
        pieces cover, not the word piece. That is the treebank word except where a
        piece straddles two words: with UD's "do" + "n't" for "don't", "do" reads
        "don" and "n't" reads "'t"; "can" of "cannot" reads "cannot" (48 of 5,706 UD
        EWT words with MiniLM), and such a word gets its own control label. Hewitt &
        Liang's code keys on the treebank words (``observation.sentence``); to do the
        same, pass them, built from the Examples given to :func:`lensnb.extract` by
        each token's ``text_id`` and ``word_index``::

            tokens = acts.tokens
            forms = np.array([examples[t].words[w] if w >= 0 else None
                              for t, w in zip(tokens["text_id"], tokens["word_index"])], dtype=object)
            control_task_selectivity(acts, "upos", forms)
    probe : scikit-learn classifier, optional
        Default :func:`default_probe` (:class:`lensnb.probing.estimators.LinearProbe`).
    layers : optional
        Layers to probe (default all).
    train : array of bool, shape (n_items,), optional
        Training items (True) and test items (False), one entry per row of ``data``
        (unlabelled rows too). Default: a seeded random split, by text when the table
        has ``text_id`` (no sentence on both sides).
    test_size : float
        Share of test items for the random split.
    seed : int
        Seeds the split, the control labels and the bootstrap.
    lowercase : bool
        Fold case when forming word types.
    bootstrap : int
        Paired bootstrap resamples of the test items for the error bars (0: none).
    site, pool
        See :func:`lensnb.geometry.inputs.layer_stack`.
    progress : bool

    Returns
    -------
    LayerProfile
        name ``"selectivity"``, values (n_layers,) in accuracy points (0..1); errors:
        bootstrap standard deviation of the paired difference. ``details``:
        ``task_accuracy``, ``control_accuracy`` and their bootstrap errors (n_layers,),
        ``task_majority`` / ``control_majority`` (majority-class baselines on the
        test items), ``control_labels`` (n_items,), ``train`` mask (n_items,).

    Warns
    -----
    UserWarning
        Once per call, when ``train`` is given and a label occurs among its test
        items but never among its training items: the probe cannot predict it. The
        message names the labels and how many test items carry them.

    Notes
    -----
    The same Activations serve :func:`lensnb.probing.probe_layers` and this function
    (token-level ones with the default first pieces, or ``pool_words`` rows: the same
    items), but the defaults differ. Here: one split (``seed``), 80/20 by text
    (``test_size``), no dev part, a bootstrap over test items. ``probe_layers``: three
    seeds of (0.8, 0.1, 0.1) splits by text, averaged. So ``task_accuracy`` is not
    ``probe_layers``' value. To compare them, give both one split: ``train`` here is a
    mask over all of ``data``'s rows, ``probe_layers`` takes rows of the labelled items,
    so with ``labelled = acts.table["upos"].notna().to_numpy()``,
    ``control_task_selectivity(acts, "upos", train=train)`` and ``probe_layers(acts,
    "upos", splits={"train": np.flatnonzero(train[labelled]), "test":
    np.flatnonzero(~train[labelled])})`` give the same task accuracy (default probe).

    The control distribution is the label frequency over the training items, as in
    the paper. A type seen only in test items still gets a control label, which the
    probe can only guess: with many unseen types the control accuracy falls and
    selectivity rises for that reason alone (the paper's splits share the same caveat).

    References
    ----------
    Hewitt & Liang (2019), "Designing and Interpreting Probes with Control Tasks",
    EMNLP, Sec. 2-3 (selectivity = linguistic accuracy - control accuracy).
    """
    seed = check_seed(seed)
    from sklearn.base import clone
    from tqdm.auto import tqdm

    probe = check_probe(probe)
    bootstrap = _check_count(bootstrap, "bootstrap")
    stack, codes, classes, keep = labelled_stack(data, labels, layers, site, pool)
    types = _word_types(word_types, data, stack, keep, pool)
    mask, split = resolve_train(train, keep, stack, test_size, seed)
    if split == "given":
        warn_unseen_test_labels(
            classes[codes[mask]], classes[codes[~mask]], "control_task_selectivity", "train mask",
            "Mark texts with these labels as training items in train, or drop the labels.", stacklevel=4,
        )  # fmt: skip
    control = control_labels(types, classes[codes], seed=seed, reference=mask, lowercase=lowercase)
    control_codes = np.unique(control.astype(str) if control.dtype == object else control, return_inverse=True)[1]
    test = ~mask
    samples = _bootstrap_rows(int(test.sum()), bootstrap, seed)
    task_acc, control_acc, task_err, control_err, gap_err = [], [], [], [], []
    for position in tqdm(range(len(stack.layers)), desc="control tasks", disable=not progress):
        x = stack.matrix(position)
        hits_task = clone(probe).fit(x[mask], codes[mask]).predict(x[test]) == codes[test]
        hits_control = clone(probe).fit(x[mask], control_codes[mask]).predict(x[test]) == control_codes[test]
        task_acc.append(hits_task.mean())
        control_acc.append(hits_control.mean())
        if samples is not None:
            a, b = hits_task[samples].mean(axis=1), hits_control[samples].mean(axis=1)
            task_err.append(a.std(ddof=1))
            control_err.append(b.std(ddof=1))
            gap_err.append((a - b).std(ddof=1))
    task_acc, control_acc = np.asarray(task_acc), np.asarray(control_acc)
    details = {
        "task_accuracy": task_acc,
        "control_accuracy": control_acc,
        "task_accuracy_error": np.asarray(task_err) if samples is not None else None,
        "control_accuracy_error": np.asarray(control_err) if samples is not None else None,
        "task_majority": _majority(codes[mask], codes[test]),
        "control_majority": _majority(control_codes[mask], control_codes[test]),
        "control_labels": control,
        "train": mask,
    }
    params = dict(
        probe=repr(probe), split=split, test_size=test_size, seed=seed, lowercase=lowercase, bootstrap=bootstrap,
        n_train=int(mask.sum()), n_test=int(test.sum()), n_classes=len(classes), n_types=len(np.unique(types.astype(str))),
        n_missing_labels=int((~keep).sum()), pool=pool, error="paired bootstrap std" if bootstrap else "none",
        site=data._site(site) if isinstance(data, Activations) else None,
        word_types=word_types if isinstance(word_types, str) else "given",
    )  # fmt: skip
    errors = np.asarray(gap_err) if samples is not None else None
    per_layer = tuple(
        key for key, value in details.items() if value is not None and key not in ("control_labels", "train")
    )
    return LayerProfile(
        "selectivity", stack.layers, task_acc - control_acc, errors, params, stack.table, stack.unit, details,
        per_layer,
    )  # fmt: skip


# ---------------------------------------------------------------------- helpers shared by the probing analyses
def warn_unseen_test_labels(
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    function: str,
    argument: str,
    advice: str,
    *,
    classes: np.ndarray | None = None,
    stacklevel: int,
) -> None:
    """Warn once when labels occur among the test items but never among the training items.

    A probe cannot predict a class it never saw trained, so every test item carrying one
    counts as an error. Rare classes are legitimate data: this warns, it does not raise.

    Parameters
    ----------
    train_labels, test_labels : ndarray, shape (n_train,) and (n_test,) of labels, or (n_train, n_classes)
        and (n_test, n_classes) of 0/1 (multi-label: a class is unseen when it has positives in test and
        none in train)
    function, argument : str
        The caller's name and the argument that made the split, for the message.
    advice : str
        What to do about it.
    classes : ndarray, shape (n_classes,), optional
        For multi-label labels, the class of each column (default: the column numbers).
    stacklevel : int
        ``warnings.warn``'s, counted from this function (the caller's caller is 3).
    """
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    if test_labels.ndim == 2:
        columns = (test_labels.sum(axis=0) > 0) & (train_labels.sum(axis=0) == 0)
        n_items = int(test_labels[:, columns].any(axis=1).sum())
        unseen = np.flatnonzero(columns) if classes is None else np.asarray(classes)[columns]
    else:
        unseen = np.setdiff1d(np.unique(test_labels), np.unique(train_labels))
        n_items = int(np.isin(test_labels, unseen).sum())
    if len(unseen) == 0:
        return
    names = [value.item() if isinstance(value, np.generic) else value for value in unseen]
    warnings.warn(
        f"{function}: label(s) {names} occur in {n_items} of the {len(test_labels)} test item(s) but in none of "
        f"the training items of the given {argument}: the probe cannot predict them, so those items count as "
        f"errors. {advice}",
        UserWarning,
        stacklevel=stacklevel,
    )


def _as_1d(values: Any, argument: str) -> np.ndarray:
    array = np.asarray(values.detach().cpu().numpy() if hasattr(values, "detach") else values)
    if array.ndim != 1 or len(array) == 0:
        raise LensError.bad_argument(argument, array, "a non-empty 1-D array, one value per item")
    return array


def _column_or_array(values: Any, argument: str, stack: LayerStack, keep: np.ndarray) -> np.ndarray:
    """A per-item column of the (unfiltered) table by name, or an array, restricted to ``keep``."""
    if isinstance(values, str):
        if stack.table is None or values not in stack.table.columns:
            columns = [] if stack.table is None else list(stack.table.columns)
            raise LensError.bad_argument(argument, values, f"a column of the items' table {columns}, or an array")
        return stack.table[values].to_numpy()  # the stack's table is already restricted to kept items
    array = _as_1d(values, argument)
    if len(array) != len(keep):
        raise LensError.bad_argument(argument, array, f"one value per item, shape ({len(keep)},)")
    return array[keep]


def _word_types(word_types: Any, data: Any, stack: LayerStack, keep: np.ndarray, pool: str | None) -> np.ndarray:
    """Each kept item's word type: :func:`_column_or_array`, except that ``"word"`` on
    token-level Activations (no such column in the token table) is
    :meth:`~lensnb.Activations.token_words`: the text the pieces of each token's word cover."""
    token_level = isinstance(data, Activations) and data.unit == "token" and pool is None
    if not (token_level and isinstance(word_types, str) and word_types == "word" and "word" not in stack.table):
        return _column_or_array(word_types, "word_types", stack, keep)
    words = data.token_words()[keep]
    if any(word is None for word in words):
        missing = int(sum(word is None for word in words))
        raise LensError.bad_argument(
            "word_types", f"'word' for {missing} labelled token(s) that belong to no word (special tokens)",
            "labels on the words' tokens only, or the word types as an array",
        )  # fmt: skip
    return words


def _check_count(value: Any, argument: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise LensError.bad_argument(argument, value, "a non-negative integer")
    return int(value)


def _bootstrap_rows(n: int, bootstrap: int, seed: int) -> np.ndarray | None:
    """(bootstrap, n) row indices drawn with replacement, or None when ``bootstrap`` < 2."""
    if bootstrap < 2:
        return None
    return np.random.default_rng([seed, 1]).integers(0, n, size=(bootstrap, n))


def _majority(train_codes: np.ndarray, test_codes: np.ndarray) -> float:
    """Test accuracy of always answering the most frequent training label."""
    return float(np.mean(test_codes == np.bincount(train_codes).argmax()))
