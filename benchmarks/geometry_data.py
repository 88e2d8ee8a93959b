"""Real activations for the geometry benchmarks: MiniLM on UD English EWT with UPOS labels.

``minilm_tokens(n)`` extracts all 7 hidden states of the embedded model for the first
EWT sentences until ``n`` non-special tokens are collected, and returns a (7, n, 384)
float32 array with the UPOS tag of each token's word (first pieces carry the word's tag;
other pieces inherit it so that every token has a label).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import lensnb
from lensnb import Example
from lensnb.data import read_conllu

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("LENSNB_DATA") or REPO.parent / "shared" / "data")


def ewt_examples(limit: int | None = None, part: str = "train") -> list[Example]:
    """UD EWT sentences as Examples with their raw text and a ``upos`` label per word."""
    examples = read_conllu(data_dir() / "ud_english_ewt" / f"en_ewt-ud-{part}.conllu")
    return examples if limit is None else examples[:limit]


def minilm_tokens(
    n_tokens: int = 10_000, model: lensnb.LensModel | None = None, distinct: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(7, n_tokens, 384) float32 states of non-special tokens and their UPOS tags (n_tokens,).

    With ``distinct`` only tokens whose vector differs from every earlier one at every
    layer are kept: the embedding layer repeats a word at the same position exactly,
    and EWT repeats some sentences; duplicate points make neighbour sets depend on the
    tie-breaking of each kNN backend, so peers could not be compared on them."""
    import warnings

    model = model or lensnb.load_model()
    examples = ewt_examples(limit=max(50, n_tokens // (3 if distinct else 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EWT splits words like "cannot": their labels are not needed here
        acts = lensnb.extract(model, examples, progress=False, label_piece="all").drop_special()
    table = acts.tokens
    keep = table["upos"].notna().to_numpy().copy()
    states = np.asarray(acts.values)
    if distinct:
        for layer in states:
            _, first = np.unique(layer, axis=0, return_index=True)
            unique = np.zeros(len(layer), dtype=bool)
            unique[first] = True
            keep &= unique
    values = states[:, keep][:, :n_tokens]
    labels = table["upos"].to_numpy()[keep][:n_tokens].astype(str)
    if values.shape[1] < n_tokens:
        raise SystemExit(f"only {values.shape[1]} labelled tokens; {n_tokens} were asked for")
    return np.ascontiguousarray(values, dtype=np.float32), labels


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(f"minilm_{n}.npz")
    values, labels = minilm_tokens(n)
    np.savez(out, values=values, labels=labels)
    print(out, values.shape, len(set(labels)), "labels")
