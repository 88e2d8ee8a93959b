"""Model families: where each family keeps its blocks and the sub-layer outputs.

Sites follow TransformerLens' vocabulary. With layers numbered as Hugging Face's
``hidden_states`` (0 = embeddings, l = output of block l):

- ``resid_post`` (layers 0..L): ``hidden_states[l]``, exactly as the model returns it.
  For pre-LayerNorm decoders (GPT-2, GPT-NeoX, Llama) Hugging Face applies the final
  norm to the last entry, so layer L includes it; the other layers do not.
- ``attn_out`` (layers 1..L): the attention sub-layer's output projection, before it
  is added to the residual stream (dropout is the identity in eval mode).
- ``mlp_out`` (layers 1..L): the feed-forward sub-layer's output, before the add.
- ``resid_mid`` (layers 1..L): the residual stream between attention and MLP. For
  post-LN encoders it is the attention block's LayerNorm output (what the MLP reads);
  for pre-LN decoders it is ``hidden_states[l-1] + attn_out[l]`` (for GPT-NeoX with
  parallel residuals the MLP reads ``hidden_states[l-1]`` instead; the sum is still the
  stream after attention).

Decoders that normalise each sub-layer's output before adding it to the stream
(Gemma-2, Gemma-3, OLMo-2: the "sandwich" norm) have ``attn_out`` and ``mlp_out`` taken
after those norms (``post_attention_layernorm``, ``post_feedforward_layernorm``): what is
added to the residual stream, so that ``resid_mid = hidden_states[l-1] + attn_out[l]`` and
``hidden_states[l] = resid_mid[l] + mlp_out[l]`` hold as for the other families.

A family is recognised by its structure, not by model names, so every checkpoint
built on the same blocks (BERT, RoBERTa, ELECTRA, MiniLM, XLM-R...; Llama, Mistral,
Qwen2...) shares one adapter. Models of no known family still give ``resid_post``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from lensnb.errors import LensError

__all__ = ["SITES", "FamilyAdapter", "FAMILIES", "find_adapter", "site_layers", "capture_sites"]

SITES = ("resid_post", "resid_mid", "attn_out", "mlp_out")
DERIVED = "resid_pre + attn_out"


@dataclass(frozen=True)
class FamilyAdapter:
    """Where one family of models keeps its blocks and sub-layers.

    Parameters
    ----------
    name : str
        Family name shown to users.
    blocks : str
        Attribute path of the ``ModuleList`` of blocks on the base model.
    is_decoder : bool
        Causal (left-to-right) attention.
    sites : dict of str to str
        For each site beyond ``resid_post``, the module path inside a block whose
        output is the site, or ``DERIVED`` for ``resid_pre + attn_out``.
    requires, excludes : tuple of str
        Module paths a block must have, and must not have, beyond the sites' own: what
        tells this family from another built of the same sub-modules (a Gemma-2 block
        has ``self_attn`` and ``mlp`` like a Llama block, but normalises both outputs
        before adding them to the stream).
    """

    name: str
    blocks: str
    is_decoder: bool
    sites: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def block_list(self, base_model: torch.nn.Module) -> torch.nn.ModuleList | None:
        """The model's blocks, or None if the model does not have this structure."""
        module = base_model
        for part in self.blocks.split("."):
            module = getattr(module, part, None)
            if module is None:
                return None
        return module if isinstance(module, torch.nn.ModuleList) and len(module) else None

    def matches(self, base_model: torch.nn.Module) -> bool:
        """Whether ``base_model`` is built from this family's blocks."""
        blocks = self.block_list(base_model)
        if blocks is None:
            return False
        block = blocks[0]
        needed = [path for path in self.sites.values() if path != DERIVED] + list(self.requires)
        return all(_submodule(block, path) is not None for path in needed) and not any(
            _submodule(block, path) is not None for path in self.excludes
        )


FAMILIES: tuple[FamilyAdapter, ...] = (
    FamilyAdapter(
        "bert",
        "encoder.layer",
        False,
        {"attn_out": "attention.output.dense", "resid_mid": "attention.output", "mlp_out": "output.dense"},
    ),
    FamilyAdapter(
        "distilbert",
        "transformer.layer",
        False,
        {"attn_out": "attention", "resid_mid": "sa_layer_norm", "mlp_out": "ffn"},
    ),
    FamilyAdapter("gpt2", "h", True, {"attn_out": "attn", "resid_mid": DERIVED, "mlp_out": "mlp"}),
    FamilyAdapter("gpt_neox", "layers", True, {"attn_out": "attention", "resid_mid": DERIVED, "mlp_out": "mlp"}),
    FamilyAdapter(
        "sandwich_norm",
        "layers",
        True,
        {"attn_out": "post_attention_layernorm", "resid_mid": DERIVED, "mlp_out": "post_feedforward_layernorm"},
        requires=("self_attn", "mlp"),
    ),
    FamilyAdapter(
        "llama",
        "layers",
        True,
        {"attn_out": "self_attn", "resid_mid": DERIVED, "mlp_out": "mlp"},
        requires=("input_layernorm",),
        excludes=("post_feedforward_layernorm", "pre_feedforward_layernorm"),
    ),
)


def _submodule(module: torch.nn.Module, path: str) -> torch.nn.Module | None:
    for part in path.split("."):
        module = getattr(module, part, None)
        if not isinstance(module, torch.nn.Module):
            return None
    return module


def find_adapter(base_model: torch.nn.Module) -> FamilyAdapter | None:
    """The first family whose structure ``base_model`` has, or None."""
    for family in FAMILIES:
        if family.matches(base_model):
            return family
    return None


def site_layers(site: str, n_layers: int, adapter: FamilyAdapter | None, model_name: str) -> tuple[int, ...]:
    """The layers at which ``site`` exists: 0..L for ``resid_post``, 1..L for the others."""
    if site not in SITES:
        raise LensError.bad_argument("sites", site, f"one of {SITES}")
    if site == "resid_post":
        return tuple(range(n_layers + 1))
    if adapter is None or site not in adapter.sites:
        raise LensError.bad_argument(
            "sites",
            site,
            "'resid_post' for this model",
            f"{model_name!r} is of no family lensnb knows the sub-layers of "
            f"({', '.join(f.name for f in FAMILIES)}), so only 'resid_post' can be extracted.",
        )
    return tuple(range(1, n_layers + 1))


@contextmanager
def capture_sites(
    base_model: torch.nn.Module,
    adapter: FamilyAdapter | None,
    wanted: dict[str, Sequence[int]],
) -> Iterator[dict[tuple[str, int], torch.Tensor]]:
    """Record sub-layer outputs during a forward pass, with hooks removed on exit.

    Parameters
    ----------
    wanted : dict of site to layers (1-based blocks)
        The hooked sites (not ``resid_post``, which comes from ``hidden_states``).

    Yields
    ------
    dict of (site, layer) to Tensor of shape (batch, seq, dim)
        Filled by each forward pass. ``resid_mid`` of pre-LN families is not here: the
        caller derives it from ``hidden_states[l-1] + attn_out[l]``.
    """
    captured: dict[tuple[str, int], torch.Tensor] = {}
    handles = []
    try:
        if wanted:
            assert adapter is not None
            blocks = adapter.block_list(base_model)
            for site, layers in wanted.items():
                path = adapter.sites[site]
                if path == DERIVED:
                    continue
                for layer in layers:
                    module = _submodule(blocks[layer - 1], path)
                    handles.append(module.register_forward_hook(_recorder(captured, (site, layer))))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def _recorder(store: dict, key: tuple[str, int]):
    def hook(module, args, output):
        store[key] = output[0] if isinstance(output, tuple) else output

    return hook
