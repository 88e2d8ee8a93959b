"""bAbI tasks as question + context examples for layer-wise analysis.

One :class:`~lensnb.examples.Example` per question, the story so far as the context, in
the layout of :mod:`lensnb.data.qa` (roles, sentences, answer spans, SUP span pairs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from lensnb.data.files import as_path, check_str, one_file, read_lines
from lensnb.data.qa import qa_example
from lensnb.data.text import split_words
from lensnb.errors import LensError
from lensnb.examples import Example

__all__ = ["read_babi"]

_BABI_LINE = re.compile(r"^(\d+) (.*)$")


def read_babi(
    path: str | os.PathLike, task: int | None = None, split: str | None = None, *, separator: str = " "
) -> list[Example]:
    """Read a bAbI task: one example per question, the story so far as the context.

    Parameters
    ----------
    path : str or Path
        A task file of the official release (``qa1_single-supporting-fact_train.txt``),
        or a folder of them (``tasks_1-20_v1-2/en-10k/``).
    task : int, optional
        The task number (1-20) when ``path`` is a folder.
    split : {"train", "test", "valid"}, optional
        The split when ``path`` is a folder (``valid``: the release's ``en-valid``
        folders).
    separator : str
        Put between the question and the story in ``text``.

    Returns
    -------
    list of Example
        One per question, in the file's order (1,000 per test file, 10,000 per train
        file of en-10k; the 1k setting is the first 1,000 of a train file); words, labels,
        spans and span pairs as described in :mod:`lensnb.data.qa`. The context is the
        story's statements up to the question (earlier questions left out), one
        sentence each; the supporting facts are the question's line numbers; the answer
        words are the words of the supporting facts equal to the answer (or to one of a
        list answer's items, ``football,apple``), case ignored; answers not in the story
        (``yes``, ``two``, directions ``s,w``) mark none. ``meta``: ``task``, ``story``
        (its index in the file: split by story), ``line`` (the question's line number),
        ``question``, ``answer``, ``supporting_lines`` (as written, e.g. ``"4 15"``),
        ``answer_in_context``.

    Raises
    ------
    LensError
        For a missing file, or a malformed line (no number, numbers that do not count up
        from 1 in a story, a question without an answer or supporting-fact numbers, a
        supporting fact that is not an earlier statement of the story): the message names
        the file and the line.

    References
    ----------
    Weston et al. 2015, "Towards AI-Complete Question Answering: A Set of Prerequisite
    Toy Tasks"; van Aken et al. 2019, "How Does BERT Answer Questions?".
    """
    check_str(separator, "separator")
    file = _babi_file(path, task, split)
    name = re.match(r"qa(\d+)_", file.name)
    task_number = int(name.group(1)) if name else task
    lines = read_lines(file)
    examples: list[Example] = []
    story_index, expected = -1, 1
    story = _Story()
    for number, raw in enumerate(lines, start=1):
        where = f"{file}, line {number}"
        if not raw.strip():
            continue
        match = _BABI_LINE.match(raw.strip())
        if match is None:
            raise LensError.bad_argument(where, raw, "a line number, a space and a statement or question")
        line_id, content = int(match.group(1)), match.group(2)
        if line_id == 1:
            story_index, story, expected = story_index + 1, _Story(), 1
        if line_id != expected or story_index < 0:
            raise LensError.bad_argument(
                where, line_id, f"line number {expected} (numbers count up from 1 in each story)"
            )
        expected += 1
        if "\t" not in content:
            if not content.strip():
                raise LensError.bad_argument(where, raw, "a statement after the line number")
            story.add(line_id, content.strip())
            continue
        fields = content.split("\t")
        if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
            raise LensError.bad_argument(where, raw, "a question, a tab, the answer, a tab and supporting line numbers")
        question, answer, support = fields[0].strip(), fields[1].strip(), fields[2].strip()
        support_ids = [int(x) for x in support.split()] if re.fullmatch(r"\d+(?: \d+)*", support) else []
        if not support_ids or any(x not in story.position for x in support_ids):
            raise LensError.bad_argument(
                where, support, "the numbers of earlier statements of the story, separated by spaces"
            )
        if not story.lines:
            raise LensError.bad_argument(where, raw, "a question after at least one statement of its story")
        meta = {"task": task_number, "story": story_index, "line": line_id}
        examples.append(story.example(question, answer, support_ids, separator, where, meta))
    if not examples:
        raise LensError.bad_argument(str(file), "no questions", "bAbI stories with questions")
    return examples


class _Story:
    """A bAbI story's statements so far, each split into words once."""

    def __init__(self) -> None:
        self.lines: list[int] = []
        self.position: dict[int, int] = {}  # line number -> index among the statements
        self.pieces: list[str] = []
        self.sentences: list[tuple[int, int]] = []
        self.offsets: list[np.ndarray] = []
        self.words: list[list[str]] = []
        self.length = 0

    def add(self, line_id: int, statement: str) -> None:
        if self.pieces:
            self.pieces.append(" ")
            self.length += 1
        words, offsets = split_words(statement)
        self.position[line_id] = len(self.lines)
        self.lines.append(line_id)
        self.pieces.append(statement)
        self.sentences.append((self.length, self.length + len(statement)))
        self.offsets.append(offsets + self.length)
        self.words.append(words)
        self.length += len(statement)

    def example(
        self, question: str, answer: str, support: list[int], separator: str, where: str, meta: dict[str, Any]
    ) -> Example:
        supporting = [False] * len(self.lines)
        items = {item.strip().lower() for item in answer.split(",") if item.strip()}
        answers = []
        for line_id in support:
            index = self.position[line_id]
            supporting[index] = True
            answers += [
                tuple(span)
                for word, span in zip(self.words[index], self.offsets[index].tolist())
                if word.lower() in items
            ]
        answers.sort()
        meta = {
            **meta, "question": question, "answer": answer,
            "supporting_lines": " ".join(str(x) for x in support), "answer_in_context": bool(answers),
        }  # fmt: skip
        return qa_example(
            question, "".join(self.pieces), self.sentences, supporting, answers, separator, meta, where,
            all_answer_roles=True, presplit=np.concatenate(self.offsets),
        )  # fmt: skip


def _babi_file(path: str | os.PathLike, task: int | None, split: str | None) -> Path:
    path = as_path(path, "a bAbI task file or folder").expanduser()
    if path.is_file():
        if task is not None or split is not None:
            raise LensError.bad_argument("task", task, "None (and split None) when path is a file")
        return path
    if not path.is_dir():
        raise LensError.bad_argument("path", str(path), "an existing bAbI task file or folder")
    if not isinstance(task, int) or isinstance(task, bool) or not 1 <= task <= 20:
        raise LensError.bad_argument("task", task, "a task number from 1 to 20 when path is a folder")
    if split not in ("train", "test", "valid"):
        raise LensError.bad_argument("split", split, "'train', 'test' or 'valid' when path is a folder")
    # qa1_single-supporting-fact_train.txt; qa1_valid.txt in en-valid/
    return one_file(path, f"qa{task}_*{split}.txt")
