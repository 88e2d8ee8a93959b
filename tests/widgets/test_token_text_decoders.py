"""Decoder tokens as text (audit s27, views F1, F5, F6, F7).

F1: a character that byte-level BPE splits over several tokens shows once in a joined
line (shaded text, bar chart, Relevance.to_html); its other tokens show "·" and say
"byte piece k of n" in their hover. F5: newline and stand-alone space tokens show as
"⏎" / "␣" and are found by those, or by the token table's markers ("Ċ", "Ġ"). F6: a
sentencepiece "▁" over no character of its own shows as "␣", never as the word's first
character. F7: Relevance.to_html shows tokens as their characters, escaped.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb.relevance import InputXGradient
from lensnb.token_text import BYTE_MARKER, NEWLINE_MARKER, SPACE_MARKER, Piece, joined_pieces
from lensnb.widgets import RelevanceView, TokenPicker
from lensnb.widgets.item_text import ItemText
from lensnb.widgets.relevance_view import pieces_and_scores

CJK, EMOJI, ACCENT = "東京は日本", "Emoji 🤗 here", "naïve"
_SPAN_TEXT = re.compile(r"<span class='lensnb-piece'[^>]*>([^<]*)</span>")
_SPAN_TITLE = re.compile(r"<span class='lensnb-piece' title='([^']*)'")
_HTML_PIECE = re.compile(r"padding:0 1px;margin:0 1px'>([^<]*)</span>")


def _table(
    text: str, pieces: list[str], offsets: list[tuple[int, int]], **columns
) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.DataFrame({"text_id": 0, "token": pieces, "char_start": [s for s, _ in offsets],
                          "char_end": [e for _, e in offsets], **columns})  # fmt: skip
    return table, pd.DataFrame({"text_id": [0], "text": [text]})


@pytest.fixture(scope="module")
def gpt2_relevance(tiny_paths):
    model = lensnb.load_model(tiny_paths["gpt2"], task="causal-lm")
    return InputXGradient(model, progress=False).attribute([CJK, EMOJI, ACCENT, "The <b>café</b>\nis  naïve."])


# ------------------------------------------------------------------ F1: a character split into bytes shows once
def test_joined_pieces_show_each_character_once_and_mark_the_other_bytes():
    # GPT-2's bytes of "東京は": 東 in 3 tokens, 京 in 2, then one token of 京's last byte and は's first, then は's last
    table, texts = _table("東京は", ["æ", "Ŀ", "±", "ä", "º", "¬ãģ", "¯"],
                          [(0, 1), (0, 1), (0, 1), (1, 2), (1, 2), (1, 3), (2, 3)])  # fmt: skip
    pieces = joined_pieces(table, texts)
    assert list(pieces) == ["東", BYTE_MARKER, BYTE_MARKER, "京", BYTE_MARKER, "は", BYTE_MARKER]
    assert all(isinstance(p, Piece) for p in pieces)
    assert [p.hover for p in pieces[:3]] == [f"東 (byte piece {k} of 3)" for k in (1, 2, 3)]
    assert [p.hover for p in pieces[3:]] == [
        "京 (byte piece 1 of 4)", "京 (byte piece 2 of 4)", "京は (byte piece 3 of 4)", "は (byte piece 4 of 4)"
    ]  # fmt: skip
    ordinary, texts = _table("a cat", ["a", "Ġcat"], [(0, 1), (1, 5)])
    assert [(p, p.hover) for p in joined_pieces(ordinary, texts)] == [("a", "a"), (" cat", " cat")]


def test_relevance_text_reads_as_the_text_with_byte_markers(gpt2_relevance):
    for text_id, text in enumerate([CJK, EMOJI, ACCENT]):
        pieces, scores = pieces_and_scores(gpt2_relevance, text_id, -1, None)
        assert len(pieces) == len(scores)
        assert "".join(p for p in pieces if p != BYTE_MARKER) == text, pieces  # each character once
        markers = [p for p in pieces if p == BYTE_MARKER]
        assert markers, f"the tiny GPT-2 splits a character of {text!r} into bytes"
        wholes = [p.hover.split(" (byte piece ")[0] for p in markers]  # the hover keeps the whole character
        assert all(" (byte piece " in p.hover for p in markers) and all(w.strip() and w in text for w in wholes)
        view = RelevanceView([gpt2_relevance], text_id=text_id)
        shown = [html.unescape(s) for s in _SPAN_TEXT.findall(view.text_html.value)]
        assert shown == list(pieces)
        assert list(view.bars.data["piece"]) == list(pieces)  # the bar chart's labels too
        titles = [html.unescape(t) for t in _SPAN_TITLE.findall(view.text_html.value)]
        assert any("byte piece 2 of" in t for t in titles)
    first_of_tokyo = pieces_and_scores(gpt2_relevance, 0, -1, None)[0][1]
    assert first_of_tokyo == BYTE_MARKER and first_of_tokyo.hover.startswith("東 (byte piece 2 of")


# ------------------------------------------------------------------ F5: newline and space tokens
@pytest.fixture(scope="module")
def blank_acts(tiny_models):
    return lensnb.extract(tiny_models["gpt2"], ["The dog ran home.\nIt was  late.", "A cat\nsat here."], progress=False)


def test_newline_and_space_tokens_show_visibly_and_are_found(blank_acts):
    table, texts = blank_acts.table, blank_acts.texts
    newlines = np.flatnonzero(table["token"].to_numpy() == "\u010a").tolist()
    spaces = np.flatnonzero(table["token"].to_numpy() == "\u0120").tolist()
    assert newlines and spaces
    picker = TokenPicker(table, texts)
    assert [picker.text.item[r] for r in newlines + spaces] == ["\n"] * len(newlines) + [" "] * len(spaces)
    assert [picker.text.shown[r] for r in newlines] == [NEWLINE_MARKER] * len(newlines)
    assert [picker.text.shown[r] for r in spaces] == [SPACE_MARKER] * len(spaces)
    assert [picker.text.search[r] for r in newlines + spaces] == [picker.text.shown[r] for r in newlines + spaces]
    assert f"home.[{NEWLINE_MARKER}]It" in picker.text.context(newlines[0])
    for query, match, expected in [("\u010a", "contains", newlines), (NEWLINE_MARKER, "exact", newlines),
                                   ("\u0120", "exact", spaces), (SPACE_MARKER, "exact", spaces),
                                   ("\u2581", "exact", spaces)]:  # fmt: skip
        picker.match.value, picker.query.value = match, query
        assert picker.hits == expected, (query, match)
        assert all(f"[{picker.text.shown[r]}]" in label for label, r in picker.hit_list.options)  # the hit list
    for match in ("exact", "contains", "starts"):  # a piece copied from the token table: " r", not "re"
        picker.match.value, picker.query.value = match, "\u0120r"
        assert [picker.text.item[r] for r in picker.hits] == [" r"], match
    picker.match.value, picker.query.value = "contains", "\u0120"  # every piece holding a space
    assert set(spaces) < set(picker.hits) and all(" " in picker.text.written[r] for r in picker.hits)
    picker.match.value, picker.query.value = "contains", "r"  # an ordinary query: as before
    assert [picker.text.item[r] for r in picker.hits] == [" r", "re"]
    assert "\u0120" in picker.query.placeholder and NEWLINE_MARKER in picker.query.placeholder
    picker.pick(newlines[:1] + spaces[:1])
    assert f"<b>{NEWLINE_MARKER}</b>" in picker.picked_view.value


def test_picked_labels_and_hover_of_blank_tokens_are_visible(blank_acts):
    from lensnb import geometry
    from lensnb.widgets import LinkedScatter

    table = blank_acts.table
    rows = np.flatnonzero(np.isin(table["token"].to_numpy(), ["\u010a", "\u0120"])).tolist()
    scatter = LinkedScatter(geometry.project(blank_acts, "pca", progress=False), texts=blank_acts.texts)
    scatter.link.picked = rows
    labels = scatter.plot.picked.data["item"]
    assert labels and set(labels) == {NEWLINE_MARKER, SPACE_MARKER}
    assert {scatter.plot.points.data["item"][r] for r in rows} == {NEWLINE_MARKER, SPACE_MARKER}


def test_items_without_text_are_found_by_their_markers():
    table = pd.DataFrame({"text_id": [0, 0, 0], "token": ["\u0120", "\u010a", "\u0120r"]})
    text = ItemText(table)
    assert text.find("\u0120", match="exact").tolist() == [0]
    assert text.find("\u010a", match="exact").tolist() == [1]
    assert text.find("\u0120r", match="exact").tolist() == [2]


# ------------------------------------------------------------------ F6: sentencepiece's stand-alone "▁"
def test_a_metaspace_over_the_words_first_character_shows_as_a_space_marker():
    table, texts = _table("xy here", ["<s>", "\u2581", "x", "y", "\u2581", "here"],
                          [(0, 0), (0, 1), (0, 1), (1, 2), (2, 3), (3, 7)],
                          word_index=[-1, -1, 0, 0, -1, 1], special=[True, False, False, False, False, False])  # fmt: skip
    text = ItemText(table, texts)
    assert list(text.item) == ["<s>", SPACE_MARKER, "x", "y", " ", "here"]
    assert list(text.shown) == ["<s>", SPACE_MARKER, "x", "y", SPACE_MARKER, "here"]
    assert text.context(1) == f"[{SPACE_MARKER}]xy here"  # it stands before the word
    assert text.find("x", match="exact").tolist() == [2]
    assert text.find("\u2581", match="exact").tolist() == [1, 4]
    assert list(joined_pieces(table, texts)) == ["<s>", SPACE_MARKER, "x", "y", " ", "here"]
    literal, texts = _table("\u2581", ["\u2581"], [(0, 1)], word_index=[0], special=[False])  # a "▁" written
    assert list(ItemText(literal, texts).item) == ["\u2581"]


def _build_sentencepiece_llama(folder) -> None:
    """A tiny Llama with a Llama-2-style tokenizer (what the auditor's build_sp.py makes)."""
    import torch
    import transformers as tf
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    from lensnb.testing import CORPUS

    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = pre_tokenizers.Split("\u2581", behavior="merged_with_next")  # for training only
    trainer = trainers.BpeTrainer(
        vocab_size=420, special_tokens=["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)],
        initial_alphabet=list(set("".join(CORPUS).replace(" ", "\u2581"))),
    )  # fmt: skip
    tok.train_from_iterator(CORPUS * 3 + ["Emoji", "Café"], trainer)
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])  # fmt: skip
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = tf.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    config = tf.LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                            bos_token_id=1, eos_token_id=2, pad_token_id=0)  # fmt: skip
    torch.manual_seed(0)
    tf.LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)


@pytest.fixture(scope="module")
def sentencepiece_llama(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama-sp")
    try:
        _build_sentencepiece_llama(folder)
    except (ImportError, OSError) as error:  # pragma: no cover - tokenizers/transformers without training
        pytest.skip(f"cannot build a sentencepiece tokenizer offline: {error}")
    return folder


def test_sentencepiece_marker_before_a_word_is_no_character_of_it(sentencepiece_llama):
    texts = ["xylophone here", "1984 was a year"]
    acts = lensnb.extract(lensnb.load_model(sentencepiece_llama), texts, progress=False)
    table = acts.table
    markers = table.index[(table["token"] == "\u2581") & (table["position"] == 1)].tolist()
    assert len(markers) == 2 and (table.loc[markers, "word_index"] == -1).all()
    picker = TokenPicker(table, acts.texts)
    assert [picker.text.item[r] for r in markers] == [SPACE_MARKER, SPACE_MARKER]
    assert picker.text.context(markers[0]) == f"[{SPACE_MARKER}]xylophone here"
    picker.match.value, picker.query.value = "exact", "x"
    assert markers[0] not in picker.hits and [picker.text.item[r] for r in picker.hits] == ["x"]
    picker.match.value, picker.query.value = "contains", "1"
    assert markers[1] not in picker.hits
    relevance = InputXGradient(lensnb.load_model(sentencepiece_llama, task="causal-lm"), progress=False).attribute(
        texts
    )
    for text_id, text in enumerate(texts):
        pieces, _ = pieces_and_scores(relevance, text_id, -1, None)
        assert "".join(pieces) == f"<s>{SPACE_MARKER}{text}"


# ------------------------------------------------------------------ F7: Relevance.to_html shows characters
def test_relevance_html_shows_the_tokens_characters_escaped(gpt2_relevance):
    page = gpt2_relevance.to_html(text_id=3)
    pieces = [html.unescape(p) for p in _HTML_PIECE.findall(page)]
    view_pieces, _ = pieces_and_scores(gpt2_relevance, 3, -1, None)
    assert pieces == list(view_pieces)
    assert not any(marker in p for p in pieces for marker in ("\u0120", "\u010a", "\u00c3"))
    assert "".join(p for p in pieces if p != BYTE_MARKER) == "The <b>café</b>\nis  naïve."
    assert "<b>" not in page and "&lt;" in page and "&gt;" in page  # text shown as HTML stays escaped
    assert "white-space:pre-wrap" in page  # the newline and the double space show as written
    titles = [html.unescape(t) for t in re.findall(r"<span title='([^']*)'", page)]
    assert any(t.startswith(f"{NEWLINE_MARKER}: ") for t in titles)  # a newline's hover shows it
    for text_id, text in enumerate([CJK, EMOJI, ACCENT]):
        shown = [html.unescape(p) for p in _HTML_PIECE.findall(gpt2_relevance.to_html(text_id=text_id))]
        assert "".join(p for p in shown if p != BYTE_MARKER) == text


def test_a_language_models_target_is_named_as_the_token_it_is(tiny_paths):
    """RelevanceView said 'class 69' for a next-token id and never showed which token it was; the menu, the
    info line and Relevance.to_html now name it ("next token ' J' (id 42)")."""
    from lensnb.relevance import OutputSpan
    from lensnb.widgets.relevance_view import target_label

    model = lensnb.load_model(tiny_paths["gpt2"], task="causal-lm")
    method = InputXGradient(model, progress=False)
    alone = method.attribute(["The dog ran home"])
    assert target_label(alone) == "predicted"
    token = int(alone.segments["target"][0])
    chosen = method.attribute(["The dog ran home", "a cat"], target=[token, token])
    name = model.tokenizer.decode([token])
    assert target_label(chosen) == f"next token {name!r} (id {token})"
    view = RelevanceView([chosen])
    assert f"explains next token {name!r}" in html.unescape(view.info.value)
    assert "after the text" in view.info.value and "class " not in html.unescape(view.info.value)
    assert f"{token} ({name!r})" in html.unescape(chosen.to_html())
    assert target_label(method.attribute(["The dog ran home"], target=OutputSpan(-2))) == "output span"


@pytest.mark.parametrize("tokens", [pd.DataFrame({"text_id": [0], "word": ["a"]}), ["a", "b"]])
def test_token_text_refuses_a_table_that_is_not_a_token_table(tokens):
    from lensnb.token_text import blank_pieces, token_characters, token_strings

    for function in (token_strings, token_characters, blank_pieces, joined_pieces):
        with pytest.raises(lensnb.LensError, match=r"^tokens: expected a token table with a 'token' column"):
            function(tokens, None)
