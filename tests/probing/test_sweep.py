"""probe_layers, the features it probes and the splits it draws, on a tiny model's activations and on arrays."""

from __future__ import annotations

import numpy as np
import pytest

import lensnb
from lensnb import Example, LensError, Span, SpanPair
from lensnb.probing.edge import EdgeProbe
from lensnb.probing.estimators import MLPProbe
from lensnb.probing.features import probing_data, span_pair_task, span_task, text_task, token_task
from lensnb.probing.splits import Split, as_split, split_by_group, split_from_values
from lensnb.probing.sweep import majority_baseline, probe_layers, scores

WORDS = {"the": "DET", "a": "DET", "fox": "NOUN", "dog": "NOUN", "table": "NOUN", "keys": "NOUN", "quick": "ADJ",
         "lazy": "ADJ", "brown": "ADJ", "jumps": "VERB", "attend": "VERB", "are": "VERB"}  # fmt: skip
PARTS = ("train", "train", "train", "dev", "test")


def _examples(n=60, seed=0):
    rng = np.random.default_rng(seed)
    vocabulary = list(WORDS)
    examples = []
    for i in range(n):
        words = [str(w) for w in rng.choice(vocabulary, size=int(rng.integers(4, 9)))]
        tags = [WORDS[w] for w in words]
        spans = [Span(j, j + 1, tags[j]) for j in range(len(words))] + [Span(0, 2, "PAIR")]
        pairs = [SpanPair(Span(0, 1), Span(j, j + 1), "same" if tags[0] == tags[j] else "other") for j in range(1, 4)]
        meta = {"long": len(words) > 6, "split": PARTS[i % 5]}
        examples.append(Example(words, labels={"pos": tags}, spans=spans, span_pairs=pairs, meta=meta))
    return examples


@pytest.fixture(scope="module")
def acts(tiny_models):
    return lensnb.extract(tiny_models["bert"], _examples(), progress=False)


# ----------------------------------------------------------------------------- sweeps


def test_token_sweep_gives_a_profile_per_layer_with_baselines(acts):
    profile = probe_layers(acts, "pos", seeds=(0, 1), progress=False)
    data = probing_data(acts, "pos")
    assert profile.layers == acts.layers == (0, 1, 2)
    assert profile.name == "probe_accuracy" and profile.unit == "token"
    assert len(profile.table) == data.n_items == sum(len(e.words) for e in _examples())
    assert profile.values.shape == profile.errors.shape == (3,)
    assert profile.values[0] >= 0.9  # the label is a function of the word: the embeddings know it
    for name in ("accuracy_per_seed", "micro_f1_per_seed", "macro_f1_per_seed"):
        assert profile.details[name].shape == (3, 2)
    np.testing.assert_allclose(profile.values, profile.details["accuracy_per_seed"].mean(axis=1))
    np.testing.assert_allclose(profile.errors, profile.details["accuracy_per_seed"].std(axis=1, ddof=1))
    assert np.all(profile.details["ci_low"] <= profile.values + 1e-12)
    assert np.all(profile.values <= profile.details["ci_high"] + 1e-12)
    expected = []
    for seed in (0, 1):  # the baseline by hand: the most frequent training tag, scored on test
        split = split_by_group(data.groups, seed=seed)
        tags, counts = np.unique(data.y[split.train], return_counts=True)
        expected.append(np.mean(data.y[split.test] == tags[np.argmax(counts)]))
    np.testing.assert_allclose(profile.details["majority_baseline_per_seed"], expected)
    assert profile.values.min() > profile.details["majority_baseline"] + 0.3
    assert list(profile.details["classes"]) == ["ADJ", "DET", "NOUN", "VERB"]
    assert profile.details["predictions"].shape == (3, len(profile.details["test_rows"]))


def test_separable_arrays_reach_one_and_shuffled_labels_fall_to_the_baseline():
    rng = np.random.default_rng(0)
    n, dim = 600, 16
    y = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    signal = np.eye(dim)[y] * 5.0 + rng.normal(scale=0.5, size=(n, dim))
    noise = rng.normal(size=(n, dim))
    layers = np.stack([noise, signal, signal + noise])
    profile = probe_layers(layers, y, seeds=(0, 1, 2), progress=False)
    assert profile.layers == (0, 1, 2) and profile.unit == "item"
    np.testing.assert_array_equal(profile.values[1:], 1.0)
    baseline = profile.details["majority_baseline"]
    assert abs(profile.values[0] - baseline) <= 0.08  # pure noise: no better than the majority class
    shuffled = probe_layers(layers, rng.permutation(y), bootstrap=200, seeds=(0,), progress=False)
    assert shuffled.params["errors"] == "bootstrap" and shuffled.details["bootstrap"].shape == (3, 200)
    base = shuffled.details["majority_baseline"]
    assert np.all(shuffled.values <= base + 2 * shuffled.errors)  # not significantly above the baseline
    assert np.all(shuffled.values >= base - 0.15)
    assert np.all(shuffled.details["ci_low"] <= base + 1e-12)


def test_the_datas_own_split_keeps_its_texts(acts):
    profile = probe_layers(acts, token_task("pos", pieces="mean"), splits="split", bootstrap=50, progress=False)
    assert profile.unit == "word" and profile.params["splits"] == {"method": "given", "column": "split"}
    data = probing_data(acts, token_task("pos", pieces="mean"))
    parts = np.array([PARTS[t % 5] for t in data.groups])
    np.testing.assert_array_equal(profile.details["test_rows"], np.flatnonzero(parts == "test"))
    assert profile.details["split_sizes"][0] == {p: int(np.sum(parts == p)) for p in ("train", "dev", "test")}
    assert profile.details["ci_low"].shape == (3,)


def test_span_pair_edge_sweep_and_multi_label_micro_f1(acts):
    probe = EdgeProbe(learning_rate=1e-2, projection_size=16, hidden_size=16, max_epochs=8, patience=3)
    single = probe_layers(acts, span_pair_task(pool="self_attentive"), probe=probe, seeds=(0,), progress=False)
    assert single.name == "probe_accuracy" and single.unit == "span_pair" and single.layers == (0, 1, 2)
    assert len(single.table) == 3 * 60 and single.errors is None
    multi = probe_layers(
        acts, span_pair_task(pool="self_attentive", multilabel=True), probe=probe, seeds=(0,), progress=False
    )  # fmt: skip
    assert multi.name == "probe_micro_f1" and multi.details["metric"] == "micro_f1"
    np.testing.assert_allclose(multi.values, multi.details["micro_f1"])
    assert multi.details["predictions"].shape[2] == 2  # multi-hot rows over {"other", "same"}
    data = probing_data(acts, span_pair_task(pool="self_attentive", multilabel=True))
    split = split_by_group(data.groups, seed=0)
    expected = majority_baseline(data.y[split.train], data.y[split.test])["micro_f1"]
    assert multi.details["majority_baseline"] == pytest.approx(expected)
    assert 0 <= multi.values.min() and multi.values.max() <= 1


def test_span_and_text_tasks_with_fixed_pooling(acts):
    spans = probe_layers(acts, span_task(pool="endpoints"), seeds=(0,), progress=False)
    assert spans.unit == "span" and len(spans.table) == len(acts.spans)
    assert spans.values[0] >= 0.9
    texts = probe_layers(acts, text_task("long", pool="cls"), seeds=(0, 1), progress=False)
    assert texts.unit == "text" and len(texts.table) == 60 and "long" in texts.table.columns


def test_param_grid_is_chosen_on_dev_and_confusion_matrices_add_up(acts):
    grid = {"C": [1e-4, 1.0]}
    profile = probe_layers(acts, "pos", param_grid=grid, confusion=True, seeds=(0, 1), progress=False)
    chosen = profile.details["chosen_params"]
    assert len(chosen) == 3 and all(len(layer) == 2 for layer in chosen)
    assert all(choice["C"] in grid["C"] for layer in chosen for choice in layer)
    matrices = profile.details["confusion"]
    assert matrices.shape == (3, 4, 4)
    n_test = sum(sizes["test"] for sizes in profile.details["split_sizes"])
    np.testing.assert_array_equal(matrices.sum(axis=(1, 2)), n_test)
    np.testing.assert_allclose(
        np.trace(matrices, axis1=1, axis2=2) / n_test,
        (profile.details["accuracy_per_seed"] * [s["test"] for s in profile.details["split_sizes"]]).sum(1) / n_test,
    )  # fmt: skip
    mlp = probe_layers(acts, "pos", probe=MLPProbe(max_epochs=30, learning_rate=1e-2), layers=[0], seeds=(0,),
                       progress=False)  # fmt: skip
    assert mlp.layers == (0,) and mlp.params["probe_params"]["hidden_size"] == 50


def test_scores_known_answers():
    numbers = scores(np.array(["a", "a", "b", "c"]), np.array(["a", "b", "b", "b"]))
    assert numbers["accuracy"] == numbers["micro_f1"] == numbers["value"] == 0.5
    assert numbers["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)  # F1 of a, b, c
    multi = scores(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 1]]))
    assert multi["value"] == multi["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    assert multi["accuracy"] == 0.5


# ----------------------------------------------------------------------------- features


def test_features_pool_the_right_token_rows(acts):
    tokens = acts.tokens
    layer = 1
    states = acts.layer(layer)
    first = probing_data(acts, token_task("pos", pieces="first"))
    rows = np.flatnonzero(tokens["first_piece"].to_numpy())
    np.testing.assert_array_equal(first.features(layer), states[rows])
    every = probing_data(acts, token_task("pos", pieces="all"))
    assert every.n_items == int((tokens["word_index"] >= 0).sum()) >= first.n_items
    spans = acts.spans
    mean = probing_data(acts, span_task(pool="mean")).features(layer)
    endpoints = probing_data(acts, span_task(pool="endpoints")).features(layer)
    for i in (0, 5, len(spans) - 1):
        start, end = spans["token_start"][i], spans["token_end"][i]
        np.testing.assert_allclose(mean[i], states[start:end].mean(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(endpoints[i], np.r_[states[start], states[end - 1]])
    pairs = acts.span_pairs
    pair_max = probing_data(acts, span_pair_task(pool="max")).features(layer)
    s1, e1, s2, e2 = (pairs[c][2] for c in ("token_start_1", "token_end_1", "token_start_2", "token_end_2"))
    np.testing.assert_array_equal(pair_max[2], np.r_[states[s1:e1].max(0), states[s2:e2].max(0)])
    pooled = probing_data(acts, span_pair_task(pool="self_attentive"))
    X = pooled.features(layer)
    a, b, c, d = pooled.spans[2]
    np.testing.assert_array_equal(X[a:b], states[s1:e1])
    np.testing.assert_array_equal(X[c:d], states[s2:e2])
    cls = probing_data(acts, text_task("long", pool="cls")).features(layer)
    starts = acts.texts["token_start"].to_numpy()
    np.testing.assert_array_equal(cls, states[starts])


def test_labels_given_as_arrays_and_sets(acts):
    tokens = acts.tokens
    labels = np.where(tokens["first_piece"], "start", "inside").astype(object)
    labels[tokens["special"].to_numpy()] = None  # unlabelled rows are left out
    data = probing_data(acts, token_task(labels, pieces="all"))
    assert data.n_items == int((~tokens["special"]).sum())
    assert list(data.classes) == ["inside", "start"] and "label" in data.table.columns
    labels[~tokens["first_piece"].to_numpy()] = None
    with pytest.raises(LensError, match=r"^label: .*at least 2 classes.*1 class \('start'\)"):
        probing_data(acts, token_task(labels, pieces="all"))
    multi = probing_data(acts, span_task([("x", "y") if i % 2 else ("x",) for i in range(len(acts.spans))]))
    assert multi.multilabel and list(multi.classes) == ["x", "y"] and multi.y.sum() == len(acts.spans) * 3 // 2


# ----------------------------------------------------------------------------- splits


def test_group_splits_keep_texts_apart_and_follow_the_seed():
    groups = np.repeat(np.arange(50), 7)
    split = split_by_group(groups, (0.6, 0.2, 0.2), seed=1)
    parts = [set(groups[split.train]), set(groups[split.dev]), set(groups[split.test])]
    assert [len(p) for p in parts] == [30, 10, 10]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    same = split_by_group(groups, (0.6, 0.2, 0.2), seed=1)
    np.testing.assert_array_equal(split.test, same.test)
    assert set(split_by_group(groups, (0.6, 0.2, 0.2), seed=2).test) != set(split.test)
    no_dev = split_by_group(groups, (0.9, 0.0, 0.1))
    assert len(no_dev.dev) == 0 and no_dev.sizes()["test"] == 35


def test_given_splits_and_their_errors():
    split = split_from_values(["train", "Validation", "test", "train", "dev"])
    assert split.train.tolist() == [0, 3] and split.dev.tolist() == [1, 4] and split.test.tolist() == [2]
    with pytest.raises(LensError, match=r"^splits: .*empty test part"):
        split_from_values(["train", "dev"])
    with pytest.raises(LensError, match=r"^splits: .*'holdout'"):
        split_from_values(["train", "holdout"])
    with pytest.raises(LensError, match=r"^splits: .*enough texts"):
        split_by_group([0, 0, 1, 1], (0.8, 0.1, 0.1))
    with pytest.raises(LensError, match=r"^splits: .*summing to 1"):
        split_by_group(np.arange(10), (0.5, 0.1, 0.1))
    with pytest.raises(LensError, match=r"^splits: .*disjoint"):
        as_split({"train": [0, 1], "test": [1, 2]}, 3)
    with pytest.raises(LensError, match=r"^splits: .*rows in \[0, 3\)"):
        as_split(Split(np.array([0]), np.array([], dtype=np.int64), np.array([5])), 3)


# ----------------------------------------------------------------------------- bad inputs


def test_bad_tasks_and_arguments_raise_lens_error(acts):
    with pytest.raises(LensError, match=r"^label: .*one of \['pos'\].*'upos'"):
        probe_layers(acts, "upos", progress=False)
    with pytest.raises(LensError, match=r"^label: .*one per row of the token table"):
        probe_layers(acts, token_task(np.zeros(5)), progress=False)
    with pytest.raises(LensError, match=r"^label: .*at least 2 classes.*'DET'"):
        probe_layers(acts.query("pos == 'DET' or special"), "pos", progress=False)
    with pytest.raises(LensError, match=r"^splits: .*empty test part"):
        probe_layers(acts, "pos", splits={"train": np.arange(10), "test": []}, progress=False)
    with pytest.raises(LensError, match=r"^splits: .*enough texts"):
        probe_layers(acts.query("text_id < 2"), "pos", progress=False)
    with pytest.raises(LensError, match=r"^probe: .*spans="):
        probe_layers(acts, span_task(pool="self_attentive"), progress=False)
    with pytest.raises(LensError, match=r"^probe: .*multi-label"):
        probe_layers(acts, span_task(multilabel=True), progress=False)
    with pytest.raises(LensError, match=r"^seeds: "):
        probe_layers(acts, "pos", seeds=[], progress=False)
    with pytest.raises(LensError, match=r"^bootstrap: "):
        probe_layers(acts, "pos", bootstrap=-1, progress=False)
    with pytest.raises(LensError, match=r"^layers: .*extracted layers"):
        probe_layers(acts, "pos", layers=[7], progress=False)
    with pytest.raises(LensError, match=r"^pool: "):
        span_task(pool="sum")
    with pytest.raises(LensError, match=r"^task: "):
        probe_layers(np.zeros((2, 10, 3)), "pos", progress=False)
    no_spans = acts.select(layers=[0])
    no_spans.spans = None
    with pytest.raises(LensError, match=r"^acts: .*Example.spans"):
        probe_layers(no_spans, span_task(), progress=False)


def test_spans_out_of_range_raise_and_tokenless_spans_are_left_out(acts):
    broken = acts.select(layers=[0])
    broken.spans = acts.spans.copy()
    broken.spans.loc[3, "token_end"] = len(acts.tokens) + 5
    with pytest.raises(LensError, match=r"^acts.spans: .*out of range"):
        probing_data(broken, span_task())
    broken.spans = acts.spans.copy()
    broken.spans.loc[[1, 2], ["token_start", "token_end"]] = -1  # words without a piece of their own
    with pytest.warns(UserWarning, match="2 of .* left out"):
        data = probing_data(broken, span_task())
    assert data.n_items == len(acts.spans) - 2


def test_span_probes_pool_what_pool_spans_pools_and_leave_cut_spans_out(tiny_models):
    model = tiny_models["bert"]
    text = "the keys , on the table , were lost"
    words = ["the", "keys", "on", "the", "table", "were", "lost"]  # the commas belong to no word
    example = Example(text=text, words=words, spans=[Span(1, 5, "place"), Span(0, 2, "thing"), Span(1, 2, "place")])
    acts = lensnb.extract(model, [example] * 4, progress=False)
    data = probing_data(acts, span_task(pool="mean"))
    pooled = acts.pool_spans("mean")
    np.testing.assert_allclose(data.features(1), pooled.layer(1), rtol=1e-6, atol=1e-6)
    start, end = acts.spans["token_start"][0], acts.spans["token_end"][0]
    assert not np.allclose(data.features(1)[0], acts.layer(1)[start:end].mean(0))  # the comma is not pooled
    with pytest.warns(UserWarning, match="cut short"):
        short = lensnb.extract(model, [example] * 4, max_length=6, overflow="truncate", progress=False)
        cut = probing_data(short, span_task(pool="mean"))
    assert cut.n_items == int(short.spans["complete"].sum()) < len(short.spans)
