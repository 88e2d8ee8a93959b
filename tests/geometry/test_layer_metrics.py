"""Layer metrics of Skean et al. 2025: prompt / dataset entropy, curvature, augmentation invariance."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import lensnb
from lensnb.errors import LensError
from lensnb.geometry.augmentation import augment_text, augmentation_invariance, dime, infonce, lidar
from lensnb.geometry.layer_metrics import (
    center_and_normalize,
    curvature,
    dataset_entropy,
    matrix_entropy,
    prompt_entropy,
    trajectory_curvature,
)

from ..conftest import require_data

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Probing classifiers ask what each layer of a transformer knows.",
    "The keys to the cabinet are on the table.",
    "Researchers poke at a model on a Tuesday afternoon.",
    "She said that the authors of the paper were right.",
    "Attention heads attend to the previous token and to punctuation.",
    "Geometry of representations changes across layers of the network.",
    "A man, a plan, a canal: Panama!",
]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def rotation(dim: int, seed: int = 1) -> np.ndarray:
    q, _ = np.linalg.qr(rng(seed).normal(size=(dim, dim)))
    return q


def shannon(p: np.ndarray) -> float:
    p = p[p > 0] / p[p > 0].sum()
    return float(-(p * np.log(p)).sum())


def reference_prompt_entropy(z: np.ndarray, alpha: float) -> float:
    """The authors' recipe re-derived step by step (clamp included), for alpha != 1."""
    z = z - z.mean(axis=0)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n, d = z.shape
    k = z.T @ z if n > d else z @ z.T
    k = np.maximum(k, 0.0)
    k = k / np.trace(k)
    lam = np.linalg.eigvalsh(k)
    lam = lam[lam > 0]
    lam = lam / lam.sum()
    return float(np.log(np.sum(lam**alpha)) / (1 - alpha) / min(math.log(n), math.log(d)))


@pytest.fixture(scope="module")
def bert_acts(tiny_models):
    return lensnb.extract(tiny_models["bert"], TEXTS, progress=False)


# ---------------------------------------------------------------------- matrix entropy
class TestMatrixEntropy:
    def test_orthonormal_rows_have_the_maximum(self):
        for alpha in (0.5, 1.0, 2.0, 3.7):
            assert matrix_entropy(np.eye(6), alpha) == pytest.approx(1.0, abs=1e-12)
            assert matrix_entropy(np.eye(6)[:4], alpha) == pytest.approx(1.0, abs=1e-12)  # 4 rows in 6-D

    def test_isotropic_gaussian_is_close_to_one(self):
        assert matrix_entropy(rng().normal(size=(20_000, 8))) == pytest.approx(1.0, abs=2e-3)

    def test_rank_one_is_zero(self):
        z = np.outer(rng().normal(size=9), rng(1).normal(size=5))
        for alpha in (0.5, 1.0, 2.0):
            assert matrix_entropy(z, alpha) == pytest.approx(0.0, abs=1e-9)

    def test_known_spectrum(self):
        p = np.array([0.5, 0.25, 0.125, 0.125])
        z = np.diag(np.sqrt(p)) @ rotation(4)  # Gram eigenvalues are p
        assert matrix_entropy(z, 1.0, normalize=False) == pytest.approx(shannon(p), abs=1e-12)
        assert matrix_entropy(z, 2.0, normalize=False) == pytest.approx(-math.log(np.sum(p**2)), abs=1e-12)
        assert matrix_entropy(z, 0.5, normalize=False) == pytest.approx(2 * math.log(np.sum(np.sqrt(p))), abs=1e-12)
        assert matrix_entropy(z, 1.0) == pytest.approx(shannon(p) / math.log(4), abs=1e-12)

    def test_alpha_one_is_the_limit(self):
        z = rng(2).normal(size=(12, 30))
        at_one = matrix_entropy(z, 1.0)
        assert matrix_entropy(z, 1.0001) == pytest.approx(at_one, abs=1e-4)
        assert matrix_entropy(z, 0.9999) == pytest.approx(at_one, abs=1e-4)
        assert matrix_entropy(z, 2.0) < at_one < matrix_entropy(z, 0.5)  # Renyi entropy falls with alpha
        # log(sum p^alpha) / (1 - alpha) cancelled next to 1: 1 + 1e-14 was 6e-4 off
        for delta in (1e-14, 1e-12, 1e-8):
            assert matrix_entropy(z, 1.0 + delta) == pytest.approx(at_one, abs=max(delta, 1e-12))
            assert matrix_entropy(z, 1.0 - delta) == pytest.approx(at_one, abs=max(delta, 1e-12))
        # the two formulas meet where they hand over (|alpha - 1| = 1e-2)
        assert matrix_entropy(z, 1.0099999) == pytest.approx(matrix_entropy(z, 1.0100001), abs=5e-8)  # slope: 1.4e-8

    def test_invariances_and_side(self):
        z = rng(3).normal(size=(15, 7)) * np.arange(1, 8)
        value = matrix_entropy(z)
        assert matrix_entropy(3.5 * z) == pytest.approx(value, abs=1e-12)
        assert matrix_entropy(z @ rotation(7)) == pytest.approx(value, abs=1e-12)
        assert matrix_entropy(torch.from_numpy(z)) == pytest.approx(value, abs=1e-12)
        assert matrix_entropy(z.T, normalize=False) == pytest.approx(matrix_entropy(z, normalize=False), abs=1e-12)

    def test_clamp_matches_the_reference_recipe(self):
        for shape in ((10, 24), (30, 6)):  # N x N Gram, then D x D covariance
            z = rng(4).normal(size=shape)
            ours = matrix_entropy(center_and_normalize(z), 2.0, clamp_negative=True)
            assert ours == pytest.approx(reference_prompt_entropy(z, 2.0), abs=1e-10)
            assert abs(ours - matrix_entropy(center_and_normalize(z), 2.0)) > 1e-3  # the clamp changes it

    def test_center_and_normalize(self):
        z = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 3.0]])
        out = center_and_normalize(z)
        np.testing.assert_allclose(
            out, [[-1 / math.sqrt(2), -1 / math.sqrt(2)], [1 / math.sqrt(2), -1 / math.sqrt(2)], [0, 1]]
        )
        assert not center_and_normalize(np.ones((3, 2))).any()  # rows at the mean stay zero

    @pytest.mark.parametrize("alpha", [0, -1, float("nan"), float("inf"), True, "1"])
    def test_bad_alpha(self, alpha):
        with pytest.raises(LensError, match="alpha"):
            matrix_entropy(np.eye(3), alpha)

    def test_bad_matrices(self):
        with pytest.raises(LensError, match="z"):
            matrix_entropy(np.array([[1.0, np.nan], [0.0, 1.0]]))
        with pytest.raises(LensError, match="z"):
            matrix_entropy(np.zeros((3, 3)))
        with pytest.raises(LensError, match="z"):
            matrix_entropy(np.ones((1, 4)))  # log(min(1, 4)) = 0
        with pytest.raises(LensError, match="z"):
            matrix_entropy(np.ones(4))


# ---------------------------------------------------------------------- curvature (pure)
class TestTrajectoryCurvature:
    def test_straight_line_is_zero(self):
        line = np.outer(np.arange(7.0) ** 2, rng().normal(size=5)) + 3.0  # uneven steps, one direction
        assert trajectory_curvature(line) == pytest.approx(0.0, abs=1e-7)

    def test_right_angle_zigzag(self):
        zigzag = np.array([[0, 0], [1, 0], [1, 1], [2, 1], [2, 2], [3, 2]], dtype=float)
        assert trajectory_curvature(zigzag) == pytest.approx(math.pi / 2)
        assert trajectory_curvature(zigzag @ rotation(2)[:2] * 4.0) == pytest.approx(math.pi / 2)

    def test_regular_polygon_turns_by_its_exterior_angle(self):
        t = 2 * math.pi * np.arange(10) / 8
        circle = np.stack([np.cos(t), np.sin(t)], axis=1)
        assert trajectory_curvature(circle) == pytest.approx(math.pi / 4)

    def test_reversal_and_absolute_cosine(self):
        back_and_forth = np.array([[0.0, 0], [1, 0], [0, 0], [1, 0]])
        assert trajectory_curvature(back_and_forth) == pytest.approx(math.pi)
        assert trajectory_curvature(back_and_forth, absolute_cosine=True) == pytest.approx(0.0)
        obtuse = np.array([[0.0, 0], [1, 0], [0, 1]])  # turns by 135 degrees
        assert trajectory_curvature(obtuse) == pytest.approx(3 * math.pi / 4)
        assert trajectory_curvature(obtuse, absolute_cosine=True) == pytest.approx(math.pi / 4)

    def test_zero_steps_are_left_out(self):
        z = np.array([[0.0, 0], [1, 0], [1, 0], [1, 1], [2, 1]])
        assert trajectory_curvature(z) == pytest.approx(math.pi / 2)  # only the angle at (1,1) is defined
        assert math.isnan(trajectory_curvature(np.ones((4, 2))))

    def test_needs_three_points(self):
        with pytest.raises(LensError, match="z"):
            trajectory_curvature(np.eye(2))


# ---------------------------------------------------------------------- layer profiles on arrays
def ragged(sizes, n_layers=3, dim=16, seed=5):
    ids = np.repeat(np.arange(len(sizes)), sizes)
    return rng(seed).normal(size=(n_layers, len(ids), dim)), ids, np.r_[0, np.cumsum(sizes)]


class TestProfilesOnArrays:
    def test_prompt_entropy_equals_per_prompt_loop(self):
        sizes = [2, 5, 9, 40, 3, 17, 17]  # includes prompts longer than dim (D x D branch)
        x, ids, off = ragged(sizes)
        for alpha, clamp in ((1.0, False), (2.0, True), (0.5, False)):
            profile = prompt_entropy(x, text_ids=ids, alpha=alpha, clamp_negative=clamp, progress=False)
            expected = np.array([
                [matrix_entropy(center_and_normalize(x[layer, off[i] : off[i + 1]]), alpha, clamp_negative=clamp)
                 for i in range(len(sizes))]
                for layer in range(3)
            ])  # fmt: skip
            np.testing.assert_allclose(profile.details["per_prompt"], expected, atol=1e-10)
            np.testing.assert_allclose(profile.values, expected.mean(axis=1), atol=1e-10)
            np.testing.assert_allclose(profile.errors, expected.std(axis=1, ddof=1), atol=1e-10)
        assert profile.layers == (0, 1, 2)
        assert profile.params["alpha"] == 0.5 and profile.params["n_prompts"] == 7
        assert list(profile.table["n_tokens"]) == sizes
        assert profile.unit == "text"

    def test_reference_recipe_on_prompts(self):
        sizes = [6, 11, 30]
        x, ids, off = ragged(sizes, dim=20)
        profile = prompt_entropy(x, text_ids=ids, alpha=2.0, clamp_negative=True, layers=[1], progress=False)
        expected = np.mean([reference_prompt_entropy(x[1, off[i] : off[i + 1]], 2.0) for i in range(3)])
        assert profile.values[0] == pytest.approx(expected, abs=1e-10)
        assert profile.layers == (1,)

    def test_short_prompts_are_skipped_with_a_count(self):
        x, ids, off = ragged([1, 4, 2, 6])
        with pytest.warns(UserWarning, match="skipped 1 of 4"):
            entropy = prompt_entropy(x, text_ids=ids, progress=False)
        assert entropy.params["n_skipped"] == 1 and np.isnan(entropy.details["per_prompt"][:, 0]).all()
        assert np.all(entropy.details["per_prompt"][:, 2] == 0.0)  # two centred tokens: rank 1
        with pytest.warns(UserWarning, match="skipped 2 of 4"):
            bend = curvature(x, text_ids=ids, progress=False)
        assert bend.params["n_skipped"] == 2

    def test_curvature_equals_per_prompt_loop(self):
        sizes = [3, 8, 25, 4]
        x, ids, off = ragged(sizes)
        for normalize, absolute in ((True, False), (False, True)):
            profile = curvature(x, text_ids=ids, normalize=normalize, absolute_cosine=absolute, progress=False)
            prep = center_and_normalize if normalize else np.asarray
            expected = np.array([
                [trajectory_curvature(prep(x[layer, off[i] : off[i + 1]]), absolute_cosine=absolute)
                 for i in range(len(sizes))]
                for layer in range(3)
            ])  # fmt: skip
            np.testing.assert_allclose(profile.details["per_prompt"], expected, atol=1e-12)
            np.testing.assert_allclose(profile.values, expected.mean(axis=1), atol=1e-12)

    def test_blocks_of_prompts_give_the_same_answers(self, monkeypatch):
        from lensnb.geometry import layer_metrics

        sizes = [1, 2, 7, 3, 30, 4, 5]
        x, ids, _ = ragged(sizes)
        x = x.astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            whole = [f(x, text_ids=ids, progress=False) for f in (prompt_entropy, curvature, dataset_entropy)]
            monkeypatch.setattr(layer_metrics, "_BLOCK_ENTRIES", 16 * 6)  # about 6 rows per block
            blocked = [f(x, text_ids=ids, progress=False) for f in (prompt_entropy, curvature, dataset_entropy)]
        for a, b in zip(whole, blocked):
            np.testing.assert_allclose(a.values, b.values, rtol=1e-12)
        np.testing.assert_allclose(whole[0].details["per_prompt"], blocked[0].details["per_prompt"], rtol=1e-12)

    def test_curvature_known_answers_per_layer(self):
        line = np.outer(np.arange(6.0), rng().normal(size=4))
        zigzag = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [2, 1, 0, 0], [2, 2, 0, 0]], dtype=float)
        x = np.stack([np.concatenate([line, zigzag]), np.concatenate([zigzag[:3], line[:8], zigzag[3:]])])
        ids = np.repeat([0, 1], [6, 5])
        profile = curvature(x[:1], text_ids=ids, normalize=False, progress=False)
        np.testing.assert_allclose(profile.details["per_prompt"][0], [0.0, math.pi / 2], atol=1e-7)
        assert profile.values[0] == pytest.approx(math.pi / 4)

    def test_dataset_entropy(self):
        sizes = [3, 5, 2, 7, 4, 6]
        x, ids, off = ragged(sizes, dim=4)
        profile = dataset_entropy(x, text_ids=ids, progress=False)
        means = np.stack([x[:, off[i] : off[i + 1]].mean(axis=1) for i in range(len(sizes))], axis=1)
        expected = [matrix_entropy(center_and_normalize(means[layer])) for layer in range(3)]
        np.testing.assert_allclose(profile.values, expected, atol=1e-12)
        pooled = dataset_entropy(means, progress=False)  # already one row per prompt
        np.testing.assert_allclose(pooled.values, expected, atol=1e-12)
        assert profile.errors is None and profile.params["n_prompts"] == 6

    def test_dataset_entropy_orthogonal_prompts(self):
        # centred simplex vertices: P - 1 equal eigenvalues -> log(P - 1) / log(P)
        x = np.eye(5)[None]
        assert dataset_entropy(x, progress=False).values[0] == pytest.approx(math.log(4) / math.log(5))

    def test_bad_inputs(self):
        x, ids, _ = ragged([3, 4])
        with pytest.raises(LensError, match="text_ids"):
            prompt_entropy(x, progress=False)  # plain arrays need text_ids
        with pytest.raises(LensError, match="text_ids"):
            prompt_entropy(x, text_ids=ids[:-1], progress=False)
        with pytest.raises(LensError, match="contiguous"):
            curvature(x, text_ids=np.array([0, 1, 0, 1, 0, 1, 1]), progress=False)
        with pytest.raises(LensError, match="alpha"):
            prompt_entropy(x, text_ids=ids, alpha=0.0, progress=False)
        with pytest.raises(LensError, match="alpha"):
            dataset_entropy(x, text_ids=ids, alpha=-2, progress=False)
        with pytest.raises(LensError, match="drop_special"):
            prompt_entropy(x, text_ids=ids, drop_special=True, progress=False)
        with pytest.raises(LensError, match="layers"):
            prompt_entropy(x, text_ids=ids, layers=[7], progress=False)
        bad = x.copy()
        bad[1, 2, 3] = np.nan
        with pytest.raises(LensError, match="NaN"):
            prompt_entropy(bad, text_ids=ids, progress=False)
        with pytest.raises(LensError, match="fewer than 3 tokens"):
            curvature(x[:, :4], text_ids=np.array([0, 0, 1, 1]), progress=False)


# ---------------------------------------------------------------------- on a tiny model's Activations
class TestProfilesOnActivations:
    def test_prompt_entropy_and_curvature(self, bert_acts):
        entropy = prompt_entropy(bert_acts, layers=[0, -1], progress=False)
        assert entropy.layers == (0, 2)
        assert list(entropy.table["text"]) == TEXTS
        tokens = bert_acts.tokens
        for position, layer in enumerate((0, 2)):
            expected = [
                matrix_entropy(center_and_normalize(bert_acts.layer(layer)[(tokens["text_id"] == t).to_numpy()]))
                for t in range(len(TEXTS))
            ]
            np.testing.assert_allclose(entropy.details["per_prompt"][position], expected, atol=1e-10)
        assert np.all((entropy.values > 0) & (entropy.values <= 1))
        bend = curvature(bert_acts, progress=False)
        assert bend.layers == (0, 1, 2) and np.all((bend.values > 0) & (bend.values < math.pi))

    def test_drop_special(self, bert_acts):
        kept = bert_acts.drop_special()
        ids = kept.tokens["text_id"].to_numpy()
        dropped = prompt_entropy(bert_acts, drop_special=True, progress=False)
        plain = prompt_entropy(kept.values, text_ids=ids, progress=False)
        np.testing.assert_allclose(dropped.values, plain.values, atol=1e-12)
        assert list(dropped.table["n_tokens"]) == list(np.bincount(ids))
        assert not np.allclose(dropped.values, prompt_entropy(bert_acts, progress=False).values)

    def test_dataset_entropy_matches_pooled_texts(self, bert_acts):
        tokens_level = dataset_entropy(bert_acts, progress=False)
        text_level = dataset_entropy(bert_acts.pool_texts("mean", include_special=True), progress=False)
        np.testing.assert_allclose(tokens_level.values, text_level.values, rtol=1e-5)
        no_special = dataset_entropy(bert_acts.pool_texts("mean"), progress=False)
        with_dropped = dataset_entropy(bert_acts, drop_special=True, progress=False)
        np.testing.assert_allclose(with_dropped.values, no_special.values, rtol=1e-5)

    def test_text_level_activations_need_tokens(self, bert_acts):
        with pytest.raises(LensError, match="token-level"):
            prompt_entropy(bert_acts.pool_texts("mean"), progress=False)
        with pytest.raises(LensError, match="text_ids"):
            prompt_entropy(bert_acts, text_ids=np.zeros(len(bert_acts)), progress=False)

    def test_every_family(self, tiny_models):
        for family, model in tiny_models.items():
            acts = lensnb.extract(model, TEXTS[:4], progress=False)
            profile = prompt_entropy(acts, progress=False)
            assert profile.layers == acts.layers, family
            assert np.all(np.isfinite(profile.values)) and np.all(profile.values <= 1 + 1e-12), family


# ---------------------------------------------------------------------- augmentation invariance
class TestInvarianceMeasures:
    def test_infonce_known_answer(self):
        n = 5
        expected = math.log(math.exp(10.0) + n - 1) - 10.0  # one-hot rows, temperature 0.1
        assert infonce(np.eye(n), np.eye(n)) == pytest.approx(expected)
        assert infonce(np.eye(n), np.eye(n), symmetric=True) == pytest.approx(expected)
        assert infonce(np.ones((4, 3)), np.ones((4, 3))) == pytest.approx(math.log(4))  # all alike: chance

    def test_identical_noisy_shuffled(self):
        a = rng().normal(size=(60, 16))
        noisy = a + 0.3 * rng(1).normal(size=a.shape)
        shuffled = a[rng(2).permutation(60)]
        assert infonce(a, a) < infonce(a, noisy) < infonce(a, shuffled)
        assert dime(a, a) > dime(a, noisy) > dime(a, shuffled)
        assert abs(dime(a, shuffled)) < 0.25 * dime(a, a)

    def test_rotation_invariance(self):
        a = rng().normal(size=(40, 12))
        b = a + 0.5 * rng(1).normal(size=a.shape)
        q, r = rotation(12, 3), rotation(12, 4)
        assert infonce(a @ q, b @ q) == pytest.approx(infonce(a, b), abs=1e-10)
        assert dime(a @ q, b @ r) == pytest.approx(dime(a, b), abs=1e-10)  # each view on its own
        views = np.stack([a, b], axis=1)
        assert lidar(views @ q) == pytest.approx(lidar(views), abs=1e-8)

    def test_dime_re_derived(self):
        a, b = rng().normal(size=(20, 6)), rng(1).normal(size=(20, 6))
        ka, kb = a @ a.T, b @ b.T

        def entropy(k):
            return shannon(np.clip(np.linalg.eigvalsh(k), 0, None))

        generator = np.random.default_rng(7)
        permuted = np.mean([entropy(ka * kb[np.ix_(p, p)]) for p in (generator.permutation(20) for _ in range(4))])
        expected = (permuted - entropy(ka * kb)) / math.log(6)
        assert dime(a, b, n_permutations=4, seed=7) == pytest.approx(expected, abs=1e-10)

    def test_lidar_re_derived(self):
        z = rng().normal(size=(12, 3, 5))
        n, v, d = z.shape
        mu_i, mu = z.mean(axis=1), z.mean(axis=(0, 1))
        s_b = sum(np.outer(m - mu, m - mu) for m in mu_i) / n
        s_w = sum(np.outer(z[i, j] - mu_i[i], z[i, j] - mu_i[i]) for i in range(n) for j in range(v)) / (n * v)
        w, u = np.linalg.eigh(s_w + 1e-4 * np.eye(d))
        root = u @ np.diag(w**-0.5) @ u.T
        expected = shannon(np.linalg.eigvalsh(root @ s_b @ root)) / math.log(min(n, d))
        assert lidar(z) == pytest.approx(expected, abs=1e-10)
        assert lidar(z, alpha=2.0, normalize=False) < lidar(z, normalize=False)

    def test_lidar_counts_signal_directions(self):
        signal = rng().normal(size=(4000, 4)) @ np.eye(4, 16)  # 4 directions carry the prompts
        views = np.stack([signal, signal + 1e-3 * rng(1).normal(size=signal.shape)], axis=1)
        assert lidar(views, normalize=False) == pytest.approx(math.log(4), abs=0.02)

    def test_bad_arguments(self):
        a = rng().normal(size=(10, 4))
        with pytest.raises(LensError, match="b"):
            infonce(a, a[:-1])
        with pytest.raises(LensError, match="temperature"):
            infonce(a, a, temperature=0)
        with pytest.raises(LensError, match="views"):
            lidar(a)
        with pytest.raises(LensError, match="n_permutations"):
            dime(a, a, n_permutations=0)
        with pytest.raises(LensError, match="alpha"):
            dime(a, a, alpha=0)


class TestAugmentText:
    def test_seeded_and_deterministic(self):
        first = augment_text(TEXTS, seed=3)
        assert first == augment_text(TEXTS, seed=3)
        assert first != augment_text(TEXTS, seed=4)
        assert all(a != b for a, b in zip(first, TEXTS))
        assert isinstance(augment_text(TEXTS[0], seed=3), str)

    def test_what_each_pass_does(self):
        text = "Wonderful representations everywhere"
        split = augment_text(text, seed=0, substitute_p=0, keyboard_p=0)
        assert split.replace(" ", "") == text.replace(" ", "") and split.count(" ") == 3
        keyboard = augment_text(text, seed=0, split_p=0, substitute_p=0)
        assert len(keyboard) == len(text) and keyboard != text
        changed = [(a, b) for a, b in zip(text, keyboard) if a != b]
        rows = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
        where = {c: (r, row.index(c)) for r, row in enumerate(rows) for c in row}
        for a, b in changed:  # neighbouring keys, case kept
            (ra, ca), (rb, cb) = where[a.lower()], where[b.lower()]
            assert abs(ra - rb) <= 1 and abs(ca - cb) <= 1 and a.isupper() == b.isupper()
        assert augment_text("a to be or", seed=0) == "a to be or"  # no word of 4+ letters
        assert augment_text(text, seed=0, split_p=0, substitute_p=0, keyboard_p=0) == text

    def test_bad_arguments(self):
        with pytest.raises(LensError, match="split_p"):
            augment_text("hello", split_p=1.5)
        with pytest.raises(LensError, match="texts"):
            augment_text([1, 2])


@pytest.fixture(scope="module")
def views(tiny_models):
    """Original, two augmented copies and a reordering of TEXTS through the tiny BERT."""
    model = tiny_models["bert"]
    original = lensnb.extract(model, TEXTS, progress=False)
    augmented = lensnb.extract(model, augment_text(TEXTS, seed=1), progress=False)
    other = lensnb.extract(model, augment_text(TEXTS, seed=2), progress=False)
    shuffled = lensnb.extract(model, [TEXTS[i] for i in (3, 0, 6, 1, 7, 2, 5, 4)], progress=False)
    return original, augmented, other, shuffled


class TestAugmentationInvariance:
    # pool_texts averages in float32, the measures in float64: compare those to ~1e-6
    def test_infonce_matches_the_pure_function(self, views):
        original, augmented, _, _ = views
        profile = augmentation_invariance(original, augmented, progress=False)
        assert profile.name == "infonce" and profile.layers == (0, 1, 2) and profile.unit == "text"
        for position, layer in enumerate(profile.layers):
            a = center_and_normalize(original.pool_texts("mean", include_special=True).layer(layer))
            b = center_and_normalize(augmented.pool_texts("mean", include_special=True).layer(layer))
            assert profile.values[position] == pytest.approx(infonce(a, b), rel=1e-5)
        np.testing.assert_allclose(profile.details["mutual_information_bound"], math.log(8) - profile.values)
        assert profile.params["temperature"] == 0.1 and profile.params["better"] == "lower"

    def test_identical_beats_shuffled(self, views):
        original, augmented, _, shuffled = views
        same = augmentation_invariance(original, original, progress=False).values
        aug = augmentation_invariance(original, augmented, progress=False).values
        mixed = augmentation_invariance(original, shuffled, progress=False).values
        assert np.all(same < mixed) and np.all(aug < mixed)
        dime_same = augmentation_invariance(original, original, metric="dime", progress=False).values
        dime_mixed = augmentation_invariance(original, shuffled, metric="dime", progress=False).values
        assert np.all(dime_same > dime_mixed)

    def test_lidar_views_and_text_level_input(self, views):
        original, augmented, other, _ = views
        several = augmentation_invariance(original, [augmented, other], metric="lidar", progress=False)
        assert several.params["n_views"] == 3 and np.all(np.isfinite(several.values))
        pooled = [v.pool_texts("mean", include_special=True) for v in (original, augmented, other)]
        same = augmentation_invariance(pooled[0], pooled[1:], metric="lidar", progress=False)
        np.testing.assert_allclose(same.values, several.values, rtol=1e-5)
        arrays = augmentation_invariance(pooled[0].values, pooled[1].values, metric="dime", progress=False)
        np.testing.assert_allclose(
            arrays.values,
            augmentation_invariance(original, augmented, metric="dime", progress=False).values,
            rtol=1e-5,
            atol=1e-8,  # DiME is ~1e-5 here: float32 sums in a different order differ by ~1e-9
        )

    def test_mismatched_views(self, views, tiny_models):
        original, augmented, other, _ = views
        with pytest.raises(LensError, match="augmented_acts"):
            augmentation_invariance(original, augmented.select(items="text_id < 7"), progress=False)
        with pytest.raises(LensError, match="augmented_acts"):
            augmentation_invariance(original, augmented.select(layers=[0, 1]), progress=False)
        with pytest.raises(LensError, match="augmented_acts"):
            augmentation_invariance(original, [augmented, other], metric="infonce", progress=False)
        wider = lensnb.extract(tiny_models["gpt2"], TEXTS, progress=False)
        if wider.dim != original.dim:
            with pytest.raises(LensError, match="augmented_acts"):
                augmentation_invariance(original, wider, progress=False)
        with pytest.raises(LensError, match="metric"):
            augmentation_invariance(original, augmented, metric="cka", progress=False)
        x = np.zeros((3, 8, 32))
        x[1, 2, 3] = np.nan
        with pytest.raises(LensError, match="NaN"):
            augmentation_invariance(x, x, progress=False)
        with pytest.raises(LensError, match="augmented_acts"):
            augmentation_invariance(np.ones((3, 8, 32)), np.ones((3, 7, 32)), progress=False)


# ---------------------------------------------------------------------- the real model
@pytest.mark.integration
def test_minilm_prompt_entropy_is_high_and_flat(minilm):
    path = require_data("ud_english_ewt/en_ewt-ud-dev.conllu")
    texts = [
        line[len("# text = ") :]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("# text = ")
    ]
    acts = lensnb.extract(minilm, texts[:60], progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entropy = prompt_entropy(acts, progress=False)
    # Skean et al. 2025 report BERT-base prompt entropy high and flat (0.78-0.87); MiniLM on 200 EWT sentences
    # gives 0.81-0.92 over its 7 layers (0.88-0.97 with the reference's clamp).
    assert np.all((entropy.values > 0.75) & (entropy.values < 0.97))
    assert np.ptp(entropy.values) < 0.15


# ---------------------------------------------------------------------- constant layers and prompts
def _constant_layer_one() -> tuple[np.ndarray, np.ndarray]:
    x = rng().normal(size=(3, 40, 6))
    x[1] = 1.5
    return x, np.repeat(np.arange(8), 5)


@pytest.mark.parametrize("measure", [prompt_entropy, dataset_entropy, curvature])
def test_a_constant_layer_is_refused_by_name_not_nan(measure):
    x, ids = _constant_layer_one()
    with pytest.raises(LensError, match=r"^acts \(layer 1\): expected prompts"):
        measure(x, text_ids=ids, progress=False)
    assert np.isfinite(measure(x, text_ids=ids, layers=[0, 2], progress=False).values).all()


@pytest.mark.parametrize("measure", [prompt_entropy, curvature])
def test_a_prompt_constant_at_one_layer_is_left_out_of_that_layer_with_a_warning(measure):
    x = rng().normal(size=(3, 40, 6))
    x[1, :5] = 2.0  # prompt 0, layer 1
    ids = np.repeat(np.arange(8), 5)
    with pytest.warns(UserWarning, match=r"layer 1: 1\)"):
        result = measure(x, text_ids=ids, progress=False)
    assert result.details["n_prompts_used"].tolist() == [8, 7, 8]
    assert result.values[1] == pytest.approx(np.mean(result.details["per_prompt"][1, 1:]))
    assert np.isfinite(result.values).all()


@pytest.mark.parametrize("metric", ["infonce", "lidar", "dime"])
def test_augmentation_metrics_refuse_a_constant_layer(metric):
    p = rng().normal(size=(2, 8, 6))
    p[1] = 3.0
    with pytest.raises(LensError, match=r"^acts \(layer 1\): expected prompts that differ"):
        augmentation_invariance(p, p + 0.01, metric=metric, progress=False)
    with pytest.raises(LensError, match="views: expected prompts that differ"):
        lidar(np.ones((4, 2, 3)))
    with pytest.raises(LensError, match="a, b: expected rows that are not all zero"):
        dime(np.zeros((4, 3)), rng().normal(size=(4, 3)))


@pytest.mark.parametrize(
    "argument, value", [("min_chars", 1), ("min_chars", -1), ("max_words", -1), ("seed", -1), ("seed", 1.5)]
)
def test_augment_text_checks_its_counts(argument, value):
    with pytest.raises(LensError, match=f"^{argument}: expected (an integer >= 2|a non-negative integer)"):
        augment_text("a bb ccc", **{argument: value})


# ---------------------------------------------------------------------- scale, flags and argument types
@pytest.mark.parametrize("power", [-700, -300, 300, 700])
def test_scale_free_measures_ignore_a_power_of_two_bit_for_bit(power):
    # 2**700 overflows float64 when squared, 2**-700 underflows: the measures used to return
    # NaN, log N or a wrong error (norms of inf or 0); a power of two is exact, so the values are equal
    a, b = rng(0).normal(size=(20, 8)), rng(1).normal(size=(20, 8))
    c = 2.0**power
    assert infonce(a * c, b) == infonce(a, b) == infonce(a, b * c)
    assert dime(a * c, b) == dime(a, b)
    assert matrix_entropy(a * c) == matrix_entropy(a)
    assert trajectory_curvature(a * c) == trajectory_curvature(a)
    np.testing.assert_array_equal(center_and_normalize(a * c), center_and_normalize(a))
    if abs(power) <= 300:  # LiDAR's ridge is absolute: LiDAR(c z, c**2 delta) = LiDAR(z, delta)
        views = np.stack([a, b], axis=1)
        assert lidar(views * c, delta=1e-4 * c * c) == pytest.approx(lidar(views, delta=1e-4), rel=1e-12)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_layer_profiles_ignore_the_scale(scale):
    x = rng(0).normal(size=(2, 40, 6))
    ids = np.repeat(np.arange(8), 5)
    for measure in (prompt_entropy, dataset_entropy, curvature):
        np.testing.assert_allclose(
            measure(x * scale, text_ids=ids, progress=False).values, measure(x, text_ids=ids, progress=False).values,
            rtol=1e-12,
        )  # fmt: skip
    views = rng(1).normal(size=(2, 8, 6))
    np.testing.assert_allclose(
        augmentation_invariance(x[:, :8] * scale, views, progress=False).values,
        augmentation_invariance(x[:, :8], views, progress=False).values, rtol=1e-12,
    )  # fmt: skip


def test_lidar_refuses_a_ridge_float64_cannot_hold_beside_the_views():
    views = np.stack([rng(0).normal(size=(10, 4)), rng(1).normal(size=(10, 4))], axis=1)
    with pytest.raises(LensError, match=r"^views: expected views and delta whose ratio.*multiply the views"):
        lidar(views * 1e200)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda a, ids: prompt_entropy(a, text_ids=ids, drop_special="no"), "drop_special"),
        (lambda a, ids: prompt_entropy(a, text_ids=ids, normalize="no"), "normalize"),
        (lambda a, ids: dataset_entropy(a, text_ids=ids, clamp_negative=1), "clamp_negative"),
        (lambda a, ids: curvature(a, text_ids=ids, absolute_cosine="yes"), "absolute_cosine"),
        (lambda a, ids: curvature(a, text_ids=ids, progress="no"), "progress"),
        (lambda a, ids: matrix_entropy(a[0], normalize=None), "normalize"),
        (lambda a, ids: trajectory_curvature(a[0], absolute_cosine="no"), "absolute_cosine"),
        (lambda a, ids: infonce(a[0], a[1], symmetric="no"), "symmetric"),
        (lambda a, ids: dime(a[0], a[1], normalize="no"), "normalize"),
        (lambda a, ids: lidar(np.stack([a[0], a[1]], axis=1), normalize="no"), "normalize"),
        (lambda a, ids: augmentation_invariance(a[:, :8], a[:, 8:16], symmetric="no"), "symmetric"),
        (lambda a, ids: augmentation_invariance(a[:, :8], a[:, 8:16], progress=0), "progress"),
    ],
)
def test_flags_must_be_true_or_false(call, named):
    # "no" is truthy: taken as given it turned the option on
    a = rng(0).normal(size=(2, 40, 6))
    with pytest.raises(LensError, match=rf"^{named}: expected True or False"):
        call(a, np.repeat(np.arange(8), 5))


@pytest.mark.parametrize(
    ("call", "named", "expected"),
    [
        (lambda a, b: dime(a, b, seed=-1), "seed", "a non-negative integer"),
        (lambda a, b: dime(a, b, seed=1.5), "seed", "a non-negative integer"),
        (lambda a, b: augmentation_invariance(a[None], b[None], metric="dime", seed="x"), "seed", "a non-negative"),
        (lambda a, b: lidar(np.stack([a, b], 1), delta=math.inf), "delta", "a finite number > 0"),
        (lambda a, b: infonce(a, b, temperature=math.inf), "temperature", "a finite number > 0"),
        (lambda a, b: lidar(np.ones((4, 2, 0)), normalize=False), "views", r"shape \(n_prompts >= 2"),
        (lambda a, b: augment_text(None), "texts", "a string or a sequence of strings"),
        (lambda a, b: augment_text(5), "texts", "a string or a sequence of strings"),
    ],
)
def test_bad_arguments_of_the_pure_measures_are_named(call, named, expected):
    a, b = rng(0).normal(size=(10, 4)), rng(1).normal(size=(10, 4))
    with pytest.raises(LensError, match=rf"^{named}: expected {expected}"):
        call(a, b)


def test_zero_width_states_are_refused_by_name():
    ids = np.repeat(np.arange(6), 5)
    for measure in (prompt_entropy, dataset_entropy):
        with pytest.raises(LensError, match=r"^acts \(layer 0\): expected at least one feature"):
            measure(np.zeros((2, 30, 0)), text_ids=ids, normalize=False, progress=False)


def test_numpy_scalars_are_numbers():
    a, b = rng(0).normal(size=(10, 4)), rng(1).normal(size=(10, 4))
    assert infonce(a, b, temperature=np.float32(0.5)) == pytest.approx(infonce(a, b, temperature=0.5), rel=1e-7)
    views = np.stack([a, b], axis=1)
    assert lidar(views, delta=np.float32(0.25)) == lidar(views, delta=0.25)
    assert augment_text("abcdef ghijkl", split_p=np.float32(0.5)) == augment_text("abcdef ghijkl", split_p=0.5)
