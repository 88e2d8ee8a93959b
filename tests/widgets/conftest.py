"""Fixtures and helpers of the headless widget tests: tiny-model activations, browser messages, patch spies."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb.geometry.results import LayerProfile, Projection

WORDS = [
    (["The", "keys", "to", "the", "cabinet", "are", "on", "the", "table", "."],
     ["DET", "NOUN", "ADP", "DET", "NOUN", "AUX", "ADP", "DET", "NOUN", "PUNCT"]),
    (["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "."],
     ["DET", "ADJ", "ADJ", "NOUN", "VERB", "ADP", "DET", "ADJ", "NOUN", "PUNCT"]),
    (["Researchers", "poke", "at", "a", "model", "on", "Tuesday", "."],
     ["NOUN", "VERB", "ADP", "DET", "NOUN", "ADP", "PROPN", "PUNCT"]),
    (["She", "said", "that", "the", "authors", "were", "right", "."],
     ["PRON", "VERB", "SCONJ", "DET", "NOUN", "AUX", "ADJ", "PUNCT"]),
    (["Attention", "heads", "attend", "to", "punctuation", "."], ["NOUN", "NOUN", "VERB", "ADP", "NOUN", "PUNCT"]),
    (["A", "man", ",", "a", "plan", ",", "a", "canal", ":", "Panama", "!"],
     ["DET", "NOUN", "PUNCT", "DET", "NOUN", "PUNCT", "DET", "NOUN", "PUNCT", "PROPN", "PUNCT"]),
    (["Numbers", "such", "as", "1984", "appear", "in", "text", "."],
     ["NOUN", "ADJ", "ADP", "NUM", "VERB", "ADP", "NOUN", "PUNCT"]),
    (["The", "lazy", "fox", "said", "that", "the", "table", "was", "right", "."],
     ["DET", "ADJ", "NOUN", "VERB", "SCONJ", "DET", "NOUN", "AUX", "ADJ", "PUNCT"]),
    (["Probing", "classifiers", "ask", "what", "each", "layer", "knows", "."],
     ["VERB", "NOUN", "VERB", "PRON", "DET", "NOUN", "VERB", "PUNCT"]),
    (["The", "dog", "jumps", "on", "the", "cabinet", "on", "Tuesday", "."],
     ["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "ADP", "PROPN", "PUNCT"]),
    (["Geometry", "changes", "across", "the", "layers", "."], ["NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"]),
    (["The", "authors", "of", "the", "paper", "were", "quick", "."],
     ["DET", "NOUN", "ADP", "DET", "NOUN", "AUX", "ADJ", "PUNCT"]),
]  # fmt: skip


def examples() -> list[lensnb.Example]:
    """Twelve different labelled sentences (a probe splits them by text)."""
    return [lensnb.Example(words=list(w), labels={"upos": list(t)}) for w, t in WORDS]


@pytest.fixture(scope="session")
def bert_acts(tiny_models):
    return lensnb.extract(tiny_models["bert"], examples(), progress=False)


@pytest.fixture(scope="session")
def gpt2_acts(tiny_models):
    return lensnb.extract(tiny_models["gpt2"], examples(), progress=False)


def toy_projection(n_items: int = 6, n_layers: int = 3, seed: int = 0) -> Projection:
    """A projection of ``n_items`` tokens over ``n_layers`` layers, with a small token table."""
    rng = np.random.default_rng(seed)
    text = " ".join(f"w{i}" for i in range(n_items))
    starts = [text.index(f"w{i}") for i in range(n_items)]
    table = pd.DataFrame({
        "text_id": 0, "position": np.arange(n_items), "window": 0, "token": [f"w{i}" for i in range(n_items)],
        "char_start": starts, "char_end": [s + len(f"w{i}") for i, s in enumerate(starts)],
        "upos": (["NOUN", "VERB", None] * n_items)[:n_items],
    })  # fmt: skip
    coords = rng.normal(size=(n_layers, n_items, 2)).astype(np.float32)
    return Projection("pca", tuple(range(n_layers)), coords, table=table)


def toy_texts(n_items: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"text_id": [0], "text": [" ".join(f"w{i}" for i in range(n_items))]})


def toy_profile(name: str = "intrinsic_dimension_twonn", layers=(0, 1, 2), **details) -> LayerProfile:
    values = np.linspace(1.0, 2.0, len(layers))
    return LayerProfile(name, tuple(layers), values, np.full(len(layers), 0.1), {}, None, "token", details)


def browser_sets(widget, **state) -> None:
    """What the front end sends when the user moves a control."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def bokeh_selects(bokeh_widget, source, indices) -> None:
    """What BokehJS sends when a box, lasso or tap selection changes a source's selected indices."""
    bokeh_widget._sync_model(bokeh_widget, {
        "event": "jsevent", "kind": "ModelChanged", "model": {"id": source.selected.id}, "attr": "indices",
        "new": list(indices),
    }, [])  # fmt: skip


class PatchSpy:
    """Records what a bokeh widget sends to the browser, decoded into bokeh document events."""

    def __init__(self, bokeh_widget):
        self.messages: list[tuple[dict, list]] = []
        bokeh_widget.send = lambda content, buffers=None: self.messages.append((content, buffers or []))

    @property
    def events(self) -> list[dict]:
        found = []
        for content, _ in self.messages:
            payload = content.get("payload")
            if isinstance(payload, str) and '"events"' in payload:
                found.extend(json.loads(payload)["events"])
        return found

    @property
    def buffers(self) -> list:
        return [b for _, buffers in self.messages for b in buffers]

    def clear(self) -> None:
        self.messages.clear()
