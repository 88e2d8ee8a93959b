"""SQuAD, HotpotQA and bAbI readers, on the real files."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

import lensnb
from lensnb import LensError, Span
from lensnb.data.babi import read_babi
from lensnb.data.hotpotqa import read_hotpotqa
from lensnb.data.qa import ROLES, read_squad, sup_examples
from lensnb.data.text import split_sentences, split_words

from ..conftest import require_data

HOTPOT_HF = "hotpotqa/hotpot_dev_distractor_subset_meve.json"
HOTPOT_ORIGINAL = "hotpotqa/hotpot_dev_distractor_first53_rakin061.json"


@pytest.fixture(scope="module")
def squad():
    return read_squad(require_data("squad_v1.1/dev-v1.1.json"))


@pytest.fixture(scope="module")
def hotpot():
    return read_hotpotqa(require_data(HOTPOT_HF)), read_hotpotqa(require_data(HOTPOT_ORIGINAL))


@pytest.fixture(scope="module")
def babi_folder():
    return require_data("babi/en-10k")


def _text_of(example, span: Span) -> str:
    offsets = example.word_offsets()
    return example.resolved_text()[offsets[span.start, 0] : offsets[span.end - 1, 1]]


def _check_layout(example) -> None:
    """Question words first, then context; roles, sentence numbers and SUP pairs agree."""
    role, sentence = example.labels["role"], np.asarray(example.labels["sentence"])
    n_question = role.count("question")
    assert set(role) <= set(ROLES) and role[:n_question] == ["question"] * n_question
    assert (sentence[:n_question] == -1).all()
    for pair in example.span_pairs:
        assert pair.first == Span(0, n_question, "question")
        inside = sentence[pair.second.start : pair.second.end]
        assert len(set(inside.tolist())) == 1 and inside[0] >= 0
        roles = set(role[pair.second.start : pair.second.end])
        assert roles <= ({"supporting", "answer"} if pair.label else {"other", "answer"})
    for span in example.spans:
        assert set(role[span.start : span.end]) <= {"answer", "supporting", "other"}


def test_squad_counts_and_first_question(squad):
    assert len(squad) == 10570
    assert len({e.meta["title"] for e in squad}) == 48 and len({e.meta["paragraph"] for e in squad}) == 2067
    first = squad[0]
    assert first.text.startswith("Which NFL team represented the AFC at Super Bowl 50? Super Bowl 50 was an")
    assert first.meta["id"] == "56be4db0acb8001400a502ec" and first.meta["title"] == "Super_Bowl_50"
    (answer,) = first.spans
    assert first.words[answer.start : answer.end] == ["Denver", "Broncos"]
    assert [w for w, r in zip(first.words, first.labels["role"]) if r == "answer"] == ["Denver", "Broncos"]
    supporting = [p for p in first.span_pairs if p.label]
    assert len(supporting) == 1 and _text_of(first, supporting[0].second).startswith("The American Football Conference")
    assert first.labels["sentence"][answer.start] == 1


def test_squad_answers_and_supporting_sentences(squad):
    joined = 0
    for example in squad:
        answer = example.spans[0]
        assert _text_of(example, answer) == example.meta["answer"]  # exact, words are cut at the answer
        joined += " ".join(example.words[answer.start : answer.end]) == example.meta["answer"]
        sentence = example.labels["sentence"][answer.start]
        assert any(p.label and example.labels["sentence"][p.second.start] == sentence for p in example.span_pairs)
    # words joined by spaces give the answer text for 83 % (the rest: punctuation inside, "24–10", "$1.5 billion")
    assert joined == 8794
    counts = Counter(sum(p.label for p in e.span_pairs) for e in squad)
    assert counts == {
        1: 10557,
        2: 12,
        3: 1,
    }  # answers across a sentence end: splitter errors or real (18 before "U.S. Army" stayed one)
    for example in squad[:300]:
        _check_layout(example)
    assert lensnb.examples.as_examples(squad[:300])


def test_squad_answers_on_uncut_words(squad):
    """Without cuts at the answer, an answer starts and ends on word bounds for 99.6 % of questions."""
    aligned = 0
    contexts = {}
    for example in squad:
        question_length = len(example.meta["question"].strip()) + 1
        context = example.text[question_length:]
        if context not in contexts:
            contexts[context] = split_words(context)[1]
        offsets = contexts[context]
        start = example.meta["answer_start"]
        end = start + len(example.meta["answer"])
        aligned += start in offsets[:, 0] and end in offsets[:, 1]
    assert aligned == 10530


def _squad_file(tmp_path, qas, context="Tesla was born in Smiljan. He moved to the U.S. in 1884."):
    data = {"version": "1.1", "data": [{"title": "Tesla", "paragraphs": [{"context": context, "qas": qas}]}]}
    path = tmp_path / "dev-v1.1.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_squad_small_file_options(tmp_path):
    qas = [{"id": "q1", "question": "Where was Tesla born?", "answers": [{"answer_start": 18, "text": "Smil"}]}]
    path = _squad_file(tmp_path, qas)
    (cut,) = read_squad(tmp_path, "dev", separator=" [SEP] ")
    assert cut.text.startswith("Where was Tesla born? [SEP] Tesla") and "[SEP]" not in cut.words
    assert cut.words[cut.spans[0].start : cut.spans[0].end] == ["Smil"] and "jan" in cut.words
    (uncut,) = read_squad(path, cut_at_answers=False)
    assert uncut.words[uncut.spans[0].start : uncut.spans[0].end] == ["Smiljan"]
    assert uncut.labels["sentence"] == [-1] * 5 + [0] * 6 + [1] * 8  # "U.S." is not a sentence end
    assert [p.label for p in uncut.span_pairs] == [True, False]


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda q: q[0]["answers"][0].update(answer_start=17), r"qas\[0\].answers\[0\]: expected an answer_start"),
        (lambda q: q[0].pop("question"), r"qas\[0\]: expected a 'question' field"),
        (lambda q: q[0].update(answers=[]), r"qas\[0\]: expected at least one answer"),
        (lambda q: q[0]["answers"][0].update(answer_start="18"), r"answers\[0\].answer_start: expected a JSON integer"),
    ],
)
def test_squad_malformed_records_name_file_and_record(tmp_path, mutate, expected):
    qas = [{"id": "q1", "question": "Where was Tesla born?", "answers": [{"answer_start": 18, "text": "Smiljan"}]}]
    mutate(qas)
    path = _squad_file(tmp_path, qas)
    with pytest.raises(LensError, match=expected) as caught:
        read_squad(path)
    assert f"{path}, data[0].paragraphs[0]" in str(caught.value)


def test_squad_bad_json_names_line(tmp_path):
    path = tmp_path / "dev-v1.1.json"
    path.write_text('{"data": [\n{"title": "x",\n "paragraphs": [}\n]}', encoding="utf-8")
    with pytest.raises(LensError, match=rf"{path}, line 3, column \d+: expected valid JSON"):
        read_squad(path)


def test_split_sentences_known_answers():
    text = 'Dr. Smith met John F. Kennedy in Jan. 1960. "Really?" he asked. Yes! It was 3 p.m. in the U.S. Then home.'
    pieces = [text[s:e] for s, e in split_sentences(text)]
    assert pieces == [
        "Dr. Smith met John F. Kennedy in Jan. 1960.", '"Really?" he asked.', "Yes!", "It was 3 p.m. in the U.S.",
        "Then home.",
    ]  # fmt: skip
    assert split_sentences("  ") == [] and split_sentences("no end") == [(0, 6)]
    text = "He served in the U.S. Army under Dr. E.H. Schulz. Then he left for Washington, D.C. The next day was calm."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "He served in the U.S. Army under Dr. E.H. Schulz.", "Then he left for Washington, D.C.", "The next day was calm.",
    ]  # fmt: skip


def test_hotpotqa_counts_layouts_and_answers(hotpot):
    hf, original = hotpot
    assert len(hf) == 100 and len(original) == 53
    # the 53 records in the original layout are the first 53 of the HF subset: same examples
    for a, b in zip(hf, original):
        assert (a.text, a.words, a.labels, a.spans, a.span_pairs) == (b.text, b.words, b.labels, b.spans, b.span_pairs)
    assert original[0].meta["id"] == "5a8b57f25542995d1e6f1371" and hf[0].meta["id"] == 0
    assert Counter(e.meta["answer_location"] for e in hf) == {"supporting": 88, "none": 12}
    assert all(e.meta["answer"] in ("yes", "no") for e in hf if e.meta["answer_location"] == "none")
    assert sum(e.meta["n_supporting"] for e in hf) == sum(p.label for e in hf for p in e.span_pairs) == 243
    assert sum(e.meta["unmatched_supporting"] for e in hf) == 0
    for example in hf:
        _check_layout(example)
        for span in example.spans:
            assert _text_of(example, span) == example.meta["answer"]  # found on word bounds, case kept
    assert lensnb.examples.as_examples(hf)


def test_hotpotqa_hand_checked(hotpot):
    hf, _ = hotpot
    # "Were Scott Derrickson and Ed Wood of the same nationality?": yes; facts Scott Derrickson 0, Ed Wood 0
    first = hf[0]
    facts = [_text_of(first, p.second) for p in first.span_pairs if p.label]
    assert facts == [
        "Scott Derrickson (born July 16, 1966) is an American director, screenwriter and producer.",
        "Edward Davis Wood Jr. (October 10, 1924 – December 10, 1978) was an American filmmaker, actor, writer, "
        "producer, and director.",
    ]
    assert first.spans == [] and "answer" not in first.labels["role"]
    assert first.text.split("? ", 1)[1].startswith("Ed Wood (film): Ed Wood is a 1994 American")
    title = first.words.index("film")  # in the first paragraph's title, "Ed Wood (film)"
    assert first.labels["role"][title] == "other" and first.labels["sentence"][title] == -1
    second = hf[1]
    assert [_text_of(second, s) for s in second.spans] == ["Chief of Protocol"]
    untitled = read_hotpotqa(require_data(HOTPOT_ORIGINAL), titles=False)[0]
    assert untitled.text.split("? ", 1)[1].startswith("Ed Wood is a 1994 American")
    assert [_text_of(untitled, p.second) for p in untitled.span_pairs if p.label] == facts


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda r: r.pop("question"), r"record 1: expected a 'question' field"),
        (lambda r: r.update(context="text"), r"record 1.context: expected a list of \[title, sentences\]"),
        (lambda r: r["context"].append(["title only"]), r"record 1.context\[2\]: expected a \[title, \[sentence"),
        (lambda r: r.update(supporting_facts=[["A", "0"]]), r"record 1.supporting_facts\[0\]: expected \[title, sent"),
    ],
)
def test_hotpotqa_malformed_records_name_file_and_record(tmp_path, mutate, expected):
    record = {
        "_id": "x", "question": "Who?", "answer": "Ann", "type": "bridge", "level": "easy",
        "supporting_facts": [["A", 0]], "context": [["A", ["Ann came.", " She left."]], ["B", ["Bob stayed."]]],
    }  # fmt: skip
    broken = json.loads(json.dumps(record))
    mutate(broken)
    path = tmp_path / "hotpot_dev_distractor_v1.json"
    path.write_text(json.dumps([record, broken]), encoding="utf-8")
    with pytest.raises(LensError, match=expected) as caught:
        read_hotpotqa(tmp_path, "dev")
    assert str(path) in str(caught.value)
    path.write_text(json.dumps([record]), encoding="utf-8")
    (example,) = read_hotpotqa(path)
    assert example.text == "Who? A: Ann came. She left. B: Bob stayed."
    assert [(_text_of(example, p.second), p.label) for p in example.span_pairs] == [
        ("Ann came.", True), ("She left.", False), ("Bob stayed.", False),
    ]  # fmt: skip
    assert [_text_of(example, s) for s in example.spans] == ["Ann"]


def test_babi_counts(babi_folder):
    tests = sorted(babi_folder.glob("qa*_test.txt"))
    assert len(tests) == 20 and len(list(babi_folder.glob("qa*_train.txt"))) == 19
    for path in tests:
        examples = read_babi(path)
        assert len(examples) == 1000, path.name
        assert all(e.meta["task"] == int(path.name[2:].split("_")[0]) for e in examples)
    train = read_babi(babi_folder, 1, "train")
    assert len(train) == 10000 and train[-1].meta["story"] == 1999
    with pytest.raises(LensError, match=r"qa3_\*train.txt"):
        read_babi(babi_folder, 3, "train")  # the copy here lacks qa3 train


def test_babi_hand_checked(babi_folder):
    # 1 John travelled to the hallway. / 2 Mary journeyed to the bathroom. / 3 Where is John?<TAB>hallway<TAB>1
    first = read_babi(babi_folder, 1, "test")[0]
    assert first.text == "Where is John? John travelled to the hallway. Mary journeyed to the bathroom."
    assert [(w, r) for w, r in zip(first.words, first.labels["role"]) if r in ("answer", "supporting")] == [
        ("John", "supporting"), ("travelled", "supporting"), ("to", "supporting"), ("the", "supporting"),
        ("hallway", "answer"), (".", "supporting"),
    ]  # fmt: skip
    assert [p.label for p in first.span_pairs] == [True, False]
    assert first.meta == {
        "task": 1, "story": 0, "line": 3, "question": "Where is John?", "answer": "hallway",
        "supporting_lines": "1", "answer_in_context": True,
    }  # fmt: skip
    lists = read_babi(babi_folder, 8, "test")[3]  # What is John carrying? football,apple 4 15
    assert [_text_of(lists, s) for s in lists.spans] == ["football", "apple"]
    assert sum(p.label for p in lists.span_pairs) == 2 and len(lists.span_pairs) == 12  # questions left out
    path = read_babi(babi_folder, 19, "test")
    assert not any(e.meta["answer_in_context"] or e.spans for e in path)  # directions such as "s,s"
    for example in path[:50]:
        _check_layout(example)


@pytest.mark.parametrize(
    "lines, line, expected",
    [
        (["1 Ann went home.", "3 Where is Ann?\thome\t1"], 2, "line number 2"),
        (["1 Ann went home.", "2 Where is Ann?\thome"], 2, "a question, a tab, the answer"),
        (["1 Ann went home.", "2 Where is Ann?\thome\t3"], 2, "the numbers of earlier statements"),
        (["1 Ann went home.", "2 Where is Ann?\thome\tone"], 2, "the numbers of earlier statements"),
        (["1 Where is Ann?\thome\t1"], 1, "the numbers of earlier statements"),
        (["1 Ann went home.", "Where is Ann?\thome\t1"], 2, "a line number, a space"),
        (["2 Ann went home."], 1, "line number 1"),
    ],
)
def test_babi_malformed_lines_name_file_and_line(tmp_path, lines, line, expected):
    path = tmp_path / "qa1_single-supporting-fact_test.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(LensError, match=expected) as caught:
        read_babi(path)
    assert f"{path}, line {line}:" in str(caught.value)


def test_sup_examples(squad, hotpot):
    hf, _ = hotpot
    source = squad[:3] + hf[:2]
    short = sup_examples(source)
    assert len(short) == sum(len(e.span_pairs) for e in source)
    assert [e.meta["supporting"] for e in short] == [p.label for e in source for p in e.span_pairs]
    k = 0
    for example in source:
        question = example.meta["question"].strip()
        for pair in example.span_pairs:
            item = short[k]
            k += 1
            assert item.text == question + " " + _text_of(example, pair.second)
            (own,) = item.span_pairs
            assert item.words[own.second.start :] == list(example.words[pair.second.start : pair.second.end])
            assert own.label == pair.label and item.meta["id"] == example.meta["id"]
    assert lensnb.examples.as_examples(short)
    with pytest.raises(LensError, match="examples\\[0\\].labels"):
        sup_examples([lensnb.Example(words=["a"])])


def test_spans_and_pairs_reach_the_extracted_tables(tiny_models, squad, babi_folder):
    examples = squad[:3] + read_babi(babi_folder, 8, "test")[:2]
    activations = lensnb.extract(tiny_models["bert"], examples, progress=False)
    spans, pairs, tokens = activations.spans, activations.span_pairs, activations.tokens
    assert len(spans) == sum(len(e.spans) for e in examples)
    assert len(pairs) == sum(len(e.span_pairs) for e in examples)
    assert pairs["label"].tolist() == [p.label for e in examples for p in e.span_pairs]
    for table, columns in ((spans, [("token_start", "token_end", "word_start", "word_end")]),
                           (pairs, [("token_start_1", "token_end_1", "word_start_1", "word_end_1"),
                                    ("token_start_2", "token_end_2", "word_start_2", "word_end_2")])):  # fmt: skip
        for row in table.itertuples():
            for start, end, first, stop in columns:
                piece = tokens.iloc[getattr(row, start) : getattr(row, end)]
                assert (piece["text_id"] == row.text_id).all()
                assert piece["word_index"].iloc[0] == getattr(row, first)
                assert piece["word_index"].iloc[-1] == getattr(row, stop) - 1
    answer_tokens = tokens[tokens["role"] == "answer"]
    assert set(answer_tokens["text_id"]) == {0, 1, 2, 3, 4}


def test_a_context_word_in_the_separator_keeps_its_own_place(tmp_path):
    """read_squad(separator=' [SEP] ') on a context starting 'E. coli': the answer word 'E' was placed
    on the separator's E, so its tokens and labels pointed at the separator."""
    import json

    from lensnb.data import read_squad

    context = "E. coli is a bacterium. It lives in the gut."
    record = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "What is a bacterium?",
                                "answers": [{"text": "E. coli", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "dev-v1.1.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    (example,) = read_squad(path, separator=" [SEP] ")
    offsets = example.word_offsets()
    answer = [k for k, role in enumerate(example.labels["role"]) if role == "answer"]
    assert example.text[offsets[answer[0], 0] : offsets[answer[-1], 1]] == "E. coli"
    assert offsets[answer[0], 0] == len("What is a bacterium? [SEP] ")
