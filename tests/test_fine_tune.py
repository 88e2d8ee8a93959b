"""Fine-tuning a classification head: it learns, resumes from its checkpoint, and refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lensnb
from lensnb.fine_tune import classify, fine_tune_classifier

POSITIVE = ["the quick brown fox", "a quick fox jumps", "quick and brown", "the fox is quick"]
NEGATIVE = ["the lazy dog", "a lazy dog sleeps", "lazy and slow", "the dog is lazy"]


def _data():
    texts = POSITIVE * 4 + NEGATIVE * 4
    return texts, [1] * 16 + [0] * 16


def _classifier(tiny_paths):
    torch.manual_seed(0)
    return lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)


def test_a_separable_task_is_learned(tiny_paths):
    model = _classifier(tiny_paths)
    texts, labels = _data()
    report = fine_tune_classifier(model, texts, labels, epochs=6, learning_rate=3e-3, batch_size=8, progress=False)
    assert report.steps == 24 and len(report.losses) == 24
    assert report.losses[-4:].mean() < report.losses[:4].mean()
    predicted = classify(model, POSITIVE + NEGATIVE).argmax(-1)
    assert (predicted == np.array([1] * 4 + [0] * 4)).mean() == 1.0
    assert not model.model.training


def test_resume_skips_finished_steps_and_restores_weights(tiny_paths, tmp_path):
    texts, labels = _data()
    model = _classifier(tiny_paths)
    options = dict(epochs=2, learning_rate=1e-3, batch_size=8, progress=False, checkpoint=tmp_path, checkpoint_every=3)
    fine_tune_classifier(model, texts, labels, **options)
    trained = classify(model, texts)
    fresh = _classifier(tiny_paths)
    report = fine_tune_classifier(fresh, texts, labels, **options)
    assert report.resumed_from == report.steps == 8 and len(report.losses) == 0
    assert np.allclose(classify(fresh, texts), trained, atol=1e-6)
    with pytest.raises(lensnb.LensError, match="checkpoint"):
        fine_tune_classifier(fresh, texts, labels, **{**options, "epochs": 3})


def test_bad_input_is_named(tiny_paths):
    model = _classifier(tiny_paths)
    with pytest.raises(lensnb.LensError, match="labels"):
        fine_tune_classifier(model, ["a", "b"], [0, 2], progress=False)
    with pytest.raises(lensnb.LensError, match="texts"):
        fine_tune_classifier(model, "one text", [0], progress=False)
    with pytest.raises(lensnb.LensError, match="sequence classifier"):
        fine_tune_classifier(lensnb.load_model(tiny_paths["bert"]), ["a"], [0], progress=False)
