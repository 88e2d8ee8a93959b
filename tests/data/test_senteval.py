"""SentEval probing reader: the real sample files, hand-checked lines, malformed input."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lensnb
from lensnb.data.senteval import SENTEVAL_TASKS, read_senteval
from lensnb.errors import LensError

from ..conftest import require_data

# Lines per split of each sample file (SOURCES.md: 1,014 lines in all).
COUNTS = {
    "bigram_shift": {"tr": 100, "va": 0, "te": 129},
    "coordination_inversion": {"tr": 0, "va": 0, "te": 80},
    "obj_number": {"tr": 0, "va": 0, "te": 80},
    "odd_man_out": {"tr": 0, "va": 0, "te": 80},
    "past_present": {"tr": 0, "va": 0, "te": 90},
    "sentence_length": {"tr": 50, "va": 0, "te": 40},
    "subj_number": {"tr": 0, "va": 0, "te": 79},
    "top_constituents": {"tr": 0, "va": 0, "te": 114},
    "tree_depth": {"tr": 0, "va": 0, "te": 122},
    "word_content": {"tr": 0, "va": 0, "te": 50},
}
SENTENCE_LENGTH_BINS = [(5, 8), (9, 12), (13, 16), (17, 20), (21, 25), (26, 28)]


@pytest.fixture(scope="module")
def folder():
    return require_data("senteval_probing")


@pytest.fixture(scope="module")
def tasks(folder):
    return {task: read_senteval(folder / f"{task}.sample.txt") for task in SENTEVAL_TASKS}


def test_counts_match_the_sample_files(tasks):
    assert {task: {split: len(v) for split, v in splits.items()} for task, splits in tasks.items()} == COUNTS
    assert sum(len(v) for splits in tasks.values() for v in splits.values()) == 1014


def test_every_example_carries_task_split_and_label(tasks):
    for task, splits in tasks.items():
        for split, examples in splits.items():
            assert all(ex.meta["task"] == task and ex.meta["split"] == split for ex in examples)


def test_first_line_read_by_hand(tasks):
    first = tasks["bigram_shift"]["tr"][0]
    sentence = "A week she 'd been with the man , just a week , and she had survived barely the ups and downs ."
    assert first.words == sentence.split(" ")
    assert first.meta == {"task": "bigram_shift", "split": "tr", "label": "I"}
    assert tasks["tree_depth"]["te"][0].meta["label"] == 7
    assert tasks["tree_depth"]["te"][0].words == ['"', "Let", "'s", "have", "a", "picnic", "!", '"']


def test_label_sets(tasks):
    labels = {task: {ex.meta["label"] for v in splits.values() for ex in v} for task, splits in tasks.items()}
    assert labels["past_present"] == {"PAST", "PRES"}
    assert labels["subj_number"] == labels["obj_number"] == {"NN", "NNS"}
    assert labels["bigram_shift"] == labels["coordination_inversion"] == {"I", "O"}
    assert labels["odd_man_out"] == {"C", "O"}
    assert labels["sentence_length"] == {0, 5}  # the sample keeps the shortest and longest bins only
    assert labels["tree_depth"] == set(range(5, 12))
    assert len(labels["top_constituents"]) == 19 and "OTHER" in labels["top_constituents"]  # 20 classes in full


def test_sentence_length_bins_agree_with_word_counts(tasks):
    # SOURCES.md: bins of the token count 0: 5-8, 1: 9-12, ..., 5: 26-28.
    for examples in tasks["sentence_length"].values():
        for ex in examples:
            low, high = SENTENCE_LENGTH_BINS[ex.meta["label"]]
            assert low <= len(ex.words) <= high


def test_word_content_label_is_a_word_of_the_sentence(tasks):
    for ex in tasks["word_content"]["te"]:
        assert ex.meta["label"] in [word.lower() for word in ex.words]


def test_task_override_and_unknown_names(folder, tmp_path):
    renamed = tmp_path / "renamed.txt"
    renamed.write_bytes((folder / "past_present.sample.txt").read_bytes())
    with pytest.raises(LensError, match=r"SentEval probing task.*renamed\.txt.*task="):
        read_senteval(renamed)
    splits = read_senteval(renamed, task="past_present")
    assert len(splits["te"]) == 90 and splits["te"][0].meta["task"] == "past_present"
    with pytest.raises(LensError, match=r"task: expected one of"):
        read_senteval(renamed, task="tense")
    with pytest.raises(LensError, match=r"path: expected an existing"):
        read_senteval(tmp_path / "missing.txt")


def _write(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "bad_line", "message"),
    [
        ("bigram_shift.txt", "tr\tI", r"3 tab-separated fields: split, label, sentence"),
        ("bigram_shift.txt", "train\tI\tA sentence .", r"split code in the first field"),
        ("past_present.txt", "te\tFUTURE\tHe will go .", r"past_present label, one of \('PAST', 'PRES'\)"),
        ("tree_depth.txt", "te\tdeep\tHe went .", r"integer label for tree_depth"),
        ("sentence_length.txt", "te\t7\tHe went home .", r"sentence_length label, one of"),
        ("word_content.txt", "te\tdog\t   ", r"non-empty sentence"),
        ("word_content.txt", "te\t\tThe dog barked .", r"a label in the second field"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, name, bad_line, message):
    good = {
        "bigram_shift.txt": "tr\tO\tThe dog barked .",
        "past_present.txt": "te\tPAST\tThe dog barked .",
        "tree_depth.txt": "te\t5\tThe dog barked .",
        "sentence_length.txt": "te\t0\tThe dog barked loudly .",
        "word_content.txt": "te\tdog\tThe dog barked .",
    }[name]
    path = _write(tmp_path, name, [good, "", bad_line, good])
    with pytest.raises(LensError, match=re.escape(f"{path}, line 3") + ".*" + message):
        read_senteval(path)


def test_blank_lines_are_skipped_and_bad_bytes_named(tmp_path):
    path = _write(tmp_path, "odd_man_out.txt", ["", "te\tC\tA b c .", "", "va\tO\tD e f ."])
    splits = read_senteval(path)
    assert [ex.words for ex in splits["te"]] == [["A", "b", "c", "."]]
    assert [ex.meta["label"] for ex in splits["va"]] == ["O"] and splits["tr"] == []
    path.write_bytes(b"te\tC\tfine .\nte\tO\tbad \xff byte .\n")
    with pytest.raises(LensError, match=re.escape(f"{path}, line 2") + ".*UTF-8"):
        read_senteval(path)


def test_labels_reach_the_text_table(tasks, tiny_models):
    examples = tasks["tree_depth"]["te"][:5]
    acts = lensnb.extract(tiny_models["bert"], examples, progress=False)
    assert list(acts.texts["label"]) == [ex.meta["label"] for ex in examples]
    assert set(acts.texts["task"]) == {"tree_depth"} and set(acts.texts["split"]) == {"te"}
    assert acts.values.shape[:2] == (3, len(acts.tokens))
    assert np.isfinite(acts.values).all()


def test_the_split_codes_drive_probe_layers(tasks, tiny_models):
    # the reader keeps "tr" / "te" in meta["split"]; probe_layers(splits="split") reads them as train / test
    from lensnb.probing import probe_layers, text_task

    splits = tasks["bigram_shift"]
    examples = splits["tr"][:40] + splits["te"][:30]
    acts = lensnb.extract(tiny_models["bert"], examples, progress=False)
    assert sorted(acts.texts["split"].unique()) == ["te", "tr"]
    profile = probe_layers(acts, text_task("label", pool="mean"), splits="split", seeds=(0,), progress=False)
    assert profile.details["split_sizes"] == [{"train": 40, "dev": 0, "test": 30}]
    np.testing.assert_array_equal(profile.details["test_rows"], np.arange(40, 70))
