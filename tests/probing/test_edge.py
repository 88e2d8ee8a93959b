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
    for bad, name in [(dict(monitor="accuracy"), "monitor"), (dict(lr_factor=1.5), "lr_factor"),
                      (dict(min_lr=-1.0), "min_lr"), (dict(max_grad_norm=0.0), "max_grad_norm"),
                      (dict(amsgrad=1), "amsgrad")]:  # fmt: skip
        with pytest.raises(LensError, match=rf"^{name}: "):
            EdgeProbe(**bad).fit(X, y, spans=spans)
    assert check_spans(None, 3, n_sides=2).tolist() == [[0, 1, 0, 1], [1, 2, 1, 2], [2, 3, 2, 3]]


def test_edge_probe_trains_with_amsgrad_and_clips_every_step(optimiser_spy):
    X, spans, y, _ = _planted_pairs(n_texts=20)
    made, clipped = optimiser_spy.made, optimiser_spy.clipped
    probe = EdgeProbe(random_state=0, **{**FAST, "max_epochs": 2}).fit(X, y, spans=spans)
    assert [(kwargs["amsgrad"], kwargs["lr"]) for kwargs in made] == [(True, 1e-2)]
    assert clipped == [5.0] * probe.training_log_.n_steps and probe.training_log_.n_steps > 0


def test_edge_probe_keeps_the_weights_of_the_best_validation_micro_f1():
    X, spans, _, types = _planted_pairs(n_texts=60)
    X_val, spans_val, _, types_val = _planted_pairs(n_texts=30, seed=1)
    y, y_val = np.eye(3, dtype=np.int64)[types[:, 0]], np.eye(3, dtype=np.int64)[types_val[:, 0]]
    probe = EdgeProbe(random_state=0, **{**FAST, "learning_rate": 3e-3, "max_epochs": 12}, dtype="float64")
    probe.fit(X, y, spans=spans, eval_set=(X_val, y_val, spans_val))
    log = probe.training_log_
    assert log.monitor == "micro_f1" and log.maximize and len(log.validation_values) >= 3
    assert log.best_validation == int(np.argmax(log.validation_values))  # the first maximum, as jiant
    assert probe.score(X_val, y_val, spans=spans_val) == pytest.approx(max(log.validation_values), abs=1e-12)
    by_loss = clone(probe).set_params(monitor="loss").fit(X, y, spans=spans, eval_set=(X_val, y_val, spans_val))
    assert by_loss.training_log_.monitor == "loss" and not by_loss.training_log_.maximize
    assert by_loss.training_log_.best_validation == int(np.argmin(by_loss.training_log_.validation_values))


def test_edge_probe_counts_patience_as_jiant():
    X, spans, y, _ = _planted_pairs(n_texts=20)
    # a rate too small to change any prediction: the validation F1 never improves after the first validation
    frozen = dict(random_state=0, projection_size=16, hidden_size=16, learning_rate=1e-7, validate_every=1)
    probe = EdgeProbe(**frozen, min_lr=0.0, max_epochs=100).fit(X, y, spans=spans)
    log = probe.training_log_
    rates = log.learning_rates
    assert len(set(log.validation_values)) == 1 and log.stopped_by == "patience"
    assert len(rates) == 1 + 21  # stopped at the 21st validation without improvement (patience 20)
    assert [i for i in range(1, len(rates)) if rates[i] < rates[i - 1]] == [7, 13, 19]  # halved at the 6th, 12th...
    assert EdgeProbe(**frozen).fit(X, y, spans=spans).training_log_.stopped_by == "min_lr"  # 1e-7 < 1e-6


def test_groups_batch_whole_texts():
    X, spans, y, _ = _planted_pairs(n_texts=64)  # 3 items per text
    texts = np.repeat([f"text {i}" for i in range(64)], 3)
    eval_set = (X, y[:30], spans[:30])
    settings = dict(random_state=0, **{**FAST, "max_epochs": 2})
    by_text = EdgeProbe(**settings).fit(X, y, spans=spans, groups=texts, eval_set=eval_set).training_log_
    by_item = EdgeProbe(**settings).fit(X, y, spans=spans, eval_set=eval_set).training_log_
    assert by_text.n_steps == 2 * 2 and by_item.n_steps == 2 * 6  # 64 texts / 32, 192 items / 32
    with pytest.raises(LensError, match=r"^groups: .*one text key per item"):
        EdgeProbe(**settings).fit(X, y, spans=spans, groups=texts[:-1])
