"""Interruptions and failures around a store: Ctrl-C while the writer thread finishes, what a
killed process leaves (temporaries, staging copies of a save), fsync on a full disk, the lock."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import lensnb
from lensnb import Activations, LensError
from lensnb.store_lock import StoreLock

from .test_store import TEXTS, assert_same, stop_extraction

EXTRACT = sys.modules["lensnb.extract"]


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt in the main thread (Python's own handler), as in a terminal or Jupyter."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def writer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "lensnb-writer"]


def lock_is_free(path: Path) -> bool:
    try:
        lock = StoreLock(path, "store")
    except LensError:
        return False
    lock.release()
    return True


# ---------------------------------------------------------------------- Ctrl-C while the writer thread ends
def test_a_second_ctrl_c_while_extract_waits_for_the_writer_thread_stops_it_first(
    tiny_models, tmp_path, monkeypatch, sigint_raises
):
    """The first Ctrl-C stops the forward passes; a second one lands while extract waits for the
    writer thread to write what is queued. The thread must be stopped before the lock is released
    and the files closed (it wrote on through closed descriptors, lock released), and the store
    resumes to an uninterrupted run's."""
    import lensnb.background
    import lensnb.store

    tiny = tiny_models["bert"]
    reference = lensnb.extract(tiny, TEXTS, batch_size=4, progress=False)
    monkeypatch.setattr(EXTRACT, "_core_to_spare", lambda device: True)  # the writer thread, as on a GPU
    closing, pressed = threading.Event(), threading.Event()
    writes: list[float] = []
    real_write, real_close = lensnb.store._ArrayFile.write, lensnb.background.BackgroundWriter.close

    def slow_write(self, index, values):
        if closing.is_set() and not pressed.is_set():
            pressed.set()
            time.sleep(0.3)  # extract waits in close() by now
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        time.sleep(0.03)
        real_write(self, index, values)
        writes.append(time.monotonic())

    def close(self, **options):
        closing.set()
        return real_close(self, **options)

    monkeypatch.setattr(lensnb.store._ArrayFile, "write", slow_write)
    monkeypatch.setattr(lensnb.background.BackgroundWriter, "close", close)
    before = set(writer_threads())
    stop_extraction(tiny, tmp_path / "s", fail_at=4)  # raises KeyboardInterrupt
    returned = time.monotonic()
    running = [thread for thread in writer_threads() if thread not in before]
    free = lock_is_free(tmp_path / "s")
    time.sleep(0.5)
    assert pressed.is_set()
    assert running == [], "the writer thread outlived extract"
    assert not [t for t in writes if t > returned], "the writer thread wrote after extract returned"
    assert free
    monkeypatch.setattr(lensnb.store._ArrayFile, "write", real_write)
    resumed = lensnb.extract(tiny, TEXTS, batch_size=4, store=tmp_path / "s", progress=False)
    assert_same(reference, resumed)


def test_the_store_stays_locked_until_the_result_is_built(tiny_models, tmp_path, monkeypatch):
    held = []
    real_open, real_load = EXTRACT.open_arrays, EXTRACT.load_activations

    def open_arrays(path, manifest):
        held.append(not lock_is_free(path))
        return real_open(path, manifest)

    def load_activations(path):
        held.append(not lock_is_free(path))
        return real_load(path)

    monkeypatch.setattr(EXTRACT, "open_arrays", open_arrays)
    monkeypatch.setattr(EXTRACT, "load_activations", load_activations)
    tiny = tiny_models["bert"]
    first = lensnb.extract(tiny, TEXTS[:6], store=tmp_path / "s", progress=False)  # extracted
    again = lensnb.extract(tiny, TEXTS[:6], store=tmp_path / "s", progress=False)  # reused
    assert held == [True, True]
    assert_same(first, again)
    assert lock_is_free(tmp_path / "s")  # and released afterwards


# ------------------------------------------------------------------------ lensnb's own temporary files
def fsync_failing_for(suffix: str, error: BaseException):
    """``os.fsync`` that raises ``error`` for a file whose name ends with ``suffix``."""
    real = os.fsync

    def fsync(descriptor):
        if os.readlink(f"/proc/self/fd/{descriptor}").endswith(suffix):
            raise error
        return real(descriptor)

    return fsync


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")


@needs_proc
@pytest.mark.parametrize("temporary", [".manifest.json.tmp", ".tokens.parquet.tmp", ".done.npy.tmp"])
def test_ctrl_c_while_a_file_is_written_leaves_no_temporary(tiny_models, tmp_path, monkeypatch, temporary):
    store = tmp_path / "s"
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync_failing_for(temporary, KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            lensnb.extract(tiny_models["bert"], TEXTS[:4], store=store, progress=False)
    assert not [p.name for p in store.iterdir() if p.name.endswith(".tmp")]
    acts = lensnb.extract(tiny_models["bert"], TEXTS[:4], store=store, progress=False)  # no overwrite needed
    assert_same(lensnb.extract(tiny_models["bert"], TEXTS[:4], progress=False), acts)


@pytest.mark.parametrize("overwrite", [False, True])
def test_temporaries_a_killed_process_left_are_recognised_as_lensnb_own(tiny_models, tmp_path, overwrite):
    """SIGKILL while the first manifest was written leaves only ``.manifest.json.tmp``: every later
    call refused the folder, even with overwrite=True."""
    store = tmp_path / "s"
    store.mkdir()
    (store / ".manifest.json.tmp").write_text('{"format": "lensnb-activ')  # cut short
    (store / ".done.npy.tmp").write_bytes(b"\x93NUMPY")
    acts = lensnb.extract(tiny_models["bert"], TEXTS[:4], store=store, overwrite=overwrite, progress=False)
    assert not [p.name for p in store.iterdir() if p.name.endswith(".tmp")]
    assert_same(lensnb.extract(tiny_models["bert"], TEXTS[:4], progress=False), acts)
    (store / ".tokens.parquet.tmp").write_bytes(b"PAR1")  # a save may replace a store holding one, too
    acts.save(store, overwrite=True)
    assert not [p.name for p in store.iterdir() if p.name.startswith(".")]
    assert [p.name for p in tmp_path.iterdir()] == ["s"]


def test_other_files_beside_a_temporary_are_still_refused(tiny_models, tmp_path):
    store = tmp_path / "s"
    store.mkdir()
    (store / ".manifest.json.tmp").write_text("{")
    (store / "notes.txt").write_text("mine")
    with pytest.raises(LensError, match="It holds 1 other file\\(s\\) \\(notes.txt\\)"):
        lensnb.extract(tiny_models["bert"], TEXTS[:4], store=store, overwrite=True, progress=False)
    assert (store / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------------- fsync on a full disk
@needs_proc
def test_durable_extraction_on_a_disk_found_full_by_fsync_is_a_lens_error_and_resumes(
    tiny_models, tmp_path, monkeypatch
):
    """File systems that allocate on write (delayed allocation, network file systems, a sparse
    file where fallocate is missing) report a full disk at fsync."""
    tiny = tiny_models["bert"]
    store = tmp_path / "s"
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync_failing_for("resid_post.npy", OSError(errno.ENOSPC, "No space left")))
        with pytest.raises(LensError, match="is full .*Free some space and run the same call again"):
            lensnb.extract(tiny, TEXTS, batch_size=4, store=store, durable=True, progress=False)
    resumed = lensnb.extract(tiny, TEXTS, batch_size=4, store=store, durable=True, progress=False)
    assert_same(lensnb.extract(tiny, TEXTS, batch_size=4, progress=False), resumed)


def test_a_full_disk_reported_by_an_array_sync_is_a_lens_error(tiny_models, tmp_path, monkeypatch):
    import lensnb.store

    def sync(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lensnb.store._ArrayFile, "sync", sync)
    with pytest.raises(LensError, match="is full .*Free some space and run the same call again"):
        lensnb.extract(tiny_models["bert"], TEXTS[:8], store=tmp_path / "s", durable=True, progress=False)


@needs_proc
def test_a_save_on_a_disk_found_full_by_fsync_is_a_lens_error(tiny_models, tmp_path, monkeypatch):
    acts = lensnb.extract(tiny_models["bert"], TEXTS[:8], progress=False)
    monkeypatch.setattr(os, "fsync", fsync_failing_for("resid_post.npy", OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(LensError, match="is full .*Free some space and save again"):
        acts.save(tmp_path / "acts")
    assert list(tmp_path.iterdir()) == []  # no store, no staging copy


# ------------------------------------------------------------------------- staging copies of a killed save
def test_a_save_killed_mid_way_leaves_a_copy_the_next_save_removes(tiny_paths, tiny_models, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    script = textwrap.dedent(
        f"""
        import time, lensnb, lensnb.store as store
        acts = lensnb.extract(lensnb.load_model({str(tiny_paths["bert"])!r}), {TEXTS!r}, progress=False)
        real = store._ArrayFile.sync
        store._ArrayFile.sync = lambda self: (print("syncing", flush=True), time.sleep(120), real(self))
        acts.save({str(folder / "acts")!r})
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], env=dict(os.environ, HF_HUB_OFFLINE="1"), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "syncing"  # writing its staging copy
    finally:
        process.kill()
        process.wait(timeout=30)
    left = [p.name for p in folder.iterdir()]
    assert len(left) == 1 and left[0].startswith(".acts.saving-")
    acts = lensnb.extract(tiny_models["bert"], TEXTS, progress=False)
    acts.save(folder / "acts")
    assert [p.name for p in folder.iterdir()] == ["acts"]
    assert_same(acts, Activations.load(folder / "acts"))


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_copies_of_dead_saves_to_this_path_are_removed(tiny_models, tmp_path):
    """Never a live save's copy (its process runs, or it holds the copy's lock), nor another
    path's, nor a copy without a process in its name (older lensnb), nor the old store that a
    save killed between its two renames left in a ``.replaced-`` folder while nothing is at the path."""
    acts = lensnb.extract(tiny_models["bert"], TEXTS[:4], progress=False)
    gone = dead_pid()
    folders = {
        "dead": f".acts.saving-{gone}-abc",
        "live": f".acts.saving-{os.getpid()}-def",  # this process: a save on another thread
        "locked": f".acts.saving-{gone}-ghi",
        "legacy": ".acts.saving-x1y2z3",
        "other": f".other.saving-{gone}-jkl",
        "replaced": f".acts.replaced-{gone}-mno",
    }
    for name in folders.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "resid_post.npy").write_bytes(b"0" * 10)
    (tmp_path / folders["replaced"] / "store").mkdir()
    lock = StoreLock(tmp_path / folders["locked"], "path")
    try:
        acts.save(tmp_path / "acts")
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {"acts"} | {folders[k] for k in ("live", "locked", "legacy", "other", "replaced")}
        acts.save(tmp_path / "acts", overwrite=True)  # now something is at the path: the old store can go
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {"acts"} | {folders[k] for k in ("live", "locked", "legacy", "other")}
    finally:
        lock.release()
    acts.save(tmp_path / "acts", overwrite=True)  # the lock is released and its process is gone
    assert {p.name for p in tmp_path.iterdir()} == {"acts"} | {folders[k] for k in ("live", "legacy", "other")}


def test_a_save_interrupted_by_ctrl_c_leaves_nothing_beside_the_path(tiny_models, tmp_path, monkeypatch):
    import lensnb.store_io

    acts = lensnb.extract(tiny_models["bert"], TEXTS[:4], progress=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lensnb.store_io, "_check_loadable", interrupted)
    with pytest.raises(KeyboardInterrupt):
        acts.save(tmp_path / "acts")
    assert list(tmp_path.iterdir()) == []
