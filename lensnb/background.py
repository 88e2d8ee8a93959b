"""Writing a batch's states, on a background thread while the model runs the next batch
where a core is free for it, or in line.

Every ten seconds the writer also hands the C heap's free memory back to the operating
system (glibc's ``malloc_trim``, where it exists). Batches of varying shapes otherwise
leave freed tensors in the heap, so that a process's peak memory creeps up with the
number of batches, i.e. with the corpus, although each batch is bounded. This is an
action, like ``gc.collect()``, not a setting: the allocator is left as it was. Each trim
makes the next batches fault their memory back in: trimming every second cost about
70,000 extra page faults per 2,000 sentences of MiniLM (0.2 s of system time, about
1.5% of the run's CPU time) for a peak 15 MiB lower than every ten seconds (660
against 675 MiB at 1x, 726 against 736-743 MiB at 10x; the sentences are sorted by
length and run largest first, so the heap mostly reuses what it holds already).

Copies into the store's files (``pwrite``) and the periodic ``fsync`` release the GIL,
so on a thread they overlap the next forward pass instead of adding to it, when
something else runs that pass (an accelerator) or a core is free. On a CPU where
torch's intra-op threads take every core, a writer thread can only take time from
them (on 2 cores: 1.108x the bare forward pass threaded, 1.104x in line, medians of 9
interleaved runs), and in line each layer can be written as the model computes it
(see :mod:`lensnb.layer_stream`), which is what saves time there. The queue is
bounded, so at most ``depth`` batches of states wait in memory. Writes, ``mark_done``
and commits all happen in order on one thread: a segment is recorded as done only
after its rows were written.

:meth:`BackgroundWriter.close` always stops and joins the thread before it returns or
raises, a Ctrl-C while it waits included (the batches still queued are then dropped,
unrecorded, for a resume to compute again), so that the store's files are closed and
its lock released only once nothing writes to them any more.
"""

from __future__ import annotations

import ctypes
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["BackgroundWriter", "trim_heap"]

_STOP = object()
TRIM_SECONDS = 10.0


def _heap_trimmer() -> Callable[[], None] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none (macOS, musl, Windows)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library already loaded in this process
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


def trim_heap() -> None:
    """Return the C heap's free memory to the operating system, where glibc allows it."""
    trim = _heap_trimmer()
    if trim is not None:
        trim()


class BackgroundWriter:
    """Feeds a ``StoreWriter`` or ``MemoryWriter``, from a worker thread or in line.

    Parameters
    ----------
    writer : StoreWriter or MemoryWriter
        Receives ``write``, ``write_attention``, ``mark_done`` and ``commit`` calls.
    depth : int
        Batches that may wait to be written (threaded only).
    threaded : bool
        Write on a worker thread; otherwise ``submit`` writes before it returns.
    """

    def __init__(self, writer: Any, depth: int = 1, threaded: bool = True):
        self.writer = writer
        self._queue: queue.Queue | None = queue.Queue(maxsize=depth) if threaded else None
        self._error: BaseException | None = None
        self._abandon = False  # set by an interrupt in close(): drop what is queued
        self._stop_queued = False
        # set by the thread as it ends. Thread.join and is_alive cannot be trusted once a
        # KeyboardInterrupt stopped a join (CPython < 3.13 then marks a running thread stopped)
        self._finished = threading.Event()
        self._trim = _heap_trimmer()
        self._last_trim = time.monotonic()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._work, name="lensnb-writer", daemon=True)
            self._thread.start()

    @property
    def threaded(self) -> bool:
        """Whether batches are written on a worker thread (else in line)."""
        return self._thread is not None

    def write_states(self, states: Sequence[tuple[str, int, int, np.ndarray]]) -> None:
        """Write ``(site, layer position, first row, values)`` blocks now, ahead of their batch.

        In line only. The batch is recorded as done by its :meth:`submit`, after these.
        """
        if self._thread is not None:
            raise RuntimeError("write_states writes in line; this writer has a worker thread")
        for site, position, row, values in states:
            self.writer.write(site, position, row, values)

    def submit(
        self,
        segments: np.ndarray,
        states: Sequence[tuple[str, int, int, np.ndarray]],
        attentions: Sequence[tuple[int, np.ndarray]] = (),
    ) -> None:
        """Queue one batch: ``(site, layer position, first row, values)`` blocks and attention maps.

        The arrays must not be modified afterwards; they are written as they are.
        """
        if self._thread is None:
            self._write(segments, states, attentions)
            self._trim_now_and_then()
            return
        item = (segments, states, attentions)
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self, error_passing: bool = False) -> None:
        """Write what is queued, stop the thread, commit, and re-raise a write error.

        A KeyboardInterrupt (Ctrl-C) while it waits for the thread does not leave the
        thread running (see :meth:`stop`): what was written is committed and the
        interrupt raised again. The thread is stopped whenever this method returns or raises.

        Parameters
        ----------
        error_passing : bool
            The caller's work failed and its error is on its way up (a write made in line
            that filled the disk, say): a commit that fails after it is not raised in its
            place.
        """
        interrupt: BaseException | None = None
        try:
            self.stop()
        except KeyboardInterrupt as error:
            interrupt = error
        try:
            self.writer.commit(force=True)  # record what was written, also after a failure
        except BaseException:
            if self._error is None and interrupt is None and not error_passing:
                raise  # otherwise the first error (the interrupt, the thread's or the one passing) is reported
        if interrupt is not None:
            if self._error is not None and interrupt.__context__ is None:
                interrupt.__context__ = self._error  # shown with the interrupt
            raise interrupt
        self._raise_if_failed()

    def stop(self) -> None:
        """Stop the worker thread after the batches queued, and wait for it (idempotent).

        A KeyboardInterrupt (Ctrl-C, one or several) while it waits does not end the
        wait: the batches still queued are then dropped (they are not recorded as done,
        so a resume computes them again), the thread stops after the block it is
        writing, and the first interrupt is raised again once it has stopped.
        """
        interrupt: BaseException | None = None
        while True:
            try:
                self._join()
                break
            except KeyboardInterrupt as error:
                self._abandon = True
                interrupt = interrupt or error
        if interrupt is not None:
            raise interrupt

    def _join(self) -> None:
        if self._thread is None:
            return
        while not self._stop_queued and not self._finished.is_set():
            try:
                self._queue.put(_STOP, timeout=0.1)
            except queue.Full:
                continue
            self._stop_queued = True
        while not self._finished.wait(0.1):
            pass
        self._thread.join()  # it has written its last block: what is left is its exit

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        try:
            self._drain()
        finally:
            self._finished.set()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None or self._abandon:
                continue  # drain after a failure (the main thread re-raises) or an interrupt
            try:
                self._write(*item)
                del item  # free the batch's tensors before trimming
                self._trim_now_and_then()
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
                self._error = error

    def _write(self, segments: np.ndarray, states: Sequence, attentions: Sequence) -> None:
        for site, position, row, values in states:
            if self._abandon:
                return  # interrupted: the batch is not recorded as done
            self.writer.write(site, position, row, values)
        for offset, values in attentions:
            if self._abandon:
                return
            self.writer.write_attention(offset, values)
        self.writer.mark_done(segments)
        self.writer.commit()

    def _trim_now_and_then(self) -> None:
        if self._trim is not None and time.monotonic() - self._last_trim > TRIM_SECONDS:
            self._trim()
            self._last_trim = time.monotonic()
