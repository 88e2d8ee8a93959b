"""Extraction on tiny random models of all four families."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

import lensnb
from lensnb import Example, LensError, Span
from lensnb.activations import AttentionMaps
from lensnb.examples import as_examples
from lensnb.token_table import tokenize_examples
from lensnb.windows import plan_windows, window_coverage

TEXTS = [
    "The keys to the cabinet are on the table.",
    "Hello wörld 你好 🤗 antidisestablishmentarianism",
    "A man, a plan, a canal: Panama!",
    "Short.",
]


def model_hidden_states(lens_model, text: str) -> np.ndarray:
    """The model's own output_hidden_states for one text, shape (layer, token, dim)."""
    encoded = lens_model.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        output = lens_model.model(**encoded, output_hidden_states=True)
    return torch.stack(output.hidden_states)[:, 0].numpy()


def test_hidden_states_equal_output_hidden_states_exactly(tiny):
    acts = lensnb.extract(tiny, TEXTS, batch_size=1, progress=False)
    assert acts.layers == (0, 1, 2)
    text_ids = acts.tokens["text_id"].to_numpy()
    for text_id, text in enumerate(TEXTS):
        expected = model_hidden_states(tiny, text)
        np.testing.assert_array_equal(acts.values[:, text_ids == text_id], expected)
        assert acts.tokens[text_ids == text_id]["token_id"].tolist() == tiny.tokenizer(text)["input_ids"]


def hidden_state_requests(lens_model, run) -> list[bool]:
    """``output_hidden_states`` of each forward pass of the base model during ``run()``."""
    requests: list[bool] = []
    handle = lens_model.base_model.register_forward_pre_hook(
        lambda module, args, kwargs: requests.append(bool(kwargs.get("output_hidden_states"))), with_kwargs=True
    )
    try:
        run()
    finally:
        handle.remove()
    return requests


@pytest.mark.parametrize("threaded", [False, True], ids=["in-line", "writer-thread"])
def test_layers_stream_to_the_writer_once_they_match_output_hidden_states(tiny, monkeypatch, threaded):
    """In line, the first batch checks the block hooks against output_hidden_states and the
    others stream every layer as it is computed; with a writer thread nothing streams."""
    monkeypatch.setattr(sys.modules["lensnb.extract"], "_core_to_spare", lambda device: threaded)
    runs = {}
    requests = hidden_state_requests(
        tiny, lambda: runs.update(acts=lensnb.extract(tiny, TEXTS, batch_size=1, progress=False))
    )
    assert requests == ([True] * len(TEXTS) if threaded else [True] + [False] * (len(TEXTS) - 1))
    text_ids = runs["acts"].tokens["text_id"].to_numpy()
    for text_id, text in enumerate(TEXTS):
        np.testing.assert_array_equal(runs["acts"].values[:, text_ids == text_id], model_hidden_states(tiny, text))
    subset = lensnb.extract(tiny, TEXTS, layers=[2, 0], batch_size=1, progress=False)  # a subset
    np.testing.assert_array_equal(subset.values, runs["acts"].values[list(subset.layers)])
    assert set(subset.layers) == {0, 2}


def test_a_stream_that_differs_from_output_hidden_states_is_not_used(tiny_models, monkeypatch):
    """Should a block's output not be the model's hidden state, extraction keeps to output_hidden_states."""
    from lensnb.layer_stream import LayerStream

    tiny = tiny_models["llama"]
    monkeypatch.setattr(sys.modules["lensnb.extract"], "_core_to_spare", lambda device: False)
    real = LayerStream._block_output
    monkeypatch.setattr(
        LayerStream, "_block_output", lambda self, layer, module, args, output: self._emit(layer, output * 2)
    )
    runs = {}
    requests = hidden_state_requests(
        tiny, lambda: runs.update(acts=lensnb.extract(tiny, TEXTS, batch_size=1, progress=False))
    )
    assert requests == [True] * len(TEXTS)
    monkeypatch.setattr(LayerStream, "_block_output", real)
    text_ids = runs["acts"].tokens["text_id"].to_numpy()
    for text_id, text in enumerate(TEXTS):
        np.testing.assert_array_equal(runs["acts"].values[:, text_ids == text_id], model_hidden_states(tiny, text))


def test_padded_batches_match_one_by_one(tiny):
    batched = lensnb.extract(tiny, TEXTS, batch_size=4, progress=False)
    single = lensnb.extract(tiny, TEXTS, batch_size=1, progress=False)
    np.testing.assert_allclose(batched.values, single.values, atol=2e-5, rtol=0)
    assert len(batched.tokens) == sum(len(tiny.tokenizer(t)["input_ids"]) for t in TEXTS)  # no padding rows


def test_sub_layer_sites_add_up_to_the_residual_stream(tiny, family):
    acts = lensnb.extract(
        tiny, TEXTS, sites=("resid_post", "resid_mid", "attn_out", "mlp_out"), batch_size=2, progress=False
    )
    post, mid = acts.arrays["resid_post"], acts.arrays["resid_mid"]
    attn, mlp = acts.arrays["attn_out"], acts.arrays["mlp_out"]
    assert acts.layers_by_site["attn_out"] == (1, 2) and post.shape[0] == 3
    blocks = tiny.adapter.block_list(tiny.base_model)
    for layer in (1, 2):
        if family == "bert":  # post-LN: mid = LN(attn + pre), post = LN(mlp + mid)
            block = blocks[layer - 1]
            with torch.inference_mode():
                mid_expected = block.attention.output.LayerNorm(
                    torch.from_numpy(attn[layer - 1] + post[layer - 1])
                ).numpy()
                post_expected = block.output.LayerNorm(torch.from_numpy(mlp[layer - 1] + mid[layer - 1])).numpy()
            np.testing.assert_allclose(mid[layer - 1], mid_expected, atol=1e-5)
            np.testing.assert_allclose(post[layer], post_expected, atol=1e-5)
        else:  # pre-LN: mid = pre + attn; post = mid + mlp (before the final norm at the last layer)
            np.testing.assert_array_equal(mid[layer - 1], post[layer - 1] + attn[layer - 1])
            if layer < 2:
                np.testing.assert_allclose(post[layer], mid[layer - 1] + mlp[layer - 1], atol=1e-5)


def test_attention_probabilities_and_implementation_restored(tiny):
    before = tiny.model.config._attn_implementation
    acts = lensnb.extract(tiny, TEXTS, attentions=True, batch_size=2, progress=False)
    assert tiny.model.config._attn_implementation == before
    maps = acts.attentions.get(1)
    n_tokens = int((acts.tokens["text_id"] == 1).sum())
    assert maps.shape == (2, 4, n_tokens, n_tokens)
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    if tiny.is_decoder:  # causal: nothing above the diagonal
        assert np.abs(np.triu(maps, k=1)).max() == 0
    with torch.inference_mode():
        tiny.model.set_attn_implementation("eager")
        try:
            expected = tiny.model(**tiny.tokenizer(TEXTS[1], return_tensors="pt"), output_attentions=True).attentions
        finally:
            tiny.model.set_attn_implementation(before)
    np.testing.assert_allclose(maps, torch.stack(expected)[:, 0].numpy(), atol=1e-6)


def test_attention_maps_name_the_positions_each_window_fed(tiny, tmp_path):
    long_text = " ".join(f"word{i}" for i in range(40))
    acts = lensnb.extract(
        tiny, [TEXTS[3], long_text], attentions=True, max_length=16, stride=4, overflow="window",
        store=tmp_path / "store", progress=False,
    )  # fmt: skip
    tokens = acts.tokens
    short = acts.attentions.positions(0)
    np.testing.assert_array_equal(short, np.arange(int((tokens["text_id"] == 0).sum())))
    ids = tokens[tokens["text_id"] == 1].set_index("position")["token_id"]
    n_windows = int(acts.texts.loc[acts.texts["text_id"] == 1, "n_windows"].iloc[0])
    assert n_windows >= 3
    seen = set()
    for window in range(n_windows):
        positions = acts.attentions.positions(1, window)
        maps = acts.attentions.get(1, window)
        assert maps.shape[-1] == len(positions) <= 16 and len(set(positions)) == len(positions)
        seen.update(positions.tolist())
        fed = torch.from_numpy(ids.loc[positions].to_numpy(dtype=np.int64)[None])
        before = tiny.model.config._attn_implementation
        with torch.inference_mode():
            tiny.model.set_attn_implementation("eager")
            try:
                expected = tiny.model(input_ids=fed, output_attentions=True).attentions
            finally:
                tiny.model.set_attn_implementation(before)
        np.testing.assert_allclose(maps, torch.stack(expected)[:, 0].numpy(), atol=1e-5)
    assert seen == set(ids.index)  # every position fed by some window
    _check_fed_runs(acts)
    loaded = lensnb.Activations.load(tmp_path / "store")
    np.testing.assert_array_equal(loaded.attentions.positions(1, 1), acts.attentions.positions(1, 1))
    older = AttentionMaps(acts.attentions.values, acts.attentions.index[["text_id", "window", "offset", "length"]],
                          acts.attentions.layers, acts.attentions.n_heads)  # fmt: skip
    with pytest.raises(LensError, match="extract it again"):
        older.positions(1, 1)
    with pytest.raises(LensError, match=r"text_id, window: expected a text \(and window\)"):
        acts.attentions.positions(1, n_windows)


def _check_fed_runs(acts) -> None:
    """Each input's index row names its prefix specials, its slice of the content and its suffix
    specials (AttentionMaps' docstring), whatever the window."""
    tokens = acts.tokens
    for entry in acts.attentions.index.itertuples():
        text = tokens[tokens["text_id"] == entry.text_id]
        special = text["special"].to_numpy()
        n_prefix = int(np.argmin(special)) if not special.all() else len(special)
        n_suffix = int(np.argmin(special[::-1]))
        assert (entry.prefix, entry.suffix_start) == (n_prefix, len(text) - n_suffix), entry
        assert n_prefix <= entry.content_start < entry.content_stop <= len(text) - n_suffix, entry
        assert entry.length == n_prefix + (entry.content_stop - entry.content_start) + n_suffix, entry
        kept = text[text["window"] == entry.window]["position"]  # what this input is kept for lies in its content
        content = kept[~text.loc[kept.index, "special"]]
        assert entry.content_start <= content.min() and content.max() < entry.content_stop, entry
        positions = acts.attentions.positions(entry.text_id, entry.window)
        np.testing.assert_array_equal(
            positions,
            np.r_[0:n_prefix, entry.content_start : entry.content_stop, len(text) - n_suffix : len(text)],
        )


def test_attention_index_names_prefix_content_and_suffix_of_every_window(tiny):
    text = " ".join(["The keys to the cabinet are on the table, said the researcher."] * 4)
    acts = lensnb.extract(tiny, [TEXTS[0], text], stride=8, max_length=32, attentions=True, progress=False)
    index = acts.attentions.index
    assert (index["text_id"] == 1).sum() >= 3
    _check_fed_runs(acts)
    short = index[index["text_id"] == 0].iloc[0]  # a text that fits: all its content, in one input
    n_short = int((acts.tokens["text_id"] == 0).sum())
    assert short["content_stop"] - short["content_start"] == n_short - short["prefix"] - (
        n_short - short["suffix_start"]
    )


def test_words_without_a_token_are_reported_for_what_happened_to_them(tiny_models):
    tiny = tiny_models["bert"]
    with pytest.warns(UserWarning) as caught:
        acts = lensnb.extract(tiny, [Example(words=["hello", "\u200b", "world", "\ufeff"])], progress=False)
    assert acts.tokens["word_index"].max() == 2
    message = str(caught[0].message)
    assert message.startswith("2 word(s) have no token of their own: 2 produced no token at all")
    assert "'\\u200b' (text 0), '\\ufeff' (text 0)" in message and "merged" not in message
    # one token covers the 'th' and the 'e' words: 'e' shares it
    assert tiny.tokenizer.tokenize("the") == ["the"]
    with pytest.warns(UserWarning) as caught:
        lensnb.extract(tiny, [Example(words=["th", "e", "keys"], text="the keys")], progress=False)
    message = str(caught[0].message)
    assert message.startswith("1 word(s) have no token of their own: 1 share a token with an earlier word")
    assert "'e' (text 0)" in message and "produced no token" not in message


def test_special_tokens_written_in_the_text_are_special_and_in_no_word(tiny_models):
    """GPT-2's start token is written before a text ("<|endoftext|>The dog"): the tokenizer gives it
    the special id, and it is flagged special as the ones the tokenizer adds (dropped by drop_special,
    left out of text pools, in no word, re-fed as a prefix). An unknown token standing for a word's
    characters ([UNK] for an emoji) stays an ordinary token of its word."""
    gpt2 = tiny_models["gpt2"]
    bos = gpt2.tokenizer.bos_token
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        acts = lensnb.extract(gpt2, [Example(words=["The", "dog", "ran"], text=bos + "The dog ran")], progress=False)
    table = acts.tokens
    assert table["special"].tolist()[0] and table["token"].tolist()[0] == bos and table["word_index"].tolist()[0] == -1
    assert not table["special"].iloc[1:].any() and table["first_piece"].iloc[1]  # 'The' starts on its own piece
    with pytest.warns(UserWarning, match="a decoder's first token"):
        np.testing.assert_array_equal(acts.pool_texts("first").values[:, 0], acts.values[:, 1])
    np.testing.assert_allclose(acts.pool_texts("mean").values[:, 0], acts.values[:, 1:].mean(axis=1), atol=1e-8)
    assert bos not in acts.drop_special().tokens["token"].tolist()
    with pytest.warns(
        UserWarning, match=r"1 are special tokens written in the text \(e.g. '<\|endoftext\|>' \(text 0\)\)"
    ):
        plain = lensnb.extract(gpt2, [f"{bos} The dog"], progress=False)  # a word of its own: reported as such
    assert plain.tokens["special"].tolist()[0] and plain.tokens["word_index"].tolist()[0] == -1
    bert = tiny_models["bert"]
    unknown = bert.tokenizer.unk_token_id
    acts = lensnb.extract(bert, ["keys \U0001f511 here [MASK] [SEP]"], progress=False)
    row = acts.tokens[acts.tokens["token_id"] == unknown]
    assert len(row) == 1 and not row["special"].item() and row["word_index"].item() == 1
    # a mask written in a text stands for a word (the masked verb of an agreement item); a [SEP] does not
    masked = acts.tokens[acts.tokens["token_id"] == bert.tokenizer.mask_token_id]
    assert len(masked) == 1 and not masked["special"].item() and masked["word_index"].item() == 3
    separators = acts.tokens[acts.tokens["token_id"] == bert.tokenizer.sep_token_id]
    assert len(separators) == 2 and separators["special"].all() and (separators["word_index"] == -1).all()


@pytest.mark.parametrize("family", ["gpt2", "gpt_neox", "llama"])
def test_decoders_build_no_key_value_cache(tiny_models, family):
    """A decoder's forward pass builds every layer's keys and values for generation unless told not to:
    memory extraction never reads (about 1 GiB a batch of 2,048 tokens for a 7B model in float16)."""
    model = tiny_models[family]
    caches = []
    handle = model.base_model.register_forward_hook(
        lambda module, args, kwargs, output: caches.append(getattr(output, "past_key_values", None)), with_kwargs=True
    )
    try:
        lensnb.extract(model, ["the keys to the cabinet", "a"], progress=False)
    finally:
        handle.remove()
    assert caches and all(cache is None for cache in caches)


def test_layers_subset_negative_and_float16(tiny_models):
    tiny = tiny_models["bert"]
    full = lensnb.extract(tiny, TEXTS, progress=False)
    part = lensnb.extract(tiny, TEXTS, layers=[-1, 0], dtype="float16", progress=False)
    assert part.layers == (0, 2) and part.values.dtype == np.float16
    np.testing.assert_allclose(part.values.astype(np.float32), full.values[[0, 2]], rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(part.layer(-1), part.values[1])


def test_long_text_windows_cover_every_token_once(tiny):
    text = " ".join(["The keys to the cabinet are on the table, said the researcher."] * 12)
    full_ids = tiny.tokenizer(text, verbose=False)["input_ids"]
    assert len(full_ids) > 3 * tiny.max_length
    acts = lensnb.extract(tiny, [text, "Short."], stride=8, batch_size=3, progress=False)
    rows = acts.tokens[acts.tokens["text_id"] == 0]
    assert rows["token_id"].tolist() == full_ids  # every token, once, in order
    assert rows["position"].tolist() == list(range(len(full_ids)))
    assert rows["window"].max() >= 3
    assert int(rows["special"].sum()) == sum(
        tiny.tokenizer(text, verbose=False, return_special_tokens_mask=True)["special_tokens_mask"]
    )
    # each kept state is the model's state of that token in the window it was kept from
    windows = _windows_of(tiny, len(full_ids), stride=8)
    n_prefix, n_suffix = _specials(tiny)
    for number, window in enumerate(windows):
        ids = full_ids[:n_prefix] + full_ids[n_prefix + window.content_start : n_prefix + window.content_end]
        ids += full_ids[len(full_ids) - n_suffix :] if n_suffix else []
        with torch.inference_mode():
            states = tiny.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0].numpy()
        kept = rows[(rows["window"] == number) & ~rows["special"]]
        local = kept["position"].to_numpy() - window.content_start  # prefix + (content index - start)
        np.testing.assert_allclose(acts.values[-1, kept.index.to_numpy()], states[local], atol=2e-5)


def _specials(lens_model) -> tuple[int, int]:
    mask = lens_model.tokenizer("word", return_special_tokens_mask=True)["special_tokens_mask"]
    prefix = next(i for i, m in enumerate(mask) if not m)
    return prefix, len(mask) - 1 - max(i for i, m in enumerate(mask) if not m)


def _windows_of(lens_model, n_tokens: int, stride: int):
    n_prefix, n_suffix = _specials(lens_model)
    return plan_windows(
        n_tokens - n_prefix - n_suffix, n_prefix, n_suffix, lens_model.max_length, stride, lens_model.is_decoder
    )


@pytest.mark.parametrize("causal", [False, True])
def test_window_plans_tile_the_content(causal):
    for n_content in (1, 5, 61, 62, 63, 200, 1001):
        for capacity, stride in ((62, 0), (62, 15), (62, 61), (10, 3)):
            windows = plan_windows(n_content, 1, 1, capacity + 2, stride, causal)
            np.testing.assert_array_equal(window_coverage(windows, n_content), 1)
            for window in windows:
                assert window.content_end - window.content_start <= capacity
                assert window.content_start <= window.keep_start <= window.keep_end <= window.content_end
            if causal:  # each token is kept where it has the most left context: its first window
                for window, following in zip(windows, windows[1:]):
                    assert following.keep_start == window.content_end


def test_truncation_warns_and_error_mode_raises(tiny_models):
    tiny = tiny_models["gpt2"]
    text = "word " * 200
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        acts = lensnb.extract(tiny, [text], overflow="truncate", progress=False)
    assert [str(w.message).split(":")[0] for w in caught] == ["overflow='truncate'"]  # one warning, no other
    assert "dropped" in str(caught[0].message)
    assert len(acts.tokens) == tiny.max_length
    with pytest.raises(LensError, match="max_length"):
        lensnb.extract(tiny, [text], overflow="error", progress=False)


def test_annotated_examples_carry_labels_spans_and_text_labels(tiny):
    examples = [
        Example(words=["The", "keys", "are", "here"], labels={"pos": ["DET", "NOUN", "VERB", "ADV"]},
                spans=[Span(0, 2, "NP")], meta={"sentiment": 1}),
        Example(words=["东京", "🤗", "ok"], labels={"pos": ["PROPN", "SYM", "INTJ"]}, spans=[Span(1, 3, ("X", "Y"))],
                meta={"sentiment": 0}),
    ]  # fmt: skip
    acts = lensnb.extract(tiny, examples, progress=False)
    labelled = acts.tokens.dropna(subset=["pos"])
    assert labelled["pos"].tolist() == ["DET", "NOUN", "VERB", "ADV", "PROPN", "SYM", "INTJ"]
    assert labelled["first_piece"].all()
    assert acts.texts["sentiment"].tolist() == [1, 0]
    assert acts.spans["label"].tolist()[0] == "NP" and list(acts.spans["label"].tolist()[1]) == ["X", "Y"]
    spans = acts.pool_spans("endpoints")
    assert spans.values.shape == (3, 2, 2 * tiny.hidden_size)


def test_model_without_hidden_states_is_refused(tiny_models):
    base = tiny_models["bert"]

    class NoHiddenStates(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = base.model.config
            self.embed = torch.nn.Embedding(10, 4)

        def forward(self, input_ids, attention_mask=None, **kwargs):
            return {"last_hidden_state": torch.zeros(*input_ids.shape, 32)}

    wrapped = lensnb.LensModel.wrap(NoHiddenStates(), base.tokenizer, name="no-hidden")
    with pytest.raises(LensError, match="hidden states"):
        lensnb.extract(wrapped, ["A text."], progress=False)


def test_batches_respect_the_token_and_attention_budgets(tiny_models):
    extract_module = sys.modules["lensnb.extract"]
    tiny = tiny_models["gpt2"]
    texts = [" ".join(["word"] * n) for n in (1, 3, 60, 5, 2, 40, 7, 30, 9, 20)]
    plan = tokenize_examples(
        as_examples(texts), tiny.tokenizer, max_length=64, stride=8, overflow="window", causal=True
    )
    lengths = np.diff(plan.segment_offsets)
    batches = extract_module.batch_segments(plan, np.arange(plan.n_segments), 4, 64)
    assert sorted(np.concatenate(batches).tolist()) == list(range(plan.n_segments))  # each input once
    for batch in batches:
        width = lengths[batch].max()
        assert len(batch) <= 4
        assert len(batch) == 1 or (len(batch) * width <= 64 and len(batch) * width**2 <= 64 * 128)
    # inputs of similar length together (sorted over the whole corpus), the largest batches first
    widths = sorted((lengths[batch].max() for batch in batches), reverse=True)
    by_width = np.argsort(-lengths, kind="stable")
    assert np.concatenate(sorted(batches, key=lambda b: -lengths[b].max())).tolist() == by_width.tolist()
    padded = [len(batch) * lengths[batch].max() for batch in batches]
    assert padded == sorted(padded, reverse=True) and max(widths) == lengths.max()
    small = lensnb.extract(tiny, texts, batch_size=4, max_batch_tokens=64, progress=False)
    single = lensnb.extract(tiny, texts, batch_size=1, progress=False)
    np.testing.assert_allclose(small.values, single.values, atol=2e-5, rtol=0)


def test_plain_texts_keep_their_words_without_copies():
    from lensnb.examples import TextWords

    example = as_examples(["  two   words "])[0]
    assert isinstance(example.words, TextWords)
    assert list(example.words) == ["two", "words"] and example.words[-1] == "words"
    assert example.word_offsets().tolist() == [[2, 5], [8, 13]]


def test_layer_stream_hands_on_each_layer_and_removes_its_hooks(tiny_models):
    from lensnb.layer_stream import LayerStream

    tiny = tiny_models["gpt2"]
    blocks = tiny.adapter.block_list(tiny.base_model)
    ids = torch.tensor([tiny.tokenizer("The keys are here.")["input_ids"]])
    with torch.inference_mode():  # transformers installs its own capturing hooks on the first request
        tiny.base_model(input_ids=ids, output_hidden_states=True)
    hooks_before = [(len(b._forward_hooks), len(b._forward_pre_hooks)) for b in blocks]
    seen = {}
    with torch.inference_mode(), LayerStream(blocks, (0, 1, 2)) as stream:
        same, output = stream.matches(lambda: tiny.base_model(input_ids=ids, output_hidden_states=True))
        assert same
        stream.sink = seen.__setitem__
        plain = tiny.base_model(input_ids=ids)
        stream.finish(plain.last_hidden_state)
    assert sorted(seen) == [0, 1, 2]
    for layer in (0, 1, 2):  # what came out is the model's own hidden state, bit for bit
        assert torch.equal(seen[layer], output.hidden_states[layer])
    assert [(len(b._forward_hooks), len(b._forward_pre_hooks)) for b in blocks] == hooks_before
    with torch.inference_mode(), LayerStream(blocks, (1,)) as stream:  # no hidden states returned: no match
        same, _ = stream.matches(lambda: tiny.base_model(input_ids=ids))
    assert not same
    with pytest.raises(LensError, match=r"layers: expected layer numbers in 0\.\.2"):
        LayerStream(blocks, (0, 3))
    with pytest.raises(LensError, match="layers"):
        LayerStream(blocks, (True,))
    with pytest.raises(LensError, match="blocks"):
        LayerStream([], (0,))
