"""The LRP pass of Chefer et al. (2021) through a stock post-LayerNorm encoder classifier.

The model runs once, unmodified, with forward hooks keeping the input and output of
every Linear (query, key, value, attention output, both feed-forward layers, and the
head's Linears on the first token); the attention probabilities come from the model
itself (eager attention). Relevance then flows backward from a one-hot at the logits
through those saved tensors with the rules of :mod:`lensnb.relevance.lrp_rules`:
head Linears -> first token of the last layer -> per block: LayerNorm (identity) ->
residual Add -> FFN Linears (GELU identity) -> Clone -> LayerNorm -> Add -> attention
output Linear -> A@V (half to A, kept per head as the attention relevance R_A, half to
V) -> softmax (identity) -> the attention mask's Add -> Q K^T (halves) -> Q, K, V Linears
-> Clone.

Only the work that is read is done: in the last block relevance lives on the first
token alone (the head reads it), so its feed-forward and query Linears run on that row;
the pass stops at the lowest block whose R_A a method needs unless the input relevance
is wanted.

References
----------
Chefer, Gur & Wolf 2021, "Transformer Interpretability Beyond Attention
Visualization", CVPR, Sec. 3 and the authors' BERT code (``BertForSequenceClassification.relprop``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from lensnb.errors import LensError
from lensnb.relevance.lrp_rules import add_relevance, linear_relevance, matmul_relevance

__all__ = ["EncoderLayout", "ENCODER_LAYOUTS", "EncoderModules", "encoder_modules", "LRPPass", "lrp_pass"]


@dataclass(frozen=True)
class EncoderLayout:
    """Module paths inside one post-LN encoder block (BERT family)."""

    query: str
    key: str
    value: str
    attention_output: str
    ffn_in: str
    ffn_out: str

    def parts(self) -> dict[str, str]:
        return {
            "query": self.query, "key": self.key, "value": self.value,
            "attention_output": self.attention_output, "ffn_in": self.ffn_in, "ffn_out": self.ffn_out,
        }  # fmt: skip


ENCODER_LAYOUTS = {
    "bert": EncoderLayout(
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    ),  # fmt: skip
}


@dataclass
class EncoderModules:
    """The Linears of an encoder classifier, by name: ``"{block}.{part}"`` and ``"head.{i}"``."""

    linears: dict[str, torch.nn.Linear]
    n_blocks: int
    n_heads: int
    head_names: list[str] = field(default_factory=list)


def encoder_modules(lens_model) -> EncoderModules:
    """Find the blocks' and the head's Linears of a BERT-family sequence classifier."""
    adapter = lens_model.adapter
    layout = ENCODER_LAYOUTS.get(adapter.name) if adapter is not None else None
    if layout is None:
        family = adapter.name if adapter is not None else "an unknown family"
        raise LensError.bad_argument(
            "model", lens_model.name,
            f"a post-LayerNorm encoder classifier of the families {sorted(ENCODER_LAYOUTS)} for the LRP-based methods",
            f"this model is {family}. AttnLRP, integrated gradients, input x gradient and the attention "
            "baselines (raw attention, rollout) work on other families.",
        )  # fmt: skip
    model = lens_model.model
    blocks = adapter.block_list(lens_model.base_model)
    linears: dict[str, torch.nn.Linear] = {}
    block_ids = set()
    for index, block in enumerate(blocks):
        for part, path in layout.parts().items():
            module = block.get_submodule(path)
            if not isinstance(module, torch.nn.Linear):
                raise LensError(
                    f"model: {lens_model.name!r} block {index} {path} is {type(module).__name__}, not Linear"
                )
            linears[f"{index}.{part}"] = module
        block_ids.update(id(m) for m in block.modules())
    embeddings = lens_model.base_model.get_input_embeddings()
    head_names = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and id(module) not in block_ids and module is not embeddings:
            key = f"head.{name}"
            linears[key] = module
            head_names.append(key)
    config = model.config
    n_heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", None)
    return EncoderModules(linears=linears, n_blocks=len(blocks), n_heads=int(n_heads), head_names=head_names)


@dataclass
class LRPPass:
    """What one LRP pass produced for a batch.

    Attributes
    ----------
    attention_relevance : dict of int to Tensor (batch, heads, T, T)
        R_A of each block it reached (0-based block index).
    stream_relevance : dict of int to Tensor (batch, T, D)
        Relevance at residual-stream level l (0 = encoder input, l = output of block l),
        for the levels it reached.
    start : Tensor, shape (batch,)
        Relevance the pass started from (1.0 per input).
    """

    attention_relevance: dict[int, torch.Tensor]
    stream_relevance: dict[int, torch.Tensor]
    start: torch.Tensor


def _heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, T, H*dh) -> (B, H, T, dh)."""
    b, t, d = x.shape
    return x.view(b, t, n_heads, d // n_heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, dh) -> (B, T, H*dh)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def _linear(
    recorder, modules: EncoderModules, name: str, relevance: torch.Tensor, rules: str, rows=None
) -> torch.Tensor:
    module = modules.linears[name]
    x, y = recorder.inputs[name], recorder.outputs[name]
    if rows is not None:
        x, y = x[:, rows], y[:, rows]
    bias = module.bias
    xw = None if rules != "ours" else (y - bias if bias is not None else y)
    return linear_relevance(x, module.weight, relevance, rules=rules, x_times_weight=xw)


def lrp_pass(
    recorder,
    modules: EncoderModules,
    hidden_states: tuple[torch.Tensor, ...],
    attentions: list[torch.Tensor],
    targets: torch.Tensor,
    n_classes: int,
    *,
    rules: str = "ours",
    lowest_block: int = 0,
    to_input: bool = False,
) -> LRPPass:
    """Propagate relevance from the target logit down the encoder.

    Parameters
    ----------
    recorder : LinearRecorder
        Inputs and outputs of every Linear of ``modules`` from the forward pass.
    modules : EncoderModules
    hidden_states : tuple of Tensor (batch, T, D)
        The model's hidden states, levels 0..L.
    attentions : list of Tensor (batch, H, T, T)
        Attention probabilities of each block.
    targets : Tensor of int64, shape (batch,)
        Class explained in each input.
    n_classes : int
    rules : {"ours", "baseline"}
    lowest_block : int
        Stop once this block's attention relevance is known.
    to_input : bool
        Go on to the encoder input (level 0) regardless.

    Returns
    -------
    LRPPass
    """
    with torch.no_grad():
        dtype = hidden_states[-1].dtype
        batch = targets.shape[0]
        relevance = torch.zeros(batch, n_classes, dtype=dtype, device=targets.device)
        relevance[torch.arange(batch), targets] = 1.0
        start = relevance.sum(-1)
        order = [name for name in recorder.order if name in modules.head_names]
        if not order:
            raise LensError(
                f"model: the classification head ran no Linear layer lensnb can propagate through ({modules.head_names})"
            )
        first_input = recorder.inputs[order[0]]
        if first_input.dim() != 2 or not torch.equal(first_input, hidden_states[-1][:, 0]):
            raise LensError(
                "model: its classification head does not read the first token of the last layer "
                f"({order[0][5:]} received shape {tuple(first_input.shape)}); the LRP-based methods need a "
                "[CLS]-token classifier (BERT, RoBERTa, ELECTRA style)."
            )
        for name in reversed(order):
            relevance = _linear(recorder, modules, name, relevance, rules)
        n_blocks = modules.n_blocks
        stream = torch.zeros_like(hidden_states[-1])
        stream[:, 0] = relevance
        streams = {n_blocks: stream}
        attention_relevance = {}
        stop = 0 if to_input else lowest_block
        for block in range(n_blocks - 1, stop - 1, -1):
            rows = slice(0, 1) if block == n_blocks - 1 else slice(None)
            stream, attention_relevance[block] = _block(
                recorder, modules, block, hidden_states[block], attentions[block], stream, rows, rules,
                need_stream=to_input or block > lowest_block,
            )  # fmt: skip
            if stream is not None:
                streams[block] = stream
    return LRPPass(attention_relevance=attention_relevance, stream_relevance=streams, start=start)


def _block(recorder, modules, block, block_input, attention, relevance, rows, rules, *, need_stream):
    """One block backward: relevance at its output -> (relevance at its input, R_A)."""
    name = f"{block}."
    n_heads = modules.n_heads
    r_out = relevance[:, rows]
    # output LayerNorm (identity), residual Add around the feed-forward part
    ffn_input = recorder.inputs[name + "ffn_in"][:, rows]
    ffn_output = recorder.outputs[name + "ffn_out"][:, rows]
    r_ffn, r_skip = add_relevance(ffn_output, ffn_input, r_out, rules=rules)
    r_hidden = _linear(recorder, modules, name + "ffn_out", r_ffn, rules, rows)  # GELU: identity
    r_attention_output = _linear(recorder, modules, name + "ffn_in", r_hidden, rules, rows) + r_skip  # Clone
    # attention LayerNorm (identity), residual Add around the attention part
    dense = recorder.outputs[name + "attention_output"][:, rows]
    r_dense, r_residual = add_relevance(dense, block_input[:, rows], r_attention_output, rules=rules)
    r_context = _linear(recorder, modules, name + "attention_output", r_dense, rules, rows)
    # A @ V, per head
    context = _heads(recorder.inputs[name + "attention_output"][:, rows], n_heads)
    values = _heads(recorder.outputs[name + "value"], n_heads)
    r_attention_rows, r_values = matmul_relevance(
        attention[:, :, rows], values, _heads(r_context, n_heads), product=context
    )
    if rows == slice(None):
        r_attention = r_attention_rows
    else:
        r_attention = torch.zeros_like(attention)
        r_attention[:, :, rows] = r_attention_rows
    if not need_stream:
        return None, r_attention
    # softmax: identity; the mask's Add; Q K^T (unscaled product), halves to Q and K
    queries = _heads(recorder.outputs[name + "query"][:, rows], n_heads)
    keys = _heads(recorder.outputs[name + "key"], n_heads)
    unscaled = queries @ keys.transpose(-1, -2)
    r_scores = _mask_add(unscaled, queries.shape[-1], r_attention_rows, rules)
    r_queries, r_keys_t = matmul_relevance(queries, keys.transpose(-1, -2), r_scores, product=unscaled)
    r_keys, r_values = _merge(r_keys_t.transpose(-1, -2)), _merge(r_values)
    if rows == slice(None):  # Clone: the three projections' relevances sum; one product serves all three
        r_input = _fused_linear(recorder, modules, [name + p for p in ("query", "key", "value")],
                                [_merge(r_queries), r_keys, r_values], rules)  # fmt: skip
        return r_input.add_(r_residual), r_attention
    r_input = _fused_linear(recorder, modules, [name + "key", name + "value"], [r_keys, r_values], rules)
    r_input[:, rows] += r_residual + _linear(recorder, modules, name + "query", _merge(r_queries), rules, rows)
    return r_input, r_attention


def _mask_add(unscaled: torch.Tensor, head_dim: int, relevance: torch.Tensor, rules: str) -> torch.Tensor:
    """Relevance of the attention scores through their sum with the additive attention mask.

    The authors' code applies its Add rule to ``scores + mask`` (the mask is 0 at every
    key a query may see; at a padded key the relevance is 0 already, since its
    probability is). Its stabiliser makes this step differ from the identity where a
    score is near 1e-9 (random small models; on trained ones by ~1e-7 relative), and
    under ``rules="ours"`` it rescales the scores' relevance to the total it received.

    Parameters
    ----------
    unscaled : Tensor, shape (batch, heads, rows, T)
        ``Q K^T`` before the scaling: the scores are ``Q K^T / sqrt(head_dim)``.
    head_dim : int
    relevance : Tensor, shape (batch, heads, rows, T)
        Relevance of the attention probabilities (the softmax passes it on unchanged).

    Returns
    -------
    Tensor, shape (batch, heads, rows, T)
    """
    scores = unscaled / math.sqrt(head_dim)
    r_scores, _ = add_relevance(scores, torch.zeros_like(scores), relevance, rules=rules)
    return r_scores


def _fused_linear(recorder, modules: EncoderModules, names: list[str], relevances: list[torch.Tensor], rules: str):
    """Summed relevance of one input through several Linears that read it (Q, K, V), in one product.

    The rules act on each output unit separately, so stacking the Linears' weights
    (and outputs, and relevances) along the output axis gives the sum of their input
    relevances exactly.
    """
    x = recorder.inputs[names[0]]
    weight = torch.cat([modules.linears[n].weight for n in names], dim=0)
    relevance = torch.cat(relevances, dim=-1)
    xw = None
    if rules == "ours":
        parts = []
        for n in names:
            bias = modules.linears[n].bias
            parts.append(recorder.outputs[n] - bias if bias is not None else recorder.outputs[n])
        xw = torch.cat(parts, dim=-1)
    return linear_relevance(x, weight, relevance, rules=rules, x_times_weight=xw)
