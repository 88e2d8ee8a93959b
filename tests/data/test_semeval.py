"""SemEval-2010 Task 8 reader and the shared word splitter, on the real files."""

from __future__ import annotations

import re
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


@pytest.fixture(scope="module")
def test_tags(folder):
    return read_semeval2010(folder / "TEST_FILE_FULL.TXT", nominals="tags")


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


def test_hand_checked_records(train, test, test_tags):
    first = train[0]
    assert first.text == (
        "The system as described above has its greatest application in an arrayed configuration of antenna elements."
    )
    (pair,) = first.span_pairs
    assert first.words[pair.first.start : pair.first.end] == ["configuration"]
    assert first.words[pair.second.start : pair.second.end] == ["elements", "."]  # "<e2>elements</e2>." whole
    assert pair.label == "Component-Whole(e2,e1)"
    assert first.meta["relation_type"] == "Component-Whole" and first.meta["direction"] == "e2,e1"
    assert first.meta["e2"] == "elements"  # the text between the tags, whatever the spans
    assert first.meta["comment"] == "Not a collection: there is structure here, organisation."
    other = train[1]
    assert other.span_pairs[0].label == "Other" and other.meta["direction"] is None and other.meta["comment"] == ""
    glued = next(e for e in train if e.meta["id"] == 2740)  # "The<e1>staff</e1> in the <e2>shop</e2>"
    assert glued.words[:2] == ["Thestaff", "in"] and glued.span_pairs[0].first == Span(0, 1, "e1")  # as jiant
    for last in (test[-1], test_tags[-1]):
        assert last.meta["id"] == 10717 and last.span_pairs[0].label == "Entity-Destination(e2,e1)"
    assert _words(test[-1], test[-1].span_pairs[0].first) == "casket"
    assert _words(test_tags[-1], test_tags[-1].span_pairs[0].second) == "ring"


def _jiant_spans(line: str) -> tuple[list[str], list[tuple[int, int]]]:
    """jiant's convert-semeval2010-task8.py on one sentence line: its tokens and (span1, span2), end exclusive.

    ``get_entity_spans``: split the tagged sentence on white space, strip the tags token by token, and span
    from the token holding ``<eN>`` to the one holding ``</eN>``.
    """
    tagged = re.match(r'^(\d+)\s+"(.*)"\s*$', line.strip()).group(2)
    tokens = tagged.split()
    spans = {1: [None, None], 2: [None, None]}
    for i, token in enumerate(tokens):
        if match := re.match(r".*<e(\d+)>.*", token):
            spans[int(match.group(1))][0] = i
        if match := re.match(r".*</e(\d+)>.*", token):
            spans[int(match.group(1))][1] = i + 1
    return [re.sub(r"</?e\d+>", "", t) for t in tokens], [tuple(spans[1]), tuple(spans[2])]


def test_default_spans_are_the_reference_converters_whitespace_tokens(folder, train, test):
    differ = Counter()
    for name, examples in (("TRAIN_FILE.TXT", train), ("TEST_FILE_FULL.TXT", test)):
        lines = [line for line in (folder / name).read_text(encoding="utf-8").splitlines() if re.match(r"^\d+\t", line)]
        assert len(lines) == len(examples)
        for line, example in zip(lines, examples):
            tokens, reference = _jiant_spans(line)
            pair = example.span_pairs[0]
            for span, (start, end), nominal in ((pair.first, reference[0], "e1"), (pair.second, reference[1], "e2")):
                covered = _words(example, span)
                assert " ".join(covered.split()) == " ".join(tokens[start:end]), (example.meta["id"], covered)
                assert example.meta[nominal] in covered
                differ[name] += covered != example.meta[nominal]
    # the reference's spans hold attached punctuation and clitics: 22% of the training spans differ from the tags' cut
    assert differ == {"TRAIN_FILE.TXT": 3524, "TEST_FILE_FULL.TXT": 1134}
    assert lensnb.examples.as_examples(train[:200] + test[:200])  # valid examples


def test_tag_cut_spans_cover_each_nominal_exactly(test_tags):
    joined = Counter()
    for example in test_tags:
        pair = example.span_pairs[0]
        assert _words(example, pair.first) == example.meta["e1"]
        assert _words(example, pair.second) == example.meta["e2"]
        joined["e1"] += " ".join(example.words[pair.first.start : pair.first.end]) == example.meta["e1"]
        joined["e2"] += " ".join(example.words[pair.second.start : pair.second.end]) == example.meta["e2"]
    # the words joined by spaces differ only where the splitter cuts a nominal (e-mail, x-rays, flip-flop)
    assert joined == {"e1": 2708, "e2": 2697}  # of 2,717


def test_nominal_conventions_on_attached_punctuation_and_a_clitic(tmp_path):
    path = tmp_path / "TRAIN_FILE.TXT"
    line = '7\t"An ex-<e1>factory</e1>\'s output went to the <e2>warehouses</e2>."\nEntity-Destination(e1,e2)\n\n'
    path.write_text(line, encoding="utf-8")
    (whole,), (cut,) = read_semeval2010(path), read_semeval2010(path, nominals="tags")
    words = ["An", "ex", "-", "factory", "'s", "output", "went", "to", "the", "warehouses", "."]
    assert whole.words == cut.words == words
    assert (whole.span_pairs[0].first, whole.span_pairs[0].second) == (Span(1, 5, "e1"), Span(9, 11, "e2"))
    assert (cut.span_pairs[0].first, cut.span_pairs[0].second) == (Span(3, 4, "e1"), Span(9, 10, "e2"))
    assert whole.meta["e1"] == cut.meta["e1"] == "factory" and whole.meta["e2"] == "warehouses"
    assert _words(whole, whole.span_pairs[0].first) == "ex-factory's"
    with pytest.raises(LensError, match="^nominals: .*one of"):
        read_semeval2010(path, nominals="words")


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
