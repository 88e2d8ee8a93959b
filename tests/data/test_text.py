"""The text helpers of lensnb.data.text not covered by the readers' tests (split_words: test_semeval, test_qa)."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_a_word_keeps_its_combining_marks_and_invisible_characters_are_no_words():
    """Accents written apart, Indic vowel signs and emoji sequences cut words into pieces no token
    held; zero-width spaces and direction marks became words of their own."""
    from lensnb.data.text import split_words

    cases = {
        "Гео\u0301ргий": ["Гео\u0301ргий"],
        "cafe\u0301 au lait": ["cafe\u0301", "au", "lait"],
        "सुफिया कामाल": ["सुफिया", "कामाल"],
        "model \u2014\u200b\u200b many": ["model", "\u2014", "many"],
        "\u200eleft \ufeffright": ["left", "right"],
        "می\u200cخواهم": ["می\u200cخواهم"],
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 ok \u2764\ufe0f": ["\U0001f468\u200d\U0001f469\u200d\U0001f467", "ok",
                                                                       "\u2764\ufe0f"],
        "don't John's U.S. 3.5 well-known": ["do", "n't", "John", "'s", "U.S.", "3.5", "well", "-", "known"],
    }  # fmt: skip
    for text, words in cases.items():
        found, offsets = split_words(text)
        assert found == words, text
        assert [text[a:b] for a, b in offsets.tolist()] == words


def test_a_separator_holding_a_words_letters_does_not_take_its_place():
    """With the separator ' [SEP] ', a context starting 'E. coli' placed the word 'E' on the separator's E."""
    from lensnb import Example

    example = Example(words=["What", "?", "E", ".", "coli"], text="What? [SEP] E. coli")
    assert [example.text[a:b] for a, b in example.word_offsets().tolist()] == ["What", "?", "E", ".", "coli"]
    assert example.word_offsets()[2].tolist() == [12, 13]
    cut = Example(words=["do", "n't", "gold", "en"], text="don't golden")  # pieces going on from the last word
    assert cut.word_offsets().tolist() == [[0, 2], [2, 5], [6, 10], [10, 12]]
    inner = Example(words=["ab", "b"], text="ab xb")  # found only inside another word: there, as before
    assert inner.word_offsets().tolist() == [[0, 2], [4, 5]]


def test_given_word_offsets_are_checked():
    from lensnb import Example, LensError
    from lensnb.examples import with_word_offsets

    example = Example(words=["a", "b"], text="a b")
    for bad in ([[0, 1]], [[0, 1], [1, 2]], [[2, 3], [0, 1]]):  # too few, not the word, out of order
        with pytest.raises(LensError, match=r"^offsets: expected the character offsets of the example's words"):
            with_word_offsets(example, np.array(bad))
    assert with_word_offsets(example, np.array([[0, 1], [2, 3]])).word_offsets().tolist() == [[0, 1], [2, 3]]
