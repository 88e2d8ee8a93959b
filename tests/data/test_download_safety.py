"""The dataset downloader's safety, over a local HTTP server on 127.0.0.1 (no internet):
files already there, truncated and corrupt downloads, checksums, killed runs' temporaries,
decompression limits, tar modes and a single name given as a string."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

import pytest

import lensnb
import lensnb.data.download as dl
from lensnb.data.download import Dataset, Source, download


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    short: dict[str, int] = {}
    status: dict[str, int] = {}
    agents: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.agents.append(self.headers.get("User-Agent", ""))
        if self.path in self.status:
            self.send_error(self.status[self.path])
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.short.get(self.path)
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        if cut is not None:
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


@pytest.fixture
def server():
    """Serve ``files`` (path -> bytes) on 127.0.0.1; ``short[path] = n`` sends only n bytes of it,
    ``status[path] = code`` answers that HTTP error; ``agents`` lists the User-Agent of each request."""
    handler = type("Handler", (_Handler,), {"files": {}, "short": {}, "status": {}, "agents": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    handler.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield handler
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tarred(members: dict[str, bytes], mode: int = 0o644) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def leftovers(root: Path) -> list[str]:
    """Temporaries and partial files of any naming lensnb uses."""
    prefixes = (".download-", ".unpack-", ".record-", ".partial-")
    return sorted(str(p) for p in root.rglob("*") if p.name.startswith(prefixes) or p.name.endswith(".part"))


def done_records(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.done"))


# --- 1. files already there ------------------------------------------------------------


def test_files_already_there_are_kept_and_treated_as_present(server, tmp_path):
    server.files.update({"/SST-2.zip": zipped({"SST-2/train.tsv": b"upstream\t1\n"}), "/gap-test.tsv": b"upstream\n"})
    sets = {"sst2": Dataset("sst2", "", "", (Source(f"{server.base}/SST-2.zip", ".", "zip"),)),
            "gap": Dataset("gap", "", "", (Source(f"{server.base}/gap-test.tsv", "gap-test.tsv"),))}  # fmt: skip
    root = tmp_path / "data"
    (root / "sst2" / "SST-2").mkdir(parents=True)
    (root / "sst2" / "SST-2" / "train.tsv").write_text("my own copy\t1\n")
    (root / "sst2" / "SST-2" / "my_notes.txt").write_text("hours of annotation\n")
    (root / "gap").mkdir()
    (root / "gap" / "gap-test.tsv").write_text("my corrected copy\n")
    download(None, root, progress=False, datasets=sets)
    assert (root / "sst2" / "SST-2" / "train.tsv").read_text() == "my own copy\t1\n"
    assert (root / "sst2" / "SST-2" / "my_notes.txt").read_text() == "hours of annotation\n"
    assert (root / "gap" / "gap-test.tsv").read_text() == "my corrected copy\n"
    # present: later runs do not fetch again (the server is gone from the registry's view)
    server.files.clear()
    download(None, root, progress=False, datasets=sets)
    assert (root / "gap" / "gap-test.tsv").read_text() == "my corrected copy\n"
    assert leftovers(root) == []


def test_an_archive_fills_in_only_the_missing_files(server, tmp_path):
    server.files["/SST-2.zip"] = zipped({"SST-2/train.tsv": b"upstream train\n", "SST-2/dev.tsv": b"upstream dev\n"})
    sets = {"sst2": Dataset("sst2", "", "", (Source(f"{server.base}/SST-2.zip", ".", "zip"),))}
    root = tmp_path / "data"
    (root / "sst2" / "SST-2").mkdir(parents=True)
    (root / "sst2" / "SST-2" / "train.tsv").write_text("mine\n")
    download("sst2", root, progress=False, datasets=sets)
    assert (root / "sst2" / "SST-2" / "train.tsv").read_text() == "mine\n"
    assert (root / "sst2" / "SST-2" / "dev.tsv").read_text() == "upstream dev\n"
    (record,) = done_records(root / "sst2")
    content = json.loads(record.read_text())
    assert sorted(content["files"]) == ["SST-2/dev.tsv", "SST-2/train.tsv"] and content["kept"] == ["SST-2/train.tsv"]


def test_force_replaces_the_sources_files_but_no_other(server, tmp_path):
    server.files["/SST-2.zip"] = zipped({"SST-2/train.tsv": b"upstream\n"})
    sets = {"sst2": Dataset("sst2", "", "", (Source(f"{server.base}/SST-2.zip", ".", "zip"),))}
    root = tmp_path / "data"
    (root / "sst2" / "SST-2").mkdir(parents=True)
    (root / "sst2" / "SST-2" / "train.tsv").write_text("mine\n")
    (root / "sst2" / "SST-2" / "my_notes.txt").write_text("notes\n")
    download(["sst2"], root, progress=False, datasets=sets, force=True)
    assert (root / "sst2" / "SST-2" / "train.tsv").read_text() == "upstream\n"
    assert (root / "sst2" / "SST-2" / "my_notes.txt").read_text() == "notes\n"


@pytest.mark.parametrize("unpack", [None, "zip"])
def test_a_record_whose_files_are_gone_does_not_count_as_done(server, tmp_path, unpack):
    served = zipped({"gap-test.tsv": b"upstream\n"}) if unpack else b"upstream\n"
    server.files["/f"] = served
    sets = {
        "gap": Dataset("gap", "", "", (Source(f"{server.base}/f", "gap-test.tsv" if unpack is None else ".", unpack),))
    }
    root = tmp_path / "data"
    download(["gap"], root, progress=False, datasets=sets)
    assert len(done_records(root / "gap")) == 1
    (root / "gap" / "gap-test.tsv").unlink()
    download(["gap"], root, progress=False, datasets=sets)
    assert (root / "gap" / "gap-test.tsv").read_text() == "upstream\n"


def test_a_record_of_an_older_lensnb_counts_only_while_its_target_is_there(server, tmp_path):
    server.files["/gap-test.tsv"] = b"upstream\n"
    source = Source(f"{server.base}/gap-test.tsv", "gap-test.tsv")
    sets = {"gap": Dataset("gap", "", "", (source,))}
    folder = tmp_path / "data" / "gap"
    folder.mkdir(parents=True)
    (folder / f".{dl._marker(source)}.done").write_text(source.url + "\n")  # the old format: the address only
    download(["gap"], folder.parent, progress=False, datasets=sets)
    assert (folder / "gap-test.tsv").read_text() == "upstream\n"  # target missing: fetched
    server.files["/gap-test.tsv"] = b"changed\n"
    (folder / f".{dl._marker(source)}.done").write_text(source.url + "\n")
    download(["gap"], folder.parent, progress=False, datasets=sets)
    assert (folder / "gap-test.tsv").read_text() == "upstream\n"  # target there: done


def test_a_folder_where_a_file_goes_is_refused_by_name(server, tmp_path):
    server.files["/gap-test.tsv"] = b"upstream\n"
    sets = {"gap": Dataset("gap", "", "", (Source(f"{server.base}/gap-test.tsv", "gap-test.tsv"),))}
    (tmp_path / "data" / "gap" / "gap-test.tsv").mkdir(parents=True)
    with pytest.raises(lensnb.LensError, match="gap-test.tsv is a folder"):
        download(["gap"], tmp_path / "data", progress=False, datasets=sets)


def test_an_unwritable_root_is_named(server, tmp_path):
    server.files["/gap-test.tsv"] = b"upstream\n"
    sets = {"gap": Dataset("gap", "", "", (Source(f"{server.base}/gap-test.tsv", "gap-test.tsv"),))}
    (tmp_path / "file").write_text("not a folder\n")
    with pytest.raises(lensnb.LensError, match="gap: could not write below .*file/gap .*writable folder"):
        download(["gap"], tmp_path / "file", progress=False, datasets=sets)


# --- 2. truncated downloads and checksums ----------------------------------------------


def test_a_truncated_body_is_refused_and_nothing_installed(server, tmp_path):
    body = b"".join(b"line %06d\tpositive\n" % i for i in range(20_000))
    server.files["/gap-test.tsv"] = body
    server.short["/gap-test.tsv"] = len(body) // 2
    url = f"{server.base}/gap-test.tsv"
    sets = {"gap": Dataset("gap", "", "", (Source(url, "gap-test.tsv"),))}
    root = tmp_path / "data"
    with pytest.raises(lensnb.LensError, match=f"gap: {url} ended after {len(body) // 2} of the {len(body)} bytes"):
        download(["gap"], root, progress=False, datasets=sets)
    assert not root.joinpath("gap").exists() or list(root.joinpath("gap").iterdir()) == []
    del server.short["/gap-test.tsv"]
    download(["gap"], root, progress=False, datasets=sets)  # not marked done: fetched again, whole
    assert (root / "gap" / "gap-test.tsv").read_bytes() == body


def test_size_and_sha256_are_checked_when_given(server, tmp_path):
    body = b"upstream\n"
    server.files["/f.tsv"] = body
    url = f"{server.base}/f.tsv"
    good = hashlib.sha256(body).hexdigest()
    sets = {"bad_sum": Dataset("bad_sum", "", "", (Source(url, "f.tsv", sha256="0" * 64),)),
            "bad_size": Dataset("bad_size", "", "", (Source(url, "f.tsv", size=len(body) + 1),)),
            "good": Dataset("good", "", "", (Source(url, "f.tsv", sha256=good.upper(), size=len(body)),))}  # fmt: skip
    root = tmp_path / "data"
    with pytest.raises(lensnb.LensError, match=f"bad_sum: {url} has SHA-256 {good}, not the 0+ expected"):
        download(["bad_sum"], root, progress=False, datasets=sets)
    with pytest.raises(lensnb.LensError, match=f"bad_size: {url} has {len(body)} bytes, not the {len(body) + 1}"):
        download(["bad_size"], root, progress=False, datasets=sets)
    download(["good"], root, progress=False, datasets=sets)
    assert (root / "good" / "f.tsv").read_bytes() == body
    assert not (root / "bad_sum").exists() and not (root / "bad_size").exists()
    with pytest.raises(lensnb.LensError, match="sha256: expected None or 64 hexadecimal digits"):
        Source(url, "f.tsv", sha256="abc")
    with pytest.raises(lensnb.LensError, match="size: expected None or a number of bytes"):
        Source(url, "f.tsv", size=-1)
    with pytest.raises(lensnb.LensError, match="unpack: expected None, 'gunzip', 'zip' or 'tar'"):
        Source(url, "f.tsv", unpack="rar")


# --- 3. corrupt archives ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("unpack", "served", "error"),
    [
        ("gunzip", half(gzip.compress(b"Confidence NN B-NP\n" * 20_000)), "EOFError"),
        ("gunzip", b"not gzip at all", "BadGzipFile"),
        ("zip", zipped({"SST-2/train.tsv": b"a\t1\n" * 1000})[:-30], "BadZipFile"),
        ("tar", b"not a tar at all", "ReadError"),
        ("tar", half(tarred({"tasks/qa1.txt": os.urandom(200_000)})), "EOFError|ReadError"),
    ],
)
def test_corrupt_archives_raise_a_lens_error_naming_dataset_and_address(server, tmp_path, unpack, served, error):
    server.files["/a"] = served
    url = f"{server.base}/a"
    target = "conll2000/train.txt" if unpack == "gunzip" else "."
    sets = {"broken": Dataset("broken", "", "", (Source(url, target, unpack),))}
    with pytest.raises(lensnb.LensError, match=f"broken: {url} could not be unpacked as {unpack} \\(({error})"):
        download(["broken"], tmp_path / "data", progress=False, datasets=sets)
    assert list(tmp_path.joinpath("data").rglob("*")) == []


def test_a_failure_leaves_an_existing_dataset_folder_as_it_was(server, tmp_path):
    server.files["/a.zip"] = b"not a zip"
    sets = {"sst2": Dataset("sst2", "", "", (Source(f"{server.base}/a.zip", ".", "zip"),))}
    folder = tmp_path / "data" / "sst2"
    folder.mkdir(parents=True)
    (folder / "mine.txt").write_text("mine\n")
    with pytest.raises(lensnb.LensError, match="could not be unpacked as zip"):
        download(["sst2"], tmp_path / "data", progress=False, datasets=sets)
    assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]


# --- 4. temporaries of killed runs -----------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_run_removes_the_temporaries_killed_runs_left(server, tmp_path):
    server.files["/gap-test.tsv"] = b"upstream\n"
    sets = {"gap": Dataset("gap", "", "", (Source(f"{server.base}/gap-test.tsv", "gap-test.tsv"),))}
    folder = tmp_path / "data" / "gap"
    folder.mkdir(parents=True)
    dead = _dead_pid()
    stale = [folder / f".download-{dead}-0123abcd", folder / ".download-k2_x9q0z"]  # ours, and an older lensnb's
    for path in stale:
        path.write_bytes(b"partial")
    (folder / f".unpack-{dead}-89abcdef" / "SST-2").mkdir(parents=True)
    stale.append(folder / f".unpack-{dead}-89abcdef")
    legacy_part = folder / ".gap-test.tsv.part"
    legacy_part.write_bytes(b"partial")
    stale.append(legacy_part)
    live = folder / f".download-{os.getppid()}-0123abcd"  # a live process's (the parent of pytest)
    live.write_bytes(b"being written")
    mine = [folder / ".download-notes.txt", folder / "download-0123abcd", folder / "notes.part"]
    for path in mine:
        path.write_bytes(b"the user's")
    past = time.time() - 60
    for path in [*stale, live, *mine]:
        os.utime(path, (past, past))
    future = folder / f".download-{dead}-fedcba98"  # newer than the run: not touched
    future.write_bytes(b"new")
    os.utime(future, (time.time() + 3600, time.time() + 3600))
    download(["gap"], tmp_path / "data", progress=False, datasets=sets)
    assert [p for p in stale if p.exists()] == []
    assert live.exists() and future.exists() and all(p.exists() for p in mine)
    assert (folder / "gap-test.tsv").read_bytes() == b"upstream\n"


def test_a_run_killed_mid_download_is_cleaned_by_the_next(server, tmp_path):
    """A child process downloads from a server that stalls after 1 MiB; SIGKILL it; run again."""
    import signal

    body = os.urandom(2 << 20)

    class Stalling(server):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: 1 << 20])
            self.wfile.flush()
            time.sleep(30)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/big.json"
    folder = tmp_path / "data" / "hotpotqa"
    child = (
        "from lensnb.data.download import download, Dataset, Source\n"
        f"reg = {{'hotpotqa': Dataset('hotpotqa', '', '', (Source({url!r}, 'dev.json'),))}}\n"
        f"download(['hotpotqa'], {str(folder.parent)!r}, progress=False, datasets=reg)\n"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-c", child], env=environment)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            temporaries = list(folder.glob(".download-*")) if folder.exists() else []
            if temporaries and temporaries[0].stat().st_size >= 1 << 20:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the child never wrote its temporary")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        httpd.shutdown()
        httpd.server_close()
    assert len(list(folder.glob(".download-*"))) == 1
    server.files["/big.json"] = body
    sets = {"hotpotqa": Dataset("hotpotqa", "", "", (Source(f"{server.base}/big.json", "dev.json"),))}
    download(["hotpotqa"], folder.parent, progress=False, datasets=sets)
    assert (folder / "dev.json").read_bytes() == body
    assert leftovers(folder) == []


# --- 5. decompression limits -----------------------------------------------------------


@pytest.mark.parametrize("unpack", ["gunzip", "zip", "tar"])
def test_unpacking_past_the_ratio_limit_is_refused(server, tmp_path, monkeypatch, unpack):
    monkeypatch.setattr(dl, "RATIO_FREE_BYTES", 1 << 20)
    zeros = b"\0" * (4 << 20)
    served = {"gunzip": gzip.compress(zeros), "zip": zipped({"big.txt": zeros}), "tar": tarred({"big.txt": zeros})}
    server.files["/bomb"] = served[unpack]
    url = f"{server.base}/bomb"
    sets = {"bomb": Dataset("bomb", "", "", (Source(url, "out.txt" if unpack == "gunzip" else ".", unpack),))}
    with pytest.raises(lensnb.LensError, match=f"bomb: {url}: the archive of .* bytes would unpack to .*MAX_RATIO"):
        download(["bomb"], tmp_path / "data", progress=False, datasets=sets)
    assert list(tmp_path.joinpath("data").rglob("*")) == []
    monkeypatch.setattr(dl, "MAX_RATIO", 100_000)  # a generous ratio lets the same file through
    download(["bomb"], tmp_path / "data", progress=False, datasets=sets)
    assert sum(p.stat().st_size for p in tmp_path.joinpath("data").rglob("*.txt")) == len(zeros)


def test_unpacking_past_the_total_limit_or_member_count_is_refused(server, tmp_path, monkeypatch):
    server.files["/a.zip"] = zipped({f"m{i}.txt": os.urandom(1000) for i in range(20)})
    sets = {"many": Dataset("many", "", "", (Source(f"{server.base}/a.zip", ".", "zip"),))}
    monkeypatch.setattr(dl, "MAX_UNPACKED_BYTES", 10_000)
    with pytest.raises(lensnb.LensError, match="would unpack to 20000 bytes, more than its limit of 10000"):
        download(["many"], tmp_path / "data", progress=False, datasets=sets)
    monkeypatch.setattr(dl, "MAX_UNPACKED_BYTES", 8 << 30)
    monkeypatch.setattr(dl, "MAX_MEMBERS", 10)
    with pytest.raises(lensnb.LensError, match="has 20 members, more than MAX_MEMBERS = 10"):
        download(["many"], tmp_path / "data", progress=False, datasets=sets)
    assert list(tmp_path.joinpath("data").rglob("*")) == []


def test_the_default_limits_are_generous():
    assert dl.MAX_UNPACKED_BYTES >= 4 << 30 and dl.MAX_RATIO >= 50 and dl.RATIO_FREE_BYTES >= 32 << 20


# --- tar modes -------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(tarfile, "data_filter"), reason="tarfile's data filter needs Python 3.11.4+")
def test_tar_members_lose_special_mode_bits(server, tmp_path):
    server.files["/a.tar.gz"] = tarred({"movies/run.sh": b"echo\n"}, mode=0o6777)
    sets = {"tarred": Dataset("tarred", "", "", (Source(f"{server.base}/a.tar.gz", ".", "tar"),))}
    download(["tarred"], tmp_path / "data", progress=False, datasets=sets)
    mode = (tmp_path / "data" / "tarred" / "movies" / "run.sh").stat().st_mode
    assert mode & 0o6022 == 0  # no setuid/setgid, no group/other write


# --- 6. names -------------------------------------------------------------------------


def test_one_name_as_a_string_is_one_dataset(server, tmp_path):
    server.files["/gap-test.tsv"] = b"upstream\n"
    sets = {"gap": Dataset("gap", "", "", (Source(f"{server.base}/gap-test.tsv", "gap-test.tsv"),)),
            "g": Dataset("g", "", "", (Source(f"{server.base}/missing", "x"),))}  # fmt: skip
    download("gap", tmp_path / "data", progress=False, datasets=sets)
    assert (tmp_path / "data" / "gap" / "gap-test.tsv").exists() and not (tmp_path / "data" / "g").exists()


def test_bad_names_are_named_as_given(tmp_path):
    sets = {"gap": Dataset("gap", "", "", ())}
    with pytest.raises(lensnb.LensError, match=r"names: expected a dataset name or a sequence .*received 'gpa'\.$"):
        download("gpa", tmp_path, datasets=sets)
    with pytest.raises(lensnb.LensError, match=r"received list \['gap', 'nonsense'\]\. 'nonsense' is not one"):
        download(["gap", "nonsense"], tmp_path, datasets=sets)
    with pytest.raises(lensnb.LensError, match="names: expected a dataset name .*received 5"):
        download(5, tmp_path, datasets=sets)
    with pytest.raises(lensnb.LensError, match="received bytes b'gap'"):
        download(b"gap", tmp_path, datasets=sets)


# --- 7. one failure does not stop the others (audit s27 F1) ----------------------------


def _three(server) -> dict[str, Dataset]:
    """first and third served; second answers 404."""
    server.files.update({"/first.tsv": b"first\n", "/third.tsv": b"third\n"})
    server.status["/second.tsv"] = 404
    return {
        name: Dataset(name, "", "", (Source(f"{server.base}/{name}.tsv", f"{name}.tsv"),))
        for name in ("first", "second", "third")
    }


def test_every_dataset_is_tried_and_the_failures_listed_at_the_end(server, tmp_path):
    sets = _three(server)
    root = tmp_path / "data"
    with pytest.raises(dl.DownloadFailed, match="1 of 3 sources failed \\(second\\)") as caught:
        download(None, root, progress=False, datasets=sets)
    assert (root / "first" / "first.tsv").read_bytes() == b"first\n"
    assert (root / "third" / "third.tsv").read_bytes() == b"third\n"  # tried after the failure
    assert not (root / "second").exists()
    (failure,) = caught.value.failures
    assert (failure.dataset, failure.url) == ("second", f"{server.base}/second.tsv")
    assert "HTTP 404" in failure.reason and failure.reason in str(caught.value)
    assert isinstance(caught.value, lensnb.LensError)


def test_strict_stops_at_the_first_failure(server, tmp_path):
    sets = _three(server)
    root = tmp_path / "data"
    with pytest.raises(lensnb.LensError, match="second: .*HTTP 404") as caught:
        download(None, root, progress=False, datasets=sets, strict=True)
    assert not isinstance(caught.value, dl.DownloadFailed)
    assert (root / "first" / "first.tsv").exists() and not (root / "third").exists()
    with pytest.raises(lensnb.LensError, match="^strict: expected"):  # a flag, not a truthy string
        download(None, tmp_path / "other", progress=False, datasets=sets, strict="yes")
    assert not (tmp_path / "other").exists()


def test_the_command_line_tries_everything_and_exits_non_zero(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dl, "DATASETS", _three(server))
    assert dl.main(["--to", str(tmp_path / "all")]) == 1
    error = capsys.readouterr().err
    assert "1 of 3 sources failed (second)" in error and f"- download: second: {server.base}" in error
    assert (tmp_path / "all" / "third" / "third.tsv").exists()
    assert dl.main(["--to", str(tmp_path / "strict"), "--strict"]) == 2
    assert not (tmp_path / "strict" / "third").exists()


def test_http_errors_are_worded_apart_from_connection_failures(server, tmp_path):
    server.status.update({"/gone.tsv": 404, "/broken.tsv": 502})
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/x.tsv"
    sets = {name: Dataset(name, "", "", (Source(url, "f.tsv"),))
            for name, url in (("gone", f"{server.base}/gone.tsv"), ("broken", f"{server.base}/broken.tsv"),
                              ("down", closed))}  # fmt: skip
    with pytest.raises(dl.DownloadFailed) as caught:
        download(None, tmp_path / "data", progress=False, datasets=sets)
    reasons = {f.dataset: f.reason for f in caught.value.failures}
    assert "answered HTTP 404 Not Found" in reasons["gone"] and "connection" not in reasons["gone"].lower()
    assert "answered HTTP 502" in reasons["broken"] and "Retry later" in reasons["broken"]
    assert "could not be fetched" in reasons["down"] and "Check the connection" in reasons["down"]
    assert list(tmp_path.joinpath("data").rglob("*")) == []


# --- 8. damaged tar.gz archives (audit s27 F2) -----------------------------------------


def _tar_bytes(count: int = 6) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for i in range(count):
            data = b"".join(b"review %d line %d\n" % (i, j) for j in range(200))
            info = tarfile.TarInfo(f"movies/docs/doc_{i}.txt")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _with_crc_of(compressed: bytes, original: bytes) -> bytes:
    """``compressed`` (a gzip file) with the trailer's CRC of ``original``: the content no longer matches it."""
    return compressed[:-8] + zlib.crc32(original).to_bytes(4, "little") + compressed[-4:]


def _assert_tar_refused(server, tmp_path, body: bytes, reason: str) -> None:
    """A .tar.gz served as ``body`` is refused with ``reason`` (a regex after the address), nothing installed."""
    server.files["/movies.tar.gz"] = body
    url = f"{server.base}/movies.tar.gz"
    sets = {"eraser": Dataset("eraser", "", "", (Source(url, ".", "tar"),))}
    with pytest.raises(lensnb.LensError, match=f"eraser: {url}{reason}"):
        download(["eraser"], tmp_path / "data", progress=False, datasets=sets)
    assert list(tmp_path.joinpath("data").rglob("*")) == []


def test_a_tar_gz_whose_content_fails_its_crc_is_refused(server, tmp_path):
    original = _tar_bytes()
    damaged = bytearray(original)
    at = original.index(b"review 3 line 100")
    damaged[at : at + 6] = b"REVIEW"  # one member's content altered, the gzip trailer still the original's
    body = _with_crc_of(gzip.compress(bytes(damaged)), original)
    _assert_tar_refused(server, tmp_path, body, " could not be unpacked as tar .*CRC")


def test_a_tar_gz_with_a_damaged_header_is_refused_not_partly_installed(server, tmp_path):
    original = bytearray(_tar_bytes())
    second = original.index(b"movies/docs/doc_1.txt")  # the second member's header
    original[second + 148 : second + 156] = b"garbage!"  # its checksum field: tarfile takes it as the end
    body = gzip.compress(bytes(original))  # a sound gzip stream
    _assert_tar_refused(server, tmp_path, body, ": the tar archive holds data past byte .*refused")


def test_a_sound_tar_with_trailing_zeros_is_installed(server, tmp_path):
    server.files["/a.tar.gz"] = gzip.compress(_tar_bytes() + bytes(20 * 512))
    server.files["/a.tar"] = _tar_bytes(2)
    sets = {"gz": Dataset("gz", "", "", (Source(f"{server.base}/a.tar.gz", ".", "tar"),)),
            "plain": Dataset("plain", "", "", (Source(f"{server.base}/a.tar", ".", "tar"),))}  # fmt: skip
    download(None, tmp_path / "data", progress=False, datasets=sets)
    assert len(list((tmp_path / "data" / "gz" / "movies" / "docs").iterdir())) == 6
    assert len(list((tmp_path / "data" / "plain" / "movies" / "docs").iterdir())) == 2


# --- 9. slow servers (audit s27 F6) and the user agent (S2) ----------------------------


@contextlib.contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Dripping(http.server.BaseHTTPRequestHandler):
    """Announces 400 bytes and sends them 10 at a time, every 50 ms (200 bytes/s)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "400")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(40):
                self.wfile.write(b"x" * 10)
                self.wfile.flush()
                time.sleep(0.05)


def test_a_transfer_that_drips_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "RATE_WINDOW_S", 0.5)
    monkeypatch.setattr(dl, "MIN_RATE_BYTES_PER_S", 1000)
    with _serving(_Dripping) as base:
        sets = {"slow": Dataset("slow", "", "", (Source(f"{base}/slow.json", "slow.json"),))}
        began = time.monotonic()
        with pytest.raises(lensnb.LensError, match=f"slow: {base}/slow.json came at .* bytes/s .*under the least"):
            download(["slow"], tmp_path / "data", progress=False, datasets=sets)
        assert time.monotonic() - began < 1.8  # refused before the 2 s the whole transfer would take
    assert list(tmp_path.joinpath("data").rglob("*")) == []
    monkeypatch.setattr(dl, "RATE_WINDOW_S", 1.0)  # a rate well above the least passes
    monkeypatch.setattr(dl, "MIN_RATE_BYTES_PER_S", 20)
    with _serving(_Dripping) as base:
        sets = {"slow": Dataset("slow", "", "", (Source(f"{base}/slow.json", "slow.json"),))}
        download(["slow"], tmp_path / "data", progress=False, datasets=sets)
    assert (tmp_path / "data" / "slow" / "slow.json").read_bytes() == b"x" * 400


def test_each_read_waits_at_most_the_read_timeout(tmp_path, monkeypatch):
    class Silent(_Dripping):
        def do_GET(self) -> None:
            time.sleep(2)

    monkeypatch.setattr(dl, "READ_TIMEOUT_S", 0.3)
    with _serving(Silent) as base:
        sets = {"silent": Dataset("silent", "", "", (Source(f"{base}/x", "x"),))}
        with pytest.raises(lensnb.LensError, match="silent: .*could not be fetched .*timed out"):
            download(["silent"], tmp_path / "data", progress=False, datasets=sets)


def test_requests_name_lensnb_as_their_user_agent(server, tmp_path):
    server.files["/gap-test.tsv"] = b"upstream\n"
    sets = {"gap": Dataset("gap", "", "", (Source(f"{server.base}/gap-test.tsv", "gap-test.tsv"),))}
    download(["gap"], tmp_path / "data", progress=False, datasets=sets)
    assert server.agents == [f"lensnb/{lensnb.__version__} (+python-urllib)"]
