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

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

from lensnb.errors import LensError
from lensnb.examples import Example
from lensnb.token_text import is_space_piece, marks_absent_space
from lensnb.windows import plan_windows

__all__ = ["TokenPlan", "tokenize_examples", "LABEL_PIECES"]

LABEL_PIECES = ("first", "last", "all")
_CHUNK = 512
_PROGRESS_DELAY = 1.0  # seconds of tokenizing before its progress bar shows


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
        Labelled spans (and pairs) with word and token row ranges (the first piece of
        their first word to the last piece of their last word) and ``complete``: False
        when ``overflow="truncate"`` took some of their words.
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

    def digest(self) -> str:
        """A sha256 digest of what the model is fed and where each state goes.

        It covers the token ids, their words and character offsets, and the segments
        (which rows each one feeds and keeps), so two plans with the same digest ask the
        model the same questions: a store records it to refuse being resumed or reused
        after the tokenizer changed (another vocabulary, normalizer or special tokens)
        even when the inputs, the weights and the token count are the same.
        """
        digest = hashlib.sha256()
        for column in ("token_id", "word_index", "char_start", "char_end"):
            digest.update(np.ascontiguousarray(self.tokens[column].to_numpy(), dtype=np.int64).tobytes())
        for array in (self.segment_offsets, self.segment_rows, self.keep_local, self.keep_rows):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        return digest.hexdigest()


def tokenize_examples(
    examples: Sequence[Example],
    tokenizer,
    *,
    max_length: int,
    stride: int,
    overflow: str,
    causal: bool,
    label_piece: str = "first",
    vocabulary: np.ndarray | None = None,
    progress: bool = False,
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
        windows; keep its first ``max_length`` tokens and warn with what was dropped
        (a word cut in the middle keeps its first pieces, none of them a ``last_piece``;
        spans that lost words are ``complete=False``); or raise.
    causal : bool
        The model reads left to right (decides which window keeps shared tokens).
    label_piece : {"first", "last", "all"}
        Which word pieces carry the word's labels; the others get missing values.
    vocabulary : ndarray of str, shape (vocab_size,), optional
        Token string of each id (computed from the tokenizer when not given).
    progress : bool
        Show a progress bar (tqdm, counting texts) once tokenizing has taken more
        than a second: about 30,000 short sentences a second with a fast tokenizer,
        so only large corpora show it.

    Notes
    -----
    The work is vectorised over chunks of texts; only texts longer than
    ``max_length`` take a per-text path. A token whose characters span several words
    belongs to the first; a stand-alone space marker (sentencepiece's ``▁`` before the
    first word) to none; words left without a token of their own are reported, as
    merged into an earlier word's token or dropped by the tokenizer.
    """
    if label_piece not in LABEL_PIECES:
        raise LensError.bad_argument("label_piece", label_piece, f"one of {LABEL_PIECES}")
    if overflow not in ("window", "truncate", "error"):
        raise LensError.bad_argument("overflow", overflow, "'window', 'truncate' or 'error'")
    label_names = sorted({name for ex in examples for name in ex.labels})
    if vocabulary is None:
        vocabulary = token_strings(tokenizer)
    from tqdm.auto import tqdm

    state = _Accumulator(label_names, max_length, stride, overflow, causal, label_piece, vocabulary)
    with tqdm(total=len(examples), unit="text", desc="tokenize", delay=_PROGRESS_DELAY, disable=not progress) as bar:
        for chunk_start in range(0, len(examples), _CHUNK):
            chunk = examples[chunk_start : chunk_start + _CHUNK]
            state.add_chunk(chunk, chunk_start, tokenizer)
            bar.update(len(chunk))
    state.warn()
    return state.plan(examples)


def token_strings(tokenizer) -> np.ndarray:
    """The vocabulary string of every token id, shape (vocab_size,), dtype object."""
    return np.asarray(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))), dtype=object)


class _Accumulator:
    """Builds the token table and segments chunk by chunk, in numpy."""

    def __init__(self, label_names, max_length, stride, overflow, causal, label_piece, vocabulary):
        self.label_names, self.max_length, self.stride = label_names, max_length, stride
        self.overflow, self.causal, self.label_piece, self.vocabulary = overflow, causal, label_piece, vocabulary
        self.blank_vocabulary = _BlankVocabulary(vocabulary)
        self.columns: dict[str, list[np.ndarray]] = {name: [] for name in _INT_COLUMNS + _BOOL_COLUMNS}
        self.labels: dict[str, list[np.ndarray]] = {name: [] for name in label_names}
        self.text_columns: dict[str, list[np.ndarray]] = {name: [] for name in _TEXT_COUNT_COLUMNS}
        self.span_rows: list[dict] = []
        self.pair_rows: list[dict] = []
        self.segments: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.truncated: list[tuple[int, int]] = []
        self.cut_words = 0  # words overflow='truncate' cut in the middle
        self.cut_spans = 0  # spans and span pairs that lost words to it
        self.unpieced: list[tuple[int, str, str]] = []
        self.special_ids: np.ndarray | None = None  # the tokenizer's special token ids, read once
        self.row = 0

    def add_chunk(self, chunk: Sequence[Example], first_text: int, tokenizer) -> None:
        texts = [example.resolved_text() for example in chunk]
        id_lists, offset_lists, special_lists = _encode(tokenizer, texts)
        lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(chunk))
        total = int(lengths.sum())
        ids = np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=total)
        special = np.fromiter(chain.from_iterable(special_lists), dtype=bool, count=total)
        offsets = np.fromiter(
            chain.from_iterable(chain.from_iterable(offset_lists)), dtype=np.int64, count=2 * total
        ).reshape(-1, 2)
        starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
        special |= self._typed_specials(
            tokenizer, ids, offsets, special, texts, np.repeat(np.arange(len(chunk)), lengths)
        )
        prefix, suffix = _special_runs(special, starts, lengths)
        capacity = self.max_length - prefix - suffix
        if np.any(capacity < 1):
            raise LensError.bad_argument(
                "max_length", self.max_length, f"more than the {int((prefix + suffix).max())} special tokens each input carries"
            )  # fmt: skip
        content = lengths - prefix - suffix
        if (content < 1).any():  # only special tokens: the text would vanish from every pooled view
            text = int(np.flatnonzero(content < 1)[0])
            raise LensError.bad_argument(
                f"inputs[{first_text + text}]", texts[text], "a text of which the tokenizer keeps at least one token",
                "The tokenizer drops every character of it (control, zero-width or unknown characters, say).",
            )  # fmt: skip
        too_long = np.flatnonzero(content > capacity)
        if len(too_long) and self.overflow == "error":
            text = int(too_long[0])
            raise LensError.bad_argument(
                f"inputs[{first_text + text}]", f"a text of {lengths[text]} tokens", f"at most max_length={self.max_length} tokens",
                "Pass overflow='window' to cover it with sliding windows, or split it.",
            )  # fmt: skip
        text_of_token = np.repeat(np.arange(len(chunk)), lengths)
        word_index = self._word_index(chunk, texts, ids, offsets, special, text_of_token, first_text)
        lost_from = np.full(len(chunk), _NO_WORD_LOST)  # the first word each text lost pieces of
        first, last = _piece_flags(word_index, text_of_token)
        if len(too_long) and self.overflow == "truncate":
            keep = self._truncate(
                too_long, starts, lengths, prefix, suffix, capacity, word_index, first_text, lost_from
            )
            ids, special, offsets, word_index = ids[keep], special[keep], offsets[keep], word_index[keep]
            first, last = first[keep], last[keep]
            content = np.minimum(content, capacity)
            lengths = prefix + content + suffix
            starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
            total = int(lengths.sum())
            too_long = np.array([], dtype=np.int64)
            text_of_token = np.repeat(np.arange(len(chunk)), lengths)
            # the flags come from the whole text: a word cut in the middle keeps no last_piece
            self.cut_words += len(np.unique(text_of_token[word_index == lost_from[text_of_token]]))
        window = np.zeros(total, dtype=np.int64)
        n_windows = self._segments(first_text, starts, lengths, prefix, suffix, content, too_long, window)
        self._labels(chunk, word_index, text_of_token, first, last)

        position = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
        for name, values in (
            ("text_id", text_of_token + first_text), ("position", position), ("token_id", ids),
            ("word_index", word_index), ("char_start", offsets[:, 0]), ("char_end", offsets[:, 1]),
            ("window", window), ("special", special), ("first_piece", first), ("last_piece", last),
        ):  # fmt: skip
            self.columns[name].append(values.astype(_DTYPES.get(name, bool)))  # final, compact types now
        counts = {
            "text_id": np.arange(first_text, first_text + len(chunk)),
            "n_words": np.fromiter((len(e.words) for e in chunk), dtype=np.int64, count=len(chunk)),
            "n_tokens": lengths,
            "n_windows": n_windows,
            "token_start": self.row + starts,
            "token_end": self.row + starts + lengths,
        }
        for name, values in counts.items():
            self.text_columns[name].append(np.asarray(values, dtype=np.int64))
        for i, example in enumerate(chunk):
            if example.spans or example.span_pairs:
                local = word_index[starts[i] : starts[i] + lengths[i]]
                base = self.row + int(starts[i])
                spans = _span_records(example, first_text + i, local, base, int(lost_from[i]))
                pairs = _pair_records(example, first_text + i, local, base, int(lost_from[i]))
                self.cut_spans += sum(not r["complete"] for r in spans) + sum(not r["complete"] for r in pairs)
                self.span_rows.extend(spans)
                self.pair_rows.extend(pairs)
        self.row += total

    def _truncate(self, too_long, starts, lengths, prefix, suffix, capacity, word_index, first_text, lost_from):
        """Which tokens a truncation keeps (bool mask): each long text's first ``capacity``
        content tokens and its specials. Records the count dropped, and writes in
        ``lost_from`` the first word of each text that lost a piece."""
        keep = np.ones(len(word_index), dtype=bool)
        for text in too_long:
            end = starts[text] + prefix[text] + capacity[text]
            stop = starts[text] + lengths[text] - suffix[text]
            keep[end:stop] = False
            lost = word_index[end:stop]
            lost_from[text] = lost[lost >= 0].min(initial=_NO_WORD_LOST)
            self.truncated.append((first_text + int(text), int(stop - end)))
        return keep

    def _typed_specials(self, tokenizer, ids, offsets, special, texts, text_of_token) -> np.ndarray:
        """Special tokens written in the text itself (GPT-2's ``"<|endoftext|>"`` put before a
        text as its start token, ``"<s>"``): the tokenizer turns them into their special ids,
        but its mask marks only the specials it adds. A token is one when its id is a special
        id and its characters are that token's own text; an unknown token standing for other
        characters (``[UNK]`` for an emoji) is not: it stands for a word's characters. Nor are
        the mask and unknown tokens written in a text: they stand for a word (the verb masked
        in an agreement item, say)."""
        if self.special_ids is None:
            structural = set(getattr(tokenizer, "all_special_ids", ()) or ())
            structural -= {getattr(tokenizer, "mask_token_id", None), getattr(tokenizer, "unk_token_id", None)}
            self.special_ids = np.asarray(sorted(i for i in structural if isinstance(i, int)), dtype=np.int64)
        typed = np.zeros(len(ids), dtype=bool)
        candidates = np.flatnonzero(~special & np.isin(ids, self.special_ids))
        for row in candidates:
            start, end = offsets[row]
            written = texts[text_of_token[row]][start:end].strip()
            typed[row] = bool(written) and written == str(self.vocabulary[ids[row]]).strip()
        return typed

    def _word_index(self, chunk, texts, ids, offsets, special, text_of_token, first_text) -> np.ndarray:
        """Word of each token from character offsets, for the whole chunk at once.

        A token belongs to the first word its characters overlap; special tokens, empty
        ones and blank pieces (see :func:`_blank_pieces`) belong to none (-1)."""
        text_base = np.r_[0, np.cumsum([len(t) + 1 for t in texts])[:-1]].astype(np.int64)
        word_offsets = [example.word_offsets() for example in chunk]
        n_words = np.fromiter(map(len, word_offsets), dtype=np.int64, count=len(chunk))
        spans = np.concatenate(word_offsets).reshape(-1, 2) + np.repeat(text_base, n_words)[:, None]
        word_base = np.r_[0, np.cumsum(n_words)[:-1]].astype(np.int64)
        token_spans = offsets + text_base[text_of_token][:, None]
        index = np.searchsorted(spans[:, 1], token_spans[:, 0], side="right")
        clipped = np.minimum(index, len(spans) - 1)
        overlaps = (index < len(spans)) & (spans[clipped, 0] < token_spans[:, 1]) & (offsets[:, 1] > offsets[:, 0])
        word_index = np.where(overlaps & ~special, clipped - word_base[text_of_token], -1).astype(np.int64)
        word_index[_blank_pieces(word_index, ids, offsets, text_of_token, texts, self.blank_vocabulary)] = -1
        if len(self.unpieced) < 1000:
            has_piece = np.zeros(len(spans), dtype=bool)
            has_piece[(word_index + word_base[text_of_token])[word_index >= 0]] = True
            for global_word in np.flatnonzero(~has_piece)[:1000]:
                text = int(np.searchsorted(word_base, global_word, side="right") - 1)
                start, end = word_offsets[text][global_word - word_base[text]]
                if _covered_by_a_token(offsets, ~special, text_of_token, text, start, end):
                    kind = "merged"
                elif _covered_by_a_token(offsets, special, text_of_token, text, start, end):
                    kind = "special"  # written as a special token ("<|endoftext|>", "<s>")
                else:
                    kind = "dropped"
                self.unpieced.append((first_text + text, chunk[text].words[global_word - word_base[text]], kind))
        return word_index

    def _segments(self, first_text, starts, lengths, prefix, suffix, content, too_long, window) -> np.ndarray:
        """Model inputs: whole texts, and sliding windows for the long ones; returns windows per text."""
        n_windows = np.ones(len(starts), dtype=np.int64)
        fits = np.ones(len(starts), dtype=bool)
        fits[too_long] = False
        whole = np.flatnonzero(fits)
        rows = (
            np.concatenate([np.arange(starts[t], starts[t] + lengths[t]) for t in whole])
            if len(whole)
            else np.zeros(0, np.int64)
        )
        self.segments.append((
            rows + self.row, lengths[whole], np.zeros(len(whole), np.int64),
            np.stack([starts[whole], starts[whole] + lengths[whole]], axis=1).reshape(-1, 2) + self.row,
            whole + first_text, np.zeros(len(whole), np.int64),
        ))  # fmt: skip
        for text in too_long:
            n, p, s, c = int(lengths[text]), int(prefix[text]), int(suffix[text]), int(content[text])
            base = int(starts[text])
            windows = plan_windows(c, p, s, self.max_length, self.stride, self.causal)
            n_windows[text] = len(windows)
            seg_rows, seg_lengths, keep_local, keep_rows = [], [], [], []
            for number, w in enumerate(windows):
                window[base + p + w.keep_start : base + p + w.keep_end] = number
                fed = np.r_[0:p, p + w.content_start : p + w.content_end, n - s : n]
                seg_rows.append(fed + base)
                seg_lengths.append(len(fed))
                begin = p + w.keep_start - (p if w.with_prefix else 0)
                stop = p + w.keep_end + (s if w.with_suffix else 0)
                keep_local.append((0 if w.with_prefix else p) + (w.keep_start - w.content_start))
                keep_rows.append((base + begin, base + stop))
            window[base + n - s : base + n] = len(windows) - 1
            self.segments.append((
                np.concatenate(seg_rows) + self.row, np.asarray(seg_lengths), np.asarray(keep_local),
                np.asarray(keep_rows).reshape(-1, 2) + self.row,
                np.full(len(windows), first_text + int(text)), np.arange(len(windows)),
            ))  # fmt: skip
        return n_windows

    def _labels(self, chunk, word_index, text_of_token, first, last) -> None:
        if not self.label_names:
            return
        carrier = {"first": first, "last": last, "all": word_index >= 0}[self.label_piece]
        n_words = np.fromiter((len(e.words) for e in chunk), dtype=np.int64, count=len(chunk))
        word_base = np.r_[0, np.cumsum(n_words)[:-1]].astype(np.int64)
        global_word = word_index + word_base[text_of_token]
        for name in self.label_names:
            values = np.empty(int(n_words.sum()), dtype=object)
            for i, example in enumerate(chunk):
                column = example.labels.get(name)
                if column is not None:
                    values[word_base[i] : word_base[i] + n_words[i]] = list(column)
            token_values = np.full(len(word_index), None, dtype=object)
            token_values[carrier] = values[global_word[carrier]]
            self.labels[name].append(token_values)

    def warn(self) -> None:
        """Report what the token table cannot show: truncated texts, words without a token."""
        if self.truncated:
            dropped = sum(count for _, count in self.truncated)
            shown = [t for t, _ in self.truncated[:10]]
            cut = ""
            if self.cut_words or self.cut_spans:
                cut = (
                    f" {self.cut_words} word(s) were cut in the middle (their kept pieces have no last_piece, so no "
                    f"label with label_piece='last') and {self.cut_spans} span(s) or span pair(s) lost words "
                    "(complete=False in the span tables; pool_spans refuses them)."
                )
            warnings.warn(
                f"overflow='truncate': {len(self.truncated)} text(s) were longer than max_length={self.max_length}; "
                f"{dropped} token(s) were dropped (texts {shown}{'...' if len(self.truncated) > 10 else ''}).{cut} "
                "Use overflow='window' to keep every token.",
                stacklevel=4,
            )
        if self.unpieced:
            warnings.warn(_unpieced_message(self.unpieced), stacklevel=4)

    def plan(self, examples: Sequence[Example]) -> TokenPlan:
        table = {}
        for name in list(self.columns):
            table[name] = np.concatenate(self.columns.pop(name))  # free each column's parts as we go
        tokens = pd.DataFrame(copy=False, data={
            "text_id": table["text_id"], "position": table["position"],
            "token": pd.Series(self.vocabulary[table["token_id"]], dtype=str),
            **{name: table[name] for name in ("token_id", "word_index", "char_start", "char_end", "special",
                                              "first_piece", "last_piece", "window")},
        })  # fmt: skip
        for name in self.label_names:
            tokens[name] = pd.Series(np.concatenate(self.labels[name]))
        texts = pd.DataFrame({"text_id": np.concatenate(self.text_columns["text_id"])})
        texts["text"] = pd.Series([example.resolved_text() for example in examples], dtype=str)
        for name in _TEXT_COUNT_COLUMNS[1:]:
            texts[name] = np.concatenate(self.text_columns[name])
        for name in sorted({name for ex in examples for name in ex.meta}, key=str):
            texts[name] = [example.meta.get(name) for example in examples]
        rows, lengths, keep_local, keep_rows, text, window = (np.concatenate(part) for part in zip(*self.segments))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return TokenPlan(
            tokens=tokens,
            texts=texts,
            spans=pd.DataFrame(self.span_rows, columns=_SPAN_COLUMNS),
            span_pairs=pd.DataFrame(self.pair_rows, columns=_PAIR_COLUMNS),
            segment_offsets=offsets,
            segment_rows=rows.astype(np.int64),
            keep_local=keep_local.astype(np.int64),
            keep_rows=keep_rows.astype(np.int64).reshape(-1, 2),
            segment_text=text.astype(np.int64),
            segment_window=window.astype(np.int64),
        )


def _encode(tokenizer, texts: list[str]) -> tuple[list, list, list]:
    """Token ids, character offsets and special-token flags of each text, never truncated.

    Reads the Rust tokenizer's encodings directly (transformers' conversion of them to
    Python lists costs more than the tokenization itself), with any truncation or
    padding configured on it switched off for the call and restored afterwards.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a fast tokenizer without a tokenizers backend: the generic path
        encoded = tokenizer(
            texts, add_special_tokens=True, truncation=False, return_offsets_mapping=True,
            return_special_tokens_mask=True, return_attention_mask=False, return_token_type_ids=False, verbose=False,
        )  # fmt: skip
        return encoded["input_ids"], encoded["offset_mapping"], encoded["special_tokens_mask"]
    truncation, padding = backend.truncation, backend.padding
    if truncation:
        backend.no_truncation()
    if padding:
        backend.no_padding()
    try:
        encodings = backend.encode_batch(texts, add_special_tokens=True)
    finally:
        if truncation:
            backend.enable_truncation(**truncation)
        if padding:
            backend.enable_padding(**padding)
    return [e.ids for e in encodings], [e.offsets for e in encodings], [e.special_tokens_mask for e in encodings]


#: ``lost_from`` of a text that lost no word to truncation.
_NO_WORD_LOST = np.iinfo(np.int64).max
_INT_COLUMNS = ["text_id", "position", "token_id", "word_index", "char_start", "char_end", "window"]
_BOOL_COLUMNS = ["special", "first_piece", "last_piece"]
#: Integer columns of the token table are int32: half the memory of a large corpus's table.
_DTYPES = {name: np.int32 for name in _INT_COLUMNS}
_TEXT_COUNT_COLUMNS = ["text_id", "n_words", "n_tokens", "n_windows", "token_start", "token_end"]
_SPAN_COLUMNS = ["span_id", "text_id", "word_start", "word_end", "token_start", "token_end", "complete", "label"]
_PAIR_COLUMNS = [
    "pair_id", "text_id",
    "word_start_1", "word_end_1", "token_start_1", "token_end_1",
    "word_start_2", "word_end_2", "token_start_2", "token_end_2",
    "complete", "label",
]  # fmt: skip


def _unpieced_message(unpieced: list[tuple[int, str, str]]) -> str:
    """The warning for words without a token of their own: (text, word, kind) each, at most 1,000;
    kind "merged" (into an earlier word's token), "special" (written as a special token) or "dropped"."""
    more = "+" if len(unpieced) >= 1000 else ""
    parts = []
    merged = [(t, word) for t, word, kind in unpieced if kind == "merged"]
    specials = [(t, word) for t, word, kind in unpieced if kind == "special"]
    dropped = [(t, word) for t, word, kind in unpieced if kind == "dropped"]
    if merged:
        shown = ", ".join(f"{word!r} (text {t})" for t, word in merged[:5])
        parts.append(
            f"{len(merged)}{more} share a token with an earlier word: the tokenizer merged them into its piece "
            f"(e.g. {shown}; UD splits 'cannot' into 'can' + 'not')"
        )
    if specials:
        shown = ", ".join(f"{word!r} (text {t})" for t, word in specials[:5])
        parts.append(
            f"{len(specials)}{more} are special tokens written in the text (e.g. {shown}): flagged special, as the "
            "ones the tokenizer adds, so in no word"
        )
    if dropped:
        shown = ", ".join(f"{word!r} (text {t})" for t, word in dropped[:5])
        parts.append(
            f"{len(dropped)}{more} produced no token at all: the tokenizer drops their characters (e.g. {shown}; "
            "zero-width, control or lone combining characters)"
        )
    return (
        f"{len(unpieced)}{more} word(s) have no token of their own: {'; '.join(parts)}. Their labels are not in "
        "the token table. Use the surface text's words to keep them."
    )


def _special_runs(special: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of each text's leading and trailing runs of special tokens.

    Parameters
    ----------
    special : ndarray of bool, shape (n_tokens,)
        Special-token flags of all texts, one after the other.
    starts, lengths : ndarray of int64, shape (n_texts,)
    """
    n = len(special)
    position = np.arange(n, dtype=np.int64)
    ordinary = np.where(special, n, position)  # first ordinary token of each text
    first = np.minimum.reduceat(ordinary, starts) if n else np.zeros(0, np.int64)
    ordinary_last = np.where(special, -1, position)
    last = np.maximum.reduceat(ordinary_last, starts) if n else np.zeros(0, np.int64)
    empty = lengths == 0
    all_special = (first >= starts + lengths) | empty
    prefix = np.where(all_special, lengths, first - starts)
    suffix = np.where(all_special, 0, starts + lengths - 1 - last)
    return prefix.astype(np.int64), suffix.astype(np.int64)


def _blank_pieces(
    word_index: np.ndarray, ids: np.ndarray, offsets: np.ndarray, text_of_token: np.ndarray,
    texts: Sequence[str], vocabulary: _BlankVocabulary,
) -> np.ndarray:  # fmt: skip
    """Which in-word tokens are only a space marker and no part of the word: shape (n_tokens,) bool.

    A piece whose vocabulary string is a space piece and whose offsets do not cover its
    characters (:func:`lensnb.token_text.marks_absent_space`: the stand-alone ``▁`` a
    sentencepiece tokenizer prepends to a text, over the first word's first character).
    Only the few in-word tokens with such a string are looked at one by one.
    """
    in_word = np.flatnonzero(word_index >= 0)
    candidates = in_word[vocabulary.blank(ids[in_word])]
    blank = np.zeros(len(word_index), dtype=bool)
    for row in candidates:
        covered = texts[text_of_token[row]][offsets[row, 0] : offsets[row, 1]]
        blank[row] = marks_absent_space(str(vocabulary.strings[ids[row]]), covered)
    return blank


class _BlankVocabulary:
    """Which token ids have a space-piece vocabulary string (:func:`lensnb.token_text.is_space_piece`),
    each string looked at once per extraction, the first time its id is met."""

    def __init__(self, strings: np.ndarray):
        self.strings = strings
        self.checked = np.zeros(len(strings), dtype=bool)
        self.is_blank = np.zeros(len(strings), dtype=bool)

    def blank(self, ids: np.ndarray) -> np.ndarray:
        """Shape of ``ids``, bool: whether each id's string is blank."""
        new = np.unique(ids[~self.checked[ids]])
        if len(new):
            self.is_blank[new] = [is_space_piece(str(piece)) for piece in self.strings[new]]
            self.checked[new] = True
        return self.is_blank[ids]


def _covered_by_a_token(
    offsets: np.ndarray, eligible: np.ndarray, text_of_token: np.ndarray, text: int, start: int, end: int
) -> bool:
    """Whether an ``eligible`` token of ``text`` (flags, all tokens) overlaps the characters ``[start, end)``."""
    lo, hi = np.searchsorted(text_of_token, [text, text + 1])
    spans, chosen = offsets[lo:hi], eligible[lo:hi]
    return bool(np.any(chosen & (spans[:, 1] > spans[:, 0]) & (spans[:, 0] < end) & (spans[:, 1] > start)))


def _piece_flags(word_index: np.ndarray, text_of_token: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each token is the first / last piece of its word."""
    in_word = word_index >= 0
    key = word_index + (text_of_token.astype(np.int64) << 32)
    previous = np.r_[-1, key[:-1]]
    following = np.r_[key[1:], -1]
    return in_word & (key != previous), in_word & (key != following)


def _token_range(word_index: np.ndarray, start: int, end: int, row: int) -> tuple[int, int]:
    rows = np.flatnonzero((word_index >= start) & (word_index < end))
    if len(rows) == 0:
        return -1, -1
    return row + int(rows[0]), row + int(rows[-1]) + 1


def _span_records(example: Example, text_id: int, word_index: np.ndarray, row: int, lost_from: int) -> list[dict]:
    """Span table rows of one text; ``complete`` is False for a span of which a truncation
    took some words (``lost_from``: the first word that lost a piece)."""
    records = []
    for span in example.spans:
        token_start, token_end = _token_range(word_index, span.start, span.end, row)
        records.append(
            dict(span_id=0, text_id=text_id, word_start=span.start, word_end=span.end,
                 token_start=token_start, token_end=token_end, complete=span.end <= lost_from,
                 label=_plain_label(span.label))
        )  # fmt: skip
    return records


def _pair_records(example: Example, text_id: int, word_index: np.ndarray, row: int, lost_from: int) -> list[dict]:
    """Span-pair table rows of one text; ``complete`` as in :func:`_span_records`, for both spans."""
    records = []
    for pair in example.span_pairs:
        s1, e1 = _token_range(word_index, pair.first.start, pair.first.end, row)
        s2, e2 = _token_range(word_index, pair.second.start, pair.second.end, row)
        records.append(
            dict(pair_id=0, text_id=text_id,
                 word_start_1=pair.first.start, word_end_1=pair.first.end, token_start_1=s1, token_end_1=e1,
                 word_start_2=pair.second.start, word_end_2=pair.second.end, token_start_2=s2, token_end_2=e2,
                 complete=max(pair.first.end, pair.second.end) <= lost_from, label=_plain_label(pair.label))
        )  # fmt: skip
    return records


def _plain_label(label):
    return list(label) if isinstance(label, (tuple, list)) else label
