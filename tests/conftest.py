"""Shared fixtures: tiny random models of the four families, built once per session."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from lensnb.testing import TINY_FAMILIES, build_tiny_model  # noqa: E402

FAMILIES = TINY_FAMILIES


def data_dir() -> Path:
    """The shared public datasets (LENSNB_DATA, else ../shared/data beside the repo)."""
    return Path(os.environ.get("LENSNB_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def require_data(relative: str) -> Path:
    """A file of the shared datasets; skipped on a user's machine without them, a failure in CI."""
    path = data_dir() / relative
    if not path.exists():
        message = f"{path} is missing: set LENSNB_DATA to the folder of the public datasets"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def tiny_paths(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {family: build_tiny_model(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny_models(tiny_paths):
    import lensnb

    return {family: lensnb.load_model(path) for family, path in tiny_paths.items()}


@pytest.fixture(params=FAMILIES)
def family(request) -> str:
    return request.param


@pytest.fixture
def tiny(tiny_models, family):
    return tiny_models[family]


@pytest.fixture(scope="session")
def minilm():
    import lensnb

    return lensnb.load_model()


@pytest.fixture(autouse=True)
def _no_swallowed_errors(caplog):
    """Fail a test when a handler logged an exception instead of raising it."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and r.exc_info]
    assert not errors, f"errors were logged: {[r.getMessage() for r in errors]}"


@pytest.fixture
def optimiser_spy(monkeypatch):
    """Records the keyword arguments of every torch Adam made and the norm of every gradient clip:
    ``spy.made`` (list of dict) and ``spy.clipped`` (list of float)."""
    import types

    import torch

    spy = types.SimpleNamespace(made=[], clipped=[])

    class RecordingAdam(torch.optim.Adam):
        def __init__(self, parameters, **kwargs):
            spy.made.append(kwargs)
            super().__init__(parameters, **kwargs)

    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    monkeypatch.setattr(
        torch.nn.utils, "clip_grad_norm_", lambda p, norm, **k: spy.clipped.append(norm) or clip(p, norm)
    )
    return spy
