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
        fine_tune_qa(qa_model, [QAItem("q", "the dog", "dog", 4)], max_length=32)


def test_items_from_squad_carry_question_context_and_answer():
    from lensnb.data import read_squad

    examples = read_squad(require_data("squad_v1.1/dev-v1.1.json"))[:50]
    items = qa_items(examples)
    assert all(i.context[i.answer_start : i.answer_start + len(i.answer)] == i.answer for i in items)
    assert items[0].question.startswith("Which NFL team") and items[0].context.startswith("Super Bowl 50")
