"""Readers that turn public datasets, in their official layouts, into :class:`lensnb.Example` lists.

Each reader takes the file (or the folder of the official download) and returns
examples with words, per-word labels, spans and span pairs (word indices, end
exclusive), ready for :func:`lensnb.extract`:

- syntax: :func:`read_conll2000` (chunks), :func:`read_conll2003` (entities),
  :func:`read_conllu` (Universal Dependencies), :func:`read_ptb` / :func:`read_ptb_trees`
  (Penn Treebank constituents), :func:`iob_spans`;
- SentEval sentence tasks: :func:`read_senteval`, and the same tasks built from
  treebanks (:func:`sentence_length`, :func:`tree_depth`, :func:`top_constituents`,
  :func:`tense`, :func:`subject_number`, :func:`object_number`);
- relations and coreference: :func:`read_semeval2010`, :func:`read_gap`, :func:`read_wsc`;
- question answering: :func:`read_squad`, :func:`read_hotpotqa`, :func:`read_babi`,
  :func:`sup_examples`;
- agreement: :func:`read_linzen_agreement`, :func:`read_colorless_green`,
  :func:`agreement_prompt`, :func:`mask_verb`;
- sentiment and rationales: :func:`read_sst2`, :func:`read_eraser_movies`;
- raw text to words: :func:`split_words`, :func:`words_in_characters`,
  :func:`split_sentences`.

Every malformed input raises :class:`lensnb.LensError` naming the file and the line (or
record). Constants (label sets, file layouts) live in the reader modules, e.g.
:data:`lensnb.data.qa.ROLES`, :data:`lensnb.data.senteval.SENTEVAL_TASKS`.
"""

from __future__ import annotations

from lensnb.data.agreement import (
    AgreementPrompt,
    agreement_prompt,
    mask_verb,
    read_colorless_green,
    read_linzen_agreement,
)
from lensnb.data.babi import read_babi
from lensnb.data.conll import iob_spans, read_conll2000, read_conll2003
from lensnb.data.conllu import read_conllu
from lensnb.data.coref import read_gap, read_wsc
from lensnb.data.derived import (
    frequent_top_constituents,
    object_number,
    sentence_length,
    subject_number,
    tense,
    top_constituents,
    tree_depth,
)
from lensnb.data.eraser import read_eraser_movies
from lensnb.data.hotpotqa import read_hotpotqa
from lensnb.data.ptb import Constituent, Tree, read_ptb, read_ptb_trees, tree_example
from lensnb.data.qa import read_squad, sup_examples
from lensnb.data.semeval import read_semeval2010
from lensnb.data.senteval import read_senteval
from lensnb.data.sst import read_sst2
from lensnb.data.text import split_sentences, split_words, words_in_characters

__all__ = [
    "AgreementPrompt",
    "Constituent",
    "Tree",
    "agreement_prompt",
    "frequent_top_constituents",
    "iob_spans",
    "mask_verb",
    "object_number",
    "read_babi",
    "read_colorless_green",
    "read_conll2000",
    "read_conll2003",
    "read_conllu",
    "read_eraser_movies",
    "read_gap",
    "read_hotpotqa",
    "read_linzen_agreement",
    "read_ptb",
    "read_ptb_trees",
    "read_semeval2010",
    "read_senteval",
    "read_squad",
    "read_sst2",
    "read_wsc",
    "sentence_length",
    "split_sentences",
    "split_words",
    "subject_number",
    "sup_examples",
    "tense",
    "top_constituents",
    "tree_depth",
    "tree_example",
    "words_in_characters",
]
