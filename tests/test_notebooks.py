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

from lensnb.papers.settings import download_dir
from tests.conftest import data_dir, require_data

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("0*.ipynb"))
#: The public datasets each paper notebook reads (the tour needs none); without them the
#: notebook is skipped on a user's machine and fails in CI, like every data-reading test.
DATASETS = {
    "01_van_aken_bert_qa.ipynb": ("squad_v1.1", "conll2003", "gap", "semeval2010_task8"),
    "02_jawahar_structure.ipynb": ("conll2000", "ptb_sample_nltk", "ud_english_ewt", "agreement_linzen_gulordava"),
    "03_tenney_edge_probing.ipynb": (
        "ud_english_ewt", "ptb_sample_nltk", "conll2003", "semeval2010_task8", "gap", "wsc273",
    ),
    "04_brown_dissimilarity.ipynb": ("ud_english_ewt", "sst2"),
    "05_valeriani_geometry.ipynb": ("semeval2010_task8",),
    "06_chefer_lrp.ipynb": ("eraser_movies", "sst2"),
    "07_skean_layer_by_layer.ipynb": ("ud_english_ewt", "sst2", "semeval2010_task8"),
}  # fmt: skip

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
    if data_dir().is_dir():  # the datasets the tests read (../shared/data by default), for the kernel too
        monkeypatch.setenv("LENSNB_DATA", str(data_dir()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_every_paper_notebook_lists_its_datasets():
    assert set(DATASETS) == {p.name for p in PATHS if not p.name.startswith("00_")}


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs(path: Path, kernel_env):
    for dataset in DATASETS.get(path.name, ()):
        if not (download_dir() / dataset).exists():  # the notebooks also read `python -m lensnb.data.download`'s copy
            require_data(dataset)
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
