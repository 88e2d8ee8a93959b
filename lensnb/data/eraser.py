"""ERASER Movie Reviews: sentiment labels with human rationales (DeYoung et al. 2020).

The official download (``movies.tar.gz``) holds ``train.jsonl``, ``val.jsonl`` and
``test.jsonl`` (one annotation per line: ``annotation_id``, ``classification``
``POS``/``NEG``, ``evidences``: a list of evidence groups, each a list of
``{docid, start_token, end_token, text, ...}``) and ``docs/`` (one pre-tokenised
review per file, one sentence per line, tokens separated by spaces). Token offsets
index the document's tokens, all sentences concatenated; ``end_token`` is exclusive.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from lensnb.data.files import as_path, read_lines, read_text, refuse_empty
from lensnb.errors import LensError
from lensnb.examples import Example, Span

__all__ = ["ERASER_LABELS", "read_eraser_movies"]

#: The two classes of the movie reviews.
ERASER_LABELS = ("NEG", "POS")


def read_eraser_movies(path: str | os.PathLike, split: str = "train") -> list[Example]:
    """Read one split of ERASER Movie Reviews with its human rationales.

    Parameters
    ----------
    path : str or path-like
        The dataset folder (holding ``{split}.jsonl`` and ``docs/``, or ``docs.jsonl``
        with ``{"docid", "document"}`` lines), or an annotation ``.jsonl`` file with
        ``docs/`` beside it (then ``split`` is the file's stem).
    split : str
        ``"train"``, ``"val"`` or ``"test"``: which ``{split}.jsonl`` of the folder.

    Returns
    -------
    list of Example
        One per annotation, in file order. Words are the document's tokens as
        distributed (sentences concatenated; the text is the words joined by single
        spaces). ``labels["rationale"]`` is 1 for each word inside a human evidence
        span, else 0; ``labels["sentence"]`` is the index of the word's sentence.
        ``spans`` are the evidence spans, sorted, each ``Span(start, end,
        "rationale")``. ``meta`` holds ``label`` (``"POS"``/``"NEG"``),
        ``annotation_id`` and ``split``.

    Raises
    ------
    LensError
        If a file is missing or malformed: bad JSON, missing fields, an unknown class,
        a missing document, evidence offsets outside the document, or an evidence
        ``text`` that differs from the document's tokens at its offsets. The message
        names the file, the line and the evidence.

    Notes
    -----
    Tokens are the space-separated pieces of each non-empty line, as ERASER's own
    ``load_documents`` cuts them. Evidence groups are flattened: each evidence is one
    span. The sentence fields of an evidence (``start_sentence``...) are not used.
    One training review (``posR_161.txt``) has no evidence: its rationale is all 0.

    References
    ----------
    DeYoung, Jain, Rajani, Lehman, Xiong, Socher & Wallace 2020, "ERASER: A benchmark
    to evaluate rationalized NLP models", ACL (Section 3, Movie Reviews). Zaidan,
    Eisner & Piatko 2007, "Using 'annotator rationales' to improve machine learning
    for text categorization", NAACL.
    """
    path = as_path(path, "an ERASER folder or annotation .jsonl file")
    if path.is_dir():
        if not isinstance(split, str) or not split:
            raise LensError.bad_argument("split", split, "a split name such as 'train', 'val' or 'test'")
        folder, annotations = path, path / f"{split}.jsonl"
    else:
        folder, annotations, split = path.parent, path, path.stem
    if not annotations.is_file():
        found = sorted(p.name for p in folder.glob("*.jsonl")) if folder.is_dir() else []
        raise LensError.bad_argument(
            "path",
            str(path),
            f"an ERASER folder with {annotations.name} and docs/ (or a .jsonl file)",
            f"Found {found}.",
        )
    documents = _DocumentSource(folder)
    examples = []
    for where, value in _json_lines(annotations):
        record = _record(value, where)
        docid = record["annotation_id"]
        sentences = documents.sentences(docid, where)
        words = [word for sentence in sentences for word in sentence]
        sentence_of = [index for index, sentence in enumerate(sentences) for _ in sentence]
        spans = sorted(
            {
                _evidence_span(evidence, words, docid, f"{where}, evidence {index}")
                for index, evidence in _evidences(record, where)
            },
            key=lambda span: (span.start, span.end),
        )
        rationale = [0] * len(words)
        for span in spans:
            rationale[span.start : span.end] = [1] * (span.end - span.start)
        examples.append(
            Example(
                words=words,
                labels={"rationale": rationale, "sentence": sentence_of},
                spans=spans,
                meta={"label": record["classification"], "annotation_id": docid, "split": split},
            )
        )
    return refuse_empty(examples, annotations, "ERASER annotations")


def _json_lines(path: Path) -> Iterator[tuple[str, object]]:
    """``(where, value)`` of each non-blank line of a JSON-lines file, ``where`` naming the file and line."""
    for number, raw in enumerate(read_lines(path), start=1):
        if not raw.strip():
            continue
        where = f"{path}, line {number}"
        try:
            yield where, json.loads(raw)
        except json.JSONDecodeError as error:
            raise LensError.bad_argument(where, raw[:60], "one JSON object per line", str(error)) from None


def _record(record: object, where: str) -> dict:
    if not isinstance(record, dict):
        raise LensError.bad_argument(where, record, "a JSON object with annotation_id, classification, evidences")
    missing = [key for key in ("annotation_id", "classification", "evidences") if key not in record]
    if missing:
        raise LensError.bad_argument(where, sorted(record), f"the keys {missing} as well")
    if not isinstance(record["annotation_id"], str) or not record["annotation_id"]:
        raise LensError.bad_argument(where, record["annotation_id"], "annotation_id: a document file name")
    if record["classification"] not in ERASER_LABELS:
        raise LensError.bad_argument(where, record["classification"], f"classification, one of {ERASER_LABELS}")
    if not isinstance(record["evidences"], list):
        raise LensError.bad_argument(where, record["evidences"], "evidences: a list of evidence groups (lists)")
    return record


def _evidences(record: dict, where: str):
    """(index, evidence) of every evidence of every group, the index counting across groups."""
    index = 0
    for group_index, group in enumerate(record["evidences"]):
        if not isinstance(group, list):
            raise LensError.bad_argument(f"{where}, evidence group {group_index}", group, "a list of evidence objects")
        for evidence in group:
            yield index, evidence
            index += 1


def _evidence_span(evidence: object, words: list[str], docid: str, where: str) -> Span:
    if not isinstance(evidence, dict):
        raise LensError.bad_argument(where, evidence, "an object with docid, start_token, end_token, text")
    missing = [key for key in ("docid", "start_token", "end_token", "text") if key not in evidence]
    if missing:
        raise LensError.bad_argument(where, sorted(evidence), f"the keys {missing} as well")
    if evidence["docid"] != docid:
        raise LensError.bad_argument(where, evidence["docid"], f"docid {docid!r}, the annotation's document")
    start, end = evidence["start_token"], evidence["end_token"]
    if not (type(start) is int and type(end) is int and 0 <= start < end <= len(words)):
        raise LensError.bad_argument(
            where, (start, end), f"integer token offsets 0 <= start_token < end_token <= {len(words)} (end exclusive)"
        )
    found = " ".join(words[start:end])
    if found != evidence["text"]:
        raise LensError.bad_argument(
            where, evidence["text"], f"evidence text equal to tokens {start}:{end} of {docid}, {found!r}"
        )
    return Span(start, end, "rationale")


class _DocumentSource:
    """The tokenised documents of a folder: ``docs/<docid>`` files, else ``docs.jsonl``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.docs = folder / "docs"
        self.jsonl: dict[str, str] | None = None
        if not self.docs.is_dir():
            lines_file = folder / "docs.jsonl"
            if not lines_file.is_file():
                raise LensError.bad_argument(
                    "path", str(folder), "an ERASER folder with docs/ or docs.jsonl beside the annotations"
                )
            self.jsonl = {}
            for where, record in _json_lines(lines_file):
                if not (isinstance(record, dict) and isinstance(record.get("docid"), str)
                        and isinstance(record.get("document"), str)):  # fmt: skip
                    raise LensError.bad_argument(where, record, "an object with string fields docid and document")
                self.jsonl[record["docid"]] = record["document"]

    def sentences(self, docid: str, where: str) -> list[list[str]]:
        if self.jsonl is not None:
            if docid not in self.jsonl:
                raise LensError.bad_argument(where, docid, f"a docid found in {self.folder / 'docs.jsonl'}")
            text, source = self.jsonl[docid], f"{self.folder / 'docs.jsonl'} ({docid})"
        else:
            file = self.docs / docid
            if Path(docid).name != docid or not file.is_file():
                raise LensError.bad_argument(where, docid, f"annotation_id naming a file of {self.docs}")
            text, source = read_text(file), str(file)
        sentences = [[token for token in line.strip().split(" ") if token] for line in text.split("\n")]
        sentences = [sentence for sentence in sentences if sentence]
        if not sentences:
            raise LensError.bad_argument(source, text[:60], "a document with at least one token")
        return sentences
