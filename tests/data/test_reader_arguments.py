"""The readers on bad input they used to take silently or crash on (each case a reproduced defect)."""

from __future__ import annotations

import json

import pytest

from lensnb import LensError
from lensnb.data import (
    iob_spans,
    read_babi,
    read_conll2000,
    read_conll2003,
    read_conllu,
    read_gap,
    read_hotpotqa,
    read_ptb,
    read_senteval,
    read_squad,
    split_sentences,
    split_words,
    sup_examples,
    words_in_characters,
)


@pytest.mark.parametrize(
    ("reader", "what"),
    [
        (read_conll2000, "CoNLL-2000 sentences"),
        (read_conll2003, "CoNLL-2003 sentences"),
        (read_conllu, "CoNLL-U sentences"),
        (read_ptb, "Penn Treebank trees"),
        (lambda path: read_senteval(path, "bigram_shift"), "SentEval bigram_shift lines"),
    ],
)
def test_an_empty_file_is_refused_not_read_as_no_examples(tmp_path, reader, what):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(LensError, match=rf"empty.txt: expected {what}, received 'a file with none'"):
        reader(empty)


def test_a_negative_answer_start_is_refused(tmp_path):
    # context[-3:-1] == "de": Python's slicing passed the check, and the answer was lost
    record = {
        "context": "abc def",
        "qas": [{"question": "q?", "id": "1", "answers": [{"text": "de", "answer_start": -3}]}],
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [record]}]}))
    with pytest.raises(LensError, match=r"answers\[0\]: expected an answer_start where the context holds"):
        read_squad(path)


@pytest.mark.parametrize(
    ("line", "reader", "named"),
    [
        ("1\tThe\tthe\tDET\tDT\t_\t\u00b2\tdet\t_\t_\n\n", read_conllu, "line 1: expected a HEAD"),
        (None, read_gap, "Pronoun-offset: expected a character offset"),
    ],
)
def test_unicode_digits_are_not_numbers(tmp_path, line, reader, named):
    path = tmp_path / "data.tsv"
    if line is None:
        header = "ID\tText\tPronoun\tPronoun-offset\tA\tA-offset\tA-coref\tB\tB-offset\tB-coref\tURL\n"
        line = header + "d-1\tHe ran. Bob ran.\tHe\t\u00b2\tBob\t8\tTRUE\tran\t4\tFALSE\thttp://x\n"
    path.write_text(line)
    with pytest.raises(LensError, match=named):
        reader(path)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: read_gap("/nonexistent-folder-for-a-test", ["test"]), "split"),
        (lambda: read_hotpotqa("/nonexistent-folder-for-a-test", {"dev": 1}), "split"),
        (lambda: read_senteval(__file__, ["bigram_shift"]), "task"),
        (lambda: read_squad(__file__, separator=None), "separator"),
        (lambda: read_hotpotqa(__file__, separator=None), "separator"),
        (lambda: read_babi(__file__, separator=None), "separator"),
        (lambda: sup_examples(None), "examples"),
        (lambda: sup_examples([], separator=1), "separator"),
        (lambda: split_words(None), "text"),
        (lambda: split_words(b"abc"), "text"),
        (lambda: split_sentences(None), "text"),
        (lambda: words_in_characters([[0.5, 1.0]], 0, 1), "offsets"),
        (lambda: iob_spans(None), "tags"),
        (lambda: iob_spans([1, 2]), "tags"),
    ],
)
def test_wrong_argument_types_are_named(call, named):
    with pytest.raises(LensError, match=rf"^{named}: expected"):
        call()


def test_word_offsets_may_be_a_list_of_pairs():
    assert words_in_characters([[0, 3], [4, 7]], 4, 5) == (1, 2)


def test_empty_eraser_and_agreement_files_are_refused(tmp_path):
    """Three readers read an empty (failed or cut) download as a dataset of no examples."""
    from lensnb.data import read_colorless_green, read_eraser_movies, read_linzen_agreement

    (tmp_path / "movies" / "docs").mkdir(parents=True)
    (tmp_path / "movies" / "val.jsonl").write_text("")
    for stem in ("subj_agr_filtered", "generated"):
        (tmp_path / f"{stem}.text").write_text("")
        (tmp_path / f"{stem}.gold").write_text("")
    for call, what in [
        (lambda: read_eraser_movies(tmp_path / "movies", "val"), "ERASER annotations"),
        (lambda: read_linzen_agreement(tmp_path / "subj_agr_filtered.text"), "agreement sentences"),
        (lambda: read_colorless_green(tmp_path / "generated.text"), "agreement items"),
    ]:
        with pytest.raises(LensError, match=rf"expected {what}, received 'a file with none'"):
            call()
