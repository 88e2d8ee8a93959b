"""LinearProbe and MLPProbe: scikit-learn's contract, known answers, agreement with scikit-learn, bad inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from lensnb.errors import LensError
from lensnb.probing.estimators import LinearProbe, MLPProbe, fit_multinomial_lbfgs
from tests.probing.test_probe_training import senteval_stop


@parametrize_with_checks(
    [LinearProbe(), MLPProbe(random_state=0, learning_rate=1e-2, max_epochs=40)],
)
def test_sklearn_contract(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _blobs(n_per_class=60, n_classes=4, dim=10, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_classes, dim))
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = centres[y] + rng.normal(scale=spread, size=(len(y), dim))
    order = rng.permutation(len(y))
    return X[order], y[order]


def _overlapping(n=600, n_classes=5, dim=12, seed=1):
    """Classes that overlap, so the regularised optimum is well inside the simplex."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(dim, n_classes))
    X = rng.normal(size=(n, dim)) * rng.uniform(0.5, 3.0, size=dim)
    logits = X @ W / 2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(n_classes, p=row) for row in p])
    return X, y


@pytest.mark.parametrize("probe", [LinearProbe(), MLPProbe(random_state=0, learning_rate=1e-2)])
def test_separable_data_reaches_accuracy_one(probe):
    X, y = _blobs()
    labels = np.array(["DET", "NOUN", "VERB", "ADJ"])[y]  # string classes work as well
    fitted = clone(probe).fit(X, labels)
    assert fitted.score(X, labels) == 1.0
    assert list(fitted.classes_) == sorted(set(labels))
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-10)


def test_linear_probe_matches_sklearn_logistic_regression():
    X, y = _overlapping()
    for C in (0.05, 1.0):
        ours = LinearProbe(C=C, standardize=False, dtype="float64", tol=1e-9, max_iter=5000).fit(X, y)
        reference = LogisticRegression(C=C, tol=1e-9, max_iter=5000).fit(X, y)
        np.testing.assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=2e-6)
        np.testing.assert_allclose(ours.coef_, reference.coef_, atol=2e-4, rtol=1e-4)
        np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=2e-4)
        assert ours.score(X, y) == reference.score(X, y)
    # the defaults (float32, standardised, sklearn's tolerance) against sklearn on standardised data
    Z = (X - X.mean(0)) / X.std(0)
    default = LinearProbe().fit(X, y)
    reference = LogisticRegression().fit(Z, y)
    assert abs(default.score(X, y) - reference.score(Z, y)) <= 0.005
    np.testing.assert_allclose(default.predict_proba(X), reference.predict_proba(Z), atol=2e-3)


def test_standardisation_is_folded_into_the_raw_coefficients():
    X, y = _overlapping(n=300, n_classes=3)
    X = X * 100 + 7  # a scale L-BFGS dislikes on raw features
    probe = LinearProbe(dtype="float64", tol=1e-8).fit(X, y)
    logits = X @ probe.coef_.T + probe.intercept_
    np.testing.assert_allclose(probe.decision_function(X), logits, rtol=1e-12, atol=1e-9)
    coef, intercept, _ = fit_multinomial_lbfgs(
        (X - X.mean(0)) / X.std(0), y, 3, standardize=False, dtype=torch.float64, tol=1e-8
    )  # fmt: skip
    np.testing.assert_allclose(probe.coef_ * X.std(0), coef, atol=1e-5)


def test_binary_decision_function_is_log_odds():
    X, y = _blobs(n_classes=2, spread=3.0)
    probe = LinearProbe().fit(X, y)
    score = probe.decision_function(X)
    assert score.shape == (len(X),)
    np.testing.assert_allclose(1 / (1 + np.exp(-score)), probe.predict_proba(X)[:, 1], atol=1e-12)


def test_torch_inputs_give_the_numpy_answer():
    X, y = _overlapping(n=200, n_classes=3)
    from_numpy = LinearProbe().fit(X, y).predict_proba(X)
    from_torch = LinearProbe().fit(torch.from_numpy(X), torch.from_numpy(y)).predict_proba(torch.from_numpy(X))
    np.testing.assert_allclose(from_numpy, from_torch)


def test_mlp_probe_is_reproducible_and_seeded():
    X, y = _overlapping(n=300, n_classes=3)
    before = torch.get_num_threads()
    a = MLPProbe(random_state=3, dropout=0.2, max_epochs=5).fit(X, y).predict_proba(X)
    b = MLPProbe(random_state=3, dropout=0.2, max_epochs=5).fit(X, y).predict_proba(X)
    c = MLPProbe(random_state=4, dropout=0.2, max_epochs=5).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4
    assert torch.get_num_threads() == before  # the one-thread training loop restores the setting
    X_big, y_big = _overlapping(n=2000, n_classes=5, dim=300)  # large enough for torch's own thread setting
    one = LinearProbe(n_threads=1).fit(X_big, y_big)
    assert torch.get_num_threads() == before
    assert abs(one.score(X_big, y_big) - LinearProbe().fit(X_big, y_big).score(X_big, y_big)) <= 0.002


def test_mlp_probe_keeps_the_best_validation_weights():
    X, y = _overlapping(n=400, n_classes=3)
    X_val, y_val = _overlapping(n=200, n_classes=3, seed=7)
    probe = MLPProbe(hidden_size=64, learning_rate=3e-2, dtype="float64", patience=4, random_state=0)
    probe.fit(X, y, eval_set=(X_val, y_val))
    log = probe.training_log_
    assert log.monitor == "loss" and len(log.validation_values) == probe.n_iter_ >= 5
    assert log.best_validation == int(np.argmin(log.validation_values))
    proba = probe.predict_proba(X_val)
    loss = -np.mean(np.log(proba[np.arange(len(y_val)), np.searchsorted(probe.classes_, y_val)]))
    assert loss == pytest.approx(min(log.validation_values), rel=1e-9)
    # no early stopping: exactly max_epochs
    assert MLPProbe(early_stopping=False, max_epochs=3, random_state=0).fit(X, y).n_iter_ == 3


def test_mlp_probe_follows_sentevals_early_stopping():
    X, y = _overlapping(n=300, n_classes=3)
    X_val, y_val = _overlapping(n=60, n_classes=3, seed=7)
    settings = dict(monitor="accuracy", check_every=4, stopping="senteval", patience=5, tol=0.0, standardize=False)
    probe = MLPProbe(learning_rate=3e-2, max_epochs=204, random_state=0, **settings).fit(X, y, eval_set=(X_val, y_val))
    log = probe.training_log_
    accuracies = np.array(log.validation_values)
    assert log.monitor == "accuracy" and probe.n_iter_ == 4 * len(accuracies)  # a check every 4 passes
    np.testing.assert_allclose(accuracies * 60, np.round(accuracies * 60))  # accuracies of 60 items
    assert senteval_stop(accuracies, 5) == len(accuracies) - 1 and log.stopped_by == "patience"
    assert log.best_validation == int(np.argmax(accuracies))  # the first best, kept
    assert probe.score(X_val, y_val) == pytest.approx(accuracies.max())
    assert np.array_equal(probe.mean_, np.zeros(X.shape[1])) and np.array_equal(probe.scale_, np.ones(X.shape[1]))


def test_mlp_probe_with_jawahar_settings_learns():
    X, y = _blobs(n_per_class=40, n_classes=3, spread=1.0)
    probe = MLPProbe(hidden_size=50, activation="sigmoid", batch_size=64, random_state=0).fit(X, y)
    assert probe.module_.hidden.out_features == 50
    assert probe.score(X, y) >= 0.95


def test_linear_probe_warns_when_iterations_run_out():
    X, y = _overlapping(n=200, n_classes=3)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        LinearProbe(max_iter=2).fit(X, y)


@pytest.mark.parametrize("probe", [LinearProbe(), MLPProbe(max_epochs=2)])
def test_bad_inputs_raise_lens_error_naming_the_argument(probe):
    X, y = _blobs(n_classes=3)
    with pytest.raises(LensError, match=r"^y: .*at least 2 classes.*1 class"):
        clone(probe).fit(X, np.zeros(len(X)))
    with pytest.raises(LensError, match=r"^y: .*one per row of X"):
        clone(probe).fit(X, y[:-1])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(LensError, match=r"^X: .*NaN"):
        clone(probe).fit(bad, y)
    with pytest.raises(LensError, match=r"^X: .*2-D"):
        clone(probe).fit(X[:, 0], y)
    fitted = clone(probe).fit(X, y)
    with pytest.raises(LensError, match=r"^X: .*10 features"):
        fitted.predict(X[:, :5])
    with pytest.raises(LensError, match=r"^y: .*y is None"):
        clone(probe).fit(X, None)


def test_bad_parameters_raise_lens_error():
    X, y = _blobs(n_classes=3)
    for probe, name in [
        (LinearProbe(C=-1.0), "C"),
        (LinearProbe(dtype="float16"), "dtype"),
        (LinearProbe(max_iter=0), "max_iter"),
        (LinearProbe(n_threads=0), "n_threads"),
        (MLPProbe(activation="softsign"), "activation"),
        (MLPProbe(dropout=1.0), "dropout"),
        (MLPProbe(batch_size=0), "batch_size"),
        (MLPProbe(validation_fraction=1.5), "validation_fraction"),
        (MLPProbe(monitor="f1"), "monitor"),
        (MLPProbe(check_every=0), "check_every"),
        (MLPProbe(stopping="tenacity"), "stopping"),
    ]:
        with pytest.raises(LensError, match=rf"^{name}: "):
            probe.fit(X, y)
    with pytest.raises(LensError, match=r"^eval_set: "):
        MLPProbe(max_epochs=2).fit(X, y, eval_set=(X,))
    with pytest.raises(LensError, match=r"^eval_set: .*among the training classes"):
        MLPProbe(max_epochs=2).fit(X, y, eval_set=(X[:5], np.full(5, 99)))
