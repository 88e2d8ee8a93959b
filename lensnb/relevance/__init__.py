"""Relevance per token: Chefer et al.'s transformer attribution, AttnLRP and the baselines.

Every method is a class with one call, Captum-style::

    method = TransformerAttribution(model, start_layer=0)
    relevance = method.attribute(["a fine film", "a dull one"], target=None)

``relevance`` is a :class:`Relevance`: one score per token of the token table (the
same table :func:`lensnb.extract` makes), optionally per residual-stream level, with the
target, the method's parameters and the conservation delta. Faithfulness metrics live
in :mod:`lensnb.relevance.faithfulness` and :mod:`lensnb.relevance.rationales`.
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
from lensnb.relevance.gradient_methods import AttnLRP, InputXGradient, IntegratedGradients
from lensnb.relevance.result import Relevance
from lensnb.relevance.targets import OutputSpan

__all__ = [
    "AttentionRollout",
    "AttnLRP",
    "FullLRP",
    "GradCAMAttention",
    "InputXGradient",
    "IntegratedGradients",
    "OutputSpan",
    "PartialLRP",
    "RawAttention",
    "Relevance",
    "TransformerAttribution",
]
