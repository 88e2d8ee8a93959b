"""Per-layer 2-D projections and their alignment: known answers and cross-checks with scikit-learn."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from scipy.stats import ortho_group
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

import lensnb
from lensnb.errors import LensError
from lensnb.geometry.alignment import align_layers, layer_displacement, procrustes_rotation, rms_spread
from lensnb.geometry.projections import joint_principal_axes, principal_axes, project
from lensnb.geometry.results import Projection


@pytest.fixture(autouse=True)
def _one_thread():
    """One OpenMP/BLAS thread: on a busy 2-core machine scikit-learn's t-SNE with 2 spinning OpenMP
    threads ran 20-100x slower on these tiny inputs (0.2 s became 5-22 s). Results do not depend on it."""
    with threadpool_limits(limits=1):
        yield


TEXTS = ["The cat sat on the mat.", "A dog barked at the mailman twice.", "Ideas sleep furiously."]


def anisotropic_layers(n_layers: int = 3, n: int = 300, dim: int = 20, seed: int = 0) -> np.ndarray:
    """(n_layers, n, dim) Gaussian clouds with well separated variances (distinct principal axes)."""
    rng = np.random.default_rng(seed)
    scales = np.linspace(5.0, 0.5, dim)
    layers = [rng.normal(size=(n, dim)) * scales @ ortho_group.rvs(dim, random_state=seed + i) for i in range(n_layers)]
    return np.stack(layers) + rng.normal(size=(n_layers, 1, dim)) * 3.0  # and different means


def two_clusters(n: int = 150, dim: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    centres = np.zeros((2, dim))
    centres[1, 0] = 12.0
    return rng.normal(size=(n, dim)) + centres[labels], labels


def assert_equal_up_to_sign(actual: np.ndarray, expected: np.ndarray, atol: float) -> None:
    """Columns equal up to one sign per column."""
    for column in range(expected.shape[1]):
        sign = np.sign(actual[:, column] @ expected[:, column])
        np.testing.assert_allclose(sign * actual[:, column], expected[:, column], atol=atol)


def separated(embedding: np.ndarray, labels: np.ndarray) -> bool:
    """Every point is nearer its own cluster's centroid than the other's."""
    centroids = np.stack([embedding[labels == k].mean(axis=0) for k in (0, 1)])
    nearest = np.argmin(((embedding[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    return bool((nearest == labels).all())


# --- PCA ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 300, 20), (2, 40, 60)])  # scatter path (d <= n) and Gram path (d > n)
def test_pca_matches_scikit_learn_per_layer(shape):
    values = anisotropic_layers(*shape)
    projection = project(values, "pca", align=False, progress=False)
    assert projection.coordinates.shape == (shape[0], shape[1], 2)
    assert projection.coordinates.dtype == np.float32
    for layer in range(shape[0]):
        expected = PCA(n_components=2, svd_solver="full").fit_transform(values[layer])
        scale = np.abs(expected).max()
        assert_equal_up_to_sign(projection.coordinates[layer], expected, atol=1e-5 * scale)
    np.testing.assert_array_equal(projection.displacement, projection.displacement_unaligned)


def test_pca_of_float32_states_agrees_with_float64():
    values = anisotropic_layers(3, 500, 40)
    single = project(values.astype(np.float32), "pca", progress=False)
    double = project(values, "pca", progress=False)
    scale = np.abs(double.coordinates).max()
    np.testing.assert_allclose(single.coordinates, double.coordinates, atol=1e-5 * scale)
    joint_single = project(values.astype(np.float16), "pca_joint", progress=False)
    joint_double = project(values.astype(np.float16).astype(np.float64), "pca_joint", progress=False)
    np.testing.assert_allclose(joint_single.coordinates, joint_double.coordinates, atol=1e-5 * scale)


def test_pca_sign_convention_is_deterministic():
    x = anisotropic_layers(1, 200, 12)[0]
    mean, axes = principal_axes(x)
    np.testing.assert_allclose(axes.T @ axes, np.eye(2), atol=1e-12)
    largest = axes[np.argmax(np.abs(axes), axis=0), [0, 1]]
    assert (largest > 0).all()
    # Negating the data flips the raw eigenvectors; the convention flips them back, so scores negate.
    _, axes_negated = principal_axes(-x)
    np.testing.assert_allclose(axes_negated, axes, atol=1e-10)
    scores = project(x[None], "pca", align=False, progress=False).coordinates[0]
    negated = project(-x[None], "pca", align=False, progress=False).coordinates[0]
    np.testing.assert_allclose(negated, -scores, atol=1e-4)
    np.testing.assert_allclose(scores, (x - mean) @ axes, atol=1e-4)


def test_joint_pca_matches_scikit_learn_on_stacked_rows():
    values = anisotropic_layers(3, 200, 15)
    projection = project(values, "pca_joint", align=False, progress=False)
    stacked = values.reshape(-1, values.shape[-1])
    expected = PCA(n_components=2, svd_solver="full").fit_transform(stacked).reshape(3, 200, 2)
    actual = projection.coordinates.astype(np.float64)
    scale = np.abs(expected).max()
    assert_equal_up_to_sign(actual.reshape(-1, 2), expected.reshape(-1, 2), atol=1e-5 * scale)
    # the streaming path equals the stacked path (including the Gram path when dim > rows)
    mean, axes = joint_principal_axes(list(values))
    mean_stacked, axes_stacked = principal_axes(stacked)
    np.testing.assert_allclose(mean, mean_stacked, atol=1e-12)
    np.testing.assert_allclose(axes, axes_stacked, atol=1e-10)
    wide = anisotropic_layers(2, 10, 30)
    _, axes_wide = joint_principal_axes(list(wide))
    _, axes_wide_stacked = principal_axes(wide.reshape(-1, 30))
    np.testing.assert_allclose(axes_wide, axes_wide_stacked, atol=1e-10)


# --- alignment ----------------------------------------------------------------------


def test_procrustes_recovers_a_known_rotation_or_reflection():
    rng = np.random.default_rng(1)
    cloud = rng.normal(size=(100, 2)) * [3.0, 1.0]
    for q in (ortho_group.rvs(2, random_state=3), np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]])):
        rotation = procrustes_rotation(cloud @ q + [5.0, -2.0], cloud)  # maps the moved cloud back
        np.testing.assert_allclose(rotation, q.T, atol=1e-12)
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(2), atol=1e-12)


def test_alignment_undoes_rotations_and_reflections():
    rng = np.random.default_rng(2)
    cloud = rng.normal(size=(300, 2)) * [4.0, 1.0]
    moves = [np.eye(2), np.diag([-1.0, 1.0]), ortho_group.rvs(2, random_state=5), np.diag([1.0, -1.0])]
    moves.append(ortho_group.rvs(2, random_state=6) @ np.diag([-1.0, 1.0]))
    layers = np.stack([cloud @ q + rng.normal(size=2) for q in moves])
    unaligned = layer_displacement(layers)
    aligned = align_layers(layers)
    assert (unaligned > 0.5).all()
    np.testing.assert_allclose(layer_displacement(aligned), 0.0, atol=1e-10)
    np.testing.assert_allclose(aligned, np.broadcast_to(layers[0], layers.shape), atol=1e-10)


def test_alignment_is_rigid_and_keeps_the_reference_layer():
    rng = np.random.default_rng(3)
    layers = rng.normal(size=(4, 80, 2)) * rng.uniform(0.5, 5.0, size=(4, 1, 2)) + rng.normal(size=(4, 1, 2))
    for reference in (0, 2):
        aligned = align_layers(layers, reference=reference)
        np.testing.assert_array_equal(aligned[reference], layers[reference])
        for before, after in zip(layers, aligned):
            np.testing.assert_allclose(pdist(after), pdist(before), rtol=1e-12, atol=1e-12)
            assert rms_spread(after) == pytest.approx(rms_spread(before), rel=1e-12)
            np.testing.assert_allclose(after.mean(axis=0), layers[reference].mean(axis=0), atol=1e-12)


def test_displacement_known_answers():
    cloud = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # spread 1
    point = np.zeros((4, 2))
    layers = np.stack([cloud, cloud, cloud + [0.5, 0.0], -cloud + [0.5, 0.0], point + [0.5, 0.0], point])
    # mirrored through the centroid: every point moves 2; onto its centroid: moves 1, mean spread sqrt(1/2);
    # between two zero-spread layers: 0 by definition
    expected = [0.0, 0.5, 2.0, 1.0 / np.sqrt(0.5), 0.0]
    np.testing.assert_allclose(layer_displacement(layers), expected, atol=1e-12)


def test_project_pca_aligns_rotated_copies_of_one_cloud():
    """Layers that are high-dimensional rotations of one cloud: PCA finds the same plane, up to sign flips."""
    rng = np.random.default_rng(4)
    base = rng.normal(size=(250, 12)) * np.linspace(6.0, 0.5, 12)
    values = np.stack([base @ ortho_group.rvs(12, random_state=10 + i) for i in range(6)])
    projection = project(values, "pca", progress=False)
    assert projection.displacement_unaligned.max() > 1.0  # some layers came out mirrored
    np.testing.assert_allclose(projection.displacement, 0.0, atol=1e-5)
    np.testing.assert_allclose(projection.coordinates, np.broadcast_to(projection.coordinates[0], values.shape[:2] + (2,)), atol=1e-4)  # fmt: skip
    assert projection.params["align"] is True and projection.params["reference_layer"] == 0


# --- ICA, t-SNE, UMAP ---------------------------------------------------------------


def test_ica_recovers_mixed_sources_and_reproduces():
    rng = np.random.default_rng(5)
    sources = np.stack([rng.uniform(-1, 1, 400), np.sign(rng.normal(size=400)) * rng.exponential(size=400)], axis=1)
    mixed = np.stack([sources @ rng.normal(size=(2, 6)) for _ in range(2)]) + rng.normal(size=(2, 400, 6)) * 1e-3
    first = project(mixed, "ica", seed=3, progress=False)
    again = project(mixed, "ica", seed=3, progress=False)
    assert first.coordinates.shape == (2, 400, 2) and first.coordinates.dtype == np.float32
    np.testing.assert_array_equal(first.coordinates, again.coordinates)
    assert first.params["whiten"] == "unit-variance" and first.params["seed"] == 3
    unaligned = project(mixed, "ica", seed=3, align=False, progress=False)
    for layer in unaligned.coordinates:
        correlation = np.abs(np.corrcoef(layer.T, sources.T)[:2, 2:])
        assert np.sort(correlation.max(axis=0)).min() > 0.99  # each source found by one component


def centroid_shift(projection: Projection, labels: np.ndarray) -> float:
    """How far cluster 0's centroid moves relative to the whole cloud's, first to second layer, per unit spread."""
    first, second = (layer[labels == 0].mean(axis=0) - layer.mean(axis=0) for layer in projection.coordinates)
    return float(np.linalg.norm(second - first) / rms_spread(projection.coordinates[0]))


def test_tsne_separates_clusters_seeds_reproduce_and_alignment_fixes_the_mirror():
    values, labels = two_clusters(150)
    mirrored = np.stack([values, -values])  # same distances; PCA init (and so the map) comes out mirrored
    options = {"perplexity": 10.0, "max_iter": 500}
    first = project(mirrored, "tsne", seed=1, progress=False, **options)
    again = project(mirrored, "tsne", seed=1, progress=False, **options)
    assert first.coordinates.shape == (2, 150, 2) and first.coordinates.dtype == np.float32
    np.testing.assert_array_equal(first.coordinates, again.coordinates)
    assert all(separated(layer, labels) for layer in first.coordinates)
    assert first.params["perplexity"] == 10.0 and first.params["init"] == "pca"
    # init="pca" is deterministic in scikit-learn; with a random init the seed matters
    seeded = [project(values[None], "tsne", seed=s, init="random", progress=False, **options) for s in (2, 2, 3)]
    np.testing.assert_array_equal(seeded[0].coordinates, seeded[1].coordinates)
    assert not np.allclose(seeded[0].coordinates, seeded[2].coordinates, atol=1e-2)
    # the second map comes out mirrored; alignment puts the clusters back where they were
    independent = project(mirrored, "tsne", seed=1, align=False, progress=False, **options)
    np.testing.assert_array_equal(independent.coordinates[0], first.coordinates[0])  # the reference layer
    assert centroid_shift(independent, labels) > 1.0
    assert centroid_shift(first, labels) < 0.05
    assert first.displacement[0] < 0.5 * first.displacement_unaligned[0]


def test_umap_separates_clusters_and_reproduces():
    import umap  # noqa: F401  (a test dependency: when missing, this test fails rather than skips)

    values, labels = two_clusters(150)
    noisy = np.stack([values, values + np.random.default_rng(7).normal(size=values.shape) * 0.3])
    options = {"n_neighbors": 10, "n_epochs": 100}
    first = project(noisy, "umap", seed=4, progress=False, **options)
    again = project(noisy, "umap", seed=4, progress=False, **options)
    np.testing.assert_array_equal(first.coordinates, again.coordinates)
    assert first.coordinates.shape == (2, 150, 2) and first.coordinates.dtype == np.float32
    assert all(separated(layer, labels) for layer in first.coordinates)
    assert first.params["n_neighbors"] == 10 and first.params["seed"] == 4 and first.params["init"] == "spectral"
    assert centroid_shift(first, labels) < 0.2  # the noisy copy lands where the first layer is
    assert first.displacement[0] <= first.displacement_unaligned[0] + 1e-12
    alone = project(noisy[:1], "umap", seed=4, progress=False, **options)
    np.testing.assert_array_equal(alone.coordinates[0], first.coordinates[0])  # a layer's map is its own


# --- inputs -------------------------------------------------------------------------


def test_activations_torch_and_layers(tiny_models):
    acts = lensnb.extract(tiny_models["bert"], TEXTS, progress=False)
    projection = project(acts, "pca", progress=False)
    assert projection.layers == acts.layers
    assert projection.table is acts.table and projection.unit == acts.unit
    assert projection.coordinates.shape == (len(acts.layers), len(acts.table), 2)
    from_array = project(np.asarray(acts.values), "pca", progress=False)
    np.testing.assert_allclose(projection.coordinates, from_array.coordinates, atol=1e-5)
    from_torch = project(torch.from_numpy(np.asarray(acts.values)), "pca", progress=False)
    np.testing.assert_allclose(from_torch.coordinates, from_array.coordinates, atol=1e-5)
    last = project(acts, "pca", layers=[-1], progress=False)
    assert last.layers == (acts.layers[-1],) and last.displacement.shape == (0,)
    unaligned = project(acts, "pca", align=False, progress=False)
    np.testing.assert_allclose(last.coordinates[0], unaligned.layer(acts.layers[-1]), atol=1e-5)
    pooled = project(acts, "pca", pool="mean", progress=False)
    assert pooled.unit == "text" and pooled.coordinates.shape == (len(acts.layers), len(TEXTS), 2)


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda v: project(v, "mds"), "method"),
        (lambda v: project(v, "pca", layers=[7]), "layers"),
        (lambda v: project(v[0, :, 0], "pca"), "data"),
        (lambda v: project(v[..., None], "pca"), "data"),
        (lambda v: project(v[:, :, :1], "pca"), "data"),
        (lambda v: project(v, "tsne", perplexity=40), "perplexity"),
        (lambda v: project(v, "tsne", init="spectral"), "init"),
        (lambda v: project(v, "tsne", init="previous"), "init"),
        (lambda v: project(v, "tsne", n_iter=10), "n_iter"),
        (lambda v: project(v, "tsne", n_components=3), "n_components"),
        (lambda v: project(v, "umap", n_neighbors=40), "n_neighbors"),
        (lambda v: project(v, "ica", random_state=1), "random_state"),
        (lambda v: project(v, "ica", whiten=False), "whiten"),
        (lambda v: project(v, "pca", whiten=True), "whiten"),
        (lambda v: project(v, "pca", seed=-1), "seed"),
        (lambda v: project(v, "pca", align="yes"), "align"),
    ],
)
def test_bad_input_raises_lens_error(call, named):
    values = np.random.default_rng(0).normal(size=(3, 40, 5))
    with pytest.raises(LensError, match=f"^{named}"):
        call(values)


def test_nan_and_missing_umap_raise_lens_error(monkeypatch):
    values = np.random.default_rng(0).normal(size=(2, 30, 4))
    values[1, 7, 2] = np.nan
    with pytest.raises(LensError, match="layer 1.*NaN"):
        project(values, "pca", progress=False)
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap now raises ImportError
    with pytest.raises(LensError, match=r'pip install "lensnb\[umap\]"'):
        project(values[:1], "umap", progress=False)


# ---------------------------------------------------------------------- degenerate layers and options
@pytest.mark.parametrize(
    "method", ["tsne", "ica"] + (["umap"] if __import__("importlib").util.find_spec("umap") else [])
)
def test_a_constant_layer_is_refused_by_name_before_fitting(method):
    # scikit-learn's t-SNE crashed the process (segfault) on a layer whose rows are all the same
    x = np.random.default_rng(0).normal(size=(3, 30, 5))
    x[1] = 2.0
    options = {"perplexity": 3} if method == "tsne" else {"n_neighbors": 5} if method == "umap" else {}
    with pytest.raises(LensError, match=r"data \(layer 1\): expected items that differ"):
        project(x, method, progress=False, **options)
    assert np.isfinite(project(x, "pca", progress=False).coordinates).all()  # PCA takes it


def test_ica_refuses_a_layer_varying_along_one_direction():
    x = np.random.default_rng(0).normal(size=(2, 40, 5))
    x[1][:, 1:] = 0.0
    with pytest.raises(LensError, match=r"data \(layer 1\): expected items that vary along at least 2 directions"):
        project(x, "ica", progress=False)


def test_tsne_own_method_is_passed_as_tsne_method_and_numpy_perplexity_is_accepted():
    x = np.random.default_rng(0).normal(size=(2, 40, 5))
    exact = project(x, "tsne", perplexity=np.int64(5), tsne_method="exact", progress=False)
    assert exact.params["tsne_method"] == "exact" and type(exact.params["perplexity"]) is int
    assert np.isfinite(exact.coordinates).all()
    with pytest.raises(LensError, match="tsne_method"):
        project(x, "tsne", perplexity=5, tsne_method="nope", progress=False)  # scikit-learn's own check, worded


def test_bfloat16_tensors_are_projected_and_meta_tensors_refused():
    x = torch.randn(2, 30, 6)
    ours = project(x.bfloat16(), "pca", progress=False).coordinates
    assert np.allclose(ours, project(x.bfloat16().float(), "pca", progress=False).coordinates)
    with pytest.raises(LensError, match="meta device"):
        project(torch.empty(2, 30, 6, device="meta"), "pca", progress=False)


# ---------------------------------------------------------------------- scale, option values, arguments
@pytest.mark.parametrize(
    ("scale", "dtype"), [(1e30, np.float32), (1e-25, np.float32), (1e35, np.float64), (1e-35, np.float64)]
)
@pytest.mark.parametrize("method", ["pca", "pca_joint"])
def test_pca_of_data_whose_squares_over_or_underflow_is_the_scaled_pca(scale, dtype, method):
    # the squares of 1e30 overflow float32, those of 1e-25 underflow it; the map is in the data's units
    x = np.random.default_rng(0).normal(size=(3, 40, 6)) * np.array([3, 2, 1, 1, 0.5, 0.2])
    scaled = project((x * scale).astype(dtype), method, align=False, progress=False).coordinates
    plain = project(x.astype(dtype), method, align=False, progress=False).coordinates
    np.testing.assert_allclose(scaled / scale, plain, rtol=0, atol=1e-6 * np.abs(plain).max())


@pytest.mark.parametrize("scale", [1e200, 1e-200])
@pytest.mark.parametrize("method", ["pca", "pca_joint"])
def test_pca_coordinates_float32_cannot_hold_are_refused_not_inf_or_zero(scale, method):
    x = np.random.default_rng(0).normal(size=(2, 30, 4)) * scale
    with pytest.raises(LensError, match=r"^data \(layer 0\): expected coordinates float32 holds.*Multiply the data"):
        project(x, method, progress=False)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_principal_axes_ignore_the_scale(scale):
    x = np.random.default_rng(0).normal(size=(50, 6)) * np.array([3, 2, 1, 1, 0.5, 0.2])
    np.testing.assert_allclose(principal_axes(x * scale)[1], principal_axes(x)[1], atol=1e-12)
    np.testing.assert_allclose(principal_axes((x * scale)[:5])[1], principal_axes(x[:5])[1], atol=1e-12)  # Gram path


@pytest.mark.parametrize("method", ["ica", "tsne"])
@pytest.mark.parametrize("scale", [1e30, 1e-25])
def test_scale_free_maps_of_float32_data_whose_squares_over_or_underflow(method, scale):
    # t-SNE collapsed every point onto one (its float32 distances overflowed); ICA raised a raw ValueError
    x = np.random.default_rng(0).normal(size=(2, 40, 6)) * np.array([3, 2, 1, 1, 0.5, 0.2])
    options = {"perplexity": 5, "max_iter": 250} if method == "tsne" else {}
    maps = project((x * scale).astype(np.float32), method, progress=False, **options).coordinates
    assert np.isfinite(maps).all()
    assert all(len(np.unique(layer.round(5), axis=0)) == 40 for layer in maps)
    if method == "ica":  # whitened: the map itself does not depend on the scale
        plain = project(x.astype(np.float32), method, progress=False).coordinates
        np.testing.assert_allclose(maps, plain, atol=1e-5)


@pytest.mark.parametrize(
    ("method", "options", "said"),
    [
        ("tsne", {"perplexity": 5, "metric": "precomputed"}, 'init="pca" cannot be used with metric="precomputed"'),
        ("ica", {"w_init": np.eye(3)}, "w_init has invalid shape"),
    ],
)
def test_option_values_the_estimator_refuses_are_named(method, options, said):
    x = np.random.default_rng(0).normal(size=(2, 30, 5))
    with pytest.raises(LensError, match=r"^method_options: expected values the \w+ estimator accepts") as info:
        project(x, method, progress=False, **options)
    assert said in str(info.value)


@pytest.mark.skipif(not __import__("importlib").util.find_spec("umap"), reason="umap-learn not installed")
def test_umap_option_values_it_refuses_are_named():
    x = np.random.default_rng(0).normal(size=(2, 30, 5))
    with pytest.raises(LensError, match=r"^method_options: .*min_dist cannot be negative"):
        project(x, "umap", n_neighbors=5, min_dist=-1.0, progress=False)


def test_tsne_of_one_feature_needs_a_random_init():
    x = np.random.default_rng(0).normal(size=(2, 30, 1))
    with pytest.raises(LensError, match=r"^init: expected 'random' for data with one feature"):
        project(x, "tsne", perplexity=5, progress=False)
    assert project(x, "tsne", perplexity=5, max_iter=250, init="random", progress=False).coordinates.shape == (2, 30, 2)


def test_site_for_plain_arrays_and_pool_for_pooled_activations_are_refused(tiny_models):
    x = np.random.default_rng(0).normal(size=(2, 30, 5))
    with pytest.raises(LensError, match=r"^site: expected None for plain arrays"):
        project(x, site="attn_out", progress=False)
    with pytest.raises(LensError, match=r"^data \(layer 0\): expected at least one feature"):
        project(x[:, :, :0], progress=False)
    pooled = lensnb.extract(tiny_models["bert"], TEXTS, progress=False).pool_texts("mean")
    with pytest.raises(LensError, match=r"^pool: expected None for text-level Activations"):
        project(pooled, pool="mean", progress=False)


def test_the_site_projected_is_recorded(tiny_models):
    acts = lensnb.extract(tiny_models["bert"], TEXTS, sites=("resid_post", "mlp_out"), progress=False)
    assert project(acts.select(sites="resid_post"), "pca", progress=False).params["site"] == "resid_post"
    assert project(acts, "pca", site="mlp_out", progress=False).params["site"] == "mlp_out"
    assert project(np.asarray(acts.arrays["resid_post"]), "pca", progress=False).params["site"] is None


def test_a_relevance_is_refused_with_what_to_pass_instead():
    import pandas as pd

    from lensnb.relevance.result import Relevance

    tokens = pd.DataFrame({"text_id": [0, 0], "position": [0, 1], "token": ["a", "b"]})
    texts = pd.DataFrame({"text_id": [0], "text": ["a b"]})
    relevance = Relevance("hand", {}, tokens, texts, np.zeros(2), texts[["text_id"]])
    with pytest.raises(LensError, match=r"A Relevance holds one relevance score per token.*lensnb\.extract"):
        project(relevance)
