"""Subject-verb agreement: probe by attractors, masked-LM and next-token comparisons on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lensnb
from lensnb.errors import LensError
from lensnb.examples import Example
from lensnb.probing.agreement import (
    AgreementItem,
    agreement_probe,
    as_agreement_items,
    lm_agreement,
    masked_verb_states,
    verb_number,
)

SENTENCE = "the keys to the cabinet are on the table".split()  # verb at index 5


def _item(right, wrong, attractors=0, verb_index=5, words=SENTENCE):
    return AgreementItem(tuple(words), verb_index, right, wrong, attractors)


def test_verb_number_from_the_form_pair():
    assert verb_number("is", "are") == "singular" and verb_number("were", "was") == "plural"
    assert verb_number("runs", "run") == "singular" and verb_number("run", "runs") == "plural"
    assert verb_number("watches", "watch") == "singular" and verb_number("carry", "carries") == "plural"
    assert verb_number("Has", "have") == "singular"
    assert verb_number("went", "goes") is None


def test_items_from_examples_mappings_and_dataclasses_agree():
    meta = {"verb_index": 5, "right": "are", "wrong": "is", "attractors": 1}
    from_example = as_agreement_items([Example(words=SENTENCE, meta=meta)])[0]
    from_mapping = as_agreement_items([{"words": SENTENCE, **meta}])[0]
    assert from_example == from_mapping == _item("are", "is", 1)
    assert from_example.number is None
    with pytest.raises(LensError, match=r"items\[0\].verb_index"):
        as_agreement_items([{"words": SENTENCE, **meta, "verb_index": 9}])
    with pytest.raises(LensError, match="wrong"):
        as_agreement_items([_item("are", "are")])
    with pytest.raises(LensError, match="attractors"):
        as_agreement_items([{"words": SENTENCE, **meta, "attractors": -1}])
    with pytest.raises(LensError, match="missing"):
        as_agreement_items([{"words": SENTENCE, "right": "are"}])
    with pytest.raises(LensError, match="items"):
        as_agreement_items([])
    with pytest.raises(LensError, match="number"):
        as_agreement_items([{"words": SENTENCE, **meta, "number": "dual"}])


def test_probe_accuracy_by_attractors_on_planted_states():
    rng = np.random.default_rng(0)
    n, dim = 2000, 8
    number = rng.integers(0, 2, n)
    attractors = rng.integers(0, 5, n)
    noise = rng.normal(size=(n, dim))
    signal = (2 * number - 1)[:, None] * np.eye(dim)[0] * (3.0 / (1 + 2 * attractors))[:, None]
    states = np.stack([noise, noise + signal])  # layer 1 knows the number, less so with more attractors
    labels = np.where(number == 1, "plural", "singular")
    profile = agreement_probe(states, labels, attractors, progress=False)
    assert profile.name == "agreement_probe_accuracy" and profile.layers == (0, 1)
    assert profile.details["attractors"].tolist() == [0, 1, 2, 3, 4]
    by = profile.details["accuracy_by_attractors"]
    assert by.shape == (2, 5)
    assert abs(profile.values[0] - 0.5) < 0.08 and by[1, 0] > 0.97
    assert np.all(np.diff(by[1]) < 0.02) and by[1, 0] - by[1, 4] > 0.2  # harder with attractors
    weights = profile.details["n_by_attractors"]
    np.testing.assert_allclose(profile.values, by @ weights / weights.sum())  # bins partition the test items
    assert profile.params["n_test"] == 400 and 0.4 < profile.details["majority"] < 0.6
    np.testing.assert_allclose(profile.errors, np.sqrt(profile.values * (1 - profile.values) / 400))
    # per-item predictions: the rows of the table they are for, and the accuracy they give
    items, predicted = profile.details["test_items"], profile.details["predictions"]
    assert items.shape == (400,) and predicted.shape == (2, 400) and set(np.unique(predicted)) <= {"plural", "singular"}
    np.testing.assert_allclose((predicted == labels[items]).mean(axis=1), profile.values)
    hard = items[attractors[items] == 4]
    np.testing.assert_allclose((predicted[1][attractors[items] == 4] == labels[hard]).mean(), by[1, 4])


def test_masked_verb_states_are_the_mask_positions_hidden_states(tiny_models):
    model = tiny_models["bert"]
    items = [_item("are", "is", 1), _item("is", "are", 0, 1, "the dog is on the table".split())]
    states = masked_verb_states(model, items, progress=False)
    assert states.unit == "span" and states.values.shape == (3, 2, 32)
    assert states.table["number"].tolist() == ["plural", "singular"]
    assert states.table["attractors"].tolist() == [1, 0]
    for row, item in enumerate(items):
        words = list(item.words)
        words[item.verb_index] = "[MASK]"
        encoded = model.tokenizer(" ".join(words), return_tensors="pt")
        with torch.no_grad():
            hidden = model.model(**encoded, output_hidden_states=True).hidden_states
        position = int((encoded["input_ids"][0] == model.tokenizer.mask_token_id).nonzero()[0, 0])
        for layer in range(3):
            np.testing.assert_allclose(states.values[layer, row], hidden[layer][0, position].numpy(), atol=1e-5)
    with pytest.raises(LensError, match="mask token"):
        masked_verb_states(tiny_models["gpt2"], items, progress=False)


def _forced_masked_lm(tiny_paths, favoured: str):
    model = lensnb.load_model(tiny_paths["bert"], task="masked-lm")
    favoured_id = model.tokenizer.convert_tokens_to_ids(favoured)
    with torch.no_grad():
        model.model.get_output_embeddings().bias[favoured_id] += 1000.0
    return model


def test_masked_lm_comparison_counts_forced_answers_and_skips(tiny_paths):
    model = _forced_masked_lm(tiny_paths, "are")  # the model always prefers "are"
    items = [
        _item("are", "the", 0),
        _item("are", "the", 1),
        _item("are", "on", 2),  # right: "are" wins
        _item("the", "are", 0),
        _item("on", "are", 1),  # wrong: "are" wins
        _item("is", "are", 0),  # "is" is two pieces in the tiny vocabulary: skipped
        _item("are", "cabinet", 2),  # so is "cabinet"
    ]
    scores = lm_agreement(model, items, batch_size=3, progress=False)
    assert scores.method == "masked"
    assert scores.n_scored == 5 and scores.n_skipped == 2
    assert scores.skipped == {"right form is not one token": 1, "wrong form is not one token": 1}
    assert scores.accuracy == pytest.approx(3 / 5)
    assert scores.table["correct"].tolist()[:5] == [True, True, True, False, False]
    by = scores.by_attractors.set_index("attractors")
    assert by.loc[0].tolist()[:3] == [2, 1, 1] and by.loc[1].tolist()[:3] == [2, 1, 0]
    assert by.loc[2].tolist()[:3] == [1, 1, 1] and by.loc[2, "accuracy"] == 1.0
    # the reported logits are the model's own at the mask
    words = list(SENTENCE)
    words[5] = "[MASK]"
    encoded = model.tokenizer(" ".join(words), return_tensors="pt")
    with torch.no_grad():
        logits = model.model(**encoded).logits[0]
    position = int((encoded["input_ids"][0] == model.tokenizer.mask_token_id).nonzero()[0, 0])
    are, the = model.tokenizer.convert_tokens_to_ids(["are", "the"])
    assert scores.table.loc[0, "right_id"] == are and scores.table.loc[0, "wrong_id"] == the
    assert scores.table.loc[0, "right_logit"] == pytest.approx(float(logits[position, are]), rel=1e-5)
    assert scores.table.loc[0, "wrong_logit"] == pytest.approx(float(logits[position, the]), rel=1e-5)


def test_next_token_comparison_for_a_decoder(tiny_paths):
    model = lensnb.load_model(tiny_paths["gpt2"], task="causal-lm")
    head = model.model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    are = model.tokenizer(" are", add_special_tokens=False)["input_ids"]
    assert len(are) == 1
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.zero_()
        biased.bias[are[0]] = 1000.0
    model.model.lm_head = biased
    items = [_item("are", "the"), _item("the", "are", 1), _item("are", "on", 1),
             _item("are", "the", 0, 0, ["are", "keys"]),  # nothing before the verb
             _item("is", "are")]  # " is" is two pieces  # fmt: skip
    scores = lm_agreement(model, items, progress=False)
    assert scores.method == "next_token"
    assert scores.table["correct"].tolist()[:3] == [True, False, True]
    assert scores.skipped == {"no words before the verb": 1, "right form is not one token": 1}
    assert scores.accuracy == pytest.approx(2 / 3)
    encoded = model.tokenizer("the keys to the cabinet", return_tensors="pt")
    with torch.no_grad():
        last = model.model(**encoded).logits[0, -1]
    assert scores.table.loc[0, "right_logit"] == pytest.approx(float(last[are[0]]), rel=1e-5)


def test_bad_models_and_methods_raise_lens_error(tiny_models, tiny_paths):
    items = [_item("are", "the")]
    with pytest.raises(LensError, match="language-modelling head"):
        lm_agreement(tiny_models["bert"], items, progress=False)  # a base model: no logits
    with pytest.raises(LensError, match="method"):
        lm_agreement(tiny_models["bert"], items, method="cloze", progress=False)
    with pytest.raises(LensError, match="mask token"):
        lm_agreement(tiny_models["gpt2"], items, method="masked", progress=False)
    with pytest.raises(LensError, match="model"):
        lm_agreement("bert", items, progress=False)
    with pytest.raises(LensError, match="attractors"):
        agreement_probe(np.zeros((1, 10, 2)) + np.arange(10)[None, :, None], np.arange(10) % 2, np.full(10, 0.5),
                        progress=False)  # fmt: skip


def test_the_linzen_reader_feeds_the_agreement_items_directly():
    from lensnb.data import read_linzen_agreement
    from lensnb.probing.agreement import as_agreement_items
    from tests.conftest import require_data

    examples = read_linzen_agreement(require_data("agreement_linzen_gulordava"))[:200]
    items = as_agreement_items(examples)
    assert len(items) == 200 and {i.number for i in items} <= {"singular", "plural"}
    first = items[0]
    assert first.words[first.verb_index] in (first.right, first.wrong)
    assert [i.attractors for i in items] == [e.meta["n_attractors"] for e in examples]
