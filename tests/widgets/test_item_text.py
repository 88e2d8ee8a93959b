"""What items read as, their contexts, and the picker's searches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb.widgets.item_text import ItemText, item_contexts, item_strings
from lensnb.widgets.token_search import find_by_label, find_by_position, find_by_text, normalise_piece


def test_token_contexts_come_from_the_text_around_the_characters():
    text = "The keys to the cabinet are on the table."
    table = pd.DataFrame({"text_id": [0, 0, 0], "token": ["[CLS]", "keys", "cabinet"],
                          "char_start": [0, 4, 16], "char_end": [0, 8, 23]})  # fmt: skip
    texts = pd.DataFrame({"text_id": [0], "text": [text]})
    item = ItemText(table, texts, width=10)
    assert list(item.item) == ["[CLS]", "keys", "cabinet"]
    assert item.left[1] == "The " and item.right[1] == " to the ca\u2026"  # cut, and the cut is marked
    assert item.left[2] == "\u2026ys to the " and item.right[2] == " are on th\u2026"
    assert item.context(1) == "The [keys] to the ca\u2026"


def test_special_tokens_have_no_context_of_their_own():
    table = pd.DataFrame({"text_id": [0], "token": ["[SEP]"], "char_start": [-1], "char_end": [-1]})
    left, right = item_contexts(table, pd.DataFrame({"text_id": [0], "text": ["a b"]}))
    assert left[0] == "" and right[0] == ""


def test_words_take_their_neighbours_and_texts_show_themselves():
    words = pd.DataFrame({"text_id": [0, 0, 0], "word_index": [0, 1, 2], "word": ["a", "fine", "film"]})
    left, right = item_contexts(words)
    assert (left[1], right[1]) == ("a ", " film")
    texts = pd.DataFrame({"text_id": [0, 1], "text": ["first text", "second"]})
    assert list(item_strings(texts)) == ["first text", "second"]


def test_pieces_lose_their_markers_for_search():
    assert [normalise_piece(p) for p in ["##ing", "\u0120price", "\u2581the", "plain"]] == [
        "ing",
        "price",
        "the",
        "plain",
    ]


def test_text_search_modes():
    items = np.array(["The", "##ing", "theory", "\u0120the", "cat"], dtype=object)
    assert find_by_text(items, "the").tolist() == [0, 2, 3]
    assert find_by_text(items, "the", match="exact").tolist() == [0, 3]
    assert find_by_text(items, "the", match="exact", case=True).tolist() == [3]
    assert find_by_text(items, "th", match="starts").tolist() == [0, 2, 3]
    assert find_by_text(items, "^c.t$", match="regex").tolist() == [4]
    assert find_by_text(items, "").tolist() == []
    with pytest.raises(lensnb.LensError, match="query: expected a valid regular expression"):
        find_by_text(items, "(", match="regex")
    with pytest.raises(lensnb.LensError, match="match: expected one of"):
        find_by_text(items, "a", match="fuzzy")


def test_position_and_label_search():
    table = pd.DataFrame({"text_id": [0, 0, 1, 1], "position": [1, 2, 1, 2], "upos": ["DET", None, "DET", "NOUN"]})
    assert find_by_position(table, 1).tolist() == [2, 3]
    assert find_by_position(table, 1, 2).tolist() == [3]
    assert find_by_label(table, "upos", "DET").tolist() == [0, 2]
    assert find_by_label(table, "upos", "None").tolist() == []  # a missing label is not the string "None"
    with pytest.raises(lensnb.LensError, match="column: expected one of the table's columns"):
        find_by_label(table, "xpos", "DT")
