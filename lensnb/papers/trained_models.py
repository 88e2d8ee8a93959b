"""Models a reproduction trains itself (a sentiment head, a QA head), cached by what they were trained on.

A trained model lives in ``<root>/<name>-<digest>/``: ``model/`` (``save_pretrained``:
safetensors weights, config, tokenizer) and ``record.json`` (the spec it was trained from
and figures of the run), written last. The digest is a hash of the spec (base model, a
digest of its weights, data, sizes, hyperparameters, seed), so a changed setting trains a
new model and an unchanged one is reused. A folder without its record (a run that stopped
while saving) counts as absent, and so does one whose model no longer loads; training
resumes from its checkpoints, which live in the same folder. Saving removes the record
first and swaps the new model folder in by renaming, so a save killed at any point
leaves an entry that counts as absent, never a record over half-written weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import lensnb
from lensnb.errors import LensError
from lensnb.store import write_json

__all__ = ["DEFAULT_ROOT", "TrainedModelCache"]

#: Where trained models go unless a reproduction is told otherwise.
DEFAULT_ROOT = Path.home() / ".cache" / "lensnb" / "heads"


def _slug(text: str, longest: int = 64) -> str:
    """Lower-case letters, digits and dashes; a long name keeps its start and its end."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"
    return slug if len(slug) <= longest else f"{slug[:20]}--{slug[-(longest - 22) :]}"


def _plain(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` as it reads back from JSON: one exact form per value, so equal specs give one key.

    Tuples become lists, paths strings, numpy scalars Python numbers, numpy arrays a
    digest of their dtype, shape and bytes, sets sorted lists. Anything else JSON cannot
    hold exactly is refused (its printed form could truncate or reorder it).
    """
    return json.loads(json.dumps(_canonical(dict(spec), "spec"), sort_keys=True))


def _canonical(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise LensError.bad_argument(where, value, "arrays of numbers or strings (not objects) in a spec")
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return {"array": f"{value.dtype.str}{list(value.shape)}:{digest}"}
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise LensError.bad_argument(where, value, "a mapping with string keys")
        return {key: _canonical(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [_canonical(item, f"{where} item") for item in value]
        try:
            return sorted(items)
        except TypeError:
            raise LensError.bad_argument(where, value, "a set of comparable values (strings, numbers)") from None
    if isinstance(value, (list, tuple)):
        return [_canonical(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise LensError.bad_argument(
        where, value, "JSON values (str, numbers, bools, None, lists, mappings), paths or numpy arrays"
    )


class TrainedModelCache:
    """One trained model's folder, keyed by its spec.

    Parameters
    ----------
    name : str
        Readable prefix of the folder (``"chefer-all-minilm-l6-v2-sst2"``); slugged.
    spec : mapping
        Everything the model was trained from: JSON values, paths, numpy scalars and
        arrays (by digest), sets; anything else is refused. Two specs give the same
        folder exactly when they are equal.
    root : path, optional
        Default :data:`DEFAULT_ROOT` (``~/.cache/lensnb/heads``).
    """

    def __init__(self, name: str, spec: Mapping[str, Any], root: str | Path | None = None):
        if not isinstance(name, str) or not name.strip():
            raise LensError.bad_argument("name", name, "a non-empty string naming the model")
        if not isinstance(spec, Mapping) or not spec:
            raise LensError.bad_argument("spec", spec, "a non-empty mapping of what the model is trained from")
        self.spec = _plain(spec)
        digest = hashlib.sha1(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()[:12]
        self.folder = Path(root if root is not None else DEFAULT_ROOT) / f"{_slug(name)}-{digest}"

    @property
    def model_folder(self) -> Path:
        return self.folder / "model"

    def checkpoint(self, part: str) -> Path:
        """Folder for the resumable checkpoints of one training stage."""
        return self.folder / f"checkpoint-{_slug(part)}"

    def load(self, **load_options: Any) -> tuple[lensnb.LensModel, dict[str, Any]] | None:
        """The saved model and its record, or None when this spec was never trained to the end."""
        record_path = self.folder / "record.json"
        if not record_path.is_file() or not (self.model_folder / "config.json").is_file():
            return None
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None  # unreadable: trained again, and the record rewritten
        if not isinstance(record, dict) or record.get("spec") != self.spec:
            return None
        try:
            return lensnb.load_model(self.model_folder, **load_options), record
        except (LensError, OSError):  # weights damaged after the record was written: trained again
            return None

    def save(self, model: lensnb.LensModel, **figures: Any) -> None:
        """Save ``model`` (weights, config, tokenizer), then the record with ``figures``.

        The old record goes first, the model is written to a fresh folder and renamed
        into place, and the new record is written (atomically) last.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "record.json").unlink(missing_ok=True)  # from here the entry counts as absent
        fresh = self.folder / f".model.saving-{uuid.uuid4().hex}"
        model.model.save_pretrained(fresh)
        model.tokenizer.save_pretrained(fresh)
        if self.model_folder.exists():
            old = self.folder / f".model.old-{uuid.uuid4().hex}"
            os.replace(self.model_folder, old)
            os.replace(fresh, self.model_folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(fresh, self.model_folder)
        write_json(self.folder / "record.json", {"spec": self.spec, **_plain(figures)})  # atomically, last
