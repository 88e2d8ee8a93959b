"""The cache of models a reproduction trains: keyed by the spec, reused only when complete."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lensnb
from lensnb.papers.trained_models import TrainedModelCache


def test_a_saved_model_comes_back_for_the_same_spec_only(tiny_paths, tmp_path):
    spec = {"data": "sst2", "epochs": 1, "sizes": (8, 16), "seed": 0}
    cache = TrainedModelCache("Chefer tiny/BERT", spec, tmp_path)
    assert cache.folder.parent == tmp_path and cache.folder.name.startswith("chefer-tiny-bert-")
    assert cache.load(task="sequence-classification") is None  # nothing trained yet
    model = lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)
    with torch.no_grad():
        model.model.classifier.weight.fill_(0.25)  # what "training" changed
    cache.save(model, train_seconds=1.5, stages=[{"steps": 3}])
    loaded, record = TrainedModelCache("Chefer tiny/BERT", dict(spec), tmp_path).load(task="sequence-classification")
    assert record["train_seconds"] == 1.5 and record["stages"] == [{"steps": 3}] and record["spec"]["sizes"] == [8, 16]
    assert np.allclose(loaded.model.classifier.weight.detach().numpy(), 0.25)
    assert TrainedModelCache("Chefer tiny/BERT", {**spec, "seed": 1}, tmp_path).folder != cache.folder
    assert TrainedModelCache("Chefer tiny/BERT", {**spec, "seed": 1}, tmp_path).load() is None


def test_a_folder_without_its_record_or_with_another_spec_is_not_reused(tiny_paths, tmp_path):
    cache = TrainedModelCache("qa", {"lr": 1e-4}, tmp_path)
    model = lensnb.load_model(tiny_paths["bert"])
    cache.save(model)
    (cache.folder / "record.json").unlink()  # a run that stopped while saving
    assert cache.load() is None
    (cache.folder / "record.json").write_text(json.dumps({"spec": {"lr": 2e-4}}))  # a record that is not ours
    assert cache.load() is None
    (cache.folder / "record.json").write_text('{"spec": {"lr": 0.0001}, "fin')  # cut off mid-write
    assert cache.load() is None
    (cache.folder / "record.json").write_text("[1, 2]")
    assert cache.load() is None
    assert cache.checkpoint("1 SST-2").name == "checkpoint-1-sst-2"
    long = TrainedModelCache(
        "chefer-/tmp/a/very/long/path/to/a/model/folder/nested/deeper/still/called/bert-sst2", {"a": 1}, tmp_path
    )
    assert long.folder.name.startswith("chefer-tmp-a-very-lo--") and "bert-sst2-" in long.folder.name
    assert len(long.folder.name) <= 64 + 13


def test_an_empty_or_missing_spec_or_name_is_refused(tmp_path):
    with pytest.raises(lensnb.LensError, match="name: expected a non-empty string"):
        TrainedModelCache("  ", {"a": 1}, tmp_path)
    with pytest.raises(lensnb.LensError, match="name: expected a non-empty string"):
        TrainedModelCache(None, {"a": 1}, tmp_path)
    with pytest.raises(lensnb.LensError, match="spec: expected a non-empty mapping"):
        TrainedModelCache("x", {}, tmp_path)
    with pytest.raises(lensnb.LensError, match="spec: expected a non-empty mapping"):
        TrainedModelCache("x", None, tmp_path)


def test_spec_keys_are_exact():
    key = lambda spec: TrainedModelCache("m", spec, "/tmp/unused").folder.name  # noqa: E731
    assert key({"a": np.arange(5000)}) != key({"a": np.r_[np.arange(4999), 7]})  # printed, both read [0 1 2 ... 4999]
    assert key({"a": {"x", "y", "z"}}) == key({"a": {"z", "y", "x"}})  # sets in one order, whatever the hashing
    assert key({"a": np.int64(5)}) == key({"a": 5})
    with pytest.raises(lensnb.LensError, match=r"^spec\['a'\]: expected JSON values"):
        TrainedModelCache("m", {"a": object()}, "/tmp/unused")


def test_a_save_killed_midway_leaves_an_absent_entry_not_a_record_over_broken_weights(tiny_paths, tmp_path):
    cache = TrainedModelCache("qa", {"lr": 1e-4}, tmp_path)
    model = lensnb.load_model(tiny_paths["bert"])
    cache.save(model)
    assert cache.load() is not None
    weights = next(cache.model_folder.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])  # damaged after the record was written
    assert cache.load() is None  # counts as absent: trained again
    original = type(model.model).save_pretrained

    def dies(self, folder, *args, **kwargs):
        raise KeyboardInterrupt  # a second writer killed while writing its weights

    type(model.model).save_pretrained = dies
    try:
        with pytest.raises(KeyboardInterrupt):
            cache.save(model)
    finally:
        type(model.model).save_pretrained = original
    assert not (cache.folder / "record.json").exists() and cache.load() is None
    cache.save(model)  # the next run saves over it
    assert cache.load() is not None and not list(cache.folder.glob(".model.*"))
