"""CoNLL-U reader: UD EWT official sizes, hand-checked trees, multiword tokens, empty nodes, malformed files."""

from __future__ import annotations

import pytest

import lensnb
from lensnb import LensError, Span, SpanPair
from lensnb.data.conllu import read_conllu

from ..conftest import require_data


@pytest.fixture(scope="module")
def ewt():
    return {s: read_conllu(require_data(f"ud_english_ewt/en_ewt-ud-{s}.conllu")) for s in ("train", "dev", "test")}


def write(tmp_path, text: str, name: str = "bad.conllu"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def row(ident, form, upos="X", head="0", deprel="root", feats="_", xpos="_") -> str:
    return "\t".join([str(ident), form, form.lower(), upos, xpos, feats, str(head), deprel, "_", "_"])


# "We cannot go." with a multiword token and an empty node
GOOD = "\n".join([
    "# newdoc id = doc1",
    "# sent_id = s1",
    "# text = We cannot go.",
    row(1, "We", "PRON", 4, "nsubj", "Number=Plur", "PRP"),
    "2-3\tcannot\t_\t_\t_\t_\t_\t_\t_\t_",
    row(2, "can", "AUX", 4, "aux", "VerbForm=Fin", "MD"),
    row(3, "not", "PART", 4, "advmod", xpos="RB"),
    row(4, "go", "VERB", 0, "root", "VerbForm=Inf", "VB"),
    "4.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t4:conj\t_",
    row(5, ".", "PUNCT", 4, "punct", xpos="."),
    "",
    "# sent_id = s2",
    row(1, "Yes", "INTJ", 0, "root"),
    "",
])  # fmt: skip


# ---------------------------------------------------------------------- real files


def test_ewt_official_sizes(ewt):
    assert [len(ewt[s]) for s in ("train", "dev", "test")] == [12544, 2001, 2077]
    for examples in ewt.values():  # one arc per word but the root, all words found in the surface text
        assert sum(len(e.span_pairs) for e in examples) == sum(len(e.words) for e in examples) - len(examples)
        assert all(e.text is not None for e in examples)
        assert all(sum(h < 0 for h in e.labels["head"]) >= 1 for e in examples)


def test_ewt_first_training_sentence_by_hand(ewt):
    example = ewt["train"][0]
    assert example.text.startswith("Al-Zaman : American forces killed Shaikh Abdullah al-Ani,")
    assert example.words[:8] == ["Al", "-", "Zaman", ":", "American", "forces", "killed", "Shaikh"]
    assert example.meta["sent_id"].endswith("_ENG_20051126_063000-0001")
    assert example.meta["doc_id"] == "weblog-juancole.com_juancole_20051126063000_ENG_20051126_063000"
    assert example.labels["upos"][:3] == ["PROPN", "PUNCT", "PROPN"]
    assert example.labels["xpos"][5:7] == ["NNS", "VBD"]
    assert example.labels["feats"][5] == "Number=Plur"
    assert example.labels["head"][:7] == [-1, 2, 0, 6, 5, 6, 0]  # CoNLL-U heads 0 3 1 7 6 7 1, less one
    assert example.labels["deprel"][6] == "parataxis"
    assert SpanPair(Span(6, 7), Span(5, 6), "nsubj") in example.span_pairs  # killed -> forces
    assert SpanPair(Span(6, 7), Span(7, 8), "obj") in example.span_pairs  # killed -> Shaikh
    assert SpanPair(Span(0, 1), Span(6, 7), "parataxis") in example.span_pairs  # Al -> killed


def test_ewt_multiword_tokens_and_empty_nodes(ewt):
    didnt = ewt["dev"][6]  # "... but they didn't." : 'did' + "n't" under the token "didn't"
    assert didnt.words[-3:] == ["did", "n't", "."] and didnt.text.endswith("but they didn't.")
    offsets = didnt.word_offsets()
    assert [didnt.text[s:e] for s, e in offsets[-3:]] == ["did", "n't", "."]
    assert offsets[-3][1] == offsets[-2][0]  # no space between the syntactic words of one token
    # "... they like 8.1 write about our prophet ..." : the empty node is not a word
    (example,) = [e for e in ewt["dev"] if e.meta["sent_id"].endswith("20060814_163400-0007")]
    assert example.words[5:9] == ["anything", "they", "like", "about"]
    assert SpanPair(Span(5, 6), Span(7, 8), "acl:relcl") in example.span_pairs


def test_read_examples_reach_the_token_table(ewt, tiny_models):
    examples = ewt["dev"][:5]
    acts = lensnb.extract(tiny_models["bert"], examples, progress=False)
    labelled = acts.tokens.dropna(subset=["upos"])
    assert labelled["upos"].tolist() == [tag for e in examples for tag in e.labels["upos"]]
    assert labelled["head"].tolist() == [h for e in examples for h in e.labels["head"]]
    assert acts.texts["text"].tolist() == [e.text for e in examples]
    assert acts.texts["sent_id"].tolist() == [e.meta["sent_id"] for e in examples]
    assert acts.span_pairs["label"].tolist() == [p.label for e in examples for p in e.span_pairs]


# ---------------------------------------------------------------------- format details and malformed input


def test_multiword_tokens_empty_nodes_and_meta(tmp_path):
    first, second = read_conllu(write(tmp_path, GOOD, "good.conllu"))
    assert first.words == ["We", "can", "not", "go", "."]
    assert first.text == "We cannot go."
    assert [tuple(o) for o in first.word_offsets()] == [(0, 2), (3, 6), (6, 9), (10, 12), (12, 13)]
    assert first.labels["head"] == [3, 3, 3, -1, 3]
    assert first.labels["xpos"] == ["PRP", "MD", "RB", "VB", "."]
    assert list(first.span_pairs) == [SpanPair(Span(3, 4), Span(0, 1), "nsubj"), SpanPair(Span(3, 4), Span(1, 2), "aux"),
                                      SpanPair(Span(3, 4), Span(2, 3), "advmod"),
                                      SpanPair(Span(3, 4), Span(4, 5), "punct")]  # fmt: skip
    assert first.meta == {"sentence": 0, "sent_id": "s1", "doc_id": "doc1"}
    assert second.text is None and second.meta == {"sentence": 1, "sent_id": "s2", "doc_id": "doc1"}
    assert second.span_pairs == []


def test_words_not_in_the_surface_text(tmp_path):
    text = "\n".join([
        "# text = Il parle du chat.",
        row(1, "Il", "PRON", 2, "nsubj"),
        row(2, "parle", "VERB", 0, "root"),
        "3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_",
        row(3, "de", "ADP", 5, "case"),
        row(4, "le", "DET", 5, "det"),
        row(5, "chat", "NOUN", 2, "obl"),
        row(6, ".", "PUNCT", 2, "punct"),
        "",
    ])  # fmt: skip
    (example,) = read_conllu(write(tmp_path, text, "fr.conllu"))
    assert example.words == ["Il", "parle", "de", "le", "chat", "."]
    assert example.text is None and example.resolved_text() == "Il parle de le chat ."
    assert example.meta["surface_text"] == "Il parle du chat."
    assert SpanPair(Span(4, 5), Span(2, 3), "case") in example.span_pairs


def test_deprel_subtypes_can_be_dropped(tmp_path):
    text = "\n".join([row(1, "It", "PRON", 2, "nsubj:pass"), row(2, "ended", "VERB", 0, "root"), "", ""])
    path = write(tmp_path, text, "sub.conllu")
    assert read_conllu(path)[0].labels["deprel"] == ["nsubj:pass", "root"]
    (example,) = read_conllu(path, deprel_subtypes=False)
    assert example.labels["deprel"] == ["nsubj", "root"] and example.span_pairs[0].label == "nsubj"


@pytest.mark.parametrize(
    "lines, line, expected",
    [
        ([row(1, "A", head=0), "2\tB\tb\tX\t_\t_\t1\tdep\t_"], 2, "10 tab-separated columns"),
        ([row(1, "A", head=0), row(2, "B", head=9, deprel="dep")], 2, "a HEAD between 0 .root. and 2"),
        ([row(1, "A", head=0), row(2, "B", head=2, deprel="dep")], 2, "other than the word's own ID 2"),
        ([row(1, "A", head=0), row(2, "B", head="x", deprel="dep")], 2, "a HEAD between"),
        ([row(1, "A", head=2, deprel="dep"), row(2, "B", head=1, deprel="dep")], 1, "heads that lead to the root"),
        ([row(1, "A", head=0), row(3, "B", head=1, deprel="dep")], 2, "word ID 2"),
        ([row(1, "A", head=0), "2-4\tBC\t_\t_\t_\t_\t_\t_\t_\t_", row(2, "B", head=1, deprel="dep")], 2,
         "a multiword range within the sentence's 2 words"),
        (["1-2\tAB\t_\t_\t_\t_\t_\t_\t_\t_", row(1, "A", head=0), "2-3\tBC\t_\t_\t_\t_\t_\t_\t_\t_",
          row(2, "B", head=1, deprel="dep"), row(3, "C", head=1, deprel="dep")], 3,
         "a multiword range starting after the previous one .1-2."),
        ([row(1, "A", head=0), row(2, "B", head=1, deprel="_")], 2, "a DEPREL"),
        ([row(1, "A", head=0), "# late comment"], 2, "comments come before the words"),
        ([row("x", "A", head=0)], 1, "an ID like 7, 3-4"),
        (["# sent_id = lonely"], 1, "a sentence with at least one word line"),
    ],
)  # fmt: skip
def test_malformed_lines_name_file_and_line(tmp_path, lines, line, expected):
    path = write(tmp_path, "# sent_id = ok\n" + row(1, "Fine", head=0) + "\n\n" + "\n".join(lines) + "\n\n")
    with pytest.raises(LensError, match=rf"bad\.conllu, line {line + 3}: expected .*{expected}"):
        read_conllu(path)


def test_missing_file(tmp_path):
    with pytest.raises(LensError, match="path: expected an existing file"):
        read_conllu(tmp_path / "absent.conllu")


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes((row(1, "Fine", head=0) + "\n\n" + row(1, "Z\xfcrich", head=0) + "\n").encode("latin-1"))
    with pytest.raises(LensError, match=r"latin1\.conllu, line 3: expected UTF-8 text"):
        read_conllu(path)
