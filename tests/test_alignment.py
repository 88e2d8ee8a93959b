"""Word-piece alignment, checked by hand on examples with CJK, emoji and long words."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from lensnb import Example, Span
from lensnb.examples import as_examples
from lensnb.models import embedded_model_path
from lensnb.token_table import tokenize_examples


@pytest.fixture(scope="module")
def minilm_tokenizer():
    return AutoTokenizer.from_pretrained(embedded_model_path())


def plan_for(tokenizer, inputs, causal=False, **kwargs):
    kwargs.setdefault("max_length", 512)
    kwargs.setdefault("stride", 16)
    kwargs.setdefault("overflow", "window")
    return tokenize_examples(as_examples(inputs), tokenizer, causal=causal, **kwargs)


def test_minilm_cjk_emoji_and_many_pieces(minilm_tokenizer):
    plan = plan_for(minilm_tokenizer, ["Hello wörld 你好 🤗 antidisestablishmentarianism"])
    table = plan.tokens
    assert table["token"].tolist() == [
        "[CLS]", "hello", "world", "[UNK]", "[UNK]", "[UNK]",
        "anti", "##dis", "##est", "##ab", "##lish", "##ment", "##arian", "##ism", "[SEP]",
    ]  # fmt: skip
    # words: Hello(0) wörld(1) 你好(2) 🤗(3) antidisestablishmentarianism(4)
    assert table["word_index"].tolist() == [-1, 0, 1, 2, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, -1]
    assert table["special"].tolist() == [True] + [False] * 13 + [True]
    assert table["first_piece"].tolist() == [False, True, True, True, False, True, True] + [False] * 8
    assert table["last_piece"].tolist() == [False, True, True, False, True, True] + [False] * 7 + [True, False]
    assert table[["char_start", "char_end"]].values.tolist()[:6] == [
        [0, 0],
        [0, 5],
        [6, 11],
        [12, 13],
        [13, 14],
        [15, 16],
    ]
    assert table["position"].tolist() == list(range(15))


def test_labels_follow_the_chosen_piece(minilm_tokenizer):
    example = Example(words=["Unbelievably", "good"], labels={"pos": ["ADV", "ADJ"]})
    n_pieces = len(minilm_tokenizer.tokenize("Unbelievably"))
    assert n_pieces > 1
    for piece, expected_rows in (("first", [1]), ("last", [n_pieces]), ("all", list(range(1, n_pieces + 1)))):
        table = plan_for(minilm_tokenizer, [example], label_piece=piece).tokens
        rows = [i for i, value in enumerate(table["pos"].tolist()) if value == "ADV"]
        assert rows == expected_rows, piece
        assert table["pos"].isna().sum() == len(table) - len(expected_rows) - 1  # "good" is one piece


def test_given_text_with_punctuation_inside_words(minilm_tokenizer):
    example = Example(words=["New", "York-based", "firm"], text="New York-based firm", labels={"ner": ["B", "I", "O"]})
    table = plan_for(minilm_tokenizer, [example]).tokens
    pieces = table[table["word_index"] == 1]["token"].tolist()
    assert pieces == ["york", "-", "based"]
    assert table[table["word_index"] == 2]["token"].tolist() == ["firm"]


def test_spans_and_pairs_get_token_rows(minilm_tokenizer):
    from lensnb import SpanPair

    example = Example(
        words=["The", "keys", "to", "the", "cabinet", "are", "here"],
        spans=[Span(0, 2, "NP"), Span(3, 5, "NP")],
        span_pairs=[SpanPair(Span(0, 2), Span(3, 5), "other")],
    )
    plan = plan_for(minilm_tokenizer, ["A first text.", example])
    first_row = plan.texts.loc[1, "token_start"]
    spans = plan.spans
    # [CLS] the keys to the cabinet ...: "The keys" = rows 1-2, "the cabinet" = rows 4-5 of text 1
    assert spans[["token_start", "token_end"]].values.tolist() == [
        [first_row + 1, first_row + 3],
        [first_row + 4, first_row + 6],
    ]
    assert plan.span_pairs.loc[0, "token_start_2"] == first_row + 4
    assert spans["label"].tolist() == ["NP", "NP"]


def test_byte_level_pieces_of_one_character_share_the_word(tiny_models):
    tokenizer = tiny_models["gpt2"].tokenizer
    table = plan_for(tokenizer, ["Hello wörld"], causal=True).tokens
    # 'ö' is two bytes: two tokens with the same character span, both in word 1
    o_rows = table[(table["char_start"] == 7) & (table["char_end"] == 8)]
    assert len(o_rows) == 2 and set(o_rows["word_index"]) == {1}
    assert table["word_index"].tolist() == [0] * 5 + [1] * (len(table) - 5)
    assert not table["special"].any()  # GPT-2 adds no special tokens
    # the leading-space token "Ġw" starts at the space but belongs to the next word
    assert table.loc[5, "token"] == "Ġw" and table.loc[5, "first_piece"]


def test_llama_style_bos_is_a_flagged_special(tiny_models):
    table = plan_for(tiny_models["llama"].tokenizer, ["Emoji 🤗 too"], causal=True).tokens
    assert table.loc[0, "token"] == "<s>" and table.loc[0, "special"] and table.loc[0, "word_index"] == -1
    emoji = table[table["word_index"] == 1]
    # 🤗 is four UTF-8 bytes: several byte-level tokens ("ĠðŁ", ...), all in word 1
    assert len(emoji) >= 2
    assert emoji["first_piece"].tolist() == [True] + [False] * (len(emoji) - 1)
    assert emoji["last_piece"].tolist() == [False] * (len(emoji) - 1) + [True]


def test_every_word_gets_pieces_in_real_sentences(minilm_tokenizer):
    sentences = ["東京は日本の首都です。", "naïve café résumé", "Numbers: 3.14, 1984!", "🚀🚀 launch"]
    plan = plan_for(minilm_tokenizer, sentences)
    for text_id, text in enumerate(sentences):
        words = plan.tokens[(plan.tokens.text_id == text_id) & (plan.tokens.word_index >= 0)]["word_index"]
        assert sorted(set(words)) == list(range(len(text.split())))
    np.testing.assert_array_equal(plan.texts["n_tokens"], np.bincount(plan.tokens["text_id"]))


def test_changed_words_are_aligned_again(minilm_tokenizer):
    example = Example(words=["keys", "here"])
    assert example.word_offsets().tolist() == [[0, 4], [5, 9]]
    example.words = ["the", "keys", "here"]  # an Example is mutable: offsets follow the words
    assert example.word_offsets().tolist() == [[0, 3], [4, 8], [9, 13]]
    table = plan_for(minilm_tokenizer, [example]).tokens
    assert table[table.word_index >= 0]["token"].tolist() == ["the", "keys", "here"]


def test_tokenizing_shows_progress_over_every_text_once_it_takes_long(minilm_tokenizer, monkeypatch, capsys):
    import lensnb.token_table as token_table

    texts = [f"sentence number {i} of a corpus" for i in range(1100)]  # three chunks of texts
    monkeypatch.setattr(token_table, "_PROGRESS_DELAY", 0.0)  # as if tokenizing had already taken a second
    plan_for(minilm_tokenizer, texts, progress=True)
    shown = capsys.readouterr().err
    assert "tokenize" in shown and "1100/1100" in shown
    plan_for(minilm_tokenizer, texts, progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(token_table, "_PROGRESS_DELAY", 1000.0)  # a corpus tokenized within the delay: no bar
    plan_for(minilm_tokenizer, texts, progress=True)
    assert "tokenize" not in capsys.readouterr().err
