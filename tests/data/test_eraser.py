"""ERASER Movie Reviews reader: real splits, rationales against the evidence text, bad input."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter

import pytest

import lensnb
from lensnb.data.eraser import read_eraser_movies
from lensnb.errors import LensError
from lensnb.examples import Span

from ..conftest import require_data


@pytest.fixture(scope="module")
def folder():
    return require_data("eraser_movies")


@pytest.fixture(scope="module")
def train(folder):
    return read_eraser_movies(folder, "train")


@pytest.fixture(scope="module")
def val(folder):
    return read_eraser_movies(folder, split="val")


def _annotations(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_counts_and_labels(train, val):
    assert len(train) == 1600 and len(val) == 200
    assert Counter(ex.meta["label"] for ex in train) == {"NEG": 800, "POS": 800}
    assert Counter(ex.meta["label"] for ex in val) == {"NEG": 100, "POS": 100}
    assert {ex.meta["split"] for ex in train} == {"train"} and {ex.meta["split"] for ex in val} == {"val"}


def test_rationale_words_equal_the_evidence_text(val, folder):
    # Independent of the reader: the evidence texts of the file, span by span.
    records = _annotations(folder / "val.jsonl")
    assert [ex.meta["annotation_id"] for ex in val] == [r["annotation_id"] for r in records]
    for ex, record in zip(val, records):
        expected = sorted((e["start_token"], e["end_token"], e["text"]) for group in record["evidences"] for e in group)
        assert [(s.start, s.end, " ".join(ex.words[s.start : s.end])) for s in ex.spans] == expected
        inside = {i for s in ex.spans for i in range(s.start, s.end)}
        assert ex.labels["rationale"] == [int(i in inside) for i in range(len(ex.words))]


def test_words_are_the_document_tokens(train, folder):
    first = train[0]
    assert first.meta == {"label": "NEG", "annotation_id": "negR_000.txt", "split": "train"}
    lines = [line.split() for line in (folder / "docs" / "negR_000.txt").read_text().splitlines() if line.strip()]
    assert first.words == [token for line in lines for token in line]
    assert first.words[:5] == ["plot", ":", "two", "teen", "couples"]
    assert first.labels["sentence"][:14] == [0] * 14 and first.labels["sentence"][-1] == len(lines) - 1
    assert Span(63, 67, "rationale") in first.spans
    assert first.words[63:67] == ["mind", "-", "fuck", "movie"]
    assert sum(first.labels["rationale"]) == 91


def test_review_without_evidence_has_an_empty_rationale(train):
    (empty,) = [ex for ex in train if not ex.spans]
    assert empty.meta["annotation_id"] == "posR_161.txt" and set(empty.labels["rationale"]) == {0}
    assert sum(sum(ex.labels["rationale"]) > 0 for ex in train) == 1599


def test_jsonl_file_path_and_missing_split(folder, val):
    again = read_eraser_movies(folder / "val.jsonl")
    assert len(again) == 200 and again[7].words == val[7].words and again[7].meta == val[7].meta
    with pytest.raises(LensError, match=r"test\.jsonl and docs/.*Found \['train\.jsonl', 'val\.jsonl'\]"):
        read_eraser_movies(folder, "test")


# ------------------------------------------------------------------ malformed input


@pytest.fixture
def small(tmp_path, folder):
    """A two-review copy of the val split, to corrupt."""
    (tmp_path / "docs").mkdir()
    records = _annotations(folder / "val.jsonl")[:2]
    for record in records:
        shutil.copy(folder / "docs" / record["annotation_id"], tmp_path / "docs")
    return tmp_path, records


def _write(tmp_path, records, name="val.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_evidence_text_mismatch_names_file_line_and_evidence(small):
    tmp_path, records = small
    records[1]["evidences"][-1][0]["text"] = "something else"
    last = sum(len(group) for group in records[1]["evidences"]) - 1
    path = _write(tmp_path, records)
    with pytest.raises(LensError, match=re.escape(f"{path}, line 2, evidence {last}:") + r".*evidence text equal to"):
        read_eraser_movies(tmp_path, "val")


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda r: r["evidences"][0][0].update(end_token=10**6), r"evidence 0: expected integer token offsets"),
        (lambda r: r["evidences"][0][0].update(start_token="3"), r"evidence 0: expected integer token offsets"),
        (lambda r: r["evidences"][0][0].update(docid="other.txt"), r"evidence 0: expected docid"),
        (lambda r: r["evidences"][0][0].pop("text"), r"evidence 0: expected the keys \['text'\]"),
        (lambda r: r.update(classification="MIXED"), r"line 2: expected classification, one of \('NEG', 'POS'\)"),
        (lambda r: r.pop("evidences"), r"line 2: expected the keys \['evidences'\]"),
        (lambda r: r.update(annotation_id="missing.txt"), r"line 2: expected annotation_id naming a file"),
        (lambda r: r.update(evidences=[{"docid": "x"}]), r"line 2, evidence group 0: expected a list"),
    ],
)
def test_malformed_annotations_name_file_and_line(small, corrupt, message):
    tmp_path, records = small
    corrupt(records[1])
    path = _write(tmp_path, records)
    with pytest.raises(LensError, match=re.escape(str(path)) + ".*" + message):
        read_eraser_movies(tmp_path, "val")


def test_bad_json_and_missing_docs(small):
    tmp_path, records = small
    path = _write(tmp_path, [records[0], '{"annotation_id": "negR_900.txt",'])
    with pytest.raises(LensError, match=re.escape(f"{path}, line 2") + r": expected one JSON object per line"):
        read_eraser_movies(tmp_path, "val")
    _write(tmp_path, records)
    shutil.rmtree(tmp_path / "docs")
    with pytest.raises(LensError, match=r"docs/ or docs\.jsonl"):
        read_eraser_movies(tmp_path, "val")


def test_docs_jsonl_layout(small, folder):
    tmp_path, records = small
    _write(tmp_path, records)
    documents = [{"docid": r["annotation_id"], "document": (tmp_path / "docs" / r["annotation_id"]).read_text()}
                 for r in records]  # fmt: skip
    expected = read_eraser_movies(tmp_path, "val")
    shutil.rmtree(tmp_path / "docs")
    _write(tmp_path, documents, name="docs.jsonl")
    again = read_eraser_movies(tmp_path, "val")
    assert [ex.words for ex in again] == [ex.words for ex in expected]
    assert [ex.labels for ex in again] == [ex.labels for ex in expected]


# ------------------------------------------------------------------ extraction


def test_rationales_and_labels_reach_the_tables(val, tiny_models):
    examples = val[:5]
    acts = lensnb.extract(tiny_models["bert"], examples, progress=False)
    assert list(acts.texts["label"]) == [ex.meta["label"] for ex in examples]
    assert list(acts.texts["annotation_id"]) == [ex.meta["annotation_id"] for ex in examples]
    words = acts.pool_words("first")
    per_text = words.table.groupby("text_id")["rationale"].sum()
    assert list(per_text) == [sum(ex.labels["rationale"]) for ex in examples]
