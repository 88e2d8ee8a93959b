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
