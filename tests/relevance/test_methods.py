"""The uniform call: restoring the model, targets, long inputs, words, HTML safety, IG vs Captum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lensnb
from lensnb.relevance import (
    AttentionRollout,
    AttnLRP,
    FullLRP,
    GradCAMAttention,
    InputXGradient,
    IntegratedGradients,
    RawAttention,
    TransformerAttribution,
)

TEXTS = ["The quick brown fox jumps over the lazy dog.", "A man, a plan, a canal: Panama!"]
ALL_METHODS = [
    TransformerAttribution,
    AttentionRollout,
    RawAttention,
    GradCAMAttention,
    FullLRP,
    InputXGradient,
    AttnLRP,
]


@pytest.fixture(scope="module")
def classifier(tiny_paths):
    torch.manual_seed(0)
    return lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)


def _state(model):
    # transformers installs its own output-capturing hooks at the first call asking for hidden states
    hooks = sum(
        "output_capturing_hook" not in getattr(hook, "__qualname__", "")
        for m in model.modules()
        for hook in [*m._forward_hooks.values(), *m._forward_pre_hooks.values()]
    )
    return (
        hooks,
        model.config._attn_implementation,
        model.training,
        [p.requires_grad for p in model.parameters()],
    )


def _forward(lens_model):
    encoded = lens_model.tokenizer(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        return lens_model.model(**encoded).logits.clone()


@pytest.mark.parametrize("method", ALL_METHODS)
def test_model_is_restored_after_a_call_and_after_an_error(classifier, method):
    before_state, before = _state(classifier.model), _forward(classifier)
    classifier.model.train()  # a model left in training mode is explained in eval mode and put back
    relevance = method(classifier, progress=False).attribute(TEXTS)
    assert classifier.model.training
    classifier.model.eval()
    assert _state(classifier.model) == before_state
    assert torch.equal(_forward(classifier), before)
    with pytest.raises(lensnb.LensError, match="target"):
        method(classifier, progress=False).attribute(TEXTS, target=7)  # fails inside the forward pass
    assert _state(classifier.model) == before_state
    assert torch.equal(_forward(classifier), before)
    assert np.isfinite(relevance.scores).all()


def test_predicted_target_by_default_and_per_text_targets(classifier):
    relevance = InputXGradient(classifier, progress=False).attribute(TEXTS)
    logits = _forward(classifier)
    assert relevance.segments["target"].tolist() == logits.argmax(-1).tolist()
    assert relevance.segments["predicted"].tolist() == logits.argmax(-1).tolist()
    chosen = InputXGradient(classifier, progress=False).attribute(TEXTS, target=[1, 0])
    assert chosen.segments["target"].tolist() == [1, 0]
    assert np.allclose(chosen.segments["target_score"], [logits[0, 1], logits[1, 0]], atol=1e-5)
    with pytest.raises(lensnb.LensError, match="target"):
        InputXGradient(classifier, progress=False).attribute(TEXTS, target=[1])


def test_long_inputs_are_refused_or_split_explicitly(classifier):
    long_text = " ".join(["the quick brown fox jumps over the lazy dog"] * 20)  # > 64 tokens
    with pytest.raises(lensnb.LensError, match="max_length"):
        AttnLRP(classifier, progress=False).attribute(long_text)
    windows = AttnLRP(classifier, progress=False, overflow="window").attribute(long_text)
    n_tokens = int(windows.texts["n_tokens"][0])
    assert len(windows.tokens) == n_tokens and np.isfinite(windows.scores).all()  # every token scored once
    assert len(windows.segments) > 1 and windows.segments["window"].tolist() == list(range(len(windows.segments)))
    with pytest.warns(UserWarning, match="dropped"):
        cut = AttnLRP(classifier, progress=False, overflow="truncate").attribute(long_text)
    assert len(cut.tokens) == 64


def test_words_aggregate_pieces(classifier):
    relevance = InputXGradient(classifier, progress=False).attribute("Café naïve résumé coöperate")
    tokens = relevance.text(0)
    words = relevance.words("sum")
    assert words["word"].tolist() == ["Café", "naïve", "résumé", "coöperate"]
    for _, word in words.iterrows():
        pieces = tokens[tokens["word_index"] == word["word_index"]]["score"]
        assert word["score"] == pytest.approx(pieces.sum())
        assert relevance.words("max").set_index("word_index").loc[word["word_index"], "score"] == pytest.approx(
            pieces.max()
        )
    with pytest.raises(lensnb.LensError, match="aggregate"):
        relevance.words("median")


def test_html_escapes_token_text(classifier):
    text = "<script>alert(1)</script> <img src=x onerror=alert(2)>"
    relevance = InputXGradient(classifier, progress=False).attribute(text)
    html = relevance._repr_html_() + relevance.to_html(0, words="sum")
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html or "&lt;" in html
    # Jupyter's MathJax would typeset "$5 or $" of a text such as "costs $5 or $10"
    assert relevance._repr_html_().startswith("<div class='lensnb-relevance tex2jax_ignore mathjax_ignore'>")


def test_integrated_gradients_matches_captum(classifier):
    from captum.attr import LayerIntegratedGradients

    method = IntegratedGradients(classifier, n_steps=16, dtype="float64", progress=False)
    relevance = method.attribute(TEXTS[0], target=1)
    model = method._model()
    encoded = classifier.tokenizer(TEXTS[0], return_tensors="pt")
    ids = encoded["input_ids"]

    def forward(input_ids):
        return model(input_ids=input_ids).logits

    captum = LayerIntegratedGradients(forward, model.get_input_embeddings())
    attributions, delta = captum.attribute(
        ids, baselines=method.baseline_ids(ids), target=1, n_steps=16, return_convergence_delta=True
    )
    assert np.allclose(relevance.scores, attributions.sum(-1)[0].detach().numpy(), rtol=1e-8, atol=1e-12)
    assert relevance.delta[0] == pytest.approx(float(delta[0]), abs=1e-9)


def test_input_x_gradient_layers_end_at_the_logit_for_a_linear_head(classifier):
    relevance = InputXGradient(classifier, dtype="float64", progress=False).attribute(TEXTS[0], layers=True)
    assert relevance.layer_scores.shape == (3, len(relevance.tokens))
    assert relevance.layers == (0, 1, 2)


def test_bad_arguments_name_themselves(classifier):
    with pytest.raises(lensnb.LensError, match="dtype"):
        AttnLRP(classifier, dtype="float16")
    with pytest.raises(lensnb.LensError, match="batch_size"):
        AttnLRP(classifier, batch_size=0)
    with pytest.raises(lensnb.LensError, match="overflow"):
        AttnLRP(classifier, overflow="cut").attribute(TEXTS)
    with pytest.raises(lensnb.LensError, match="layers"):
        RawAttention(classifier).attribute(TEXTS, layers=True)
    with pytest.raises(lensnb.LensError, match="n_steps"):
        IntegratedGradients(classifier, n_steps=1)
    base = lensnb.load_model(classifier.name)
    with pytest.raises(lensnb.LensError, match="task='sequence-classification'"):
        AttnLRP(base)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("method", [InputXGradient, AttnLRP, AttentionRollout])
def test_decoder_classifiers_read_their_last_real_token_in_padded_batches(tiny_paths, family, method):
    model = lensnb.load_model(tiny_paths[family], task="sequence-classification", num_labels=2)
    batched = method(model, dtype="float64", progress=False, batch_size=4).attribute(TEXTS)
    singles = [method(model, dtype="float64", progress=False, batch_size=1).attribute(t) for t in TEXTS]
    assert np.allclose(batched.scores, np.concatenate([s.scores for s in singles]), rtol=1e-8, atol=1e-13)
    expected = [float(s.segments["target_score"][0]) for s in singles]
    assert np.allclose(batched.segments["target_score"], expected, rtol=1e-9)


def test_a_decoder_classifier_is_read_where_its_head_reads_before_a_final_pad_token(tiny_paths):
    """GPT-2 set up with its EOS as the pad token: a text that ends in EOS is classified from the token before
    it (transformers reads the rightmost token that is not the pad id). The attention methods read the EOS row."""
    model = lensnb.load_model(tiny_paths["gpt2"], task="sequence-classification", num_labels=2)
    model.model.config.pad_token_id = model.tokenizer.eos_token_id
    text = "The dog ran home" + model.tokenizer.eos_token
    ids = model.tokenizer(text, return_tensors="pt")["input_ids"]
    read = ids.shape[1] - 2  # the token before the final EOS
    relevance = RawAttention(model, progress=False).attribute([text])
    from lensnb.extract import eager_attention

    with torch.no_grad(), eager_attention(model.model, True):
        attention = model.model(ids, output_attentions=True).attentions[-1][0].mean(0).numpy()
    row = np.delete(attention[read], read)
    np.testing.assert_allclose(np.delete(relevance.scores, read), row, atol=1e-6)


@pytest.mark.parametrize("method", [InputXGradient, AttnLRP])
def test_a_decoders_text_split_into_windows_is_refused(tiny_paths, method):
    """Each window of a decoder explains the token after its own end, inside the text: the windows would explain
    different tokens, shown as one explanation."""
    model = lensnb.load_model(tiny_paths["gpt2"], task="causal-lm")
    long_text = " ".join(TEXTS * 3)
    with pytest.raises(
        lensnb.LensError, match=r"^overflow: expected 'error' or 'truncate' for a decoder.*Text 0 needs"
    ):
        method(model, max_length=16, overflow="window", progress=False).attribute([long_text])
    assert len(method(model, overflow="window", progress=False).attribute(TEXTS).segments) == 2  # one window each


def test_segments_name_what_the_target_and_the_prediction_stand_for(tiny_paths, classifier):
    """A language model's target is a next-token id and a classifier's a class id: the segments say which token
    (decoded) or which class name (config.id2label) they are, so that views need not show bare ids."""
    from lensnb.relevance import OutputSpan

    model = lensnb.load_model(tiny_paths["gpt2"], task="causal-lm")
    relevance = InputXGradient(model, progress=False).attribute(TEXTS)
    segments = relevance.segments
    assert segments["target_name"].tolist() == [model.tokenizer.decode([t]) for t in segments["target"]]
    assert segments["predicted_name"].tolist() == [model.tokenizer.decode([t]) for t in segments["predicted"]]
    span = InputXGradient(model, progress=False).attribute(TEXTS[:1], target=OutputSpan(-2)).segments
    assert span["target"].tolist() == [-1] and span["target_name"].tolist() == [""]
    classes = InputXGradient(classifier, progress=False).attribute(TEXTS, target=[1, 0]).segments
    assert classes["target_name"].tolist() == [classifier.model.config.id2label[1], classifier.model.config.id2label[0]]
