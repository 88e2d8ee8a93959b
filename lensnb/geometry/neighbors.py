"""Exact k nearest neighbours in Euclidean distance, and a cache that computes them once.

TwoNN needs each point's two nearest neighbours, the neighbourhood overlaps its k
nearest; both come from one search per layer, kept in a :class:`NeighborCache` keyed
by the data itself (a digest of the array's bytes), so that every measure of a
profile reuses it.

The search screens every pair with bfloat16 matrix products on centred data, each
pair of row blocks multiplied once and read by rows and by columns; a certified bound
on their rounding means the screen only excludes points that cannot be among a row's
k nearest (:mod:`lensnb.geometry.screen`). The survivors' distances are computed in
float64 and ranked exactly. The neighbour sets, their order and their distances are
those of float64 arithmetic; the bfloat16 products themselves are about a fifth of the
time (10,000 x 384 points, k = 30: about 50 of 270 ms on 2 cores), the screening and
the exact ranking the rest.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from lensnb.errors import LensError
from lensnb.geometry.inputs import out_of_scale
from lensnb.geometry.screen import ScreenBounds, Survivors, screen_candidates

__all__ = ["Neighbors", "NeighborCache", "nearest_neighbors", "data_key"]

_BLOCK_ROWS = 2048


@dataclass(frozen=True)
class Neighbors:
    """The k nearest neighbours of every point, the point itself excluded.

    Attributes
    ----------
    indices : ndarray of int64, shape (n_points, k)
        Neighbours by increasing distance (ties broken by the lower index).
    distances : ndarray of float64, shape (n_points, k)
        Their Euclidean distances, in float64 (see :func:`nearest_neighbors`).
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

    Attributes
    ----------
    min_k : int
        Every search finds at least this many neighbours (fewer only when the data have
        fewer other points), so that a measure asking for few (TwoNN: 2) and one asking
        for more (the overlaps: 30 by default) share one search, in either order. A
        measure asking for more than ``min_k`` after a smaller search searches again.
        The measures make their own caches with ``min_k=1`` when given none.
    entries : dict of str to Neighbors
    searches : int
        Searches run so far.
    """

    min_k: int = 30
    entries: dict[str, Neighbors] = field(default_factory=dict)
    searches: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.min_k, (int, np.integer)) or isinstance(self.min_k, bool) or self.min_k < 1:
            raise LensError.bad_argument("min_k", self.min_k, "a positive integer")

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
        n_points = len(x)
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k < n_points:
            return nearest_neighbors(x, k)  # which refuses k, saying why
        key = key or data_key(x)
        found = self.entries.get(key)
        if found is not None and found.k >= k:
            return found.first(k)
        result = nearest_neighbors(x, max(int(k), min(int(self.min_k), n_points - 1)))
        self.searches += 1
        self.entries[key] = result
        return result.first(k)

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
        Rows per block of the screening products, rounded up to a multiple of 64.
        Memory: the products and their class maxima are kept between the screen's two
        passes when they fit in 256 MiB (about 1.25 n_points^2 bytes: n_points up to
        about 14,000), else formed again a block pair at a time; plus n_points^2 / 32
        bytes of pooled maxima.

    Returns
    -------
    Neighbors
        indices (n_points, k) int64 and distances (n_points, k) float64, sorted by
        distance, then by index. The neighbour sets and their order are those of exact
        arithmetic on the float64 data: bfloat16 products with a certified error bound
        (:mod:`lensnb.geometry.screen`) only exclude points, and the distances of the
        survivors are computed in float64 (``|x|^2 + |y|^2 - 2 x.y`` on centred data,
        from the differences where that loses digits: a relative error below
        dim x 2e-12, typically 1e-15).
        Rows with more than 1,024 survivors (many points at nearly one distance) are
        searched again in float64 against every point. Distances that may be equal
        (within the rounding of the float64 products) are compared from the
        differences of the data as given, and equal ones ranked by index.
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
    if not isinstance(block_rows, (int, np.integer)) or isinstance(block_rows, bool) or block_rows < 1:
        raise LensError.bad_argument("block_rows", block_rows, "a positive integer")
    block = -(-int(block_rows) // 64) * 64
    original = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float64))
    exact = original - original.mean(dim=0)  # distances are unchanged; the products lose less
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float64)
    with torch.inference_mode():
        squared = torch.einsum("ij,ij->i", exact, exact)
        if not math.isfinite(float(squared.max())) or (float(squared.max()) == 0.0 and bool(exact.any())):
            raise out_of_scale("x", points)
        if float(squared.max()) == 0.0:  # every point the same
            _search_all(exact, original, squared, np.arange(n), k, indices, distances)
            return Neighbors(indices, distances)
        bounds = ScreenBounds.of(exact, squared, -(-n // 64) * 64)
        again: list[np.ndarray] = []
        for start, parts in screen_candidates(bounds, k, block):
            stop = min(n, start + block)
            found_i, found_d, unsure = _select(exact, original, squared, parts, start, stop, k)
            indices[start:stop], distances[start:stop] = found_i, found_d
            again.append(unsure + start)
        rows = np.concatenate(again)
        if len(rows):
            _search_all(exact, original, squared, rows, k, indices, distances)
    return Neighbors(indices, distances)


_MOST_SURVIVORS = 1024  # candidates per row held for the exact ranking; rows with more are searched again
_CLOSE = 1e-4  # squared distances below this share of |x|^2 + |y|^2 are taken from the differences


def _select(
    exact: torch.Tensor, original: torch.Tensor, squared: torch.Tensor, parts: list[Survivors], start: int, stop: int,
    k: int,
):  # fmt: skip
    """The k nearest of each row of a block among its screened candidates, ranked exactly.

    ``exact`` is the centred data and ``squared`` its squared norms; ``original`` the data
    as given, whose differences decide between distances that may be equal.

    Returns
    -------
    indices : ndarray of int64, shape (stop - start, k)
    distances : ndarray of float64, shape (stop - start, k)
    unsure : ndarray of int64
        Rows (within the block) to search again against every point: more than
        ``_MOST_SURVIVORS`` candidates, or (never, for a sound screen) fewer than k.
    """
    n = exact.shape[0]
    rows = stop - start
    found = []
    counts = torch.zeros(rows, dtype=torch.int64)
    for part in parts:
        query, neighbour = part.queries, part.neighbours + part.neighbour_start
        keep = (neighbour < n) & (neighbour != query + start)  # padding, the point itself
        if not bool(keep.all()):
            query, neighbour = query[keep], neighbour[keep]
        per_row = torch.bincount(query, minlength=rows)
        offsets = torch.cumsum(per_row, 0) - per_row
        squared_distances = _exact_squared_distances(exact, original, squared, start, query, neighbour, per_row)
        position = counts[query] + torch.arange(len(query)) - offsets[query]
        found.append((query, neighbour, squared_distances, position))
        counts += per_row
    unsure = (counts > _MOST_SURVIVORS) | (counts < k)
    any_unsure = bool(unsure.any())
    width = max(k, int(counts[~unsure].max()) if not bool(unsure.all()) else k)
    dense = torch.full((rows * width,), float("inf"), dtype=torch.float64)
    owners = torch.full((rows * width,), n, dtype=torch.int64)
    for query, neighbour, squared_distances, position in found:
        if any_unsure:
            keep = ~unsure[query]
            query, neighbour, squared_distances, position = (
                query[keep], neighbour[keep], squared_distances[keep], position[keep]
            )  # fmt: skip
        flat = query * width + position
        dense[flat] = squared_distances
        owners[flat] = neighbour
    dense, owners = dense.view(rows, width), owners.view(rows, width)
    values, order = torch.topk(dense, min(k + 1, width), dim=1, largest=False, sorted=True)
    chosen = torch.gather(owners, 1, order)
    # distances within the products' rounding of each other may be equal in exact arithmetic:
    # those rows are ranked again by distances from the differences, then by index
    tolerance = _gram_tolerance(exact.shape[1], squared[start:stop], squared)
    near = ((values[:, 1:] - values[:, :-1]) <= tolerance[:, None]).any(dim=1) & ~unsure
    if bool(near.any()):
        rows_near = near.nonzero().squeeze(1)
        values[rows_near], chosen[rows_near] = _ranked_from_differences(
            original, dense[rows_near], owners[rows_near], rows_near + start, values[rows_near, -1] + tolerance[rows_near],
            values.shape[1],
        )  # fmt: skip
    return chosen[:, :k].numpy(), values[:, :k].sqrt().numpy(), np.flatnonzero(unsure.numpy())


def _gram_tolerance(dim: int, squared_rows: torch.Tensor, squared: torch.Tensor) -> torch.Tensor:
    """How far apart (n_rows,) two float64 ``|x|^2 + |y|^2 - 2 x.y`` of a row can be when
    the squared distances are equal: twice the rounding bound ``dim u (|x|^2 + |y|^2)``."""
    return 2.0 * (dim + 4) * 2.0**-52 * (squared_rows + squared.max())


def _ranked_from_differences(
    original: torch.Tensor, dense: torch.Tensor, owners: torch.Tensor, queries: torch.Tensor, limits: torch.Tensor,
    count: int,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The ``count`` nearest of some rows' candidates (r, width), by squared distances
    recomputed from the differences where they are at most ``limits`` (r,), then by index."""
    dense = dense.clone()
    row, column = ((dense <= limits[:, None]) & dense.isfinite()).nonzero(as_tuple=True)
    dense[row, column] = _squared_differences(original, queries[row], owners[row, column])
    by_index = torch.argsort(owners, dim=1, stable=True)
    dense, owners = torch.gather(dense, 1, by_index), torch.gather(owners, 1, by_index)
    by_distance = torch.argsort(dense, dim=1, stable=True)[:, :count]
    return torch.gather(dense, 1, by_distance), torch.gather(owners, 1, by_distance)


def _squared_differences(original: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``|x_a - x_b|^2`` from the data as given, pairwise over index tensors (m,): (m,) float64."""
    difference = original[a] - original[b]
    return (difference * difference).sum(dim=1)


def _exact_squared_distances(
    exact: torch.Tensor, original: torch.Tensor, squared: torch.Tensor, start: int, query: torch.Tensor,
    neighbour: torch.Tensor, per_row: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """float64 squared distances of rows ``start + query`` (ascending) to ``neighbour``: (m,).

    ``|x|^2 + |y|^2 - 2 x.y`` by a sampled product; where that is below 1e-4 of the
    squared norms (it has lost digits), from the differences."""
    n = exact.shape[0]
    rows = len(per_row)
    crow = torch.zeros(rows + 1, dtype=torch.int64)
    torch.cumsum(per_row, 0, out=crow[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        pattern = torch.sparse_csr_tensor(
            crow, neighbour, torch.zeros(len(neighbour), dtype=torch.float64), size=(rows, n), check_invariants=False
        )
        dots = torch.sparse.sampled_addmm(pattern, exact[start : start + rows], exact.T, beta=0.0).values()
    norms = squared[query + start] + squared[neighbour]
    result = norms - 2.0 * dots
    close = result <= _CLOSE * norms
    if bool(close.any()):
        where = close.nonzero().squeeze(1)
        result[where] = _squared_differences(original, query[where] + start, neighbour[where])
    return result.clamp_(min=0.0)


def _search_all(
    exact: torch.Tensor, original: torch.Tensor, squared: torch.Tensor, rows: np.ndarray, k: int, indices: np.ndarray,
    distances: np.ndarray,
) -> None:  # fmt: skip
    """Search ``rows`` again in float64 against every point (rare: rows with more
    candidates than the exact ranking holds, such as the copies of a much-repeated point).

    Every point within the float64 products' rounding of the k-th is ranked by its
    distance from the differences, then by index."""
    n = exact.shape[0]
    tolerance = _gram_tolerance(exact.shape[1], squared, squared)
    for s in range(0, len(rows), _FALLBACK_ROWS):
        part = torch.from_numpy(rows[s : s + _FALLBACK_ROWS])
        d2 = squared[part, None] + squared[None, :] - 2.0 * (exact[part] @ exact.T)
        d2[torch.arange(len(part)), part] = float("inf")
        kth = torch.topk(d2, k, dim=1, largest=False, sorted=True).values[:, -1]
        owners = torch.arange(n).expand(len(part), n)
        found, chosen = _ranked_from_differences(original, d2, owners, part, kth + tolerance[part], k)
        indices[part.numpy()] = chosen.numpy()
        distances[part.numpy()] = found.sqrt().numpy()


_FALLBACK_ROWS = 256
