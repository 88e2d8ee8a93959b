"""BackgroundWriter.close(): a Ctrl-C while it waits never leaves the writer thread running."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

from lensnb.background import BackgroundWriter


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt in the main thread (Python's own handler), as in a terminal or Jupyter."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class SlowWriter:
    """A writer whose first write waits until the test is inside ``close()``, then presses
    Ctrl-C ``presses`` times (SIGINT to the main thread) while it is still writing."""

    def __init__(self, presses: int):
        self.presses = presses
        self.closing = threading.Event()
        self.closed = False
        self.log: list[tuple] = []
        self.late: list[tuple] = []  # calls after close() returned or raised

    def _record(self, entry: tuple) -> None:
        (self.late if self.closed else self.log).append(entry)

    def write(self, site, position, row, values) -> None:
        if not self.log:
            assert self.closing.wait(10), "close() was never called"
            for _ in range(self.presses):
                time.sleep(0.3)  # the main thread is waiting in close() by now
                if not self.closed:  # (a close() that returned early is caught by the test)
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            time.sleep(0.3)
        else:
            time.sleep(0.05)
        self._record(("write", row))

    def write_attention(self, offset, values) -> None:
        self._record(("attention", offset))

    def mark_done(self, segments) -> None:
        self._record(("done", tuple(int(s) for s in segments)))

    def commit(self, force: bool = False) -> None:
        self._record(("commit", force))


def batch(first: int) -> tuple[np.ndarray, list]:
    values = np.zeros((2, 4), dtype=np.float32)
    return np.array([first]), [("resid_post", 0, first * 10 + k, values) for k in range(3)]


@pytest.mark.parametrize("presses", [1, 2], ids=["one-ctrl-c", "two-ctrl-c"])
@pytest.mark.parametrize("depth", [1, 2], ids=["waiting-to-queue-the-stop", "waiting-in-join"])
def test_ctrl_c_in_close_stops_and_joins_the_writer_thread(sigint_raises, depth, presses):
    """With depth 1 the queue is full when close() starts, so the interrupt lands while it
    waits to queue its stop marker; with depth 2 the marker fits and it lands in the join."""
    writer = SlowWriter(presses)
    background = BackgroundWriter(writer, depth=depth, threaded=True)
    thread = background._thread
    background.submit(*batch(0))  # the thread takes it and waits in its first write
    background.submit(*batch(1))  # queued
    writer.closing.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            background.close()
        # threading.enumerate(), not is_alive(): CPython < 3.13 marks a thread stopped when a
        # KeyboardInterrupt breaks a join, while it runs on
        running = thread in threading.enumerate()
    finally:
        writer.closed = True
    try:
        time.sleep(0.8)
    except KeyboardInterrupt:  # pragma: no cover - a Ctrl-C pressed while close() waited came after it returned
        pytest.fail("close() returned before the writer thread had finished its block")
    assert not running, "the writer thread still ran when close() raised"
    assert writer.late == []  # nothing was written after close()
    assert writer.log[-1] == ("commit", True)  # what was written is recorded, once the thread stopped
    assert ("done", (1,)) not in writer.log  # the queued batch was dropped, not recorded as done
    assert not any(entry == ("write", 10) for entry in writer.log)


def test_close_without_interrupt_writes_everything_queued():
    writer = SlowWriter(presses=0)
    writer.closing.set()
    background = BackgroundWriter(writer, depth=1, threaded=True)
    for first in range(3):
        background.submit(*batch(first))
    background.close()
    assert background._thread not in threading.enumerate()
    assert [entry for entry in writer.log if entry[0] == "done"] == [("done", (0,)), ("done", (1,)), ("done", (2,))]
    assert writer.log[-1] == ("commit", True)
    background.stop()  # idempotent


class _FailingCommit:
    """A writer whose commit fails (a full disk on done.npy)."""

    def write(self, *args) -> None:
        pass

    def commit(self, force: bool = False) -> None:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("threaded", [False, True])
def test_a_failed_commit_is_raised_unless_another_error_is_on_its_way(threaded):
    """close() inside a caller's except block (an error the caller handled, not its own work's) still
    raises a failed commit; with error_passing=True the error already passing up is the one reported."""
    writer = BackgroundWriter(_FailingCommit(), threaded=threaded)
    try:
        raise ValueError("handled by the caller")
    except ValueError:
        with pytest.raises(OSError, match="No space left"):
            writer.close()
    BackgroundWriter(_FailingCommit(), threaded=threaded).close(error_passing=True)  # nothing raised
