"""Scalar mix and cumulative probing (Tenney, Das & Pavlick 2019) on layers with a planted label."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

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
    with pytest.raises(LensError, match="not fitted"):
        probe.predict(x)
    fitted = probe.fit(x, labels)
    assert fitted is probe and set(probe.predict(x)) <= {"a", "b", "c"}
    assert probe.predict_proba(x).shape == (300, 3)
    np.testing.assert_allclose(probe.predict_proba(x).sum(1), 1.0, rtol=1e-5)
    again = ScalarMixProbe(head="linear", lr=1e-2, max_epochs=5).fit(x, labels)
    np.testing.assert_allclose(again.weights_, probe.weights_)  # seeded
    with pytest.raises(LensError, match="x"):
        probe.predict(x[:2])


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
