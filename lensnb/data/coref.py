"""Pronoun coreference: GAP (Webster et al. 2018) and the Winograd Schema Challenge (Levesque et al. 2012).

Both readers give each text a pronoun and candidate antecedents as word spans, and one
:class:`~lensnb.examples.SpanPair` ``(pronoun, candidate)`` per candidate labelled ``True``
when the candidate is what the pronoun refers to: the pairs an edge probe classifies
(Tenney et al. 2019 probe coreference and Winograd this way).
"""

from __future__ import annotations

import csv
import io
import os
import xml.etree.ElementTree as ElementTree

from lensnb.data.files import read_text, resolve_data_file
from lensnb.data.text import find_phrase, words_with_spans
from lensnb.errors import LensError
from lensnb.examples import Example, SpanPair

__all__ = ["read_gap", "read_wsc", "GAP_COLUMNS"]

#: The header of the GAP files, in order.
GAP_COLUMNS = (
    "ID", "Text", "Pronoun", "Pronoun-offset", "A", "A-offset", "A-coref", "B", "B-offset", "B-coref", "URL",
)  # fmt: skip

_GAP_FILES = {
    "development": ("gap-development.tsv",),
    "test": ("gap-test.tsv",),
    "validation": ("gap-validation.tsv",),
}
_WSC_FILES = {None: ("WSCollection.xml",)}
_FLAGS = {"TRUE": True, "FALSE": False}
#: The first 273 schemas of the collection are the WSC273 benchmark.
WSC273_SIZE = 273


def read_gap(path: str | os.PathLike, split: str | None = None) -> list[Example]:
    """Read GAP: a Wikipedia snippet, an ambiguous pronoun and two names.

    Parameters
    ----------
    path : str or Path
        ``gap-development.tsv``, ``gap-test.tsv`` or ``gap-validation.tsv`` of the
        official release, or the folder holding them.
    split : {"development", "test", "validation"}, optional
        Which file to read when ``path`` is a folder (``"dev"`` is accepted for
        ``"development"``).

    Returns
    -------
    list of Example
        One per row (2,000 development, 2,000 test, 454 validation). ``text`` is the
        snippet; ``words`` its words (:func:`~lensnb.data.text.split_words`, cut at the
        mentions' character offsets so each mention is whole words); ``spans`` the three
        mentions labelled ``"pronoun"``, ``"A"``, ``"B"``; ``span_pairs``
        ``SpanPair(pronoun, A, A-coref)`` and ``SpanPair(pronoun, B, B-coref)`` with bool
        labels; ``meta``: ``id``, ``pronoun``, ``a``, ``b``, ``a_coref``, ``b_coref``,
        ``answer`` (``"A"``, ``"B"`` or ``"neither"``) and ``url``.

    Raises
    ------
    LensError
        For a missing file, a wrong header, or a malformed row (wrong number of columns,
        an offset that is not a number or does not point at the mention's text, a flag
        other than TRUE/FALSE): the message names the file and the line.

    References
    ----------
    Webster et al. 2018, "Mind the GAP: A Balanced Corpus of Gendered Ambiguous Pronouns".
    """
    split = "development" if split == "dev" else split
    file = resolve_data_file(path, split, _GAP_FILES, "GAP")
    examples = []
    reader = csv.reader(io.StringIO(read_text(file), newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    for line, row in enumerate(reader, start=1):
        where = f"{file}, line {line}"
        if line == 1:
            if tuple(cell.strip() for cell in row) != GAP_COLUMNS:
                raise LensError.bad_argument(where, row, f"the GAP header {list(GAP_COLUMNS)}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        examples.append(_gap_example(row, where))
    if not examples:
        raise LensError.bad_argument(str(file), "no rows", "GAP rows after the header")
    return examples


def _gap_example(row: list[str], where: str) -> Example:
    if len(row) != len(GAP_COLUMNS):
        raise LensError.bad_argument(where, f"{len(row)} tab-separated fields", f"{len(GAP_COLUMNS)} fields")
    record = dict(zip(GAP_COLUMNS, row))
    text = record["Text"]
    mentions = {}
    for name, column in (("pronoun", "Pronoun"), ("A", "A"), ("B", "B")):
        mention, offset = record[column], record[f"{column}-offset"]
        if not (offset.strip().isascii() and offset.strip().isdigit()):
            raise LensError.bad_argument(f"{where}, column {column}-offset", offset, "a character offset (an integer)")
        start = int(offset)
        if not mention.strip() or text[start : start + len(mention)] != mention:
            raise LensError.bad_argument(
                f"{where}, column {column}-offset",
                start,
                f"the offset of {mention!r} in the Text column",
                f"The text there reads {text[start : start + len(mention)]!r}.",
            )
        mentions[name] = (start, start + len(mention))
    flags = {}
    for column in ("A-coref", "B-coref"):
        value = record[column].strip().upper()
        if value not in _FLAGS:
            raise LensError.bad_argument(f"{where}, column {column}", record[column], "TRUE or FALSE")
        flags[column] = _FLAGS[value]
    if flags["A-coref"] and flags["B-coref"]:
        raise LensError.bad_argument(where, "A-coref and B-coref both TRUE", "at most one name the pronoun refers to")
    words, spans = words_with_spans(text, mentions)
    return Example(
        words=words,
        spans=list(spans.values()),
        span_pairs=[
            SpanPair(spans["pronoun"], spans["A"], flags["A-coref"]),
            SpanPair(spans["pronoun"], spans["B"], flags["B-coref"]),
        ],
        meta={
            "id": record["ID"],
            "pronoun": record["Pronoun"],
            "a": record["A"],
            "b": record["B"],
            "a_coref": flags["A-coref"],
            "b_coref": flags["B-coref"],
            "answer": "A" if flags["A-coref"] else "B" if flags["B-coref"] else "neither",
            "url": record["URL"],
        },
        text=text,
    )


def read_wsc(path: str | os.PathLike) -> list[Example]:
    """Read the Winograd Schema Challenge collection (``WSCollection.xml``).

    Parameters
    ----------
    path : str or Path
        ``WSCollection.xml`` (Ernest Davis's collection of 285 schemas), or the folder
        holding it.

    Returns
    -------
    list of Example
        One per schema, in the file's order. ``text`` is the schema's sentence(s): its
        ``txt1``, ``pron`` and ``txt2`` parts with runs of white space made single spaces,
        joined by a space where the file separates them by white space and directly
        where it does not (``...we punished them.``, where Hugging Face's
        ``winograd_wsc`` reads ``...we punished them .``);
        ``spans`` the pronoun (label ``"pronoun"``) and the two candidates (``"A"``,
        ``"B"``); ``span_pairs`` ``SpanPair(pronoun, candidate, is_correct)`` for each
        candidate; ``meta``: ``id`` (the schema's index), ``wsc273`` (True for the first
        273 schemas, the WSC273 benchmark), ``pronoun``, ``a``, ``b``, ``answer``
        (``"A"`` or ``"B"``), ``source``.

    Notes
    -----
    A candidate is found in the text case-insensitively, on word boundaries (``The city
    councilmen`` matches ``the city councilmen``); where it occurs several times, the
    occurrence nearest before the pronoun is taken (``If Adam hadn't...`` rather than
    the first ``Adam``), or the first one after it when none precedes the pronoun
    (``Patting her back, the woman smiled at the girl.``). All 570 candidates of the 285
    schemas are found this way.

    Raises
    ------
    LensError
        For a missing file, XML that does not parse (file, line and column), or a schema
        without its text, pronoun, two answers or a correct answer A/B, or whose
        candidate is not in the text (file and schema index).

    References
    ----------
    Levesque, Davis & Morgenstern 2012, "The Winograd Schema Challenge"; Tenney et al.
    2019 probe Winograd-style coreference as span pairs (on the Definite Pronoun
    Resolution data of Rahman & Ng 2012, which is not this collection).
    """
    file = resolve_data_file(path, None, _WSC_FILES, "Winograd Schema Challenge")
    try:
        root = ElementTree.parse(file).getroot()
    except ElementTree.ParseError as error:
        line, column = error.position
        raise LensError.bad_argument(
            f"{file}, line {line}, column {column}", str(error), "well-formed XML (the WSCollection.xml layout)"
        ) from None
    schemas = root.findall("schema")
    if root.tag != "collection" or not schemas:
        raise LensError.bad_argument(
            str(file), f"<{root.tag}> with {len(schemas)} <schema>", "<collection> of <schema>"
        )
    return [_wsc_example(schema, index, f"{file}, schema {index}") for index, schema in enumerate(schemas)]


def _text_of(element: ElementTree.Element | None, tag: str, where: str, required: bool = True) -> str:
    child = None if element is None else element.find(tag)
    if child is None:
        if required:
            raise LensError.bad_argument(where, f"no <{tag}>", f"a <{tag}> element")
        return ""
    return " ".join("".join(child.itertext()).split())


def _written_apart(text_element: ElementTree.Element, left: str, right: str) -> bool:
    """Whether white space separates the ``left`` and ``right`` parts of a schema's text in the file."""
    left_text = "".join(text_element.find(left).itertext())
    right_text = "".join(text_element.find(right).itertext())
    return left_text[-1:].isspace() or right_text[:1].isspace()


def _wsc_example(schema: ElementTree.Element, index: int, where: str) -> Example:
    text_element = schema.find("text")
    if text_element is None:
        raise LensError.bad_argument(where, "no <text>", "a <text> with <txt1>, <pron> and <txt2>")
    before = _text_of(text_element, "txt1", where, required=False)
    pronoun = _text_of(text_element, "pron", where)
    after = _text_of(text_element, "txt2", where, required=False)
    if not pronoun:
        raise LensError.bad_argument(where, "an empty <pron>", "the pronoun")
    # the parts are joined as written: a space where white space separates them in the file
    # ("punished </txt1><pron>them</pron><txt2>.</txt2>" reads "punished them.")
    first_gap = " " if before and _written_apart(text_element, "txt1", "pron") else ""
    second_gap = " " if after and _written_apart(text_element, "pron", "txt2") else ""
    pronoun_start = len(before) + len(first_gap)
    text = before + first_gap + pronoun + second_gap + after
    pronoun_end = pronoun_start + len(pronoun)
    answers_element = schema.find("answers")
    answers = [] if answers_element is None else [" ".join("".join(a.itertext()).split()) for a in answers_element]
    if len(answers) != 2 or not all(answers):
        raise LensError.bad_argument(where, answers, "two non-empty <answer> elements")
    correct = _text_of(schema, "correctAnswer", where).rstrip(".").strip().upper()
    if correct not in ("A", "B"):
        raise LensError.bad_argument(where, correct, "a <correctAnswer> of A or B")
    ranges = {"pronoun": (pronoun_start, pronoun_end)}
    for name, answer in zip(("A", "B"), answers):
        ranges[name] = _locate(answer, text, pronoun_start, f"{where}, answer {name}")
    words, spans = words_with_spans(text, ranges)
    return Example(
        words=words,
        spans=list(spans.values()),
        span_pairs=[SpanPair(spans["pronoun"], spans[name], correct == name) for name in ("A", "B")],
        meta={
            "id": index,
            "wsc273": index < WSC273_SIZE,
            "pronoun": pronoun,
            "a": answers[0],
            "b": answers[1],
            "answer": correct,
            "source": _text_of(schema, "source", where, required=False),
        },
        text=text,
    )


def _locate(answer: str, text: str, pronoun_start: int, where: str) -> tuple[int, int]:
    """Character range of ``answer`` in ``text``: the occurrence nearest before the pronoun."""
    found = find_phrase(answer, text, ignore_case=True)
    if not found:
        raise LensError.bad_argument(where, answer, "a candidate that occurs in the schema's text", f"Text: {text!r}.")
    preceding = [span for span in found if span[1] <= pronoun_start]
    return preceding[-1] if preceding else found[0]
