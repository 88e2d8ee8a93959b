"""Where the reproductions find their data and models (audit s27 F4, F5): folders that only look
present, and model snapshots that cannot be loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

import lensnb
import lensnb.papers as papers
from lensnb.papers import run_settings, settings
from lensnb.papers.__main__ import main as papers_main

# --- data folders (F5) -----------------------------------------------------------------


def test_a_folder_holding_only_temporaries_falls_through_to_the_next_root(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    (first / "squad_v1.1").mkdir(parents=True)
    (first / "squad_v1.1" / ".download-12345-0123abcd").write_bytes(b"partial")  # a killed run's
    (second / "squad_v1.1").mkdir(parents=True)
    (second / "squad_v1.1" / "dev-v1.1.json").write_text("{}")
    found = settings.RunSettings(data_dirs=(first, second)).data_file("squad_v1.1/dev-v1.1.json", "squad_v1.1")
    assert found == second / "squad_v1.1" / "dev-v1.1.json"
    found = settings.RunSettings(data_dirs=(first, second)).data_file("squad_v1.1")
    assert found == second / "squad_v1.1"


@pytest.mark.parametrize(
    ("candidate", "inside"),
    [
        ("squad_v1.1", [".download-1-0123abcd"]),
        ("eraser_movies", [".unpack-1-0123abcd/movies/val.jsonl"]),
        ("eraser_movies", ["movies_readme.txt"]),  # not the reader's files
        ("gap", []),
        ("ptb_sample_nltk/treebank", []),  # no sentinel: an empty folder
        ("ptb_sample_nltk/treebank", [".record-1-0123abcd"]),
    ],
)
def test_an_empty_or_incomplete_folder_gives_the_download_hint(tmp_path, candidate, inside):
    folder = tmp_path / candidate
    folder.mkdir(parents=True)
    for relative in inside:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text("x")
    with pytest.raises(lensnb.LensError, match="Download the datasets with `python -m lensnb.data.download`"):
        settings.RunSettings(data_dirs=(tmp_path,)).data_file(candidate)


@pytest.mark.parametrize(
    ("candidate", "inside"),
    [
        ("eraser_movies", ["val.jsonl"]),
        ("eraser_movies/movies", ["train.jsonl"]),
        ("semeval2010_task8", ["TRAIN_FILE.TXT"]),
        ("semeval2010_task8", ["SemEval2010_task8_all_data/SemEval2010_task8_testing_keys/TEST_FILE_FULL.TXT"]),
        ("agreement_linzen_gulordava", ["linzen_testset__subj_agr_filtered.text"]),
        ("ptb_sample_nltk/treebank", ["combined/wsj_0001.mrg"]),
        ("wsc273", ["WSCollection.xml"]),
    ],
)
def test_a_folder_holding_the_readers_files_is_found(tmp_path, candidate, inside):
    for relative in inside:
        (tmp_path / candidate / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / candidate / relative).write_text("x")
    assert settings.RunSettings(data_dirs=(tmp_path,)).data_file(candidate) == tmp_path / candidate


def test_the_teams_data_folder_is_still_found_whole():
    folder = run_settings().data_dirs[0]
    if not (folder / "squad_v1.1" / "dev-v1.1.json").is_file():
        pytest.skip("LENSNB_DATA does not hold the team's copies")
    found = run_settings()
    for candidates in (("squad_v1.1",), ("eraser_movies/movies", "eraser_movies"), ("semeval2010_task8",), ("gap",),
                       ("wsc273",), ("agreement_linzen_gulordava",)):  # fmt: skip
        assert found.data_file(*candidates).parent == folder


# --- models (F4) -----------------------------------------------------------------------


def _fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A stand-in for huggingface_hub.snapshot_download: 'good/model' has safetensors weights,
    'bin-only/model' only pytorch_model.bin, 'gone/model' cannot be fetched."""
    import huggingface_hub

    folders = {}

    def snapshot_download(name: str, **options: object) -> str:
        if name == "gone/model":
            raise OSError("the hub cannot be reached")
        folder = tmp_path / "hub" / name.replace("/", "--")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text("{}")
        (folder / ("model.safetensors" if name == "good/model" else "pytorch_model.bin")).write_bytes(b"w")
        folders[name] = folder
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(
        papers, "paper_models", lambda names=None: {"p": ["good/model", "bin-only/model", "gone/model"]}
    )
    return folders


def test_download_models_reports_a_snapshot_without_safetensors_as_not_usable(tmp_path, monkeypatch, capsys):
    _fake_hub(tmp_path, monkeypatch)
    assert papers.download_models() == ["bin-only/model", "gone/model"]
    error = capsys.readouterr().err
    assert "fetched good/model\n" in error
    assert "fetched bin-only/model but it is not usable" in error and "no *.safetensors weights" in error
    assert "fetched bin-only/model\n" not in error
    assert "could not fetch gone/model" in error
    assert "2 of 3 models could not be fetched or are not usable: bin-only/model, gone/model" in error
    assert papers_main(["--download-models"]) == 1


def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hugging Face cache in tmp_path holding 'lensnb-tests/no-weights' with a config and no weights."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--lensnb-tests--no-weights"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text('{"model_type": "bert"}')
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(settings, "hub_reachable", lambda *a, **k: False)


def test_the_fallback_note_tells_a_missing_model_from_one_without_safetensors(tmp_path, monkeypatch):
    _cache(tmp_path, monkeypatch)
    assert settings.cached_snapshot("lensnb-tests/absent") is None
    snapshot = settings.cached_snapshot("lensnb-tests/no-weights")
    assert snapshot is not None and not settings.has_safetensors(snapshot)
    absent = settings.choose_model("auto", "lensnb-tests/absent")
    assert not absent.is_paper_model and "lensnb-tests/absent is not in the local cache" in absent.note
    cached = settings.choose_model("auto", "lensnb-tests/no-weights")
    assert not cached.is_paper_model
    assert "lensnb-tests/no-weights is cached, but without safetensors weights" in cached.note
    assert "not in the local cache" not in cached.note
