"""Control tasks and selectivity (Hewitt & Liang 2019): known answers on synthetic word data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensnb.errors import LensError
from lensnb.geometry.results import LayerProfile
from lensnb.probing.controls import control_labels, control_task_selectivity, train_test_mask


def _word_data(seed: int = 0, n: int = 1500, n_types: int = 30, n_classes: int = 4, dim: int = 48):
    """Tokens of ``n_types`` word types, each type with one fixed tag (a function of identity)."""
    rng = np.random.default_rng(seed)
    type_tag = rng.integers(0, n_classes, n_types)
    tokens = rng.integers(0, n_types, n)
    words = np.asarray([f"w{t}" for t in tokens], dtype=object)
    tags = np.asarray([f"T{c}" for c in type_tag[tokens]], dtype=object)
    identity = rng.normal(size=(n_types, dim))[tokens]  # a random projection of the one-hot word identity
    centres = 4.0 * rng.normal(size=(n_classes, dim))
    by_tag = centres[type_tag[tokens]] + rng.normal(size=(n, dim))  # tag signal only, no word identity
    return words, tags, identity, by_tag


def test_control_labels_are_fixed_per_type_and_follow_the_label_distribution():
    rng = np.random.default_rng(1)
    types = rng.integers(0, 2000, 20000).astype(str)
    labels = np.where(rng.random(20000) < 0.75, "NOUN", "VERB")
    control = control_labels(types, labels, seed=3)
    frame = pd.DataFrame({"type": types, "control": control})
    assert (frame.groupby("type")["control"].nunique() == 1).all()
    assert set(control) <= {"NOUN", "VERB"}
    per_type = frame.groupby("type")["control"].first()
    assert abs((per_type == "NOUN").mean() - 0.75) < 0.04  # drawn per type from the empirical distribution
    assert np.array_equal(control, control_labels(types, labels, seed=3))  # seeded
    assert not np.array_equal(control, control_labels(types, labels, seed=4))
    folded = control_labels(np.asarray(["The", "the", "THE"]), np.asarray(["a", "b", "a"]), lowercase=True)
    assert len(set(folded)) == 1


def test_selectivity_is_near_zero_when_the_representation_is_a_random_projection_of_identity():
    words, tags, identity, _ = _word_data()
    profile = control_task_selectivity([identity], tags, words, seed=0, bootstrap=50, progress=False)
    assert isinstance(profile, LayerProfile) and profile.name == "selectivity"
    assert profile.details["task_accuracy"][0] > 0.95
    assert profile.details["control_accuracy"][0] > 0.95
    assert abs(profile.values[0]) < 0.05
    assert profile.errors is not None and 0 <= profile.errors[0] < 0.05


def test_selectivity_is_high_when_the_layer_carries_the_tag_and_not_the_word():
    words, tags, identity, by_tag = _word_data()
    profile = control_task_selectivity(np.stack([identity, by_tag]), tags, words, bootstrap=0, progress=False)
    assert profile.layers == (0, 1)
    assert profile.errors is None
    task, control = profile.details["task_accuracy"], profile.details["control_accuracy"]
    np.testing.assert_allclose(profile.values, task - control)
    assert task[1] > 0.95 and control[1] < 0.6
    assert profile.values[1] > 0.35 > abs(profile.values[0])
    assert 0 < profile.details["task_majority"] < 0.6
    assert profile.params["n_train"] + profile.params["n_test"] == len(words)


def test_given_split_and_table_columns():
    words, tags, identity, _ = _word_data(n=400)
    train = np.arange(400) < 300
    table = pd.DataFrame({"word": words, "tag": tags})
    from lensnb.activations import Activations

    acts = Activations({"resid_post": identity[None].astype(np.float32)}, {"resid_post": (3,)}, table, unit="word")
    profile = control_task_selectivity(acts, "tag", train=train, bootstrap=0, progress=False)
    assert profile.layers == (3,) and profile.params["split"] == "given" and profile.params["n_test"] == 100
    assert np.array_equal(profile.details["train"], train)


def test_train_test_mask_keeps_groups_together():
    groups = np.repeat(np.arange(50), 4)
    mask = train_test_mask(200, test_size=0.25, seed=2, groups=groups)
    assert all(len(set(mask[groups == g])) == 1 for g in range(50))
    assert 40 <= (~mask).sum() <= 60
    assert np.array_equal(mask, train_test_mask(200, test_size=0.25, seed=2, groups=groups))


def test_bad_inputs_raise_lens_error():
    words, tags, identity, _ = _word_data(n=100)
    with pytest.raises(LensError, match="probe"):
        control_task_selectivity([identity], tags, words, probe=object(), progress=False)
    with pytest.raises(LensError, match="word_types"):
        control_task_selectivity([identity], tags, words[:50], progress=False)
    with pytest.raises(LensError, match="train"):
        control_task_selectivity([identity], tags, words, train=np.ones(100, bool), progress=False)
    with pytest.raises(LensError, match="labels"):
        control_task_selectivity([identity], np.full(100, "X"), words, progress=False)
    with pytest.raises(LensError, match="test_size"):
        train_test_mask(10, test_size=1.5)


def _tiny_acts(tiny_models):
    import lensnb
    from lensnb import Example

    rng = np.random.default_rng(0)
    vocabulary = {"the": "DET", "researchers": "NOUN", "keys": "NOUN", "cabinet": "NOUN", "quick": "ADJ",
                  "lazy": "ADJ", "attend": "VERB", "jumps": "VERB", "probing": "VERB"}  # fmt: skip
    examples = []
    for _ in range(40):
        words = [str(w) for w in rng.choice(list(vocabulary), size=int(rng.integers(4, 8)))]
        examples.append(Example(words, labels={"pos": [vocabulary[w] for w in words]}))
    return lensnb.extract(tiny_models["bert"], examples, progress=False)


def test_selectivity_on_token_activations_reads_word_forms_from_the_token_table(tiny_models):
    acts = _tiny_acts(tiny_models)
    tokens = acts.tokens
    assert "word" not in tokens and (~tokens["first_piece"] & (tokens["word_index"] >= 0)).any()  # split words
    on_tokens = control_task_selectivity(acts, "pos", bootstrap=50, progress=False)  # the default word_types="word"
    on_words = control_task_selectivity(acts.pool_words("first"), "pos", bootstrap=50, progress=False)
    np.testing.assert_array_equal(on_tokens.values, on_words.values)
    np.testing.assert_array_equal(on_tokens.errors, on_words.errors)
    np.testing.assert_array_equal(on_tokens.details["control_labels"], on_words.details["control_labels"])
    assert on_tokens.params["n_types"] == on_words.params["n_types"] == 9  # word forms, not word pieces
    words = acts.token_words()
    first = tokens["first_piece"].to_numpy()
    assert words[first].tolist() == acts.pool_words().table["word"].tolist()
    assert words[tokens["special"].to_numpy()].tolist() == [None] * 80
    assert on_tokens.params["site"] == "resid_post" and on_tokens.params["word_types"] == "word"
    frame = on_tokens.to_pandas()
    for name in ("task_accuracy", "control_accuracy", "task_majority", "control_majority"):
        assert name in frame
    np.testing.assert_array_equal(frame["task_accuracy"], on_tokens.details["task_accuracy"])


def test_selectivity_and_probe_layers_agree_on_one_split(tiny_models):
    from lensnb.probing.sweep import probe_layers

    acts = _tiny_acts(tiny_models)
    train = acts.tokens["text_id"].to_numpy() < 30  # over every token row, as control_task_selectivity takes it
    labelled = acts.table["pos"].notna().to_numpy()  # probe_layers takes rows of the labelled items
    selectivity = control_task_selectivity(acts, "pos", train=train, bootstrap=0, progress=False)
    rows = {"train": np.flatnonzero(train[labelled]), "test": np.flatnonzero(~train[labelled])}
    probed = probe_layers(acts, "pos", splits=rows, seeds=(0,), progress=False)
    np.testing.assert_allclose(selectivity.details["task_accuracy"], probed.values)
    words = acts.pool_words("first")  # every word labelled: one mask serves both
    word_train = words.table["text_id"].to_numpy() < 30
    on_words = control_task_selectivity(words, "pos", train=word_train, bootstrap=0, progress=False)
    np.testing.assert_array_equal(on_words.values, selectivity.values)


def test_token_activations_with_labels_on_special_tokens_have_no_word_type(tiny_models):
    acts = _tiny_acts(tiny_models)
    labels = np.where(acts.tokens["special"], "S", acts.tokens["pos"].fillna("P").to_numpy())
    with pytest.raises(LensError, match=r"^word_types: expected .*received \"'word' for 80 labelled token"):
        control_task_selectivity(acts, labels, progress=False)
