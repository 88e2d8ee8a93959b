"""The benchmarks are not run by the test suite (they time things), but what they import from lensnb must exist:
a helper renamed in the package left bench_extract.py failing at its first line."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def _lensnb_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from lensnb... import name`` in ``path``, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lensnb"
        for alias in node.names
    ]


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_what_each_benchmark_imports_from_lensnb_exists(path):
    missing = []
    for module, name in _lensnb_imports(path):
        found = importlib.import_module(module)
        if not hasattr(found, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{module}.{name}")
    assert not missing, f"{path.name} imports names lensnb does not have: {missing}"


def test_the_benchmarks_are_found():
    assert {"bench_extract.py", "bench_geometry.py", "bench_relevance.py"} <= {p.name for p in BENCHMARKS}
