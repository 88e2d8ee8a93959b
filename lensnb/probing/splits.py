"""Train / dev / test splits for probes, drawn by text so that no sentence straddles two parts.

Tokens (and spans) of one sentence share its context: a probe that trains on some tokens
of a sentence and is tested on the others is scored on near-copies of what it saw. The
splits here assign whole texts (any grouping key) to a part, from a seed, or take the
data's own split column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensnb.errors import LensError

__all__ = ["Split", "split_by_group", "split_from_values", "as_split", "SPLIT_NAMES"]

#: Spellings of the three parts accepted in a split column (compared case-insensitively).
#: ``"tr"``, ``"va"`` and ``"te"`` are SentEval's split codes, which
#: :func:`lensnb.data.read_senteval` keeps in ``meta["split"]`` as the files write them;
#: ``"val"`` is ERASER's.
SPLIT_NAMES = {
    "train": ("train", "training", "tr"),
    "dev": ("dev", "validation", "valid", "val", "development", "va"),
    "test": ("test", "testing", "te"),
}


@dataclass(frozen=True)
class Split:
    """Item rows of the three parts.

    Attributes
    ----------
    train, dev, test : ndarray of int64
        Sorted, disjoint row indices. ``dev`` may be empty (a probe that stops early then
        holds out part of ``train`` itself).
    method : str
        ``"by_group"`` (drawn from a seed), ``"given"`` (the data's own split) or
        ``"rows"`` (given as row indices).
    seed : int, optional
        The seed of a drawn split.
    """

    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray
    method: str = "rows"
    seed: int | None = None

    def sizes(self) -> dict[str, int]:
        """Number of items in each part."""
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}

    def __repr__(self) -> str:
        seed = "" if self.seed is None else f", seed={self.seed}"
        return f"Split({self.method}{seed}; {self.sizes()})"


def split_by_group(
    groups: Any,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    argument: str = "splits",
) -> Split:
    """Assign whole groups (texts) at random to train, dev and test.

    Parameters
    ----------
    groups : array-like, shape (n_items,)
        Group key of each item (e.g. its ``text_id``); items of one group land in the
        same part.
    fractions : (train, dev, test)
        Fractions of the *groups* in each part (item fractions follow approximately),
        non-negative and summing to 1; ``dev`` may be 0. Each part asked for gets at
        least one group.
    seed : int
        Seeds the permutation of the groups.
    argument : str
        Name used in error messages.

    Returns
    -------
    Split

    Raises
    ------
    LensError
        For bad fractions, or too few groups to give every part asked for one group.
    """
    train_f, dev_f, test_f = check_fractions(fractions, argument)
    keys = np.asarray(groups)
    if keys.ndim != 1 or len(keys) == 0:
        raise LensError.bad_argument("groups", keys, "a non-empty 1-D array with one group key per item")
    _, group_of = np.unique(keys, return_inverse=True)
    n_groups = int(group_of.max()) + 1
    n_dev = max(1, round(dev_f * n_groups)) if dev_f > 0 else 0
    n_test = max(1, round(test_f * n_groups))
    n_train = n_groups - n_dev - n_test
    if n_train < 1:
        raise LensError.bad_argument(
            argument, f"fractions {tuple(fractions)} of {n_groups} text(s)",
            "enough texts for at least one in each part (train, dev if its fraction > 0, test)",
            "Pass more texts, or fractions with a larger train part.",
        )  # fmt: skip
    order = np.random.default_rng(seed).permutation(n_groups)
    part = np.empty(n_groups, dtype=np.int8)
    part[order[:n_train]] = 0
    part[order[n_train : n_train + n_dev]] = 1
    part[order[n_train + n_dev :]] = 2
    item_part = part[group_of]
    rows = [np.flatnonzero(item_part == k).astype(np.int64) for k in range(3)]
    return Split(rows[0], rows[1], rows[2], method="by_group", seed=int(seed))


def split_from_values(values: Any, *, argument: str = "splits") -> Split:
    """The data's own split: one part name per item.

    Parameters
    ----------
    values : array-like of str, shape (n_items,)
        ``"train"``, ``"dev"`` (or ``"validation"``, ``"valid"``, ``"val"``) or
        ``"test"`` for each item, in any case; SentEval's codes ``"tr"``, ``"va"`` and
        ``"te"`` are read as train, dev and test. See :data:`SPLIT_NAMES`.

    Returns
    -------
    Split
        ``dev`` may be empty; ``train`` and ``test`` may not.
    """
    names = np.asarray(values, dtype=object)
    lookup = {spelling: part for part, spellings in SPLIT_NAMES.items() for spelling in spellings}
    normalized = np.array([lookup.get(str(v).strip().lower()) for v in names], dtype=object)
    unknown = sorted({str(v) for v, n in zip(names, normalized) if n is None})
    if unknown:
        raise LensError.bad_argument(
            argument, f"split names {unknown[:5]}", f"one of {sorted(lookup)} for every item"
        )  # fmt: skip
    rows = {part: np.flatnonzero(normalized == part).astype(np.int64) for part in SPLIT_NAMES}
    return _checked(Split(rows["train"], rows["dev"], rows["test"], method="given"), len(names), argument)


def as_split(value: Split | Mapping[str, Any], n_items: int, argument: str = "splits") -> Split:
    """A :class:`Split`, or a mapping ``{"train": rows, "dev": rows, "test": rows}``, checked against ``n_items``."""
    if isinstance(value, Split):
        split = value
    elif isinstance(value, Mapping):
        extra = sorted(set(value) - set(SPLIT_NAMES))
        if extra or "train" not in value or "test" not in value:
            raise LensError.bad_argument(
                argument, sorted(value), "a mapping with keys 'train', 'test' and optionally 'dev'"
            )
        parts = {}
        for part in SPLIT_NAMES:
            rows = np.asarray(value.get(part, []))
            if rows.dtype == bool:
                rows = np.flatnonzero(rows)
            if rows.ndim != 1 or (len(rows) and not np.issubdtype(rows.dtype, np.integer)):
                raise LensError.bad_argument(f"{argument}[{part!r}]", rows, "a 1-D array of integer rows or a mask")
            parts[part] = np.sort(rows.astype(np.int64))
        split = Split(parts["train"], parts["dev"], parts["test"], method="rows")
    else:
        raise LensError.bad_argument(
            argument, value, "fractions (train, dev, test), a split column name, a Split or a mapping of rows"
        )  # fmt: skip
    return _checked(split, n_items, argument)


def check_fractions(fractions: Any, argument: str) -> tuple[float, float, float]:
    """Three non-negative fractions summing to 1, with positive train and test parts."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        values = ()
    if (
        len(values) != 3
        or not all(np.isfinite(v) and v >= 0 for v in values)
        or abs(sum(values) - 1) > 1e-6
        or values[0] <= 0
        or values[2] <= 0
    ):
        raise LensError.bad_argument(
            argument, fractions, "three fractions (train, dev, test) >= 0 summing to 1, train and test > 0"
        )  # fmt: skip
    return values


def _checked(split: Split, n_items: int, argument: str) -> Split:
    for part in ("train", "test"):
        if len(getattr(split, part)) == 0:
            raise LensError.bad_argument(
                argument, f"an empty {part} part ({split.sizes()})", f"at least one {part} item"
            )  # fmt: skip
    everything = np.concatenate([split.train, split.dev, split.test])
    if everything.min() < 0 or everything.max() >= n_items:
        raise LensError.bad_argument(
            argument, f"rows {everything.min()}..{everything.max()}", f"rows in [0, {n_items})"
        )  # fmt: skip
    if len(np.unique(everything)) != len(everything):
        raise LensError.bad_argument(argument, "parts that share rows", "disjoint train, dev and test rows")
    return split
