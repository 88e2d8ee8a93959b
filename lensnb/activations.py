"""`Activations`: hidden states per layer with the table that says what each row is.

An :class:`Activations` holds, for each site, a (layer, item, dim) array (in memory or
memory-mapped from a store) and one table with a row per item. Items are tokens as
extracted; pooling gives words, spans or texts, with the same interface. It holds no
reference to the model.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lensnb.errors import LensError
from lensnb.examples import RESERVED_TOKEN_COLUMNS, word_text
from lensnb.flags import check_flag
from lensnb.pooling import pool_groups, runs

__all__ = ["Activations", "AttentionMaps"]


@dataclass
class AttentionMaps:
    """Attention probabilities of each model input, stored flat.

    Attributes
    ----------
    values : ndarray, shape (n_values,)
        All maps, one after the other.
    index : DataFrame
        One row per model input: ``text_id``, ``window``, ``offset`` into ``values``,
        ``length`` T (tokens fed, specials included), and which of the text's token
        positions (the token table's ``position``) it fed: ``prefix``, ``content_start``,
        ``content_stop`` and ``suffix_start`` (see :meth:`positions`). A text that fits the model has one
        input, fed every position in order; a text cut into windows has one per window:
        its prefix specials, its slice of the content (overlapping its neighbours' by
        ``stride`` tokens) and its suffix specials.
    layers : tuple of int
        Blocks the maps come from (1..L).
    n_heads : int
    """

    values: np.ndarray
    index: pd.DataFrame
    layers: tuple[int, ...]
    n_heads: int

    def _entry(self, text_id: int, window: int) -> pd.Series:
        """The index row of one input."""
        match = self.index[(self.index["text_id"] == text_id) & (self.index["window"] == window)]
        if match.empty:
            raise LensError.bad_argument(
                "text_id, window", (text_id, window), "a text (and window) that was extracted with attentions=True"
            )
        return match.iloc[0]

    def get(self, text_id: int, window: int = 0) -> np.ndarray:
        """Maps of one input, shape (layer, head, query, key)."""
        entry = self._entry(text_id, window)
        offset, length = int(entry["offset"]), int(entry["length"])
        size = len(self.layers) * self.n_heads * length * length
        return np.asarray(self.values[offset : offset + size]).reshape(len(self.layers), self.n_heads, length, length)

    def positions(self, text_id: int, window: int = 0) -> np.ndarray:
        """The text's token positions (the token table's ``position``) at each query and
        key of :meth:`get`'s maps, shape (T,) int64: ``[0, prefix)``, then the window's
        content ``[content_start, content_stop)``, then the suffix specials from
        ``suffix_start``. Join them with the token table on ``text_id`` and ``position``."""
        if "content_start" not in self.index:
            raise LensError("attentions: this store's index predates the fed positions; extract it again to get them.")
        entry = self._entry(text_id, window)
        length, prefix, start, stop, suffix = (
            int(entry[c]) for c in ("length", "prefix", "content_start", "content_stop", "suffix_start")
        )  # fmt: skip
        n_suffix = length - prefix - (stop - start)
        return np.r_[0:prefix, start:stop, suffix : suffix + n_suffix].astype(np.int64)


class Activations:
    """Per-layer representations of a set of items (tokens, words, spans or texts).

    Parameters
    ----------
    arrays : dict of site to ndarray, each of shape (layer, item, dim)
    layers : dict of site to tuple of int
        Model layer of each array row (0 = embeddings, l = output of block l).
    table : DataFrame, one row per item
        For tokens: text_id, position, token, token_id, word_index, char_start,
        char_end, special, first_piece, last_piece, window and label columns.
    unit : {"token", "word", "span", "span_pair", "text"}
    texts, spans, span_pairs : DataFrame, optional
        The text table and the labelled spans of the extraction.
    attentions : AttentionMaps, optional
    model : dict
        Name, revision, fingerprint, family, n_layers, hidden_size, layer_names.
    path : Path, optional
        The store the arrays are memory-mapped from.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        layers: Mapping[str, Sequence[int]],
        table: pd.DataFrame,
        *,
        unit: str = "token",
        texts: pd.DataFrame | None = None,
        spans: pd.DataFrame | None = None,
        span_pairs: pd.DataFrame | None = None,
        attentions: AttentionMaps | None = None,
        model: Mapping[str, Any] | None = None,
        path: Path | None = None,
    ):
        self.arrays = dict(arrays)
        self.layers_by_site = {site: tuple(int(x) for x in layers[site]) for site in self.arrays}
        self.table = table
        self.unit = unit
        self.texts = texts
        self.spans = spans
        self.span_pairs = span_pairs
        self.attentions = attentions
        self.model = dict(model or {})
        self.path = path
        for site, array in self.arrays.items():
            expected = (len(self.layers_by_site[site]), len(table))
            if array.ndim != 3 or array.shape[:2] != expected:
                raise LensError.bad_argument(
                    f"arrays[{site!r}]", array, f"shape ({expected[0]}, {expected[1]}, dim) to match layers and table"
                )

    # ------------------------------------------------------------------ basics
    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(self.arrays)

    def _site(self, site: str | None) -> str:
        if site is None:
            if len(self.arrays) != 1:
                raise LensError.bad_argument("site", None, f"one of {self.sites} (these activations hold several)")
            return next(iter(self.arrays))
        if site not in self.arrays:
            raise LensError.bad_argument("site", site, f"one of {self.sites}")
        return site

    @property
    def values(self) -> np.ndarray:
        """The (layer, item, dim) array of the only site."""
        return self.arrays[self._site(None)]

    @property
    def layers(self) -> tuple[int, ...]:
        """Model layers of the rows of :attr:`values`."""
        return self.layers_by_site[self._site(None)]

    @property
    def tokens(self) -> pd.DataFrame:
        """The token table (for token-level activations)."""
        if self.unit != "token":
            raise LensError(f"tokens: these activations are pooled by {self.unit}; their table is .table.")
        return self.table

    @property
    def dim(self) -> int:
        return next(iter(self.arrays.values())).shape[-1]

    def __len__(self) -> int:
        return len(self.table)

    def layer_name(self, layer: int) -> str:
        """Display name of a model layer ("embeddings", "layer 3")."""
        names = self.model.get("layer_names")
        return names[layer] if names and 0 <= layer < len(names) else f"layer {layer}"

    def layer_position(self, layer: int, site: str | None = None, argument: str = "layer") -> int:
        """Row of ``layer`` in the site's array; negative layers count from the last.
        ``argument`` names the layer in errors (a caller's ``layers``)."""
        site = self._site(site)
        available = self.layers_by_site[site]
        if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool):
            raise LensError.bad_argument(argument, layer, "an integer layer number")
        resolved = int(layer)
        if resolved < 0:
            resolved += self.model.get("n_layers", max(available)) + 1
        if resolved not in available:
            raise LensError.bad_argument(
                argument, layer, f"one of the extracted layers {list(available)} (or negative from the end)"
            )
        return available.index(resolved)

    def layer(self, layer: int, site: str | None = None) -> np.ndarray:
        """One layer as a (item, dim) array."""
        site = self._site(site)
        return self.arrays[site][self.layer_position(layer, site)]

    def to_pandas(self) -> pd.DataFrame:
        """A copy of the item table (the token table for token activations)."""
        return self.table.copy()

    def __repr__(self) -> str:
        sites = ", ".join(f"{s}: {len(self.layers_by_site[s])} layers" for s in self.sites)
        where = f", store={str(self.path)!r}" if self.path else ""
        return (
            f"Activations({len(self)} {self.unit}s x dim {self.dim}; {sites}; model={self.model.get('name')!r}{where})"
        )

    # ------------------------------------------------------------------ selection
    def select(
        self,
        layers: Sequence[int] | int | None = None,
        items: np.ndarray | Sequence[int] | str | None = None,
        sites: Sequence[str] | str | None = None,
        _caller: Any = None,
    ) -> Activations:
        """A subset by layer, by item and by site.

        Parameters
        ----------
        layers : int or sequence of int, optional
            Model layers to keep (negative count from the end).
        items : bool mask of shape (n_items,), integer rows, or a query string
            Rows to keep, each at most once, in table order; a string is a
            ``DataFrame.query`` on the table (``"special == False and pos == 'NOUN'"``;
            ``@name`` refers to the caller's variables).
        sites : str or sequence of str, optional
        """
        chosen_sites = self.sites if sites is None else ((sites,) if isinstance(sites, str) else tuple(sites))
        for site in chosen_sites:
            self._site(site)
        rows = self._rows(items, _caller if _caller is not None else sys._getframe(1))
        arrays, layer_map = {}, {}
        for site in chosen_sites:
            array = self.arrays[site]
            if layers is None:
                positions = list(range(len(self.layers_by_site[site])))
            else:
                wanted = [layers] if isinstance(layers, (int, np.integer)) else list(layers)
                positions = [self.layer_position(layer, site, "layers") for layer in wanted]
            layer_map[site] = tuple(self.layers_by_site[site][p] for p in positions)
            contiguous = positions == list(range(positions[0], positions[-1] + 1)) if positions else True
            array = array[positions[0] : positions[-1] + 1] if contiguous and positions else array[positions]
            arrays[site] = array if rows is None else array[:, rows]
        table, spans, pairs, texts = self.table, self.spans, self.span_pairs, self.texts
        if rows is not None:
            table = self.table.iloc[rows].reset_index(drop=True)
            spans, pairs, texts = self._remap_spans(rows)
        return Activations(
            arrays, layer_map, table, unit=self.unit, texts=texts, spans=spans, span_pairs=pairs,
            attentions=self.attentions, model=self.model, path=self.path if rows is None else None,
        )  # fmt: skip

    def query(self, expression: str) -> Activations:
        """Rows whose table entries satisfy a ``DataFrame.query`` expression (``@name`` refers
        to the caller's variables, as in pandas)."""
        return self.select(items=expression, _caller=sys._getframe(1))

    def drop_special(self) -> Activations:
        """Token activations without special tokens ([CLS], [SEP], <s>...)."""
        return self.select(items=~self.tokens["special"].to_numpy(dtype=bool))

    def _rows(self, items, caller: Any) -> np.ndarray | None:
        """Sorted distinct rows from a mask, row numbers or a query evaluated in ``caller``'s frame."""
        if items is None:
            return None
        n = len(self.table)
        if isinstance(items, str):
            try:
                mask = self.table.eval(items, local_dict=caller.f_locals, global_dict=caller.f_globals)
            except Exception as error:  # noqa: BLE001 - pandas raises many types
                raise LensError.bad_argument(
                    "items", items, f"a query on the columns {list(self.table.columns)}", str(error)
                ) from None
            if not (isinstance(mask, pd.Series) and mask.dtype == bool and len(mask) == n):
                raise LensError.bad_argument(
                    "items", items, "a query that is true or false for each row (a comparison, say)",
                    f"It gave {type(mask).__name__} {getattr(mask, 'dtype', '')}.",
                )  # fmt: skip
            items = mask.to_numpy(dtype=bool)
        items = np.asarray(items)
        if items.size == 0 and items.dtype != bool:
            items = items.astype(np.int64)  # [] is no rows, not a float array
        if items.dtype == bool:
            if items.shape != (n,):
                raise LensError.bad_argument("items", items, f"a boolean mask of shape ({n},)")
            return np.flatnonzero(items)
        if items.ndim != 1 or not np.issubdtype(items.dtype, np.integer):
            raise LensError.bad_argument("items", items, "a boolean mask, integer rows or a query string")
        if len(items) and (items.min() < -n or items.max() >= n):
            raise LensError.bad_argument("items", f"rows {items.min()}..{items.max()}", f"rows in [0, {n})")
        rows = np.sort(np.where(items < 0, items + n, items))
        repeated = rows[1:][rows[1:] == rows[:-1]]
        if len(repeated):  # spans and pooling need each row once
            raise LensError.bad_argument(
                "items", f"row {int(repeated[0])} given more than once", "each row at most once"
            )
        return rows

    def _remap_spans(self, rows: np.ndarray):
        """Spans whose tokens are all kept, with token rows renumbered; text table as is."""
        if self.unit != "token":
            return None, None, self.texts
        kept = np.zeros(len(self.table), dtype=bool)
        kept[rows] = True
        before = np.r_[0, np.cumsum(kept)]  # before[i] = kept rows before row i

        def remap(frame: pd.DataFrame | None, suffixes: Sequence[str]):
            if frame is None or frame.empty:
                return frame
            ok = np.ones(len(frame), dtype=bool)
            frame = frame.copy()
            for suffix in suffixes:
                start = frame[f"token_start{suffix}"].to_numpy()
                end = frame[f"token_end{suffix}"].to_numpy()
                valid = start >= 0
                ok &= valid & (before[np.maximum(end, 0)] - before[np.maximum(start, 0)] == end - start)
                frame[f"token_start{suffix}"] = np.where(valid, before[np.maximum(start, 0)], -1)
                frame[f"token_end{suffix}"] = np.where(valid, before[np.maximum(end, 0)], -1)
            return frame[ok].reset_index(drop=True)

        texts = (
            self.texts.drop(columns=["token_start", "token_end"], errors="ignore") if self.texts is not None else None
        )
        return remap(self.spans, [""]), remap(self.span_pairs, ["_1", "_2"]), texts

    # ------------------------------------------------------------------ pooling
    def _pooled(self, rows: np.ndarray, offsets: np.ndarray, how: str, table: pd.DataFrame, unit: str) -> Activations:
        arrays = {site: pool_groups(array, rows, offsets, how) for site, array in self.arrays.items()}
        return Activations(
            arrays, self.layers_by_site, table.reset_index(drop=True), unit=unit, texts=self.texts, model=self.model
        )

    def pool_texts(self, how: str = "mean", include_special: bool = False) -> Activations:
        """One vector per text.

        Parameters
        ----------
        how : {"mean", "max", "first", "last", "cls"}
            ``cls`` is the text's first token, which must be a special token ([CLS],
            <s>), of an encoder (a decoder's BOS sees nothing of the text);
            ``first`` / ``last`` are its first / last non-special tokens.
        include_special : bool
            Pool over special tokens too (mean, max).

        Returns
        -------
        Activations with unit "text" and the text table as its table.
        """
        include_special = check_flag("include_special", include_special)
        tokens = self.tokens
        if how == "cls":
            if self.model.get("is_decoder"):
                raise LensError.bad_argument(
                    "how", how, "'mean' or 'last' for a decoder",
                    "A causal model's first token (BOS) sees only itself: its vector is the same for every text.",
                )  # fmt: skip
            first = runs(tokens["text_id"].to_numpy())[:-1]
            if not tokens["special"].to_numpy()[first].all():
                raise LensError.bad_argument(
                    "how",
                    how,
                    "'mean', 'max', 'first' or 'last' for this model",
                    "Its inputs do not start with a special token like [CLS].",
                )
            rows, offsets, how = first, np.arange(len(first) + 1), "first"
        else:
            mask = np.ones(len(tokens), bool) if include_special else ~tokens["special"].to_numpy(dtype=bool)
            rows = np.flatnonzero(mask)
            offsets = runs(tokens["text_id"].to_numpy()[rows])
        text_ids = tokens["text_id"].to_numpy()[rows[offsets[:-1]]]
        table = (
            self.texts.set_index("text_id").loc[text_ids].reset_index()
            if self.texts is not None
            else pd.DataFrame({"text_id": text_ids})
        )
        return self._pooled(rows, offsets, how, table, "text")

    def pool_words(self, how: str = "first") -> Activations:
        """One vector per word, from its word pieces.

        Parameters
        ----------
        how : {"first", "last", "mean", "max"}

        Returns
        -------
        Activations with unit "word": table columns text_id, word_index, word, and
        each label column taken from the word's first piece that carries it.
        """
        tokens = self.tokens
        rows = np.flatnonzero(tokens["word_index"].to_numpy() >= 0)
        keys = np.stack([tokens["text_id"].to_numpy()[rows], tokens["word_index"].to_numpy()[rows]], axis=1)
        offsets = runs(keys)
        table = self._word_table(rows, offsets)
        return self._pooled(rows, offsets, how, table, "word")

    def _word_table(self, rows: np.ndarray, offsets: np.ndarray) -> pd.DataFrame:
        tokens = self.tokens
        starts, ends = rows[offsets[:-1]], rows[offsets[1:] - 1]
        table = pd.DataFrame({
            "text_id": tokens["text_id"].to_numpy()[starts],
            "word_index": tokens["word_index"].to_numpy()[starts],
        })  # fmt: skip
        if self.texts is not None:
            text_of = dict(zip(self.texts["text_id"], self.texts["text"]))
            char_start, char_end = tokens["char_start"].to_numpy(), tokens["char_end"].to_numpy()
            table["word"] = [
                word_text(text_of[t], char_start[s], char_end[e]) for t, s, e in zip(table["text_id"], starts, ends)
            ]
        group = np.repeat(np.arange(len(starts)), np.diff(offsets))
        for column in (c for c in tokens.columns if c not in RESERVED_TOKEN_COLUMNS):
            values = tokens[column].iloc[rows].reset_index(drop=True)
            table[column] = values.groupby(group).first().reindex(range(len(starts))).to_numpy()
        return table

    def pool_spans(self, how: str = "mean") -> Activations:
        """One vector per labelled span.

        Parameters
        ----------
        how : {"mean", "max", "first", "last", "endpoints"}

        Returns
        -------
        Activations with unit "span" and the span table as its table.
        """
        if self.spans is None or self.spans.empty:
            raise LensError("pool_spans: these activations have no spans; extract Examples with spans=[Span(...)].")
        start = self.spans["token_start"].to_numpy()
        end = self.spans["token_end"].to_numpy()
        if np.any(start < 0):
            raise LensError(
                f"pool_spans: {int(np.sum(start < 0))} span(s) have no token (their words were dropped or truncated)."
            )
        lengths = end - start
        offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        rows = np.repeat(start - offsets[:-1], lengths) + np.arange(offsets[-1])
        return self._pooled(rows, offsets, how, self.spans, "span")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write these activations as a store folder (``.npy`` + Parquet + manifest).

        The folder is written whole beside ``path`` and moved into place, so a failure
        leaves what was at ``path`` untouched; ``overwrite`` replaces a lensnb store
        (never another tool's folder). ``~`` is expanded."""
        from lensnb.store_io import save_activations

        return save_activations(self, Path(path), overwrite=check_flag("overwrite", overwrite))

    @classmethod
    def load(cls, path: str | Path) -> Activations:
        """Open a store, memory-mapping its arrays, after validating it."""
        from lensnb.store_io import load_activations

        return load_activations(Path(path).expanduser())
