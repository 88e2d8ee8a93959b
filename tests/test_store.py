"""The activation store: bit-exact round trips, resume, refusal, corruption, full disk."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb import Activations, Example, LensError, Span

TEXTS = [f"Sentence number {i} says something about keys, cabinets and 🤗." for i in range(40)]
EXAMPLES = [
    Example(words=["The", "keys", "are", "here", f"{i}"], labels={"pos": ["DET", "NOUN", "VERB", "ADV", "NUM"]},
            spans=[Span(0, 2, "NP")], meta={"label": i % 2})
    for i in range(12)
]  # fmt: skip


def assert_same(a: Activations, b: Activations) -> None:
    assert a.sites == b.sites
    for site in a.sites:
        assert a.layers_by_site[site] == b.layers_by_site[site]
        assert a.arrays[site].dtype == b.arrays[site].dtype
        np.testing.assert_array_equal(np.asarray(a.arrays[site]), np.asarray(b.arrays[site]))
    pd.testing.assert_frame_equal(a.table.reset_index(drop=True), b.table.reset_index(drop=True), check_dtype=False)


def fill_the_disk_after(monkeypatch, writes: int):
    """Make the store's ``pwrite`` fail with ENOSPC after ``writes`` calls: (the real pwrite, the call counter)."""
    import lensnb.store

    real_pwrite, calls = os.pwrite, {"n": 0}

    def failing_pwrite(fd, data, offset):
        calls["n"] += 1
        if calls["n"] > writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(lensnb.store.os, "pwrite", failing_pwrite)
    return real_pwrite, calls


@pytest.fixture(params=[False, True], ids=["inline-writes", "writer-thread"])
def writer_thread(request, monkeypatch):
    """Run a test with the store written in line and again from the writer thread."""
    monkeypatch.setattr(sys.modules["lensnb.extract"], "_core_to_spare", lambda device: request.param)
    return request.param


class ForwardCounter:
    """Counts forward passes, and optionally raises on pass number ``fail_at``."""

    def __init__(self, model, fail_at: int | None = None, error: BaseException | None = None):
        self.calls, self.fail_at, self.error = 0, fail_at, error
        self.handle = model.register_forward_pre_hook(self)

    def __call__(self, module, args):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise self.error

    def remove(self):
        self.handle.remove()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_store_round_trips_bit_exactly(tiny_models, tmp_path, dtype, writer_thread):
    tiny = tiny_models["gpt2"]
    memory = lensnb.extract(
        tiny, EXAMPLES, sites=("resid_post", "mlp_out"), dtype=dtype, attentions=True, progress=False
    )
    stored = lensnb.extract(
        tiny,
        EXAMPLES,
        sites=("resid_post", "mlp_out"),
        dtype=dtype,
        attentions=True,
        store=tmp_path / "s",
        progress=False,
    )
    assert isinstance(stored.arrays["resid_post"], np.memmap)
    assert_same(memory, stored)
    loaded = Activations.load(tmp_path / "s")
    assert_same(memory, loaded)
    pd.testing.assert_frame_equal(memory.texts, loaded.texts, check_dtype=False)
    pd.testing.assert_frame_equal(memory.spans, loaded.spans, check_dtype=False)
    np.testing.assert_array_equal(memory.attentions.get(3), loaded.attentions.get(3))
    saved = memory.save(tmp_path / "copy")  # an in-memory result saved later reads back the same
    assert_same(memory, Activations.load(saved))
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["model"]["fingerprint"] == tiny.fingerprint
    assert manifest["inputs_digest"] and manifest["lensnb_version"] == lensnb.__version__
    assert not list((tmp_path / "s").glob("*.pkl")) and not (tmp_path / "s" / "done.npy").exists()


def test_pooled_and_selected_activations_save_and_load(tiny_models, tmp_path):
    acts = lensnb.extract(tiny_models["bert"], EXAMPLES, progress=False)
    for name, derived in {
        "texts": acts.pool_texts(),
        "words": acts.pool_words("mean"),
        "sel": acts.select(layers=[2], items="special == False"),
    }.items():
        loaded = Activations.load(derived.save(tmp_path / name))
        assert loaded.unit == derived.unit
        assert_same(derived, loaded)


def stop_extraction(tiny, store: Path, fail_at: int) -> None:
    """Extract TEXTS into ``store`` four texts a batch, interrupted (Ctrl-C) at forward pass ``fail_at``."""
    counter = ForwardCounter(tiny.model, fail_at=fail_at, error=KeyboardInterrupt())
    try:
        with pytest.raises(KeyboardInterrupt):
            lensnb.extract(tiny, TEXTS, batch_size=4, store=store, progress=False)
    finally:
        counter.remove()


def test_interrupted_extraction_resumes_without_redoing_batches(tiny_models, tmp_path, writer_thread):
    tiny = tiny_models["bert"]
    reference = lensnb.extract(tiny, TEXTS, batch_size=4, progress=False)
    stop_extraction(tiny, tmp_path / "s", fail_at=6)
    with pytest.raises(LensError, match="has not finished: it stopped, or another process is writing it now"):
        Activations.load(tmp_path / "s")
    assert np.load(tmp_path / "s" / "done.npy").sum() == 5 * 4  # five batches were written
    counter = ForwardCounter(tiny.model)
    try:
        resumed = lensnb.extract(tiny, TEXTS, batch_size=4, store=tmp_path / "s", progress=False)
    finally:
        counter.remove()
    assert counter.calls == 10 - 5
    assert_same(reference, resumed)
    counter = ForwardCounter(tiny.model)  # a finished store with the same inputs is reused as it is
    try:
        again = lensnb.extract(tiny, TEXTS, batch_size=4, store=tmp_path / "s", progress=False)
    finally:
        counter.remove()
    assert counter.calls == 0
    assert_same(reference, again)


def test_a_resume_with_other_batch_settings_is_refused_by_name(tiny_models, tmp_path):
    """Padding a row with other inputs changes its last bits: a resumed store must batch alike."""
    tiny = tiny_models["bert"]
    stop_extraction(tiny, tmp_path / "s", fail_at=3)
    written = np.load(tmp_path / "s" / "done.npy").copy()
    with pytest.raises(LensError, match="batch_size=4 \\(this call: 3\\)"):
        lensnb.extract(tiny, TEXTS, batch_size=3, store=tmp_path / "s", progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "s" / "done.npy"), written)  # nothing lost
    resumed = lensnb.extract(tiny, TEXTS, batch_size=4, store=tmp_path / "s", progress=False)
    assert_same(lensnb.extract(tiny, TEXTS, batch_size=4, progress=False), resumed)
    again = lensnb.extract(tiny, TEXTS, batch_size=3, store=tmp_path / "s", progress=False)  # finished: reused
    assert_same(resumed, again)


def slow_extraction(model_path: Path, store: Path, pause: float) -> subprocess.Popen:
    """Another process extracting TEXTS into ``store``, two texts a batch, ``pause`` seconds a batch
    (its own session, so that a test can kill its whole process group)."""
    script = textwrap.dedent(
        f"""
        import time, lensnb
        model = lensnb.load_model({str(model_path)!r})
        model.model.register_forward_pre_hook(lambda module, args: time.sleep({pause!r}))
        lensnb.extract(model, {TEXTS!r}, batch_size=2, store={str(store)!r}, progress=False)
        """
    )
    environment = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.Popen([sys.executable, "-c", script], env=environment, start_new_session=True)


def test_killed_extraction_resumes_identically(tiny_paths, tiny_models, tmp_path):
    """A real SIGKILL mid-run: the next call finishes the store, equal to an uninterrupted run."""
    store = tmp_path / "s"
    process = slow_extraction(tiny_paths["llama"], store, pause=0.3)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done_file = store / "done.npy"
            if done_file.exists():
                try:
                    if np.load(done_file).sum() >= 6:
                        break
                except (ValueError, OSError):
                    pass
            assert process.poll() is None, "the extraction ended before it could be killed"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    written = int(np.load(store / "done.npy").sum())
    assert 6 <= written < len(TEXTS)
    tiny = tiny_models["llama"]
    counter = ForwardCounter(tiny.model)
    try:
        resumed = lensnb.extract(tiny, TEXTS, batch_size=2, store=store, progress=False)
    finally:
        counter.remove()
    assert counter.calls == (len(TEXTS) - written + 1) // 2
    assert_same(lensnb.extract(tiny, TEXTS, batch_size=2, progress=False), resumed)


def test_store_from_another_model_inputs_or_settings_is_refused(tiny_models, tmp_path):
    store = tmp_path / "s"
    lensnb.extract(tiny_models["bert"], TEXTS[:5], store=store, progress=False)
    with pytest.raises(LensError, match="model") as info:
        lensnb.extract(tiny_models["gpt2"], TEXTS[:5], store=store, progress=False)
    assert "overwrite=True" in str(info.value)
    with pytest.raises(LensError, match="inputs_digest"):
        lensnb.extract(tiny_models["bert"], TEXTS[:6], store=store, progress=False)
    with pytest.raises(LensError, match="params"):
        lensnb.extract(tiny_models["bert"], TEXTS[:5], store=store, dtype="float16", progress=False)
    replaced = lensnb.extract(tiny_models["gpt2"], TEXTS[:5], store=store, overwrite=True, progress=False)
    assert replaced.model["family"] == "gpt2"
    other = tmp_path / "not-a-store"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(LensError, match="store"):
        lensnb.extract(tiny_models["bert"], TEXTS[:5], store=other, overwrite=True, progress=False)
    assert (other / "notes.txt").read_text() == "mine"


def _tokenizer_with_two_ids_swapped(tokenizer, text: str):
    """The same tokenizer with the ids of two word pieces of ``text`` exchanged: the same
    number of tokens for every text, other token ids."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    first, second = [i for i in dict.fromkeys(tokenizer(text)["input_ids"]) if i not in tokenizer.all_special_ids][:2]
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    by_id = {i: piece for piece, i in vocab.items()}
    vocab[by_id[first]], vocab[by_id[second]] = second, first
    swapped = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)))
    swapped.add_special_tokens({name: getattr(tokenizer, name) for name in ("cls_token", "sep_token", "pad_token",
                                "unk_token", "mask_token") if getattr(tokenizer, name, None)})  # fmt: skip
    return swapped


def test_a_store_made_with_another_tokenizer_is_refused(tiny_models, tmp_path):
    """Same weights, same texts, same token count: only the tokenizer differs. Resuming or
    reusing the store would mix two tokenizations, so it is refused by name."""
    bert = tiny_models["bert"]
    swapped = _tokenizer_with_two_ids_swapped(bert.tokenizer, TEXTS[0])
    assert len(swapped(TEXTS[0])["input_ids"]) == len(bert.tokenizer(TEXTS[0])["input_ids"])
    assert swapped(TEXTS[0])["input_ids"] != bert.tokenizer(TEXTS[0])["input_ids"]
    store = tmp_path / "s"
    finished = lensnb.extract(bert, TEXTS[:5], store=store, progress=False)
    with pytest.raises(LensError, match="tokens_digest") as info:
        lensnb.extract((bert.model, swapped), TEXTS[:5], store=store, progress=False)
    assert "overwrite=True" in str(info.value)
    assert_same(finished, Activations.load(store))  # nothing lost
    replaced = lensnb.extract((bert.model, swapped), TEXTS[:5], store=store, overwrite=True, progress=False)
    assert not np.array_equal(replaced.table["token_id"], finished.table["token_id"])
    assert len(replaced.table) == len(finished.table)


@pytest.fixture
def finished_store(tiny_models, tmp_path) -> Path:
    lensnb.extract(tiny_models["bert"], EXAMPLES, store=tmp_path / "s", progress=False)
    return tmp_path / "s"


def test_truncated_array_is_refused(finished_store):
    path = finished_store / "resid_post.npy"
    os.truncate(path, path.stat().st_size - 100)
    with pytest.raises(LensError, match="truncated"):
        Activations.load(finished_store)


def test_corrupt_manifest_and_tables_are_refused(finished_store):
    (finished_store / "tokens.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(LensError, match="tokens.parquet"):
        Activations.load(finished_store)
    (finished_store / "manifest.json").write_text("{ half a manifest")
    with pytest.raises(LensError, match="manifest"):
        Activations.load(finished_store)
    with pytest.raises(LensError, match="path"):
        Activations.load(finished_store / "nowhere")


def test_interrupted_set_up_starts_again_without_overwrite(tiny_models, tmp_path, monkeypatch):
    import lensnb.store

    def interrupted(descriptor, size, path, advice=None):
        raise KeyboardInterrupt  # Ctrl-C while the arrays are being allocated

    real_reserve = lensnb.store._reserve
    monkeypatch.setattr(lensnb.store, "_reserve", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lensnb.extract(tiny_models["bert"], EXAMPLES, store=tmp_path / "s", progress=False)
    assert (tmp_path / "s" / "manifest.json").is_file() and not (tmp_path / "s" / "done.npy").exists()
    monkeypatch.setattr(lensnb.store, "_reserve", real_reserve)
    again = lensnb.extract(tiny_models["bert"], EXAMPLES, store=tmp_path / "s", progress=False)
    assert_same(again, lensnb.extract(tiny_models["bert"], EXAMPLES, progress=False))
    assert_same(again, Activations.load(tmp_path / "s"))


def test_overwrite_replaces_a_corrupt_or_foreign_manifest(finished_store, tiny_models):
    (finished_store / "manifest.json").write_text("{ half a manifest")
    with pytest.raises(LensError, match="overwrite=True"):
        lensnb.extract(tiny_models["bert"], EXAMPLES, store=finished_store, progress=False)
    fresh = lensnb.extract(tiny_models["bert"], EXAMPLES, store=finished_store, overwrite=True, progress=False)
    assert_same(fresh, Activations.load(finished_store))
    manifest = json.loads((finished_store / "manifest.json").read_text())
    for broken, missing in (
        ({k: v for k, v in manifest.items() if k != "sites"}, "'sites'|sites"),
        ({**manifest, "sites": {"resid_post": {"layers": [0, 1, 2]}}}, "sites\\['resid_post'\\]\\['file'\\]"),
        ({**manifest, "sites": ["resid_post"]}, "sites \\(a mapping\\)"),
    ):
        (finished_store / "manifest.json").write_text(json.dumps(broken))
        with pytest.raises(LensError, match=f"incomplete \\(missing .*({missing})"):
            Activations.load(finished_store)


def test_a_label_column_parquet_cannot_hold_is_refused_before_the_arrays(tiny_models, tmp_path):
    mixed = [Example(words=["a", "b", "c"], labels={"head": [2, 0, "root"]})]
    in_memory = lensnb.extract(tiny_models["bert"], mixed, progress=False)  # fine in memory
    assert in_memory.tokens["head"].dropna().tolist() == [2, 0, "root"]
    with pytest.raises(LensError, match="tokens table cannot be written as Parquet"):
        lensnb.extract(tiny_models["bert"], mixed, store=tmp_path / "s", progress=False)
    assert not list((tmp_path / "s").glob("*.npy"))  # refused before any allocation


def test_integer_labels_with_gaps_come_back_as_written(tiny_models, tmp_path):
    examples = [Example(words=["a", "dog", "barks"], labels={"head": [2, 3, 0]})]
    fresh = lensnb.extract(tiny_models["bert"], examples, store=tmp_path / "s", progress=False)
    reused = lensnb.extract(tiny_models["bert"], examples, store=tmp_path / "s", progress=False)
    assert fresh.tokens["head"].tolist() == reused.tokens["head"].tolist() == Activations.load(tmp_path / "s").tokens[
        "head"].tolist()  # fmt: skip
    assert [v for v in reused.tokens["head"] if v is not None] == [2, 3, 0]


def test_full_disk_while_writing_the_manifest_is_a_lens_error(tiny_models, tmp_path, monkeypatch):
    import lensnb.store

    def no_space(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lensnb.store.os, "fsync", no_space)
    with pytest.raises(LensError, match="full"):
        lensnb.extract(tiny_models["bert"], EXAMPLES, store=tmp_path / "s", progress=False)
    assert not list((tmp_path / "s").glob(".*.tmp"))


def test_full_disk_before_start_writes_nothing(tiny_models, tmp_path, monkeypatch):
    import shutil

    import lensnb.store

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(lensnb.store.shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(LensError, match="free"):
        lensnb.extract(tiny_models["bert"], TEXTS, store=tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").iterdir())


def test_disk_full_midway_keeps_finished_batches_and_resumes(tiny_models, tmp_path, monkeypatch, writer_thread):
    import lensnb.store

    tiny = tiny_models["bert"]
    real_pwrite, calls = fill_the_disk_after(monkeypatch, 60)
    with pytest.raises(LensError, match="full"):
        lensnb.extract(tiny, TEXTS, batch_size=4, store=tmp_path / "s", progress=False)
    monkeypatch.setattr(lensnb.store.os, "pwrite", real_pwrite)
    assert 0 < np.load(tmp_path / "s" / "done.npy").sum() < len(TEXTS)
    resumed = lensnb.extract(tiny, TEXTS, batch_size=4, store=tmp_path / "s", progress=False)
    assert_same(lensnb.extract(tiny, TEXTS, batch_size=4, progress=False), resumed)


def test_durable_mode_syncs_arrays_and_default_does_not(tiny_models, tmp_path, monkeypatch):
    import lensnb.store

    synced = []
    real_sync = lensnb.store._ArrayFile.sync
    monkeypatch.setattr(lensnb.store._ArrayFile, "sync", lambda self: (synced.append(self.path.name), real_sync(self)))
    tiny = tiny_models["bert"]
    plain = lensnb.extract(tiny, TEXTS, store=tmp_path / "plain", progress=False)
    assert synced == []  # survives the death of the process, not a power cut: no fsync of the arrays
    durable = lensnb.extract(tiny, TEXTS, store=tmp_path / "durable", durable=True, progress=False)
    assert "resid_post.npy" in synced
    assert_same(plain, durable)


def test_overwrite_recomputes_even_the_same_extraction(tiny_models, tmp_path):
    tiny = tiny_models["bert"]
    lensnb.extract(tiny, TEXTS[:6], store=tmp_path / "s", progress=False)
    counter = ForwardCounter(tiny.model)
    try:
        again = lensnb.extract(tiny, TEXTS[:6], store=tmp_path / "s", overwrite=True, progress=False)
    finally:
        counter.remove()
    assert counter.calls > 0
    assert_same(lensnb.extract(tiny, TEXTS[:6], progress=False), again)


def test_activations_built_by_hand_save_and_load(tmp_path):
    values = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    table = pd.DataFrame({"text_id": [0, 0, 1], "label": ["a", "b", "c"]})
    acts = Activations({"resid_post": values}, {"resid_post": (0, 1)}, table, model={"name": "by hand"})
    loaded = Activations.load(acts.save(tmp_path / "hand"))
    assert_same(acts, loaded)
    assert loaded.texts is None and loaded.model["name"] == "by hand"
    assert (loaded.spans_dropped, loaded.span_pairs_dropped) == (0, 0)
    manifest = json.loads((tmp_path / "hand" / "manifest.json").read_text())
    for count in (-1, "3", 1.5, True):  # a count of what selections dropped is refused unless it is one
        (tmp_path / "hand" / "manifest.json").write_text(json.dumps({**manifest, "spans_dropped": count}))
        with pytest.raises(
            LensError, match=r"manifest.json of .*hand: expected a count of 0 or more, received .spans_dropped: "
        ):
            Activations.load(tmp_path / "hand")
    del manifest["span_pairs_dropped"]  # a store written before they were recorded: 0
    (tmp_path / "hand" / "manifest.json").write_text(json.dumps(manifest))
    assert Activations.load(tmp_path / "hand").span_pairs_dropped == 0
    with pytest.raises(LensError, match="arrays"):
        Activations({"resid_post": values}, {"resid_post": (0,)}, table)


# ---------------------------------------------------------------------- one writer, foreign folders, safe saves
def test_a_second_writer_of_one_store_is_refused_while_the_first_runs(tiny_paths, tiny_models, tmp_path):
    """Two processes on one store: the second was setting it up again and deleting the
    first one's files, which then finished a store marked complete that held zeros."""
    store = tmp_path / "s"
    first = slow_extraction(tiny_paths["bert"], store, pause=0.2)
    try:
        deadline = time.monotonic() + 120
        while not (store / "done.npy").exists() and time.monotonic() < deadline:
            assert first.poll() is None, "the first extraction ended too early"
            time.sleep(0.05)
        with pytest.raises(LensError, match="store: expected a store folder no other lensnb writer is using"):
            lensnb.extract(tiny_models["bert"], TEXTS, batch_size=2, store=store, progress=False)
        with pytest.raises(LensError, match="has not finished: it stopped, or another process is writing it now"):
            Activations.load(store)
    finally:
        assert first.wait(timeout=180) == 0
    assert_same(Activations.load(store), lensnb.extract(tiny_models["bert"], TEXTS, batch_size=2, progress=False))
    again = lensnb.extract(tiny_models["bert"], TEXTS, batch_size=2, store=store, progress=False)  # lock released
    assert again.path == store


def test_overwrite_never_deletes_another_tools_files(tiny_models, tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"name": "my dataset"}))
    np.save(folder / "embeddings.npy", np.arange(3))
    pd.DataFrame({"a": [1]}).to_parquet(folder / "labels.parquet")
    ours = lensnb.extract(tiny_models["bert"], TEXTS[:2], progress=False)
    for call in (
        lambda: lensnb.extract(tiny_models["bert"], TEXTS[:2], store=folder, overwrite=True, progress=False),
        lambda: ours.save(folder, overwrite=True),
    ):
        with pytest.raises(LensError, match="lensnb does not delete other tools' files"):
            call()
        assert sorted(p.name for p in folder.iterdir()) == ["embeddings.npy", "labels.parquet", "manifest.json"]


def test_replacing_a_store_keeps_the_files_lensnb_did_not_write(finished_store, tiny_models):
    (finished_store / "notes.txt").write_text("mine")
    lensnb.extract(tiny_models["bert"], TEXTS[:3], store=finished_store, overwrite=True, progress=False)
    assert (finished_store / "notes.txt").read_text() == "mine"
    acts = Activations.load(finished_store)
    assert len(acts.texts) == 3
    with pytest.raises(LensError, match="It also holds notes.txt; lensnb does not delete them"):
        acts.select(layers=[0]).save(finished_store, overwrite=True)  # a save replaces the whole folder
    assert (finished_store / "notes.txt").read_text() == "mine" and len(Activations.load(finished_store).layers) == 3


def test_a_failed_save_leaves_the_old_store_as_it_was(tiny_models, tmp_path, monkeypatch):
    import lensnb.store

    old = lensnb.extract(tiny_models["bert"], TEXTS[:2], progress=False)
    target = old.save(tmp_path / "s").resolve()
    new = lensnb.extract(tiny_models["bert"], TEXTS, progress=False)

    def full(descriptor, size, path, advice=None):
        raise lensnb.store.disk_full(path, size, advice)

    monkeypatch.setattr(lensnb.store, "_reserve", full)
    with pytest.raises(LensError, match="is full .* save again; nothing at the target folder was replaced"):
        new.save(target, overwrite=True)
    assert_same(Activations.load(target), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no half-written folder beside it
    monkeypatch.undo()
    new.save(target, overwrite=True)
    assert_same(Activations.load(target), new)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_a_save_larger_than_the_free_space_is_refused_first(tiny_models, tmp_path, monkeypatch):
    import shutil

    acts = lensnb.extract(tiny_models["bert"], TEXTS[:2], progress=False)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
    with pytest.raises(LensError, match="saving needs .* MiB for the arrays but only 0.0 MiB are free"):
        acts.save(tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_a_set_up_that_failed_can_be_retried_with_other_inputs(tiny_models, tmp_path):
    mixed = [Example(words=["a", "b", "c"], labels={"head": [2, 0, "root"]})]
    with pytest.raises(LensError, match="cannot be written as Parquet"):
        lensnb.extract(tiny_models["bert"], mixed, store=tmp_path / "s", progress=False)
    fixed = [Example(words=["a", "b", "c"], labels={"head": ["2", "0", "root"]})]
    stored = lensnb.extract(tiny_models["bert"], fixed, store=tmp_path / "s", progress=False)
    assert stored.tokens["head"].dropna().tolist() == ["2", "0", "root"]


def test_store_paths_expand_the_home_folder_and_paths_under_a_file_are_refused(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    stored = lensnb.extract(tiny_models["bert"], TEXTS[:2], store="~/acts", progress=False)
    assert stored.path == tmp_path / "acts" and Activations.load("~/acts").path == tmp_path / "acts"
    assert stored.save("~/copy").resolve() == (tmp_path / "copy").resolve()
    (tmp_path / "afile").write_text("x")
    for call in (
        lambda: lensnb.extract(tiny_models["bert"], TEXTS[:2], store=tmp_path / "afile", progress=False),
        lambda: lensnb.extract(tiny_models["bert"], TEXTS[:2], store=tmp_path / "afile" / "sub", progress=False),
    ):
        with pytest.raises(LensError, match="^store: expected a folder"):
            call()
    for call in (lambda: stored.save(tmp_path / "afile"), lambda: stored.save(tmp_path / "afile" / "sub")):
        with pytest.raises(LensError, match="^path: expected a folder"):
            call()


def test_broken_manifest_entries_and_tables_are_refused_by_name(finished_store):
    manifest = json.loads((finished_store / "manifest.json").read_text())
    site = dict(manifest["sites"]["resid_post"])
    for broken, what in (
        ({**site, "shape": "abc"}, r"\['shape'\] \(a list of sizes\)"),
        ({**site, "dtype": "not a dtype"}, r"\['dtype'\] \(float16 or float32\)"),
        ({**site, "file": "../elsewhere.npy"}, r"\['file'\] \('resid_post.npy', a file name in the store\)"),
    ):
        (finished_store / "manifest.json").write_text(json.dumps({**manifest, "sites": {"resid_post": broken}}))
        with pytest.raises(LensError, match=f"incomplete \\(missing .*{what}"):
            Activations.load(finished_store)
    (finished_store / "manifest.json").write_text(json.dumps(manifest))
    tokens = pd.read_parquet(finished_store / "tokens.parquet")
    tokens.drop(columns=["special", "text_id"]).to_parquet(finished_store / "tokens.parquet")
    with pytest.raises(LensError, match=r"lacks the column\(s\) \['text_id', 'special'\]"):
        Activations.load(finished_store)


def test_a_store_listing_attentions_without_their_index_is_refused(tiny_models, tmp_path):
    store = tmp_path / "s"
    lensnb.extract(tiny_models["bert"], TEXTS[:2], attentions=True, store=store, progress=False)
    (store / "attention_index.parquet").unlink()
    for call in (
        lambda: Activations.load(store),
        lambda: lensnb.extract(tiny_models["bert"], TEXTS[:2], attentions=True, store=store, progress=False),
    ):
        with pytest.raises(LensError, match="attention_index.parquet is missing"):
            call()


def test_a_file_system_without_locks_warns_and_extracts(tiny_models, tmp_path, monkeypatch):
    import lensnb.store_lock

    def no_locks(descriptor, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lensnb.store_lock.fcntl, "flock", no_locks)
    with pytest.warns(UserWarning, match="does not support locks"):
        stored = lensnb.extract(tiny_models["bert"], TEXTS[:2], store=tmp_path / "s", progress=False)
    assert_same(stored, lensnb.extract(tiny_models["bert"], TEXTS[:2], progress=False))


def test_labels_of_another_type_are_other_inputs(tiny_models, tmp_path):
    """SST-2 read with the csv module has labels '1', read with pandas np.int64(1): the digest wrote
    numpy values as their text, and the store of string labels was reused for int labels."""
    as_text = [Example(words=["a", "dog"], meta={"label": "1"}), Example(words=["a", "cat"], meta={"label": "0"})]
    as_numbers = [Example(words=["a", "dog"], meta={"label": np.int64(1)}),
                  Example(words=["a", "cat"], meta={"label": np.int64(0)})]  # fmt: skip
    as_ints = [Example(words=["a", "dog"], meta={"label": 1}), Example(words=["a", "cat"], meta={"label": 0})]
    lensnb.extract(tiny_models["bert"], as_text, store=tmp_path / "s", progress=False)
    with pytest.raises(LensError, match="inputs_digest"):
        lensnb.extract(tiny_models["bert"], as_numbers, store=tmp_path / "s", progress=False)
    numbers = lensnb.extract(tiny_models["bert"], as_numbers, store=tmp_path / "n", progress=False)
    reused = lensnb.extract(tiny_models["bert"], as_ints, store=tmp_path / "n", progress=False)  # the same values
    assert reused.texts["label"].tolist() == numbers.texts["label"].tolist() == [1, 0]


def test_float_labels_with_gaps_come_back_as_written(tiny_models, tmp_path):
    examples = [Example(words=["an", "unbelievable", "cat"], labels={"score": [0.5, 1.5, 2.5]})]  # gaps: later pieces
    fresh = lensnb.extract(tiny_models["bert"], examples, store=tmp_path / "s", progress=False)
    for again in (lensnb.extract(tiny_models["bert"], examples, store=tmp_path / "s", progress=False),
                  Activations.load(tmp_path / "s")):  # fmt: skip
        assert again.tokens["score"].dtype == fresh.tokens["score"].dtype == object
        written, read = fresh.tokens["score"].tolist(), again.tokens["score"].tolist()
        assert [v is None for v in written] == [v is None for v in read] and None in read
        assert [v for v in written if v is not None] == [v for v in read if v is not None] == [0.5, 1.5, 2.5]


def test_overwrite_counts_the_space_of_the_store_it_replaces(tiny_models, tmp_path, monkeypatch):
    import shutil

    import lensnb.store

    store = tmp_path / "s"
    lensnb.extract(tiny_models["bert"], TEXTS, store=store, progress=False)
    size = sum(p.stat().st_size for p in store.glob("*.npy"))
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(lensnb.store.shutil, "disk_usage", lambda path: usage._replace(free=size // 4))
    with pytest.raises(LensError, match="free on that disk"):  # a new folder: the old store frees nothing
        lensnb.extract(tiny_models["bert"], TEXTS, store=tmp_path / "other", progress=False)
    replaced = lensnb.extract(tiny_models["bert"], TEXTS, store=store, overwrite=True, progress=False)
    assert len(replaced.texts) == len(TEXTS)


def test_overwrite_removes_the_site_arrays_a_saved_store_named(tiny_models, tmp_path):
    acts = lensnb.extract(tiny_models["bert"], TEXTS[:3], progress=False)
    own = Activations({"probe_scores": acts.values[:1].copy()}, {"probe_scores": (1,)}, acts.tokens, texts=acts.texts,
                      model=acts.model)  # fmt: skip
    own.save(tmp_path / "s")
    assert (tmp_path / "s" / "probe_scores.npy").exists()
    lensnb.extract(tiny_models["bert"], TEXTS[:3], store=tmp_path / "s", overwrite=True, progress=False)
    assert not (tmp_path / "s" / "probe_scores.npy").exists()
    acts.save(tmp_path / "s", overwrite=True)  # refused before: the leftover read as another tool's file


def test_a_full_disk_names_the_write_that_failed_and_promises_a_resume_only_after_batches(tiny_models, tmp_path,
                                                                                      monkeypatch):  # fmt: skip
    import lensnb.store

    real = lensnb.store.os.posix_fallocate

    def no_room(descriptor, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lensnb.store.os, "posix_fallocate", no_room)
    with pytest.raises(LensError, match=r"writing [\d.,]+ (MiB|bytes) to resid_post\.npy failed\)\. "
                                        r"Free some space and run the same call again\.$"):  # fmt: skip
        lensnb.extract(tiny_models["bert"], TEXTS, store=tmp_path / "s", progress=False)
    monkeypatch.setattr(lensnb.store.os, "posix_fallocate", real)
    fill_the_disk_after(monkeypatch, 60)
    with pytest.raises(LensError, match="finished batches are kept and the extraction resumes"):
        lensnb.extract(tiny_models["bert"], TEXTS, batch_size=4, store=tmp_path / "s", progress=False)


def test_the_write_that_filled_the_disk_is_the_error_reported(tiny_models, tmp_path, monkeypatch, writer_thread):
    """Written in line, a full disk on the rows was hidden by the commit that followed it failing on done.npy."""
    import lensnb.store

    real_save = lensnb.store._atomic_save
    _, calls = fill_the_disk_after(monkeypatch, 60)

    def failing_save(path, array, advice=None):
        if calls["n"] > 60:
            raise lensnb.store.disk_full(path, 100, advice)
        return real_save(path, array, advice)

    monkeypatch.setattr(lensnb.store, "_atomic_save", failing_save)
    with pytest.raises(LensError, match=r"to resid_post\.npy failed"):
        lensnb.extract(tiny_models["bert"], TEXTS, batch_size=4, store=tmp_path / "s", progress=False)
