"""The real embedded model (all-MiniLM-L6-v2) on real sentences from UD English EWT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lensnb
from lensnb import Example
from lensnb.data import read_conllu

from .conftest import require_data

pytestmark = pytest.mark.integration


def ewt_sentences(limit: int) -> list[Example]:
    """The first ``limit`` sentences of UD EWT dev, with their raw text and UPOS."""
    return read_conllu(require_data("ud_english_ewt/en_ewt-ud-dev.conllu"))[:limit]


@pytest.fixture(scope="module")
def sentences():
    return ewt_sentences(120)


def test_real_sentences_match_the_model_and_align(minilm, sentences):
    # UD splits "cannot" into the words "can" + "not"; the tokenizer keeps one piece "cannot",
    # so "not" has no token of its own: that is reported, never dropped silently
    with pytest.warns(UserWarning, match=r"'not' \(text 27\)"):
        acts = lensnb.extract(minilm, sentences, batch_size=16, progress=False)
    assert acts.values.shape[0] == 7 and acts.values.shape[2] == 384
    tokens = acts.tokens
    unpieced = {27: 1}  # text 27: "... cannot find a way ..."
    words = tokens[tokens.word_index >= 0].groupby("text_id")["word_index"].nunique()
    assert words.tolist() == [len(s.words) - unpieced.get(i, 0) for i, s in enumerate(sentences)]
    assert tokens["upos"].notna().sum() == sum(len(s.words) for s in sentences) - sum(unpieced.values())
    assert tokens.loc[(tokens.text_id == 27) & (tokens.token == "cannot"), "upos"].tolist() == ["AUX"]
    # exact equality with the model's own output for single inputs
    for text_id in (0, 7, 31):
        encoded = minilm.tokenizer(sentences[text_id].resolved_text(), return_tensors="pt")
        with torch.inference_mode():
            expected = torch.stack(minilm.model(**encoded, output_hidden_states=True).hidden_states)[:, 0].numpy()
        got = acts.values[:, (tokens.text_id == text_id).to_numpy()]
        np.testing.assert_allclose(got, expected, atol=5e-5)
    one_by_one = lensnb.extract(minilm, sentences[:3], batch_size=1, progress=False)
    encoded = minilm.tokenizer(sentences[2].resolved_text(), return_tensors="pt")
    with torch.inference_mode():
        expected = torch.stack(minilm.model(**encoded, output_hidden_states=True).hidden_states)[:, 0].numpy()
    np.testing.assert_array_equal(one_by_one.values[:, (one_by_one.tokens.text_id == 2).to_numpy()], expected)


def test_real_store_round_trip_and_text_pooling(minilm, sentences, tmp_path):
    with pytest.warns(UserWarning, match="no token of their own"):  # 'cannot' again (text 27)
        acts = lensnb.extract(minilm, sentences[:40], store=tmp_path / "ewt", dtype="float16", progress=False)
    loaded = lensnb.Activations.load(tmp_path / "ewt")
    np.testing.assert_array_equal(loaded.values, acts.values)
    pooled = loaded.pool_texts("mean", include_special=True)
    # mean pooling over all tokens of the last layer is how sentence-transformers embeds a sentence
    encoded = minilm.tokenizer([s.resolved_text() for s in sentences[:2]], return_tensors="pt", padding=True)
    with torch.inference_mode():
        last = minilm.model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1)
    expected = ((last * mask).sum(1) / mask.sum(1)).numpy()
    np.testing.assert_allclose(pooled.values[-1, :2], expected, atol=2e-3)  # float16 store
    assert loaded.model["name"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_words_keep_the_characters_the_tokenizer_normalises_away(minilm):
    """MiniLM's tokenizer strips accents and variation selectors from its pieces; the word
    table shows the words as written (a decomposed "café", "❤️")."""
    texts = ["cafe\u0301 au lait", "I \u2764\ufe0f it"]
    example = Example(words=["cafe\u0301", "au", "lait"], labels={"pos": ["N", "P", "N"]})
    for inputs, words in ((texts, [t.split() for t in texts]), ([example], [example.words])):
        table = lensnb.extract(minilm, inputs, layers=[0], progress=False).pool_words().table
        assert table["word"].tolist() == [words[t][w] for t, w in zip(table["text_id"], table["word_index"])]
