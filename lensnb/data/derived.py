"""SentEval-style sentence probing tasks, derived from treebanks.

Conneau et al. (2018) built their probing tasks from BookCorpus sentences parsed
automatically; only small samples of those files are available offline. These functions
build the same kinds of task from gold treebanks read by :mod:`lensnb.data`:

- sentence length (:func:`sentence_length`): any examples; bin 0-5 of the word count;
- tree depth (:func:`tree_depth`): :func:`lensnb.data.ptb.read_ptb`; the tree's height;
- top constituents (:func:`top_constituents`): :func:`lensnb.data.ptb.read_ptb`;
  ``"NP_VP_."``... or ``"OTHER"``;
- tense (:func:`tense`): :func:`lensnb.data.conllu.read_conllu`; ``"PAST"`` / ``"PRES"``;
- subject and object number (:func:`subject_number`, :func:`object_number`):
  :func:`lensnb.data.conllu.read_conllu`; ``"NN"`` / ``"NNS"``.

Each function returns new examples (the source's words and text, no word labels or
spans) whose ``meta`` is the source's plus ``task`` (the name of SentEval's file:
``sentence_length``, ``tree_depth``, ``top_constituents``, ``past_present``,
``subj_number``, ``obj_number``) and ``label``, with the label values of SentEval's
files, as :func:`lensnb.data.senteval.read_senteval` reads them; the UD tasks add
``target_word``, the index of the word that decided the label. Sentences a task cannot
label are dropped.

Deviations from SentEval, common to all tasks: gold trees (WSJ, English Web Treebank)
instead of a parser's output on novels; no balancing of the classes and no size
targets (SentEval has 100k/10k/10k balanced examples; report a majority baseline);
sentences are kept when they have 5 to 28 words (``length_range``), the range every
SentEval sample sentence and length bin falls in, counted in the treebank's own
tokens (PTB, UD) rather than SentEval's tokenisation of BookCorpus; nothing controls
for the correlation of tree depth with length.

References
----------
Conneau, Kruszewski, Lample, Barrault & Baroni (2018), "What you can cram into a single
$&!#* vector: Probing sentence embeddings for linguistic properties", ACL; Jawahar,
Sagot & Seddah (2019), "What does BERT learn about the structure of language?", ACL
(Table 2 probes these tasks layer by layer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from lensnb.errors import LensError
from lensnb.examples import Example
from lensnb.flags import checks_flags

__all__ = [
    "SENTEVAL_LENGTH_BINS",
    "SENTEVAL_LENGTH_RANGE",
    "PUNCTUATION_TAGS",
    "frequent_top_constituents",
    "object_number",
    "sentence_length",
    "subject_number",
    "tense",
    "top_constituents",
    "tree_depth",
]

#: SentEval's sentence-length classes: label i for word counts in ``SENTEVAL_LENGTH_BINS[i]`` (inclusive).
SENTEVAL_LENGTH_BINS: tuple[tuple[int, int], ...] = ((5, 8), (9, 12), (13, 16), (17, 20), (21, 25), (26, 28))
#: Word counts of the sentences SentEval's tasks use (inclusive).
SENTEVAL_LENGTH_RANGE: tuple[int, int] = (5, 28)
#: POS tags of punctuation left out of the top-constituent sequences ("." stays).
PUNCTUATION_TAGS = frozenset({",", ":", "``", "''", "-LRB-", "-RRB-", "-NONE-"})
_NUMBER = {"Sing": "NN", "Plur": "NNS"}
_TENSE = {"Past": "PAST", "Pres": "PRES"}


def sentence_length(
    examples: Sequence[Example], *, bins: Sequence[tuple[int, int]] = SENTEVAL_LENGTH_BINS
) -> list[Example]:
    """SentLen: the number of words, binned.

    Parameters
    ----------
    examples : sequence of Example
        Any examples (their ``words`` are counted).
    bins : sequence of (int, int)
        Inclusive word-count ranges; label ``i`` for ``bins[i]``. Sentences outside every
        bin are dropped.

    Returns
    -------
    list of Example
        ``meta["label"]``: the bin index (int).
    """
    _check_examples(examples)
    ranges = [(int(lo), int(hi)) for lo, hi in bins]
    out = []
    for example in examples:
        n = len(example.words)
        label = next((i for i, (lo, hi) in enumerate(ranges) if lo <= n <= hi), None)
        if label is not None:
            out.append(_labelled(example, "sentence_length", label))
    return out


def tree_depth(
    examples: Sequence[Example], *, length_range: tuple[int, int] | None = SENTEVAL_LENGTH_RANGE
) -> list[Example]:
    """TreeDepth: the height of the sentence's constituency tree.

    The height counts the nodes on the longest path from the top constituent (``S``,
    under the treebank's unlabelled outer bracket) down to a word, the word included:
    ``(S (NP (PRP it)) (VP (VBZ works)))`` has depth 4. This reproduces the depth
    SentEval gives its sample sentences (e.g. 7 for *" Let 's have a picnic ! "*).

    Parameters
    ----------
    examples : sequence of Example
        From :func:`lensnb.data.ptb.read_ptb` (``meta["tree_depth"]``), traces removed.
    length_range : (int, int) or None
        Keep sentences with this many words (inclusive); None keeps all.

    Returns
    -------
    list of Example
        ``meta["label"]``: the depth (int). SentEval's sample has depths 5 to 11
        (BookCorpus parses); WSJ trees are deeper, so expect more classes.
    """
    _check_examples(examples, meta="tree_depth", source="lensnb.data.ptb.read_ptb", length_range=length_range)
    return [_labelled(e, "tree_depth", int(e.meta["tree_depth"])) for e in examples if _in_range(e, length_range)]


@checks_flags
def frequent_top_constituents(
    examples: Sequence[Example],
    n: int = 19,
    *,
    punctuation: bool = False,
    length_range: tuple[int, int] | None = SENTEVAL_LENGTH_RANGE,
) -> list[str]:
    """The ``n`` most frequent top-constituent sequences, most frequent first (ties by name).

    Compute them on a training split and pass them to :func:`top_constituents` for
    every split, so that all splits share one label set.
    """
    _check_examples(examples, meta="top_constituents", source="lensnb.data.ptb.read_ptb", length_range=length_range)
    if not isinstance(n, int) or n < 1:
        raise LensError.bad_argument("n", n, "a positive int (SentEval keeps 19 sequences + OTHER)")
    counts = Counter(_sequence(e, punctuation) for e in examples if _in_range(e, length_range))
    return [label for label, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]]


@checks_flags
def top_constituents(
    examples: Sequence[Example],
    *,
    classes: Sequence[str] | None = None,
    n_frequent: int = 19,
    punctuation: bool = False,
    length_range: tuple[int, int] | None = SENTEVAL_LENGTH_RANGE,
) -> list[Example]:
    """TopConst: the sequence of constituents right below the top node.

    The labels of the top constituent's children joined by ``_`` (``"NP_VP_."``;
    ``"VBD_NP_VP_."`` for the ``SQ`` of *Did he know ... ?*). A sequence outside
    ``classes`` is labelled ``"OTHER"``: SentEval's 20 classes are the 19 most frequent
    sequences and OTHER.

    Parameters
    ----------
    examples : sequence of Example
        From :func:`lensnb.data.ptb.read_ptb` (``meta["top_constituents"]``).
    classes : sequence of str, optional
        The sequences kept as classes. Default: :func:`frequent_top_constituents` of
        ``examples`` (pass a training split's to label other splits).
    n_frequent : int
        How many sequences the default ``classes`` keeps.
    punctuation : bool
        Keep punctuation children other than ``.`` (tags :data:`PUNCTUATION_TAGS`).
        False by default: none of SentEval's labels holds a comma or a quote, although
        half of the WSJ top sequences do (``PP_,_NP_VP_.``); its sample labels
        *If she had looked his way , what she would ...* as ``SBAR_VP_.``. Inferred
        from the published labels, not from SentEval's code.
    length_range : (int, int) or None
        Keep sentences with this many words (inclusive); None keeps all.

    Returns
    -------
    list of Example
        ``meta["label"]``: the sequence or ``"OTHER"`` (str).
    """
    _check_examples(examples, meta="top_constituents", source="lensnb.data.ptb.read_ptb", length_range=length_range)
    if classes is None:
        classes = frequent_top_constituents(examples, n_frequent, punctuation=punctuation, length_range=length_range)
    elif isinstance(classes, str) or not all(isinstance(c, str) for c in classes):
        raise LensError.bad_argument("classes", classes, "a list of sequences such as ['NP_VP_.', 'PP_NP_VP_.']")
    kept = set(classes)
    out = []
    for example in examples:
        if _in_range(example, length_range):
            sequence = _sequence(example, punctuation)
            out.append(_labelled(example, "top_constituents", sequence if sequence in kept else "OTHER"))
    return out


def tense(
    examples: Sequence[Example], *, length_range: tuple[int, int] | None = SENTEVAL_LENGTH_RANGE
) -> list[Example]:
    """Tense: is the main verb past or present?

    The main clause is the dependency root. Its tense is the root's ``Tense`` when the
    root is finite (``VerbForm=Fin``); otherwise that of its first finite ``aux`` or
    ``cop`` dependent (*has eaten* -> ``has``, *was happy* -> ``was``); a word counts
    only in the indicative (no ``Mood`` or ``Mood=Ind``: the subjunctive *be* of *power
    be where power lies* has ``Tense=Pres`` in UD but is no present). Sentences without
    one (imperatives, modals such as *will go*, which carry no ``Tense`` in UD,
    fragments) are dropped.

    Parameters
    ----------
    examples : sequence of Example
        From :func:`lensnb.data.conllu.read_conllu` (labels ``head``, ``deprel``, ``feats``).
    length_range : (int, int) or None
        Keep sentences with this many words (inclusive); None keeps all.

    Returns
    -------
    list of Example
        ``meta["label"]``: ``"PAST"`` or ``"PRES"`` (SentEval's names);
        ``meta["target_word"]``: the word whose feature decided.
    """
    _check_ud(examples, length_range)
    out = []
    for example in examples:
        if not _in_range(example, length_range):
            continue
        root, children = _root_and_children(example)
        if root is None:
            continue
        for word in [root] + [c for c in children if _base(example.labels["deprel"][c]) in ("aux", "cop")]:
            feats = _feats(example.labels["feats"][word])
            if feats.get("VerbForm") == "Fin" and feats.get("Tense") in _TENSE and feats.get("Mood", "Ind") == "Ind":
                out.append(_labelled(example, "past_present", _TENSE[feats["Tense"]], word))
                break
    return out


def subject_number(
    examples: Sequence[Example],
    *,
    upos: Sequence[str] = ("NOUN",),
    length_range: tuple[int, int] | None = SENTEVAL_LENGTH_RANGE,
) -> list[Example]:
    """SubjNum: the grammatical number of the main clause's subject.

    The subject is the root's first ``nsubj`` dependent (``nsubj:pass`` included); in
    UD that is the head noun of the subject phrase (*Edward 's confidence* ->
    *confidence*). Its ``Number`` feature gives the label. Only subjects whose UPOS is in
    ``upos`` count: SentEval's labels are the PTB tags ``NN``/``NNS``, so pronouns and
    proper nouns are left out by default.

    Parameters
    ----------
    examples : sequence of Example
        From :func:`lensnb.data.conllu.read_conllu`.
    upos : sequence of str
        Allowed UPOS of the subject head (``("NOUN", "PROPN", "PRON")`` to keep all).
    length_range : (int, int) or None
        Keep sentences with this many words (inclusive); None keeps all.

    Returns
    -------
    list of Example
        ``meta["label"]``: ``"NN"`` (``Number=Sing``) or ``"NNS"`` (``Number=Plur``);
        ``meta["target_word"]``: the subject's head word.
    """
    return _argument_number(examples, "nsubj", "subj_number", upos, length_range)


def object_number(
    examples: Sequence[Example],
    *,
    upos: Sequence[str] = ("NOUN",),
    length_range: tuple[int, int] | None = SENTEVAL_LENGTH_RANGE,
) -> list[Example]:
    """ObjNum: the grammatical number of the main clause's direct object.

    As :func:`subject_number`, for the root's first ``obj`` dependent (indirect objects,
    ``iobj``, do not count).
    """
    return _argument_number(examples, "obj", "obj_number", upos, length_range)


def _argument_number(examples, relation, task, upos, length_range) -> list[Example]:
    _check_ud(examples, length_range)
    if isinstance(upos, str):
        upos = (upos,)
    allowed = set(upos)
    out = []
    for example in examples:
        if not _in_range(example, length_range):
            continue
        root, children = _root_and_children(example)
        head = next((c for c in children if _base(example.labels["deprel"][c]) == relation), None)
        if head is None or example.labels["upos"][head] not in allowed:
            continue
        number = _feats(example.labels["feats"][head]).get("Number")
        if number in _NUMBER:
            out.append(_labelled(example, task, _NUMBER[number], head))
    return out


def _root_and_children(example: Example) -> tuple[int | None, list[int]]:
    heads = example.labels["head"]
    root = next((i for i, h in enumerate(heads) if h < 0), None)
    return root, [i for i, h in enumerate(heads) if root is not None and h == root]


def _sequence(example: Example, punctuation: bool) -> str:
    parts = str(example.meta["top_constituents"]).split("_")
    if not punctuation:
        parts = [p for p in parts if p not in PUNCTUATION_TAGS]
    return "_".join(parts)


def _feats(text: str) -> dict[str, str]:
    if not text or text == "_":
        return {}
    return dict(item.partition("=")[::2] for item in text.split("|"))


def _base(deprel: str) -> str:
    return deprel.partition(":")[0]


def _labelled(example: Example, task: str, label, target: int | None = None) -> Example:
    meta = {**example.meta, "task": task, "label": label}
    if target is not None:
        meta["target_word"] = target
    return Example(words=example.words, meta=meta, text=example.text)


def _in_range(example: Example, length_range) -> bool:
    if length_range is None:
        return True
    return length_range[0] <= len(example.words) <= length_range[1]


def _check_range(length_range) -> None:
    if length_range is None:
        return
    ok = isinstance(length_range, (tuple, list)) and len(length_range) == 2
    if not ok or not all(isinstance(v, int) for v in length_range) or length_range[0] > length_range[1]:
        raise LensError.bad_argument("length_range", length_range, "None or (min_words, max_words) with min <= max")


def _check_examples(examples, meta: str | None = None, source: str = "", length_range=None) -> None:
    _check_range(length_range)
    if isinstance(examples, (str, Example)) or not isinstance(examples, Sequence):
        raise LensError.bad_argument("examples", examples, "a list of lensnb.Example")
    for i, example in enumerate(examples):
        if not isinstance(example, Example):
            raise LensError.bad_argument(f"examples[{i}]", example, "a lensnb.Example")
        if meta is not None and meta not in example.meta:
            raise LensError.bad_argument(
                f"examples[{i}].meta", sorted(example.meta), f"a {meta!r} field (examples from {source})"
            )


def _check_ud(examples, length_range) -> None:
    _check_examples(examples, length_range=length_range)
    for i, example in enumerate(examples):
        missing = [name for name in ("head", "deprel", "feats", "upos") if name not in example.labels]
        if missing:
            raise LensError.bad_argument(
                f"examples[{i}].labels",
                sorted(example.labels),
                "the columns 'head', 'deprel', 'feats' and 'upos' (examples from lensnb.data.conllu.read_conllu)",
            )
