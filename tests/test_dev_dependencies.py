"""What ./dev installs is what lensnb imports: every library the package imports is declared in pyproject.toml."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Imported by lensnb.widgets only, which ipywidgets (the widgets extra) declares and brings.
WIDGETS_BRING = {"IPython": "ipywidgets", "traitlets": "ipywidgets"}
#: Distributions of modules named otherwise, for a machine where they are not installed.
DISTRIBUTIONS = {"sklearn": ["scikit-learn"], "umap": ["umap-learn"], "skdim": ["scikit-dimension"]}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _declared() -> tuple[set[str], set[str]]:
    """The distributions pyproject.toml requires, and those its extras add."""
    project = _project()

    def names(requirements):
        return {_normal(re.match(r"[A-Za-z0-9_.\-]+", r).group()) for r in requirements}

    extras = set().union(*(names(group) for group in project["optional-dependencies"].values()))
    return names(project["dependencies"]), extras


def _imports(folder: Path) -> dict[str, set[str]]:
    """Top-level modules imported by the sources under ``folder`` (not the standard library's, not lensnb)."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "lensnb":
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_library_lensnb_imports_is_declared():
    required, extras = _declared()
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, where in _imports(REPO / "lensnb").items():
        names = {_normal(d) for d in distributions.get(module) or DISTRIBUTIONS.get(module, [module])}
        if module in WIDGETS_BRING and all("lensnb/widgets/" in w for w in where):
            names = {WIDGETS_BRING[module]}
        if not names & (required | extras):
            undeclared[module] = sorted(where)[:3]
    assert undeclared == {}, "imported by lensnb but not in pyproject.toml"


def test_scipy_is_a_requirement_not_only_scikit_learns():
    required, _ = _declared()
    assert "scipy" in required  # scipy.linalg, scipy.optimize, scipy.stats in the core (geometry, probing, papers)
    import scipy

    requirement = next(r for r in _project()["dependencies"] if _normal(r).startswith("scipy"))
    lower = re.search(r">=\s*([0-9.]+)", requirement).group(1)
    lower = tuple(map(int, lower.split(".")[:2]))
    assert lower >= (1, 9)  # spearmanr(...).statistic, which lensnb.papers reads
    assert tuple(map(int, scipy.__version__.split(".")[:2])) >= lower  # the venv's scipy meets it
