"""Geometry of representations across layers.

Projections per layer, intrinsic dimension, neighbourhood overlap, CKA, model
stitching and the layer metrics of Skean et al. 2025. Every measure takes
:class:`lensnb.Activations` (or plain arrays) and returns a small result object
(:class:`LayerProfile`, :class:`LayerMatrix`, :class:`Projection`).

Importing this package imports torch and scikit-learn's core; t-SNE, UMAP and
scipy's optimiser are imported when first used.
"""

from __future__ import annotations

from lensnb.geometry.augmentation import augment_text, augmentation_invariance, dime, infonce, lidar
from lensnb.geometry.cka import cka_linear, cka_matrix, cka_minibatch, cka_rbf
from lensnb.geometry.intrinsic_dimension import intrinsic_dimension, intrinsic_dimension_scaling, twonn
from lensnb.geometry.layer_metrics import curvature, dataset_entropy, matrix_entropy, prompt_entropy
from lensnb.geometry.neighbors import NeighborCache, nearest_neighbors
from lensnb.geometry.overlap import label_overlap, neighborhood_overlap, neighborhood_overlap_matrix
from lensnb.geometry.profile import GeometryProfile, geometry_profile
from lensnb.geometry.projections import project
from lensnb.geometry.results import LayerMatrix, LayerProfile, Projection
from lensnb.geometry.stitching import (
    Stitch,
    StitchingAsymmetry,
    StitchResult,
    stitching_asymmetry,
    stitching_penalty_matrix,
    train_stitch,
)

__all__ = [
    "GeometryProfile",
    "LayerMatrix",
    "LayerProfile",
    "NeighborCache",
    "Projection",
    "Stitch",
    "StitchResult",
    "StitchingAsymmetry",
    "augment_text",
    "augmentation_invariance",
    "cka_linear",
    "cka_matrix",
    "cka_minibatch",
    "cka_rbf",
    "curvature",
    "dataset_entropy",
    "dime",
    "geometry_profile",
    "infonce",
    "intrinsic_dimension",
    "intrinsic_dimension_scaling",
    "label_overlap",
    "lidar",
    "matrix_entropy",
    "nearest_neighbors",
    "neighborhood_overlap",
    "neighborhood_overlap_matrix",
    "project",
    "prompt_entropy",
    "stitching_asymmetry",
    "stitching_penalty_matrix",
    "train_stitch",
    "twonn",
]
