"""Subject-verb agreement test sets: Linzen et al. 2016 and Gulordava et al. 2018.

Both sets mark one verb per sentence (the *target*) and give its correct and wrong
form; a model agrees if it prefers the correct one. Two layouts are read:

- line-aligned files, as in the colorlessgreenRNNs repository: ``<name>.text`` (one
  sentence per line, ending in ``<eos>``) and ``<name>.gold`` (tab-separated fields:
  for ``linzen_testset/subj_agr_filtered``, target index, correct form, wrong form,
  number of attractors; for ``agreement/English/generated``, pattern, construction
  id, sentence id, target index, POS, morphology of the correct form, correct form,
  wrong form, lemma, index of the controller (the subject or the coordinated verb),
  ...);
- ``generated.tab`` (the same 410 "colorless green" items, two rows per sentence:
  the correct and the wrong candidate, with a header; also in yoavg/bert-syntax).

Each sentence becomes an :class:`lensnb.Example` with the target verb as a one-word
:class:`lensnb.Span` labelled ``"sing"`` or ``"plur"`` (the number of the correct
form) and ``right``, ``wrong``, ``number`` and (where the files give it)
``n_attractors`` in ``meta``. :func:`agreement_prompt` and :func:`mask_verb` build the
inputs of a masked-LM or next-token comparison (Goldberg 2019) and of a probe on the
masked position (Jawahar et al. 2019).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from lensnb.data.files import (
    as_path,
    existing_file,
    non_negative_int,
    one_file,
    read_lines,
    read_text,
    refuse_empty,
)
from lensnb.errors import LensError
from lensnb.examples import Example, Span

__all__ = ["AgreementPrompt", "agreement_prompt", "mask_verb", "read_colorless_green", "read_linzen_agreement"]

_EOS = "<eos>"
_IRREGULAR = {"is": "are", "was": "were", "has": "have", "does": "do"}  # singular -> plural
_TAB_COLUMNS = ("pattern", "constr_id", "sent_id", "correct_number", "form", "class", "type", "n_attr", "sent")


class AgreementPrompt(NamedTuple):
    """Inputs for comparing a language model's scores of the right and wrong verb."""

    masked: str  #: the sentence with the target verb replaced by the mask token
    prefix: str  #: the text before the target verb (no trailing space)
    right: str  #: the correct verb form
    wrong: str  #: the wrong verb form
    number: str | None  #: "sing" or "plur", the number of the correct form


def read_linzen_agreement(path: str | os.PathLike) -> list[Example]:
    """Read the Linzen et al. 2016 agreement test set as filtered by Gulordava et al. 2018.

    Parameters
    ----------
    path : str or path-like
        The ``subj_agr_filtered.text`` or ``.gold`` file, their common stem, or the
        folder holding them (``data/linzen_testset`` of colorlessgreenRNNs; a file
        name may carry a prefix, e.g. ``linzen_testset__subj_agr_filtered.text``).

    Returns
    -------
    list of Example
        One per sentence, in file order (7,489 in the official file). Words are the
        space-separated tokens without the final ``<eos>``; ``spans`` holds the
        target verb, ``Span(i, i + 1, number)``; ``meta`` holds ``right``, ``wrong``,
        ``number`` (``"sing"``/``"plur"``) and ``n_attractors``.

    Raises
    ------
    LensError
        If the files are missing, their line counts differ, or a line is malformed (not
        4 fields, a non-integer index or count, an index outside the sentence, a word
        at the index other than the correct form); the message names file and line.

    Notes
    -----
    The text is lowercased but 4 gold forms are capitalised (titles such as "we are
    the fallen"): the word is compared case-insensitively and ``right``/``wrong`` take
    the sentence's case. The number is not a column of the file: it is derived from
    the pair of forms (is/are, was/were, has/have, does/do, and X+s / X+es / X-y+ies
    is singular). 4 lines of the official file give the same word as correct and
    wrong form (e.g. "lie"/"lie"); they are kept, with ``number`` None.

    References
    ----------
    Linzen, Dupoux & Goldberg 2016, "Assessing the ability of LSTMs to learn
    syntax-sensitive dependencies", TACL. Gulordava, Bojanowski, Grave, Linzen &
    Baroni 2018, "Colorless green recurrent networks dream hierarchically", NAACL
    (Section 3: the filtered test set).
    """
    text_path, gold_path = _line_aligned_files(path, "subj_agr_filtered")
    examples = []
    for number, words, fields, where in _aligned_records(text_path, gold_path, min_fields=4):
        if len(fields) != 4:
            raise LensError.bad_argument(
                where, "\t".join(fields), "4 tab-separated fields: target index, correct form, wrong form, attractors"
            )
        index = non_negative_int(fields[0], where, "target index (field 1)")
        attractors = non_negative_int(fields[3], where, "number of attractors (field 4)")
        right, wrong = _forms(words, index, fields[1], fields[2], where, text_path, number, check=True)
        grammatical_number = _number_of(right, wrong)
        examples.append(
            Example(
                words=words,
                spans=[Span(index, index + 1, grammatical_number)],
                meta={"right": right, "wrong": wrong, "number": grammatical_number, "n_attractors": attractors},
            )
        )
    return refuse_empty(examples, text_path, "agreement sentences")


def read_colorless_green(path: str | os.PathLike) -> list[Example]:
    """Read the Gulordava et al. 2018 "colorless green" agreement set (English, 410 items).

    Parameters
    ----------
    path : str or path-like
        ``generated.tab``, or ``generated.text`` / ``.gold`` (or their stem), or a folder
        holding either layout (the line-aligned files are preferred where both are
        there; file names may carry a prefix, e.g. ``agreement__English__generated.text``).

    Returns
    -------
    list of Example
        One per sentence, in file order: 41 original corpus sentences (``sent_id`` 0)
        and 369 nonce sentences whose content words were replaced. Words exclude the
        final ``<eos>``; ``spans`` holds the target verb labelled with the number of the
        correct form; ``meta`` holds ``right``, ``wrong``, ``number``, ``pattern``,
        ``constr_id``, ``sent_id``, ``original`` (bool), ``controller_index`` (the word
        the target agrees with) and, from ``generated.tab`` only, ``n_attractors``.

    Raises
    ------
    LensError
        If the files are missing or malformed (field counts, integers, indices outside
        the sentence, a missing candidate row); the message names file and line.

    Notes
    -----
    In nonce sentences the word at the target index is a random verb of the correct
    number, not the correct form (the candidates are another verb's forms): only
    original sentences are checked to hold the correct form there. The line-aligned
    files carry no attractor count; ``generated.tab`` does (0-2). ``pattern`` is
    written differently by the two layouts (``L!NOUN_VERB_VERB!...`` and
    ``L__NOUN_VERB_VERB``); it is kept as each file writes it.

    References
    ----------
    Gulordava, Bojanowski, Grave, Linzen & Baroni 2018, "Colorless green recurrent
    networks dream hierarchically", NAACL (Section 2.2: the generated test set).
    Goldberg 2019, "Assessing BERT's syntactic abilities", arXiv:1901.05287.
    """
    path = as_path(path, "generated.tab or the generated.text and .gold files")
    if path.suffix == ".tab" or (path.is_dir() and not list(path.glob("*generated.text"))):
        return _read_generated_tab(one_file(path, "*generated.tab") if path.is_dir() else path)
    text_path, gold_path = _line_aligned_files(path, "generated")
    examples = []
    for number, words, fields, where in _aligned_records(text_path, gold_path, min_fields=10):
        index = non_negative_int(fields[3], where, "target index (field 4)")
        sent_id = non_negative_int(fields[2], where, "sentence id (field 3)")
        morphology = fields[5].split("|")
        if "Number=Sing" in morphology:
            grammatical_number = "sing"
        elif "Number=Plur" in morphology:
            grammatical_number = "plur"
        else:
            raise LensError.bad_argument(where, fields[5], "Number=Sing or Number=Plur in field 6 (morphology)")
        right, wrong = _forms(words, index, fields[6], fields[7], where, text_path, number, check=sent_id == 0)
        controller = non_negative_int(fields[9], where, "controller index (field 10)")
        if not 0 <= controller < index:
            raise LensError.bad_argument(where, controller, f"a controller index (field 10) in [0, {index})")
        meta = {"right": right, "wrong": wrong, "number": grammatical_number, "pattern": fields[0]}
        meta.update(constr_id=non_negative_int(fields[1], where, "construction id (field 2)"), sent_id=sent_id)
        meta.update(original=sent_id == 0, controller_index=controller)
        examples.append(Example(words=words, spans=[Span(index, index + 1, grammatical_number)], meta=meta))
    return refuse_empty(examples, text_path, "agreement items")


def _read_generated_tab(path: Path) -> list[Example]:
    path = existing_file(path, "an existing generated.tab file")
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter="\t")
    header = next(reader, [])
    missing = [name for name in (*_TAB_COLUMNS, "len_prefix", "len_context") if name not in header]
    if missing:
        raise LensError.bad_argument(f"{path}, line 1", header, f"a header naming the columns {missing}")
    column = {name: header.index(name) for name in header}
    items: dict[tuple, dict] = {}
    for row in reader:
        number = reader.line_num
        where = f"{path}, line {number}"
        if not any(field.strip() for field in row):
            continue
        if len(row) != len(header):
            raise LensError.bad_argument(where, f"{len(row)} fields", f"{len(header)} tab-separated fields")
        field = {name: row[column[name]] for name in header}
        key = (field["pattern"], field["constr_id"], field["sent_id"])
        item = items.setdefault(key, {"where": where, "line": number, "field": field})
        if field["class"] not in ("correct", "wrong"):
            raise LensError.bad_argument(where, field["class"], "class 'correct' or 'wrong'")
        if field["class"] in item:
            raise LensError.bad_argument(where, key, f"one {field['class']!r} row per sentence (pattern, ids)")
        for name in ("sent", "len_prefix", "len_context", "n_attr", "correct_number"):
            if field[name] != item["field"][name]:
                raise LensError.bad_argument(
                    where, field[name], f"{name} {item['field'][name]!r} as on line {item['line']}"
                )
        item[field["class"]] = field["form"]
    examples = []
    for key, item in items.items():
        field, where = item["field"], item["where"]
        for kind in ("correct", "wrong"):
            if kind not in item:
                raise LensError.bad_argument(where, key, f"a {kind!r} row for this sentence as well")
        words = _words(field["sent"], where)
        index = non_negative_int(field["len_prefix"], where, "len_prefix")
        sent_id = non_negative_int(field["sent_id"], where, "sent_id")
        if field["correct_number"] not in ("sing", "plur"):
            raise LensError.bad_argument(where, field["correct_number"], "correct_number 'sing' or 'plur'")
        right, wrong = _forms(words, index, item["correct"], item["wrong"], where, path, item["line"], sent_id == 0)
        controller = index - non_negative_int(field["len_context"], where, "len_context")
        if not 0 <= controller < index:
            raise LensError.bad_argument(where, field["len_context"], f"len_context in [1, {index}] (len_prefix)")
        meta = {"right": right, "wrong": wrong, "number": field["correct_number"], "pattern": field["pattern"]}
        meta.update(constr_id=non_negative_int(field["constr_id"], where, "constr_id"), sent_id=sent_id)
        meta.update(original=sent_id == 0, controller_index=controller)
        meta["n_attractors"] = non_negative_int(field["n_attr"], where, "n_attr")
        examples.append(Example(words=words, spans=[Span(index, index + 1, field["correct_number"])], meta=meta))
    if not examples:
        raise LensError.bad_argument("path", str(path), "a generated.tab file with at least one item")
    return examples


def agreement_prompt(example: Example, mask_token: str = "[MASK]") -> AgreementPrompt:
    """The masked sentence and the prefix before the target verb of an agreement example.

    Parameters
    ----------
    example : Example
        From :func:`read_linzen_agreement` or :func:`read_colorless_green`: one
        one-word span (the target verb) and ``right``/``wrong`` in ``meta``.
    mask_token : str
        The tokenizer's mask token (``model.tokenizer.mask_token``: ``"[MASK]"`` for
        BERT, ``"<mask>"`` for RoBERTa).

    Returns
    -------
    AgreementPrompt
        ``masked``: the text with the verb replaced by ``mask_token`` (score the two
        forms at the mask with a masked LM); ``prefix``: the text before the verb
        (score the two forms, each with a leading space, as the next token of a
        decoder); ``right``, ``wrong``, ``number`` from ``meta``.

    References
    ----------
    Goldberg 2019, "Assessing BERT's syntactic abilities", arXiv:1901.05287 (Section 2:
    the masked comparison). Linzen et al. 2016 (the next-word comparison).
    """
    start, end = _target(example)
    text = example.resolved_text()
    offsets = example.word_offsets()
    _check_mask(mask_token)
    masked = text[: offsets[start, 0]] + mask_token + text[offsets[end - 1, 1] :]
    prefix = text[: offsets[start, 0]].rstrip()
    return AgreementPrompt(masked, prefix, example.meta["right"], example.meta["wrong"], example.meta.get("number"))


def mask_verb(example: Example, mask_token: str = "[MASK]") -> Example:
    """A copy of an agreement example with the target verb replaced by ``mask_token``.

    The span, labels and meta are kept, so extracting the copy and pooling its span
    gives the masked position's vector at every layer, the input of the agreement
    probe of Jawahar et al. 2019 (Section 5).

    Parameters
    ----------
    example : Example
        As for :func:`agreement_prompt`.
    mask_token : str
        The tokenizer's mask token.

    Returns
    -------
    Example
        Same spans, labels and meta; ``words[i]`` is ``mask_token`` at the target
        index; the text is the words joined by single spaces.

    References
    ----------
    Jawahar, Sagot & Seddah 2019, "What does BERT learn about the structure of
    language?", ACL (Section 5, subject-verb agreement).
    """
    start, end = _target(example)
    _check_mask(mask_token)
    words = list(example.words)
    words[start:end] = [mask_token] * (end - start)
    return replace(example, words=words, text=None, labels=dict(example.labels), meta=dict(example.meta))


def _target(example: Example) -> tuple[int, int]:
    if not isinstance(example, Example):
        raise LensError.bad_argument("example", example, "a lensnb.Example from an agreement reader")
    if len(example.spans) != 1 or not isinstance(example.spans[0], Span):
        raise LensError.bad_argument("example.spans", list(example.spans), "exactly one span: the target verb")
    missing = [key for key in ("right", "wrong") if key not in example.meta]
    if missing:
        raise LensError.bad_argument("example.meta", sorted(example.meta), f"the keys {missing} as well")
    span = example.spans[0]
    if not 0 <= span.start < span.end <= len(example.words):
        raise LensError.bad_argument("example.spans[0]", span, f"a span inside the {len(example.words)} words")
    return span.start, span.end


def _check_mask(mask_token: str) -> None:
    if not isinstance(mask_token, str) or not mask_token.strip() or mask_token != mask_token.strip():
        raise LensError.bad_argument("mask_token", mask_token, "a non-empty token string without surrounding spaces")


def _number_of(right: str, wrong: str) -> str | None:
    """'sing' if ``right`` is the singular of the pair, 'plur' if the plural, None if unclear."""
    a, b = right.lower(), wrong.lower()
    for singular, plural in ((a, b), (b, a)):
        if _IRREGULAR.get(singular) == plural or (
            singular != plural
            and (
                singular in (plural + "s", plural + "es") or (plural.endswith("y") and singular == plural[:-1] + "ies")
            )
        ):
            return "sing" if singular == a else "plur"
    return None


def _forms(words, index, right, wrong, where, text_path, line, check: bool) -> tuple[str, str]:
    """The correct and wrong forms, in the sentence's case; checks the target index."""
    if not 0 <= index < len(words):
        raise LensError.bad_argument(
            where, index, f"a target index in [0, {len(words)}) (words of {text_path}, line {line})"
        )
    if not right.strip() or not wrong.strip():
        raise LensError.bad_argument(where, (right, wrong), "non-empty correct and wrong verb forms")
    word = words[index]
    if check and word.lower() != right.lower():
        raise LensError.bad_argument(
            where, word, f"the correct form {right!r} at index {index} of the sentence on line {line} of {text_path}"
        )
    if word.lower() == right.lower() and word != right:  # a capitalised gold form in a lowercased text
        if word.islower():
            right, wrong = right.lower(), wrong.lower()
    return right, wrong


def _words(sentence: str, where: str) -> list[str]:
    words = sentence.split()
    if words and words[-1] == _EOS:
        words = words[:-1]
    if not words:
        raise LensError.bad_argument(where, sentence, "a non-empty sentence")
    return words


def _aligned_records(text_path: Path, gold_path: Path, min_fields: int):
    """(line number, words, gold fields, where) of the line-aligned .text and .gold files."""
    texts, golds = read_lines(text_path), read_lines(gold_path)
    if len(texts) != len(golds):
        raise LensError.bad_argument(
            str(gold_path), f"{len(golds)} lines", f"as many lines as {text_path} ({len(texts)}), one per sentence"
        )
    for number, (sentence, gold) in enumerate(zip(texts, golds), start=1):
        fields = gold.split("\t")
        where = f"{gold_path}, line {number}"
        if len(fields) < min_fields:
            raise LensError.bad_argument(where, gold, f"at least {min_fields} tab-separated fields")
        yield number, _words(sentence, f"{text_path}, line {number}"), fields, where


def _line_aligned_files(path: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """The ``.text`` and ``.gold`` files from a folder, either file, or their stem."""
    path = as_path(path, f"a folder or file stem with {name}.text and {name}.gold")
    if path.is_dir():
        stem = one_file(path, f"*{name}.text").with_suffix("")
    elif path.suffix in (".text", ".gold", ".eval"):
        stem = path.with_suffix("")
    else:
        stem = path
    text_path, gold_path = stem.with_name(stem.name + ".text"), stem.with_name(stem.name + ".gold")
    for file in (text_path, gold_path):
        if not file.is_file():
            raise LensError.bad_argument(
                "path", str(path), f"a folder or file stem with {name}.text and {name}.gold", f"{file} is missing."
            )
    return text_path, gold_path
