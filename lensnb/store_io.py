"""Between :class:`~lensnb.activations.Activations` and the store folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lensnb.activations import Activations, AttentionMaps
from lensnb.errors import LensError
from lensnb.store import FORMAT, FORMAT_VERSION, MANIFEST, _ArrayFile, read_store, write_json, write_table

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


def save_activations(activations: Activations, path: Path, overwrite: bool = False) -> Path:
    """Write ``activations`` to a new store folder at ``path``, atomically finished."""
    if path.exists() and any(path.iterdir()):
        if not overwrite or not (path / MANIFEST).is_file():
            raise LensError.bad_argument(
                "path", str(path), "a new or empty folder" + ("" if (path / MANIFEST).is_file() else " (it holds other files)"),
                "Pass overwrite=True to replace a lensnb store." if (path / MANIFEST).is_file() else "",
            )  # fmt: skip
        for entry in path.iterdir():
            if entry.name == MANIFEST or entry.suffix in (".npy", ".parquet"):
                entry.unlink()
    path.mkdir(parents=True, exist_ok=True)
    sites = {}
    for site, array in activations.arrays.items():
        dtype = np.dtype(array.dtype)
        file = _ArrayFile(path / f"{site}.npy", array.shape, dtype, create=True)
        try:
            for position in range(array.shape[0]):
                file.write((position, 0, 0), np.asarray(array[position]))
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
        file = _ArrayFile(path / "attentions.npy", maps.values.shape, maps.values.dtype, create=True)
        try:
            file.write((0,), np.asarray(maps.values))
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
    return path
