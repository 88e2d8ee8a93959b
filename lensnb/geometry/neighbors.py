"""Exact k nearest neighbours in Euclidean distance, and a cache that computes them once.

TwoNN needs each point's two nearest neighbours, the neighbourhood overlaps its k
nearest; both come from one search per layer, kept in a :class:`NeighborCache` keyed
by the data itself (a digest of the array's bytes), so that every measure of a
profile reuses it.

The search runs in two passes. Candidates come from float32 matrix products on
centred data, each pair of row blocks multiplied once and read by rows and by columns
(``|x|^2 + |y|^2 - 2 x.y``: fast, but with a rounding error whose bound is known:
2 dim eps |x||y| + 2 eps (|x|^2 + |y|^2)). The
first neighbours' distances are recomputed exactly in float64 from the differences,
and every row is checked against the bound: where the order of the first two, the
membership of the k-th, or a point outside the candidates is uncertain, the row is
searched again in float64 and its candidates' distances recomputed exactly. The
neighbour sets are those of exact float64 arithmetic, at the speed of a float32 GEMM.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from lensnb.errors import LensError

__all__ = ["Neighbors", "NeighborCache", "nearest_neighbors", "data_key"]

_BLOCK_ROWS = 2048
_MARGIN = 8  # extra float32 candidates per row, re-ranked in float64


@dataclass(frozen=True)
class Neighbors:
    """The k nearest neighbours of every point, the point itself excluded.

    Attributes
    ----------
    indices : ndarray of int64, shape (n_points, k)
        Neighbours by increasing distance (ties broken by the lower index).
    distances : ndarray of float64, shape (n_points, k)
        Their Euclidean distances: the first two exact in float64, later ones to about
        1e-6 relative (see :func:`nearest_neighbors`).
    """

    indices: np.ndarray
    distances: np.ndarray

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def first(self, k: int) -> Neighbors:
        """The first ``k`` neighbours of every point."""
        return Neighbors(self.indices[:, :k], self.distances[:, :k])

    def duplicates(self) -> np.ndarray:
        """Points with a neighbour at distance exactly 0: bool, shape (n_points,)."""
        return self.distances[:, 0] == 0.0


def data_key(x: np.ndarray) -> str:
    """A digest of an array's shape, dtype and bytes: equal keys mean equal data."""
    array = np.ascontiguousarray(x)
    digest = hashlib.sha1(f"{array.shape}|{array.dtype.str}".encode())  # a cache key, not a security digest
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


@dataclass
class NeighborCache:
    """kNN per data set, computed once for the largest k asked and sliced for smaller ones.

    Pass one cache to several measures (TwoNN, overlaps, GRIDE) so that each layer's
    search runs once. Keys are digests of the data (:func:`data_key`), so a cache
    never returns the neighbours of other data. Holds ``n_points x k`` indices and
    distances per entry; drop it (or call :meth:`clear`) to free them.
    """

    entries: dict[str, Neighbors] = field(default_factory=dict)
    searches: int = 0

    def neighbors(self, x: np.ndarray, k: int, key: str | None = None) -> Neighbors:
        """The ``k`` nearest neighbours of the rows of ``x`` (n, d).

        Parameters
        ----------
        x : ndarray, shape (n_points, dim)
        k : int
            Neighbours per point, ``1 <= k < n_points``.
        key : str, optional
            The data's :func:`data_key`, when the caller has it already.
        """
        key = key or data_key(x)
        found = self.entries.get(key)
        if found is not None and found.k >= k:
            return found.first(k)
        result = nearest_neighbors(x, k)
        self.searches += 1
        self.entries[key] = result
        return result

    def clear(self) -> None:
        self.entries.clear()


def nearest_neighbors(x: np.ndarray, k: int, *, block_rows: int = _BLOCK_ROWS) -> Neighbors:
    """Exact Euclidean k nearest neighbours of every row, itself excluded.

    Parameters
    ----------
    x : ndarray, shape (n_points, dim)
        Any float dtype; the distances returned are computed in float64.
    k : int
        ``1 <= k < n_points``.
    block_rows : int
        Rows per block of the candidate search (memory: one block x block float32
        product, and up to 4 x n_points x (k + 8) held candidates).

    Returns
    -------
    Neighbors
        indices (n_points, k) int64 and distances (n_points, k) float64, sorted by
        distance, then by index. The neighbour sets are exact; the first two distances
        are exact float64 (from the differences); later ones are too where a row's
        order was uncertain, and otherwise come from the float32 products (relative
        error about 1e-6). Among points at exactly the same distance (duplicates)
        beyond the first k + 8 candidates, which ones are kept is deterministic but
        unspecified.
    """
    points = np.asarray(x)
    if points.ndim != 2:
        raise LensError.bad_argument("x", points, "a 2-D array of shape (n_points, dim)")
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():  # one NaN would poison the centring, and every distance with it
        rows = np.flatnonzero(~finite)
        raise LensError.bad_argument(
            "x", f"NaN or infinite values in {len(rows)} row(s), first rows {rows[:5].tolist()}", "finite values"
        )
    n = points.shape[0]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k < n:
        raise LensError.bad_argument("k", k, f"an integer with 1 <= k < the number of points ({n})")
    k = int(k)
    exact = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float64))
    exact = exact - exact.mean(dim=0)  # distances are unchanged; float32 products lose less
    n_candidates = min(n - 1, k + _MARGIN)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float64)
    full: list[np.ndarray] = []
    with torch.inference_mode():
        approx = exact.to(torch.float32)
        squared = (approx * approx).sum(dim=1).to(torch.float64)  # (n,)
        norms = squared.sqrt()
        # rounding of |x|^2 + |y|^2 - 2 x.y in float32 (dot products of length dim):
        # |error| <= 2 dim eps |x| |y| + 2 eps (|x|^2 + |y|^2)
        eps = float(torch.finfo(torch.float32).eps)
        dot_bound, add_bound = 2.0 * exact.shape[1] * eps, 2.0 * eps
        all_values, all_candidates = _candidates(approx, squared.to(torch.float32), n_candidates, block_rows)
        for start in range(0, n, block_rows):
            stop = min(n, start + block_rows)
            values = all_values[start:stop].to(torch.float64)
            candidates = all_candidates[start:stop]
            row_norms, row_squared = norms[start:stop, None], squared[start:stop, None]
            cand = torch.from_numpy(candidates)
            error = dot_bound * row_norms * norms[cand] + add_bound * (row_squared + squared[cand])
            low, high = values - error, values + error
            head = min(n_candidates, min(k, 2) + 1)  # exact distances for these first candidates
            head_d = _exact_distances(exact, start, candidates[:, :head])
            order = np.lexsort((candidates[:, :head], head_d), axis=1)
            head_i = np.take_along_axis(candidates[:, :head], order, axis=1)
            head_d = np.take_along_axis(head_d, order, axis=1)
            needed = min(k, 2)
            rows_i = np.concatenate([head_i, candidates[:, head:]], axis=1)[:, :k]
            approx_d = np.sqrt(np.maximum(values[:, head:].numpy(), 0.0))
            rows_d = np.concatenate([head_d, approx_d], axis=1)[:, :k]
            uncertain = np.zeros(stop - start, dtype=bool)  # order within the candidates
            if head < n_candidates:  # could a later candidate be nearer than the exact first `needed`?
                uncertain |= low[:, head].numpy() <= head_d[:, needed - 1] ** 2
            if k < n_candidates:  # is membership of the k-th uncertain?
                uncertain |= (low[:, k] <= high[:, k - 1]).numpy()
            outside_unsafe = np.zeros(stop - start, dtype=bool)
            if n_candidates < n - 1:  # could a point outside the candidates belong?
                outside = values[:, -1] - (
                    dot_bound * norms[start:stop] * float(norms.max())
                    + add_bound * (squared[start:stop] + float(squared.max()))
                )
                outside_unsafe = (high[:, min(k, n_candidates) - 1] >= outside).numpy()
            refine = np.flatnonzero(uncertain & ~outside_unsafe)
            if len(refine):  # exact distances of all their candidates
                found_d = _exact_distances(exact, refine + start, candidates[refine])
                order = np.lexsort((candidates[refine], found_d), axis=1)[:, :k]
                rows_i[refine] = np.take_along_axis(candidates[refine], order, axis=1)
                rows_d[refine] = np.take_along_axis(found_d, order, axis=1)
            order = np.lexsort((rows_i, rows_d), axis=1)
            indices[start:stop] = np.take_along_axis(rows_i, order, axis=1)
            distances[start:stop] = np.take_along_axis(rows_d, order, axis=1)
            if outside_unsafe.any():
                full.append(np.flatnonzero(outside_unsafe) + start)
        if full:  # rare: search these rows again in float64 against every point
            rows = np.concatenate(full)
            all_squared = (exact * exact).sum(dim=1)[None, :]
            for s in range(0, len(rows), block_rows):
                part = rows[s : s + block_rows]
                d2 = all_squared - 2.0 * (exact[part] @ exact.T)
                d2[torch.arange(len(part)), torch.from_numpy(part)] = float("inf")
                candidates = torch.topk(d2, n_candidates, dim=1, largest=False, sorted=True).indices.numpy()
                found_d = _exact_distances(exact, part, candidates)
                order = np.lexsort((candidates, found_d), axis=1)[:, :k]
                indices[part] = np.take_along_axis(candidates, order, axis=1)
                distances[part] = np.take_along_axis(found_d, order, axis=1)
    return Neighbors(indices, distances)


def _candidates(approx: torch.Tensor, squared: torch.Tensor, count: int, block_rows: int):
    """The ``count`` nearest candidates of every row by float32 squared distance.

    Each pair of row blocks (I, J), I <= J, is multiplied once: the block of squared
    distances serves I's rows (its columns are J's points) and J's rows (its rows are
    I's points), half the products of a row-by-row search (10,000 MiniLM tokens x 384:
    1.23x faster than one product per row block against all points, the same
    neighbours). Each block's ``count`` best per row and per column are held and merged
    (:func:`_add`); a row block's list is final once its last pair is done. A point
    outside a row's candidates has a float32 value at least that of the last one: every
    selection and merge keeps ``count`` entries no larger than what it drops.

    Returns
    -------
    values : Tensor of float32, shape (n_points, count)
        The candidates' float32 squared distances ``|x|^2 + |y|^2 - 2 x.y``, ascending.
    indices : ndarray of int64, shape (n_points, count)
    """
    n = approx.shape[0]
    starts = list(range(0, n, block_rows))
    pending: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in starts]  # per row block
    best_values = torch.empty((n, count), dtype=torch.float32)
    best_indices = torch.empty((n, count), dtype=torch.int64)
    for row_block, row_start in enumerate(starts):
        row_stop = min(n, row_start + block_rows)
        for column_block in range(row_block, len(starts)):
            column_start = starts[column_block]
            column_stop = min(n, column_start + block_rows)
            block = torch.addmm(
                squared[None, column_start:column_stop], approx[row_start:row_stop],
                approx[column_start:column_stop].T, alpha=-2.0,
            ).add_(squared[row_start:row_stop, None])  # fmt: skip
            if column_block == row_block:
                block.fill_diagonal_(float("inf"))  # the point itself
            values, found = _smallest(block, count, "row")
            _add(pending[row_block], values, found + column_start, count)
            if column_block != row_block:
                values, found = _smallest(block, count, "column")
                _add(pending[column_block], values, found + row_start, count)
        # every block pair with this row block is done: its rows' candidates are final
        ((values, found),) = _merged(pending[row_block], count)
        pending[row_block] = []
        values, order = torch.sort(values, dim=1, stable=True)
        best_values[row_start:row_stop] = values
        best_indices[row_start:row_stop] = torch.gather(found, 1, order)
    return best_values, best_indices.numpy()


_PENDING = 4  # candidate lists a row block holds before they are merged into one


def _add(pending: list, values: torch.Tensor, indices: torch.Tensor, count: int) -> None:
    """Hold a block's candidates (b, count) for its rows; merge once ``_PENDING`` are held."""
    pending.append((values, indices))
    if len(pending) >= _PENDING:
        pending[:] = _merged(pending, count)


def _merged(pending: list, count: int) -> list:
    """The ``count`` smallest of the held candidate lists of a row block, as one list."""
    if len(pending) == 1:
        return pending
    values, position = torch.topk(torch.cat([v for v, _ in pending], dim=1), count, dim=1, largest=False, sorted=False)
    return [(values, torch.gather(torch.cat([i for _, i in pending], dim=1), 1, position))]


_GROUPS = 8  # a line's entries fall into classes of this many before the top-k


def _smallest(block: torch.Tensor, count: int, per: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``min(count, length)`` smallest entries of each row (``per="row"``) or each
    column (``per="column"``) of ``block``, and where they are along it.

    The ``length`` entries of a line fall into ``g = ceil(length / 8)`` classes,
    position ``j`` into class ``j mod g``. Each class has a minimum (a contiguous,
    vectorised reduction, for columns as for rows: the block is never transposed), and
    a line's ``count`` smallest entries all lie in the ``count`` classes with the
    smallest minima: those minima are ``count`` entries no larger than any class left
    out. The top-k then runs on the ``8 count`` entries of those classes instead of the
    whole line. Entries equal to the last value kept may be any of the tied ones.

    Returns
    -------
    values : Tensor of float32, shape (n_lines, count)
        Unordered; padded with inf where the line is shorter than ``count``.
    positions : Tensor of int64, shape (n_lines, count)
        Column (per row) or row (per column) of each value.
    """
    by_row = per == "row"
    n_lines, length = block.shape if by_row else block.shape[::-1]
    classes = -(-length // _GROUPS)
    if classes <= count:
        values, found = torch.topk(block if by_row else block.T, min(count, length), dim=1, largest=False, sorted=False)
        return _padded(values, found, count)
    missing = classes * _GROUPS - length
    if by_row:
        padded = torch.nn.functional.pad(block, (0, missing), value=float("inf")) if missing else block
        minima = padded.view(n_lines, _GROUPS, classes).amin(dim=1)  # (rows, classes)
    else:
        padded = torch.nn.functional.pad(block, (0, 0, 0, missing), value=float("inf")) if missing else block
        minima = padded.view(_GROUPS, classes, n_lines).amin(dim=0).T  # (columns, classes)
    _, chosen = torch.topk(minima, count, dim=1, largest=False, sorted=False)
    found = (chosen[:, :, None] + torch.arange(_GROUPS) * classes).reshape(n_lines, -1)
    line = torch.arange(n_lines)[:, None]
    width = padded.shape[1]
    flat = line * width + found if by_row else found * width + line
    values, position = torch.topk(torch.take(padded, flat), count, dim=1, largest=False, sorted=False)
    return values, torch.gather(found, 1, position)


def _padded(values: torch.Tensor, indices: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``values`` and ``indices`` (b, c <= count), padded with inf and 0 to (b, count)."""
    missing = count - values.shape[1]
    if missing == 0:
        return values, indices
    return (
        torch.nn.functional.pad(values, (0, missing), value=float("inf")),
        torch.nn.functional.pad(indices, (0, missing), value=0),
    )


def _exact_distances(exact: torch.Tensor, rows, candidates: np.ndarray) -> np.ndarray:
    """float64 distances, from the differences, between ``rows`` (a start offset or an
    index array) and their candidates (b, c): shape (b, c)."""
    b, c = candidates.shape
    row_index = torch.arange(rows, rows + b) if isinstance(rows, (int, np.integer)) else torch.from_numpy(rows)
    cand = torch.from_numpy(candidates)
    out = torch.empty((b, c), dtype=torch.float64)
    step = max(1, 8_000_000 // max(1, c * exact.shape[1]))  # bound the (rows, c, dim) temporary
    for s in range(0, b, step):
        diff = exact[cand[s : s + step]] - exact[row_index[s : s + step], None, :]
        out[s : s + step] = torch.linalg.vector_norm(diff, dim=2)
    return out.numpy()
