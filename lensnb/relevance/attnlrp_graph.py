"""The backward graph AttnLRP needs, made from forward hooks on a stock model.

AttnLRP's relevance is input x gradient over a backward graph changed in four places
(algorithms guide 1.5). Each change is a forward hook on a module instance, removed
when the ``with`` block ends (also on error); no class and no function of
``transformers`` is touched:

- LayerNorm / RMSNorm: the hook returns the same values recomputed as
  ``(x - mean) / stopgrad(std) * w + b`` (RMSNorm: ``x / stopgrad(rms) * w``), so only
  the division is detached. Each recomputation is checked against the module's own
  output, so a norm of an unknown form is refused, not silently mis-handled.
- Elementwise nonlinearities (GELU, SiLU, tanh, ReLU modules): identity rule, the
  output is ``f(x)`` with gradient ``f(x) / x`` (x stabilised as ``x + 1e-10 * sign(x)``
  with sign(0) = 1, as LXT does, instead of the guide's ``x + 1e-10``: the two differ
  only within 1e-10 of zero, where the guide's form can divide by ~0).
- Bilinear products (uniform rule): Q K^T and A V happen inside ``transformers``'
  attention function, which has no module to hook. Halving the gradient that leaves
  each factor is linear, and the query, key and value projections feed only those
  products (through reshapes, scaling, RoPE and the softmax's linear Jacobian), so it
  is applied exactly as a gradient scale on the projections' outputs: 1/4 on queries
  and keys (half from Q K^T, half from A V passed back through the softmax) and 1/2 on
  values. A gated MLP's product ``act(gate(x)) * up(x)`` (Llama) gets 1/2 on each factor,
  as the AttnLRP reference does.
- Softmax, Linear (with bias) and residual adds keep their ordinary gradients.

Families are recognised by structure (:mod:`lensnb.adapters`), so a model can share a
family's blocks but not its projections' names or layout (Phi-3 matches "llama" but
has a fused ``qkv_proj`` and ``gate_up_proj``; GPT-J matches "gpt2" but has
``q_proj``/``k_proj``/``v_proj``, no ``c_attn``; GPT-BigCode's multi-query ``c_attn``
is not three equal parts). Such a model is refused with a :class:`LensError` naming
the block and the missing modules, never run without the uniform rule: every path of
:data:`GRADIENT_SCALES` must be in every block, except those of
:data:`OPTIONAL_SCALES` (an MLP that is not gated has no product to scale), and a fused
projection must be exactly three times the hidden width.

References
----------
Achtibat et al. 2024, "AttnLRP: Attention-Aware Layer-Wise Relevance Propagation for
Transformers", ICML, Sec. 3.3 (Eqs. 9-11, uniform rule; LN rule; identity rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from lensnb.errors import LensError

__all__ = ["GRADIENT_SCALES", "OPTIONAL_SCALES", "attnlrp_graph"]

#: Per family: module path in a block -> gradient scale of its output (a float, or
#: "qkv" for a fused projection laid out [q | k | v], "qkv_per_head" for [q k v] per head).
GRADIENT_SCALES: dict[str, dict[str, Any]] = {
    "bert": {"attention.self.query": 0.25, "attention.self.key": 0.25, "attention.self.value": 0.5},
    "gpt2": {"attn.c_attn": "qkv"},
    "gpt_neox": {"attention.query_key_value": "qkv_per_head"},
    "llama": {
        "self_attn.q_proj": 0.25,
        "self_attn.k_proj": 0.25,
        "self_attn.v_proj": 0.5,
        "mlp.gate_proj": 0.5,
        "mlp.up_proj": 0.5,
    },  # fmt: skip
}

#: Per family: the paths of GRADIENT_SCALES a block may lack, as one group (all present or
#: all absent). A "llama"-family block without ``gate_proj``/``up_proj`` has an MLP that is
#: not gated (Phi-1's ``fc1``/``fc2``, StarCoder2's ``c_fc``/``c_proj``), so there is no
#: product to scale. An MLP that has a parameter named with "gate" all the same (a fused
#: ``gate_up_proj``, a mixture-of-experts router) is refused: its product is not covered.
OPTIONAL_SCALES: dict[str, frozenset[str]] = {"llama": frozenset({"mlp.gate_proj", "mlp.up_proj"})}

_ACTIVATIONS = (torch.nn.GELU, torch.nn.SiLU, torch.nn.Tanh, torch.nn.ReLU, torch.nn.Mish)


@dataclass(frozen=True)
class _Rules:
    uniform_rule: bool
    norm_stop_gradient: bool
    identity_rule: bool


def _is_activation(module: torch.nn.Module) -> bool:
    return isinstance(module, _ACTIVATIONS) or type(module).__module__ == "transformers.activations"


def _is_rms_norm(module: torch.nn.Module) -> bool:
    return type(module).__name__.endswith("RMSNorm") and isinstance(getattr(module, "weight", None), torch.Tensor)


def _stabilised(x: torch.Tensor, epsilon: float = 1e-10) -> torch.Tensor:
    return x + epsilon * torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def _identity_hook(module, args, output):
    x = args[0]
    if not isinstance(output, torch.Tensor) or output.shape != x.shape:
        return None
    return output.detach() + (x - x.detach()) * (output / _stabilised(x)).detach()


def _check_same(recomputed: torch.Tensor, output: torch.Tensor, module: torch.nn.Module) -> None:
    tolerance = 1e-3 if output.dtype in (torch.float16, torch.bfloat16) else 1e-4
    scale = float(output.detach().abs().max()) + 1.0
    if float((recomputed.detach() - output.detach()).abs().max()) > tolerance * scale:
        raise LensError(
            f"model: AttnLRP's LayerNorm rule recomputes {type(module).__name__} as (x - mean) / std * w + b "
            "(or x / rms * w), and this module computes something else; it cannot be explained with AttnLRP."
        )


def _layer_norm_hook(module: torch.nn.LayerNorm, args, output):
    x = args[0]
    if len(module.normalized_shape) != 1:
        raise LensError(f"model: AttnLRP handles LayerNorm over the last axis only, not {module.normalized_shape}")
    mean = x.mean(-1, keepdim=True)
    centred = x - mean
    std = torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + module.eps)
    y = centred / std.detach()
    if module.weight is not None:
        y = y * module.weight
    if module.bias is not None:
        y = y + module.bias
    y = y.to(output.dtype)
    _check_same(y, output, module)
    return y


def _rms_norm_hook(module, args, output):
    x = args[0]
    epsilon = getattr(module, "variance_epsilon", getattr(module, "eps", 1e-6))
    work = x if x.dtype == torch.float64 else x.to(torch.float32)
    rms = torch.rsqrt(work.pow(2).mean(-1, keepdim=True) + epsilon)
    y = module.weight * (work * rms.detach()).to(x.dtype)
    _check_same(y, output, module)
    return y.to(output.dtype)


def _scale_vector(kind: Any, width: int, n_heads: int, like: torch.Tensor) -> Any:
    if isinstance(kind, float):
        return kind
    third = width // 3
    parts = torch.tensor([0.25, 0.25, 0.5], dtype=like.dtype, device=like.device)
    if kind == "qkv":
        return parts.repeat_interleave(third)
    head = third // n_heads
    return parts.repeat_interleave(head).repeat(n_heads)


def _gradient_scale_hook(kind: Any, n_heads: int):
    def hook(module, args, output):
        if isinstance(output, torch.Tensor) and output.requires_grad:
            scale = _scale_vector(kind, output.shape[-1], n_heads, output)
            output.register_hook(lambda grad: grad * scale)
        return None

    return hook


def _projections(block: torch.nn.Module) -> list[str]:
    """The paths of a block's Linear (and GPT-2 Conv1D) modules, to show what it has instead."""
    return [name for name, module in block.named_modules() if type(module).__name__ in ("Linear", "Conv1D")]


def _out_features(module: torch.nn.Module) -> int | None:
    """The output width of a Linear (``out_features``) or GPT-2 Conv1D (``nf``), if known."""
    width = getattr(module, "out_features", None)
    if width is None:
        width = getattr(module, "nf", None)
    return int(width) if isinstance(width, int) else None


def _block_problems(block: torch.nn.Module, family: str, hidden_size: int | None) -> list[str]:
    """What in ``block`` keeps the uniform rule from being placed as ``family``'s (empty: nothing)."""
    scales = GRADIENT_SCALES[family]
    optional = OPTIONAL_SCALES.get(family, frozenset())
    present = {path: _submodule(block, path) for path in scales}
    missing = [path for path, module in present.items() if module is None and path not in optional]
    absent_optional = sorted(path for path in optional if present[path] is None)
    problems = []
    if missing:
        problems.append(f"no {', '.join(missing)}")
    if absent_optional and len(absent_optional) < len(optional):
        problems.append(f"no {', '.join(absent_optional)} (the gated MLP's factors come as a pair)")
    elif absent_optional:
        prefix = absent_optional[0].rsplit(".", 1)[0]
        mlp = _submodule(block, prefix)
        gated = [] if mlp is None else [f"{prefix}.{name}" for name, _ in mlp.named_parameters() if "gate" in name]
        if gated:
            problems.append(f"no {', '.join(absent_optional)} but a gate of another form ({', '.join(gated)})")
    for path, kind in scales.items():
        width = None if present[path] is None else _out_features(present[path])
        if isinstance(kind, str) and hidden_size and width is not None and width != 3 * hidden_size:
            problems.append(
                f"a {path} {width} wide, not 3 x the hidden width {hidden_size} ([q | k | v] of equal widths)"
            )
    return problems


def _submodule(module: torch.nn.Module, path: str) -> torch.nn.Module | None:
    try:
        return module.get_submodule(path)
    except AttributeError:
        return None


@contextmanager
def attnlrp_graph(
    lens_model: Any,
    model: torch.nn.Module,
    *,
    uniform_rule: bool = True,
    norm_stop_gradient: bool = True,
    identity_rule: bool = True,
) -> Iterator[None]:
    """Hooks that turn ``model``'s backward pass into AttnLRP's, for the ``with`` block.

    Parameters
    ----------
    lens_model : LensModel
        For the family (where the attention projections are).
    model : Module
        The model run (the user's, or its float64 copy).
    uniform_rule, norm_stop_gradient, identity_rule : bool
        Each of AttnLRP's changes can be switched off (to see what it does; the
        tests use this to show each one matters).

    Raises
    ------
    LensError
        With ``uniform_rule``: the model is of no family of :data:`GRADIENT_SCALES`, or
        it matched a family by structure but a block lacks one of the family's
        projections (other than :data:`OPTIONAL_SCALES`), has a gate of another form,
        or has a fused projection that is not [q | k | v] of equal widths.
    """
    adapter = lens_model.adapter
    if uniform_rule and (adapter is None or adapter.name not in GRADIENT_SCALES):
        family = adapter.name if adapter is not None else "unknown"
        raise LensError.bad_argument(
            "model", lens_model.name, f"a model of the families {sorted(GRADIENT_SCALES)} for AttnLRP",
            f"its family is {family}: lensnb does not know where its attention projections are.",
        )  # fmt: skip
    config = model.config
    n_heads = int(getattr(config, "num_attention_heads", None) or getattr(config, "n_head", 1))
    hidden_size = getattr(config, "hidden_size", None)
    blocks = adapter.block_list(getattr(model, "base_model", model)) if uniform_rule else None
    # the block list of the model actually run (a float64 copy has its own modules)
    for index, block in enumerate(blocks or ()):
        problems = _block_problems(block, adapter.name, hidden_size if isinstance(hidden_size, int) else None)
        if problems:
            paths = ", ".join(GRADIENT_SCALES[adapter.name])
            expected = f"a model whose blocks have the {adapter.name} family's projections ({paths}) for AttnLRP"
            raise LensError.bad_argument(
                "model", lens_model.name, expected,
                f"Block {index} ({type(block).__name__}) has {'; '.join(problems)}. The model was matched to the "
                f"{adapter.name} family by its structure, but its projections are {', '.join(_projections(block))}: "
                "lensnb does not know where its query, key and value (or gated MLP factors) are, so AttnLRP's "
                "uniform rule cannot be placed. Use another method (InputXGradient, IntegratedGradients, "
                "AttentionRollout), or AttnLRP(..., uniform_rule=False) for the LayerNorm and identity rules "
                "alone (not full AttnLRP).",
            )  # fmt: skip
    handles = []
    try:
        for module in model.modules():
            if norm_stop_gradient and isinstance(module, torch.nn.LayerNorm):
                handles.append(module.register_forward_hook(_layer_norm_hook))
            elif norm_stop_gradient and _is_rms_norm(module):
                handles.append(module.register_forward_hook(_rms_norm_hook))
            elif identity_rule and _is_activation(module):
                handles.append(module.register_forward_hook(_identity_hook))
        for block in blocks or ():
            for path, kind in GRADIENT_SCALES[adapter.name].items():
                module = _submodule(block, path)
                if module is not None:  # checked above: only an ungated MLP's pair is absent
                    handles.append(module.register_forward_hook(_gradient_scale_hook(kind, n_heads)))
        yield
    finally:
        for handle in handles:
            handle.remove()
