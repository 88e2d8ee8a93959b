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

from lensnb.errors import LensError

__all__ = ["LayerProfile", "LayerMatrix", "Projection"]


def _set(result: Any, name: str, value: Any) -> None:
    """Store a normalised field on a frozen result (the dataclass' own ``__init__`` way)."""
    object.__setattr__(result, name, value)


def _layer_tuple(layers: Any, argument: str) -> tuple[int, ...]:
    """``layers`` as a tuple of distinct Python ints (numpy integers accepted)."""
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise LensError.bad_argument(argument, layers, "a sequence of layer indices (ints)")
    items = list(layers)
    if not all(isinstance(layer, (int, np.integer)) and not isinstance(layer, (bool, np.bool_)) for layer in items):
        raise LensError.bad_argument(argument, layers, "a sequence of layer indices (ints)")
    as_ints = tuple(int(layer) for layer in items)
    if len(set(as_ints)) != len(as_ints):
        raise LensError.bad_argument(argument, layers, "distinct layer indices, each once")
    return as_ints


def _numbers(values: Any, argument: str, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """``values`` as a real array of ``shape`` (cast to ``dtype`` unless it is None)."""
    array = np.asarray(values) if dtype is None else None
    if array is None:
        try:
            array = np.asarray(values, dtype=dtype)
        except (TypeError, ValueError):
            raise LensError.bad_argument(argument, values, f"real numbers of shape {shape}") from None
    if array.dtype.kind not in "biuf" or array.shape != shape:
        raise LensError.bad_argument(argument, values, f"real numbers of shape {shape}")
    return array


def _check_common(result: Any, name_field: str) -> None:
    """The fields every result has: a name, a table, a unit and a params dict."""
    name = getattr(result, name_field)
    if not isinstance(name, str) or not name:
        raise LensError.bad_argument(name_field, name, "a non-empty string naming the measure")
    if result.table is not None and not isinstance(result.table, pd.DataFrame):
        raise LensError.bad_argument("table", result.table, "a pandas DataFrame or None")
    if not isinstance(result.unit, str) or not result.unit:
        raise LensError.bad_argument("unit", result.unit, "a non-empty string such as 'token' or 'text'")
    if not isinstance(result.params, dict):
        raise LensError.bad_argument("params", result.params, "a dict of the parameters used")


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
    per_layer : tuple of str
        Keys of ``details`` that hold one number per layer (shape (n_layers,)) or one
        number for every layer (a scalar, such as a majority-class baseline):
        :meth:`to_pandas` adds them as columns. Listed by the measure, so that an array
        of another length that happens to equal the number of layers (classes, items)
        is never taken for one.
    """

    name: str
    layers: tuple[int, ...]
    values: np.ndarray
    errors: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    unit: str = "token"
    details: dict[str, Any] = field(default_factory=dict)
    per_layer: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self, "name")
        layers = _layer_tuple(self.layers, "layers")
        _set(self, "layers", layers)
        _set(self, "values", _numbers(self.values, "values", (len(layers),)))
        if self.errors is not None:
            _set(self, "errors", _numbers(self.errors, "errors", (len(layers),)))
        if isinstance(self.per_layer, str) or not isinstance(self.per_layer, (tuple, list)):
            raise LensError.bad_argument("per_layer", self.per_layer, "a tuple of keys of details")
        _set(self, "per_layer", tuple(self.per_layer))
        taken = ("layer", self.name, f"{self.name}_error")
        for key in self.per_layer:
            if not isinstance(key, str) or key not in self.details or key in taken:
                raise LensError.bad_argument(
                    "per_layer", key, f"a key of details {sorted(map(str, self.details))}, none of {taken}"
                )  # fmt: skip
            value = np.asarray(self.details[key])
            if value.dtype.kind not in "biuf" or value.shape not in ((), (len(layers),)):
                raise LensError.bad_argument(
                    f"details[{key!r}]", self.details[key], f"a real number or real numbers of shape ({len(layers)},)"
                )  # fmt: skip

    def to_pandas(self) -> pd.DataFrame:
        """The per-layer numbers as a table.

        Returns
        -------
        DataFrame, one row per layer
            ``layer``, the value (a column named after the measure), its error
            (``{name}_error``, when there are error bars), then each of ``per_layer``'s
            details (a scalar repeated on every row), e.g. a probe's accuracy,
            macro-F1, majority baseline and interval.
        """
        frame = pd.DataFrame({"layer": list(self.layers), self.name: np.asarray(self.values)})
        if self.errors is not None:
            frame[f"{self.name}_error"] = np.asarray(self.errors)
        for key in self.per_layer:
            frame[key] = np.broadcast_to(np.asarray(self.details[key]), (len(self.layers),)).copy()
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

    def __post_init__(self) -> None:
        _check_common(self, "name")
        rows, columns = _layer_tuple(self.layers_a, "layers_a"), _layer_tuple(self.layers_b, "layers_b")
        _set(self, "layers_a", rows)
        _set(self, "layers_b", columns)
        _set(self, "values", _numbers(self.values, "values", (len(rows), len(columns))))
        if self.errors is not None:
            _set(self, "errors", _numbers(self.errors, "errors", (len(rows), len(columns))))
        if not isinstance(self.models, tuple) or len(self.models) != 2:
            raise LensError.bad_argument("models", self.models, "a pair (name of A, name of B); None where unknown")

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
        of the two layers' pooled coordinate spread (the root mean square of their
        root-mean-square distances to their centroids; see
        :func:`lensnb.geometry.alignment.layer_displacement`), as returned (after
        alignment when ``align`` is on).
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

    def __post_init__(self) -> None:
        _check_common(self, "method")
        layers = _layer_tuple(self.layers, "layers")
        _set(self, "layers", layers)
        coordinates = np.asarray(self.coordinates)
        if coordinates.ndim != 3 or coordinates.shape[0] != len(layers) or coordinates.shape[2] != 2:
            raise LensError.bad_argument(
                "coordinates", self.coordinates, f"an array of shape (n_layers={len(layers)}, n_items, 2)"
            )
        _set(self, "coordinates", _numbers(coordinates, "coordinates", coordinates.shape, dtype=None))
        n_items = coordinates.shape[1]
        if self.table is not None and len(self.table) != n_items:
            raise LensError.bad_argument("table", self.table, f"one row per projected item ({n_items} rows)")
        for name in ("displacement", "displacement_unaligned"):
            if getattr(self, name) is not None:
                _set(self, name, _numbers(getattr(self, name), name, (max(len(layers) - 1, 0),)))

    def layer(self, layer: int) -> np.ndarray:
        """The (n_items, 2) coordinates at one model layer."""
        if isinstance(layer, (bool, np.bool_)) or layer not in self.layers:
            raise LensError.bad_argument("layer", layer, f"one of the projected layers {list(self.layers)}")
        return self.coordinates[self.layers.index(int(layer))]

    def to_pandas(self) -> pd.DataFrame:
        """A long frame, one row per (layer, item): ``layer``, ``item``, ``x``, ``y``, then the table's columns.

        Returns
        -------
        DataFrame of n_layers * n_items rows. ``item`` is the row number in ``table``; the
        table's columns (when there is a table) are repeated for every layer.
        """
        n_layers, n_items, _ = self.coordinates.shape
        frame = pd.DataFrame(
            {
                "layer": np.repeat(np.asarray(self.layers, dtype=np.int64), n_items),
                "item": np.tile(np.arange(n_items, dtype=np.int64), n_layers),
                "x": self.coordinates[:, :, 0].reshape(-1),
                "y": self.coordinates[:, :, 1].reshape(-1),
            }
        )
        if self.table is None:
            return frame
        repeated = self.table.iloc[np.tile(np.arange(n_items), n_layers)].reset_index(drop=True)
        clashing = [column for column in repeated.columns if column in frame.columns]
        repeated = repeated.rename(columns={column: f"table_{column}" for column in clashing})
        return pd.concat([frame, repeated], axis=1)

    def __repr__(self) -> str:
        return (
            f"Projection({self.method}; {len(self.layers)} layers x {self.coordinates.shape[1]} {self.unit}s; "
            f"params {self.params})"
        )
