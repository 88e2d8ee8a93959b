"""Jawahar et al.: the paper's table, the claims on known profiles, each step on tiny inputs, the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb.geometry.results import LayerProfile
from lensnb.papers import jawahar, run_settings
from lensnb.papers.settings import ModelChoice
from lensnb.probing import AgreementItem
from tests.conftest import require_data

QUICK = run_settings(quick=True, progress=False)


def profile(values, layers=None, name="probe_accuracy", **details):
    layers = tuple(range(1, len(values) + 1)) if layers is None else tuple(layers)
    n = len(values)
    details.setdefault("majority_baseline", 0.5)
    return LayerProfile(name, layers, np.asarray(values, float), np.zeros(n), {}, None, "text", details)


def nmi_profile(values):
    layers = tuple(range(len(values)))
    return LayerProfile("span_nmi", layers, np.asarray(values, float), np.full(len(values), 0.01),
                        {"n_fit": 30, "n_held_out": 5, "k": 3}, None, "span",
                        {"nmi_arithmetic": np.asarray(values, float)})  # fmt: skip


def agreement_profile(by_attractors, majority=None):
    accuracy = np.asarray(by_attractors, float)  # (n_layers, n_counts)
    n_layers, n_counts = accuracy.shape
    details = {"attractors": np.arange(n_counts), "accuracy_by_attractors": accuracy,
               "error_by_attractors": np.zeros_like(accuracy), "n_by_attractors": np.full(n_counts, 10),
               "majority": 0.5, "majority_by_attractors": np.full(n_counts, 0.5) if majority is None else majority}  # fmt: skip
    return LayerProfile("agreement_probe_accuracy", tuple(range(1, n_layers + 1)), accuracy.mean(axis=1),
                        np.zeros(n_layers), {"n_test": 10 * n_counts}, None, "span", details)  # fmt: skip


def test_paper_table_has_the_best_layers_the_paper_reports():
    best = {task: int(jawahar.PAPER_TABLE2[task].idxmax()) for task in jawahar.PAPER_TABLE2}
    assert best == {"SentLen": 3, "WC": 4, "TreeDepth": 6, "TopConst": 7, "BShift": 9, "Tense": 9, "SubjNum": 6,
                    "ObjNum": 7, "SOMO": 12, "CoordInv": 9}  # fmt: skip
    assert list(jawahar.PAPER_TABLE2.index) == list(range(1, 13))
    assert set(jawahar.SOURCES) <= set(jawahar.CATEGORIES)


def test_best_layers_and_category_order_on_known_peaks():
    peaks = {"SentLen": 1, "TreeDepth": 3, "TopConst": 3, "Tense": 5, "SubjNum": 6, "ObjNum": 4}
    probes = {"cls": {task: profile(np.eye(6)[peak - 1] * 0.5 + 0.3) for task, peak in peaks.items()}}
    best = jawahar.best_layers(probes)
    assert best.loc[list(peaks), "ours cls: best layer"].tolist() == list(peaks.values())
    assert best.loc["SentLen", "paper best layer (of 12)"] == 3 and np.isnan(best.loc["WC", "ours cls: depth"])
    order = jawahar.category_order(best)
    assert order["ours cls"].round(3).tolist() == [round(1 / 6, 3), 0.5, 0.833]
    assert order.loc["surface", "paper, our 6 tasks"] == 0.25
    beside = jawahar.table2_beside(probes)
    assert beside.loc["best layer", "TreeDepth: ours cls"] == 3 and beside.loc["best layer", "TreeDepth: paper"] == 6
    assert beside.loc[12, "SentLen: paper"] == 69.5 and np.isnan(beside.loc[12, "SentLen: ours cls"])
    assert beside.loc["majority class", "Tense: ours cls"] == 50.0 and "WC: paper" not in beside


def test_report_claims_follow_the_profiles():
    chosen = ModelChoice(None, False, "a stand-in (no model is run)")
    ordered = {task: profile(np.eye(6)[peak - 1] * 0.5 + 0.3) for task, peak in
               {"SentLen": 1, "TreeDepth": 3, "TopConst": 3, "Tense": 5, "SubjNum": 6, "ObjNum": 4}.items()}  # fmt: skip
    lower_fail = agreement_profile(np.c_[np.full(6, 0.95), np.linspace(0.3, 0.9, 6), np.linspace(0.2, 0.9, 6)])
    report = jawahar.build_report(chosen, QUICK, nmi=nmi_profile([0.4, 0.5, 0.55, 0.4, 0.3, 0.25, 0.2]),
                                  probes={"cls": ordered}, agreement_profile=lower_fail)  # fmt: skip
    verdicts = [claim.holds for claim in report.claims]
    assert verdicts == [True, True, True, True, True, None]
    assert "best layer 2 of 6" in report.claims[0].evidence
    flipped = {task: profile(p.values[::-1]) for task, p in ordered.items()}
    upper_fail = agreement_profile(np.c_[np.linspace(0.9, 0.6, 6), np.linspace(0.9, 0.3, 6), np.linspace(0.9, 0.2, 6)])
    report = jawahar.build_report(chosen, QUICK, nmi=nmi_profile([0.2, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6]),
                                  probes={"cls": flipped}, agreement_profile=upper_fail)  # fmt: skip
    assert [claim.holds for claim in report.claims] == [False, False, False, False, False, None]
    json = report.to_json()
    assert "paper vs ours: best layer per task" in json["tables"] and len(json["claims"]) == 6


def test_agreement_probe_trains_on_items_without_attractors():
    rng = np.random.default_rng(0)
    n = 400
    number = rng.choice(["singular", "plural"], n)
    attractors = rng.integers(0, 3, n)
    signal = np.where(number == "plural", 3.0, -3.0)[:, None] * np.ones((1, 8))
    values = np.stack([rng.normal(size=(n, 8)), signal + rng.normal(size=(n, 8)), rng.normal(size=(n, 8))])
    table = pd.DataFrame({"text_id": np.arange(n), "number": number, "attractors": attractors})
    states = lensnb.Activations({"resid_post": values.astype(np.float32)}, {"resid_post": (0, 1, 2)}, table,
                                unit="span")  # fmt: skip
    found = jawahar.agreement(states, QUICK)
    assert found.layers == (1, 2)  # the paper's layers: no embedding layer
    n_zero = int((attractors == 0).sum())
    assert found.params["n_train"] == round(0.7 * n_zero) and found.params["n_test"] == n - round(0.7 * n_zero)
    assert found.details["accuracy_by_attractors"].shape == (2, 3)
    assert found.values[0] >= 0.98 and found.values[1] < 0.7
    table = jawahar.agreement_table(found)
    assert list(table.columns) == ["0 attractors", "1 attractor", "2 attractors", "all"]
    assert table.loc["test items", "all"] == found.params["n_test"]
    curves = jawahar.agreement_curves(found)
    assert list(curves) == [f"agreement probe, {k} attractor{'s' if k != 1 else ''}" for k in range(3)]
    with pytest.raises(lensnb.LensError, match="train_fraction"):
        jawahar.agreement(states, QUICK, train_fraction=1.5)


def test_agreement_steps_on_a_tiny_model(tiny_models, tiny_paths, tmp_path):
    bert = tiny_models["bert"]
    items = [AgreementItem(("the", "keys", "to", "the", "cabinet", "are", "on", "the", "table"), 5, "are", "is", 1,
                           "plural"),
             AgreementItem(("the", "fox", "jumps", "over", "the", "dog"), 2, "jumps", "jump", 0, "singular")]  # fmt: skip
    states = jawahar.agreement_states(bert, items, QUICK, chunk=1)
    assert states.values.shape == (3, 2, bert.hidden_size) and states.table["text_id"].tolist() == [0, 1]
    assert states.table["attractors"].tolist() == [1, 0] and states.table["number"].tolist() == ["plural", "singular"]
    assert not jawahar.has_mlm_head(bert)
    scores, note = jawahar.lm_agreement_scores(bert, items, QUICK)
    assert scores is None and "no masked-LM head" in note
    import transformers

    folder = tmp_path / "tiny-mlm"
    transformers.BertForMaskedLM(transformers.AutoConfig.from_pretrained(tiny_paths["bert"])).save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(tiny_paths["bert"]).save_pretrained(folder)
    mlm_base = lensnb.load_model(folder)
    assert jawahar.has_mlm_head(mlm_base)
    scores, note = jawahar.lm_agreement_scores(mlm_base, items, QUICK)
    assert scores is not None and len(scores.table) == 2 and "masked-LM agreement" in note


def test_chunks_are_sampled_and_clustered(tiny_models):
    require_data("conll2000")
    chunks = jawahar.load_chunks(QUICK, n_chunks=40, n_outside=8)
    labels = [span.label for example in chunks for span in example.spans]
    assert len(labels) == 48 and labels.count("O") == 8
    again = jawahar.load_chunks(QUICK, n_chunks=40, n_outside=8)
    assert [e.meta["sentence"] for e in again] == [e.meta["sentence"] for e in chunks]
    acts = jawahar.chunk_states(tiny_models["bert"], chunks, QUICK)
    nmi = jawahar.chunk_clustering(acts, QUICK)
    assert nmi.layers == (0, 1, 2) and nmi.params["n_held_out"] == round(48 / 7) and nmi.params["n_init"] == 10
    assert ((nmi.values >= 0) & (nmi.values <= 1)).all() and nmi.params["average_method"] == "geometric"
    table = jawahar.clustering_table(nmi)
    assert table["in the paper"].tolist() == ["no (embeddings)", "yes", "yes"]
    vectors, projection = jawahar.chunk_map(acts, QUICK, n_points=40)
    assert vectors.values.shape == (3, 40, 4 * tiny_models["bert"].hidden_size)
    assert projection.coordinates.shape == (3, 40, 2) and set(vectors.table["chunk"]) <= set(labels)
    with pytest.raises(lensnb.LensError, match="n_chunks"):
        jawahar.load_chunks(QUICK, n_chunks=0)


def test_probing_sentences_and_probes(tiny_models):
    require_data("ptb_sample_nltk")
    require_data("ud_english_ewt")
    sentences = jawahar.load_probing_sentences(QUICK, per_task=30)
    ptb, ud = sentences["ptb"], sentences["ud"]
    assert len(ptb) == 30 and all(e.meta["SentLen"] in range(6) for e in ptb)
    assert all(e.meta["TreeDepth"] == e.meta["tree_depth"] for e in ptb)
    assert all(5 <= len(e.words) <= 28 for e in ptb + ud)
    for task, values in (("Tense", {"PAST", "PRES"}), ("SubjNum", {"NN", "NNS"}), ("ObjNum", {"NN", "NNS"})):
        labelled = [e.meta[task] for e in ud if e.meta[task] is not None]
        assert len(labelled) == 30 and set(labelled) <= values
    states = jawahar.sentence_states(tiny_models["bert"], sentences, QUICK)
    probes = jawahar.probe_sentences(states, QUICK, pools=("cls",))
    assert set(probes) == {"cls"} and set(probes["cls"]) == set(jawahar.SOURCES)
    assert all(p.layers == (1, 2) and ((0 <= p.values) & (p.values <= 1)).all() for p in probes["cls"].values())
    senteval = {"standardize": False, "monitor": "accuracy", "check_every": 4, "stopping": "senteval", "patience": 5,
                "tol": 0.0, "dropout": 0.0, "hidden_size": 50, "activation": "sigmoid", "batch_size": 64}  # fmt: skip
    for profile_ in probes["cls"].values():  # SentEval's MLP on the raw features, SentEval's early stopping
        assert {k: profile_.params["probe_params"][k] for k in senteval} == senteval
    assert jawahar.senteval_probe(run_settings(quick=False, progress=False)).max_epochs == 204  # SentEval's 200 + 4
    table = jawahar.probing_table(probes["cls"])
    assert list(table.index) == [1, 2, "majority class"] and list(table.columns) == list(jawahar.SOURCES)
    with pytest.raises(lensnb.LensError, match="pools"):
        jawahar.probe_sentences(states, QUICK, pools=("max",))


def test_agreement_items_from_the_linzen_set():
    require_data("agreement_linzen_gulordava")
    items = jawahar.agreement_items(QUICK, n_items=50)
    assert len(items) == 50 and {item.number for item in items} <= {"singular", "plural"}
    assert all(item.words[item.verb_index] == item.right and 0 <= item.attractors <= 4 for item in items)
    assert len(jawahar.agreement_items(run_settings(quick=False, progress=False))) == 7485


def test_command_line_writes_the_report(tmp_path, tiny_paths):
    for name in ("conll2000", "ptb_sample_nltk", "ud_english_ewt", "agreement_linzen_gulordava"):
        require_data(name)
    result = subprocess.run(
        [sys.executable, "-m", "lensnb.papers", "jawahar", "--quick", "--model", str(tiny_paths["bert"]),
         "--out", str(tmp_path), "--no-progress"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "jawahar.json").is_file() and (tmp_path / "jawahar.html").is_file()
    assert result.stdout.count("[") >= 6  # one line per claim, with its verdict
    assert "TPDN" in result.stdout


def test_bad_sizes_are_refused():
    with pytest.raises(lensnb.LensError, match="per_task"):
        jawahar.load_probing_sentences(QUICK, per_task=-1)
    with pytest.raises(lensnb.LensError, match="n_items"):
        jawahar.agreement_items(QUICK, n_items=0)
    with pytest.raises(lensnb.LensError, match="items"):
        jawahar.agreement_states(None, [], QUICK)
