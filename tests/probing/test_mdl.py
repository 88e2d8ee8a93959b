"""MDL online code (Voita & Titov 2020): block boundaries, exact code lengths, known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from lensnb.errors import LensError
from lensnb.probing.mdl import VOITA_PORTIONS, block_ends, mdl_online, online_codelength


def _data(n=2000, k=4, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    random_features = rng.normal(size=(n, dim))
    separable = 5.0 * rng.normal(size=(k, dim))[y] + rng.normal(size=(n, dim))
    return y, random_features, separable


def test_block_ends_follow_the_papers_portions():
    assert block_ends(100_000).tolist() == [100, 200, 400, 800, 1600, 3200, 6250, 12500, 25000, 50000, 100000]
    assert len(VOITA_PORTIONS) == 11
    assert block_ends(1000).tolist() == [1, 2, 4, 8, 16, 32, 62, 125, 250, 500, 1000]
    assert block_ends(50).tolist() == [1, 3, 6, 12, 25, 50]  # floor, at least 1; coinciding boundaries merged
    with pytest.raises(LensError, match="portions"):
        block_ends(100, [10, 50])


def test_online_code_with_a_prior_probe_matches_the_hand_computed_length():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 3, 400)
    codes[:2] = [0, 1]  # two classes in the first prefix: no frequency fallback
    x = rng.normal(size=(400, 2))
    smoothing = 0.01
    result = online_codelength(x, codes, 3, probe=DummyClassifier(strategy="prior"), portions=(0.5, 10, 50, 100),
                               smoothing=smoothing)  # fmt: skip
    ends = [2, 40, 200, 400]
    expected = 2 * np.log2(3)
    for start, stop in zip(ends[:-1], ends[1:]):
        counts = np.bincount(codes[:start], minlength=3)
        prior = counts / counts.sum()
        proba = (1 - smoothing) * prior + smoothing / 3
        expected += -np.log2(proba[codes[start:stop]]).sum()
    assert result["ends"].tolist() == ends
    assert result["online"] == pytest.approx(expected, rel=1e-12)
    assert result["uniform"] == pytest.approx(400 * np.log2(3))
    assert result["block_bits"][0] == pytest.approx(2 * np.log2(3))
    assert result["fallback_blocks"] == []


def test_single_class_prefix_falls_back_to_laplace_frequencies():
    codes = np.array([1, 1, 0, 1, 0, 0, 1, 1, 0, 1])
    result = online_codelength(np.zeros((10, 1)), codes, 2, portions=(20, 50, 100))
    # block 1 (items 2..4) is coded with add-one counts of [1, 1]: p(0) = 1/4, p(1) = 3/4
    assert result["fallback_blocks"] == [1]
    assert result["block_bits"][1] == pytest.approx(-np.log2(0.25) - np.log2(0.75) - np.log2(0.25))


def test_random_labels_cost_about_log2_k_and_separable_labels_compress():
    y, random_features, separable = _data()
    profile = mdl_online(np.stack([random_features, separable]), y, repeats=2, progress=False)
    n = len(y)
    assert profile.name == "mdl_online_codelength" and profile.params["unit_of_values"] == "bits"
    assert profile.details["uniform_codelength"] == pytest.approx(n * 2.0)  # n log2 K, K = 4
    per_item = profile.values / n
    assert 1.9 < per_item[0] < 2.5  # about log2 K: nothing to learn
    assert 0.8 < profile.details["compression"][0] < 1.1
    assert profile.details["compression"][1] > 20  # easy labels: short code
    np.testing.assert_allclose(
        profile.details["compression"], (n * 2.0 / (profile.details["block_bits"].sum(-1))).mean(1)
    )
    assert profile.errors.shape == (2,) and profile.details["block_bits"].shape == (2, 2, 11)


def test_bad_inputs_raise_lens_error():
    y, random_features, _ = _data(n=100)
    with pytest.raises(LensError, match="probe"):
        mdl_online([random_features], y, probe=object(), progress=False)
    from sklearn.svm import LinearSVC

    with pytest.raises(LensError, match="predict_proba"):
        mdl_online([random_features], y, probe=LinearSVC(), progress=False)
    with pytest.raises(LensError, match="repeats"):
        mdl_online([random_features], y, repeats=0, progress=False)
    with pytest.raises(LensError, match="labels"):
        mdl_online([random_features], y[:50], progress=False)
    with pytest.raises(LensError, match="smoothing"):
        online_codelength(random_features, y, 4, smoothing=1.0)
