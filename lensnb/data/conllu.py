"""Universal Dependencies treebanks in CoNLL-U, read into :class:`lensnb.Example` lists.

A CoNLL-U sentence is a block of comment lines (``# sent_id = ...``, ``# text = ...``)
and word lines of ten tab-separated columns ``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL
DEPS MISC``, ended by a blank line. Three kinds of ID occur:

- ``7``: a syntactic word. These are the example's words and carry its labels.
- ``3-4``: a multiword token (English ``don't`` = ``do`` + ``n't``, ``cannot`` = ``can`` +
  ``not``). Only its surface form is on this line; its words follow. It is not a word.
- ``8.1``: an empty node of the enhanced graph, outside the basic tree. Skipped.

The surface text (``# text =``) becomes :attr:`Example.text`, so the words keep their
character offsets in the real sentence (``can`` and ``not`` inside ``cannot``) and the
tokenizer sees what was written. Where the words are not substrings of the text (French
``du`` = ``de`` + ``le``), the words joined by spaces are the text instead and the
surface text is kept in ``meta["surface_text"]``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from lensnb.data.files import existing_file, line_error, read_lines, refuse_empty
from lensnb.examples import Example, Span, SpanPair
from lensnb.flags import checks_flags

__all__ = ["read_conllu"]

_WORD_ID = re.compile(r"[1-9][0-9]*")
_RANGE_ID = re.compile(r"([1-9][0-9]*)-([1-9][0-9]*)")
_EMPTY_ID = re.compile(r"[0-9]+\.[1-9][0-9]*")
_COLUMNS = "ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC"


@checks_flags
def read_conllu(path: str | os.PathLike, *, deprel_subtypes: bool = True) -> list[Example]:
    """Read a CoNLL-U file (e.g. UD English EWT ``en_ewt-ud-train.conllu``).

    Parameters
    ----------
    path : str or Path
        The ``.conllu`` file, as in the official UD release.
    deprel_subtypes : bool
        Keep language-specific subtypes of the relations (``nsubj:pass``, ``obl:tmod``).
        False keeps the universal part only (``nsubj``, ``obl``).

    Returns
    -------
    list of Example
        One per sentence, its words the syntactic words (multiword tokens split, empty
        nodes dropped), with

        - per-word labels ``upos``, ``xpos``, ``feats`` (as written, ``"_"`` when empty),
          ``deprel`` and ``head``: the 0-based word index of the head, -1 for the root
          (CoNLL-U counts from 1 and writes 0 for the root);
        - ``span_pairs``: one arc per word that has a head,
          ``SpanPair(first=Span(h, h + 1), second=Span(d, d + 1), label=deprel)``, head
          first and dependent second, in word order of the dependents (the root has no arc);
        - ``text``: the ``# text =`` line, or None when it is missing (the words are then
          joined by spaces);
        - ``meta``: ``sentence`` (index in the file), ``sent_id`` (``# sent_id``, or None)
          and ``doc_id`` (the last ``# newdoc id`` seen, or None). When the syntactic
          words cannot be found in order in the ``# text`` (French *du* = *de* + *le*;
          never in English EWT), the text goes to ``meta["surface_text"]`` instead and
          ``text`` is None, since :class:`~lensnb.Example` needs its words inside its text.

    Raises
    ------
    LensError
        Naming the file and line, for a line without 10 tab-separated columns, IDs out
        of sequence, a multiword range that does not cover the next words (or shares a
        word with the previous one), a head that
        is not a word of the sentence (or the word itself, or part of a cycle), an empty
        relation or form, a comment after the words, or bytes that are not UTF-8.

    References
    ----------
    de Marneffe et al. (2021), "Universal Dependencies", Computational Linguistics 47(2);
    the CoNLL-U format: https://universaldependencies.org/format.html.
    Tenney et al. (2019), "What do you learn from context?" (dependency arcs as span pairs
    for edge probing).
    """
    path = existing_file(path)
    examples: list[Example] = []
    doc_id = None
    unit_spans: list[Span] = []  # Span(i, i + 1), shared by every arc of the file (Spans are immutable)
    for block in _blocks(path):
        comments, rows, ranges = _parse_block(path, block)
        if "newdoc id" in comments:
            doc_id = comments["newdoc id"]
        elif "newdoc" in comments:
            doc_id = None
        meta = {"sentence": len(examples), "sent_id": comments.get("sent_id"), "doc_id": doc_id}
        examples.append(_example(path, rows, ranges, comments, meta, deprel_subtypes, unit_spans))
    return refuse_empty(examples, path, "CoNLL-U sentences")


def _blocks(path: Path) -> Iterator[list[tuple[int, str]]]:
    """The sentences of the file: runs of non-blank ``(line number, line)``."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(read_lines(path), start=1):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def _parse_block(path: Path, block: list[tuple[int, str]]) -> tuple[dict, list, list]:
    """Comments, syntactic word rows ``(line, columns)`` and multiword ranges ``(line, first, last)``."""
    comments: dict[str, str] = {}
    rows: list[tuple[int, list[str]]] = []
    ranges: list[tuple[int, int, int]] = []
    for number, line in block:
        if line.startswith("#"):
            if rows or ranges:
                raise line_error(path, number, "a word line or a blank line (comments come before the words)", line)
            key, equals, value = line[1:].partition("=")
            comments[key.strip()] = value.strip() if equals else ""
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise line_error(path, number, f"10 tab-separated columns ({_COLUMNS})", line)
        ident = cols[0]
        if _WORD_ID.fullmatch(ident):
            if int(ident) != len(rows) + 1:
                raise line_error(path, number, f"word ID {len(rows) + 1} (IDs count 1, 2, 3... per sentence)", ident)
            rows.append((number, cols))
        elif match := _RANGE_ID.fullmatch(ident):
            first, last = int(match[1]), int(match[2])
            if first != len(rows) + 1 or last <= first:
                expected = f"a multiword range {len(rows) + 1}-N with N > {len(rows) + 1}"
                raise line_error(path, number, expected, ident)
            if ranges and first <= ranges[-1][2]:  # multiword tokens never share a word
                previous = f"{ranges[-1][1]}-{ranges[-1][2]}"
                raise line_error(path, number, f"a multiword range starting after the previous one ({previous})", ident)
            ranges.append((number, first, last))
        elif not _EMPTY_ID.fullmatch(ident):
            raise line_error(path, number, "an ID like 7, 3-4 (multiword token) or 8.1 (empty node)", ident)
    if not rows:
        raise line_error(path, block[0][0], "a sentence with at least one word line", block[-1][1])
    return comments, rows, ranges


def _example(path, rows, ranges, comments, meta, deprel_subtypes, word_spans) -> Example:
    n = len(rows)
    for number, first, last in ranges:
        if last > n:
            raise line_error(path, number, f"a multiword range within the sentence's {n} words", f"{first}-{last}")
    words, heads, deprels = [], [], []
    for number, cols in rows:
        head, deprel = cols[6], cols[7]
        if not (head.isascii() and head.isdigit()) or int(head) > n or int(head) == len(words) + 1:
            raise line_error(
                path, number, f"a HEAD between 0 (root) and {n}, other than the word's own ID {len(words) + 1}", head
            )
        if deprel in ("", "_"):
            raise line_error(path, number, "a DEPREL (relation to the head)", deprel)
        if not cols[1].strip():
            raise line_error(path, number, "a FORM with a visible character", cols[1])
        words.append(cols[1])
        heads.append(int(head) - 1)
        deprels.append(deprel if deprel_subtypes else deprel.partition(":")[0])
    _check_acyclic(path, rows, heads)
    text = comments.get("text")
    if text is not None and not _words_in_text(words, text):
        meta["surface_text"], text = text, None  # French "du" = "de" + "le": the words are not in the text
    word_spans.extend(Span(i, i + 1) for i in range(len(word_spans), n))
    arcs = [SpanPair(word_spans[h], word_spans[d], deprels[d]) for d, h in enumerate(heads) if h >= 0]
    labels = {
        "upos": [cols[3] for _, cols in rows],
        "xpos": [cols[4] for _, cols in rows],
        "feats": [cols[5] for _, cols in rows],
        "deprel": deprels,
        "head": heads,
    }
    return Example(words=words, labels=labels, span_pairs=arcs, meta=meta, text=text)


def _check_acyclic(path, rows, heads) -> None:
    """Every word must reach the root by following heads (the basic tree has no cycle)."""
    reaches_root = [False] * len(heads)
    for start in range(len(heads)):
        seen = []
        word = start
        while word >= 0 and not reaches_root[word]:
            if word in seen:
                raise line_error(
                    path,
                    rows[start][0],
                    "heads that lead to the root (0)",
                    f"a cycle through word IDs {sorted(w + 1 for w in seen)}",
                )
            seen.append(word)
            word = heads[word]
        for visited in seen:
            reaches_root[visited] = True


def _words_in_text(words: list[str], text: str) -> bool:
    cursor = 0
    for word in words:
        found = text.find(word, cursor)
        if found < 0:
            return False
        cursor = found + len(word)
    return True
