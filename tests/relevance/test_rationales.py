"""ERASER token F1 of the top-k words against human rationales."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import lensnb
from lensnb.data.eraser import read_eraser_movies
from lensnb.errors import LensError
from lensnb.relevance import InputXGradient, Relevance
from lensnb.relevance.rationales import rationale_token_f1
from lensnb.testing import build_tiny_model
from tests.conftest import require_data


def hand_relevance(word_scores: list[list[float]], n_words: list[int] | None = None) -> Relevance:
    """One token per word between [CLS] and [SEP]; ``n_words`` larger than the scores fakes a cut text."""
    token_rows, texts = [], []
    for text_id, scores in enumerate(word_scores):
        total = len(scores) if n_words is None else n_words[text_id]
        words = [f"w{i}" for i in range(total)]
        text = " ".join(words)
        starts = np.r_[0, np.cumsum([len(w) + 1 for w in words])[:-1]]
        rows = [("[CLS]", -1, 0, 0, True, 0.0)]
        rows += [(words[i], i, starts[i], starts[i] + len(words[i]), False, s) for i, s in enumerate(scores)]
        rows += [("[SEP]", -1, len(text), len(text), True, 0.0)]
        for position, (token, word, start, end, special, score) in enumerate(rows):
            token_rows.append(dict(text_id=text_id, position=position, token=token, token_id=position, word_index=word,
                                   char_start=start, char_end=end, special=special, first_piece=not special,
                                   last_piece=not special, window=0, score=score))  # fmt: skip
        texts.append(dict(text_id=text_id, text=text, n_words=total, n_tokens=len(rows), n_windows=1))
    tokens = pd.DataFrame(token_rows)
    scores = tokens.pop("score").to_numpy(np.float64)
    n = len(word_scores)
    segments = pd.DataFrame({"text_id": np.arange(n), "window": 0, "target": 0, "target_score": 0.0, "predicted": 0,
                             "delta": np.nan})  # fmt: skip
    return Relevance("hand", {}, tokens, pd.DataFrame(texts), scores, segments)


def test_exact_and_half_overlap():
    relevance = hand_relevance([[5, 4, 1, 0]])
    exact = rationale_token_f1(relevance, [[1, 1, 0, 0]], k=[1, 2, 80])
    assert exact.f1.tolist() == pytest.approx([2 / 3, 1.0, 2 / 3])  # k=80 takes all 4 words: P 1/2, R 1
    assert exact.precision.tolist() == pytest.approx([1.0, 1.0, 0.5])
    assert exact.recall.tolist() == pytest.approx([0.5, 1.0, 1.0])
    half = rationale_token_f1(relevance, [np.array([1, 0, 1, 0])], k=2)
    assert half.f1[0] == pytest.approx(0.5) and half.precision[0] == 0.5 and half.recall[0] == 0.5
    assert half.to_pandas().loc[0, "k"] == 2


def test_micro_and_macro_differ_on_uneven_documents():
    relevance = hand_relevance([[5, 4, 1, 0], [5, 4, 3, 2, 1, 0, -1, -2]])
    rationales = [[1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0, 0]]
    result = rationale_token_f1(relevance, rationales, k=2)
    # text 0: top {0, 1}, P 1/2, R 1, F1 2/3; text 1: top {0, 1}, P 1, R 1/3, F1 1/2
    assert result.f1[0] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert result.per_text_f1[0].tolist() == pytest.approx([2 / 3, 1 / 2])
    assert result.precision[0] == pytest.approx(0.75) and result.recall[0] == pytest.approx((1 + 1 / 3) / 2)
    p, r = 3 / 4, 3 / 7  # pooled: 3 hits of 4 predicted, 7 rationale words
    assert result.precision_micro[0] == pytest.approx(p) and result.recall_micro[0] == pytest.approx(r)
    assert result.f1_micro[0] == pytest.approx(2 * p * r / (p + r))
    assert result.f1_micro[0] != pytest.approx(result.f1[0])


def test_clamp_makes_negative_words_tie_at_zero_and_ties_go_to_the_earlier_word():
    relevance = hand_relevance([[-5, -1, 2, -3]])
    clamped = rationale_token_f1(relevance, [[1, 0, 1, 0]], k=2)  # top: word 2, then word 0 (tied at 0)
    raw = rationale_token_f1(relevance, [[1, 0, 1, 0]], k=2, clamp=False)  # top: word 2, then word 1
    assert clamped.f1[0] == pytest.approx(1.0)
    assert raw.f1[0] == pytest.approx(0.5)


def test_unseen_rationale_words_count_against_recall_unless_only_seen():
    relevance = hand_relevance([[5, 4, 1, 0]], n_words=[6])  # words 4 and 5 were never seen
    rationale = [[1, 1, 0, 0, 1, 1]]
    default = rationale_token_f1(relevance, rationale, k=2)
    seen = rationale_token_f1(relevance, rationale, k=2, only_seen=True)
    assert default.recall[0] == pytest.approx(0.5) and seen.recall[0] == pytest.approx(1.0)
    assert default.precision[0] == seen.precision[0] == 1.0


def test_a_document_without_rationale_scores_zero_and_counts():
    relevance = hand_relevance([[5, 4, 1, 0], [1, 2, 3]])
    result = rationale_token_f1(relevance, [[1, 1, 0, 0], [0, 0, 0]], k=2)
    assert result.per_text_f1[0].tolist() == [1.0, 0.0]
    assert result.f1[0] == pytest.approx(0.5)  # ERASER: a document with predictions is averaged in


@pytest.fixture(scope="module")
def eraser_relevance(tmp_path_factory):
    examples = read_eraser_movies(require_data("eraser_movies/val.jsonl").parent, "val")[:2]
    path = build_tiny_model("bert", tmp_path_factory.mktemp("rationales") / "bert")
    torch.manual_seed(0)
    classifier = lensnb.load_model(path, task="sequence-classification", num_labels=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the truncation warning
        relevance = InputXGradient(classifier, max_length=64, overflow="truncate", progress=False).attribute(examples)
    return examples, relevance


def test_label_column_route_on_eraser_movies(eraser_relevance):
    examples, relevance = eraser_relevance
    arrays = [example.labels["rationale"] for example in examples]
    with pytest.raises(LensError, match="^rationales:.*only_seen=True"):
        rationale_token_f1(relevance, "rationale")  # the cut documents' unseen words are unknown to the table
    by_name = rationale_token_f1(relevance, "rationale", only_seen=True)
    by_arrays = rationale_token_f1(relevance, arrays, only_seen=True)
    assert np.allclose(by_name.f1, by_arrays.f1) and np.allclose(by_name.f1_micro, by_arrays.f1_micro)
    whole = rationale_token_f1(relevance, arrays)
    assert (whole.recall <= by_arrays.recall + 1e-12).all()
    assert np.allclose(whole.precision, by_arrays.precision)
    # k = 5 by hand from the word table (a word scores its highest piece by default)
    words = relevance.words("max")
    f1s = []
    for text_id, example in enumerate(examples):
        frame = words[words["text_id"] == text_id]
        ranked = sorted(zip(-np.maximum(frame["score"], 0), frame["word_index"]))[:5]
        top = {int(w) for _, w in ranked}
        truth = {i for i, v in enumerate(example.labels["rationale"]) if v}
        p, r = len(top & truth) / len(top), len(top & truth) / len(truth)
        f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    assert whole.f1[0] == pytest.approx(np.mean(f1s))
    assert whole.k.tolist() == [5, 10, 20, 30, 40, 50, 60, 70, 80]


@pytest.mark.parametrize(
    ("rationales", "k", "name"),
    [
        ([[1, 0, 0, 0]], 0, "k"),
        ([[1, 0, 0, 0]], [5, 5], "k"),
        ([[1, 0, 0, 0]], "5", "k"),
        ("nope", 5, "rationales"),
        ([[1, 0, 0, 0], [1, 0]], 5, "rationales"),
        ([[1, 0, 0]], 5, r"rationales\[0\]"),
        ([[1, 0, 2, 0]], 5, r"rationales\[0\]"),
        (42, 5, "rationales"),
    ],
)
def test_bad_input_names_the_argument(rationales, k, name):
    with pytest.raises(LensError, match=f"^{name}:"):
        rationale_token_f1(hand_relevance([[5, 4, 1, 0]]), rationales, k=k)


def test_a_word_scores_its_highest_piece_as_in_the_authors_benchmark():
    """ "unbelievable" in three pieces of 0.3 each against "good" in one of 0.5: the authors'
    ``scores_per_word_from_scores_per_token`` takes each word's highest piece (after clamping
    at 0), so "good" ranks first; summing the pieces would rank the split word first."""
    pieces = [("[CLS]", -1, 0, 0, True, 0.0), ("un", 0, 0, 2, False, 0.3), ("##believ", 0, 2, 8, False, 0.3),
              ("##able", 0, 8, 12, False, 0.3), ("good", 1, 13, 17, False, 0.5), ("[SEP]", -1, 17, 17, True, 0.0)]  # fmt: skip
    tokens = pd.DataFrame([
        dict(text_id=0, position=p, token=t, token_id=p, word_index=w, char_start=s, char_end=e, special=sp,
             first_piece=not sp and not t.startswith("##"), last_piece=not sp and t != "un", window=0)
        for p, (t, w, s, e, sp, _) in enumerate(pieces)
    ])  # fmt: skip
    scores = np.array([piece[-1] for piece in pieces])
    texts = pd.DataFrame([dict(text_id=0, text="unbelievable good", n_words=2, n_tokens=6, n_windows=1)])
    segments = pd.DataFrame({"text_id": [0], "window": 0, "target": 0, "target_score": 0.0, "predicted": 0,
                             "delta": np.nan})  # fmt: skip
    relevance = Relevance("hand", {}, tokens, texts, scores, segments)
    by_default = rationale_token_f1(relevance, [[0, 1]], k=1)
    assert by_default.parameters["aggregate"] == "max" and by_default.f1[0] == 1.0
    assert rationale_token_f1(relevance, [[0, 1]], k=1, aggregate="sum").f1[0] == 0.0


def test_bad_aggregate_is_named():
    with pytest.raises(LensError, match="^aggregate:"):
        rationale_token_f1(hand_relevance([[1, 2]]), [[0, 1]], aggregate="median")


def test_label_column_route_on_whole_texts():
    relevance = hand_relevance([[5, 4, 1, 0], [0, 1, 2]])
    labels = [None, 1, 1, 0, 0, None, None, 0, 0, 1, None]  # one per token row, specials without a label
    relevance.tokens["rationale"] = pd.Series(labels, dtype=object)
    by_name = rationale_token_f1(relevance, "rationale", k=(1, 2))
    by_arrays = rationale_token_f1(relevance, [[1, 1, 0, 0], [0, 0, 1]], k=(1, 2))
    assert by_name.f1.tolist() == pytest.approx(by_arrays.f1.tolist())
    assert by_name.f1.tolist() == pytest.approx([(2 / 3 + 1) / 2, (1 + 2 / 3) / 2])
    assert by_name.parameters["rationales"] == "rationale"
