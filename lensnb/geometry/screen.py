"""Certified screening of nearest-neighbour candidates with bfloat16 matrix products.

Every pair of points must be looked at once for an exact k-neighbour search; the
cheapest look is a bfloat16 matrix product (on CPUs with AMX or AVX512-BF16 about 3x a
float32 one). Its values are rough (8 significant bits), so they are used only to
*exclude* points, with an error bound that holds for every pair:

1. **Bound the k-th neighbour.** Each block of the product ``-d^2 / 2``, lowered by
   its error bound, is reduced to class maxima: the points of a row fall into classes
   of ``pool`` interleaved points, and the k-th largest class maximum of a row is k
   distinct points, so it bounds the row's k-th true value from below.
2. **Screen.** The same products (kept, or formed again for large sets) are compared
   with each row's bound, widened by the pair's own error bound; a point survives for a
   row only if it reaches it. Classes of 8 are skipped whole when their maximum does
   not reach the bound at their largest norm.

The survivors of a row contain its exact k nearest neighbours (the bound of
:class:`ScreenBounds` covers the rounding of the inputs, of the squared norms, of the
float32 accumulation and of the bfloat16 output); their distances are then computed
exactly by the caller. Each pair of row blocks is multiplied once (per pass, when the
products are not kept) and read by rows and by columns. On the 7 MiniLM layers
(10,000 tokens x 384, k = 30) 47-70 points survive per row.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

__all__ = ["ScreenBounds", "Survivors", "screen_candidates"]

_UNIT = 2.0**-8 * (1.0 + 2.0**-14)  # bfloat16 unit roundoff, float64 -> float32 -> bfloat16 included
_FAR = 1e30  # squared-norm term of the padding points: never within any bound
_FINE = 8  # points per class in the screening pass


def _product_dtype() -> torch.dtype:
    """bfloat16 where the CPU multiplies it natively (AMX or AVX512-BF16); elsewhere
    float32 products of the same bfloat16-rounded operands (exact products, a float32
    output: the bound holds a fortiori), since emulated bfloat16 is slower than float32."""
    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    return torch.bfloat16 if native else torch.float32


@dataclass(frozen=True)
class ScreenBounds:
    """The scaled data as bfloat16 operands, and the error bound of their products.

    For points ``i, j`` the product of row ``i`` of ``rows`` and row ``j`` of
    ``columns`` is ``p_ij = x_i.x_j - |x_i|^2/2 - |x_j|^2/2 - c |x_i||x_j|`` on the
    scaled data: ``w_ij = -d_ij^2 / 2`` lowered by a bound ``c |x_i||x_j|`` of its input
    rounding. Before the bfloat16 output rounding it lies in
    ``[w_ij - 2 c (1 + u)^2 |x_i||x_j| - slack_i, w_ij + slack_i]``, where ``slack``
    covers the split of the squared norms and the float32 accumulation.

    Attributes
    ----------
    rows, columns : Tensor of bfloat16 (float32 without native bfloat16), shape (n_padded, dim + 5)
        bfloat16 values either way.
    norms : Tensor of float64, shape (n_padded,)
        Scaled norms (0 for the padding).
    slack : Tensor of float64, shape (n_points,)
    spread : float
        ``2 c (1 + u)^2``: the width of a product's interval, per unit of ``|x_i||x_j|``.
    n_points : int
    """

    rows: torch.Tensor
    columns: torch.Tensor
    norms: torch.Tensor
    slack: torch.Tensor
    spread: float
    n_points: int

    @classmethod
    def of(cls, centred: torch.Tensor, squared: torch.Tensor, padded: int) -> ScreenBounds:
        """Operands for the rows of ``centred`` (n, dim) float64 (not all zero), whose
        squared norms are ``squared`` (n,), padded to ``padded`` rows."""
        n, dim = centred.shape
        scale = 2.0 ** -math.floor(0.5 * math.log2(float(squared.max())))  # exact: scaled norms below 2
        half = squared * (scale * scale / 2.0)
        high = half.to(torch.float32).to(torch.bfloat16)
        low = (half - high.to(torch.float64)).to(torch.float32).to(torch.bfloat16)
        norms = torch.zeros(padded, dtype=torch.float64)
        norms[:n] = (half * 2.0).sqrt()
        # |x^.y^ - x.y| <= (2u + u^2) |x||y|; the bound column's own rounding is (1 +- u)^2
        bound = (2.0 * _UNIT + _UNIT**2) / (1.0 - _UNIT) ** 2 * 1.001
        width = dim + 5
        rows = torch.zeros((padded, width), dtype=torch.bfloat16)
        columns = torch.zeros((padded, width), dtype=torch.bfloat16)
        rows[:n, :dim].copy_(centred * scale)
        columns[:n, :dim] = rows[:n, :dim]
        rows[:, dim : dim + 2] = 1.0
        columns[:, dim + 2 : dim + 4] = 1.0
        rows[:n, dim + 2], rows[:n, dim + 3] = -high, -low
        columns[:n, dim], columns[:n, dim + 1] = -high, -low
        rows[n:, dim + 2] = -_FAR
        columns[n:, dim] = -_FAR
        rows[:, dim + 4] = (-bound * norms).to(torch.float32).to(torch.bfloat16)
        columns[:, dim + 4] = norms.to(torch.float32).to(torch.bfloat16)
        accumulation = 2.0 * (width + 1) * 2.0**-24  # float32 sums of `width` products, in any order
        top = float(norms.max())
        pair = (1.0 + 2.0 * _UNIT + 2.0 * bound) * norms[:n] * top  # >= the sum of |products| on x and bound
        halves = (norms[:n] ** 2 + top * top) / 2.0 * (1.0 + 2.0 * _UNIT)
        slack = 1.001 * _UNIT**2 * halves + accumulation * (pair + halves) + 1e-30
        dtype = _product_dtype()
        return cls(rows.to(dtype), columns.to(dtype), norms, slack, 2.0 * bound * (1.0 + _UNIT) ** 2, n)


@dataclass(frozen=True)
class Survivors:
    """The candidates of one block's rows found in one block pair.

    Attributes
    ----------
    queries : Tensor of int64, shape (m,)
        Row of each candidate within the query block, ascending.
    neighbours : Tensor of int64, shape (m,)
        The candidate's index within its block.
    query_start, neighbour_start : int
        Offsets of the two blocks.
    """

    queries: torch.Tensor
    neighbours: torch.Tensor
    query_start: int
    neighbour_start: int


_KEEP_BYTES = 256 * 2**20  # products and class maxima kept between the passes up to this size


def screen_candidates(bounds: ScreenBounds, k: int, block: int) -> Iterator[tuple[int, list[Survivors]]]:
    """Per row block, the candidates that may be among its rows' k nearest neighbours.

    Parameters
    ----------
    bounds : ScreenBounds
    k : int
        Neighbours per point, ``k < n_points``.
    block : int
        Rows per block, a multiple of 64.

    Yields
    ------
    row_start : int
    parts : list of Survivors
        Once the block's last block pair is done: its candidates, a superset of its
        rows' k nearest neighbours, by block pair. A row that could not be bounded
        (fewer than k classes of real points) keeps every point, itself and the padding
        included.
    """
    padded = bounds.columns.shape[0]
    pool = next((p for p in (64, 32, 16, 8) if padded // p >= 2 * k), 1)
    keep = padded * padded * 1.25 <= _KEEP_BYTES
    kept: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {}
    maxima = torch.empty((padded, padded // pool), dtype=bounds.rows.dtype)
    for rs, re, cs, ce in _block_pairs(padded, block):
        product, by_row, by_column = _pair(bounds, rs, re, cs, ce)
        maxima[rs:re, cs // pool : ce // pool] = _pooled(product, by_row, pool)
        if by_column is not None:
            maxima[cs:ce, rs // pool : re // pool] = _pooled(product.T, by_column, pool)
        if keep:
            kept[rs, cs] = product, by_row, by_column
    kth = torch.topk(maxima[: bounds.n_points], k, dim=1, sorted=False).values.amin(dim=1).to(torch.float64)
    del maxima
    # k distinct points have products >= kth, so the row's k-th largest true w is at least:
    lowest = kth - _AFTER_OUTPUT * kth.abs() - bounds.slack
    lowest[kth <= -_FAR / 2] = float("-inf")
    reach = torch.full((padded,), float("inf"), dtype=torch.float64)
    reach[: bounds.n_points] = lowest - bounds.slack
    tests = _MemberTests.of(reach, bounds, float(bounds.norms.max()))
    pending: dict[int, list[Survivors]] = {}
    current = None
    for rs, re, cs, ce in _block_pairs(padded, block):
        if current is not None and rs != current:
            yield current, pending.pop(current)
        current = rs
        product, by_row, by_column = kept.pop((rs, cs)) if keep else _pair(bounds, rs, re, cs, ce)
        pending.setdefault(rs, []).append(_passing(product, by_row, tests, rs, cs))
        if by_column is not None:
            pending.setdefault(cs, []).append(_passing(product.T, by_column, tests, cs, rs))
    if current is not None:
        yield current, pending.pop(current)


_AFTER_OUTPUT = _UNIT / (1.0 - _UNIT)  # |rounded - unrounded| <= this x |rounded|


def _block_pairs(padded: int, block: int) -> Iterator[tuple[int, int, int, int]]:
    """(row start, row stop, column start, column stop) of every block pair with the
    column block at or after the row block, row block by row block."""
    starts = list(range(0, padded, block))
    for row_block, row_start in enumerate(starts):
        for column_start in starts[row_block:]:
            yield row_start, min(padded, row_start + block), column_start, min(padded, column_start + block)


def _pair(bounds: ScreenBounds, rs: int, re: int, cs: int, ce: int):
    """A block pair's product, with the maxima of its classes of 8 by row and (off the
    diagonal) by column."""
    product = bounds.rows[rs:re] @ bounds.columns[cs:ce].T
    if rs == cs:
        product.fill_diagonal_(float("-inf"))  # the point itself
        return product, _class_maxima(product), None
    return product, _class_maxima(product), _class_maxima(product.T)


def _class_maxima(product: torch.Tensor) -> torch.Tensor:
    """Row maxima over classes of 8 interleaved columns (column ``c`` in class
    ``c mod width / 8``): (rows, width / 8). ``product`` may be a transposed view: it is
    read without a copy."""
    rows, width = product.shape
    if product.is_contiguous():
        return product.view(rows, _FINE, width // _FINE).amax(dim=1)
    return product.T.reshape(_FINE, width // _FINE, rows).amax(dim=0).T


def _pooled(product: torch.Tensor, fine: torch.Tensor, pool: int) -> torch.Tensor:
    """Row maxima over classes of ``pool`` distinct points: (rows, width / pool)."""
    if pool == 1:
        return product
    rows, classes = fine.shape
    factor = pool // _FINE
    return fine if factor == 1 else fine.reshape(rows, factor, classes // factor).amax(dim=1)


@dataclass(frozen=True)
class _MemberTests:
    """float32 terms of the test of one candidate: its product must reach
    ``base[query] - slope[query] * norm[candidate]``.

    From the float64 limit ``before_output(reach_i - spread |x_i||x_j|)``: ``base`` is
    rounded down and ``slope`` and ``norm`` up, with a margin for the float32 products
    and difference, so the float32 test never rejects what the float64 one keeps."""

    base: torch.Tensor
    slope: torch.Tensor
    norm: torch.Tensor

    @classmethod
    def of(cls, reach: torch.Tensor, bounds: ScreenBounds, top: float) -> _MemberTests:
        # reach < 0: (reach - s)/(1 - a) exactly; reach >= 0: reach/(1 + a) - s/(1 - a) is below both branches
        base = torch.where(reach < 0, reach / (1.0 - _AFTER_OUTPUT), reach / (1.0 + _AFTER_OUTPUT))
        slope = bounds.spread * bounds.norms / (1.0 - _AFTER_OUTPUT)
        margin = 8.0 * 2.0**-24 * (base.abs() + slope * top) + 1e-30  # float32 rounding of 3 operations
        # padding rows (+inf) pass nothing and unbounded rows (-inf) everything: no inf - inf
        lowered = torch.where(base.isinf(), base, base - margin)
        up = 1.0 + 2.0**-20
        return cls(_toward(lowered, down=True), _toward(slope * up, down=False), _toward(bounds.norms * up, down=False))


def _toward(values: torch.Tensor, down: bool) -> torch.Tensor:
    """float64 -> float32 rounded toward -inf (``down``) or +inf."""
    rounded = values.to(torch.float32)
    wrong = rounded.to(torch.float64) > values if down else rounded.to(torch.float64) < values
    if bool(wrong.any()):
        rounded[wrong] = torch.nextafter(rounded[wrong], torch.tensor(float("-inf") if down else float("inf")))
    return rounded


def _passing(
    product: torch.Tensor, fine: torch.Tensor, tests: _MemberTests, query_start: int, neighbour_start: int
) -> Survivors:
    """Entries of ``product`` (rows: queries; may be a transposed view) that may belong.

    A class of 8 is skipped whole when its maximum is below the test at its largest
    norm; the members of the others are tested with their own norms."""
    rows, width = product.shape
    classes = width // _FINE
    at = slice(query_start, query_start + rows)
    class_norms = tests.norm[neighbour_start : neighbour_start + width].view(_FINE, classes).amax(dim=0)
    class_limits = torch.addcmul(tests.base[at, None], tests.slope[at, None], class_norms[None, :], value=-1.0)
    query, klass = (fine >= class_limits).nonzero(as_tuple=True)  # grouped by query, ascending
    queries = query + query_start
    norms = tests.norm[neighbour_start : neighbour_start + width].view(_FINE, classes)[:, klass]  # (8, m)
    limits = torch.addcmul(tests.base[queries], tests.slope[queries], norms, value=-1.0)  # (8, m)
    if product.is_contiguous():
        passing = product.view(rows, _FINE, classes)[query, :, klass] >= limits.T  # (m, 8)
    else:  # a transposed view of a contiguous (width, rows) block: its members as (8, m)
        passing = (product.T.view(_FINE, classes, rows)[:, klass, query] >= limits).T
    which, member = passing.nonzero(as_tuple=True)  # grouped by query, ascending
    return Survivors(query[which], klass[which] + member * classes, query_start, neighbour_start)
