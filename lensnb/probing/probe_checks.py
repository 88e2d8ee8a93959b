"""Input checks the probes share: scikit-learn's validation, worded as :class:`lensnb.LensError`.

Features go through scikit-learn's ``validate_data`` (so ``n_features_in_``, feature
names and the messages scikit-learn's estimator checks look for behave as in any
scikit-learn estimator); its ``ValueError`` comes back as a ``LensError`` naming the
argument. A ``TypeError`` from numpy (a dict inside ``X``) is left as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data

from lensnb.errors import LensError
from lensnb.tensors import tensor_to_numpy


def to_numpy(x: Any, argument: str) -> Any:
    """A torch tensor as a numpy array (anything else unchanged); see :func:`lensnb.tensors.tensor_to_numpy`."""
    if isinstance(x, torch.Tensor):
        return tensor_to_numpy(x, argument)
    return x


def check_features(estimator: BaseEstimator, X: Any, *, reset: bool, argument: str = "X") -> np.ndarray:
    """``X`` as a finite float (n_samples, n_features) array, recording or checking ``n_features_in_``.

    Raises
    ------
    LensError
        For anything scikit-learn's ``validate_data`` refuses (wrong shape, NaN, too
        few rows, a different number of features than at fit), with its message.
    """
    try:
        return validate_data(estimator, to_numpy(X, argument), reset=reset, dtype=[np.float64, np.float32])
    except LensError:
        raise
    except ValueError as error:
        expected = "a finite numeric 2-D array of shape (n_samples, n_features)"
        raise LensError.bad_argument(argument, X, expected, str(error)) from None


def check_labels(y: Any, n_rows: int, *, multi_label: bool = False, argument: str = "y") -> np.ndarray:
    """Class labels ``y``: shape (n_rows,), or (n_rows, n_classes) of 0/1 when ``multi_label``.

    Raises
    ------
    LensError
        For a missing ``y``, continuous or non-finite targets, a 2-D ``y`` where labels
        are expected, or a length other than ``n_rows``.
    """
    if y is None:
        raise LensError.bad_argument(
            argument, None, "class labels", "This probe requires y to be passed, but the target y is None."
        )
    y = np.asarray(to_numpy(y, argument))
    try:
        if multi_label and y.ndim == 2 and y.shape[1] > 1:
            check_classification_targets(y)
            if not np.isin(y, (0, 1)).all():
                raise ValueError("a multi-label y must be a 0/1 indicator matrix")
            y = y.astype(np.int64)
        else:
            y = column_or_1d(y, warn=True)
            check_classification_targets(y)
    except ValueError as error:
        expected = "class labels of shape (n_samples,)" + (
            " or a 0/1 matrix (n_samples, n_classes)" if multi_label else ""
        )
        raise LensError.bad_argument(argument, y, expected, str(error)) from None
    if len(y) != n_rows:
        raise LensError.bad_argument(argument, f"{len(y)} labels", f"{n_rows} labels, one per row of X")
    return y


def encode_classes(y: np.ndarray, argument: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Sorted classes (n_classes,) and the class index of each label (n_samples,); at least 2 classes."""
    try:
        classes, codes = np.unique(y, return_inverse=True)
    except TypeError:  # None among the labels, or labels of several types that do not compare
        raise mixed_labels(y, argument) from None
    if len(classes) < 2:
        raise LensError.bad_argument(
            argument, f"1 class ({np.asarray(classes[0]).item()!r})" if len(classes) else "no class", "labels of at least 2 classes",
            "A probe cannot learn when only one class is present.",
        )  # fmt: skip
    return classes, codes.astype(np.int64)


def mixed_labels(y: Any, argument: str) -> LensError:
    """The error for labels that cannot be sorted into classes: None among them, or several types."""
    kinds = sorted({type(v).__name__ for v in np.asarray(y, dtype=object).ravel().tolist()})
    return LensError.bad_argument(
        argument, f"labels of types {kinds}", "labels of one type (all strings or all numbers), none of them None",
        "Drop the unlabelled items, or convert every label to a string.",
    )  # fmt: skip


def check_number(value: Any, argument: str, *, low: float, integer: bool = False, inclusive: bool = False) -> Any:
    """A number above ``low`` (or at least it, when ``inclusive``), else LensError."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (value >= low if inclusive else value > low)
    if not ok:
        kind = "an integer" if integer else "a number"
        raise LensError.bad_argument(argument, value, f"{kind} {'>=' if inclusive else '>'} {low}")
    return value


def check_choice(value: Any, argument: str, choices: tuple) -> Any:
    if value not in choices:
        raise LensError.bad_argument(argument, value, f"one of {choices}")
    return value


def standardization(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means (d,) and standard deviations (d,) in float64; constant columns get scale 1.

    A column is constant when its standard deviation is within the rounding of its mean
    (at most ``n * eps * |mean|``, scikit-learn's bound), whatever the data's scale: a
    column of 1e-30 with a spread of 1e-30 is standardised like one of 1 with a spread of 1.
    Columns whose squared deviations would underflow float64 get their deviation from the
    column scaled by a power of two first.
    """
    mean = X.mean(axis=0, dtype=np.float64)
    scale = X.std(axis=0, dtype=np.float64)
    small = (scale < 1e-150) & (np.abs(mean) < 1e-140)  # the squares may have underflowed
    if small.any():
        columns = np.asarray(X[:, small], dtype=np.float64)
        _, exponent = np.frexp(np.abs(columns).max(axis=0))
        scale[small] = np.ldexp(np.ldexp(columns, -exponent).std(axis=0), exponent)
    scale[(scale == 0) | (scale <= len(X) * np.finfo(np.float64).eps * np.abs(mean))] = 1.0
    return mean, scale


def split_validation(codes: np.ndarray, fraction: float, generator: torch.Generator, X: np.ndarray):
    """A stratified random validation split: training rows, validation X and codes.

    Each class gives ``round(fraction * count)`` rows, none when it has fewer than 2; with
    no validation row at all, early stopping is off (training rows = all rows).
    """
    order = torch.randperm(len(codes), generator=generator).numpy()
    chosen = []
    for k in np.unique(codes):
        rows = order[codes[order] == k]
        take = int(round(fraction * len(rows))) if len(rows) >= 2 else 0
        chosen.append(rows[: min(take, len(rows) - 1)])
    val = np.sort(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)
    if len(val) == 0:
        return np.arange(len(codes)), None, None
    train = np.setdiff1d(np.arange(len(codes)), val)
    return train, X[val], codes[val]


def check_eval_set(estimator, eval_set) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(eval_set, (tuple, list)) or len(eval_set) != 2:
        raise LensError.bad_argument("eval_set", eval_set, "a pair (X_val, y_val)")
    X_val = check_features(estimator, eval_set[0], reset=False, argument="eval_set[0]")
    y_val = check_labels(eval_set[1], len(X_val), argument="eval_set[1]")
    return X_val, y_val
