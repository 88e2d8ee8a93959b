"""From :class:`~lensnb.Activations` to one layer's probing inputs (X, y).

A :class:`ProbingTask` says what is probed: a label per token (``token_task``), per
labelled span (``span_task``), per span pair (``span_pair_task``) or per text
(``text_task``), and how token states become one vector per item. :func:`probing_data`
checks the task against the activations once and returns a :class:`ProbingData`, which
hands out each layer's ``(X, y)`` on demand (one layer in memory at a time; a
memory-mapped store is read row by row).

Items and their vectors:

- token: the word's first piece (``pieces="first"``), last piece, every piece (each piece
  carries its word's label) or the mean of the word's pieces (one item per word);
- span: mean, max or endpoints ``[first piece; last piece]`` of the span's pieces, or
  ``"self_attentive"``: the probe pools (:class:`lensnb.probing.edge.EdgeProbe`), and X is
  the token states with ``spans`` giving each item's rows;
- span pair: the two spans pooled as above, concatenated ``[span 1; span 2]``;
- text: ``"cls"`` (the first token, a special token such as [CLS]) or the mean over the
  non-special tokens.

Spans cover word pieces from the first piece of their first word to the last piece of
their last word (Tenney et al. 2019's mapping), as the token table records them. The
mean and max pool the pieces of the span's words only, as ``Activations.pool_spans``
does: a token in that range that belongs to none of its words (punctuation left out of
``words``, a stand-alone space token) is not pooled. The probe's own pooling
(``"self_attentive"``) reads the whole range, as Tenney's EdgeProbe reads contiguous token
ranges. Spans that truncation cut short (``complete`` False) are left out with a warning.

References
----------
Tenney et al. (2019), "What do you learn from context?", ICLR, section 3 (spans on word
pieces, pooling). Jawahar, Sagot & Seddah (2019), "What does BERT learn about the
structure of language?", ACL (the [CLS] vector of each layer for sentence-level probes).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from lensnb.activations import Activations, tokenless_note
from lensnb.errors import LensError
from lensnb.examples import RESERVED_TOKEN_COLUMNS
from lensnb.geometry.inputs import layer_stack
from lensnb.pooling import pool_groups, runs
from lensnb.probing.probe_checks import mixed_labels

__all__ = [
    "ProbingTask",
    "ProbingData",
    "token_task",
    "span_task",
    "span_pair_task",
    "text_task",
    "probing_data",
    "TOKEN_PIECES",
    "SPAN_POOLS",
    "TEXT_POOLS",
    "POOLED_WORDS",
]

TOKEN_PIECES = ("first", "last", "all", "mean")
SPAN_POOLS = ("mean", "max", "endpoints", "self_attentive")
TEXT_POOLS = ("cls", "mean", "last")
LEVELS = ("token", "span", "span_pair", "text")
#: The ``pool`` a token task records when its items are the rows of word-level Activations
#: (``acts.pool_words(how)`` chose the pieces).
POOLED_WORDS = "pooled words"


@dataclass(frozen=True)
class ProbingTask:
    """What to probe: the items, their labels and how their vectors are pooled.

    Build it with :func:`token_task`, :func:`span_task`, :func:`span_pair_task` or
    :func:`text_task`.

    Attributes
    ----------
    level : {"token", "span", "span_pair", "text"}
    label : str or array-like
        A column of the item table (token table, span table, span-pair table or text
        table), or the labels themselves, one per row of that table.
    pool : str
        ``pieces`` for tokens, the pooling for spans and texts; :func:`probing_data`
        records ``"pooled words"`` (:data:`POOLED_WORDS`) for a token task on word-level
        Activations, whose pieces ``pool_words`` chose.
    multilabel : bool, optional
        Treat labels as sets (multi-hot targets). Default: when some label is a tuple,
        list or set. True turns single labels into one-element sets (Tenney et al.'s
        framing: sigmoid outputs, micro-F1).
    name : str, optional
        Display name; default the label column.
    """

    level: str
    label: Any
    pool: str
    multilabel: bool | None = None
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or (self.label if isinstance(self.label, str) else f"{self.level} labels")

    @property
    def probe_pools(self) -> bool:
        """Whether the probe itself pools spans (X = token states plus span rows)."""
        return self.pool == "self_attentive"

    def describe(self) -> dict[str, Any]:
        """The task as plain values (for a result's ``params``)."""
        return {"level": self.level, "label": self.display_name, "pool": self.pool, "multilabel": self.multilabel}


def token_task(label: Any, *, pieces: str = "first", name: str | None = None) -> ProbingTask:
    """A label per word, probed on its pieces.

    Parameters
    ----------
    label : str or array-like
        A label column of the token table (a per-word label of the examples), or one
        label per token-table row (None / NaN: not probed).
    pieces : {"first", "last", "all", "mean"}
        Which pieces stand for the word: its first or last piece, every piece (each one
        an item with the word's label), or the mean of its pieces (one item per word).
        "first" is the encoders' convention (BERT, Tenney et al.); on a decoder the first
        piece has read only the start of its word (words that begin alike share it, and its
        state), so probe ``"last"`` there.
    name : str, optional
        Display name of the task in results and plots (default: the label column, or
        "token labels" for an array).

    Returns
    -------
    ProbingTask
    """
    if pieces not in TOKEN_PIECES:
        raise LensError.bad_argument("pieces", pieces, f"one of {TOKEN_PIECES}")
    return ProbingTask("token", label, pieces, False, name)


def span_task(
    label: Any = "label", *, pool: str = "mean", multilabel: bool | None = None, name: str | None = None
) -> ProbingTask:
    """A label per labelled span (``Example.spans``); see :class:`ProbingTask` for ``multilabel``.

    ``pool``: ``"mean"``, ``"max"``, ``"endpoints"`` ([first piece; last piece]) or
    ``"self_attentive"`` (pooled inside :class:`lensnb.probing.edge.EdgeProbe`).
    """
    if pool not in SPAN_POOLS:
        raise LensError.bad_argument("pool", pool, f"one of {SPAN_POOLS}")
    return ProbingTask("span", label, pool, multilabel, name)


def span_pair_task(
    label: Any = "label", *, pool: str = "mean", multilabel: bool | None = None, name: str | None = None
) -> ProbingTask:
    """A label per span pair (``Example.span_pairs``): each side pooled as in :func:`span_task`."""
    if pool not in SPAN_POOLS:
        raise LensError.bad_argument("pool", pool, f"one of {SPAN_POOLS}")
    return ProbingTask("span_pair", label, pool, multilabel, name)


def text_task(label: Any, *, pool: str = "auto", name: str | None = None) -> ProbingTask:
    """A label per text (a key of ``Example.meta``).

    ``pool``: ``"cls"`` (the first token, a special one like [CLS]), ``"last"`` (the last
    token that is not special: in a left-to-right model the one that has read the whole
    text, which Hugging Face's decoder classification heads read), ``"mean"`` (the tokens
    that are not special), or ``"auto"``: ``"cls"`` for an encoder, ``"last"`` for a
    decoder (recorded as the one used)."""
    if pool not in TEXT_POOLS + ("auto",):
        raise LensError.bad_argument("pool", pool, f"one of {TEXT_POOLS + ('auto',)}")
    return ProbingTask("text", label, pool, False, name)


@dataclass
class ProbingData:
    """The items of a task, their labels and each layer's vectors.

    Attributes
    ----------
    task : ProbingTask
    layers : tuple of int
    y : ndarray, shape (n_items,), or (n_items, n_classes) of int64 0/1 when multi-label
    classes : ndarray, shape (n_classes,)
    groups : ndarray, shape (n_items,)
        The text of each item (splits keep a text's items together).
    table : DataFrame, n_items rows
        The item table (token, word, span, span-pair or text rows).
    unit : str
    spans : ndarray of int64, shape (n_items, 2) or (n_items, 4), optional
        When the probe pools: each item's token rows ``[start, end)`` (and ``[start2,
        end2)`` for pairs) in the matrix returned by :meth:`features`.
    """

    task: ProbingTask
    layers: tuple[int, ...]
    y: np.ndarray
    classes: np.ndarray
    groups: np.ndarray
    table: pd.DataFrame
    unit: str
    spans: np.ndarray | None = None
    _arrays: list[np.ndarray] = field(default_factory=list, repr=False)
    _sides: list[tuple[np.ndarray, np.ndarray, str]] = field(default_factory=list, repr=False)

    @property
    def multilabel(self) -> bool:
        return self.y.ndim == 2

    @property
    def n_items(self) -> int:
        return len(self.y)

    def features(self, layer: int) -> np.ndarray:
        """X at model layer ``layer``: float32 (n_items, n_features), or (n_tokens, dim) when the probe pools."""
        if layer not in self.layers:
            raise LensError.bad_argument("layer", layer, f"one of the layers {list(self.layers)}")
        array = self._arrays[self.layers.index(layer)]
        parts = []
        for rows, offsets, how in self._sides:
            if how == "rows":
                parts.append(np.asarray(array[rows], dtype=np.float32))
            else:
                parts.append(pool_groups(array[None], rows, offsets, how)[0])
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def xy(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """``(features(layer), y)``."""
        return self.features(layer), self.y


def probing_data(
    acts: Activations, task: ProbingTask | str, *, layers: Sequence[int] | int | None = None, site: str | None = None
) -> ProbingData:
    """Check ``task`` against ``acts`` and prepare its items, labels and per-layer inputs.

    Parameters
    ----------
    acts : Activations
        Token-level activations from :func:`lensnb.extract`; for a token task, also
        word-level ones (``acts.pool_words(how)``): each labelled word row is an item,
        pooled as ``pool_words`` pooled it (the task's ``pieces`` must be left at its
        default, and ``task.pool`` is recorded as ``"pooled words"``), and the words of
        a text stay together in the splits. ``pool_words("first")`` gives the same
        items, vectors and groups as the token-level default (first pieces).
    task : ProbingTask or str
        A string is ``token_task(task)``: a per-word label column, first pieces.
    layers : int or sequence of int, optional
        Model layers (default all).
    site : str, optional

    Returns
    -------
    ProbingData

    Raises
    ------
    LensError
        For labels not aligned with the item table, spans out of range (e.g. dropped by
        truncation), fewer than 2 classes, or no labelled item; for word-level
        Activations with a span, span-pair or text task, or with ``pieces`` other than
        ``"first"``.
    """
    if isinstance(task, str):
        task = token_task(task)
    if not isinstance(task, ProbingTask):
        raise LensError.bad_argument("task", task, "a label column name or a ProbingTask (token_task, span_task, ...)")
    if not isinstance(acts, Activations) or acts.unit not in ("token", "word"):
        raise LensError.bad_argument(
            "acts", acts, "token-level Activations from lensnb.extract (or, for a token task, word-level ones "
            "from acts.pool_words())",
        )  # fmt: skip
    if acts.unit == "word":
        _check_word_level(acts, task)
    stack = layer_stack(acts, layers, site=site, argument="acts", check_finite=False)
    if acts.unit == "word":
        items = _word_items(acts.table, task)
        task = replace(task, pool=POOLED_WORDS)
    elif task.level == "token":
        items = _token_items(acts.tokens, task)
    elif task.level == "text":
        if task.pool == "auto":
            task = replace(task, pool="last" if acts.model.get("is_decoder") else "cls")
        items = _text_items(acts, task)
    else:
        items = _span_items(acts, task, len(acts.tokens))
    labels, table, groups, sides, spans = items
    y, classes = encode_labels(labels, task)
    return ProbingData(
        task, stack.layers, y, classes, groups, table, _unit(task), spans, list(stack.arrays), sides
    )  # fmt: skip


# ----------------------------------------------------------------------------- items of each level


def _token_items(tokens: pd.DataFrame, task: ProbingTask):
    word = tokens["word_index"].to_numpy()
    labels = _label_values(tokens, task.label, "token table", "label")
    in_word = word >= 0
    if isinstance(task.label, str):  # a word label: spread it over the word's pieces
        labels = _spread_over_words(tokens, labels)
    missing = _missing(labels)
    if task.pool == "mean":
        rows = np.flatnonzero(in_word)
        keys = np.stack([tokens["text_id"].to_numpy()[rows], word[rows]], axis=1)
        offsets = runs(keys)
        first_rows = rows[offsets[:-1]]
        labelled = ~missing[first_rows]
        starts, ends = offsets[:-1][labelled], offsets[1:][labelled]
        item_rows = np.concatenate([rows[s:e] for s, e in zip(starts, ends)]) if len(starts) else rows[:0]
        item_offsets = np.r_[0, np.cumsum(ends - starts)].astype(np.int64)
        heads = first_rows[labelled]
        table = tokens.iloc[heads][["text_id", "word_index"]].reset_index(drop=True)
        table["label"] = labels[heads]
        return labels[heads], table, tokens["text_id"].to_numpy()[heads], [(item_rows, item_offsets, "mean")], None
    flag = {"first": "first_piece", "last": "last_piece", "all": None}[task.pool]
    chosen = in_word & ~missing if flag is None else in_word & tokens[flag].to_numpy(dtype=bool) & ~missing
    rows = np.flatnonzero(chosen)
    table = tokens.iloc[rows].reset_index(drop=True)
    if not isinstance(task.label, str):
        table["label"] = labels[rows]
    return labels[rows], table, table["text_id"].to_numpy(), [(rows, np.arange(len(rows) + 1), "rows")], None


def _check_word_level(acts: Activations, task: ProbingTask) -> None:
    """Refuse word-level Activations for what they cannot serve: span, span-pair and text
    tasks (they pool tokens), a choice of pieces (made by ``pool_words``), no ``text_id``."""
    if task.level != "token":
        raise LensError.bad_argument(
            "acts", acts, f"token-level Activations from lensnb.extract for a {task.level} task",
            "It pools the tokens itself; word-level Activations (pool_words) serve token tasks.",
        )  # fmt: skip
    if task.pool != "first":
        raise LensError.bad_argument(
            "pieces", task.pool, "the default 'first' for word-level Activations",
            "Their words are already pooled: acts.pool_words(how) chose the pieces. Pass the token-level "
            "Activations to choose them here.",
        )  # fmt: skip
    if "text_id" not in acts.table:
        raise LensError.bad_argument(
            "acts", acts, "word-level Activations whose table has text_id (from acts.pool_words())",
            "The splits keep each text's words together.",
        )  # fmt: skip


def _word_items(table: pd.DataFrame, task: ProbingTask):
    """The labelled rows of a word table (word-level Activations), each its own item."""
    labels = _label_values(table, task.label, "word table", "label")
    rows = np.flatnonzero(~_missing(labels))
    items = table.iloc[rows].reset_index(drop=True)
    if not isinstance(task.label, str):
        items["label"] = labels[rows]
    return labels[rows], items, items["text_id"].to_numpy(), [(rows, np.arange(len(rows) + 1), "rows")], None


def _spread_over_words(tokens: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    """Each piece gets its word's label (the first labelled piece of the word)."""
    word = tokens["word_index"].to_numpy()
    rows = np.flatnonzero(word >= 0)
    if len(rows) == 0:
        return labels
    keys = np.stack([tokens["text_id"].to_numpy()[rows], word[rows]], axis=1)
    offsets = runs(keys)
    group = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    series = pd.Series(labels[rows], dtype=object)
    first = series.groupby(group).first()  # first non-null label of each word
    spread = labels.copy().astype(object)
    spread[rows] = first.reindex(range(len(offsets) - 1)).to_numpy()[group]
    return spread


def _text_items(acts: Activations, task: ProbingTask):
    tokens, texts = acts.tokens, acts.texts
    if texts is None:
        raise LensError.bad_argument("acts", acts, "Activations with a text table (from lensnb.extract)")
    labels = _label_values(texts, task.label, "text table", "label")
    text_of_token = tokens["text_id"].to_numpy()
    special = tokens["special"].to_numpy(dtype=bool)
    if task.pool == "cls":
        if acts.model.get("is_decoder"):
            raise LensError.bad_argument(
                "pool", "cls", "'last' or 'mean' for a decoder",
                "A causal model's first token has read nothing after it: its state is that of the text's start "
                "only (a BOS token's is the same for every text).",
            )  # fmt: skip
        starts = runs(text_of_token)[:-1]
        if not special[starts].all():
            raise LensError.bad_argument(
                "pool", "cls", "'last' or 'mean' for this model",
                "Its inputs do not start with a special token like [CLS].",
            )  # fmt: skip
        rows, offsets = starts, np.arange(len(starts) + 1)
        found = text_of_token[starts]
    elif task.pool == "last":
        ordinary = np.flatnonzero(~special)
        ends = runs(text_of_token[ordinary])[1:] - 1
        rows, offsets = ordinary[ends], np.arange(len(ends) + 1)
        found = text_of_token[rows]
    else:
        rows = np.flatnonzero(~special)
        offsets = runs(text_of_token[rows])
        found = text_of_token[rows[offsets[:-1]]]
    position = pd.Index(texts["text_id"]).get_indexer(found)
    item_labels = labels[position]
    keep = ~_missing(item_labels)
    starts, ends = offsets[:-1][keep], offsets[1:][keep]
    item_rows = np.concatenate([rows[s:e] for s, e in zip(starts, ends)]) if len(starts) else rows[:0]
    item_offsets = np.r_[0, np.cumsum(ends - starts)].astype(np.int64)
    table = texts.iloc[position[keep]].reset_index(drop=True)
    if not isinstance(task.label, str):
        table["label"] = item_labels[keep]
    how = "mean" if task.pool == "mean" else "first"  # cls and last: one row per text
    return item_labels[keep], table, found[keep], [(item_rows, item_offsets, how)], None


def _span_items(acts: Activations, task: ProbingTask, n_tokens: int):
    pair = task.level == "span_pair"
    frame = acts.span_pairs if pair else acts.spans
    what = "span pairs (Example.span_pairs)" if pair else "spans (Example.spans)"
    if frame is None or frame.empty:
        raise LensError.bad_argument("acts", acts, f"Activations extracted from Examples with labelled {what}")
    argument = "acts.span_pairs" if pair else "acts.spans"
    labels = _label_values(frame, task.label, "span-pair table" if pair else "span table", "label")
    suffixes = ("_1", "_2") if pair else ("",)
    bounds, tokenless = [], np.zeros(len(frame), dtype=bool)
    for suffix in suffixes:
        start = frame[f"token_start{suffix}"].to_numpy(dtype=np.int64)
        end = frame[f"token_end{suffix}"].to_numpy(dtype=np.int64)
        tokenless |= start < 0  # words without a piece of their own, or truncated away
        bad = (start >= 0) & ((end > n_tokens) | (end <= start))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise LensError.bad_argument(
                argument, f"{int(bad.sum())} span(s) out of range, the first [{start[first]}, {end[first]})",
                f"token ranges 0 <= start < end <= {n_tokens}",
            )  # fmt: skip
        bounds.append((start, end))
    complete = frame["complete"].to_numpy(dtype=bool) if "complete" in frame else np.ones(len(frame), dtype=bool)
    if tokenless.any():  # complete: no truncation took its words, so they share a piece with a neighbour
        shared, truncated = int(np.sum(tokenless & complete)), int(np.sum(tokenless & ~complete))
        warnings.warn(
            f"{argument}: {int(tokenless.sum())} of {len(frame)} item(s) have a span without tokens, "
            f"{tokenless_note(shared, truncated)}; they are left out.",
            stacklevel=3,
        )
    cut = ~tokenless & ~complete
    if cut.any():
        warnings.warn(
            f"{argument}: {int(cut.sum())} of {len(frame)} item(s) have a span that truncation cut short (some of "
            "its words fell past max_length: extract with overflow='window'); they are left out.",
            stacklevel=3,
        )
    keep = ~_missing(labels) & ~tokenless & ~cut
    table = frame[keep].reset_index(drop=True)
    if not isinstance(task.label, str):
        table["label"] = labels[keep]
    groups = table["text_id"].to_numpy()
    bounds = [(start[keep], end[keep]) for start, end in bounds]
    word_index = acts.tokens["word_index"].to_numpy()
    if task.probe_pools:
        # the pieces of the spans' words, as for the other pools: a token of no word inside a span's range
        # (a stand-alone space marker, punctuation left out of the words) is no row of it
        rows = np.concatenate([_expand(start, end) for start, end in bounds])
        needed = np.unique(rows[word_index[rows] >= 0])  # sorted token rows
        columns = []
        for start, end in bounds:  # a span's pieces are all needed, so they stay consecutive
            columns += [np.searchsorted(needed, start), np.searchsorted(needed, end)]
        spans = np.stack(columns, axis=1).astype(np.int64)
        return labels[keep], table, groups, [(needed, np.arange(len(needed) + 1), "rows")], spans
    sides = []
    for suffix, (start, end) in zip(suffixes, bounds):
        rows, owner = _expand(start, end), np.repeat(np.arange(len(start)), end - start)
        # the pieces of the span's words only, as Activations.pool_spans (not punctuation left out of the words)
        inside = (word_index[rows] >= table[f"word_start{suffix}"].to_numpy()[owner]) & (
            word_index[rows] < table[f"word_end{suffix}"].to_numpy()[owner]
        )
        rows, owner = rows[inside], owner[inside]
        offsets = np.r_[0, np.cumsum(np.bincount(owner, minlength=len(start)))].astype(np.int64)
        sides.append((rows, offsets, task.pool))
    return labels[keep], table, groups, sides, None


def _expand(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Rows ``start[i]:end[i]`` of every span, concatenated."""
    lengths = end - start
    offsets = np.r_[0, np.cumsum(lengths)]
    return (np.repeat(start - offsets[:-1], lengths) + np.arange(offsets[-1])).astype(np.int64)


# ----------------------------------------------------------------------------- labels


def _label_values(frame: pd.DataFrame, label: Any, where: str, argument: str) -> np.ndarray:
    if isinstance(label, str):
        if label not in frame.columns:
            columns = [c for c in frame.columns if c not in RESERVED_TOKEN_COLUMNS]
            raise LensError.bad_argument(argument, label, f"a label column of the {where}: one of {columns}")
        return frame[label].to_numpy(dtype=object)
    values = np.asarray(label.detach().cpu().numpy() if hasattr(label, "detach") else label, dtype=object)
    if values.ndim != 1 or len(values) != len(frame):
        raise LensError.bad_argument(
            argument, f"{len(values) if values.ndim else 'a scalar'} label(s)", f"{len(frame)} labels, one per row of the {where}"
        )  # fmt: skip
    return values


def _missing(labels: np.ndarray) -> np.ndarray:
    return np.array([_is_missing(v) for v in labels], dtype=bool)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def encode_labels(labels: np.ndarray, task: ProbingTask) -> tuple[np.ndarray, np.ndarray]:
    """Labels as class values (n,) or a multi-hot matrix (n, n_classes), and the classes.

    Raises
    ------
    LensError
        For no labelled item or fewer than 2 classes.
    """
    argument = "label"
    if len(labels) == 0:
        raise LensError.bad_argument(argument, task.display_name, "a label with at least one labelled item")
    is_set = [isinstance(v, (list, tuple, set, frozenset, np.ndarray)) for v in labels]
    multilabel = any(is_set) if task.multilabel is None else bool(task.multilabel)
    if multilabel:
        sets = [tuple(v) if s else (v,) for v, s in zip(labels, is_set)]
        classes = np.asarray(sorted({c for s in sets for c in s}, key=_sort_key), dtype=object)
        index = {c: i for i, c in enumerate(classes)}
        y = np.zeros((len(sets), len(classes)), dtype=np.int64)
        for i, s in enumerate(sets):
            y[i, [index[c] for c in s]] = 1
    else:
        if any(is_set):
            raise LensError.bad_argument("multilabel", False, "True (some labels are sets) or None")
        y = _plain_array(labels)
        try:
            classes = np.unique(y)
        except TypeError:  # None among the labels, or labels of several types that do not compare
            raise mixed_labels(y, argument) from None
    if len(classes) < 2:
        raise LensError.bad_argument(
            argument, f"1 class ({_scalar(classes[0])!r}) for {task.display_name!r}", "labels of at least 2 classes"
        )  # fmt: skip
    return y, _plain_array(classes)


def _plain_array(values: np.ndarray) -> np.ndarray:
    """Labels as a str, bool, int or float array when they share one Python type, else as objects."""
    array = np.asarray(values.tolist()) if len(values) else np.asarray(values)
    if len({type(v) for v in values}) == 1 and array.dtype.kind in "USbiuf":
        return array
    return np.asarray(values, dtype=object)


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value))


def _unit(task: ProbingTask) -> str:
    if task.level == "token":
        return "word" if task.pool in ("mean", POOLED_WORDS) else "token"
    return task.level
