"""Aligning a sequence of per-layer 2-D embeddings so that a layer slider moves points smoothly.

Each layer's projection is computed on its own, so its orientation is arbitrary: a
PCA component may flip sign, two components may swap, a t-SNE or UMAP map may come
out rotated or mirrored. Orthogonal Procrustes (a rotation, reflections allowed, after
centring) of every layer onto the previous, already aligned one removes exactly that
freedom and nothing else: distances within a layer are kept.

The displacement between consecutive layers measures how far the points travel when
the slider moves one step, before and after alignment.
"""

from __future__ import annotations

import numpy as np

__all__ = ["procrustes_rotation", "align_layers", "layer_displacement", "rms_spread"]


def procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal matrix that best maps centred ``source`` onto centred ``target``.

    Solves ``min_R ||(S - mean S) R - (T - mean T)||_F`` over orthogonal ``R``
    (``R^T R = I``; rotations and reflections alike, no scaling).

    Parameters
    ----------
    source, target : ndarray, shape (n_items, k)
        The same items in two k-dimensional embeddings.

    Returns
    -------
    ndarray of float64, shape (k, k)
        ``R`` with ``det(R) = +1`` or ``-1``. Apply it as ``(source - source.mean(0)) @ R``.

    Notes
    -----
    With ``M = S_c^T T_c = U Sigma V^T`` (singular value decomposition) the solution is
    ``R = U V^T``. Reflections are allowed on purpose: a PCA component whose sign flips
    between two layers is a reflection, and fixing it is the point.

    References
    ----------
    Schönemann, P. H. (1966). A generalized solution of the orthogonal Procrustes
    problem. Psychometrika 31(1), 1-10 (the solution ``R = U V^T``).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    cross = (source - source.mean(axis=0)).T @ (target - target.mean(axis=0))  # (k, k)
    u, _, vt = np.linalg.svd(cross)
    return u @ vt


def align_layers(coordinates: np.ndarray, reference: int = 0) -> np.ndarray:
    """Chain-align every layer's embedding onto its neighbour, outward from ``reference``.

    The reference layer is returned unchanged. Layer ``l + 1`` (after the reference) is
    centred, rotated/reflected by :func:`procrustes_rotation` onto the *aligned* layer
    ``l``, and moved to the reference layer's centroid; layers before the reference are
    aligned the same way onto layer ``l + 1``. The transform is rigid: distances
    within every layer are exactly those of the input, and no layer is rescaled.

    Parameters
    ----------
    coordinates : ndarray, shape (n_layers, n_items, k)
    reference : int
        Position (along the first axis) of the layer whose orientation is kept.

    Returns
    -------
    ndarray of float64, shape (n_layers, n_items, k)
        All layers share the reference layer's centroid.

    References
    ----------
    Schönemann, P. H. (1966). A generalized solution of the orthogonal Procrustes
    problem. Psychometrika 31(1), 1-10.
    """
    coordinates = np.asarray(coordinates, dtype=np.float64)
    n_layers = coordinates.shape[0]
    aligned = coordinates.copy()
    centre = coordinates[reference].mean(axis=0)
    order = list(range(reference + 1, n_layers)) + list(range(reference - 1, -1, -1))
    for position in order:
        neighbour = position - 1 if position > reference else position + 1
        layer = coordinates[position] - coordinates[position].mean(axis=0)
        rotation = procrustes_rotation(layer, aligned[neighbour])
        aligned[position] = layer @ rotation + centre
    return aligned


def rms_spread(points: np.ndarray) -> float:
    """Root mean square distance of the points (n_items, k) to their centroid."""
    points = np.asarray(points, dtype=np.float64)
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def layer_displacement(coordinates: np.ndarray) -> np.ndarray:
    """Mean distance a point travels between consecutive layers, in units of the spread.

    ``displacement[l] = mean_i ||y[l+1, i] - y[l, i]|| / s``, where
    ``s = sqrt((s_l^2 + s_{l+1}^2) / 2)`` is the quadratic mean of the two layers'
    root mean square distances to their centroids (:func:`rms_spread`), so that the
    measure is symmetric in the two layers and does not depend on the units of the
    method. 0 means no point moved; for Gaussian clouds, two independent ones of the
    same spread give about 1.25 and a cloud mirrored through its centroid about 1.77.

    Parameters
    ----------
    coordinates : ndarray, shape (n_layers, n_items, k)

    Returns
    -------
    ndarray of float64, shape (n_layers - 1,)
        0.0 where both layers have zero spread (every item at one point).
    """
    coordinates = np.asarray(coordinates, dtype=np.float64)
    n_layers = coordinates.shape[0]
    out = np.zeros(max(n_layers - 1, 0), dtype=np.float64)
    spreads = [rms_spread(layer) for layer in coordinates]
    for position in range(n_layers - 1):
        scale = np.sqrt((spreads[position] ** 2 + spreads[position + 1] ** 2) / 2.0)
        if scale > 0:
            step = np.linalg.norm(coordinates[position + 1] - coordinates[position], axis=1)
            out[position] = step.mean() / scale
    return out
