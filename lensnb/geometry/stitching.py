"""Model stitching: how well model A's layer i can stand in for model B's layer j.

A stitch ``S(h) = LayerNorm(W h + b)`` (W of shape (dB, dA)) maps A's residual stream at
layer i, token by token, into B at layer j; the stitched model (B from layer j on) o S o
(A up to layer i) is trained on B's own loss with both halves frozen, and its held-out
loss is compared with B's: the stitching penalty. A matrix of penalties over (i, j)
shows which layers of two models hold interchangeable information, and A -> B against
B -> A its asymmetry.

Layers follow Hugging Face's ``hidden_states``: 0 = embeddings output, l = output of
block l (for pre-LN decoders layer L includes the final norm). How the two halves are
run and where exactly the stitch reads and writes is described in
:mod:`lensnb.geometry.stitch_training`.

References
----------
Bansal, Nakkiran & Barak (2021), "Revisiting Model Stitching to Compare Neural
Representations", NeurIPS. Brown, Godfrey, Konz, Tu & Kvinge (2023), "Understanding
the Inner Workings of Language Models Through Representation Dissimilarity", EMNLP.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lensnb.checkpoint import checkpoint_lock
from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.geometry.inputs import as_matrix
from lensnb.geometry.results import LayerMatrix
from lensnb.geometry.stitch_training import (
    POSITIONS,
    Checkpoint,
    LeastSquares,
    StitchTask,
    dead_units,
    digest,
    encode,
    frozen,
    head_loss,
    is_post_ln,
    output_norm,
    run_training,
    target_affine,
    weights_digest,
)
from lensnb.models import LensModel

__all__ = [
    "Stitch",
    "StitchResult",
    "StitchingAsymmetry",
    "fit_least_squares",
    "train_stitch",
    "stitching_penalty_matrix",
    "stitching_asymmetry",
    "INITS",
    "OPTIMIZERS",
]

INITS = ("identity", "least_squares", "random")
OPTIMIZERS = ("adam", "adamw", "sgd")


class Stitch(torch.nn.Module):
    """The stitching layer ``S(h) = LayerNorm(W h + b)``, applied token by token.

    Parameters
    ----------
    dim_a, dim_b : int
        Widths of A's and B's residual streams.
    layer_norm : bool
        End with a LayerNorm with a learnable affine (the recipe's form); off: ``W h + b``.
    eps : float
        The LayerNorm's epsilon.

    Attributes
    ----------
    weight : Parameter of shape (dim_b, dim_a)
    bias : Parameter of shape (dim_b,)
    norm : LayerNorm over dim_b, or None

    Notes
    -----
    Built with W = 0 and b = 0; :func:`train_stitch` initialises it (nothing here draws
    from torch's global random state).
    """

    def __init__(self, dim_a: int, dim_b: int, *, layer_norm: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(dim_b, dim_a))
        self.bias = torch.nn.Parameter(torch.zeros(dim_b))
        self.norm = torch.nn.LayerNorm(dim_b, eps=eps) if layer_norm else None

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Map (..., dim_a) states of A to (..., dim_b) states for B."""
        mapped = F.linear(states.to(self.weight.dtype), self.weight, self.bias)
        return mapped if self.norm is None else self.norm(mapped)


@dataclass(frozen=True)
class StitchResult:
    """One trained stitch and how the stitched model scores against model B.

    Attributes
    ----------
    models : (str, str)
        Names of A and B.
    layer_a, layer_b : int
        A's layer read and B's layer replaced (non-negative).
    loss : str
        ``"masked-lm"``, ``"causal-lm"`` or ``"classification"``: B's loss.
    stitched_loss, own_loss : float
        Mean held-out loss of the stitched model and of B alone, on the same batches (and masks).
    penalty : float
        ``stitched_loss - own_loss``: the stitching penalty (0 = A's layer i serves B as well as its own layer j).
    stitched_accuracy, own_accuracy : float
        Held-out top-1 accuracy (masked tokens, next tokens or texts).
    initial_loss, initial_penalty, initial_accuracy : float
        The same before training (at the initialisation).
    curve : ndarray of float64, shape (steps,)
        Training loss of every step (the stitched model on that step's batch).
    state : dict of str to ndarray
        The stitch's parameters: ``weight`` (dB, dA), ``bias`` (dB,), and ``norm.weight``,
        ``norm.bias`` (dB,) when it has a LayerNorm.
    params : dict
        Every setting used (init, layer_norm, position, optimizer, lr, steps, batch_size, seed...).
    """

    models: tuple[str, str]
    layer_a: int
    layer_b: int
    loss: str
    stitched_loss: float
    own_loss: float
    penalty: float
    stitched_accuracy: float
    own_accuracy: float
    initial_loss: float
    initial_penalty: float
    initial_accuracy: float
    curve: np.ndarray
    state: dict[str, np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)

    def stitch(self) -> Stitch:
        """The trained stitching layer as a module (float32, on the CPU)."""
        dim_b, dim_a = self.state["weight"].shape
        module = Stitch(dim_a, dim_b, layer_norm="norm.weight" in self.state, eps=self.params.get("eps", 1e-5))
        module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.state.items()})
        return module

    def __repr__(self) -> str:
        return (
            f"StitchResult({self.models[0]!r} layer {self.layer_a} -> {self.models[1]!r} layer {self.layer_b}; "
            f"{self.loss} loss {self.stitched_loss:.4g} vs own {self.own_loss:.4g}, penalty {self.penalty:.4g} "
            f"(at init {self.initial_penalty:.4g}); {len(self.curve)} steps)"
        )


@dataclass(frozen=True)
class StitchingAsymmetry:
    """Stitching penalties in both directions between two models.

    Attributes
    ----------
    a_to_b : LayerMatrix
        Rows: A's layers i; columns: B's layers j; penalty of A's layer i in place of B's layer j.
    b_to_a : LayerMatrix
        Rows: B's layers j; columns: A's layers i; penalty of B's layer j in place of A's layer i.
    """

    a_to_b: LayerMatrix
    b_to_a: LayerMatrix

    @property
    def difference(self) -> LayerMatrix:
        """``a_to_b[i, j] - b_to_a[j, i]`` over (A's layers, B's layers): > 0 where A -> B costs more."""
        return LayerMatrix(
            name="stitching_asymmetry",
            layers_a=self.a_to_b.layers_a,
            layers_b=self.a_to_b.layers_b,
            values=np.asarray(self.a_to_b.values) - np.asarray(self.b_to_a.values).T,
            params=dict(self.a_to_b.params),
            table=self.a_to_b.table,
            unit=self.a_to_b.unit,
            models=self.a_to_b.models,
        )

    def to_pandas(self) -> pd.DataFrame:
        """One row per (layer_a, layer_b): both penalties and their difference."""
        a_to_b = self.a_to_b.to_pandas().stack(future_stack=True).rename("a_to_b")
        b_to_a = self.b_to_a.to_pandas().T.stack(future_stack=True).rename("b_to_a")
        frame = pd.concat([a_to_b, b_to_a.set_axis(a_to_b.index)], axis=1)
        frame["difference"] = frame["a_to_b"] - frame["b_to_a"]
        return frame.reset_index()


@dataclass(frozen=True)
class _Settings:
    """Training settings shared by :func:`train_stitch` and the matrices (defaults documented there)."""

    loss: str = "auto"
    init: str = "identity"
    layer_norm: bool | None = None
    position: str = "residual"
    optimizer: str = "adam"
    lr: float = 1e-3
    steps: int = 200
    batch_size: int = 8
    max_length: int = 128
    mask_probability: float = 0.15
    seed: int = 0
    checkpoint_every: int = 20

    def checked(self) -> _Settings:
        choices = {"init": INITS, "position": POSITIONS, "optimizer": OPTIMIZERS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise LensError.bad_argument(name, getattr(self, name), f"one of {allowed}")
        if self.layer_norm not in (None, True, False):
            raise LensError.bad_argument("layer_norm", self.layer_norm, "None (the family's default), True or False")
        for name in ("steps", "batch_size", "max_length", "checkpoint_every", "seed"):
            value = getattr(self, name)
            low = 0 if name == "seed" else 2 if name == "max_length" else 1
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise LensError.bad_argument(name, value, f"an integer >= {low}")
        numbers = (int, float, np.integer, np.floating)
        if isinstance(self.lr, bool) or not isinstance(self.lr, numbers) or not math.isfinite(self.lr) or self.lr <= 0:
            raise LensError.bad_argument("lr", self.lr, "a positive learning rate")
        if (
            isinstance(self.mask_probability, bool)
            or not isinstance(self.mask_probability, numbers)
            or not 0 < self.mask_probability < 1
        ):
            raise LensError.bad_argument("mask_probability", self.mask_probability, "a number in (0, 1)")
        integers = {
            name: int(getattr(self, name)) for name in ("steps", "batch_size", "max_length", "checkpoint_every", "seed")
        }
        return replace(self, lr=float(self.lr), mask_probability=float(self.mask_probability), **integers)


def fit_least_squares(states_a: Any, states_b: Any, *, rcond: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """The affine map from A's states to B's states by least squares.

    Parameters
    ----------
    states_a : array of shape (n_tokens, dA)
    states_b : array of shape (n_tokens, dB)
        The same tokens seen by the two models (numpy or torch).
    rcond : float
        Relative cutoff on the singular values of ``[states_a, 1]`` with its columns scaled
        to unit norm; smaller ones count as zero (see Notes).

    Returns
    -------
    weight : ndarray of float64, shape (dB, dA)
    bias : ndarray of float64, shape (dB,)
        Minimising ``||states_a @ weight.T + bias - states_b||_F``; where several maps do,
        the one of least norm in the column-scaled coordinates.

    Notes
    -----
    Deviation from a plain ``numpy.linalg.lstsq`` (cutoff at machine precision): hidden
    states are float32, and a LayerNorm output (every layer of BERT, the last of GPT-2)
    lies on a hyperplane, so ``[states, 1]`` has a singular value ~1e-7 times the largest
    made of rounding noise, which a machine-precision cutoff would fit with weights in the
    thousands. With ``rcond=1e-6`` that direction is dropped; for well-conditioned states
    the answer is lstsq's.

    References
    ----------
    Csiszárik, Kőrösi-Szabó, Matszangosz, Papp & Varga (2021), "Similarity and Matching of
    Neural Network Representations", NeurIPS: least-squares ("direct") matching of layers,
    used here to initialise a stitch; Bansal et al. (2021) for stitching itself.
    """
    a = as_matrix(states_a, "states_a", min_rows=1)
    b = as_matrix(states_b, "states_b", min_rows=1)
    if a.shape[0] != b.shape[0]:
        raise LensError.bad_argument("states_b", b, f"{a.shape[0]} rows, one per row of states_a")
    if isinstance(rcond, bool) or not isinstance(rcond, (int, float, np.integer, np.floating)) or not 0 <= rcond < 1:
        raise LensError.bad_argument("rcond", rcond, "a number in [0, 1)")
    fit = LeastSquares()
    fit.add(a, b)
    return fit.solve(rcond)


@checks_flags
def train_stitch(
    model_a: LensModel,
    layer_a: int,
    model_b: LensModel,
    layer_b: int,
    texts: Sequence[str],
    *,
    labels: Sequence[int] | np.ndarray | None = None,
    eval_texts: Sequence[str] | None = None,
    eval_labels: Sequence[int] | np.ndarray | None = None,
    loss: str = "auto",
    init: str = "identity",
    layer_norm: bool | None = None,
    position: str = "residual",
    optimizer: str = "adam",
    lr: float = 1e-3,
    steps: int = 200,
    batch_size: int = 8,
    max_length: int = 128,
    mask_probability: float = 0.15,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 20,
    progress: bool = True,
) -> StitchResult:
    """Train a stitch from A's layer i into B's layer j on B's own loss and score it against B.

    Parameters
    ----------
    model_a, model_b : LensModel
        Frozen throughout (eval mode, no weight gradients; both restored after). They must
        share a tokenizer (the same ids for every text). B needs a head: load it with
        ``lensnb.load_model(name, task="masked-lm")`` (encoders), ``task="causal-lm"``
        (decoders) or ``task="sequence-classification"`` (with ``labels``). A may be B.
    layer_a, layer_b : int
        0 = embeddings output, l = output of block l; negative counts from the end.
    texts : sequence of str
        Training texts (each truncated to ``max_length`` tokens).
    labels : sequence of int, shape (n_texts,), optional
        Class of each text, for a classification head.
    eval_texts, eval_labels : optional
        Held-out texts for the losses; None holds out a seeded 20% of ``texts`` (at least
        one; with a single text it is both trained and scored on).
    loss : {"auto", "masked-lm", "causal-lm", "classification"}
        B's loss; "auto" takes the one of B's head. Masked-LM masks 15% of the non-special
        tokens (at least one per text) with BERT's 80% [MASK] / 10% random / 10% kept recipe,
        drawn from ``(seed, step)``; causal-LM scores every next token; classification the text.
    init : {"identity", "least_squares", "random"}
        "identity" makes S the identity on B's own layer-j states (needs dA == dB), so that a
        self-stitch (A = B, i = j) starts with penalty 0; "least_squares" fits W, b to B's
        layer-j states from A's layer-i states on the training tokens (unmasked);
        "random" draws W, b uniformly in +-1/sqrt(dA) from ``seed``. With "identity" and
        "least_squares", a unit whose gain in the norm that makes B's layer j is (near) zero
        (all-MiniLM-L6-v2's last layer has three) gets its row fitted by least squares to
        that norm's normalised value, read before the norm on the training tokens (see
        :func:`~lensnb.geometry.stitch_training.dead_units`): the gain cannot be inverted,
        and a row left at 0 would let the LayerNorm after S rescale every other unit.
    layer_norm : bool or None
        Whether S ends with its LayerNorm. None (default): on for post-LN families (BERT,
        DistilBERT: their layer j is a LayerNorm output, S's LayerNorm stands in for it;
        except ELECTRA's layer 0 where the embeddings are projected to the model's width),
        off for pre-LN decoders (GPT-2, GPT-NeoX, Llama: their residual stream is not
        normalised, its scale grows with depth and B's next block normalises it itself; a
        LayerNorm there would rescale the residual path, and a self-stitch could not start
        at the identity). Pass True to follow the recipe literally.
    position : {"residual", "pre_norm"}
        Where S writes relative to B's own LayerNorm. "residual" (default): S replaces B's
        layer j, ``hidden_states[j]`` (after the LayerNorm that closes a post-LN block;
        before the pre-LayerNorm of block j + 1 in a pre-LN model). "pre_norm": S replaces
        the input of the norm whose output is layer j, so B's own norm and affine act on S's
        output; the same as "residual" where layer j is no norm's output (pre-LN decoders
        before the last layer). A is always read at ``hidden_states[i]``.
    optimizer : {"adam", "adamw", "sgd"}
        Torch optimiser over S's parameters only (sgd with momentum 0.9), constant ``lr``.
    lr : float
    steps : int
        Optimiser steps (batches; the texts are cycled in a seeded order per epoch).
    batch_size : int
    max_length : int
        Tokens per text at most (also capped by both models' limits).
    mask_probability : float
    seed : int
        Seeds the split, the batch order, the masks and the random init.
    checkpoint : path, optional
        A folder where the state (S, optimiser, step, curve; tensors only) is saved every
        ``checkpoint_every`` steps, at the end and on KeyboardInterrupt. If it already holds
        a state of the same run, training resumes from it (and ``steps`` may be raised to
        go on further); the result equals that of an uninterrupted run. The folder is tied
        to the weights (A's base model, B with its head): a head newly initialised at load
        differs at every load, so such a run cannot be resumed after reloading the model.
        The folder is locked while the run uses it: a second run into it is refused.
    checkpoint_every : int
    progress : bool
        Show a progress bar of the steps.

    Returns
    -------
    StitchResult

    Raises
    ------
    LensError
        A layer out of range, different tokenizers, an unknown init / loss / optimiser /
        position, ``steps < 1``, no texts, a B without a head, an identity init between
        different widths, or a checkpoint folder of a different run.

    Notes
    -----
    B runs in full with its layer j overwritten (its blocks before j are computed and
    discarded); A stops after layer i. Neither model's weights get gradients. With the
    default ``layer_norm`` and ``position`` the identity self-stitch has penalty 0 (to
    rounding) in every family; with ``layer_norm=True`` on a pre-LN decoder it does not
    (S normalises the residual stream), nor for Llama's last layer (S's LayerNorm centres
    what an RMSNorm does not); with ``position="pre_norm"`` at a norm's output it holds up
    to that norm's epsilon relative to the variance of its input. A model loaded with a
    head that its checkpoint lacks (e.g. the embedded all-MiniLM-L6-v2 with
    ``task="masked-lm"``) gets a newly initialised head, and "B's own loss" is then that of
    a random head: train or load a real head first. A warning says so while the parameters
    :func:`lensnb.load_model` initialised are untrained
    (:meth:`lensnb.LensModel.untrained_parameters`).

    References
    ----------
    Bansal et al. (2021): the stitching layer between frozen halves and the stitching
    penalty. Brown et al. (2023): stitching transformer language models on the residual
    stream. The form ``LayerNorm(W h + b)`` is lensnb's spec (algorithms guide, 3.2).
    """
    settings = _Settings(
        loss, init, layer_norm, position, optimizer, lr, steps, batch_size, max_length, mask_probability, seed,
        checkpoint_every,
    ).checked()  # fmt: skip
    task, identity = _task(model_a, model_b, texts, labels, eval_texts, eval_labels, settings)
    return _stitch(task, identity, layer_a, layer_b, settings, checkpoint, progress)


@checks_flags
def stitching_penalty_matrix(
    model_a: LensModel,
    model_b: LensModel,
    texts: Sequence[str],
    *,
    layers_a: Sequence[int] | None = None,
    layers_b: Sequence[int] | None = None,
    pairs: str = "diagonal",
    labels: Sequence[int] | np.ndarray | None = None,
    eval_texts: Sequence[str] | None = None,
    eval_labels: Sequence[int] | np.ndarray | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    **options: Any,
) -> LayerMatrix:
    """Stitching penalty of A's layer i in place of B's layer j, over pairs of layers.

    Parameters
    ----------
    model_a, model_b, texts, labels, eval_texts, eval_labels
        As in :func:`train_stitch`; the texts are encoded and B's own loss computed once.
    layers_a, layers_b : sequence of int, optional
        Default: every layer of A (0..L_A); for B the same layers when both models have as
        many, else every layer of B.
    pairs : {"diagonal", "all"}
        "diagonal" stitches ``layers_a[k]`` into ``layers_b[k]`` (equal lengths needed; the
        other entries are NaN); "all" every (i, j).
    checkpoint : path, optional
        A folder with one sub-folder per pair (``a{i}_b{j}``), so that a stopped matrix
        resumes where it was.
    progress : bool
        Show a progress bar over the pairs of layers, and each stitch's bar of steps.
    **options
        Any other keyword of :func:`train_stitch` (init, layer_norm, position, steps, lr...).

    Returns
    -------
    LayerMatrix
        ``values`` (len(layers_a), len(layers_b)): held-out penalty (stitched loss - B's
        loss). ``params`` holds the settings and ``pairs``; ``details`` holds ``own_loss`` and
        ``own_accuracy`` of B (the stitched loss is ``values + own_loss``) and
        ``stitched_accuracy`` (an array like ``values``: the held-out top-1 accuracy of the
        masked tokens, next tokens or texts, as :class:`StitchResult`'s; NaN where a pair was
        not computed); ``table`` lists the held-out texts.

    References
    ----------
    Bansal et al. (2021); Brown et al. (2023): stitching penalties across pairs of layers.
    """
    settings = _settings(options)
    task, identity = _task(model_a, model_b, texts, labels, eval_texts, eval_labels, settings)
    rows = _layer_list(layers_a, model_a, "layers_a")
    if layers_b is None and model_a.n_layers == model_b.n_layers:
        layers_b = rows
    columns = _layer_list(layers_b, model_b, "layers_b")
    if pairs == "diagonal":
        if len(rows) != len(columns):
            raise LensError.bad_argument(
                "layers_b", list(columns), f"{len(rows)} layers, one per layer of layers_a, for pairs='diagonal'"
            )
        todo = [(k, k) for k in range(len(rows))]
    elif pairs == "all":
        todo = [(p, q) for p in range(len(rows)) for q in range(len(columns))]
    else:
        raise LensError.bad_argument("pairs", pairs, "'diagonal' or 'all'")
    from tqdm.auto import tqdm

    values = np.full((len(rows), len(columns)), np.nan)
    accuracy = np.full_like(values, np.nan)
    for p, q in tqdm(todo, desc="stitching pairs", unit="pair", disable=not progress):
        folder = None if checkpoint is None else Path(checkpoint) / f"a{rows[p]}_b{columns[q]}"
        result = _stitch(task, identity, rows[p], columns[q], settings, folder, progress)
        values[p, q], accuracy[p, q] = result.penalty, result.stitched_accuracy
    own_loss, own_accuracy = task.own()
    params = dict(asdict(settings), loss=task.kind, pairs=pairs)
    details = dict(own_loss=own_loss, own_accuracy=own_accuracy, stitched_accuracy=accuracy)
    return LayerMatrix(
        name="stitching_penalty", layers_a=rows, layers_b=columns, values=values, params=params,
        table=pd.DataFrame({"text": identity["held_out_texts"]}), unit="text", models=(model_a.name, model_b.name),
        details=details,
    )  # fmt: skip


@checks_flags
def stitching_asymmetry(
    model_a: LensModel,
    model_b: LensModel,
    texts: Sequence[str],
    *,
    layers_a: Sequence[int] | None = None,
    layers_b: Sequence[int] | None = None,
    pairs: str = "diagonal",
    labels: Sequence[int] | np.ndarray | None = None,
    eval_texts: Sequence[str] | None = None,
    eval_labels: Sequence[int] | np.ndarray | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    **options: Any,
) -> StitchingAsymmetry:
    """Stitching penalties A -> B and B -> A over the same layer pairs.

    Parameters are those of :func:`stitching_penalty_matrix`; both models need a head
    (each is B in one direction); ``labels`` serve both directions when the heads are
    classifiers of the same classes. The checkpoint folder gets ``a_to_b`` and ``b_to_a``.

    Returns
    -------
    StitchingAsymmetry
        ``a_to_b`` (A's layers x B's layers), ``b_to_a`` (B's layers x A's layers) and
        their ``difference`` ``a_to_b[i, j] - b_to_a[j, i]``.

    References
    ----------
    Bansal et al. (2021); Brown et al. (2023). Stitching A into B and B into A are different
    experiments (different target losses and maps); their difference is what this reports.
    """
    folder = None if checkpoint is None else Path(checkpoint)
    data = dict(labels=labels, eval_texts=eval_texts, eval_labels=eval_labels)
    a_to_b = stitching_penalty_matrix(
        model_a, model_b, texts, layers_a=layers_a, layers_b=layers_b, pairs=pairs,
        checkpoint=None if folder is None else folder / "a_to_b", progress=progress, **data, **options,
    )  # fmt: skip
    b_to_a = stitching_penalty_matrix(
        model_b, model_a, texts, layers_a=a_to_b.layers_b, layers_b=a_to_b.layers_a, pairs=pairs,
        checkpoint=None if folder is None else folder / "b_to_a", progress=progress, **data, **options,
    )  # fmt: skip
    return StitchingAsymmetry(a_to_b, b_to_a)


# ----------------------------------------------------------------------------- internals


def _settings(options: dict[str, Any]) -> _Settings:
    known = {f.name for f in fields(_Settings)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise LensError.bad_argument("options", unknown, f"keywords of train_stitch: {sorted(known)}")
    return _Settings(**options).checked()


def _texts(texts: Any, argument: str) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, (Sequence, np.ndarray, pd.Series)):
        raise LensError.bad_argument(argument, texts, "a list of strings")
    texts = list(texts)
    if not texts:
        raise LensError.bad_argument(argument, texts, "at least one text")
    for k, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise LensError.bad_argument(f"{argument}[{k}]", text, "a non-empty string")
    return texts


def _labels(labels: Any, n: int, model_b: LensModel, kind: str, argument: str) -> np.ndarray | None:
    if kind != "classification":
        if labels is not None:
            raise LensError.bad_argument(argument, labels, f"None for the {kind} loss (labels are for classification)")
        return None
    if labels is None:
        raise LensError.bad_argument(argument, None, "one class label per text for a classification head")
    array = np.asarray(labels)
    n_classes = int(getattr(model_b.model.config, "num_labels", 0) or 0)
    if (
        array.shape != (n,)
        or not np.issubdtype(array.dtype, np.integer)
        or (array < 0).any()
        or (array >= n_classes).any()
    ):
        raise LensError.bad_argument(argument, labels, f"{n} integer labels in 0..{n_classes - 1}")
    return array.astype(np.int64)


def _task(model_a, model_b, texts, labels, eval_texts, eval_labels, settings: _Settings) -> tuple[StitchTask, dict]:
    for name, model in (("model_a", model_a), ("model_b", model_b)):
        if not isinstance(model, LensModel):
            raise LensError.bad_argument(name, model, "a LensModel from lensnb.load_model")
    kind = head_loss(model_b, settings.loss)
    untrained = model_b.untrained_parameters()
    if untrained:
        shown = ", ".join(untrained[:4]) + (", ..." if len(untrained) > 4 else "")
        warnings.warn(
            f"model_b: {model_b.name!r} was loaded with parameters its checkpoint lacks ({shown}), initialised at "
            f"random and not trained since: B's own {kind} loss is that of a random head, and the stitching "
            "penalties measure agreement with it. Train the head first (lensnb.fine_tune) or load a model that "
            "has one.",
            UserWarning,
            stacklevel=4,  # the caller of train_stitch / the matrix functions (through their flag check)
        )
    texts = _texts(texts, "texts")
    labels = _labels(labels, len(texts), model_b, kind, "labels")
    if eval_texts is None:
        if eval_labels is not None:
            raise LensError.bad_argument("eval_labels", eval_labels, "None when eval_texts is None")
        order = np.random.default_rng([settings.seed, 0]).permutation(len(texts))
        n_held = max(1, round(0.2 * len(texts))) if len(texts) > 1 else 0
        held, kept = np.sort(order[:n_held]), np.sort(order[n_held:])
        held = held if n_held else kept
        eval_texts = [texts[k] for k in held]
        eval_labels = None if labels is None else labels[held]
        texts, labels = [texts[k] for k in kept], None if labels is None else labels[kept]
    else:
        eval_texts = _texts(eval_texts, "eval_texts")
        eval_labels = _labels(eval_labels, len(eval_texts), model_b, kind, "eval_labels")
    train = encode(model_a, model_b, texts, labels, settings.max_length, "texts")
    held_out = encode(model_a, model_b, eval_texts, eval_labels, settings.max_length, "eval_texts")
    task = StitchTask(
        model_a, model_b, train, held_out, kind, settings.batch_size, settings.mask_probability, settings.seed
    )
    identity = {
        "model_a": model_a.name, "fingerprint_a": weights_digest(model_a.base_model), "model_b": model_b.name,
        "fingerprint_b": model_b.fingerprint, "loss": kind, "data": digest(texts, labels, eval_texts, eval_labels),
        "held_out_texts": eval_texts,
    }  # fmt: skip
    return task, identity


def _layer(layer: Any, model: LensModel, argument: str) -> int:
    n = model.n_layers
    if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool) or not -(n + 1) <= layer <= n:
        raise LensError.bad_argument(
            argument, layer, f"a layer of {model.name!r} in 0..{n} (0 = embeddings; negative counts from the end)"
        )
    return int(layer) % (n + 1)


def _layer_list(layers: Any, model: LensModel, argument: str) -> tuple[int, ...]:
    if layers is None:
        return tuple(range(model.n_layers + 1))
    if isinstance(layers, (int, np.integer)):
        layers = [layers]
    if isinstance(layers, str) or not isinstance(layers, (Sequence, np.ndarray)) or len(layers) == 0:
        raise LensError.bad_argument(argument, layers, "None or a non-empty list of layer numbers")
    return tuple(_layer(layer, model, argument) for layer in layers)


def _eps(model: LensModel) -> float:
    config = model.model.config
    for attribute in ("layer_norm_eps", "layer_norm_epsilon", "rms_norm_eps"):
        value = getattr(config, attribute, None)
        if isinstance(value, float) and value > 0:
            return value
    return 1e-5


def _optimizer(settings: _Settings, stitch: Stitch) -> torch.optim.Optimizer:
    if settings.optimizer == "adam":
        return torch.optim.Adam(stitch.parameters(), lr=settings.lr)
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(stitch.parameters(), lr=settings.lr)
    return torch.optim.SGD(stitch.parameters(), lr=settings.lr, momentum=0.9)


def _initialise(stitch: Stitch, task: StitchTask, i: int, j: int, settings: _Settings) -> None:
    scale, shift, norm_weight, norm_bias = target_affine(
        task.model_b, j, settings.position, stitch.norm is not None
    )  # each (dB,)
    dim_b, dim_a = stitch.weight.shape
    dead = dead_units(task.model_b, j, settings.position, stitch.norm is not None)  # gains ~0: fitted, not inverted
    if settings.init == "least_squares":
        weight, bias = (torch.from_numpy(v) for v in task.least_squares(i, j, scale, shift, dead))
    elif settings.init == "identity":
        weight, bias = torch.diag(1.0 / scale), -shift / scale
        if dead.any():
            fitted_weight, fitted_bias = (torch.from_numpy(v) for v in task.least_squares(i, j, scale, shift, dead))
            weight[dead], bias[dead] = fitted_weight[dead], fitted_bias[dead]
    else:
        generator = torch.Generator().manual_seed(settings.seed)
        bound = 1.0 / math.sqrt(dim_a)
        weight = (torch.rand(dim_b, dim_a, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        bias = (torch.rand(dim_b, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    with torch.no_grad():
        stitch.weight.copy_(weight)
        stitch.bias.copy_(bias)
        if stitch.norm is not None:
            stitch.norm.weight.copy_(norm_weight)
            stitch.norm.bias.copy_(norm_bias)


def _stitch(
    task: StitchTask, identity: dict, layer_a, layer_b, settings: _Settings, checkpoint, progress
) -> StitchResult:
    model_a, model_b = task.model_a, task.model_b
    i, j = _layer(layer_a, model_a, "layer_a"), _layer(layer_b, model_b, "layer_b")
    use_norm = (
        (is_post_ln(model_b) and output_norm(model_b, j) is not None)
        if settings.layer_norm is None
        else settings.layer_norm
    )
    dim_a, dim_b = model_a.hidden_size, model_b.hidden_size
    if settings.init == "identity" and dim_a != dim_b:
        raise LensError.bad_argument(
            "init", "identity", "'least_squares' or 'random' between models of different widths",
            f"{model_a.name!r} is {dim_a} wide and {model_b.name!r} {dim_b}.",
        )  # fmt: skip
    eps = _eps(model_b)
    stitch = Stitch(dim_a, dim_b, layer_norm=use_norm, eps=eps).to(task.device)
    optimizer = _optimizer(settings, stitch)
    run = dict(asdict(settings), layer_a=i, layer_b=j, layer_norm=use_norm, eps=eps)
    store = None
    if checkpoint is not None:
        keyed = {k: v for k, v in run.items() if k not in ("steps", "checkpoint_every")}
        store = Checkpoint(checkpoint, {**keyed, **{k: v for k, v in identity.items() if k != "held_out_texts"}})
    where = (i, j, settings.position)
    with (
        checkpoint_lock(store.folder if store is not None else None, "stitch training"),
        frozen(model_a, model_b),
        torch.enable_grad(),
    ):
        state = store.load() if store is not None else None
        if state is not None:
            if state["step"] > settings.steps:
                raise LensError.bad_argument(
                    "steps", settings.steps, f"at least {state['step']}, the steps the checkpoint has already run",
                    f"Pass steps >= {state['step']} or a new checkpoint folder.",
                )  # fmt: skip
            stitch.load_state_dict(state["stitch"])
            optimizer.load_state_dict(state["optimizer"])
            start, curve = state["step"], state["curve"].tolist()
            initial = tuple(float(v) for v in state["initial"])
        else:
            _initialise(stitch, task, i, j, settings)
            start, curve, initial = 0, [], task.score(stitch, *where)
        run_training(task, stitch, optimizer, where, start, settings.steps, curve, store, settings.checkpoint_every,
                     initial, progress)  # fmt: skip
        (stitched_loss, stitched_accuracy), (own_loss, own_accuracy) = task.score(stitch, *where), task.own()
    return StitchResult(
        models=(model_a.name, model_b.name), layer_a=i, layer_b=j, loss=task.kind,
        stitched_loss=stitched_loss, own_loss=own_loss, penalty=stitched_loss - own_loss,
        stitched_accuracy=stitched_accuracy, own_accuracy=own_accuracy,
        initial_loss=initial[0], initial_penalty=initial[0] - own_loss, initial_accuracy=initial[1],
        curve=np.asarray(curve, dtype=np.float64),
        state={k: v.detach().to("cpu").numpy().copy() for k, v in stitch.state_dict().items()},
        params=dict(run, loss=task.kind, n_train_texts=len(task.train), n_eval_texts=len(task.held_out)),
    )  # fmt: skip
