"""The dataset downloader, on local file:// addresses: layouts, archives, resumption, refusals."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

import lensnb
from lensnb.data.download import DATASETS, Dataset, Source, download, main


def registry(tmp_path, **extra):
    served = tmp_path / "served"
    served.mkdir()
    (served / "a.txt").write_text("plain\n")
    with gzip.open(served / "b.txt.gz", "wt") as handle:
        handle.write("gzipped\n")
    with zipfile.ZipFile(served / "c.zip", "w") as archive:
        archive.writestr("SST-2/train.tsv", "sentence\tlabel\nfine\t1\n")
    with tarfile.open(served / "d.tar.gz", "w:gz") as archive:
        data = b"review\n"
        info = tarfile.TarInfo("movies/docs/neg_000.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    url = served.as_uri()
    sets = {
        "plain": Dataset(
            "plain", "", "", (Source(f"{url}/a.txt", "a.txt"), Source(f"{url}/b.txt.gz", "sub/b.txt", "gunzip"))
        ),
        "zipped": Dataset("zipped", "", "", (Source(f"{url}/c.zip", ".", "zip"),)),
        "tarred": Dataset("tarred", "", "", (Source(f"{url}/d.tar.gz", ".", "tar"),)),
    }
    sets.update(extra)
    return sets, served


def test_files_and_archives_land_in_their_official_layout(tmp_path):
    sets, _ = registry(tmp_path)
    root = download(None, tmp_path / "data", datasets=sets, progress=False)
    assert (root / "plain" / "a.txt").read_text() == "plain\n"
    assert (root / "plain" / "sub" / "b.txt").read_text() == "gzipped\n"
    assert (root / "zipped" / "SST-2" / "train.tsv").read_text().startswith("sentence")
    assert (root / "tarred" / "movies" / "docs" / "neg_000.txt").read_text() == "review\n"
    leftovers = [
        p.name for p in root.rglob("*") if p.name.startswith((".download-", ".unpack-")) or p.suffix == ".part"
    ]
    assert leftovers == []


def test_what_is_there_is_kept_unless_forced(tmp_path):
    sets, served = registry(tmp_path)
    root = download(["plain"], tmp_path / "data", datasets=sets, progress=False)
    (served / "a.txt").write_text("changed\n")
    download(["plain"], root, datasets=sets, progress=False)
    assert (root / "plain" / "a.txt").read_text() == "plain\n"
    download(["plain"], root, datasets=sets, progress=False, force=True)
    assert (root / "plain" / "a.txt").read_text() == "changed\n"


def test_archives_cannot_write_outside_their_folder(tmp_path):
    served = tmp_path / "evil"
    served.mkdir()
    with zipfile.ZipFile(served / "evil.zip", "w") as archive:
        archive.writestr("../../escaped.txt", "x")
    with tarfile.open(served / "link.tar", "w") as archive:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(info)
    sets = {"evil": Dataset("evil", "", "", (Source((served / "evil.zip").as_uri(), ".", "zip"),)),
            "link": Dataset("link", "", "", (Source((served / "link.tar").as_uri(), ".", "tar"),))}  # fmt: skip
    with pytest.raises(lensnb.LensError, match="outside"):
        download(["evil"], tmp_path / "data", datasets=sets, progress=False)
    with pytest.raises(lensnb.LensError, match="link or device"):
        download(["link"], tmp_path / "data", datasets=sets, progress=False)
    assert not (tmp_path / "escaped.txt").exists()


def test_unknown_names_and_unreachable_addresses_are_named(tmp_path, capsys):
    sets, _ = registry(tmp_path, gone=Dataset("gone", "", "", (Source((tmp_path / "nope.txt").as_uri(), "x"),)))
    with pytest.raises(
        lensnb.LensError, match="names: expected a dataset name or a sequence of names.*received list \\[.nonsense.\\]"
    ):
        download(["nonsense"], tmp_path / "data", datasets=sets)
    with pytest.raises(lensnb.LensError, match="nope.txt could not be fetched"):
        download(["gone"], tmp_path / "data", datasets=sets, progress=False)
    assert not (tmp_path / "data" / "gone" / "x").exists()
    assert main(["--list"]) == 0 and "ud_english_ewt" in capsys.readouterr().out


def test_the_registry_covers_the_datasets_of_the_notebooks():
    assert {"ud_english_ewt", "conll2000", "conll2003", "ptb_sample_nltk", "semeval2010_task8", "gap", "wsc273",
            "squad_v1.1", "hotpotqa", "babi", "sst2", "eraser_movies", "agreement_linzen_gulordava",
            "senteval_probing"} <= set(DATASETS)  # fmt: skip
    assert all(s.url.startswith(("https://", "http://")) for d in DATASETS.values() for s in d.sources)


# the sources whose served file is known byte for byte (the team's data/SOURCES.md): checksummed, and on
# GitHub pinned to the commit the local copies were taken from (audit s27 F3)
CHECKSUMMED = {
    "gap": ("gap-development.tsv", "gap-test.tsv", "gap-validation.tsv"),
    "squad_v1.1": ("dev-v1.1.json",),
    "agreement_linzen_gulordava": tuple(
        f"{stem}.{ext}"
        for stem in ("linzen_testset__subj_agr_filtered", "agreement__English__generated")
        for ext in ("text", "gold", "eval")
    ),
}


def test_sources_known_byte_for_byte_carry_a_checksum_and_a_pinned_address():
    for name, targets in CHECKSUMMED.items():
        sources = {s.target: s for s in DATASETS[name].sources}
        assert set(sources) == set(targets)
        for source in sources.values():
            assert source.sha256 is not None and source.size is not None, source
            if source.url.startswith("https://raw.githubusercontent.com/"):
                commit = source.url.split("/")[5]
                assert re.fullmatch(r"[0-9a-f]{40}", commit), source.url
    others = [s for n, d in DATASETS.items() if n not in CHECKSUMMED for s in d.sources]
    assert all(s.sha256 is None and s.size is None for s in others)


def test_the_checksums_match_the_teams_copies():
    data = os.environ.get("LENSNB_DATA")
    if not data or not Path(data, "gap", "gap-test.tsv").is_file():
        pytest.skip("LENSNB_DATA does not hold the team's copies")
    for name in CHECKSUMMED:
        for source in DATASETS[name].sources:
            local = Path(data, name, source.target).read_bytes()
            assert (hashlib.sha256(local).hexdigest(), len(local)) == (source.sha256, source.size), source.url
