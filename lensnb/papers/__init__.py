"""Reproductions of seven papers, one module each, computing the paper's tables and figures from the core.

=================  ==================================================================
module             paper
=================  ==================================================================
``van_aken``       van Aken et al. 2019, How does BERT answer questions?
``jawahar``        Jawahar, Sagot & Seddah 2019, What does BERT learn about the
                   structure of language?
``tenney``         Tenney et al. 2019 (ICLR) and Tenney, Das & Pavlick 2019 (ACL):
                   edge probing, the classical NLP pipeline
``brown``          Brown et al. 2023, representation dissimilarity (CKA, stitching)
``valeriani``      Valeriani et al. 2023, the geometry of hidden representations
``chefer``         Chefer, Gur & Wolf 2021, transformer interpretability beyond attention
``skean``          Skean et al. 2025, Layer by layer
=================  ==================================================================

Each module has one function per step of its notebook, and ``reproduce(...)`` that runs
them all and returns a :class:`~lensnb.papers.report.PaperReport`. From a shell::

    python -m lensnb.papers valeriani --out reports/ [--quick] [--model auto|embedded|NAME]

writes ``reports/valeriani.json`` and ``reports/valeriani.html``. The modules use the
core only (never the widgets).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from lensnb.errors import LensError
from lensnb.papers.report import Claim, Curve, PaperReport
from lensnb.papers.settings import RunSettings, choose_model, run_settings

__all__ = [
    "PAPERS",
    "Claim",
    "Curve",
    "PaperReport",
    "RunSettings",
    "choose_model",
    "paper",
    "reproduce",
    "run_settings",
]

#: The papers, in the order of the notebooks (01 ... 07).
PAPERS = ("van_aken", "jawahar", "tenney", "brown", "valeriani", "chefer", "skean")


def paper(name: str) -> ModuleType:
    """The module of one paper."""
    if name not in PAPERS:
        raise LensError.bad_argument("paper", name, f"one of {PAPERS}")
    return importlib.import_module(f"lensnb.papers.{name}")


def reproduce(name: str, **options: Any) -> PaperReport:
    """Run one paper's whole reproduction (see each module's ``reproduce`` for the options)."""
    return paper(name).reproduce(**options)


def paper_models(names: list[str] | None = None) -> dict[str, list[str]]:
    """The Hugging Face models each paper's notebook uses when they can be downloaded."""
    found = {}
    for name in names or PAPERS:
        info = paper(name).PAPER
        found[name] = list(dict.fromkeys([info["model"], *info.get("extra_models", ())]))
    return found


def download_models(names: list[str] | None = None) -> list[str]:
    """Fetch the papers' models into the Hugging Face cache (weights as safetensors, config, tokenizer).

    Each snapshot is checked once fetched: one without ``*.safetensors`` weights (a model
    published only as pickled ``*.bin``, which lensnb never loads) is reported as not
    usable, and the notebooks then fall back to the embedded model.

    Parameters
    ----------
    names : list of str, optional
        Papers (of :data:`PAPERS`); default all.

    Returns
    -------
    list of str
        The models that could not be fetched or are not usable (each is reported on
        stderr, and a summary at the end).
    """
    import sys

    from huggingface_hub import snapshot_download

    from lensnb.papers.settings import has_safetensors

    failed = []
    models = sorted({m for ms in paper_models(names).values() for m in ms})
    for model in models:
        try:
            folder = snapshot_download(
                model, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*"]
            )
        except Exception as error:  # noqa: BLE001 - hub errors come in many types
            print(f"could not fetch {model}: {type(error).__name__}: {error}", file=sys.stderr)
            failed.append(model)
            continue
        if has_safetensors(folder):
            print(f"fetched {model}", file=sys.stderr)
        else:
            print(
                f"fetched {model} but it is not usable: its snapshot ({folder}) has no *.safetensors weights, "
                "and lensnb loads only those (never pickled *.bin); the notebooks will use the embedded model",
                file=sys.stderr,
            )
            failed.append(model)
    if failed:
        print(f"{len(failed)} of {len(models)} models could not be fetched or are not usable: {', '.join(failed)}",
              file=sys.stderr)  # fmt: skip
    return failed
