"""What a store may be resumed or reused with: the model's every weight, the attention code,
and what the progress bar of a resumed extraction shows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lensnb
from lensnb import Activations, LensError
from lensnb.models import weights_fingerprint

from .test_store import TEXTS, ForwardCounter, assert_same, stop_extraction


@pytest.fixture
def bert(tiny_paths):
    """A tiny BERT of its own (the tests change its weights: the session's models stay as they are)."""
    return lensnb.load_model(tiny_paths["bert"])


def ablate(model) -> None:
    """Zero the output projection of block 2's MLP, in place (an ablation)."""
    with torch.no_grad():
        for parameter in model.model.encoder.layer[1].output.dense.parameters():
            parameter.zero_()


# ---------------------------------------------------------------------------------- the model's weights
def test_a_finished_store_is_not_reused_by_a_model_changed_in_place(bert, tmp_path):
    store = tmp_path / "s"
    before = lensnb.extract(bert, TEXTS[:8], store=store, progress=False)
    ablate(bert)
    ablated = lensnb.extract(bert, TEXTS[:8], progress=False)
    assert not np.array_equal(ablated.arrays["resid_post"][2], np.asarray(before.arrays["resid_post"][2]))
    with pytest.raises(LensError, match="model\\['fingerprint'\\].*weights differ") as info:
        lensnb.extract(bert, TEXTS[:8], store=store, progress=False)
    assert "overwrite=True" in str(info.value)
    assert_same(before, Activations.load(store))  # nothing lost
    assert_same(ablated, lensnb.extract(bert, TEXTS[:8], store=store, overwrite=True, progress=False))


def test_an_interrupted_store_is_not_resumed_by_a_model_changed_in_place(bert, tmp_path):
    store = tmp_path / "s"
    stop_extraction(bert, store, fail_at=3)
    written = np.load(store / "done.npy").copy()
    ablate(bert)
    with pytest.raises(LensError, match="fingerprint"):
        lensnb.extract(bert, TEXTS, batch_size=4, store=store, progress=False)
    np.testing.assert_array_equal(np.load(store / "done.npy"), written)


def test_the_fingerprint_covers_every_value_and_where_it_is(bert, tiny_paths):
    """Values past the first 2048 of a tensor, values swapped at any distance (within a row or a
    column of the grid the sums run over, whatever its width), rows of a matrix swapped, a small
    tensor, a buffer: each changes it."""
    model = bert.model
    base = bert.fingerprint
    assert bert.fingerprint == base  # the same weights: the same fingerprint
    assert lensnb.load_model(tiny_paths["bert"]).fingerprint == base  # another load of the same checkpoint
    embeddings = model.embeddings.word_embeddings.weight  # 7,040 values
    flat = embeddings.data.view(-1)
    assert flat.numel() > 2048

    def changed(edit, undo) -> bool:
        with torch.no_grad():
            edit()
        fingerprint = bert.fingerprint
        with torch.no_grad():
            undo()
        assert bert.fingerprint == base  # back as it was
        return fingerprint != base

    def swap(tensor: torch.Tensor, i: int, j: int):
        index = torch.tensor([i, j])
        return lambda: tensor.index_copy_(0, index, tensor[[j, i]].clone())

    last = flat[-1].item()
    assert changed(lambda: flat[-1].add_(1.0), lambda: flat[-1].fill_(last))
    for distance in (1, 2, 31, 64, 128, 256, 512, 1024, 2048, 4096):  # one row of a grid, or one column
        i = 100 if distance == 4096 else 5000 - distance // 2
        assert flat[i] != flat[i + distance]
        assert changed(swap(flat, i, i + distance), swap(flat, i, i + distance)), distance
    rows = embeddings.data
    assert changed(swap(rows, 3, 7), swap(rows, 3, 7))  # two token embeddings swapped
    norm = model.encoder.layer[0].output.LayerNorm.weight  # 32 values: taken one by one
    value = norm[0].item()
    assert changed(lambda: norm.data[0].add_(1e-3), lambda: norm.data[0].fill_(value))
    name, buffer = next((name, b) for name, b in model.named_buffers() if b.numel() and not b.is_floating_point())
    original = buffer.clone()
    assert changed(lambda: buffer.add_(1), lambda: buffer.copy_(original)), name
    bert._fingerprint = None  # what fine_tune does after training: harmless
    assert bert.fingerprint == base == weights_fingerprint(model)


def test_the_fingerprint_reads_tensors_of_every_kind():
    """float64 and bfloat16 parameters, integer, boolean and 0-d buffers, a tensor that is not
    contiguous, one on the meta device (not loaded: counted by name and shape)."""
    module = torch.nn.Module()
    module.wide = torch.nn.Parameter(torch.randn(80, 70, dtype=torch.float64))
    module.narrow = torch.nn.Parameter(torch.randn(100, 50).to(torch.bfloat16))
    module.transposed = torch.nn.Parameter(torch.randn(90, 60).t())
    module.register_buffer("ids", torch.arange(5000))
    module.register_buffer("mask", torch.rand(300) > 0.5)
    module.register_buffer("step", torch.tensor(7))
    base = weights_fingerprint(module)
    assert weights_fingerprint(module) == base and len(base) == 32
    with torch.no_grad():
        for tensor in (module.wide, module.narrow, module.transposed, module.ids, module.step):
            before = tensor.clone()
            tensor[(-1,) * tensor.dim()] += 1 if not tensor.is_floating_point() else 0.5
            assert weights_fingerprint(module) != base
            tensor.copy_(before)
        module.mask[3] = ~module.mask[3]
        assert weights_fingerprint(module) != base
        module.mask[3] = ~module.mask[3]
    assert weights_fingerprint(module) == base
    module.lazy = torch.nn.Parameter(torch.empty(10, 10, device="meta"))
    assert weights_fingerprint(module) not in (base, None)


# ------------------------------------------------------------------------------- the attention code
def test_a_resume_with_another_attention_implementation_is_refused_by_name(tiny_paths, tmp_path):
    """sdpa and eager attention give states that differ in their last bits: a store resumed with the
    other one would be neither run's. A finished store is reused, as with other batch settings."""
    sdpa = lensnb.load_model(tiny_paths["bert"])
    eager = lensnb.load_model(tiny_paths["bert"], attn_implementation="eager")
    assert sdpa.model.config._attn_implementation == "sdpa" and sdpa.fingerprint == eager.fingerprint
    store = tmp_path / "s"
    stop_extraction(sdpa, store, fail_at=3)
    written = np.load(store / "done.npy").copy()
    assert json.loads((store / "manifest.json").read_text())["batching"]["attn_implementation"] == "sdpa"
    with pytest.raises(LensError, match="attn_implementation='sdpa' \\(this call: 'eager'\\)") as info:
        lensnb.extract(eager, TEXTS, batch_size=4, store=store, progress=False)
    assert "overwrite=True" in str(info.value)
    np.testing.assert_array_equal(np.load(store / "done.npy"), written)  # nothing lost
    resumed = lensnb.extract(sdpa, TEXTS, batch_size=4, store=store, progress=False)
    assert_same(lensnb.extract(sdpa, TEXTS, batch_size=4, progress=False), resumed)
    counter = ForwardCounter(eager.model)
    try:
        reused = lensnb.extract(eager, TEXTS, batch_size=4, store=store, progress=False)  # finished: reused
    finally:
        counter.remove()
    assert counter.calls == 0
    assert_same(resumed, reused)


def test_attention_maps_run_eager_attention_whatever_the_model_was_loaded_with(tiny_paths, tmp_path):
    sdpa = lensnb.load_model(tiny_paths["bert"])
    eager = lensnb.load_model(tiny_paths["bert"], attn_implementation="eager")
    store = tmp_path / "s"
    counter = ForwardCounter(sdpa.model, fail_at=3, error=KeyboardInterrupt())
    try:
        with pytest.raises(KeyboardInterrupt):
            lensnb.extract(sdpa, TEXTS, batch_size=4, attentions=True, store=store, progress=False)
    finally:
        counter.remove()
    assert json.loads((store / "manifest.json").read_text())["batching"]["attn_implementation"] == "eager"
    resumed = lensnb.extract(eager, TEXTS, batch_size=4, attentions=True, store=store, progress=False)
    assert_same(lensnb.extract(eager, TEXTS, batch_size=4, attentions=True, progress=False), resumed)
    assert sdpa.model.config._attn_implementation == "sdpa"  # switched back after the call


# ---------------------------------------------------------------------------------- the progress bar
def test_the_progress_bar_of_a_resumed_extraction_shows_the_whole(tiny_models, tmp_path, monkeypatch):
    import tqdm.auto

    bars = []

    class Spy(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", Spy)
    tiny = tiny_models["bert"]
    stop_extraction(tiny, tmp_path / "s", fail_at=6)
    done = np.load(tmp_path / "s" / "done.npy")
    resumed = lensnb.extract(tiny, TEXTS, batch_size=4, store=tmp_path / "s", progress=True)
    n_tokens = len(resumed.table)
    done_tokens = int(resumed.table["text_id"].isin(np.flatnonzero(done)).sum())  # one input per text here
    assert 0 < done_tokens < n_tokens
    bar = bars[-1]
    assert (bar.total, bar.initial, bar.n) == (n_tokens, done_tokens, n_tokens)
    fresh = lensnb.extract(tiny, TEXTS, batch_size=4, store=tmp_path / "t", progress=True)
    assert (bars[-1].total, bars[-1].initial, bars[-1].n) == (len(fresh.table), 0, len(fresh.table))


@pytest.mark.parametrize("module", ["bert", None, {"weight": 1}])
def test_the_fingerprint_of_something_not_a_module_is_refused_by_name(module):
    with pytest.raises(LensError, match=r"^module: expected a torch\.nn\.Module"):
        weights_fingerprint(module)


# ------------------------------------------------------------------------------------- the device
def test_a_resume_on_another_kind_of_device_is_refused_and_an_unrecorded_setting_is_not_compared(tiny_paths, tmp_path):
    """A store begun on a GPU and resumed on the CPU would mix two devices' last bits. Without a
    GPU here, the partial store's record is made to say where a GPU run would have begun it."""
    bert = lensnb.load_model(tiny_paths["bert"])
    store = tmp_path / "s"
    stop_extraction(bert, store, fail_at=3)
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["batching"]["device"] == "cpu"
    written = np.load(store / "done.npy").copy()
    manifest["batching"]["device"] = "cuda"
    (store / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(LensError, match="device='cuda' \\(this call: 'cpu'\\)"):
        lensnb.extract(bert, TEXTS, batch_size=4, store=store, progress=False)
    np.testing.assert_array_equal(np.load(store / "done.npy"), written)  # nothing lost
    del manifest["batching"]["device"]  # a store written before the device was recorded: resumed
    (store / "manifest.json").write_text(json.dumps(manifest))
    resumed = lensnb.extract(bert, TEXTS, batch_size=4, store=store, progress=False)
    assert_same(lensnb.extract(bert, TEXTS, batch_size=4, progress=False), resumed)
