"""The shared mini-batch loop against the reference trainers: jiant's schedule and stop, SentEval's count, batches."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from lensnb.errors import LensError
from lensnb.probing.probe_training import train_minibatch


def _problem(seed: int = 0):
    """A small linear regression whose gradient norms vary from step to step and often exceed 5."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 3, generator=generator) * torch.tensor([10.0, 1.0, 0.1])
    y = torch.randn(40, 2, generator=generator) * 20
    module = torch.nn.Linear(3, 2)
    with torch.no_grad():
        module.weight.copy_(torch.randn(2, 3, generator=generator))
        module.bias.zero_()
    return module, lambda m, rows: ((m(x[rows]) - y[rows]) ** 2).mean()


def _scripted(values):
    """A validation measure that returns ``values`` in turn (the last one from then on)."""
    values = iter(values)
    last = []

    def measure() -> float:
        last[:] = [next(values, last[0] if last else 0.0)]
        return last[0]

    return measure


def _jiant_run(values, lr, patience, lr_patience, min_lr):
    """jiant's trainer on a sequence of validation F1s: lr in force, last validation, best one, why it stopped.

    ``_check_history`` (best: a new strict maximum; out of patience: ``patience + 1`` validations
    since it), torch's ``ReduceLROnPlateau(mode="max", factor=0.5, threshold=1e-4, "abs")`` stepped
    after each validation, ``_check_stop`` (out of patience, or lr < min_lr).
    """
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr, amsgrad=True)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=0.5, patience=lr_patience, threshold=1e-4, threshold_mode="abs"
    )
    history, rates = [], []
    for value in values:
        history.append(value)
        rates.append(optimizer.param_groups[0]["lr"])
        out_of_patience = history.index(max(history)) <= len(history) - (patience + 1 + 1)
        scheduler.step(value)
        if out_of_patience or optimizer.param_groups[0]["lr"] < min_lr:
            reason = "patience" if out_of_patience else "min_lr"
            return rates, len(history) - 1, history.index(max(history)), reason
    raise AssertionError("the scripted values ran out before jiant stopped")


@pytest.mark.parametrize(
    "values, lr",
    [
        ([0.5] * 40, 1e-4),  # never improves: halved at the 6th, 12th, 18th validation; stopped at the 21st
        ([0.5, 0.6, 0.6, 0.60005, 0.7] + [0.65] * 7 + [0.71] + [0.7] * 40, 1e-4),  # a gain under the threshold
        ([0.5] * 40, 7e-6),  # the rate falls below min_lr (1e-6) at the third cut, before patience runs out
    ],
)
def test_schedule_and_stop_follow_jiants_trainer(values, lr):
    module, loss = _problem()
    log = train_minibatch(
        module, lambda rows: loss(module, rows), 40, validation_metric=_scripted(values),
        generator=torch.Generator().manual_seed(0), learning_rate=lr, batch_size=40, max_epochs=100,
        patience=20 + 1, monitor="micro_f1", maximize=True, lr_patience=5, lr_threshold=1e-4, min_lr=1e-6,
    )  # fmt: skip
    rates, last, best, reason = _jiant_run(values, lr, patience=20, lr_patience=5, min_lr=1e-6)
    assert len(log.validation_values) == last + 1 and log.learning_rates == pytest.approx(rates)
    assert log.best_validation == best and log.stopped_by == reason and log.monitor == "micro_f1"
    if lr == 1e-4 and len(set(values)) == 1:
        assert last == 21 and [i for i in range(1, len(rates)) if rates[i] < rates[i - 1]] == [7, 13, 19]
    if lr == 7e-6:
        assert reason == "min_lr" and last == 18  # the 18th validation without improvement


def senteval_stop(values, tenacity):
    """SentEval's PyTorchClassifier.fit on a sequence of dev accuracies: the index of the last check."""
    best, count = -1, 0
    for i, accuracy in enumerate(values):
        if accuracy > best:
            best = accuracy
        else:
            if count >= tenacity:
                return i
            count += 1
    raise AssertionError("the scripted values ran out before SentEval stopped")


def test_senteval_counting_is_cumulative_and_checks_every_few_passes():
    values = [0.5, 0.4, 0.6, 0.6, 0.7, 0.5, 0.8, 0.7, 0.8, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1]
    module, loss = _problem()
    log = train_minibatch(
        module, lambda rows: loss(module, rows), 40, validation_metric=_scripted(values),
        generator=torch.Generator().manual_seed(0), learning_rate=1e-3, batch_size=10, max_epochs=200, patience=5,
        monitor="accuracy", maximize=True, stopping="senteval", validate_every=4 * 4,  # 4 passes of 4 steps
    )  # fmt: skip
    assert len(log.validation_values) == senteval_stop(values, 5) + 1 == 11
    assert log.n_epochs == 4 * len(log.validation_values) and log.best_validation == 9
    consecutive = train_minibatch(
        module, lambda rows: loss(module, rows), 40, validation_metric=_scripted(values),
        generator=torch.Generator().manual_seed(0), learning_rate=1e-3, batch_size=10, max_epochs=200, patience=5,
        maximize=True,
    )  # fmt: skip
    assert len(consecutive.validation_values) == 15  # reset by each improvement: five in a row only at the end


def test_amsgrad_and_gradient_clipping_match_a_hand_written_loop():
    module, loss = _problem()
    reference = copy.deepcopy(module)
    train_minibatch(
        module, lambda rows: loss(module, rows), 40, validation_metric=None, generator=torch.Generator().manual_seed(3),
        learning_rate=1e-2, batch_size=8, max_epochs=4, patience=1, amsgrad=True, max_grad_norm=5.0,
    )  # fmt: skip
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2, amsgrad=True)
    generator, norms = torch.Generator().manual_seed(3), []
    for _ in range(4):
        order = torch.randperm(40, generator=generator)
        for start in range(0, 40, 8):
            optimizer.zero_grad()
            loss(reference, order[start : start + 8]).backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(reference.parameters(), 5.0)))
            optimizer.step()
    assert max(norms) > 5.0 and min(norms) < 0.5 * max(norms)  # clipped, by a factor that varies from step to step
    for ours, theirs in zip(module.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_groups_make_batches_of_whole_groups():
    groups = np.repeat(np.arange(7), [1, 4, 2, 3, 1, 5, 2])  # 7 texts, 18 items
    batches = []

    def batch_loss(rows: torch.Tensor) -> torch.Tensor:
        batches.append(rows.tolist())
        return module(torch.ones(len(rows), 1)).sum() * 0

    module = torch.nn.Linear(1, 1)
    log = train_minibatch(
        module, batch_loss, len(groups), validation_metric=None, generator=torch.Generator().manual_seed(0),
        learning_rate=1e-3, batch_size=3, max_epochs=2, patience=1, groups=groups,
    )  # fmt: skip
    assert log.n_steps == 2 * math.ceil(7 / 3)
    epochs = [batches[:3], batches[3:]]
    for epoch in epochs:
        assert sorted(r for rows in epoch for r in rows) == list(range(18))  # every item once
        texts = [sorted(set(groups[rows].tolist())) for rows in epoch]
        assert [len(t) for t in texts] == [3, 3, 1]  # three texts a step, the last step the rest
        for rows, chosen in zip(epoch, texts):
            assert sorted(rows) == np.flatnonzero(np.isin(groups, chosen)).tolist()  # with all their items
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    with pytest.raises(LensError, match="^stopping: "):
        train_minibatch(module, batch_loss, 18, validation_metric=None, generator=torch.Generator(),
                        learning_rate=1e-3, batch_size=3, max_epochs=1, patience=1, stopping="tenacity")  # fmt: skip
