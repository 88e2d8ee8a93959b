"""Gradient-based relevance: AttnLRP, input x gradient and integrated gradients.

All three read relevance at the input (word) embeddings, ``x * grad`` summed over the
hidden axis, and work on encoders and decoders alike (BERT family, GPT-2,
GPT-NeoX/Pythia, Llama-style). AttnLRP and input x gradient cost one forward and one
backward pass per batch; they can also give ``x * grad`` at every residual-stream
level (``layers=True``).

References
----------
Achtibat et al. 2024, "AttnLRP", ICML; Shrikumar et al. 2016 (input x gradient);
Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks", ICML
(integrated gradients, Eq. 3 and the completeness axiom).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lensnb.errors import LensError
from lensnb.relevance.attnlrp_graph import attnlrp_graph
from lensnb.relevance.base import BatchRelevance, RelevanceMethod
from lensnb.relevance.capture import run_with_embeddings
from lensnb.relevance.inputs import ModelBatch
from lensnb.relevance.targets import target_scores

__all__ = ["InputXGradient", "AttnLRP", "IntegratedGradients", "IG_METHODS", "IG_BASELINES"]

IG_METHODS = ("gausslegendre", "riemann_trapezoid")
IG_BASELINES = ("pad", "zeros")


def _input_x_gradient(method: RelevanceMethod, model, batch: ModelBatch, targets, layers: bool):
    embeddings = model.get_input_embeddings()(batch.input_ids).detach().requires_grad_(True)
    with torch.enable_grad():
        outputs = run_with_embeddings(
            model, batch.input_ids, embeddings, attention_mask=batch.attention_mask, output_hidden_states=layers
        )
        scores, chosen, predicted = target_scores(outputs.logits, method.head, targets, batch.input_ids, batch.lengths)
        wanted = [embeddings] + (list(outputs.hidden_states) if layers else [])
        gradients = torch.autograd.grad(scores.sum(), wanted)
    valid = batch.valid.to(embeddings.dtype)
    relevance = (embeddings.detach() * gradients[0]).sum(-1) * valid
    layer_scores = None
    if layers:
        levels = [(h.detach() * g).sum(-1) * valid for h, g in zip(outputs.hidden_states, gradients[1:])]
        layer_scores = torch.stack(levels, dim=1)
    return relevance, scores.detach(), chosen, predicted, layer_scores


class InputXGradient(RelevanceMethod):
    """Input x gradient of the target logit at the word embeddings, summed over the hidden axis."""

    name = "input_x_gradient"
    supports_layers = True

    def _attribute_batch(self, model, batch, targets, layers):
        relevance, scores, chosen, predicted, layer_scores = _input_x_gradient(self, model, batch, targets, layers)
        return BatchRelevance(relevance, scores, chosen, predicted, layer_scores=layer_scores)


class AttnLRP(RelevanceMethod):
    """AttnLRP: input x gradient over the modified backward graph (Achtibat et al. 2024).

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
        A sequence classifier or causal language model of the BERT, GPT-2, GPT-NeoX
        or Llama families.
    uniform_rule, norm_stop_gradient, identity_rule : bool
        AttnLRP's three changes to the backward pass (all on by default); switching
        one off shows what it does. See :mod:`lensnb.relevance.attnlrp_graph`.
    **options
        See :class:`~lensnb.relevance.base.RelevanceMethod`.

    Notes
    -----
    The conservation delta is ``sum of input relevance - target logit``; biases absorb
    relevance, so it is not zero. ``layers=True`` gives ``x * grad`` at every
    residual-stream level.
    """

    name = "attnlrp"
    supports_layers = True

    def __init__(
        self,
        model: Any,
        *,
        uniform_rule: bool = True,
        norm_stop_gradient: bool = True,
        identity_rule: bool = True,
        **options: Any,
    ):
        super().__init__(model, **options)
        self.uniform_rule = bool(uniform_rule)
        self.norm_stop_gradient = bool(norm_stop_gradient)
        self.identity_rule = bool(identity_rule)
        with attnlrp_graph(self.lens_model, self.lens_model.model, uniform_rule=self.uniform_rule):
            pass  # refuse an unknown family now, not at the first batch

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "uniform_rule": self.uniform_rule,
            "norm_stop_gradient": self.norm_stop_gradient,
            "identity_rule": self.identity_rule,
        }

    def _attribute_batch(self, model, batch, targets, layers):
        with attnlrp_graph(
            self.lens_model, model, uniform_rule=self.uniform_rule,
            norm_stop_gradient=self.norm_stop_gradient, identity_rule=self.identity_rule,
        ):  # fmt: skip
            relevance, scores, chosen, predicted, layer_scores = _input_x_gradient(self, model, batch, targets, layers)
        delta = relevance.sum(-1) - scores
        return BatchRelevance(relevance, scores, chosen, predicted, delta=delta, layer_scores=layer_scores)


def _alphas(n_steps: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Points in [0, 1] and their weights (Captum's conventions)."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return 0.5 * (nodes + 1.0), 0.5 * weights
    alphas = np.linspace(0.0, 1.0, n_steps)
    weights = np.full(n_steps, 1.0 / (n_steps - 1))
    weights[[0, -1]] *= 0.5
    return alphas, weights


class IntegratedGradients(RelevanceMethod):
    """Integrated gradients on the word embeddings (Sundararajan et al. 2017).

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
    n_steps : int
        Points on the path from the baseline to the input.
    method : {"gausslegendre", "riemann_trapezoid"}
        Quadrature, as Captum names it (Gauss-Legendre is Captum's default).
    baseline : {"pad", "zeros"}
        ``"pad"``: every non-special token replaced by the padding token (specials
        kept), the usual choice for text; ``"zeros"``: zero embeddings.
    internal_batch_size : int
        Path points per forward pass (inputs x steps are split into chunks of this).
    **options
        See :class:`~lensnb.relevance.base.RelevanceMethod`.

    Notes
    -----
    The delta is ``sum of attributions - (F(input) - F(baseline))`` (completeness),
    as Captum reports it.
    """

    name = "integrated_gradients"

    def __init__(
        self,
        model: Any,
        *,
        n_steps: int = 50,
        method: str = "gausslegendre",
        baseline: str = "pad",
        internal_batch_size: int = 64,
        **options: Any,
    ):
        super().__init__(model, **options)
        if not isinstance(n_steps, (int, np.integer)) or n_steps < 2:
            raise LensError.bad_argument("n_steps", n_steps, "an int of at least 2")
        if method not in IG_METHODS:
            raise LensError.bad_argument("method", method, f"one of {IG_METHODS}")
        if baseline not in IG_BASELINES:
            raise LensError.bad_argument("baseline", baseline, f"one of {IG_BASELINES}")
        if not isinstance(internal_batch_size, (int, np.integer)) or internal_batch_size < 1:
            raise LensError.bad_argument("internal_batch_size", internal_batch_size, "a positive int")
        self.n_steps, self.method, self.baseline = int(n_steps), method, baseline
        self.internal_batch_size = int(internal_batch_size)

    def hyperparameters(self) -> dict[str, Any]:
        return {"n_steps": self.n_steps, "method": self.method, "baseline": self.baseline}

    def baseline_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Padding ids in place of every non-special token, shape (batch, T)."""
        tokenizer = self.lens_model.tokenizer
        pad = self.lens_model.padding_id  # pad, else EOS: ids of the embedding table
        special = torch.as_tensor(sorted(set(tokenizer.all_special_ids)), device=input_ids.device)
        keep = torch.isin(input_ids, special)
        return torch.where(keep, input_ids, torch.full_like(input_ids, pad))

    def _attribute_batch(self, model, batch, targets, layers):
        embed = model.get_input_embeddings()
        with torch.no_grad():
            inputs = embed(batch.input_ids)
            baseline = embed(self.baseline_ids(batch.input_ids)) if self.baseline == "pad" else torch.zeros_like(inputs)
            outputs = run_with_embeddings(model, batch.input_ids, inputs, attention_mask=batch.attention_mask)
            scores, chosen, predicted = target_scores(
                outputs.logits, self.head, targets, batch.input_ids, batch.lengths
            )
            fixed = chosen if chosen[0] >= 0 else targets  # an OutputSpan stays a span
            base_out = run_with_embeddings(model, batch.input_ids, baseline, attention_mask=batch.attention_mask)
            base_scores, _, _ = target_scores(base_out.logits, self.head, fixed, batch.input_ids, batch.lengths)
        alphas, weights = _alphas(self.n_steps, self.method)
        total = torch.zeros_like(inputs)
        n, steps = inputs.shape[0], self.n_steps
        pairs = [(b, k) for b in range(n) for k in range(steps)]
        for start in range(0, len(pairs), self.internal_batch_size):
            chunk = pairs[start : start + self.internal_batch_size]
            rows = torch.as_tensor([b for b, _ in chunk], device=inputs.device)
            alpha = torch.as_tensor([alphas[k] for _, k in chunk], dtype=inputs.dtype, device=inputs.device)
            weight = torch.as_tensor([weights[k] for _, k in chunk], dtype=inputs.dtype, device=inputs.device)
            path = (baseline[rows] + alpha[:, None, None] * (inputs[rows] - baseline[rows])).requires_grad_(True)
            with torch.enable_grad():
                out = run_with_embeddings(model, batch.input_ids[rows], path, attention_mask=batch.attention_mask[rows])
                chunk_targets = fixed if not isinstance(fixed, np.ndarray) else fixed[rows.cpu().numpy()]
                chunk_scores, _, _ = target_scores(
                    out.logits, self.head, chunk_targets, batch.input_ids[rows], batch.lengths[rows.cpu().numpy()]
                )
                (gradient,) = torch.autograd.grad(chunk_scores.sum(), [path])
            total.index_add_(0, rows, gradient * weight[:, None, None])
        attributions = ((inputs - baseline) * total).sum(-1) * batch.valid.to(inputs.dtype)
        delta = attributions.sum(-1) - (scores - base_scores)
        return BatchRelevance(attributions, scores, chosen, predicted, delta=delta)
