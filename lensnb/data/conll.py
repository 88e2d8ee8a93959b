"""CoNLL-2000 chunking and CoNLL-2003 named entities, read into :class:`lensnb.Example` lists.

Both formats hold one word per line, whitespace-separated columns, and a blank line
after each sentence. Chunk and entity tags are IOB tags (``B-NP``, ``I-NP``, ``O``);
they become per-word label columns and labelled spans (word indices, end exclusive).

IOB transitions
---------------
In IOB2 (the scheme of the CoNLL-2000 files and of the common CoNLL-2003
redistributions) every chunk opens with ``B-X``, so ``I-X`` after ``O`` or after a
chunk of another type is an error. In IOB1 (the original Reuters CoNLL-2003 release)
``I-X`` opens a chunk and ``B-X`` is used only between two adjacent chunks of the same
type. ``scheme="iob2"`` (the default) rejects such an ``I-X`` with a :class:`LensError`
naming the file and line; ``scheme="iob1"`` reads it as the start of a chunk (which is
also how conlleval reads faulty IOB2) and rewrites the tag as ``B-X``, so the label
columns are always IOB2.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from lensnb.data.files import existing_file, line_error, read_lines, refuse_empty
from lensnb.errors import LensError
from lensnb.examples import Example, Span
from lensnb.flags import checks_flags

__all__ = ["iob_spans", "read_conll2000", "read_conll2003"]

_SCHEMES = ("iob2", "iob1")
DOCSTART = "-DOCSTART-"


class _BadTag(Exception):
    """A tag that cannot be read at ``index`` of a sentence (turned into a LensError by the caller)."""

    def __init__(self, index: int, tag: str, expected: str):
        super().__init__(index, tag, expected)
        self.index, self.tag, self.expected = index, tag, expected


def _decode_iob(tags: Sequence[str], scheme: str, outside: bool = False) -> tuple[list[Span], list[str]]:
    """Spans and IOB2 tags of one sentence's IOB tags; raises _BadTag."""
    spans: list[Span] = []
    iob2: list[str] = []
    start, kind = -1, None  # the open chunk, if any
    for i, tag in enumerate(tags):
        if tag == "O":
            iob2.append(tag)
            if kind == "O":  # an open run of O words (outside=True)
                continue
            if kind is not None:
                spans.append(Span(start, i, kind))
            start, kind = (i, "O") if outside else (-1, None)
            continue
        prefix, _, label = tag.partition("-")
        if prefix not in ("B", "I") or not label:
            raise _BadTag(i, tag, "an IOB tag: 'O', 'B-<type>' or 'I-<type>'")
        if prefix == "I" and kind == label:  # continues the open chunk
            iob2.append(tag)
            continue
        if prefix == "I" and scheme == "iob2":
            previous = "the start of the sentence" if i == 0 else repr(tags[i - 1])
            raise _BadTag(
                i,
                tag,
                f"'B-{label}' or a tag after 'B-{label}'/'I-{label}' (IOB2: a chunk opens with B-; "
                f"this I- follows {previous})",
            )
        if kind is not None:
            spans.append(Span(start, i, kind))
        start, kind = i, label
        iob2.append(f"B-{label}")
    if kind is not None:
        spans.append(Span(start, len(tags), kind))
    return spans, iob2


@checks_flags
def iob_spans(tags: Sequence[str], *, scheme: str = "iob2", outside: bool = False) -> list[Span]:
    """The labelled chunks of a sequence of IOB tags.

    Parameters
    ----------
    tags : sequence of str, length n_words
        ``"O"``, ``"B-<type>"`` or ``"I-<type>"`` per word.
    scheme : {"iob2", "iob1"}
        ``"iob2"``: an ``I-X`` that does not continue an ``X`` chunk is an error.
        ``"iob1"``: such an ``I-X`` opens a new chunk (IOB1; conlleval's reading).
    outside : bool
        Also return each maximal run of ``O`` words as a span labelled ``"O"``
        (Jawahar et al. 2019 cluster these beside the chunks).

    Returns
    -------
    list of Span
        In order of their start; ``Span(start, end, type)``, end exclusive.

    References
    ----------
    Ramshaw & Marcus (1995), "Text chunking using transformation-based learning" (IOB1);
    Tjong Kim Sang & Veenstra (1999), "Representing text chunks" (IOB2).
    """
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Sequence) or not all(isinstance(t, str) for t in tags):
        raise LensError.bad_argument("tags", tags, "a sequence of IOB tags (str), one per word")
    _check_scheme(scheme)
    try:
        return _decode_iob(list(tags), scheme, outside)[0]
    except _BadTag as bad:
        raise LensError.bad_argument(f"tags[{bad.index}]", bad.tag, bad.expected) from None


@checks_flags
def read_conll2000(path: str | os.PathLike, *, outside_spans: bool = False, scheme: str = "iob2") -> list[Example]:
    """Read a CoNLL-2000 chunking file (``train.txt`` or ``test.txt``).

    Each line is ``word POS chunk`` (e.g. ``Confidence NN B-NP``); sentences end with a
    blank line.

    Parameters
    ----------
    path : str or Path
        The file, as in the official download (``conll2000/train.txt``).
    outside_spans : bool
        Also add each maximal run of ``O`` words as a span labelled ``"O"`` (the
        "O runs" of Jawahar et al. 2019's chunk clustering).
    scheme : {"iob2", "iob1"}
        How ``I-X`` tags that do not continue an ``X`` chunk are read (module docstring).

    Returns
    -------
    list of Example
        One per sentence: per-word labels ``pos`` and ``chunk`` (IOB2 tags), spans
        ``Span(start, end, chunk type)`` such as ``"NP"``, and ``meta={"sentence": i}``
        (the index of the sentence in the file).

    Raises
    ------
    LensError
        If a line does not have 3 columns or a tag is malformed; the message names the
        file and the line.

    References
    ----------
    Tjong Kim Sang & Buchholz (2000), "Introduction to the CoNLL-2000 shared task: chunking".
    """
    _check_scheme(scheme)
    examples = []
    for sentence in _sentences(path, columns=(3,)):
        words = [cols[0] for _, cols in sentence]
        pos = [cols[1] for _, cols in sentence]
        tags = [cols[2] for _, cols in sentence]
        spans, chunk = _spans_or_raise(path, sentence, tags, scheme, "chunk", outside_spans)
        examples.append(
            Example(words=words, labels={"pos": pos, "chunk": chunk}, spans=spans, meta={"sentence": len(examples)})
        )
    return refuse_empty(examples, path, "CoNLL-2000 sentences")


def read_conll2003(path: str | os.PathLike, *, scheme: str = "iob2") -> list[Example]:
    """Read a CoNLL-2003 English named-entity file (``train.txt``, ``dev.txt``, ``test.txt``...).

    Each line is ``word POS chunk NER`` (the official layout, e.g. ``EU NNP B-NP B-ORG``)
    or ``word POS NER`` (redistributions that drop the chunk column); the first word
    line decides, and every line of the file must then have that many columns.
    ``-DOCSTART-`` lines separate documents and are not sentences.

    Parameters
    ----------
    path : str or Path
        The file.
    scheme : {"iob2", "iob1"}
        ``"iob2"`` for files whose tags are IOB2 (the common redistributions);
        ``"iob1"`` for the original Reuters release (``eng.train``), whose chunks open
        with ``I-``. The label columns are IOB2 either way (module docstring).

    Returns
    -------
    list of Example
        One per sentence: per-word labels ``pos``, ``chunk`` (4-column files only) and
        ``ner`` (IOB2 tags); spans ``Span(start, end, entity type)`` for the entities
        (``PER``, ``LOC``, ``ORG``, ``MISC``); ``meta={"sentence": i, "document": d}``
        with ``d`` counted from the ``-DOCSTART-`` lines (0 for the sentences before
        the second one, and for every sentence of a file without them).

    Raises
    ------
    LensError
        If a line's column count differs or a tag is malformed; the message names the
        file and the line.

    References
    ----------
    Tjong Kim Sang & De Meulder (2003), "Introduction to the CoNLL-2003 shared task:
    language-independent named entity recognition".
    """
    _check_scheme(scheme)
    examples = []
    document = -1
    n_columns = None
    for sentence in _sentences(path, columns=(3, 4), docstart=True):
        if sentence[0][1][0] == DOCSTART:
            document += 1
            continue
        n_columns = n_columns or len(sentence[0][1])
        for line, cols in sentence:
            if len(cols) != n_columns:
                raise line_error(path, line, f"{n_columns} columns like the file's first word line", cols)
        words = [cols[0] for _, cols in sentence]
        labels = {"pos": [cols[1] for _, cols in sentence]}
        if n_columns == 4:
            labels["chunk"] = _spans_or_raise(path, sentence, [c[2] for _, c in sentence], scheme, "chunk")[1]
        spans, labels["ner"] = _spans_or_raise(path, sentence, [c[-1] for _, c in sentence], scheme, "NER")
        meta = {"sentence": len(examples), "document": max(document, 0)}
        examples.append(Example(words=words, labels=labels, spans=spans, meta=meta))
    return refuse_empty(examples, path, "CoNLL-2003 sentences")


def _sentences(path: str | os.PathLike, columns: tuple[int, ...], docstart: bool = False) -> Iterator[list]:
    """Blank-line separated blocks of ``(line number, columns)``; a -DOCSTART- line is a block of its own."""
    path = existing_file(path)
    block: list = []
    for number, line in enumerate(read_lines(path), start=1):
        cols = line.split()
        if not cols:
            if block:
                yield block
            block = []
            continue
        if docstart and cols[0] == DOCSTART:
            if block:
                yield block
            yield [(number, cols)]
            block = []
            continue
        if len(cols) not in columns:
            expected = " or ".join(str(c) for c in columns)
            raise line_error(
                path,
                number,
                f"{expected} whitespace-separated columns (word POS {'[chunk] NER' if docstart else 'chunk'})",
                line,
            )
        block.append((number, cols))
    if block:
        yield block


def _spans_or_raise(path, sentence, tags, scheme, column, outside=False) -> tuple[list[Span], list[str]]:
    try:
        return _decode_iob(tags, scheme, outside)
    except _BadTag as bad:
        hint = "Pass scheme='iob1' if the file is IOB1 (the original CoNLL-2003 release)." if scheme == "iob2" else ""
        raise line_error(path, sentence[bad.index][0], f"{column} tag: {bad.expected}", bad.tag, hint) from None


def _check_scheme(scheme: str) -> None:
    if scheme not in _SCHEMES:
        raise LensError.bad_argument("scheme", scheme, f"one of {_SCHEMES}")
