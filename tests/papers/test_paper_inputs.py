"""The paper modules' public helpers refuse bad input by name, and count what they say they count."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lensnb import LensError
from lensnb.geometry.results import LayerProfile
from lensnb.papers import brown, chefer, jawahar, run_settings, skean, tenney, valeriani, van_aken
from lensnb.papers.report import PaperReport


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: brown.block_structure(np.eye(4)), "matrix"),
        (lambda: tenney.micro_f1(np.array([[1.0, 0.0]]), np.array([[1, 1]])), "truth"),
        (lambda: tenney.micro_f1(np.array([[1, 0]]), np.array([[1, 1, 0]])), "predicted"),
        (lambda: tenney.micro_f1(np.array([[2, 0]]), np.array([[1, 1]])), "truth"),
        (lambda: tenney.bootstrap_micro_f1(np.array([[1, 0]]), [np.array([[1, 0]])], np.array([0]), -1), "n"),
        (lambda: tenney.bootstrap_micro_f1(np.array([[1, 0]]), [np.array([[1, 0]])], np.array([0, 1]), 5), "groups"),
        (lambda: van_aken.question_type(None), "question"),
        (lambda: chefer.beats_at_every_k({"a": 1}, "a", ["b"]), "table"),
        (lambda: chefer.ordering([1, 2], ["a", "b"]), "values"),
        (lambda: jawahar.best_layers([1, 2]), "profiles"),
        (lambda: jawahar.best_layers({"mean": [1]}), "profiles\\['mean'\\]"),
        (lambda: jawahar.agreement(None, run_settings(quick=True), train_fraction=1), "train_fraction"),
        (lambda: skean.entropy_shape(np.array([0.8, 0.5, 0.8])), "profile"),
        (lambda: skean.average_scores([1]), "scores"),
        (lambda: valeriani.rule(None), "found"),
        (lambda: PaperReport("k", "t", "c").add_claim("x", "no", "e"), "holds"),
        (lambda: run_settings(seed=-1), "seed"),
        (lambda: run_settings(seed=2**40), "seed"),
    ],
)
def test_bad_input_is_refused_by_name(call, named):
    with pytest.raises(LensError, match=f"^{named}: expected"):
        call()


def test_numpy_numbers_are_accepted_where_python_ones_are():
    assert run_settings(seed=np.int64(3)).seed == 3
    with pytest.raises(LensError, match="^train_fraction: expected a fraction strictly between 0 and 1"):
        jawahar.agreement(None, run_settings(quick=True), train_fraction=np.float32(1.5))
    assert tenney.micro_f1(np.array([[True, False]]), np.array([[1, 0]])) == 1.0
    claim = PaperReport("k", "t", "c").add_claim("x", np.bool_(False), "e")
    assert claim.holds is False


def test_the_command_line_refuses_a_negative_seed_before_any_work():
    done = subprocess.run([sys.executable, "-m", "lensnb.papers", "valeriani", "--seed", "-1"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "seed: expected" in done.stderr and "Traceback" not in done.stderr


def test_the_duplicates_note_counts_per_layer_not_summed_over_layers():
    profile = LayerProfile("id", (0, 1, 2), np.ones(3), details={"duplicates": np.array([2, 2, 2])})
    assert valeriani.duplicates_note(profile).startswith("2 duplicate points per layer")
    varying = LayerProfile("id", (0, 1, 2), np.ones(3), details={"duplicates": np.array([0, 2, 3])})
    assert valeriani.duplicates_note(varying).startswith("0 to 3 (by layer) duplicate points per layer")


def test_the_new_helpers_refuse_what_they_cannot_read():
    with pytest.raises(LensError, match="^related: expected a RelatedModels pair"):
        brown.stitch_init(("a", "b"))
    with pytest.raises(LensError, match="^profile: expected the LayerProfile of a TwoNN fit"):
        valeriani.duplicates_note(np.array([2, 2]))
