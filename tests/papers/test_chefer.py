"""Chefer et al.: the claim checks on known tables, the pipeline on a tiny model, the cached head, the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import lensnb
from lensnb.examples import Example
from lensnb.fine_tune import classify
from lensnb.papers import chefer, run_settings
from lensnb.papers.settings import ModelChoice
from tests.conftest import data_dir, require_data

POSITIVE = "a great and moving film with a fine cast".split()
NEGATIVE = "a dull and tired film with a weak plot".split()


def tiny_reviews(n: int = 4) -> chefer.Reviews:
    examples = []
    for i in range(n):
        words, label = (POSITIVE, "POS") if i % 2 else (NEGATIVE, "NEG")
        rationale = [int(w in ("great", "moving", "fine", "dull", "tired", "weak")) for w in words]
        examples.append(Example(words=list(words), labels={"rationale": rationale},
                                meta={"label": label, "annotation_id": f"r{i}.txt"}))  # fmt: skip
    return chefer.Reviews(examples, np.array([i % 2 for i in range(n)]),
                          [np.asarray(ex.labels["rationale"]) for ex in examples])  # fmt: skip


@pytest.fixture(scope="module")
def classifier(tiny_paths):
    return lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)


def test_beats_at_every_k_counts_the_k_where_the_method_is_above():
    table = pd.DataFrame({"k=10": [0.5, 0.4, 0.6], "k=20": [0.6, 0.5, 0.5]}, index=["ours", "a", "b"])
    found = chefer.beats_at_every_k(table, "ours", ["a", "b", "not run"])
    assert set(found) == {"a", "b"}
    assert found["a"]["every_k"] and found["a"]["above"] == 2 and found["a"]["min_margin"] == pytest.approx(0.1)
    assert not found["b"]["every_k"] and found["b"]["above"] == 1
    assert found["b"]["min_margin"] == pytest.approx(-0.1) and found["b"]["max_margin"] == pytest.approx(0.1)
    with pytest.raises(lensnb.LensError, match="method"):
        chefer.beats_at_every_k(table, "nobody", ["a"])


def test_ordering_is_strict_and_knows_when_lower_is_better():
    values = {"ta": 0.3, "rollout": 0.2, "raw": 0.1}
    assert chefer.ordering(values, ("ta", "rollout", "raw"))
    assert not chefer.ordering(values, ("rollout", "ta", "raw"))
    assert chefer.ordering(values, ("raw", "rollout", "ta"), higher_is_better=False)
    assert not chefer.ordering({"a": 1.0, "b": 1.0}, ("a", "b"))  # a tie is no ordering
    with pytest.raises(lensnb.LensError, match="order"):
        chefer.ordering(values, ("ta", "absent"))


def test_the_paper_vit_table_sits_beside_ours_paper_rows_first():
    auc = pd.DataFrame({"text positive AUC % (lower better)": [10.0, 20.0, 30.0],
                        "text negative AUC % (higher better)": [70.0, 60.0, 50.0]},
                       index=[chefer.TA_LAST, chefer.ROLLOUT, chefer.IXG])  # fmt: skip
    table = chefer.vit_vs_text(auc)
    assert list(table.index[:6]) == list(chefer.PAPER_VIT_AUC.index) and table.index[-1] == chefer.IXG
    paper_row, ours = table.loc[chefer.TA_VIT], table.loc[chefer.TA_LAST]  # different settings: different rows
    assert paper_row["ViT negative AUC % (paper, higher better)"] == 54.16 and np.isnan(paper_row.iloc[1])
    assert ours.iloc[1] == 10.0 and np.isnan(ours["ViT negative AUC % (paper, higher better)"])
    rollout = table.loc[chefer.ROLLOUT]
    assert rollout["ViT negative AUC % (paper, higher better)"] == 53.1 and rollout.iloc[1] == 20.0
    assert [c.split(" AUC")[0] for c in table.columns] == [
        "ViT positive",
        "text positive",
        "ViT negative",
        "text negative",
    ]
    assert np.isnan(table.loc[chefer.LRP, "text positive AUC % (lower better)"])
    assert np.isnan(table.loc[chefer.IXG, "ViT positive AUC % (paper, lower better)"])


def test_methods_quick_and_full(classifier):
    quick = chefer.relevance_methods(classifier, run_settings(quick=True, progress=False))
    full = chefer.relevance_methods(classifier, run_settings(quick=False, progress=False))
    assert list(quick) == [chefer.TA_FIRST, chefer.TA_LAST, *chefer.BASELINES[:4], chefer.IXG, chefer.ATTNLRP]
    assert len(full) == 10 and set(chefer.BASELINES) <= set(full)
    assert full[chefer.TA_LAST].start_layer == -1 and full[chefer.TA_FIRST].start_layer == 0
    assert all(m.max_length == 64 and m.overflow == "truncate" for m in full.values())  # the tiny model's limit


def test_pipeline_on_a_tiny_model(classifier, tmp_path):
    settings = run_settings(quick=True, progress=False)
    reviews = tiny_reviews(4)
    explained = chefer.explain_reviews(classifier, reviews, settings)
    assert explained.methods == list(chefer.relevance_methods(classifier, settings))
    assert explained.max_length == 64 and explained.n_cut == 0 and 0 <= explained.accuracy(reviews) <= 1
    for relevance in explained.relevances.values():  # the true class of each review was explained
        assert relevance.segments["target"].tolist() == reviews.labels.tolist()

    f1, details = chefer.token_f1(explained, reviews)
    assert f1.shape == (8, 8) and list(f1.columns) == [f"k={k}" for k in chefer.K]
    assert np.allclose(f1.loc[chefer.ROLLOUT].to_numpy(), details[chefer.ROLLOUT].f1)
    # every review has 9 words, 3 of them rationale: top-k with k >= 9 takes all, F1 = 2 * (3/9) / (3/9 + 1)
    assert np.allclose(f1.to_numpy(), 0.5)

    perturbed = chefer.perturbation(classifier, explained, reviews, settings)
    assert perturbed.rows.tolist() == [0, 1, 2, 3]
    table = perturbed.table()
    assert table.shape == (8, 2) and ((table >= 0) & (table <= 100)).all().all()
    positive, negative = perturbed.curves[chefer.TA_FIRST]
    assert len(positive.fractions) == 11 and positive.accuracy[0] == negative.accuracy[0]  # the same start
    assert positive.accuracy[0] == pytest.approx(explained.accuracy(reviews))

    stage = {"data": "sst2", "n_texts": 8, "max_length": 48, "epochs": 1, "learning_rate": 1e-4, "batch_size": 4}
    head = chefer.SentimentHead(classifier, {"stages": [stage], "seed": 0}, tmp_path, False, 2.0, 0.6)
    chosen = ModelChoice(classifier, False, "a tiny <random> model")
    report = chefer.build_report(chosen, settings, head, (0.5, 10), reviews, explained, f1, perturbed)
    assert len(report.claims) == 5 and all(c.holds is not None for c in report.claims)
    assert "LRP not run in quick mode" in report.claims[0].evidence
    assert any(name.startswith("paper vs ours: perturbation AUC") for name in report.tables)
    assert "<random>" not in report.to_html() and "&lt;random&gt;" in report.to_html()
    json.dumps(report.to_json())


def test_subset_keeps_the_chosen_reviews(classifier):
    settings = run_settings(quick=True, progress=False)
    reviews = tiny_reviews(4)
    relevance = chefer.explain_reviews(classifier, reviews, settings, {"raw": chefer.RawAttention(
        classifier, max_length=64, overflow="truncate", progress=False)}).relevances["raw"]  # fmt: skip
    part = chefer._subset(relevance, [1, 3])
    assert part.texts["text_id"].tolist() == [1, 3] and part.segments["text_id"].tolist() == [1, 3]
    rows = relevance.tokens["text_id"].isin([1, 3]).to_numpy()
    assert np.array_equal(part.scores, relevance.scores[rows]) and len(part.tokens) == rows.sum()


def test_examples_for_the_explorer_explain_both_classes(classifier):
    settings = run_settings(quick=True, progress=False)
    found = chefer.explain_examples(classifier, tiny_reviews(4), settings)
    assert len(found) == 8 * 2 and found[0].n_texts == 2  # 8 methods x 2 targets, one review of each class
    assert [int(r.segments["target"].iloc[0]) for r in found[:2]] == [0, 1]
    assert found[0].layers is not None  # transformer attribution keeps its per-layer rollout


def test_quick_reviews_are_the_shortest_of_each_class():
    require_data("eraser_movies")
    settings = run_settings(quick=True, data_dir=data_dir(), progress=False)
    reviews = chefer.load_reviews(settings)
    assert len(reviews) == 6 and sorted(reviews.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert all(len(r) == len(ex.words) for r, ex in zip(reviews.rationales, reviews.examples))
    everything = lensnb.data.read_eraser_movies(data_dir() / "eraser_movies", "val")
    for label in (0, 1):
        lengths = sorted(len(ex.words) for ex in everything if chefer._label(ex) == label)
        assert sorted(len(ex.words) for ex, y in zip(reviews.examples, reviews.labels) if y == label) == lengths[:3]


def test_the_head_is_trained_once_then_reused(tiny_paths, tmp_path):
    require_data("sst2")
    settings = run_settings(quick=True, data_dir=data_dir(), progress=False)
    chosen = chefer.choose(str(tiny_paths["bert"]), settings)
    head = chefer.sentiment_head(chosen, settings, cache_dir=tmp_path)
    assert not head.cached and [stage["data"] for stage in head.spec["stages"]] == ["sst2"]
    assert (head.folder / "model" / "config.json").is_file() and (head.folder / "checkpoint-1-sst2").is_dir()
    again = chefer.sentiment_head(chefer.choose(str(tiny_paths["bert"]), settings), settings, cache_dir=tmp_path)
    assert again.cached and again.folder == head.folder and again.train_seconds == head.train_seconds
    texts = ["a fine film", "a dull film"]
    assert np.allclose(classify(head.model, texts), classify(again.model, texts), atol=1e-6)
    other = chefer.head_spec(chosen, run_settings(quick=True, seed=1))
    assert other != head.spec and other["seed"] == 1
    full = chefer.head_spec(chosen, run_settings(quick=False))["stages"]  # SST-2 first, then the reviews
    assert [s["data"] for s in full] == ["sst2", "movies"] and [s["max_length"] for s in full] == [48, 64]
    accuracy, n = chefer.sst2_accuracy(head.model, settings)
    assert 0 < n <= 100 and 0 <= accuracy <= 1  # the tiny model (64 tokens) leaves out the longest


def test_command_line_writes_the_report(tmp_path, tiny_paths):
    require_data("eraser_movies")
    require_data("sst2")
    env = {**os.environ, "HOME": str(tmp_path), "LENSNB_DATA": str(data_dir())}  # the head's cache under tmp_path
    result = subprocess.run(
        [sys.executable, "-m", "lensnb.papers", "chefer", "--quick", "--model", str(tiny_paths["bert"]),
         "--out", str(tmp_path), "--no-progress"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "chefer.json").read_text())
    assert (
        len(saved["claims"]) == 5
        and "token-F1 by k (ours, text: ERASER instance-macro, top-k words)" in saved["tables"]
    )
    assert (tmp_path / "chefer.html").is_file() and result.stdout.count("[") >= 5
    assert list(Path(tmp_path, ".cache", "lensnb", "heads").glob("chefer-*/model/config.json"))


def test_command_line_reports_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("LENSNB_DATA", str(tmp_path))
    monkeypatch.setenv("LENSNB_DOWNLOADS", str(tmp_path / "none"))
    result = subprocess.run([sys.executable, "-m", "lensnb.papers", "chefer", "--quick", "--model", "embedded",
                             "--out", str(tmp_path)], capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 2 and "lensnb.data.download" in result.stderr


def test_results_and_reviews_that_do_not_belong_together_are_refused(classifier):
    settings = run_settings(quick=True, progress=False)
    reviews = tiny_reviews(4)
    explained = chefer.explain_reviews(classifier, reviews, settings, {"raw": chefer.RawAttention(
        classifier, max_length=64, overflow="truncate", progress=False)})  # fmt: skip
    other = reviews.subset([0, 1])
    for call in (lambda: chefer.token_f1(explained, other), lambda: chefer.top_words(explained, other),
                 lambda: chefer.perturbation(classifier, explained, other, settings)):  # fmt: skip
        with pytest.raises(lensnb.LensError, match=r"reviews: expected the \[4\] reviews"):
            call()
    with pytest.raises(lensnb.LensError, match=r"row: expected a review index in 0\.\.3"):
        chefer.top_words(explained, reviews, row=7)
    assert list(chefer.top_words(explained, reviews, row=3, n=3).index) == [1, 2, 3]


def test_the_head_cache_key_covers_the_weights_and_the_texts(tiny_paths):
    require_data("sst2")
    settings = run_settings(quick=True, data_dir=data_dir(), progress=False)
    first = chefer.choose(str(tiny_paths["bert"]), settings)
    second = chefer.choose(str(tiny_paths["bert"]), settings)
    assert chefer.head_spec(first, settings) == chefer.head_spec(second, settings)  # a new head's weights aside
    with torch.no_grad():
        next(second.model.base_model.parameters()).add_(1.0)  # other weights under the same folder name
    assert chefer.head_spec(first, settings)["weights"] != chefer.head_spec(second, settings)["weights"]
    other_seed = chefer.head_spec(first, run_settings(quick=True, data_dir=data_dir(), seed=3, progress=False))
    assert other_seed["stages"][0]["texts"] != chefer.head_spec(first, settings)["stages"][0]["texts"]
