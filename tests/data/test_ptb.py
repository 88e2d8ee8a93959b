"""Penn Treebank reader: the NLTK sample's size, hand-checked trees, traces and function tags, broken brackets."""

from __future__ import annotations

import pytest

import lensnb
from lensnb import LensError, Span
from lensnb.data.ptb import Constituent, Tree, read_ptb, read_ptb_trees, split_label, tree_example

from ..conftest import require_data


@pytest.fixture(scope="module")
def treebank():
    return require_data("ptb_sample_nltk/treebank")


@pytest.fixture(scope="module")
def ptb(treebank):
    return read_ptb(treebank)


def write(tmp_path, text: str, name: str = "bad.mrg"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- the NLTK sample


def test_sample_size_and_layout(ptb, treebank):
    assert len(ptb) == 3914
    assert ptb[0].meta["file"] == "combined/wsj_0001.mrg" and ptb[-1].meta["file"] == "combined/wsj_0199.mrg"
    assert [e.meta["sentence"] for e in ptb[:3]] == [0, 1, 2]
    assert len(read_ptb_trees(treebank / "combined" / "wsj_0001.mrg")) == 2
    labels = {span.label for e in ptb for span in e.spans}
    assert not any("-" in label or "=" in label for label in labels)  # function tags and indices stripped
    assert {"S", "NP", "VP", "PP", "SBAR", "WHNP"} <= labels
    assert not any(tag == "-NONE-" for e in ptb for tag in e.labels["pos"])
    assert all(len(e.labels["pos"]) == len(e.words) for e in ptb)


def test_first_tree_by_hand(ptb):
    example = ptb[0]
    assert (
        " ".join(example.words)
        == "Pierre Vinken , 61 years old , will join the board as a nonexecutive director Nov. 29 ."
    )
    assert example.labels["pos"][:6] == ["NNP", "NNP", ",", "CD", "NNS", "JJ"]
    assert list(example.spans) == [
        Span(0, 18, "S"), Span(0, 7, "NP"), Span(0, 2, "NP"), Span(3, 6, "ADJP"), Span(3, 5, "NP"),
        Span(7, 17, "VP"), Span(8, 17, "VP"), Span(9, 11, "NP"), Span(11, 15, "PP"), Span(12, 15, "NP"),
        Span(15, 17, "NP"),
    ]  # fmt: skip
    # S > VP > VP > PP-CLR > NP > DT > "a": 7 nodes with the word
    assert example.meta["tree_depth"] == 7
    assert example.meta["top_constituents"] == "NP_VP_."


def test_traces_removed_and_function_tags_kept_apart(treebank):
    (name, tree) = read_ptb_trees(treebank / "combined" / "wsj_0002.mrg")[0]
    assert name == "wsj_0002.mrg"
    subject = tree.children[0]
    assert (subject.label, subject.function_tags, subject.raw_label) == ("NP", ("SBJ",), "NP-SBJ-1")
    example = tree_example(tree)
    assert len(example.words) == 26 and "*-1" not in example.words
    # (S (NP-SBJ (-NONE- *-1)) (NP-PRD a nonexecutive director of ...)): the empty subject is pruned and the
    # small clause S now spans what its NP-PRD spans
    assert Span(17, 25, "S") in example.spans and Span(17, 25, "NP") in example.spans
    merged = tree_example(tree, merge_unary=True)
    assert Span(17, 25, ("S", "NP")) in merged.spans
    assert len(merged.spans) == len(example.spans) - 1
    constituents = tree.constituents()
    assert constituents[0] == Constituent(0, 26, "S", (), "S", 0)
    assert constituents[1] == Constituent(0, 15, "NP", ("SBJ",), "NP-SBJ-1", 1)


def test_escaped_tokens_become_text(ptb, treebank):
    sentence = ptb[142]  # wsj_0015: "... the past 3 1\/2 years would be `` an administrative nightmare . ''"
    assert sentence.meta["file"] == "combined/wsj_0015.mrg"
    start = sentence.words.index("1/2") - 1
    assert sentence.words[start : start + 7] == ["3", "1/2", "years", "would", "be", '"', "an"]
    assert sentence.words[-1] == '"' and sentence.labels["pos"][-1] == "''"
    raw = read_ptb(treebank / "combined" / "wsj_0015.mrg", unescape=False)
    (same,) = [e for e in raw if "1\\/2" in e.words and "nightmare" in e.words]
    assert "``" in same.words and same.labels["pos"] == sentence.labels["pos"]
    braces = ptb[216]  # "an { offending } country 's own citizens"
    at = braces.words.index("offending")
    assert braces.words[at - 1 : at + 2] == ["{", "offending", "}"]
    assert braces.labels["pos"][at - 1 : at + 2] == ["-LRB-", "VBG", "-RRB-"]  # the tags stay as written


def test_read_examples_reach_the_token_table(ptb, tiny_models):
    examples = ptb[:5]
    acts = lensnb.extract(tiny_models["bert"], examples, progress=False)
    labelled = acts.tokens.dropna(subset=["pos"])
    assert labelled["pos"].tolist() == [tag for e in examples for tag in e.labels["pos"]]
    assert acts.spans["label"].tolist() == [s.label for e in examples for s in e.spans]
    assert acts.texts["tree_depth"].tolist() == [e.meta["tree_depth"] for e in examples]


# ---------------------------------------------------------------------- labels, trees and malformed input


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("NP-SBJ-1", ("NP", ("SBJ",))),
        ("PP-LOC=2", ("PP", ("LOC",))),
        ("S-TPC-1", ("S", ("TPC",))),
        ("ADVP-LOC-CLR", ("ADVP", ("LOC", "CLR"))),
        ("WHNP-51", ("WHNP", ())),
        ("ADVP|PRT", ("ADVP", ())),
        ("-LRB-", ("-LRB-", ())),
        ("-NONE-", ("-NONE-", ())),
        ("NP", ("NP", ())),
    ],
)
def test_split_label(raw, expected):
    assert split_label(raw) == expected


def test_tree_measures_on_a_small_tree(tmp_path):
    text = "( (SQ (VBD Did) (NP-SBJ (PRP he)) (NP-SBJ-2 (-NONE- *T*-1)) (VP (VB know) (NP (PRP it))) (. ?)) )\n((S (VP (VB Go))))"
    (_, first), (_, second) = read_ptb_trees(write(tmp_path, text, "two.mrg"))
    assert first.words() == ["Did", "he", "know", "it", "?"]
    assert first.top_constituents() == ("VBD", "NP", "VP", ".")  # SentEval's "VBD_NP_VP_."
    assert first.height() == 5 and second.height() == 4  # SQ > VP > NP > PRP > it; S > VP > VB > Go
    example = tree_example(second, meta={"source": "made up"})
    assert list(example.spans) == [Span(0, 1, "S"), Span(0, 1, "VP")]
    assert example.meta == {"tree_depth": 4, "top_constituents": "VP", "source": "made up"}


@pytest.mark.parametrize(
    "text, line, expected",
    [
        ("( (S\n  (NP (NN a))\n  (VP (VB b)) ) )\n( (S (NP (NN c))\n", 4, "a '\\)' for every '\\('"),
        ("( (S (NP (NN a)) ) )\n)\n", 2, "a '\\)' that closes an open '\\('"),
        ("( (S (NP (NN a) (NN b) c) ) )\n", 1, "one word or subtrees"),
        ("( (S (NN a b)) )\n", 1, "one word or subtrees"),
        ("( (S\n (NP )\n (VP (VB b))) )\n", 2, "a bracket holding a word or subtrees"),
        ("( (S (NP-SBJ (-NONE- *)) ) )\n", 1, "a tree with at least one word"),
        ("( (S ( (NN a)) ) )\n", 1, "a label after"),
        ("words ( (S (NN a)) )\n", 1, "'\\(' \\(the start of a tree\\)"),
    ],
)
def test_broken_brackets_name_file_and_line(tmp_path, text, line, expected):
    with pytest.raises(LensError, match=rf"bad\.mrg, line {line}: expected {expected}"):
        read_ptb_trees(write(tmp_path, text))


def test_bad_paths(tmp_path):
    with pytest.raises(LensError, match="path: expected a folder with .mrg files"):
        read_ptb(tmp_path)
    with pytest.raises(LensError, match="path: expected an existing .mrg file"):
        read_ptb(tmp_path / "absent.mrg")
    with pytest.raises(LensError, match="tree: expected a lensnb.data.ptb.Tree"):
        tree_example("(S (NN a))")
    assert isinstance(read_ptb_trees(write(tmp_path, "((S (NN a)))", "ok.mrg"))[0][1], Tree)


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    path = tmp_path / "latin1.mrg"
    path.write_bytes("( (S (NNP Zurich)) )\n( (S (NNP Z\xfcrich)) )\n".encode("latin-1"))
    with pytest.raises(LensError, match=r"latin1\.mrg, line 2: expected UTF-8 text"):
        read_ptb(path)
