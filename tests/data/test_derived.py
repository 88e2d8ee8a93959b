"""SentEval-style tasks derived from the treebanks: known answers on small trees, cross-checks on the real ones."""

from __future__ import annotations

from collections import Counter

import pytest

from lensnb import Example, LensError
from lensnb.data import derived
from lensnb.data.conll import read_conll2000
from lensnb.data.conllu import read_conllu
from lensnb.data.ptb import read_ptb

from ..conftest import require_data


@pytest.fixture(scope="module")
def ptb():
    return read_ptb(require_data("ptb_sample_nltk/treebank"))


@pytest.fixture(scope="module")
def ewt_dev():
    return read_conllu(require_data("ud_english_ewt/en_ewt-ud-dev.conllu"))


def row(ident, form, upos, head, deprel, feats="_", xpos="_") -> str:
    return "\t".join([str(ident), form, form.lower(), upos, xpos, feats, str(head), deprel, "_", "_"])


FIN_PRES, FIN_PAST = "Mood=Ind|Tense=Pres|VerbForm=Fin", "Mood=Ind|Tense=Past|VerbForm=Fin"
SENTENCES = [
    # the dogs have eaten the bones .  -> PRES (from the aux), subject NNS, object NNS
    [row(1, "The", "DET", 2, "det"), row(2, "dogs", "NOUN", 4, "nsubj", "Number=Plur"),
     row(3, "have", "AUX", 4, "aux", FIN_PRES), row(4, "eaten", "VERB", 0, "root", "Tense=Past|VerbForm=Part"),
     row(5, "the", "DET", 6, "det"), row(6, "bones", "NOUN", 4, "obj", "Number=Plur"), row(7, ".", "PUNCT", 4, "punct")],
    # she was happy .  -> PAST (from the copula), pronoun subject
    [row(1, "She", "PRON", 3, "nsubj", "Number=Sing"), row(2, "was", "AUX", 3, "cop", FIN_PAST),
     row(3, "happy", "ADJ", 0, "root"), row(4, ".", "PUNCT", 3, "punct")],
    # they will go .  -> no tense (modal), no object
    [row(1, "They", "PRON", 3, "nsubj", "Number=Plur"), row(2, "will", "AUX", 3, "aux", "VerbForm=Fin"),
     row(3, "go", "VERB", 0, "root", "VerbForm=Inf"), row(4, ".", "PUNCT", 3, "punct")],
    # the cat ate a mouse .  -> PAST (finite root), subject NN, object NN
    [row(1, "The", "DET", 2, "det"), row(2, "cat", "NOUN", 3, "nsubj", "Number=Sing"),
     row(3, "ate", "VERB", 0, "root", FIN_PAST), row(4, "a", "DET", 5, "det"),
     row(5, "mouse", "NOUN", 3, "obj", "Number=Sing"), row(6, ".", "PUNCT", 3, "punct")],
    # go home .  -> imperative: no tense, no subject
    [row(1, "Go", "VERB", 0, "root", "Mood=Imp|VerbForm=Fin"), row(2, "home", "ADV", 1, "advmod"),
     row(3, ".", "PUNCT", 1, "punct")],
]  # fmt: skip


@pytest.fixture
def small_ud(tmp_path):
    path = tmp_path / "small.conllu"
    path.write_text("\n\n".join("\n".join(rows) for rows in SENTENCES) + "\n\n", encoding="utf-8")
    return read_conllu(path)


def labels(examples, key="label"):
    return [e.meta[key] for e in examples]


# ---------------------------------------------------------------------- known answers


def test_sentence_length_bins():
    examples = [Example(words=["w"] * n, meta={"n": n}) for n in (4, 5, 8, 9, 12, 13, 20, 21, 25, 26, 28, 29)]
    out = derived.sentence_length(examples)
    assert labels(out, "n") == [5, 8, 9, 12, 13, 20, 21, 25, 26, 28]
    assert labels(out) == [0, 0, 1, 1, 2, 3, 4, 4, 5, 5]
    assert out[0].labels == {} and out[0].words == ["w"] * 5
    assert out[0].meta == {"n": 5, "task": "sentence_length", "label": 0}
    assert labels(derived.sentence_length(examples, bins=[(1, 10), (11, 100)])) == [0] * 4 + [1] * 8


def test_ud_tasks_on_small_trees(small_ud):
    tense = derived.tense(small_ud, length_range=None)
    assert [(e.meta["sentence"], e.meta["label"], e.words[e.meta["target_word"]]) for e in tense] == [
        (0, "PRES", "have"), (1, "PAST", "was"), (3, "PAST", "ate")]  # fmt: skip
    subjects = derived.subject_number(small_ud, length_range=None)
    assert [(e.meta["sentence"], e.meta["label"], e.meta["target_word"]) for e in subjects] == [
        (0, "NNS", 1),
        (3, "NN", 1),
    ]
    with_pronouns = derived.subject_number(small_ud, upos=("NOUN", "PRON"), length_range=None)
    assert labels(with_pronouns) == ["NNS", "NN", "NNS", "NN"]
    assert {e.meta["task"] for e in tense} == {"past_present"} and subjects[0].meta["task"] == "subj_number"
    objects = derived.object_number(small_ud, length_range=None)
    assert objects[0].meta["task"] == "obj_number"
    assert [(e.meta["sentence"], e.meta["label"], e.meta["target_word"]) for e in objects] == [
        (0, "NNS", 5),
        (3, "NN", 4),
    ]
    # SentEval's 5-28 words: the 4- and 3-word sentences go
    assert [e.meta["sentence"] for e in derived.tense(small_ud)] == [0, 3]


def test_tree_tasks_on_small_trees(tmp_path):
    trees = [
        "( (S (NP-SBJ (PRP It)) (VP (VBZ works)) (. .)) )",  # depth 4, NP_VP_.
        "( (S (PP (IN In) (NP (NN May))) (, ,) (NP-SBJ (PRP it)) (VP (VBD rained)) (. .)) )",  # depth 5, PP_,_NP_VP_.
        "( (S (NP-SBJ (PRP He)) (VP (VBD left)) (. .)) )",  # depth 4
        "( (SINV (VP (VBD said)) (NP-SBJ (NNP Ann)) (. .)) )",  # depth 4, VP_NP_.
    ]
    path = tmp_path / "small.mrg"
    path.write_text("\n".join(trees), encoding="utf-8")
    examples = read_ptb(path)
    assert labels(derived.tree_depth(examples, length_range=None)) == [4, 5, 4, 4]
    assert labels(derived.tree_depth(examples)) == [5]  # only the 5-word sentence is in 5-28
    assert derived.frequent_top_constituents(examples, 2, length_range=None) == ["NP_VP_.", "PP_NP_VP_."]
    assert derived.frequent_top_constituents(examples, 2, punctuation=True, length_range=None) == [
        "NP_VP_.", "PP_,_NP_VP_."]  # fmt: skip
    top = derived.top_constituents(examples, n_frequent=1, length_range=None)
    assert labels(top) == ["NP_VP_.", "OTHER", "NP_VP_.", "OTHER"]
    given = derived.top_constituents(examples, classes=["VP_NP_."], length_range=None)
    assert labels(given) == ["OTHER", "OTHER", "OTHER", "VP_NP_."]
    assert given[3].meta["file"] == "small.mrg" and given[3].meta["tree_depth"] == 4  # the source's meta stays


def test_bad_input():
    plain = [Example(words=["a", "b"])]
    with pytest.raises(LensError, match=r"examples\[0\]\.meta: expected a 'tree_depth' field"):
        derived.tree_depth(plain)
    with pytest.raises(LensError, match=r"examples\[0\]\.labels: expected the columns 'head'"):
        derived.tense(plain)
    with pytest.raises(LensError, match="length_range"):
        derived.subject_number(plain, length_range=(10, 5))
    with pytest.raises(LensError, match="examples: expected a list"):
        derived.sentence_length("a sentence")
    with pytest.raises(LensError, match="n: expected a positive int"):
        derived.frequent_top_constituents([Example(words=["a"], meta={"top_constituents": "NP"})], 0)
    with pytest.raises(LensError, match="classes"):
        derived.top_constituents([Example(words=["a"], meta={"top_constituents": "NP"})], classes="NP")


# ---------------------------------------------------------------------- the real treebanks


def test_ptb_tasks(ptb):
    lengths = derived.sentence_length(ptb)
    assert Counter(labels(lengths)) == {0: 188, 1: 325, 2: 485, 3: 552, 4: 718, 5: 370}
    for example in lengths:
        low, high = derived.SENTEVAL_LENGTH_BINS[example.meta["label"]]
        assert low <= len(example.words) <= high
    depth = derived.tree_depth(ptb)
    assert len(depth) == 2638 == sum(5 <= len(e.words) <= 28 for e in ptb)
    assert depth[0].meta["label"] == 7 and depth[0].words[0] == "Pierre"
    top = derived.top_constituents(ptb)
    counts = Counter(labels(top))
    assert len(counts) == 20 and counts.most_common(2) == [("NP_VP_.", 1394), ("OTHER", 257)]
    assert not any("," in label or "``" in label for label in counts)
    classes = derived.frequent_top_constituents(ptb[:2000])  # train-style classes applied to the rest
    assert len(classes) == 19 and set(labels(derived.top_constituents(ptb[2000:], classes=classes))) <= {
        *classes,
        "OTHER",
    }


def test_ud_tasks_agree_with_the_ptb_tags(ewt_dev):
    """The UD features that decide each label agree with EWT's own PTB tags (xpos), an independent annotation."""
    tense = derived.tense(ewt_dev)
    assert Counter(labels(tense)) == {"PRES": 625, "PAST": 225}
    past_tags = {"VBD"}
    for example in tense:
        tag = example_xpos(ewt_dev, example)
        assert (tag in past_tags) == (example.meta["label"] == "PAST") and tag in {"VBD", "VBP", "VBZ"}
    nominated = next(e for e in tense if e.words[:4] == ["President", "Bush", "on", "Tuesday"])
    assert nominated.meta["label"] == "PAST" and nominated.words[nominated.meta["target_word"]] == "nominated"
    for task, expected in (
        (derived.subject_number, {"NN": 185, "NNS": 76}),
        (derived.object_number, {"NN": 193, "NNS": 66}),
    ):
        out = task(ewt_dev)
        assert Counter(labels(out)) == expected
        assert all(example_xpos(ewt_dev, e) == e.meta["label"] for e in out)


def example_xpos(source, example):
    return source[example.meta["sentence"]].labels["xpos"][example.meta["target_word"]]


def test_sentence_length_on_chunking_data():
    examples = read_conll2000(require_data("conll2000/conll2000/test.txt"))
    out = derived.sentence_length(examples)
    assert len(out) == sum(5 <= len(e.words) <= 28 for e in examples)
    assert all(e.words == examples[e.meta["sentence"]].words for e in out)  # the source's words, its meta kept
