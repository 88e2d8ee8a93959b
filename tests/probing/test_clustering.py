"""Span clustering (Jawahar et al. 2019): span vectors, planted clusters, NMI normalisations."""

from __future__ import annotations

import numpy as np
import pytest

from lensnb.errors import LensError
from lensnb.probing.clustering import span_clustering, span_vectors


def _entropy(codes):
    p = np.bincount(codes) / len(codes)
    p = p[p > 0]
    return -(p * np.log(p)).sum()


def _nmi_by_hand(truth, found):
    joint = np.zeros((truth.max() + 1, found.max() + 1))
    np.add.at(joint, (truth, found), 1)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) @ joint.sum(0, keepdims=True)
    nz = joint > 0
    mi = (joint[nz] * np.log(joint[nz] / outer[nz])).sum()
    hu, hv = _entropy(truth), _entropy(found)
    return mi / np.sqrt(hu * hv), mi / ((hu + hv) / 2)


def test_span_vector_is_concatenation_product_and_difference():
    first = np.array([[1.0, 2.0], [0.0, -1.0]])
    last = np.array([[3.0, 5.0], [2.0, 2.0]])
    expected = np.array([[1, 2, 3, 5, 3, 10, -2, -3], [0, -1, 2, 2, 0, -2, -2, -3]], dtype=float)
    np.testing.assert_array_equal(span_vectors(first, last), expected)
    with pytest.raises(LensError, match="last"):
        span_vectors(first, last[:, :1])


def test_planted_clusters_give_nmi_near_one():
    rng = np.random.default_rng(0)
    n, dim, k = 420, 8, 5
    labels = rng.integers(0, k, n)
    centres = 6.0 * rng.normal(size=(k, dim))
    first = np.stack([rng.normal(size=(n, dim)), centres[labels] + 0.3 * rng.normal(size=(n, dim))])
    last = np.stack([rng.normal(size=(n, dim)), centres[labels] + 0.3 * rng.normal(size=(n, dim))])
    profile = span_clustering(first, labels, last=last, bootstrap=30, progress=False)
    assert profile.name == "span_nmi" and profile.unit == "span" and profile.layers == (0, 1)
    assert profile.params["k"] == k and profile.params["n_held_out"] == 60 and profile.params["n_init"] == 10
    assert profile.values[1] > 0.98 and profile.values[0] < 0.25  # noise: small-sample NMI bias only
    assert profile.details["nmi_arithmetic"][1] > 0.98
    assert profile.errors.shape == (2,) and profile.details["clusters"].shape == (2, n)
    held = profile.details["held_out"]
    assert held.sum() == 60
    # the reported value is the geometric NMI of the held-out spans' clusters
    geometric, _ = _nmi_by_hand(labels[held], profile.details["clusters"][1][held])
    assert profile.values[1] == pytest.approx(geometric)


def test_geometric_nmi_exceeds_arithmetic_when_the_entropies_differ():
    rng = np.random.default_rng(1)
    n = 1400
    labels = (rng.random(n) < 0.05).astype(int)  # A (95 %) lies in two far blobs; B (5 %) sits in one of them
    centre = np.where(labels == 1, 0.5, np.where(rng.random(n) < 0.5, 20.0, 0.0))
    first = (centre + 0.2 * rng.normal(size=n))[:, None]
    last = (centre + 0.2 * rng.normal(size=n))[:, None]
    geo = span_clustering([first], labels, last=[last], average_method="geometric", bootstrap=0, progress=False)
    ari = span_clustering([first], labels, last=[last], average_method="arithmetic", bootstrap=0, progress=False)
    held = geo.details["held_out"]
    found = geo.details["clusters"][0][held]
    h_truth, h_found = _entropy(labels[held]), _entropy(found)
    assert h_found > 2 * h_truth  # clusters follow the blobs, not the labels
    by_hand = _nmi_by_hand(labels[held], found)
    assert geo.values[0] == pytest.approx(by_hand[0]) and ari.values[0] == pytest.approx(by_hand[1])
    # MI / GM versus MI / AM of the two entropies: the ratio is AM / GM > 1
    ratio = ((h_truth + h_found) / 2) / np.sqrt(h_truth * h_found)
    assert geo.values[0] / ari.values[0] == pytest.approx(ratio) and ratio > 1.1
    assert geo.details["nmi_arithmetic"][0] == pytest.approx(ari.values[0])
    assert geo.errors is None


def test_activations_input_uses_first_and_last_pieces(tiny_models):
    import lensnb
    from lensnb.examples import Example, Span

    words = "the keys to the cabinet are on the table".split()
    examples = [Example(words=words, spans=[Span(0, 2, "NP"), Span(2, 3, "PP"), Span(3, 5, "NP"), Span(5, 6, "VP"),
                                            Span(6, 7, "PP"), Span(7, 9, "NP")]) for _ in range(3)]  # fmt: skip
    acts = lensnb.extract(tiny_models["bert"], examples, progress=False)
    spans = acts.spans
    first = acts.values[:, spans["token_start"].to_numpy()]
    last = acts.values[:, spans["token_end"].to_numpy() - 1]
    from_acts = span_clustering(acts, held_out=6, n_init=2, bootstrap=0, progress=False)
    from_arrays = span_clustering(first, spans["label"].to_numpy(), last=last, held_out=6, n_init=2, bootstrap=0,
                                  progress=False)  # fmt: skip
    assert from_acts.layers == (0, 1, 2) and from_acts.params["k"] == 3
    np.testing.assert_allclose(from_acts.values, from_arrays.values)
    np.testing.assert_array_equal(from_acts.details["clusters"], from_arrays.details["clusters"])
    assert list(from_acts.table["label"]) == list(spans["label"])


def test_bad_inputs_raise_lens_error():
    rng = np.random.default_rng(0)
    first, labels = rng.normal(size=(2, 50, 4)), rng.integers(0, 3, 50)
    with pytest.raises(LensError, match="average_method"):
        span_clustering(first, labels, last=first, average_method="mean", progress=False)
    with pytest.raises(LensError, match="n_init"):
        span_clustering(first, labels, last=first, n_init="auto", progress=False)
    with pytest.raises(LensError, match="last"):
        span_clustering(first, labels, progress=False)
    with pytest.raises(LensError, match="held_out"):
        span_clustering(first, labels, last=first, held_out=1.5, progress=False)
    with pytest.raises(LensError, match="held_out"):
        span_clustering(first, labels, last=first, held_out=49, progress=False)
    with pytest.raises(LensError, match="labels"):
        span_clustering(first, labels[:10], last=first, progress=False)
    with pytest.raises(LensError, match="last"):
        span_clustering(first, labels, last=first[:, :20], progress=False)
