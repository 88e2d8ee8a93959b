"""Selection and pooling on Activations, checked against plain numpy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import lensnb
from lensnb import Example, LensError, Span, SpanPair
from lensnb.testing import CORPUS


@pytest.fixture(scope="module")
def acts(tiny_models):
    examples = [
        Example(words=["Antidisestablishmentarianism", "is", "long"], labels={"pos": ["NOUN", "AUX", "ADJ"]},
                spans=[Span(0, 1, "NP"), Span(1, 3, "VP")], meta={"label": "a"}),
        Example(words=["Keys", "open", "cabinets"], labels={"pos": ["NOUN", "VERB", "NOUN"]},
                spans=[Span(0, 3, "S")], meta={"label": "b"}),
    ]  # fmt: skip
    return lensnb.extract(tiny_models["bert"], examples, sites=("resid_post", "mlp_out"), progress=False)


def test_select_layers_items_and_query(acts):
    with pytest.warns(UserWarning, match=r"^select: 2 of 3 span\(s\) lost some pieces of their words"):
        sub = acts.select(layers=[0, -1], items="pos == 'NOUN'", sites="resid_post")  # cuts NP and S, VP goes
    assert sub.spans.empty and sub.spans_dropped == 3
    rows = np.flatnonzero((acts.tokens["pos"] == "NOUN").to_numpy())
    assert sub.layers == (0, 2) and len(sub) == 3
    np.testing.assert_array_equal(sub.values, acts.arrays["resid_post"][[0, 2]][:, rows])
    assert sub.tokens["pos"].tolist() == ["NOUN"] * 3
    no_special = acts.drop_special()
    assert not no_special.tokens["special"].any() and len(no_special) == len(acts) - 4
    # spans survive the selection, renumbered onto the remaining rows
    np.testing.assert_array_equal(
        no_special.pool_spans("mean").arrays["resid_post"], acts.pool_spans("mean").arrays["resid_post"]
    )


def test_pool_texts(acts):
    values, tokens = acts.arrays["resid_post"], acts.tokens
    mean = acts.pool_texts("mean")
    cls = acts.pool_texts("cls")
    for text_id in (0, 1):
        rows = ((tokens["text_id"] == text_id) & ~tokens["special"]).to_numpy()
        np.testing.assert_allclose(mean.arrays["resid_post"][:, text_id], values[:, rows].mean(axis=1), atol=1e-6)
        first = np.flatnonzero((tokens["text_id"] == text_id).to_numpy())[0]
        np.testing.assert_array_equal(cls.arrays["resid_post"][:, text_id], values[:, first])
    assert mean.unit == "text" and mean.table["label"].tolist() == ["a", "b"]
    with_special = acts.pool_texts("mean", include_special=True)
    rows = (tokens["text_id"] == 0).to_numpy()
    np.testing.assert_allclose(with_special.arrays["resid_post"][:, 0], values[:, rows].mean(axis=1), atol=1e-6)


def test_pool_words(acts):
    values, tokens = acts.arrays["resid_post"], acts.tokens
    first, mean, last = (acts.pool_words(how) for how in ("first", "mean", "last"))
    assert first.table["word"].tolist() == ["Antidisestablishmentarianism", "is", "long", "Keys", "open", "cabinets"]
    assert first.table["pos"].tolist() == ["NOUN", "AUX", "ADJ", "NOUN", "VERB", "NOUN"]
    pieces = np.flatnonzero(((tokens["text_id"] == 0) & (tokens["word_index"] == 0)).to_numpy())
    assert len(pieces) > 3
    np.testing.assert_array_equal(first.arrays["resid_post"][:, 0], values[:, pieces[0]])
    np.testing.assert_array_equal(last.arrays["resid_post"][:, 0], values[:, pieces[-1]])
    np.testing.assert_allclose(mean.arrays["resid_post"][:, 0], values[:, pieces].mean(axis=1), atol=1e-6)


def test_pool_spans(acts):
    values = acts.arrays["mlp_out"]
    spans = acts.spans
    pooled = acts.pool_spans("max")
    for i, (start, end) in enumerate(spans[["token_start", "token_end"]].to_numpy()):
        np.testing.assert_array_equal(pooled.arrays["mlp_out"][:, i], values[:, start:end].max(axis=1))
    ends = acts.pool_spans("endpoints")
    start, end = spans.loc[1, ["token_start", "token_end"]]
    np.testing.assert_array_equal(
        ends.arrays["mlp_out"][:, 1], np.concatenate([values[:, start], values[:, end - 1]], -1)
    )
    assert pooled.table["label"].tolist() == ["NP", "VP", "S"]


def test_to_pandas_is_a_copy(acts):
    frame = acts.to_pandas()
    frame.loc[0, "token"] = "changed"
    assert acts.tokens.loc[0, "token"] == "[CLS]"
    assert "Activations(" in repr(acts) and "resid_post: 3 layers" in repr(acts)


def test_cls_pooling_is_refused_for_decoders(tiny_models):
    """A causal model's first token sees only itself: one vector for every text, refused by name."""
    from lensnb import LensError
    from lensnb.probing.features import probing_data, text_task

    examples = [Example(words=["Keys", "open", "doors"], meta={"label": "a"}),
                Example(words=["Cats", "sleep"], meta={"label": "b"})]  # fmt: skip
    decoder = lensnb.extract(tiny_models["llama"], examples, progress=False)
    with pytest.raises(LensError, match="'mean' or 'last' for a decoder"):
        decoder.pool_texts("cls")
    with pytest.raises(LensError, match="'last' or 'mean' for a decoder"):
        probing_data(decoder, text_task("label", pool="cls"))
    assert decoder.pool_texts("last").arrays["resid_post"].shape[1] == 2
    with pytest.warns(UserWarning, match=r"^pool_texts: a decoder's first token has read nothing after it") as caught:
        decoder.pool_texts("first")
    assert caught[0].filename == __file__
    # a text probe on a decoder reads its last token by default, as Activations.pool_texts("last") does
    data = probing_data(decoder, text_task("label"))
    assert data.task.pool == "last"
    np.testing.assert_array_equal(data.features(2), decoder.pool_texts("last").values[2])
    encoder = lensnb.extract(tiny_models["bert"], examples, progress=False)
    assert probing_data(encoder, text_task("label")).task.pool == "cls"
    np.testing.assert_array_equal(
        probing_data(encoder, text_task("label", pool="last")).features(1), encoder.pool_texts("last").values[1]
    )


def test_queries_see_the_callers_variables_like_pandas(acts):
    # `n` was also a name inside the query code, which shadowed the caller's
    threshold, n = 3, 1  # noqa: F841 (read by the queries)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "select: .* span", UserWarning)  # these queries cut the spans
        assert (acts.query("position < @threshold").tokens["position"] < 3).all()
        assert acts.query("position < @n").tokens["position"].tolist() == [0] * len(set(acts.tokens["text_id"]))
        picked = acts.select(items="position < @threshold")
    assert len(picked) == int((acts.tokens["position"] < threshold).sum())


def test_no_rows_is_an_empty_selection(acts):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the spans go with all their tokens, as asked: no warning
        empty = acts.select(items=[])
    assert empty.spans_dropped == 3 and empty.span_pairs_dropped == 0
    assert len(empty) == 0 and empty.arrays["resid_post"].shape == (3, 0, 32) and empty.spans.empty


# ----------------------------------------------------------------------------- spans pool their words' pieces
def _word_pieces_mean(acts, text_id: int, word_start: int, word_end: int) -> np.ndarray:
    tokens = acts.tokens
    rows = (tokens["text_id"] == text_id) & tokens["word_index"].between(word_start, word_end - 1)
    return acts.values[:, rows.to_numpy()].astype(np.float64).mean(axis=1)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_spans_pool_only_the_pieces_of_their_words(tiny_models, family):
    """A comma left out of the words (BERT) and stand-alone 'Ġ' tokens (GPT-2) lie inside a span's
    token range with word_index -1: pool_spans leaves them out, as pool_words does."""
    examples = [
        Example(words=["keys", "table"], text="keys, table", spans=[Span(0, 2, "both")]),
        Example(words="The keys to the table , said the researcher .".split(), spans=[Span(0, 10, "all"), Span(1, 3)]),
    ]  # fmt: skip
    acts = lensnb.extract(tiny_models[family], examples, progress=False)
    tokens = acts.tokens
    inside = tokens.iloc[int(acts.spans["token_start"][0]) : int(acts.spans["token_end"][0])]
    assert (inside["word_index"] < 0).any()  # there is something to leave out
    mean, first, last = (acts.pool_spans(how) for how in ("mean", "first", "last"))
    for i, span in acts.spans.iterrows():
        expected = _word_pieces_mean(acts, span["text_id"], span["word_start"], span["word_end"])
        np.testing.assert_allclose(mean.values[:, i], expected, atol=1e-6)
        np.testing.assert_array_equal(first.values[:, i], acts.values[:, span["token_start"]])
        np.testing.assert_array_equal(last.values[:, i], acts.values[:, span["token_end"] - 1])
    # the whole sentence as a span is the mean of its words' pieces: of pool_words' pieces
    words = tokens["text_id"].eq(1) & tokens["word_index"].ge(0)
    np.testing.assert_allclose(mean.values[:, 1], acts.values[:, words.to_numpy()].mean(axis=1), atol=1e-6)
    # keeping only word pieces keeps every span, pooled the same
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped: no warning
        kept = acts.query("word_index >= 0")
    assert len(kept.spans) == len(acts.spans) == 3 and kept.spans_dropped == 0
    np.testing.assert_allclose(kept.pool_spans("mean").values, mean.values, atol=1e-6)


def test_selections_keep_spans_whose_word_pieces_all_survive_and_warn_about_the_others(tiny_models, tmp_path):
    example = Example(
        words=["antidisestablishmentarianism", "researcher", "keys"],
        spans=[Span(0, 2, "a"), Span(1, 3, "b"), Span(2, 3, "c")],
        span_pairs=[SpanPair(Span(0, 1), Span(2, 3), "p"), SpanPair(Span(1, 2), Span(2, 3), "q")],
    )
    acts = lensnb.extract(tiny_models["bert"], [example], progress=False)
    assert acts.spans_dropped == 0 and len(acts.spans) == 3
    with pytest.warns(UserWarning, match=r"^select: 2 of 3 span\(s\) and 1 of 2 span pair\(s\) lost some pieces"):
        two = acts.query("word_index != 1")
    assert two.spans["label"].tolist() == ["c"] and two.span_pairs["label"].tolist() == ["p"]
    assert (two.spans_dropped, two.span_pairs_dropped) == (2, 1)
    np.testing.assert_array_equal(two.pool_spans("mean").values[:, 0], acts.pool_spans("mean").values[:, 2])
    pair = two.span_pairs.iloc[0]
    assert two.tokens["word_index"].iloc[pair["token_start_2"] : pair["token_end_2"]].eq(2).all()
    # every span dropped: pool_spans says a selection did it, not that there never were spans
    with pytest.warns(UserWarning, match=r"3 of 3 span\(s\)"):
        firsts = acts.query("first_piece")
    with pytest.raises(LensError, match=r"^pool_spans: these activations were extracted with spans, but the select"):
        firsts.pool_spans()
    # a store keeps what its selection dropped, so the saved and reloaded activations say the same
    reloaded = lensnb.Activations.load(two.save(tmp_path / "two"))
    assert (reloaded.spans_dropped, reloaded.span_pairs_dropped) == (2, 1)
    with pytest.raises(LensError, match=r"^pool_spans: these activations were extracted with spans, but the select"):
        lensnb.Activations.load(firsts.save(tmp_path / "firsts")).pool_spans()
    with pytest.raises(LensError, match="extract Examples with spans"):
        lensnb.extract(tiny_models["bert"], ["no spans here"], progress=False).pool_spans()
    # spans of texts left out go with them, quietly; those of the texts kept stay whole
    both = lensnb.extract(tiny_models["bert"], [example, example], progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = both.query("text_id == 1")
    assert second.spans["label"].tolist() == ["a", "b", "c"] and second.spans_dropped == 3
    # the same rows as before the selection (a batch of two may differ from a batch of one in the last bits)
    np.testing.assert_array_equal(second.pool_spans("max").values, both.pool_spans("max").values[:, 3:])
    np.testing.assert_allclose(second.pool_spans("max").values, acts.pool_spans("max").values, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- overflow="truncate"
def test_truncation_marks_the_word_it_cuts_and_the_spans_it_takes_words_from(tiny_models):
    words = ["researcher"] * 40
    example = Example(words=words, labels={"pos": [f"w{i}" for i in range(40)]},
                      spans=[Span(2, 4, "early"), Span(10, 30, "straddles"), Span(35, 38, "gone")],
                      span_pairs=[SpanPair(Span(0, 1), Span(2, 3), "whole"), SpanPair(Span(0, 1), Span(12, 20), "cut")])  # fmt: skip
    tiny = tiny_models["bert"]
    full = lensnb.extract(tiny, [example], label_piece="last", progress=False).tokens
    with pytest.warns(UserWarning, match=r"^overflow='truncate'.* 1 word\(s\) were cut in the middle .* 3 span\(s\)"):
        acts = lensnb.extract(tiny, [example], overflow="truncate", label_piece="last", progress=False)
    tokens = acts.tokens
    cut = int(tokens["word_index"].max())
    kept, whole = tokens[tokens["word_index"] == cut], full[full["word_index"] == cut]
    assert 0 < len(kept) < len(whole)  # the last word kept lost its last pieces
    assert not kept["last_piece"].any() and kept["pos"].isna().all()  # no last piece: no label on a middle one
    assert kept["first_piece"].iloc[0]
    earlier = tokens[tokens["word_index"].between(0, cut - 1)]
    assert earlier["last_piece"].sum() == cut and earlier["pos"].notna().sum() == cut
    assert acts.spans["complete"].tolist() == [True, False, False]
    assert acts.span_pairs["complete"].tolist() == [True, False]
    assert full.shape[0] > len(tokens)
    with pytest.raises(
        LensError, match=r"^pool_spans: 1 of 3 span\(s\) have no token, 1 because truncation .*'window'"
    ):
        acts.pool_spans()
    acts.spans = acts.spans[acts.spans["token_start"] >= 0].reset_index(drop=True)
    with pytest.raises(LensError, match=r"^pool_spans: 1 span\(s\) lost some of their words to overflow='truncate'"):
        acts.pool_spans()
    acts.spans = acts.spans[acts.spans["complete"]].reset_index(drop=True)
    assert acts.pool_spans().table["label"].tolist() == ["early"]
    # a text that fits: every span complete, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        short = lensnb.extract(tiny, [Example(words=["keys", "open"], spans=[Span(0, 2)])], overflow="truncate",
                               progress=False)  # fmt: skip
    assert short.spans["complete"].tolist() == [True]


# ----------------------------------------------------------------------------- pooling's `how`
def test_each_pooling_takes_exactly_the_hows_it_documents(acts):
    from lensnb.activations import SPAN_POOLINGS, TEXT_POOLINGS, WORD_POOLINGS

    for method, allowed in ((acts.pool_texts, TEXT_POOLINGS), (acts.pool_words, WORD_POOLINGS),
                            (acts.pool_spans, SPAN_POOLINGS)):  # fmt: skip
        for how in allowed:
            assert method(how).dim == acts.dim * (2 if how == "endpoints" else 1)
        for how in {"median", "endpoints", "cls", None, 1} - set(allowed):
            with pytest.raises(LensError) as info:
                method(how)
            assert str(info.value).startswith(f"how: expected one of {allowed}, received"), str(info.value)
        assert f"{allowed}".strip("()") in (method.__doc__ or "").replace('"', "'")


def test_pool_texts_first_and_last_are_the_first_and_last_non_special_tokens(acts):
    tokens, values = acts.tokens, acts.arrays["resid_post"]
    first, last = acts.pool_texts("first"), acts.pool_texts("last")
    for text_id in (0, 1):
        rows = np.flatnonzero(((tokens["text_id"] == text_id) & ~tokens["special"]).to_numpy())
        np.testing.assert_array_equal(first.arrays["resid_post"][:, text_id], values[:, rows[0]])
        np.testing.assert_array_equal(last.arrays["resid_post"][:, text_id], values[:, rows[-1]])
    assert acts.pool_texts("max", include_special=True).dim == acts.dim
    for how in ("first", "last", "cls"):
        with pytest.raises(LensError, match=rf"^include_special: expected False with how='{how}'"):
            acts.pool_texts(how, include_special=True)


# ----------------------------------------------------------------------------- sentencepiece (Metaspace)
def _metaspace_llama():
    """A tiny Llama with a Metaspace BPE tokenizer (Llama-1/2, Mistral, T5 style): '▁' is prepended."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    raw.decoder = decoders.Metaspace()
    raw.train_from_iterator(
        CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>", "<pad>"])
    )
    raw.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", raw.token_to_id("<s>"))]
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config).eval(), tokenizer


def test_space_pieces_and_the_spaces_they_mark():
    from lensnb.token_text import is_space_piece, marks_absent_space

    assert [is_space_piece(p) for p in ["\u2581", "\u0120", " \n", "\u2581\u2581", "", "\u2581x", "x"]] == [
        True, True, True, True, False, False, False,
    ]  # fmt: skip
    assert marks_absent_space("\u2581", "x")  # the prepended '▁' over the first word's first character
    assert not marks_absent_space("\u2581", "\u2581")  # a '▁' written in the text
    assert not marks_absent_space("\u0120", " ")  # a real space


def test_a_stand_alone_metaspace_before_the_first_word_is_no_piece_of_it():
    model, tokenizer = _metaspace_llama()
    examples = [Example(words=["x", "y"], labels={"pos": ["X", "Y"]}, spans=[Span(0, 1, "x")]),
                Example(words=["q", "y"], labels={"pos": ["Q", "Y"]}, spans=[Span(0, 1, "q")]),
                Example(words=["\u2581", "y"], labels={"pos": ["M", "Y"]})]  # fmt: skip
    acts = lensnb.extract((model, tokenizer), examples, progress=False)
    tokens = acts.tokens
    blank = tokens["token"].eq("\u2581") & ~tokens["special"] & tokens["text_id"].lt(2)
    assert blank.sum() == 4 and (tokens.loc[blank, "word_index"] == -1).all()  # leading and inner '▁' alike
    firsts = tokens[tokens["first_piece"]]
    assert firsts["token"].tolist()[:4] == ["x", "y", "q", "y"] and firsts["pos"].tolist() == [
        "X",
        "Y",
        "Q",
        "Y",
        "M",
        "Y",
    ]
    words = acts.pool_words("first")
    assert words.table["word"].tolist() == ["x", "y", "q", "y", "\u2581", "y"]
    assert not np.array_equal(words.values[:, 0], words.values[:, 2])  # 'x' and 'q' are not the same '▁' state
    spans = acts.pool_spans("mean")
    np.testing.assert_array_equal(spans.values[:, 0], words.values[:, 0])
    np.testing.assert_array_equal(spans.values[:, 1], words.values[:, 2])


def test_the_span_tables_bookkeeping_columns_are_all_reserved():
    from lensnb.examples import RESERVED_SPAN_COLUMNS
    from lensnb.token_table import _PAIR_COLUMNS, _SPAN_COLUMNS

    assert {*_SPAN_COLUMNS, *_PAIR_COLUMNS} - {"label"} <= set(RESERVED_SPAN_COLUMNS)


def test_values_and_layers_of_several_sites_say_how_to_take_one(acts):
    assert acts.sites == ("resid_post", "mlp_out")
    with pytest.raises(LensError) as error:
        _ = acts.values
    message = str(error.value)
    assert message.startswith("acts.values: expected Activations of one site (.values has no site argument)")
    assert "received Activations of 2 sites ('resid_post', 'mlp_out')" in message
    assert "acts.arrays['resid_post']" in message and "acts.select(sites='resid_post').values" in message
    assert "received None" not in message
    with pytest.raises(LensError, match=r"^acts\.layers: .*acts\.layers_by_site\['resid_post'\]"):
        _ = acts.layers
    with pytest.raises(LensError, match=r"^site: expected one of .*pass site="):  # layer() has a site argument
        acts.layer(1)
    np.testing.assert_array_equal(acts.select(sites="mlp_out").values, acts.arrays["mlp_out"])


def test_query_errors_name_the_expression_and_say_what_it_gave(acts):
    with pytest.raises(LensError) as error:
        acts.query("pos = 'NOUN'")
    message = str(error.value)
    assert message.startswith("expression: expected a condition that is True or False for each row")
    assert "single '=' assigns a column; compare with '=='" in message and "DataFrame ." not in message
    with pytest.raises(LensError, match=r"^expression: expected a query on the columns .*nonexistent"):
        acts.query("nonexistent == 1")
    with pytest.raises(LensError, match=r"^expression: .*It gave values of type int(32|64), not True or False"):
        acts.query("position + 1")
    with pytest.raises(LensError, match=r"^items: expected a condition"):  # select's own argument keeps its name
        acts.select(items="pos = 'NOUN'")
    assert len(acts.query("pos == 'NOUN'")) == int((acts.tokens["pos"] == "NOUN").sum())
