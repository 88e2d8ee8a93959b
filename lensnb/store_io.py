"""Between :class:`~lensnb.activations.Activations` and the store folder."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from lensnb.activations import Activations, AttentionMaps
from lensnb.errors import LensError
from lensnb.store import (
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
from lensnb.store_lock import StoreLock

__all__ = ["load_activations", "save_activations", "activations_from_store"]


def activations_from_store(path: Path, manifest: dict, arrays: dict, tables: dict, attentions) -> Activations:
    """Build :class:`Activations` from what :func:`lensnb.store.read_store` returned."""
    maps = None
    if attentions is not None:
        spec = manifest["attentions"]
        maps = AttentionMaps(attentions, tables["attention_index"], tuple(spec["layers"]), int(spec["n_heads"]))
    return Activations(
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
    needed = sum(int(a.nbytes) for a in activations.arrays.values())
    needed += int(activations.attentions.values.nbytes) if activations.attentions is not None else 0
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise LensError(
            f"path: saving needs {needed / 2**20:.1f} MiB for the arrays but only {free / 2**20:.1f} MiB are free "
            f"on the disk holding {path.parent}. {_SAVE_ADVICE}"
        )
    staging = _make_staging(path, "saving")
    try:
        _write_store(activations, staging)
        _check_loadable(staging, path)
        if replace:
            lock = StoreLock(path, "path")  # no extraction may be writing the store being replaced
            retired = _make_staging(path, "replaced")
            try:
                os.replace(path, retired / "store")
                os.replace(staging, path)
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


def _make_staging(path: Path, what: str) -> Path:
    """A new hidden folder beside ``path`` (its parent must let lensnb write)."""
    try:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.{what}-", dir=path.parent))
    except OSError as error:
        raise_write_error(path.parent, error, "path")


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
        },
    )


def _write_or_full(file: _ArrayFile, index: tuple[int, ...], values: np.ndarray) -> None:
    try:
        file.write(index, values)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise disk_full(file.path, values.nbytes, _SAVE_ADVICE) from None
        raise
