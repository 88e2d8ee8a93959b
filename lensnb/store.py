"""The activation store: plain ``.npy`` arrays, Parquet tables and a JSON manifest.

Layout of a store folder::

    manifest.json           what, from which model and inputs, with which settings; status
    tokens.parquet          token table (one row per token)
    texts.parquet           text table; spans.parquet, span_pairs.parquet when present
    <site>.npy              (layer, token, dim) float32 or float16, memory-mapped on read
    attentions.npy          flat attention probabilities, indexed by attention_index.parquet
    done.npy                while extracting: which model inputs (segments) are written

Arrays are allocated at full size up front (``posix_fallocate`` where the file system
has it, so a full disk is found before any work) and each segment's rows are written
in place with ``os.pwrite``; peak memory depends on the batch, not on the corpus.
JSON, Parquet and ``done.npy`` are written to a temporary name and renamed, so a
reader never sees half a file. After an interruption, extraction with the same
model, inputs and settings resumes from ``done.npy``; with others it is refused.
The batch settings (``batch_size``, ``max_batch_tokens``), the attention code the
model ran (``attn_implementation``: ``"sdpa"``, ``"eager"``...) and the kind of device
it ran on (``device``: ``"cpu"``, ``"cuda"``...) must match too: extract records them
(``StoreWriter(batching=...)``), since padding a row with other inputs, another
attention kernel or another device's arithmetic changes its last bits, so that a
resumed store is bit for bit an uninterrupted run's. A finished store is reused
whatever they are. A setting the manifest does not record (a store written before it
was recorded) is not compared (each row is then valid for the batching that computed it).

A site's array is the file ``<site>.npy``: site names are plain identifiers, none of the
store's own file names (:func:`check_site_name`). Nothing is written through a symbolic
link in a store (temporaries are created exclusively, arrays opened with ``O_NOFOLLOW``),
and :func:`read_store` checks the manifest's every field and the tables' column types
and cross-references before anything is used. Nothing is ever unpickled.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lensnb.adapters import SITES
from lensnb.errors import LensError
from lensnb.large_arrays import anonymous_array
from lensnb.store_lock import StoreLock

__all__ = ["StoreWriter", "MemoryWriter", "read_store", "open_arrays", "write_table", "FORMAT", "FORMAT_VERSION"]

FORMAT = "lensnb-activations"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DONE = "done.npy"
TABLES = ("tokens", "texts", "spans", "span_pairs", "attention_index")
#: Manifest fields that must agree before a store is resumed or reused.
IDENTITY_FIELDS = (
    "format_version",
    "model",
    "inputs_digest",
    "tokens_digest",
    "params",
    "sites",
    "attentions",
    "n_tokens",
    "n_segments",
)
COMMIT_SECONDS = 2.0


def temporary_name(path: Path) -> Path:
    """Where lensnb writes ``path`` before renaming it into place (``.<name>.tmp`` beside it)."""
    return path.with_name(f".{path.name}.tmp")


def _atomic_write_bytes(path: Path, data: bytes, advice: str | None = None) -> None:
    temporary = temporary_name(path)
    try:
        with os.fdopen(_create_new(temporary), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        _unlink_quietly(temporary)
        if error.errno in _FULL:
            raise disk_full(path, len(data), advice) from None
        raise_write_error(temporary, error)
    except BaseException:  # an interruption (Ctrl-C during a slow fsync): no temporary is left behind
        _unlink_quietly(temporary)
        raise
    _replace(temporary, path)


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as JSON atomically."""
    _atomic_write_bytes(path, json.dumps(payload, indent=1, default=str).encode("utf-8"))


def write_table(path: Path, table: pd.DataFrame) -> None:
    """Write ``table`` as Parquet atomically.

    Raises
    ------
    LensError
        A column Parquet cannot hold (one that mixes types, such as ints and strings),
        a full disk, or a folder lensnb may not write.
    """
    temporary = temporary_name(path)
    try:
        with os.fdopen(_create_new(temporary), "wb") as handle:
            table.to_parquet(handle, index=False)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        _unlink_quietly(temporary)
        if error.errno in _FULL:
            raise disk_full(path, int(table.memory_usage(deep=True).sum())) from None
        raise_write_error(temporary, error)
    except Exception as error:  # noqa: BLE001 - pyarrow raises ArrowInvalid, ArrowTypeError...
        _unlink_quietly(temporary)
        raise LensError(
            f"store: the {path.stem} table cannot be written as Parquet ({type(error).__name__}: {error}). "
            "Give each label column values of one type (for example all strings), then extract again."
        ) from None
    except BaseException:  # an interruption: no temporary is left behind
        _unlink_quietly(temporary)
        raise
    _replace(temporary, path)


#: ``open`` flags that refuse to follow a symbolic link (0 where the platform has none).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: What makes a write fail for want of permission (a read-only mount, chattr +i, another user's folder).
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
#: What a write or an ``fsync`` reports when the disk (or the user's quota) is full.
_FULL = {errno.ENOSPC, *((errno.EDQUOT,) if hasattr(errno, "EDQUOT") else ())}


def _create_new(path: Path) -> int:
    """Open a new file at ``path`` for writing, first removing what is there (a stale
    temporary, or a link planted there: the link goes, its target is left alone). The file
    is created exclusively, never through a link."""
    _unlink_quietly(path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except IsADirectoryError:
        raise LensError(
            f"store: {path} is a folder where lensnb writes a file; move it out of the store, then run the call again."
        ) from None
    except OSError:
        pass  # a read-only folder: the write that follows says so


def _replace(temporary: Path, path: Path) -> None:
    try:
        os.replace(temporary, path)  # replaces a link at ``path`` itself, never its target
    except OSError as error:
        _unlink_quietly(temporary)
        raise_write_error(path, error)
    except BaseException:  # interrupted before the rename: the temporary goes
        _unlink_quietly(temporary)
        raise


def _open_for_writing(path: Path) -> int:
    """Open the existing array file ``path`` to write into it, refusing a link or anything
    but a plain file (a link would make lensnb write to the file it points to)."""
    if path.is_symlink():
        raise _link_in_store(path)
    try:
        descriptor = os.open(path, os.O_RDWR | _NOFOLLOW)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _link_in_store(path) from None
        raise_write_error(path, error)
    return descriptor


def _link_in_store(path: Path) -> LensError:
    return LensError(
        f"store: {path} is a symbolic link; lensnb does not write through links in a store (the file it points "
        "to would be changed). Remove the link, or pass overwrite=True to start the store again."
    )


def raise_write_error(path: Path, error: OSError, argument: str = "store") -> NoReturn:
    """Raise the LensError for a write the system refused at ``path`` (a link, no permission,
    a read-only folder); re-raise ``error`` itself when it is something else."""
    if error.errno == errno.ELOOP:
        raise _link_in_store(path) from None
    if error.errno in _NOT_WRITABLE:
        raise LensError(
            f"{argument}: lensnb cannot write {path} ({error.strerror or error}): the folder is read-only or "
            "belongs to someone else. A finished store there can still be loaded; to extract or save, choose a "
            "folder you can write (or make this one writable and run the same call again to resume)."
        ) from None
    raise error


def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    import io

    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue()


class _ArrayFile:
    """A preallocated ``.npy`` file written in place with ``pwrite``.

    Parameters
    ----------
    path : Path
    shape : tuple of int
        Full array shape, e.g. (layer, token, dim).
    dtype : numpy dtype
    create : bool
        Allocate a new file (else open the existing one to resume).
    advice : str, optional
        What a disk-full error while writing tells the user to do (by default: free space
        and run the call again).
    reserve_advice : str, optional
        The same for a full disk found when the file is created (by default ``advice``).
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype, create: bool, advice: str | None = None,
                 reserve_advice: str | None = None):  # fmt: skip
        self.path, self.shape, self.dtype, self.advice = path, tuple(shape), np.dtype(dtype), advice
        header = _npy_header(self.shape, self.dtype)
        self.offset = len(header)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        if create:
            descriptor = self._create(header, reserve_advice or advice)
        else:
            if not path.is_symlink() and (not path.is_file() or path.stat().st_size != self.offset + self.nbytes):
                raise LensError(
                    f"store: {path} is missing or has the wrong size to resume; pass overwrite=True to start again."
                )
            descriptor = _open_for_writing(path)
        self.descriptor = descriptor
        # byte strides of the C-ordered array
        self.strides = [
            self.dtype.itemsize * int(np.prod(self.shape[i + 1 :], dtype=np.int64)) for i in range(len(self.shape))
        ]

    def _create(self, header: bytes, advice: str | None) -> int:
        """A new file with the header, its full size reserved (never written through a link)."""
        try:
            descriptor = _create_new(self.path)
        except OSError as error:
            raise_write_error(self.path, error)
        try:
            os.pwrite(descriptor, header, 0)
            _reserve(descriptor, self.offset + self.nbytes, self.path, advice)
        except BaseException:
            os.close(descriptor)
            raise
        return descriptor

    def write(self, index: tuple[int, ...], values: np.ndarray) -> None:
        """Write a block that starts at ``index`` and is contiguous on disk."""
        position = self.offset
        for i, stride in zip(index, self.strides):
            position += i * stride
        if values.dtype != self.dtype or not values.flags.c_contiguous:
            values = np.ascontiguousarray(values, dtype=self.dtype)
        written = os.pwrite(self.descriptor, values, position)  # one call, unless the kernel writes less
        if written < values.nbytes:
            data = memoryview(values).cast("B")[written:]
            while len(data):
                step = os.pwrite(self.descriptor, data, position + written)
                data, written = data[step:], written + step

    def sync(self) -> None:
        """Make the written rows durable (``fsync``).

        Raises
        ------
        LensError
            When the disk is full (a file system that allocates on write, or a sparse
            file where ``fallocate`` is not supported, finds it only now).
        """
        try:
            os.fsync(self.descriptor)
        except OSError as error:
            if error.errno in _FULL:
                raise disk_full(self.path, None, self.advice) from None
            raise

    def close(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1


def _reserve(descriptor: int, size: int, path: Path, advice: str | None = None) -> None:
    """Allocate ``size`` bytes now, so that a full disk shows before any work."""
    try:
        os.posix_fallocate(descriptor, 0, size)
    except OSError as error:
        if error.errno in _FULL:
            raise disk_full(path, size, advice) from None
        if error.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise
        os.ftruncate(descriptor, size)  # file system without fallocate: a sparse file
    except AttributeError:  # no posix_fallocate on this platform
        os.ftruncate(descriptor, size)


RESUME_ADVICE = "Free some space and run the same call again: finished batches are kept and the extraction resumes."
#: What a full disk before the first batch (while a store is laid out) tells the user to do.
RETRY_ADVICE = "Free some space and run the same call again."


def disk_full(path: Path, needed: int | None, advice: str | None = None) -> LensError:
    """The LensError for a full disk while writing ``needed`` bytes (where known) to ``path``."""
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free"
    except OSError:
        free = "free space unknown"
    what = (
        f"writing {_size(needed)} to {path.name} failed"
        if needed is not None
        else f"the rows written to {path.name} could not all be stored"
    )
    return LensError(f"store: the disk holding {path.parent} is full ({free}; {what}). {advice or RETRY_ADVICE}")


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB" if n_bytes >= 2**20 else f"{n_bytes:,} bytes"


class MemoryWriter:
    """Collects activations in memory (``store=None``)."""

    def __init__(self, site_shapes: Mapping[str, tuple[int, ...]], dtype: np.dtype, n_segments: int,
                 attention_size: int = 0):  # fmt: skip
        # ordinary pages: numpy's huge-page advice can stall the first touch on compaction
        self.arrays = {site: anonymous_array(shape, dtype) for site, shape in site_shapes.items()}
        self.attentions = anonymous_array((attention_size,), dtype) if attention_size else None
        self.done = np.zeros(n_segments, dtype=bool)

    def write(self, site: str, layer_position: int, row: int, values: np.ndarray) -> None:
        self.arrays[site][layer_position, row : row + len(values)] = values

    def write_attention(self, offset: int, values: np.ndarray) -> None:
        self.attentions[offset : offset + values.size] = values.reshape(-1)

    def mark_done(self, segments) -> None:
        self.done[segments] = True

    def commit(self, force: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


class StoreWriter:
    """Writes an extraction into a store folder, resuming where a previous run stopped.

    Parameters
    ----------
    path : path
        The store folder (created if missing).
    manifest : dict
        The manifest of this extraction (status is set here).
    tables : dict of str to DataFrame
        Tables written once at the start (token table, text table...).
    site_shapes : dict of str to tuple
        Shape of each site's (layer, token, dim) array.
    dtype : numpy dtype
        float32 or float16.
    attention_size : int
        Number of attention values (0: no attentions).
    overwrite : bool
        Replace a store made by another model or inputs instead of refusing.
    durable : bool
        ``fsync`` the arrays before each progress record and before the store is
        marked complete, so that a power cut cannot leave rows recorded as written
        that never reached the disk. Without it, a store survives the death of the
        process (killed kernel, Ctrl-C, out of memory: the operating system still
        holds the written pages) but not of the machine; it costs about 6% of the
        extraction time on a 2-core machine whose disk I/O competes with compute.
    batching : dict of str to int or str, optional
        The settings that group inputs into forward passes (``batch_size``,
        ``max_batch_tokens``) and the attention code that runs them
        (``attn_implementation``). Given, they are recorded in the manifest and an
        unfinished store is resumed only with the same ones, so that a resumed store
        is bit for bit the store an uninterrupted run writes: padding a row with other
        inputs, or another attention kernel, changes its last bits (a few rows in 10**5
        by up to ~1e-7 in float32). A finished store is reused whatever they are. Not
        given (or not recorded by the run that stopped), a resume with other settings
        is accepted and each row is valid for the batching that computed it.
    """

    def __init__(self, path, manifest, tables, site_shapes, dtype, attention_size=0, overwrite=False, durable=False,
                 batching: Mapping[str, int] | None = None):  # fmt: skip
        self.path = Path(path).expanduser()
        self.durable = durable
        for site in site_shapes:
            check_site_name(site, "sites")
        self.manifest = dict(manifest, status="in_progress")
        if batching is not None:
            self.manifest["batching"] = dict(batching)
        self.files: dict[str, _ArrayFile] = {}
        self.attention_file: _ArrayFile | None = None
        self.reusable = False
        self._last_commit = time.monotonic()
        self._lock: StoreLock | None = None
        make_folder(self.path, "store")
        try:
            self._lock = StoreLock(self.path, "store")  # held until close(): one writer per folder
            existing = self._existing_manifest(overwrite)
            resume = existing is not None and _same_identity(existing, self.manifest, self.path)
            if resume and existing.get("status") == "complete":
                self.reusable, self.done = True, np.ones(manifest["n_segments"], dtype=bool)
                return
            if resume:
                _same_batching(existing, self.manifest, self.path)
                self._open_arrays(site_shapes, dtype, attention_size, create=False)
                self.done = _read_done(self.path, manifest["n_segments"])
            else:
                self._set_up(tables, site_shapes, dtype, attention_size)
        except BaseException:
            self.close()
            raise

    def _existing_manifest(self, overwrite: bool) -> dict | None:
        """The manifest of the extraction this call may resume or reuse, or None to start anew.

        A store whose set-up never finished (no ``done.npy``: no batch was written) is
        started again whatever made it, so that a call that failed during set-up (a
        label column Parquet cannot hold, say) can be retried with other inputs. With
        ``overwrite``, a lensnb store is replaced unread (a corrupt manifest included);
        a ``manifest.json`` that another tool wrote is refused even then."""
        if not (self.path / MANIFEST).is_file():
            return None
        if overwrite:
            refuse_foreign_manifest(self.path, "store")
            return None
        existing = _read_manifest(self.path)
        if existing.get("status") != "complete" and not (self.path / DONE).is_file():
            return None
        return existing

    def _set_up(self, tables, site_shapes, dtype, attention_size) -> None:
        """Lay out a new store. Its manifest comes first (marking the folder as this extraction's,
        in progress), then the tables (a table Parquet cannot hold fails before any large
        allocation), the arrays, and last ``done.npy``: a set-up interrupted before that is
        started again by the next call, without ``overwrite``. Only lensnb's own files of an
        earlier store are removed (:data:`OWN_FILES`, and the site arrays its manifest names:
        :func:`store_files`); the space they take counts as free."""
        self._check_target()
        replaced = sorted(name for name in store_files(self.path) if name != MANIFEST)
        self._check_space(site_shapes, dtype, attention_size, freed=_allocated(self.path, replaced))
        write_json(self.path / MANIFEST, self.manifest)
        remove_own_files(self.path, keep_manifest=True, also=replaced)
        for name, table in tables.items():
            write_table(self.path / f"{name}.parquet", table)
        self._open_arrays(site_shapes, dtype, attention_size, create=True)
        self.done = np.zeros(self.manifest["n_segments"], dtype=bool)
        _atomic_save(self.path / DONE, self.done)

    def _open_arrays(self, site_shapes, dtype, attention_size, create: bool) -> None:
        for site, shape in site_shapes.items():
            self.files[site] = _ArrayFile(self.path / f"{site}.npy", shape, dtype, create=create,
                                          advice=RESUME_ADVICE, reserve_advice=RETRY_ADVICE)  # fmt: skip
        if attention_size:
            self.attention_file = _ArrayFile(self.path / "attentions.npy", (attention_size,), dtype, create=create,
                                             advice=RESUME_ADVICE, reserve_advice=RETRY_ADVICE)  # fmt: skip

    def _check_target(self) -> None:
        """The folder must be empty or a lensnb store (one with a manifest). lensnb's own
        temporaries (left by a process killed while it wrote its first manifest) do not
        count: :func:`remove_own_files` removes them."""
        entries = [p.name for p in self.path.iterdir() if p.name not in OWN_TEMPORARIES]
        if entries and MANIFEST not in entries:
            raise LensError.bad_argument(
                "store", str(self.path), "an empty folder, a new path or an existing lensnb store",
                f"It holds {len(entries)} other file(s) ({', '.join(sorted(entries)[:5])}); lensnb will not write among them.",
            )  # fmt: skip

    def _check_space(self, site_shapes, dtype, attention_size, freed: int = 0) -> None:
        """Refuse a store larger than the free space plus ``freed`` (the earlier store's files it replaces)."""
        needed = sum(int(np.prod(s, dtype=np.int64)) for s in site_shapes.values()) + attention_size
        needed *= np.dtype(dtype).itemsize
        probe = self.path if self.path.exists() else self.path.parent
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if needed > free + freed:
            replacing = f" (and {freed / 2**20:.1f} MiB the store it replaces takes)" if freed else ""
            raise LensError(
                f"store: {self.path} needs {needed / 2**20:.1f} MiB but only {free / 2**20:.1f} MiB are "
                f"free on that disk{replacing}. Free some space, choose another folder, or pass dtype='float16' to "
                "halve it."
            )

    def write(self, site: str, layer_position: int, row: int, values: np.ndarray) -> None:
        try:
            self.files[site].write((layer_position, row, 0), values)
        except OSError as error:
            if error.errno in _FULL:
                raise disk_full(self.files[site].path, values.nbytes, RESUME_ADVICE) from None
            raise

    def write_attention(self, offset: int, values: np.ndarray) -> None:
        try:
            self.attention_file.write((offset,), values.reshape(-1))
        except OSError as error:
            if error.errno in _FULL:
                raise disk_full(self.attention_file.path, values.nbytes, RESUME_ADVICE) from None
            raise

    def mark_done(self, segments) -> None:
        self.done[segments] = True

    def commit(self, force: bool = False) -> None:
        """Record which segments are done (after making their rows durable, if asked to)."""
        if self.reusable or (not force and time.monotonic() - self._last_commit < COMMIT_SECONDS):
            return
        if self.durable:
            for handle in self._handles():
                try:
                    handle.sync()
                except OSError as error:  # a full disk found by fsync: the rows are not recorded as done
                    if error.errno in _FULL:
                        raise disk_full(handle.path, None, RESUME_ADVICE) from None
                    raise
        _atomic_save(self.path / DONE, self.done, RESUME_ADVICE)
        self._last_commit = time.monotonic()

    def finalize(self) -> None:
        """Mark the store complete (all segments written and synced)."""
        self.commit(force=True)
        self.manifest["status"] = "complete"
        write_json(self.path / MANIFEST, self.manifest)
        (self.path / DONE).unlink(missing_ok=True)
        self.reusable = True  # finished: nothing more to commit

    def _handles(self):
        return [*self.files.values(), *([self.attention_file] if self.attention_file else [])]

    def close(self) -> None:
        """Close the files and let the next writer in (idempotent)."""
        try:
            for handle in self._handles():
                handle.close()
        finally:
            if self._lock is not None:
                self._lock.release()


#: Files of a lensnb store: with their temporaries, all that replacing a store removes.
OWN_FILES = (
    MANIFEST,
    DONE,
    "attentions.npy",
    *(f"{site}.npy" for site in SITES),
    *(f"{name}.parquet" for name in TABLES),
)
#: The temporaries lensnb writes its own files to before renaming them (``.manifest.json.tmp``...):
#: left only by a process killed while it wrote one, and safe to remove.
OWN_TEMPORARIES = tuple(temporary_name(Path(name)).name for name in OWN_FILES)


def remove_own_files(path: Path, keep_manifest: bool = False, also: Sequence[str] = ()) -> None:
    """Remove lensnb's own files (and temporaries) from a store folder, and the files named in
    ``also`` (an earlier manifest's site arrays: :func:`store_files`); anything else in it stays."""
    for name in dict.fromkeys([*OWN_FILES, *also]):
        if not (keep_manifest and name == MANIFEST):
            (path / name).unlink(missing_ok=True)
        temporary_name(path / name).unlink(missing_ok=True)


def _allocated(path: Path, names: Sequence[str]) -> int:
    """Bytes of disk the files ``names`` of folder ``path`` take (allocated blocks: a sparse file counts
    what it holds); missing files and links count 0."""
    total = 0
    for name in names:
        try:
            info = (path / name).lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            total += getattr(info, "st_blocks", 0) * 512 or info.st_size
    return total


def make_folder(path: Path, argument: str) -> None:
    """Create the folder ``path`` (and its parents) if missing, or refuse a path lensnb cannot use."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise LensError.bad_argument(argument, str(path), "a folder path (a file is there)") from None
    except OSError as error:  # a file where a parent folder should be, no permission...
        raise LensError.bad_argument(
            argument, str(path), "a folder lensnb can create", f"{type(error).__name__}: {error.strerror or error}."
        ) from None


def store_files(path: Path) -> set[str]:
    """The files a lensnb store at ``path`` may hold: :data:`OWN_FILES`, their temporaries
    (:data:`OWN_TEMPORARIES`) and the arrays of the sites its manifest names (a saved store
    may have sites of its own, e.g. ``_probe_2``)."""
    names = {*OWN_FILES, *OWN_TEMPORARIES}
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return names
    sites = manifest.get("sites") if isinstance(manifest, dict) else None
    for site in sites if isinstance(sites, dict) else ():
        try:
            check_site_name(site, "sites")
        except LensError:
            continue  # not a name lensnb writes: never counted as its own
        names.add(f"{site}.npy")
    return names


def refuse_foreign_manifest(path: Path, argument: str) -> None:
    """Refuse a folder whose ``manifest.json`` parses but was not written by lensnb (a corrupt
    one, which does not parse, is taken as a damaged lensnb store)."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise LensError.bad_argument(
            argument, str(path), f"a lensnb store to replace (manifest format {FORMAT!r})",
            "Its manifest.json was written by something else; lensnb does not delete other tools' files, even with "
            "overwrite=True. Use another folder.",
        )  # fmt: skip


def _read_table(file: Path) -> pd.DataFrame:
    """A table as it was written: columns with missing values (a label on first pieces only)
    come back as the ints, floats and None they were written as (object columns), not as
    float64 with NaN; a column that was float64 in memory stays float64."""
    table = pq.read_table(file)
    frame = table.to_pandas(integer_object_nulls=True)
    written = {
        column.get("name"): column.get("numpy_type")
        for column in (table.schema.pandas_metadata or {}).get("columns", [])
    }
    for position, name in enumerate(table.column_names):
        column = table.column(position)
        if written.get(name) == "object" and pa.types.is_floating(column.type) and column.null_count:
            frame[name] = pd.Series(column.to_pylist(), dtype=object, index=frame.index)
    return frame


def _atomic_save(path: Path, array: np.ndarray, advice: str | None = None) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    _atomic_write_bytes(path, buffer.getvalue(), advice)


def _read_done(path: Path, n_segments: int) -> np.ndarray:
    try:
        done = np.load(path / DONE, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise LensError(f"store: {path / DONE} is unreadable ({error}); pass overwrite=True to start again.") from None
    if done.shape != (n_segments,) or done.dtype != bool:
        raise LensError(f"store: {path / DONE} does not match this extraction; pass overwrite=True to start again.")
    return done


def _read_manifest(path: Path) -> dict:
    file = path / MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LensError(
            f"store: {file} is not a readable lensnb manifest ({error}). To extract into this folder "
            "again, pass overwrite=True."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise LensError.bad_argument("store", str(path), f"a folder written by lensnb (manifest format {FORMAT!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise LensError(
            f"store: {path} has format version {manifest.get('format_version')!r}; this lensnb reads version "
            f"{FORMAT_VERSION}. Extract again with this version (overwrite=True replaces the store)."
        )
    return manifest


def _same_identity(existing: dict, wanted: dict, path: Path) -> bool:
    """True when ``existing`` can be resumed as ``wanted``; raises a LensError saying what differs."""
    differences = [name for name in IDENTITY_FIELDS if _normal(existing.get(name)) != _normal(wanted.get(name))]
    if not differences:
        return True
    details = []
    for name in differences:
        before, now = existing.get(name), wanted.get(name)
        if isinstance(before, dict) and isinstance(now, dict):  # name the entries that differ (model['fingerprint'])
            details.extend(
                f"{name}[{key!r}]: store has {_short(before.get(key))}, this call has {_short(now.get(key))}"
                for key in sorted({*before, *now}, key=str)
                if _normal(before.get(key)) != _normal(now.get(key))
            )
        else:
            details.append(f"{name}: store has {_short(before)}, this call has {_short(now)}")
    weights = ""
    if "model" in differences and isinstance(existing.get("model"), dict) and isinstance(wanted.get("model"), dict):
        if existing["model"].get("fingerprint") != wanted["model"].get("fingerprint"):
            weights = (
                " The model's weights differ from those that wrote the store (another checkpoint, or weights "
                "changed in place since: an ablation, a fine-tuning)."
            )
    raise LensError(
        f"store: {path} was made by another extraction and cannot be mixed with this one ({'; '.join(details)})."
        f"{weights} Use another folder, or pass overwrite=True to replace it."
    )


def _same_batching(existing: dict, wanted: dict, path: Path) -> None:
    """Refuse to resume with other batch settings (attention implementation, kind of device)
    than those that wrote the rows already there (each setting both runs recorded), naming
    the settings that differ."""
    before, now = existing.get("batching"), wanted.get("batching")
    if not isinstance(before, dict) or not isinstance(now, dict) or _normal(before) == _normal(now):
        return
    differing = sorted(key for key in before.keys() & now.keys() if _normal(before[key]) != _normal(now[key]))
    if not differing:
        return  # only settings one of the runs did not record differ
    details = ", ".join(f"{key}={before.get(key)!r} (this call: {now.get(key)!r})" for key in differing)
    raise LensError(
        f"store: {path} was partly extracted with {details}. Resume it with the same settings, so that the store "
        "is bit for bit what one uninterrupted run writes, or pass overwrite=True to start again."
    )


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def read_store(path) -> tuple[dict, dict[str, np.ndarray], dict[str, pd.DataFrame], np.ndarray | None]:
    """Open a finished store, memory-mapping its arrays, after checking it whole.

    Returns
    -------
    manifest : dict
    arrays : dict of site to memory-mapped ndarray, shape (layer, token, dim)
    tables : dict of name to DataFrame
    attentions : memory-mapped 1-D ndarray or None

    Raises
    ------
    LensError
        Not a store, an unfinished extraction, a missing, truncated or mismatched file.
    """
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise LensError.bad_argument("path", str(path), "a lensnb store folder (with manifest.json)")
    manifest = _read_manifest(path)
    if manifest.get("status") != "complete":
        raise LensError(
            f"path: the extraction into {path} has not finished: it stopped, or another process is writing it "
            "now. Wait for that one to finish, or run the same lensnb.extract(..., store=...) call again to "
            "resume it."
        )
    problems = _manifest_problems(manifest)
    if problems:
        raise LensError(
            f"store: {path / MANIFEST} is incomplete (missing or wrong: {'; '.join(problems)}); it was not written "
            "by a finished lensnb extraction. Extract again with overwrite=True."
        )
    arrays, attentions = open_arrays(path, manifest)
    tables = {}
    for name in TABLES:
        file = path / f"{name}.parquet"
        if file.is_file():
            try:
                tables[name] = _read_table(file)
            except Exception as error:  # noqa: BLE001 - pyarrow raises many types
                raise LensError(f"store: {file} is corrupt or truncated ({type(error).__name__}: {error}).") from None
    for name, expected in (("tokens", manifest["n_tokens"]), ("texts", manifest["n_texts"])):
        if name == "texts" and expected == 0 and name not in tables:
            continue  # activations built without a text table
        if name not in tables or len(tables[name]) != expected:
            found = len(tables[name]) if name in tables else "no file"
            raise LensError(f"store: {path / (name + '.parquet')} should have {expected} rows, found {found}.")
    if manifest.get("attentions") and "attention_index" not in tables:
        raise LensError(f"store: {path / 'attention_index.parquet'} is missing; the manifest lists attentions.")
    if "inputs_digest" in manifest:  # written by an extraction (not a save of hand-built activations)
        missing_columns = [c for c in TOKEN_COLUMNS if c not in tables["tokens"].columns]
        if missing_columns:
            raise LensError(
                f"store: the token table {path / 'tokens.parquet'} lacks the column(s) {missing_columns}; "
                "it was not written by a lensnb extraction. Extract again with overwrite=True."
            )
    _check_tables(path, manifest, tables, attentions)
    return manifest, arrays, tables, attentions


#: Columns every token table of an extraction has (label columns come on top).
TOKEN_COLUMNS = (
    "text_id", "position", "token", "token_id", "word_index", "char_start", "char_end", "window", "special",
    "first_piece", "last_piece",
)  # fmt: skip


#: Integer and boolean columns of a token table: each one present must hold that type.
INTEGER_COLUMNS = ("text_id", "position", "token_id", "word_index", "char_start", "char_end", "window")
BOOLEAN_COLUMNS = ("special", "first_piece", "last_piece")
UNITS = ("token", "word", "span", "span_pair", "text")
_SITE_SPEC = ("layers", "file", "shape", "dtype")
_ATTENTION_SPEC = ("layers", "n_heads", "file", "n_values", "dtype")
_ATTENTION_INDEX_COLUMNS = ("text_id", "window", "offset", "length")
#: No array of a store is larger (a size beyond it comes from a crafted manifest).
_MAX_BYTES = 2**62


def _is_count(value: Any) -> bool:
    """A non-negative int as JSON gives it (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _manifest_problems(manifest: dict) -> list[str]:
    """What the manifest lacks or gets wrong, each as ``field (what it should be)``; empty when nothing."""
    missing = [key for key in ("model", "sites", "n_tokens", "n_texts") if key not in manifest]
    if missing:
        return missing
    if not isinstance(manifest["model"], dict):
        return ["model (a mapping)"]
    problems = [f"{key} (a count)" for key in ("n_tokens", "n_texts") if not _is_count(manifest[key])]
    if manifest.get("unit", "token") not in UNITS:
        problems.append(f"unit (one of {UNITS})")
    n_layers = manifest["model"].get("n_layers")
    if n_layers is not None and not _is_count(n_layers):
        problems.append("model['n_layers'] (a count)")
        n_layers = None
    sites = manifest["sites"]
    if not isinstance(sites, dict):
        return [*problems, "sites (a mapping)"]
    if not sites:
        problems.append("sites (at least one site)")
    n_tokens = manifest["n_tokens"] if _is_count(manifest["n_tokens"]) else None
    for site, spec in sites.items():
        problems.extend(_site_problems(site, spec, n_tokens, n_layers))
    if manifest.get("attentions") is not None:
        problems.extend(_attention_problems(manifest["attentions"], n_layers))
    return problems


def _site_problems(site: str, spec: Any, n_tokens: int | None, n_layers: int | None) -> list[str]:
    name = f"sites[{site!r}]"
    problems = [] if is_site_name(site) else [f"{name} (a site name: {SITE_NAME_RULE})"]
    if not isinstance(spec, dict):
        return [*problems, f"{name} (a mapping)"]
    missing = [f"{name}[{key!r}]" for key in _SITE_SPEC if key not in spec]
    if missing:
        return problems + missing
    layers_problem = _layers_problem(spec["layers"], 0, n_layers)
    if layers_problem:
        problems.append(f"{name}['layers'] ({layers_problem})")
    shape = spec["shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(_is_count(v) for v in shape)):
        problems.append(f"{name}['shape'] (a list of sizes)")
    elif (not layers_problem and shape[0] != len(spec["layers"])) or (n_tokens is not None and shape[1] != n_tokens):
        problems.append(f"{name}['shape'] ((layers, n_tokens, dim) = ({len(spec['layers'])}, {n_tokens}, dim))")
    problems.extend(_array_spec_problems(name, spec, f"{site}.npy", shape))
    return problems


def _attention_problems(spec: Any, n_layers: int | None) -> list[str]:
    if not isinstance(spec, dict):
        return ["attentions (a mapping, or null)"]
    missing = [f"attentions[{key!r}]" for key in _ATTENTION_SPEC if key not in spec]
    if missing:
        return missing
    problems = []
    layers_problem = _layers_problem(spec["layers"], 1, n_layers)
    if layers_problem:
        problems.append(f"attentions['layers'] ({layers_problem})")
    if not (_is_count(spec["n_heads"]) and spec["n_heads"] > 0):
        problems.append("attentions['n_heads'] (a positive integer)")
    if not _is_count(spec["n_values"]):
        problems.append("attentions['n_values'] (a size)")
    shape = [spec["n_values"]] if _is_count(spec["n_values"]) else None
    return problems + _array_spec_problems("attentions", spec, "attentions.npy", shape)


def _array_spec_problems(name: str, spec: dict, file: str, shape: Any) -> list[str]:
    """The dtype and file of an array's description, and its size in bytes."""
    problems = []
    dtype = _float_dtype(spec["dtype"])
    if dtype is None:
        problems.append(f"{name}['dtype'] (float16 or float32)")
    elif (
        isinstance(shape, list) and all(_is_count(v) for v in shape) and math.prod(shape) * dtype.itemsize > _MAX_BYTES
    ):
        problems.append(f"{name}['shape'] (sizes of an array that fits on a disk)")
    if spec["file"] != file:
        problems.append(f"{name}['file'] ({file!r}, a file name in the store)")
    return problems


def _layers_problem(layers: Any, lowest: int, n_layers: int | None) -> str | None:
    """What is wrong with a list of layers (None when nothing): distinct ints, increasing, in range."""
    if not (
        isinstance(layers, list) and layers and all(isinstance(v, int) and not isinstance(v, bool) for v in layers)
    ):
        return "a non-empty list of integer layers"
    if any(later <= earlier for earlier, later in zip(layers, layers[1:])):
        return "distinct layers in increasing order"
    if layers[0] < lowest or (n_layers is not None and layers[-1] > n_layers):
        return f"layers from {lowest}" + ("" if n_layers is None else f" to {n_layers}, the model's n_layers")
    return None


def _float_dtype(value: Any) -> np.dtype | None:
    """``value`` as a float16 or float32 numpy dtype, or None."""
    try:
        dtype = np.dtype(value) if isinstance(value, str) else None
    except (TypeError, ValueError):
        return None
    return dtype if dtype is not None and dtype.kind == "f" and dtype.itemsize in (2, 4) else None


#: Names of the files a store holds besides its sites' arrays: a site may not take one.
RESERVED_SITE_NAMES = ("manifest", "done", "attentions", *TABLES)
SITE_NAME_RULE = (
    "letters, digits and '_', not starting with a digit, at most 100 characters, and none of the store's own "
    f"file names ({', '.join(RESERVED_SITE_NAMES)})"
)
_SITE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")


def is_site_name(name: Any) -> bool:
    """Whether ``name`` can name a site: its array is the store's file ``{name}.npy``."""
    return (
        isinstance(name, str)
        and _SITE_NAME.fullmatch(name) is not None
        and name.casefold() not in RESERVED_SITE_NAMES  # casefold: case-insensitive file systems
    )


def check_site_name(name: Any, argument: str) -> str:
    """Return ``name``, or raise a LensError naming ``argument`` when it cannot name a site.

    Raises
    ------
    LensError
        A name that is not a plain identifier (``../x``, ``a.b``, ``''``) or that is one of
        the store's own files (``attentions``, ``tokens``...): its ``.npy`` would be written
        outside the store or over another file of it.
    """
    if not is_site_name(name):
        raise LensError.bad_argument(argument, name, f"a site name: {SITE_NAME_RULE}")
    return name


def _check_tables(path: Path, manifest: dict, tables: dict[str, pd.DataFrame], attentions) -> None:
    """The tables' column types and that they agree with each other and the arrays (vectorised).

    Raises
    ------
    LensError
        Naming the table file and the column.
    """
    table, texts = tables["tokens"], tables.get("texts")
    _check_column_types(path / "tokens.parquet", table, INTEGER_COLUMNS, BOOLEAN_COLUMNS)
    if texts is not None:
        _check_column_types(path / "texts.parquet", texts, ("text_id", "n_tokens", "token_start", "token_end"), ())
        _check_text_ids(path, table, texts)
        if manifest.get("unit", "token") == "token" and {"token_start", "token_end"} <= set(texts.columns):
            _check_token_ranges(path, table, texts)
    if attentions is not None:
        _check_attention_index(path, manifest["attentions"], tables["attention_index"])


def _check_column_types(file: Path, table: pd.DataFrame, integers, booleans) -> None:
    for columns, check, what in (
        (integers, pd.api.types.is_integer_dtype, "integers"),
        (booleans, pd.api.types.is_bool_dtype, "booleans (True/False)"),
    ):
        wrong = [c for c in columns if c in table.columns and not check(table[c].dtype)]
        if wrong:
            found = ", ".join(f"{c}: {table[c].dtype}" for c in wrong)
            raise LensError(
                f"store: in {file}, the column(s) {wrong} should hold {what}, found {found}; the table was not "
                "written by lensnb (or was rewritten by another tool). Extract again with overwrite=True."
            )


def _check_text_ids(path: Path, table: pd.DataFrame, texts: pd.DataFrame) -> None:
    """Every item's text is in the text table, once."""
    if "text_id" not in texts.columns:
        return
    ids = texts["text_id"].to_numpy()
    if len(np.unique(ids)) != len(ids):
        raise LensError(f"store: {path / 'texts.parquet'} lists a text_id more than once.")
    if "text_id" in table.columns:
        unknown = ~np.isin(table["text_id"].to_numpy(), ids)
        if unknown.any():
            raise LensError(
                f"store: {int(unknown.sum())} row(s) of {path / 'tokens.parquet'} have a text_id that "
                f"{path / 'texts.parquet'} does not list (the first: {table['text_id'].to_numpy()[unknown][0]})."
            )


def _check_token_ranges(path: Path, table: pd.DataFrame, texts: pd.DataFrame) -> None:
    """Each text's rows ``[token_start, token_end)`` lie in the token table and carry its text_id."""
    start = texts["token_start"].to_numpy().astype(np.int64)
    end = texts["token_end"].to_numpy().astype(np.int64)
    lengths = end - start
    where = f"the token_start/token_end of {path / 'texts.parquet'}"
    if np.any(start < 0) or np.any(lengths < 0) or np.any(end > len(table)) or lengths.sum() != len(table):
        raise LensError(f"store: {where} do not cover the {len(table)} rows of {path / 'tokens.parquet'} once.")
    if "n_tokens" in texts.columns and not np.array_equal(texts["n_tokens"].to_numpy(), lengths):
        raise LensError(f"store: {where} disagree with its n_tokens column.")
    if "text_id" in texts.columns and "text_id" in table.columns:
        text_of_row = table["text_id"].to_numpy()
        changes = np.flatnonzero(text_of_row[1:] != text_of_row[:-1]) + 1  # rows where another text begins
        some = lengths > 0
        inside = np.searchsorted(changes, end[some], "left") - np.searchsorted(changes, start[some], "right")
        ids = texts["text_id"].to_numpy()[some]
        if np.any(inside) or not np.array_equal(text_of_row[start[some]], ids):
            raise LensError(f"store: {where} point at rows of {path / 'tokens.parquet'} of other texts.")


def _check_attention_index(path: Path, spec: dict, index: pd.DataFrame) -> None:
    """Each attention map's ``offset`` and ``length`` lie within the ``n_values`` stored."""
    file = path / "attention_index.parquet"
    missing = [c for c in _ATTENTION_INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise LensError(f"store: {file} lacks the column(s) {missing}. Extract again with overwrite=True.")
    _check_column_types(file, index, _ATTENTION_INDEX_COLUMNS, ())
    offset, length = index["offset"].to_numpy().astype(np.int64), index["length"].to_numpy().astype(np.int64)
    n_values = spec["n_values"]
    per_map = len(spec["layers"]) * spec["n_heads"]
    lengths_fit = (length >= 0) & (length <= math.isqrt(n_values // per_map))  # so that size cannot overflow
    size = per_map * np.where(lengths_fit, length, 0) ** 2
    if not lengths_fit.all() or np.any(offset < 0) or np.any(offset > n_values - size):
        raise LensError(
            f"store: the offset/length columns of {file} point past the {n_values} attention values of "
            f"{path / spec['file']}. Extract again with overwrite=True."
        )


def open_arrays(path: Path, manifest: dict) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Memory-map a store's arrays as its manifest describes them, checking each file's size."""
    arrays = {
        site: _open_array(path / spec["file"], tuple(spec["shape"]), spec["dtype"])
        for site, spec in manifest["sites"].items()
    }
    attentions = None
    if manifest.get("attentions"):
        spec = manifest["attentions"]
        attentions = _open_array(path / spec["file"], (spec["n_values"],), spec["dtype"])
    return arrays, attentions


def _open_array(file: Path, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if not file.is_file():
        raise LensError(f"store: {file} is missing.")
    expected = len(_npy_header(shape, np.dtype(dtype))) + math.prod(shape) * np.dtype(dtype).itemsize
    size = file.stat().st_size
    if size != expected:
        raise LensError(
            f"store: {file} is truncated or corrupt: {size} bytes, expected {expected} for {shape} {dtype}."
        )
    try:
        array = np.load(file, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise LensError(f"store: {file} is corrupt ({error}).") from None
    if array.shape != shape or array.dtype != np.dtype(dtype):
        raise LensError(f"store: {file} holds {array.shape} {array.dtype}, the manifest says {shape} {dtype}.")
    return array
