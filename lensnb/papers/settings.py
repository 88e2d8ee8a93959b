"""How a reproduction runs: quick or full, where the data are, which model.

- **Quick mode** (``quick=True``, or the environment variable ``LENSNB_QUICK=1`` that
  the tests and CI set) shrinks every dataset so that a notebook runs in a few minutes
  on 2 CPU cores; full mode uses the sizes the notebooks state.
- **Data** are read from ``data_dir`` (argument), else ``LENSNB_DATA``, else the folder
  ``python -m lensnb.data.download`` fills (``~/.cache/lensnb/data``, or
  ``LENSNB_DOWNLOADS``), each dataset in the layout of its official download. A dataset's
  folder counts only when it holds the reader's files (:data:`DATA_SENTINELS`): an empty
  one, or one a killed download left, is passed over.
- **Model**: ``"auto"`` takes the paper's own model when the Hugging Face hub can be
  reached (Binder, a workstation) and falls back to the embedded all-MiniLM-L6-v2
  otherwise, saying why (not in the local cache, or cached without the safetensors
  weights lensnb loads); ``"embedded"`` always takes the embedded model; any other
  string is a hub name or a local folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lensnb
from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.geometry.inputs import check_seed
from lensnb.hub import hub_reachable

__all__ = [
    "RunSettings",
    "run_settings",
    "download_dir",
    "DATA_SENTINELS",
    "ModelChoice",
    "choose_model",
    "cached_snapshot",
    "has_safetensors",
]


def download_dir() -> Path:
    """Where ``python -m lensnb.data.download`` puts datasets: ``LENSNB_DOWNLOADS`` or ~/.cache/lensnb/data."""
    return Path(os.environ.get("LENSNB_DOWNLOADS") or Path.home() / ".cache" / "lensnb" / "data")


@dataclass(frozen=True)
class RunSettings:
    """Settings shared by every step of a reproduction.

    Attributes
    ----------
    quick : bool
        Shrink the data (tests, CI, a first look).
    data_dirs : tuple of Path
        Folders searched for datasets, in order.
    seed : int
    progress : bool
    """

    quick: bool = False
    data_dirs: tuple[Path, ...] = field(default_factory=tuple)
    seed: int = 0
    progress: bool = True

    def size(self, full: int, quick: int) -> int:
        """``quick`` in quick mode, else ``full``."""
        return quick if self.quick else full

    def data_file(self, *candidates: str) -> Path:
        """The first of ``candidates`` (paths relative to a data folder) that exists in a data folder.

        A folder counts only when it holds what the reader needs: for the datasets'
        folders of :data:`DATA_SENTINELS`, one of the files listed there; for any other,
        at least one entry whose name does not start with a dot. An empty folder, or one
        holding only a killed download's temporaries, is passed over (the search goes on
        in the next data folder).

        Raises
        ------
        LensError
            Naming the files looked for, the folders searched and how to get them.
        """
        for root in self.data_dirs:
            for relative in candidates:
                path = root / relative
                if _usable(path):
                    return path
        searched = ", ".join(str(d) for d in self.data_dirs) or "(no folder: LENSNB_DATA is not set)"
        raise LensError(
            f"data: none of {list(candidates)} was found in {searched}. Download the datasets with "
            "`python -m lensnb.data.download` (or point LENSNB_DATA at a folder that has them)."
        )

    def describe(self) -> dict[str, Any]:
        return {"quick": self.quick, "seed": self.seed, "data_dirs": [str(d) for d in self.data_dirs]}


#: For a folder candidate of :meth:`RunSettings.data_file`, by its name: glob patterns (relative to it) of
#: which one must match a file for the folder to count as found.
DATA_SENTINELS: dict[str, tuple[str, ...]] = {
    "squad_v1.1": ("dev-v1.1.json", "train-v1.1.json"),
    "eraser_movies": ("val.jsonl", "train.jsonl", "test.jsonl"),
    "movies": ("val.jsonl", "train.jsonl", "test.jsonl"),
    "semeval2010_task8": ("TRAIN_FILE.TXT", "TEST_FILE_FULL.TXT", "SemEval2010_task8_training/TRAIN_FILE.TXT",
                          "SemEval2010_task8_testing_keys/TEST_FILE_FULL.TXT",
                          "SemEval2010_task8_all_data/SemEval2010_task8_training/TRAIN_FILE.TXT",
                          "SemEval2010_task8_all_data/SemEval2010_task8_testing_keys/TEST_FILE_FULL.TXT"),
    "SemEval2010_task8_all_data": ("SemEval2010_task8_training/TRAIN_FILE.TXT",
                                   "SemEval2010_task8_testing_keys/TEST_FILE_FULL.TXT"),
    "gap": ("gap-development.tsv", "gap-test.tsv", "gap-validation.tsv"),
    "wsc273": ("WSCollection.xml",),
    "agreement_linzen_gulordava": ("*subj_agr_filtered.text",),
    "linzen_testset": ("*subj_agr_filtered.text",),
}  # fmt: skip


def _usable(path: Path) -> bool:
    """Whether ``path`` is a file, or a folder holding what a reader needs (see :meth:`RunSettings.data_file`)."""
    if not path.is_dir():
        return path.exists()
    sentinels = DATA_SENTINELS.get(path.name)
    try:
        if sentinels is not None:
            return any(match.is_file() for pattern in sentinels for match in path.glob(pattern))
        return any(not entry.name.startswith(".") for entry in path.iterdir())
    except OSError:  # unreadable: not usable
        return False


def check_instance(value: Any, kind: type | tuple[type, ...], name: str, expected: str) -> Any:
    """``value`` if it is a ``kind``; otherwise a LensError naming ``name`` and what was ``expected``."""
    if not isinstance(value, kind):
        raise LensError.bad_argument(name, value, expected)
    return value


@checks_flags
def run_settings(
    *, quick: bool | None = None, data_dir: str | os.PathLike | None = None, seed: int = 0, progress: bool = True
) -> RunSettings:
    """Settings from the arguments, falling back on ``LENSNB_QUICK`` and ``LENSNB_DATA``."""
    if quick is None:
        quick = os.environ.get("LENSNB_QUICK", "") == "1"
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir))
    if os.environ.get("LENSNB_DATA"):
        dirs.append(Path(os.environ["LENSNB_DATA"]))
    dirs.append(download_dir())
    seed = check_seed(seed)
    return RunSettings(bool(quick), tuple(dict.fromkeys(dirs)), seed, bool(progress))


@dataclass(frozen=True)
class ModelChoice:
    """A loaded model and why it is the one used."""

    model: lensnb.LensModel
    is_paper_model: bool
    note: str

    @property
    def name(self) -> str:
        return self.model.name


def choose_model(
    choice: str | None, paper_model: str, *, embedded_options: dict[str, Any] | None = None, **load_options: Any
) -> ModelChoice:
    """The model a reproduction runs on.

    Parameters
    ----------
    choice : {"auto", "embedded"} or str, optional
        "auto" (the default when None): ``paper_model`` if it can be loaded (downloaded
        or cached), else the embedded all-MiniLM-L6-v2; "embedded"; or a hub name or folder.
    paper_model : str
        The hub name of the paper's model.
    embedded_options : dict, optional
        Options that replace ``load_options`` for the embedded model (an encoder: e.g.
        ``{"task": "masked-lm"}`` where the paper's decoder is loaded as a causal LM).
    **load_options
        For :func:`lensnb.load_model` (``task``, ``num_labels``...).
    """
    embedded = {**load_options, **(embedded_options or {})}
    choice = "auto" if choice is None else choice
    if not isinstance(choice, str) or not choice:
        raise LensError.bad_argument("model", choice, "'auto', 'embedded', or a model name or folder")
    if choice == "embedded":
        return ModelChoice(lensnb.load_model(**embedded), False, "the embedded all-MiniLM-L6-v2 (chosen)")
    if choice == "auto":
        try:
            try:  # a copy already in the Hugging Face cache: no network at all
                model = lensnb.load_model(paper_model, local_files_only=True, **load_options)
            except (LensError, OSError) as local_error:
                if not hub_reachable():  # offline: say so at once instead of retrying for half a minute
                    raise LensError(f"the Hugging Face hub cannot be reached from here and {paper_model} is "
                                    f"{_cache_state(paper_model, local_error)}") from None  # fmt: skip
                model = lensnb.load_model(paper_model, **load_options)
        except (LensError, OSError) as error:
            reason = str(error).split(". ")[0]
            return ModelChoice(
                lensnb.load_model(**embedded), False,
                f"the embedded all-MiniLM-L6-v2: the paper's {paper_model} could not be loaded ({reason})",
            )  # fmt: skip
        return ModelChoice(model, True, f"the paper's own model, {paper_model}")
    model = lensnb.load_model(choice, **load_options)
    return ModelChoice(model, choice == paper_model, f"{choice} (chosen)")


def cached_snapshot(name: str) -> Path | None:
    """The folder of the hub model ``name``'s snapshot in the local Hugging Face cache; None when not cached."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, or no hub library: the hub raises many types
        return None


def has_safetensors(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` (a model snapshot) holds ``*.safetensors`` weights, the only ones lensnb loads."""
    return any(path.is_file() for path in Path(folder).rglob("*.safetensors"))  # a dangling link is not


def _cache_state(name: str, error: Exception) -> str:
    """How the local cache holds ``name``, for the note of a model that could not be loaded from it."""
    snapshot = cached_snapshot(name)
    if snapshot is None:
        return "not in the local cache"
    if not has_safetensors(snapshot):
        return (
            f"cached, but without safetensors weights (lensnb loads only *.safetensors; {snapshot} has none): "
            "run `python -m lensnb.papers --download-models` where the hub can be reached"
        )
    return f"cached but could not be loaded from the cache ({str(error).split('. ')[0]})"
