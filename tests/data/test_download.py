"""The dataset downloader, on local file:// addresses: layouts, archives, resumption, refusals."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

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
