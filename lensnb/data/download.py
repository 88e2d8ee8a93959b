"""Downloading the public datasets the paper notebooks read, from their official places.

``python -m lensnb.data.download [names...] [--to FOLDER] [--strict]`` fetches each dataset
into ``FOLDER/<name>/`` (default ``LENSNB_DOWNLOADS`` or ``~/.cache/lensnb/data``, where
:func:`lensnb.papers.run_settings` looks) and unpacks archives. Licences differ from
dataset to dataset (listed in :data:`DATASETS`): check them before redistributing anything.

Failures: every source of every dataset asked for is tried, even when one fails (a host
that is down or answers an HTTP error, a refused file). The failures are listed at the
end, each naming the dataset, the address and why, and the command exits with status 1
(:func:`download` raises :class:`DownloadFailed`, which lists them in ``failures``). What
was installed is kept, so running the same command again retries only what failed.
``--strict`` (``strict=True``) stops at the first failure instead.

Safety:

- What is already there is kept. Without ``force`` no file that is already at its place is
  deleted or overwritten, whoever wrote it: a file source whose target exists is not fetched,
  and an archive only fills in the files missing from its folder. A ``.<key>.done`` record
  in the dataset's folder lists the files a source provides; it counts as done only while
  all of them exist, so deleted data is fetched again. ``force`` (``--force``) replaces the
  files the sources provide; other files in the folders are never touched.
- A download counts only when complete: the bytes received must match the announced
  ``Content-Length`` and, where :class:`Source` gives them, its ``size`` and ``sha256``.
  Everything is written under a temporary name in the dataset's folder (``.download-*``,
  ``.unpack-*``, ``.record-*``, each with the process id) and renamed into place when
  complete; a truncated, corrupt or refused file raises :class:`~lensnb.errors.LensError`
  naming the dataset and the address, and leaves nothing installed. Temporaries left by a
  killed run are removed by the next run over the same dataset.
- A transfer must keep moving: each read waits at most :data:`READ_TIMEOUT_S` seconds, and
  a transfer whose average rate over the last :data:`RATE_WINDOW_S` seconds stays under
  :data:`MIN_RATE_BYTES_PER_S` is refused, so that a server that drips bytes cannot hold
  a build forever. Requests carry the user agent ``lensnb/<version> (+python-urllib)``.
- Archives: no member may be written outside its folder, tar links and devices are
  refused, a tar is read whole before anything is extracted (a compressed one's CRC and
  length checked) and refused when tarfile stops reading members before the end of its
  data (a damaged header), tar members are extracted with tarfile's ``data`` filter where
  Python has it, and unpacking is refused above :data:`MAX_UNPACKED_BYTES` in all, above
  :data:`MAX_RATIO` times the archive's own size (beyond :data:`RATIO_FREE_BYTES`) or
  above :data:`MAX_MEMBERS` members.

Layouts: each dataset keeps its official layout below ``FOLDER/<name>/`` (e.g.
``sst2/SST-2/train.tsv``, ``babi/tasks_1-20_v1-2/en-10k/``), which the readers of
:mod:`lensnb.data` accept.
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import gzip
import hashlib
import json
import lzma
import os
import re
import secrets
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from typing import Any

from lensnb.errors import LensError
from lensnb.flags import checks_flags

__all__ = [
    "Source",
    "Dataset",
    "DATASETS",
    "MAX_UNPACKED_BYTES",
    "MAX_RATIO",
    "RATIO_FREE_BYTES",
    "MAX_MEMBERS",
    "READ_TIMEOUT_S",
    "RATE_WINDOW_S",
    "MIN_RATE_BYTES_PER_S",
    "Failure",
    "DownloadFailed",
    "download",
    "main",
]

#: The most bytes one source may unpack to, in all (8 GiB; the largest dataset here is far smaller).
MAX_UNPACKED_BYTES = 8 << 30
#: The most an archive may expand, as unpacked bytes over its own size, beyond :data:`RATIO_FREE_BYTES`.
MAX_RATIO = 100
#: What any archive may unpack to whatever its ratio (64 MiB).
RATIO_FREE_BYTES = 64 << 20
#: The most members one archive may have.
MAX_MEMBERS = 500_000
#: The longest one read from the server may wait, in seconds.
READ_TIMEOUT_S = 60
#: The span, in seconds, over which a transfer's average rate is checked against :data:`MIN_RATE_BYTES_PER_S`.
RATE_WINDOW_S = 120
#: The least average rate, in bytes per second over the last :data:`RATE_WINDOW_S` seconds, a transfer may keep.
MIN_RATE_BYTES_PER_S = 1024
#: Temporaries of lensnb's naming older than this are removed even when their process id is in use.
STALE_AFTER_S = 24 * 3600

_UNPACK = (None, "gunzip", "zip", "tar")
_CHUNK = 1 << 20
_TEMPORARY = re.compile(r"\.(?:download|unpack|record)-(\d+)-[0-9a-f]{8}")
_OLD_TEMPORARY = re.compile(r"\.(?:download|unpack)-[a-z0-9_]{8}")  # tempfile's names, before the process id


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
    sha256 : str, optional
        The SHA-256 of the file as served (64 hexadecimal digits), checked after the
        download; a mismatch is refused. The registry gives it where the file served is
        known byte for byte (SQuAD's dev file, and the GitHub files at a fixed commit);
        the other sources leave it None (the length announced by the server, and for
        archives their own CRCs, are still checked).
    size : int, optional
        The file's size in bytes as served, checked likewise; None where unknown.
    """

    url: str
    target: str
    unpack: str | None = None
    sha256: str | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if self.unpack not in _UNPACK:
            raise LensError.bad_argument("unpack", self.unpack, "None, 'gunzip', 'zip' or 'tar'")
        if self.sha256 is not None and not (
            isinstance(self.sha256, str) and re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256)
        ):
            raise LensError.bad_argument("sha256", self.sha256, "None or 64 hexadecimal digits")
        if self.size is not None and (not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0):
            raise LensError.bad_argument("size", self.size, "None or a number of bytes (int >= 0)")


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
# GitHub files at the commit the checked copies were taken from (SOURCES.md of the team's data), with their
# SHA-256 and size; a branch name would let the file change under the checksum.
_GAP = "https://raw.githubusercontent.com/google-research-datasets/gap-coreference/83135f26025cdd705c04f77e940d0c9201116b80"
_GAP_FILES = {
    "development": ("b9a01434fcf58d8c2f9bc762480c27e58ce466cf1ffe8b09cfecbc7a20d2d634", 1080993),
    "test": ("1c35e36d5b14f6313ec3f6cd67b275de282595dd59e59390e00cfff9897a6819", 1075889),
    "validation": ("2d784f66b390404f554704b9aef6dcde8845e79dda9886b8391cf7e9a24fdb98", 245089),
}
_COLORLESS = "https://raw.githubusercontent.com/facebookresearch/colorlessgreenRNNs/dbffbf0f2ef86c50bac204d7a2292862e1c6036f/data"
_COLORLESS_FILES = {
    "linzen_testset/subj_agr_filtered.text": ("618f7583d6cc3942b2127e5ffb61603e0fd8b031628d574b10b9bc2930452be4", 1045625),
    "linzen_testset/subj_agr_filtered.gold": ("984be2eaf9f37812b1727ec165b2c9802fb71552684cc6a123daf96091118f5b", 108320),
    "linzen_testset/subj_agr_filtered.eval": ("c1d83149ce080c1c5db9d7ba8cbe3c11d6ca9618ce4cc8eb50c57e1934717903", 17955),
    "agreement/English/generated.text": ("c7bebc2985793abab89ce3f70cf9c931fa555db3f3956f78f0c3398101d9c56b", 66166),
    "agreement/English/generated.gold": ("d9271bb3ac076909724227e87fbb8fc6136dc7d0aa4bd857bd5e4bd4a62272e5", 78859),
    "agreement/English/generated.eval": ("85b71164d5fc356683227deb4f6d630063f0c462b0e755c631048b0c6502f600", 990),
}  # fmt: skip
_SQUAD_DEV = ("95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9", 4854279)  # the official file's

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
        Source(f"{_GAP}/gap-{s}.tsv", f"gap-{s}.tsv", sha256=sha256, size=size)
        for s, (sha256, size) in _GAP_FILES.items())),
    Dataset("wsc273", "Winograd Schema Challenge collection", "CC BY 4.0",
            (Source("https://cs.nyu.edu/~davise/papers/WinogradSchemas/WSCollection.xml", "WSCollection.xml"),)),
    Dataset("squad_v1.1", "SQuAD v1.1 dev", "CC BY-SA 4.0",
            (Source("https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json", "dev-v1.1.json",
                    sha256=_SQUAD_DEV[0], size=_SQUAD_DEV[1]),)),
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
                Source(f"{_COLORLESS}/{path}", path.replace("/", "__"), sha256=sha256, size=size)
                for path, (sha256, size) in _COLORLESS_FILES.items())),
    Dataset("senteval_probing", "SentEval probing tasks (Conneau et al. 2018), full files", "BSD", tuple(
        Source(f"https://raw.githubusercontent.com/facebookresearch/SentEval/main/data/probing/{task}.txt", f"{task}.txt")
        for task in _SENTEVAL)),
)}  # fmt: skip


@dataclass(frozen=True)
class Failure:
    """One source that could not be installed.

    Attributes
    ----------
    dataset : str
    url : str
    reason : str
        The :class:`~lensnb.errors.LensError`'s message.
    """

    dataset: str
    url: str
    reason: str


class DownloadFailed(LensError):
    """Some sources could not be installed; every other source was tried.

    Attributes
    ----------
    failures : tuple of Failure
    """

    def __init__(self, failures: Sequence[Failure], tried: int) -> None:
        self.failures = tuple(failures)
        lines = [f"- {f.reason}" for f in self.failures]
        datasets = list(dict.fromkeys(f.dataset for f in self.failures))
        super().__init__(
            f"download: {len(self.failures)} of {tried} sources failed ({', '.join(datasets)}); nothing of them was "
            "installed, the others were tried and what they installed is kept. Run the same command again to retry "
            "the failed ones:\n" + "\n".join(lines)
        )


@checks_flags
def download(
    names: str | Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    strict: bool = False,
    datasets: Mapping[str, Dataset] | None = None,
) -> Path:
    """Fetch datasets into ``root/<name>/``, trying every source even when one fails.

    Parameters
    ----------
    names : str or sequence of str, optional
        One dataset name or several (keys of :data:`DATASETS`); default all of them.
    root : path, optional
        Default ``LENSNB_DOWNLOADS`` or ``~/.cache/lensnb/data``.
    force : bool
        Fetch again what is already there, replacing the files the sources provide
        (other files in the folders are left alone). Without it, files already at their
        place are never deleted or overwritten.
    progress : bool
        Report each source (and each failure as it happens) on stderr.
    strict : bool
        Stop at the first source that fails, raising its LensError. By default (False)
        every source of every dataset asked for is tried, the failures are collected,
        and :class:`DownloadFailed` lists them at the end.
    datasets : mapping, optional
        Another registry (tests use local addresses).

    Returns
    -------
    Path
        ``root``, when every source is installed.

    Raises
    ------
    LensError
        For unknown names (before anything is fetched); with ``strict``, for the first
        source that cannot be fetched, is truncated, fails its checks or cannot be
        unpacked (nothing of that source is installed then).
    DownloadFailed
        Without ``strict``, after trying everything, when some sources failed: its
        ``failures`` name each one's dataset, address and reason. The sources that did
        not fail are installed.
    """
    from lensnb.papers.settings import download_dir

    registry = DATASETS if datasets is None else datasets
    chosen = _chosen(names, registry)
    root = Path(root) if root is not None else download_dir()
    started = time.time()
    failures: list[Failure] = []
    tried = 0
    for name in chosen:
        folder = root / name
        if folder.is_dir():
            _clean_stale(folder, started)
        for source in registry[name].sources:
            tried += 1
            try:
                _get(name, source, folder, force=force, progress=progress, started=started)
            except LensError as error:
                if strict:
                    raise
                failures.append(Failure(name, source.url, str(error)))
                _say(progress, f"{error} Carrying on with the other sources.")
    if failures:
        raise DownloadFailed(failures, tried)
    return root


def _chosen(names: str | Sequence[str] | None, registry: Mapping[str, Dataset]) -> list[str]:
    """The dataset names asked for, as a list; one string is one name."""
    if names is None:
        return list(registry)
    expected = f"a dataset name or a sequence of names from {sorted(registry)}"
    if isinstance(names, str):
        chosen = [names]
    elif isinstance(names, (bytes, bytearray, Mapping)) or not isinstance(names, Iterable):
        raise LensError.bad_argument("names", names, expected)
    else:
        chosen = list(names)
    for name in chosen:
        if not isinstance(name, str) or name not in registry:
            hint = "" if isinstance(names, str) else f"{name!r} is not one of them."
            raise LensError.bad_argument("names", names, expected, hint)
    return chosen


def _get(name: str, source: Source, folder: Path, *, force: bool, progress: bool, started: float) -> None:
    """Fetch and install one source, unless what it provides is already there."""
    target = folder / source.target
    record = folder / f".{_marker(source)}.done"
    if not force and _complete(record, folder, target):
        return
    _remove_old_partial(target, started)
    if source.unpack in (None, "gunzip") and not force and _is_there(target, name, source):
        _write_record(record, source, folder, [target], kept=[target])
        _say(progress, f"{name}: {target} is already there; kept (force=True fetches it again)")
        return
    files, kept = _fetch_and_install(name, source, folder, force, progress)
    _write_record(record, source, folder, files, kept)
    if kept:
        _say(progress, f"{name}: {len(kept)} file(s) already there kept, e.g. {kept[0]} (force=True replaces them)")
    _say(progress, f"{name}: {source.url} -> {target}")


def _fetch_and_install(
    name: str, source: Source, folder: Path, force: bool, progress: bool
) -> tuple[list[Path], list[Path]]:
    """Fetch ``source`` and install it into ``folder``; a folder this call created is removed if left empty."""
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fetched = _fetch(name, source, folder, progress)
        try:
            return _install(name, source, fetched, folder / source.target, folder, force)
        finally:
            fetched.unlink(missing_ok=True)
    except BaseException as error:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # the failed call's own, empty: leave the root as it was
        if isinstance(error, OSError):  # writing below folder: what fetching and unpacking raise is worded
            raise LensError(
                f"download: {name}: could not write below {folder} ({error!r}); choose a writable folder "
                "(root=, or --to)."
            ) from error
        raise


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr)


def _marker(source: Source) -> str:
    return hashlib.sha1(f"{source.url} {source.target}".encode()).hexdigest()[:16]


# --- what is there ---------------------------------------------------------------------


def _complete(record: Path, folder: Path, target: Path) -> bool:
    """Whether ``record`` exists and every file it lists is still there."""
    try:
        text = record.read_text(encoding="utf-8")
    except OSError:
        return False
    try:
        files = json.loads(text)["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise TypeError
    except (ValueError, KeyError, TypeError):  # a record of an older lensnb: the address only
        return target.is_file() or (target.is_dir() and any(not p.name.startswith(".") for p in target.iterdir()))
    return all((folder / file).exists() for file in files)


def _is_there(target: Path, name: str, source: Source) -> bool:
    """Whether the file ``target`` exists (a folder in its place is refused)."""
    if target.is_dir():
        raise LensError(f"download: {name}: {target} is a folder where {source.url} should be saved; move it away.")
    return target.exists()


def _write_record(record: Path, source: Source, folder: Path, files: list[Path], kept: list[Path]) -> None:
    """Write the ``.done`` record listing the source's files (those kept: already there), atomically.

    Best effort: without the record, files already there are still found (and kept) next time.
    """
    content = {
        "url": source.url,
        "target": source.target,
        "files": [f.relative_to(folder).as_posix() for f in files],
        "kept": [f.relative_to(folder).as_posix() for f in kept],
    }
    try:
        temporary = _temporary(record.parent, "record")
    except OSError:  # a read-only folder: the files are still found there next time, without the record
        return
    try:
        temporary.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, record)
    except OSError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


# --- temporaries -----------------------------------------------------------------------


def _temporary(folder: Path, kind: str, directory: bool = False) -> Path:
    """Create a new empty file (or folder) ``folder/.<kind>-<pid>-<random>`` and return its path."""
    while True:
        path = folder / f".{kind}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            if directory:
                path.mkdir()
            else:
                path.open("xb").close()
            return path
        except FileExistsError:
            continue


def _clean_stale(folder: Path, started: float) -> None:
    """Remove the temporaries of lensnb's naming that killed runs left in ``folder``."""
    for entry in folder.iterdir():
        if _is_stale(entry, started):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()


def _is_stale(entry: Path, started: float) -> bool:
    """Whether ``entry`` is a temporary of lensnb's naming, older than this run and not another live run's."""
    ours = _TEMPORARY.fullmatch(entry.name)
    if ours is None and _OLD_TEMPORARY.fullmatch(entry.name) is None:
        return False
    try:
        modified = entry.lstat().st_mtime
    except OSError:
        return False
    if modified >= started:
        return False
    if ours is None or modified < started - STALE_AFTER_S:
        return True
    pid = int(ours.group(1))
    return pid == os.getpid() or not _alive(pid)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (assumed so where it cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would end it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_old_partial(target: Path, started: float) -> None:
    """Remove the ``.<name>.part`` an older lensnb left beside ``target`` when killed."""
    partial = target.with_name(f".{target.name}.part")
    with contextlib.suppress(OSError):
        if partial.is_file() and partial.stat().st_mtime < started:
            partial.unlink()


# --- fetching --------------------------------------------------------------------------


def _fetch(name: str, source: Source, folder: Path, progress: bool) -> Path:
    """Download ``source.url`` to a temporary in ``folder``, checked complete; return its path."""
    from tqdm.auto import tqdm

    temporary = _temporary(folder, "download")
    digest, received = hashlib.sha256(), 0
    try:
        with temporary.open("wb") as out, urllib.request.urlopen(_request(source.url), timeout=READ_TIMEOUT_S) as response:  # noqa: S310  # fmt: skip
            announced = _announced(response.headers.get("Content-Length"))
            read = getattr(response, "read1", response.read)  # returns what has come, so the rate is watched
            rate = _RateWatch(name, source.url)
            with tqdm(
                total=announced, unit="B", unit_scale=True, desc=PurePosixPath(source.url).name, disable=not progress
            ) as bar:
                while chunk := read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    rate.check(received)
        _verify(name, source, received, announced, digest.hexdigest())
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, urllib.error.HTTPError):
            error.close()
            raise LensError(_http_message(name, source.url, error)) from None
        if isinstance(error, (OSError, HTTPException)):
            raise LensError(
                f"download: {name}: {source.url} could not be fetched ({error!r}); nothing was installed. "
                "Check the connection and retry."
            ) from None
        raise
    return temporary


def _request(url: str) -> urllib.request.Request:
    """A request for ``url`` that names lensnb as its user agent (some hosts refuse Python-urllib's)."""
    from lensnb._version import __version__

    return urllib.request.Request(url, headers={"User-Agent": f"lensnb/{__version__} (+python-urllib)"})


def _http_message(name: str, url: str, error: urllib.error.HTTPError) -> str:
    """The message for an HTTP error status: the server answered, so the connection is not to blame."""
    where = f"download: {name}: {url}: the server answered HTTP {error.code} {error.reason}".rstrip()
    if 500 <= error.code < 600:
        return f"{where} (a failure on the server's side); nothing was installed. Retry later."
    return (
        f"{where} (the address may have moved, or the host refuses this client); nothing was installed. "
        "Check the address (`python -m lensnb.data.download --list`) and report it if it is gone."
    )


class _RateWatch:
    """Refuses a transfer whose average rate over the last :data:`RATE_WINDOW_S` seconds is too low."""

    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url
        self.started = time.monotonic()
        self.samples: deque[tuple[float, int]] = deque([(self.started, 0)])

    def check(self, received: int) -> None:
        """Record that ``received`` bytes have come by now; raise LensError when too slow."""
        now = time.monotonic()
        window, least = RATE_WINDOW_S, MIN_RATE_BYTES_PER_S
        while len(self.samples) > 1 and self.samples[1][0] <= now - window:
            self.samples.popleft()  # keep the last sample at or before the window's start
        if now - self.samples[-1][0] >= window / 100:  # a few hundred samples at most, however fast
            self.samples.append((now, received))
        since, then = self.samples[0]
        if now - self.started < window or now - since <= 0:
            return
        average = (received - then) / (now - since)
        if average < least:
            raise LensError(
                f"download: {self.name}: {self.url} came at {average:.0f} bytes/s over the last {now - since:.0f} s, "
                f"under the least of {least} bytes/s over {window} s (MIN_RATE_BYTES_PER_S, RATE_WINDOW_S in "
                "lensnb.data.download); nothing was installed. The server is stalling: retry later."
            )


def _announced(header: str | None) -> int | None:
    """The ``Content-Length`` as a number, None where absent or unreadable."""
    try:
        length = int(header) if header is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _verify(name: str, source: Source, received: int, announced: int | None, sha256: str) -> None:
    """Refuse a download shorter or longer than announced, or unlike the source's size or checksum."""
    where = f"download: {name}: {source.url}"
    if announced is not None and received != announced:
        raise LensError(
            f"{where} ended after {received} of the {announced} bytes the server announced (the connection "
            "was cut); nothing was installed. Retry."
        )
    if source.size is not None and received != source.size:
        raise LensError(
            f"{where} has {received} bytes, not the {source.size} expected; nothing was installed. "
            "Retry, or check whether the file changed upstream."
        )
    if source.sha256 is not None and sha256 != source.sha256.lower():
        raise LensError(
            f"{where} has SHA-256 {sha256}, not the {source.sha256.lower()} expected; nothing was installed. "
            "Retry, or check whether the file changed upstream."
        )


# --- installing ------------------------------------------------------------------------


class _Refused(Exception):
    """An archive refused for what it holds; :func:`_install` words it as a LensError."""


def _install(
    name: str, source: Source, fetched: Path, target: Path, folder: Path, force: bool
) -> tuple[list[Path], list[Path]]:
    """Unpack ``fetched`` into a staging folder, then move its files into place.

    Returns
    -------
    files, kept : list of Path
        Every file the source provides, and those of them kept because already there.
    """
    staging = _temporary(folder, "unpack", directory=True)
    try:
        try:
            pairs = _stage(fetched, staging, source.unpack, target)
        except _Refused as error:
            raise LensError(f"download: {name}: {source.url}: {error}; refused, nothing was installed.") from None
        except LensError:
            raise
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError, NotImplementedError, ValueError) as error:  # fmt: skip
            raise LensError(
                f"download: {name}: {source.url} could not be unpacked as {source.unpack or 'a file'} "
                f"({type(error).__name__}: {error}); nothing was installed. The file may be truncated or not "
                "what it should be: retry, or report the address."
            ) from error
        return _place(name, pairs, folder, force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage(fetched: Path, staging: Path, unpack: str | None, target: Path) -> list[tuple[Path, Path]]:
    """Unpack ``fetched`` below ``staging``; return (staged file, final place) pairs."""
    if unpack in (None, "gunzip"):
        staged = staging / "file"
        if unpack is None:
            os.replace(fetched, staged)
        else:
            _gunzip(fetched, staged)
        return [(staged, target)]
    if unpack == "zip":
        _unzip(fetched, staging)
    else:
        _untar(fetched, staging)
    files = sorted(p for p in staging.rglob("*") if not p.is_dir())
    return [(p, target / p.relative_to(staging)) for p in files]


def _limit(compressed: int) -> int:
    """The most bytes an archive of ``compressed`` bytes may unpack to."""
    return min(MAX_UNPACKED_BYTES, max(RATIO_FREE_BYTES, MAX_RATIO * compressed))


def _check_sizes(total: int, members: int, compressed: int) -> None:
    """Refuse an archive whose members are too many or too large in all."""
    if members > MAX_MEMBERS:
        raise _Refused(f"the archive has {members} members, more than MAX_MEMBERS = {MAX_MEMBERS}")
    if total > _limit(compressed):
        raise _Refused(
            f"the archive of {compressed} bytes would unpack to {total} bytes, more than its limit of "
            f"{_limit(compressed)} (MAX_UNPACKED_BYTES = {MAX_UNPACKED_BYTES}, MAX_RATIO = {MAX_RATIO} beyond "
            f"RATIO_FREE_BYTES = {RATIO_FREE_BYTES}, in lensnb.data.download)"
        )


def _gunzip(fetched: Path, staged: Path) -> None:
    """Decompress ``fetched`` to ``staged``, counting the bytes against the limit."""
    compressed, written = fetched.stat().st_size, 0
    with gzip.open(fetched, "rb") as source, staged.open("xb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            _check_sizes(written, 1, compressed)
            out.write(chunk)


def _safe_member(name: str, destination: Path) -> Path:
    path = (destination / name).resolve()
    if not path.is_relative_to(destination.resolve()):
        raise _Refused(f"the archive member {name!r} would be written outside {destination}")
    return path


def _unzip(fetched: Path, staging: Path) -> None:
    with zipfile.ZipFile(fetched) as archive:
        members = archive.infolist()
        for member in members:
            _safe_member(member.filename, staging)
        _check_sizes(sum(m.file_size for m in members), len(members), fetched.stat().st_size)
        archive.extractall(staging)  # zipfile reads no member past its declared size


def _untar(fetched: Path, staging: Path) -> None:
    """Check the tar archive ``fetched`` whole, then extract it below ``staging``."""
    with tarfile.open(fetched) as archive:
        members = archive.getmembers()
        for member in members:
            _safe_member(member.name, staging)
            if member.issym() or member.islnk() or member.isdev():
                raise _Refused(f"the archive member {member.name!r} is a link or device")
        _check_sizes(sum(m.size for m in members if m.isfile()), len(members), fetched.stat().st_size)
        _check_tar_stream(fetched, archive.offset, len(members))
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: plain modes, no owners, no special files
            archive.extractall(staging, members=members, filter="data")
        else:
            archive.extractall(staging, members=members)


#: How compressed tars start, and how to read them whole (the reader checks their CRC and length at the end).
_COMPRESSED: dict[bytes, Callable[[Path], Any]] = {
    b"\x1f\x8b": gzip.open,
    b"BZh": bz2.open,
    b"\xfd7zXZ\x00": lzma.open,
}


def _open_stream(fetched: Path) -> Any:
    """``fetched`` opened for reading its tar stream, decompressed where it is compressed."""
    with fetched.open("rb") as handle:
        head = handle.read(6)
    for magic, opener in _COMPRESSED.items():
        if head.startswith(magic):
            return opener(fetched)
    return fetched.open("rb")


def _check_tar_stream(fetched: Path, end: int, members: int) -> None:
    """Read the whole tar stream of ``fetched``; refuse it when anything but zeros follows byte ``end``.

    Reading a gzip, bz2 or xz stream to its end checks its CRC and length (a damaged one
    raises, and :func:`_install` words it). ``end`` is where tarfile stopped reading
    members: it stops at the first header it cannot read as if the archive ended there,
    so data past it means a damaged archive, not its end-of-archive padding.
    """
    compressed, position = fetched.stat().st_size, 0
    with _open_stream(fetched) as stream:
        while chunk := stream.read(_CHUNK):
            skip = max(0, end - position)
            if skip < len(chunk) and chunk[skip:].strip(b"\0"):
                raise _Refused(
                    f"the tar archive holds data past byte {end}, where tarfile stopped reading members after "
                    f"{members} of them (a damaged header): the archive is damaged"
                )
            position += len(chunk)
            _check_sizes(position, members, compressed)


def _place(name: str, pairs: list[tuple[Path, Path]], folder: Path, force: bool) -> tuple[list[Path], list[Path]]:
    """Move the staged files to their places; keep files already there unless ``force``.

    Every place is checked before anything moves: a folder where a file should go (or a
    file where a folder should) is refused, naming it.
    """
    for _, final in pairs:
        _check_place(name, final, folder)
    kept = []
    for staged, final in pairs:
        if final.exists() or final.is_symlink():
            if not force:
                kept.append(final)
                continue
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
    return [final for _, final in pairs], kept


def _check_place(name: str, final: Path, folder: Path) -> None:
    if final.is_dir():
        raise LensError(f"download: {name}: {final} is a folder where a file should go; move it away.")
    for parent in final.relative_to(folder).parents:
        if (folder / parent).exists() and not (folder / parent).is_dir():
            raise LensError(f"download: {name}: {folder / parent} is a file where a folder should go; move it away.")


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status.

    Returns
    -------
    int
        0 when every source is installed; 1 when some could not be (each is listed at the
        end, and every other one was tried); 2 for bad arguments, or for the first failure
        with ``--strict``.
    """
    parser = argparse.ArgumentParser(prog="python -m lensnb.data.download", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"datasets (default all): {', '.join(DATASETS)}")
    parser.add_argument(
        "--to", type=Path, default=None, help="folder (default LENSNB_DOWNLOADS or ~/.cache/lensnb/data)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="fetch again what is already there, replacing the files the datasets provide",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first source that fails (by default every dataset is tried and the failures listed at the end)",
    )
    parser.add_argument("--list", action="store_true", help="list the datasets, their sources and licences")
    args = parser.parse_args(argv)
    if args.list:
        for dataset in DATASETS.values():
            print(f"{dataset.name}: {dataset.description} [{dataset.licence}]")
            for source in dataset.sources:
                print(f"    {source.url}")
        return 0
    try:
        root = download(args.names or None, args.to, force=args.force, strict=args.strict)
    except DownloadFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except LensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"datasets in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
