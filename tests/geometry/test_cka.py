"""CKA: known answers, cross-checks against the n x n Gram-matrix forms, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lensnb
from lensnb import Activations, LensError
from lensnb.geometry.cka import cka_linear, cka_matrix, cka_minibatch, cka_rbf
from lensnb.testing import CORPUS

# ---------------------------------------------------------------------- references written out plainly


def centre(k: np.ndarray) -> np.ndarray:
    h = np.eye(len(k)) - 1.0 / len(k)
    return h @ k @ h


def u_centre(k: np.ndarray) -> np.ndarray:
    n = len(k)
    k = k.copy()
    np.fill_diagonal(k, 0.0)
    m = k.sum(0) / (n - 2)
    m -= m.sum() / (2 * (n - 1))
    k = k - m[:, None] - m[None, :]
    np.fill_diagonal(k, 0.0)
    return k


def gram_cka(k: np.ndarray, g: np.ndarray, debiased: bool) -> float:
    f = u_centre if debiased else centre
    kc, lc = f(k), f(g)
    return float(np.sum(kc * lc) / np.sqrt(np.sum(kc * kc) * np.sum(lc * lc)))


def rbf_gram(x: np.ndarray, threshold: float, median: str) -> np.ndarray:
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    middle = np.median(d2) if median == "all" else np.median(d2[d2 > 0])
    return np.exp(-d2 / (2 * threshold**2 * middle))


def hsic1(k: np.ndarray, g: np.ndarray) -> float:
    """Song et al. (2012) Eq. 5, as Nguyen et al. (2021) write it."""
    n = len(k)
    k, g = k.copy(), g.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(g, 0.0)
    one = np.ones(n)
    return float(
        (np.sum(k * g) + (one @ k @ one) * (one @ g @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * (one @ k @ g @ one))
        / (n * (n - 3))
    )


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 30)) * np.linspace(0.5, 3, 30) + 2.0
    y = np.tanh(x @ rng.standard_normal((30, 20))) + 0.3 * rng.standard_normal((200, 20)) - 1.0
    return x, y


def orthogonal(d: int, seed: int = 1) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


# ---------------------------------------------------------------------- known answers


@pytest.mark.parametrize("debiased", [False, True])
def test_rotation_gives_one(xy, debiased):
    x, _ = xy
    xq = x @ orthogonal(x.shape[1])
    assert cka_linear(x, xq, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
    assert cka_rbf(x, xq, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
    assert cka_rbf(x, xq, median="nonzero", threshold=0.4) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_isotropic_scaling_changes_nothing(xy, debiased):
    x, y = xy
    assert cka_linear(3.0 * x, 0.25 * y, debiased=debiased) == pytest.approx(
        cka_linear(x, y, debiased=debiased), abs=1e-12
    )
    assert cka_rbf(3.0 * x, 0.25 * y, debiased=debiased) == pytest.approx(cka_rbf(x, y, debiased=debiased), abs=1e-12)


def test_unrelated_is_lower_than_related(xy):
    x, y = xy
    noise = np.random.default_rng(5).standard_normal(y.shape)
    assert cka_linear(x, noise, debiased=True) < 0.05 < cka_linear(x, y, debiased=True)


# ---------------------------------------------------------------------- cross-checks with Gram forms


@pytest.mark.parametrize("debiased", [False, True])
def test_feature_space_equals_gram_form(xy, debiased):
    x, y = xy
    expected = gram_cka(x @ x.T, y @ y.T, debiased)
    assert abs(cka_linear(x, y, debiased=debiased) - expected) < 1e-10
    # the debiased form also equals HSIC_1 written out (Song et al. Eq. 5)
    if debiased:
        xc, yc = x - x.mean(0), y - y.mean(0)
        k, g = xc @ xc.T, yc @ yc.T
        assert abs(cka_linear(x, y, debiased=True) - hsic1(k, g) / np.sqrt(hsic1(k, k) * hsic1(g, g))) < 1e-10


@pytest.mark.parametrize("median", ["all", "nonzero"])
@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_equals_gram_form(xy, median, debiased):
    x, y = xy
    for threshold in (1.0, 0.4):
        expected = gram_cka(rbf_gram(x, threshold, median), rbf_gram(y, threshold, median), debiased)
        got = cka_rbf(x, y, threshold=threshold, median=median, debiased=debiased)
        assert abs(got - expected) < 1e-10


@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_tends_to_linear_as_the_bandwidth_grows(xy, debiased):
    # exp(-d2 / 2 sigma^2) rounded to 1 everywhere at threshold 1e8: the value was noise (0.146 for 0.886)
    x, y = xy
    linear = cka_linear(x, y, debiased=debiased)
    for threshold in (1e8, 1e12, 1e100):
        assert cka_rbf(x, y, threshold=threshold, debiased=debiased) == pytest.approx(linear, abs=1e-9)
    for threshold in (1e300, 1e-300):  # sigma^2 under- or overflows float64
        with pytest.raises(LensError, match=r"^threshold: expected a bandwidth at which x's kernel varies"):
            cka_rbf(x, y, threshold=threshold)


def test_median_conventions_differ(xy):
    x, y = xy
    assert abs(cka_rbf(x, y, threshold=0.2) - cka_rbf(x, y, threshold=0.2, median="nonzero")) > 1e-6


def test_minibatch_with_one_batch_is_debiased_cka(xy):
    x, y = xy
    assert abs(cka_minibatch(x, y, batch_size=200) - cka_linear(x, y, debiased=True)) < 1e-12
    assert abs(cka_minibatch(x, y, batch_size=1000, seed=3) - cka_linear(x, y, debiased=True)) < 1e-12


def test_minibatch_is_ratio_of_sums(xy):
    x, y = xy
    batch_size, seed = 32, 7
    order = np.random.default_rng(seed).permutation(len(x))
    parts = np.array_split(order, len(x) // batch_size)  # 6 batches of 33 or 34 rows
    kl = kk = ll = 0.0
    for rows in parts:
        k, g = x[rows] @ x[rows].T, y[rows] @ y[rows].T  # raw rows: no centring
        kl, kk, ll = kl + hsic1(k, g), kk + hsic1(k, k), ll + hsic1(g, g)
    expected = kl / np.sqrt(kk * ll)
    got = cka_minibatch(x, y, batch_size=batch_size, seed=seed)
    assert abs(got - expected) < 1e-10
    # a ratio of sums, not the mean of per-batch CKAs
    mean_of_ratios = np.mean([hsic1(x[r] @ x[r].T, y[r] @ y[r].T) / np.sqrt(
        hsic1(x[r] @ x[r].T, x[r] @ x[r].T) * hsic1(y[r] @ y[r].T, y[r] @ y[r].T)) for r in parts])  # fmt: skip
    assert abs(got - mean_of_ratios) > 1e-6
    assert cka_minibatch(x, y, batch_size=batch_size, seed=seed + 1) != pytest.approx(got, abs=1e-9)


def test_torch_input(xy):
    x, y = xy
    assert cka_linear(torch.from_numpy(x).float(), torch.from_numpy(y)) == pytest.approx(cka_linear(x, y), abs=1e-6)


# ---------------------------------------------------------------------- the layer matrix


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((300, 24))
    layers = [base]
    for _ in range(4):
        layers.append(np.tanh(layers[-1] @ rng.standard_normal((24, 24)) / 4) + 0.2 * rng.standard_normal((300, 24)))
    return np.stack(layers).astype(np.float32)


def test_matrix_within_model_is_symmetric_with_unit_diagonal(stack):
    result = cka_matrix(stack, progress=False)
    assert result.values.shape == (5, 5) and result.layers_a == result.layers_b == (0, 1, 2, 3, 4)
    assert np.array_equal(result.values, result.values.T)
    assert np.allclose(np.diag(result.values), 1.0, atol=1e-14, rtol=0)
    assert result.values[0, 3] == pytest.approx(cka_linear(stack[0], stack[3]), abs=1e-12)
    assert result.name == "cka_linear" and result.params["unit"] == result.unit == "item"
    assert result.params["dtype"] == "float64" and result.params["median"] is None


@pytest.mark.parametrize("debiased", [False, True])
def test_matrix_entries_equal_the_pair_functions(stack, debiased):
    linear = cka_matrix(stack, layers=[1, 3], debiased=debiased, progress=False)
    rbf = cka_matrix(stack, layers=[1, 3], kernel="rbf", debiased=debiased, threshold=0.8, median="nonzero",
                     progress=False)  # fmt: skip
    minibatch = cka_matrix(stack, layers=[1, 3], batch_size=64, seed=4, progress=False)
    assert linear.values[0, 1] == pytest.approx(cka_linear(stack[1], stack[3], debiased=debiased), abs=1e-12)
    expected = cka_rbf(stack[1], stack[3], threshold=0.8, median="nonzero", debiased=debiased)
    assert rbf.values[0, 1] == pytest.approx(expected, abs=1e-12) and rbf.values[1, 0] == rbf.values[0, 1]
    assert rbf.params["threshold"] == 0.8 and rbf.params["median"] == "nonzero"
    assert minibatch.values[0, 1] == pytest.approx(cka_minibatch(stack[1], stack[3], batch_size=64, seed=4), abs=1e-12)
    assert minibatch.name == "cka_linear_minibatch" and minibatch.params["debiased"] is True
    assert minibatch.params["batch_size"] == 64 and minibatch.params["seed"] == 4


def test_matrix_between_two_representations(stack):
    rng = np.random.default_rng(9)
    other = [stack[2] @ rng.standard_normal((24, 40)), stack[4] @ rng.standard_normal((24, 16)), stack[0][:, :5]]
    for debiased in (False, True):
        result = cka_matrix(stack, other, layers=[0, 2, 4], layers_b=[-1, 0, 1], debiased=debiased, progress=False)
        assert result.values.shape == (3, 3)
        assert result.layers_a == (0, 2, 4) and result.layers_b == (2, 0, 1)
        for i, la in enumerate(result.layers_a):
            for j, lb in enumerate(result.layers_b):
                expected = cka_linear(stack[la], other[lb], debiased=debiased)
                assert result.values[i, j] == pytest.approx(expected, abs=1e-12)
    rectangle = cka_matrix(stack, layers=[0, 1], layers_b=[2, 3, 4], progress=False)
    assert rectangle.values.shape == (2, 3)
    assert rectangle.values[1, 2] == pytest.approx(cka_linear(stack[1], stack[4]), abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_float32_close_to_float64(debiased):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((5000, 16)).astype(np.float32) + 5.0  # more rows than one float32 block
    layers = np.stack(
        [base, base @ rng.standard_normal((16, 16)).astype(np.float32) + 1, rng.standard_normal((5000, 16))]
    )
    exact = cka_matrix(layers, debiased=debiased, progress=False).values
    fast = cka_matrix(layers, debiased=debiased, dtype="float32", progress=False)
    assert np.abs(fast.values - exact).max() < 1e-5
    assert fast.params["dtype"] == "float32"
    between = cka_matrix(layers[:2], layers[1:], debiased=debiased, dtype="float32", progress=False).values
    assert np.abs(between - exact[:2, 1:]).max() < 1e-5


# ---------------------------------------------------------------------- real activations


@pytest.fixture(scope="module")
def acts(tiny_models):
    return lensnb.extract(tiny_models["bert"], CORPUS, progress=False)


def test_on_token_activations(acts):
    result = cka_matrix(acts, debiased=True, progress=False)
    assert result.layers_a == acts.layers and result.unit == "token" and result.params["unit"] == "token"
    assert len(result.table) == len(acts) == result.params["n_items"]
    assert result.models == (acts.model["name"],) * 2
    first, last = acts.layers[0], acts.layers[-1]
    expected = cka_linear(acts.layer(first), acts.layer(last), debiased=True)
    assert result.values[0, -1] == pytest.approx(expected, abs=1e-12)


def test_on_pooled_activations(acts):
    result = cka_matrix(acts, pool="mean", progress=False)
    pooled = acts.pool_texts("mean")
    assert result.unit == "text" and result.params["unit"] == "text" and result.params["pool"] == "mean"
    assert result.values.shape == (len(acts.layers),) * 2 and result.params["n_items"] == len(CORPUS)
    assert result.values[1, 2] == pytest.approx(cka_linear(pooled.layer(1), pooled.layer(2)), abs=1e-12)


def test_pooled_float64_activations_are_not_rounded(acts):
    """float64 states pool to float64 means: with a large common offset, rounding the
    means to float32 would move CKA by ~1e-4."""
    values = 1000.0 + 1e-2 * np.asarray(acts.values, dtype=np.float64)
    wide = Activations({"resid_post": values}, {"resid_post": acts.layers}, acts.tokens, texts=acts.texts,
                       model=acts.model)  # fmt: skip
    pooled = wide.pool_texts("mean")
    assert pooled.values.dtype == np.float64
    means = np.stack([pooled.layer(layer) for layer in acts.layers])
    for debiased in (False, True):
        got = cka_matrix(wide, pool="mean", debiased=debiased, dtype="float64", progress=False).values
        gram = [means[i] - means[i].mean(axis=0) for i in range(len(means))]
        expected = gram_cka(gram[0] @ gram[0].T, gram[-1] @ gram[-1].T, debiased)
        assert got[0, -1] == pytest.approx(expected, abs=1e-9)


def test_between_two_models(acts, tiny_models):
    other = lensnb.extract(tiny_models["gpt2"], CORPUS, progress=False)
    result = cka_matrix(acts, other, pool="mean", layers_b=[1, 2], progress=False)
    assert result.values.shape == (len(acts.layers), 2) and result.layers_b == (1, 2)
    assert result.models == (acts.model["name"], other.model["name"]) and result.unit == "text"
    with pytest.raises(LensError, match="pool='mean'"):  # token rows of different tokenizers
        cka_matrix(acts, other, progress=False)
    again = lensnb.extract(tiny_models["bert"], CORPUS, progress=False)
    same = cka_matrix(acts, again, progress=False)
    assert np.allclose(same.values, cka_matrix(acts, progress=False).values, atol=1e-9)


def test_different_tokens_are_refused(acts):
    table = acts.tokens.copy()
    table.loc[3, "token"] = "zzz"
    forged = Activations({"resid_post": np.asarray(acts.values)}, {"resid_post": acts.layers}, table, model=acts.model)
    with pytest.raises(LensError, match="'token' differs from a's in 1 of"):
        cka_matrix(acts, forged, progress=False)


# ---------------------------------------------------------------------- bad input


def test_bad_input_raises(stack, acts):
    x = stack[0]
    with pytest.raises(LensError, match="layer"):
        cka_matrix(acts, layers=[0, 9], progress=False)
    with pytest.raises(LensError, match="layers"):
        cka_matrix(stack, layers=[0, 7], progress=False)
    with pytest.raises(LensError, match="at least 4"):
        cka_linear(x[:3], x[:3], debiased=True)
    with pytest.raises(LensError, match="at least 4"):
        cka_matrix(stack[:, :3], debiased=True, progress=False)
    with pytest.raises(LensError, match="at least 4"):
        cka_minibatch(x[:3], x[:3], batch_size=4)
    with pytest.raises(LensError, match="at least 4"):
        cka_matrix(stack[:, :3], batch_size=4, progress=False)
    with pytest.raises(LensError, match="batch_size"):
        cka_minibatch(x, x, batch_size=3)
    bad = stack.copy()
    bad[2, 10, 3] = np.nan
    with pytest.raises(LensError, match="NaN"):
        cka_matrix(bad, progress=False)
    with pytest.raises(LensError, match="NaN"):
        cka_linear(bad[2], x)
    with pytest.raises(LensError, match="y: expected 300 rows"):
        cka_linear(x, x[:-1])
    with pytest.raises(LensError, match="b: expected 300 items"):
        cka_matrix(stack, stack[:, :-1], progress=False)
    with pytest.raises(LensError, match="kernel"):
        cka_matrix(stack, kernel="cosine", progress=False)
    with pytest.raises(LensError, match="median"):
        cka_rbf(x, x, median="mean")
    with pytest.raises(LensError, match="median"):
        cka_matrix(stack, kernel="rbf", median="offdiag", progress=False)
    for threshold in (0, -1.0, float("nan"), float("inf"), "1", True):
        with pytest.raises(LensError, match="threshold"):
            cka_rbf(x, x, threshold=threshold)
    with pytest.raises(LensError, match="dtype"):
        cka_matrix(stack, dtype="float16", progress=False)
    with pytest.raises(LensError, match="dtype"):
        cka_matrix(stack, kernel="rbf", dtype="float32", progress=False)
    with pytest.raises(LensError, match="batch_size"):
        cka_matrix(stack, kernel="rbf", batch_size=32, progress=False)
    constant = stack.copy()
    constant[1] = 0.1  # its float64 mean is off by rounding: still refused
    for options in ({}, {"debiased": True}, {"batch_size": 50}, {"dtype": "float32"}):
        with pytest.raises(LensError, match=r"a \(layer 1\): expected items that differ"):
            cka_matrix(constant, progress=False, **options)
    with pytest.raises(LensError, match=r"b \(layer 1\): expected items that differ"):
        cka_matrix(stack, constant, progress=False)
    with pytest.raises(LensError, match="y: expected items that differ"):
        cka_linear(x, np.zeros_like(x), debiased=True)
    with pytest.raises(LensError, match="median squared distance"):
        cka_rbf(np.ones((10, 3)), x[:10])


def test_a_small_spread_around_a_large_offset_is_not_constant():
    """Rows that differ by 1e-4 around 1e6 are distinct to float64 (and CKA ignores the
    offset): they are centred and measured, not refused as all the same."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((200, 6)), rng.standard_normal((200, 6))
    y[:, :3] += x[:, :3]
    shifted = 1e6 + 1e-4 * x
    spread = shifted - 1e6  # exact: the same rows without the offset
    expected = {d: cka_linear(spread, y, debiased=d) for d in (False, True)}
    assert cka_linear(shifted, y) == pytest.approx(expected[False], abs=1e-9)
    assert cka_matrix(np.stack([shifted, y]), progress=False).values[0, 1] == pytest.approx(expected[False], abs=1e-9)
    # HSIC_1 is a difference of larger terms, so the rounding of the input shows more: a few 1e-9
    assert cka_linear(shifted, y, debiased=True) == pytest.approx(expected[True], abs=1e-8)
    assert cka_minibatch(shifted, y, batch_size=200) == pytest.approx(expected[True], abs=1e-8)


# ---------------------------------------------------------------------- scale, dtypes, seeds
@pytest.mark.parametrize("scale", [1e-140, 1e-60, 1e40, 1e100, 1e140])
def test_every_estimator_is_invariant_to_scale_across_float64_range(xy, scale):
    # the fourth powers of the Frobenius norms overflowed beyond about 1e76: CKA came out 0
    x, y = xy
    assert cka_linear(x * scale, y) == pytest.approx(cka_linear(x, y), abs=1e-13)
    assert cka_linear(x * scale, y, debiased=True) == pytest.approx(cka_linear(x, y, debiased=True), abs=1e-13)
    assert cka_minibatch(x * scale, y, batch_size=16) == pytest.approx(cka_minibatch(x, y, batch_size=16), abs=1e-13)
    assert cka_rbf(x * scale, y) == pytest.approx(cka_rbf(x, y), abs=1e-13)
    stack = np.stack([x, x * scale, x**2])
    for dtype in ("float64", "float32"):
        ours = cka_matrix(stack, dtype=dtype, progress=False).values
        assert np.abs(ours - cka_matrix(np.stack([x, x, x**2]), dtype=dtype, progress=False).values).max() < 1e-6


@pytest.mark.parametrize("scale", [1e160, 1e-160, 1e-170])
def test_data_whose_squares_leave_float64_are_refused(xy, scale):
    # minibatch CKA called such data "a representation whose rows are all the same"
    x, y = xy
    calls = (
        lambda: cka_linear(x * scale, y),
        lambda: cka_rbf(x * scale, y),
        lambda: cka_minibatch(x * scale, y, batch_size=16),
    )
    for call in calls:
        with pytest.raises(LensError, match=r"x: expected values whose squares float64 holds"):
            call()
    for batch_size in (None, 16):
        with pytest.raises(LensError, match=r"\(layer 1\): expected values whose squares"):
            cka_matrix(np.stack([x, x * scale]), batch_size=batch_size, progress=False)


def test_bfloat16_tensors_work_and_meta_tensors_are_refused(xy):
    x, y = (torch.from_numpy(a).bfloat16() for a in xy)
    assert cka_linear(x, y) == pytest.approx(cka_linear(x.double().numpy(), y.double().numpy()), abs=1e-12)
    with pytest.raises(LensError, match="x: expected a tensor with values"):
        cka_linear(torch.empty(x.shape, device="meta"), y)


@pytest.mark.parametrize("seed", [-1, None, 1.5, True])
def test_minibatch_seed_is_checked(xy, seed):
    with pytest.raises(LensError, match="seed: expected a non-negative integer"):
        cka_minibatch(*xy, batch_size=16, seed=seed)


def test_a_missing_layer_of_activations_is_named_layers(acts):
    with pytest.raises(LensError, match=r"^layers: expected one of the extracted layers"):
        cka_matrix(acts, layers=[0, 99], progress=False)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda x, y: cka_linear(x, y, debiased="no"), "debiased"),
        (lambda x, y: cka_rbf(x, y, debiased="no"), "debiased"),
        (lambda x, y: cka_matrix(np.stack([x, x]), debiased=1), "debiased"),
        (lambda x, y: cka_matrix(np.stack([x, x]), progress="no"), "progress"),
        (lambda x, y: lensnb.geometry.intrinsic_dimension(np.stack([x, x]), progress="no"), "progress"),
        (lambda x, y: lensnb.geometry.neighborhood_overlap_matrix(np.stack([x, x]), k=3, progress="no"), "progress"),
        (lambda x, y: lensnb.geometry.label_overlap(np.stack([x]), np.arange(len(x)) % 2, k=3, progress=0), "progress"),
        (lambda x, y: lensnb.geometry.geometry_profile(np.stack([x, x]), k=3, progress="no"), "progress"),
    ],
)
def test_flags_must_be_true_or_false(xy, call, named):
    # debiased="no" is truthy: taken as given it computed the debiased CKA
    with pytest.raises(LensError, match=rf"^{named}: expected True or False"):
        call(*xy)
