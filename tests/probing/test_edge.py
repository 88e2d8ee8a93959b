"""EdgeProbe: scikit-learn's contract, the architecture's algebra, planted span rules, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from lensnb.errors import LensError
from lensnb.probing.edge import EdgeNetwork, EdgeProbe, check_spans

FAST = dict(learning_rate=1e-2, projection_size=16, hidden_size=16, patience=5, max_epochs=30)


@parametrize_with_checks([EdgeProbe(random_state=0, **FAST)])
def test_sklearn_contract(estimator, check):
    check(estimator)


def _planted_pairs(n_texts=200, seed=0, dim=16):
    """Token states with a planted span-pair rule.

    Each text has 6 tokens forming three spans of 2 tokens; a span's type (0, 1, 2) is
    written, with noise, into both its tokens. The pair label says whether the two spans
    have the same type: a rule on both sides together, not on either alone.
    """
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(99).normal(scale=2.0, size=(3, dim))
    tokens, spans, labels, types = [], [], [], []
    for text in range(n_texts):
        kinds = rng.integers(0, 3, size=3)
        for k in kinds:
            tokens.extend(prototypes[k] + rng.normal(scale=0.5, size=(2, dim)))
        base = 6 * text
        for a, b in [(0, 1), (0, 2), (1, 2)]:
            spans.append([base + 2 * a, base + 2 * a + 2, base + 2 * b, base + 2 * b + 2])
            labels.append("same" if kinds[a] == kinds[b] else "different")
            types.append((kinds[a], kinds[b]))
    return np.asarray(tokens), np.asarray(spans), np.asarray(labels), np.asarray(types)


def test_pool_then_project_equals_the_papers_order():
    generator = torch.Generator().manual_seed(0)
    for pooling in ("self_attentive", "mean", "max", "endpoints"):
        module = EdgeNetwork(2, 12, 8, 8, 3, pooling, 0.0, generator, torch.float64)
        tokens = torch.randn(20, 12, dtype=torch.float64, generator=generator)
        spans = torch.tensor([[0, 3, 5, 6], [4, 9, 1, 3], [7, 8, 7, 8]])
        reference = []
        for row in spans:
            sides = []
            for j in range(2):
                projected = module.projections[j](tokens[row[2 * j] : row[2 * j + 1]])  # (len, P): project first
                if pooling == "self_attentive":
                    sides.append(torch.softmax(projected @ module.attention[j], 0) @ projected)
                elif pooling == "mean":
                    sides.append(projected.mean(0))
                elif pooling == "max":
                    sides.append(projected.max(0).values)
                else:
                    sides.append(torch.cat([projected[0], projected[-1]]))
            hidden = module.norm(torch.tanh(module.hidden(torch.cat(sides))))
            reference.append(module.output(hidden))
        torch.testing.assert_close(module(tokens, spans), torch.stack(reference), rtol=1e-12, atol=1e-12)


def test_edge_probe_learns_a_planted_span_pair_rule():
    X, spans, y, _ = _planted_pairs()
    X_test, spans_test, y_test, _ = _planted_pairs(n_texts=100, seed=1)
    probe = EdgeProbe(random_state=0, learning_rate=3e-3, patience=8, max_epochs=60, projection_size=32, hidden_size=32)
    probe.fit(X, y, spans=spans, eval_set=(X_test[:180], y_test[:90], spans_test[:90]))
    assert probe.n_sides_ == 2 and list(probe.classes_) == ["different", "same"]
    accuracy = probe.score(X_test, y_test, spans=spans_test)
    baseline = max(np.mean(y_test == "same"), np.mean(y_test == "different"))
    assert accuracy >= 0.95 > baseline + 0.2


def test_multi_label_edge_probe_thresholds_logits_and_scores_micro_f1():
    X, spans, _, types = _planted_pairs()
    X_test, spans_test, _, types_test = _planted_pairs(n_texts=100, seed=1)

    def multi_hot(kinds):  # labels: the set of span types present in the pair
        y = np.zeros((len(kinds), 3), dtype=np.int64)
        y[np.arange(len(kinds)), kinds[:, 0]] = 1
        y[np.arange(len(kinds)), kinds[:, 1]] = 1
        return y

    probe = EdgeProbe(random_state=0, learning_rate=3e-3, max_epochs=40, patience=8, projection_size=32, hidden_size=32)
    probe.fit(X, multi_hot(types), spans=spans)
    assert probe.multilabel_ and list(probe.classes_) == [0, 1, 2]
    predicted = probe.predict(X_test, spans=spans_test)
    logits = probe.decision_function(X_test, spans=spans_test)
    np.testing.assert_array_equal(predicted, (logits >= 0).astype(int))
    np.testing.assert_allclose(probe.predict_proba(X_test, spans=spans_test), 1 / (1 + np.exp(-logits)))
    assert probe.score(X_test, multi_hot(types_test), spans=spans_test) >= 0.95


def test_self_attentive_pooling_finds_the_informative_token():
    # single spans of 3 tokens; only the token at a random position inside carries the label
    rng = np.random.default_rng(0)
    n, dim = 400, 8
    tokens = rng.normal(scale=1.0, size=(3 * n, dim))
    y = rng.integers(0, 2, size=n)
    marker = np.zeros(dim)
    marker[0] = 4.0
    where = 3 * np.arange(n) + rng.integers(0, 3, size=n)
    tokens[where] += marker  # the informative token stands out along dimension 0 ...
    tokens[where, 1] = np.where(y == 1, 3.0, -3.0)  # ... and holds the label in dimension 1
    spans = np.stack([3 * np.arange(n), 3 * np.arange(n) + 3], axis=1)
    settings = dict(random_state=0, learning_rate=1e-2, projection_size=16, hidden_size=16, max_epochs=40, patience=6)
    fitted = EdgeProbe(**settings).fit(tokens, y, spans=spans)
    module = fitted.module_
    x = torch.from_numpy(tokens[:30]).reshape(10, 3, dim)
    weights = torch.softmax(x @ (module.projections[0].weight.T @ module.attention[0]), dim=1)
    chosen = weights.argmax(dim=1).numpy()
    np.testing.assert_array_equal(chosen, where[:10] - 3 * np.arange(10))
    assert fitted.score(tokens, y, spans=spans) >= 0.97


def test_spans_default_to_one_token_per_row_and_fits_are_reproducible():
    X, _, _, types = _planted_pairs(n_texts=40)
    y = types[:, 0].repeat(2)[: len(X)]  # any labels, one per token row
    rows = np.arange(len(X))
    explicit = np.stack([rows, rows + 1], axis=1)
    a = EdgeProbe(random_state=5, **FAST).fit(X, y)
    b = EdgeProbe(random_state=5, **FAST).fit(X, y, spans=explicit)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X, spans=explicit))
    c = EdgeProbe(random_state=6, **FAST).fit(X, y)
    assert np.abs(a.predict_proba(X) - c.predict_proba(X)).max() > 1e-6


def test_bad_spans_raise_lens_error_naming_the_argument():
    X, spans, y, _ = _planted_pairs(n_texts=10)
    probe = EdgeProbe(random_state=0, max_epochs=1)
    with pytest.raises(LensError, match=r"^spans: .*end exclusive.*out of range"):
        clone(probe).fit(X, y, spans=spans + len(X))
    reversed_spans = spans.copy()
    reversed_spans[0, :2] = [3, 3]
    with pytest.raises(LensError, match=r"^spans: .*1 item\(s\) out of range, the first \[3, 3"):
        clone(probe).fit(X, y, spans=reversed_spans)
    with pytest.raises(LensError, match=r"^spans: .*\(n_items, 2\) or \(n_items, 4\)"):
        clone(probe).fit(X, y, spans=spans[:, :3])
    with pytest.raises(LensError, match=r"^spans: .*integer"):
        clone(probe).fit(X, y, spans=spans.astype(float))
    with pytest.raises(LensError, match=r"^y: .*30 labels, one per row"):
        clone(probe).fit(X, y[:-1], spans=spans)
    fitted = clone(probe).fit(X, y, spans=spans)
    with pytest.raises(LensError, match=r"^spans: .*\(n_items, 4\)"):
        fitted.predict(X, spans=spans[:, :2])
    with pytest.raises(LensError, match=r"^eval_set\[2\]: "):
        clone(probe).fit(X, y, spans=spans, eval_set=(X, y, spans[:, :2]))
    with pytest.raises(LensError, match=r"^pooling: "):
        EdgeProbe(pooling="attention").fit(X, y, spans=spans)
    assert check_spans(None, 3, n_sides=2).tolist() == [[0, 1, 0, 1], [1, 2, 1, 2], [2, 3, 2, 3]]
