"""Torch tensors handed to numpy code: detached, on the CPU, in a dtype numpy holds."""

from __future__ import annotations

import numpy as np
import torch

from lensnb.errors import LensError

__all__ = ["tensor_to_numpy"]


def tensor_to_numpy(x: torch.Tensor, argument: str) -> np.ndarray:
    """The values of ``x`` as a numpy array (any shape).

    Floating dtypes numpy has no type for (bfloat16, the float8 types) become float32,
    which holds their values exactly; gradients are detached and the values copied to
    the CPU where they are elsewhere.

    Raises
    ------
    LensError
        For a tensor on the meta device (it has a shape but no values, e.g. the
        parameters of a model loaded with offloading), naming ``argument``.
    """
    if x.is_meta:
        raise LensError.bad_argument(
            argument, f"a tensor of shape {tuple(x.shape)} on the meta device (no values)", "a tensor with values",
            "Meta tensors come from models loaded with offloading or empty weights: use states the model computed.",
        )  # fmt: skip
    if x.layout != torch.strided:  # sparse and other layouts: their values, laid out densely
        try:
            x = x.to_dense()
        except (RuntimeError, TypeError, NotImplementedError):
            raise LensError.bad_argument(argument, f"a tensor of layout {x.layout}", "a dense tensor") from None
    x = x.detach().resolve_conj().resolve_neg()  # lazy conjugate / negative views: numpy sees the values
    try:
        return x.to("cpu").numpy()
    except TypeError:  # a dtype numpy lacks
        if not x.is_floating_point():
            raise LensError.bad_argument(
                argument, f"a tensor of dtype {x.dtype}", "a numeric dtype numpy holds"
            ) from None
        return x.to("cpu", torch.float32).numpy()
