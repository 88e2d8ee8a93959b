"""Extractive QA: gold token positions in windows, the best span, SQuAD scores, training and answering."""

from __future__ import annotations

import numpy as np
import pytest

import lensnb
from lensnb.question_answering import (
    Answer,
    QAItem,
    _best_span,
    _targets,
    _windows,
    answer_questions,
    fine_tune_qa,
    qa_items,
    squad_scores,
)  # fmt: skip
from tests.conftest import require_data


@pytest.fixture(scope="module")
def qa_model(tiny_paths):
    return lensnb.load_model(tiny_paths["bert"], task="question-answering")


def test_gold_positions_point_at_the_answer_in_every_window_that_holds_it(qa_model):
    context = " ".join(["the quick brown fox jumps over the lazy dog ."] * 6) + " the keys are on the table ."
    start = context.index("table")
    item = QAItem("where are the keys ?", context, "table", start)
    windows = _windows(qa_model.tokenizer, [item], max_length=32, stride=8)
    starts, ends = _targets(windows, [item])
    assert len(starts) > 1  # the context needs several windows
    ids = windows["input_ids"]
    holding = np.flatnonzero(starts > 0)
    assert len(holding) >= 1 and (starts[starts == 0] == ends[starts == 0]).all()  # the others point at [CLS]
    for w in holding:
        pieces = qa_model.tokenizer.convert_ids_to_tokens(ids[w, starts[w] : ends[w] + 1].tolist())
        assert "".join(p.removeprefix("##") for p in pieces) == "table"


def test_best_span_is_inside_the_context_and_not_too_long():
    offsets = [None, None, (0, 3), (4, 8), (9, 12), None]  # [CLS] q [SEP]-like: only tokens 2-4 are context
    start = np.array([9.0, 9.0, 1.0, 5.0, 0.0, 9.0])
    end = np.array([9.0, 9.0, 0.0, 1.0, 4.0, 9.0])
    assert _best_span(start, end, offsets, longest=30) == (4, 12, 9.0)  # token 3 .. token 4
    assert _best_span(start, end, offsets, longest=1) == (4, 8, 6.0)  # one token at most
    assert _best_span(start, end, [None] * 6, longest=3) is None


def test_squad_scores_normalise_like_the_official_script():
    items = [QAItem("q", "c", "the Denver Broncos", 0), QAItem("q", "c", "1984", 0), QAItem("q", "c", "a b", 0)]
    scores = squad_scores([Answer("Denver Broncos!", 0, 0, 1.0), "in 1984", "c d"], items)
    assert scores["per_item"]["exact_match"].tolist() == [1.0, 0.0, 0.0]
    assert scores["per_item"]["f1"].tolist() == pytest.approx([1.0, 2 / 3, 0.0])
    with pytest.raises(lensnb.LensError, match="answers: expected 3, one per item"):
        squad_scores(["x"], items)


def test_squad_scores_take_the_best_gold_answer_as_the_official_script():
    """evaluate-v1.1.py scores each prediction against every gold answer and keeps the best
    (metric_max_over_ground_truths); qa_items collects the distinct gold answers of read_squad."""
    item = QAItem("q", "c", "Denver Broncos", 0, ("Denver Broncos", "the Broncos", "Broncos of Denver"))
    scores = squad_scores(["Broncos of Denver", "the Broncos", "Denver"], [item] * 3)
    assert scores["per_item"]["exact_match"].tolist() == [1.0, 1.0, 0.0]
    assert scores["per_item"]["f1"].tolist() == pytest.approx([1.0, 1.0, 2 / 3])  # "Denver": best against the first
    alone = squad_scores(["Broncos of Denver", "the Broncos"], [QAItem("q", "c", "Denver Broncos", 0)] * 2)
    assert alone["per_item"]["exact_match"].tolist() == [0.0, 0.0]  # against the first gold answer only


def test_alternatives_given_as_one_string_are_refused_not_scored_letter_by_letter():
    item = QAItem("q", "c", "Denver", 0, "Denver")  # a str, not a tuple of answers
    with pytest.raises(lensnb.LensError, match=r"^items\[0\]\.alternatives: .*a tuple of gold answer texts"):
        squad_scores(["D"], [item])


def test_qa_items_keep_every_distinct_gold_answer():
    import json

    from lensnb.data import read_squad

    path = require_data("squad_v1.1/dev-v1.1.json")
    examples = read_squad(path)[:300]
    gold = {}
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                gold[qa["id"]] = tuple(dict.fromkeys(answer["text"] for answer in qa["answers"]))  # distinct, in order
    items = qa_items(examples)
    assert [item.alternatives for item in items] == [gold[example.meta["id"]] for example in examples]
    assert sum(len(item.alternatives) > 1 for item in items) > 100


def test_gold_answers_are_the_files_texts_even_where_answer_spans_cover_whole_words():
    """Read without cutting words at the answers, the span of 'gold' in 'golden' covers 'golden':
    gold answers rebuilt from spans scored 'golden' right where the official script gives 0."""
    import json

    from lensnb.data import read_squad

    path = require_data("squad_v1.1/dev-v1.1.json")
    examples = read_squad(path, cut_at_answers=False)
    gold = {}
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                gold[qa["id"]] = tuple(dict.fromkeys(answer["text"] for answer in qa["answers"]))
    items = qa_items(examples)
    assert [item.alternatives for item in items] == [gold[example.meta["id"]] for example in examples]
    golden = next(k for k, item in enumerate(items) if item.alternatives == ("gold",) and "golden" in item.context)
    assert squad_scores(["golden"], [items[golden]])["exact_match"] == 0.0


def test_squad_scores_refuse_items_without_gold_and_predictions_that_are_not_text():
    """An item without a gold answer was scored against '': an empty prediction got exact match 1
    with F1 0; None was scored as the text 'None'."""
    item = QAItem("Who won?", "The Denver Broncos won.", "Denver Broncos", 4)
    cases = [
        (lambda: squad_scores([""], [QAItem("Who won?", "The Denver Broncos won.")]), r"^items\[0\]: .*a gold answer"),
        (lambda: squad_scores([None], [item]), r"^answers\[0\]: expected an Answer or a str.*received None"),
        (lambda: squad_scores("Denver Broncos", [item]), r"^answers: expected a list of Answer"),
        (lambda: squad_scores([], []), r"^items: expected a non-empty list of QAItem"),
        (lambda: squad_scores(["x"], item), r"^items: expected a non-empty list of QAItem"),
    ]
    for call, message in cases:
        with pytest.raises(lensnb.LensError, match=message):
            call()


def test_training_data_from_numpy_columns_trains(qa_model):
    """An answer_start taken from a numpy column passed the checks, then broke the data digest."""
    item = QAItem("where ?", "the dog is on the table", "table", np.int64(18))
    report = fine_tune_qa(qa_model, [item], max_length=32, stride=8, progress=False)
    assert report.steps == 1


def test_a_span_head_learns_where_the_answer_is(qa_model):
    colours = ["red", "blue", "green", "black", "white", "brown"]
    names = ["fox", "dog", "cabinet", "table", "keys", "model"]
    items = []
    for i in range(48):
        colour, name = colours[i % 6], names[(i // 6) % 6]
        context = f"the {name} is {colour} . the weather is fine ."
        items.append(QAItem(f"what colour is the {name} ?", context, colour, context.index(colour, 5)))
    torch_seed = 0
    report = fine_tune_qa(qa_model, items, epochs=12, learning_rate=3e-3, batch_size=16, max_length=32, stride=8,
                          seed=torch_seed, progress=False)  # fmt: skip
    assert report.losses[-3:].mean() < report.losses[:3].mean() / 2
    answers = answer_questions(qa_model, items[:12], max_length=32, stride=8, progress=False)
    assert squad_scores(answers, items[:12])["exact_match"] >= 0.75


def test_answers_do_not_depend_on_the_batch_padding_is_cut_off(qa_model):
    """Batches are sorted by length and cut to their longest window: the same spans and scores as one by one."""
    contexts = ["the keys are on the table .", " ".join(["a long sentence about many things ."] * 9) + " red .",
                "blue sky .", "the dog is brown and the cat is black ."]  # fmt: skip
    items = [QAItem("what is it ?", c, c.split()[1], c.index(c.split()[1])) for c in contexts]
    alone = answer_questions(qa_model, items, max_length=40, stride=8, batch_size=1, progress=False)
    together = answer_questions(qa_model, items, max_length=40, stride=8, batch_size=16, progress=False)
    assert [(a.start, a.end) for a in alone] == [(a.start, a.end) for a in together]
    assert [a.score for a in alone] == pytest.approx([a.score for a in together], abs=1e-5)


def test_training_refuses_a_model_without_a_span_head_and_items_without_answers(tiny_models, qa_model):
    with pytest.raises(lensnb.LensError, match="model: expected a question-answering model"):
        fine_tune_qa(tiny_models["bert"], [QAItem("q", "c", "c", 0)])
    with pytest.raises(lensnb.LensError, match="items\\[0\\]: expected a QAItem with its answer"):
        fine_tune_qa(qa_model, [QAItem("q", "c")])
    with pytest.raises(lensnb.LensError, match="answer_start: expected the offset"):
        fine_tune_qa(qa_model, [QAItem("q", "the dog", "dog", 0)])
    with pytest.raises(lensnb.LensError, match="stride: expected a number of tokens in 0..15"):
        fine_tune_qa(qa_model, [QAItem("q", "the dog", "dog", 4)], max_length=32, stride=16)


def test_items_from_squad_carry_question_context_and_answer():
    from lensnb.data import read_squad

    examples = read_squad(require_data("squad_v1.1/dev-v1.1.json"))[:50]
    items = qa_items(examples)
    assert all(i.context[i.answer_start : i.answer_start + len(i.answer)] == i.answer for i in items)
    assert items[0].question.startswith("Which NFL team") and items[0].context.startswith("Super Bowl 50")


# ----------------------------------------------------------------------------- items from a reader
def _squad_like(question: str, paragraph: str, answer_start: int, answer: str, separator: str):
    from lensnb.data.qa import qa_example

    meta = {"question": question, "answer": answer, "answer_start": answer_start}
    return qa_example(question, paragraph, [(0, len(paragraph))], [True], [(answer_start, answer_start + len(answer))],
                      separator, meta, "test")  # fmt: skip


@pytest.mark.parametrize("separator", [" ", " [SEP] ", "\n\n", " || "])
def test_items_keep_the_paragraph_and_the_gold_occurrence_whatever_the_separator(separator):
    paragraph = "1 dog and 1 cat: the dog is on the table, 1 cat sleeps."
    gold = paragraph.index("1 cat", 20)  # the second "1 cat", not the first
    example = _squad_like("how many cats sleep ?", paragraph, gold, "1 cat", separator)
    for items in (qa_items([example]), qa_items([example], separator=separator)):
        assert items[0].context == paragraph and items[0].answer_start == gold
        assert items[0].question == "how many cats sleep ?"


def test_items_refuse_what_they_cannot_place_rather_than_guess():
    paragraph = "the dog is on the table ."
    example = _squad_like("where ?", paragraph, paragraph.index("table"), "table", " [SEP] ")
    with pytest.raises(lensnb.LensError, match="examples\\[0\\]: expected a text that starts with its question and "
                                               "separator='\\\\n'"):  # fmt: skip
        qa_items([example], separator="\n")
    with pytest.raises(lensnb.LensError, match="examples\\[0\\]: expected a gold answer that its paragraph holds"):
        qa_items([example], separator=" ")  # a prefix of the real separator: the answer is then not at its offset
    paragraph = "1 cat sleeps on the table ."  # a separator holding the paragraph's first word: its own place is known
    example = _squad_like("how many ?", paragraph, 0, "1 cat", " 1 ")
    assert qa_items([example])[0].context == qa_items([example], separator=" 1 ")[0].context == paragraph
    paragraph = "a cat sleeps ."  # the answer also where the separator would end: where the paragraph starts is unclear
    example = _squad_like("which ?", paragraph, 0, "a", " a ")
    with pytest.raises(lensnb.LensError, match="pass the reader's separator to qa_items"):
        qa_items([example])
    assert qa_items([example], separator=" a ")[0].context == paragraph
    moved = _squad_like("where ?", paragraph, 3, "table", " [SEP] ")  # an offset that does not hold the answer
    with pytest.raises(lensnb.LensError, match="examples\\[0\\]: expected a gold answer that its paragraph holds at "
                                               "answer_start=3"):  # fmt: skip
        qa_items([example, moved][1:])
    with pytest.raises(lensnb.LensError, match="examples: expected a non-empty list"):
        qa_items([])


def test_items_from_squad_with_a_separator_are_the_paragraphs():
    import json

    from lensnb.data import read_squad

    path = require_data("squad_v1.1/dev-v1.1.json")
    paragraphs = [p["context"] for a in json.loads(path.read_text())["data"] for p in a["paragraphs"] for _ in p["qas"]]
    examples = read_squad(path, separator=" [SEP] ")[:400]
    items = qa_items(examples)
    assert [i.context for i in items] == paragraphs[:400]
    assert [i.answer_start for i in items] == [e.meta["answer_start"] for e in examples]


# ----------------------------------------------------------------------------- window lengths and arguments
def test_window_lengths_are_checked_before_the_tokenizer_sees_them(qa_model):
    context = "the dog is on the table " * 6
    long_question = "where is the dog and where is the table and the fox " * 3
    with pytest.raises(lensnb.LensError, match="items\\[1\\].question: expected at most 1 tokens, so that a window of "
                                               "max_length=8 holds it, 3 special tokens and more than stride=3"):  # fmt: skip
        answer_questions(qa_model, [QAItem("a", context), QAItem("where ?", context)], max_length=8, stride=3,
                         progress=False)  # fmt: skip
    with pytest.raises(lensnb.LensError, match="items\\[0\\].question: expected at most 20 tokens"):
        answer_questions(qa_model, [QAItem(long_question, context)], max_length=32, stride=8, progress=False)
    with pytest.raises(lensnb.LensError, match="items\\[0\\].question: expected at most 20 tokens"):
        fine_tune_qa(qa_model, [QAItem(long_question, "the dog is on the table", "table", 18)], max_length=32,
                     stride=8, progress=False)  # fmt: skip
    with pytest.raises(lensnb.LensError, match="max_length: expected at least 5 tokens"):
        _windows(qa_model.tokenizer, [QAItem("where ?", "the dog is on the table")], 2, 0)
    with pytest.raises(lensnb.LensError, match="max_length: expected at most 64 tokens, .* received 384"):
        answer_questions(qa_model, [QAItem("where ?", context)], max_length=384, progress=False)
    answers = answer_questions(qa_model, [QAItem("where ?", context * 3)], progress=False)  # defaults fit the model
    assert len(answers) == 1 and answers[0].end > answers[0].start


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_answer_tokens": 0}, "max_answer_tokens: expected a positive integer, received 0"),
        ({"max_answer_tokens": -2}, "max_answer_tokens: expected a positive integer, received -2"),
        ({"max_answer_tokens": 2.5}, "max_answer_tokens: expected a positive integer, received 2.5"),
        ({"batch_size": 0}, "batch_size: expected a positive integer, received 0"),
        ({"stride": True}, "stride: expected a number of tokens"),
    ],
)
def test_answering_arguments_are_checked_by_name(qa_model, options, message):
    item = QAItem("where ?", "the dog is on the table", "table", 18)
    with pytest.raises(lensnb.LensError, match=message):
        answer_questions(qa_model, [item], max_length=32, progress=False, **{"stride": 8, **options})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": -1}, "seed: expected a non-negative integer below 2\\*\\*32"),
        ({"learning_rate": 0}, "learning_rate: expected a finite positive number, received 0"),
        ({"weight_decay": "0.1"}, "weight_decay: expected a finite non-negative number"),
        ({"epochs": True}, "epochs: expected a positive integer, received True"),
        ({"checkpoint_every": 0}, "checkpoint_every: expected a positive integer, received 0"),
        ({"max_length": 100}, "max_length: expected at most 64 tokens"),
    ],
)
def test_qa_training_arguments_are_checked_by_name(qa_model, options, message):
    item = QAItem("where ?", "the dog is on the table", "table", 18)
    with pytest.raises(lensnb.LensError, match=message):
        fine_tune_qa(qa_model, [item], progress=False, **{"max_length": 32, "stride": 8, **options})


def test_an_empty_gold_answer_is_refused(qa_model):
    with pytest.raises(lensnb.LensError, match="items\\[0\\].answer: expected a non-empty answer text, received ''"):
        fine_tune_qa(qa_model, [QAItem("where ?", "the dog is on the table", "", 8)], max_length=32, stride=8)
    with pytest.raises(lensnb.LensError, match="items\\[0\\].answer_start: expected a non-negative int"):
        fine_tune_qa(qa_model, [QAItem("where ?", "the dog is on the table", "the", -4)], max_length=32, stride=8)


# ----------------------------------------------------------------------------- resuming exactly
def test_a_stopped_qa_run_resumes_exactly_and_leaves_the_callers_random_stream_alone(tiny_paths, tmp_path):
    import torch

    def fresh():
        torch.manual_seed(0)
        return lensnb.load_model(tiny_paths["bert"], task="question-answering")

    items = [QAItem(f"what colour is the {n} ?", f"the {n} is {c} . the sky is grey .", c, len(f"the {n} is "))
             for n in ("fox", "dog", "cat", "keys") for c in ("red", "blue", "green")]  # fmt: skip
    options = dict(epochs=2, learning_rate=1e-3, batch_size=4, max_length=32, stride=8, checkpoint_every=2,
                   progress=False)  # fmt: skip
    whole = fresh()
    torch.manual_seed(12345)
    expected = torch.rand(3)
    torch.manual_seed(12345)
    uninterrupted = fine_tune_qa(whole, items, checkpoint=tmp_path / "whole", **options)
    assert torch.equal(torch.rand(3), expected)
    stopped, calls = fresh(), {"n": 0}
    forward = stopped.model.forward

    class Stop(BaseException):
        pass

    def stopping(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # during step 4, after the checkpoint of step 2
            raise Stop
        return forward(*args, **kwargs)

    stopped.model.forward = stopping
    with pytest.raises(Stop):
        fine_tune_qa(stopped, items, checkpoint=tmp_path / "stopped", **options)
    resumed_model = fresh()
    resumed = fine_tune_qa(resumed_model, items, checkpoint=tmp_path / "stopped", **options)
    assert resumed.resumed_from == 2 and resumed.steps == uninterrupted.steps > 4
    assert np.array_equal(resumed.losses, uninterrupted.losses[2:])
    a, b = whole.model.state_dict(), resumed_model.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
