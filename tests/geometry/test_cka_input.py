"""CKA input checks: values that are not real numbers, and the debiased estimators' row minimum."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
import torch

from lensnb import LensError
from lensnb.geometry.cka import cka_linear, cka_matrix, cka_minibatch, cka_rbf

N, D = 20, 3


def _real(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((N, D))


def _text() -> np.ndarray:
    return np.array([["a", "b", "c"]] * N)


def _numeric_text() -> np.ndarray:
    return _real().astype(str)  # text that float64 would read as numbers


def _object_text() -> np.ndarray:
    return np.array([["a", 1.0, 2.0]] * N, dtype=object)


def _complex() -> np.ndarray:
    return _real() + 1j * _real(1)


def _datetime() -> np.ndarray:
    return np.arange(N * D).astype("datetime64[D]").reshape(N, D)


def _timedelta() -> np.ndarray:
    return np.arange(N * D).astype("timedelta64[s]").reshape(N, D)


def _bytes() -> np.ndarray:
    return _real().astype("S8")


def _complex_tensor() -> torch.Tensor:
    return torch.from_numpy(_complex())


NOT_REAL: dict[str, tuple[Callable[[], object], str]] = {
    # name: (input, the dtype the error must name)
    "text": (_text, "<U1"),
    "numeric text": (_numeric_text, "<U"),
    "object text": (_object_text, "object"),
    "complex": (_complex, "complex128"),
    "complex tensor": (_complex_tensor, "complex128"),
    "datetime64": (_datetime, "datetime64[D]"),
    "timedelta64": (_timedelta, "timedelta64[s]"),
    "bytes": (_bytes, "|S8"),
}

PAIR_FUNCTIONS: dict[str, Callable[[object, object], object]] = {
    "cka_linear": cka_linear,
    "cka_linear debiased": lambda x, y: cka_linear(x, y, debiased=True),
    "cka_rbf": cka_rbf,
    "cka_rbf debiased": lambda x, y: cka_rbf(x, y, debiased=True),
    "cka_minibatch": lambda x, y: cka_minibatch(x, y, batch_size=4),
}


def _expect_refusal(call: Callable[[], object], argument: str, dtype: str) -> None:
    with pytest.raises(LensError) as caught:
        call()
    message = str(caught.value)
    assert message.startswith(f"{argument}: expected real numbers"), message
    assert f"dtype {dtype}" in message, message


@pytest.mark.parametrize("case", NOT_REAL)
@pytest.mark.parametrize("function", PAIR_FUNCTIONS)
@pytest.mark.parametrize("side", ["x", "y"])
def test_pair_functions_refuse_values_that_are_not_real_numbers(case, function, side):
    make, dtype = NOT_REAL[case]
    bad, good = make(), _real(2)
    x, y = (bad, good) if side == "x" else (good, bad)
    _expect_refusal(lambda: PAIR_FUNCTIONS[function](x, y), side, dtype)


MATRIX_OPTIONS = {
    "linear": {},
    "debiased": {"debiased": True},
    "float32": {"dtype": "float32"},
    "minibatch": {"batch_size": 4},
    "rbf": {"kernel": "rbf"},
}


@pytest.mark.parametrize("case", NOT_REAL)
@pytest.mark.parametrize("options", MATRIX_OPTIONS)
def test_cka_matrix_refuses_values_that_are_not_real_numbers(case, options):
    make, dtype = NOT_REAL[case]
    bad, good = make(), _real(2)
    bad_stack = torch.stack([bad, bad]) if isinstance(bad, torch.Tensor) else np.stack([bad, bad])
    kwargs = {"progress": False, **MATRIX_OPTIONS[options]}
    _expect_refusal(lambda: cka_matrix(bad_stack, **kwargs), "a", dtype)  # one (layer, item, dim) array
    _expect_refusal(lambda: cka_matrix([good, bad], **kwargs), "a[1]", dtype)  # a list of layers
    _expect_refusal(lambda: cka_matrix(np.stack([good, good]), bad_stack, **kwargs), "b", dtype)


@pytest.mark.parametrize("function", PAIR_FUNCTIONS)
def test_a_list_holding_text_is_refused(function):
    """float64 reads text such as "0.5" as a number: a list of it is not taken as data."""
    as_text = _real().astype(str).tolist()
    with pytest.raises(LensError, match=re.escape("x: expected real numbers")):
        PAIR_FUNCTIONS[function](as_text, _real(2))
    with pytest.raises(LensError, match=re.escape("a: expected real numbers")):
        cka_matrix([as_text, as_text], progress=False)


@pytest.mark.parametrize(
    ("call", "needs"),
    [
        (lambda x, y: cka_linear(x, y, debiased=True), "the debiased estimator"),
        (lambda x, y: cka_rbf(x, y, debiased=True), "the debiased estimator"),
        (lambda x, y: cka_minibatch(x, y, batch_size=4), "minibatch CKA"),
    ],
    ids=["cka_linear", "cka_rbf", "cka_minibatch"],
)
@pytest.mark.parametrize("side", ["x", "y"])
def test_too_few_rows_for_the_unbiased_hsic_says_why(call, needs, side):
    x, y = (_real()[:3], _real(2)[:5]) if side == "x" else (_real()[:5], _real(2)[:3])
    with pytest.raises(LensError) as caught:
        call(x, y)
    message = str(caught.value)
    assert message.startswith(f"{side}: expected at least 4 rows"), message
    assert needs in message and "needs 4 items" in message, message
