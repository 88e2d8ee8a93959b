"""Brown et al.: block structure of known maps, the pair table, the models' stitching on tiny classifiers."""

from __future__ import annotations

import numpy as np
import pytest

import lensnb
from lensnb.geometry.results import LayerMatrix
from lensnb.geometry.stitching import StitchingAsymmetry
from lensnb.papers import brown, run_settings
from lensnb.testing import CORPUS


def test_block_structure_reads_the_fall_off_the_diagonal():
    n = 5
    distance = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    falling = brown.block_structure(LayerMatrix("cka_linear", tuple(range(n)), tuple(range(n)), 1.0 - 0.1 * distance))
    assert np.allclose(falling["by_distance"], [0.9, 0.8, 0.7, 0.6]) and falling["spearman"] == pytest.approx(-1)
    flat = brown.block_structure(LayerMatrix("cka_linear", (0, 1, 2), (0, 1, 2), np.ones((3, 3))))
    assert flat["off_diagonal"] == 1.0
    with pytest.raises(lensnb.LensError, match="matrix: expected a square layer x layer map"):
        brown.block_structure(LayerMatrix("x", (0, 1), (0, 1, 2), np.ones((2, 3))))


def test_pair_table_and_matched_layers():
    a_to_b = LayerMatrix("stitching_penalty", (0, 3, 6), (0, 6, 12), np.diag([0.1, 0.5, 0.9]))
    b_to_a = LayerMatrix("stitching_penalty", (0, 6, 12), (0, 3, 6), np.diag([0.0, 0.2, 0.4]))
    table = brown.pair_table(StitchingAsymmetry(a_to_b, b_to_a), ("A", "B"))
    assert table["difference"].tolist() == pytest.approx([0.1, 0.3, 0.5])
    assert table["layer of B"].tolist() == [0, 6, 12]


def test_stitching_two_tiny_classifiers_both_ways(tiny_paths):
    settings = run_settings(quick=True, progress=False)
    first = lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)
    second = lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)
    related = brown.RelatedModels(first, second, ("one", "two"), "classification", "two tiny classifiers")
    assert brown.matched_layers(related, settings) == ([0, 1, 2], [0, 1, 2])
    labels = np.arange(len(CORPUS)) % 2
    asym = brown.stitch_both_ways(related, list(CORPUS), labels, settings)
    assert np.isfinite(np.diag(asym.a_to_b.values)).all() and asym.a_to_b.params["steps"] == 5
    maps = brown.cka_maps(first, list(CORPUS), settings)
    between = brown.cka_between(related, list(CORPUS), settings)
    assert np.allclose(np.diag(between.values), 1.0)  # the same weights: identical layers
    report = brown.build_report("test", settings, related, maps, between, asym, len(CORPUS), len(CORPUS))
    verdicts = {c.text.split(":")[0]: c.holds for c in report.claims}
    assert verdicts["one and two differ more in later layers"] is False  # CKA 1 everywhere
    assert sum(c.holds is None for c in report.claims) == 2
    assert any("5 Adam steps" in note for note in report.notes)  # what quick mode ran, not full mode's 200
    assert report.citation.startswith("Brown, Godfrey, Konz, Tu & Kvinge")


def test_related_models_refuse_a_model_name():
    with pytest.raises(lensnb.LensError, match="model: expected 'auto' or 'embedded'"):
        brown.related_models("bert-base-uncased", ["a"], np.array([0]), run_settings(quick=True))


def test_models_of_different_widths_stitch_from_least_squares(tmp_path):
    """The paper's pair (Pythia-70m, 512 wide; Pythia-160m, 768) cannot start at the identity."""
    from lensnb.testing import build_tiny_model

    settings = run_settings(quick=True, progress=False)
    narrow = lensnb.load_model(build_tiny_model("gpt_neox", tmp_path / "a", width=32), task="causal-lm")
    wide = lensnb.load_model(build_tiny_model("gpt_neox", tmp_path / "b", width=48), task="causal-lm")
    related = brown.RelatedModels(narrow, wide, ("narrow", "wide"), "causal-lm", "two tiny causal LMs")
    assert brown.stitch_init(related) == "least_squares"
    texts = list(CORPUS)
    asym = brown.stitch_both_ways(related, texts, np.zeros(len(texts), dtype=np.int64), settings)
    assert asym.a_to_b.params["init"] == asym.b_to_a.params["init"] == "least_squares"
    assert np.isfinite(np.diag(asym.a_to_b.values)).all() and np.isfinite(np.diag(asym.b_to_a.values)).all()
    maps = brown.cka_maps(narrow, texts, settings)
    between = brown.cka_between(related, texts, settings)
    report = brown.build_report("test", settings, related, maps, between, asym, len(texts), len(texts))
    assert len(report.claims) == 6  # the notebook's check
    assert any("least-squares initialisation" in note for note in report.notes)


def test_same_depth_similarity_matches_layers_by_relative_depth():
    values = np.arange(15, dtype=np.float64).reshape(3, 5)  # A: layers 0..2, B: layers 0..4
    layers, same_depth = brown.same_depth_similarity(LayerMatrix("cka_linear", (0, 1, 2), (0, 1, 2, 3, 4), values))
    assert layers == [0, 1, 2] and same_depth.tolist() == [values[0, 0], values[1, 2], values[2, 4]]
    square = LayerMatrix("cka_linear", (0, 1, 2), (0, 1, 2), np.diag([1.0, 2.0, 3.0]))
    assert brown.same_depth_similarity(square)[1].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(lensnb.LensError, match="between: expected a column for layer 2 of B"):
        brown.same_depth_similarity(LayerMatrix("cka_linear", (0, 1, 2), (0, 1, 3, 4), np.ones((3, 4))))
    with pytest.raises(lensnb.LensError, match="between: expected a LayerMatrix"):
        brown.same_depth_similarity(np.ones((3, 3)))
