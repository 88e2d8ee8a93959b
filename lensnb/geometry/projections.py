"""2-D projections of every layer (PCA, joint PCA, ICA, t-SNE, UMAP), aligned across layers.

``project`` maps the same items at every layer to the plane, one layer at a time, so
that a layer slider can show how the representation changes. Independent projections
come out in arbitrary orientations (a sign flip or a rotation makes the whole cloud jump
between two layers); by default consecutive layers are therefore aligned with
orthogonal Procrustes (:mod:`lensnb.geometry.alignment`), and the effect is measured.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.flags import check_flag
from lensnb.geometry.alignment import align_layers, layer_displacement
from lensnb.geometry.inputs import LayerStack, check_seed, layer_stack, power_of_two_scaled
from lensnb.geometry.results import Projection

__all__ = ["project", "principal_axes", "joint_principal_axes", "METHODS"]

METHODS = ("pca", "pca_joint", "ica", "tsne", "umap")

_log = logging.getLogger(__name__)

# Options each method fills in when the caller leaves them out (recorded in ``params``).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "pca": {},
    "pca_joint": {},
    "ica": {"whiten": "unit-variance"},
    "tsne": {"perplexity": 30.0, "init": "pca"},
    "umap": {"n_neighbors": 15, "min_dist": 0.1, "init": "spectral"},
}
_SET_BY_PROJECT = {"n_components": "always 2", "random_state": "use seed=", "verbose": "use progress="}
_UMAP_HINT = 'Install it with: pip install "lensnb[umap]"'


def project(
    data: Any,
    method: str = "pca",
    *,
    layers: Sequence[int] | int | None = None,
    site: str | None = None,
    pool: str | None = None,
    align: bool = True,
    seed: int | None = 0,
    progress: bool = True,
    **method_options: Any,
) -> Projection:
    """Project the items of every layer to 2-D, aligned from layer to layer.

    Parameters
    ----------
    data : Activations, array of shape (layer, item, dim), or sequence of (item, dim) arrays
        One (item, dim) array is taken as one layer.
        numpy arrays or torch tensors (see :func:`lensnb.geometry.inputs.layer_stack`).
    method : {"pca", "pca_joint", "ica", "tsne", "umap"}
        - ``"pca"``: principal component analysis of each layer on its own (the first
          two components; exact, by an eigendecomposition of the d x d scatter matrix,
          or of the n x n Gram matrix when d > n; float32 products for float32 or
          float16 states, see :func:`principal_axes`). Each component's sign is fixed so
          that its largest loading is positive (scikit-learn's convention), so the
          result is deterministic even with ``align=False``.
        - ``"pca_joint"``: one PCA fitted on the rows of all the chosen layers stacked,
          every layer projected onto the same two axes (same sign convention).
        - ``"ica"``: :class:`sklearn.decomposition.FastICA` with 2 components per layer,
          ``whiten="unit-variance"``, seeded. With 2 components FastICA first whitens
          onto the top two principal components, so its map is PCA's plane, scaled to
          unit variance and rotated towards the least Gaussian directions.
        - ``"tsne"``: :class:`sklearn.manifold.TSNE` per layer (Barnes-Hut, 2
          components, ``perplexity=30``, ``init="pca"`` by default), seeded. About 30-45
          s per layer for 10k points on 2 cores. The seed matters with either init:
          ``init="random"`` draws the start from it, and ``init="pca"`` starts from a
          PCA that scikit-learn solves with a randomised solver on mid-sized layers
          (more than 500 points and fewer than 10 x dim of them): on 800 MiniLM tokens,
          seeds 0 and 1 gave maps up to 72.5 apart (spread 26.6). The same seed
          reproduces a map bit for bit; ``seed=None`` does not.
        - ``"umap"``: :class:`umap.UMAP` per layer (optional dependency umap-learn;
          ``n_neighbors=15``, ``min_dist=0.1``, ``init="spectral"`` by default). A
          seed makes UMAP single-threaded; ``seed=None`` lets it use every core, at
          the price of reproducibility. The first UMAP fit in a Python process
          compiles numba code for about 40 s (a note says so in the progress bar).
    layers : int or sequence of int, optional
        Model layers (for arrays: positions along the first axis). Default: all.
    site : str, optional
        Which site of an Activations holding several; default the only one. The site
        projected is recorded in ``params["site"]`` (None for plain arrays).
    pool : {"mean", "max", "first", "last", "cls"}, optional
        Pool token-level Activations into one vector per text first.
    align : bool
        Align consecutive layers (default). Orthogonal Procrustes with centring,
        reflections allowed, no scaling: layer ``l + 1`` is rotated/reflected onto the
        already aligned layer ``l``, chained from the **first** chosen layer, which
        keeps its own orientation (for PCA: PC1 along x) and centroid. Every layer keeps
        its own spread (rigid transform; see Notes). With ``pca_joint`` the layers
        already share one basis; ``align=True`` still aligns them the same way as for
        every other method (it then removes the drift of the centroid and any rotation
        between layers); pass ``align=False`` to keep the shared basis as fitted.
    seed : int or None
        Seed of every random choice (ICA, t-SNE, UMAP; PCA is deterministic). The same
        seed gives identical coordinates. ``None``: unseeded.
    progress : bool
        Show a progress bar over the layers (tqdm).
    **method_options
        Passed to the estimator: ``FastICA`` options for ``"ica"`` (e.g. ``max_iter``),
        ``TSNE`` options for ``"tsne"`` (e.g. ``perplexity``, ``max_iter``,
        ``learning_rate``; its ``method`` is ``tsne_method``), ``UMAP`` options for ``"umap"`` (e.g. ``n_neighbors``,
        ``min_dist``, ``metric``). ``"pca"`` and ``"pca_joint"`` take none.
        ``n_components``, ``random_state`` and ``verbose`` are set by ``project``.

    Returns
    -------
    Projection
        ``coordinates`` float32 of shape (n_layers, n_items, 2); ``displacement`` and
        ``displacement_unaligned`` of shape (n_layers - 1,) (equal when ``align`` is
        off); ``params`` with ``seed``, ``align``, ``reference_layer`` and the method's
        options; the item table of ``data``.

    Raises
    ------
    LensError
        For an unknown method or option, an option value the estimator refuses (named
        ``method_options``, with the estimator's own words), a missing layer, NaN /
        infinite values, data that is neither (layer, item, dim) nor (item, dim), too few items for the
        method (e.g. t-SNE ``perplexity >= n_items``, UMAP ``n_neighbors >= n_items``),
        fewer than 2 features for PCA/ICA (or t-SNE's ``init="pca"``), a layer whose
        items are all the same (t-SNE, UMAP, ICA) or vary along one direction only
        (ICA), PCA coordinates that float32 cannot hold (beyond about 1e38 or below
        about 1e-38 in magnitude), ``site`` for plain arrays, ``pool`` for Activations
        that are not token-level, or umap-learn not installed.

    Notes
    -----
    Any scale float64 holds works. Where a layer's values or spread lie outside
    [2**-40, 2**40] (where float32 products would overflow or underflow), PCA finds its
    axes on the layer multiplied by a power of two (exact: the same axes), and ICA,
    t-SNE and UMAP, whose maps ignore translation and scale, get the layer centred and
    multiplied by a power of two. Data inside that range is used as it is.

    Scale is not matched between layers. A layer's spread is information (the residual
    stream's norm grows with depth; t-SNE's scale grows with the number of points), and
    a view can still normalise a layer in one line (divide by its root mean square
    distance to the centroid) whereas a normalisation done here could not be undone.
    Scaling would not change the fitted rotation anyway. ``displacement`` is measured in
    units of the spread (:func:`lensnb.geometry.alignment.layer_displacement`), so it is
    comparable across layers and methods whatever their units.

    With ``align=True`` the axes of every layer but the first are rotated combinations
    of that layer's own axes (for PCA: of its PC1 and PC2).

    No warm start. Some tools initialise layer ``l + 1``'s t-SNE/UMAP from layer
    ``l``'s embedding (``init="previous"``). It was tried here and left out: both
    objectives are invariant to rotation, and the layout turned during optimisation
    (two separated clusters, started from the previous layer's map, came out rotated
    by about 90 degrees with t-SNE, whose init is shrunk to a standard deviation of
    1e-4, on identical distances, and by about 35 degrees with UMAP on a slightly noisy
    copy); on 2,000 MiniLM tokens (layers 3-6), after Procrustes, it
    changed the displacement from 0.72-0.94 to 0.75-0.97 (t-SNE) and from 0.76-0.97 to
    0.53-0.96 (UMAP) with the same trustworthiness; and it would make a layer's map
    depend on which layers were projected before it. Procrustes after the fact is
    exact for the part that is a rigid motion.

    References
    ----------
    Pearson, K. (1901). On lines and planes of closest fit to systems of points in
    space. Philosophical Magazine 2(11), 559-572 (PCA).
    van Aken, B. et al. (2019). How does BERT answer questions? A layer-wise analysis
    of transformer representations. CIKM 2019 (per-layer and joint PCA of token states).
    Hyvärinen, A. and Oja, E. (2000). Independent component analysis: algorithms and
    applications. Neural Networks 13(4-5), 411-430 (FastICA).
    van der Maaten, L. and Hinton, G. (2008). Visualizing data using t-SNE. JMLR 9,
    2579-2605; van der Maaten, L. (2014). Accelerating t-SNE using tree-based
    algorithms. JMLR 15, 3221-3245 (Barnes-Hut).
    McInnes, L., Healy, J. and Melville, J. (2018). UMAP: Uniform manifold
    approximation and projection for dimension reduction. arXiv:1802.03426.
    Schönemann, P. H. (1966). A generalized solution of the orthogonal Procrustes
    problem. Psychometrika 31(1), 1-10 (the alignment).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> states = rng.normal(size=(3, 100, 16))
    >>> projection = project(states, "pca", progress=False)
    >>> projection.coordinates.shape, projection.coordinates.dtype
    ((3, 100, 2), dtype('float32'))
    """
    if not isinstance(method, str) or method not in METHODS:
        raise LensError.bad_argument("method", method, f"one of {METHODS}")
    align, progress = check_flag("align", align), check_flag("progress", progress)
    seed = None if seed is None else check_seed(seed)
    stack = layer_stack(data, layers, site=site, pool=pool)
    options = _resolve_options(method, method_options, stack)
    _check_spread(method, stack)

    from tqdm.auto import tqdm

    with tqdm(total=len(stack.layers), desc=f"project {method}", unit="layer", disable=not progress) as bar:
        try:
            raw = _PROJECTORS[method](stack, options, seed, bar)  # (n_layers, n_items, 2) float64
        except (ValueError, TypeError) as error:
            refused = type(error).__name__ == "InvalidParameterError"  # scikit-learn's, for an option value
            if not (refused or method_options):
                raise  # no option of the user's behind it: a fault to report, not to dress up as theirs
            message = str(error).replace("'method' parameter", "'tsne_method' option")
            raise LensError.bad_argument(
                "method_options",
                method_options or options,
                f"values the {method} estimator accepts",
                f"It said: {type(error).__name__}: {message}",
            ) from None
    if method in ("pca", "pca_joint"):
        _check_coordinates(raw, stack)

    unaligned = layer_displacement(raw)
    if align:
        coordinates = align_layers(raw, reference=0)
        displacement = layer_displacement(coordinates)
    else:
        coordinates, displacement = raw, unaligned.copy()
    params = {
        "seed": seed,
        "align": bool(align),
        "reference_layer": stack.layers[0] if align else None,
        "site": data._site(site) if isinstance(data, Activations) else None,
        "pool": pool,
        **options,
    }
    return Projection(
        method=method,
        layers=stack.layers,
        coordinates=np.ascontiguousarray(coordinates, dtype=np.float32),
        params=params,
        table=stack.table,
        unit=stack.unit,
        displacement=displacement,
        displacement_unaligned=unaligned,
    )


# --- PCA: pure functions ------------------------------------------------------------


def principal_axes(x: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and leading principal axes of one (n_items, dim) matrix.

    Parameters
    ----------
    x : ndarray, shape (n_items, dim)
    n_components : int

    Returns
    -------
    mean : ndarray of float64, shape (dim,)
    axes : ndarray of float64, shape (dim, n_components)
        Orthonormal columns, by decreasing variance, each with its largest-magnitude
        entry positive (scikit-learn's convention). Project with ``(x - mean) @ axes``.
        A column is zero where the data has fewer than ``n_components`` directions of
        non-zero variance and ``dim > n_items``.

    Notes
    -----
    Exact: the top eigenvectors of the scatter matrix ``X_c^T X_c`` (dim x dim) when
    ``dim <= n_items``, else obtained from the Gram matrix ``X_c X_c^T`` (n x n) as
    ``X_c^T u / sqrt(lambda)``; both equal the right singular vectors of the centred
    data. The mean and the eigendecomposition are float64; the centring and the matrix
    product run in float32 when ``x`` is float32 or float16 (as scikit-learn's PCA
    does: half the time; on MiniLM states the scores then agree with an all-float64
    computation to about 1e-6 relative), else in float64.

    References
    ----------
    Pearson, K. (1901). On lines and planes of closest fit to systems of points in
    space. Philosophical Magazine 2(11), 559-572.
    """
    x = np.asarray(x)
    dtype = _work_dtype([x])
    mean = x.mean(axis=0, dtype=np.float64)
    return mean, _axes_of_centred(np.asarray(x, dtype=dtype) - mean.astype(dtype), n_components)


def joint_principal_axes(layers: Sequence[np.ndarray], n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and principal axes of the rows of several (n_items, dim) matrices stacked.

    Equivalent to :func:`principal_axes` of ``np.concatenate(layers)``, computed one
    layer at a time (the stacked copy is never made unless ``dim`` exceeds the total
    number of rows); the per-layer scatter matrices are summed in float64.

    Parameters
    ----------
    layers : sequence of ndarray, each of shape (n_i, dim)

    Returns
    -------
    mean : ndarray of float64, shape (dim,)
    axes : ndarray of float64, shape (dim, n_components)

    References
    ----------
    van Aken, B. et al. (2019). How does BERT answer questions? A layer-wise analysis
    of transformer representations. CIKM 2019 (one PCA over the states of all layers).
    """
    rows = sum(int(layer.shape[0]) for layer in layers)
    dim = int(layers[0].shape[1])
    if dim > rows:
        return principal_axes(np.concatenate([np.asarray(a, dtype=np.float64) for a in layers]), n_components)
    dtype = _work_dtype(layers)
    mean = sum(np.asarray(a).sum(axis=0, dtype=np.float64) for a in layers) / rows
    spread = max(_spread(np.asarray(a), mean) for a in layers)
    factor = 1.0 if _well_spread(spread) else 2.0 ** -int(np.frexp(spread)[1])  # exact; the axes ignore the scale
    scatter = np.zeros((dim, dim))
    for layer in layers:
        centred = np.asarray(layer, dtype=dtype) - mean.astype(dtype)
        if factor != 1.0:
            centred *= dtype(factor)
        scatter += centred.T @ centred
    return mean, _fix_signs(_top_eigenpairs(scatter, n_components)[1])


#: Spreads (largest distance of a coordinate from its mean) that float32 products handle as they are.
_WELL_SPREAD = (2.0**-40, 2.0**40)


def _spread(x: np.ndarray, mean: np.ndarray | None = None) -> float:
    """The largest |x - mean| over the entries of ``x`` (rows centred on ``mean``, default 0)."""
    if x.size == 0:
        return 0.0
    mean = np.zeros(x.shape[1]) if mean is None else mean
    return float(np.max(np.maximum(x.max(axis=0) - mean, mean - x.min(axis=0))))


def _well_spread(spread: float) -> bool:
    """Whether data of this spread can be multiplied as it is (a zero spread has nothing to scale)."""
    return spread == 0.0 or _WELL_SPREAD[0] <= spread <= _WELL_SPREAD[1]


def _fit_input(stack: LayerStack, position: int, dtype: Any) -> np.ndarray:
    """The layer at ``position`` for ICA, t-SNE and UMAP, whose maps ignore translation and scale:
    as it is, or, when its values or spread lie outside [2**-40, 2**40], centred (in float64)
    and multiplied by a power of two, so that the estimator's float32 distances and products
    neither overflow nor underflow."""
    x = np.asarray(stack.arrays[position])
    mean = x.mean(axis=0, dtype=np.float64)
    spread = _spread(x, mean)
    if _well_spread(spread) and float(np.abs(mean).max()) + spread <= _WELL_SPREAD[1]:
        return stack.matrix(position, dtype=dtype)
    return np.ascontiguousarray(power_of_two_scaled(np.asarray(x, dtype=np.float64) - mean), dtype=dtype)


def _check_coordinates(raw: np.ndarray, stack: LayerStack) -> None:
    """Refuse PCA maps (in the data's units) that float32 cannot hold: shape (layer, item, 2)."""
    peaks = np.abs(raw).max(axis=(1, 2))
    limits = np.finfo(np.float32)
    bad = ~np.isfinite(peaks) | (peaks > float(limits.max) / 4) | ((peaks > 0) & (peaks < float(limits.tiny)))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise LensError.bad_argument(
            f"data (layer {stack.layers[position]})", f"PCA coordinates up to {peaks[position]:.3g} in magnitude",
            "coordinates float32 holds (about 1e-38 to 1e38 in magnitude): PCA maps are in the data's own units",
            "Multiply the data by a constant first, or use method='ica', 'tsne' or 'umap', whose maps ignore the scale.",
        )  # fmt: skip


def _work_dtype(arrays: Sequence[np.ndarray]) -> type:
    """float32 when every array is float32 or float16, else float64."""
    low = all(np.issubdtype(a.dtype, np.floating) and a.dtype.itemsize <= 4 for a in arrays)
    return np.float32 if low else np.float64


def _axes_of_centred(centred: np.ndarray, n_components: int) -> np.ndarray:
    """Principal axes (dim, n_components), float64, of already centred rows, signs fixed.

    Rows whose spread lies outside [2**-40, 2**40] are first multiplied by a power of two
    (exact; the axes do not depend on the scale), so that the products neither overflow
    nor underflow."""
    n, dim = centred.shape
    if not _well_spread(_spread(centred)):
        centred = power_of_two_scaled(centred)
    if dim <= n:
        axes = _top_eigenpairs((centred.T @ centred).astype(np.float64), n_components)[1]
    else:
        values, vectors = _top_eigenpairs((centred @ centred.T).astype(np.float64), n_components)
        axes = centred.T.astype(np.float64) @ vectors
        norms = np.linalg.norm(axes, axis=0)
        tiny = values <= values.max(initial=0.0) * n * np.finfo(centred.dtype).eps
        axes = np.where(tiny, 0.0, axes / np.where(norms > 0, norms, 1.0))
    return _fix_signs(axes)


#: Largest matrix whose eigenpairs are found on one BLAS thread (see :func:`_top_eigenpairs`).
_ONE_THREAD_EIGH = 1024


def _top_eigenpairs(symmetric: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenvalues and their vectors of a symmetric (size, size) matrix, largest first.

    Up to :data:`_ONE_THREAD_EIGH` rows, on one BLAS thread: scipy's LAPACK runs on its own
    OpenBLAS, apart from numpy's, and on a 2-core machine the threads one library leaves
    spinning after a call slow the other's next product (on MiniLM's 384 x 384 scatter
    matrices, one thread for the eigenpairs made PCA of 7 layers 2.2x faster here: 0.38 s against 0.85 s).
    """
    from threadpoolctl import threadpool_limits

    size = symmetric.shape[0]
    k = min(k, size)
    threads = 1 if size <= _ONE_THREAD_EIGH else None
    with threadpool_limits(limits=threads, user_api="blas"):
        values, vectors = scipy.linalg.eigh(symmetric, subset_by_index=[size - k, size - 1])
    return values[::-1], vectors[:, ::-1]


def _fix_signs(axes: np.ndarray) -> np.ndarray:
    """Flip each column so that its largest-magnitude entry is positive."""
    largest = axes[np.argmax(np.abs(axes), axis=0), np.arange(axes.shape[1])]
    return axes * np.where(largest < 0, -1.0, 1.0)


# --- the five methods over a LayerStack ----------------------------------------------


def _pca(stack: LayerStack, options: dict, seed: int | None, bar: Any) -> np.ndarray:
    out = np.empty((len(stack.layers), stack.n_items, 2))
    dtype = _work_dtype(stack.arrays)
    for position in range(len(stack.layers)):
        x = stack.matrix(position, dtype=dtype)
        centred = x - x.mean(axis=0, dtype=np.float64).astype(dtype)
        out[position] = centred @ _axes_of_centred(centred, 2).astype(dtype)
        bar.update(1)
    return out


def _pca_joint(stack: LayerStack, options: dict, seed: int | None, bar: Any) -> np.ndarray:
    mean, axes = joint_principal_axes(stack.arrays)
    dtype = _work_dtype(stack.arrays)
    out = np.empty((len(stack.layers), stack.n_items, 2))
    for position in range(len(stack.layers)):
        out[position] = (stack.matrix(position, dtype=dtype) - mean.astype(dtype)) @ axes.astype(dtype)
        bar.update(1)
    return out


def _ica(stack: LayerStack, options: dict, seed: int | None, bar: Any) -> np.ndarray:
    from sklearn.decomposition import FastICA

    out = np.empty((len(stack.layers), stack.n_items, 2))
    for position in range(len(stack.layers)):
        model = FastICA(n_components=2, random_state=seed, **options)
        out[position] = model.fit_transform(_fit_input(stack, position, np.float64))
        bar.update(1)
    return out


def _tsne(stack: LayerStack, options: dict, seed: int | None, bar: Any) -> np.ndarray:
    from sklearn.manifold import TSNE

    settings = {("method" if name == "tsne_method" else name): value for name, value in options.items()}

    def fit(x: np.ndarray) -> np.ndarray:
        return TSNE(n_components=2, random_state=seed, **settings).fit_transform(x)

    return _per_layer(stack, fit, bar)


def _umap(stack: LayerStack, options: dict, seed: int | None, bar: Any) -> np.ndarray:
    umap = _import_umap()  # already imported (and checked) by _resolve_options
    note = "the first UMAP fit in a process compiles numba code (~40 s)"
    _log.info("UMAP: %s", note)
    bar.set_postfix_str(note)
    threads = {} if seed is None else {"n_jobs": 1}  # a seed makes UMAP single-threaded anyway

    def fit(x: np.ndarray) -> np.ndarray:
        embedding = umap.UMAP(n_components=2, random_state=seed, **{**threads, **options}).fit_transform(x)
        bar.set_postfix_str("")
        return embedding

    return _per_layer(stack, fit, bar)


def _per_layer(stack: LayerStack, fit: Any, bar: Any) -> np.ndarray:
    out = np.empty((len(stack.layers), stack.n_items, 2))
    for position in range(len(stack.layers)):
        out[position] = fit(_fit_input(stack, position, np.float32))
        bar.update(1)
    return out


_PROJECTORS = {"pca": _pca, "pca_joint": _pca_joint, "ica": _ica, "tsne": _tsne, "umap": _umap}


def _check_spread(method: str, stack: LayerStack) -> None:
    """Refuse layers the method cannot embed: all rows equal (t-SNE, UMAP, ICA; scikit-learn's
    t-SNE can crash the process on them), or fewer than 2 directions of variance (ICA)."""
    if method in ("pca", "pca_joint"):
        return  # any spread, none included, has principal axes (zero ones for none)
    for position, layer in enumerate(stack.layers):
        x = np.asarray(stack.arrays[position])
        if not (x != x[:1]).any():
            raise LensError.bad_argument(
                f"data (layer {layer})", "a layer whose rows are all the same",
                f"items that differ, for method={method!r}", "Leave the layer out with `layers=`, or use method='pca'.",
            )  # fmt: skip
        if method == "ica":
            dtype = _work_dtype([x])
            centred = power_of_two_scaled(x.astype(dtype) - x.mean(axis=0, dtype=np.float64).astype(dtype))
            scatter = (centred.T @ centred) if centred.shape[1] <= centred.shape[0] else (centred @ centred.T)
            values = _top_eigenpairs(scatter.astype(np.float64), 2)[0]
            if values[1] <= values[0] * max(centred.shape) * np.finfo(dtype).eps:
                raise LensError.bad_argument(
                    f"data (layer {layer})", "a layer whose items vary along one direction only",
                    "items that vary along at least 2 directions, for method='ica'",
                    "Leave the layer out with `layers=`, or use method='pca'.",
                )  # fmt: skip


def _import_umap() -> Any:
    try:
        import umap
    except ImportError as error:
        raise LensError.bad_argument(
            "method", "umap", "a method whose dependency is installed (umap-learn is missing)", _UMAP_HINT
        ) from error
    return umap


# --- options ------------------------------------------------------------------------


def _resolve_options(method: str, given: dict[str, Any], stack: LayerStack) -> dict[str, Any]:
    """The method's options with defaults filled in, checked against the data."""
    for name, how in _SET_BY_PROJECT.items():
        if name in given:
            raise LensError.bad_argument(name, given[name], f"not given: project sets it ({how})")
    options = {**_DEFAULTS[method], **given}
    n = stack.n_items
    dims = {int(array.shape[1]) for array in stack.arrays}
    if method in ("pca", "pca_joint"):
        if given:
            raise LensError.bad_argument(", ".join(given), given, f"no options for method={method!r}")
        if method == "pca_joint" and len(dims) > 1:
            raise LensError.bad_argument("data", f"layers of widths {sorted(dims)}", "one width for pca_joint")
    if method in ("pca", "pca_joint", "ica") and min(dims) < 2:
        raise LensError.bad_argument("data", f"{min(dims)} feature(s)", f"at least 2 features for method={method!r}")
    if method == "ica":
        _check_names(options, _estimator_parameters("sklearn.decomposition", "FastICA"), method)
        if options["whiten"] not in ("unit-variance", "arbitrary-variance"):  # False would keep every dimension
            raise LensError.bad_argument("whiten", options["whiten"], "'unit-variance' or 'arbitrary-variance'")
        if n < 3:
            raise LensError.bad_argument("data", f"{n} items", "at least 3 items for method='ica'")
    if method == "tsne":
        # TSNE's own `method` (barnes_hut / exact) cannot share project's name: it is `tsne_method`
        accepted = _estimator_parameters("sklearn.manifold", "TSNE") - {"method"} | {"tsne_method"}
        _check_names(options, accepted, method)
        _check_init(options["init"], ("pca", "random"))
        if options["init"] == "pca" and min(dims) < 2:
            raise LensError.bad_argument(
                "init", "pca", "'random' for data with one feature (init='pca' starts from 2 principal components)"
            )
        perplexity = options["perplexity"]
        if (
            isinstance(perplexity, (bool, np.bool_))
            or not isinstance(perplexity, (int, float, np.number))
            or not 0 < perplexity < n
        ):
            raise LensError.bad_argument(
                "perplexity", perplexity, f"a number in (0, n_items) = (0, {n})", "Lower perplexity or pass more items."
            )
        options["perplexity"] = perplexity.item() if isinstance(perplexity, np.number) else perplexity
    if method == "umap":
        _check_names(options, _estimator_parameters("umap", "UMAP"), method)
        _check_init(options["init"], ("spectral", "pca", "random", "tswspectral"))
        k = options["n_neighbors"]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k < n:
            raise LensError.bad_argument(
                "n_neighbors", k, f"an integer in [2, n_items) = [2, {n})", "Lower n_neighbors or pass more items."
            )
    return options


def _estimator_parameters(module: str, name: str) -> set[str]:
    if module == "umap":
        estimator = _import_umap().UMAP
    else:
        import importlib

        estimator = getattr(importlib.import_module(module), name)
    return set(inspect.signature(estimator).parameters) - set(_SET_BY_PROJECT)


def _check_names(options: dict[str, Any], accepted: set[str], method: str) -> None:
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise LensError.bad_argument(
            ", ".join(unknown), {k: options[k] for k in unknown}, f"options of method={method!r}: {sorted(accepted)}"
        )


def _check_init(init: Any, accepted: tuple[str, ...]) -> None:
    if isinstance(init, str) and init == "previous":
        raise LensError.bad_argument(
            "init", init, f"one of {accepted}", "Warm starts from the previous layer are not offered (see the Notes of "
            "lensnb.geometry.projections.project); align=True aligns consecutive layers instead."
        )  # fmt: skip
    if not isinstance(init, str) or init not in accepted:
        raise LensError.bad_argument("init", init, f"one of {accepted}")
