"""The reference implementations' conventions: MDL blocks of whole texts cut with floor (Voita & Titov's code),
units and smoothing as documented, treebank word types for control tasks (Hewitt & Liang's code), and the checks
on labels a probe cannot learn."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.probing.controls import control_labels, control_task_selectivity
from lensnb.probing.edge import EdgeProbe
from lensnb.probing.mdl import _text_order, block_ends, mdl_online, online_codelength
from lensnb.probing.sweep import probe_layers

#: lena-voita/description-length-probing, run_experiment.py: the fractions split_data_into_portions cuts at.
REFERENCE_FRACTIONS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.0625, 0.125, 0.25, 0.5, 1.0)
UNSEEN = "in none of the training items"


def _reference_prior_code(codes, ends, n_classes, smoothing):
    """Online code in bits of ``codes`` (already ordered) cut at ``ends``, each block coded by the smoothed label
    frequencies of the blocks before it (what DummyClassifier(strategy="prior") predicts), the first uniformly; a
    prefix of one class by add-one frequencies."""
    bits = [ends[0] * np.log2(n_classes)]
    for start, stop in zip(ends[:-1], ends[1:]):
        counts = np.bincount(codes[:start], minlength=n_classes)
        if (counts > 0).sum() < 2:
            proba = (counts + 1.0) / (counts + 1.0).sum()
        else:
            proba = (1 - smoothing) * counts / start + smoothing / n_classes
        bits.append(-np.log2(proba[codes[start:stop]]).sum())
    return np.asarray(bits)


def _text_data(n_texts=40, n_classes=3, seed=0):
    """Items in texts of 3-9 items; every text holds classes 0 and 1, so no training prefix has one class."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 10, n_texts)
    texts = np.repeat(np.arange(n_texts), sizes)
    codes = rng.integers(0, n_classes, len(texts))
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    codes[starts], codes[starts + 1] = 0, 1
    return texts, codes


# ----------------------------------------------------------------------------- MDL blocks and their ends


def test_block_ends_floor_the_portions_as_the_reference_does_but_keep_one_item():
    for n in (300, 999, 5706, 39832):
        reference = sorted({max(int(f * n), 1) for f in REFERENCE_FRACTIONS})
        assert block_ends(n).tolist() == reference
    assert block_ends(5706).tolist() == [5, 11, 22, 45, 91, 182, 356, 713, 1426, 2853, 5706]  # round gave 6, 23...
    assert block_ends(300).tolist() == [1, 2, 4, 9, 18, 37, 75, 150, 300]  # the reference's first block is empty


def test_online_codelength_cuts_blocks_at_group_ends():
    sizes = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    groups = np.repeat(np.arange(10) * 7, sizes)  # any group keys
    n = len(groups)
    codes = np.tile([0, 1], n)[:n]
    result = online_codelength(np.zeros((n, 1)), codes, 2, portions=(10, 25, 50, 100), groups=groups)
    # after floor(0.1 * 10) = 1, floor(0.25 * 10) = 2 and 5 groups: 3, 3 + 1 and 3 + 1 + 4 + 1 + 5 items
    assert result["ends"].tolist() == [3, 4, 14, n]
    assert online_codelength(np.zeros((n, 1)), codes, 2, portions=(10, 25, 50, 100))["ends"].tolist() == [3, 9, 19, n]
    with pytest.raises(LensError, match=r"^groups: expected the items of each group adjacent"):
        online_codelength(np.zeros((4, 1)), np.array([0, 1, 0, 1]), 2, portions=(50, 100), groups=[0, 1, 0, 1])
    with pytest.raises(LensError, match=r"^groups: expected one group per item, shape \(4,\)"):
        online_codelength(np.zeros((4, 1)), np.array([0, 1, 0, 1]), 2, portions=(50, 100), groups=[0, 0, 1])


def test_mdl_online_shuffles_and_blocks_whole_texts_as_the_reference_does():
    texts, codes = _text_data()
    n, n_classes, smoothing, seed, repeats = len(codes), 3, 1e-3, 5, 3
    labels = np.array(["A", "B", "C"], dtype=object)[codes]
    labels[[7, 30]] = None  # unlabelled items are left out, their texts kept
    table = pd.DataFrame({"text_id": texts + 100, "tag": labels})
    states = np.random.default_rng(1).normal(size=(1, n, 4)).astype(np.float32)
    acts = Activations({"resid_post": states}, {"resid_post": (0,)}, table, unit="word")
    probe = DummyClassifier(strategy="prior")
    profile = mdl_online(acts, "tag", probe=probe, repeats=repeats, seed=seed, smoothing=smoothing, progress=False)

    keep = pd.notna(labels)
    kept_codes, kept_texts = codes[keep], texts[keep]
    rng = np.random.default_rng(seed)  # the reference: permute the sentences, cut at int(f * n_sentences) of them
    n_texts = len(np.unique(kept_texts))
    reference_ends, reference_bits = [], []
    for _ in range(repeats):
        sentences = [np.flatnonzero(kept_texts == t) for t in rng.permutation(n_texts)]
        counts = sorted({max(int(f * n_texts), 1) for f in REFERENCE_FRACTIONS})
        ends = [sum(len(s) for s in sentences[:c]) for c in counts]
        reference_ends.append(ends)
        reference_bits.append(_reference_prior_code(kept_codes[np.concatenate(sentences)], ends, 3, smoothing))
    assert profile.params["blocks_of"] == "texts" and profile.params["n_texts"] == n_texts
    assert profile.params["n_items"] == n - 2
    np.testing.assert_array_equal(profile.details["block_ends"], reference_ends)
    np.testing.assert_allclose(profile.details["block_bits"][0], reference_bits, rtol=1e-12)
    np.testing.assert_allclose(profile.values, [np.sum(reference_bits, axis=1).mean()], rtol=1e-12)
    assert profile.details["uniform_codelength"] == pytest.approx((n - 2) * np.log2(n_classes))


def test_text_order_keeps_each_texts_items_together_and_in_order():
    texts = np.array([0, 0, 1, 2, 2, 2, 1])  # text 1's items are not adjacent in the table
    assert _text_order(texts, np.array([2, 0, 1])).tolist() == [3, 4, 5, 0, 1, 2, 6]


def test_mdl_online_on_plain_arrays_blocks_items():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 3, 500)
    features = rng.normal(size=(1, 500, 3))
    profile = mdl_online(features, codes, probe=DummyClassifier(strategy="prior"), repeats=2, seed=4, progress=False)
    orders = np.random.default_rng(4)
    expected = [_reference_prior_code(codes[orders.permutation(500)], block_ends(500), 3, 1e-3) for _ in range(2)]
    assert profile.params["blocks_of"] == "items" and profile.params["n_texts"] is None
    assert profile.details["block_ends"].tolist() == [1, 2, 4, 8, 16, 31, 62, 125, 250, 500]
    np.testing.assert_allclose(profile.details["block_bits"][0], expected, rtol=1e-12)


def test_documented_conversion_gives_the_reference_codes_nats_after_the_first_block():
    import torch

    texts, codes = _text_data(seed=3)
    smoothing, n_classes = 1e-3, 3
    result = online_codelength(np.zeros((len(codes), 1)), codes, n_classes, probe=DummyClassifier(strategy="prior"),
                               smoothing=smoothing, groups=texts)  # fmt: skip
    ends = result["ends"]
    # Eval_MDL_online_code.ipynb: train_targets[0] * log2(K) + the sums of CrossEntropyLoss(reduction="sum")
    reference = ends[0] * np.log2(n_classes)
    for start, stop in zip(ends[:-1], ends[1:]):
        prior = (1 - smoothing) * np.bincount(codes[:start], minlength=n_classes) / start + smoothing / n_classes
        logits = torch.log(torch.tensor(np.tile(prior, (stop - start, 1))))
        loss = torch.nn.CrossEntropyLoss(reduction="sum")(logits, torch.tensor(codes[start:stop]))
        reference += float(loss)
    bits = result["block_bits"]
    assert bits[0] + np.log(2) * bits[1:].sum() == pytest.approx(reference, rel=1e-12)
    assert result["online"] > reference  # lensnb's bits are the longer


def test_smoothing_caps_a_ruled_out_label_at_minus_log2_smoothing_over_k():
    codes = np.r_[np.tile([0, 1], 5), np.full(10, 2)]  # class 2 is absent from the first block
    for smoothing in (1e-3, 1e-6):
        result = online_codelength(np.zeros((20, 1)), codes, 3, probe=DummyClassifier(strategy="prior"),
                                   portions=(50, 100), smoothing=smoothing)  # fmt: skip
        assert result["block_bits"][1] == pytest.approx(10 * -np.log2(smoothing / 3))
    assert -np.log2(1e-3 / 17) == pytest.approx(14.05, abs=0.01)  # the docstring's figure at K = 17


# ----------------------------------------------------------------------------- control-task word types


@pytest.mark.filterwarnings("ignore:.*no token of their own")  # UD's "can" + "not" for "cannot"
def test_treebank_word_types_as_documented_differ_from_the_pieces_text(minilm):
    import lensnb
    from lensnb import Example

    texts = [
        (["I", "do", "n't", "know", "."], ["PRON", "AUX", "PART", "VERB", "PUNCT"], "I don't know."),
        (["we", "do", "know", "."], ["PRON", "AUX", "VERB", "PUNCT"], None),
        (["we", "can", "not", "go", "."], ["PRON", "AUX", "PART", "VERB", "PUNCT"], "we cannot go."),
        (["they", "can", "go", "."], ["PRON", "AUX", "VERB", "PUNCT"], None),
    ]
    examples = [Example(w, labels={"pos": p}, text=t) for w, p, t in texts * 4]
    acts = lensnb.extract(minilm, examples, progress=False)
    tokens = acts.tokens
    forms = np.array([examples[t].words[w] if w >= 0 else None
                      for t, w in zip(tokens["text_id"], tokens["word_index"])], dtype=object)  # fmt: skip
    labelled = tokens["pos"].notna().to_numpy()
    pieces = acts.token_words()
    first = tokens["text_id"].to_numpy() == 0
    assert pieces[first & labelled].tolist() == ["I", "don", "'t", "know", "."]  # what word_types="word" reads
    assert forms[first & labelled].tolist() == ["I", "do", "n't", "know", "."]
    assert pieces[(tokens["text_id"].to_numpy() == 2) & labelled].tolist() == ["we", "cannot", "go", "."]
    by_pieces = control_task_selectivity(acts, "pos", bootstrap=0, progress=False)
    by_forms = control_task_selectivity(acts, "pos", forms, bootstrap=0, progress=False)
    assert by_forms.params["n_types"] == len(set(forms[labelled])) == 9
    assert by_pieces.params["n_types"] == 11  # "don", "'t" and "cannot" beside "do" and "can"; no "n't"
    control = by_forms.details["control_labels"]
    kept = forms[labelled]
    assert all(len(set(control[kept == word])) == 1 for word in ("do", "can"))  # one label per treebank word


# ----------------------------------------------------------------------------- labels a probe cannot learn


def _three_classes():
    rng = np.random.default_rng(0)
    return rng.normal(size=(2, 60, 4)), np.repeat(["a", "b", "c"], 20)


def _unseen_warnings(record):
    return [w for w in record if issubclass(w.category, UserWarning) and UNSEEN in str(w.message)]


def test_probe_layers_warns_once_at_the_caller_for_a_label_only_in_test():
    x, y = _three_classes()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        profile = probe_layers(x, y, splits={"train": np.arange(40), "test": np.arange(40, 60)}, progress=False)
    found = _unseen_warnings(record)
    assert len(found) == 1 and found[0].filename == __file__
    message = str(found[0].message)
    assert message.startswith("probe_layers: label(s) ['c'] occur in 20 of the 20 test item(s)")
    assert "Move texts with these labels into the training part, or drop the labels." in message
    np.testing.assert_array_equal(profile.values, 0.0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        rows = np.arange(60) % 3 != 0
        probe_layers(x, y, splits={"train": np.flatnonzero(rows), "test": np.flatnonzero(~rows)}, progress=False)
    assert _unseen_warnings(record) == []


def test_probe_layers_warns_for_a_multi_label_class_with_positives_only_in_test():
    x, _ = _three_classes()
    y = np.zeros((60, 3), dtype=np.int64)
    y[:, 0], y[:30, 1], y[50:, 2] = 1, 1, 1
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        probe_layers(x, y, probe=EdgeProbe(max_epochs=2), splits={"train": np.arange(40), "test": np.arange(40, 60)},
                     layers=[0], progress=False)  # fmt: skip
    found = _unseen_warnings(record)
    assert len(found) == 1 and found[0].filename == __file__
    assert str(found[0].message).startswith("probe_layers: label(s) [2] occur in 10 of the 20 test item(s)")


def test_selectivity_warns_once_at_the_caller_for_a_label_only_in_the_test_items():
    x, y = _three_classes()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        control_task_selectivity(x, y, np.arange(60) % 7, train=np.arange(60) < 40, bootstrap=0, progress=False)
    found = _unseen_warnings(record)
    assert len(found) == 1 and found[0].filename == __file__
    message = str(found[0].message)
    assert message.startswith("control_task_selectivity: label(s) ['c'] occur in 20 of the 20 test item(s)")
    assert "Mark texts with these labels as training items in train" in message


# ----------------------------------------------------------------------------- control_labels' labels


def test_control_labels_refuse_missing_and_mixed_type_labels():
    types = np.array(["w1", "w2", "w3", "w4"])
    with pytest.raises(LensError, match=r"^labels: expected a label for every item, received '1 missing label"):
        control_labels(types, np.array(["X", None, "Y", "X"], dtype=object))
    with pytest.raises(LensError, match=r"^labels: expected a label for every item"):
        control_labels(types, np.array([1.0, np.nan, 2.0, 1.0]))
    with pytest.raises(LensError, match=r"^labels: expected labels of one type .*received \"labels of types \['int', "
                                        r"'str'\]\""):  # fmt: skip
        control_labels(types[:3], np.array([1, "1", "Y"], dtype=object))
    assert set(control_labels(types, np.array(["X", "Y", "Y", "X"], dtype=object))) <= {"X", "Y"}


def test_selectivity_still_leaves_unlabelled_items_out():
    x, y = _three_classes()
    labels = y.astype(object)
    labels[[0, 25, 59]] = None
    profile = control_task_selectivity(x, labels, np.arange(60) % 7, bootstrap=0, progress=False)
    assert profile.params["n_missing_labels"] == 3 and profile.params["n_train"] + profile.params["n_test"] == 57
    assert set(profile.details["control_labels"]) <= {"a", "b", "c"}
