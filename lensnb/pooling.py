"""Pooling groups of rows of a (layer, token, dim) array: mean, max, first, last, endpoints.

Groups are given in compressed form (``rows`` and ``offsets``: group g is
``rows[offsets[g]:offsets[g + 1]]``), so texts, words and possibly overlapping spans
share one routine. Work proceeds one layer and a bounded number of rows at a time,
so a memory-mapped array larger than memory can be pooled.
"""

from __future__ import annotations

import numpy as np

from lensnb.errors import LensError

__all__ = ["POOLINGS", "pool_groups", "runs"]

POOLINGS = ("mean", "max", "first", "last", "endpoints")
_ROWS_PER_STEP = 1 << 16


def runs(keys: np.ndarray) -> np.ndarray:
    """Start offsets of runs of equal consecutive ``keys``, plus the end: shape (n_runs + 1,)."""
    keys = np.asarray(keys)
    if len(keys) == 0:
        return np.zeros(1, dtype=np.int64)
    change = np.flatnonzero(np.any(keys[1:] != keys[:-1], axis=-1) if keys.ndim > 1 else keys[1:] != keys[:-1]) + 1
    return np.r_[0, change, len(keys)].astype(np.int64)


def pool_groups(array: np.ndarray, rows: np.ndarray, offsets: np.ndarray, how: str) -> np.ndarray:
    """Pool groups of token rows of every layer.

    Parameters
    ----------
    array : ndarray, shape (layer, token, dim)
        Possibly memory-mapped.
    rows : ndarray of int64, shape (n_rows,)
        Token rows of all groups, group after group.
    offsets : ndarray of int64, shape (n_groups + 1,)
        Group g is ``rows[offsets[g]:offsets[g + 1]]``; no group may be empty.
    how : {"mean", "max", "first", "last", "endpoints"}
        ``endpoints`` concatenates the first and last rows (dim doubles).

    Returns
    -------
    ndarray, shape (layer, n_groups, dim) or (layer, n_groups, 2 * dim)
        float64 for a float64 ``array``, else float32. Means are accumulated in float64.
    """
    if how not in POOLINGS:
        raise LensError.bad_argument("how", how, f"one of {POOLINGS}")
    rows = np.asarray(rows, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(offsets)
    if np.any(counts <= 0):
        raise LensError(f"pooling: {int(np.sum(counts <= 0))} group(s) have no token to pool.")
    n_layers, _, dim = array.shape
    out_dim = 2 * dim if how == "endpoints" else dim
    dtype = np.float64 if array.dtype == np.float64 else np.float32  # no rounding of float64 data
    result = np.empty((n_layers, len(counts), out_dim), dtype=dtype)
    steps = _group_steps(offsets)
    for layer in range(n_layers):
        for first_group, last_group in steps:
            lo, hi = offsets[first_group], offsets[last_group]
            local = offsets[first_group : last_group + 1] - lo
            block_rows = rows[lo:hi]
            result[layer, first_group:last_group] = _reduce(array, layer, block_rows, local, how)
    return result


def _group_steps(offsets: np.ndarray) -> list[tuple[int, int]]:
    """Split groups into steps of about ``_ROWS_PER_STEP`` rows (whole groups)."""
    steps, start, n_groups = [], 0, len(offsets) - 1
    while start < n_groups:
        stop = int(np.searchsorted(offsets, offsets[start] + _ROWS_PER_STEP, side="right")) - 1
        stop = min(max(stop, start + 1), n_groups)
        steps.append((start, stop))
        start = stop
    return steps


def _reduce(array: np.ndarray, layer: int, rows: np.ndarray, local: np.ndarray, how: str) -> np.ndarray:
    starts, ends = local[:-1], local[1:]
    if how == "first":
        return array[layer, rows[starts]]
    if how == "last":
        return array[layer, rows[ends - 1]]
    if how == "endpoints":
        return np.concatenate([array[layer, rows[starts]], array[layer, rows[ends - 1]]], axis=-1)
    values = np.asarray(array[layer, rows])
    if how == "max":
        return np.maximum.reduceat(values, starts, axis=0)
    sums = np.add.reduceat(values.astype(np.float64), starts, axis=0)
    return sums / (ends - starts)[:, None]
