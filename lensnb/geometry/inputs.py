"""Turning what a user holds (``Activations``, arrays, tensors) into per-layer matrices.

Every geometry measure starts here, so that the checks (shapes, finite values, the
layers asked for) and their error messages are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
import torch

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.tensors import tensor_to_numpy

__all__ = [
    "LayerStack",
    "layer_stack",
    "as_matrix",
    "check_same_items",
    "check_seed",
    "is_real",
    "power_of_two_scaled",
    "POOLS",
]

POOLS = ("mean", "max", "first", "last", "cls")


@dataclass(frozen=True)
class LayerStack:
    """The same items seen at several layers.

    Attributes
    ----------
    layers : tuple of int
        Model layers (for plain arrays: positions 0..L-1 along the first axis).
    arrays : list of ndarray, each of shape (n_items, dim)
        One matrix per layer (possibly memory-mapped; not copied).
    table : DataFrame, optional
        One row per item.
    unit : str
        ``"token"``, ``"word"``, ``"span"``, ``"text"`` or ``"item"`` for plain arrays.
    model : str, optional
        Name of the model the states come from.
    """

    layers: tuple[int, ...]
    arrays: list[np.ndarray]
    table: pd.DataFrame | None
    unit: str
    model: str | None

    @property
    def n_items(self) -> int:
        return int(self.arrays[0].shape[0])

    def subset(self, rows: np.ndarray) -> LayerStack:
        """The same layers for the items ``rows`` (bool mask or integer rows); table rows renumbered."""
        table = None if self.table is None else self.table[rows].reset_index(drop=True)
        return LayerStack(self.layers, [array[rows] for array in self.arrays], table, self.unit, self.model)

    def matrix(self, position: int, dtype: Any = np.float64) -> np.ndarray:
        """Layer at ``position`` as a C-contiguous (n_items, dim) array of ``dtype``."""
        return np.ascontiguousarray(self.arrays[position], dtype=dtype)


def layer_stack(
    data: Any,
    layers: Sequence[int] | int | None = None,
    *,
    site: str | None = None,
    pool: str | None = None,
    argument: str = "data",
    check_finite: bool = True,
) -> LayerStack:
    """Per-layer matrices of ``data``.

    Parameters
    ----------
    data : Activations, array of shape (layer, item, dim), or sequence of (item, dim) arrays
        One (item, dim) array is taken as one layer.
        numpy arrays or torch tensors.
    layers : int or sequence of int, optional
        For Activations: model layers (negative count from the end). For arrays:
        positions along the first axis. Default: all.
    site : str, optional
        Which site of an Activations holding several.
    pool : {"mean", "max", "first", "last", "cls"}, optional
        Pool token-level Activations into one vector per text first (see
        :meth:`lensnb.Activations.pool_texts`).
    argument : str
        The caller's name for ``data``, used in error messages.
    check_finite : bool
        Refuse NaN and infinite values (checked layer by layer).

    Returns
    -------
    LayerStack

    Raises
    ------
    LensError
        For an unknown type, values that are not real numbers (text, complex, dates),
        a missing layer, mismatched row counts, fewer than two items, or NaN / infinite
        values.
    """
    if isinstance(data, Activations):
        if pool is not None:
            if pool not in POOLS:
                raise LensError.bad_argument("pool", pool, f"None or one of {POOLS}")
            if data.unit != "token":
                raise LensError.bad_argument(
                    "pool", pool, f"None for {data.unit}-level Activations (pooling works on token-level ones)"
                )
            data = data.pool_texts(pool)
        site_name = data._site(site)
        available = data.layers_by_site[site_name]
        wanted = available if layers is None else tuple(_layer_list(layers, "layers"))
        positions = [data.layer_position(layer, site_name, "layers") for layer in wanted]
        resolved = tuple(available[p] for p in positions)
        array = data.arrays[site_name]
        arrays = [array[p] for p in positions]
        stack = LayerStack(resolved, arrays, data.table, data.unit, data.model.get("name"))
    else:
        if pool is not None:
            raise LensError.bad_argument(
                "pool", pool, "None for plain arrays (pool them yourself, or pass Activations)"
            )
        if site is not None:
            raise LensError.bad_argument("site", site, "None for plain arrays (sites are those of Activations)")
        arrays_all = _plain_arrays(data, argument)
        wanted = tuple(range(len(arrays_all))) if layers is None else tuple(_layer_list(layers, "layers"))
        resolved_list = []
        for layer in wanted:
            position = layer + len(arrays_all) if layer < 0 else layer
            if not 0 <= position < len(arrays_all):
                raise LensError.bad_argument(
                    "layers", layer, f"a position in 0..{len(arrays_all) - 1} of the {len(arrays_all)} layers of {argument}"
                )  # fmt: skip
            resolved_list.append(position)
        stack = LayerStack(tuple(resolved_list), [arrays_all[p] for p in resolved_list], None, "item", None)
    if not stack.layers:
        raise LensError.bad_argument("layers", layers, "at least one layer")
    _check_rows(stack, argument, check_finite)
    return stack


def as_matrix(x: Any, argument: str, *, dtype: Any = np.float64, min_rows: int = 2) -> np.ndarray:
    """A finite, C-contiguous (n, d) array of ``dtype`` from a numpy array or torch tensor.

    Raises
    ------
    LensError
        When ``x`` is not 2-D, has fewer than ``min_rows`` rows, holds NaN / inf or
        holds values that are not real numbers (text, complex, dates; bool, integer and
        float dtypes are taken).
    """
    array = _to_numpy(x, argument)
    if array.ndim != 2:
        raise LensError.bad_argument(argument, array, "a 2-D array of shape (n_items, dim)")
    if array.shape[0] < min_rows or array.shape[1] < 1:
        raise LensError.bad_argument(argument, array, f"at least {min_rows} rows and one column")
    array = np.ascontiguousarray(array, dtype=dtype)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).any(axis=1).sum())
        raise LensError.bad_argument(argument, f"an array with NaN or infinite values in {bad} row(s)", "finite values")
    return array


def _to_numpy(x: Any, argument: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return _real_array(x, argument)
    if isinstance(x, torch.Tensor):
        return _real_array(tensor_to_numpy(x, argument), argument)
    if isinstance(x, (list, tuple)):
        try:
            array = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            pass
        else:
            if not _holds_text(x):  # float64 reads text such as "1.5" as a number
                return array
            raise LensError.bad_argument(argument, "a list holding text", _REAL)
    hint = (
        "A Relevance holds one relevance score per token, not hidden states: pass the Activations of "
        "lensnb.extract, or an (n, d) array."
        if type(x).__name__ in ("Relevance", "BatchRelevance")
        else ""
    )
    raise LensError.bad_argument(argument, x, "a numpy array or torch tensor", hint)


_REAL = "real numbers (an array of dtype bool, integer or float)"


def _holds_text(x: list | tuple) -> bool:
    try:
        return np.asarray(x).dtype.kind in "US"
    except (TypeError, ValueError):
        return False


def _real_array(array: np.ndarray, argument: str) -> np.ndarray:
    """``array`` if its dtype is bool, integer or float; an object array whose every
    element is a real number as float64; anything else (text, complex, dates, times,
    bytes, records) refused with a :class:`LensError` naming ``argument``."""
    if array.dtype.kind in "biuf":
        return array
    if array.dtype.kind == "O" and all(isinstance(value, (Real, np.bool_)) for value in array.flat):
        return np.asarray(array, dtype=np.float64)
    hint = "Complex values: pass their real and imaginary parts as separate columns." if array.dtype.kind == "c" else ""
    raise LensError.bad_argument(argument, f"an array of dtype {array.dtype}", _REAL, hint)


def _plain_arrays(data: Any, argument: str) -> list[np.ndarray]:
    if isinstance(data, (list, tuple)) and data and all(hasattr(a, "shape") for a in data):
        arrays = [_to_numpy(a, f"{argument}[{i}]") for i, a in enumerate(data)]
        for i, array in enumerate(arrays):
            if array.ndim != 2:
                raise LensError.bad_argument(f"{argument}[{i}]", array, "a 2-D (item, dim) array per layer")
        return arrays
    array = _to_numpy(data, argument)
    if array.ndim == 2:
        return [array]
    if array.ndim != 3:
        raise LensError.bad_argument(
            argument, array, "Activations, a (layer, item, dim) array, a list of (item, dim) arrays or one (item, dim) array"
        )  # fmt: skip
    return list(array)


def _layer_list(layers: Sequence[int] | int, argument: str) -> list[int]:
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        return [int(layers)]
    if isinstance(layers, (str, bytes)) or not isinstance(layers, (Sequence, np.ndarray)):
        raise LensError.bad_argument(argument, layers, "an integer layer or a list of them")
    out = []
    for layer in layers:
        if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool):
            raise LensError.bad_argument(argument, list(layers), "integer layers")
        out.append(int(layer))
    return out


def _check_rows(stack: LayerStack, argument: str, check_finite: bool) -> None:
    n = stack.arrays[0].shape[0]
    for layer, array in zip(stack.layers, stack.arrays):
        if array.ndim != 2 or array.shape[0] != n:
            raise LensError.bad_argument(
                f"{argument} (layer {layer})", array, f"shape ({n}, dim): every layer must hold the same items"
            )
        if array.shape[1] < 1:
            raise LensError.bad_argument(f"{argument} (layer {layer})", array, "at least one feature (dim >= 1)")
    if n < 2:
        raise LensError.bad_argument(argument, f"{n} item(s)", "at least 2 items")
    if check_finite:
        for layer, array in zip(stack.layers, stack.arrays):
            finite = np.isfinite(array).all(axis=1)
            if not finite.all():
                rows = np.flatnonzero(~finite)
                raise LensError.bad_argument(
                    f"{argument} (layer {layer})",
                    f"NaN or infinite values in {len(rows)} row(s), first rows {rows[:5].tolist()}",
                    "finite values",
                )


_ITEM_COLUMNS = ("text_id", "text", "token", "word")


def check_same_items(first: LayerStack, second: LayerStack, argument: str, hint: str, reference: str = "a") -> None:
    """Refuse ``second`` unless its items are ``first``'s, row for row.

    Parameters
    ----------
    first, second : LayerStack
    argument : str
        The name of ``second`` in the errors; ``reference`` is that of ``first``.
    hint : str
        What to do instead, appended to the errors.

    Notes
    -----
    The row counts must agree; where both have a table, so must their unit and the
    columns ``text_id``, ``text``, ``token`` and ``word`` that both carry.
    """
    if first.n_items != second.n_items:
        raise LensError.bad_argument(
            argument, f"{second.n_items} {second.unit}s", f"{first.n_items} items, as in {reference}", hint
        )
    if first.table is None or second.table is None:
        return
    if first.unit != second.unit:
        raise LensError.bad_argument(
            argument, f"{second.unit}-level activations", f"{first.unit}-level ones, as {reference}", hint
        )
    for column in _ITEM_COLUMNS:
        if column in first.table.columns and column in second.table.columns:
            left = first.table[column].astype(str).to_numpy()
            right = second.table[column].astype(str).to_numpy()
            differ = np.flatnonzero(left != right)
            if len(differ):
                row = int(differ[0])
                raise LensError.bad_argument(
                    argument, f"{second.unit}s whose {column!r} differs from {reference}'s in {len(differ)} of "
                    f"{len(left)} rows (first at row {row}: {right[row]!r} vs {left[row]!r})",
                    f"the same {first.unit}s as {reference}", hint,
                )  # fmt: skip


def out_of_scale(argument: str, values: np.ndarray) -> LensError:
    """The error for data whose squares overflow or underflow float64 (|x| beyond about
    1e154, or every difference below about 1e-162): distances and products are undefined."""
    largest = float(np.abs(values).max()) if values.size else 0.0
    return LensError.bad_argument(
        argument, f"values up to {largest:.3g} in magnitude, whose squares over- or underflow float64",
        "values whose squares float64 holds (|x| between about 1e-150 and 1e150)",
        "Multiply the data by a constant first: neighbours, intrinsic dimension and CKA do not depend on the scale.",
    )  # fmt: skip


def power_of_two_scaled(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``x`` times the power of two that brings its largest magnitude into [0.5, 1).

    Parameters
    ----------
    x : ndarray of float, any shape (finite)
    axis : int, optional
        Scale each slice along the other axes on its own (``axis=1``: each row of a
        matrix by its own power of two); default one factor for the whole array.

    Returns
    -------
    ndarray of the dtype of ``x``, same shape
        Multiplying by a power of two is exact, so every scale-invariant quantity
        (cosines, angles, trace-normalised spectra, principal axes) comes out the same
        as from ``x``, bit for bit where ``x``'s own squares neither overflow nor
        underflow, and right where they do (``|x|`` beyond about 1e154 or below about
        1e-154 in float64, 1e19 / 1e-19 in float32). All-zero slices stay zero.
    """
    if x.size == 0:
        return x
    peak = np.max(np.abs(x), axis=axis, keepdims=axis is not None)
    _, exponent = np.frexp(peak)
    return np.ldexp(x, -exponent).astype(x.dtype, copy=False)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (numpy's scalars included), not a bool."""
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed numpy, torch and scikit-learn all take: an integer (numpy's included, bools not)
    in 0 .. 2**32 - 1."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise LensError.bad_argument(name, seed, "a non-negative integer below 2**32")
    return int(seed)


def check_integer(name: str, value: Any, least: int) -> int:
    """``value`` as an int, refusing anything but an integer (numpy's included, bools not) >= ``least``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < least:
        expected = {0: "a non-negative integer", 1: "a positive integer"}.get(least, f"an integer >= {least}")
        raise LensError.bad_argument(name, value, expected)
    return int(value)
