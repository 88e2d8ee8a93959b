"""GAP and Winograd readers, on the real files."""

from __future__ import annotations

from collections import Counter

import pytest

import lensnb
from lensnb import LensError, Span
from lensnb.data.coref import GAP_COLUMNS, read_gap, read_wsc
from lensnb.data.text import split_words

from ..conftest import require_data

FEMININE = {"she", "her", "hers", "herself"}


@pytest.fixture(scope="module")
def gap_folder():
    return require_data("gap")


@pytest.fixture(scope="module")
def gap(gap_folder):
    return {split: read_gap(gap_folder, split) for split in ("development", "test", "validation")}


@pytest.fixture(scope="module")
def wsc():
    return read_wsc(require_data("wsc273/WSCollection.xml"))


def _text_of(example, span: Span) -> str:
    offsets = example.word_offsets()
    return example.text[offsets[span.start, 0] : offsets[span.end - 1, 1]]


def test_gap_counts_and_gender_balance(gap):
    assert {split: len(rows) for split, rows in gap.items()} == {"development": 2000, "test": 2000, "validation": 454}
    # GAP is gender-balanced by construction (Webster et al. 2018): as many feminine as masculine pronouns
    for rows in gap.values():
        assert Counter(e.meta["pronoun"].lower() in FEMININE for e in rows) == {
            True: len(rows) // 2,
            False: len(rows) // 2,
        }
    assert Counter(e.meta["answer"] for e in gap["development"]) == {"A": 874, "B": 925, "neither": 201}
    assert gap["test"][0].meta["id"] == "test-1" and gap["validation"][-1].meta["id"] == "validation-454"


def test_gap_hand_checked_row(gap):
    first = gap["development"][0]  # development-1: "her" (274), A "Cheryl Cassidy" (191) TRUE, B "Pauline" (207)
    pronoun, a, b = first.spans
    assert (first.words[pronoun.start : pronoun.end], pronoun.label) == (["her"], "pronoun")
    assert first.words[a.start : a.end] == ["Cheryl", "Cassidy"] and first.words[b.start : b.end] == ["Pauline"]
    assert first.word_offsets()[pronoun.start, 0] == 274 and first.word_offsets()[a.start, 0] == 191
    assert [(p.first, p.second, p.label) for p in first.span_pairs] == [(pronoun, a, True), (pronoun, b, False)]
    assert first.meta["answer"] == "A" and first.meta["url"].endswith("_characters")


def test_gap_mentions_are_whole_words(gap):
    rows = [e for split in gap.values() for e in split]
    joined = 0
    for example in rows:
        for span, key in zip(example.spans, ("pronoun", "a", "b")):
            assert _text_of(example, span) == example.meta[key]
        assert [p.label for p in example.span_pairs] == [example.meta["a_coref"], example.meta["b_coref"]]
        keys = ("pronoun", "a", "b")
        joined += all(" ".join(example.words[s.start : s.end]) == example.meta[k] for s, k in zip(example.spans, keys))
    # words joined by spaces equal the mention except for names with inner punctuation ("J. K. Rowling")
    assert joined == 4147  # of 4,454
    # no mention boundary falls inside a word of the splitter: the words are the plain split of the text
    assert all(len(e.words) == len(split_words(e.text)[0]) for e in rows)
    assert lensnb.examples.as_examples(rows[:300])


def test_wsc_counts_and_hand_checked_schemas(wsc):
    assert len(wsc) == 285 and sum(e.meta["wsc273"] for e in wsc) == 273
    assert not any(e.meta["wsc273"] for e in wsc[273:])
    assert Counter(e.meta["answer"] for e in wsc) == {"A": 143, "B": 142}
    first = wsc[0]
    assert first.text == "The city councilmen refused the demonstrators a permit because they feared violence."
    pairs = [(" ".join(first.words[p.second.start : p.second.end]), p.label) for p in first.span_pairs]
    assert pairs == [("The city councilmen", True), ("the demonstrators", False)]
    assert first.words[first.span_pairs[0].first.start] == "they"
    adam = wsc[80]  # "Adam" twice before the pronoun: the nearer mention ("If Adam hadn't ...") is taken
    assert adam.word_offsets()[adam.spans[2].start, 0] == adam.text.index("If Adam") + 3
    assert adam.meta["answer"] == "A" and adam.span_pairs[0].label is True
    cataphora = wsc[232]  # "Stretching her back, the woman smiled at the girl."
    assert [_text_of(cataphora, s) for s in cataphora.spans] == ["her", "the woman", "the girl"]
    assert cataphora.spans[0].start < cataphora.spans[1].start


def test_wsc_candidates_and_pronoun_in_text(wsc):
    for example in wsc:
        pronoun, a, b = example.spans
        assert _text_of(example, pronoun) == example.meta["pronoun"]
        assert _text_of(example, a).lower() == example.meta["a"].lower()
        assert _text_of(example, b).lower() == example.meta["b"].lower()
        assert [p.label for p in example.span_pairs] == [example.meta["answer"] == "A", example.meta["answer"] == "B"]
    assert lensnb.examples.as_examples(wsc)


def _write_gap(tmp_path, rows: list[str]):
    path = tmp_path / "gap-development.tsv"
    path.write_text("\n".join(["\t".join(GAP_COLUMNS), *rows]) + "\n", encoding="utf-8")
    return path


GOOD = "development-1\tMary met Ann. She smiled.\tShe\t14\tMary\t0\tTRUE\tAnn\t9\tFALSE\thttp://x"


@pytest.mark.parametrize(
    "row, line, expected",
    [
        (GOOD.replace("\t14\t", "\t13\t"), 3, "column Pronoun-offset: expected the offset of 'She'"),
        (GOOD.replace("\t14\t", "\tfourteen\t"), 3, "a character offset"),
        (GOOD.replace("TRUE", "yes"), 3, "column A-coref: expected TRUE or FALSE"),
        (GOOD.replace("FALSE", "TRUE"), 3, "at most one name"),
        (GOOD.rsplit("\t", 1)[0], 3, "11 fields"),
    ],
)
def test_gap_malformed_rows_name_file_and_line(tmp_path, row, line, expected):
    path = _write_gap(tmp_path, [GOOD, row])
    with pytest.raises(LensError, match=expected) as caught:
        read_gap(path)
    assert f"{path}, line {line}" in str(caught.value)


def test_gap_header_and_paths(tmp_path, gap_folder):
    path = _write_gap(tmp_path, [GOOD])
    (example,) = read_gap(tmp_path, "dev")
    assert [_text_of(example, s) for s in example.spans] == ["She", "Mary", "Ann"]
    path.write_text(GOOD + "\n", encoding="utf-8")
    with pytest.raises(LensError, match=f"{path}, line 1: expected the GAP header"):
        read_gap(path)
    with pytest.raises(LensError, match="split: expected one of"):
        read_gap(gap_folder, "train")


WSC_SCHEMA = """<schema><text><txt1>Ann thanked Mary because</txt1><pron> she </pron><txt2>helped.</txt2></text>
<answers><answer>Ann</answer><answer>Mary </answer></answers><correctAnswer> B. </correctAnswer></schema>"""


@pytest.mark.parametrize(
    "schema, expected",
    [
        (
            WSC_SCHEMA.replace("<answer>Ann</answer>", "<answer>Bob</answer>"),
            "schema 1, answer A: expected a candidate",
        ),
        (WSC_SCHEMA.replace("<answer>Ann</answer>", ""), "schema 1: expected two non-empty <answer>"),
        (WSC_SCHEMA.replace(" B. ", " C "), "schema 1: expected a <correctAnswer> of A or B"),
        (WSC_SCHEMA.replace("<pron> she </pron>", ""), "schema 1: expected a <pron> element"),
    ],
)
def test_wsc_malformed_schemas_name_file_and_schema(tmp_path, schema, expected):
    path = tmp_path / "WSCollection.xml"
    path.write_text(f"<?xml version='1.0'?>\n<collection>{WSC_SCHEMA}\n{schema}</collection>", encoding="utf-8")
    with pytest.raises(LensError, match=expected) as caught:
        read_wsc(tmp_path)
    assert str(path) in str(caught.value)


def test_wsc_bad_xml_names_line(tmp_path):
    path = tmp_path / "WSCollection.xml"
    path.write_text(
        f"<?xml version='1.0'?>\n<collection>\n{WSC_SCHEMA}\n<schema><text>\n</collection>", encoding="utf-8"
    )
    with pytest.raises(LensError, match=r"WSCollection.xml, line 6, column \d+: expected well-formed XML"):
        read_wsc(path)
    path.write_text(f"<collection>{WSC_SCHEMA}</collection>", encoding="utf-8")
    (example,) = read_wsc(path)
    assert example.text == "Ann thanked Mary because she helped." and example.meta["answer"] == "B"
    assert [p.label for p in example.span_pairs] == [False, True]


def test_pairs_reach_the_extracted_tables(tiny_models, gap, wsc):
    examples = gap["development"][:3] + wsc[:2]
    activations = lensnb.extract(tiny_models["gpt2"], examples, progress=False)
    spans, pairs, tokens = activations.spans, activations.span_pairs, activations.tokens
    assert len(spans) == 15 and len(pairs) == 10
    assert pairs["label"].tolist() == [p.label for e in examples for p in e.span_pairs]
    assert spans["label"].tolist() == ["pronoun", "A", "B"] * 5
    for row in spans.itertuples():
        piece = tokens.iloc[row.token_start : row.token_end]
        assert (piece["text_id"] == row.text_id).all()
        assert piece["word_index"].iloc[0] == row.word_start and piece["word_index"].iloc[-1] == row.word_end - 1
        text = examples[row.text_id].resolved_text()
        assert text[piece["char_start"].min() : piece["char_end"].max()].strip() == _text_of(
            examples[row.text_id], Span(row.word_start, row.word_end)
        )


def test_wsc_parts_join_as_written_with_no_space_before_closing_punctuation(wsc):
    punished = wsc[40]  # "...so we punished </txt1><pron>them</pron><txt2>.</txt2>"
    assert punished.text == "The older students were bullying the younger ones, so we punished them."
    assert _text_of(punished, punished.spans[0]) == "them"
    assert punished.words[punished.spans[0].start : punished.spans[0].end] == ["them"]
    assert sum(" ." in example.text for example in wsc) == 0  # 18 schemas read "them ." before
