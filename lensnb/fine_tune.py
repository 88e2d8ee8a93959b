"""Training a sequence-classification head briefly, so relevance has a decision to explain.

The relevance methods explain a classifier; the embedded all-MiniLM-L6-v2 has none. The
paper notebooks give it one with :func:`fine_tune_classifier` (e.g. a sentiment head
trained on SST-2 in a few minutes on a CPU), the model and its head trained together
with AdamW, as Chefer et al. fine-tuned BERT on Movie Reviews.

Progress is shown, and with ``checkpoint`` the run can be resumed: after every
``checkpoint_every`` steps the weights (safetensors, never pickle) and a JSON record of
the step reached are written; a later call with the same folder and settings loads them
and skips the finished steps. The optimiser's moments are not saved: a resumed run
restarts them (the learning-rate schedule continues where it was).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lensnb.errors import LensError
from lensnb.extract import _as_lens_model
from lensnb.flags import check_flag

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
        The settings (epochs, learning_rate, batch_size, max_length, seed, n_examples).
    """

    steps: int
    losses: np.ndarray
    resumed_from: int
    parameters: dict[str, Any]


def _check_data(texts: Sequence[str], labels: Sequence[int], n_labels: int) -> np.ndarray:
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise LensError.bad_argument("texts", texts, "a non-empty list of strings")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()), None)
    if bad is not None:
        raise LensError.bad_argument(f"texts[{bad}]", texts[bad], "a non-empty string")
    values = np.asarray(labels)
    if values.shape != (len(texts),) or not np.issubdtype(values.dtype, np.integer):
        raise LensError.bad_argument("labels", labels, f"{len(texts)} integer labels, one per text")
    if values.min() < 0 or values.max() >= n_labels:
        raise LensError.bad_argument("labels", sorted(set(values.tolist()))[:10], f"classes in 0..{n_labels - 1}")
    return values.astype(np.int64)


def fine_tune_classifier(
    model: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    epochs: int = 1,
    learning_rate: float = 2e-5,
    batch_size: int = 32,
    max_length: int = 128,
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
        Loaded with ``task="sequence-classification"`` and ``num_labels``.
    texts : sequence of str, length n
    labels : sequence of int, length n
        Class of each text, in ``0..num_labels - 1``.
    epochs : int
    learning_rate : float
        Peak learning rate of AdamW, with linear warm-up over the first 6% of steps and
        linear decay to 0.
    batch_size : int
    max_length : int
        Longer texts are cut to this many tokens *for training only* (the relevance
        methods refuse or window long inputs instead).
    weight_decay : float
    seed : int
        Seeds the shuffling and dropout.
    checkpoint : path, optional
        Folder to save progress in and resume from.
    checkpoint_every : int
        Steps between checkpoints.
    progress : bool

    Returns
    -------
    FineTuneReport
        The model is left trained, in eval mode.

    References
    ----------
    Devlin et al. 2019, "BERT" (fine-tuning recipe); Chefer, Gur & Wolf 2021 (BERT on
    Movie Reviews: lr 1e-5, batch 10, 10 epochs).
    """
    lens_model = _as_lens_model(model)
    net, tokenizer = lens_model.model, lens_model.tokenizer
    n_labels = int(getattr(net.config, "num_labels", 0) or 0)
    if not type(net).__name__.endswith("ForSequenceClassification"):
        raise LensError.bad_argument(
            "model", type(net).__name__, "a sequence classifier",
            "Load it with lensnb.load_model(name, task='sequence-classification', num_labels=2).",
        )  # fmt: skip
    targets = _check_data(texts, labels, n_labels)
    progress = check_flag("progress", progress)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("max_length", max_length)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise LensError.bad_argument(name, value, "a positive int")
    settings = {
        "epochs": int(epochs), "learning_rate": float(learning_rate), "batch_size": int(batch_size),
        "max_length": int(max_length), "weight_decay": float(weight_decay), "seed": int(seed),
        "n_examples": len(texts),
        "data": hashlib.sha1(json.dumps([list(texts), targets.tolist()]).encode()).hexdigest(),
    }  # fmt: skip
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(len(texts)) for _ in range(epochs)]
    batches = [order[i : i + batch_size] for order in orders for i in range(0, len(order), batch_size)]
    total = len(batches)
    start = resume_checkpoint(net, checkpoint, settings)
    optimizer = torch.optim.AdamW(
        [p for p in net.parameters() if p.requires_grad], lr=learning_rate, weight_decay=weight_decay
    )
    warmup = max(1, int(0.06 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + start + 1) / warmup, max(0.0, (total - step - start) / max(1, total - warmup))),
    )
    torch.manual_seed(seed + start)
    device = lens_model.device
    losses = []
    net.train()
    try:
        for step in tqdm(range(start, total), desc="fine-tuning", initial=start, total=total, disable=not progress):
            rows = batches[step]
            encoded = tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(device)
            out = net(**encoded, labels=torch.as_tensor(targets[rows], device=device))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(out.loss.item())
            if checkpoint is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == total):
                save_checkpoint(net, checkpoint, settings, step + 1)
    finally:
        net.eval()
    return FineTuneReport(steps=total, losses=np.asarray(losses), resumed_from=start, parameters=settings)


def resume_checkpoint(net: torch.nn.Module, checkpoint: str | os.PathLike | None, settings: dict) -> int:
    """Load the weights a run with the same ``settings`` saved in ``checkpoint``; the step it reached (0: none)."""
    if checkpoint is None:
        return 0
    folder = Path(checkpoint)
    record = folder / "lensnb_fine_tune.json"
    if not record.is_file():
        return 0
    state = json.loads(record.read_text())
    if state.get("settings") != settings:
        raise LensError.bad_argument(
            "checkpoint", str(folder), "a folder saved by a run with the same data and settings",
            "Its record differs; pass another folder or delete this one.",
        )  # fmt: skip
    from safetensors.torch import load_file

    net.load_state_dict(load_file(folder / "model.safetensors"), strict=False)
    return int(state["step"])


def save_checkpoint(net: torch.nn.Module, checkpoint: str | os.PathLike, settings: dict, step: int) -> None:
    """Save the weights (safetensors, tied weights once) and a JSON record of ``settings`` and ``step``."""
    from safetensors.torch import save_file

    folder = Path(checkpoint)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    seen: dict[int, str] = {}
    unique = {}
    for key, tensor in tensors.items():  # tied weights are stored once
        if tensor.data_ptr() in seen:
            continue
        seen[tensor.data_ptr()] = key
        unique[key] = tensor
    save_file(unique, str(folder / "model.safetensors.tmp"))
    os.replace(folder / "model.safetensors.tmp", folder / "model.safetensors")
    (folder / "lensnb_fine_tune.json").write_text(json.dumps({"settings": settings, "step": step}))


def classify(model: Any, texts: Sequence[str], *, batch_size: int = 32, max_length: int | None = None) -> np.ndarray:
    """Class probabilities of each text, shape (n_texts, n_labels) (texts over ``max_length`` are refused).

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
    texts : sequence of str
    batch_size : int
    max_length : int, optional
        Default: the model's limit.
    """
    lens_model = _as_lens_model(model)
    limit = max_length or lens_model.max_length
    tokenizer, net = lens_model.tokenizer, lens_model.model
    out = []
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                chunk = list(texts[i : i + batch_size])
                encoded = tokenizer(chunk, padding=True, return_tensors="pt")
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
