"""Chefer et al.'s LRP rules and transformer attribution, checked rule by rule in float64.

The reference below is written the way the authors' code computes each rule (four
products per Linear, the clamp-based safe divide, Clone as x * sum(R_k / x), the Add
renormalised over the whole (batch-1) tensor, the Add of the attention scores and the
attention mask), module by module over tiny random BERT classifiers, and lensnb's pass
must agree with it, for the paper's rules and for the baseline rules (``layers_lrp.py``:
separate positive and negative denominators per Linear, the Add not renormalised).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import lensnb
from lensnb.relevance import (
    AttentionRollout,
    FullLRP,
    GradCAMAttention,
    PartialLRP,
    RawAttention,
    TransformerAttribution,
)
from lensnb.relevance.lrp_rules import add_relevance, linear_relevance, matmul_relevance, safe_divide
from lensnb.relevance.rollout import gradcam_row, rollout_row

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man, a plan.",
    "The keys to the cabinet are on the table.",
]


@pytest.fixture(scope="module")
def classifier(tiny_paths):
    torch.manual_seed(0)
    return lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=3)


# -- the reference, written as the authors' code computes it ------------------------------


def ref_safe_divide(a, b):
    den = b.clamp(min=1e-9) + b.clamp(max=1e-9)
    den = den + den.eq(0).type(den.type()) * 1e-9
    return a / den * b.ne(0).type(b.type())


def ref_linear(x, w, r):
    pw, nw = w.clamp(min=0), w.clamp(max=0)
    px, nx = x.clamp(min=0), x.clamp(max=0)
    z1, z2 = px @ pw.T, nx @ nw.T
    s = ref_safe_divide(r, z1 + z2)
    return px * (s @ pw) + nx * (s @ nw)


def ref_linear_baseline(x, w, r):
    """layers_lrp.Linear with alpha=1, beta=0: each sign's product gets all of R."""
    pw, nw = w.clamp(min=0), w.clamp(max=0)
    px, nx = x.clamp(min=0), x.clamp(max=0)
    return px * (ref_safe_divide(r, px @ pw.T) @ pw) + nx * (ref_safe_divide(r, nx @ nw.T) @ nw)


def ref_add_baseline(x0, x1, r):
    s = ref_safe_divide(r, x0 + x1)
    return x0 * s, x1 * s


def ref_add(x0, x1, r):
    s = ref_safe_divide(r, x0 + x1)
    a, b = x0 * s, x1 * s
    a_sum, b_sum = a.sum(), b.sum()
    a_fact = ref_safe_divide(a_sum.abs(), a_sum.abs() + b_sum.abs()) * r.sum()
    b_fact = ref_safe_divide(b_sum.abs(), a_sum.abs() + b_sum.abs()) * r.sum()
    return a * ref_safe_divide(a_fact, a.sum()), b * ref_safe_divide(b_fact, b.sum())


def ref_matmul(a, b, r):
    s = ref_safe_divide(r, a @ b)
    return a * (s @ b.transpose(-1, -2)), b * (a.transpose(-1, -2) @ s)


def ref_clone(x, relevances):
    return x * sum(ref_safe_divide(r, x) for r in relevances)


def _drop_batch(x):
    x = x.detach()
    return x[0] if x.dim() == 3 else x


def reference_pass(lens_model, text, target, rules="ours", mask_add=True):
    """R_A of every block, the input relevance and the attention gradients, batch of one.

    ``mask_add=False`` leaves out the Add of the scores and the (all-zero) attention mask,
    as lensnb did before it followed the authors' code there."""
    linear = ref_linear if rules == "ours" else ref_linear_baseline
    add = ref_add if rules == "ours" else ref_add_baseline
    model = lens_model.model.double().eval()
    saved = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            hooks.append(module.register_forward_hook(
                lambda m, args, out, name=name: saved.__setitem__(name, (_drop_batch(args[0]), _drop_batch(out)))
            ))  # fmt: skip
    encoded = lens_model.tokenizer(text, return_tensors="pt")
    model.set_attn_implementation("eager")
    try:
        embeddings = model.get_input_embeddings()(encoded["input_ids"]).detach().requires_grad_(True)
        out = model(inputs_embeds=embeddings, output_attentions=True, output_hidden_states=True)
        grads = torch.autograd.grad(out.logits[0, target], list(out.attentions))
    finally:
        for hook in hooks:
            hook.remove()
        model.set_attn_implementation("sdpa")
    hidden = [h.detach()[0] for h in out.hidden_states]
    attn = [a.detach()[0] for a in out.attentions]
    heads = model.config.num_attention_heads

    def split(x):
        t, d = x.shape
        return x.view(t, heads, d // heads).transpose(0, 1)

    def merge(x):
        h, t, d = x.shape
        return x.transpose(0, 1).reshape(t, h * d)

    r = torch.zeros(1, out.logits.shape[-1], dtype=torch.float64)
    r[0, target] = 1.0
    x, _ = saved["classifier"]
    r = linear(x, model.classifier.weight, r)
    x, _ = saved["bert.pooler.dense"]
    r = linear(x, model.bert.pooler.dense.weight, r)
    stream = torch.zeros_like(hidden[-1])
    stream[0] = r[0]
    attention_relevance = {}
    for b in reversed(range(len(attn))):
        p = f"bert.encoder.layer.{b}."
        layer = model.bert.encoder.layer[b]
        h_in, _ = saved[p + "intermediate.dense"]
        u, d2 = saved[p + "output.dense"]
        r_d2, r_skip = add(d2, h_in, stream)
        r_u = linear(u, layer.output.dense.weight, r_d2)
        r_h = ref_clone(h_in, [linear(h_in, layer.intermediate.dense.weight, r_u), r_skip])
        ctx, d1 = saved[p + "attention.output.dense"]
        r_d1, r_res = add(d1, hidden[b], r_h)
        r_ctx = linear(ctx, layer.attention.output.dense.weight, r_d1)
        _, v = saved[p + "attention.self.value"]
        _, q = saved[p + "attention.self.query"]
        _, k = saved[p + "attention.self.key"]
        r_a, r_v = ref_matmul(attn[b], split(v), split(r_ctx))
        r_a, r_v = r_a / 2, r_v / 2
        attention_relevance[b] = r_a
        if mask_add:  # softmax: identity; then the Add of the scaled scores and the mask (zeros here)
            scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(q.shape[-1] // heads)
            r_a, _ = add(scores, torch.zeros_like(scores), r_a)
        r_q, r_kt = ref_matmul(split(q), split(k).transpose(-1, -2), r_a)
        r_q, r_kt = r_q / 2, r_kt / 2
        x = hidden[b]
        stream = ref_clone(x, [
            linear(x, layer.attention.self.query.weight, merge(r_q)),
            linear(x, layer.attention.self.key.weight, merge(r_kt.transpose(-1, -2))),
            linear(x, layer.attention.self.value.weight, merge(r_v)),
            r_res,
        ])  # fmt: skip
    model.float()
    attention_relevance = {b: r.detach() for b, r in attention_relevance.items()}
    return attention_relevance, stream.detach(), [g[0].detach() for g in grads], attn


def reference_transformer_attribution(attention_relevance, grads, start_layer):
    maps = []
    for b in range(len(grads)):
        cam = (grads[b] * attention_relevance[b]).clamp(min=0).mean(0)
        maps.append(cam)
    t = maps[0].shape[0]
    eye = torch.eye(t, dtype=torch.float64)
    maps = [(m + eye) / (m + eye).sum(-1, keepdim=True) for m in maps]
    joint = maps[start_layer]
    for i in range(start_layer + 1, len(maps)):
        joint = maps[i] @ joint
    row = joint[0].clone()
    row[0] = row.min()
    return row


# -- single rules on hand-worked numbers -------------------------------------------------


def test_safe_divide_adds_epsilon_and_zeroes_zero_denominators():
    out = safe_divide(
        torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.tensor([0.5, 0.0, -1e-9], dtype=torch.float64)
    )
    assert out[0] == pytest.approx(1.0 / (0.5 + 1e-9), rel=1e-15)
    assert out[1] == 0.0
    assert torch.isfinite(out[2])  # -1e-9 + 1e-9 == 0: guarded


def test_linear_rule_by_hand():
    # x = (1, -2), W = [[1, 2], [-1, 1]]: Z_0 = 1*1 + (-2)*(0) ... worked out below
    x = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    w = torch.tensor([[1.0, 2.0], [-1.0, 1.0]], dtype=torch.float64)
    r = torch.tensor([[0.6, 0.4]], dtype=torch.float64)
    # output 0: x+ W+ = 1*1 = 1 (x1 = -2 pairs with W- = 0); x- W- = 0 -> Z0 = 1: R to x0 = 0.6
    # output 1: x+ W+ = 1*0 = 0; x- W- = -2 * 0 (W[1,1] = 1 > 0) -> Z1 = 0: nothing
    expected = torch.tensor([[0.6, 0.0]], dtype=torch.float64)
    got = linear_relevance(x, w, r)
    assert torch.allclose(got, expected, atol=1e-8)
    assert torch.allclose(got, ref_linear(x, w, r), atol=1e-12)
    # the baseline rules give each sign its own denominator: x = (1, -2), W = [[1, -1]]
    x2 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    w2 = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    r2 = torch.tensor([[1.0]], dtype=torch.float64)
    assert torch.allclose(
        linear_relevance(x2, w2, r2, rules="baseline"), torch.tensor([[1.0, 1.0]], dtype=torch.float64), atol=1e-8
    )
    assert torch.allclose(linear_relevance(x2, w2, r2), torch.tensor([[1 / 3, 2 / 3]], dtype=torch.float64), atol=1e-8)


def test_add_rule_renormalises_per_example():
    x0 = torch.tensor([[[1.0, 1.0]], [[2.0, 0.0]]], dtype=torch.float64)
    x1 = torch.tensor([[[1.0, -3.0]], [[2.0, 1.0]]], dtype=torch.float64)
    r = torch.tensor([[[0.5, 0.5]], [[1.0, 0.0]]], dtype=torch.float64)
    a, b = add_relevance(x0, x1, r)
    for i in range(2):
        ra, rb = ref_add(x0[i : i + 1], x1[i : i + 1], r[i : i + 1])
        assert torch.allclose(a[i : i + 1], ra) and torch.allclose(b[i : i + 1], rb)
        assert float(a[i].sum() + b[i].sum()) == pytest.approx(float(r[i].sum()), abs=1e-8)


def test_matmul_rule_halves():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 4, generator=g, dtype=torch.float64)
    b = torch.rand(4, 2, generator=g, dtype=torch.float64)
    r = torch.rand(3, 2, generator=g, dtype=torch.float64)
    ra, rb = matmul_relevance(a, b, r)
    ea, eb = ref_matmul(a, b, r)
    assert torch.allclose(ra, ea / 2) and torch.allclose(rb, eb / 2)
    assert float(ra.sum()) == pytest.approx(float(r.sum()) / 2, rel=1e-8)


# -- the whole pass against the reference -------------------------------------------------


@pytest.mark.parametrize("text_index", [0, 1])
def test_lrp_pass_matches_the_reference_and_conserves(classifier, text_index):
    text, target = TEXTS[text_index], 1
    attention_relevance, stream, grads, _ = reference_pass(classifier, text, target)
    full = FullLRP(classifier, rules="ours", dtype="float64", progress=False).attribute(
        text, target=target, layers=True
    )
    ours = full.layer(0)
    expected = stream.sum(-1).numpy()
    # FullLRP zeroes the [CLS] entry of the output scores, not of the levels
    assert np.allclose(ours, expected, rtol=1e-7, atol=1e-10)
    assert abs(expected.sum() - 1.0) < 1e-6  # conservative: sums to the start value
    assert abs(full.delta[0]) < 1e-6
    for level in range(3):
        assert abs(np.nansum(full.layer(level)) - 1.0) < 1e-6
    # transformer attribution from every start layer
    for start in (0, 1):
        relevance = TransformerAttribution(classifier, start_layer=start, dtype="float64", progress=False).attribute(
            text, target=target
        )
        expected_row = reference_transformer_attribution(attention_relevance, grads, start).numpy()
        assert np.allclose(relevance.scores, expected_row, rtol=1e-7, atol=1e-12)
    # partial LRP (baseline rules differ; checked for the "ours" rules against R_A here)
    partial = PartialLRP(classifier, rules="ours", dtype="float64", progress=False).attribute(text, target=target)
    expected_partial = attention_relevance[1].clamp(min=0).mean(0)[0].numpy().copy()
    expected_partial[0] = 0.0
    assert np.allclose(partial.scores, expected_partial, rtol=1e-7, atol=1e-14)


@pytest.fixture(scope="module")
def deep_classifier(classifier):
    """Four random blocks: one of their attention scores is within 1e-8 of 0, where the
    stabiliser of the mask's Add makes that step differ from the identity."""
    import transformers

    config = transformers.BertConfig(**classifier.model.config.to_dict())
    config.num_hidden_layers = 4
    torch.manual_seed(1)
    model = transformers.BertForSequenceClassification(config).eval()
    return lensnb.LensModel.wrap(model, classifier.tokenizer, name="deep-tiny-bert")


@pytest.mark.parametrize("rules", ["ours", "baseline"])
def test_full_lrp_applies_the_add_rule_to_the_attention_mask_as_the_authors_code_does(deep_classifier, rules):
    text, target = TEXTS[0], 1
    _, stream, _, _ = reference_pass(deep_classifier, text, target, rules=rules)
    _, without_mask_add, _, _ = reference_pass(deep_classifier, text, target, rules=rules, mask_add=False)
    ours = (
        FullLRP(deep_classifier, rules=rules, dtype="float64", progress=False)
        .attribute(text, target=target, layers=True)
        .layer(0)
    )
    expected, skipped = stream.sum(-1).numpy(), without_mask_add.sum(-1).numpy()
    scale = np.abs(expected[1:]).max()  # the tokens after [CLS], whose level-0 entry dwarfs them
    assert np.allclose(ours, expected, rtol=1e-7, atol=1e-7 * scale)
    if rules == "baseline":  # the step is visible here: the test tells the two apart
        assert np.abs(skipped - expected).max() > 1e-3 * scale


def test_baseline_rules_are_not_conservative(classifier):
    relevance = FullLRP(classifier, dtype="float64", progress=False).attribute(TEXTS[0], target=0)
    assert relevance.parameters["rules"] == "baseline"
    assert abs(relevance.delta[0]) > 0.1  # relevance can double at every Linear


def test_rollout_rows_sum_to_one(classifier):
    relevance = AttentionRollout(classifier, dtype="float64", progress=False).attribute(TEXTS, layers=True)
    for level in range(3):
        sums = [relevance.layer(level)[relevance.tokens["text_id"].to_numpy() == t].sum() for t in range(3)]
        assert np.allclose(sums, 1.0, atol=1e-12)
    g = torch.Generator().manual_seed(1)
    maps = {b: torch.rand(2, 5, 5, generator=g, dtype=torch.float64) for b in range(3)}
    valid = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    row, levels = rollout_row(maps, torch.zeros(2, dtype=torch.long), valid, 3)
    assert torch.allclose(row.sum(-1), torch.ones(2, dtype=torch.float64))
    assert torch.all(row[1, 3:] == 0)


def test_gradcam_flat_cam_gives_zeros_and_a_warning():
    attention = torch.full((1, 2, 4, 4), 0.25, dtype=torch.float64)
    gradients = -torch.ones((1, 2, 4, 4), dtype=torch.float64)  # negative weights: cam <= 0 everywhere
    valid = torch.ones(1, 4, dtype=torch.bool)
    with pytest.warns(RuntimeWarning, match="GradCAM"):
        row = gradcam_row(attention, gradients, torch.zeros(1, dtype=torch.long), valid)
    assert torch.all(row == 0) and not torch.isnan(row).any()


def test_gradcam_row_is_min_max_scaled(classifier):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        relevance = GradCAMAttention(classifier, dtype="float64", progress=False).attribute(TEXTS)
    assert np.all(relevance.scores >= 0) and np.all(relevance.scores <= 1) and not np.isnan(relevance.scores).any()


@pytest.mark.parametrize(
    "method, options",
    [
        (TransformerAttribution, {"start_layer": 0}),
        (TransformerAttribution, {"start_layer": -1}),
        (AttentionRollout, {}),
        (RawAttention, {}),
        (PartialLRP, {}),
        (FullLRP, {}),
    ],
)
def test_padded_batches_equal_one_by_one(classifier, method, options):
    batched = method(classifier, dtype="float64", progress=False, **options).attribute(TEXTS, target=2)
    single = np.concatenate(
        [
            method(classifier, dtype="float64", progress=False, batch_size=1, **options).attribute(t, target=2).scores
            for t in TEXTS
        ]
    )
    assert np.allclose(batched.scores, single, rtol=1e-9, atol=1e-14)
    assert len(set(np.diff(batched.texts["n_tokens"]))) > 1  # the texts really differ in length


def test_float32_is_close_to_float64(classifier):
    r32 = TransformerAttribution(classifier, progress=False).attribute(TEXTS, target=1)
    r64 = TransformerAttribution(classifier, dtype="float64", progress=False).attribute(TEXTS, target=1)
    assert np.allclose(r32.scores, r64.scores, rtol=1e-3, atol=1e-6)
    assert next(classifier.model.parameters()).dtype == torch.float32  # the float64 run used a copy


def test_lrp_methods_refuse_decoders_and_other_families(tiny_paths):
    gpt2 = lensnb.load_model(tiny_paths["gpt2"], task="causal-lm")
    with pytest.raises(lensnb.LensError, match="model"):
        TransformerAttribution(gpt2)
    with pytest.raises(lensnb.LensError, match="start_layer"):
        TransformerAttribution(lensnb.load_model(tiny_paths["bert"], task="sequence-classification"), start_layer=7)
