"""The text helpers of lensnb.data.text not covered by the readers' tests (split_words: test_semeval, test_qa)."""

from __future__ import annotations

from lensnb import Span
from lensnb.data.text import find_phrase, split_sentences, trim_range, words_with_spans


def test_words_with_spans_cuts_words_at_the_ranges():
    text = "Kim's dog barked at Lee-Ann."
    words, spans = words_with_spans(text, {"owner": (0, 3), "other": (20, 27)})
    assert words == ["Kim", "'s", "dog", "barked", "at", "Lee", "-", "Ann", "."]
    assert spans == {"owner": Span(0, 1, "owner"), "other": Span(5, 8, "other")}
    words, spans = words_with_spans("Sunday", {"part": (0, 3)})  # a range inside a word cuts it
    assert words == ["Sun", "day"] and spans == {"part": Span(0, 1, "part")}


def test_trim_range_and_find_phrase():
    text = "  The city  "
    assert trim_range(text, 0, len(text)) == (2, 10) and text[2:10] == "The city"
    assert trim_range(text, 0, 2) == (0, 0)
    text = "The city council met the City. Cityscape."
    assert find_phrase("the city", text) == []
    assert find_phrase("the city", text, ignore_case=True) == [(0, 8), (21, 29)]  # not inside "Cityscape"
    assert find_phrase("City", text) == [(25, 29)]
    assert find_phrase("a+b", "x a+b y") == [(2, 5)]  # the phrase is literal, not a pattern


def test_split_sentences_drops_blank_pieces():
    text = "  First one.  Second, by Dr. Who?   "
    assert [text[s:e] for s, e in split_sentences(text)] == ["First one.", "Second, by Dr. Who?"]
    assert split_sentences("   ") == []
