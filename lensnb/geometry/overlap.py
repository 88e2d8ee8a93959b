"""Neighbourhood overlap between layers, and with ground-truth labels (Valeriani et al. 2023).

Both read the k nearest neighbours of each layer from a :class:`NeighborCache`, so a
layer x layer matrix costs one neighbour search per layer, not one per pair.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lensnb.errors import LensError
from lensnb.flags import check_flag
from lensnb.geometry.inputs import LayerStack, check_same_items, layer_stack
from lensnb.geometry.neighbors import NeighborCache
from lensnb.geometry.results import LayerMatrix, LayerProfile

__all__ = [
    "overlap_of_neighbors",
    "label_agreement",
    "neighborhood_overlap",
    "neighborhood_overlap_matrix",
    "label_overlap",
    "LABEL_WEIGHTINGS",
]

LABEL_WEIGHTINGS = ("mean", "class_weighted")
_SAME_ITEMS = (
    "The overlap compares the neighbourhoods of the same items in two representations. Models with different "
    "tokenizers: compare texts (pool='mean') or words, or pass plain arrays whose rows you aligned."
)


def overlap_of_neighbors(indices_a: np.ndarray, indices_b: np.ndarray) -> float:
    """chi = (1/N) sum_i |NN_k^A(i) ∩ NN_k^B(i)| / k.

    Parameters
    ----------
    indices_a, indices_b : ndarray of int, shape (n_points, k)
        Each point's k nearest neighbours (itself excluded) in representations A and B.

    Returns
    -------
    float in [0, 1]

    References
    ----------
    Doimo, Glielmo, Ansuini & Laio (2020), "Hierarchical nucleation in deep neural
    networks", NeurIPS, Eq. (1); Valeriani et al. (2023), Sec. 2.
    """
    if indices_a.shape != indices_b.shape:
        raise LensError.bad_argument("indices_b", indices_b, f"shape {indices_a.shape} like indices_a")
    k = indices_a.shape[1]
    both = np.sort(np.concatenate([indices_a, indices_b], axis=1), axis=1)
    shared = (both[:, 1:] == both[:, :-1]).sum(axis=1)  # each list has distinct entries
    return float(shared.mean() / k)


def label_agreement(indices: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """o_i = (1/k) sum_{j in NN_k(i)} [y_j == y_i], shape (n_points,)."""
    return (labels[indices] == labels[:, None]).mean(axis=1)


def neighborhood_overlap(a: Any, b: Any, *, k: int = 30, cache: NeighborCache | None = None) -> float:
    """Neighbourhood overlap of two representations of the same points.

    Parameters
    ----------
    a, b : ndarray or tensor, shape (n_points, dim_a) and (n_points, dim_b)
    k : int
        Neighbours per point (Valeriani et al.: 30; 10 in their iGPT plots).
    cache : NeighborCache, optional

    Returns
    -------
    float
        1 when every point has the same k neighbours in both; about k / N for
        unrelated representations.
    """
    first = layer_stack(a, argument="a")
    second = layer_stack(b, argument="b")
    for name, stack in (("a", first), ("b", second)):
        if len(stack.arrays) != 1:
            raise LensError.bad_argument(
                name, f"{len(stack.arrays)} layers", "one (n_points, dim) matrix",
                "For several layers use neighborhood_overlap_matrix.",
            )  # fmt: skip
    check_same_items(first, second, "b", _SAME_ITEMS)
    k = _check_k(k, first.n_items)
    cache = cache if cache is not None else NeighborCache(min_k=1)
    ia, ib = cache.neighbors(np.asarray(first.arrays[0]), k), cache.neighbors(np.asarray(second.arrays[0]), k)
    warn_about_copies("neighborhood_overlap", ["a", "b"], [ia.duplicates(), ib.duplicates()], stacklevel=2)
    return overlap_of_neighbors(ia.indices, ib.indices)


def neighborhood_overlap_matrix(
    data: Any,
    other: Any = None,
    *,
    layers: Sequence[int] | int | None = None,
    layers_other: Sequence[int] | int | None = None,
    k: int = 30,
    site: str | None = None,
    pool: str | None = None,
    cache: NeighborCache | None = None,
    progress: bool = True,
) -> LayerMatrix:
    """The layer x layer neighbourhood-overlap matrix, within one model or between two.

    Parameters
    ----------
    data : Activations, array (layer, item, dim) or list of (item, dim) arrays
    other : same kinds, optional
        A second representation of the same items (another model); default: ``data``.
    layers, layers_other : optional
        Layers of each (default all).
    k : int
    site, pool
        See :func:`lensnb.geometry.inputs.layer_stack`.
    cache : NeighborCache, optional
    progress : bool

    Returns
    -------
    LayerMatrix
        name "neighborhood_overlap", values (n_layers, n_layers_other).

    Warns
    -----
    UserWarning
        Where points are exact copies of others (a decoder's start tokens, a word repeated
        at one position in the embedding layer): copies stay each other's neighbours at
        every layer, which raises the overlap (:func:`warn_about_copies`).
    """
    progress = check_flag("progress", progress)
    stack = layer_stack(data, layers, site=site, pool=pool)
    second = stack if other is None and layers_other is None else layer_stack(
        data if other is None else other, layers_other, site=site, pool=pool, argument="other"
    )  # fmt: skip
    if second is not stack:
        check_same_items(stack, second, "other", _SAME_ITEMS, reference="data")
    k = _check_k(k, stack.n_items)
    cache = cache if cache is not None else NeighborCache(min_k=1)
    first_idx = _layer_neighbors(stack, k, cache, progress, "neighborhood_overlap_matrix")
    second_idx = (
        first_idx if second is stack else _layer_neighbors(second, k, cache, progress, "neighborhood_overlap_matrix")
    )
    values = overlap_matrix(first_idx, second_idx, symmetric=second is stack)
    models = (stack.model, second.model)
    return LayerMatrix(
        "neighborhood_overlap", stack.layers, second.layers, values, dict(k=k, pool=pool, n_points=stack.n_items),
        stack.table, stack.unit, models,
    )  # fmt: skip


def label_overlap(
    data: Any,
    labels: Any,
    *,
    layers: Sequence[int] | int | None = None,
    k: int = 30,
    weighting: str = "mean",
    site: str | None = None,
    pool: str | None = None,
    cache: NeighborCache | None = None,
    progress: bool = True,
) -> LayerProfile:
    """Overlap of each layer's neighbourhoods with ground-truth labels.

    Parameters
    ----------
    data : Activations, array (layer, item, dim) or list of (item, dim) arrays
    labels : str or array of shape (n_items,)
        A column of the items' table (e.g. ``"upos"``), or the labels themselves.
        Items whose label is missing are left out (reported in ``params``).
    layers : int or sequence of int, optional
        Which layers (for Activations: model layers, negative counting from the end;
        for arrays: positions along the first axis). Default: all.
    k : int
        Neighbours per item (at most the number of labelled items - 1).
    weighting : {"mean", "class_weighted"}
        ``"mean"`` (the paper's formula, default): chi_gt = mean_i o_i with o_i the
        share of i's k neighbours carrying i's label. ``"class_weighted"``: the mean of
        o_i within each class, averaged over classes (each class weighs the same; the
        default of a popular library, DADApy's ``class_fraction`` weighting).
    site, pool, cache, progress
        As in :func:`neighborhood_overlap_matrix`.

    Returns
    -------
    LayerProfile
        name "label_overlap", values (n_layers,), no error bars.

    References
    ----------
    Valeriani et al. (2023), Sec. 2 ("overlap with the ground truth"); Doimo et al.
    (2020), Eq. (2).
    """
    if weighting not in LABEL_WEIGHTINGS:
        raise LensError.bad_argument("weighting", weighting, f"one of {LABEL_WEIGHTINGS}")
    progress = check_flag("progress", progress)
    stack = layer_stack(data, layers, site=site, pool=pool)
    values_y, keep = _labels(labels, stack)
    if not keep.all():
        stack = stack.subset(keep)
        values_y = values_y[keep]
    k = _check_k(k, stack.n_items)
    codes, classes = _codes(values_y)
    cache = cache if cache is not None else NeighborCache(min_k=1)
    found = _layer_neighbors(stack, k, cache, progress, "label_overlap")
    values = [label_overlap_value(indices, codes, weighting) for indices in found]
    params = dict(k=k, weighting=weighting, pool=pool, n_points=stack.n_items, n_classes=len(classes),
                  n_missing_labels=int((~keep).sum()))  # fmt: skip
    return LayerProfile("label_overlap", stack.layers, np.asarray(values), None, params, stack.table, stack.unit)


def overlap_matrix(first: list[np.ndarray], second: list[np.ndarray], symmetric: bool) -> np.ndarray:
    """Overlap of every pair of layers' neighbour lists, (len(first), len(second))."""
    values = np.empty((len(first), len(second)))
    for i, ia in enumerate(first):
        for j, ib in enumerate(second):
            if symmetric and j < i:
                values[i, j] = values[j, i]
            else:  # a list against itself: every neighbour shared, exactly 1
                values[i, j] = 1.0 if symmetric and i == j else overlap_of_neighbors(ia, ib)
    return values


def label_overlap_value(indices: np.ndarray, codes: np.ndarray, weighting: str) -> float:
    """Label overlap of one layer from its neighbour indices (n, k) and integer labels (n,)."""
    agreement = label_agreement(indices, codes)
    if weighting == "mean":
        return float(agreement.mean())
    counts = np.bincount(codes)
    present = counts > 0
    per_class = np.bincount(codes, weights=agreement, minlength=len(counts))[present] / counts[present]
    return float(per_class.mean())


def encode_labels(labels: Any, stack: LayerStack) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer codes of the labelled items, the classes, and the mask of labelled items."""
    values, keep = _labels(labels, stack)
    codes, classes = _codes(values[keep])
    return codes, classes, keep


def _layer_neighbors(stack: LayerStack, k: int, cache: NeighborCache, progress: bool, caller: str) -> list[np.ndarray]:
    """Each layer's k-neighbour indices, (n_points, k) per layer; warns (as ``caller``) about copies."""
    from tqdm.auto import tqdm

    found = [
        cache.neighbors(np.asarray(stack.arrays[position]), k)
        for position in tqdm(range(len(stack.layers)), desc="neighbours", disable=not progress)
    ]
    places = [f"layer {layer}" for layer in stack.layers]
    warn_about_copies(caller, places, [n.duplicates() for n in found], stacklevel=3)  # the caller's caller
    return [neighbors.indices for neighbors in found]


def warn_about_copies(caller: str, places: Sequence[str], copies: list[np.ndarray], stacklevel: int) -> None:
    """Warn where points are exact copies of others (``copies``: a bool mask per place, each
    named in ``places``: "layer 3", "a").

    Copies are each other's nearest neighbours at distance 0, ordered by index, the same
    way at every layer: their neighbourhoods agree whatever the layers do (a decoder's BOS
    rows, identical at every layer, have an overlap of 1), which raises the overlap."""
    counts = [int(mask.sum()) for mask in copies]
    if not any(counts):
        return
    worst = int(np.argmax(counts))
    at = [place for place, count in zip(places, counts) if count]
    warnings.warn(
        f"{caller}: {counts[worst]} of {len(copies[worst])} points are exact copies of another point in "
        f"{places[worst]} (copies in {', '.join(at[:10])}{'...' if len(at) > 10 else ''}). Copies are each other's "
        "nearest neighbours whatever the layer, which raises the overlap. Leave them out first: "
        "acts.drop_special() for a decoder's start tokens, or keep one row of each.",
        stacklevel=stacklevel + 1,
    )


def _labels(labels: Any, stack: LayerStack) -> tuple[np.ndarray, np.ndarray]:
    """Label values (n_items,) and a mask of the items that have one."""
    if isinstance(labels, str):
        if stack.table is None or labels not in stack.table.columns:
            columns = [] if stack.table is None else list(stack.table.columns)
            raise LensError.bad_argument("labels", labels, f"a column of the items' table {columns}, or an array")
        values = stack.table[labels].to_numpy()
    else:
        values = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
        if values.ndim != 1 or len(values) != stack.n_items:
            raise LensError.bad_argument("labels", values, f"a 1-D array of {stack.n_items} labels, one per item")
    keep = ~np.asarray(pd.isna(values), dtype=bool)  # None, NaN of any float width, pd.NA, NaT
    if keep.sum() < 2:
        raise LensError.bad_argument("labels", f"{int(keep.sum())} item(s) with a label", "at least 2 labelled items")
    return values, keep


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (n,) and classes; object labels are compared as text, so labels of several
    types that read the same (``1`` and ``"1"``) are refused rather than merged into one class."""
    if values.dtype == object:
        text = values.astype(str)
        kinds = {(_kind(value), word) for value, word in zip(values.tolist(), text.tolist())}
        if len(kinds) != len(set(text.tolist())):
            same = sorted({word for _, word in kinds if sum(w == word for _, w in kinds) > 1})
            raise LensError.bad_argument(
                "labels", f"labels of several types that read the same ({same[:3]})",
                "labels of one type (all strings or all numbers)", "Convert them to one type first.",
            )  # fmt: skip
        values = text
    classes, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), classes


def _kind(value: Any) -> str:
    """The kind of a label: text, integer, real, bool, or its type's name."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (str, np.str_)):
        return "text"
    if isinstance(value, numbers.Integral):
        return "integer"
    if isinstance(value, numbers.Real):
        return "real"
    return type(value).__name__


def _check_k(k: Any, n: int) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k < n:
        raise LensError.bad_argument("k", k, f"an integer with 1 <= k < the number of points ({n})")
    return int(k)
