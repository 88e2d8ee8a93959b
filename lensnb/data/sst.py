"""SST-2 (Stanford Sentiment Treebank, binary) in GLUE's TSV layout.

GLUE's ``SST-2/train.tsv`` and ``dev.tsv`` have a header ``sentence<TAB>label`` and
one tokenised, lowercased sentence (or phrase) per line with label 0 (negative) or 1
(positive); ``test.tsv`` has ``index<TAB>sentence`` and no labels. Re-splits in the
same layout (e.g. ALPS's ``train.tsv`` / ``dev.tsv`` / ``test.tsv``) read the same way.
"""

from __future__ import annotations

import os

from lensnb.data.files import existing_file, line_error, read_lines, refuse_empty
from lensnb.errors import LensError
from lensnb.examples import Example

__all__ = ["read_sst2"]


def read_sst2(path: str | os.PathLike) -> list[Example]:
    """Read one SST-2 TSV file into examples with the sentence label in ``meta``.

    Parameters
    ----------
    path : str or path-like
        A TSV file with a header row naming a ``sentence`` column and, for labelled
        splits, a ``label`` column (any order; other columns such as ``index`` are
        ignored).

    Returns
    -------
    list of Example
        One per data line, in file order. Words are the sentence's whitespace-separated
        tokens (SST is distributed tokenised); ``meta["label"]`` is the int 0
        (negative) or 1 (positive), absent for an unlabelled file.

    Raises
    ------
    LensError
        If the file is missing or holds no sentence, the header lacks ``sentence`` (column
        names are matched ignoring case and surrounding spaces), or a line is malformed
        (a different number of fields than the header, an empty sentence, a label other
        than 0 or 1); the message names the file and the line number.

    Notes
    -----
    Fields are split at tabs with no quoting, as GLUE writes them (sentences contain
    quote characters). Blank lines are skipped.

    References
    ----------
    Socher, Perelygin, Wu, Chuang, Manning, Ng & Potts 2013, "Recursive deep models for
    semantic compositionality over a sentiment treebank", EMNLP. Wang, Singh, Michael,
    Hill, Levy & Bowman 2019, "GLUE: A multi-task benchmark and analysis platform for
    natural language understanding", ICLR (the SST-2 split and TSV layout).
    """
    path = existing_file(path, "an existing SST-2 TSV file (e.g. SST-2/train.tsv)")
    lines = read_lines(path)
    header = lines[0].split("\t") if lines else []
    names = [name.strip().lower() for name in header]  # "Label", "label " name the label column too
    if "sentence" not in names:
        raise line_error(path, 1, "a header naming a 'sentence' column (and 'label')", lines[0] if lines else "")
    sentence_column = names.index("sentence")
    label_column = names.index("label") if "label" in names else None
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        fields = line.split("\t")
        if len(fields) != len(header):
            raise LensError.bad_argument(
                where, line, f"{len(header)} tab-separated fields ({', '.join(header)})", f"Found {len(fields)}."
            )
        words = fields[sentence_column].split()
        if not words:
            raise LensError.bad_argument(where, fields[sentence_column], "a non-empty sentence")
        meta = {}
        if label_column is not None:
            label = fields[label_column].strip()
            if label not in ("0", "1"):
                raise LensError.bad_argument(where, label, "a label 0 (negative) or 1 (positive)")
            meta["label"] = int(label)
        examples.append(Example(words=words, meta=meta))
    return refuse_empty(examples, path, "SST-2 sentences (a header and at least one line)")
