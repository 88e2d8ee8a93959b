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
Nothing is ever unpickled.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from lensnb.adapters import SITES
from lensnb.errors import LensError
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


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise disk_full(path, len(data)) from None
        raise
    os.replace(temporary, path)


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as JSON atomically."""
    _atomic_write_bytes(path, json.dumps(payload, indent=1, default=str).encode("utf-8"))


def write_table(path: Path, table: pd.DataFrame) -> None:
    """Write ``table`` as Parquet atomically.

    Raises
    ------
    LensError
        A column Parquet cannot hold (one that mixes types, such as ints and strings),
        or a full disk.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        table.to_parquet(temporary, index=False)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise disk_full(path, int(table.memory_usage(deep=True).sum())) from None
        raise
    except Exception as error:  # noqa: BLE001 - pyarrow raises ArrowInvalid, ArrowTypeError...
        temporary.unlink(missing_ok=True)
        raise LensError(
            f"store: the {path.stem} table cannot be written as Parquet ({type(error).__name__}: {error}). "
            "Give each label column values of one type (for example all strings), then extract again."
        ) from None
    os.replace(temporary, path)


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
    advice : str
        What a disk-full error tells the user to do (by default: free space and resume).
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype, create: bool, advice: str | None = None):
        self.path, self.shape, self.dtype = path, tuple(shape), np.dtype(dtype)
        header = _npy_header(self.shape, self.dtype)
        self.offset = len(header)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        if create:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.pwrite(descriptor, header, 0)
                _reserve(descriptor, self.offset + self.nbytes, path, advice)
            except BaseException:
                os.close(descriptor)
                raise
        else:
            if not path.is_file() or path.stat().st_size != self.offset + self.nbytes:
                raise LensError(
                    f"store: {path} is missing or has the wrong size to resume; pass overwrite=True to start again."
                )
            descriptor = os.open(path, os.O_RDWR)
        self.descriptor = descriptor
        # byte strides of the C-ordered array
        self.strides = [
            self.dtype.itemsize * int(np.prod(self.shape[i + 1 :], dtype=np.int64)) for i in range(len(self.shape))
        ]

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
        os.fsync(self.descriptor)

    def close(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1


def _reserve(descriptor: int, size: int, path: Path, advice: str | None = None) -> None:
    """Allocate ``size`` bytes now, so that a full disk shows before any work."""
    try:
        os.posix_fallocate(descriptor, 0, size)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise disk_full(path, size, advice) from None
        if error.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise
        os.ftruncate(descriptor, size)  # file system without fallocate: a sparse file
    except AttributeError:  # no posix_fallocate on this platform
        os.ftruncate(descriptor, size)


RESUME_ADVICE = "Free some space and run the same call again: finished batches are kept and the extraction resumes."


def disk_full(path: Path, needed: int, advice: str | None = None) -> LensError:
    free = shutil.disk_usage(path.parent).free
    return LensError(
        f"store: the disk holding {path.parent} is full ({free / 2**20:.1f} MiB free; this store needs "
        f"{needed / 2**20:.1f} MiB more for {path.name}). {advice or RESUME_ADVICE}"
    )


class MemoryWriter:
    """Collects activations in memory (``store=None``)."""

    def __init__(self, site_shapes: Mapping[str, tuple[int, ...]], dtype: np.dtype, n_segments: int,
                 attention_size: int = 0):  # fmt: skip
        self.arrays = {site: np.empty(shape, dtype=dtype) for site, shape in site_shapes.items()}
        self.attentions = np.empty(attention_size, dtype=dtype) if attention_size else None
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
    """

    def __init__(self, path, manifest, tables, site_shapes, dtype, attention_size=0, overwrite=False, durable=False):
        self.path = Path(path).expanduser()
        self.durable = durable
        self.manifest = dict(manifest, status="in_progress")
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
        earlier store are removed (:data:`OWN_FILES`)."""
        self._check_target()
        self._check_space(site_shapes, dtype, attention_size)
        write_json(self.path / MANIFEST, self.manifest)
        remove_own_files(self.path, keep_manifest=True)
        for name, table in tables.items():
            write_table(self.path / f"{name}.parquet", table)
        self._open_arrays(site_shapes, dtype, attention_size, create=True)
        self.done = np.zeros(self.manifest["n_segments"], dtype=bool)
        _atomic_save(self.path / DONE, self.done)

    def _open_arrays(self, site_shapes, dtype, attention_size, create: bool) -> None:
        for site, shape in site_shapes.items():
            self.files[site] = _ArrayFile(self.path / f"{site}.npy", shape, dtype, create=create)
        if attention_size:
            self.attention_file = _ArrayFile(self.path / "attentions.npy", (attention_size,), dtype, create=create)

    def _check_target(self) -> None:
        """The folder must be empty or a lensnb store (one with a manifest)."""
        entries = [p.name for p in self.path.iterdir()]
        if entries and MANIFEST not in entries:
            raise LensError.bad_argument(
                "store", str(self.path), "an empty folder, a new path or an existing lensnb store",
                f"It holds {len(entries)} other file(s) ({', '.join(sorted(entries)[:5])}); lensnb will not write among them.",
            )  # fmt: skip

    def _check_space(self, site_shapes, dtype, attention_size) -> None:
        needed = sum(int(np.prod(s, dtype=np.int64)) for s in site_shapes.values()) + attention_size
        needed *= np.dtype(dtype).itemsize
        probe = self.path if self.path.exists() else self.path.parent
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if needed > free:
            raise LensError(
                f"store: {self.path} needs {needed / 2**20:.1f} MiB but only {free / 2**20:.1f} MiB are "
                "free on that disk. Free some space, choose another folder, or pass dtype='float16' to halve it."
            )

    def write(self, site: str, layer_position: int, row: int, values: np.ndarray) -> None:
        try:
            self.files[site].write((layer_position, row, 0), values)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise disk_full(self.files[site].path, values.nbytes) from None
            raise

    def write_attention(self, offset: int, values: np.ndarray) -> None:
        try:
            self.attention_file.write((offset,), values.reshape(-1))
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise disk_full(self.attention_file.path, values.nbytes) from None
            raise

    def mark_done(self, segments) -> None:
        self.done[segments] = True

    def commit(self, force: bool = False) -> None:
        """Record which segments are done (after making their rows durable, if asked to)."""
        if self.reusable or (not force and time.monotonic() - self._last_commit < COMMIT_SECONDS):
            return
        if self.durable:
            for handle in self._handles():
                handle.sync()
        _atomic_save(self.path / DONE, self.done)
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
        for handle in self._handles():
            handle.close()
        if self._lock is not None:
            self._lock.release()


#: Files of a lensnb store (and their temporaries): all that replacing a store removes.
OWN_FILES = (
    MANIFEST,
    DONE,
    "attentions.npy",
    *(f"{site}.npy" for site in SITES),
    *(f"{name}.parquet" for name in TABLES),
)


def remove_own_files(path: Path, keep_manifest: bool = False) -> None:
    """Remove lensnb's own files from a store folder; anything else in it stays."""
    for name in OWN_FILES:
        if not (keep_manifest and name == MANIFEST):
            (path / name).unlink(missing_ok=True)
        (path / f".{name}.tmp").unlink(missing_ok=True)


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


def _atomic_save(path: Path, array: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    _atomic_write_bytes(path, buffer.getvalue())


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
    details = "; ".join(
        f"{name}: store has {_short(existing.get(name))}, this call has {_short(wanted.get(name))}"
        for name in differences
    )
    raise LensError(
        f"store: {path} was made by another extraction and cannot be mixed with this one ({details}). "
        "Use another folder, or pass overwrite=True to replace it."
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
            f"path: the extraction into {path} did not finish. Run the same lensnb.extract(..., store=...) "
            "call again to resume it."
        )
    missing = [key for key in ("model", "sites", "n_tokens", "n_texts") if key not in manifest]
    if not missing:
        missing = _missing_array_specs(manifest)
    if missing:
        raise LensError(
            f"store: {path / MANIFEST} is incomplete (missing {', '.join(missing)}); it was not written by a "
            "finished lensnb extraction. Extract again with overwrite=True."
        )
    arrays, attentions = open_arrays(path, manifest)
    tables = {}
    for name in TABLES:
        file = path / f"{name}.parquet"
        if file.is_file():
            try:
                # integer columns with missing values (a label on first pieces only) come back as
                # the ints and None they were written as, not as float64 and NaN
                tables[name] = pq.read_table(file).to_pandas(integer_object_nulls=True)
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
    return manifest, arrays, tables, attentions


#: Columns every token table of an extraction has (label columns come on top).
TOKEN_COLUMNS = (
    "text_id", "position", "token", "token_id", "word_index", "char_start", "char_end", "window", "special",
    "first_piece", "last_piece",
)  # fmt: skip


_SITE_SPEC = ("layers", "file", "shape", "dtype")
_ATTENTION_SPEC = ("layers", "n_heads", "file", "n_values", "dtype")


def _missing_array_specs(manifest: dict) -> list[str]:
    """What the manifest's descriptions of its arrays lack (an empty list when nothing)."""
    sites = manifest["sites"]
    if not isinstance(sites, dict):
        return ["sites (a mapping)"]
    specs = [(f"sites[{site!r}]", spec, _SITE_SPEC) for site, spec in sites.items()]
    if manifest.get("attentions"):
        specs.append(("attentions", manifest["attentions"], _ATTENTION_SPEC))
    missing = []
    for name, spec, needed in specs:
        if not isinstance(spec, dict):
            missing.append(f"{name} (a mapping)")
            continue
        missing.extend(f"{name}[{key!r}]" for key in needed if key not in spec)
        if "shape" in spec and not (
            isinstance(spec["shape"], list) and all(isinstance(v, int) and v >= 0 for v in spec["shape"])
        ):
            missing.append(f"{name}['shape'] (a list of sizes)")
        if "n_values" in spec and not (isinstance(spec["n_values"], int) and spec["n_values"] >= 0):
            missing.append(f"{name}['n_values'] (a size)")
        if "dtype" in spec and not _numeric_dtype(spec["dtype"]):
            missing.append(f"{name}['dtype'] (a numeric dtype)")
        if "file" in spec and not (isinstance(spec["file"], str) and spec["file"] == Path(spec["file"]).name):
            missing.append(f"{name}['file'] (a file name in the store)")
    return missing


def _numeric_dtype(value: Any) -> bool:
    try:
        return isinstance(value, str) and np.dtype(value).kind in "fiu"
    except TypeError:
        return False


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
    expected = len(_npy_header(shape, np.dtype(dtype))) + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
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
