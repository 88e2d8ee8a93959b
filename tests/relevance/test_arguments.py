"""The relevance API on bad input it used to take silently or crash on (each case a reproduced defect)."""

from __future__ import annotations

import pytest
import torch

import lensnb
from lensnb import LensError
from lensnb.relevance import OutputSpan, RawAttention, explain

TEXTS = ["a fine film", "a dull and long film"]


@pytest.fixture(scope="module")
def classifier(tiny_paths):
    torch.manual_seed(0)
    return lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)


def test_explain_with_the_defaults_raises_when_no_method_can_be_built(tiny_models, classifier):
    # a model without a classification head, or options every method refuses, gave [] silently
    with pytest.raises(LensError):
        explain(tiny_models["bert"], TEXTS, progress=False)
    with pytest.raises(LensError, match=r"^batch_size: expected a positive int"):
        explain(classifier, TEXTS, batch_size=0, progress=False)
    assert len(explain(classifier, TEXTS, progress=False)) > 0


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"methods": 5}, "methods"),
        ({"methods": [["raw_attention"]]}, "methods"),
        ({"methods": ["raw_attention"], "bogus": 1}, "bogus"),
    ],
)
def test_explain_names_bad_methods_and_options(classifier, kwargs, named):
    with pytest.raises(LensError, match=rf"^{named}: expected"):
        explain(classifier, TEXTS, progress=False, **kwargs)


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda model: RawAttention(model, stride="a").attribute(TEXTS), "stride"),
        (lambda model: RawAttention(model, stride=1.5, overflow="window").attribute(TEXTS), "stride"),
        (lambda model: RawAttention(model, progress="no"), "progress"),
        (lambda model: RawAttention(model, batch_size=True), "batch_size"),
        (lambda model: OutputSpan(1.5), "OutputSpan.start"),
        (lambda model: OutputSpan(1, 3.0), "OutputSpan.stop"),
        (lambda model: OutputSpan("1"), "OutputSpan.start"),
        (lambda model: RawAttention(model).attribute(TEXTS).to_html(text_id=99, words="sum"), "text_id"),
        (lambda model: RawAttention(model).attribute(TEXTS).to_html(max_texts=0), "max_texts"),
        (lambda model: RawAttention(model).attribute(TEXTS).to_html(max_texts="2"), "max_texts"),
    ],
)
def test_bad_arguments_are_named(classifier, make, named):
    with pytest.raises(LensError, match=rf"^{named}: expected"):
        make(classifier)
