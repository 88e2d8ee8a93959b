"""Geometry of representations across layers.

Projections per layer, intrinsic dimension, neighbourhood overlap, CKA, model
stitching and the layer metrics of Skean et al. 2025. Every measure takes
:class:`lensnb.Activations` (or plain arrays) and returns a small result object
(:class:`LayerProfile`, :class:`LayerMatrix`, :class:`Projection`).
"""

from __future__ import annotations

from lensnb.geometry.results import LayerMatrix, LayerProfile, Projection

__all__ = ["LayerMatrix", "LayerProfile", "Projection"]
