"""Chefer et al.'s transformer attribution and the baselines as the paper ran them.

- :class:`TransformerAttribution`: the LRP pass ("ours" rules) gives each block's
  attention relevance R_A; ``Abar_b = mean_h clamp(grad_A_b * R_A_b, 0)``; the
  row-normalised rollout of ``Abar + I`` from ``start_layer`` is read at [CLS], whose own
  entry is set to the row's minimum.
- :class:`AttentionRollout`, :class:`RawAttention`, :class:`GradCAMAttention`,
  :class:`PartialLRP`, :class:`FullLRP`: algorithms guide 1.3.

The model runs unmodified (eager attention for the weights, forward hooks for the
Linears' inputs and outputs); gradients of the target logit with respect to the
attention probabilities come from one backward pass that stops at the lowest block
read. ``start_layer`` is explicit and recorded: the reference defaults to its last block
(11 of 12), which the paper's Movie Reviews benchmark used; its demo uses 0.

References
----------
Chefer, Gur & Wolf 2021, "Transformer Interpretability Beyond Attention
Visualization", CVPR (Eqs. 13-14; Sec. 4 baselines); Abnar & Zuidema 2020 (rollout);
Selvaraju et al. 2017 (GradCAM).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from lensnb.errors import LensError
from lensnb.relevance.base import BatchRelevance, RelevanceMethod, stack_levels
from lensnb.relevance.capture import LinearRecorder, check_attentions, run_with_embeddings
from lensnb.relevance.inputs import ModelBatch
from lensnb.relevance.lrp_pass import encoder_modules, lrp_pass
from lensnb.relevance.lrp_rules import RULE_SETS
from lensnb.relevance.rollout import gradcam_row, gradient_weighted_maps, head_mean_maps, last_layer_row, rollout_row
from lensnb.relevance.targets import target_scores

__all__ = [
    "TransformerAttribution",
    "AttentionRollout",
    "RawAttention",
    "GradCAMAttention",
    "PartialLRP",
    "FullLRP",
]


def _leaf_embeddings(model: torch.nn.Module, batch: ModelBatch, requires_grad: bool) -> torch.Tensor:
    embeddings = model.get_input_embeddings()(batch.input_ids).detach()
    return embeddings.requires_grad_(requires_grad)


def _forward(model, batch: ModelBatch, embeddings: torch.Tensor, *, hidden: bool = True):
    return run_with_embeddings(
        model,
        batch.input_ids,
        embeddings,
        attention_mask=batch.attention_mask,
        output_attentions=True,
        output_hidden_states=hidden,
    )


def _set_read_entry(row: torch.Tensor, read: torch.Tensor, valid: torch.Tensor, how: str) -> torch.Tensor:
    """Set each row's own read entry to 0 or to the row's minimum over real tokens."""
    row = row.clone()
    rows = torch.arange(row.shape[0], device=row.device)
    if how == "zero":
        row[rows, read] = 0.0
    else:
        big = torch.finfo(row.dtype).max
        row[rows, read] = torch.where(valid, row, torch.full_like(row, big)).amin(-1)
    return row * valid.to(row.dtype)


class _AttentionMethod(RelevanceMethod):
    needs_attentions: ClassVar[bool] = True

    def _start_block(self, start_layer: int) -> int:
        n_blocks = self.lens_model.n_layers
        if not isinstance(start_layer, int) or not -n_blocks <= start_layer < n_blocks:
            raise LensError.bad_argument(
                "start_layer", start_layer, f"a block index in {-n_blocks}..{n_blocks - 1} (0 = first block, -1 = last)"
            )
        return start_layer % n_blocks

    def _targets(self, outputs, batch: ModelBatch, targets):
        return target_scores(outputs.logits, self.head, targets, batch.input_ids, batch.lengths)


class _LRPMethod(_AttentionMethod):
    supports_decoders: ClassVar[bool] = False

    def __init__(self, model: Any, **options: Any):
        super().__init__(model, **options)
        encoder_modules(self.lens_model)  # refuse other families now, not at the first batch

    def _lrp(
        self, model, batch: ModelBatch, targets, *, rules: str, lowest_block: int, to_input: bool, grad_from: int | None
    ):
        modules = encoder_modules_of(self.lens_model, model)
        embeddings = _leaf_embeddings(model, batch, requires_grad=grad_from is not None)
        with torch.set_grad_enabled(grad_from is not None), LinearRecorder(modules.linears) as recorder:
            outputs = _forward(model, batch, embeddings)
        attentions = check_attentions(outputs.attentions, modules.n_blocks, self.lens_model.name)
        scores, chosen, predicted = self._targets(outputs, batch, targets)
        gradients = {}
        if grad_from is not None:
            wanted = list(range(grad_from, modules.n_blocks))
            found = torch.autograd.grad(scores.sum(), [attentions[b] for b in wanted])
            gradients = dict(zip(wanted, found))
        hidden = tuple(h.detach() for h in outputs.hidden_states)
        passed = lrp_pass(
            recorder, modules, hidden, [a.detach() for a in attentions],
            torch.as_tensor(chosen, device=batch.input_ids.device), outputs.logits.shape[-1],
            rules=rules, lowest_block=lowest_block, to_input=to_input,
        )  # fmt: skip
        return passed, attentions, gradients, scores.detach(), chosen, predicted


def encoder_modules_of(lens_model, model: torch.nn.Module):
    """:func:`encoder_modules` of ``model`` (the user's model or its float64 copy)."""
    if model is lens_model.model:
        return encoder_modules(lens_model)
    from lensnb.models import LensModel

    return encoder_modules(LensModel.wrap(model, lens_model.tokenizer, name=lens_model.name))


class TransformerAttribution(_LRPMethod):
    """Chefer et al.'s transformer attribution: gradient-weighted LRP relevance, rolled out.

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
        A BERT-family sequence classifier.
    start_layer : int
        First block of the rollout (0-based; negative counts from the end). 0 (the
        default, the paper's Eq. 13 and its demo) uses every block; -1 uses only the
        last block, as the reference's default (11 on 12-layer BERT) and the paper's
        Movie Reviews benchmark did.
    **options
        ``batch_size``, ``dtype``, ``max_length``, ``overflow``, ``stride``,
        ``progress`` (see :class:`~lensnb.relevance.base.RelevanceMethod`).

    Notes
    -----
    Rows of ``Abar + I`` are normalised to sum to 1, as the authors' BERT code does
    (the paper's equation and their ViT code do not). ``layers=True`` gives the
    rolled-out row at every residual-stream level from ``start_layer`` up (NaN below).
    """

    name = "transformer_attribution"
    supports_layers = True

    def __init__(self, model: Any, *, start_layer: int = 0, **options: Any):
        super().__init__(model, **options)
        self.start_layer = start_layer
        self._start_block(start_layer)

    def hyperparameters(self) -> dict[str, Any]:
        return {"start_layer": self.start_layer}

    def _attribute_batch(self, model, batch, targets, layers):
        start = self._start_block(self.start_layer)
        passed, _, gradients, scores, chosen, predicted = self._lrp(
            model, batch, targets, rules="ours", lowest_block=start, to_input=False, grad_from=start
        )
        maps = {b: gradient_weighted_maps(gradients[b], passed.attention_relevance[b]) for b in gradients}
        read, valid = self.read_positions(batch), batch.valid
        row, levels = rollout_row(maps, read, valid, self.lens_model.n_layers)
        out = _set_read_entry(row, read, valid, "min")
        layer_scores = stack_levels(levels, self.lens_model.n_layers + 1, out) if layers else None
        return BatchRelevance(out, scores, chosen, predicted, layer_scores=layer_scores)


class AttentionRollout(_AttentionMethod):
    """Attention rollout (Abnar & Zuidema 2020) as Chefer et al. ran it.

    ``Abar_b = mean_h A_b``; the row-normalised product of ``Abar + I`` over every block
    is read at [CLS] (decoders: the last real token), whose own entry is set to 0.
    ``layers=True`` gives the row at every residual-stream level.
    """

    name = "attention_rollout"
    supports_layers = True

    def _attribute_batch(self, model, batch, targets, layers):
        with torch.no_grad():
            outputs = _forward(model, batch, _leaf_embeddings(model, batch, False), hidden=False)
            attentions = check_attentions(outputs.attentions, self.lens_model.n_layers, self.lens_model.name)
            scores, chosen, predicted = self._targets(outputs, batch, targets)
            maps = {b: head_mean_maps(a) for b, a in enumerate(attentions)}
            read, valid = self.read_positions(batch), batch.valid
            row, levels = rollout_row(maps, read, valid, self.lens_model.n_layers)
        out = _set_read_entry(row, read, valid, "zero")
        layer_scores = stack_levels(levels, self.lens_model.n_layers + 1, out) if layers else None
        return BatchRelevance(out, scores, chosen, predicted, layer_scores=layer_scores)


class RawAttention(_AttentionMethod):
    """The last block's attention, averaged over heads, read at [CLS] (own entry 0)."""

    name = "raw_attention"

    def _attribute_batch(self, model, batch, targets, layers):
        with torch.no_grad():
            outputs = _forward(model, batch, _leaf_embeddings(model, batch, False), hidden=False)
            attentions = check_attentions(outputs.attentions, self.lens_model.n_layers, self.lens_model.name)
            scores, chosen, predicted = self._targets(outputs, batch, targets)
            read = self.read_positions(batch)
            row = last_layer_row(head_mean_maps(attentions[-1]), read)
        return BatchRelevance(_set_read_entry(row, read, batch.valid, "zero"), scores, chosen, predicted)


class GradCAMAttention(_AttentionMethod):
    """GradCAM on the last block's attention (Chefer et al.'s baseline).

    Head weights are the mean attention gradient; inputs whose cam is <= 0 everywhere
    get zeros and a warning (the reference returns NaN).
    """

    name = "gradcam_attention"

    def _attribute_batch(self, model, batch, targets, layers):
        embeddings = _leaf_embeddings(model, batch, True)
        with torch.enable_grad():
            outputs = _forward(model, batch, embeddings, hidden=False)
        attentions = check_attentions(outputs.attentions, self.lens_model.n_layers, self.lens_model.name)
        scores, chosen, predicted = self._targets(outputs, batch, targets)
        (gradient,) = torch.autograd.grad(scores.sum(), [attentions[-1]])
        with torch.no_grad():
            row = gradcam_row(attentions[-1].detach(), gradient, self.read_positions(batch), batch.valid)
        return BatchRelevance(row, scores.detach(), chosen, predicted)


class PartialLRP(_LRPMethod):
    """The last block's attention relevance R_A (clamped at 0, head mean), read at [CLS].

    Parameters
    ----------
    rules : {"baseline", "ours"}
        ``"baseline"`` (default) is the rule set the paper ran this baseline with.
    """

    name = "partial_lrp"

    def __init__(self, model: Any, *, rules: str = "baseline", **options: Any):
        super().__init__(model, **options)
        if rules not in RULE_SETS:
            raise LensError.bad_argument("rules", rules, f"one of {RULE_SETS}")
        self.rules = rules

    def hyperparameters(self) -> dict[str, Any]:
        return {"rules": self.rules}

    def _attribute_batch(self, model, batch, targets, layers):
        last = self.lens_model.n_layers - 1
        passed, _, _, scores, chosen, predicted = self._lrp(
            model, batch, targets, rules=self.rules, lowest_block=last, to_input=False, grad_from=None
        )
        read = self.read_positions(batch)
        row = last_layer_row(passed.attention_relevance[last].clamp(min=0).mean(dim=1), read)
        return BatchRelevance(_set_read_entry(row, read, batch.valid, "zero"), scores, chosen, predicted)


class FullLRP(_LRPMethod):
    """LRP relevance at the encoder input, summed over the hidden axis ([CLS] entry 0).

    Parameters
    ----------
    rules : {"baseline", "ours"}
        ``"baseline"`` (default) is the paper's "LRP" baseline (not conservative);
        ``"ours"`` is Chefer et al.'s conservative pass, whose input relevance sums to
        1 (the conservation delta, before the [CLS] entry is zeroed, is recorded).

    Notes
    -----
    ``layers=True`` gives the relevance at every residual-stream level (summed over
    the hidden axis, [CLS] entry kept).
    """

    name = "full_lrp"
    supports_layers = True

    def __init__(self, model: Any, *, rules: str = "baseline", **options: Any):
        super().__init__(model, **options)
        if rules not in RULE_SETS:
            raise LensError.bad_argument("rules", rules, f"one of {RULE_SETS}")
        self.rules = rules

    def hyperparameters(self) -> dict[str, Any]:
        return {"rules": self.rules}

    def _attribute_batch(self, model, batch, targets, layers):
        passed, _, _, scores, chosen, predicted = self._lrp(
            model, batch, targets, rules=self.rules, lowest_block=0, to_input=True, grad_from=None
        )
        tokens = passed.stream_relevance[0].sum(-1)
        delta = tokens.sum(-1) - passed.start
        read = self.read_positions(batch)
        layer_scores = None
        if layers:
            levels = {level: r.sum(-1) for level, r in passed.stream_relevance.items()}
            layer_scores = stack_levels(levels, self.lens_model.n_layers + 1, tokens)
        out = _set_read_entry(tokens, read, batch.valid, "zero")
        return BatchRelevance(out, scores, chosen, predicted, delta=delta, layer_scores=layer_scores)
