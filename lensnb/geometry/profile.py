"""The geometry profile of Valeriani et al. (2023) in one call: ID, layer overlap, label overlap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensnb.flags import check_flag
from lensnb.geometry.inputs import check_seed, layer_stack
from lensnb.geometry.intrinsic_dimension import (
    DUPLICATES,
    TWONN_FITS,
    _check_choice,
    _non_negative_int,
    distinct_point_neighbors,
    twonn_estimate,
)
from lensnb.geometry.neighbors import NeighborCache, data_key
from lensnb.geometry.overlap import LABEL_WEIGHTINGS, _check_k, encode_labels, label_overlap_value, overlap_matrix
from lensnb.geometry.results import LayerMatrix, LayerProfile

__all__ = ["GeometryProfile", "geometry_profile"]


@dataclass(frozen=True)
class GeometryProfile:
    """ID per layer, the layer x layer overlap and (with labels) the label overlap per layer.

    Attributes
    ----------
    intrinsic_dimension : LayerProfile
    overlap : LayerMatrix
    label_overlap : LayerProfile or None
    """

    intrinsic_dimension: LayerProfile
    overlap: LayerMatrix
    label_overlap: LayerProfile | None


def geometry_profile(
    data: Any,
    labels: Any = None,
    *,
    layers: Sequence[int] | int | None = None,
    k: int = 30,
    fraction: float = 0.9,
    fit: str = "base",
    weighting: str = "mean",
    bootstrap: int = 100,
    seed: int = 0,
    duplicates: str = "drop",
    site: str | None = None,
    pool: str | None = None,
    cache: NeighborCache | None = None,
    progress: bool = True,
) -> GeometryProfile:
    """TwoNN ID of every layer, the layer x layer neighbourhood overlap, and the label overlap.

    One exact k-neighbour search per layer serves all three (TwoNN reads its first two
    neighbours); a layer with identical points is searched again among its distinct
    points for TwoNN (see :func:`~lensnb.geometry.intrinsic_dimension.distinct_point_neighbors`),
    and items without a label among the labelled ones for the label overlap. Parameters are those of :func:`intrinsic_dimension`,
    :func:`neighborhood_overlap_matrix` and :func:`label_overlap`; ``labels`` is a column
    of the items' table or an array (None: no label overlap).

    Returns
    -------
    GeometryProfile

    References
    ----------
    Valeriani et al. (2023), "The geometry of hidden representations of large
    transformer models", NeurIPS.
    """
    from tqdm.auto import tqdm

    _check_choice("fit", fit, TWONN_FITS)
    _check_choice("duplicates", duplicates, DUPLICATES)
    _check_choice("weighting", weighting, LABEL_WEIGHTINGS)
    progress = check_flag("progress", progress)
    bootstrap = _non_negative_int("bootstrap", bootstrap)
    rng = np.random.default_rng(check_seed(seed))
    stack = layer_stack(data, layers, site=site, pool=pool)
    k = _check_k(k, stack.n_items)
    codes = keep = None
    if labels is not None:
        codes, classes, keep = encode_labels(labels, stack)
        _check_k(k, int(keep.sum()))  # the label overlap searches among the labelled items
    cache = cache if cache is not None else NeighborCache(min_k=1)
    found, ids, errors, dropped, by_label = [], [], [], [], []
    for position, layer in enumerate(tqdm(stack.layers, desc="geometry profile", disable=not progress)):
        matrix = np.asarray(stack.arrays[position])
        key = data_key(matrix)  # one digest of the layer for both searches
        neighbors = cache.neighbors(matrix, max(k, 2), key)
        found.append(neighbors.indices[:, :k])
        argument = f"data (layer {layer})"
        distinct, n_dropped = distinct_point_neighbors(matrix, 2, cache, duplicates, argument, key=key)
        value, error = twonn_estimate([distinct], fraction, fit, bootstrap, rng, argument)
        ids.append(value)
        errors.append(error)
        dropped.append(n_dropped)
        if codes is not None:
            if keep.all():
                by_label.append(label_overlap_value(neighbors.indices[:, :k], codes, weighting))
            else:
                subset = cache.neighbors(np.ascontiguousarray(matrix[keep]), k)
                by_label.append(label_overlap_value(subset.indices, codes, weighting))
    n = stack.n_items
    common = dict(pool=pool, n_points=n)
    id_params = dict(fraction=fraction, fit=fit, decimation=1, repeats=1, bootstrap=bootstrap, seed=seed,
                     duplicates=duplicates, subset_size=n, error="bootstrap std" if bootstrap else "none", **common)  # fmt: skip
    profile_ids = LayerProfile(
        "intrinsic_dimension_twonn", stack.layers, np.asarray(ids), np.asarray(errors), id_params, stack.table,
        stack.unit, {"duplicates": np.asarray(dropped)},
    )  # fmt: skip
    overlap = LayerMatrix(
        "neighborhood_overlap", stack.layers, stack.layers, overlap_matrix(found, found, symmetric=True),
        dict(k=k, **common), stack.table, stack.unit, (stack.model, stack.model),
    )  # fmt: skip
    labelled = None
    if codes is not None:
        label_params = dict(
            k=k,
            weighting=weighting,
            n_classes=len(classes),
            n_missing_labels=int((~keep).sum()),
            pool=pool,
            n_points=int(keep.sum()),
        )
        table = stack.table if stack.table is None or keep.all() else stack.table[keep].reset_index(drop=True)
        labelled = LayerProfile(
            "label_overlap", stack.layers, np.asarray(by_label), None, label_params, table, stack.unit
        )
    return GeometryProfile(profile_ids, overlap, labelled)
