"""The probing API on unusual input: scale, classes missing from training, numpy scalars, seeds,
labels that cannot be sorted, and the arguments of the MDL code (each case was a reproduced defect)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lensnb import LensError
from lensnb.probing import (
    EdgeProbe,
    LinearProbe,
    MLPProbe,
    ScalarMixProbe,
    control_labels,
    control_task_selectivity,
    cumulative_probing,
    expected_layer,
    mdl_online,
    online_codelength,
    probe_layers,
    scalar_mix,
    text_task,
)
from lensnb.probing.mdl import block_ends
from lensnb.probing.probe_checks import standardization


def test_cumulative_probing_scores_the_predicted_classes_themselves():
    # class 1 only in the test part: a predicted 2 used to be re-indexed to 1 and counted right
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    x = rng.normal(size=(2, 90, 3)) * 0.1
    x[:, :, 0] += y * 5.0
    train = y != 1
    train[::7] = False
    probe = ScalarMixProbe(head="linear", max_epochs=100, lr=5e-2, seed=0)
    profile = cumulative_probing(x, y, train=train, probe=probe, bootstrap=0, progress=False)
    fitted = ScalarMixProbe(**{**probe.get_params(), "n_layers": 2}).fit(
        np.concatenate([x[0], x[1]], 1)[train], y[train]
    )
    direct = (fitted.predict(np.concatenate([x[0], x[1]], 1)[~train]) == y[~train]).mean()
    assert profile.values[-1] == pytest.approx(direct)
    assert profile.values.max() <= (y[~train] != 1).mean() + 1e-12  # class 1 can never be predicted


@pytest.mark.parametrize(
    ("scale", "dtype"), [(1e-13, np.float64), (1e-30, np.float64), (1e-30, np.float32), (1e-200, np.float64)]
)
def test_standardising_probes_do_not_depend_on_the_scale(scale, dtype):
    # columns with a standard deviation under 1e-12 used to count as constant: chance accuracy
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] > 0).astype(int)
    xs = (x * scale).astype(dtype)
    np.testing.assert_allclose(standardization(xs)[1], standardization(x)[1] * scale, rtol=1e-5)
    assert LinearProbe().fit(xs, y).score(xs, y) == LinearProbe().fit(x.astype(dtype), y).score(x.astype(dtype), y)
    mix = ScalarMixProbe(standardize_layers=True, head="linear", max_epochs=30, lr=1e-2)
    assert mix.fit(xs, y).score(xs, y) > 0.9
    assert standardization(np.full((10, 2), 3.7))[1].tolist() == [1.0, 1.0]  # constant columns still get scale 1


def test_numpy_scalars_are_numbers_and_seeds():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 80, 4)), np.repeat([0, 1], 40)
    x[:, :, 0] += y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = scalar_mix(x, y, seed=np.int64(3), test_size=np.float32(0.25), progress=False)
        b = scalar_mix(x, y, seed=3, test_size=0.25, progress=False)
    np.testing.assert_array_equal(a.values, b.values)
    ScalarMixProbe(seed=np.int64(2), max_epochs=5).fit(np.concatenate(list(x), 1), y)
    mdl_online(x, y, smoothing=np.float32(0.01), progress=False)
    cumulative_probing(x, y, confidence=np.float32(0.9), bootstrap=10, progress=False)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda x, y: control_labels(np.arange(len(y)) % 7, y, seed=-1), "seed"),
        (lambda x, y: control_labels(np.arange(len(y)) % 7, y, seed="x"), "seed"),
        (lambda x, y: control_task_selectivity(x, y, word_types=np.arange(len(y)) % 7, seed=1.5), "seed"),
        (lambda x, y: mdl_online(x, y, seed=-1), "seed"),
        (lambda x, y: scalar_mix(x, y, seed=-1), "seed"),
        (lambda x, y: MLPProbe(random_state=-1).fit(x[0], y), "random_state"),
        (lambda x, y: EdgeProbe(random_state="s").fit(x[0], y), "random_state"),
        (lambda x, y: EdgeProbe(dropout="0.1").fit(x[0], y), "dropout"),
        (lambda x, y: probe_layers(x, np.array(["a", None] * (len(y) // 2), dtype=object)), "label"),
        (lambda x, y: probe_layers(x, np.array([1, "b"] * (len(y) // 2), dtype=object)), "label"),
        (lambda x, y: probe_layers(x, y, param_grid={"alpha": [0.1, 1.0]}), "param_grid"),
        (lambda x, y: mdl_online(x, y, portions=(float("nan"), 100)), "portions"),
        (lambda x, y: mdl_online(x, y, portions="ab"), "portions"),
        (lambda x, y: online_codelength(x[0], y, 1), "n_classes"),
        (lambda x, y: online_codelength(x[0], y + 1, 2), "codes"),
        (lambda x, y: online_codelength(x[0][:-5], y, 2), "x"),
        (lambda x, y: online_codelength(np.concatenate([x[0], x[0]]), y, 2), "x"),
        (lambda x, y: expected_layer(["a", "b"]), "scores"),
        (lambda x, y: text_task("label", pool="first"), "pool"),
    ],
)
def test_bad_arguments_are_named(call, named):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 60, 4)), np.repeat([0, 1], 30)
    with pytest.raises(LensError, match=rf"^{named}: expected"):
        call(x, y)


def test_mdl_without_smoothing_refuses_an_infinite_code_instead_of_returning_it():
    # class 2 appears only after the first block: a probe trained on classes 0 and 1 gives it
    # probability 0, which costs -log2(0) bits; the result used to be inf, silently
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    codes = np.r_[np.tile([0, 1], 30), np.full(60, 2)]
    with pytest.raises(LensError, match=r"^smoothing: expected a number in \(0, 1\) for this probe.*infinite"):
        online_codelength(x, codes, 3, smoothing=0, portions=(50, 100))
    assert np.isfinite(online_codelength(x, codes, 3, portions=(50, 100))["online"])
    assert block_ends(100, (10, 100)).tolist() == [10, 100]


def test_probe_layers_takes_seeds_as_a_numpy_array():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 60, 4)), np.repeat([0, 1], 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_array = probe_layers(x, y, seeds=np.array([0, 1]), progress=False)
        from_list = probe_layers(x, y, seeds=[0, 1], progress=False)
    np.testing.assert_array_equal(from_array.values, from_list.values)
    with pytest.raises(LensError, match=r"^seeds: expected integer seeds in 0 \.\. 2\*\*32 - 1"):
        probe_layers(x, y, seeds=[0, -1], progress=False)
