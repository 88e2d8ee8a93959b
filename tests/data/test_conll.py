"""CoNLL-2000 chunking and CoNLL-2003 NER readers: official sizes, hand-checked sentences, malformed files."""

from __future__ import annotations

import pytest

import lensnb
from lensnb import LensError, Span
from lensnb.data.conll import iob_spans, read_conll2000, read_conll2003

from ..conftest import require_data


@pytest.fixture(scope="module")
def conll2000():
    return {split: read_conll2000(require_data(f"conll2000/conll2000/{split}.txt")) for split in ("train", "test")}


@pytest.fixture(scope="module")
def conll2003():
    return {split: read_conll2003(require_data(f"conll2003/{split}.txt")) for split in ("train", "dev", "test")}


def write(tmp_path, text: str, name: str = "bad.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- real files


def test_conll2000_official_sizes_and_counts(conll2000):
    assert [len(conll2000[s]) for s in ("train", "test")] == [8936, 2012]
    # the README's token counts: sections 15-18 = 211,727 tokens, section 20 = 47,377
    assert sum(len(e.words) for e in conll2000["train"]) == 211727
    assert sum(len(e.words) for e in conll2000["test"]) == 47377
    # every chunk tag is accounted for by exactly one span (B- opens one, I- continues it)
    for example in conll2000["train"][:500]:
        assert sum(tag.startswith("B-") for tag in example.labels["chunk"]) == len(example.spans)
    assert [e.meta["sentence"] for e in conll2000["test"][:3]] == [0, 1, 2]


def test_conll2000_first_test_sentence_by_hand(conll2000):
    example = conll2000["test"][0]
    assert example.words[:6] == ["Rockwell", "International", "Corp.", "'s", "Tulsa", "unit"]
    assert example.labels["pos"][:4] == ["NNP", "NNP", "NNP", "POS"]
    assert example.labels["chunk"][-3:] == ["I-NP", "I-NP", "O"]
    # [NP Rockwell International Corp. ] [NP 's Tulsa unit ] [VP said ] [NP it ] [VP signed ] ...
    assert list(example.spans[:5]) == [Span(0, 3, "NP"), Span(3, 6, "NP"), Span(6, 7, "VP"), Span(7, 8, "NP"),
                                       Span(8, 9, "VP")]  # fmt: skip
    assert Span(18, 20, "VP") in example.spans  # "to provide"
    assert all(span.end <= 27 for span in example.spans)  # the final "." is outside every chunk


def test_conll2003_official_sizes_and_entity_counts(conll2003):
    assert [len(conll2003[s]) for s in ("train", "dev", "test")] == [14041, 3250, 3453]
    # entity counts of the shared task paper (Tjong Kim Sang & De Meulder 2003, Table 2)
    for split, expected in {"train": 23499, "dev": 5942, "test": 5648}.items():
        assert sum(len(e.spans) for e in conll2003[split]) == expected
    people = sum(s.label == "PER" for e in conll2003["train"] for s in e.spans)
    assert people == 6600
    assert set(conll2003["train"][0].labels) == {"pos", "ner"}  # this copy has no chunk column


def test_conll2003_sentences_by_hand(conll2003):
    first = conll2003["train"][0]
    assert first.words == ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    assert first.labels["ner"] == ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
    assert list(first.spans) == [Span(0, 1, "ORG"), Span(2, 3, "MISC"), Span(6, 7, "MISC")]
    assert list(conll2003["train"][1].spans) == [Span(0, 2, "PER")]  # Peter Blackburn
    dateline = conll2003["test"][2]
    assert dateline.words == ["AL-AIN", ",", "United", "Arab", "Emirates", "1996-12-06"]
    assert list(dateline.spans) == [Span(0, 1, "LOC"), Span(2, 5, "LOC")]


def test_read_examples_reach_the_token_table(conll2003, tiny_models):
    examples = conll2003["train"][:5]
    acts = lensnb.extract(tiny_models["bert"], examples, progress=False)
    labelled = acts.tokens.dropna(subset=["ner"])
    assert labelled["ner"].tolist() == [tag for e in examples for tag in e.labels["ner"]]
    assert labelled["pos"].tolist() == [tag for e in examples for tag in e.labels["pos"]]
    assert acts.spans["label"].tolist() == [s.label for e in examples for s in e.spans]
    assert acts.spans[["word_start", "word_end"]].values.tolist() == [
        [s.start, s.end] for e in examples for s in e.spans
    ]


# ---------------------------------------------------------------------- formats and malformed input


def test_iob_decoding_rules():
    tags = ["B-NP", "I-NP", "O", "O", "B-VP", "B-VP", "I-VP"]
    assert iob_spans(tags) == [Span(0, 2, "NP"), Span(4, 5, "VP"), Span(5, 7, "VP")]
    assert iob_spans(tags, outside=True) == [Span(0, 2, "NP"), Span(2, 4, "O"), Span(4, 5, "VP"), Span(5, 7, "VP")]
    # IOB1: I- opens a chunk after O or a chunk of another type
    assert iob_spans(["I-PER", "I-PER", "O", "I-LOC", "I-ORG"], scheme="iob1") == [
        Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(4, 5, "ORG")]  # fmt: skip
    with pytest.raises(LensError, match=r"tags\[1\].*IOB2"):
        iob_spans(["O", "I-NP"])
    with pytest.raises(LensError, match=r"tags\[0\]"):
        iob_spans(["NP"])
    with pytest.raises(LensError, match="scheme"):
        iob_spans(["O"], scheme="bio")


def test_conll2000_outside_runs(tmp_path):
    path = write(tmp_path, "He PRP B-NP\nsaid VBD B-VP\n, , O\n\" '' O\nyes UH B-INTJ\n. . O\n\n", "chunks.txt")
    (example,) = read_conll2000(path, outside_spans=True)
    assert list(example.spans) == [Span(0, 1, "NP"), Span(1, 2, "VP"), Span(2, 4, "O"), Span(4, 5, "INTJ"),
                                   Span(5, 6, "O")]  # fmt: skip
    assert [s.label for s in read_conll2000(path)[0].spans] == ["NP", "VP", "INTJ"]


def test_conll2000_wrong_column_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "He PRP B-NP\nsaid VBD\n\n")
    with pytest.raises(LensError, match=r"bad\.txt, line 2: expected 3 whitespace-separated columns") as info:
        read_conll2000(path)
    assert "'said VBD'" in str(info.value)


def test_bad_iob_transition_raises_in_iob2_and_opens_a_chunk_in_iob1(tmp_path):
    path = write(tmp_path, "the DT B-NP\ncat NN I-NP\nsat VBD O\ndown RP I-PRT\n\n")
    with pytest.raises(LensError, match=r"bad\.txt, line 4: expected chunk tag: 'B-PRT'.*follows 'O'.*iob1"):
        read_conll2000(path)
    (example,) = read_conll2000(path, scheme="iob1")
    assert list(example.spans) == [Span(0, 2, "NP"), Span(3, 4, "PRT")]
    assert example.labels["chunk"] == ["B-NP", "I-NP", "O", "B-PRT"]  # rewritten as IOB2


def test_conll2003_official_layout_with_docstart_and_chunks(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
        "-DOCSTART- -X- -X- O\n\nBRUSSELS NNP B-NP B-LOC\n"  # no blank line at the end of the file
    )
    examples = read_conll2003(write(tmp_path, text, "train.txt"))
    assert [e.words for e in examples] == [["EU", "rejects"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert [e.meta["document"] for e in examples] == [0, 0, 1]
    assert [e.meta["sentence"] for e in examples] == [0, 1, 2]
    assert examples[1].labels == {"pos": ["NNP", "NNP"], "chunk": ["B-NP", "I-NP"], "ner": ["B-PER", "I-PER"]}
    assert list(examples[1].spans) == [Span(0, 2, "PER")]


def test_conll2003_original_iob1_release(tmp_path):
    text = "EU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-NP I-MISC\n\n"
    path = write(tmp_path, text, "eng.train")
    with pytest.raises(LensError, match=r"eng\.train, line 1: expected chunk tag"):
        read_conll2003(path)
    (example,) = read_conll2003(path, scheme="iob1")
    assert example.labels["ner"] == ["B-ORG", "O", "B-MISC"]
    assert example.labels["chunk"] == ["B-NP", "B-VP", "B-NP"]
    assert list(example.spans) == [Span(0, 1, "ORG"), Span(2, 3, "MISC")]


def test_conll2003_mixed_column_counts_and_bad_tags(tmp_path):
    mixed = write(tmp_path, "EU NNP B-NP B-ORG\nrejects VBZ O\n\n", "mixed.txt")
    with pytest.raises(LensError, match=r"mixed\.txt, line 2: expected 4 columns"):
        read_conll2003(mixed)
    bad_tag = write(tmp_path, "EU NNP ORG\n\n", "tag.txt")
    with pytest.raises(LensError, match=r"tag\.txt, line 1: expected NER tag: an IOB tag"):
        read_conll2003(bad_tag)
    five = write(tmp_path, "EU NNP B-NP B-ORG extra\n\n", "five.txt")
    with pytest.raises(LensError, match=r"five\.txt, line 1: expected 3 or 4"):
        read_conll2003(five)


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(LensError, match="path: expected an existing file"):
        read_conll2000(tmp_path / "absent.txt")
    with pytest.raises(LensError, match="path: expected a path"):
        read_conll2003(42)
    with pytest.raises(LensError, match="scheme"):
        read_conll2003(write(tmp_path, "EU NNP O\n"), scheme="IOB2")


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Zurich NNP B-NP B-LOC\nZ\xfcrich NNP B-NP B-LOC\n\n".encode("latin-1"))
    with pytest.raises(LensError, match=r"latin1\.txt, line 2: expected UTF-8 text"):
        read_conll2003(path)
