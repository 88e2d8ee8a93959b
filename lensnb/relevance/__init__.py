"""Relevance per token: Chefer et al.'s transformer attribution, AttnLRP and the baselines.

Every method is a class with one call, Captum-style::

    method = TransformerAttribution(model, start_layer=0)
    relevance = method.attribute(["a fine film", "a dull one"], target=None)

``relevance`` is a :class:`Relevance`: one score per token of the token table (the
same table :func:`lensnb.extract` makes), optionally per residual-stream level, with the
target, the method's parameters and the conservation delta. Faithfulness metrics:
perturbation curves and AOPC (:mod:`lensnb.relevance.faithfulness`), token-F1 against
human rationales (:mod:`lensnb.relevance.rationales`).
"""

from __future__ import annotations

from lensnb.relevance.attention_methods import (
    AttentionRollout,
    FullLRP,
    GradCAMAttention,
    PartialLRP,
    RawAttention,
    TransformerAttribution,
)
from lensnb.relevance.explain import DEFAULT_METHODS, METHODS, explain
from lensnb.relevance.faithfulness import AOPCResult, PerturbationCurve, aopc, perturbation_auc, perturbation_curve
from lensnb.relevance.gradient_methods import AttnLRP, InputXGradient, IntegratedGradients
from lensnb.relevance.rationales import RationaleF1, rationale_token_f1
from lensnb.relevance.result import Relevance
from lensnb.relevance.targets import OutputSpan

__all__ = [
    "AOPCResult",
    "DEFAULT_METHODS",
    "METHODS",
    "AttentionRollout",
    "AttnLRP",
    "FullLRP",
    "GradCAMAttention",
    "InputXGradient",
    "IntegratedGradients",
    "OutputSpan",
    "PartialLRP",
    "PerturbationCurve",
    "RationaleF1",
    "RawAttention",
    "Relevance",
    "TransformerAttribution",
    "aopc",
    "explain",
    "perturbation_auc",
    "perturbation_curve",
    "rationale_token_f1",
]
