"""van Aken et al.: question types, roles with the predicted answer, the phase measures, the probing table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

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


def test_a_named_model_is_the_pretrained_side_and_gets_a_head_trained_here(tiny_paths, squad_examples, tmp_path):
    settings = run_settings(quick=True, progress=False)
    train = qa_items(squad_examples)
    models = van_aken.qa_models(str(tiny_paths["bert"]), train, settings, cache_dir=tmp_path)
    assert type(models.finetuned.model).__name__.endswith("ForQuestionAnswering")
    assert isinstance(models.pretrained, lensnb.LensModel) and models.names == ("pre-trained", "QA head")
    tuned = dict(models.finetuned.base_model.named_parameters())
    changed = [name for name, p in models.pretrained.base_model.named_parameters()
               if name in tuned and not torch.equal(p, tuned[name])]  # fmt: skip
    assert changed, "the fine-tuned body must differ from the pre-trained one"
    assert "trained here" in models.note
    again = van_aken.qa_models(str(tiny_paths["bert"]), train, settings, cache_dir=tmp_path)
    assert "reused from" in again.note
    with pytest.raises(lensnb.LensError, match="^train: expected at least one SQuAD question"):
        van_aken.qa_models(str(tiny_paths["bert"]), [], settings, cache_dir=tmp_path)
    with pytest.raises(lensnb.LensError, match="^model: expected 'auto', 'embedded'"):
        van_aken.qa_models(3, train, settings, cache_dir=tmp_path)


def test_the_probes_draw_their_seeds_from_the_run(tiny_models, monkeypatch):
    import lensnb.probing.sweep as sweep
    from lensnb.examples import Example
    from lensnb.probing.features import text_task

    seen = []
    monkeypatch.setattr(sweep, "probe_layers", lambda acts, task, **options: seen.append(options["seeds"]))
    models = van_aken.QAModels(tiny_models["bert"], tiny_models["bert"], ("pre-trained", "QA head"), "tiny")
    tasks = {"QUES": ([Example(words="who is it".split(), meta={"ques": "HUM"})], text_task("ques"))}
    van_aken.probe_models(models, tasks, run_settings(quick=True, seed=7, progress=False))
    assert seen == [(7, 8, 9), (7, 8, 9)]


def test_squad_probing_data_comes_from_the_held_out_articles_only():
    from tests.conftest import data_dir, require_data

    require_data("squad_v1.1")
    settings = run_settings(quick=True, data_dir=data_dir(), progress=False)
    squad = van_aken.load_squad(settings)
    training_questions = {item.question for item in squad.train}
    assert squad.held_out[: len(squad.test_examples)] == squad.test_examples
    assert not {ex.meta["question"] for ex in squad.held_out} & training_questions
    tasks = van_aken.probing_tasks(settings, squad)
    held_out_titles = {ex.meta["title"] for ex in squad.held_out}
    sup = tasks["SUP"][0]
    assert len(sup) == len(squad.test_examples) + 8 and {ex.meta["title"] for ex in sup} <= held_out_titles
    typed = [van_aken.question_type(ex.meta["question"]) for ex in squad.held_out]
    expected = [masked.split() for label, masked in filter(None, typed)][:60]
    assert [ex.words for ex in tasks["QUES"][0]] == expected
