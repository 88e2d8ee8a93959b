"""Models a reproduction trains itself (a sentiment head, a QA head), cached by what they were trained on.

A trained model lives in ``<root>/<name>-<digest>/``: ``model/`` (``save_pretrained``:
safetensors weights, config, tokenizer) and ``record.json`` (the spec it was trained from
and figures of the run), written last. The digest is a hash of the spec (base model and
revision, data, sizes, hyperparameters, seed), so a changed setting trains a new model and
an unchanged one is reused. A folder without its record (a run that stopped while saving)
counts as absent; training resumes from its checkpoints, which live in the same folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    """``spec`` as it reads back from JSON (tuples become lists, paths strings)."""
    return json.loads(json.dumps(dict(spec), sort_keys=True, default=str))


class TrainedModelCache:
    """One trained model's folder, keyed by its spec.

    Parameters
    ----------
    name : str
        Readable prefix of the folder (``"chefer-all-minilm-l6-v2-sst2"``); slugged.
    spec : mapping
        Everything the model was trained from; JSON-serialisable (other values are
        stringified). Two specs give the same folder exactly when they are equal.
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
        return lensnb.load_model(self.model_folder, **load_options), record

    def save(self, model: lensnb.LensModel, **figures: Any) -> None:
        """Save ``model`` (weights, config, tokenizer), then the record with ``figures``."""
        model.model.save_pretrained(self.model_folder)
        model.tokenizer.save_pretrained(self.model_folder)
        write_json(self.folder / "record.json", {"spec": self.spec, **_plain(figures)})  # atomically, last
