"""The file helpers every reader of lensnb.data shares, and the package's public names."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import lensnb.data
from lensnb import LensError
from lensnb.data.files import (
    existing_file,
    json_field,
    line_error,
    load_json,
    non_negative_int,
    one_file,
    read_lines,
    read_text,
    resolve_data_file,
)


def test_read_lines_splits_at_newlines_only(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes("\ufeffone\r\ntwo\u2028still two\x85too\n\nfour\n".encode())
    assert read_text(path) == "one\r\ntwo\u2028still two\x85too\n\nfour\n"  # the byte-order mark is dropped
    assert read_lines(path) == ["one", "two\u2028still two\x85too", "", "four"]
    path.write_bytes(b"no end")
    assert read_lines(path) == ["no end"]
    path.write_bytes(b"")
    assert read_lines(path) == []


def test_bytes_that_are_not_utf8_name_line_and_byte(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("fine\nZ\xfcrich\nlast\n".encode("latin-1"))
    with pytest.raises(LensError) as caught:
        read_lines(path)
    assert str(caught.value) == (
        f"{path}, line 2: expected UTF-8 text, received bytes b'Z\\xfcrich\\n'. "
        "(invalid start byte at byte 1 of the line.)"
    )


def test_line_error_and_integers():
    assert str(line_error("a.txt", 3, "a tag", "X", "Try again.")) == (
        "a.txt, line 3: expected a tag, received 'X'. Try again."
    )
    assert non_negative_int("12", "f, line 1", "index") == 12
    with pytest.raises(LensError, match=r"f, line 1: expected an integer index, received 'x'"):
        non_negative_int("x", "f, line 1", "index")
    with pytest.raises(LensError, match=r"f, line 1: expected a non-negative integer index, received '-1'"):
        non_negative_int("-1", "f, line 1", "index")


def test_paths_and_official_layouts(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b", encoding="utf-8")
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    assert existing_file(str(tmp_path / "a.txt")) == tmp_path / "a.txt"
    with pytest.raises(LensError, match="path: expected a path to a file"):
        existing_file(3)
    with pytest.raises(LensError, match="path: expected an existing thing"):
        existing_file(tmp_path / "none.txt", "an existing thing")
    layout = {"train": ("missing.txt", "sub/b.txt"), "test": ("a.txt",)}
    assert resolve_data_file(tmp_path, "train", layout, "Toy") == tmp_path / "sub" / "b.txt"
    assert resolve_data_file(tmp_path / "a.txt", None, layout, "Toy") == tmp_path / "a.txt"
    with pytest.raises(LensError, match="split: expected None when path is a file"):
        resolve_data_file(tmp_path / "a.txt", "test", layout, "Toy")
    with pytest.raises(LensError, match=r"split: expected one of \['test', 'train'\]"):
        resolve_data_file(tmp_path, "dev", layout, "Toy")
    assert one_file(tmp_path, "a.*") == tmp_path / "a.txt"
    with pytest.raises(LensError, match=r"exactly one file matching '\*\.md'.*Found \[\]"):
        one_file(tmp_path, "*.md")


def test_json(tmp_path):
    path = tmp_path / "f.json"
    path.write_bytes(b'\xef\xbb\xbf{"n": 1, "flag": true}')
    record = load_json(path)
    assert json_field(record, "n", int, "f.json") == 1
    with pytest.raises(LensError, match=r"f\.json\.flag: expected a JSON integer, received True"):
        json_field(record, "flag", int, "f.json")
    with pytest.raises(LensError, match=r"f\.json: expected a 'name' field"):
        json_field(record, "name", str, "f.json")
    path.write_text('{"n":\n 1,]', encoding="utf-8")
    with pytest.raises(LensError, match=rf"{path}, line 2, column 4: expected valid JSON"):
        load_json(path)


@pytest.mark.parametrize(
    "reader, name, content",
    [
        ("read_conll2000", "c.txt", "Dogs NNS B-NP\nbark VBP B-VP\n"),
        (
            "read_conllu",
            "u.conllu",
            "# text = Dogs bark\n1\tDogs\tdog\tNOUN\tNNS\t_\t2\tnsubj\t_\t_\n"
            "2\tbark\tbark\tVERB\tVBP\t_\t0\troot\t_\t_\n",
        ),  # fmt: skip
        ("read_ptb", "t.mrg", "( (S (NP (NNS Dogs)) (VP (VBP bark))) )\n"),
        ("read_sst2", "s.tsv", "sentence\tlabel\ndogs bark\t1\n"),
    ],
)
def test_readers_ignore_a_byte_order_mark(tmp_path, reader, name, content):
    (tmp_path / "plain").mkdir()
    (tmp_path / "bom").mkdir()
    plain, marked = tmp_path / "plain" / name, tmp_path / "bom" / name
    plain.write_text(content, encoding="utf-8")
    marked.write_text(content, encoding="utf-8-sig")
    read = getattr(lensnb.data, reader)
    expected = read(plain)
    assert read(marked) == expected and expected[0].words[0] in ("Dogs", "dogs")


def test_public_names_come_from_their_modules():
    assert len(lensnb.data.__all__) == len(set(lensnb.data.__all__))
    for name in lensnb.data.__all__:
        value = getattr(lensnb.data, name)
        module = importlib.import_module(value.__module__)
        assert module.__name__.startswith("lensnb.data.") and getattr(module, name) is value
    for name in ("read_squad", "read_hotpotqa", "read_babi", "read_conllu", "split_words", "tree_depth"):
        assert name in lensnb.data.__all__


def test_importing_lensnb_data_loads_nothing_heavy():
    code = (
        "import sys, lensnb; before = set(sys.modules); import lensnb.data; "
        "print(sorted(m.split('.')[0] for m in set(sys.modules) - before))"
    )
    loaded = set(eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout))
    assert loaded <= {"lensnb", "xml", "pyexpat", "_elementtree"}, loaded
