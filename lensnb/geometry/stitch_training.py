"""The plumbing behind :mod:`lensnb.geometry.stitching`.

Where a stitch reads model A and writes model B, the batches both models see, model
B's own loss, the least-squares accumulator, checkpoints and the training loop. Users
call :func:`lensnb.geometry.stitching.train_stitch`; nothing here is public API.

Sites (layers numbered as Hugging Face's ``hidden_states``: 0 = embeddings output,
l = output of block l):

- A is read at ``hidden_states[i]``: a forward pre-hook on block i + 1 records that
  block's input and stops the forward pass there (no block after i runs, nor A's head);
  for i = L the base model runs to its end and ``last_hidden_state`` is taken (for
  pre-LN decoders it includes the final norm, as ``hidden_states[L]`` does).
- B runs in full (its blocks before j are computed and overwritten: the simple,
  family-independent way) with a hook that replaces its layer j:
  ``position="residual"`` replaces ``hidden_states[j]`` itself (the input of block j + 1
  through a forward pre-hook; for j = L the output of the last block, or of the final
  norm of a pre-LN decoder); ``position="pre_norm"`` replaces the *input* of the
  normalisation whose output is layer j (the LayerNorm that closes a post-LN block or
  the embeddings; a pre-LN decoder's final norm for j = L), so B's own norm and its
  affine act on what the stitch writes. Where layer j is no norm's output (the
  residual stream of a pre-LN decoder before its last layer, which block j + 1's own
  pre-LayerNorm reads), both positions are the same.
- For a masked-LM head, a hook on B's base model hands the head only the masked
  tokens' states (the head is token-wise), so the vocabulary projection costs ~15%
  of projecting every token.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lensnb.errors import LensError
from lensnb.models import LensModel

LOSSES = ("masked-lm", "causal-lm", "classification")
POSITIONS = ("residual", "pre_norm")
IGNORE = -100
#: Post-LN families: the norm that produces layer 0 (path on the base model) and layer l >= 1 (path in block l).
POST_LN_NORMS = {
    "bert": ("embeddings.LayerNorm", "output.LayerNorm"),
    "distilbert": ("embeddings.LayerNorm", "output_layer_norm"),
}
#: Pre-LN decoders: the final norm (on the base model) whose output is layer L.
FINAL_NORMS = {"gpt2": "ln_f", "gpt_neox": "final_layer_norm", "llama": "norm", "sandwich_norm": "norm"}
_HEADS = {"ForMaskedLM": "masked-lm", "ForCausalLM": "causal-lm", "LMHeadModel": "causal-lm"}


# ----------------------------------------------------------------------------- sites


def blocks_of(model: LensModel, argument: str) -> torch.nn.ModuleList:
    """The model's blocks; LensError for a model of no family lensnb knows."""
    blocks = model.adapter.block_list(model.base_model) if model.adapter is not None else None
    if blocks is None:
        raise LensError.bad_argument(
            argument, model.name, "a model of a family lensnb knows the blocks of (bert, distilbert, gpt2, gpt_neox, "
            "llama and their relatives)", "A stitch is placed by hooks on the blocks.",
        )  # fmt: skip
    return blocks


def output_norm(model: LensModel, layer: int) -> torch.nn.Module | None:
    """The normalisation module whose output is the model's layer ``layer``, or None."""
    family = model.adapter.name if model.adapter is not None else None
    if family in POST_LN_NORMS:
        on_base, in_block = POST_LN_NORMS[family]
        if layer == 0 and _submodule(model.base_model, "embeddings_project") is not None:
            return None  # ELECTRA with embedding_size != hidden_size: layer 0 is the projection's output
        root = model.base_model if layer == 0 else blocks_of(model, "model")[layer - 1]
        return _submodule(root, on_base if layer == 0 else in_block)
    if family in FINAL_NORMS and layer == model.n_layers:
        return _submodule(model.base_model, FINAL_NORMS[family])
    return None


def is_post_ln(model: LensModel) -> bool:
    """Whether every layer of the model is a LayerNorm output (BERT-like post-LN encoders)."""
    return model.adapter is not None and model.adapter.name in POST_LN_NORMS


#: A norm's gain below this (in absolute value) makes its unit dead: the unit's output is its bias alone.
DEAD_GAIN = 1e-6


def dead_units(model_b: LensModel, layer: int, position: str, layer_norm: bool) -> torch.Tensor:
    """Which units of B's layer ``layer`` the stitch's linear map cannot invert, bool (dB,).

    Where :func:`target_affine` divides by the gain of the norm whose output is layer
    ``layer``, a unit of (near-)zero gain (``|gain| < DEAD_GAIN``) carries only its bias:
    its normalised value ``z_hat`` is lost from ``h``. Yet the norm that follows the
    stitch (its own LayerNorm, or B's with ``position="pre_norm"``) takes its mean and
    variance over every unit, the dead ones included: all-MiniLM-L6-v2's last LayerNorm
    has three such units (127, 223, 319), which hold about half of ``z_hat``'s energy.
    Their rows of the map are therefore fitted to ``z_hat`` by least squares (see
    :meth:`StitchTask.least_squares`) rather than set from the gain."""
    norm = output_norm(model_b, layer)
    weight = None if norm is None else getattr(norm, "weight", None)
    if not isinstance(weight, torch.Tensor) or not (position == "pre_norm" or layer_norm):
        return torch.zeros(model_b.hidden_size, dtype=torch.bool)
    return weight.detach().to("cpu", torch.float64).abs() < DEAD_GAIN


def target_affine(model_b: LensModel, layer: int, position: str, layer_norm: bool) -> tuple[torch.Tensor, ...]:
    """``(scale, shift, norm_weight, norm_bias)``, each of shape (dB,), for the stitch's initialisation.

    Where B's layer j is the output ``h = scale * z_hat + shift`` of a norm with that affine, and
    the stitch writes before that norm or ends with its own LayerNorm, the stitch's linear map
    is fitted to ``z_hat = (h - shift) / scale`` (the identity init is that inverse affine) and its
    LayerNorm gets ``(norm_weight, norm_bias)``; elsewhere ``scale = 1, shift = 0`` and the
    LayerNorm affine is (1, 0). The scale of a dead unit (:func:`dead_units`) is given as 1:
    its rows are fitted apart.
    """
    dim = model_b.hidden_size
    ones, zeros = torch.ones(dim, dtype=torch.float64), torch.zeros(dim, dtype=torch.float64)
    norm = output_norm(model_b, layer)
    if norm is None or not (position == "pre_norm" or layer_norm):
        return ones, zeros, ones, zeros
    weight = getattr(norm, "weight", None)
    bias = getattr(norm, "bias", None)
    gamma = weight.detach().to("cpu", torch.float64) if isinstance(weight, torch.Tensor) else ones
    beta = bias.detach().to("cpu", torch.float64) if isinstance(bias, torch.Tensor) else zeros
    scale = torch.where(gamma.abs() < DEAD_GAIN, torch.ones_like(gamma), gamma)  # dead units: see dead_units
    if position == "pre_norm":
        return scale, beta, ones, zeros  # B's own norm applies its affine after the stitch
    return scale, beta, gamma, beta


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the wanted layer is recorded."""


def read_layer(model: LensModel, layer: int, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Model A's ``hidden_states[layer]``, shape (batch, seq, dA), without running the blocks after it."""
    base = model.base_model
    extra = {"use_cache": False} if model.is_decoder else {}
    if layer == model.n_layers:
        return base(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
    captured: dict[str, torch.Tensor] = {}

    def record(module, args, kwargs):
        captured["states"] = args[0] if args else kwargs["hidden_states"]
        raise _Stop

    handle = blocks_of(model, "model_a")[layer].register_forward_pre_hook(record, with_kwargs=True)
    try:
        base(input_ids=input_ids, attention_mask=attention_mask, **extra)
    except _Stop:
        pass
    finally:
        handle.remove()
    if "states" not in captured:
        raise LensError(f"model_a: {model.name!r} never ran block {layer + 1}, so its layer {layer} was not read.")
    return captured["states"]


@contextmanager
def written_layer(model: LensModel, layer: int, position: str) -> Iterator[dict[str, torch.Tensor]]:
    """Within the context, model B's layer ``layer`` is replaced by ``slot["states"]`` (batch, seq, dB)."""
    slot: dict[str, torch.Tensor] = {}

    def replacement(original: torch.Tensor) -> torch.Tensor:
        states = slot["states"]
        if states.shape != original.shape:
            raise LensError.bad_argument("stitch output", states, f"shape {tuple(original.shape)}")
        return states.to(original.dtype)

    def replace_input(module, args, kwargs):
        if args:
            return (replacement(args[0]), *args[1:]), kwargs
        key = "hidden_states" if "hidden_states" in kwargs else "input"
        return args, {**kwargs, key: replacement(kwargs[key])}

    def replace_output(module, args, output):
        if isinstance(output, tuple):
            return (replacement(output[0]), *output[1:])
        return replacement(output)

    blocks = blocks_of(model, "model_b")
    norm = output_norm(model, layer)
    if position == "pre_norm" and norm is not None:
        handle = norm.register_forward_pre_hook(replace_input, with_kwargs=True)
    elif layer < model.n_layers:
        handle = blocks[layer].register_forward_pre_hook(replace_input, with_kwargs=True)
    else:  # layer L: the output of a pre-LN decoder's final norm, else of the last block
        final = norm if model.adapter.name in FINAL_NORMS and norm is not None else blocks[-1]
        handle = final.register_forward_hook(replace_output)
    try:
        yield slot
    finally:
        handle.remove()


@contextmanager
def scored_tokens(model: LensModel, keep: torch.Tensor) -> Iterator[None]:
    """Within the context, the base model hands its head only the kept tokens' states, (1, n_kept, d).

    For a token-wise head (masked-LM) this projects onto the vocabulary only the ~15% of
    tokens that are scored, instead of every token.
    """

    def gather(module, args, output):
        if isinstance(output, tuple):
            return (output[0][keep].unsqueeze(0), *output[1:])
        output.last_hidden_state = output.last_hidden_state[keep].unsqueeze(0)
        return output

    handle = model.base_model.register_forward_hook(gather)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def frozen(*models: LensModel) -> Iterator[None]:
    """Eval mode and no parameter gradients for the call; both restored on exit, module by
    module (a model may be partly in train mode)."""
    modules = {id(m.model): m.model for m in models}
    training = [(sub, sub.training) for module in modules.values() for sub in module.modules()]
    grads = [p for module in modules.values() for p in module.parameters() if p.requires_grad]
    try:
        for module in modules.values():
            module.eval()
        for parameter in grads:
            parameter.requires_grad_(False)
        yield
    finally:
        for parameter in grads:
            parameter.requires_grad_(True)
        for sub, mode in training:
            sub.training = mode


@contextmanager
def pad_token_in_config(model: torch.nn.Module, pad_id: int) -> Iterator[None]:
    """``config.pad_token_id`` set to the pad id the batches use, for the call, where it is unset.

    Sequence-classification heads of decoders (GPT-2, GPT-NeoX) find each text's last
    token from it and refuse batches of more than one text without it; lensnb pads
    with the end-of-text token there (:attr:`LensModel.padding_id`)."""
    config = model.config
    unset = getattr(config, "pad_token_id", None) is None
    if unset:
        config.pad_token_id = pad_id
    try:
        yield
    finally:
        if unset:
            config.pad_token_id = None


def _submodule(root: torch.nn.Module, path: str) -> torch.nn.Module | None:
    for part in path.split("."):
        root = getattr(root, part, None)
        if not isinstance(root, torch.nn.Module):
            return None
    return root


# ----------------------------------------------------------------------------- data and loss


def head_loss(model_b: LensModel, loss: str) -> str:
    """The loss B's head gives: ``loss`` checked against the head, or found from it for ``"auto"``."""
    name = type(model_b.model).__name__
    found = next((kind for suffix, kind in _HEADS.items() if name.endswith(suffix)), None)
    if found is None and name.endswith("ForSequenceClassification"):
        found = "classification"
    if loss == "auto":
        if found is None:
            raise LensError.bad_argument(
                "model_b", f"{model_b.name!r} loaded as {name}", "a model with a head whose loss is B's own loss",
                "Load it with lensnb.load_model(name, task='masked-lm') (encoders), task='causal-lm' (decoders) or "
                "task='sequence-classification' and pass labels=, or name the loss with loss=.",
            )  # fmt: skip
        return found
    if loss not in LOSSES:
        raise LensError.bad_argument("loss", loss, f"'auto' or one of {LOSSES}")
    if found is not None and found != loss:
        raise LensError.bad_argument("loss", loss, f"{found!r}, the loss of {model_b.name!r}'s head ({name})")
    return loss


@dataclass
class Encoded:
    """Token ids of some texts, as both models see them."""

    ids: list[np.ndarray]  # each (length,) int64
    special: list[np.ndarray]  # each (length,) bool: special tokens (never masked)
    labels: np.ndarray | None  # (n_texts,) int64 for classification

    def __len__(self) -> int:
        return len(self.ids)


def encode(model_a: LensModel, model_b: LensModel, texts: list[str], labels, max_length: int, argument: str) -> Encoded:
    """Tokenise with B's tokenizer and check that A's tokenizer gives the same ids."""
    limits = [max_length] + [m.max_length for m in (model_a, model_b) if m.max_length]
    kwargs = dict(truncation=True, max_length=min(limits), return_special_tokens_mask=True)
    encoded = model_b.tokenizer(texts, **kwargs)
    if model_a.tokenizer is not model_b.tokenizer:
        other = model_a.tokenizer(texts, **kwargs)["input_ids"]
        for k, (ids_b, ids_a) in enumerate(zip(encoded["input_ids"], other)):
            if list(ids_b) != list(ids_a):
                raise LensError.bad_argument(
                    "model_a, model_b", f"{model_a.name!r} and {model_b.name!r}",
                    "two models with the same tokenizer (the same token ids for every text)",
                    f"{argument}[{k}] {texts[k][:60]!r} tokenizes to {list(ids_a)[:12]} in A and {list(ids_b)[:12]} in B.",
                )  # fmt: skip
    ids = [np.asarray(row, dtype=np.int64) for row in encoded["input_ids"]]
    # special by id, as Hugging Face's masked-LM collator marks them (get_special_tokens_mask with
    # already_has_special_tokens): also those written in the text ("[CLS]" typed in it), and [UNK]
    special_ids = np.asarray(sorted(set(model_b.tokenizer.all_special_ids)), dtype=np.int64)
    special = [
        np.asarray(row, dtype=bool) | np.isin(i, special_ids) for row, i in zip(encoded["special_tokens_mask"], ids)
    ]
    return Encoded(ids, special, labels)


@dataclass
class Batch:
    """What one forward pass gets: input ids and mask (batch, seq) and the targets."""

    input_ids: torch.Tensor  # (batch, seq) int64, masked for masked-LM
    attention_mask: torch.Tensor  # (batch, seq) int64
    targets: torch.Tensor  # (batch, seq) with IGNORE where not scored, or (batch,) class labels
    plain_ids: torch.Tensor  # (batch, seq) the ids before masking


def make_batch(
    data: Encoded, rows: Sequence[int], kind: str, pad_id: int, mask_id: int | None, vocab_size: int,
    mask_probability: float, rng: np.random.Generator, device: torch.device,
) -> Batch:  # fmt: skip
    """Right-padded batch of ``rows``; masked-LM masks come from ``rng`` (BERT's 80/10/10 recipe)."""
    width = max(len(data.ids[r]) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    targets = np.full((len(rows), width), IGNORE, dtype=np.int64)
    for b, r in enumerate(rows):
        n = len(data.ids[r])
        ids[b, :n], mask[b, :n] = data.ids[r], 1
        if kind == "causal-lm":
            targets[b, : n - 1] = data.ids[r][1:]
    plain = ids.copy()
    if kind == "masked-lm":
        for b, r in enumerate(rows):
            candidates = np.flatnonzero(~data.special[r])
            if candidates.size == 0:
                continue
            chosen = candidates[rng.random(candidates.size) < mask_probability]
            if chosen.size == 0:  # every text scores at least one token
                chosen = candidates[rng.integers(candidates.size, size=1)]
            targets[b, chosen] = ids[b, chosen]
            draw = rng.random(chosen.size)
            ids[b, chosen[draw < 0.8]] = mask_id
            swap = chosen[(draw >= 0.8) & (draw < 0.9)]
            ids[b, swap] = rng.integers(vocab_size, size=swap.size)
    if kind == "classification":
        targets = data.labels[np.asarray(rows)]
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return Batch(as_tensor(ids), as_tensor(mask), as_tensor(targets), as_tensor(plain))


def loss_terms(kind: str, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """Summed cross-entropy, number of scored items and number predicted right."""
    logits = logits.float()
    if kind != "classification":
        keep = targets != IGNORE
        logits, targets = logits[keep], targets[keep]
    total = F.cross_entropy(logits, targets, reduction="sum")
    correct = int((logits.argmax(-1) == targets).sum())
    return total, int(targets.numel()), correct


# ----------------------------------------------------------------------------- least squares


class LeastSquares:
    """Streaming least squares of Y (n, dB) on Z = [X, 1] (n, dA + 1) by a running QR (TSQR).

    Only the (dA + 1 + dB)-column triangular factor is kept, so memory does not grow with
    n, and the normal equations are never formed. :meth:`solve` scales the columns of Z to
    unit norm and drops singular values below ``rcond`` times the largest (a truncated-SVD,
    minimum-norm solution): hidden states are float32, and every LayerNorm output lies on a
    hyperplane (``x . (1 / gamma)`` is the same for every token), a direction that only
    rounding noise (~1e-7 relative) spans and that a machine-precision cutoff would fit with
    huge weights.
    """

    def __init__(self) -> None:
        self.r: np.ndarray | None = None
        self.pending: list[np.ndarray] = []
        self.dim_a = 0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add rows: ``x`` (n, dA), ``y`` (n, dB) (factorised a few thousand rows at a time)."""
        self.dim_a = x.shape[1]
        self.pending.append(np.hstack([x, np.ones((x.shape[0], 1)), y]).astype(np.float64, copy=False))
        if sum(len(block) for block in self.pending) >= max(4096, 2 * self.pending[0].shape[1]):
            self._factorise()

    def _factorise(self) -> None:
        if self.pending:
            blocks = self.pending if self.r is None else [self.r, *self.pending]
            self.r, self.pending = np.linalg.qr(np.vstack(blocks), mode="r"), []

    def solve(self, rcond: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` of shapes (dB, dA) and (dB,) minimising ||X W^T + b - Y||."""
        self._factorise()
        columns = self.dim_a + 1
        design = self.r[:, :columns]
        norms = np.linalg.norm(design, axis=0)  # the column norms of Z (R = Q^T Z)
        norms[norms == 0] = 1.0
        theta = np.linalg.lstsq(design / norms, self.r[:, columns:], rcond=rcond)[0] / norms[:, None]  # (dA + 1, dB)
        return theta[: self.dim_a].T.copy(), theta[self.dim_a].copy()


# ----------------------------------------------------------------------------- checkpoints


class Checkpoint:
    """A folder holding one stitch's training state, as tensors and JSON: nothing is unpickled.

    ``run.json`` names the run (models, layers, settings, a digest of the texts; not the
    number of steps, so a run can be extended). ``state.safetensors`` holds the stitch's
    parameters, the optimiser's per-parameter tensors (Adam's moments, SGD's momentum),
    the training curve and the initial scores as tensors, and in its header (JSON) the
    step, the optimiser's parameter groups and its non-tensor state. It is written to a
    temporary name and renamed, so a reader never sees half a file.
    """

    STATE = "state.safetensors"

    def __init__(self, folder: str | os.PathLike, identity: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.identity = identity

    def load(self) -> dict[str, Any] | None:
        """The saved state (keys ``stitch``, ``optimizer``, ``step``, ``curve``, ``initial``), or None."""
        from safetensors import SafetensorError
        from safetensors.torch import safe_open

        state_file, run_file = self.folder / self.STATE, self.folder / "run.json"
        if not state_file.is_file():
            return None
        saved = json.loads(run_file.read_text()) if run_file.is_file() else {}
        differ = sorted(k for k in set(saved) | set(self.identity) if saved.get(k) != self.identity.get(k))
        if differ:
            raise LensError.bad_argument(
                "checkpoint", str(self.folder), "a folder from the same run, or an empty one",
                f"Its run differs in {differ} (saved {[saved.get(k) for k in differ]}, now "
                f"{[self.identity.get(k) for k in differ]}).",
            )  # fmt: skip
        try:
            with safe_open(str(state_file), framework="pt", device="cpu") as handle:
                header = json.loads((handle.metadata() or {})["lensnb"])
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - not a dict
            return _state_from_parts(header, tensors)
        except (OSError, KeyError, TypeError, ValueError, AttributeError, SafetensorError) as error:
            raise LensError.bad_argument(
                "checkpoint", str(state_file), "a stitch checkpoint written by lensnb",
                f"It cannot be read ({type(error).__name__}: {error}); delete it or use a new folder.",
            ) from None  # fmt: skip

    def save(self, stitch: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, curve, initial) -> None:
        from safetensors.torch import save_file

        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "run.json").write_text(json.dumps(self.identity, indent=1, sort_keys=True))
        tensors = {f"stitch.{name}": value.detach().cpu().contiguous() for name, value in stitch.state_dict().items()}
        tensors["curve"] = torch.tensor(list(curve), dtype=torch.float64)
        tensors["initial"] = torch.tensor(initial, dtype=torch.float64)
        optimizer_state = optimizer.state_dict()
        plain: dict[str, dict[str, Any]] = {}
        for index, values in optimizer_state["state"].items():
            for key, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
                else:
                    plain.setdefault(str(index), {})[key] = value
        header = {"step": int(step), "param_groups": optimizer_state["param_groups"], "optimizer_plain_state": plain}
        temporary = self.folder / f"{self.STATE}.tmp"
        save_file(tensors, str(temporary), metadata={"lensnb": json.dumps(header)})
        os.replace(temporary, self.folder / self.STATE)


def _state_from_parts(header: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The state :meth:`Checkpoint.save` wrote, from its JSON header and its tensors."""
    optimizer_state: dict[int, dict[str, Any]] = {}
    for key, values in header["optimizer_plain_state"].items():
        optimizer_state.setdefault(int(key), {}).update(values)
    stitch = {}
    for name, tensor in tensors.items():
        part, _, rest = name.partition(".")
        if part == "stitch":
            stitch[rest] = tensor
        elif part == "optimizer":
            index, _, key = rest.partition(".")
            optimizer_state.setdefault(int(index), {})[key] = tensor
    return {
        "stitch": stitch,
        "optimizer": {"state": optimizer_state, "param_groups": header["param_groups"]},
        "step": int(header["step"]),
        "curve": tensors["curve"],
        "initial": tensors["initial"],
    }


def weights_digest(module: torch.nn.Module) -> str:
    """A digest of every value of a module's parameters and buffers (A's base model: its head
    is unused), so that a model edited in place is not taken for the one a checkpoint was
    trained with (:func:`lensnb.models.weights_fingerprint`)."""
    from lensnb.models import weights_fingerprint

    return weights_fingerprint(module)


def digest(*parts: Any) -> str:
    """A short digest of texts and labels, so that a checkpoint is only resumed on the same data."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(json.dumps(part, default=lambda v: np.asarray(v).tolist()).encode())
    return hasher.hexdigest()[:16]


# ----------------------------------------------------------------------------- the task and the loop


def _has_scored_token(ids: np.ndarray, special: np.ndarray, kind: str) -> bool:
    """Whether B's loss scores a token of this text: a next token (causal-LM), a maskable
    token (masked-LM); a classification scores every text."""
    if kind == "causal-lm":
        return len(ids) >= 2
    if kind == "masked-lm":
        return bool((~special).any())
    return True


class StitchTask:
    """One (A, B, texts) setting shared by every stitch between the two models.

    Holds the encoded training and held-out texts, makes the batches (the order of
    step t and its masked-LM masks come from ``(seed, t)`` alone, so that a resumed run
    sees exactly the batches an uninterrupted one would) and caches B's own score.
    """

    def __init__(
        self, model_a: LensModel, model_b: LensModel, train: Encoded, held_out: Encoded, kind: str,
        batch_size: int, mask_probability: float, seed: int,
    ) -> None:  # fmt: skip
        self.model_a, self.model_b, self.train, self.held_out, self.kind = model_a, model_b, train, held_out, kind
        self.batch_size, self.mask_probability, self.seed = batch_size, mask_probability, seed
        self.pad_id = model_b.padding_id
        self.mask_id = getattr(model_b.tokenizer, "mask_token_id", None)
        if kind == "masked-lm" and self.mask_id is None:
            raise LensError.bad_argument(
                "model_b", model_b.name, "a tokenizer with a mask token for the masked-LM loss"
            )
        for argument, data, why in (
            ("texts", train, "training would not move the stitch"),
            ("eval_texts", held_out, "there would be no held-out loss"),
        ):
            if not any(_has_scored_token(ids, special, kind) for ids, special in zip(data.ids, data.special)):
                expected = (
                    "texts of two tokens or more" if kind == "causal-lm" else "texts with a token that is not special"
                )
                raise LensError.bad_argument(
                    argument, "texts with no token to score", expected, f"B's {kind} loss scores none of them, so {why}."
                )  # fmt: skip
        self.vocab_size = int(getattr(model_b.model.config, "vocab_size", None) or len(model_b.tokenizer))
        self.device = model_b.device
        self._held_out_batches: list[Batch] | None = None
        self._own: tuple[float, float] | None = None

    def _batch(self, data: Encoded, rows, rng: np.random.Generator) -> Batch:
        return make_batch(
            data, rows, self.kind, self.pad_id, self.mask_id, self.vocab_size, self.mask_probability, rng, self.device
        )

    def train_batch(self, step: int) -> Batch:
        """The batch of training step ``step`` (0-based)."""
        n = len(self.train)
        per_epoch = -(-n // self.batch_size)
        epoch, index = divmod(step, per_epoch)
        order = np.random.default_rng([self.seed, 1, epoch]).permutation(n)
        rows = order[index * self.batch_size : (index + 1) * self.batch_size]
        return self._batch(self.train, rows, np.random.default_rng([self.seed, 2, step]))

    def held_out_batches(self) -> list[Batch]:
        """The held-out batches, the same (masks included) for B alone and for every stitch."""
        if self._held_out_batches is None:
            n = len(self.held_out)
            starts = range(0, n, self.batch_size)
            self._held_out_batches = [
                self._batch(self.held_out, np.arange(s, min(s + self.batch_size, n)), np.random.default_rng([self.seed, 3, k]))
                for k, s in enumerate(starts)
            ]  # fmt: skip
        return self._held_out_batches

    def scored(self, batch: Batch, stitch=None, layer_a: int = 0, layer_b: int = 0, position: str = "residual"):
        """``(logits, targets)`` of B (with its layer ``layer_b`` replaced by the stitch when one is given).

        Masked-LM: (n_masked, V) and (n_masked,), the head run on the masked tokens only;
        causal-LM: (batch, seq, V) and (batch, seq); classification: (batch, C) and (batch,).
        """
        extra = {"use_cache": False} if self.model_b.is_decoder else {}
        masked = self.kind == "masked-lm"
        keep = batch.targets != IGNORE if masked else None

        def run() -> torch.Tensor:
            padded = (
                pad_token_in_config(self.model_b.model, self.pad_id) if self.kind == "classification" else nullcontext()
            )
            with scored_tokens(self.model_b, keep) if masked else nullcontext(), padded:
                logits = self.model_b.model(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask, **extra
                ).logits
            return (logits[0], batch.targets[keep]) if masked else (logits, batch.targets)

        if stitch is None:
            return run()
        device_a = self.model_a.device
        with torch.no_grad():
            states = read_layer(self.model_a, layer_a, batch.input_ids.to(device_a), batch.attention_mask.to(device_a))
        with written_layer(self.model_b, layer_b, position) as slot:
            slot["states"] = stitch(states.to(self.device))
            return run()

    def score(self, stitch=None, layer_a: int = 0, layer_b: int = 0, position: str = "residual") -> tuple[float, float]:
        """Mean held-out loss and accuracy (per scored token, or per text for classification)."""
        total, count, correct = 0.0, 0, 0
        with torch.no_grad():
            for batch in self.held_out_batches():
                summed, n, right = loss_terms(self.kind, *self.scored(batch, stitch, layer_a, layer_b, position))
                total, count, correct = total + float(summed), count + n, correct + right
        return total / count, correct / count  # count > 0: StitchTask checked that the held-out texts score a token

    def own(self) -> tuple[float, float]:
        """B's own held-out loss and accuracy (computed once)."""
        if self._own is None:
            self._own = self.score()
        return self._own

    def training_loss(self, stitch, layer_a: int, layer_b: int, position: str, batch: Batch) -> torch.Tensor:
        """Mean loss of the stitched model on a training batch (differentiable in the stitch)."""
        summed, count, _ = loss_terms(self.kind, *self.scored(batch, stitch, layer_a, layer_b, position))
        return summed / max(count, 1)

    def least_squares(
        self, layer_a: int, layer_b: int, scale: torch.Tensor, shift: torch.Tensor, dead: torch.Tensor | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)``, (dB, dA) and (dB,), fitting A's layer-i states to ``(h_B - shift) / scale``
        on the training texts' tokens, in one pass over them.

        The ``dead`` units (bool, (dB,); see :func:`dead_units`) are fitted instead to the
        normalised values ``z_hat`` (before the gain and bias) of the norm whose output is
        B's layer j, read at that norm's input: ``(h_B - shift) / scale`` has lost them.
        """
        dead = None if dead is None or not bool(dead.any()) else dead
        captured: dict[str, torch.Tensor] = {}
        handle = plain = None
        if dead is not None:
            norm = output_norm(self.model_b, layer_b)
            plain = copy.deepcopy(norm)  # the same normalisation, without the affine
            with torch.no_grad():
                plain.weight.fill_(1.0)
                if isinstance(getattr(plain, "bias", None), torch.Tensor):
                    plain.bias.zero_()
            handle = norm.register_forward_hook(lambda module, args, output: captured.__setitem__("input", args[0]))
        fit = LeastSquares()
        try:
            for a, b, keep in self._training_states(layer_a, layer_b):  # B's pass fills `captured`
                target = (b - shift) / scale
                if dead is not None:
                    with torch.no_grad():
                        target[..., dead] = plain(captured.pop("input")).detach().cpu().double()[..., dead]
                fit.add(a[keep].numpy(), target[keep].numpy())
        finally:
            if handle is not None:
                handle.remove()
        return fit.solve()

    def _training_states(self, layer_a: int, layer_b: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """Per batch of the training texts, unmasked: A's layer-i and B's layer-j states as float64
        on the CPU, (batch, seq, dA) and (batch, seq, dB), and which positions are tokens (batch, seq)."""
        for start in range(0, len(self.train), self.batch_size):
            rows = np.arange(start, min(start + self.batch_size, len(self.train)))
            batch = self._batch(self.train, rows, np.random.default_rng(0))
            ids, mask = batch.plain_ids, batch.attention_mask
            with torch.no_grad():
                a = read_layer(self.model_a, layer_a, ids.to(self.model_a.device), mask.to(self.model_a.device))
                b = read_layer(self.model_b, layer_b, ids, mask)
            yield a.detach().cpu().double(), b.detach().cpu().double(), mask.bool().cpu()


def run_training(
    task: StitchTask, stitch, optimizer, where: tuple[int, int, str], start: int, steps: int, curve: list[float],
    checkpoint: Checkpoint | None, every: int, initial: tuple[float, float], progress: bool,
) -> None:  # fmt: skip
    """Train ``stitch`` from step ``start`` to ``steps``, appending to ``curve`` and saving every ``every`` steps.

    On KeyboardInterrupt the state of the last completed step is saved (unless the
    interrupt came inside an optimiser step) before the interrupt goes on.
    """
    from tqdm.auto import tqdm

    layer_a, layer_b, position = where
    step, saved, consistent = start, start, True
    save = lambda: checkpoint.save(stitch, optimizer, step, curve, initial)  # noqa: E731
    with tqdm(total=steps, initial=start, desc=f"stitch {layer_a}->{layer_b}", unit="step", disable=not progress, leave=False) as bar:  # fmt: skip
        try:
            while step < steps:
                batch = task.train_batch(step)
                optimizer.zero_grad(set_to_none=True)
                loss = task.training_loss(stitch, layer_a, layer_b, position, batch)
                loss.backward()
                consistent = False
                optimizer.step()
                step += 1
                curve.append(loss.item())
                consistent = True
                bar.update(1)
                bar.set_postfix(loss=f"{curve[-1]:.4g}", refresh=False)
                if checkpoint is not None and (step % every == 0 or step == steps):
                    save()
                    saved = step
        except KeyboardInterrupt:
            if checkpoint is not None and consistent and step > saved:
                save()
            raise
