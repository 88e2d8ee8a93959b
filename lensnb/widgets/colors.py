"""Colourings of the items: a label, a role, a probe's correctness, a relevance score.

A :class:`Coloring` turns one value per item (or one per item at every layer) into a
hex colour per item, with what a legend or a colour bar needs. Categorical values get
a qualitative palette (the 19 most frequent classes, then "other"); numbers get a
continuous one (a diverging palette centred on 0 for signed scores such as
relevance). Missing values are light grey. Pure numpy and bokeh palettes, no widgets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lensnb.errors import LensError
from lensnb.widgets.columns import label_columns_of

__all__ = [
    "Coloring", "coloring_from_values", "diverging_palette", "probe_correctness", "relevance_coloring",
    "MISSING_COLOR",
]  # fmt: skip

MISSING_COLOR = "#d9d9d9"
OTHER_COLOR = "#8c8c8c"
MAX_CLASSES = 19
CORRECTNESS_COLORS = {"correct": "#1a9850", "wrong": "#d73027", "not tested": MISSING_COLOR}


#: Category20's two greys, too close to "other" (#8c8c8c) and "(no label)" (#d9d9d9) to tell apart
_GREYS = ("#7f7f7f", "#c7c7c7")
#: what takes their place: Category20b's dark blue and olive, unlike any other colour of Category20
_INSTEAD_OF_GREYS = ("#393b79", "#637939")


def _qualitative(n: int) -> list[str]:
    from bokeh.palettes import Category10, Category20

    if n <= 10:
        return list(Category10[10][:n]) if n >= 3 else list(Category10[3][:n])
    return ([c for c in Category20[20] if c not in _GREYS] + list(_INSTEAD_OF_GREYS))[:n]


#: Steps of the diverging ramp (odd, so that its middle colour is exactly 0's white).
DIVERGING_STEPS = 255


def diverging_palette(steps: int = DIVERGING_STEPS) -> list[str]:
    """Blue for negative, white at 0, red for positive: the relevance text's colours, as a ramp.

    Each colour is :func:`lensnb.relevance.html.shade_color` of a score between -1 and 1,
    so a score has the same colour in a scatter, a heatmap and a shaded text. ``steps``
    is odd (at least 3), so that the middle colour is exactly 0's white.
    """
    from lensnb.relevance.html import shade_color

    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 3 or steps % 2 == 0:
        raise LensError.bad_argument("steps", steps, "an odd number of colours, at least 3")

    return [_hex(shade_color(float(v), 1.0)) for v in np.linspace(-1.0, 1.0, steps)]


def _hex(rgb: str) -> str:
    red, green, blue = (int(part) for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(","))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _continuous(diverging: bool) -> list[str]:
    from bokeh.palettes import Viridis256

    if diverging:  # blue for negative, white at 0, red for positive (like the relevance text)
        return diverging_palette()
    return list(Viridis256)


@dataclass(frozen=True)
class Coloring:
    """One colour per item, per layer if the values change with the layer.

    Attributes
    ----------
    name : str
        Shown in the colour picker and the legend title.
    values : ndarray, shape (n_items,) or (n_layers, n_items)
        Labels (categorical) or numbers (continuous); None / NaN are missing.
    kind : {"categorical", "continuous"}
    per_layer : bool
        Whether ``values`` has a layer axis (then it follows the layer slider).
    classes : list of str
        Categorical: the classes with a colour of their own, most frequent first.
    palette : list of str
        Categorical: one colour per class; continuous: the colour ramp.
    low, high : float
        Continuous: the values at the two ends of the ramp.
    """

    name: str
    values: np.ndarray
    kind: str
    per_layer: bool = False
    classes: list[str] = field(default_factory=list)
    palette: list[str] = field(default_factory=list)
    low: float = 0.0
    high: float = 1.0
    other: int = 0

    def colors(self, layer_position: int = 0) -> np.ndarray:
        """Hex colour of every item at one layer (row of ``values``), shape (n_items,)."""
        values = self.values[layer_position] if self.per_layer else self.values
        if self.kind == "categorical":
            lookup = dict(zip(self.classes, self.palette))
            labels = _as_labels(values)
            return np.array([MISSING_COLOR if v is None else lookup.get(v, OTHER_COLOR) for v in labels], dtype=object)
        numbers = np.asarray(values, dtype=np.float64)
        out = np.full(numbers.shape, MISSING_COLOR, dtype=object)
        finite = np.isfinite(numbers)
        span = self.high - self.low
        scaled = np.zeros(int(finite.sum())) if span <= 0 else (numbers[finite] - self.low) / span
        index = np.clip((scaled * (len(self.palette) - 1)).round().astype(np.int64), 0, len(self.palette) - 1)
        out[finite] = np.asarray(self.palette, dtype=object)[index]
        return out

    def legend(self) -> list[tuple[str, str]]:
        """Categorical: (label, colour) pairs, "other" and "missing" last when present."""
        if self.kind != "categorical":
            return []
        items = list(zip(self.classes, self.palette))
        if self.other:
            items.append((f"other ({self.other} classes)", OTHER_COLOR))
        if any(v is None for v in _as_labels(np.ravel(self.values))):
            items.append(("(no label)", MISSING_COLOR))
        return items


def _as_labels(values: np.ndarray) -> list[str | None]:
    out: list[str | None] = []
    for value in np.ravel(values).tolist():
        if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)) or value is pd.NA:
            out.append(None)
        else:
            out.append(str(value))
    return out


def coloring_from_values(
    name: str, values: Any, *, n_items: int, kind: str | None = None, diverging: bool | None = None
) -> Coloring:
    """A colouring of ``n_items`` items from a column, an array or a per-layer array.

    Parameters
    ----------
    name : str
    values : array-like, shape (n_items,) or (n_layers, n_items)
    n_items : int
    kind : {"categorical", "continuous"}, optional
        Default: continuous for float or integer arrays with more than 20 distinct
        values, categorical otherwise (strings, booleans, categories, few integers).
    diverging : bool, optional
        Continuous only: a palette centred on 0. Default: when values of both signs occur.
    """
    array = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    if array.ndim not in (1, 2) or array.shape[-1] != n_items:
        raise LensError.bad_argument(
            f"coloring {name!r}", array, f"values of shape ({n_items},) or (n_layers, {n_items})"
        )
    per_layer = array.ndim == 2
    if kind is None:
        numeric = array.dtype.kind in "fiu" and array.dtype.kind != "b"
        many = numeric and len(np.unique(array[np.isfinite(array)] if array.dtype.kind == "f" else array)) > 20
        kind = "continuous" if numeric and (array.dtype.kind == "f" or many) else "categorical"
    if kind == "categorical":
        labels = [v for v in _as_labels(array) if v is not None]
        counts = pd.Series(labels, dtype=object).value_counts(sort=True) if labels else pd.Series(dtype=int)
        ordered = sorted(counts.index.tolist(), key=lambda c: (-counts[c], c))
        shown = ordered if len(ordered) <= MAX_CLASSES + 1 else ordered[:MAX_CLASSES]
        if set(shown) == {"correct", "wrong"} or set(shown) <= set(CORRECTNESS_COLORS):
            palette = [CORRECTNESS_COLORS[c] for c in shown]
        else:
            palette = _qualitative(len(shown))
        return Coloring(name, array.astype(object), "categorical", per_layer, shown, palette,
                        other=len(ordered) - len(shown))  # fmt: skip
    if kind != "continuous":
        raise LensError.bad_argument("kind", kind, "'categorical' or 'continuous'")
    try:
        numbers = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):
        raise LensError.bad_argument(
            "values", array, "numbers (or None / NaN for missing) for kind='continuous'",
            f"Coloring {name!r} holds text; pass kind='categorical' or leave kind to be chosen.",
        ) from None  # fmt: skip
    finite = numbers[np.isfinite(numbers)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if diverging is None:
        diverging = low < 0 < high
    if diverging:
        bound = max(abs(low), abs(high)) or 1.0
        low, high = -bound, bound
    return Coloring(name, numbers, "continuous", per_layer, palette=_continuous(diverging), low=low, high=high)


def _row_keys(table: pd.DataFrame, columns: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([table[c].to_numpy() for c in columns])


#: How probe items are matched to view items, tried in this order: tokens, words, spans, span pairs, texts.
_ITEM_KEYS = (
    ["text_id", "position", "window"], ["text_id", "position"], ["text_id", "word_index"],
    ["text_id", "word_start", "word_end"], ["text_id", "word_start_1", "word_end_1", "word_start_2", "word_end_2"],
    ["text_id"],
)  # fmt: skip


def probe_correctness(profile: Any, table: pd.DataFrame, layers: tuple[int, ...]) -> Coloring:
    """Per layer, whether the probe got each item right: "correct", "wrong" or "not tested".

    Parameters
    ----------
    profile : LayerProfile
        From :func:`lensnb.probing.sweep.probe_layers` (its first seed's test rows and
        predictions are used).
    table : DataFrame
        The items to colour; probe items are matched to them by (text_id, position,
        window) for tokens, (text_id, word_index) for words, (text_id, word_start,
        word_end) for spans, text_id for texts.
    layers : tuple of int
        The layers of the view; layers the probe did not see are "not tested".
    """
    details = getattr(profile, "details", {}) or {}
    if "test_rows" not in details or "predictions" not in details or profile.table is None:
        raise LensError.bad_argument("profile", profile, "a LayerProfile from probe_layers (with test rows)")
    probe_table = profile.table
    for columns in _ITEM_KEYS:
        if set(columns) <= set(table.columns) and set(columns) <= set(probe_table.columns):
            if columns != ["text_id"] or table["text_id"].is_unique:  # texts: one item per text
                break
    else:
        raise LensError.bad_argument(
            "table",
            list(table.columns),
            "item columns shared with the probe's table (text_id and position, word_index or a span's words)",
        )
    where = pd.Series(np.arange(len(table)), index=_row_keys(table, columns))
    where = where[~where.index.duplicated()]
    test_rows = np.asarray(details["test_rows"])
    item_rows = where.reindex(_row_keys(probe_table.iloc[test_rows], columns)).to_numpy()
    found = ~pd.isna(item_rows)
    item_rows = item_rows[found].astype(np.int64)
    classes = np.asarray(details.get("classes"))
    task_label = (getattr(profile, "params", {}) or {}).get("task", {}).get("label")
    truth_column = "label" if "label" in probe_table else task_label
    if truth_column not in probe_table:
        raise LensError.bad_argument("profile", profile, "a probe table with its label column")
    truth_labels = probe_table[truth_column].to_numpy()[test_rows][found]
    values = np.full((len(layers), len(table)), "not tested", dtype=object)
    for position, layer in enumerate(layers):
        if layer not in profile.layers:
            continue
        predicted = np.asarray(details["predictions"][profile.layers.index(layer)])[found]
        if predicted.ndim != 1:  # multi-label tasks: no single right answer to colour by
            continue
        names = classes[predicted] if predicted.dtype.kind in "iu" else predicted
        right = np.array([str(a) == str(b) for a, b in zip(names, truth_labels)])
        values[position, item_rows] = np.where(right, "correct", "wrong")
    return coloring_from_values(f"{profile.name} correct?", values, n_items=len(table), kind="categorical")


def relevance_coloring(relevance: Any, table: pd.DataFrame, layers: tuple[int, ...] | None = None) -> Coloring:
    """Relevance score of each item (signed, diverging palette), per layer when the view has layers.

    Items are matched to the relevance's tokens by (text_id, position, window).
    """
    tokens = relevance.tokens
    columns = [c for c in ("text_id", "position", "window") if c in table.columns and c in tokens.columns]
    if columns[:2] != ["text_id", "position"]:
        raise LensError.bad_argument(
            "table", list(table.columns), "a token table (text_id, position) to match relevance"
        )
    where = pd.Series(np.arange(len(tokens)), index=_row_keys(tokens, columns))
    where = where[~where.index.duplicated()]
    rows = where.reindex(_row_keys(table, columns)).to_numpy()
    found = ~pd.isna(rows)
    rows = np.where(found, rows, 0).astype(np.int64)
    name = f"relevance ({relevance.method})"
    if layers is not None and relevance.layer_scores is not None and relevance.layers is not None:
        values = np.full((len(layers), len(table)), np.nan)
        for position, layer in enumerate(layers):
            if layer in relevance.layers:
                scores = relevance.layer_scores[relevance.layers.index(layer)]
                values[position] = np.where(found, scores[rows], np.nan)
        return coloring_from_values(name, values, n_items=len(table), kind="continuous", diverging=True)
    values = np.where(found, relevance.scores[rows], np.nan)
    return coloring_from_values(name, values, n_items=len(table), kind="continuous", diverging=True)


def table_colorings(table: pd.DataFrame, columns: Mapping[str, Any] | None = None) -> dict[str, Coloring]:
    """Colourings for the label columns of an item table (every non-standard column)."""
    chosen = columns if columns is not None else {c: table[c] for c in label_columns_of(table)}
    return {name: coloring_from_values(name, values, n_items=len(table)) for name, values in chosen.items()}
