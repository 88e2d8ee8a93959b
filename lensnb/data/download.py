"""Downloading the public datasets the paper notebooks read, from their official places.

``python -m lensnb.data.download [names...] [--to FOLDER]`` fetches each dataset into
``FOLDER/<name>/`` (default ``LENSNB_DOWNLOADS`` or ``~/.cache/lensnb/data``, where
:func:`lensnb.papers.run_settings` looks), unpacks archives and skips what is already
there. Every file is written under a temporary name and renamed when complete, so an
interrupted download never leaves a truncated file behind; archive members are
checked so that none can write outside its folder. Licences differ from dataset to
dataset (listed in :data:`DATASETS`): check them before redistributing anything.

Layouts: each dataset keeps its official layout below ``FOLDER/<name>/`` (e.g.
``sst2/SST-2/train.tsv``, ``babi/tasks_1-20_v1-2/en-10k/``), which the readers of
:mod:`lensnb.data` accept.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lensnb.errors import LensError
from lensnb.flags import checks_flags

__all__ = ["Source", "Dataset", "DATASETS", "download", "main"]


@dataclass(frozen=True)
class Source:
    """One file to fetch.

    Attributes
    ----------
    url : str
    target : str
        Where it goes, relative to the dataset's folder: a file, or for archives the
        folder they are unpacked into.
    unpack : {None, "gunzip", "zip", "tar"}
    """

    url: str
    target: str
    unpack: str | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    licence: str
    sources: tuple[Source, ...]


def _ud(split: str) -> Source:
    return Source(f"https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.15/en_ewt-ud-{split}.conllu",
                  f"en_ewt-ud-{split}.conllu")  # fmt: skip


_SENTEVAL = ("sentence_length", "word_content", "tree_depth", "top_constituents", "bigram_shift", "past_present",
             "subj_number", "obj_number", "odd_man_out", "coordination_inversion")  # fmt: skip
_COLORLESS = "https://raw.githubusercontent.com/facebookresearch/colorlessgreenRNNs/main/data"

#: The datasets, by the folder name they get.
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("ud_english_ewt", "Universal Dependencies English Web Treebank r2.15", "CC BY-SA 4.0",
            tuple(_ud(s) for s in ("train", "dev", "test"))),
    Dataset("conll2000", "CoNLL-2000 chunking (official gzipped files)", "WSJ-derived, research use",
            (Source("https://www.clips.uantwerpen.be/conll2000/chunking/train.txt.gz", "conll2000/train.txt", "gunzip"),
             Source("https://www.clips.uantwerpen.be/conll2000/chunking/test.txt.gz", "conll2000/test.txt", "gunzip"))),
    Dataset("conll2003", "CoNLL-2003 English NER (the copy Hugging Face datasets uses)", "Reuters RCV1 research terms",
            (Source("https://data.deepai.org/conll2003.zip", "conll2003", "zip"),)),
    Dataset("ptb_sample_nltk", "Penn Treebank 10% sample from NLTK data (trees and dependencies)",
            "LDC excerpt, non-commercial", (
                Source("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/treebank.zip",
                       ".", "zip"),
                Source("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/"
                       "dependency_treebank.zip", ".", "zip"))),
    Dataset("semeval2010_task8", "SemEval-2010 Task 8 relations (the public mirror of the official release)",
            "CC BY 3.0", tuple(
                Source(f"https://raw.githubusercontent.com/unik00/textCNN-pytorch/master/data/"
                       f"SemEval2010_task8_all_data/{path}", name)
                for path, name in (("SemEval2010_task8_training/TRAIN_FILE.TXT", "TRAIN_FILE.TXT"),
                                   ("SemEval2010_task8_testing_keys/TEST_FILE_FULL.TXT", "TEST_FILE_FULL.TXT"),
                                   ("SemEval2010_task8_testing_keys/TEST_FILE_KEY.TXT", "TEST_FILE_KEY.TXT")))),
    Dataset("gap", "GAP gendered pronoun coreference", "Apache-2.0", tuple(
        Source(f"https://raw.githubusercontent.com/google-research-datasets/gap-coreference/master/gap-{s}.tsv",
               f"gap-{s}.tsv") for s in ("development", "test", "validation"))),
    Dataset("wsc273", "Winograd Schema Challenge collection", "CC BY 4.0",
            (Source("https://cs.nyu.edu/~davise/papers/WinogradSchemas/WSCollection.xml", "WSCollection.xml"),)),
    Dataset("squad_v1.1", "SQuAD v1.1 dev", "CC BY-SA 4.0",
            (Source("https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json", "dev-v1.1.json"),)),
    Dataset("hotpotqa", "HotpotQA dev (distractor setting)", "CC BY-SA 4.0",
            (Source("http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_distractor_v1.json",
                    "hotpot_dev_distractor_v1.json"),)),
    Dataset("babi", "bAbI tasks 1-20 v1.2", "CC BY 3.0",
            (Source("http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz", ".", "tar"),)),
    Dataset("sst2", "SST-2 (GLUE)", "research use",
            (Source("https://dl.fbaipublicfiles.com/glue/data/SST-2.zip", ".", "zip"),)),
    Dataset("eraser_movies", "ERASER Movie Reviews with human rationales", "research use",
            (Source("http://www.eraserbenchmark.com/zipped/movies.tar.gz", ".", "tar"),)),
    Dataset("agreement_linzen_gulordava", "Linzen et al. 2016 agreement test set (Gulordava et al.'s filtered copy) "
            "and the colorless green sentences", "CC BY-NC 4.0", tuple(
                Source(f"{_COLORLESS}/{folder}/{stem}.{ext}", f"{folder.replace('/', '__')}__{stem}.{ext}")
                for folder, stem in (("linzen_testset", "subj_agr_filtered"), ("agreement/English", "generated"))
                for ext in ("text", "gold", "eval"))),
    Dataset("senteval_probing", "SentEval probing tasks (Conneau et al. 2018), full files", "BSD", tuple(
        Source(f"https://raw.githubusercontent.com/facebookresearch/SentEval/main/data/probing/{task}.txt", f"{task}.txt")
        for task in _SENTEVAL)),
)}  # fmt: skip


@checks_flags
def download(
    names: Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    datasets: Mapping[str, Dataset] | None = None,
) -> Path:
    """Fetch datasets into ``root/<name>/``.

    Parameters
    ----------
    names : sequence of str, optional
        Dataset names (keys of :data:`DATASETS`); default all of them.
    root : path, optional
        Default ``LENSNB_DOWNLOADS`` or ``~/.cache/lensnb/data``.
    force : bool
        Fetch again what is already there.
    progress : bool
    datasets : mapping, optional
        Another registry (tests use local ``file://`` addresses).

    Returns
    -------
    Path
        ``root``.
    """
    from lensnb.papers.settings import download_dir

    registry = DATASETS if datasets is None else datasets
    chosen = list(registry) if names is None else list(names)
    for name in chosen:
        if name not in registry:
            raise LensError.bad_argument("names", name, f"dataset names from {sorted(registry)}")
    root = Path(root) if root is not None else download_dir()
    for name in chosen:
        folder = root / name
        for source in registry[name].sources:
            target = folder / source.target
            done = folder / f".{_marker(source)}.done"
            if done.exists() and not force:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            fetched = _fetch(source.url, folder, progress)
            try:
                _install(fetched, target, source.unpack, folder)
            finally:
                fetched.unlink(missing_ok=True)
            done.write_text(source.url + "\n", encoding="utf-8")
            if progress:
                print(f"{name}: {source.url} -> {target}", file=sys.stderr)
    return root


def _marker(source: Source) -> str:
    import hashlib

    return hashlib.sha1(f"{source.url} {source.target}".encode()).hexdigest()[:16]


def _fetch(url: str, folder: Path, progress: bool) -> Path:
    from tqdm.auto import tqdm

    handle, temporary = tempfile.mkstemp(prefix=".download-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=PurePosixPath(url).name, disable=not progress
            ) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise LensError(
                f"download: {url} could not be fetched ({error}); check the connection and retry."
            ) from None
        raise
    return Path(temporary)


def _install(fetched: Path, target: Path, unpack: str | None, folder: Path) -> None:
    if unpack is None:
        _replace(fetched, target)
    elif unpack == "gunzip":
        partial = target.with_name(f".{target.name}.part")
        target.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(fetched, "rb") as source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out)
        os.replace(partial, target)
    elif unpack in ("zip", "tar"):
        _unpack_archive(fetched, target, unpack, folder)
    else:
        raise LensError.bad_argument("unpack", unpack, "None, 'gunzip', 'zip' or 'tar'")


def _replace(fetched: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    shutil.copyfile(fetched, partial)
    os.replace(partial, target)


def _safe_member(name: str, destination: Path) -> Path:
    path = (destination / name).resolve()
    if not path.is_relative_to(destination.resolve()):
        raise LensError(f"download: the archive member {name!r} would be written outside {destination}; refused.")
    return path


def _unpack_archive(fetched: Path, destination: Path, kind: str, folder: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=folder))
    try:
        if kind == "zip":
            with zipfile.ZipFile(fetched) as archive:
                for member in archive.namelist():
                    _safe_member(member, staging)
                archive.extractall(staging)
        else:
            with tarfile.open(fetched) as archive:
                members = archive.getmembers()
                for member in members:
                    _safe_member(member.name, staging)
                    if member.issym() or member.islnk() or member.isdev():
                        raise LensError(f"download: the archive member {member.name!r} is a link or device; refused.")
                archive.extractall(staging, members=members)
        destination.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            final = destination / item.name
            if final.exists():
                shutil.rmtree(final) if final.is_dir() else final.unlink()
            os.replace(item, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lensnb.data.download", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"datasets (default all): {', '.join(DATASETS)}")
    parser.add_argument(
        "--to", type=Path, default=None, help="folder (default LENSNB_DOWNLOADS or ~/.cache/lensnb/data)"
    )
    parser.add_argument("--force", action="store_true", help="fetch again what is already there")
    parser.add_argument("--list", action="store_true", help="list the datasets, their sources and licences")
    args = parser.parse_args(argv)
    if args.list:
        for dataset in DATASETS.values():
            print(f"{dataset.name}: {dataset.description} [{dataset.licence}]")
            for source in dataset.sources:
                print(f"    {source.url}")
        return 0
    try:
        root = download(args.names or None, args.to, force=args.force)
    except LensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"datasets in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
