"""Centred kernel alignment (CKA): how alike two representations of the same items are.

CKA compares two representations X (n, d1) and Y (n, d2) of the same n items through
their kernel (Gram) matrices: 1 means the same geometry up to rotation and isotropic
scaling, 0 means unrelated. This module holds the estimators as pure functions on two
matrices (:func:`cka_linear`, :func:`cka_rbf`, :func:`cka_minibatch`) and
:func:`cka_matrix`, which compares every layer with every layer, within one model or
between two, and returns a :class:`~lensnb.geometry.results.LayerMatrix`.

The linear kernel is computed in feature space, never with an n x n matrix: one GEMM
per layer against the stacked later layers gives every cross product Y^T X, so the
7 x 7 matrix of MiniLM on 10,000 tokens costs about as much as one n x n Gram matrix.
Token-level CKA (rows = tokens) and sequence-level CKA (rows = pooled texts, ``pool=``)
answer different questions; the result names which in ``unit``. Token-level CKA of
token Activations uses every row, the special tokens ([CLS], [SEP], <s>...) included
(pass ``acts.drop_special()`` to leave them out); ``pool=`` pools over the non-special
tokens only (``"cls"`` takes the leading special token itself).

References
----------
Kornblith, Norouzi, Lee & Hinton (2019), "Similarity of Neural Network Representations
Revisited", ICML: Sec. 3 (HSIC, CKA, the feature-space identity
||Y^T X||_F^2 = <vec(X X^T), vec(Y Y^T)>, the RBF bandwidth as a fraction of the median
distance).
Song, Smola, Gretton, Bedo & Borgwardt (2012), "Feature Selection via Dependence
Maximization", JMLR 13 (the unbiased HSIC estimator, HSIC_1).
Nguyen, Raghu & Kornblith (2021), "Do Wide and Deep Networks Learn the Same Things?",
ICLR (minibatch CKA: a ratio of sums of HSIC_1 over batches).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lensnb.errors import LensError
from lensnb.flags import check_flag
from lensnb.geometry.inputs import (
    LayerStack,
    as_matrix,
    check_same_items,
    check_seed,
    layer_stack,
    out_of_scale,
)
from lensnb.geometry.results import LayerMatrix

__all__ = ["cka_linear", "cka_rbf", "cka_minibatch", "cka_matrix", "KERNELS", "MEDIANS"]

KERNELS = ("linear", "rbf")
#: How the RBF bandwidth's median is taken: over all n^2 squared distances including
#: the zero diagonal (Kornblith et al.'s code), or over the non-zero ones only.
MEDIANS = ("all", "nonzero")
_DTYPES = {"float64": torch.float64, "float32": torch.float32}
_BLOCK_ROWS = 4096  # rows per float32 GEMM before the product is added into a float64 sum
_RBF_CACHE_BYTES = 2 * 2**30  # RBF Gram matrices kept for reuse across pairs, at most
_DEBIASED_NEEDS = "the debiased estimator, unbiased HSIC,"


# ---------------------------------------------------------------------- pure functions
def cka_linear(x: Any, y: Any, *, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same items, in feature space.

    Parameters
    ----------
    x : array or tensor of shape (n, d1)
    y : array or tensor of shape (n, d2)
        Row i of both is the same item.
    debiased : bool
        Use the unbiased HSIC estimator (needs n >= 4; can be slightly negative).

    Returns
    -------
    float
        ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred Xc, Yc;
        debiased: HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L)) with K = X X^T.

    Notes
    -----
    Computed in float64 in O(n d^2) time and O(d^2) extra memory, never with an n x n
    matrix. The debiased form is HSIC_1 of Song et al. rewritten with d x d cross
    products, squared row norms k_i and column sums s (``tr(K~L~) = ||X^T Y||_F^2 - k.l``,
    ``1^T K~ 1 = ||s||^2 - sum(k)``, ``K~ 1 = X s - k``, K~ = K with a zero diagonal);
    it equals the U-centred Gram form (tested to 1e-10). The columns are centred first
    for both estimators: HSIC_1 does not change, and the float64 sums stay small.

    References
    ----------
    Kornblith et al. (2019), Sec. 3 (linear CKA); Song et al. (2012), HSIC_1.
    """
    debiased = check_flag("debiased", debiased)
    x_, y_ = _pair(x, y, min_rows=4, needs=_DEBIASED_NEEDS) if debiased else _pair(x, y, min_rows=2)
    pa, pb = _prepare([x_], torch.float64, names=["x"]), _prepare([y_], torch.float64, names=["y"])
    return float(_linear_cka(pa, pb, within=False, debiased=debiased, labels=(["x"], ["y"]))[0, 0])


def cka_rbf(x: Any, y: Any, *, threshold: float = 1.0, median: str = "all", debiased: bool = False) -> float:
    """RBF-kernel CKA between two representations of the same items (n x n Gram matrices).

    Parameters
    ----------
    x : array or tensor of shape (n, d1)
    y : array or tensor of shape (n, d2)
    threshold : float
        Bandwidth as a fraction of the median distance: ``sigma^2 = threshold^2 *
        median(D2)``, taken separately for x and y (the paper sweeps 0.2, 0.4, 0.8).
    median : {"all", "nonzero"}
        ``"all"``: median over all n^2 squared distances, the zero diagonal included
        (Kornblith et al.'s code); ``"nonzero"``: over the non-zero ones only (another
        common implementation; gives a larger bandwidth).
    debiased : bool
        U-centre the Gram matrices (unbiased HSIC; needs n >= 4) instead of H K H.

    Returns
    -------
    float

    Notes
    -----
    Costs O(n^2 d) time and O(n^2) memory (two n x n float64 matrices): fine to a few
    thousand items; about 10 s per pair at 10,000.

    The kernel is computed as ``exp(-D2 / 2 sigma^2) - 1`` (``expm1``) before centring:
    centring removes the constant, so the value equals Kornblith et al.'s ``exp`` form
    in exact arithmetic, while a wide bandwidth keeps its digits: as ``threshold``
    grows, the value tends to :func:`cka_linear` (at 1e8 the ``exp`` form gives rounding
    noise). In float64 the two forms agree to about 1e-14 (measured: 3e-15 biased on
    random data, 1.4e-14 debiased on 800 MiniLM tokens at threshold 0.4). A narrow
    bandwidth with very few items is the exception for ``debiased=True``: the kernel
    values near -1 lose digits that the U-centring of so few rows amplifies, and the
    value is off by up to about 2e-12 (measured at threshold 0.2 with 4 to 9 items,
    against an extended-precision evaluation; the ``exp`` form was within 2e-15).

    References
    ----------
    Kornblith et al. (2019), Sec. 3 (CKA with the RBF kernel); Song et al. (2012), HSIC_1.
    """
    _check_rbf_options(threshold, median)
    debiased = check_flag("debiased", debiased)
    x_, y_ = _pair(x, y, min_rows=4, needs=_DEBIASED_NEEDS) if debiased else _pair(x, y, min_rows=2)
    gx = _rbf_gram_centred(x_, threshold, median, debiased, "x")
    gy = _rbf_gram_centred(y_, threshold, median, debiased, "y")
    return float(torch.dot(gx.view(-1), gy.view(-1)))


def cka_minibatch(x: Any, y: Any, *, batch_size: int, seed: int = 0) -> float:
    """Minibatch linear CKA: a ratio of sums of unbiased HSIC over batches of items.

    Parameters
    ----------
    x : array or tensor of shape (n, d1)
    y : array or tensor of shape (n, d2)
    batch_size : int
        At least 4. The rows are shuffled with ``seed`` and split into ``n //
        batch_size`` batches of nearly equal size (each at least ``batch_size`` rows,
        so no row is dropped); with ``batch_size >= n`` there is one batch and the
        result equals ``cka_linear(x, y, debiased=True)``.
    seed : int

    Returns
    -------
    float
        ``sum_b HSIC_1(K_b, L_b) / sqrt(sum_b HSIC_1(K_b, K_b) * sum_b HSIC_1(L_b, L_b))``
        with K_b = X_b X_b^T, L_b = Y_b Y_b^T (diagonals zeroed, no centring).

    Notes
    -----
    Each batch's HSIC_1 is computed in feature space. The rows are shifted by the
    global column mean first: HSIC_1 does not change when every row moves by the same
    vector, and the shift keeps the float64 sums small.

    Batches of unequal size: this is the formula of Nguyen et al.'s paper, in which
    every batch's HSIC_1 carries its own ``1 / (b (b - 3))`` factor, so every batch
    weighs the same. The authors' released code (``efficient_CKA.py``,
    ``MinibatchCKA``) sums the U-centred products without that factor, so there a
    batch of b rows weighs ``b (b - 3)``. The two agree (to 1e-15) when all batches
    have the same size: when n is a multiple of ``batch_size``, or there is only one
    batch (n < 2 * ``batch_size``). Otherwise the n // ``batch_size`` batches here
    differ in size by one row (n = 1,000 with ``batch_size=128``: 142 and 143 rows) and
    the two values differ: measured by at most 1.7e-5 over the 7 x 7 matrix of MiniLM
    on 3,000 tokens with ``batch_size=256`` (batches of 272 and 273), by 6e-5 and
    1.6e-4 on synthetic data with batches of 142-143 and 66-67 rows, but by 0.155 with
    batches of 4 and 5 rows. To match the released code, make n a multiple of
    ``batch_size`` (drop or subsample rows first).

    References
    ----------
    Nguyen, Raghu & Kornblith (2021), minibatch CKA; Song et al. (2012), HSIC_1.
    """
    x_, y_ = _pair(x, y, min_rows=4, needs="minibatch CKA, unbiased HSIC per batch,")
    batches = _batches(x_.shape[0], batch_size, seed)
    return float(_minibatch_cka([x_], [y_], batches, torch.float64, False, (["x"], ["y"]), None)[0, 0])


# ---------------------------------------------------------------------- the layer matrix
def cka_matrix(
    a: Any,
    b: Any = None,
    *,
    layers: Sequence[int] | None = None,
    layers_b: Sequence[int] | None = None,
    kernel: str = "linear",
    debiased: bool = False,
    threshold: float = 1.0,
    median: str = "all",
    batch_size: int | None = None,
    seed: int = 0,
    site: str | None = None,
    pool: str | None = None,
    dtype: str = "float64",
    progress: bool = True,
) -> LayerMatrix:
    """CKA between every pair of layers, within one model or between two.

    Parameters
    ----------
    a : Activations, array of shape (layer, n, d) or list of (n, d) arrays
    b : same kinds, optional
        A second representation of the same n items (another model on the same texts).
        None: compare ``a``'s layers with each other (symmetric; each pair computed once).
    layers, layers_b : sequence of int, optional
        Layers of ``a`` (rows) and of ``b`` (columns; of ``a`` again when ``b`` is None).
        Default: all.
    kernel : {"linear", "rbf"}
    debiased : bool
        Unbiased HSIC (U-centring); needs n >= 4.
    threshold : float
        RBF bandwidth fraction (see :func:`cka_rbf`); RBF only.
    median : {"all", "nonzero"}
        RBF median convention (see :func:`cka_rbf`); RBF only.
    batch_size : int, optional
        Minibatch CKA (:func:`cka_minibatch`; linear kernel; always the unbiased
        HSIC_1, so ``debiased`` is reported as True). Every batch weighs the same, as
        in Nguyen et al.'s paper; their released code weighs a batch of b rows by
        ``b (b - 3)``, which gives a different value when the batches differ in size
        (by up to 1.7e-5 on MiniLM with ``batch_size=256``, 0.155 with batches of 4
        and 5 rows; see :func:`cka_minibatch`). The batches are all of the same size
        when n is a multiple of ``batch_size``.
    seed : int
        Order of the minibatches.
    site, pool : str, optional
        Passed to :func:`lensnb.geometry.inputs.layer_stack` for both ``a`` and ``b``:
        ``pool="mean"`` compares texts (sequence level) instead of tokens.

        Special tokens ([CLS], [SEP], <s>...): without ``pool``, token-level
        Activations are compared on every row, the special tokens included (on
        MiniLM they move entries by up to 0.036); pass ``acts.drop_special()`` to
        compare the text's own tokens only. ``pool`` pools over the non-special
        tokens only (:meth:`lensnb.Activations.pool_texts` with its default
        ``include_special=False``; ``"first"`` / ``"last"`` are the first / last
        non-special token, ``"cls"`` the leading special token). To pool over the
        special tokens too, pass ``acts.pool_texts("mean", include_special=True)``
        with ``pool=None``.
    dtype : {"float64", "float32"}
        Linear kernel only. ``"float64"``: every product in float64 (measured equal to
        the n x n Gram computation to 1e-14 on MiniLM activations). ``"float32"``: the
        data are centred in float64, then rounded to float32, and the cross products run
        as float32 GEMMs over blocks of 4,096 rows whose results are summed in float64;
        about 2x faster. Its error is that of float32 sums over 4,096 rows, not of the
        data's scale: measured against float64, 1.4e-8 (biased and debiased) on MiniLM
        activations of 10,000 tokens x 384, but up to 1.6e-7 on 1,666 SST-2 tokens and
        2.3e-7 (debiased) on 8 items, where a few products carry the whole sum; 9e-9 on
        synthetic 20,000 x 768 layers; the tests hold it to 1e-5. Row statistics (squared norms, sums) stay
        float64.
    progress : bool

    Returns
    -------
    LayerMatrix
        ``values[i, j]`` = CKA(layer ``layers_a[i]`` of a, layer ``layers_b[j]`` of b);
        ``params`` holds kernel, debiased, threshold, median, batch_size, seed, dtype,
        unit, pool, site and n_items; ``unit`` says what a row was (token, text, ...).

    Raises
    ------
    LensError
        Missing layers, NaN values, values that are not real numbers (text, complex,
        dates; bool, integer and float dtypes are taken), different row counts (or
        different tokens/texts between ``a`` and ``b``), too few items, a layer without
        variance, an unknown kernel, median or dtype, a bad threshold or batch size.

    Notes
    -----
    Linear kernel: each layer is centred once into a transposed copy of all layers
    (L * n * d * 8 bytes in float64, 4 in float32), then one GEMM per layer against the
    stacked later layers gives all its cross products Y^T X (O(n d^2 L^2 / 2) time, no
    n x n matrix); HSIC is their squared Frobenius norm. Debiased: the same products plus
    squared row norms (see :func:`cka_linear`). Minibatch: the same per batch, summed.
    RBF: one n x n Gram matrix per layer, kept for reuse while they fit in 2 GiB, else
    recomputed per pair.

    References
    ----------
    Kornblith et al. (2019), Sec. 3; Song et al. (2012), HSIC_1; Nguyen et al. (2021),
    minibatch CKA.
    """
    if kernel not in KERNELS:
        raise LensError.bad_argument("kernel", kernel, f"one of {KERNELS}")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise LensError.bad_argument("dtype", dtype, f"one of {tuple(_DTYPES)}")
    if kernel == "rbf":
        _check_rbf_options(threshold, median)
        if batch_size is not None:
            raise LensError.bad_argument("batch_size", batch_size, "None with kernel='rbf' (minibatch CKA is linear)")
        if dtype != "float64":
            raise LensError.bad_argument("dtype", dtype, "'float64' with kernel='rbf' (float32 speeds up linear CKA)")
    debiased, progress = check_flag("debiased", debiased), check_flag("progress", progress)
    within = b is None and layers_b is None
    sa = layer_stack(a, layers, site=site, pool=pool, argument="a")
    sb = sa if within else layer_stack(a if b is None else b, layers_b, site=site, pool=pool, argument="b")
    if b is not None:
        check_same_items(
            sa, sb, "b", "CKA compares two representations of the same items, row by row. Models with different "
            "tokenizers: compare texts (pool='mean') or words, or pass plain arrays whose rows you aligned.",
        )  # fmt: skip
    n = sa.n_items
    minibatch = batch_size is not None
    needs_four = debiased or minibatch
    if needs_four and n < 4:
        raise LensError.bad_argument("a", f"{n} {sa.unit}s", "at least 4 items for debiased or minibatch CKA")
    torch_dtype = _DTYPES[dtype]
    labels = (
        [f"a (layer {la})" for la in sa.layers],
        [f"{'a' if b is None else 'b'} (layer {lb})" for lb in sb.layers],
    )
    from tqdm.auto import tqdm

    if kernel == "rbf":
        steps = len(sa.layers) * (len(sa.layers) + 1) // 2 if within else len(sa.layers) * len(sb.layers)
        with tqdm(total=steps, desc="cka rbf", disable=not progress) as bar:
            values = _rbf_matrix(sa, sb, within, threshold, median, debiased, bar)
    elif minibatch:
        batches = _batches(n, batch_size, seed)
        arrays_b = None if within else sb.arrays
        with tqdm(total=len(batches), desc="cka minibatch", disable=not progress) as bar:
            values = _minibatch_cka(sa.arrays, arrays_b, batches, torch_dtype, within, labels, bar)
    else:
        with tqdm(total=len(sa.layers), desc="cka", disable=not progress) as bar:
            pa = _prepare(sa.arrays, torch_dtype, names=labels[0])
            pb = pa if within else _prepare(sb.arrays, torch_dtype, names=labels[1])
            values = _linear_cka(pa, pb, within=within, debiased=debiased, labels=labels, bar=bar)
    name = f"cka_{kernel}" + ("_minibatch" if minibatch else "_debiased" if debiased else "")
    params = {
        "kernel": kernel,
        "debiased": bool(debiased or minibatch),
        "threshold": float(threshold) if kernel == "rbf" else None,
        "median": median if kernel == "rbf" else None,
        "batch_size": batch_size,
        "seed": seed if minibatch else None,
        "dtype": dtype,
        "estimator": "gram" if kernel == "rbf" else "minibatch" if minibatch else "feature_space",
        "unit": sa.unit,
        "pool": pool,
        "site": site,
        "n_items": n,
    }
    return LayerMatrix(
        name, sa.layers, sb.layers, values, params=params, table=sa.table, unit=sa.unit, models=(sa.model, sb.model)
    )


# ---------------------------------------------------------------------- linear kernel
@dataclass(frozen=True)
class _Prepared:
    """Centred layers side by side (tokens x features), with the row statistics HSIC_1 needs.

    z : (m, sum of widths) tensor, compute dtype; offsets : (L + 1,) columns of z per layer;
    k : (L, m) squared row norms; u : (L, m) X s; ss : (L,) ||s||^2, s = column sums;
    flat : (L,) bool, layers whose rows are all equal to rounding (own-mean centring only).
    The statistics are float64, taken from the float64 values before any rounding.
    """

    z: torch.Tensor
    offsets: np.ndarray
    k: np.ndarray
    u: np.ndarray
    ss: np.ndarray
    flat: np.ndarray

    @property
    def m(self) -> int:
        return int(self.z.shape[0])


def _prepare(arrays: Sequence[np.ndarray], dtype: torch.dtype, rows: np.ndarray | None = None,
             means: Sequence[np.ndarray] | None = None, names: Sequence[str] | None = None,
             scales: Sequence[float] | None = None) -> _Prepared:  # fmt: skip
    """Centre each layer in float64 (on its own mean, or on ``means``), scale it by a power of
    two (its own, or ``scales``) and place it side by side with the others, rounded to the
    compute dtype. ``names`` name the layers in errors.

    The power of two brings the root mean square row norm into [1, 2): exact (no digit
    changes), and CKA does not depend on it, but the fourth powers of the Frobenius norms
    stay in range for data of any scale float64 can square (beyond about 1e76 they would
    overflow and give CKA 0)."""
    widths = [int(a.shape[1]) for a in arrays]
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    m = int(arrays[0].shape[0]) if rows is None else len(rows)
    z = torch.empty((m, int(offsets[-1])), dtype=dtype)
    k, u, ss = np.empty((len(arrays), m)), np.zeros((len(arrays), m)), np.zeros(len(arrays))
    flat = np.zeros(len(arrays), dtype=bool)
    buffer = torch.empty(m * max(widths), dtype=torch.float64)  # one work area, reused layer after layer
    for position, array in enumerate(arrays):  # torch's elementwise loops use every core, numpy's one
        x = buffer[: m * widths[position]].view(m, widths[position])
        x.copy_(_shared_tensor(array if rows is None else array[rows]))
        if means is None:  # centred on its own mean: column sums are 0, so u and ss stay 0
            mean = x.mean(dim=0)
            x.sub_(mean)
            k[position] = torch.einsum("ij,ij->i", x, x).numpy()
            flat[position] = _is_flat(float(k[position].sum()), m * float(mean @ mean))
        else:
            x.sub_(torch.from_numpy(np.asarray(means[position], dtype=np.float64)))
            column_sums = x.sum(dim=0)
            u[position], ss[position] = (x @ column_sums).numpy(), float(column_sums @ column_sums)
            k[position] = torch.einsum("ij,ij->i", x, x).numpy()
        squares = float(k[position].sum())  # over- or underflowed (subnormal squares have lost their digits)
        if not math.isfinite(squares) or (squares < np.finfo(np.float64).tiny and bool(x.any())):
            raise out_of_scale(names[position] if names else "data", np.asarray(array))
        scale = _power_of_two_scale(float(k[position].mean())) if scales is None else scales[position]
        k[position] *= scale * scale
        u[position] *= scale * scale
        ss[position] *= scale * scale
        z[:, offsets[position] : offsets[position + 1]].copy_(x.mul_(scale))
    return _Prepared(z, offsets, k, u, ss, flat)


def _shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A torch view of ``array`` (n, d), to be copied from (torch's copy uses every core),
    where torch can share its memory (native float16/32/64, non-negative strides), else a
    float64 copy. Never written to."""
    array = np.asarray(array)
    shareable = array.dtype in (np.float16, np.float32, np.float64) and array.dtype.isnative
    if shareable and all(stride >= 0 for stride in array.strides):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "not writable" (a memory-mapped store): only read
            return torch.from_numpy(array)
    return torch.from_numpy(np.array(array, dtype=np.float64))


def _power_of_two_scale(mean_square: float) -> float:
    """2^-e with the root of ``mean_square`` times it in [1, 2) (1 for 0)."""
    return 2.0 ** -math.floor(0.5 * math.log2(mean_square)) if mean_square > 0 else 1.0


_FLAT = 2.0**-88  # squared: a spread within ~256 float64 roundings (2^-44) of the mean's size


def _is_flat(centred_square_sum: float, mean_square_sum: float) -> bool:
    """All rows equal up to the rounding of their float64 centring: a spread below about
    6e-14 (2^-44) of the mean's size, or none at all. Rows that differ by more (say by
    1e-4 around 1e6: 1e-10) are centred to about 2e-6 of their spread or better."""
    return not centred_square_sum > _FLAT * mean_square_sum


def _check_flat(flat: np.ndarray, labels: Sequence[str]) -> None:
    if flat.any():
        raise LensError.bad_argument(
            labels[int(np.flatnonzero(flat)[0])],
            "a representation whose rows are all the same (to within float64 rounding of their size)",
            "items that differ (CKA is undefined for a constant representation)",
        )  # fmt: skip


def _cross_sq_norms(pa: _Prepared, pb: _Prepared | None, mode: str, bar: Any = None) -> np.ndarray:
    """||A_i^T B_j||_F^2 for pairs of layers: mode "upper" (B = A, i <= j, mirrored),
    "all" (every i, j) or "diag" (B = A, i = j only; returns a vector)."""
    za, oa = pa.z, pa.offsets
    n_a = len(oa) - 1
    n = za.shape[0]
    step = n if za.dtype == torch.float64 else _BLOCK_ROWS
    out = np.zeros(n_a) if mode == "diag" else np.zeros((n_a, n_a if pb is None else len(pb.offsets) - 1))
    for i in range(n_a):
        rows = za[:, oa[i] : oa[i + 1]]
        if mode == "upper":
            cols, col_offsets, first = za[:, oa[i] :], oa[i:] - oa[i], i
        elif mode == "diag":
            cols, col_offsets, first = rows, oa[i : i + 2] - oa[i], i
        else:
            cols, col_offsets, first = pb.z, pb.offsets, 0
        total = None
        for start in range(0, n, step):
            product = (rows[start : start + step].T @ cols[start : start + step]).numpy()
            if total is None:
                total = product if product.dtype == np.float64 else product.astype(np.float64)
            else:
                np.add(total, product, out=total)  # float32 into float64: numpy's loop is ~2x torch's
        per_column = np.square(total, out=total).sum(axis=0)
        sq = np.add.reduceat(per_column, col_offsets[:-1])
        if mode == "diag":
            out[i] = sq[0]
        else:
            out[i, first:] = sq
            if mode == "upper":
                out[first:, i] = sq
        if bar is not None and mode != "diag":
            bar.update(1)
    return out


def _hsic1(cross: np.ndarray, pa: _Prepared, pb: _Prepared, diagonal: bool = False) -> np.ndarray:
    """Unbiased HSIC (HSIC_1 of Song et al. 2012) of the linear kernels, from feature-space terms."""
    m = pa.m
    if diagonal:
        kl = np.einsum("ij,ij->i", pa.k, pb.k)
        ukl = np.einsum("ij,ij->i", pa.u - pa.k, pb.u - pb.k)
        sums = (pa.ss - pa.k.sum(1)) * (pb.ss - pb.k.sum(1))
    else:
        kl = pa.k @ pb.k.T
        ukl = (pa.u - pa.k) @ (pb.u - pb.k).T
        sums = np.outer(pa.ss - pa.k.sum(1), pb.ss - pb.k.sum(1))
    return (cross - kl + sums / ((m - 1) * (m - 2)) - 2.0 / (m - 2) * ukl) / (m * (m - 3))


def _linear_terms(pa: _Prepared, pb: _Prepared, within: bool, debiased: bool, bar: Any = None):
    """(cross, self_a, self_b): HSIC numerators for all pairs and for each layer with itself."""
    if within:
        cross = _cross_sq_norms(pa, None, "upper", bar)
        self_a = self_b = np.diag(cross).copy()
    else:
        cross = _cross_sq_norms(pa, pb, "all", bar)
        self_a, self_b = _cross_sq_norms(pa, None, "diag"), _cross_sq_norms(pb, None, "diag")
    if debiased:
        return _hsic1(cross, pa, pb), _hsic1(self_a, pa, pa, True), _hsic1(self_b, pb, pb, True)
    return cross, self_a, self_b


def _linear_cka(pa: _Prepared, pb: _Prepared, *, within: bool, debiased: bool, labels: tuple[list, list],
                bar: Any = None) -> np.ndarray:  # fmt: skip
    _check_flat(pa.flat, labels[0])
    _check_flat(pb.flat, labels[1])
    cross, self_a, self_b = _linear_terms(pa, pb, within, debiased, bar)
    return _normalise(cross, self_a, self_b, labels)


def _minibatch_cka(arrays_a, arrays_b, batches, dtype, within, labels, bar) -> np.ndarray:
    means_a = [np.mean(a, axis=0, dtype=np.float64) for a in arrays_a]
    means_b = None if within else [np.mean(b, axis=0, dtype=np.float64) for b in arrays_b]
    # one power of two per layer for every batch (the HSIC terms are summed over batches)
    scales: list[list[float] | None] = [None, None]
    for side, (arrays, means, names) in enumerate(((arrays_a, means_a, labels[0]), (arrays_b, means_b, labels[1]))):
        if arrays is not None:
            spreads = [_centred_square_sum(a, mu, name) for a, mu, name in zip(arrays, means, names)]
            flat = [_is_flat(spread, len(a) * float(mu @ mu)) for spread, a, mu in zip(spreads, arrays, means)]
            _check_flat(np.array(flat), names)
            scales[side] = [_power_of_two_scale(spread / len(a)) for spread, a in zip(spreads, arrays)]
    scales_a, scales_b = scales
    sums = None
    for rows in batches:
        pa = _prepare(arrays_a, dtype, rows, means_a, labels[0], scales_a)
        pb = pa if within else _prepare(arrays_b, dtype, rows, means_b, labels[1], scales_b)
        terms = _linear_terms(pa, pb, within, debiased=True)
        sums = terms if sums is None else tuple(s + t for s, t in zip(sums, terms))
        if bar is not None:
            bar.update(1)
    return _normalise(*sums, labels)


def _centred_square_sum(array: np.ndarray, mean: np.ndarray, name: str) -> float:
    """The float64 sum of squares of ``array - mean`` (n, d); data whose squares leave
    float64's normal range (overflow, or every one below about 1e-308, where they lose
    digits) is refused as out of scale, as :func:`_prepare` refuses it."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        centred = np.asarray(array, dtype=np.float64) - mean
        total = float(np.einsum("ij,ij->", centred, centred))
    if not math.isfinite(total) or (total < np.finfo(np.float64).tiny and centred.any()):
        raise out_of_scale(name, np.asarray(array))
    return total


def _normalise(cross: np.ndarray, self_a: np.ndarray, self_b: np.ndarray, labels: tuple[list, list]) -> np.ndarray:
    for selfs, names in ((self_a, labels[0]), (self_b, labels[1])):
        _check_flat(~(selfs > 0), names)
    return cross / np.sqrt(np.outer(self_a, self_b))


def _batches(n: int, batch_size: Any, seed: int) -> list[np.ndarray]:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 4:
        raise LensError.bad_argument("batch_size", batch_size, "an integer of at least 4 (HSIC_1 needs 4 items)")
    order = np.random.default_rng(check_seed(seed)).permutation(n)
    return [np.sort(part) for part in np.array_split(order, max(1, n // int(batch_size)))]


# ---------------------------------------------------------------------- RBF kernel
def _check_rbf_options(threshold: Any, median: Any) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)) \
            or not math.isfinite(threshold) or threshold <= 0:  # fmt: skip
        raise LensError.bad_argument(
            "threshold", threshold, "a positive finite number (fraction of the median distance)"
        )
    if median not in MEDIANS:
        raise LensError.bad_argument("median", median, f"one of {MEDIANS}")


def _rbf_gram_centred(x: np.ndarray, threshold: float, median: str, debiased: bool, argument: str) -> torch.Tensor:
    """The (n, n) RBF Gram matrix, centred (H K H) or U-centred, scaled to unit Frobenius norm."""
    n = x.shape[0]
    t = torch.from_numpy(np.array(x, dtype=np.float64))
    t -= t.mean(0)
    gram = t @ t.T
    sq = torch.diagonal(gram).clone()
    squares = float(sq.sum())  # over- or underflowed (subnormal squares have lost their digits)
    if not math.isfinite(squares) or (squares < np.finfo(np.float64).tiny and bool(t.any())):
        raise out_of_scale(argument, x)
    d2 = gram.mul_(-2.0).add_(sq[:, None]).add_(sq[None, :]).clamp_(min=0.0)
    d2.fill_diagonal_(0.0)
    values = d2.numpy()
    middle = float(np.median(values if median == "all" else values[values > 0])) if values.any() else 0.0
    if not middle > 0:
        raise LensError.bad_argument(
            argument, f"{n} items whose median squared distance ({median!r} convention) is 0",
            "items that mostly differ (the RBF bandwidth is a fraction of that median)",
            "Drop duplicate rows, or use median='nonzero'.",
        )  # fmt: skip
    # exp(-d2 / 2 sigma^2) - 1: the centring below removes the constant (H 1 1^T H = 0, and the
    # U-centring's too), and expm1 keeps the digits exp rounds away when the bandwidth is wide
    # (threshold 1e8: every exp is 1 to float64, and the centred kernel was rounding noise)
    with np.errstate(over="ignore", under="ignore"):
        coefficient = float(np.float64(0.5) / middle / threshold / threshold)  # 1 / (2 sigma^2)
    kernel = d2.mul_(-coefficient).expm1_() if 0 < coefficient < math.inf else None
    peak = float(kernel.abs().max()) if kernel is not None else 0.0
    if not peak > 0:
        raise LensError.bad_argument(
            "threshold", threshold, f"a bandwidth at which {argument}'s kernel varies in float64 (sigma^2 = "
            "threshold^2 x the median squared distance; as the bandwidth grows, RBF CKA tends to cka_linear)",
        )  # fmt: skip
    kernel.div_(peak)  # CKA does not depend on the kernel's scale: bring it near 1
    if debiased:
        kernel.fill_diagonal_(0.0)
        means = kernel.sum(0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        kernel.sub_(means[:, None]).sub_(means[None, :]).fill_diagonal_(0.0)
    else:
        means = kernel.mean(0)
        kernel.sub_(means[:, None]).sub_(means[None, :]).add_(means.mean())
    norm = torch.linalg.vector_norm(kernel)
    if not norm > 0:
        raise LensError.bad_argument(argument, "a constant representation", "items that differ")
    return kernel.div_(norm)


def _rbf_matrix(sa: LayerStack, sb: LayerStack, within: bool, threshold: float, median: str, debiased: bool,
                bar: Any) -> np.ndarray:  # fmt: skip
    n = sa.n_items
    count = len(sa.layers) + (0 if within else len(sb.layers))
    keep_all = count * n * n * 8 <= _RBF_CACHE_BYTES
    cache: dict[tuple[str, int], torch.Tensor] = {}

    def gram(side: str, position: int) -> torch.Tensor:
        if (side, position) in cache:
            return cache[(side, position)]
        stack = sa if side == "a" else sb
        result = _rbf_gram_centred(
            stack.matrix(position), threshold, median, debiased, f"{side} (layer {stack.layers[position]})"
        )
        if keep_all:
            cache[(side, position)] = result
        return result

    values = np.empty((len(sa.layers), len(sb.layers)))
    for i in range(len(sa.layers)):
        row = gram("a", i)
        for j in range(i if within else 0, len(sb.layers)):
            column = row if within and i == j else gram("a" if within else "b", j)
            values[i, j] = float(torch.dot(row.view(-1), column.view(-1)))
            if within:
                values[j, i] = values[i, j]
            bar.update(1)
    return values


# ---------------------------------------------------------------------- input checks
def _pair(x: Any, y: Any, min_rows: int, needs: str = "") -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as float64 (n, d) matrices with the same n >= ``min_rows``;
    ``needs`` names what needs that many rows in the error (e.g. "the debiased estimator")."""
    if needs:
        for name, value in (("x", x), ("y", y)):
            shape = getattr(value, "shape", None)
            if shape is not None and len(shape) == 2 and shape[0] < min_rows:
                raise LensError.bad_argument(name, value, f"at least {min_rows} rows ({needs} needs {min_rows} items)")
    x_ = as_matrix(x, "x", min_rows=min_rows)
    y_ = as_matrix(y, "y", min_rows=min_rows)
    if x_.shape[0] != y_.shape[0]:
        raise LensError.bad_argument("y", y_, f"{x_.shape[0]} rows, one per row of x (the same items)")
    return x_, y_
