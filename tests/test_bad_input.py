"""Every bad input gets a LensError that names the argument and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

import lensnb
from lensnb import Example, LensError, Span, SpanPair

GOOD = ["A fine sentence."]

BAD_INPUTS = {
    "empty list": ([], "inputs"),
    "empty string": ([""], "inputs[0]"),
    "whitespace only": (["ok", "  \t\n"], "inputs[1]"),
    "not a string": (["ok", 42], "inputs[1]"),
    "None": (None, "inputs"),
    "a mapping": ({"text": "x"}, "inputs"),
    "no words": ([Example(words=[])], "inputs[0].words"),
    "blank word": ([Example(words=["a", " "])], "inputs[0].words[1]"),
    "labels too short": ([Example(words=["a", "b"], labels={"pos": ["X"]})], "inputs[0].labels['pos']"),
    "labels not a list": ([Example(words=["a"], labels={"pos": "X"})], "inputs[0].labels['pos']"),
    "reserved label name": ([Example(words=["a"], labels={"token": ["X"]})], "inputs[0].labels"),
    "span past the end": ([Example(words=["a", "b"], spans=[Span(1, 3)])], "inputs[0].spans[0]"),
    "empty span": ([Example(words=["a", "b"], spans=[Span(1, 1)])], "inputs[0].spans[0]"),
    "negative span": ([Example(words=["a", "b"], spans=[Span(-1, 1)])], "inputs[0].spans[0]"),
    "pair out of range": (
        [Example(words=["a", "b"], span_pairs=[SpanPair(Span(0, 1), Span(2, 3))])],
        "inputs[0].span_pairs[0].second",
    ),
    "words not in text": (["ok", Example(words=["a", "z"], text="a b")], "inputs[1].words[1]"),
    "label named like the word table's text": ([Example(words=["a"], labels={"word": ["A"]})], "inputs[0].labels"),
    "label name not a string": (
        [Example(words=["a"], labels={"pos": ["X"]}), Example(words=["b"], labels={0: ["Y"]})],
        "inputs[1].labels",
    ),
    "meta name not a string": ([Example(words=["a"], meta={1: "x"})], "inputs[0].meta"),
    "unpaired surrogate in a text": (["ok", "half an emoji \ud83d here"], "inputs[1]"),
    "unpaired surrogate in a word": ([Example(words=["a", "b\udc00"])], "inputs[0].words[1]"),
    "unpaired surrogate in an example's text": ([Example(words=["a"], text="a \ud800")], "inputs[0].text"),
    "unpaired surrogate in a label": (
        ["ok", Example(words=["a", "b"], labels={"pos": ["X", "Y\ud800"]})],
        "inputs[1].labels['pos'][1]",
    ),
    "unpaired surrogate in a span label": (
        [Example(words=["a", "b"], spans=[Span(0, 1, "q\udc00")])],
        "inputs[0].spans[0].label",
    ),
    "unpaired surrogate in a meta value": ([Example(words=["a"], meta={"src": "z\ud800"})], "inputs[0].meta['src']"),
    "mapping with unknown field": ([{"words": ["a"], "tags": ["X"]}], "inputs[0]"),
    "labels as a list": ([Example(words=["a"], labels=["X"])], "inputs[0].labels"),
    "meta as a string": ([Example(words=["a"], meta="positive")], "inputs[0].meta"),
    "a span not in a list": ([Example(words=["a", "b"], spans=Span(0, 1))], "inputs[0].spans"),
    "spans None": ([Example(words=["a", "b"], spans=None)], "inputs[0].spans"),
    "span pairs None": ([Example(words=["a", "b"], span_pairs=None)], "inputs[0].span_pairs"),
    "span with float ends": ([Example(words=["a", "b"], spans=[Span(0.0, 1.0)])], "inputs[0].spans[0]"),
    "only characters the tokenizer drops": (["ok", "\u200b\u200d"], "inputs[1]"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_are_named(tiny_models, case):
    inputs, name = BAD_INPUTS[case]
    with pytest.raises(LensError) as info:
        lensnb.extract(tiny_models["bert"], inputs, progress=False)
    message = str(info.value)
    assert message.startswith(name) and "expected" in message, message


BAD_OPTIONS = {
    "layer too high": (dict(layers=[3]), "layers"),
    "layer too low": (dict(layers=[-4]), "layers"),
    "layer not an int": (dict(layers=["1"]), "layers"),
    "repeated layer": (dict(layers=[1, -2]), "layers"),
    "no layers": (dict(layers=[]), "layers"),
    "unknown site": (dict(sites=("resid_pre_typo",)), "sites"),
    "layer 0 of attn_out": (dict(sites=("attn_out",), layers=[0]), "layers"),
    "empty sites": (dict(sites=()), "sites"),
    "batch size zero": (dict(batch_size=0), "batch_size"),
    "token budget zero": (dict(max_batch_tokens=0), "max_batch_tokens"),
    "bad dtype": (dict(dtype="int8"), "dtype"),
    "dtype as a list": (dict(dtype=["float32"]), "dtype"),
    "dtype as a numpy type of another width": (dict(dtype=np.float64), "dtype"),
    "max_length above the model's": (dict(max_length=10_000), "max_length"),
    "negative stride": (dict(stride=-1), "stride"),
    "stride as large as a window": (dict(stride=100, max_length=16), "stride"),
    "unknown overflow": (dict(overflow="cut"), "overflow"),
    "unknown label piece": (dict(label_piece="middle"), "label_piece"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_options_are_named(tiny_models, case):
    options, name = BAD_OPTIONS[case]
    text = GOOD if "stride" not in options else ["word " * 40]
    with pytest.raises(LensError) as info:
        lensnb.extract(tiny_models["bert"], text, progress=False, **options)
    assert str(info.value).startswith(name) and "expected" in str(info.value), str(info.value)


def test_numpy_integer_span_ends_are_integers(tiny_models):
    plain = Example(words=["a", "big", "dog"], spans=[Span(1, 3, "NP")])
    numpy = Example(words=["a", "big", "dog"], spans=[Span(np.int64(1), np.int64(3), "NP")])
    first, second = (lensnb.extract(tiny_models["bert"], [e], progress=False) for e in (plain, numpy))
    np.testing.assert_array_equal(first.pool_spans("mean").values, second.pool_spans("mean").values)


def test_float16_overflow_is_refused_not_stored_as_inf(tiny_models, tmp_path):
    tiny = tiny_models["bert"]
    block = tiny.adapter.block_list(tiny.base_model)[0]
    # first among the block's hooks, so that transformers' own capture of hidden states sees it too
    handle = block.register_forward_hook(
        lambda module, args, output: (output[0] * 1e6, *output[1:]) if isinstance(output, tuple) else output * 1e6,
        prepend=True,
    )
    try:
        with pytest.raises(LensError, match="^dtype: expected float32 for this model.*beyond float16"):
            lensnb.extract(tiny, GOOD * 3, dtype="float16", store=tmp_path / "s", progress=False)
        assert lensnb.extract(tiny, GOOD, dtype="float32", progress=False).values.max() > 65504
    finally:
        handle.remove()
    assert np.isfinite(lensnb.extract(tiny, GOOD, dtype="float16", progress=False).values).all()


def test_bad_model_argument(tiny_models):
    with pytest.raises(LensError, match="^model"):
        lensnb.extract("bert-base-uncased", GOOD)


def test_unicode_cjk_and_emoji_are_fine(tiny_models):
    acts = lensnb.extract(
        tiny_models["bert"], ["東京は日本の首都です。", "🤗🚀", "naïve café", "Ω≈ç√∫"], progress=False
    )
    assert sorted(set(acts.tokens["text_id"])) == [0, 1, 2, 3]
    assert acts.tokens.groupby("text_id")["word_index"].max().tolist() == [0, 0, 1, 0]


def test_activations_reject_bad_selections(tiny_models):
    acts = lensnb.extract(tiny_models["bert"], GOOD, progress=False)
    for call, name in (
        (lambda: acts.layer(7), "layer"),
        (lambda: acts.layer(1.5), "layer"),
        (lambda: acts.select(items=[0, 999]), "items"),
        (lambda: acts.select(items=[True, False]), "items"),
        (lambda: acts.select(items="no_such_column == 1"), "items"),
        (lambda: acts.select(items="position"), "items"),  # not a yes/no query
        (lambda: acts.select(items=[0, 1, 1]), "items"),  # a row twice: spans would land on other tokens
        (lambda: acts.select(layers=[0, 9]), "layers"),
        (lambda: acts.pool_words("median"), "how"),
        (lambda: acts.select(layers=1.5), "layers"),
        (lambda: acts.select(layers=np.array(1)), "layers"),
        (lambda: acts.select(layers=[]), "layers"),
        (lambda: acts.select(layers=[1, 1]), "layers"),
        (lambda: acts.select(layers=[1, -2]), "layers"),  # the same layer twice
        (lambda: acts.select(layers=[True]), "layers"),
        (lambda: acts.select(sites=5), "sites"),
        (lambda: acts.select(sites=[]), "sites"),
        (lambda: acts.select(sites=["resid_post", "resid_post"]), "sites"),
        (lambda: acts.select(sites="mlp_out"), "sites"),
        (lambda: acts.select(items=[0, True]), "items"),
        (lambda: acts.select(layers=[0]).select(layers=[1]), "layers"),  # not among those kept
        (lambda: acts.pool_texts("endpoints"), "how"),
        (lambda: acts.pool_words("endpoints"), "how"),
        (lambda: acts.pool_texts("first", include_special=True), "include_special"),
    ):
        with pytest.raises(LensError) as info:
            call()
        assert str(info.value).startswith(name), str(info.value)


def test_select_checks_layers_and_sites_as_extract_does(tiny_models):
    tiny = tiny_models["bert"]
    acts = lensnb.extract(tiny, GOOD, progress=False)
    for layers in ([], [1, 1], 1.5):
        with pytest.raises(LensError) as from_select:
            acts.select(layers=layers)
        with pytest.raises(LensError) as from_extract:
            lensnb.extract(tiny, GOOD, layers=layers, progress=False)
        assert str(from_select.value) == str(from_extract.value)
    assert acts.select(layers=np.array([2, 0])).layers == (0, 2)  # as extract gives them: ascending
    assert acts.select(layers=np.int64(-1)).layers == (2,)
    assert acts.select(items=[True] * len(acts)).tokens.equals(acts.tokens)


def test_dtypes_and_numpy_arguments_in_any_spelling(tiny_models):
    tiny = tiny_models["bert"]
    reference = lensnb.extract(tiny, GOOD, dtype="float16", layers=[0, 2], progress=False)
    for dtype in (np.float16, np.dtype("float16"), __import__("torch").float16):
        acts = lensnb.extract(tiny, GOOD, dtype=dtype, layers=np.array([0, 2]), stride=np.int64(2), progress=False)
        assert acts.values.dtype == np.float16 and acts.layers == (0, 2)
        np.testing.assert_array_equal(acts.values, reference.values)


def test_a_model_without_a_config_is_named(tiny_models):
    import torch

    with pytest.raises(LensError, match="^model: expected a Hugging Face transformers model"):
        lensnb.extract((torch.nn.Linear(2, 2), tiny_models["bert"].tokenizer), GOOD, progress=False)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda lm, tmp: lensnb.extract(lm, ["a cat sat"], attentions="no", progress=False), "attentions"),
        (
            lambda lm, tmp: lensnb.extract(lm, ["a cat sat"], store=tmp / "s", overwrite="no", progress=False),
            "overwrite",
        ),
        (lambda lm, tmp: lensnb.extract(lm, ["a cat sat"], store=tmp / "s", durable="no", progress=False), "durable"),
        (lambda lm, tmp: lensnb.extract(lm, ["a cat sat"], progress="no"), "progress"),
        (
            lambda lm, tmp: lensnb.extract(lm, ["a cat sat"], progress=False).pool_texts(include_special="no"),
            "include_special",
        ),
        (
            lambda lm, tmp: lensnb.extract(lm, ["a cat sat"], progress=False).save(tmp / "x", overwrite="no"),
            "overwrite",
        ),
    ],
)
def test_flags_must_be_true_or_false(tiny_models, tmp_path, call, named):
    # "no" is truthy: taken as given it turned the option on (overwrite="no" replaced a store)
    with pytest.raises(LensError, match=rf"^{named}: expected True or False, received 'no'"):
        call(tiny_models["bert"], tmp_path)


def test_trust_remote_code_must_be_a_bool_so_that_no_means_no(tiny_paths):
    with pytest.raises(LensError, match=r"^trust_remote_code: expected True or False, received 'no'"):
        lensnb.load_model(tiny_paths["bert"], trust_remote_code="no")
    with pytest.raises(LensError, match=r"^use_safetensors: expected None, True or False, received 'yes'"):
        lensnb.load_model(tiny_paths["bert"], use_safetensors="yes")
