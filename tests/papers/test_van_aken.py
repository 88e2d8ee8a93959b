"""van Aken et al.: question types, roles with the predicted answer, the phase measures, the probing table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb.geometry.results import LayerProfile
from lensnb.papers import run_settings, van_aken
from lensnb.question_answering import Answer, QAItem, qa_items


@pytest.mark.parametrize(("question", "label", "masked"), [
    ("Who wrote Hamlet?", "HUM", "[MASK] wrote Hamlet?"),
    ("How many people live in Paris?", "NUM", "[MASK] people live in Paris?"),
    ("When did the war end?", "NUM", "[MASK] did the war end?"),
    ("Where is the Louvre?", "LOC", "[MASK] is the Louvre?"),
    ("Why did it fail?", "DESC", "[MASK] did it fail?"),
    ("Which team won?", "ENTY", "[MASK] team won?"),
])  # fmt: skip
def test_question_types_come_from_the_wh_phrase_which_is_masked(question, label, masked):
    assert van_aken.question_type(question) == (label, masked)


def test_a_question_without_a_wh_phrase_has_no_type():
    assert van_aken.question_type("The Super Bowl was played in?") is None


def short_example(question: str, sentences: list[str], supporting: int, answer: str):
    """A QA example in the readers' layout, short enough for a tiny model's 64 positions."""
    from lensnb.data.qa import qa_example

    context = " ".join(sentences)
    starts = np.cumsum([0] + [len(t) + 1 for t in sentences[:-1]])
    ranges = [(int(a), int(a) + len(t)) for a, t in zip(starts, sentences)]
    first = context.index(answer)
    meta = {"question": question, "answer": answer, "answer_start": first, "title": "t"}
    return qa_example(question, context, ranges, [i == supporting for i in range(len(sentences))],
                      [(first, first + len(answer))], " ", meta, "test")  # fmt: skip


@pytest.fixture(scope="module")
def squad_examples():
    return [
        short_example("where are the keys ?", ["the fox is quick .", "the keys are on the table .", "a dog ."], 1,
                      "on the table"),
        short_example("who jumps over the dog ?", ["the quick brown fox jumps over the lazy dog .", "it rains ."],
                      0, "the quick brown fox"),
    ]  # fmt: skip


def test_roles_mark_the_predicted_answer(tiny_models, squad_examples):
    example = squad_examples[0]
    item = qa_items([example])[0]
    wrong_start = item.context.index("fox")
    answer = Answer("fox", wrong_start, wrong_start + len("fox"), 1.0)
    view = van_aken.role_view(tiny_models["bert"], example, answer, run_settings(quick=True, progress=False))
    roles = view.table["role"].tolist()
    assert {"question", "answer", "supporting", "predicted answer"} <= set(roles)
    assert not view.table["special"].any()


def test_phase_measures_per_layer(tiny_models, squad_examples):
    frame = van_aken.phase_measures(tiny_models["bert"], squad_examples, run_settings(quick=True, progress=False))
    assert list(frame.index) == [0, 1, 2] and np.isfinite(frame["matching"]).all()
    assert {"matching", "matching_sd", "answer separation", "answer separation_sd"} == set(frame.columns)


def test_wrong_answers_have_no_gold_word():
    items = [QAItem("q", "c", "Denver Broncos", 0), QAItem("q", "c", "1984", 0)]
    answers = [Answer("the Broncos", 0, 0, 1.0), Answer("Carolina", 0, 0, 1.0)]
    assert van_aken.wrong_answers(answers, items).tolist() == [1]


def test_probing_table_puts_both_models_side_by_side():
    layers = (0, 1, 2)
    results = {
        ("NEL", "pre"): LayerProfile("probe_accuracy", layers, np.array([0.5, 0.6, 0.7])),
        ("NEL", "post"): LayerProfile("probe_accuracy", layers, np.array([0.5, 0.7, 0.6])),
    }
    table = van_aken.probing_table(results, ("pre", "post"))
    assert isinstance(table.index, pd.MultiIndex) and table.loc[("NEL", 1), "change"] == pytest.approx(0.1)


def test_qa_models_load_a_named_pair(tiny_paths):
    models = van_aken.qa_models(str(tiny_paths["bert"]), [], run_settings(quick=True, progress=False))
    assert type(models.finetuned.model).__name__.endswith("ForQuestionAnswering")
    assert isinstance(models.pretrained, lensnb.LensModel) and models.names == ("pre-trained", "QA head")
