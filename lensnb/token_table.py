"""Tokenizing examples into the token table and the model inputs (segments).

The token table has one row per token of each text, in text order: its text, its
position in the text's token sequence, the vocabulary string and id, the word it
falls in (found from character offsets, so any tokenizer aligns the same way),
its character offsets, whether it is a special token, whether it is the first or
last piece of its word, the window it was kept from, and the user's per-word label
columns. Padding never appears in it. A *segment* is one model input: the rows it
feeds and the contiguous rows whose states it keeps.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lensnb.errors import LensError
from lensnb.examples import Example
from lensnb.windows import plan_windows

__all__ = ["TokenPlan", "tokenize_examples", "LABEL_PIECES"]

LABEL_PIECES = ("first", "last", "all")
_CHUNK = 512


@dataclass
class TokenPlan:
    """Everything extraction needs before running the model.

    Attributes
    ----------
    tokens : DataFrame, n_tokens rows
        The token table.
    texts : DataFrame, n_texts rows
        One row per text: its text, counts, token row range and text-level labels.
    spans, span_pairs : DataFrame
        Labelled spans (and pairs) with word and token row ranges.
    segment_offsets : ndarray of int64, shape (n_segments + 1,)
        Segment s feeds rows ``segment_rows[segment_offsets[s]:segment_offsets[s + 1]]``.
    segment_rows : ndarray of int64, shape (total segment length,)
        Token-table rows, in input order (specials are re-fed in every window).
    keep_local : ndarray of int64, shape (n_segments,)
        Position inside the segment of the first kept token.
    keep_rows : ndarray of int64, shape (n_segments, 2)
        Token-table row range ``[start, stop)`` whose states the segment provides.
    segment_text : ndarray of int64, shape (n_segments,)
        The text each segment comes from.
    segment_window : ndarray of int64, shape (n_segments,)
        Which window of its text each segment is (0 when the text fits).
    """

    tokens: pd.DataFrame
    texts: pd.DataFrame
    spans: pd.DataFrame
    span_pairs: pd.DataFrame
    segment_offsets: np.ndarray
    segment_rows: np.ndarray
    keep_local: np.ndarray
    keep_rows: np.ndarray
    segment_text: np.ndarray
    segment_window: np.ndarray

    @property
    def n_segments(self) -> int:
        return len(self.keep_rows)

    def segment_length(self, segment: int) -> int:
        return int(self.segment_offsets[segment + 1] - self.segment_offsets[segment])


def tokenize_examples(
    examples: Sequence[Example],
    tokenizer,
    *,
    max_length: int,
    stride: int,
    overflow: str,
    causal: bool,
    label_piece: str = "first",
) -> TokenPlan:
    """Tokenize ``examples`` and lay out the token table and model inputs.

    Parameters
    ----------
    examples : sequence of Example
    tokenizer : fast tokenizer
    max_length : int
        Longest model input, specials included.
    stride : int
        Overlap of consecutive windows (tokens).
    overflow : {"window", "truncate", "error"}
        What to do with a text longer than ``max_length``: cover it with sliding
        windows; keep its first ``max_length`` tokens and warn with what was dropped;
        or raise.
    causal : bool
        The model reads left to right (decides which window keeps shared tokens).
    label_piece : {"first", "last", "all"}
        Which word pieces carry the word's labels; the others get missing values.
    """
    if label_piece not in LABEL_PIECES:
        raise LensError.bad_argument("label_piece", label_piece, f"one of {LABEL_PIECES}")
    if overflow not in ("window", "truncate", "error"):
        raise LensError.bad_argument("overflow", overflow, "'window', 'truncate' or 'error'")
    label_names = sorted({name for ex in examples for name in ex.labels})
    meta_names = sorted({name for ex in examples for name in ex.meta}, key=str)

    columns: dict[str, list[np.ndarray]] = {name: [] for name in _INT_COLUMNS + _BOOL_COLUMNS}
    token_strings: list[list[str]] = []
    labels: dict[str, list] = {name: [] for name in label_names}
    text_rows, span_rows, pair_rows = [], [], []
    seg_rows, seg_lengths, keep_local, keep_rows, seg_text, seg_window = [], [], [], [], [], []
    truncated: list[tuple[int, int]] = []
    unpieced: list[tuple[int, str]] = []  # (text id, word) of words that got no token of their own
    row = 0

    for chunk_start in range(0, len(examples), _CHUNK):
        chunk = examples[chunk_start : chunk_start + _CHUNK]
        texts = [ex.resolved_text() for ex in chunk]
        encoded = tokenizer(
            texts,
            add_special_tokens=True,
            truncation=False,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        for i, example in enumerate(chunk):
            text_id = chunk_start + i
            ids = np.asarray(encoded["input_ids"][i], dtype=np.int64)
            offsets = np.asarray(encoded["offset_mapping"][i], dtype=np.int64).reshape(-1, 2)
            special = np.asarray(encoded["special_tokens_mask"][i], dtype=bool)
            n_prefix, n_suffix = _special_runs(special)
            n_content = len(ids) - n_prefix - n_suffix
            windows = plan_windows(n_content, n_prefix, n_suffix, max_length, stride, causal)
            if len(windows) > 1 and overflow != "window":
                if overflow == "error":
                    raise LensError.bad_argument(
                        f"inputs[{text_id}]",
                        f"a text of {len(ids)} tokens",
                        f"at most max_length={max_length} tokens",
                        "Pass overflow='window' to cover it with sliding windows, or split it.",
                    )
                keep = np.r_[0 : n_prefix + windows[0].content_end, n_prefix + n_content : len(ids)]
                truncated.append((text_id, len(ids) - len(keep)))
                ids, offsets, special = ids[keep], offsets[keep], special[keep]
                n_content = windows[0].content_end
                windows = plan_windows(n_content, n_prefix, n_suffix, max_length, stride, causal)

            word_index = _word_index(offsets, special, example.word_offsets())
            if len(unpieced) < 1000:
                has_piece = np.zeros(len(example.words), dtype=bool)
                has_piece[word_index[word_index >= 0]] = True
                unpieced.extend((text_id, example.words[w]) for w in np.flatnonzero(~has_piece))
            first, last = _piece_flags(word_index)
            n = len(ids)
            window_of_token = np.zeros(n, dtype=np.int64)
            for w, window in enumerate(windows):
                window_of_token[n_prefix + window.keep_start : n_prefix + window.keep_end] = w
                rows = np.r_[
                    0:n_prefix, n_prefix + window.content_start : n_prefix + window.content_end, n - n_suffix : n
                ]
                seg_rows.append(row + rows)
                seg_lengths.append(len(rows))
                stop = n_prefix + window.keep_end + (n_suffix if window.with_suffix else 0)
                begin = n_prefix + window.keep_start - (n_prefix if window.with_prefix else 0)
                local = (0 if window.with_prefix else n_prefix) + (window.keep_start - window.content_start)
                keep_local.append(local)
                keep_rows.append((row + begin, row + stop))
                seg_text.append(text_id)
                seg_window.append(w)
            window_of_token[n - n_suffix :] = len(windows) - 1

            columns["text_id"].append(np.full(n, text_id, dtype=np.int64))
            columns["position"].append(np.arange(n, dtype=np.int64))
            columns["token_id"].append(ids)
            columns["word_index"].append(word_index)
            columns["char_start"].append(offsets[:, 0])
            columns["char_end"].append(offsets[:, 1])
            columns["window"].append(window_of_token)
            columns["special"].append(special)
            columns["first_piece"].append(first)
            columns["last_piece"].append(last)
            token_strings.append(tokenizer.convert_ids_to_tokens(ids.tolist()))
            carrier = {"first": first, "last": last, "all": word_index >= 0}[label_piece]
            for name in label_names:
                values = example.labels.get(name)
                labels[name].extend(
                    values[w] if (values is not None and carrier[t]) else None for t, w in enumerate(word_index)
                )
            text_rows.append(
                dict(
                    text_id=text_id,
                    text=texts[i],
                    n_words=len(example.words),
                    n_tokens=n,
                    n_windows=len(windows),
                    token_start=row,
                    token_end=row + n,
                    **{name: example.meta.get(name) for name in meta_names},
                )
            )
            span_rows.extend(_span_records(example, text_id, word_index, row))
            pair_rows.extend(_pair_records(example, text_id, word_index, row))
            row += n

    if truncated:
        dropped = sum(count for _, count in truncated)
        warnings.warn(
            f"overflow='truncate': {len(truncated)} text(s) were longer than max_length={max_length}; "
            f"{dropped} token(s) were dropped (texts {[t for t, _ in truncated[:10]]}"
            f"{'...' if len(truncated) > 10 else ''}). Use overflow='window' to keep every token.",
            stacklevel=3,
        )

    if unpieced:
        shown = ", ".join(f"{word!r} (text {t})" for t, word in unpieced[:5])
        warnings.warn(
            f"{len(unpieced)}{'+' if len(unpieced) >= 1000 else ''} word(s) have no token of their own because "
            f"the tokenizer merged them into the previous word's piece (e.g. {shown}; UD splits 'cannot' into "
            "'can' + 'not'): their labels are not in the token table. Use the surface text's words to keep them.",
            stacklevel=3,
        )

    table = {name: np.concatenate(parts) for name, parts in columns.items()}
    tokens = pd.DataFrame(
        {
            "text_id": table["text_id"],
            "position": table["position"],
            "token": pd.Series([t for part in token_strings for t in part], dtype=str),
            "token_id": table["token_id"],
            "word_index": table["word_index"],
            "char_start": table["char_start"],
            "char_end": table["char_end"],
            "special": table["special"],
            "first_piece": table["first_piece"],
            "last_piece": table["last_piece"],
            "window": table["window"],
        }
    )
    for name in label_names:
        tokens[name] = pd.Series(labels[name])
    offsets = np.zeros(len(seg_lengths) + 1, dtype=np.int64)
    np.cumsum(seg_lengths, out=offsets[1:])
    return TokenPlan(
        tokens=tokens,
        texts=pd.DataFrame(text_rows),
        spans=pd.DataFrame(span_rows, columns=_SPAN_COLUMNS),
        span_pairs=pd.DataFrame(pair_rows, columns=_PAIR_COLUMNS),
        segment_offsets=offsets,
        segment_rows=np.concatenate(seg_rows),
        keep_local=np.asarray(keep_local, dtype=np.int64),
        keep_rows=np.asarray(keep_rows, dtype=np.int64).reshape(-1, 2),
        segment_text=np.asarray(seg_text, dtype=np.int64),
        segment_window=np.asarray(seg_window, dtype=np.int64),
    )


_INT_COLUMNS = ["text_id", "position", "token_id", "word_index", "char_start", "char_end", "window"]
_BOOL_COLUMNS = ["special", "first_piece", "last_piece"]
_SPAN_COLUMNS = ["span_id", "text_id", "word_start", "word_end", "token_start", "token_end", "label"]
_PAIR_COLUMNS = [
    "pair_id", "text_id",
    "word_start_1", "word_end_1", "token_start_1", "token_end_1",
    "word_start_2", "word_end_2", "token_start_2", "token_end_2",
    "label",
]  # fmt: skip


def _special_runs(special: np.ndarray) -> tuple[int, int]:
    """Lengths of the leading and trailing runs of special tokens."""
    n = len(special)
    prefix = int(np.argmin(special)) if not special.all() else n
    if prefix == n:
        return n, 0
    suffix = int(np.argmin(special[::-1]))
    return prefix, suffix


def _word_index(offsets: np.ndarray, special: np.ndarray, words: list[tuple[int, int]]) -> np.ndarray:
    """The word each token overlaps (first one if several), -1 for specials and gaps.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_tokens, 2)
        Character offsets of the tokens.
    words : list of (start, end)
        Character offsets of the words, sorted and disjoint.
    """
    starts = np.asarray([w[0] for w in words], dtype=np.int64)
    ends = np.asarray([w[1] for w in words], dtype=np.int64)
    index = np.searchsorted(ends, offsets[:, 0], side="right")
    found = index < len(words)
    clipped = np.minimum(index, len(words) - 1)
    overlaps = found & (starts[clipped] < offsets[:, 1]) & (offsets[:, 1] > offsets[:, 0])
    return np.where(overlaps & ~special, clipped, -1).astype(np.int64)


def _piece_flags(word_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each token is the first / last piece of its word."""
    in_word = word_index >= 0
    previous = np.r_[-2, word_index[:-1]]
    following = np.r_[word_index[1:], -2]
    return in_word & (word_index != previous), in_word & (word_index != following)


def _token_range(word_index: np.ndarray, start: int, end: int, row: int) -> tuple[int, int]:
    rows = np.flatnonzero((word_index >= start) & (word_index < end))
    if len(rows) == 0:
        return -1, -1
    return row + int(rows[0]), row + int(rows[-1]) + 1


def _span_records(example: Example, text_id: int, word_index: np.ndarray, row: int) -> list[dict]:
    records = []
    for span in example.spans:
        token_start, token_end = _token_range(word_index, span.start, span.end, row)
        records.append(
            dict(span_id=0, text_id=text_id, word_start=span.start, word_end=span.end,
                 token_start=token_start, token_end=token_end, label=_plain_label(span.label))
        )  # fmt: skip
    return records


def _pair_records(example: Example, text_id: int, word_index: np.ndarray, row: int) -> list[dict]:
    records = []
    for pair in example.span_pairs:
        s1, e1 = _token_range(word_index, pair.first.start, pair.first.end, row)
        s2, e2 = _token_range(word_index, pair.second.start, pair.second.end, row)
        records.append(
            dict(pair_id=0, text_id=text_id,
                 word_start_1=pair.first.start, word_end_1=pair.first.end, token_start_1=s1, token_end_1=e1,
                 word_start_2=pair.second.start, word_end_2=pair.second.end, token_start_2=s2, token_end_2=e2,
                 label=_plain_label(pair.label))
        )  # fmt: skip
    return records


def _plain_label(label):
    return list(label) if isinstance(label, (tuple, list)) else label
