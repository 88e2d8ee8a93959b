"""Valeriani et al.: the rule on known profiles, the geometry on data of known dimension, the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

import lensnb
from lensnb.geometry.results import LayerMatrix, LayerProfile
from lensnb.papers import run_settings, valeriani
from tests.conftest import require_data


def found(ids, label_overlap):
    layers = tuple(range(len(ids)))
    n = len(ids)
    return valeriani.ValerianiGeometry(
        LayerProfile("intrinsic_dimension_twonn", layers, np.asarray(ids, float), np.zeros(n)),
        LayerMatrix("neighborhood_overlap", layers, layers, np.eye(n)),
        LayerProfile("label_overlap", layers, np.asarray(label_overlap, float)),
        pd.DataFrame({"N": ids, "N/8": ids}, index=layers),
    )


def test_rule_finds_the_peak_the_minimum_after_it_and_the_label_peak():
    paper_shape = valeriani.rule(found([10, 30, 20, 8, 9, 12], [0.1, 0.2, 0.5, 0.8, 0.6, 0.3]))
    assert (paper_shape["first_peak"], paper_shape["minimum_after_peak"], paper_shape["label_peak"]) == (1, 3, 3)
    assert paper_shape["holds"] and paper_shape["cheng_shape"]
    falling = valeriani.rule(found([30, 25, 20, 22, 26], [0.1, 0.3, 0.2, 0.1, 0.1]))
    assert falling["first_peak"] == 0 and falling["minimum_after_peak"] == 2 and falling["label_peak"] == 1
    assert not falling["holds"] and falling["within_one_layer"] and not falling["cheng_shape"]
    rising = valeriani.rule(found([1, 2, 3], [0.1, 0.2, 0.3]))
    assert rising["first_peak"] == 2 and rising["minimum_after_peak"] is None and not rising["holds"]


def test_geometry_measures_known_dimensions_and_separated_labels():
    rng = np.random.default_rng(0)
    n = 600
    labels = np.repeat(np.arange(3), n // 3)
    planes = []
    for d in (2, 6):  # layer 0: points on a 2-D plane, layer 1: in 6-D; both in 30 dimensions
        points = np.zeros((n, 30))
        points[:, :d] = rng.normal(size=(n, d))
        points[:, 10] = labels * 100.0  # the classes far apart: every neighbour shares the label
        planes.append(points)
    vectors = lensnb.Activations({"resid_post": np.stack(planes).astype(np.float32)}, {"resid_post": (0, 1)},
                                 pd.DataFrame({"text_id": np.arange(n)}), unit="text")  # fmt: skip
    result = valeriani.geometry(vectors, labels, run_settings(quick=True, progress=False), k=10)
    ids = result.intrinsic_dimension.values
    assert abs(ids[0] - 2) < 0.3 and abs(ids[1] - 6) < 1.0
    assert np.allclose(result.label_overlap.values, 1.0)
    table = valeriani.layer_table(result)
    assert list(table.index) == [0, 1] and np.isnan(table["overlap with next layer"].iloc[-1])


def test_decoder_states_are_standardised_before_pooling(tiny_models):
    settings = run_settings(quick=True, progress=False)
    vectors = valeriani.sentence_vectors(tiny_models["gpt2"], ["the keys are on the table", "a fox"], settings)
    raw = lensnb.extract(tiny_models["gpt2"], ["the keys are on the table", "a fox"], progress=False)
    assert vectors.unit == "text" and vectors.values.shape == (3, 2, raw.dim)
    first = np.asarray(raw.values[1, : int((raw.tokens["text_id"] == 0).sum())])
    standard = (first - first.mean(-1, keepdims=True)) / np.sqrt(first.var(-1, keepdims=True) + 1e-5)
    assert np.allclose(vectors.values[1, 0], standard.mean(0), atol=1e-4)
    assert np.allclose(vectors.values[-1, 0], np.asarray(raw.values[-1, : len(first)]).mean(0), atol=1e-5)


def test_command_line_writes_the_report(tmp_path, tiny_paths):
    require_data("semeval2010_task8")
    result = subprocess.run(
        [sys.executable, "-m", "lensnb.papers", "valeriani", "--quick", "--model", str(tiny_paths["bert"]),
         "--out", str(tmp_path), "--no-progress"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "valeriani.json").is_file() and (tmp_path / "valeriani.html").is_file()
    assert result.stdout.count("[") >= 3  # one line per claim, with its verdict


def test_command_line_reports_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("LENSNB_DATA", str(tmp_path))
    monkeypatch.setenv("LENSNB_DOWNLOADS", str(tmp_path / "none"))
    result = subprocess.run([sys.executable, "-m", "lensnb.papers", "valeriani", "--quick", "--model", "embedded",
                             "--out", str(tmp_path)], capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 2 and "lensnb.data.download" in result.stderr
