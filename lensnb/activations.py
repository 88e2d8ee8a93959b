"""`Activations`: hidden states per layer with the table that says what each row is.

An :class:`Activations` holds, for each site, a (layer, item, dim) array (in memory or
memory-mapped from a store) and one table with a row per item. Items are tokens as
extracted; pooling gives words, spans or texts, with the same interface. It holds no
reference to the model.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lensnb.errors import LensError, describe
from lensnb.examples import RESERVED_TOKEN_COLUMNS, word_text
from lensnb.flags import check_flag
from lensnb.pooling import pool_groups, runs

__all__ = ["Activations", "AttentionMaps", "TEXT_POOLINGS", "WORD_POOLINGS", "SPAN_POOLINGS"]

#: What each pooling method takes as ``how``.
TEXT_POOLINGS = ("mean", "max", "first", "last", "cls")
WORD_POOLINGS = ("first", "last", "mean", "max")
SPAN_POOLINGS = ("mean", "max", "first", "last", "endpoints")


def multi_site_message(sites: Sequence[str], attribute: str) -> str:
    """The error for ``acts.values`` / ``acts.layers`` on Activations of several sites,
    which have no ``site`` argument to choose one."""
    first = sites[0]
    instead = {
        "values": f"take one site's (layer, item, dim) array with acts.arrays[{first!r}]",
        "layers": f"take one site's layers with acts.layers_by_site[{first!r}]",
    }.get(attribute, f"take one site's with acts.arrays[{first!r}]")
    return (
        f"acts.{attribute}: expected Activations of one site (.{attribute} has no site argument), received "
        f"Activations of {len(sites)} sites {tuple(sites)}. {instead[0].upper()}{instead[1:]}, or select one site "
        f"first: acts.select(sites={first!r}).{attribute}."
    )


def tokenless_note(shared: int, truncated: int) -> str:
    """Why spans have no token row: ``shared`` spans whose words got no word piece of their
    own (complete, so no truncation took them) and ``truncated`` ones that truncation
    removed (``complete`` False), with what to do about each."""
    reasons = []
    if shared:
        reasons.append(
            f"{shared} because their words have no word piece of their own (a word that shares its piece with a "
            "neighbour gets none, as when the annotation splits a contraction that the tokenizer keeps whole, e.g. "
            "UD's 'cannot' as 'can' + 'not'; the extraction warned about these words)"
        )
    if truncated:
        reasons.append(
            f"{truncated} because truncation removed their words (they fell past max_length: extract with "
            "overflow='window' to keep every token)"
        )
    return "; ".join(reasons)


def _query_result(result: Any, n_rows: int) -> str:
    """What a query that is not a condition gave instead, and how to mend it."""
    if isinstance(result, pd.DataFrame):
        return (
            "It gave a whole table (DataFrame), not one True or False per row: a single '=' assigns a column; "
            "compare with '=='."
        )
    if isinstance(result, pd.Series):
        if len(result) != n_rows:
            return f"It gave {len(result)} values for the {n_rows} rows."
        return f"It gave values of type {result.dtype}, not True or False: compare them (==, <, isin ...)."
    return f"It gave one value ({describe(result)}), not one True or False per row."


def _check_how(how: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(how, str) or how not in allowed:
        raise LensError.bad_argument("how", how, f"one of {allowed}")


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
        positions (the token table's ``position``) it fed: its ``prefix`` specials
        (positions ``[0, prefix)``), its content ``[content_start, content_stop)`` and its
        suffix specials from ``suffix_start`` (see :meth:`positions`). A text that fits
        the model has one input, fed every position in order (its whole content); a text
        cut into windows has one per window: the prefix specials, the window's slice of
        the content (overlapping its neighbours' by ``stride`` tokens) and the suffix
        specials.
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

    Attributes
    ----------
    spans_dropped, span_pairs_dropped : int
        How many labelled spans / span pairs the selections (:meth:`select`,
        :meth:`query`) that made these activations dropped (0 as extracted); a saved
        store keeps them.
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
        from lensnb.store import check_site_name  # each site is a file of a saved store: {site}.npy

        self.arrays = {check_site_name(site, "arrays"): array for site, array in dict(arrays).items()}
        self.layers_by_site = {site: tuple(int(x) for x in layers[site]) for site in self.arrays}
        self.table = table
        self.unit = unit
        self.texts = texts
        self.spans = spans
        self.span_pairs = span_pairs
        self.attentions = attentions
        self.model = dict(model or {})
        self.path = path
        self.spans_dropped = 0  # spans that selections dropped on the way here
        self.span_pairs_dropped = 0
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

    def _site(self, site: str | None, attribute: str | None = None) -> str:
        """The site ``site`` names, or the only one; ``attribute``: the property asking
        (``values``, ``layers``), which has no ``site`` argument to name in errors."""
        if site is None:
            if len(self.arrays) != 1:
                if attribute is not None:
                    raise LensError(multi_site_message(self.sites, attribute))
                raise LensError.bad_argument(
                    "site", None, f"one of {self.sites} (these activations hold several: pass site=...)"
                )  # fmt: skip
            return next(iter(self.arrays))
        if site not in self.arrays:
            raise LensError.bad_argument("site", site, f"one of {self.sites}")
        return site

    @property
    def values(self) -> np.ndarray:
        """The (layer, item, dim) array of the only site.

        Activations of several sites refuse it (it has no ``site`` to choose one): take
        ``acts.arrays[site]``, or ``acts.select(sites=site).values``."""
        return self.arrays[self._site(None, "values")]

    @property
    def layers(self) -> tuple[int, ...]:
        """Model layers of the rows of :attr:`values` (of the only site; for several, see
        :attr:`layers_by_site`)."""
        return self.layers_by_site[self._site(None, "layers")]

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
        _argument: str = "items",
    ) -> Activations:
        """A subset by layer, by item and by site.

        Parameters
        ----------
        layers : int or sequence of int, optional
            Model layers to keep, each once (negative count from the end); they come
            out in ascending order, as :func:`lensnb.extract` gives them.
        items : bool mask of shape (n_items,), integer rows, or a query string
            Rows to keep, each at most once, in table order; a string is a
            ``DataFrame.query`` on the table (``"special == False and pos == 'NOUN'"``;
            ``@name`` refers to the caller's variables).
        sites : str or sequence of str, optional
            Sites to keep, each once.

        Notes
        -----
        A labelled span (or span pair) is kept when every piece of its words is kept,
        with its token rows renumbered. The others are dropped (counted in
        :attr:`spans_dropped` / :attr:`span_pairs_dropped`), with a warning that says how
        many when the selection cut them (kept some of their pieces but not all);
        :meth:`pool_spans` before selecting keeps them all.

        Raises
        ------
        LensError
            For layers, sites or items these activations do not have, or not given as
            :func:`lensnb.extract` takes them (``layers=[]``, ``layers=[1, 1]``,
            ``sites=[]``...): the same checks and messages.
        """
        chosen_sites = self._check_sites(sites)
        layer_positions = {site: self._layer_positions(layers, site) for site in chosen_sites}
        rows = self._rows(items, _caller if _caller is not None else sys._getframe(1), _argument)
        arrays, layer_map = {}, {}
        for site, positions in layer_positions.items():
            array = self.arrays[site]
            layer_map[site] = tuple(self.layers_by_site[site][p] for p in positions)
            contiguous = positions == list(range(positions[0], positions[-1] + 1))
            array = array[positions[0] : positions[-1] + 1] if contiguous else array[positions]
            arrays[site] = array if rows is None else array[:, rows]
        table, spans, pairs, texts, dropped = self.table, self.spans, self.span_pairs, self.texts, (0, 0)
        if rows is not None:
            table = self.table.iloc[rows].reset_index(drop=True)
            spans, pairs, texts, dropped = self._remap_spans(rows, 4 if _caller is not None else 3)
        selected = Activations(
            arrays, layer_map, table, unit=self.unit, texts=texts, spans=spans, span_pairs=pairs,
            attentions=self.attentions, model=self.model, path=self.path if rows is None else None,
        )  # fmt: skip
        selected.spans_dropped = self.spans_dropped + dropped[0]
        selected.span_pairs_dropped = self.span_pairs_dropped + dropped[1]
        return selected

    def _check_sites(self, sites) -> tuple[str, ...]:
        """The sites ``select`` keeps: all, or those named, once each, among these activations'
        (extraction's checks and messages, on the extracted sites)."""
        if sites is None:
            return self.sites
        if isinstance(sites, str):
            sites = (sites,)
        if not isinstance(sites, Sequence) or not sites:
            raise LensError.bad_argument("sites", sites, f"a non-empty list of sites from {self.sites}")
        for site in sites:
            if not isinstance(site, str) or site not in self.arrays:
                raise LensError.bad_argument("sites", site, f"one of the extracted sites {self.sites}")
        if len(set(sites)) != len(sites):
            raise LensError.bad_argument("sites", list(sites), "sites named once each")
        return tuple(sites)

    def _layer_positions(self, layers, site: str) -> list[int]:
        """Rows of the site's array for ``layers`` (all when None), checked as extraction checks them."""
        available = self.layers_by_site[site]
        if layers is None:
            return list(range(len(available)))
        from lensnb.extract import _check_layers  # extraction's own check: the same messages

        n_layers = int(self.model.get("n_layers", max(max(a) for a in self.layers_by_site.values())))
        resolved = _check_layers(layers, tuple(range(n_layers + 1)), site, n_layers)
        for value in resolved:
            if value not in available:
                raise LensError.bad_argument(
                    "layers", value, f"one of the extracted layers {list(available)} of site {site!r}"
                )
        return [available.index(value) for value in resolved]

    def query(self, expression: str) -> Activations:
        """Rows whose table entries satisfy a ``DataFrame.query`` expression (``@name`` refers
        to the caller's variables, as in pandas).

        Parameters
        ----------
        expression : str
            A condition on the table's columns, true or false for each row:
            ``"upos == 'NOUN' and not special"`` (compare with ``==``; a single ``=``
            assigns).

        Returns
        -------
        Activations
            The rows that satisfy it, as :meth:`select` keeps them.

        Raises
        ------
        LensError
            For an expression that does not parse, names no column, or is not a
            condition (one True or False per row).
        """
        return self.select(items=expression, _caller=sys._getframe(1), _argument="expression")

    def drop_special(self) -> Activations:
        """Token activations without special tokens ([CLS], [SEP], <s>...)."""
        return self.select(items=~self.tokens["special"].to_numpy(dtype=bool))

    def _rows(self, items, caller: Any, argument: str = "items") -> np.ndarray | None:
        """Sorted distinct rows from a mask, row numbers or a query evaluated in ``caller``'s
        frame; ``argument`` names a query in errors (``expression`` for :meth:`query`)."""
        if items is None:
            return None
        n = len(self.table)
        if isinstance(items, str):
            try:
                mask = self.table.eval(items, local_dict=caller.f_locals, global_dict=caller.f_globals)
            except Exception as error:  # noqa: BLE001 - pandas raises many types
                raise LensError.bad_argument(
                    argument, items, f"a query on the columns {list(self.table.columns)}", str(error)
                ) from None
            if not (isinstance(mask, pd.Series) and mask.dtype == bool and len(mask) == n):
                raise LensError.bad_argument(
                    argument, items, "a condition that is True or False for each row (a comparison, say)",
                    _query_result(mask, n),
                )  # fmt: skip
            items = mask.to_numpy(dtype=bool)
        if isinstance(items, (list, tuple)) and len({isinstance(x, (bool, np.bool_)) for x in items}) > 1:
            raise LensError.bad_argument(
                argument, items, "a boolean mask, integer rows or a query string",
                "It mixes booleans and integers (True would be read as row 1).",
            )  # fmt: skip
        items = np.asarray(items)
        if items.size == 0 and items.dtype != bool:
            items = items.astype(np.int64)  # [] is no rows, not a float array
        if items.dtype == bool:
            if items.shape != (n,):
                raise LensError.bad_argument(argument, items, f"a boolean mask of shape ({n},)")
            return np.flatnonzero(items)
        if items.ndim != 1 or not np.issubdtype(items.dtype, np.integer):
            raise LensError.bad_argument(argument, items, "a boolean mask, integer rows or a query string")
        if len(items) and (items.min() < -n or items.max() >= n):
            raise LensError.bad_argument(argument, f"rows {items.min()}..{items.max()}", f"rows in [0, {n})")
        rows = np.sort(np.where(items < 0, items + n, items))
        repeated = rows[1:][rows[1:] == rows[:-1]]
        if len(repeated):  # spans and pooling need each row once
            raise LensError.bad_argument(
                argument, f"row {int(repeated[0])} given more than once", "each row at most once"
            )
        return rows

    def _remap_spans(self, rows: np.ndarray, stacklevel: int):
        """Spans (and pairs) whose word pieces are all kept, with token rows renumbered; the
        text table without its token rows; and how many spans and pairs were dropped.
        Warns when some lost part of their pieces (``stacklevel``: the user's frame, from
        here); those that lost them all (a selection of other texts, say) go silently."""
        if self.unit != "token":
            return None, None, self.texts, (0, 0)
        kept = np.zeros(len(self.table), dtype=bool)
        kept[rows] = True
        before = np.r_[0, np.cumsum(kept)]  # before[i] = kept rows before row i
        spans, cut_spans, gone_spans = self._remap_frame(self.spans, [""], kept, before)
        pairs, cut_pairs, gone_pairs = self._remap_frame(self.span_pairs, ["_1", "_2"], kept, before)
        if cut_spans or cut_pairs:  # those that left with all their tokens went as the user asked
            cut = [
                f"{count} of {len(frame)} {what}"
                for count, frame, what in ((cut_spans, self.spans, "span(s)"), (cut_pairs, self.span_pairs, "span pair(s)"))
                if count
            ]  # fmt: skip
            warnings.warn(
                f"select: {' and '.join(cut)} lost some pieces of their words to the selection and were dropped (a "
                "span is kept only with every piece of its words). Pool them (pool_spans) before selecting tokens, "
                "or keep whole words.",
                stacklevel=stacklevel,
            )
        texts = (
            self.texts.drop(columns=["token_start", "token_end"], errors="ignore") if self.texts is not None else None
        )
        return spans, pairs, texts, (cut_spans + gone_spans, cut_pairs + gone_pairs)

    def _remap_frame(self, frame: pd.DataFrame | None, suffixes: Sequence[str], kept: np.ndarray, before: np.ndarray):
        """A span (or span-pair) table with the rows of its spans whose word pieces are all
        ``kept``, renumbered by ``before``; how many rows were dropped having lost some of
        their pieces, and how many having lost all. A span without a token
        (``token_start`` -1) has nothing to lose and is kept as it is."""
        if frame is None or frame.empty:
            return frame, 0, 0
        ok, none_kept = np.ones(len(frame), dtype=bool), np.ones(len(frame), dtype=bool)
        frame = frame.copy()
        for suffix in suffixes:
            start = frame[f"token_start{suffix}"].to_numpy().astype(np.int64)
            end = frame[f"token_end{suffix}"].to_numpy().astype(np.int64)
            pieces, span_of = self._span_pieces(frame, suffix)
            n_pieces = np.bincount(span_of, minlength=len(frame))
            n_kept = np.bincount(span_of, weights=kept[pieces], minlength=len(frame))
            ok &= n_pieces == n_kept
            none_kept &= n_kept == 0
            valid = start >= 0  # the first and last rows are pieces: kept when all pieces are
            frame[f"token_start{suffix}"] = np.where(valid, before[np.maximum(start, 0)], -1)
            frame[f"token_end{suffix}"] = np.where(valid, before[np.maximum(end, 0)], -1)
        return frame[ok].reset_index(drop=True), int(np.sum(~ok & ~none_kept)), int(np.sum(~ok & none_kept))

    def _span_pieces(self, frame: pd.DataFrame, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
        """The token rows of each span's words (``word_start <= word_index < word_end`` of its
        text, in its token range) and the span each belongs to, both shape (n_pieces,) int64,
        span after span. Tokens of no word (punctuation left out of the words, stand-alone
        space markers, specials) in the range are not pieces."""
        start = frame[f"token_start{suffix}"].to_numpy().astype(np.int64)
        end = frame[f"token_end{suffix}"].to_numpy().astype(np.int64)
        lengths = np.where(start >= 0, end - start, 0)
        offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        span_of = np.repeat(np.arange(len(frame), dtype=np.int64), lengths)
        rows = np.repeat(start - offsets[:-1], lengths) + np.arange(offsets[-1])
        word_index = self.table["word_index"].to_numpy()[rows]
        word_start = frame[f"word_start{suffix}"].to_numpy().astype(np.int64)[span_of]
        word_end = frame[f"word_end{suffix}"].to_numpy().astype(np.int64)[span_of]
        inside = (word_index >= word_start) & (word_index < word_end)
        return rows[inside], span_of[inside]

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
            ``mean`` / ``max`` over the text's tokens; ``first`` / ``last``: its first /
            last non-special token; ``cls``: its first token, which must be a special
            token ([CLS], <s>), of an encoder (a decoder's BOS sees nothing of the text;
            ``first`` on a decoder warns: its first token has read nothing after it).
        include_special : bool
            Pool over special tokens too: for ``mean`` and ``max`` only (``first``,
            ``last`` and ``cls`` name their token; True is refused with them).

        Returns
        -------
        Activations with unit "text" and the text table as its table, shape
        (layer, n_texts, dim) per site.
        """
        _check_how(how, TEXT_POOLINGS)
        include_special = check_flag("include_special", include_special)
        if include_special and how not in ("mean", "max"):
            raise LensError.bad_argument(
                "include_special", include_special, f"False with how={how!r} (it applies to 'mean' and 'max')",
                "'first' and 'last' are the text's first and last non-special tokens; 'cls' is its leading special.",
            )  # fmt: skip
        tokens = self.tokens
        if how == "first" and self.model.get("is_decoder"):
            warnings.warn(
                "pool_texts: a decoder's first token has read nothing after it: 'first' gives each text the state "
                "of its first word (texts that start alike get the same vector). 'last' or 'mean' summarise the text.",
                stacklevel=2,
            )
        if how == "cls":
            rows, offsets = self._cls_rows(tokens)
            how = "first"
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

    def _cls_rows(self, tokens: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Rows and offsets of each text's leading special token (``pool_texts("cls")``)."""
        if self.model.get("is_decoder"):
            raise LensError.bad_argument(
                "how", "cls", "'mean' or 'last' for a decoder",
                "A causal model's first token has read nothing after it: its state is that of the text's start "
                "only (a BOS token's is the same for every text).",
            )  # fmt: skip
        first = runs(tokens["text_id"].to_numpy())[:-1]
        if not tokens["special"].to_numpy()[first].all():
            raise LensError.bad_argument(
                "how", "cls", "'mean', 'max', 'first' or 'last' for this model",
                "Its inputs do not start with a special token like [CLS].",
            )  # fmt: skip
        return first, np.arange(len(first) + 1)

    def pool_words(self, how: str = "first") -> Activations:
        """One vector per word, from its word pieces.

        Parameters
        ----------
        how : {"first", "last", "mean", "max"}
            The word's first or last piece, or the mean or maximum over its pieces. On a
            decoder the first piece has read only the start of its word (words that begin
            alike share it, and its state): "last" has read the whole word.

        Returns
        -------
        Activations with unit "word", shape (layer, n_words, dim) per site: table columns
        text_id, word_index, word, and each label column taken from the word's first piece
        that carries it. A word cut by ``overflow="truncate"`` (its pieces have no
        ``last_piece``) is pooled over the pieces kept, and ``word`` shows what they cover.
        """
        _check_how(how, WORD_POOLINGS)
        rows, offsets = self._word_rows()
        table = self._word_table(rows, offsets)
        return self._pooled(rows, offsets, how, table, "word")

    def _word_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The token rows of the words, word after word, and the offsets of each word's
        rows in them (n_words + 1,): the words :meth:`pool_words` pools."""
        tokens = self.tokens
        rows = np.flatnonzero(tokens["word_index"].to_numpy() >= 0)
        keys = np.stack([tokens["text_id"].to_numpy()[rows], tokens["word_index"].to_numpy()[rows]], axis=1)
        return rows, runs(keys)

    def _word_texts(self, rows: np.ndarray, offsets: np.ndarray) -> list[str]:
        """Each word as written (its first piece's start to its last piece's end), for the
        words of :meth:`_word_rows`; needs the text table."""
        tokens = self.tokens
        starts, ends = rows[offsets[:-1]], rows[offsets[1:] - 1]
        text_of = dict(zip(self.texts["text_id"], self.texts["text"]))
        char_start, char_end = tokens["char_start"].to_numpy(), tokens["char_end"].to_numpy()
        text_ids = tokens["text_id"].to_numpy()[starts]
        return [word_text(text_of[t], char_start[s], char_end[e]) for t, s, e in zip(text_ids, starts, ends)]

    def token_words(self) -> np.ndarray:
        """The word each token belongs to, as written: what :meth:`pool_words` puts in its
        ``word`` column, one entry per token row.

        Returns
        -------
        ndarray of object, shape (n_tokens,)
            The word's text for every piece of it (all pieces of a word share it); None
            for tokens of no word (special tokens, punctuation left out of the words).

        Raises
        ------
        LensError
            For Activations that are not token-level, or have no text table.
        """
        tokens = self.tokens
        if self.texts is None or "text" not in self.texts:
            raise LensError("token_words: these activations have no text table with the texts; extract them again.")
        rows, offsets = self._word_rows()
        words = np.full(len(tokens), None, dtype=object)
        texts = np.empty(len(offsets) - 1, dtype=object)
        texts[:] = self._word_texts(rows, offsets)
        words[rows] = np.repeat(texts, np.diff(offsets))
        return words

    def _word_table(self, rows: np.ndarray, offsets: np.ndarray) -> pd.DataFrame:
        tokens = self.tokens
        starts = rows[offsets[:-1]]
        table = pd.DataFrame({
            "text_id": tokens["text_id"].to_numpy()[starts],
            "word_index": tokens["word_index"].to_numpy()[starts],
        })  # fmt: skip
        if self.texts is not None:
            table["word"] = self._word_texts(rows, offsets)
        group = np.repeat(np.arange(len(starts)), np.diff(offsets))
        for column in (c for c in tokens.columns if c not in RESERVED_TOKEN_COLUMNS):
            values = tokens[column].iloc[rows].reset_index(drop=True)
            table[column] = values.groupby(group).first().reindex(range(len(starts))).to_numpy()
        return table

    def pool_spans(self, how: str = "mean") -> Activations:
        """One vector per labelled span, from the pieces of its words.

        Only the span's words' pieces are pooled (as :meth:`pool_words` pools a word's):
        tokens of no word inside its range (punctuation left out of the words, stand-alone
        space markers such as GPT-2's ``Ġ`` or sentencepiece's ``▁``) are not.

        Parameters
        ----------
        how : {"mean", "max", "first", "last", "endpoints"}
            ``first`` / ``last``: the first piece of its first word / the last piece of
            its last word; ``endpoints`` concatenates the two (dim doubles).

        Returns
        -------
        Activations with unit "span" and the span table as its table, shape
        (layer, n_spans, dim) per site, or (layer, n_spans, 2 * dim) for ``endpoints``.

        Raises
        ------
        LensError
            When there are no spans (none extracted, or every one dropped by a
            selection), when a span has no token (its words got no piece of their own,
            sharing one with a neighbour, or were truncated away: the message says
            which), and when a span lost some of its words to
            ``overflow="truncate"`` (``complete`` False in the span table): pooling what
            is left would pass part of a span for the whole. Extract with
            ``overflow="window"`` to keep every token, or keep the whole spans with
            ``acts.spans = acts.spans[acts.spans["complete"]]``.
        """
        _check_how(how, SPAN_POOLINGS)
        spans = self.spans
        if spans is None or spans.empty:
            if self.spans_dropped:
                raise LensError(
                    f"pool_spans: these activations were extracted with spans, but the selection (select or query) "
                    f"that made them dropped all {self.spans_dropped}: a span is kept only with every piece of its "
                    "words. Pool spans before selecting tokens, or keep whole words."
                )
            raise LensError("pool_spans: these activations have no spans; extract Examples with spans=[Span(...)].")
        tokenless = spans["token_start"].to_numpy() < 0
        if tokenless.any():
            complete = spans["complete"].to_numpy(dtype=bool) if "complete" in spans else np.ones(len(spans), bool)
            shared, truncated = int(np.sum(tokenless & complete)), int(np.sum(tokenless & ~complete))
            raise LensError(
                f"pool_spans: {int(tokenless.sum())} of {len(spans)} span(s) have no token, "
                f"{tokenless_note(shared, truncated)}. Keep the spans that have tokens: "
                "acts.spans = acts.spans[acts.spans['token_start'] >= 0]."
            )
        if "complete" in spans and not spans["complete"].to_numpy(dtype=bool).all():
            raise LensError(
                f"pool_spans: {int((~spans['complete'].to_numpy(dtype=bool)).sum())} span(s) lost some of their words "
                "to overflow='truncate' (complete is False in the span table); pooling what is left would pass part "
                "of a span for the whole. Extract with overflow='window' to keep every token, or keep the whole "
                "spans: acts.spans = acts.spans[acts.spans['complete']]."
            )
        rows, span_of = self._span_pieces(spans)
        offsets = np.r_[0, np.cumsum(np.bincount(span_of, minlength=len(spans)))].astype(np.int64)
        return self._pooled(rows, offsets, how, spans, "span")

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
