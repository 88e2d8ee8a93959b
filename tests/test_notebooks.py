"""The notebooks in notebooks/ named 0*.ipynb run from top to bottom without an error.

Each one is executed with nbclient in a fresh python3 kernel, offline and in quick mode
(LENSNB_QUICK=1); the notebooks' own ``assert`` cells check what they showed. The files on
disk must carry no outputs or execution counts, so that they are committed clean.
"""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("0*.ipynb"))

pytestmark = pytest.mark.notebook


def test_there_are_notebooks():
    assert PATHS, f"no notebook matching 0*.ipynb in {NOTEBOOKS}"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_is_committed_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    dirty = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"


@pytest.fixture
def kernel_env(monkeypatch):
    """Offline and in quick mode (the kernel inherits this process's environment)."""
    monkeypatch.setenv("LENSNB_QUICK", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs(path: Path, kernel_env):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: {[(e.get('ename'), e.get('evalue')) for e in errors]}"
    executed = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") is not None for cell in executed), "some cells did not run"
