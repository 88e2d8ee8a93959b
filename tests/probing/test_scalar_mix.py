"""Scalar mix and cumulative probing (Tenney, Das & Pavlick 2019) on layers with a planted label."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from lensnb.errors import LensError
from lensnb.probing.scalar_mix import (
    ScalarMixProbe,
    _score_rows,
    centre_of_gravity,
    cumulative_probing,
    expected_layer,
    scalar_mix,
)

CARRIER = 3


def _planted(n=800, dim=16, k=3, n_layers=5, seed=0):
    """Noise at every layer; layer CARRIER also carries the class mean."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n_layers, n, dim))
    x[CARRIER] += 1.5 * rng.normal(size=(k, dim))[y]
    return x, y


FAST = ScalarMixProbe(head="linear", lr=1e-2, max_epochs=40, patience=8)


@parametrize_with_checks(
    [ScalarMixProbe(head="linear", lr=3e-2, max_epochs=30, patience=5),
     ScalarMixProbe(hidden=16, lr=1e-2, max_epochs=20, patience=5, standardize_layers=True)]
)  # fmt: skip
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_expected_layer_and_centre_of_gravity_formulas():
    # Delta = (0.1, 0.3, 0.0, -0.1) over layers 1..4: E = (1*0.1 + 2*0.3 + 3*0 + 4*-0.1) / 0.3 = 1.0
    assert expected_layer([0.5, 0.6, 0.9, 0.9, 0.8]) == pytest.approx(1.0)
    assert expected_layer([0.5, 0.5, 0.9], layers=[0, 2, 4]) == pytest.approx(4.0)
    assert np.isnan(expected_layer([0.7, 0.7, 0.7]))
    np.testing.assert_allclose(expected_layer(np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])), [1.0, 2.0])
    assert centre_of_gravity([0.0, 0.0, 1.0, 0.0]) == pytest.approx(2.0)
    assert centre_of_gravity([0.25, 0.25, 0.25, 0.25], layers=[1, 2, 3, 4]) == pytest.approx(2.5)


def test_macro_f1_matches_scikit_learn():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, 300), rng.integers(0, 3, 300)
    rows = rng.integers(0, 300, size=(5, 300))
    ours = _score_rows("macro_f1", truth, predicted, rows, 4)
    theirs = [f1_score(truth[r], predicted[r], average="macro") for r in rows]
    np.testing.assert_allclose(ours, theirs)


def test_scalar_mix_weights_concentrate_on_the_layer_that_carries_the_label():
    x, y = _planted()
    profile = scalar_mix(x, y, probe=FAST, repeats=2, progress=False)
    weights = profile.values
    assert profile.name == "scalar_mix_weights" and profile.layers == (0, 1, 2, 3, 4)
    assert weights.sum() == pytest.approx(1.0)
    assert int(np.argmax(weights)) == CARRIER and weights[CARRIER] > 0.4
    assert weights[CARRIER] > 3 * np.delete(weights, CARRIER).max()
    assert profile.errors.shape == (5,) and profile.details["weights_runs"].shape == (2, 5)
    assert abs(profile.details["centre_of_gravity"] - centre_of_gravity(weights)) < 1e-9
    assert (profile.details["score"] > 0.9).all()


def test_scalar_mix_with_tenneys_mlp_head_and_standardized_layers():
    x, y = _planted(n=400)
    x[0] *= 50.0  # a loud layer of noise
    probe = ScalarMixProbe(head="mlp", hidden=16, lr=1e-2, max_epochs=20, patience=5, standardize_layers=True)
    profile = scalar_mix(x, y, probe=probe, progress=False)
    assert int(np.argmax(profile.values)) == CARRIER
    assert profile.details["score"][0] > 0.85


def test_cumulative_probing_expected_layer_lands_on_the_carrier():
    x, y = _planted(n=1000)
    profile = cumulative_probing(x, y, probe=FAST, bootstrap=300, progress=False)
    scores = profile.values
    assert scores[:CARRIER].max() < 0.55 and scores[CARRIER:].min() > 0.9  # chance (1/3) until the carrier
    assert abs(profile.details["expected_layer"] - CARRIER) < 0.5
    low, high = profile.details["expected_layer_interval"]
    assert low <= CARRIER <= high and high - low < 1.5
    assert profile.details["expected_layer"] == pytest.approx(expected_layer(scores))
    weights = profile.details["weights"]
    assert np.isnan(weights[0, 1:]).all() and weights[0, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(np.nansum(weights, axis=1), 1.0, rtol=1e-6)
    assert profile.errors.shape == (5,) and np.isnan(profile.details["delta"][0])


def test_probe_follows_the_estimator_contract():
    x, y = _planted(n=300)
    labels = np.asarray(["a", "b", "c"])[y]
    probe = ScalarMixProbe(head="linear", lr=1e-2, max_epochs=5)
    with pytest.raises(NotFittedError):
        probe.predict(x)
    fitted = probe.fit(x, labels)
    assert fitted is probe and set(probe.predict(x)) <= {"a", "b", "c"}
    assert probe.predict_proba(x).shape == (300, 3)
    assert (probe.n_layers_, probe.dim_, probe.n_features_in_) == (5, 16, 80)
    np.testing.assert_allclose(probe.predict_proba(x).sum(1), 1.0, rtol=1e-12)
    again = ScalarMixProbe(head="linear", lr=1e-2, max_epochs=5).fit(x, labels)
    np.testing.assert_allclose(again.weights_, probe.weights_)  # seeded
    assert probe.score(x, labels) == pytest.approx(np.mean(probe.predict(x) == labels))
    with pytest.raises(LensError, match="n_layers = 5"):
        probe.predict(x[:2])


def test_flat_and_stacked_inputs_give_the_same_probe():
    """(n_layers, n_items, dim) is the same as (n_items, n_layers * dim), layer-major, with n_layers set."""
    x, y = _planted(n=300)
    flat = x.transpose(1, 0, 2).reshape(300, -1)
    np.testing.assert_array_equal(flat[:, CARRIER * 16 : (CARRIER + 1) * 16], x[CARRIER])
    stacked = clone(FAST).fit(x, y)
    from_flat = clone(FAST).set_params(n_layers=5).fit(flat, y)
    np.testing.assert_allclose(from_flat.weights_, stacked.weights_, rtol=1e-6)
    np.testing.assert_allclose(from_flat.predict_proba(flat), stacked.predict_proba(x), atol=1e-10)
    np.testing.assert_allclose(stacked.predict_proba(torch.from_numpy(x)), stacked.predict_proba(flat), atol=1e-10)
    assert int(np.argmax(from_flat.weights_)) == CARRIER
    # a 2-D X without n_layers is one layer: weight 1 on it, and the same as a (1, n, d) stack
    single = clone(FAST).fit(x[CARRIER], y)
    assert single.n_layers_ == 1 and single.weights_ == pytest.approx([1.0])
    np.testing.assert_allclose(
        single.predict_proba(x[CARRIER]),
        clone(FAST).fit(x[CARRIER : CARRIER + 1], y).predict_proba(x[CARRIER]),
        atol=1e-10,
    )


def test_mix_is_the_weighted_sum_of_layers():
    """The module's input to the head is gamma * sum_l softmax(w)_l h_l (Tenney, Das & Pavlick Eq. 1)."""
    x, y = _planted(n=200)
    probe = clone(FAST).fit(x, y)
    mix = probe.module_.mix
    h = torch.from_numpy(x.transpose(1, 0, 2))
    expected = probe.gamma_ * np.einsum("l,lnd->nd", probe.weights_, x)
    np.testing.assert_allclose(mix(h).detach().numpy(), expected, rtol=1e-10, atol=1e-10)


def test_bad_inputs_raise_lens_error():
    x, y = _planted(n=100)
    with pytest.raises(LensError, match="head"):
        ScalarMixProbe(head="rnn").fit(x, y)
    with pytest.raises(LensError, match="metric"):
        scalar_mix(x, y, metric="f2", progress=False)
    with pytest.raises(LensError, match="probe"):
        scalar_mix(x, y, probe="linear", progress=False)
    with pytest.raises(LensError, match="layers"):
        cumulative_probing(x, y, layers=[2], progress=False)
    with pytest.raises(LensError, match="confidence"):
        cumulative_probing(x, y, confidence=95, progress=False)
    with pytest.raises(LensError, match="y"):
        ScalarMixProbe().fit(x, y[:10])
    with pytest.raises(LensError, match="batch_size"):
        ScalarMixProbe(batch_size=0).fit(x, y)
    with pytest.raises(LensError, match="scores"):
        expected_layer([0.5])
    with pytest.raises(LensError, match="n_layers"):
        ScalarMixProbe(n_layers=3).fit(x, y)  # a (5, n, d) stack
    flat = x.transpose(1, 0, 2).reshape(100, -1)
    with pytest.raises(LensError, match="n_layers"):
        ScalarMixProbe(n_layers=3).fit(flat, y)  # 80 columns
    with pytest.raises(LensError, match="n_layers"):
        ScalarMixProbe(n_layers=0).fit(flat, y)
    with pytest.raises(LensError, match="X"):
        ScalarMixProbe().fit(np.where(x > 2, np.nan, x), y)
    fitted = ScalarMixProbe(head="linear", max_epochs=1, n_layers=5).fit(flat, y)
    with pytest.raises(LensError, match="80 features"):
        fitted.predict(flat[:, :40])
    with pytest.raises(LensError, match="as at fit"):
        fitted.predict(x[:, :, :8])
