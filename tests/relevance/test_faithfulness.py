"""Perturbation curves, their AUC, and AOPC comprehensiveness / sufficiency."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import lensnb
from lensnb.errors import LensError
from lensnb.relevance import InputXGradient
from lensnb.relevance.faithfulness import PerturbationCurve, aopc, perturbation_auc, perturbation_curve
from lensnb.relevance.perturbation import class_probabilities, perturbed_ids, removal_counts, removal_order
from lensnb.testing import build_tiny_model

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "The keys to the cabinet are on the table.",
    "A man, a plan, a canal: Panama!",
]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = build_tiny_model("bert", tmp_path_factory.mktemp("faithfulness") / "bert")
    torch.manual_seed(0)
    return lensnb.load_model(path, task="sequence-classification", num_labels=2)


@pytest.fixture(scope="module")
def relevance(classifier):
    return InputXGradient(classifier, progress=False).attribute(TEXTS)


def _probabilities(lens_model, ids):
    """p(class) of one token-id sequence, by a plain forward pass."""
    with torch.no_grad():
        logits = lens_model.model(input_ids=torch.as_tensor([list(ids)])).logits
    return torch.softmax(logits.double(), -1)[0].numpy()


def _text(relevance, text_id):
    rows = relevance.tokens["text_id"].to_numpy() == text_id
    tokens = relevance.tokens[rows]
    return tokens["token_id"].to_numpy(), tokens["special"].to_numpy(bool), rows


# -- building perturbed inputs ------------------------------------------------------------
def test_delete_removes_the_ranked_tokens_and_never_specials():
    ids = np.array([2, 10, 11, 12, 13, 3])
    special = np.array([True, False, False, False, False, True])
    scores = np.array([9.0, 0.1, 0.5, 0.3, 0.4, 9.0])  # specials score highest: still kept
    positive = perturbed_ids(ids, special, scores, [0, 1, 2, 4], order="positive")
    assert [p.tolist() for p in positive] == [[2, 10, 11, 12, 13, 3], [2, 10, 12, 13, 3], [2, 10, 12, 3], [2, 3]]
    negative = perturbed_ids(ids, special, scores, [1, 2], order="negative")
    assert [p.tolist() for p in negative] == [[2, 11, 12, 13, 3], [2, 11, 13, 3]]
    masked = perturbed_ids(ids, special, scores, [2], order="positive", removal="mask", mask_id=4)
    assert masked[0].tolist() == [2, 10, 4, 12, 4, 3]


def test_ties_go_to_the_earlier_position_and_rounding_is_half_up():
    special = np.array([True, False, False, False, True])
    assert removal_order(np.array([0, 1.0, 1.0, 0.5, 0]), special, "positive").tolist() == [1, 2, 3]
    assert removal_order(np.array([0, 1.0, 1.0, 0.5, 0]), special, "negative").tolist() == [3, 1, 2]
    assert removal_counts([0, 0.25, 0.5, 1.0], 2).tolist() == [0, 1, 1, 2]  # 0.5 rounds up to 1
    assert removal_counts(np.arange(0, 1.01, 0.1), 10).tolist() == list(range(11))
    assert removal_counts([0.01, 0.5], 3, at_least_one=True).tolist() == [1, 2]
    assert removal_counts([0.5, 0.9, 1.0], 3, keep_one=True).tolist() == [2, 2, 2]


def test_removed_sets_are_nested_as_the_fraction_grows():
    rng = np.random.default_rng(0)
    ids = np.arange(100, 122)
    special = np.zeros(22, dtype=bool)
    special[[0, 21]] = True
    scores = rng.normal(size=22)
    counts = removal_counts(np.arange(0, 1.01, 0.1), 20)
    for order in ("positive", "negative"):
        steps = perturbed_ids(ids, special, scores, counts, order=order)
        assert [len(s) for s in steps] == [22 - c for c in counts]
        for before, after in zip(steps, steps[1:]):
            assert set(after) <= set(before)
            assert after[0] == 100 and after[-1] == 121
        removed_by_one = (set(ids) - set(steps[1])).pop() - 100
        content = scores[1:21]
        expected = content.max() if order == "positive" else content.min()
        assert scores[removed_by_one] == expected


# -- perturbation curves ------------------------------------------------------------------
def test_unperturbed_accuracy_is_one_against_the_explained_class(classifier, relevance):
    curve = perturbation_curve(classifier, relevance, progress=False)
    assert np.allclose(curve.fractions, np.arange(0, 1.01, 0.1))
    assert curve.accuracy[0] == 1.0
    assert np.array_equal(curve.reference, relevance.segments["target"].to_numpy())
    full = np.array([_probabilities(classifier, _text(relevance, t)[0]) for t in range(len(TEXTS))])
    assert curve.probability[0] == pytest.approx(full.max(axis=1).mean(), abs=1e-6)
    assert curve.method == "input_x_gradient" and curve.parameters["removal"] == "delete"
    wrong = perturbation_curve(classifier, relevance, labels=1 - curve.reference, progress=False, steps=[0, 1])
    assert wrong.accuracy[0] == 0.0


def test_positive_and_negative_orders_differ_with_hand_set_scores(classifier, relevance):
    positions = relevance.tokens["position"].to_numpy(np.float64)
    ramp = dataclasses.replace(relevance, scores=positions)  # later tokens more relevant
    positive = perturbation_curve(classifier, ramp, order="positive", progress=False)
    negative = perturbation_curve(classifier, ramp, order="negative", progress=False)
    assert positive.probability[0] == pytest.approx(negative.probability[0])
    assert positive.probability[-1] == pytest.approx(negative.probability[-1])  # all content gone in both
    # a random tiny classifier moves by ~1e-6 whatever is removed: differing at all is the check
    assert not np.array_equal(positive.probability[1:-1], negative.probability[1:-1])
    ids, special, _ = _text(relevance, 0)
    n = int((~special).sum())
    half = removal_counts([0.5], n)[0]
    # positive order drops the last content tokens first, negative the first ones
    kept_positive = np.r_[ids[:1], ids[1 : 1 + n - half], ids[-1:]]
    kept_negative = np.r_[ids[:1], ids[1 + half : 1 + n], ids[-1:]]
    step = int(np.argmin(np.abs(positive.fractions - 0.5)))
    assert positive.predicted[0, step] == _probabilities(classifier, kept_positive).argmax()
    assert negative.predicted[0, step] == _probabilities(classifier, kept_negative).argmax()
    specials_only = _probabilities(classifier, ids[special])
    assert positive.predicted[0, -1] == specials_only.argmax()


def test_auc_is_the_trapezoid_including_the_unperturbed_point(classifier, relevance):
    hand = PerturbationCurve(np.array([0, 0.5, 1.0]), np.array([1.0, 0.5, 0.0]), np.zeros(3), "positive", "m")
    assert hand.auc == pytest.approx(0.5) and hand.auc_percent == pytest.approx(50.0)
    curve = perturbation_curve(classifier, relevance, steps=[0.2, 0.6, 1.0], progress=False)
    assert curve.fractions.tolist() == [0.0, 0.2, 0.6, 1.0]  # the unperturbed point is added
    f, a = curve.fractions, curve.accuracy
    by_hand = sum((a[i] + a[i + 1]) / 2 * (f[i + 1] - f[i]) for i in range(len(f) - 1))
    assert curve.auc == pytest.approx(by_hand)
    both = perturbation_auc(classifier, relevance, steps=[0.2, 0.6, 1.0], progress=False)
    assert both["positive"] == pytest.approx(curve.auc)
    assert set(both) == {"positive", "negative"}
    assert curve.to_pandas()["accuracy"].tolist() == a.tolist()


def test_auc_needs_no_numpy_2_function(monkeypatch):
    """pyproject allows numpy >= 1.26, which has no np.trapezoid (NumPy 2.0 added it)."""
    monkeypatch.delattr(np, "trapezoid", raising=False)
    fractions, accuracy = np.array([0.0, 0.2, 0.6, 1.0]), np.array([1.0, 0.5, 0.25, 0.0])
    curve = PerturbationCurve(fractions, accuracy, np.zeros(4), "positive", "m")
    assert curve.auc == pytest.approx(0.1 * 1.5 + 0.2 * 0.75 + 0.2 * 0.25)
    assert PerturbationCurve(np.array([0.0]), np.array([1.0]), np.zeros(1), "positive", "m").auc == 0.0


def test_padded_batches_equal_one_by_one(classifier, relevance):
    one = perturbation_curve(classifier, relevance, batch_size=1, progress=False)
    many = perturbation_curve(classifier, relevance, batch_size=16, progress=False)
    assert np.array_equal(one.predicted, many.predicted)
    assert np.allclose(one.probability, many.probability, atol=1e-6)
    ids, special, _ = _text(relevance, 1)
    sequences = [ids, ids[special], ids[:-3]]
    batched = class_probabilities(classifier, sequences, batch_size=3, progress=False)
    single = np.array([_probabilities(classifier, s) for s in sequences])
    assert np.allclose(batched, single, atol=1e-6)


def test_mask_removal_keeps_the_length_and_the_model_state(classifier, relevance):
    classifier.model.train()
    try:
        curve = perturbation_curve(classifier, relevance, removal="mask", steps=[0, 1], progress=False)
        assert classifier.model.training  # put back as it was
    finally:
        classifier.model.eval()
    ids, special, _ = _text(relevance, 2)
    masked = np.where(special, ids, classifier.tokenizer.mask_token_id)
    assert curve.predicted[2, 1] == _probabilities(classifier, masked).argmax()


def test_a_decoder_without_special_tokens_keeps_one_token(tmp_path):
    path = build_tiny_model("gpt2", tmp_path / "gpt2")
    torch.manual_seed(0)
    decoder = lensnb.load_model(path, task="sequence-classification", num_labels=2)
    texts = ["A man!", "The keys to the cabinet are on the table."]
    relevance = InputXGradient(decoder, batch_size=1, progress=False).attribute(texts)
    assert not relevance.tokens["special"].any()
    curve = perturbation_curve(decoder, relevance, batch_size=8, progress=False)  # no pad id: one by one
    assert curve.accuracy[0] == 1.0
    ids, special, rows = _text(relevance, 0)
    last = ids[removal_order(relevance.scores[rows], special, "positive")[-1]]
    assert curve.predicted[0, -1] == _probabilities(decoder, [last]).argmax()


# -- AOPC ---------------------------------------------------------------------------------
def test_comprehensiveness_and_sufficiency_by_hand(classifier, relevance):
    ids, special, rows = _text(relevance, 0)
    content = np.flatnonzero(~special)
    chosen = content[2]
    scores = np.zeros(len(relevance.scores))
    scores[np.flatnonzero(rows)[chosen]] = 5.0  # all the mass on one token of text 0
    focused = dataclasses.replace(relevance, scores=scores)
    result = aopc(classifier, focused, bins=(0.01, 0.02, 0.5), progress=False)
    y = int(relevance.segments["target"].to_numpy()[0])
    full = _probabilities(classifier, ids)[y]
    assert result.full_probability[0] == pytest.approx(full, abs=1e-6)
    without = _probabilities(classifier, np.delete(ids, chosen))[y]
    only = _probabilities(classifier, ids[special | (np.arange(len(ids)) == chosen)])[y]
    n = len(content)
    assert removal_counts([0.01, 0.02], n, at_least_one=True).tolist() == [1, 1]  # one token for the small bins
    for b in (0, 1):
        assert result.comprehensiveness_per_bin[b, 0] == pytest.approx(full - without, abs=1e-6)
        assert result.sufficiency_per_bin[b, 0] == pytest.approx(full - only, abs=1e-6)
    k = removal_counts([0.5], n)[0]  # the rest of the top half: zeros, earliest first
    top = [chosen] + [c for c in content if c != chosen][: k - 1]
    keep = np.ones(len(ids), dtype=bool)
    keep[top] = False
    assert result.comprehensiveness_per_bin[2, 0] == pytest.approx(full - _probabilities(classifier, ids[keep])[y],
                                                                   abs=1e-6)  # fmt: skip
    assert result.comprehensiveness == pytest.approx(result.comprehensiveness_per_bin.mean())
    assert result.to_pandas()["bin"].tolist() == [0.01, 0.02, 0.5]


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"order": "upward"}, "order"),
        ({"steps": [0.5, 0.2]}, "steps"),
        ({"steps": [0, 1.5]}, "steps"),
        ({"removal": "drop"}, "removal"),
        ({"batch_size": 0}, "batch_size"),
        ({"labels": [0, 1]}, "labels"),
        ({"labels": [0, 1, 2]}, "labels"),
    ],
)
def test_bad_input_names_the_argument(classifier, relevance, options, name):
    with pytest.raises(LensError, match=f"^{name}:"):
        perturbation_curve(classifier, relevance, progress=False, **options)


def test_aopc_and_windows_refused_with_the_argument_named(classifier, relevance):
    with pytest.raises(LensError, match="^bins:"):
        aopc(classifier, relevance, bins=(0, 0.5), progress=False)
    with pytest.raises(LensError, match="^labels:"):
        aopc(classifier, relevance, labels=[0], progress=False)
    long = " ".join(TEXTS * 3)
    windows = InputXGradient(classifier, max_length=16, overflow="window", progress=False).attribute([long])
    assert len(windows.segments) > 1
    with pytest.raises(LensError, match="^relevance:.*one model input per text"):
        perturbation_curve(classifier, windows, progress=False)
    with pytest.raises(LensError, match="^model:"):
        perturbation_curve("a model", relevance, progress=False)
