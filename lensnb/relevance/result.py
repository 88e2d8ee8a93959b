"""The result every relevance method returns: per-token scores sharing the token table.

A :class:`Relevance` holds one score per token of every text (the rows of the token
table made by extraction's tokenizer, padding never included), optionally one per
token at each layer's residual stream, the target each model input explained, the
method with all its parameters, and the conservation delta where the method defines
one. Word pieces aggregate to words with a named rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lensnb.errors import LensError
from lensnb.examples import RESERVED_TOKEN_COLUMNS, word_text
from lensnb.pooling import runs

__all__ = ["Relevance", "WORD_AGGREGATIONS"]

WORD_AGGREGATIONS = ("sum", "max", "mean", "first")


@dataclass(frozen=True)
class Relevance:
    """Relevance of every input token for a target, from one method.

    Attributes
    ----------
    method : str
        The method's name, e.g. ``"transformer_attribution"``, ``"attnlrp"``.
    parameters : dict
        Every hyperparameter the method ran with (``start_layer``, ``rules``,
        ``n_steps``, ``dtype``, ...), so a figure can say what it used.
    tokens : DataFrame, n_tokens rows
        The token table (text_id, position, token, token_id, word_index, char_start,
        char_end, special, first_piece, last_piece, window, label columns).
    texts : DataFrame, n_texts rows
        One row per text (text_id, text, counts, text-level labels).
    scores : ndarray of float64, shape (n_tokens,)
        Relevance of each token for its input's target.
    segments : DataFrame, n_inputs rows
        One row per model input (a text, or a window of a long text when
        ``overflow="window"``): text_id, window, target (class or token id, -1 for an
        output span), target_score (the explained logit or sum of logits), predicted
        (the model's own choice), delta (conservation delta, NaN where undefined), and
        target_name / predicted_name: what the ids stand for (a classifier's
        ``config.id2label`` name; a language model's next token as decoded text, ``' J'``;
        empty for an output span).
    layer_scores : ndarray of float64, shape (n_levels, n_tokens), optional
        Relevance at each residual-stream level ``layers[i]``, where the method defines
        it; NaN where a level was not computed (below a rollout's ``start_layer``).
        Levels are numbered as Hugging Face's ``hidden_states``, which input x gradient
        and AttnLRP read (``x * grad`` summed over the hidden axis):

        - 0: the embedding output (for GPT-2, word plus position embeddings, so level 0
          can differ from ``scores``, which are read at the word embeddings alone).
        - l = 1 .. L-1: the output of block l.
        - L (the last level): for encoders (BERT and its kin, post-LN) the output of
          block L, its own LayerNorm included; the pooler and classifier after it keep
          their biases' share, so level L sums to the logit only up to those. For pre-LN
          decoders (GPT-2, GPT-NeoX, Llama) Hugging Face applies the final norm
          (``ln_f``, ``final_layer_norm``, ``norm``) to the last entry, so level L is the
          final norm's output, not block L's: it sums to the target logit exactly (the
          unembedding has no bias), and the step from level L-1 to L mixes block L with
          the final norm.

        Attention rollout, transformer attribution and full LRP use the same numbering
        but go down from the top: level l is what has been propagated back through
        blocks L .. l+1 (for the rollouts, level L is the one-hot row of the read token).
    layers : tuple of int, optional
        The residual-stream levels of ``layer_scores``.
    """

    method: str
    parameters: dict[str, Any]
    tokens: pd.DataFrame
    texts: pd.DataFrame
    scores: np.ndarray
    segments: pd.DataFrame
    layer_scores: np.ndarray | None = None
    layers: tuple[int, ...] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def delta(self) -> np.ndarray:
        """Conservation delta of each model input, shape (n_inputs,) (NaN where undefined)."""
        return self.segments["delta"].to_numpy(dtype=np.float64)

    @property
    def n_texts(self) -> int:
        return len(self.texts)

    def _check_text(self, text_id: int) -> np.ndarray:
        ids = self.texts["text_id"].to_numpy()
        if not isinstance(text_id, (int, np.integer)) or text_id not in set(ids.tolist()):
            raise LensError.bad_argument("text_id", text_id, f"a text id between {ids.min()} and {ids.max()}")
        return np.flatnonzero(self.tokens["text_id"].to_numpy() == text_id)

    def text(self, text_id: int = 0) -> pd.DataFrame:
        """One text's tokens with their relevance (columns token, word_index, special, score)."""
        rows = self._check_text(text_id)
        frame = self.tokens.iloc[rows][["position", "token", "word_index", "special"]].reset_index(drop=True)
        frame["score"] = self.scores[rows]
        return frame

    def words(self, aggregate: str = "sum", *, layer: int | None = None) -> pd.DataFrame:
        """Relevance per word, from its word pieces (special tokens left out).

        Parameters
        ----------
        aggregate : {"sum", "max", "mean", "first"}
            How the pieces of a word combine.
        layer : int, optional
            A residual-stream level of ``layer_scores`` instead of the input scores.

        Returns
        -------
        DataFrame
            One row per word: text_id, word_index, word, score, and the token table's
            label columns taken from the word's first piece.
        """
        if aggregate not in WORD_AGGREGATIONS:
            raise LensError.bad_argument("aggregate", aggregate, f"one of {WORD_AGGREGATIONS}")
        values = self.scores if layer is None else self.layer(layer)
        tokens = self.tokens
        rows = np.flatnonzero(tokens["word_index"].to_numpy() >= 0)
        keys = np.stack([tokens["text_id"].to_numpy()[rows], tokens["word_index"].to_numpy()[rows]], axis=1)
        offsets = runs(keys)
        starts, ends = rows[offsets[:-1]], rows[offsets[1:] - 1]
        pieces = values[rows]
        if aggregate == "sum":
            combined = np.add.reduceat(pieces, offsets[:-1]) if len(rows) else np.zeros(0)
        elif aggregate == "max":
            combined = np.maximum.reduceat(pieces, offsets[:-1]) if len(rows) else np.zeros(0)
        elif aggregate == "mean":
            combined = (np.add.reduceat(pieces, offsets[:-1]) / np.diff(offsets)) if len(rows) else np.zeros(0)
        else:
            combined = pieces[offsets[:-1]]
        text_of = dict(zip(self.texts["text_id"], self.texts["text"]))
        char_start, char_end = tokens["char_start"].to_numpy(), tokens["char_end"].to_numpy()
        frame = pd.DataFrame({
            "text_id": tokens["text_id"].to_numpy()[starts],
            "word_index": tokens["word_index"].to_numpy()[starts],
            "word": [word_text(text_of[t], char_start[s], char_end[e]) for t, s, e in
                     zip(tokens["text_id"].to_numpy()[starts], starts, ends)],
            "score": combined.astype(np.float64),
        })  # fmt: skip
        for column in (c for c in tokens.columns if c not in RESERVED_TOKEN_COLUMNS):
            frame[column] = tokens[column].to_numpy()[starts]
        return frame

    def layer(self, level: int) -> np.ndarray:
        """Scores at one residual-stream level, shape (n_tokens,)."""
        if self.layer_scores is None or self.layers is None:
            raise LensError.bad_argument(
                "layer", level, "no level: this Relevance has no per-layer scores",
                "Call attribute(..., layers=True) with a method that defines them.",
            )  # fmt: skip
        levels = list(self.layers)
        index = level + len(levels) if isinstance(level, (int, np.integer)) and level < 0 else level
        if index not in levels:
            raise LensError.bad_argument("layer", level, f"one of the levels {levels}")
        return self.layer_scores[levels.index(index)]

    def to_pandas(self) -> pd.DataFrame:
        """The token table with a ``score`` column."""
        frame = self.tokens.copy()
        frame["score"] = self.scores
        return frame

    def to_html(self, text_id: int | None = None, *, words: str | None = None, max_texts: int = 20) -> str:
        """Tokens (or words) shaded by relevance, as escaped HTML.

        Parameters
        ----------
        text_id : int, optional
            One text; default the first ``max_texts``.
        words : {"sum", "max", "mean", "first"}, optional
            Show words, their pieces combined this way, instead of tokens.
        max_texts : int
            Most texts shown when ``text_id`` is None.
        """
        from lensnb.relevance.html import relevance_html

        return relevance_html(self, text_id=text_id, words=words, max_texts=max_texts)

    def _repr_html_(self) -> str:
        return self.to_html(max_texts=5)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items() if k not in ("batch_size", "progress"))
        levels = "" if self.layers is None else f", {len(self.layers)} levels"
        return f"Relevance({self.method}, {self.n_texts} texts, {len(self.tokens)} tokens{levels}; {shown})"
