"""SemEval-2010 Task 8 reader and the shared word splitter, on the real files."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pytest

import lensnb
from lensnb import LensError, Span
from lensnb.data.semeval import read_semeval2010
from lensnb.data.text import split_words, words_in_characters

from ..conftest import require_data

# Hendrickx et al. 2010, Table 1 (relation types in the training and test data).
OFFICIAL_TRAIN = {
    "Other": 1410, "Cause-Effect": 1003, "Component-Whole": 941, "Entity-Destination": 845, "Product-Producer": 717,
    "Entity-Origin": 716, "Member-Collection": 690, "Message-Topic": 634, "Content-Container": 540,
    "Instrument-Agency": 504,
}  # fmt: skip
OFFICIAL_TEST = {
    "Other": 454, "Cause-Effect": 328, "Component-Whole": 312, "Entity-Destination": 292, "Message-Topic": 261,
    "Entity-Origin": 258, "Member-Collection": 233, "Product-Producer": 231, "Content-Container": 192,
    "Instrument-Agency": 156,
}  # fmt: skip

RECORD = '1\t"The system as described above has its greatest application in an arrayed <e1>configuration</e1> of antenna <e2>elements</e2>."\r\nComponent-Whole(e2,e1)\r\nComment: Not a collection: there is structure here, organisation.\r\n\r\n'  # noqa: E501


@pytest.fixture(scope="module")
def folder():
    return require_data("semeval2010_task8")


@pytest.fixture(scope="module")
def train(folder):
    return read_semeval2010(folder, "train")


@pytest.fixture(scope="module")
def test(folder):
    return read_semeval2010(folder / "TEST_FILE_FULL.TXT")


def _words(example, span: Span) -> str:
    offsets = example.word_offsets()
    return example.text[offsets[span.start, 0] : offsets[span.end - 1, 1]]


def test_counts_match_the_official_release(train, test):
    assert len(train) == 8000 and len(test) == 2717
    assert Counter(e.meta["relation_type"] for e in train) == OFFICIAL_TRAIN
    assert Counter(e.meta["relation_type"] for e in test) == OFFICIAL_TEST
    assert len({e.meta["relation"] for e in train}) == 19  # 9 types x 2 directions + Other
    assert [e.meta["id"] for e in train] == list(range(1, 8001))
    assert [e.meta["id"] for e in test] == list(range(8001, 10718))


def test_hand_checked_records(train, test):
    first = train[0]
    assert first.text == (
        "The system as described above has its greatest application in an arrayed configuration of antenna elements."
    )
    (pair,) = first.span_pairs
    assert first.words[pair.first.start : pair.first.end] == ["configuration"]
    assert first.words[pair.second.start : pair.second.end] == ["elements"]
    assert pair.label == "Component-Whole(e2,e1)"
    assert first.meta["relation_type"] == "Component-Whole" and first.meta["direction"] == "e2,e1"
    assert first.meta["comment"] == "Not a collection: there is structure here, organisation."
    other = train[1]
    assert other.span_pairs[0].label == "Other" and other.meta["direction"] is None and other.meta["comment"] == ""
    glued = next(e for e in train if e.meta["id"] == 2740)  # "The<e1>staff</e1> in the <e2>shop</e2>"
    assert glued.words[:2] == ["The", "staff"] and glued.span_pairs[0].first == Span(1, 2, "e1")
    last = test[-1]
    assert last.meta["id"] == 10717 and last.span_pairs[0].label == "Entity-Destination(e2,e1)"
    assert _words(last, last.span_pairs[0].first) == "casket" and _words(last, last.span_pairs[0].second) == "ring"


def test_every_pair_covers_its_nominal_exactly(train, test):
    joined = Counter()
    for example in train + test:
        pair = example.span_pairs[0]
        assert _words(example, pair.first) == example.meta["e1"]
        assert _words(example, pair.second) == example.meta["e2"]
        joined["e1"] += " ".join(example.words[pair.first.start : pair.first.end]) == example.meta["e1"]
        joined["e2"] += " ".join(example.words[pair.second.start : pair.second.end]) == example.meta["e2"]
    # the words joined by spaces differ only where the splitter cuts a nominal (e-mail, x-rays, flip-flop)
    assert joined == {"e1": 10686, "e2": 10663}  # of 10,717
    assert lensnb.examples.as_examples(train[:200] + test[:200])  # valid examples


def test_undirected_labels(folder):
    examples = read_semeval2010(folder / "TEST_FILE_FULL.TXT", directed=False)
    assert Counter(e.span_pairs[0].label for e in examples) == OFFICIAL_TEST


def test_official_folder_layout(tmp_path, folder):
    (tmp_path / "SemEval2010_task8_testing_keys").mkdir()
    shutil.copy(folder / "TEST_FILE_FULL.TXT", tmp_path / "SemEval2010_task8_testing_keys" / "TEST_FILE_FULL.TXT")
    assert len(read_semeval2010(tmp_path, "test")) == 2717
    with pytest.raises(LensError, match="split: expected one of"):
        read_semeval2010(tmp_path)
    with pytest.raises(LensError, match="TRAIN_FILE.TXT"):
        read_semeval2010(tmp_path, "train")
    with pytest.raises(LensError, match="split: expected None when path is a file"):
        read_semeval2010(folder / "TEST_FILE_FULL.TXT", "test")
    with pytest.raises(LensError, match="an existing"):
        read_semeval2010(tmp_path / "missing.txt")


@pytest.mark.parametrize(
    "text, line, expected",
    [
        (RECORD.replace("Component-Whole(e2,e1)", "Part-Whole(e2,e1)"), 2, "a relation line"),
        (RECORD.replace("Component-Whole(e2,e1)", "Component-Whole"), 2, "a relation line"),
        (RECORD.replace("Component-Whole(e2,e1)", "Other(e1,e2)"), 2, "'Other' without a direction"),
        (RECORD.replace("<e2>", ""), 1, "the tags <e1>, </e1>, <e2>, </e2> once each"),
        (RECORD.replace("1\t", "x\t"), 1, "a sentence line"),
        (RECORD.replace("\r\n\r\n", "\r\nstray\r\n"), 4, "a blank line between records"),
        (RECORD + RECORD.replace("Comment:", "Remark:").replace("1\t", "2\t"), 7, "a 'Comment:' line"),
        (RECORD + RECORD, 5, "a record number not used before"),
        (RECORD.split("\r\n")[0], 2, "a relation line"),
    ],
)
def test_malformed_records_name_file_and_line(tmp_path, text, line, expected):
    path = tmp_path / "TRAIN_FILE.TXT"
    path.write_bytes(text.encode())
    with pytest.raises(LensError, match=expected) as caught:
        read_semeval2010(path)
    assert f"{path}, line {line}:" in str(caught.value)


def test_a_well_formed_small_file_reads(tmp_path):
    path = tmp_path / "TRAIN_FILE.TXT"
    path.write_bytes((RECORD + RECORD.replace("1\t", "2\t")).encode())
    assert [e.meta["id"] for e in read_semeval2010(path)] == [1, 2]


def test_split_words_known_answers():
    words, offsets = split_words("The U.S. didn't sell 1,000 well-known John's cars for $3.5m (in 1990s).")
    assert words == [
        "The", "U.S.", "did", "n't", "sell", "1,000", "well", "-", "known", "John", "'s", "cars", "for", "$", "3.5",
        "m", "(", "in", "1990s", ")", ".",
    ]  # fmt: skip
    text = "The U.S. didn't sell 1,000 well-known John's cars for $3.5m (in 1990s)."
    assert all(text[s:e] == w for w, (s, e) in zip(words, offsets.tolist()))
    assert offsets.shape == (len(words), 2) and offsets.dtype == np.int64


def test_split_words_cuts_and_presplit():
    text = "Denver's quarterback"
    assert split_words(text)[0] == ["Denver", "'s", "quarterback"]
    words, offsets = split_words(text, cuts=[3, 8, 0, 20, 14])  # 0, 8 and 20 are already word bounds
    assert words == ["Den", "ver", "'s", "quart", "erback"]
    again = split_words(text, cuts=[3, 14], presplit=split_words(text)[1])
    assert again[0] == words and np.array_equal(again[1], offsets)
    assert words_in_characters(offsets, 4, 9) == (1, 3)  # "ver's" overlaps "ver" and "'s"
    assert words_in_characters(offsets, 6, 8) == (2, 3)  # "'s"
    assert words_in_characters(offsets, 8, 9) == (3, 3)  # the space after "'s": no word, an empty range
    assert split_words("   ")[0] == [] and split_words("")[1].shape == (0, 2)


def test_pairs_reach_the_extracted_span_pair_table(tiny_models, train):
    examples = train[:5]
    activations = lensnb.extract(tiny_models["bert"], examples, progress=False)
    pairs = activations.span_pairs
    assert len(pairs) == 5 and pairs["label"].tolist() == [e.span_pairs[0].label for e in examples]
    tokens = activations.tokens
    for row in pairs.itertuples():
        pair = examples[row.text_id].span_pairs[0]
        assert (row.word_start_1, row.word_end_1, row.word_start_2, row.word_end_2) == (
            pair.first.start, pair.first.end, pair.second.start, pair.second.end,
        )  # fmt: skip
        for start, end, first, last in (
            (row.token_start_1, row.token_end_1, pair.first.start, pair.first.end - 1),
            (row.token_start_2, row.token_end_2, pair.second.start, pair.second.end - 1),
        ):
            piece = tokens.iloc[start:end]
            assert (piece["text_id"] == row.text_id).all()
            assert piece["word_index"].iloc[0] == first and piece["word_index"].iloc[-1] == last
