"""AttnLRP equals input x gradient of the modified graph, built here a second, independent way.

The independent graph is a float64 copy of the model whose LayerNorm/RMSNorm and
activation modules are replaced by modules computing AttnLRP's rules, and whose
attention runs through a registered attention function that writes the uniform rule
out literally (``0.5 * (a @ stopgrad(b)) + 0.5 * (stopgrad(a) @ b)``) for Q K^T and A V.
lensnb instead scales the gradients leaving the Q, K, V projections (and a gated MLP's
factors): the two must agree.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import transformers as tf

import lensnb
from lensnb.errors import LensError
from lensnb.relevance import AttnLRP, InputXGradient, OutputSpan

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Keys to the cabinet are on the table."]
DECODERS = ["gpt2", "gpt_neox", "llama"]


def _uniform_matmul(a, b):
    return 0.5 * (a @ b.detach()) + 0.5 * (a.detach() @ b)


def uniform_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Eager attention with the uniform rule on both bilinear products."""
    groups = query.shape[1] // key.shape[1]
    if groups > 1:  # grouped-query attention
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = _uniform_matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, : key.shape[-2]]
    elif getattr(module, "is_causal", False):  # transformers skips the mask it can express as "causal"
        length = scores.shape[-1]
        future = torch.ones(length, length, dtype=torch.bool, device=scores.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    output = _uniform_matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


class StopGradNorm(torch.nn.Module):
    def __init__(self, original):
        super().__init__()
        self.original = original

    def forward(self, x):
        o = self.original
        if isinstance(o, torch.nn.LayerNorm):
            centred = x - x.mean(-1, keepdim=True)
            std = torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + o.eps)
            return centred / std.detach() * o.weight + o.bias
        eps = getattr(o, "variance_epsilon", getattr(o, "eps", 1e-6))
        return o.weight * (x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps).detach())


class IdentityRule(torch.nn.Module):
    def __init__(self, original):
        super().__init__()
        self.original = original

    def forward(self, x):
        y = self.original(x)
        sign = torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
        return y.detach() + (x - x.detach()) * (y / (x + 1e-10 * sign)).detach()


class UniformGatedMLP(torch.nn.Module):
    def __init__(self, original):
        super().__init__()
        self.original = original

    def forward(self, x):
        o = self.original
        gate, up = o.act_fn(o.gate_proj(x)), o.up_proj(x)
        return o.down_proj(0.5 * gate * up.detach() + 0.5 * gate.detach() * up)


def modified_copy(model):
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    ALL_ATTENTION_FUNCTIONS["lensnb_test_uniform"] = uniform_attention
    ALL_MASK_ATTENTION_FUNCTIONS["lensnb_test_uniform"] = ALL_MASK_ATTENTION_FUNCTIONS["eager"]
    clone = copy.deepcopy(model).double().eval()
    clone.config._attn_implementation = "lensnb_test_uniform"
    for module in list(clone.modules()):
        for child_name, child in list(module.named_children()):
            kind = type(child).__name__
            if isinstance(child, torch.nn.LayerNorm) or kind.endswith("RMSNorm"):
                setattr(module, child_name, StopGradNorm(child))
            elif type(child).__module__ == "transformers.activations" or isinstance(
                child, (torch.nn.GELU, torch.nn.SiLU, torch.nn.Tanh)
            ):
                setattr(module, child_name, IdentityRule(child))
            elif kind == "LlamaMLP":
                setattr(module, child_name, UniformGatedMLP(child))
    for parameter in clone.parameters():
        parameter.requires_grad_(False)
    return clone


def unregister():
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    for mapping in (ALL_ATTENTION_FUNCTIONS, ALL_MASK_ATTENTION_FUNCTIONS):
        if "lensnb_test_uniform" in mapping._local_mapping:
            del mapping["lensnb_test_uniform"]


def reference_relevance(lens_model, text, target):
    try:
        clone = modified_copy(lens_model.model)
        ids = lens_model.tokenizer(text, return_tensors="pt")["input_ids"]
        embeddings = clone.get_input_embeddings()(ids).detach().requires_grad_(True)
        logits = clone(inputs_embeds=embeddings).logits
        score = logits[0, target] if logits.dim() == 2 else logits[0, -1, target]
        (gradient,) = torch.autograd.grad(score, [embeddings])
        return (embeddings * gradient).sum(-1)[0].detach().numpy()
    finally:
        unregister()


@pytest.fixture(scope="module")
def decoders(tiny_paths):
    return {family: lensnb.load_model(tiny_paths[family], task="causal-lm") for family in DECODERS}


@pytest.fixture(scope="module")
def classifier(tiny_paths):
    torch.manual_seed(0)
    return lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)


@pytest.mark.parametrize("family", DECODERS)
def test_attnlrp_equals_input_x_gradient_of_the_modified_graph(decoders, family):
    model = decoders[family]
    target = 17
    ours = AttnLRP(model, dtype="float64", progress=False).attribute(TEXTS[0], target=target)
    expected = reference_relevance(model, TEXTS[0], target)
    assert np.allclose(ours.scores, expected, rtol=1e-8, atol=1e-12)
    assert ours.segments["target"].tolist() == [target]


def test_attnlrp_encoder_classifier_matches_the_modified_graph(classifier):
    ours = AttnLRP(classifier, dtype="float64", progress=False).attribute(TEXTS[1], target=1)
    assert np.allclose(ours.scores, reference_relevance(classifier, TEXTS[1], 1), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("family", DECODERS)
@pytest.mark.parametrize("switch", ["uniform_rule", "norm_stop_gradient", "identity_rule"])
def test_each_rule_changes_the_result(decoders, family, switch):
    model = decoders[family]
    full = AttnLRP(model, dtype="float64", progress=False).attribute(TEXTS[0], target=5).scores
    ablated = AttnLRP(model, dtype="float64", progress=False, **{switch: False}).attribute(TEXTS[0], target=5).scores
    assert not np.allclose(full, ablated, rtol=1e-4, atol=1e-8)
    if switch == "uniform_rule":  # with no rule left at all it is plain input x gradient
        plain = AttnLRP(model, dtype="float64", progress=False, uniform_rule=False, norm_stop_gradient=False,
                        identity_rule=False).attribute(TEXTS[0], target=5).scores  # fmt: skip
        ixg = InputXGradient(model, dtype="float64", progress=False).attribute(TEXTS[0], target=5).scores
        assert np.allclose(plain, ixg, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("family", DECODERS)
def test_decoder_padded_batches_equal_one_by_one(decoders, family):
    model = decoders[family]
    method = AttnLRP(model, dtype="float64", progress=False)
    batched = method.attribute(TEXTS, layers=True)
    singles = [method.attribute(t, layers=True) for t in TEXTS]
    assert np.allclose(batched.scores, np.concatenate([s.scores for s in singles]), rtol=1e-8, atol=1e-13)
    assert np.allclose(
        batched.layer_scores, np.concatenate([s.layer_scores for s in singles], axis=1), rtol=1e-8, atol=1e-13
    )
    assert batched.segments["target"].tolist() == [int(s.segments["target"][0]) for s in singles]


def test_output_span_target_sums_the_span_logits(decoders):
    model = decoders["gpt2"]
    ids = model.tokenizer(TEXTS[0], return_tensors="pt")["input_ids"]
    span = OutputSpan(3, 6)
    relevance = InputXGradient(model, dtype="float64", progress=False).attribute(TEXTS[0], target=span)
    with torch.no_grad():
        logits = model.model.double()(ids).logits[0]
        model.model.float()
    expected = sum(float(logits[p - 1, ids[0, p]]) for p in range(3, 6))
    assert relevance.segments["target_score"][0] == pytest.approx(expected, rel=1e-9)
    assert relevance.segments["target"][0] == -1


def _other_architecture(kind: str, tokenizer_path, folder) -> lensnb.LensModel:
    """A tiny random causal LM that a family adapter matches by structure but whose modules differ."""
    tokenizer = tf.AutoTokenizer.from_pretrained(tokenizer_path)
    sizes = dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    decoder = dict(sizes, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                   max_position_embeddings=64)  # fmt: skip
    gpt = dict(sizes, n_embd=32, n_layer=2, n_head=4, n_positions=64)
    builders = {
        "phi3": lambda: tf.Phi3ForCausalLM(tf.Phi3Config(**decoder, num_key_value_heads=2, pad_token_id=0)),
        "gptj": lambda: tf.GPTJForCausalLM(tf.GPTJConfig(**gpt, rotary_dim=4)),
        "gpt_bigcode": lambda: tf.GPTBigCodeForCausalLM(tf.GPTBigCodeConfig(**gpt, multi_query=True)),
        "phi": lambda: tf.PhiForCausalLM(tf.PhiConfig(**decoder)),
    }
    torch.manual_seed(0)
    builders[kind]().eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return lensnb.load_model(folder, task="causal-lm")


@pytest.mark.parametrize(
    ("kind", "family", "missing"),
    [
        ("phi3", "llama", ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_up_proj"]),
        ("gptj", "gpt2", ["no attn.c_attn", "attn.q_proj"]),
        ("gpt_bigcode", "gpt2", ["attn.c_attn 48 wide, not 3 x the hidden width 32"]),
    ],
)
def test_attnlrp_refuses_a_structural_match_whose_projections_it_does_not_know(
    tiny_paths, tmp_path, kind, family, missing
):
    """Phi-3 (fused qkv_proj, gate_up_proj) matches "llama", GPT-J (q/k/v_proj) and GPT-BigCode
    (multi-query c_attn) match "gpt2": AttnLRP must refuse them, not run without the uniform rule."""
    model = _other_architecture(kind, tiny_paths["llama"], tmp_path / kind)
    assert model.adapter is not None and model.adapter.name == family
    with pytest.raises(LensError) as caught:
        AttnLRP(model, dtype="float64", progress=False)
    message = str(caught.value)
    assert message.startswith("model: ")
    for fragment in [f"{family} family", "Block 0", "uniform_rule=False", *missing]:
        assert fragment in message
    # the other rules alone are still allowed, and say nothing about projections
    relevance = AttnLRP(model, dtype="float64", progress=False, uniform_rule=False).attribute(TEXTS[0], target=5)
    assert np.isfinite(relevance.scores).all()


def test_attnlrp_on_an_ungated_mlp_matches_the_modified_graph(tiny_paths, tmp_path):
    """Phi-1 matches "llama" with q/k/v_proj but an ungated fc1/fc2 MLP: the gated pair is optional
    (OPTIONAL_SCALES), the attention's uniform rule is placed, and the result is AttnLRP's."""
    model = _other_architecture("phi", tiny_paths["llama"], tmp_path / "phi")
    assert model.adapter is not None and model.adapter.name == "llama"
    full = AttnLRP(model, dtype="float64", progress=False).attribute(TEXTS[0], target=17).scores
    assert np.allclose(full, reference_relevance(model, TEXTS[0], 17), rtol=1e-8, atol=1e-12)
    ablated = AttnLRP(model, dtype="float64", progress=False, uniform_rule=False).attribute(TEXTS[0], target=17)
    assert not np.allclose(full, ablated.scores, rtol=1e-4, atol=1e-8)
