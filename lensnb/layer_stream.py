"""Each layer's hidden states handed on the moment the model computes them.

``output_hidden_states`` keeps every layer's (batch, seq, dim) output alive until the
forward pass returns, so every block writes its output into fresh memory while the
earlier outputs wait. A :class:`LayerStream` instead hooks the blocks and hands each
layer's states to a *sink* (extraction writes them to the store) as soon as the block
returns; the model can then reuse that memory for the next block, as it does when no
hidden states are asked for. On the embedded model, in one process on 2 cores, this took
all-layer extraction from 1.10x to 1.065x the bare forward pass (medians of 9
interleaved runs; a loaded host moves both figures by more than that). Paired batch
by batch on a slower host, the streamed and written passes cost 1.03-1.06x the bare
ones (``benchmarks/bench_extract.py``).

The layers must be exactly the model's own ``output_hidden_states``: in transformers,
``hidden_states[0]`` is the first block's input, ``hidden_states[k]`` block k's output,
and the last one the model's ``last_hidden_state`` (after the final norm, for decoders).
Rather than trust that for every architecture, :meth:`LayerStream.matches` compares the
stream with ``output_hidden_states`` bit for bit on a real batch; extraction streams
only after that check passed and otherwise keeps to ``output_hidden_states``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch

from lensnb.errors import LensError

__all__ = ["LayerStream"]

Sink = Callable[[int, torch.Tensor], None]


class LayerStream:
    """Hooks on a model's blocks that hand layer ``k``'s hidden states to a sink.

    Parameters
    ----------
    blocks : sequence of Module
        The model's blocks, in order (``n_layers`` of them).
    layers : sequence of int
        The layers to hand on, 0 (the first block's input) to ``n_layers``.

    Notes
    -----
    Use it as a context manager (hooks are removed on exit). Layer ``n_layers`` is not
    taken from the last block: call :meth:`finish` with the model's
    ``last_hidden_state`` after each forward pass. Without a sink the hooks do nothing.
    """

    def __init__(self, blocks: Sequence[torch.nn.Module], layers: Sequence[int]):
        self.blocks = list(blocks)
        self.n_layers = len(self.blocks)
        self.layers = tuple(layers)
        if not self.blocks:
            raise LensError.bad_argument("blocks", "no blocks", "the model's blocks, at least one")
        if any(isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= self.n_layers
               for layer in self.layers):  # fmt: skip
            raise LensError.bad_argument("layers", self.layers, f"layer numbers in 0..{self.n_layers}")
        self.sink: Sink | None = None
        self._handles: list[Any] = []

    def __enter__(self) -> LayerStream:
        if 0 in self.layers:
            self._handles.append(self.blocks[0].register_forward_pre_hook(self._first_input, with_kwargs=True))
        for layer in self.layers:
            if 1 <= layer < self.n_layers:
                self._handles.append(self.blocks[layer - 1].register_forward_hook(partial(self._block_output, layer)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.sink = None

    def finish(self, last_hidden_state: torch.Tensor) -> None:
        """Hand on the last layer: the model's ``last_hidden_state``, shape (batch, seq, dim)."""
        if self.n_layers in self.layers:
            self._emit(self.n_layers, last_hidden_state)

    def matches(self, run: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``run()`` (a forward pass with ``output_hidden_states=True``) and check the stream.

        Returns
        -------
        matches : bool
            Every streamed layer is bit for bit the model's ``hidden_states[layer]``.
        output
            What ``run()`` returned.
        """
        seen: dict[int, torch.Tensor] = {}
        previous, self.sink = self.sink, seen.__setitem__
        try:
            output = run()
            hidden = getattr(output, "hidden_states", None)
            last = getattr(output, "last_hidden_state", None)
            if isinstance(last, torch.Tensor):
                self.finish(last)
        finally:
            self.sink = previous
        if not isinstance(hidden, (tuple, list)) or len(hidden) != self.n_layers + 1:
            return False, output
        same = all(
            isinstance(seen.get(layer), torch.Tensor)
            and isinstance(hidden[layer], torch.Tensor)
            and seen[layer].shape == hidden[layer].shape
            and seen[layer].dtype == hidden[layer].dtype
            and torch.equal(seen[layer], hidden[layer])
            for layer in self.layers
        )
        return same, output

    def _first_input(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        states = args[0] if args else kwargs.get("hidden_states")
        self._emit(0, states)

    def _block_output(self, layer: int, module: torch.nn.Module, args: tuple, output: Any) -> None:
        states = output if isinstance(output, torch.Tensor) else output[0]
        self._emit(layer, states)

    def _emit(self, layer: int, states: Any) -> None:
        if self.sink is not None:
            self.sink(layer, states)
