"""Tenney et al.: the scalar-mix edge probe, the bootstrap, the pipeline verdicts, the tables, the command line."""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import lensnb
from lensnb.errors import LensError
from lensnb.examples import Example, Span, SpanPair
from lensnb.geometry.results import LayerProfile
from lensnb.papers import run_settings, tenney
from lensnb.papers.settings import ModelChoice
from lensnb.probing.edge import EdgeNetwork, EdgeProbe
from lensnb.probing.splits import split_by_group
from tests.conftest import require_data


def quick():
    return run_settings(quick=True, progress=False)


def test_mixed_module_with_all_weight_on_one_layer_is_the_edge_probe_on_that_layer():
    rng = np.random.default_rng(0)
    stack = torch.from_numpy(rng.normal(size=(3, 40, 8)).astype(np.float32))
    spans = torch.tensor([[0, 3, 10, 12], [5, 6, 0, 2], [30, 40, 39, 40], [7, 9, 8, 11]])  # overlapping, unsorted
    edge = EdgeNetwork(2, 8, 16, 16, 4, "self_attentive", 0.0, torch.Generator().manual_seed(0), torch.float32)
    mixed = tenney._MixEdgeModule(3, edge).eval()
    with torch.no_grad():
        mixed.logits.copy_(torch.tensor([-50.0, 50.0, -50.0]))  # softmax -> (0, 1, 0)
        expected = edge(stack[1], spans)
        assert torch.allclose(mixed(stack, spans), expected, atol=1e-5)
        mixed.gamma.fill_(2.0)
        assert torch.allclose(mixed(stack, spans), edge(2.0 * stack[1], spans), atol=1e-5)
        factor = tenney._MixEdgeModule(3, edge, rate_factor=10.0)
        factor.logits.copy_(torch.tensor([0.0, 0.1, 0.0]))
        assert torch.allclose(factor.weights(), torch.softmax(torch.tensor([0.0, 1.0, 0.0]), 0))


def synthetic_spans(n_items=240, seed=0):
    """Three layers of 6-d token states; only layer 1 tells the class (the sign of dimension 0), the others are loud noise."""
    rng = np.random.default_rng(seed)
    stack = rng.normal(size=(3, 2 * n_items, 6)).astype(np.float32) * np.array([4, 1, 4], np.float32)[:, None, None]
    classes = rng.integers(0, 2, n_items)
    stack[1, 0::2, 0] = np.where(classes == 1, 3.0, -3.0)  # each item is the span [2i, 2i + 2)
    stack[1, 1::2, 0] = np.where(classes == 1, 3.0, -3.0)
    spans = np.stack([2 * np.arange(n_items), 2 * np.arange(n_items) + 2], axis=1)
    return stack, np.eye(2, dtype=np.int64)[classes], spans, np.arange(n_items) // 2


def test_mix_edge_probe_puts_its_weight_on_the_informative_layer():
    stack, y, spans, groups = synthetic_spans()
    split = split_by_group(groups, tenney.FRACTIONS, seed=0)
    params = {**tenney.probe_settings(run_settings(quick=False)), "max_epochs": 15}
    fit = tenney.fit_mix_edge_probe(stack, y, spans, split, params=params, seed=0)
    assert fit.weights.shape == (3,) and abs(fit.weights.sum() - 1) < 1e-6
    assert np.argmax(fit.weights) == 1 and fit.weights[1] > 0.5
    predicted = fit.predict(stack, spans[split.test])
    assert predicted.shape == (len(split.test), 2) and set(np.unique(predicted)) <= {0, 1}
    assert tenney.micro_f1(y[split.test], predicted) > 0.9  # chance: 0.5
    with pytest.raises(LensError, match="spans"):
        tenney.fit_mix_edge_probe(stack, y, spans + 1000, split, params=params)
    with pytest.raises(LensError, match="stack, y, spans"):
        tenney.fit_mix_edge_probe(stack[0], y, spans, split, params=params)


def test_mix_edge_probe_trains_as_jiant_and_batches_by_text(optimiser_spy):
    stack, y, spans, groups = synthetic_spans()  # two items per text
    split = split_by_group(groups, tenney.FRACTIONS, seed=0)
    params = {**tenney.probe_settings(quick()), "max_epochs": 2}
    made, clipped = optimiser_spy.made, optimiser_spy.clipped
    by_text = tenney.fit_mix_edge_probe(stack, y, spans, split, params=params, groups=groups).log
    assert [kwargs["amsgrad"] for kwargs in made] == [True] and clipped == [5.0] * by_text.n_steps
    assert by_text.monitor == "micro_f1" and by_text.maximize and len(by_text.validation_values) == 2
    n_texts = len(np.unique(groups[split.train]))
    assert by_text.n_steps == 2 * int(np.ceil(n_texts / 32))  # 32 texts a step, with all their items
    by_item = tenney.fit_mix_edge_probe(stack, y, spans, split, params=params).log
    assert by_item.n_steps == 2 * int(np.ceil(len(split.train) / 32))
    with pytest.raises(LensError, match="groups"):
        tenney.fit_mix_edge_probe(stack, y, spans, split, params=params, groups=groups[:-1])


def test_micro_f1_and_its_cluster_bootstrap():
    truth = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    assert tenney.micro_f1(truth, truth) == 1.0
    half = np.array([[1, 0], [1, 0], [0, 0], [0, 1]])  # tp 2, fp 1, fn 2 -> 4 / 7
    assert tenney.micro_f1(truth, half) == pytest.approx(4 / 7)
    assert tenney.micro_f1(np.zeros((2, 2), int), np.zeros((2, 2), int)) == 0.0
    draws = tenney.bootstrap_micro_f1(truth, [truth, half], np.array([0, 0, 1, 1]), 200, seed=0)
    assert draws.shape == (200, 2) and np.all(draws[:, 0] == 1.0)
    assert 0 < draws[:, 1].min() and draws[:, 1].max() < 1
    # resampling whole texts: text 0 alone (items 0, 1) scores tp 1, fp 1, fn 1 -> 0.5; text 1 alone 2/3
    assert set(np.round(draws[:, 1], 4)) <= {0.5, round(2 / 3, 4), round(4 / 7, 4)}


def fake_result(name, expected, interval, *, lexical=0.5, mix=0.8, cog=3.0, draws=None, n_layers=7):
    layers = tuple(range(n_layers))
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    draws = rng.uniform(*interval, size=200) if draws is None else draws
    cumulative = LayerProfile("cumulative_micro_f1", layers, np.linspace(lexical, mix, n_layers), None, {}, None,
                              "span", {"expected_layer": expected, "expected_layer_interval": np.array(interval),
                                       "expected_layer_bootstrap": draws})  # fmt: skip
    per_layer = LayerProfile("probe_micro_f1", layers, np.full(n_layers, lexical), None, {}, None, "span",
                             {"majority_baseline": 0.2})  # fmt: skip
    weights = LayerProfile("scalar_mix_weights", layers, np.full(n_layers, 1 / n_layers), None, {}, None, "span",
                           {"centre_of_gravity": cog})  # fmt: skip
    return tenney.TaskResult(name, f"{name} data, 10 items", 100, 5, 0, {"train": 70, "dev": 10, "test": 20},
                             per_layer, cumulative, weights, 0.7, 0.45)  # fmt: skip


def test_pipeline_order_tells_holds_ties_and_reversals():
    results = {
        "POS": fake_result("POS", 1.0, (0.8, 1.2)),
        "constituents": fake_result("constituents", 2.0, (1.8, 2.2)),
        "entities": fake_result("entities", 2.6, (2.1, 3.1)),  # overlaps constituents: a tie
        "dependencies": fake_result("dependencies", 3.0, (2.9, 3.1)),
        "coreference": fake_result("coreference", 2.8, (2.7, 2.9)),  # below dependencies: reversed
        "relations": fake_result("relations", 4.0, (3.8, 4.2)),
    }
    order = tenney.pipeline_order(results)
    assert list(order["steps"]["verdict"]) == ["holds", "tie", "reversed"]
    assert order["steps"]["P(earlier < later)"].iloc[0] == 1.0
    assert not order["order_holds"] and not order["separated"]
    assert order["ranking"][:2] == ["POS", "constituents"] and order["ranking"][-1] == "relations"
    results["coreference"] = fake_result("coreference", 3.5, (3.3, 3.7))
    order = tenney.pipeline_order(results)
    assert order["order_holds"] and not order["separated"]


def test_tables_put_the_paper_beside_ours():
    results = {"POS": fake_result("POS", 1.0, (0.8, 1.2), lexical=0.8, mix=0.9, cog=2.0),
               "coreference": fake_result("coreference", 3.0, (2.5, 3.5), cog=4.0)}  # fmt: skip
    scores = tenney.scores_table(results)
    assert scores.loc["POS", "paper mix"] == 96.5 and scores.loc["POS", "ours mix"] == pytest.approx(90.0)
    assert scores.loc["POS", "ours lexical"] == pytest.approx(80.0)
    assert np.isnan(scores.loc["SRL", "ours mix"]) and "no offline data" in scores.loc["SRL", "ours data"]
    assert scores.loc["macro average (tasks run here)", "paper lexical"] == pytest.approx((88.3 + 75.8) / 2)
    layers = tenney.layers_table(results)
    assert layers.loc["POS", "paper base E[layer]"] == 1.76 and layers.loc["coreference", "ours CoG"] == 4.0
    assert layers.loc["POS", "ours E/L"] == pytest.approx(1.0 / 6) and np.isnan(layers.loc["Winograd", "ours E[layer]"])


def test_report_states_claims_with_numbers():
    results = {name: fake_result(name, e, (e - 0.1, e + 0.1), lexical=0.5, mix=0.5 + gain, cog=c)
               for name, e, gain, c in [("POS", 1.0, 0.05, 2.0), ("constituents", 1.5, 0.3, 2.5),
                                        ("dependencies", 2.0, 0.25, 2.6), ("entities", 2.2, 0.1, 2.7),
                                        ("coreference", 3.0, 0.2, 3.5), ("relations", 3.2, 0.3, 3.4),
                                        ("Winograd", 2.0, 0.01, 3.0)]}  # fmt: skip
    chosen = ModelChoice(None, False, "a stand-in model")  # type: ignore[arg-type]  # only its note is read
    report = tenney.build_report(chosen, quick(), results)
    verdicts = {c.text.split(" (")[0]: c.holds for c in report.claims}
    assert len(report.claims) == 6 and all(v is True for v in verdicts.values()), verdicts
    assert "constituents +30.0" in report.claims[1].evidence
    assert set(report.tables) >= {"paper vs ours: ICLR Table 2, BERT-base (micro-F1 x 100)",
                                  "paper vs ours: ACL expected layer and centre of gravity"}  # fmt: skip
    assert "POS &lt; constituents" in report.to_html()  # claims are escaped in the HTML
    with pytest.raises(LensError, match="results"):
        tenney.build_report(chosen, quick(), {})


def test_lexical_states_are_layernormed_word_embeddings(tiny_models):
    bert = tiny_models["bert"]
    acts = lensnb.extract(bert, ["the cat sat", "a dog"], progress=False)
    lexical = tenney.lexical_states(bert, acts)
    embeddings = bert.base_model.embeddings
    ids = torch.tensor(acts.tokens["token_id"].to_numpy(), dtype=torch.long)
    with torch.no_grad():
        expected = embeddings.LayerNorm(embeddings.word_embeddings(ids)).numpy()
    assert lexical.layers == (0,) and np.allclose(lexical.values[0], expected, atol=1e-6)
    assert not np.allclose(lexical.values[0], acts.values[0], atol=1e-3)  # layer 0 adds positions
    assert tenney.lexical_states(tiny_models["gpt2"], lensnb.extract(tiny_models["gpt2"], ["a dog"],
                                                                     progress=False)) is None  # fmt: skip


def test_probe_task_measures_every_layer_cat_and_the_cumulative_mixes(tiny_models, monkeypatch):
    texts_given = []  # the texts every edge probe of the task gets, to batch by
    fit, fit_mix = EdgeProbe.fit, tenney.fit_mix_edge_probe

    @functools.wraps(fit)
    def recording_fit(self, X, y, **kwargs):
        texts_given.append(kwargs.get("groups") is not None)
        return fit(self, X, y, **kwargs)

    def recording_fit_mix(*args, **kwargs):
        texts_given.append(kwargs.get("groups") is not None)
        return fit_mix(*args, **kwargs)

    monkeypatch.setattr(EdgeProbe, "fit", recording_fit)
    monkeypatch.setattr(tenney, "fit_mix_edge_probe", recording_fit_mix)
    rng = np.random.default_rng(0)
    vocabulary = ["red", "blue", "cat", "dog", "runs", "sleeps", "the", "a"]
    examples = []
    for i in range(40):
        words = [vocabulary[k] for k in rng.integers(0, len(vocabulary), 6)]
        examples.append(Example(words=words, spans=[Span(j, j + 1, words[j] in ("cat", "dog")) for j in range(6)],
                                span_pairs=[SpanPair(Span(0, 1), Span(j, j + 2), j % 2 == 0) for j in range(1, 4)],
                                meta={"i": i}))  # fmt: skip
    corpus = tenney.Corpus("toy", "toy, 40 texts", examples, {"POS": tenney._edge("span", "POS"),
                                                              "relations": tenney._edge("span_pair", "relations")})  # fmt: skip
    results = tenney.probe_all(tiny_models["bert"], [corpus], quick())
    assert list(results) == ["POS", "relations"]
    for result in results.values():
        layers = result.per_layer.layers
        assert layers == (0, 1, 2) and result.cumulative.layers == layers
        assert result.cumulative.values[0] == result.per_layer.values[0]  # layers 0..0 = layer 0 alone
        weights = result.cumulative.details["weights"]
        assert weights.shape == (3, 3) and np.allclose(np.nansum(weights, axis=1), 1)
        assert np.isnan(weights[1, 2]) and np.allclose(result.mix_weights.values, weights[-1])
        assert 0 <= result.cat <= 1 and 0 <= result.lexical_tenney <= 1
        assert result.cumulative.details["expected_layer_bootstrap"].shape == (50,)
        assert 0 <= result.centre_of_gravity <= 2
    assert results["POS"].n_items == 240 and results["relations"].n_items == 120
    assert len(texts_given) == 2 * (3 + 1 + 1 + 2) and all(texts_given)  # 3 layers, cat, lexical, 2 mixes
    assert sum(results["POS"].split_sizes.values()) == 240


def test_corpora_hold_the_papers_tasks():
    for folder in ("ud_english_ewt", "ptb_sample_nltk", "conll2003", "semeval2010_task8", "gap", "wsc273"):
        require_data(folder)
    corpora = tenney.load_corpora(quick())
    tasks = {name: corpus for corpus in corpora for name in corpus.tasks}
    assert set(tasks) == set(tenney.TASKS)
    ud = tasks["POS"].examples[0]
    assert len(ud.spans) == len(ud.words) == len(ud.span_pairs)
    roots = [p for p in ud.span_pairs if p.label == "root"]
    assert len(roots) == 1 and roots[0].first == roots[0].second  # the root as a self-arc, as the authors did
    assert any(isinstance(s.label, tuple) for ex in tasks["constituents"].examples for s in ex.spans)
    assert {p.label for ex in tasks["coreference"].examples for p in ex.span_pairs} == {True, False}
    assert all(t.pool == "self_attentive" and t.multilabel for c in corpora for t in c.tasks.values())
    assert len(tasks["Winograd"].examples) == 40
    for example in tasks["relations"].examples:  # the nominals as whole white-space tokens (the authors' converter)
        offsets, pair = example.word_offsets(), example.span_pairs[0]
        for span in (pair.first, pair.second):
            start, end = offsets[span.start, 0], offsets[span.end - 1, 1]
            assert (start == 0 or example.text[start - 1].isspace()) and example.text[end : end + 1] in ("", " ")


def test_command_line_writes_the_report(tmp_path, tiny_paths):
    for folder in ("ud_english_ewt", "ptb_sample_nltk", "conll2003", "semeval2010_task8", "gap", "wsc273"):
        require_data(folder)
    result = subprocess.run(
        [sys.executable, "-m", "lensnb.papers", "tenney", "--quick", "--model", str(tiny_paths["bert"]),
         "--out", str(tmp_path), "--no-progress"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "tenney.json").is_file() and (tmp_path / "tenney.html").is_file()
    assert result.stdout.count("[") >= 6  # one line per claim, with its verdict
    saved = pd.read_json(tmp_path / "tenney.json", typ="series")
    assert "paper vs ours: ICLR Table 2, BERT-base (micro-F1 x 100)" in saved["tables"]
