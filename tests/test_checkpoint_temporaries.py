"""Temporary files left in a checkpoint folder by a killed process (SIGKILL, the OOM killer) are removed
by the next run there; a running process's never are."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import lensnb
from lensnb.fine_tune import fine_tune_classifier

TEXTS = ["the quick brown fox", "a quick fox", "the lazy dog", "a lazy dog sleeps"] * 4
LABELS = [1, 1, 0, 0] * 4
OPTIONS = dict(epochs=2, batch_size=4, max_length=16, checkpoint_every=2, progress=False)


def _gone_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _classifier(tiny_paths):
    torch.manual_seed(0)
    return lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)


KILLED = """
import sys, time, torch, lensnb, safetensors.torch as st
from pathlib import Path
from lensnb.fine_tune import fine_tune_classifier
folder, model = Path(sys.argv[1]), sys.argv[2]
save, calls = st.save_file, []
def slow(tensors, path, metadata=None):  # the second checkpoint's state file: written, then the process is killed
    save(tensors, path, metadata=metadata)
    calls.append(path)
    if len(calls) == 2:
        (folder.parent / "writing").write_text(path)
        time.sleep(120)
st.save_file = slow
torch.manual_seed(0)
m = lensnb.load_model(model, task="sequence-classification", num_labels=2)
fine_tune_classifier(m, TEXTS, LABELS, checkpoint=folder, **OPTIONS)
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_a_save_killed_by_sigkill_leaves_a_temporary_file_that_the_next_run_removes(tiny_paths, tmp_path):
    """The temporary state file is a dot-file: the old cleanup (glob 'state-*') never saw it."""
    import signal

    folder = tmp_path / "run"
    code = f"TEXTS, LABELS, OPTIONS = {TEXTS!r}, {LABELS!r}, {OPTIONS!r}\n" + KILLED
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen([sys.executable, "-c", code, str(folder), str(tiny_paths["bert"])], env=env)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "writing").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "writing").exists(), f"the run never reached its second checkpoint ({process.poll()})"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    left = sorted(p.name for p in folder.iterdir())
    assert [name for name in left if name.endswith(".tmp")] == [Path((tmp_path / "writing").read_text()).name]
    assert left[0].startswith(".state-00000004.safetensors.")
    report = fine_tune_classifier(_classifier(tiny_paths), TEXTS, LABELS, checkpoint=folder, **OPTIONS)
    assert report.resumed_from == 2 and report.steps == 8
    assert sorted(p.name for p in folder.iterdir()) == ["lensnb_fine_tune.json", "state-00000008.safetensors"]


def test_a_temporary_file_of_a_killed_run_goes_even_when_the_run_resumed_saves_nothing(tiny_paths, tmp_path):
    options = {**OPTIONS, "epochs": 1}
    fine_tune_classifier(_classifier(tiny_paths), TEXTS, LABELS, checkpoint=tmp_path, **options)
    pid = _gone_pid()
    (tmp_path / f".state-00000004.safetensors.{pid}.tmp").write_bytes(b"\0" * 1000)  # as lensnb named it before
    report = fine_tune_classifier(_classifier(tiny_paths), TEXTS, LABELS, checkpoint=tmp_path, **options)
    assert report.resumed_from == report.steps  # finished: nothing is saved, yet the folder is cleaned
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lensnb_fine_tune.json", "state-00000004.safetensors"]


def test_only_lensnbs_temporaries_of_processes_that_have_gone_are_removed(tmp_path):
    from lensnb.checkpoint import _remove_stale_temporaries

    gone, host = _gone_pid(), _host()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            f".state-00000002.safetensors.{host}.{gone}.tmp": "removed",
            f".state-00000002.safetensors.{gone}.tmp": "removed",
            f".lensnb_fine_tune.json.{host}.{gone}.tmp": "removed",
            f".state-00000002.safetensors.{host}.{os.getpid()}.tmp": "removed",  # this process's: its writes are over
            f".state-00000002.safetensors.{host}.{running.pid}.tmp": "kept",  # a running process's
            f".lensnb_fine_tune.json.{running.pid}.tmp": "kept",
            f".state-00000002.safetensors.other-machine.{gone}.tmp": "kept",  # another machine's, recent
            f".state-00000004.safetensors.other-machine.{gone}.tmp": "removed",  # another machine's, 2 days old
            f".notes.txt.{gone}.tmp": "kept",  # not lensnb's
            ".state-00000002.safetensors.tmp": "kept",
            "state-00000002.safetensors": "kept",
        }
        for name in names:
            (tmp_path / name).write_bytes(b"x")
        old = time.time() - 2 * 24 * 3600
        os.utime(tmp_path / f".state-00000004.safetensors.other-machine.{gone}.tmp", (old, old))
        removed = _remove_stale_temporaries(tmp_path)
        assert sorted(p.name for p in removed) == sorted(n for n, fate in names.items() if fate == "removed")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, fate in names.items() if fate == "kept")
    finally:
        running.kill()
        running.wait()
    assert _remove_stale_temporaries(tmp_path / "no such folder") == []


def test_a_save_writes_its_temporary_under_this_machines_name_and_process_id(tmp_path, monkeypatch):
    from lensnb import checkpoint

    seen = []

    def write(path):
        seen.append(path.name)
        path.write_text("{}")

    checkpoint._write_atomically(tmp_path / "lensnb_fine_tune.json", write)
    assert seen == [f".lensnb_fine_tune.json.{_host()}.{os.getpid()}.tmp"]
    assert checkpoint._TEMPORARY.fullmatch(seen[0])["pid"] == str(os.getpid())
    monkeypatch.setattr(checkpoint.socket, "gethostname", lambda: "a.b_c.example.org")
    assert checkpoint._host() == "a-b-c-example-org"


def _host() -> str:
    from lensnb.checkpoint import _host

    return _host()


@pytest.mark.skipif(os.name == "nt", reason="POSIX process ids")
def test_a_process_that_cannot_be_signalled_counts_as_running():
    from lensnb.checkpoint import _running

    assert _running(os.getpid()) and not _running(_gone_pid())
    assert _running(1)  # init: another user's process (PermissionError) or ours, running either way
