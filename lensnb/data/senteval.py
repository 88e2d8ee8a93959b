"""SentEval probing tasks (Conneau et al. 2018): ``split<TAB>label<TAB>sentence`` files.

Each of the ten probing files (``sentence_length.txt``, ``word_content.txt``, ...,
``coordination_inversion.txt``) holds one sentence per line, already tokenised and
joined by spaces, with the split code (``tr``, ``va`` or ``te``) and the label in
front. :func:`read_senteval` reads one file into :class:`lensnb.Example` lists, one
per split; the task is recognised from the file name.
"""

from __future__ import annotations

import os

from lensnb.data.files import existing_file, non_negative_int, read_lines, refuse_empty
from lensnb.errors import LensError
from lensnb.examples import Example

__all__ = ["SENTEVAL_TASKS", "SENTEVAL_SPLITS", "read_senteval"]

#: File stem of each probing task -> its short name in Conneau et al. 2018 (Table 2).
SENTEVAL_TASKS = {
    "sentence_length": "SentLen",
    "word_content": "WC",
    "tree_depth": "TreeDepth",
    "top_constituents": "TopConst",
    "bigram_shift": "BShift",
    "past_present": "Tense",
    "subj_number": "SubjNum",
    "obj_number": "ObjNum",
    "odd_man_out": "SOMO",
    "coordination_inversion": "CoordInv",
}

#: The split codes of the SentEval files, in order: train, validation, test.
SENTEVAL_SPLITS = ("tr", "va", "te")

# Closed label sets; the other tasks are checked for form only (int, or a non-empty string).
_LABELS = {
    "bigram_shift": ("I", "O"),
    "coordination_inversion": ("I", "O"),
    "odd_man_out": ("C", "O"),
    "past_present": ("PAST", "PRES"),
    "subj_number": ("NN", "NNS"),
    "obj_number": ("NN", "NNS"),
    "sentence_length": tuple(range(6)),
}
_INTEGER_TASKS = ("sentence_length", "tree_depth")


def read_senteval(path: str | os.PathLike, task: str | None = None) -> dict[str, list[Example]]:
    """Read one SentEval probing file into examples grouped by split.

    Parameters
    ----------
    path : str or path-like
        A probing file in the layout of SentEval's ``data/probing`` folder, one
        ``split<TAB>label<TAB>sentence`` line per sentence (``sentence_length.txt``,
        or a sample such as ``sentence_length.sample.txt``).
    task : str, optional
        The task (a key of :data:`SENTEVAL_TASKS`). Default: recognised from the file
        name, the part before its first dot.

    Returns
    -------
    dict of str to list of Example
        Keys ``"tr"``, ``"va"``, ``"te"`` (all three, possibly empty), in file order
        within each. Each example's words are the sentence's whitespace-separated
        tokens; ``meta`` holds ``task``, ``split`` (the file's code: ``"tr"``, ``"va"``
        or ``"te"``) and ``label``. Labels are ints for ``sentence_length`` (bin 0-5)
        and ``tree_depth``, strings otherwise (as in the file).

    Raises
    ------
    LensError
        If the file is missing, the task is unknown, or a line is malformed (not three
        tab-separated fields, an unknown split code, a label outside the task's label
        set, an empty sentence); the message names the file and the line number.

    Notes
    -----
    Blank lines are skipped. SentEval itself keeps labels as strings; converting the
    two ordinal tasks to ints is this reader's choice, so that they sort and compare
    as numbers.

    The split codes are kept as the files write them (code that reads ``"tr"`` keeps
    working), and the probes read them as the parts they name:
    ``probe_layers(acts, text_task("label"), splits="split")`` trains on ``"tr"``,
    stops early or chooses settings on ``"va"`` and tests on ``"te"`` (see
    :data:`lensnb.probing.splits.SPLIT_NAMES`).

    References
    ----------
    Conneau, Kruszewski, Lample, Barrault & Baroni 2018, "What you can cram into a single
    $&!#* vector: Probing sentence embeddings for linguistic properties", ACL (Section 2:
    the ten probing tasks).
    """
    path = existing_file(path, "an existing SentEval probing file (e.g. bigram_shift.txt)")
    if task is None:
        task = path.name.split(".")[0]
        if task not in SENTEVAL_TASKS:
            raise LensError.bad_argument(
                "path",
                str(path),
                f"a file named after a SentEval probing task ({', '.join(SENTEVAL_TASKS)})",
                "Pass task= to read a renamed file.",
            )
    elif not isinstance(task, str) or task not in SENTEVAL_TASKS:
        raise LensError.bad_argument("task", task, f"one of {tuple(SENTEVAL_TASKS)}")
    splits: dict[str, list[Example]] = {split: [] for split in SENTEVAL_SPLITS}
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"{path}, line {number}"
        if len(fields) != 3:
            raise LensError.bad_argument(
                where, line, "3 tab-separated fields: split, label, sentence", f"Found {len(fields)}."
            )
        split, label, sentence = fields
        if split not in splits:
            raise LensError.bad_argument(where, split, f"a split code in the first field, one of {SENTEVAL_SPLITS}")
        words = sentence.split()
        if not words:
            raise LensError.bad_argument(where, sentence, "a non-empty sentence in the third field")
        meta = {"task": task, "split": split, "label": _label(task, label.strip(), where)}
        splits[split].append(Example(words=words, meta=meta))
    refuse_empty([e for examples in splits.values() for e in examples], path, f"SentEval {task} lines")
    return splits


def _label(task: str, label: str, where: str) -> int | str:
    if not label:
        raise LensError.bad_argument(where, label, "a label in the second field")
    value: int | str = label
    if task in _INTEGER_TASKS:
        value = non_negative_int(label, where, f"label for {task}")
    allowed = _LABELS.get(task)
    if allowed is not None and value not in allowed:
        raise LensError.bad_argument(where, label, f"a {task} label, one of {allowed}")
    return value
