"""The torch plumbing the trained probes share: seeded layers, dropout and the mini-batch loop.

Everything random draws from a :class:`torch.Generator` the estimator owns (initial
weights, batch order, dropout masks), so a probe fitted twice with the same
``random_state`` gives identical weights and the process-wide torch RNG is never
touched. Nothing here is public API: :mod:`lensnb.probing.estimators` and
:mod:`lensnb.probing.edge` build on it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from lensnb.errors import LensError
from lensnb.geometry.inputs import check_seed

ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def torch_dtype(name: str, argument: str = "dtype") -> torch.dtype:
    """The torch dtype of ``"float32"`` or ``"float64"``."""
    if name not in DTYPES:
        raise LensError.bad_argument(argument, name, f"one of {sorted(DTYPES)}")
    return DTYPES[name]


def generator_from(random_state) -> torch.Generator:
    """A CPU generator seeded from ``random_state`` (None, int or numpy RandomState)."""
    from sklearn.utils import check_random_state

    if random_state is not None and not isinstance(random_state, np.random.RandomState):
        random_state = check_seed(random_state, "random_state")

    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def seeded_linear(fan_in: int, fan_out: int, generator: torch.Generator, dtype: torch.dtype) -> torch.nn.Linear:
    """A Linear layer initialised like torch's default (U(-1/sqrt(fan_in), 1/sqrt(fan_in))) from ``generator``."""
    layer = torch.nn.Linear(fan_in, fan_out, dtype=dtype)
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The elementwise activation called ``name``."""
    return {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "gelu": torch.nn.functional.gelu}[name]


class SeededDropout(torch.nn.Module):
    """Inverted dropout whose masks come from a given generator (not the global RNG)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)

    def __getstate__(self):  # generators do not pickle; a fitted probe no longer needs one
        state = self.__dict__.copy()
        state["generator"] = None
        return state


@dataclass
class TrainingLog:
    """What the mini-batch loop did.

    Attributes
    ----------
    n_epochs : int
        Epochs run (a partial last epoch counts).
    n_steps : int
        Optimiser steps.
    best_validation : int
        Index of the validation whose weights were kept (-1 without validation).
    validation_loss : list of float
        Validation loss at each validation.
    learning_rates : list of float
        Learning rate in force at each validation.
    """

    n_epochs: int = 0
    n_steps: int = 0
    best_validation: int = -1
    validation_loss: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op torch threads, restoring the previous number afterwards.

    Mini-batches of a probe are small (tens of rows): on a 2-core machine with other
    work running, one thread made a cross-entropy call 250x faster than two (the
    threads wait on each other), and a training epoch 1.2-3x faster.
    """
    previous = torch.get_num_threads()
    if n is None or n == previous:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_minibatch(
    module: torch.nn.Module,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    n_train: int,
    *,
    validation_loss: Callable[[], float] | None,
    generator: torch.Generator,
    learning_rate: float,
    batch_size: int,
    max_epochs: int,
    patience: int,
    tol: float = 0.0,
    lr_patience: int | None = None,
    lr_factor: float = 0.5,
    validate_every: int | None = None,
    threads: int | None = 1,
) -> TrainingLog:
    """Adam on shuffled mini-batches with early stopping on a validation loss.

    Parameters
    ----------
    module : torch.nn.Module
        Trained in place; on return it holds the weights of the best validation (or
        the last step without validation) and is in eval mode.
    batch_loss : callable
        ``batch_loss(rows)`` -> scalar loss on the training rows ``rows`` (int64 tensor).
    n_train : int
        Number of training rows.
    validation_loss : callable, optional
        ``validation_loss()`` -> float, computed in eval mode without gradients. None:
        train for ``max_epochs``.
    generator : torch.Generator
        Source of the batch order.
    learning_rate, batch_size, max_epochs : see the estimators.
    patience : int
        Stop after this many validations without an improvement larger than ``tol``.
    tol : float
        Smallest decrease of the validation loss that counts as an improvement.
    lr_patience : int, optional
        Multiply the learning rate by ``lr_factor`` after this many validations without
        improvement (Tenney et al. 2019: halve after 5), and again after as many more.
    validate_every : int, optional
        Validate every this many steps; default once per epoch.
    threads : int, optional
        torch intra-op threads while training (see :func:`torch_threads`); None: as set.

    Returns
    -------
    TrainingLog
    """
    with torch_threads(threads):
        return _train(module, batch_loss, n_train, validation_loss, generator, learning_rate, batch_size,
                      max_epochs, patience, tol, lr_patience, lr_factor, validate_every)  # fmt: skip


def _train(module, batch_loss, n_train, validation_loss, generator, learning_rate, batch_size, max_epochs, patience,
           tol, lr_patience, lr_factor, validate_every) -> TrainingLog:  # fmt: skip
    optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate, fused=True)  # fused: 25% faster steps on CPU
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    every = validate_every or steps_per_epoch
    log = TrainingLog()
    best_loss, best_state, waited = math.inf, None, 0
    stop = False
    for _epoch in range(max_epochs):
        log.n_epochs += 1
        order = torch.randperm(n_train, generator=generator)
        module.train()
        for start in range(0, n_train, batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(order[start : start + batch_size])
            loss.backward()
            optimizer.step()
            log.n_steps += 1
            if validation_loss is None or log.n_steps % every:
                continue
            module.eval()
            with torch.no_grad():
                current = float(validation_loss())
            module.train()
            log.validation_loss.append(current)
            log.learning_rates.append(optimizer.param_groups[0]["lr"])
            if not np.isfinite(current):
                raise LensError(
                    "fit: the validation loss became "
                    f"{current}; lower learning_rate or standardize the inputs (standardize=True)."
                )
            if current < best_loss - tol:
                best_loss, waited = current, 0
                best_state = copy.deepcopy(module.state_dict())
                log.best_validation = len(log.validation_loss) - 1
            else:
                waited += 1
                if lr_patience and waited % lr_patience == 0:
                    for group in optimizer.param_groups:
                        group["lr"] *= lr_factor
                if waited >= patience:
                    stop = True
                    break
        if stop:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return log


def predict_in_chunks(forward: Callable[[torch.Tensor], torch.Tensor], n: int, chunk: int = 4096) -> torch.Tensor:
    """``forward(rows)`` over ``range(n)`` in chunks, without gradients, concatenated."""
    outputs = []
    with torch.no_grad():
        for start in range(0, n, chunk):
            outputs.append(forward(torch.arange(start, min(n, start + chunk))))
    return torch.cat(outputs) if outputs else torch.empty(0)
