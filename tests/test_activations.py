"""Selection and pooling on Activations, checked against plain numpy."""

from __future__ import annotations

import numpy as np
import pytest

import lensnb
from lensnb import Example, Span


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
    sub = acts.select(layers=[0, -1], items="pos == 'NOUN'", sites="resid_post")
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
    with pytest.raises(LensError, match="'mean' for a decoder"):
        probing_data(decoder, text_task("label", pool="cls"))
    assert decoder.pool_texts("last").arrays["resid_post"].shape[1] == 2


def test_queries_see_the_callers_variables_like_pandas(acts):
    # `n` was also a name inside the query code, which shadowed the caller's
    threshold, n = 3, 1  # noqa: F841 (read by the queries)
    assert (acts.query("position < @threshold").tokens["position"] < 3).all()
    assert acts.query("position < @n").tokens["position"].tolist() == [0] * len(set(acts.tokens["text_id"]))
    picked = acts.select(items="position < @threshold")
    assert len(picked) == int((acts.tokens["position"] < threshold).sum())


def test_no_rows_is_an_empty_selection(acts):
    empty = acts.select(items=[])
    assert len(empty) == 0 and empty.arrays["resid_post"].shape == (3, 0, 32) and empty.spans.empty
