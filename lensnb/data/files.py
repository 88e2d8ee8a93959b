"""Opening dataset files for the readers of :mod:`lensnb.data`: paths, text, lines, JSON.

Internal to :mod:`lensnb.data`. Every reader gets its files through these helpers, so
they all behave alike:

- text is UTF-8; a leading byte-order mark is dropped; a byte that is not UTF-8 raises a
  :class:`~lensnb.errors.LensError` naming the file and the line;
- lines are split at ``"\\n"`` only (``str.splitlines`` also splits at U+2028, U+0085 and
  other characters that occur inside sentences), without their ``"\\r\\n"`` / ``"\\n"``
  ends, numbered from 1 as an editor shows them;
- an error inside a file reads ``"<file>, line N: expected ..., received ..."``
  (:func:`line_error`);
- a path is a file, or a folder laid out as the official download
  (:func:`resolve_data_file`, :func:`one_file`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lensnb.errors import LensError

__all__ = [
    "as_path",
    "existing_file",
    "json_field",
    "line_error",
    "load_json",
    "non_negative_int",
    "one_file",
    "read_lines",
    "read_text",
    "resolve_data_file",
]

_BOM = "\ufeff"
_JSON_NAMES = {str: "string", int: "integer", list: "array", dict: "object"}


def line_error(path: str | os.PathLike, line: int, expected: str, received: Any, hint: str = "") -> LensError:
    """The error for line ``line`` (counted from 1) of ``path``: ``"<path>, line N: expected ..., received ..."``."""
    return LensError.bad_argument(f"{path}, line {line}", received, expected, hint)


def as_path(path: Any, what: str) -> Path:
    """``path`` as a :class:`~pathlib.Path`, checked to be a str or path-like; ``what`` it should name, for messages."""
    if not isinstance(path, (str, os.PathLike)):
        raise LensError.bad_argument("path", path, f"a path to {what} (str or pathlib.Path)")
    return Path(path)


def existing_file(path: str | os.PathLike, expected: str = "an existing file") -> Path:
    """``path`` as a :class:`~pathlib.Path`, checked to be a path (str or path-like) to an existing file."""
    path = as_path(path, "a file")
    if not path.is_file():
        raise LensError.bad_argument("path", str(path), expected)
    return path


def read_text(path: str | os.PathLike) -> str:
    """The text of a UTF-8 file, without a leading byte-order mark.

    Raises
    ------
    LensError
        For a byte that is not UTF-8, naming the file and the line, with the line's
        first bytes as received and the byte's place in the line as hint.
    """
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = data.rfind(b"\n", 0, error.start) + 1
        end = data.find(b"\n", error.start)
        line = data[start : len(data) if end < 0 else end + 1]
        raise line_error(
            path,
            data.count(b"\n", 0, error.start) + 1,
            "UTF-8 text",
            line[:60],
            f"({error.reason} at byte {error.start - start} of the line.)",
        ) from None
    return text[1:] if text.startswith(_BOM) else text


def read_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a UTF-8 file (:func:`read_text`), split at ``"\\n"`` only, without their line ends.

    ``lines[i]`` is line ``i + 1``; a final line end does not start an empty line.
    """
    lines = [line[:-1] if line.endswith("\r") else line for line in read_text(path).split("\n")]
    if lines and not lines[-1]:
        lines.pop()
    return lines


def check_str(value: Any, name: str) -> str:
    """``value`` itself when it is a str, else a LensError naming ``name``."""
    if not isinstance(value, str):
        raise LensError.bad_argument(name, value, "a str")
    return value


def refuse_empty(records: Any, path: Any, what: str) -> Any:
    """``records`` when there is at least one, else a LensError saying that ``path`` held none of
    ``what`` (an empty or truncated download must not pass as a dataset of no examples)."""
    if len(records) == 0:
        raise LensError.bad_argument(str(path), "a file with none", what)
    return records


def non_negative_int(value: str, where: str, what: str) -> int:
    """A field read as an integer >= 0; ``where`` names its place (``"<file>, line N"``), ``what`` the field."""
    try:
        number = int(value)
    except ValueError:
        raise LensError.bad_argument(where, value, f"an integer {what}") from None
    if number < 0:
        raise LensError.bad_argument(where, value, f"a non-negative integer {what}")
    return number


def load_json(path: str | os.PathLike) -> Any:
    """The JSON value of a UTF-8 file; invalid JSON names the file, line and column."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise LensError.bad_argument(
            f"{path}, line {error.lineno}, column {error.colno}", error.msg, "valid JSON"
        ) from None


def json_field(record: Any, name: str, kind: type, where: str) -> Any:
    """``record[name]`` of a JSON object, checked to be a ``kind`` (str, int, list or dict; a bool is no int).

    ``where`` names the record in messages (``"dev.json, data[3]"``); a wrong value is
    named ``"<where>.<name>"``.
    """
    if not isinstance(record, dict):
        raise LensError.bad_argument(where, record, f"a JSON object with a {name!r} field")
    if name not in record:
        raise LensError.bad_argument(where, f"fields {sorted(record)}", f"a {name!r} field")
    value = record[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise LensError.bad_argument(f"{where}.{name}", value, f"a JSON {_JSON_NAMES[kind]}")
    return value


def resolve_data_file(
    path: str | os.PathLike, split: str | None, layout: Mapping[str | None, Sequence[str]], dataset: str
) -> Path:
    """The file to read: ``path`` itself, or the file of ``split`` in the folder ``path``.

    Parameters
    ----------
    path : str or Path
        A file, or a folder laid out as the official download (``layout[split]`` lists
        the file's possible places in it, relative to the folder, the first found wins).
    split : str, optional
        Required when ``path`` is a folder (a key of ``layout``; None is a key for
        datasets of one file); must be None when it is a file.
    layout : mapping of str to sequence of str
    dataset : str
        The dataset's name, for messages.

    Returns
    -------
    Path
    """
    if split is not None and not isinstance(split, str):
        raise LensError.bad_argument("split", split, f"None or a split name, one of {sorted(k for k in layout if k)}")
    path = as_path(path, f"a {dataset} file or folder").expanduser()
    if path.is_file():
        if split is not None:
            raise LensError.bad_argument(
                "split", split, "None when path is a file", "Pass the folder to choose a split by name."
            )
        return path
    if not path.is_dir():
        raise LensError.bad_argument("path", str(path), f"an existing {dataset} file or folder")
    if split not in layout:
        raise LensError.bad_argument("split", split, f"one of {sorted(layout)} when path is a folder")
    for relative in layout[split]:
        candidate = path / relative
        if candidate.is_file():
            return candidate
    which = f"the {dataset} file" if split is None else f"the {dataset} {split!r} file"
    raise LensError.bad_argument("path", str(path), f"a folder holding {which} as one of {list(layout[split])}")


def one_file(folder: Path, pattern: str) -> Path:
    """The one file of ``folder`` whose name matches the glob ``pattern``; none or several is an error."""
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise LensError.bad_argument(
            "path",
            str(folder),
            f"a folder with exactly one file matching {pattern!r}",
            f"Found {[f.name for f in found]}.",
        )
    return found[0]
