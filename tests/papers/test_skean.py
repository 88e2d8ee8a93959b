"""Skean et al.: the entropy shapes, probes on vectors of known content, pooling, the metrics, the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lensnb
from lensnb.geometry.results import LayerProfile
from lensnb.papers import run_settings, skean
from lensnb.papers.settings import ModelChoice
from tests.conftest import require_data


def profile(values, name="prompt_entropy"):
    return LayerProfile(name, tuple(range(len(values))), np.asarray(values, float))


def test_entropy_shape_tells_bert_from_pythia():
    bert = skean.entropy_shape(profile([0.84, 0.86, 0.80, 0.79, 0.82, 0.87]))
    assert bert["resembles"].startswith("BERT") and bert["flat"] and bert["high_everywhere"] and not bert["has_valley"]
    assert bert["minimum_layer"] == 3 and np.isclose(bert["valley"], 0.84 - 0.79)
    pythia = skean.entropy_shape(profile([0.9, 0.7, 0.45, 0.5, 0.8]))
    assert pythia["resembles"].startswith("Pythia") and pythia["minimum_layer"] == 2
    assert np.isclose(pythia["valley"], 0.8 - 0.45) and np.isclose(pythia["spread"], 0.45)
    falling = skean.entropy_shape(profile([0.6, 0.5, 0.4]))  # low, and its minimum at the end: no valley
    assert falling["resembles"] == "neither" and falling["valley"] < 0
    with pytest.raises(lensnb.LensError, match="profile"):
        skean.entropy_shape(profile([0.5, np.nan, 0.4]))


def separable_vectors(n=240, dim=8, seed=0):
    """Layer 1 holds the label in one coordinate; layers 0 and 2 are noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["neg", "pos"], n // 2)
    vectors = rng.normal(size=(3, n, dim)).astype(np.float32)
    vectors[1, :, 0] += np.where(labels == "pos", 6.0, -6.0)
    return vectors, labels


def make_task(labels, n_test=80):
    n = len(labels)
    order = np.random.default_rng(1).permutation(n)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return skean.Task("toy", [f"text {i}" for i in range(n)], labels, train, train[::5], test, "synthetic")


def test_score_task_chooses_the_informative_layer_on_dev_and_pairs_the_bootstrap():
    vectors, labels = separable_vectors()
    task = make_task(labels)
    settings = run_settings(quick=True, progress=False)
    scores = skean.score_task(vectors, task, settings)
    assert scores.chosen_layer == 1 and scores.best_test_layer == 1 and scores.last_layer == 2
    assert scores.at(1) == 1.0 and scores.at(2) < 0.75
    assert scores.difference.shape == (200,) and scores.difference_interval[0] > 0
    assert scores.verdict == "beats the last"
    assert np.allclose(scores.difference, scores.test.details["bootstrap"][1] - scores.test.details["bootstrap"][2])
    assert scores.test.details["split_sizes"][0] == {"train": 160, "dev": 0, "test": 80}
    assert scores.dev.details["split_sizes"][0]["test"] == len(task.dev)  # chosen on dev rows only
    table = skean.task_table({"toy": scores})
    assert table.loc["toy", "chosen layer (dev)"] == 1 and table.loc["toy", "verdict"] == "beats the last"
    with pytest.raises(lensnb.LensError, match="vectors"):
        skean.score_task(vectors[:, :10], task, settings)


def test_average_scores_average_tasks_and_their_resamples():
    vectors, labels = separable_vectors()
    settings = run_settings(quick=True, progress=False)
    a = skean.score_task(vectors, make_task(labels), settings)
    b = skean.score_task(vectors[::-1].copy(), make_task(labels), settings)  # the informative layer still 1
    average = skean.average_scores({"a": a, "b": b})
    assert np.allclose(average.values, (a.test.values + b.test.values) / 2)
    assert average.details["bootstrap"].shape == (3, 200)
    assert (average.details["ci_low"] <= average.values + 1e-12).all()
    assert (average.values <= average.details["ci_high"] + 1e-12).all()
    with pytest.raises(lensnb.LensError, match="scores"):
        skean.average_scores({})


def test_text_vectors_mean_all_tokens_in_order_across_chunks(tiny_models, monkeypatch):
    model = tiny_models["bert"]
    texts = ["the keys are on the table", "a fox", "probing asks what each layer knows"]
    monkeypatch.setattr(skean, "_CHUNK", 2)  # two chunks: order must survive
    vectors = skean.text_vectors(model, texts, run_settings(quick=True, progress=False))
    acts = lensnb.extract(model, texts, progress=False)
    assert vectors.shape == (len(acts.layers), 3, acts.dim)
    ids = acts.tokens["text_id"].to_numpy()
    for t in range(3):  # every token, [CLS] and [SEP] included
        assert np.allclose(vectors[:, t], np.asarray(acts.values)[:, ids == t].mean(axis=1), atol=1e-5)
    with pytest.raises(lensnb.LensError, match="texts"):
        skean.text_vectors(model, [], run_settings(quick=True, progress=False))


def test_layer_metrics_give_six_profiles_over_every_layer(tiny_models):
    model = tiny_models["gpt_neox"]
    prompts = [f"the keys to the cabinet number {i} are on the table near the door" for i in range(6)]
    prompts += ["researchers poke at a model on a tuesday afternoon", "attention heads attend to punctuation"]
    settings = run_settings(quick=True, progress=False)
    metrics = skean.layer_metrics(model, prompts, settings)
    layers = tuple(range(model.n_layers + 1))
    assert metrics.n_views == 2 and len(metrics.profiles()) == 6
    for title, found in metrics.profiles().items():
        assert found.layers == layers and np.isfinite(found.values).all(), title
    assert ((metrics.prompt_entropy.values > 0) & (metrics.prompt_entropy.values <= 1 + 1e-9)).all()
    assert ((metrics.curvature.values >= 0) & (metrics.curvature.values <= np.pi)).all()
    table = skean.metric_table(metrics)
    assert list(table.index) == list(layers) and table["relative depth"].iloc[-1] == 1.0


def test_report_states_the_claim_for_the_model_family(tiny_models):
    vectors, labels = separable_vectors()
    settings = run_settings(quick=True, progress=False)
    task = make_task(labels)
    scores = {"toy": skean.score_task(vectors, task, settings)}
    flat = profile([0.85, 0.84, 0.86])
    metrics = skean.LayerMetrics(flat, flat, profile([2.0, 2.1, 2.0]), flat, flat, flat, 2)
    for family, word in (("bert", "encoder"), ("gpt_neox", "decoder")):
        chosen = ModelChoice(tiny_models[family], False, "a tiny model")
        report = skean.build_report(chosen, settings, ["a prompt"], metrics, {"toy": task}, scores)
        assert len(report.claims) == 3 and word in report.claims[2].text
        assert report.claims[0].holds and report.claims[1].holds  # layer 1 beats the last on the toy task
        assert report.claims[2].holds is (family == "bert")  # flat and high: BERT-like, no valley
        best = report.tables["paper vs ours: the best layer of the task average vs the last"]
        assert best.iloc[-1]["best layer"] == 1 and best.iloc[-1]["best layer score"] == 100.0
        assert json.dumps(report.to_json())  # plain JSON


def test_tasks_and_prompts_from_the_shared_data():
    require_data("ud_english_ewt/en_ewt-ud-dev.conllu")
    require_data("sst2")
    require_data("semeval2010_task8")
    settings = run_settings(quick=True, progress=False, data_dir=require_data("."))
    prompts = skean.load_prompts(settings)
    assert len(prompts) == len(set(prompts)) == 80 and all(len(p.split()) >= 5 for p in prompts)  # 10+ UD words
    tasks = skean.load_tasks(settings)
    assert list(tasks) == ["sst2", "semeval_relation", "tense", "subject_number"]
    classes = {"sst2": 2, "semeval_relation": 10, "tense": 2, "subject_number": 2}
    for name, task in tasks.items():
        assert len(task.train) == 200 and len(task.test) == 120 and len(task.texts) == len(task.labels) == 320
        assert not set(task.train) & set(task.test) and set(task.dev) <= set(task.train)
        assert len(np.unique(task.labels)) <= classes[name]
    assert set(tasks["tense"].labels) == {"PAST", "PRES"} and set(tasks["sst2"].labels) == {0, 1}


def test_command_line_writes_the_report(tmp_path, tiny_paths):
    require_data("ud_english_ewt")
    # one torch thread: a tiny model gains nothing from more, and on a busy machine they wait on each other (5x)
    result = subprocess.run(
        [sys.executable, "-m", "lensnb.papers", "skean", "--quick", "--model", str(tiny_paths["bert"]),
         "--out", str(tmp_path), "--no-progress"],
        capture_output=True, text=True, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "skean.json").read_text())
    assert (tmp_path / "skean.html").is_file() and len(saved["claims"]) == 3
    assert "paper vs ours: prompt entropy" in saved["tables"]
    assert result.stdout.count("[") >= 3  # one line per claim, with its verdict


def test_command_line_reports_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("LENSNB_DATA", str(tmp_path))
    monkeypatch.setenv("LENSNB_DOWNLOADS", str(tmp_path / "none"))
    result = subprocess.run([sys.executable, "-m", "lensnb.papers", "skean", "--quick", "--model", "embedded",
                             "--out", str(tmp_path)], capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 2 and "lensnb.data.download" in result.stderr
