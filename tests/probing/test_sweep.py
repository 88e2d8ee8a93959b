"""probe_layers, the features it probes and the splits it draws, on a tiny model's activations and on arrays."""

from __future__ import annotations

import functools

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


def test_edge_probes_get_each_training_items_text(acts, monkeypatch):
    seen = []
    fit = EdgeProbe.fit

    @functools.wraps(fit)
    def recording_fit(self, X, y, **kwargs):
        seen.append(kwargs.get("groups"))
        return fit(self, X, y, **kwargs)

    monkeypatch.setattr(EdgeProbe, "fit", recording_fit)
    probe = EdgeProbe(projection_size=8, hidden_size=8, max_epochs=1)
    task = span_task(pool="self_attentive")
    probe_layers(acts, task, probe=probe, layers=[0], seeds=(0,), progress=False)
    data = probing_data(acts, task)
    split = split_by_group(data.groups, seed=0)
    assert len(seen) == 1 and seen[0] is not None  # as spans= is passed: the texts the probe batches by
    np.testing.assert_array_equal(seen[0], data.groups[split.train])


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


# ----------------------------------------------------------------------------- stop 24: findings of the user audit


def test_senteval_split_codes_name_the_parts(tiny_models, acts):
    # read_senteval keeps SentEval's codes in meta["split"]: tr / va / te are train / dev / test
    split = split_from_values(["tr", "va", "te", "TR", "train"])
    assert split.train.tolist() == [0, 3, 4] and split.dev.tolist() == [1] and split.test.tolist() == [2]
    codes = {"train": "tr", "dev": "va", "test": "te"}
    examples = [
        Example(e.words, labels=e.labels, meta={**e.meta, "split": codes[e.meta["split"]]}) for e in _examples()
    ]  # fmt: skip
    senteval = lensnb.extract(tiny_models["bert"], examples, progress=False)
    by_code = probe_layers(senteval, "pos", splits="split", seeds=(0,), bootstrap=20, progress=False)
    by_name = probe_layers(acts, "pos", splits="split", seeds=(0,), bootstrap=20, progress=False)
    np.testing.assert_array_equal(by_code.values, by_name.values)
    np.testing.assert_array_equal(by_code.details["test_rows"], by_name.details["test_rows"])
    assert by_code.details["split_sizes"] == by_name.details["split_sizes"]


def test_word_level_activations_serve_token_tasks_with_the_same_numbers(acts):
    words = acts.pool_words("first")
    on_words = probe_layers(words, "pos", seeds=(0, 1), progress=False)
    on_tokens = probe_layers(acts, "pos", seeds=(0, 1), progress=False)  # first pieces: the same items
    np.testing.assert_array_equal(on_words.values, on_tokens.values)
    np.testing.assert_array_equal(on_words.details["accuracy_per_seed"], on_tokens.details["accuracy_per_seed"])
    assert on_words.details["split_sizes"] == on_tokens.details["split_sizes"]
    assert on_words.unit == "word" and len(on_words.table) == len(words.table)
    assert on_words.params["task"]["pool"] == "pooled words" and on_tokens.params["task"]["pool"] == "first"
    mean = probe_layers(acts.pool_words("mean"), token_task("pos"), seeds=(0,), progress=False)
    by_pieces = probe_layers(acts, token_task("pos", pieces="mean"), seeds=(0,), progress=False)
    np.testing.assert_allclose(mean.values, by_pieces.values)
    labels = np.asarray(words.table["pos"], dtype=object)  # labels given as an array, one per word row
    as_array = probe_layers(words, token_task(labels), seeds=(0, 1), progress=False)
    np.testing.assert_array_equal(as_array.values, on_words.values)


def test_word_level_activations_refuse_what_they_cannot_serve(acts):
    words = acts.pool_words("mean")
    with pytest.raises(LensError, match=r"^pieces: expected the default 'first' for word-level .*'last'.*pool_words"):
        probe_layers(words, token_task("pos", pieces="last"), progress=False)
    with pytest.raises(LensError, match=r"^acts: expected token-level Activations .* for a span task"):
        probe_layers(words, span_task(), progress=False)
    with pytest.raises(
        LensError, match=r"^acts: expected token-level Activations .*received Activations Activations\(60 texts"
    ):
        probe_layers(acts.pool_texts("mean"), "long", progress=False)


def test_a_relevance_is_refused_as_acts_by_name(acts):
    from lensnb.relevance.result import Relevance

    relevance = Relevance("hand", {}, acts.tokens, acts.texts, np.zeros(len(acts.tokens)), acts.texts[["text_id"]])
    with pytest.raises(LensError, match=r"^acts: expected Activations .*received Relevance .*lensnb\.extract"):
        probe_layers(relevance, "pos", progress=False)
    with pytest.raises(LensError, match=r"^acts: expected Activations"):
        probe_layers(relevance, np.zeros(3), progress=False)
    with pytest.raises(LensError, match=r"^task: "):  # an array with a column name: the task is what is wrong
        probe_layers(np.zeros((2, 10, 3)), "pos", progress=False)


def test_a_fixed_split_with_no_spread_over_seeds_bootstraps_the_test_texts(acts):
    rng = np.random.default_rng(0)  # labels a probe cannot get all right, so that resampling moves the score
    noisy = np.where(acts.tokens["first_piece"], rng.choice(["x", "y"], len(acts.tokens)), None)
    task = token_task(noisy, name="noisy")
    profile = probe_layers(acts, task, splits="split", progress=False)  # LinearProbe: deterministic
    per_seed = profile.details["accuracy_per_seed"]
    assert np.all(per_seed == per_seed[:, :1])  # what made the old errors 0 and the interval zero-width
    assert profile.params["errors"].startswith("bootstrap (automatic")
    assert profile.params["bootstrap"] == 1000 and profile.details["bootstrap"].shape == (3, 1000)
    assert np.all(profile.errors > 0) and np.all(profile.details["ci_low"] < profile.details["ci_high"])
    asked = probe_layers(acts, task, splits="split", bootstrap=1000, progress=False)
    np.testing.assert_array_equal(profile.values, asked.values)  # the same numbers as asking for it
    np.testing.assert_array_equal(profile.errors, asked.errors)
    np.testing.assert_array_equal(profile.details["ci_low"], asked.details["ci_low"])
    one_seed = probe_layers(acts, task, splits="split", seeds=(0,), progress=False)
    assert one_seed.params["errors"].startswith("bootstrap (automatic") and one_seed.errors is not None
    with pytest.warns(
        UserWarning, match=r"^probe_layers: the split is fixed and all 3 seeds gave the same .*bootstrap="
    ):
        zero = probe_layers(acts, task, splits="split", bootstrap=0, progress=False)
    assert zero.params["errors"] == "seeds" and np.all(zero.errors == 0)
    drawn = probe_layers(acts, "pos", seeds=(0, 1), progress=False)  # drawn splits: errors from the seeds, as before
    assert drawn.params["errors"] == "seeds" and drawn.params["bootstrap"] == 0
    np.testing.assert_allclose(drawn.errors, drawn.details["accuracy_per_seed"].std(axis=1, ddof=1))


def test_the_site_probed_is_recorded_and_to_pandas_has_the_per_layer_numbers(tiny_models, acts):
    profile = probe_layers(acts, "pos", seeds=(0, 1), progress=False)
    assert profile.params["site"] == "resid_post"  # the default, resolved
    several = lensnb.extract(tiny_models["bert"], _examples(12), sites=("resid_post", "mlp_out"), progress=False)
    assert probe_layers(several, "pos", site="mlp_out", seeds=(0,), progress=False).params["site"] == "mlp_out"
    assert probe_layers(np.zeros((2, 20, 3)), np.arange(20) % 2, seeds=(0,), progress=False).params["site"] is None
    frame = profile.to_pandas()
    expected = ["layer", "probe_accuracy", "probe_accuracy_error", "accuracy", "micro_f1", "macro_f1",
                "majority_baseline", "ci_low", "ci_high"]  # fmt: skip
    assert frame.columns.tolist() == expected
    for name in ("accuracy", "macro_f1", "ci_low", "ci_high"):
        np.testing.assert_array_equal(frame[name], profile.details[name])
    assert (frame["majority_baseline"] == profile.details["majority_baseline"]).all()


def test_tokenless_spans_are_blamed_on_their_cause(acts, minilm):
    shared = acts.select(layers=[0])
    shared.spans = acts.spans.copy()
    shared.spans.loc[[1, 2], ["token_start", "token_end"]] = -1  # words without a piece, complete: no truncation
    with pytest.warns(UserWarning) as caught:
        probing_data(shared, span_task())
    message = str(caught[0].message)
    assert "2 because their words have no word piece of their own" in message and "overflow" not in message
    truncated = acts.select(layers=[0])
    truncated.spans = acts.spans.copy()
    truncated.spans.loc[[1, 2], ["token_start", "token_end"]] = -1
    truncated.spans.loc[[1, 2], "complete"] = False
    with pytest.warns(UserWarning, match=r"2 because truncation removed their words .*overflow='window'"):
        probing_data(truncated, span_task())
    # UD's "cannot" is "can" + "not": MiniLM has one piece for both, so "not" has none, without truncation
    example = Example(text="I cannot go home .", words=["I", "can", "not", "go", "home", "."],
                      spans=[Span(2, 3, "NEG"), Span(0, 1, "PRON"), Span(3, 5, "VP")])  # fmt: skip
    with pytest.warns(UserWarning, match="share a token"):
        cannot = lensnb.extract(minilm, [example] * 4, layers=[0], overflow="window", progress=False)
    with pytest.warns(UserWarning) as caught:
        probing_data(cannot, span_task())
    message = str(caught[0].message)
    assert "4 of 12 item(s) have a span without tokens, 4 because their words have no word piece" in message
    assert "'cannot'" in message and "overflow" not in message
    with pytest.raises(LensError, match=r"^pool_spans: 4 of 12 span\(s\) have no token, 4 because .*no word piece"):
        cannot.pool_spans()


def test_the_cluster_bootstrap_weighs_every_item_by_its_groups_draws():
    # resamples summed per group and drawn in blocks: the scores of weighing every item, draw for draw
    from lensnb.probing.sweep import _bootstrap

    rng = np.random.default_rng(4)
    for n_items, n_groups, n in ((500, 40, 300), (30_000, 30_000, 300)):  # the second draws in several blocks
        groups = np.sort(rng.integers(0, n_groups, n_items))
        truth = rng.integers(0, 3, n_items)
        predicted = np.where(rng.random(n_items) < 0.7, truth, 0)
        _, group_of = np.unique(groups, return_inverse=True)
        k = int(group_of.max()) + 1
        counts = np.random.default_rng(9).multinomial(k, np.full(k, 1.0 / k), size=n)
        weights = counts[:, group_of].astype(np.float64)  # (n, n_items): every item weighed
        expected = weights @ (truth == predicted) / weights.sum(axis=1)
        np.testing.assert_array_equal(_bootstrap(truth, predicted, groups, n, 9), expected)
    multi_truth, multi_predicted = rng.integers(0, 2, (500, 4)), rng.integers(0, 2, (500, 4))
    groups = np.repeat(np.arange(50), 10)
    counts = np.random.default_rng(2).multinomial(50, np.full(50, 0.02), size=100)
    weights = counts[:, groups].astype(np.float64)
    tp = weights @ (multi_truth & multi_predicted).sum(axis=1)
    fp = weights @ ((1 - multi_truth) & multi_predicted).sum(axis=1)
    fn = weights @ (multi_truth & (1 - multi_predicted)).sum(axis=1)
    np.testing.assert_array_equal(_bootstrap(multi_truth, multi_predicted, groups, 100, 2), 2 * tp / (2 * tp + fp + fn))


def test_every_span_pool_reads_the_pieces_of_the_spans_words_only(tiny_models):
    """Byte-level BPE can leave a stand-alone space marker of no word inside a span ('The', 'Ġ', 'qu', 'ick'):
    the self-attentive pool attended over it while the mean, max and endpoint pools (and pool_spans) leave
    it out. Every pool now reads the same rows."""
    examples = [Example(words=["The", "quick", "fox"], spans=[Span(0, 2, str(i % 2))]) for i in range(4)]
    acts = lensnb.extract(tiny_models["gpt2"], examples, progress=False)
    first = acts.spans.iloc[0]
    in_range = acts.tokens.iloc[first["token_start"] : first["token_end"]]
    pieces = in_range.index[in_range["word_index"] >= 0].to_numpy()
    assert len(pieces) < len(in_range)  # a token of no word inside the span's range
    attentive = probing_data(acts, span_task("label", pool="self_attentive"))
    start, end = attentive.spans[0]
    np.testing.assert_array_equal(attentive.features(1)[start:end], acts.values[1][pieces])
    np.testing.assert_allclose(
        probing_data(acts, span_task("label", pool="mean")).features(1)[0], acts.values[1][pieces].mean(0), atol=1e-6
    )
