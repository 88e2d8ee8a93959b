"""SST-2 TSV reader: the real ALPS re-split, hand-checked lines, malformed input."""

from __future__ import annotations

import re
from collections import Counter

import pytest

import lensnb
from lensnb.data.sst import read_sst2
from lensnb.errors import LensError

from ..conftest import require_data


@pytest.fixture(scope="module")
def sst():
    return {split: read_sst2(require_data(f"sst2/alps_{split}.tsv")) for split in ("train", "dev", "test")}


def test_counts_and_label_balance(sst):
    assert {split: len(v) for split, v in sst.items()} == {"train": 60614, "dev": 6735, "test": 872}
    assert Counter(ex.meta["label"] for ex in sst["train"]) == {0: 26786, 1: 33828}
    assert Counter(ex.meta["label"] for ex in sst["dev"]) == {0: 2994, 1: 3741}
    assert Counter(ex.meta["label"] for ex in sst["test"]) == {0: 428, 1: 444}


def test_lines_read_by_hand(sst):
    assert sst["train"][0].words == ["when", "are", "bears", "bears", "and"]  # the file's trailing space dropped
    assert sst["train"][0].meta == {"label": 1}
    assert sst["test"][0].words == "it 's a charming and often affecting journey .".split(" ")
    assert sst["test"][1].words == ["unflinchingly", "bleak", "and", "desperate"] and sst["test"][1].meta["label"] == 0


def test_glue_test_layout_without_labels(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("index\tsentence\n0\tuneasy mishmash of styles and genres .\n1\tthis film 's relationship\n")
    examples = read_sst2(path)
    assert [ex.words[0] for ex in examples] == ["uneasy", "this"] and all(ex.meta == {} for ex in examples)


def test_columns_in_any_order(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("label\tsentence\r\n0\ta dull , dumb film\r\n\r\n1\tgorgeous\r\n")
    examples = read_sst2(path)
    assert [(ex.words, ex.meta["label"]) for ex in examples] == [
        (["a", "dull", ",", "dumb", "film"], 0),
        (["gorgeous"], 1),
    ]


def test_header_names_match_whatever_their_case_and_spaces_and_a_file_of_no_sentence_is_refused(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("Sentence\tlabel \ngood film\t1\nbad film\t0\n")  # labels were dropped without a word
    assert [ex.meta for ex in read_sst2(path)] == [{"label": 1}, {"label": 0}]
    path.write_text("sentence\tlabel\n\n")
    with pytest.raises(
        LensError, match=re.escape(str(path)) + r".*expected SST-2 sentences.*received .a file with none."
    ):
        read_sst2(path)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("a fine film\t2", r"a label 0 \(negative\) or 1 \(positive\)"),
        ("a fine film\tpositive", r"a label 0 \(negative\) or 1"),
        ("a fine film", r"2 tab-separated fields \(sentence, label\)"),
        ("a fine\tfilm\t1", r"2 tab-separated fields"),
        ("   \t1", r"a non-empty sentence"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "dev.tsv"
    path.write_text(f"sentence\tlabel\ngood film\t1\n{bad_line}\nbad film\t0\n", encoding="utf-8")
    with pytest.raises(LensError, match=re.escape(f"{path}, line 3") + ".*" + message):
        read_sst2(path)


def test_missing_header_file_and_bad_bytes(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("a fine film\t1\n")
    with pytest.raises(LensError, match=re.escape(f"{path}, line 1") + r".*a header naming a 'sentence' column"):
        read_sst2(path)
    with pytest.raises(LensError, match=r"path: expected an existing SST-2 TSV file"):
        read_sst2(tmp_path / "nope.tsv")
    path.write_bytes(b"sentence\tlabel\nfine\t1\nbad \xc3\x28 byte\t0\n")
    with pytest.raises(LensError, match=re.escape(f"{path}, line 3") + r".*UTF-8"):
        read_sst2(path)


def test_labels_reach_the_text_table(sst, tiny_models):
    examples = sst["test"][:5]
    acts = lensnb.extract(tiny_models["gpt2"], examples, progress=False)
    assert list(acts.texts["label"]) == [ex.meta["label"] for ex in examples]
    pooled = acts.pool_texts("mean")
    assert pooled.values.shape == (3, 5, acts.dim)
