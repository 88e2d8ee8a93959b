"""Between :class:`~lensnb.activations.Activations` and the store folder."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from lensnb.activations import Activations, AttentionMaps
from lensnb.errors import LensError
from lensnb.store import (
    _FULL,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    _ArrayFile,
    check_site_name,
    disk_full,
    make_folder,
    raise_write_error,
    read_store,
    refuse_foreign_manifest,
    store_files,
    write_json,
    write_table,
)
from lensnb.store_lock import StoreLock, lock_if_free

__all__ = ["load_activations", "save_activations", "activations_from_store"]


def activations_from_store(path: Path, manifest: dict, arrays: dict, tables: dict, attentions) -> Activations:
    """Build :class:`Activations` from what :func:`lensnb.store.read_store` returned."""
    maps = None
    if attentions is not None:
        spec = manifest["attentions"]
        maps = AttentionMaps(attentions, tables["attention_index"], tuple(spec["layers"]), int(spec["n_heads"]))
    activations = Activations(
        arrays,
        {site: spec["layers"] for site, spec in manifest["sites"].items()},
        tables["tokens"],
        unit=manifest.get("unit", "token"),
        texts=tables.get("texts"),
        spans=tables.get("spans"),
        span_pairs=tables.get("span_pairs"),
        attentions=maps,
        model=manifest["model"],
        path=path,
    )
    for name in _DROPPED:  # stores written before these were recorded hold none: 0
        count = manifest.get(name, 0)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise LensError.bad_argument(f"{MANIFEST} of {path}", f"{name}: {count!r}", "a count of 0 or more")
        setattr(activations, name, count)
    return activations


_DROPPED = ("spans_dropped", "span_pairs_dropped")  # what selections dropped, kept with the store


def load_activations(path: Path) -> Activations:
    """Open and validate the store at ``path``."""
    return activations_from_store(path, *read_store(path))


_SAVE_ADVICE = "Free some space and save again; nothing at the target folder was replaced."


def save_activations(activations: Activations, path: Path, overwrite: bool = False) -> Path:
    """Write ``activations`` to a new store folder at ``path``.

    The store is written whole into a hidden folder beside ``path`` and then moved into
    place, so a failure (a full disk, an interruption) leaves whatever was at ``path``
    as it was; with ``overwrite`` an earlier lensnb store there is replaced only then.
    The space the arrays need is checked first."""
    path = path.expanduser()
    replace = path.exists() and (not path.is_dir() or any(path.iterdir()))
    if replace:
        if not path.is_dir():
            raise LensError.bad_argument("path", str(path), "a folder path (a file is there)")
        if not overwrite or not (path / MANIFEST).is_file():
            raise LensError.bad_argument(
                "path", str(path), "a new or empty folder" + ("" if (path / MANIFEST).is_file() else " (it holds other files)"),
                "Pass overwrite=True to replace a lensnb store." if (path / MANIFEST).is_file() else "",
            )  # fmt: skip
        refuse_foreign_manifest(path, "path")
        own = store_files(path)
        others = sorted(entry.name for entry in path.iterdir() if entry.name not in own)
        if others:  # the whole folder is replaced: it may hold nothing but the store
            raise LensError.bad_argument(
                "path", str(path), "a lensnb store holding only its own files, to replace",
                f"It also holds {', '.join(others[:5])}; lensnb does not delete them. Move them, or save elsewhere.",
            )  # fmt: skip
    _check_savable(activations)
    make_folder(path.parent, "path")
    remove_stale_staging(path)  # copies left by a save to this path that was killed: they hold disk space
    needed = sum(int(a.nbytes) for a in activations.arrays.values())
    needed += int(activations.attentions.values.nbytes) if activations.attentions is not None else 0
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise LensError(
            f"path: saving needs {needed / 2**20:.1f} MiB for the arrays but only {free / 2**20:.1f} MiB are free "
            f"on the disk holding {path.parent}. {_SAVE_ADVICE}"
        )
    staging, staging_lock = _make_staging(path, "saving")
    try:
        _write_store(activations, staging)
        _check_loadable(staging, path)
        if replace:
            lock = StoreLock(path, "path")  # no extraction may be writing the store being replaced
            try:
                retired, retired_lock = _make_staging(path, "replaced")
                try:
                    os.replace(path, retired / "store")
                    os.replace(staging, path)
                finally:
                    retired_lock.release()
            finally:
                lock.release()
            shutil.rmtree(retired, ignore_errors=True)
        else:
            if path.exists():
                path.rmdir()  # empty
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        staging_lock.release()
    return path


def _check_savable(activations: Activations) -> None:
    """Refuse, before writing anything, what a store cannot hold or :func:`load_activations`
    would refuse: a site name that is no file name of its own (``../x``, ``attentions``; the
    arrays may have been changed since the activations were built), layers that are not
    distinct and increasing."""
    for site in activations.arrays:
        check_site_name(site, "sites")
        layers = list(activations.layers_by_site[site])
        if any(later <= earlier for earlier, later in zip(layers, layers[1:])) or min(layers, default=0) < 0:
            raise LensError.bad_argument(
                f"layers of {site!r}", tuple(layers), "distinct model layers (0 or more) in increasing order",
                "A store lists each site's layers that way; select them in order (select(layers=sorted(...))).",
            )  # fmt: skip


def _check_loadable(staging: Path, path: Path) -> None:
    """Check the store written at ``staging`` as :func:`load_activations` will, before it
    replaces anything at ``path``: a save never leaves a store that cannot be loaded."""
    try:
        read_store(staging)
    except LensError as error:
        raise LensError(
            f"path: these activations cannot be saved as a store lensnb loads again; nothing at {path} was "
            f"replaced. {str(error).replace(str(staging), str(path))}"
        ) from None


def _make_staging(path: Path, what: str) -> tuple[Path, StoreLock]:
    """A new hidden folder beside ``path`` (its parent must let lensnb write), named after
    this process (``.<name>.<what>-<pid>-<random>``) and locked until the lock returned is
    released, so that :func:`remove_stale_staging` tells it from the copy of a save that died."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.{what}-{os.getpid()}-", dir=path.parent))
    except OSError as error:
        raise_write_error(path.parent, error, "path")
    try:
        return folder, StoreLock(folder, "path", warn=False)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def remove_stale_staging(path: Path) -> None:
    """Remove the hidden copies that saves to ``path`` killed mid-way left beside it.

    A save writes the whole store into ``.<name>.saving-<pid>-<random>`` (and moves a
    store it replaces to ``.<name>.replaced-<pid>-<random>``) and removes it when it
    ends, also on an error or Ctrl-C; a process killed outright (SIGKILL, out of memory,
    a killed kernel) leaves it. One is removed only when its process is gone and no one
    holds its lock (the operating system drops the lock of a dead process), so a save
    running now, in this process or another, keeps its own. Nothing is removed where
    that cannot be told (no locks on the platform or file system), nor the copies of
    older lensnb versions (their names carry no process). A ``.replaced-`` folder is
    kept while ``path`` does not exist: the process died between moving the old store
    out and the new one in, and it holds the old store (in ``store``).

    Parameters
    ----------
    path : Path
        The store folder a save is about to write.
    """
    if os.name != "posix":
        return
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(saving|replaced)-(\d+)-[^/]*")
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        if match.group(1) == "replaced" and not path.exists():
            continue
        if _process_alive(int(match.group(2))):  # this process included: a save of another thread
            continue
        lock = lock_if_free(entry)
        if lock is None:
            continue  # a save holds it (or locks cannot tell)
        try:
            shutil.rmtree(entry, ignore_errors=True)
        finally:
            lock.release()


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (POSIX; True where it cannot be told)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def _write_store(activations: Activations, path: Path) -> None:
    """Write ``activations`` as a finished store into the existing empty folder ``path``."""
    sites = {}
    for site, array in activations.arrays.items():
        dtype = np.dtype(array.dtype)
        file = _ArrayFile(path / f"{site}.npy", array.shape, dtype, create=True, advice=_SAVE_ADVICE)
        try:
            for position in range(array.shape[0]):
                _write_or_full(file, (position, 0, 0), np.asarray(array[position]))
            file.sync()
        finally:
            file.close()
        sites[site] = {
            "layers": list(activations.layers_by_site[site]),
            "file": f"{site}.npy",
            "shape": list(array.shape),
            "dtype": dtype.str,
        }
    tables = {"tokens": activations.table, "texts": activations.texts, "spans": activations.spans,
              "span_pairs": activations.span_pairs}  # fmt: skip
    attentions = None
    if activations.attentions is not None:
        maps = activations.attentions
        file = _ArrayFile(
            path / "attentions.npy", maps.values.shape, maps.values.dtype, create=True, advice=_SAVE_ADVICE
        )
        try:
            _write_or_full(file, (0,), np.asarray(maps.values))
            file.sync()
        finally:
            file.close()
        tables["attention_index"] = maps.index
        attentions = {"layers": list(maps.layers), "n_heads": maps.n_heads, "file": "attentions.npy",
                      "n_values": int(maps.values.shape[0]), "dtype": np.dtype(maps.values.dtype).str}  # fmt: skip
    for name, table in tables.items():
        if table is not None:
            write_table(path / f"{name}.parquet", table)
    texts = activations.texts
    write_json(
        path / MANIFEST,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "status": "complete",
            "unit": activations.unit,
            "model": activations.model,
            "sites": sites,
            "attentions": attentions,
            "n_tokens": len(activations.table),
            "n_texts": len(texts) if texts is not None else 0,
            **{name: int(getattr(activations, name)) for name in _DROPPED},
        },
    )


def _write_or_full(file: _ArrayFile, index: tuple[int, ...], values: np.ndarray) -> None:
    try:
        file.write(index, values)
    except OSError as error:
        if error.errno in _FULL:
            raise disk_full(file.path, values.nbytes, _SAVE_ADVICE) from None
        raise
