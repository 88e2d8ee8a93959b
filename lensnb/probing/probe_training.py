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
    monitor : str
        What the validations measured (``"loss"``, ``"micro_f1"``, ``"accuracy"``).
    maximize : bool
        Whether a higher ``monitor`` is better.
    validation_values : list of float
        The monitored value at each validation.
    learning_rates : list of float
        Learning rate in force at each validation (before that validation's update).
    stopped_by : str
        ``"patience"``, ``"min_lr"`` or ``"max_epochs"``.
    """

    n_epochs: int = 0
    n_steps: int = 0
    best_validation: int = -1
    monitor: str = "loss"
    maximize: bool = False
    validation_values: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    stopped_by: str = "max_epochs"


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


STOPPING = ("consecutive", "senteval")


def train_minibatch(
    module: torch.nn.Module,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    n_train: int,
    *,
    validation_metric: Callable[[], float] | None,
    generator: torch.Generator,
    learning_rate: float,
    batch_size: int,
    max_epochs: int,
    patience: int,
    monitor: str = "loss",
    maximize: bool = False,
    tol: float = 0.0,
    stopping: str = "consecutive",
    lr_patience: int | None = None,
    lr_factor: float = 0.5,
    lr_threshold: float = 1e-4,
    min_lr: float | None = None,
    validate_every: int | None = None,
    amsgrad: bool = False,
    max_grad_norm: float | None = None,
    groups: np.ndarray | None = None,
    threads: int | None = 1,
) -> TrainingLog:
    """Adam on shuffled mini-batches with early stopping on a validation measure.

    Parameters
    ----------
    module : torch.nn.Module
        Trained in place; on return it holds the weights of the best validation (or
        the last step without validation) and is in eval mode.
    batch_loss : callable
        ``batch_loss(rows)`` -> scalar loss on the training rows ``rows`` (int64 tensor).
    n_train : int
        Number of training rows.
    validation_metric : callable, optional
        ``validation_metric()`` -> float, computed in eval mode without gradients: the
        value watched for the best weights, the learning-rate schedule and the stop.
        None: train for ``max_epochs``.
    generator : torch.Generator
        Source of the batch order.
    learning_rate, batch_size, max_epochs : see the estimators.
        ``batch_size`` counts rows, or groups when ``groups`` is given.
    patience : int
        With ``stopping="consecutive"``: stop at the ``patience``-th validation in a row
        without an improvement larger than ``tol``. With ``"senteval"``: SentEval's
        tenacity (``senteval/tools/classifier.py``, ``PyTorchClassifier.fit``): a count of
        validations without improvement, never reset by an improvement, and a stop at the
        validation without improvement that finds the count already at ``patience`` (the
        ``patience + 1``-th such validation in all).
    monitor : str
        The name of what ``validation_metric`` measures, for the log.
    maximize : bool
        Higher values of the monitored measure are better (F1, accuracy); else lower (a loss).
    tol : float
        Smallest change of the monitored value, in the better direction, that counts as
        an improvement (0: any strict improvement, as jiant's ``_check_history`` and SentEval).
    stopping : {"consecutive", "senteval"}
    lr_patience : int, optional
        Learning-rate schedule: torch's ``ReduceLROnPlateau`` with this patience, as jiant
        builds it (``jiant/trainer.py``, ``build_trainer``): the rate is multiplied by
        ``lr_factor`` at the ``lr_patience + 1``-th validation in a row that does not beat
        the scheduler's best by more than ``lr_threshold`` (absolute), and the count
        restarts after each cut. None: a constant rate.
    lr_factor, lr_threshold : float
    min_lr : float, optional
        Stop at a validation that leaves the rate below this (jiant's ``min_lr``, 1e-6;
        checked after the schedule's update, as jiant's ``_check_stop``).
    validate_every : int, optional
        Validate every this many steps; default once per epoch.
    amsgrad : bool
        Adam's AMSGrad variant (jiant's ``optimizer = adam`` is AMSGrad).
    max_grad_norm : float, optional
        Rescale the gradients to this total 2-norm at most before every step
        (``torch.nn.utils.clip_grad_norm_``; jiant: 5.0). None: no clipping.
    groups : ndarray of int, shape (n_train,), optional
        A group number (0..n_groups - 1) for each training row, e.g. its text: each step
        then takes ``batch_size`` whole groups, shuffled each epoch, with all their rows
        (jiant batches sentences with all their targets). None: ``batch_size`` rows.
    threads : int, optional
        torch intra-op threads while training (see :func:`torch_threads`); None: as set.

    Returns
    -------
    TrainingLog
    """
    if stopping not in STOPPING:
        raise LensError.bad_argument("stopping", stopping, f"one of {list(STOPPING)}")
    settings = {
        "patience": patience, "monitor": monitor, "maximize": maximize, "tol": tol, "stopping": stopping,
        "lr_patience": lr_patience, "lr_factor": lr_factor, "lr_threshold": lr_threshold, "min_lr": min_lr,
        "validate_every": validate_every, "amsgrad": amsgrad, "max_grad_norm": max_grad_norm,
    }  # fmt: skip
    with torch_threads(threads):
        return _train(module, batch_loss, n_train, validation_metric, generator, learning_rate, batch_size,
                      max_epochs, groups, settings)  # fmt: skip


def _batches(n_train: int, batch_size: int, generator: torch.Generator, groups: torch.Tensor | None, sizes):
    """The rows of each step of one epoch: shuffled rows, or shuffled whole groups."""
    if groups is None:
        order = torch.randperm(n_train, generator=generator)
        return [order[start : start + batch_size] for start in range(0, n_train, batch_size)]
    order = torch.randperm(len(sizes), generator=generator)  # the groups, shuffled
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    rows = torch.argsort(rank[groups], stable=True)  # rows group by group, in the shuffled order
    ends = torch.cumsum(sizes[order], 0)
    stops = ends[batch_size - 1 :: batch_size].tolist()
    if len(order) % batch_size:
        stops.append(int(ends[-1]))
    starts = [0, *stops[:-1]]
    return [rows[a:b] for a, b in zip(starts, stops)]


def _train(module, batch_loss, n_train, validation_metric, generator, learning_rate, batch_size, max_epochs, groups,
           settings) -> TrainingLog:  # fmt: skip
    optimizer = torch.optim.Adam(  # fused: 25% faster steps on CPU
        module.parameters(), lr=learning_rate, amsgrad=bool(settings["amsgrad"]), fused=True
    )
    maximize, tol, max_grad_norm = settings["maximize"], settings["tol"], settings["max_grad_norm"]
    scheduler = None
    if settings["lr_patience"] is not None:
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max" if maximize else "min", factor=settings["lr_factor"],
            patience=settings["lr_patience"], threshold=settings["lr_threshold"], threshold_mode="abs",
        )  # fmt: skip
    sizes = None
    if groups is not None:
        groups = torch.from_numpy(np.asarray(groups, dtype=np.int64))
        sizes = torch.bincount(groups)
    n_units = n_train if groups is None else len(sizes)
    every = settings["validate_every"] or max(1, math.ceil(n_units / batch_size))
    log = TrainingLog(monitor=settings["monitor"], maximize=maximize)
    best, best_state, waited = -math.inf if maximize else math.inf, None, 0
    for _epoch in range(max_epochs):
        log.n_epochs += 1
        module.train()
        for rows in _batches(n_train, batch_size, generator, groups, sizes):
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(rows)
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(module.parameters(), max_grad_norm)
            optimizer.step()
            log.n_steps += 1
            if validation_metric is None or log.n_steps % every:
                continue
            module.eval()
            with torch.no_grad():
                current = float(validation_metric())
            module.train()
            log.validation_values.append(current)
            log.learning_rates.append(optimizer.param_groups[0]["lr"])
            if not np.isfinite(current):
                raise LensError(
                    f"fit: the validation {settings['monitor']} became "
                    f"{current}; lower learning_rate or standardize the inputs (standardize=True)."
                )
            reason = None
            if (current > best + tol) if maximize else (current < best - tol):
                best = current
                best_state = copy.deepcopy(module.state_dict())
                log.best_validation = len(log.validation_values) - 1
                if settings["stopping"] == "consecutive":
                    waited = 0
            elif settings["stopping"] == "senteval":
                if waited >= settings["patience"]:  # tested before the count grows, as SentEval does
                    reason = "patience"
                waited += 1
            else:
                waited += 1
                if waited >= settings["patience"]:
                    reason = "patience"
            if scheduler is not None:
                scheduler.step(current)
            if (
                reason is None
                and settings["min_lr"] is not None
                and optimizer.param_groups[0]["lr"] < settings["min_lr"]
            ):
                reason = "min_lr"
            if reason is not None:
                log.stopped_by = reason
                break
        if log.stopped_by != "max_epochs":
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
