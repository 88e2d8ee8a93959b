"""Running a stock model for relevance: temporary settings, and the tensors a pass needs.

Everything here changes a model only inside a ``with`` block and undoes it in
``finally``, also when the block raises: the attention implementation (eager, for
attention weights), eval mode, parameters' ``requires_grad`` (frozen, so backward
passes compute input gradients only) and forward hooks. Nothing is patched on a class.
A float64 run works on a float64 copy of the model, never on the user's model.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from lensnb.errors import LensError
from lensnb.extract import eager_attention

__all__ = ["DTYPES", "model_for_dtype", "prepared", "LinearRecorder", "check_attentions"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def model_for_dtype(model: torch.nn.Module, dtype: str) -> torch.nn.Module:
    """``model`` itself for ``"float32"`` when it is float32, else a copy in ``dtype``."""
    if dtype not in DTYPES:
        raise LensError.bad_argument("dtype", dtype, f"one of {tuple(DTYPES)}")
    wanted = DTYPES[dtype]
    current = next(model.parameters()).dtype
    if current == wanted:
        return model
    return copy.deepcopy(model).to(wanted)


@contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextmanager
def _frozen(model: torch.nn.Module) -> Iterator[None]:
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


@contextmanager
def prepared(model: torch.nn.Module, *, attentions: bool) -> Iterator[torch.nn.Module]:
    """Eval mode, frozen parameters and, if ``attentions``, eager attention, for the block."""
    with ExitStack() as stack:
        stack.enter_context(_eval_mode(model))
        stack.enter_context(_frozen(model))
        stack.enter_context(eager_attention(model, attentions))
        yield model


class LinearRecorder:
    """Forward hooks that keep the input and output of chosen modules, in call order.

    Use as a context manager; the hooks are removed on exit (also on error).

    Parameters
    ----------
    modules : dict of str to Module
        Name -> module to record.
    """

    def __init__(self, modules: dict[str, torch.nn.Module]):
        self.modules = modules
        self.inputs: dict[str, torch.Tensor] = {}
        self.outputs: dict[str, torch.Tensor] = {}
        self.order: list[str] = []
        self._handles: list[Any] = []

    def _hook(self, name: str):
        def hook(module, args, output):
            self.inputs[name] = args[0].detach()
            self.outputs[name] = output.detach()
            self.order.append(name)

        return hook

    def __enter__(self) -> LinearRecorder:
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def check_attentions(attentions: Sequence[torch.Tensor] | None, n_layers: int, model_name: str) -> list[torch.Tensor]:
    """The model's attention probabilities, or a LensError when it returned none."""
    maps = list(attentions or ())
    if len(maps) != n_layers or any(not isinstance(a, torch.Tensor) for a in maps):
        raise LensError(
            f"model: {model_name!r} returned {len(maps)} attention maps for {n_layers} layers; attention-based "
            "relevance needs the attention probabilities (eager attention). Load the model with "
            "attn_implementation='eager' if it does not support switching."
        )
    return maps


def run_with_embeddings(model: torch.nn.Module, input_ids: torch.Tensor, embeddings: torch.Tensor, **kwargs: Any):
    """``model(input_ids, **kwargs)`` with the input embedding layer's output replaced by ``embeddings``.

    The model still sees the token ids (a decoder classifier finds its last real token
    from them, which ``inputs_embeds`` would hide), while gradients flow to
    ``embeddings``, shape (batch, T, D). The hook is removed on return.
    """

    def replace(module, args, output):
        if output.shape != embeddings.shape:
            raise LensError(
                f"model: its input embeddings have shape {tuple(output.shape)}, expected {tuple(embeddings.shape)}"
            )
        return embeddings

    handle = model.get_input_embeddings().register_forward_hook(replace)
    try:
        return model(input_ids=input_ids, **kwargs)
    finally:
        handle.remove()
