"""Agreement readers: Linzen (Gulordava-filtered), colorless green in both layouts, prompts."""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

import lensnb
from lensnb.data.agreement import (
    _number_of,
    agreement_prompt,
    mask_verb,
    read_colorless_green,
    read_linzen_agreement,
)
from lensnb.errors import LensError
from lensnb.examples import Example, Span

from ..conftest import require_data


@pytest.fixture(scope="module")
def linzen_folder():
    return require_data("agreement_linzen_gulordava")


@pytest.fixture(scope="module")
def linzen(linzen_folder):
    return read_linzen_agreement(linzen_folder)


@pytest.fixture(scope="module")
def green_lines(linzen_folder):
    return read_colorless_green(linzen_folder)


@pytest.fixture(scope="module")
def green_tab():
    return read_colorless_green(require_data("agreement_goldberg/generated.tab"))


# ------------------------------------------------------------------ Linzen


def test_linzen_count_and_attractors(linzen):
    assert len(linzen) == 7489
    assert Counter(ex.meta["n_attractors"] for ex in linzen) == {0: 1972, 1: 1957, 2: 1943, 3: 1287, 4: 330}


def test_linzen_verb_at_target_index_is_the_correct_form(linzen):
    for ex in linzen:
        (span,) = ex.spans
        assert span.end == span.start + 1
        assert ex.words[span.start] == ex.meta["right"]
        assert span.label == ex.meta["number"]
        assert ex.words[-1] != "<eos>"


def test_linzen_first_sentence_by_hand(linzen, linzen_folder):
    first = linzen[0]
    line = (linzen_folder / "linzen_testset__subj_agr_filtered.text").read_text().split("\n")[0]
    assert first.words == line.split(" ")[:-1]  # without <eos>
    assert first.words[11] == "is" and first.spans == [Span(11, 12, "sing")]
    assert first.meta == {"right": "is", "wrong": "are", "number": "sing", "n_attractors": 0}
    assert linzen[1].meta == {"right": "have", "wrong": "has", "number": "plur", "n_attractors": 1}


def test_linzen_capitalised_gold_forms_follow_the_sentence(linzen):
    # line 753 of the gold file gives 'Are'/'Is' for the title "we are the fallen".
    assert linzen[752].meta["right"] == "are" and linzen[752].meta["wrong"] == "is"
    assert linzen[752].meta["number"] == "plur"


def test_linzen_degenerate_pairs_have_no_number(linzen):
    degenerate = [ex for ex in linzen if ex.meta["right"] == ex.meta["wrong"]]
    assert sorted(ex.meta["right"] for ex in degenerate) == ["edit", "en", "lie", "wherein"]
    assert all(ex.meta["number"] is None and ex.spans[0].label is None for ex in degenerate)
    assert Counter(ex.meta["number"] for ex in linzen) == {"plur": 4755, "sing": 2730, None: 4}


def test_linzen_accepts_either_file_or_the_stem(linzen, linzen_folder):
    for path in (
        linzen_folder / "linzen_testset__subj_agr_filtered.gold",
        linzen_folder / "linzen_testset__subj_agr_filtered",
    ):
        again = read_linzen_agreement(path)
        assert len(again) == len(linzen) and again[100].meta == linzen[100].meta


# ------------------------------------------------------------------ colorless green


def test_colorless_green_both_layouts_agree(green_lines, green_tab):
    assert len(green_lines) == len(green_tab) == 410
    for a, b in zip(green_lines, green_tab):
        assert a.words == b.words and a.spans == b.spans
        for key in ("right", "wrong", "number", "constr_id", "sent_id", "original", "controller_index"):
            assert a.meta[key] == b.meta[key]
    assert "n_attractors" not in green_lines[0].meta
    assert Counter(ex.meta["n_attractors"] for ex in green_tab) == {0: 330, 1: 70, 2: 10}
    assert Counter(ex.meta["number"] for ex in green_tab) == {"sing": 240, "plur": 170}


def test_colorless_green_original_sentences_hold_the_correct_form(green_tab):
    originals = [ex for ex in green_tab if ex.meta["original"]]
    assert len(originals) == 41
    assert all(ex.words[ex.spans[0].start] == ex.meta["right"] for ex in originals)


def test_colorless_green_first_item_by_hand(green_lines):
    first = green_lines[0]
    assert first.words[:7] == ["An", "agreeable", "insight", "executed", "in", "fifty", "surrounds"]
    assert first.spans == [Span(6, 7, "sing")]
    assert first.meta["right"] == "represents" and first.meta["wrong"] == "represent"
    assert first.meta["controller_index"] == 2 and first.words[2] == "insight"
    assert (first.meta["constr_id"], first.meta["sent_id"], first.meta["original"]) == (1, 7, False)


def test_number_rule_matches_the_gold_morphology(green_lines):
    # Cross-check of the Linzen number rule against the colorless-green morphology column.
    assert all(_number_of(ex.meta["right"], ex.meta["wrong"]) == ex.meta["number"] for ex in green_lines)
    assert _number_of("passes", "pass") == "sing" and _number_of("carry", "carries") == "plur"
    assert _number_of("Were", "was") == "plur" and _number_of("lie", "lie") is None


def test_colorless_green_tab_is_found_in_its_folder(green_tab):
    again = read_colorless_green(require_data("agreement_goldberg"))
    assert [ex.meta for ex in again] == [ex.meta for ex in green_tab]


# ------------------------------------------------------------------ prompts


def test_prompt_masks_the_verb_and_cuts_the_prefix(linzen):
    example = linzen[0]
    prompt = agreement_prompt(example, mask_token="<mask>")
    assert (
        prompt.masked == "as a consequence of being mostly privately owned , the town <mask> very opulently designed ."
    )
    assert prompt.prefix == "as a consequence of being mostly privately owned , the town"
    assert (prompt.right, prompt.wrong, prompt.number) == ("is", "are", "sing")
    for ex in linzen[:200]:
        prompt = agreement_prompt(ex)
        i = ex.spans[0].start
        assert prompt.masked.split(" ") == ex.words[:i] + ["[MASK]"] + ex.words[i + 1 :]
        assert prompt.prefix == " ".join(ex.words[:i])


def test_prompt_uses_the_example_text_offsets():
    example = Example(
        words=["The", "keys", "are", "here"], text="The keys  are here.", spans=[Span(2, 3, "plur")],
        meta={"right": "are", "wrong": "is", "number": "plur"},
    )  # fmt: skip
    prompt = agreement_prompt(example)
    assert prompt.masked == "The keys  [MASK] here." and prompt.prefix == "The keys"


def test_mask_verb_keeps_span_and_meta(green_tab):
    example = green_tab[3]
    masked = mask_verb(example, "[MASK]")
    i = example.spans[0].start
    assert masked.words[i] == "[MASK]" and masked.words[:i] == example.words[:i]
    assert masked.spans == example.spans and masked.meta == example.meta
    assert example.words[i] != "[MASK]"  # the original is untouched


def test_prompt_rejects_bad_input(linzen):
    with pytest.raises(LensError, match=r"example\.spans: expected exactly one span"):
        agreement_prompt(Example(words=["a", "b"], meta={"right": "a", "wrong": "b"}))
    with pytest.raises(LensError, match=r"example\.meta: expected the keys \['wrong'\]"):
        agreement_prompt(Example(words=["a", "b"], spans=[Span(0, 1)], meta={"right": "a"}))
    with pytest.raises(LensError, match=r"mask_token: expected a non-empty token"):
        mask_verb(linzen[0], " ")
    with pytest.raises(LensError, match=r"example: expected a lensnb.Example"):
        agreement_prompt("the keys are")


# ------------------------------------------------------------------ malformed files

GOOD_TEXT = "the keys to the cabinet are here . <eos>"
GOOD_GOLD = "5\tare\tis\t1"


def _linzen_files(tmp_path, texts, golds):
    (tmp_path / "subj_agr_filtered.text").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (tmp_path / "subj_agr_filtered.gold").write_text("\n".join(golds) + "\n", encoding="utf-8")
    return tmp_path / "subj_agr_filtered.gold"


@pytest.mark.parametrize(
    ("bad_gold", "message"),
    [
        ("5\tare\tis", r"at least 4 tab-separated fields"),
        ("5\tare\tis\t1\textra", r"4 tab-separated fields: target index"),
        ("five\tare\tis\t1", r"integer target index"),
        ("5\tare\tis\t-1", r"non-negative integer number of attractors"),
        ("9\tare\tis\t1", r"target index in \[0, 8\)"),
        ("4\tare\tis\t1", r"correct form 'are' at index 4 of the sentence on line 2"),
    ],
)
def test_linzen_malformed_gold_names_file_and_line(tmp_path, bad_gold, message):
    gold = _linzen_files(tmp_path, [GOOD_TEXT] * 3, [GOOD_GOLD, bad_gold, GOOD_GOLD])
    with pytest.raises(LensError, match=re.escape(f"{gold}, line 2") + ".*" + message):
        read_linzen_agreement(tmp_path)


def test_linzen_misaligned_or_missing_files(tmp_path):
    gold = _linzen_files(tmp_path, [GOOD_TEXT] * 3, [GOOD_GOLD] * 2)
    with pytest.raises(LensError, match=re.escape(str(gold)) + r".*as many lines as .*\(3\)"):
        read_linzen_agreement(tmp_path)
    text = tmp_path / "subj_agr_filtered.text"
    _linzen_files(tmp_path, [GOOD_TEXT, "<eos>", GOOD_TEXT], [GOOD_GOLD] * 3)
    with pytest.raises(LensError, match=re.escape(f"{text}, line 2") + ".*non-empty sentence"):
        read_linzen_agreement(tmp_path)
    gold.unlink()
    with pytest.raises(LensError, match=r"subj_agr_filtered\.gold is missing"):
        read_linzen_agreement(tmp_path)


def _tab(tmp_path, rows):
    header = "pattern\tconstr_id\tsent_id\tcorrect_number\tform\tclass\ttype\tprefix\tn_attr\tpunct\tfreq\tlen_context\tlen_prefix\tsent"
    path = tmp_path / "generated.tab"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerows(rows)
    return path


def _row(form, kind, sent_id="0", n_attr="1", sentence="The keys to the cabinet are here . <eos>"):
    return ["L__NOUN_VERB", "3", sent_id, "plur", form, kind, "original", "The keys to the cabinet", n_attr,
            "False", "10", "4", "5", sentence]  # fmt: skip


def test_tab_reads_pairs_and_rejects_bad_rows(tmp_path):
    path = _tab(tmp_path, [_row("are", "correct"), _row("is", "wrong")])
    (example,) = read_colorless_green(path)
    assert example.words == "The keys to the cabinet are here .".split()
    assert example.spans == [Span(5, 6, "plur")]
    assert example.meta["controller_index"] == 1 and example.meta["n_attractors"] == 1
    path = _tab(tmp_path, [_row("are", "correct"), _row("is", "wrong"), _row("are", "correct", sent_id="1")])
    with pytest.raises(LensError, match=re.escape(f"{path}, line 4") + r".*a 'wrong' row for this sentence"):
        read_colorless_green(path)
    path = _tab(tmp_path, [_row("are", "correct"), _row("is", "wrong", n_attr="2")])
    with pytest.raises(LensError, match=re.escape(f"{path}, line 3") + r".*n_attr '1' as on line 2"):
        read_colorless_green(path)
    path = _tab(tmp_path, [_row("are", "right"), _row("is", "wrong")])
    with pytest.raises(LensError, match=re.escape(f"{path}, line 2") + r".*class 'correct' or 'wrong'"):
        read_colorless_green(path)
    path = _tab(tmp_path, [_row("is", "correct"), _row("are", "wrong")])  # original: the verb must match
    with pytest.raises(LensError, match=re.escape(f"{path}, line 2") + r".*correct form 'is' at index 5"):
        read_colorless_green(path)
    path.write_text("pattern\tform\nL\tare\n", encoding="utf-8")
    with pytest.raises(LensError, match=re.escape(f"{path}, line 1") + r".*a header naming the columns"):
        read_colorless_green(path)


def test_colorless_green_gold_layout_rejects_bad_morphology(tmp_path):
    (tmp_path / "generated.text").write_text("The keys are here . <eos>\n", encoding="utf-8")
    gold = tmp_path / "generated.gold"
    gold.write_text("L!NOUN_VERB\t0\t0\t2\tVERB\tMood=Ind\tare\tis\tbe\t1\tNOUN\tThe keys are\n", encoding="utf-8")
    with pytest.raises(LensError, match=re.escape(f"{gold}, line 1") + r".*Number=Sing or Number=Plur"):
        read_colorless_green(tmp_path)
    gold.write_text("L!NOUN_VERB\t0\t0\t2\tVERB\tNumber=Plur\tare\tis\tbe\t1\tNOUN\tThe keys are\n", encoding="utf-8")
    (example,) = read_colorless_green(gold)
    assert example.spans == [Span(2, 3, "plur")] and example.meta["controller_index"] == 1


# ------------------------------------------------------------------ extraction


def test_meta_reaches_the_text_table(linzen, tiny_models):
    examples = [mask_verb(ex, "[MASK]") for ex in linzen[:5]]
    acts = lensnb.extract(tiny_models["bert"], examples, progress=False)
    assert list(acts.texts["n_attractors"]) == [ex.meta["n_attractors"] for ex in linzen[:5]]
    assert list(acts.texts["right"]) == [ex.meta["right"] for ex in linzen[:5]]
    spans = acts.pool_spans("mean")
    assert spans.values.shape == (3, 5, acts.dim)
    assert list(spans.table["label"]) == [ex.meta["number"] for ex in linzen[:5]]
