"""Intrinsic dimension: TwoNN (Facco et al. 2017), its scale analysis, and GRIDE.

The estimators work on neighbour distances only: TwoNN on the ratio of each point's
second to first nearest-neighbour distance, GRIDE on the ratio of its 2n-th to n-th.
Distances come from :mod:`lensnb.geometry.neighbors` (exact, float64), so one search
per layer serves every estimator and the neighbourhood overlaps.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from lensnb.errors import LensError
from lensnb.flags import check_flag
from lensnb.geometry.inputs import check_integer, check_seed, layer_stack
from lensnb.geometry.neighbors import NeighborCache, Neighbors
from lensnb.geometry.results import LayerProfile

__all__ = [
    "twonn_from_ratios",
    "twonn",
    "gride_from_ratios",
    "intrinsic_dimension",
    "intrinsic_dimension_scaling",
    "TWONN_FITS",
    "MIN_SUBSET_POINTS",
]

TWONN_FITS = ("base", "ml")
DUPLICATES = ("drop", "raise")

#: Fewest points per decimated subset that :func:`intrinsic_dimension` takes without a
#: warning. TwoNN's spread from one random sample to the next is about ID / sqrt(N)
#: (simulated on Gaussian data of dimension 5 and 10 with fraction 0.98: 11-14% of the
#: ID at 100 points, 26-36% at 15), and the subsets' mean moves with the scale.
MIN_SUBSET_POINTS = 100


def twonn_from_ratios(mu: np.ndarray, fraction: float = 0.9, fit: str = "base") -> float:
    """TwoNN intrinsic dimension from the ratios mu_i = r2_i / r1_i.

    Parameters
    ----------
    mu : ndarray of float64, shape (n_points,)
        Ratios of second to first nearest-neighbour distance, finite and >= 1 (a tie
        r1 = r2 gives 1; duplicates, r1 = 0, must be dropped first), not all 1.
    fraction : float
        Base fit: the share of the smallest ratios kept (0.9 discards the largest 10%),
        in (0, 1]; checked but unused by the ML fit.
    fit : {"base", "ml"}
        ``"base"``: least squares through the origin of y_i = -log(1 - i/N) on x_i =
        log mu_(i), i = 1..int(N * fraction), over the sorted ratios, denominator N (not
        the number kept): d = sum(x y) / sum(x^2). At most N - 1 points are kept: the
        last one's y = -log(0) is infinite, so fraction = 1 fits i = 1..N-1 (DADApy
        switches to the ML fit there instead). ``"ml"``: the maximum-likelihood
        estimate d = (N - 1) / sum(log mu) over all points.

    Returns
    -------
    float

    References
    ----------
    Facco, d'Errico, Rodriguez & Laio (2017), "Estimating the intrinsic dimension of
    datasets by a minimal neighborhood information", Sci. Rep. 7, 12140, Eq. (4)-(5)
    (empirical cumulative F(mu) = i/N and the linear fit of -log(1 - F) on log mu).
    """
    try:
        mu = np.asarray(mu, dtype=np.float64)
    except (TypeError, ValueError):
        raise LensError.bad_argument("mu", mu, "a 1-D array of ratios r2 / r1 >= 1") from None
    if mu.ndim != 1 or len(mu) < 3:
        raise LensError.bad_argument("mu", mu, "a 1-D array of at least 3 ratios")
    if not (np.isfinite(mu).all() and (mu >= 1.0).all()):
        bad = mu[~(np.isfinite(mu) & (mu >= 1.0))]
        raise LensError.bad_argument(
            "mu", f"{len(bad)} ratio(s) that are not finite or below 1 (first: {float(bad[0])})",
            "finite ratios r2 / r1 >= 1 (duplicates, r1 = 0, dropped beforehand)",
        )  # fmt: skip
    _check_fit_arguments(fraction, fit, len(mu))
    _check_fit_defined(mu, fraction, fit, "mu")
    return float(_fit_log_ratios(np.log(mu)[None, :], fraction, fit)[0])


def _check_fit_arguments(fraction: float, fit: str, n: int) -> None:
    """Refuse an unknown ``fit``, or a ``fraction`` outside (0, 1] or keeping fewer than 2 of ``n`` points."""
    if fit not in TWONN_FITS:
        raise LensError.bad_argument("fit", fit, f"one of {TWONN_FITS}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.number)) or not 0 < fraction <= 1:
        raise LensError.bad_argument("fraction", fraction, "a number in (0, 1]")
    if fit == "base" and int(n * fraction) < 2:
        raise LensError.bad_argument("fraction", fraction, f"a fraction keeping at least 2 of the {n} points")


def _check_fit_defined(mu: np.ndarray, fraction: float, fit: str, argument: str) -> None:
    """Refuse ratios (n,) whose fit is 0 / 0: all 1 (ML fit), or all 1 among those the base fit keeps.

    mu = 1 where a point's first two neighbours are at the same distance (a lattice,
    rounded data); the base fit keeps the smallest ratios, so ties fill it first."""
    n, ties = len(mu), int((mu == 1.0).sum())
    kept = n if fit == "ml" else min(int(n * fraction), n - 1)
    if ties >= kept:
        raise LensError.bad_argument(
            argument, f"{ties} of {n} ratios r2 / r1 equal to 1",
            f"a ratio above 1 among the {kept} the {fit!r} fit keeps (it is 0 / 0 otherwise)",
            "A ratio of 1 means a point's first two neighbours are at the same distance, as in lattice-like or "
            "rounded data. Keep more points (a larger fraction), use fit='ml', or add noise at the data's "
            "resolution.",
        )  # fmt: skip


def _fit_log_ratios(log_mu: np.ndarray, fraction: float, fit: str, presorted: bool = False) -> np.ndarray:
    """The fits of :func:`twonn_from_ratios` on each row of ``log_mu`` (r, n_points)
    (validated arguments; ``presorted``: each row ascending already): shape (r,)."""
    n = log_mu.shape[1]
    if fit == "ml":
        return (n - 1) / log_mu.sum(axis=1)
    kept = min(int(n * fraction), n - 1)  # -log(0) for the last point: Facco et al. never keep it
    x = (log_mu if presorted else np.sort(log_mu, axis=1))[:, :kept]
    y = -np.log(1.0 - np.arange(1, kept + 1, dtype=np.float64) / n)
    return (x @ y) / np.einsum("ij,ij->i", x, x)


def twonn(
    x: Any,
    *,
    fraction: float = 0.9,
    fit: str = "base",
    duplicates: str = "drop",
    cache: NeighborCache | None = None,
) -> float:
    """TwoNN intrinsic dimension of one (n_points, dim) matrix.

    Parameters
    ----------
    x : ndarray or tensor, shape (n_points, dim)
    fraction, fit
        See :func:`twonn_from_ratios`.
    duplicates : {"drop", "raise"}
        Points that are copies of one another (r1 = 0, mu undefined): ``"drop"`` counts
        each distinct point once, as if the data had been deduplicated (keeping each
        point's first occurrence) before the search, with a warning that gives the
        number of copies left out; ``"raise"`` refuses them. See
        :func:`distinct_point_neighbors`.
    cache : NeighborCache, optional
        Reuses (and fills) the neighbour search.

    Returns
    -------
    float
    """
    _check_choice("duplicates", duplicates, DUPLICATES)
    stack = layer_stack(x, argument="x")
    if len(stack.arrays) != 1:
        raise LensError.bad_argument("x", x, "one (n_points, dim) matrix")
    matrix = np.asarray(stack.arrays[0])
    neighbors, _ = distinct_point_neighbors(
        matrix, 2, cache if cache is not None else NeighborCache(min_k=1), duplicates, "x"
    )
    return twonn_estimate([neighbors], fraction, fit, 0, np.random.default_rng(0), "x")[0]


def gride_from_ratios(
    mu: np.ndarray, n1: int, n2: int, *, bounds: tuple[float, float] = (1e-3, 500.0)
) -> tuple[float, float]:
    """GRIDE maximum-likelihood intrinsic dimension from mu_i = r_{n2} / r_{n1}.

    Parameters
    ----------
    mu : ndarray of float64, shape (n_points,)
        Ratios of the n2-th to the n1-th neighbour distance, all > 1.
    n1, n2 : int
        Neighbour ranks, 1 <= n1 < n2 (the multi-scale analysis uses n2 = 2 n1).
    bounds : (float, float)
        Search interval for d; an optimum at its edge is warned about.

    Returns
    -------
    (d, standard error)
        The maximiser of the log-likelihood and 1 / sqrt(observed Fisher information)
        (NaN where the numerical curvature is not positive).

    Notes
    -----
    Under a locally constant density, mu has density
    f(mu) = d (mu^d - 1)^(n2 - n1 - 1) / (B(n2 - n1, n1) mu^((n2 - 1) d + 1)); for n1 = 1,
    n2 = 2 this is TwoNN's Pareto law and the estimate is N / sum log mu (the unbiased
    ``fit="ml"`` of :func:`twonn_from_ratios` uses N - 1).

    This is the paper's likelihood, N log d + ... DADApy's ``return_id_scaling_gride``
    differs knowingly: its likelihood has (N - 1) log d, and it first drops ratios above
    20 (q95 - q50) + q50. Where it drops none, its estimate is the root of the same
    score equation with N - 1 for N (tested to 1e-6 on its own outputs), about 1 / N
    below this one.

    References
    ----------
    Denti, Doimo, Laio & Mira (2022), "The generalized ratios intrinsic dimension
    estimator", Sci. Rep. 12, 20005, Eq. (6) (density of mu) and Sec. 2.2 (ML estimate).
    """
    from scipy.optimize import minimize_scalar

    mu = np.asarray(mu, dtype=np.float64)
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not 0 < low < high < float("inf"):
        raise LensError.bad_argument("bounds", bounds, "two numbers 0 < low < high (the search interval for d)")
    bounds = (low, high)
    if not 1 <= n1 < n2:
        raise LensError.bad_argument("n1, n2", (n1, n2), "neighbour ranks with 1 <= n1 < n2")
    n, gap = len(mu), n2 - n1
    if n < 3 or not np.isfinite(mu).all() or (mu < 1).any() or (gap > 1 and (mu == 1).any()):
        tied = int((mu <= 1).sum()) if n else 0
        raise LensError.bad_argument(
            "mu", f"{n} ratio(s), {tied} of them <= 1 (tied neighbours)",
            "at least 3 finite ratios, all >= 1 (and > 1 when n2 - n1 > 1: a tie has zero likelihood there)",
        )  # fmt: skip
    log_mu = np.log(mu)

    def negative_log_likelihood(d: float) -> float:
        value = n * np.log(d) - ((n2 - 1) * d + 1) * log_mu.sum()
        if gap > 1:  # + (gap - 1) sum log(mu^d - 1), written stably as d log mu + log(1 - mu^-d)
            value += (gap - 1) * (d * log_mu + np.log(-np.expm1(-d * log_mu))).sum()
        return -value

    found = minimize_scalar(negative_log_likelihood, bounds=bounds, method="bounded", options={"xatol": 1e-10})
    d = float(found.x)
    if min(d - bounds[0], bounds[1] - d) <= 1e-6 * d:
        warnings.warn(
            f"GRIDE (ranks {n1}, {n2}): the likelihood is largest at the edge of the search interval {bounds} "
            f"(d = {d:.6g}); the estimate is that bound, not a maximum. Widen `bounds`.",
            stacklevel=2,
        )
    step = max(1e-5, 1e-4 * d)
    curvature = (
        negative_log_likelihood(d + step) - 2 * negative_log_likelihood(d) + negative_log_likelihood(d - step)
    ) / step**2
    return d, float(1.0 / np.sqrt(curvature)) if curvature > 0 else float("nan")


def intrinsic_dimension(
    data: Any,
    *,
    layers: Sequence[int] | int | None = None,
    site: str | None = None,
    pool: str | None = None,
    fraction: float = 0.9,
    fit: str = "base",
    decimation: int = 1,
    repeats: int = 1,
    bootstrap: int = 100,
    seed: int = 0,
    duplicates: str = "drop",
    cache: NeighborCache | None = None,
    progress: bool = True,
) -> LayerProfile:
    """TwoNN intrinsic dimension of every layer, with error bars.

    Parameters
    ----------
    data : Activations, array (layer, item, dim) or list of (item, dim) arrays
    layers, site, pool
        Which layers; which site; ``pool="mean"`` pools tokens into one vector per text
        first (see :func:`lensnb.geometry.inputs.layer_stack`).
    fraction, fit
        See :func:`twonn_from_ratios` (Valeriani et al. 2023 used fraction 0.98).
    decimation : int
        Estimate on random subsets of N / ``decimation`` points (1: all points). The
        ID depends on the scale; see :func:`intrinsic_dimension_scaling`. Subsets of
        fewer than :data:`MIN_SUBSET_POINTS` (100) points are warned about: TwoNN is
        unreliable there (Valeriani et al.'s 1/32 decimations were of tens of
        thousands of points); the numbers are computed all the same.
    repeats : int
        With decimation > 1, how many independent random subsets (each of
        ``round(N / decimation)`` points, drawn without replacement, as DADApy's
        ``compute_id_2NN`` draws them); the value is their mean and the error bar its
        standard error: the standard deviation over the subsets (ddof 0) divided by
        ``sqrt(repeats)``, as Valeriani et al.'s code and DADApy report it (the spread
        of one subset's estimate is ``error * sqrt(repeats)``). Valeriani et al.:
        decimation 32, 4 repeats.
    bootstrap : int
        With one subset (repeats = 1), the error bar is the standard deviation of the
        fit over this many bootstrap resamples of the points' ratios mu (neighbours
        fixed); 0 for none.
    seed : int
        Seeds the subsets and the bootstrap.
    duplicates : {"drop", "raise"}
        See :func:`twonn`; the number of copies left out per layer (summed over the
        subsets) is in ``details["duplicates"]``.
    cache : NeighborCache, optional
        Shared neighbour searches (one per layer and subset).
    progress : bool

    Returns
    -------
    LayerProfile
        name "intrinsic_dimension_twonn"; values (n_layers,), errors (n_layers,);
        ``details["duplicates"]`` (n_layers,: copies left out); ``params`` include
        ``subset_size``.

    References
    ----------
    Facco et al. (2017), Sci. Rep. 7, 12140. Valeriani et al. (2023), "The geometry of
    hidden representations of large transformer models", NeurIPS (protocol).
    """
    from tqdm.auto import tqdm

    _check_choice("fit", fit, TWONN_FITS)
    _check_choice("duplicates", duplicates, DUPLICATES)
    decimation = _positive_int("decimation", decimation)
    repeats = _positive_int("repeats", repeats)
    bootstrap = _non_negative_int("bootstrap", bootstrap)
    progress = check_flag("progress", progress)
    rng = np.random.default_rng(check_seed(seed))
    stack = layer_stack(data, layers, site=site, pool=pool)
    cache = cache if cache is not None else NeighborCache(min_k=1)
    n = stack.n_items
    size = subset_size(n, decimation)
    if size < 3:
        raise LensError.bad_argument(
            "decimation", decimation, f"at most {largest_decimation(n, 3)} for {n} points (3 per subset)"
        )  # fmt: skip
    subsets = [np.arange(n)] if decimation == 1 else [np.sort(rng.permutation(n)[:size]) for _ in range(repeats)]
    if decimation > 1 and size < MIN_SUBSET_POINTS:
        _warn_small_subsets(n, decimation, size)
    values, errors, dropped = [], [], []
    for position, layer in enumerate(tqdm(stack.layers, desc="intrinsic dimension", disable=not progress)):
        matrix = np.asarray(stack.arrays[position])
        argument = f"data (layer {layer})"
        searched = [
            distinct_point_neighbors(matrix if len(s) == n else matrix[s], 2, cache, duplicates, argument, warn=False)
            for s in subsets
        ]  # fmt: skip
        value, error = twonn_estimate([found for found, _ in searched], fraction, fit, bootstrap, rng, argument)
        values.append(value)
        errors.append(error)
        dropped.append(sum(removed for _, removed in searched))
        if dropped[-1]:
            searched_points = f"{size} points" if len(subsets) == 1 else f"{len(subsets)} subsets x {size} points"
            _warn_copies(argument, dropped[-1], searched_points, stacklevel=2)
    params = dict(
        fraction=fraction, fit=fit, decimation=decimation, repeats=len(subsets), bootstrap=bootstrap, seed=seed,
        duplicates=duplicates, pool=pool, n_points=n, subset_size=size,
        error="std over subsets" if len(subsets) > 1 else ("bootstrap std" if bootstrap else "none"),
    )  # fmt: skip
    return LayerProfile(
        "intrinsic_dimension_twonn", stack.layers, np.asarray(values), np.asarray(errors), params, stack.table,
        stack.unit, {"duplicates": np.asarray(dropped)}, ("duplicates",),
    )  # fmt: skip


def intrinsic_dimension_scaling(
    data: Any,
    *,
    layers: Sequence[int] | int | None = None,
    site: str | None = None,
    pool: str | None = None,
    method: str = "twonn",
    decimations: Sequence[int] = (1, 2, 4, 8, 16, 32),
    repeats: int = 4,
    max_rank: int = 64,
    fraction: float = 0.9,
    bootstrap: int = 100,
    seed: int = 0,
    duplicates: str = "drop",
    cache: NeighborCache | None = None,
    progress: bool = True,
) -> LayerProfile:
    """Intrinsic dimension of every layer as a function of scale.

    Parameters
    ----------
    data : Activations, array (layer, item, dim) or list of (item, dim) arrays
        One (item, dim) matrix per layer, numpy arrays or torch tensors.
    layers : int or sequence of int, optional
        Which layers (for Activations: model layers, negative counting from the end;
        for arrays: positions along the first axis). Default: all.
    site : str, optional
        Which site of an Activations holding several (``"resid_post"``, ``"attn_out"``...).
    pool : {"mean", "max", "first", "last", "cls"}, optional
        Pool token-level Activations into one vector per text first
        (:meth:`lensnb.Activations.pool_texts`); default: one point per item as given
        (see :func:`lensnb.geometry.inputs.layer_stack`).
    method : {"twonn", "gride"}
        ``"twonn"``: the scale grows by decimation: random subsets of ``round(N / m)``
        points for each m in ``decimations`` (``repeats`` subsets each; one when m = 1),
        TwoNN base fit on each; the scale is the mean second-neighbour distance of the
        subset. The error bar is the standard error of the mean over the subsets (as in
        :func:`intrinsic_dimension`: Valeriani et al.'s and DADApy's), or, for a scale with one
        subset (m = 1), the bootstrap standard deviation of its fit (as in
        :func:`intrinsic_dimension`).
        ``"gride"``: all points, neighbour ranks n1 = 2^j, n2 = 2^(j+1) for 2^(j+1) <=
        ``max_rank``; the scale is the mean n2-th neighbour distance; the error bar is
        the ML standard error.
    decimations : sequence of int
        Each value once; they are taken in increasing order (increasing scale).
    repeats : int
        ``"twonn"``: random subsets drawn for each decimation m > 1 (m = 1 uses all
        points once).
    max_rank : int
        ``"gride"``: the largest neighbour rank n2 (2 <= max_rank < N); the rank pairs
        are (1, 2), (2, 4), ... up to it.
    fraction : float
        ``"twonn"``: share of the points, those with the smallest ratios mu, that the
        fit keeps (see :func:`twonn_from_ratios`).
    bootstrap : int
        Resamples for the error bar of a scale with a single subset (0: NaN there).
    seed : int
        Seeds the decimation subsets and the bootstrap.
    duplicates : {"drop", "raise"}
        Points that are copies of one another: ``"drop"`` counts each distinct point
        once (the copies left out, with a warning per layer), ``"raise"`` refuses them
        (see :func:`twonn`).
    cache : NeighborCache, optional
        Shared neighbour searches (one per layer and subset).
    progress : bool
        Show a progress bar over the layers.

    Returns
    -------
    LayerProfile
        values and errors: the ID and its error bar at the smallest scale (the
        smallest decimation for TwoNN, ranks 1-2 for GRIDE); ``details``: ``"scale"``,
        ``"id"`` and ``"error"`` of shape (n_layers, n_scales), and ``"decimations"``
        (TwoNN) or ``"ranks"`` and ``"ties"`` (GRIDE: points left out of each fit for
        equidistant neighbours, (n_layers, n_scales)).

    References
    ----------
    Facco et al. (2017) (decimation); Denti et al. (2022), Sci. Rep. 12, 20005 (GRIDE).
    """
    from tqdm.auto import tqdm

    _check_choice("method", method, ("twonn", "gride"))
    _check_choice("duplicates", duplicates, DUPLICATES)
    repeats = _positive_int("repeats", repeats)
    bootstrap = _non_negative_int("bootstrap", bootstrap)
    progress = check_flag("progress", progress)
    rng = np.random.default_rng(check_seed(seed))
    stack = layer_stack(data, layers, site=site, pool=pool)
    cache = cache if cache is not None else NeighborCache(min_k=1)
    n = stack.n_items
    if method == "twonn":
        if isinstance(decimations, (str, bytes)) or not isinstance(decimations, Sequence):
            raise LensError.bad_argument("decimations", decimations, "a sequence of positive integers")
        steps = sorted(_positive_int("decimations", m) for m in decimations)
        if len(set(steps)) != len(steps):
            raise LensError.bad_argument("decimations", list(decimations), "each decimation once")
        if not steps or subset_size(n, max(steps)) < 3:
            raise LensError.bad_argument("decimations", list(decimations), f"values keeping at least 3 of {n} points")
        draws = {
            m: [np.arange(n)] if m == 1 else [np.sort(rng.permutation(n)[: subset_size(n, m)]) for _ in range(repeats)]
            for m in steps
        }
    else:
        max_rank = _positive_int("max_rank", max_rank)
        if max_rank >= n or max_rank < 2:
            raise LensError.bad_argument("max_rank", max_rank, f"an integer in 2..{n - 1}")
        ranks = [(2**j, 2 ** (j + 1)) for j in range(int(np.log2(max_rank)))]
    ids, errs, scales, ties = [], [], [], []
    for position, layer in enumerate(tqdm(stack.layers, desc=f"ID scaling ({method})", disable=not progress)):
        matrix = np.asarray(stack.arrays[position])
        row_id, row_err, row_scale = [], [], []
        if method == "twonn":
            copies = 0
            for m in steps:
                searched = [
                    distinct_point_neighbors(
                        matrix if len(subset) == n else matrix[subset], 2, cache, duplicates, f"data (layer {layer})",
                        warn=False,
                    )
                    for subset in draws[m]
                ]  # fmt: skip
                found = [neighbors for neighbors, _ in searched]
                copies += sum(removed for _, removed in searched)
                value, error = twonn_estimate(found, fraction, "base", bootstrap, rng, f"data (layer {layer})")
                row_id.append(value)
                row_err.append(error)
                row_scale.append(float(np.mean([neighbors.distances[:, 1].mean() for neighbors in found])))
            if copies:
                searched_points = f"the {sum(len(s) for m in steps for s in draws[m])} points of the decimation subsets"
                _warn_copies(f"data (layer {layer})", copies, searched_points, stacklevel=2)
        else:
            neighbors, _ = distinct_point_neighbors(matrix, max_rank, cache, duplicates, f"data (layer {layer})")
            row_ties = []
            for n1, n2 in ranks:
                mu = _ratios(neighbors, n1, n2)
                tied = mu <= 1.0 if n2 - n1 > 1 else np.zeros(len(mu), dtype=bool)  # equidistant neighbours
                if tied.any():
                    warnings.warn(
                        f"data (layer {layer}): {int(tied.sum())} points have their neighbours {n1} and {n2} at "
                        "the same distance; they are left out of that GRIDE fit.",
                        stacklevel=2,
                    )
                row_ties.append(int(tied.sum()))
                with warnings.catch_warnings(record=True) as caught:  # re-issued below, naming the layer
                    warnings.simplefilter("always")
                    d, err = gride_from_ratios(mu[~tied], n1, n2)
                for caught_warning in caught:
                    warnings.warn(
                        f"data (layer {layer}): {caught_warning.message}", caught_warning.category, stacklevel=2
                    )
                row_id.append(d)
                row_err.append(err)
                row_scale.append(float(neighbors.distances[:, n2 - 1].mean()))
        ids.append(row_id)
        errs.append(row_err)
        if method == "gride":
            ties.append(row_ties)
        scales.append(row_scale)
    ids_a, errs_a = np.asarray(ids), np.asarray(errs)
    details: dict[str, Any] = {"id": ids_a, "error": errs_a, "scale": np.asarray(scales)}
    if method == "twonn":
        details["decimations"] = np.asarray(steps)
        params = dict(
            method=method, decimations=tuple(steps), repeats=repeats, fraction=fraction, bootstrap=bootstrap, seed=seed
        )
    else:
        details["ranks"] = np.asarray(ranks)
        details["ties"] = np.asarray(ties)  # points left out of each fit for tied neighbours
        params = dict(method=method, max_rank=max_rank)
    params.update(pool=pool, n_points=n, duplicates=duplicates)
    return LayerProfile(
        f"intrinsic_dimension_{method}_scaling", stack.layers, ids_a[:, 0], errs_a[:, 0], params, stack.table,
        stack.unit, details,
    )  # fmt: skip


def twonn_estimate(
    found: list[Neighbors], fraction: float, fit: str, bootstrap: int, rng: np.random.Generator, argument: str = "data"
) -> tuple[float, float]:
    """TwoNN from the neighbours of one or several subsets: (value, error bar).

    Several subsets: their mean and its standard error (standard deviation with ddof 0
    over ``sqrt(n_subsets)``, as Valeriani et al.'s code and DADApy compute it); one: the
    fit and its bootstrap standard deviation (NaN without bootstrap). ``argument`` names
    the data in errors."""
    ratios = [_ratios(neighbors, 1, 2) for neighbors in found]  # finite and >= 1: searched among distinct points
    for mu in ratios:
        _check_fit_arguments(fraction, fit, len(mu))
        _check_fit_defined(mu, fraction, fit, argument)
    estimates = [float(_fit_log_ratios(np.log(mu)[None, :], fraction, fit)[0]) for mu in ratios]
    if len(found) > 1:
        return float(np.mean(estimates)), float(np.std(estimates) / np.sqrt(len(estimates)))
    error = _bootstrap_error(ratios[0], fraction, fit, bootstrap, rng) if bootstrap else float("nan")
    return estimates[0], error


def distinct_point_neighbors(
    matrix: np.ndarray,
    k: int,
    cache: NeighborCache,
    duplicates: str,
    argument: str,
    warn: bool = True,
    key: str | None = None,
) -> tuple[Neighbors, int]:
    """The k nearest neighbours among the distinct rows of ``matrix``, and how many copies were left out.

    Parameters
    ----------
    matrix : ndarray, shape (n_points, dim)
    k : int
    cache : NeighborCache
    duplicates : {"drop", "raise"}
    argument : str
        The name the errors and warnings give the data.
    warn : bool
        Warn when copies are left out (callers searching many subsets warn once
        themselves, with :func:`_warn_copies`).
    key : str, optional
        ``matrix``'s :func:`~lensnb.geometry.neighbors.data_key`, when the caller has it.

    Returns
    -------
    neighbors : Neighbors
        Of all points when they are distinct; otherwise of the distinct points only,
        each at its first occurrence, in order (shape (n_distinct, k)).
    removed : int
        The copies left out: n_points - n_distinct.

    Notes
    -----
    Dropping only the points whose first neighbour is at distance 0 is not enough: a
    point whose two nearest neighbours are copies of one point would keep mu = 1 and
    bias TwoNN upwards (by 10% with a tenth of a 3-D sample copied). The data are
    therefore deduplicated, as DADApy's ``remove_identical_points`` does, and searched
    again; distinct data (the usual case) are searched once.
    """
    neighbors = cache.neighbors(matrix, k, key)
    if not neighbors.duplicates().any():
        return neighbors, 0
    # + 0.0 turns -0.0 into 0.0: rows that differ only there are at distance 0 too
    _, first = np.unique(np.asarray(matrix, dtype=np.float64) + 0.0, axis=0, return_index=True)
    distinct = np.sort(first)
    removed = len(matrix) - len(distinct)
    if duplicates == "raise":
        raise LensError.bad_argument(
            argument, f"{removed} point(s) that are identical copies of others (neighbour distance 0)",
            "distinct points", "Pass duplicates='drop' to count each distinct point once, or deduplicate the data.",
        )  # fmt: skip
    if len(distinct) <= k:
        raise LensError.bad_argument(
            argument, f"{len(distinct)} distinct points among {len(matrix)}", f"more than {k} distinct points"
        )
    if warn:
        _warn_copies(argument, removed, f"{len(matrix)} points")
    return cache.neighbors(np.ascontiguousarray(matrix[distinct]), k), removed


def subset_size(n: int, decimation: int) -> int:
    """Points in one random subset of ``n`` at ``decimation``: ``round(n / decimation)``, as
    DADApy's ``compute_id_2NN`` draws its decimated subsets (Valeriani et al.'s protocol)."""
    return int(np.rint(n / decimation))


def largest_decimation(n: int, points: int) -> int:
    """The largest decimation of ``n`` points whose subsets keep at least ``points`` of them (0 if none)."""
    largest = n // points
    while subset_size(n, largest + 1) >= points:
        largest += 1
    return largest


def _warn_small_subsets(n: int, decimation: int, size: int) -> None:
    """The warning for decimated subsets too small for TwoNN, with the decimation that is not."""
    largest = largest_decimation(n, MIN_SUBSET_POINTS)
    advice = (
        f"decimation <= {largest} (subsets of at least {subset_size(n, largest)} points)"
        if largest >= 2
        else f"decimation=1 (all {n} points)"
    )
    warnings.warn(
        f"intrinsic_dimension: decimation={decimation} leaves random subsets of {size} of the {n} points; TwoNN "
        f"on fewer than {MIN_SUBSET_POINTS} points is unreliable (its spread from one sample to the next is about "
        f"ID / sqrt(N), {1 / np.sqrt(size):.0%} of the ID at {size} points) and not comparable with the ID on all "
        f"points. Use {advice}, or more points; intrinsic_dimension_scaling shows how the ID moves with the scale.",
        stacklevel=3,
    )


def _warn_copies(argument: str, removed: int, searched: str, stacklevel: int = 4) -> None:
    """One warning for the copies left out of the points ``searched`` (e.g. "1000 points")."""
    warnings.warn(
        f"{argument}: {removed} of {searched} are identical copies of others; the intrinsic dimension is "
        "estimated on the distinct points.",
        stacklevel=stacklevel,
    )


def _ratios(neighbors: Neighbors, n1: int, n2: int) -> np.ndarray:
    """mu = r_{n2} / r_{n1} per point (n_points,), of points searched among distinct points."""
    r1 = neighbors.distances[:, n1 - 1]
    if not (r1 > 0.0).all():  # distinct_point_neighbors leaves no copies; a distance can still underflow
        raise LensError.bad_argument(
            "data", f"{int((r1 <= 0).sum())} point(s) at distance 0 from a distinct neighbour (underflow)",
            "points whose differences are representable: rescale the data",
        )  # fmt: skip
    return neighbors.distances[:, n2 - 1] / r1


def _bootstrap_error(mu: np.ndarray, fraction: float, fit: str, rounds: int, rng: np.random.Generator) -> float:
    """Standard deviation of the fit over bootstrap resamples of the ratios.

    The resamples are fitted together, a batch at a time; resample ``b`` is
    ``mu[rng.integers(0, n, n)]``, drawn in order, as a loop would draw it. A resample
    whose kept ratios are all 1 (tied neighbours drawn over and over, in small sets) has
    no fit and is left out; NaN when fewer than 2 resamples have one."""
    if rounds < 2:
        return float("nan")
    n = len(mu)
    log_mu = np.log(np.asarray(mu, dtype=np.float64))
    # the base fit reads each resample sorted: that is the sorted ratios, each repeated as
    # often as it was drawn (the same array np.sort gives, in O(n) instead of O(n log n))
    order = np.argsort(log_mu, kind="stable")
    ascending = log_mu[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    estimates = []
    batch = max(1, 4_000_000 // max(1, n))
    for start in range(0, rounds, batch):
        draws = rng.integers(0, n, (min(batch, rounds - start), n))
        if fit == "ml":
            sample = log_mu[draws]
        else:
            sample = np.stack([np.repeat(ascending, np.bincount(rank[row], minlength=n)) for row in draws])
        with np.errstate(divide="ignore", invalid="ignore"):
            estimates.append(_fit_log_ratios(sample, fraction, fit, presorted=fit != "ml"))
    fitted = np.concatenate(estimates)
    fitted = fitted[np.isfinite(fitted)]
    return float(np.std(fitted, ddof=1)) if len(fitted) >= 2 else float("nan")


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise LensError.bad_argument(name, value, f"one of {choices}")


def _non_negative_int(name: str, value: Any) -> int:
    return check_integer(name, value, 0)


def _positive_int(name: str, value: Any) -> int:
    return check_integer(name, value, 1)
