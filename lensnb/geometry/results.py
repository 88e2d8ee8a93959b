"""Small result objects every geometry measure returns, ready for the widgets to draw.

Each carries the layers it covers, the parameters that produced it and the table of
the items (tokens, words, spans or texts) it was computed on, so that a view can say
what it shows without going back to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LayerProfile", "LayerMatrix", "Projection"]


@dataclass(frozen=True)
class LayerProfile:
    """One number per layer, with an error bar where the measure has one.

    Attributes
    ----------
    name : str
        The measure, e.g. ``"intrinsic_dimension_twonn"``, ``"label_overlap"``.
    layers : tuple of int
        Model layers (0 = embeddings), one per value.
    values : ndarray of float64, shape (n_layers,)
    errors : ndarray of float64, shape (n_layers,), optional
        One standard deviation (over decimations, bootstrap or batches), or None.
    params : dict
        Every parameter the measure used (k, fraction, seed, ...).
    table : DataFrame, optional
        One row per item the measure saw (the token table, or the text table when pooled).
    unit : str
        What the rows are: ``"token"``, ``"word"``, ``"span"``, ``"text"``.
    details : dict
        Measure-specific extras, e.g. the ID at every scale: name -> ndarray whose
        first axis is the layer.
    """

    name: str
    layers: tuple[int, ...]
    values: np.ndarray
    errors: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    unit: str = "token"
    details: dict[str, Any] = field(default_factory=dict)

    def to_pandas(self) -> pd.DataFrame:
        """A (n_layers,) frame: layer, value and error."""
        frame = pd.DataFrame({"layer": list(self.layers), self.name: np.asarray(self.values)})
        if self.errors is not None:
            frame[f"{self.name}_error"] = np.asarray(self.errors)
        return frame

    def __repr__(self) -> str:
        shown = ", ".join(f"{layer}: {value:.4g}" for layer, value in zip(self.layers, np.asarray(self.values)))
        return f"LayerProfile({self.name}; {len(self.layers)} layers over {self._n_items()} {self.unit}s; {shown})"

    def _n_items(self) -> str:
        return "?" if self.table is None else str(len(self.table))


@dataclass(frozen=True)
class LayerMatrix:
    """A layer x layer matrix (similarity, overlap, stitching penalty).

    Attributes
    ----------
    name : str
        The measure, e.g. ``"cka_linear"``, ``"neighborhood_overlap"``.
    layers_a, layers_b : tuple of int
        Layers of the rows (representation A) and of the columns (representation B).
    values : ndarray of float64, shape (len(layers_a), len(layers_b))
    params : dict
    table : DataFrame, optional
        The items both representations were measured on.
    unit : str
    models : tuple of str
        Names of the models behind A and B (the same name twice within one model).
    errors : ndarray, shape like ``values``, optional
    details : dict
        Measure-specific extras, e.g. the stitched accuracy of every pair.
    """

    name: str
    layers_a: tuple[int, ...]
    layers_b: tuple[int, ...]
    values: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    unit: str = "token"
    models: tuple[str | None, str | None] = (None, None)
    errors: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_pandas(self) -> pd.DataFrame:
        """The matrix with layers as index (A) and columns (B)."""
        return pd.DataFrame(
            np.asarray(self.values),
            index=pd.Index(self.layers_a, name="layer_a"),
            columns=pd.Index(self.layers_b, name="layer_b"),
        )

    def __repr__(self) -> str:
        return (
            f"LayerMatrix({self.name}; {len(self.layers_a)} x {len(self.layers_b)} layers; models {self.models}; "
            f"{'?' if self.table is None else len(self.table)} {self.unit}s)"
        )


@dataclass(frozen=True)
class Projection:
    """2-D coordinates of every item at every layer.

    Attributes
    ----------
    method : str
        ``"pca"``, ``"pca_joint"``, ``"ica"``, ``"tsne"`` or ``"umap"``.
    layers : tuple of int
    coordinates : ndarray of float32, shape (n_layers, n_items, 2)
    params : dict
        Including ``seed`` and ``align``.
    table : DataFrame, optional
        One row per item (the token table).
    unit : str
    displacement : ndarray of float64, shape (n_layers - 1,)
        Mean Euclidean displacement of a point between consecutive layers, in units
        of the layer's coordinate spread (root mean square distance to the centroid),
        as returned (after alignment when ``align`` is on).
    displacement_unaligned : ndarray of float64, shape (n_layers - 1,), optional
        The same before alignment, to measure what alignment buys.
    """

    method: str
    layers: tuple[int, ...]
    coordinates: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    unit: str = "token"
    displacement: np.ndarray | None = None
    displacement_unaligned: np.ndarray | None = None

    def layer(self, layer: int) -> np.ndarray:
        """The (n_items, 2) coordinates at one model layer."""
        if layer not in self.layers:
            from lensnb.errors import LensError

            raise LensError.bad_argument("layer", layer, f"one of the projected layers {list(self.layers)}")
        return self.coordinates[self.layers.index(layer)]

    def __repr__(self) -> str:
        return (
            f"Projection({self.method}; {len(self.layers)} layers x {self.coordinates.shape[1]} {self.unit}s; "
            f"params {self.params})"
        )
