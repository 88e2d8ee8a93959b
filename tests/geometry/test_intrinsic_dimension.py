"""Neighbours, TwoNN, GRIDE, overlaps and the geometry profile: known answers and peers."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb import LensError
from lensnb.geometry.intrinsic_dimension import (
    gride_from_ratios,
    intrinsic_dimension,
    intrinsic_dimension_scaling,
    twonn,
    twonn_from_ratios,
)
from lensnb.geometry.neighbors import NeighborCache, nearest_neighbors
from lensnb.geometry.overlap import label_overlap, neighborhood_overlap, neighborhood_overlap_matrix
from lensnb.geometry.profile import geometry_profile

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "geometry" / "dadapy_reference.npz"


def noisy_plane(n: int, d: int, ambient: int = 50, noise: float = 1e-4, seed: int = 0) -> np.ndarray:
    """n Gaussian points on a d-dimensional plane rotated into `ambient` dimensions, plus isotropic noise.

    (Gaussian rather than uniform on a cube: a cube's faces bias TwoNN low at d = 10.)"""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(ambient, ambient)))
    return rng.normal(size=(n, d)) @ q[:d] + noise * rng.normal(size=(n, ambient))


def brute_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


# ------------------------------------------------------------------ neighbours


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_neighbors_are_exact(dtype):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(700, 24)) * 3 + 40).astype(dtype)  # far from the origin: low-precision products lose digits
    found = nearest_neighbors(x, 12, block_rows=128)
    indices, distances = brute_knn(x.astype(np.float64), 12)
    np.testing.assert_array_equal(found.indices, indices)  # the sets and their order are exact
    np.testing.assert_allclose(found.distances, distances, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "n, block_rows, k", [(1000, 403, 5), (999, 256, 9), (1200, 1200, 3), (301, 77, 30), (90, 64, 40)]
)
def test_neighbors_exact_across_blocks_and_classes(n, block_rows, k):
    """Blocks are rounded up to multiples of 64 and the data padded; the screen pools
    classes of 64, 32, 16 or 8 points, or none for the smallest sets."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 16)) @ rng.normal(size=(16, 40)) + 5.0
    found = nearest_neighbors(x, k, block_rows=block_rows)
    indices, distances = brute_knn(x, k)
    np.testing.assert_array_equal(found.indices, indices)
    np.testing.assert_allclose(found.distances, distances, rtol=1e-12)


def test_neighbors_exact_without_native_bfloat16(monkeypatch):
    """Where the CPU has no native bfloat16, the screen multiplies the same operands in
    float32; the result is the same."""
    import torch

    from lensnb.geometry import screen

    rng = np.random.default_rng(8)
    x = rng.normal(size=(700, 20)) @ rng.normal(size=(20, 48))
    native = nearest_neighbors(x, 10, block_rows=256)
    monkeypatch.setattr(screen, "_product_dtype", lambda: torch.float32)
    emulated = nearest_neighbors(x, 10, block_rows=256)
    np.testing.assert_array_equal(emulated.indices, native.indices)
    np.testing.assert_array_equal(emulated.distances, native.distances)
    np.testing.assert_array_equal(emulated.indices, brute_knn(x, 10)[0])


def test_neighbors_exact_when_the_products_are_formed_again(monkeypatch):
    """Sets too large to keep their products between the passes form them again: the
    same neighbours."""
    from lensnb.geometry import screen

    rng = np.random.default_rng(10)
    x = (rng.normal(size=(60, 32)) * 10)[rng.integers(0, 60, 1500)] + rng.normal(size=(1500, 32)) * 0.1  # clusters
    kept = nearest_neighbors(x, 7, block_rows=256)
    monkeypatch.setattr(screen, "_KEEP_BYTES", 0)
    again = nearest_neighbors(x, 7, block_rows=256)
    np.testing.assert_array_equal(again.indices, kept.indices)
    np.testing.assert_array_equal(again.distances, kept.distances)
    np.testing.assert_array_equal(again.indices, brute_knn(x, 7)[0])


def test_neighbors_exact_with_mixed_norms_and_near_ties():
    """Norms from 1e-3 to 1e3 (the screen's bound scales with each pair's norms) and
    neighbours nearly tied (within 1e-9): the order is still that of exact arithmetic."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(900, 30)) * np.exp(rng.uniform(np.log(1e-3), np.log(1e3), size=(900, 1)))
    x[450:460] = x[440] + 1e-9 * rng.normal(size=(10, 30))  # a tight cluster
    found = nearest_neighbors(x, 15, block_rows=256)
    indices, distances = brute_knn(x, 15)
    np.testing.assert_array_equal(found.indices, indices)
    np.testing.assert_allclose(found.distances, distances, rtol=1e-6, atol=1e-12)


def test_neighbors_with_many_copies_fall_back_to_the_full_search():
    """1,200 copies of one point: each copy has more candidates than the exact ranking
    holds, so its row is searched again against every point; its neighbours are the
    copies of lowest index, and every distance is exact."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1500, 8))
    x[:1200] = x[0]
    found = nearest_neighbors(x, 6)
    indices, distances = brute_knn(x, 6)
    np.testing.assert_array_equal(found.indices, indices)
    np.testing.assert_allclose(found.distances, distances, rtol=1e-12)
    assert (found.distances[:1200] == 0).all()
    np.testing.assert_array_equal(found.duplicates(), np.arange(1500) < 1200)


@pytest.mark.parametrize("k", [1, 10, 30])
def test_neighbors_break_exact_ties_by_index(k):
    """Points of a lattice: many neighbours at exactly equal distances, which the float64
    products may round apart; the ranking compares them from the differences of the data
    as given (not centred), and equal ones by index, like a stable sort."""
    x = np.random.default_rng(9).integers(0, 3, size=(900, 6)).astype(np.float64)
    found = nearest_neighbors(x, k, block_rows=256)
    indices, distances = brute_knn(x, k)
    np.testing.assert_array_equal(found.indices, indices)
    np.testing.assert_allclose(found.distances, distances, rtol=1e-15)


def test_screen_bounds_hold_for_every_pair():
    """The bfloat16 products lie in the interval the screen relies on, for every pair."""
    import torch

    from lensnb.geometry.screen import _AFTER_OUTPUT, ScreenBounds

    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 50)) * np.exp(rng.normal(size=(300, 1))) + rng.normal(size=50)
    centred = torch.from_numpy(x - x.mean(axis=0))
    bounds = ScreenBounds.of(centred, (centred * centred).sum(dim=1), 320)
    product = (bounds.rows @ bounds.columns.T)[:300, :300].to(torch.float64)
    scale = float(bounds.norms[0]) / float(centred[0].norm())
    scaled = centred * scale
    true = -0.5 * ((scaled[:, None, :] - scaled[None, :, :]) ** 2).sum(-1)  # -d^2 / 2, scaled
    norms = bounds.norms[:300]
    slack = bounds.slack[:, None] + 1e-15 * true.abs()  # float64 reference rounding
    unrounded_high = product + _AFTER_OUTPUT * product.abs()
    unrounded_low = product - _AFTER_OUTPUT * product.abs()
    assert bool((unrounded_high >= true - bounds.spread * norms[:, None] * norms[None, :] - slack).all())
    assert bool((unrounded_low <= true + slack).all())
    lowered_by = (true - product).max()  # the products are lowered by the bound: mostly below the truth
    assert float(lowered_by) > 0


def test_member_tests_keep_infinite_reaches():
    """Padding rows (reach +inf) pass no point and unbounded rows (-inf) every point;
    a finite reach is only lowered (the float32 test never rejects what float64 keeps)."""
    import torch

    from lensnb.geometry.screen import ScreenBounds, _MemberTests

    centred = torch.from_numpy(np.random.default_rng(5).normal(size=(60, 8)))
    bounds = ScreenBounds.of(centred, (centred * centred).sum(dim=1), 64)
    reach = torch.full((64,), float("inf"), dtype=torch.float64)
    reach[:60] = -torch.rand(60, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    reach[7] = float("-inf")
    tests = _MemberTests.of(reach, bounds, float(bounds.norms.max()))
    assert not bool(tests.base.isnan().any())
    assert bool((tests.base[60:] == float("inf")).all())
    assert float(tests.base[7]) == float("-inf")
    finite = torch.arange(60) != 7
    assert bool((tests.base[:60][finite].to(torch.float64) < reach[:60][finite]).all())
    assert bool((tests.slope.to(torch.float64) >= bounds.spread * bounds.norms).all())


@pytest.mark.parametrize(
    "mu, fraction, message",
    [
        (
            np.full((3, 4), 2.0),
            0.9,
            r"mu: expected a 1-D array of at least 3 ratios, received ndarray of shape \(3, 4\)",
        ),
        ([1.5, 2.0], 0.9, r"mu: .* received ndarray of shape \(2,\)"),
        ([1.5, 0.5, 2.0], 0.9, r"mu: expected finite ratios r2 / r1 >= 1 .*first: 0.5"),
        ([1.5, np.nan, 2.0], 0.9, r"mu: .*first: nan"),
        ([1.5, np.inf, 2.0], 0.9, r"mu: .*first: inf"),
        ([1.0, 1.0, 1.0], 0.9, r"mu: expected a ratio above 1 among the 2 .* received .3 of 3 ratios"),
        ("abc", 0.9, r"mu: expected a 1-D array of ratios"),
        ([1.5, 2.0, 3.0], 0.0, r"fraction: expected a number in \(0, 1\], received 0.0"),
        ([1.5, 2.0, 3.0], 1.5, r"fraction: .* received 1.5"),
        ([1.5, 2.0, 3.0], np.nan, r"fraction: .* received nan"),
        ([1.5, 2.0, 3.0], "0.9", r"fraction: .* received '0.9'"),
        ([1.5, 2.0, 3.0, 4.0], 0.3, r"fraction: expected a fraction keeping at least 2 of the 4 points"),
    ],
)
def test_twonn_from_ratios_refuses_bad_input(mu, fraction, message):
    with pytest.raises(LensError, match=message):
        twonn_from_ratios(mu, fraction)


def test_twonn_from_ratios_takes_ties_and_checks_fraction_for_both_fits():
    """A tie r1 = r2 (mu = 1) is a valid ratio; a fraction out of range is refused by the
    ML fit too, which does not use it."""
    mu = np.array([1.0, 1.5, 2.0, 3.0])
    assert twonn_from_ratios(mu, fit="ml") == pytest.approx(3 / np.log(mu).sum(), rel=1e-14)
    assert np.isfinite(twonn_from_ratios(mu, 1.0))
    with pytest.raises(LensError, match="fraction"):
        twonn_from_ratios(mu, 2.0, fit="ml")


@pytest.mark.parametrize("block_rows", [0, -64, 2.5, True])
def test_neighbors_refuse_bad_block_rows(block_rows):
    x = np.random.default_rng(4).normal(size=(50, 3))
    with pytest.raises(LensError, match="block_rows"):
        nearest_neighbors(x, 3, block_rows=block_rows)


@pytest.mark.parametrize(
    "shape, k, message",
    [
        ((10,), 2, r"x: expected a 2-D array .* received ndarray of shape \(10,\)"),
        ((10, 3), 10, r"k: expected an integer with 1 <= k < the number of points \(10\), received 10"),
        ((10, 3), 0, r"k: .* received 0"),
        ((10, 3), 2.5, r"k: .* received 2.5"),
    ],
)
def test_neighbors_refuse_bad_shape_or_k(shape, k, message):
    with pytest.raises(LensError, match=message):
        nearest_neighbors(np.random.default_rng(2).normal(size=shape), k)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_neighbors_refuse_non_finite_rows(bad):
    x = np.random.default_rng(4).normal(size=(50, 3))
    x[7, 1] = bad
    with pytest.raises(LensError, match=r"x.*1 row\(s\), first rows \[7\]"):
        nearest_neighbors(x, 3)


def test_cache_searches_once_per_data_and_slices():
    x = np.random.default_rng(3).normal(size=(200, 6))
    cache = NeighborCache()
    a = cache.neighbors(x, 10)
    b = cache.neighbors(x.copy(), 4)  # the same data, another array: found by content
    assert cache.searches == 1
    np.testing.assert_array_equal(a.indices[:, :4], b.indices)
    cache.neighbors(x + 1e-9, 4)
    assert cache.searches == 2


def test_cache_shares_one_search_whichever_measure_comes_first():
    layers = np.random.default_rng(4).normal(size=(2, 300, 6))
    cache = NeighborCache()  # min_k = 30: TwoNN's 2 neighbours and the overlaps' 30 from one search
    ids = intrinsic_dimension(layers, cache=cache, progress=False)
    matrix = neighborhood_overlap_matrix(layers, cache=cache, progress=False)
    assert cache.searches == 2 and cache.neighbors(layers[0], 2).k == 2
    fresh = NeighborCache(min_k=1)
    np.testing.assert_array_equal(intrinsic_dimension(layers, cache=fresh, progress=False).values, ids.values)
    neighborhood_overlap_matrix(layers, cache=fresh, progress=False)
    assert fresh.searches == 4
    np.testing.assert_array_equal(matrix.values, neighborhood_overlap_matrix(layers, progress=False).values)
    assert NeighborCache(min_k=50).neighbors(layers[0][:20], 3).k == 3  # capped at n_points - 1 inside
    with pytest.raises(LensError, match="min_k"):
        NeighborCache(min_k=0)


# ------------------------------------------------------------------ TwoNN


@pytest.mark.parametrize("d", [2, 5, 10])
def test_twonn_recovers_the_dimension_of_a_noisy_plane(d):
    x = noisy_plane(4000, d)
    for fit in ("base", "ml"):
        estimate = twonn(x, fit=fit)
        assert abs(estimate - d) / d < 0.10, (fit, estimate)


def test_twonn_fit_formulas_on_known_ratios():
    mu = np.array([1.1, 1.5, 2.0, 1.2, 3.0, 1.05, 1.7, 1.3, 2.5, 1.15])
    n = len(mu)
    x = np.sort(np.log(mu))[:9]
    y = -np.log(1 - np.arange(1, 10) / n)
    assert twonn_from_ratios(mu, 0.9) == pytest.approx(np.dot(x, y) / np.dot(x, x), rel=1e-14)
    assert twonn_from_ratios(mu, fit="ml") == pytest.approx((n - 1) / np.log(mu).sum(), rel=1e-14)


def test_gride_at_ranks_one_two_is_the_pareto_mle():
    rng = np.random.default_rng(4)
    d = 6.0
    mu = (1 - rng.uniform(size=5000)) ** (-1 / d)  # Pareto(d): TwoNN's law of r2 / r1
    estimate, error = gride_from_ratios(mu, 1, 2)
    assert estimate == pytest.approx(len(mu) / np.log(mu).sum(), rel=1e-6)
    assert abs(estimate - d) < 4 * error and 0 < error < 0.2


def test_gride_scaling_on_a_plane_is_flat_near_the_dimension():
    x = noisy_plane(3000, 3, noise=1e-4)
    result = intrinsic_dimension_scaling(x, method="gride", max_rank=16, progress=False)
    ids = result.details["id"][0]
    assert result.details["ranks"].tolist() == [[1, 2], [2, 4], [4, 8], [8, 16]]
    assert np.all(np.abs(ids - 3) < 0.45), ids
    assert np.all(np.diff(result.details["scale"][0]) > 0)


def test_twonn_scaling_by_decimation_has_error_bars():
    x = noisy_plane(2000, 4)
    result = intrinsic_dimension_scaling(x, decimations=(4, 1, 2), repeats=3, progress=False)
    assert result.details["id"].shape == (1, 3) and result.details["decimations"].tolist() == [1, 2, 4]
    # one draw at decimation 1: its error bar is the bootstrap spread, as in intrinsic_dimension
    single = intrinsic_dimension(x, bootstrap=100, seed=0, progress=False)
    assert result.details["id"][0, 0] == single.values[0]
    assert (result.details["error"][0] > 0).all() and np.isfinite(result.errors).all()
    assert result.values[0] == result.details["id"][0, 0] and result.errors[0] == result.details["error"][0, 0]
    assert np.all(np.abs(result.details["id"][0] - 4) < 0.6)
    assert np.all(np.diff(result.details["scale"][0]) > 0)  # fewer points: farther neighbours
    assert np.isnan(intrinsic_dimension_scaling(x, decimations=(1, 2), bootstrap=0, progress=False).errors[0])
    with pytest.raises(LensError, match="each decimation once"):
        intrinsic_dimension_scaling(x, decimations=(1, 2, 2), progress=False)


def test_duplicates_are_counted_once_not_inf():
    x = noisy_plane(1000, 3)
    x[500:600] = x[:100]
    distinct = np.delete(x, np.s_[500:600], axis=0)
    # 100 copies: the fit runs on the 900 distinct points, as if the data had been deduplicated;
    # dropping only the points with r1 = 0 left points whose two nearest neighbours were copies
    # of one point (mu = 1) and biased the estimate upwards
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = intrinsic_dimension(x, bootstrap=0, progress=False)
        scaled = intrinsic_dimension_scaling(x, decimations=(1, 2), progress=False)
        profile = geometry_profile(x[None], k=5, bootstrap=0, progress=False)
    assert result.details["duplicates"][0] == 100 and profile.intrinsic_dimension.details["duplicates"][0] == 100
    clean = intrinsic_dimension(distinct, bootstrap=0, progress=False).values[0]
    assert result.values[0] == clean == twonn(x) == twonn(distinct)
    assert profile.intrinsic_dimension.values[0] == clean and scaled.details["id"][0, 0] == clean
    assert abs(clean - 3) < 0.3
    assert any("100 of 1000 points are identical copies" in str(w.message) for w in caught)
    with pytest.raises(LensError, match="identical copies"):
        twonn(x, duplicates="raise")
    # decimated subsets and the scale analysis warn once per layer, not once per subset
    for call, text in (
        (lambda: intrinsic_dimension(x, decimation=2, repeats=3, progress=False), "of 3 subsets x 500 points"),
        (lambda: intrinsic_dimension_scaling(x, decimations=(1, 2, 4), repeats=3, progress=False),
         "of the 3250 points of the decimation subsets"),  # 1000 + 3 x 500 + 3 x 250
    ):  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        copies = [w for w in caught if "identical copies" in str(w.message)]
        assert len(copies) == 1 and text in str(copies[0].message), [str(w.message) for w in copies]
    signed = np.zeros((6, 2))
    signed[:, 1] = np.arange(6.0)
    signed[5] = [-0.0, 0.0]  # the same point as row 0: -0.0 == 0.0
    with pytest.warns(UserWarning, match="1 of 6 points"):
        assert np.isfinite(twonn(signed, fraction=1.0))


@pytest.mark.parametrize("fit, fraction", [("base", 0.9), ("base", 1.0), ("ml", 0.9)])
def test_bootstrap_error_is_the_spread_of_the_resampled_fits(fit, fraction):
    """The batched bootstrap fits the same resamples as a loop of twonn_from_ratios."""
    from lensnb.geometry.intrinsic_dimension import _bootstrap_error

    mu = 1.0 + np.random.default_rng(3).pareto(4.0, size=500) + 1e-3
    draws = np.random.default_rng(11)
    looped = [twonn_from_ratios(mu[draws.integers(0, 500, 500)], fraction, fit) for _ in range(40)]
    batched = _bootstrap_error(mu, fraction, fit, 40, np.random.default_rng(11))
    assert batched == pytest.approx(np.std(looped, ddof=1), rel=1e-12)
    assert batched > 0


def test_intrinsic_dimension_profile_over_layers():
    layers = np.stack([noisy_plane(1500, d, ambient=20, seed=d) for d in (2, 4, 8)])
    result = intrinsic_dimension(layers, bootstrap=30, progress=False)
    assert result.layers == (0, 1, 2) and result.name == "intrinsic_dimension_twonn"
    assert np.all(np.abs(result.values - [2, 4, 8]) / [2, 4, 8] < 0.12)
    assert np.all(result.errors > 0) and np.all(result.errors < 0.1 * result.values)
    decimated = intrinsic_dimension(layers, decimation=4, repeats=4, progress=False)
    assert decimated.params["subset_size"] == 375 and np.all(decimated.errors > 0)


# ------------------------------------------------------------------ overlaps


def test_overlap_with_itself_is_one_and_with_a_permutation_is_chance():
    x = np.random.default_rng(5).normal(size=(2000, 10))
    assert neighborhood_overlap(x, x, k=30) == 1.0
    shuffled = x[np.random.default_rng(6).permutation(len(x))]
    chance = neighborhood_overlap(x, shuffled, k=30)
    assert abs(chance - 30 / 1999) < 0.01


def test_overlaps_warn_about_exact_copies_whose_neighbourhoods_agree_whatever_the_layer():
    """A decoder's start token has one state per layer for every text: those rows are each other's
    nearest neighbours at distance 0, ordered by index at every layer, so their overlap is 1 between
    unrelated layers. The overlaps say so, as TwoNN does."""
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(300, 6)), rng.normal(size=(300, 6))  # unrelated layers
    a[:12], b[:12] = a[0], b[0]  # twelve copies in each
    with pytest.warns(
        UserWarning,
        match=r"^neighborhood_overlap: 12 of 300 points are exact copies of another point in a \(copies in a, b\)",
    ) as caught:
        neighborhood_overlap(a, b, k=10)
    assert caught[0].filename == __file__
    with pytest.warns(
        UserWarning, match=r"^neighborhood_overlap_matrix: 12 of 300 .* in layer 0 \(copies in layer 0, layer 1\)"
    ) as caught:
        neighborhood_overlap_matrix([a, b], k=10, progress=False)
    assert caught[0].filename == __file__
    with pytest.warns(UserWarning, match=r"^label_overlap: 12 of 300"):
        label_overlap([a], np.arange(300) % 3, k=10, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        neighborhood_overlap(a[11:], b[11:], k=10)  # one of the copies left: nothing to say


def test_overlap_is_invariant_to_rotation_and_scale():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(800, 12))
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert neighborhood_overlap(x, 3.5 * x @ q + 2, k=10) == 1.0


def test_overlap_matrix_and_label_overlap_by_hand():
    rng = np.random.default_rng(8)
    base = rng.normal(size=(400, 6))
    layers = [base, base + 0.3 * rng.normal(size=base.shape), rng.normal(size=base.shape)]
    matrix = neighborhood_overlap_matrix(layers, k=8, progress=False)
    assert matrix.values.shape == (3, 3) and np.allclose(np.diag(matrix.values), 1)
    np.testing.assert_allclose(matrix.values, matrix.values.T)
    ia, ib = brute_knn(layers[0], 8)[0], brute_knn(layers[1], 8)[0]
    by_hand = np.mean([len(set(a) & set(b)) / 8 for a, b in zip(ia, ib)])
    assert matrix.values[0, 1] == pytest.approx(by_hand, abs=1e-15)

    labels = np.repeat(np.array(["a", "b", "c", "d"]), [200, 100, 60, 40])
    shared = [np.mean(labels[row] == labels[i]) for i, row in enumerate(ia)]
    per_class = [np.mean([s for s, y in zip(shared, labels) if y == c]) for c in "abcd"]
    mean = label_overlap(layers[0], labels, k=8, progress=False)
    weighted = label_overlap(layers[0], labels, k=8, weighting="class_weighted", progress=False)
    assert mean.values[0] == pytest.approx(np.mean(shared), abs=1e-15)
    assert weighted.values[0] == pytest.approx(np.mean(per_class), abs=1e-15)
    assert mean.params["weighting"] == "mean" and weighted.params["weighting"] == "class_weighted"


def test_profile_shares_one_search_per_layer():
    rng = np.random.default_rng(9)
    layers = np.stack([rng.normal(size=(500, 8)) for _ in range(3)])
    labels = rng.integers(0, 3, 500)
    cache = NeighborCache()
    profile = geometry_profile(layers, labels, k=10, cache=cache, progress=False)
    assert cache.searches == 3
    assert profile.overlap.values.shape == (3, 3)
    separate = label_overlap(layers, labels, k=10, cache=cache, progress=False)
    ids = intrinsic_dimension(layers, cache=cache, progress=False)
    assert cache.searches == 3  # everything came from the profile's searches
    np.testing.assert_array_equal(profile.label_overlap.values, separate.values)
    np.testing.assert_array_equal(profile.intrinsic_dimension.values, ids.values)


# ------------------------------------------------------------------ peers


def test_twonn_equals_scikit_dimension():
    skdim = pytest.importorskip("skdim")  # a test dependency: installed by the README's test command
    x = noisy_plane(1500, 5, ambient=20)
    for fraction in (0.9, 0.98):
        peer = skdim.id.TwoNN(discard_fraction=1 - fraction).fit(x).dimension_
        assert twonn(x, fraction=fraction) == pytest.approx(peer, abs=1e-6)


@pytest.fixture(scope="module")
def dadapy_reference():
    assert FIXTURE.exists(), f"{FIXTURE} is missing: see tests/fixtures/geometry/README.md"
    with np.load(FIXTURE, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def test_neighbors_equal_dadapy(dadapy_reference):
    for layer, x in enumerate(dadapy_reference["values"]):
        found = nearest_neighbors(x.astype(np.float64), 30)
        np.testing.assert_array_equal(found.indices, dadapy_reference["knn_indices"][layer])
        np.testing.assert_allclose(found.distances[:, :2], dadapy_reference["nn_dist"][layer], rtol=1e-10)


@pytest.mark.parametrize(("fraction", "key"), [(0.9, "twonn_base_f090"), (0.98, "twonn_base_f098")])
def test_twonn_base_equals_dadapy(dadapy_reference, fraction, key):
    result = intrinsic_dimension(dadapy_reference["values"], fraction=fraction, bootstrap=0, progress=False)
    np.testing.assert_allclose(result.values, dadapy_reference[key], atol=1e-6, rtol=1e-7)


def test_twonn_ml_equals_dadapy(dadapy_reference):
    result = intrinsic_dimension(dadapy_reference["values"], fit="ml", bootstrap=0, progress=False)
    np.testing.assert_allclose(result.values, dadapy_reference["twonn_ml"], atol=1e-6, rtol=1e-12)


def test_twonn_on_dadapy_decimation_draws_equals_its_scaling(dadapy_reference):
    subsets = dadapy_reference["scaling_subsets"].astype(np.int64)
    sizes, draws = dadapy_reference["scaling_n_subset"], dadapy_reference["scaling_n_iter"]
    for layer, x in enumerate(dadapy_reference["values"].astype(np.float64)):
        offset = 0
        for column, (size, count) in enumerate(zip(sizes, draws)):  # the first "draw" is all points
            ids = []
            for _ in range(count):
                ids.append(twonn(x[subsets[offset : offset + size]]))
                offset += size
            assert np.mean(ids) == pytest.approx(dadapy_reference["scaling_ids"][layer, column], abs=1e-6)


def test_decimated_twonn_error_is_the_standard_error_dadapy_and_valeriani_et_al_report(dadapy_reference):
    """On DADApy's own decimation draws, lensnb's estimate from several subsets is their mean and its
    standard error (std with ddof 0 over sqrt(n)), DADApy's ``return_id_scaling_2NN`` error; and a
    decimation m keeps round(N / m) points, as DADApy's subsets do."""
    from lensnb.geometry import NeighborCache
    from lensnb.geometry.intrinsic_dimension import subset_size, twonn_estimate

    subsets = dadapy_reference["scaling_subsets"].astype(np.int64)
    sizes, draws = dadapy_reference["scaling_n_subset"], dadapy_reference["scaling_n_iter"]
    n = dadapy_reference["values"].shape[1]
    assert [subset_size(n, int(np.rint(n / size))) for size in sizes] == sizes.tolist()
    compared = 0
    for layer, x in enumerate(dadapy_reference["values"].astype(np.float64)):
        offset = 0
        for column, (size, count) in enumerate(zip(sizes, draws)):
            found = [NeighborCache().neighbors(x[subsets[offset + i * size : offset + (i + 1) * size]], 2)
                     for i in range(count)]  # fmt: skip
            offset += size * count
            if count == 1:
                continue  # all points: DADApy gives no error there
            value, error = twonn_estimate(found, 0.9, "base", 0, np.random.default_rng(0))
            assert value == pytest.approx(dadapy_reference["scaling_ids"][layer, column], abs=1e-6)
            assert error == pytest.approx(dadapy_reference["scaling_errs"][layer, column], abs=1e-6)
            compared += 1
    assert compared == 3 * 6


def test_gride_equals_dadapy_up_to_its_n_minus_one(dadapy_reference):
    """DADApy's GRIDE likelihood has (N - 1) log d where Denti et al.'s (and lensnb's) has N log d; it drops
    no ratio on these data (``gride_filtered``). Each estimate must be the root of its own score equation,
    N / d + S(d) = 0 for lensnb and (N - 1) / d + S(d) = 0 for DADApy, with S from the closed-form density
    of mu = r_{2n} / r_n: S(d) = sum_i [(n2 - n1 - 1) log mu_i / (1 - mu_i^-d) - (n2 - 1) log mu_i]."""
    from scipy.optimize import brentq

    assert (dadapy_reference["gride_filtered"] == 0).all()
    values = dadapy_reference["values"].astype(np.float64)
    result = intrinsic_dimension_scaling(values, method="gride", max_rank=16, progress=False)
    n = values.shape[1]
    for layer in range(len(values)):
        distances = nearest_neighbors(values[layer], 16).distances
        for scale, (n1, n2) in enumerate(result.details["ranks"].tolist()):
            log_mu = np.log(distances[:, n2 - 1] / distances[:, n1 - 1])

            def score(d, count, log_mu=log_mu, n1=n1, n2=n2):
                return count / d + np.sum((n2 - n1 - 1) * log_mu / -np.expm1(-d * log_mu) - (n2 - 1) * log_mu)

            ours = brentq(score, 1e-3, 500.0, args=(n,), xtol=1e-12)
            theirs = brentq(score, 1e-3, 500.0, args=(n - 1,), xtol=1e-12)
            assert result.details["id"][layer, scale] == pytest.approx(ours, rel=1e-6)
            assert dadapy_reference["gride_ids"][layer, scale] == pytest.approx(theirs, rel=1e-6)
    # the two conventions differ by about 1 / N
    np.testing.assert_allclose(result.details["id"], dadapy_reference["gride_ids"], rtol=2e-3)
    np.testing.assert_allclose(result.details["error"], dadapy_reference["gride_errs"], rtol=2e-3)


@pytest.mark.parametrize("k", [10, 30])
def test_overlaps_equal_dadapy(dadapy_reference, k):
    values, labels = dadapy_reference["values"], dadapy_reference["labels"]
    matrix = neighborhood_overlap_matrix(values, k=k, progress=False)
    np.testing.assert_allclose(matrix.values, dadapy_reference[f"overlap_k{k}"], atol=1e-12)
    plain = label_overlap(values, labels, k=k, progress=False)
    weighted = label_overlap(values, labels, k=k, weighting="class_weighted", progress=False)
    np.testing.assert_allclose(plain.values, dadapy_reference[f"label_overlap_k{k}"], atol=1e-12)
    np.testing.assert_allclose(weighted.values, dadapy_reference[f"label_overlap_weighted_k{k}"], atol=1e-12)
    profile = geometry_profile(values, labels, k=k, bootstrap=0, progress=False)
    np.testing.assert_allclose(profile.overlap.values, dadapy_reference[f"overlap_k{k}"], atol=1e-12)
    np.testing.assert_allclose(profile.label_overlap.values, dadapy_reference[f"label_overlap_k{k}"], atol=1e-12)
    np.testing.assert_allclose(profile.intrinsic_dimension.values, dadapy_reference["twonn_base_f090"], atol=1e-6)


# ------------------------------------------------------------------ real activations


def test_profile_on_activations_and_pooled(tiny_models):
    model = tiny_models["bert"]
    words = ["cats", "dogs", "rain", "tea", "the", "a", "house", "river", "old", "new", "runs", "sings"]
    rng = np.random.default_rng(11)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(4, 9)))) for _ in range(40)]
    acts = lensnb.extract(model, texts, progress=False)
    tokens = geometry_profile(acts, k=5, bootstrap=0, progress=False)
    assert tokens.intrinsic_dimension.layers == acts.layers and tokens.intrinsic_dimension.unit == "token"
    assert tokens.overlap.table is acts.tokens
    pooled = geometry_profile(acts, k=5, pool="mean", bootstrap=0, progress=False)
    assert pooled.intrinsic_dimension.unit == "text" and len(pooled.intrinsic_dimension.table) == 40
    assert np.isfinite(pooled.intrinsic_dimension.values).all()


def test_overlap_between_models_refuses_other_items(tiny_models):
    texts = ["the old house by the river", "cats and dogs sing", "tea in the rain", "a new house runs"] * 3
    acts = lensnb.extract(tiny_models["bert"], texts, progress=False)
    table = acts.tokens.copy()
    table.loc[3, "token"] = "zzz"
    forged = lensnb.Activations(
        {"resid_post": np.asarray(acts.values)}, {"resid_post": acts.layers}, table, model=acts.model
    )  # fmt: skip
    with pytest.raises(LensError, match="'token' differs from data's in 1 of"):
        neighborhood_overlap_matrix(acts, forged, k=3, progress=False)
    other = lensnb.extract(tiny_models["gpt2"], texts, progress=False)
    with pytest.raises(LensError, match="pool='mean'"):
        neighborhood_overlap_matrix(acts, other, k=3, progress=False)
    between = neighborhood_overlap_matrix(acts, other, k=3, pool="mean", progress=False)
    assert between.values.shape == (len(acts.layers), len(other.layers))


def test_bad_inputs_raise_lens_errors():
    x = np.random.default_rng(10).normal(size=(50, 4))
    with pytest.raises(LensError, match="k"):
        neighborhood_overlap(x, x, k=50)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(LensError, match="NaN"):
        intrinsic_dimension(bad, progress=False)
    with pytest.raises(LensError, match="rows|items"):
        neighborhood_overlap(x, x[:40], k=5)
    with pytest.raises(LensError, match="layers"):
        intrinsic_dimension(np.stack([x, x]), layers=[0, 5], progress=False)
    with pytest.raises(LensError, match="labels"):
        label_overlap(x, np.zeros(10), k=5, progress=False)
    with pytest.raises(LensError, match="weighting"):
        label_overlap(x, np.zeros(50), k=5, weighting="balanced", progress=False)
    with pytest.raises(LensError, match="fit"):
        twonn(x, fit="linear")
    with pytest.raises(LensError, match="one \\(n_points, dim\\) matrix"):
        neighborhood_overlap(np.stack([x, x]), x, k=5)  # it used to read the first layer only
    for call in (
        lambda: intrinsic_dimension(x, seed="a", progress=False),
        lambda: intrinsic_dimension_scaling(x, seed=1.5, progress=False),
        lambda: geometry_profile(x[None], k=5, seed=None, progress=False),
    ):
        with pytest.raises(LensError, match="seed"):
            call()
    with pytest.raises(LensError, match="bootstrap"):
        geometry_profile(x[None], k=5, bootstrap=-1, progress=False)


def test_label_overlap_leaves_out_unlabelled_items_and_says_so():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(300, 5))
    labels = rng.choice(np.array(["a", "b", "c"], dtype=object), size=300)
    labels[::7] = None
    keep = np.asarray([v is not None for v in labels])
    result = label_overlap(x, labels, k=6, progress=False)
    expected = label_overlap(x[keep], labels[keep].astype(str), k=6, progress=False)
    assert result.params["n_missing_labels"] == int((~keep).sum()) == 43
    assert result.values[0] == expected.values[0]
    profile = geometry_profile(x[None], labels, k=6, bootstrap=0, progress=False)
    assert profile.label_overlap.values[0] == expected.values[0]


def test_gride_with_copied_points_runs_on_the_distinct_points():
    x = noisy_plane(2000, 3, noise=1e-4)
    for copy in range(1, 5):  # 200 points with 4 copies each: their neighbours would come in tied groups of 5
        x[200 * copy : 200 * (copy + 1)] = x[:200]
    with pytest.warns(UserWarning, match="800 of 2000 points are identical copies"):
        result = intrinsic_dimension_scaling(x, method="gride", max_rank=8, progress=False)
    distinct = intrinsic_dimension_scaling(np.delete(x, np.s_[200:1000], axis=0), method="gride", max_rank=8,
                                           progress=False)  # fmt: skip
    np.testing.assert_array_equal(result.details["id"], distinct.details["id"])
    assert (result.details["ties"] == 0).all()
    assert np.all(np.abs(result.details["id"][0] - 3) < 0.5), result.details["id"]


def test_gride_refuses_bad_bounds_and_warns_at_the_bound():
    mu = np.array([1.5, 2.0, 1.2, 3.0])
    with pytest.warns(UserWarning, match="edge of the search interval"):
        gride_from_ratios(mu, 1, 2, bounds=(1e-3, 0.5))
    for bounds in ((2.0, 1.0), (0.0, 5.0), (1.0,), "ab", (1.0, float("inf")), None):
        with pytest.raises(LensError, match="^bounds: expected two numbers 0 < low < high"):
            gride_from_ratios(mu, 1, 2, bounds=bounds)
    with pytest.raises(LensError, match="tied neighbours"):
        gride_from_ratios(np.array([1.0, 1.5, 2.0, 1.2]), 2, 4)


# ---------------------------------------------------------------------- tied neighbours, labels, scale
def test_tied_neighbours_in_the_kept_ratios_are_refused_not_nan():
    # on a lattice every point's first two neighbours are at the same distance: mu = 1, the base fit 0 / 0
    line = np.arange(100.0)[:, None] * np.ones((1, 2))
    with pytest.raises(LensError, match=r"^x: expected a ratio above 1 among the 90 the 'base' fit keeps"):
        twonn(line)
    with pytest.raises(LensError, match=r"^data \(layer 1\): expected a ratio above 1"):
        intrinsic_dimension(np.stack([noisy_plane(100, 2, ambient=2), line]), progress=False)
    with pytest.raises(LensError, match=r"^mu: expected a ratio above 1 among the 90"):
        twonn_from_ratios(np.r_[np.ones(95), 2.0 * np.ones(5)])
    assert twonn_from_ratios(np.r_[np.ones(85), np.linspace(1.5, 3.0, 15)]) > 0  # kept ratios not all 1: a fit


def test_bootstrap_leaves_out_resamples_without_a_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0 / 0 RuntimeWarning either
        errors = [intrinsic_dimension(noisy_plane(6, 2)[None], seed=s, progress=False).errors[0] for s in range(20)]
    assert all(np.isfinite(e) or np.isnan(e) for e in errors) and np.isfinite(errors).sum() >= 15


def test_missing_labels_of_any_kind_are_left_out():
    x = noisy_plane(60, 3)
    plain = np.repeat(np.arange(3.0), 20)
    plain[:5] = np.nan
    reference = label_overlap(x[None], plain, k=5, progress=False)
    assert reference.params["n_missing_labels"] == 5 and reference.params["n_classes"] == 3
    text = np.array([pd.NA if np.isnan(v) else f"c{int(v)}" for v in plain], dtype=object)
    for labels in (
        plain.astype(np.float32),
        text,
        pd.array(text, dtype="string"),
        pd.array(text, dtype="string").to_numpy(),
    ):
        result = label_overlap(x[None], labels, k=5, progress=False)
        assert result.params["n_missing_labels"] == 5 and result.params["n_classes"] == 3, type(labels)
        assert result.values[0] == reference.values[0]


def test_profile_label_overlap_counts_the_labelled_points():
    x = np.stack([noisy_plane(40, 3, seed=s) for s in range(2)])
    labels = np.array([i % 3 for i in range(40)], dtype=object)
    labels[:5] = None
    profile = geometry_profile(x, labels, k=5, bootstrap=0, progress=False)
    assert profile.label_overlap.params["n_points"] == 35
    assert profile.intrinsic_dimension.params["n_points"] == 40


@pytest.mark.parametrize("scale", [1e160, 1e-170])
def test_data_whose_squares_leave_float64_are_refused_by_the_search(scale):
    with pytest.raises(LensError, match="x: expected values whose squares float64 holds"):
        nearest_neighbors(noisy_plane(50, 3) * scale, 5)
    assert np.array_equal(
        nearest_neighbors(noisy_plane(50, 3) * 1e100, 5).indices, nearest_neighbors(noisy_plane(50, 3), 5).indices
    )


def test_gride_warnings_name_the_layer(monkeypatch):
    module = __import__("importlib").import_module("lensnb.geometry.intrinsic_dimension")

    real = module.gride_from_ratios

    def warning_gride(mu, n1, n2, **options):
        warnings.warn("GRIDE: at the edge of the search interval", stacklevel=2)
        return real(mu, n1, n2, **options)

    monkeypatch.setattr(module, "gride_from_ratios", warning_gride)
    x = np.stack([noisy_plane(200, 2, seed=s) for s in range(2)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        intrinsic_dimension_scaling(x, method="gride", progress=False)
    texts = [str(w.message) for w in caught if "edge" in str(w.message)]
    assert texts and {t.split(":")[0] for t in texts} == {"data (layer 0)", "data (layer 1)"}


def test_labels_of_several_types_that_read_the_same_are_refused_not_merged():
    # object labels are compared as text: 1 and "1" used to become one class silently
    from lensnb.geometry import label_overlap

    x = np.random.default_rng(0).normal(size=(1, 40, 3))
    mixed = np.array([1, "1"] * 20, dtype=object)
    with pytest.raises(LensError, match=r"^labels: expected labels of one type.*\['1'\]"):
        label_overlap(x, mixed, k=3, progress=False)
    strings = np.array(["a", np.str_("b")] * 20, dtype=object)  # python and numpy strings are one kind
    assert label_overlap(x, strings, k=3, progress=False).values.shape == (1,)


def test_decimated_subsets_too_small_for_twonn_are_warned_about_with_the_numbers_unchanged():
    x = noisy_plane(500, 6, seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small = intrinsic_dimension(x[None], fraction=0.98, decimation=32, repeats=4, progress=False)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and caught[0].filename == __file__
    assert messages[0].startswith("intrinsic_dimension: decimation=32 leaves random subsets of 16 of the 500 points")
    assert "fewer than 100 points is unreliable" in messages[0] and "decimation <= 5" in messages[0]
    assert small.params["subset_size"] == 16  # round(500 / 32), as DADApy draws
    # the numbers are those of the same draws, computed as before: the mean of TwoNN on each subset, its standard error
    rng = np.random.default_rng(0)
    subsets = [np.sort(rng.permutation(500)[:16]) for _ in range(4)]
    by_hand = [twonn(x[s], fraction=0.98) for s in subsets]
    assert small.values[0] == pytest.approx(np.mean(by_hand), rel=1e-12)
    assert small.errors[0] == pytest.approx(np.std(by_hand) / 2.0, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 500 / 5 = 100 points per subset: no warning
        intrinsic_dimension(x[None], decimation=5, repeats=2, progress=False)
        intrinsic_dimension(x[None], progress=False)
    with pytest.warns(UserWarning, match=r"decimation=2 leaves random subsets of 75 of the 150 points.*decimation=1"):
        intrinsic_dimension(x[None, :150], decimation=2, repeats=2, progress=False)
    assert intrinsic_dimension(x[None], progress=False).to_pandas().columns.tolist() == [
        "layer", "intrinsic_dimension_twonn", "intrinsic_dimension_twonn_error", "duplicates"
    ]  # fmt: skip
