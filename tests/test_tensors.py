"""Torch tensors handed to numpy code (:func:`lensnb.tensors.tensor_to_numpy`)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from lensnb import LensError
from lensnb.tensors import tensor_to_numpy


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2])
def test_floats_numpy_lacks_become_float32_with_the_same_values(dtype):
    x = torch.tensor([[0.5, -1.25], [3.0, 0.0]], requires_grad=dtype is torch.bfloat16).to(dtype)
    values = tensor_to_numpy(x, "x")
    assert values.dtype == np.float32 and values.shape == (2, 2)
    np.testing.assert_array_equal(values, x.detach().float().numpy())


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.int8, torch.uint16, torch.bool])
def test_dtypes_numpy_holds_keep_their_type(dtype):
    x = torch.ones(3, dtype=dtype)
    assert tensor_to_numpy(x, "x").dtype == x.numpy().dtype


def test_a_dtype_numpy_lacks_that_is_not_floating_is_refused_by_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "ComplexHalf support is experimental"
        x = torch.zeros(3, dtype=torch.complex32)
    with pytest.raises(
        LensError, match=r"states: expected a numeric dtype numpy holds, received .a tensor of dtype torch.complex32"
    ):
        tensor_to_numpy(x, "states")


def test_meta_tensors_are_refused_by_name():
    with pytest.raises(LensError, match=r"states: expected a tensor with values"):
        tensor_to_numpy(torch.empty(2, 3, device="meta"), "states")


def test_lazy_views_and_sparse_tensors_give_their_values():
    conjugated = torch.tensor([1 + 2j, 3 - 1j]).conj()  # the conjugate bit, resolved
    np.testing.assert_array_equal(tensor_to_numpy(conjugated, "x"), np.array([1 - 2j, 3 + 1j]))
    negative_view = torch.tensor([1 + 2j]).conj().imag  # the negative bit
    np.testing.assert_array_equal(tensor_to_numpy(negative_view, "x"), np.array([-2.0], dtype=np.float32))
    sparse = torch.eye(3).to_sparse()
    np.testing.assert_array_equal(tensor_to_numpy(sparse, "x"), np.eye(3, dtype=np.float32))
