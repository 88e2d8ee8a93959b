"""Training a sequence-classification head briefly, so relevance has a decision to explain.

The relevance methods explain a classifier; the embedded all-MiniLM-L6-v2 has none. The
paper notebooks give it one with :func:`fine_tune_classifier` (e.g. a sentiment head
trained on SST-2 in a few minutes on a CPU), the model and its head trained together
with AdamW, as Chefer et al. fine-tuned BERT on Movie Reviews.

Progress is shown, and with ``checkpoint`` the run can be resumed: every
``checkpoint_every`` steps the weights, AdamW's moments, the learning-rate schedule's
position and the random stream are saved (:mod:`lensnb.checkpoint`: safetensors and
JSON, never pickle, written crash-safely); a later call with the same model, folder,
data and settings continues from there and ends exactly where an uninterrupted run
ends. The caller's torch random stream is left as it was: shuffling uses its own
generator and dropout runs on a private copy of torch's.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lensnb.checkpoint import (
    Checkpoint,
    TrainingState,
    check_checkpoint,
    checkpoint_lock,
    model_identity,
    private_rng,
    seed_rng,
)
from lensnb.errors import LensError
from lensnb.extract import _as_lens_model
from lensnb.flags import check_flag
from lensnb.geometry.inputs import check_integer, check_seed, is_real
from lensnb.models import LensModel

__all__ = ["FineTuneReport", "fine_tune_classifier", "classify"]


@dataclass(frozen=True)
class FineTuneReport:
    """What a fine-tuning run did.

    Attributes
    ----------
    steps : int
        Optimiser steps taken in total (including resumed ones).
    losses : ndarray of float64, shape (steps run in this call,)
        Training loss of each step of this call.
    resumed_from : int
        Step the call started from (0 for a fresh run).
    parameters : dict
        The settings (task, epochs, learning_rate, batch_size, max_length, seed,
        n_examples, a digest of the data...).
    """

    steps: int
    losses: np.ndarray
    resumed_from: int
    parameters: dict[str, Any]


# ----------------------------------------------------------------------------- argument checks
def check_real(name: str, value: Any, *, positive: bool) -> float:
    """``value`` as a finite float, > 0 (``positive``) or >= 0; refusing bools, strings and NaN."""
    if not is_real(value) or not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise LensError.bad_argument(name, value, f"a finite {'positive' if positive else 'non-negative'} number")
    return float(value)


def check_max_length(lens_model: LensModel, max_length: Any, default: int | None = None) -> int:
    """``max_length`` as a positive int no longer than the model's limit (when it is known).

    None gives ``default``, cut to the model's limit.
    """
    name, limit = "max_length", lens_model.max_length
    if max_length is None and default is not None:
        return default if limit is None else min(default, limit)
    value = check_integer(name, max_length, 1)
    if limit is not None and value > limit:
        raise LensError.bad_argument(
            name, max_length, f"at most {limit} tokens, the longest input {lens_model.name!r} takes"
        )
    return value


@dataclass(frozen=True)
class TrainingOptions:
    """The checked options every fine-tuning run shares (see :func:`fine_tune_classifier`)."""

    epochs: int
    learning_rate: float
    batch_size: int
    weight_decay: float
    seed: int
    checkpoint: Any
    checkpoint_every: int
    progress: bool

    @classmethod
    def check(cls, **options: Any) -> TrainingOptions:
        """Check each option, raising :class:`LensError` naming the first bad one."""
        return cls(
            epochs=check_integer("epochs", options["epochs"], 1),
            learning_rate=check_real("learning_rate", options["learning_rate"], positive=True),
            batch_size=check_integer("batch_size", options["batch_size"], 1),
            weight_decay=check_real("weight_decay", options["weight_decay"], positive=False),
            seed=check_seed(options["seed"]),
            checkpoint=check_checkpoint(options["checkpoint"]),
            checkpoint_every=check_integer("checkpoint_every", options["checkpoint_every"], 1),
            progress=check_flag("progress", options["progress"]),
        )

    def settings(self) -> dict[str, Any]:
        """The options a checkpoint must share to be resumed (the optimizer's recipe included)."""
        return {"epochs": self.epochs, "learning_rate": self.learning_rate, "batch_size": self.batch_size,
                "weight_decay": self.weight_decay, "seed": self.seed, "optimizer": OPTIMIZER}  # fmt: skip


#: How every fine-tuning run optimises, recorded with its checkpoints and trained models.
OPTIMIZER = "AdamW, weight decay on weight matrices only (not biases or norm weights), linear warm-up 6%, linear decay"


def _parameter_groups(parameters: Sequence[torch.nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    """AdamW's groups: weight decay on the weight matrices (and embeddings) only, none on biases
    and normalisation weights (1-D parameters), as BERT's recipe and Hugging Face's Trainer do."""
    return [
        {"params": [p for p in parameters if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0},
    ]


def _check_data(texts: Sequence[str], labels: Sequence[int], n_labels: int) -> np.ndarray:
    """The labels as int64, shape (n_texts,), after checking the texts and the labels."""
    _check_texts(texts)
    try:
        values = np.asarray(labels)
    except (ValueError, TypeError):  # ragged: [1, [0, 1]]
        values = None
    if (
        values is None or isinstance(labels, str) or values.shape != (len(texts),)
        or not np.issubdtype(values.dtype, np.integer)
    ):  # fmt: skip
        raise LensError.bad_argument("labels", labels, f"{len(texts)} integer labels, one per text")
    if values.min() < 0 or values.max() >= n_labels:
        raise LensError.bad_argument("labels", sorted(set(values.tolist()))[:10], f"classes in 0..{n_labels - 1}")
    return values.astype(np.int64)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise LensError.bad_argument("texts", texts, "a non-empty list of strings")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()), None)
    if bad is not None:
        raise LensError.bad_argument(f"texts[{bad}]", texts[bad], "a non-empty string")
    return list(texts)


def _check_classifier(lens_model: LensModel) -> int:
    """The number of classes of a sequence classifier; refusing other models."""
    net = lens_model.model
    if not type(net).__name__.endswith("ForSequenceClassification"):
        raise LensError.bad_argument(
            "model", type(net).__name__, "a sequence classifier",
            "Load it with lensnb.load_model(name, task='sequence-classification', num_labels=2).",
        )  # fmt: skip
    return int(getattr(net.config, "num_labels", 0) or 0)


def data_digest(value: Any) -> str:
    """A digest of the training data (JSON), so that a checkpoint of other data is refused.

    numpy scalars and arrays count as the Python numbers and lists they hold (labels or
    offsets taken from a numpy or pandas column)."""
    return hashlib.sha1(json.dumps(value, default=_plain).encode()).hexdigest()


def tokenizer_digest(tokenizer: Any) -> str:
    """A digest of what a tokenizer does (a fast tokenizer's whole definition: vocabulary,
    normaliser, pre-tokeniser, post-processor; else its vocabulary and special tokens), so
    that a checkpoint of a run with another tokenizer for the same weights is refused."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # without the padding and truncation state the last call left in it
        spec = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("padding", "truncation")}
        definition = json.dumps(spec, sort_keys=True)
    else:
        definition = json.dumps(
            [sorted(tokenizer.get_vocab().items()), sorted(map(str, getattr(tokenizer, "all_special_tokens", ())))]
        )
    side = json.dumps(getattr(tokenizer, "truncation_side", None))  # which end a long text loses
    return hashlib.sha1((definition + side).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"training data of type {type(value).__name__} has no digest")


# ----------------------------------------------------------------------------- padding
@contextmanager
def padding(lens_model: LensModel) -> Iterator[None]:
    """Let the tokenizer pad and the head find each row's last real token, for the block only.

    GPT-2 and GPT-NeoX tokenizers have no pad token. Inside the block, as is standard for
    them, the EOS token pads (``tokenizer.pad_token``). The model's ``config.pad_token_id``
    names the id the tokenizer pads with, whatever it said before (a decoder's
    sequence-classification head takes the last token that is not ``config.pad_token_id``:
    a config naming another id, as some Llama conversions' ``pad_token_id: 0`` does, would
    have it pool a padding position). Both are given back afterwards, so nothing of the
    user's tokenizer or model is changed.

    Raises
    ------
    LensError
        For a tokenizer with neither a pad nor an EOS token.
    """
    tokenizer, config = lens_model.tokenizer, lens_model.model.config
    pad_token, pad_id = tokenizer.pad_token, getattr(config, "pad_token_id", None)
    if pad_token is None and tokenizer.eos_token is None:
        raise LensError.bad_argument(
            "model", lens_model.name, "a tokenizer with a pad token or an EOS token to pad batches with",
            "Set model.tokenizer.pad_token (and model.model.config.pad_token_id) first.",
        )  # fmt: skip
    if pad_token is not None and lens_model.padding_id != tokenizer.pad_token_id:
        raise LensError.bad_argument(
            "model", lens_model.name, "a tokenizer whose pad token is a row of the model's input embeddings",
            f"Its pad token {pad_token!r} has id {tokenizer.pad_token_id}, past the embedding table: resize it "
            "(model.model.resize_token_embeddings(len(model.tokenizer))) or pad with the EOS token "
            "(model.tokenizer.pad_token = model.tokenizer.eos_token).",
        )  # fmt: skip
    try:
        if pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        config.pad_token_id = tokenizer.pad_token_id
        yield
    finally:
        if pad_token is None:
            tokenizer.pad_token = None
        config.pad_token_id = pad_id


# ----------------------------------------------------------------------------- training loop
def _linear_schedule(step: int, *, total: int, warmup: int) -> float:
    """Learning-rate factor of ``step``: linear warm-up over ``warmup`` steps, then linear decay to 0."""
    return min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))


def train_steps(
    lens_model: LensModel,
    batches: Sequence[np.ndarray],
    loss_of: Callable[[np.ndarray], torch.Tensor],
    options: TrainingOptions,
    settings: dict[str, Any],
    description: str,
) -> FineTuneReport:
    """Run AdamW over ``batches`` (resuming from and writing checkpoints), in place.

    Parameters
    ----------
    lens_model : LensModel
    batches : sequence of int arrays
        The rows of each step, in order (all epochs).
    loss_of : callable
        The loss (a scalar tensor with a graph) of a batch's rows.
    options : TrainingOptions
    settings : dict
        Everything a resumed run must share (options, task, data digest...).
    description : str
        The progress bar's label.

    Returns
    -------
    FineTuneReport
        The model is left trained, in eval mode.
    """
    net, device, total = lens_model.model, lens_model.device, len(batches)
    trainable = [p for p in net.parameters() if p.requires_grad]
    if not trainable:
        raise LensError.bad_argument("model", lens_model.name, "a model with trainable parameters")
    optimizer = torch.optim.AdamW(_parameter_groups(trainable, options.weight_decay), lr=options.learning_rate)
    warmup = max(1, int(0.06 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(_linear_schedule, total=total, warmup=warmup))
    state = TrainingState(net, optimizer, schedule, device)
    store = None
    if options.checkpoint is not None:
        store = Checkpoint(options.checkpoint, model_identity(net, lens_model.name), settings, total)
    losses: list[float] = []
    with checkpoint_lock(options.checkpoint, "training run"), private_rng(device):
        seed_rng(device, options.seed)
        start = store.resume(state) if store is not None else 0
        net.train()
        try:
            for step in tqdm(range(start, total), desc=description, initial=start, total=total,
                             disable=not options.progress):  # fmt: skip
                loss = loss_of(batches[step])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                if store is not None and ((step + 1) % options.checkpoint_every == 0 or step + 1 == total):
                    store.save(state, step + 1)
        finally:
            net.eval()
            lens_model._fingerprint = None  # the weights changed: the model's fingerprint is taken again
    return FineTuneReport(steps=total, losses=np.asarray(losses), resumed_from=start, parameters=settings)


def epoch_batches(n: int, epochs: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """Rows of every step: each epoch a permutation of ``range(n)`` from a generator of ``seed``, cut into batches."""
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(n) for _ in range(epochs)]
    return [order[i : i + batch_size] for order in orders for i in range(0, n, batch_size)]


def fine_tune_classifier(
    model: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    epochs: int = 1,
    learning_rate: float = 2e-5,
    batch_size: int = 32,
    max_length: int | None = None,
    weight_decay: float = 0.01,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 200,
    progress: bool = True,
) -> FineTuneReport:
    """Train a sequence classifier (body and head) on labelled texts, in place.

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
        Loaded with ``task="sequence-classification"`` and ``num_labels``. A tokenizer
        without a pad token (GPT-2, GPT-NeoX) pads with its EOS token during the call.
    texts : sequence of str, length n
    labels : sequence of int, length n
        Class of each text, in ``0..num_labels - 1``.
    epochs : int
        Positive.
    learning_rate : float
        Peak learning rate of AdamW (positive), with linear warm-up over the first 6% of
        steps and linear decay to 0.
    batch_size : int
        Positive.
    max_length : int, optional
        Longer texts are cut to this many tokens *for training only* (the relevance
        methods refuse or window long inputs instead); at most the model's limit.
        Default: 128, or the model's limit if it is shorter.
    weight_decay : float
        Non-negative: AdamW's decoupled weight decay of the weight matrices and
        embeddings; biases and normalisation weights are not decayed (BERT's recipe, and
        Hugging Face's Trainer).
    seed : int
        Seeds the shuffling and dropout (in 0..2**32 - 1). The caller's torch random
        stream is not touched.
    checkpoint : path, optional
        Folder to save progress in and resume from (:mod:`lensnb.checkpoint`). A resumed
        run ends exactly where an uninterrupted one would; a folder of another model or
        of other data or settings is refused. The same call made again on the same model
        object (after an interrupt, or after it finished) resumes too: the checkpoint's
        weights replace the partly trained ones, and a finished run takes no step and
        leaves the model with its final weights (``resumed_from == steps``). The folder
        is locked while the run uses it: a second run into it is refused.
    checkpoint_every : int
        Steps between checkpoints (positive).
    progress : bool

    Returns
    -------
    FineTuneReport
        The model is left trained, in eval mode.

    Raises
    ------
    LensError
        Naming the argument, for a model without a classification head, bad texts or
        labels, any option out of its range, or a checkpoint that cannot be resumed.

    References
    ----------
    Devlin et al. 2019, "BERT" (fine-tuning recipe); Chefer, Gur & Wolf 2021 (BERT on
    Movie Reviews: lr 1e-5, batch 10, 10 epochs).
    """
    lens_model = _as_lens_model(model)
    n_labels = _check_classifier(lens_model)
    targets = _check_data(texts, labels, n_labels)
    options = TrainingOptions.check(
        epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, weight_decay=weight_decay, seed=seed,
        checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress,
    )  # fmt: skip
    max_length = check_max_length(lens_model, max_length, default=128)
    texts = list(texts)
    settings = {
        "task": "sequence-classification", **options.settings(), "max_length": max_length,
        "n_examples": len(texts), "data": data_digest([texts, targets.tolist()]),
        "tokenizer": tokenizer_digest(lens_model.tokenizer),
    }  # fmt: skip
    batches = epoch_batches(len(texts), options.epochs, options.batch_size, options.seed)
    net, tokenizer, device = lens_model.model, lens_model.tokenizer, lens_model.device

    def loss_of(rows: np.ndarray) -> torch.Tensor:
        encoded = tokenizer([texts[i] for i in rows], padding=True, padding_side="right", truncation=True,
                            max_length=max_length, return_tensors="pt").to(device)  # fmt: skip
        return net(**encoded, labels=torch.as_tensor(targets[rows], device=device)).loss

    with padding(lens_model):
        return train_steps(lens_model, batches, loss_of, options, settings, "fine-tuning")


def classify(model: Any, texts: Sequence[str], *, batch_size: int = 32, max_length: int | None = None) -> np.ndarray:
    """Class probabilities of each text (texts over ``max_length`` tokens are refused).

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
        A sequence classifier. A tokenizer without a pad token (GPT-2, GPT-NeoX) pads
        with its EOS token during the call.
    texts : sequence of str, length n_texts
        A list of texts (a single string is refused, not read character by character).
    batch_size : int
        Positive.
    max_length : int, optional
        Default: the model's limit; at most that.

    Returns
    -------
    ndarray of float32, shape (n_texts, n_labels)

    Raises
    ------
    LensError
        Naming the argument, for a model without a classification head, texts that are
        not a non-empty list of non-empty strings, a bad batch size, a ``max_length``
        above the model's limit, or a text longer than ``max_length``.
    """
    lens_model = _as_lens_model(model)
    _check_classifier(lens_model)
    texts = _check_texts(texts)
    batch_size = check_integer("batch_size", batch_size, 1)
    limit = lens_model.max_length if max_length is None else check_max_length(lens_model, max_length)
    tokenizer, net = lens_model.tokenizer, lens_model.model
    out = []
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), padding(lens_model):
            for i in range(0, len(texts), batch_size):
                encoded = tokenizer(texts[i : i + batch_size], padding=True, padding_side="right", return_tensors="pt")
                if limit is not None and encoded["input_ids"].shape[1] > limit:
                    lengths = encoded["attention_mask"].sum(-1)
                    worst = int(lengths.argmax())
                    raise LensError.bad_argument(
                        f"texts[{i + worst}]", f"a text of {int(lengths[worst])} tokens", f"at most {limit} tokens"
                    )
                logits = net(**encoded.to(lens_model.device)).logits
                out.append(torch.softmax(logits.float(), -1).cpu().numpy())
    finally:
        net.train(was_training)
    return np.concatenate(out)
