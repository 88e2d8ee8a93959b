"""`extract`: run a model over texts and keep every layer's states, token by token.

The hidden states are the model's own ``output_hidden_states``; only the non-padding
tokens are copied, straight into a preallocated array or into the store's files.
Inputs are sorted by length so that batches carry little padding, and the batches
run largest first so that later ones reuse the memory of earlier ones.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lensnb._version import __version__
from lensnb.activations import Activations, AttentionMaps
from lensnb.adapters import DERIVED, SITES, capture_sites, site_layers
from lensnb.background import BackgroundWriter, trim_heap
from lensnb.errors import LensError
from lensnb.examples import as_examples, inputs_digest, unencodable_value
from lensnb.flags import check_flag
from lensnb.layer_stream import LayerStream
from lensnb.models import LensModel
from lensnb.store import FORMAT, FORMAT_VERSION, MemoryWriter, StoreWriter, open_arrays
from lensnb.store_io import load_activations
from lensnb.token_table import TokenPlan, tokenize_examples

__all__ = ["extract"]

DTYPES = {"float32": (np.float32, torch.float32), "float16": (np.float16, torch.float16)}


def extract(
    model: LensModel | tuple,
    inputs: Any,
    *,
    layers: Sequence[int] | None = None,
    sites: Sequence[str] = ("resid_post",),
    batch_size: int = 32,
    max_batch_tokens: int = 2048,
    max_length: int | None = None,
    stride: int | None = None,
    overflow: str = "window",
    label_piece: str = "first",
    dtype: str = "float32",
    attentions: bool = False,
    store: str | Path | None = None,
    overwrite: bool = False,
    durable: bool = False,
    progress: bool = True,
) -> Activations:
    """Extract per-layer hidden states (and optionally attention maps) for texts.

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
        From :func:`lensnb.load_model`, or a Hugging Face model and fast tokenizer.
    inputs : str, sequence of str, or sequence of Example
        Plain texts, or word-level annotated examples (per-word labels, spans, span
        pairs, text labels). Words map onto word pieces through character offsets.
    layers : sequence of int, optional
        Model layers (0 = embeddings, l = output of block l, negative from the end; a
        pre-LN decoder's last layer is after its final norm, as Hugging Face's
        ``hidden_states``).
        Default: all the site has (0..L for ``resid_post``, 1..L for the others).
    sites : sequence of str
        Any of ``"resid_post"``, ``"resid_mid"``, ``"attn_out"``, ``"mlp_out"`` (see
        :mod:`lensnb.adapters`).
    batch_size : int
        Most model inputs per forward pass.
    max_batch_tokens : int, optional
        Most padded tokens per forward pass (inputs x longest input); a batch of long
        inputs holds fewer of them, so peak memory is set by this budget and not by the
        longest text of the corpus (batches of long inputs are also kept to
        inputs x longest**2 <= ``max_batch_tokens * 128``, for the attention maps).
        The default, 2048, suits a CPU; raise it on a GPU.
    max_length : int, optional
        Longest model input, specials included. Default: the model's limit.
    stride : int, optional
        Tokens shared by consecutive sliding windows. Default: ``max_length // 4``.
    overflow : {"window", "truncate", "error"}
        Texts longer than ``max_length``: cover them with sliding windows (each token
        kept once), keep the first ``max_length`` tokens with a warning, or raise.
    label_piece : {"first", "last", "all"}
        Which pieces of a word carry its labels in the token table. "first" (the default,
        BERT's and Tenney et al.'s convention) is for encoders: on a decoder the first
        piece has read only the start of its word (GPT-2's "quick", "quiet" and "quack"
        share their first piece, and its state), and "last" the whole word.
    dtype : {"float32", "float16"}
        Storage type of the states (a name, or the numpy or torch dtype).
    attentions : bool
        Also keep attention probabilities (layer, head, query, key) of every input.
        The model switches to eager attention for the call and back afterwards.
    store : path, optional
        Stream to this folder instead of memory; the result is memory-mapped. An
        interrupted extraction into the same folder resumes; a finished one is reused.
        Either only with the same model weights (every value: weights changed in place
        since count), inputs and settings; a resume also with the same ``batch_size``,
        ``max_batch_tokens`` and attention implementation (``"sdpa"``, ``"eager"``...),
        so that the store is bit for bit what one uninterrupted run writes. Others are
        refused, naming what differs.
    overwrite : bool
        Start the store again: replace whatever lensnb store is at ``store`` (one made by
        another model, inputs or settings, or a finished copy of this one). Only lensnb's
        own files are removed; a folder whose ``manifest.json`` another tool wrote is
        refused. One writer at a time: while an extraction or a save writes a folder,
        another one (in any process) is refused.
    durable : bool
        Also survive a power cut: ``fsync`` the store's arrays before recording
        progress and before marking it complete (see :class:`lensnb.store.StoreWriter`).
        Without it, an extraction interrupted by the death of the process (Ctrl-C, a
        killed kernel, out of memory) still resumes.
    progress : bool
        Show a progress bar (tqdm) of the tokens extracted, and one of the texts
        tokenized when tokenizing takes more than a second (large corpora).

    Returns
    -------
    Activations
        One (layer, token, dim) array per site and the token table.

    Raises
    ------
    LensError
        For bad inputs, layers or sites, a model without hidden states, a store from
        another extraction, a corrupt store or a full disk.
    """
    attentions, overwrite = check_flag("attentions", attentions), check_flag("overwrite", overwrite)
    durable, progress = check_flag("durable", durable), check_flag("progress", progress)
    lens_model = _as_lens_model(model)
    site_list = _check_sites(sites)
    n_layers = lens_model.n_layers
    wanted = {
        site: _check_layers(layers, site_layers(site, n_layers, lens_model.adapter, lens_model.name), site, n_layers)
        for site in site_list
    }
    batch_size = _check_positive_int(batch_size, "batch_size")
    max_batch_tokens = _check_positive_int(max_batch_tokens, "max_batch_tokens")
    dtype = _dtype_name(dtype)
    limit = lens_model.max_length
    if max_length is None:
        if limit is None:
            raise LensError.bad_argument("max_length", None, "an integer: the model's config does not give its limit")
        max_length = limit
    max_length = _check_positive_int(max_length, "max_length")
    if limit is not None and max_length > limit:
        raise LensError.bad_argument("max_length", max_length, f"at most {limit}, the model's limit")
    stride = max_length // 4 if stride is None else stride
    if not isinstance(stride, (int, np.integer)) or isinstance(stride, bool) or stride < 0:
        raise LensError.bad_argument("stride", stride, "a non-negative integer")
    stride = int(stride)
    examples = as_examples(inputs)

    try:
        plan = tokenize_examples(
            examples, lens_model.tokenizer, max_length=max_length, stride=stride, overflow=overflow,
            causal=lens_model.is_decoder, label_piece=label_piece, vocabulary=lens_model.vocabulary, progress=progress,
        )  # fmt: skip
    except UnicodeEncodeError:  # a label or meta value pandas cannot store as text
        raise unencodable_value(examples) from None
    n_tokens = len(plan.tokens)
    np_dtype, torch_dtype = DTYPES[dtype]
    attention_layers = tuple(range(1, n_layers + 1)) if attentions else ()
    n_heads = int(
        getattr(lens_model.model.config, "num_attention_heads", 0) or getattr(lens_model.model.config, "n_head", 0)
    )
    attention_index = _attention_index(plan, len(attention_layers), n_heads) if attentions else None
    attention_size = int(attention_index["size"].sum()) if attentions else 0
    site_shapes = {site: (len(wanted[site]), n_tokens, lens_model.hidden_size) for site in site_list}
    model_info = {
        "name": lens_model.name,
        "revision": lens_model.revision,
        "fingerprint": lens_model.fingerprint,
        "family": lens_model.adapter.name if lens_model.adapter else None,
        "n_layers": n_layers,
        "hidden_size": lens_model.hidden_size,
        "is_decoder": lens_model.is_decoder,
        "layer_names": lens_model.layer_names,
    }
    tables = {"tokens": plan.tokens, "texts": plan.texts}
    if not plan.spans.empty:
        tables["spans"] = plan.spans.assign(span_id=np.arange(len(plan.spans)))
    if not plan.span_pairs.empty:
        tables["span_pairs"] = plan.span_pairs.assign(pair_id=np.arange(len(plan.span_pairs)))
    if attentions:
        tables["attention_index"] = attention_index.drop(columns=["size"])

    params = dict(max_length=max_length, stride=stride, overflow=overflow, label_piece=label_piece, dtype=dtype)
    if store is None:
        writer = MemoryWriter(site_shapes, np_dtype, plan.n_segments, attention_size)
    else:
        manifest = _manifest(
            model_info, examples, plan, site_list, wanted, np_dtype, attention_layers, n_heads, attention_size, params
        )
        # a resume must batch alike, and run the same attention code on the same kind of device: each
        # changes the last bits of the states
        batching = {
            "batch_size": batch_size,
            "max_batch_tokens": max_batch_tokens,
            "attn_implementation": _attention_implementation(lens_model.model, attentions),
            "device": lens_model.device.type,
        }
        writer = StoreWriter(
            store, manifest, tables, site_shapes, np_dtype, attention_size, overwrite, durable, batching=batching
        )
        if writer.reusable:
            try:
                return load_activations(writer.path)  # read while the lock keeps other writers out
            finally:
                writer.close()
    del examples  # only the plan is needed from here on; free the Example objects
    trim_heap()  # and hand tokenization's temporaries back before the model's batches need memory
    background = None
    try:
        todo = np.flatnonzero(~writer.done)
        batches = batch_segments(plan, todo, batch_size, max_batch_tokens)  # what is left to do
        kept = plan.keep_rows[:, 1] - plan.keep_rows[:, 0]
        total, done = int(kept.sum()), int(kept.sum() - kept[todo].sum())  # the bar shows the whole, from `done`
        background = BackgroundWriter(writer, threaded=_core_to_spare(lens_model.device))
        finished = False
        try:
            _run(lens_model, plan, batches, background, wanted, torch_dtype, attention_index, progress, total, done)
            finished = True
        finally:
            background.close(error_passing=not finished)  # stops the writer thread, even on Ctrl-C
        if store is not None:
            writer.finalize()
            arrays, attention_values = open_arrays(writer.path, writer.manifest)  # memory-mapped; tables kept
        else:
            arrays, attention_values = writer.arrays, writer.attentions
        maps = None
        if attentions:
            maps = AttentionMaps(attention_values, tables["attention_index"], attention_layers, n_heads)
        return Activations(
            arrays, wanted, plan.tokens, texts=plan.texts, spans=tables.get("spans"),
            span_pairs=tables.get("span_pairs"), attentions=maps, model=model_info,
            path=writer.path if store is not None else None,
        )  # fmt: skip
    finally:
        try:
            if background is not None:
                background.stop()  # never closes the files under a running writer thread (a no-op once closed)
        finally:
            writer.close()  # the store's files and lock, once the result is built


def _run(
    lens_model, plan: TokenPlan, batches, background, wanted, torch_dtype, attention_index, progress, total, done
) -> None:
    """Forward passes over ``batches`` of segments; their states go to ``background`` to be written.

    The progress bar counts the tokens of the whole extraction (``total``), from the
    ``done`` ones of an interrupted run that this one resumes.

    Where the writes are in line, ``resid_post`` layers are written as the model computes
    them (a :class:`LayerStream`, once it matched ``output_hidden_states`` bit for bit on
    the first batch) rather than all at the end of each forward pass."""
    from tqdm.auto import tqdm

    # the base model: a head (masked-LM, causal-LM: a projection onto the whole vocabulary)
    # would cost as much as the blocks and its output is not kept
    model, adapter = lens_model.base_model, lens_model.adapter
    hooked = {site: layers for site, layers in wanted.items() if site != "resid_post"}
    derived_mid = adapter is not None and adapter.sites.get("resid_mid") == DERIVED and "resid_mid" in hooked
    if derived_mid:
        hooked.setdefault("attn_out", ())
        hooked["attn_out"] = tuple(sorted(set(hooked["attn_out"]) | set(hooked["resid_mid"])))
    need_hidden = "resid_post" in wanted or derived_mid
    stream = None if background.threaded or derived_mid else _layer_stream(lens_model, wanted.get("resid_post", ()))
    streaming = False  # switched on once the stream matched output_hidden_states
    pad_id = lens_model.padding_id
    # a decoder would also build the keys and values of every layer for generation, never read here
    no_cache = {"use_cache": False} if lens_model.is_decoder else {}
    token_ids = plan.tokens["token_id"].to_numpy()
    device = lens_model.device
    with (
        tqdm(total=total, initial=done, unit="tok", desc="extract", disable=not progress) as bar,
        eager_attention(lens_model.model, bool(attention_index is not None)),
        capture_sites(lens_model.base_model, adapter, hooked) as captured,
        stream if stream is not None else nullcontext(),
        torch.inference_mode(),
    ):
        for batch in batches:
            lengths = [plan.segment_length(s) for s in batch]
            ids, mask = padded_inputs(plan, batch, token_ids, pad_id)

            def forward(hidden_states: bool, ids=ids, mask=mask):
                return model(
                    input_ids=torch.from_numpy(ids).to(device),
                    attention_mask=torch.from_numpy(mask).to(device),
                    output_hidden_states=hidden_states,
                    output_attentions=attention_index is not None,
                    return_dict=True,
                    **no_cache,
                )

            hidden = None
            if streaming:
                stream.sink = partial(_write_layer, background, wanted["resid_post"], batch, plan, torch_dtype)
                output = forward(False)
                stream.finish(output.last_hidden_state)
                stream.sink = None
            else:
                if stream is not None:  # the first batch: does the stream give the model's own hidden states?
                    streaming, output = stream.matches(lambda: forward(True))
                    stream = stream if streaming else None  # its hooks stay idle until the end
                else:
                    output = forward(need_hidden)
                if need_hidden:
                    hidden = getattr(output, "hidden_states", None)
                    _check_hidden(hidden, lens_model)
            blocks = []
            for site, layers in wanted.items():
                for position, layer in enumerate(layers):
                    if site == "resid_post":
                        if hidden is None:
                            continue  # streamed
                        states = hidden[layer]
                    elif site == "resid_mid" and derived_mid:
                        states = hidden[layer - 1] + captured[("attn_out", layer)]
                    else:
                        states = captured[(site, layer)]
                    blocks.extend(_kept_rows(site, position, states, batch, plan, torch_dtype))
            maps = (
                ()
                if attention_index is None
                else _attention_maps(output, batch, lengths, attention_index, torch_dtype, lens_model)
            )
            background.submit(batch, blocks, maps)
            bar.update(int(sum(plan.keep_rows[s, 1] - plan.keep_rows[s, 0] for s in batch)))
            # the next forward pass needs the memory this batch's tensors hold
            output = hidden = states = blocks = maps = None
            captured.clear()


def _layer_stream(lens_model: LensModel, layers: Sequence[int]) -> LayerStream | None:
    """A stream of ``layers`` from the model's blocks, where its family says where they are."""
    adapter = lens_model.adapter
    blocks = adapter.block_list(lens_model.base_model) if adapter is not None and layers else None
    if blocks is None or len(blocks) != lens_model.n_layers:
        return None
    return LayerStream(blocks, layers)


def _write_layer(background, layers: Sequence[int], batch, plan: TokenPlan, torch_dtype, layer: int, states) -> None:
    """Write one streamed ``resid_post`` layer of a batch: its kept rows, in line."""
    background.write_states(_kept_rows("resid_post", layers.index(layer), states, batch, plan, torch_dtype))


def _core_to_spare(device: torch.device) -> bool:
    """Whether a writer thread would run beside the forward passes rather than take from them:
    the model runs on an accelerator, or torch's threads leave a core of this process free."""
    if device.type != "cpu":
        return True
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return torch.get_num_threads() < cores


def padded_inputs(
    plan: TokenPlan, batch: np.ndarray, token_ids: np.ndarray, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded input ids and attention mask of a batch of segments, each (batch, longest)."""
    width = max(plan.segment_length(s) for s in batch)
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for b, segment in enumerate(batch):
        rows = plan.segment_rows[plan.segment_offsets[segment] : plan.segment_offsets[segment + 1]]
        ids[b, : len(rows)] = token_ids[rows]
        mask[b, : len(rows)] = 1
    return ids, mask


def _kept_rows(site, position, states: torch.Tensor, batch, plan: TokenPlan, torch_dtype) -> list:
    """Each input's kept (non-padding) rows of one layer, as (site, position, first row, values)."""
    converted = states.detach().to("cpu", torch_dtype)  # (batch, seq, dim)
    if torch_dtype == torch.float16 and states.dtype != torch.float16:
        _check_float16_range(site, position, states, converted)
    values = converted.numpy()  # a view, kept alive by the blocks
    blocks = []
    for b, segment in enumerate(batch):
        start, stop = plan.keep_rows[segment]
        local = plan.keep_local[segment]
        blocks.append((site, position, int(start), values[b, local : local + stop - start]))
    return blocks


def _check_float16_range(site: str, position: int, states: torch.Tensor, converted: torch.Tensor) -> None:
    """Refuse states that float16 cannot hold (beyond +-65504: they would be stored as inf)."""
    if bool(torch.isfinite(converted).all()) or not bool(torch.isfinite(states).all()):
        return  # nothing overflowed (non-finite states are the model's own, kept as they are)
    largest = float(states.detach().abs().max())
    raise LensError.bad_argument(
        "dtype", "float16", "float32 for this model",
        f"Site {site!r} (layer position {position}) has values up to {largest:.6g} in magnitude, beyond float16's "
        "65504: they would be stored as inf. Batches already written are kept; extract again with "
        "dtype='float32' (and overwrite=True for the same store folder).",
    )  # fmt: skip


def _attention_maps(output, batch, lengths, index: pd.DataFrame, torch_dtype, lens_model) -> list:
    """Each input's (layer, head, T, T) attention maps, as (offset, values)."""
    maps = getattr(output, "attentions", None)
    if not maps or any(m is None for m in maps):
        raise LensError(
            f"attentions: {lens_model.name!r} returned no attention weights even with eager attention; "
            "this model cannot give attention maps."
        )
    stacked = torch.stack([m.detach().to("cpu", torch_dtype) for m in maps], dim=1)  # (batch, layer, head, q, k)
    offsets = index["offset"].to_numpy()
    return [
        (int(offsets[segment]), stacked[b, :, :, :length, :length].contiguous().numpy())
        for b, (segment, length) in enumerate(zip(batch, lengths))
    ]


def _check_hidden(hidden, lens_model) -> None:
    expected = lens_model.n_layers + 1
    if not isinstance(hidden, (tuple, list)) or len(hidden) != expected:
        received = (
            "None"
            if hidden is None
            else f"{type(hidden).__name__} of {len(hidden) if hasattr(hidden, '__len__') else '?'} entries"
        )
        raise LensError.bad_argument(
            "model", f"a model whose output_hidden_states gave {received}",
            f"a model that returns {expected} hidden states (embeddings + {lens_model.n_layers} blocks)",
        )  # fmt: skip


def batch_segments(plan: TokenPlan, segments: np.ndarray, batch_size: int, max_batch_tokens: int) -> list[np.ndarray]:
    """Batches of segments, of inputs of similar length, the largest batches first.

    Each holds at most ``batch_size`` inputs and ``max_batch_tokens`` padded tokens, and
    inputs x longest**2 <= ``max_batch_tokens * 128`` (attention maps grow with the
    square of the length), so that peak memory does not grow with the longest text of a
    corpus. A single input over the budget goes alone.

    Inputs are sorted by length over the whole of ``segments`` (the least padding), and
    the batches then run in order of padded size, largest first, so that each batch's
    tensors fit in the memory the earlier ones freed. In length order the first
    batches, of the longest texts, are small (a few inputs each) and the later ones
    grow to the budget: every new, larger tensor then has to come from fresh memory
    while the freed smaller blocks stay in the heap: 20,000 sentences on the embedded
    model peaked at 826-838 MiB in length order (sorted in chunks of 2,048 inputs),
    768-792 MiB in this order."""
    lengths = np.maximum(np.diff(plan.segment_offsets), 1)
    order = segments[np.argsort(-lengths[segments], kind="stable")]
    batches = []
    i = 0
    while i < len(order):
        width = int(lengths[order[i]])  # the longest of this batch: sorted descending
        count = max(1, min(batch_size, max_batch_tokens // width, max_batch_tokens * 128 // (width * width)))
        batches.append(order[i : i + count])
        i += count
    padded = [len(batch) * int(lengths[batch[0]]) for batch in batches]
    return [batches[k] for k in np.argsort(-np.asarray(padded, dtype=np.int64), kind="stable")]


def _attention_index(plan: TokenPlan, n_layers: int, n_heads: int) -> pd.DataFrame:
    """Where each input's (layer, head, T, T) maps go in the flat attention array, and
    which of its text's token positions it fed (see :class:`AttentionMaps`)."""
    lengths = np.diff(plan.segment_offsets)
    sizes = n_layers * n_heads * lengths * lengths
    offsets = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
    return pd.DataFrame({
        "text_id": plan.segment_text, "window": plan.segment_window, "offset": offsets, "length": lengths,
        **_fed_positions(plan), "size": sizes,
    })  # fmt: skip


def _fed_positions(plan: TokenPlan) -> dict[str, np.ndarray]:
    """``prefix``, ``content_start``, ``content_stop`` and ``suffix_start`` of every input,
    each shape (n_segments,) int64: an input feeds its text's prefix specials (positions
    ``[0, prefix)``), a run of its content ``[content_start, content_stop)`` (all of it
    when the text fits) and its suffix specials (from ``suffix_start``), whatever the
    window. Read from the text's special runs and the input's rows, for all inputs at once."""
    from lensnb.token_table import _special_runs

    texts = plan.texts
    token_start, n_tokens = texts["token_start"].to_numpy(), texts["n_tokens"].to_numpy()
    prefix, suffix = _special_runs(plan.tokens["special"].to_numpy(dtype=bool), token_start, n_tokens)
    text = np.searchsorted(texts["text_id"].to_numpy(), plan.segment_text)
    first, length = plan.segment_offsets[:-1], np.diff(plan.segment_offsets)
    p, s, base = prefix[text], suffix[text], token_start[text]
    content_start = plan.segment_rows[first + p] - base
    content_stop = plan.segment_rows[first + length - s - 1] - base + 1
    if np.any(p + (content_stop - content_start) + s != length):  # never for the plans of lensnb.windows
        raise AssertionError("an input fed positions that are not prefix specials, a run of content, suffix specials")
    return {
        "prefix": p.astype(np.int64), "content_start": content_start.astype(np.int64),
        "content_stop": content_stop.astype(np.int64), "suffix_start": (n_tokens[text] - s).astype(np.int64),
    }  # fmt: skip


def _attention_implementation(model, attentions: bool) -> str | None:
    """The attention code the forward passes run: eager where attention maps are asked for
    (:func:`eager_attention`), else the model's own (``"sdpa"``, ``"eager"``...)."""
    previous = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if attentions and previous not in (None, "eager") and hasattr(model, "set_attn_implementation"):
        return "eager"
    return previous if isinstance(previous, str) else None


@contextmanager
def eager_attention(model, needed: bool):
    """Switch to eager attention for the call (sdpa returns no weights), then back."""
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    switch = needed and previous not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if switch:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(previous)


def _as_lens_model(model) -> LensModel:
    if isinstance(model, LensModel):
        return model
    if isinstance(model, tuple) and len(model) == 2:
        return LensModel.wrap(*model)
    raise LensError.bad_argument("model", model, "a LensModel from lensnb.load_model, or a (model, tokenizer) pair")


def _check_sites(sites) -> tuple[str, ...]:
    if isinstance(sites, str):
        sites = (sites,)
    if not isinstance(sites, Sequence) or not sites:
        raise LensError.bad_argument("sites", sites, f"a non-empty list of sites from {SITES}")
    for site in sites:
        if site not in SITES:
            raise LensError.bad_argument("sites", site, f"one of {SITES}")
    if len(set(sites)) != len(sites):
        raise LensError.bad_argument("sites", list(sites), "sites named once each")
    return tuple(sites)


def _check_layers(layers, available: tuple[int, ...], site: str, n_layers: int) -> tuple[int, ...]:
    if layers is None:
        return available
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        layers = [layers]
    if isinstance(layers, np.ndarray) and layers.ndim == 1:
        layers = layers.tolist()
    if isinstance(layers, str) or not isinstance(layers, Sequence) or len(layers) == 0:
        raise LensError.bad_argument("layers", layers, "None or a non-empty list of layer numbers")
    resolved = []
    for layer in layers:
        if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool):
            raise LensError.bad_argument("layers", layer, "integer layer numbers")
        value = int(layer) + (n_layers + 1 if layer < 0 else 0)
        if value not in available:
            raise LensError.bad_argument(
                "layers", layer, f"a layer in {available[0]}..{available[-1]} for site {site!r} "
                f"(0 = embeddings, {n_layers} = last block; negative counts from the end)",
            )  # fmt: skip
        resolved.append(value)
    if len(set(resolved)) != len(resolved):
        raise LensError.bad_argument("layers", list(layers), "each layer once")
    return tuple(sorted(resolved))


def _dtype_name(dtype: Any) -> str:
    """``"float32"`` or ``"float16"`` from a name, a numpy dtype or type, or a torch dtype."""
    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
    else:
        try:
            name = np.dtype(dtype).name if dtype is not None else None
        except (TypeError, ValueError):
            name = None
    if name not in DTYPES:
        raise LensError.bad_argument("dtype", dtype, f"one of {sorted(DTYPES)} (a name, a numpy or a torch dtype)")
    return name


def _check_positive_int(value, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise LensError.bad_argument(name, value, "a positive integer")
    return int(value)


def _manifest(
    model_info, examples, plan, sites, wanted, np_dtype, attention_layers, n_heads, attention_size, params
) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lensnb_version": __version__,
        "unit": "token",
        "model": model_info,
        "inputs_digest": inputs_digest(examples),
        "tokens_digest": plan.digest(),
        "params": params,
        "n_texts": len(plan.texts),
        "n_tokens": len(plan.tokens),
        "n_segments": plan.n_segments,
        "sites": {
            site: {
                "layers": list(wanted[site]),
                "file": f"{site}.npy",
                "shape": [len(wanted[site]), len(plan.tokens), model_info["hidden_size"]],
                "dtype": np.dtype(np_dtype).str,
            }
            for site in sites
        },
        "attentions": (
            {
                "layers": list(attention_layers),
                "n_heads": n_heads,
                "file": "attentions.npy",
                "n_values": attention_size,
                "dtype": np.dtype(np_dtype).str,
            }  # fmt: skip
            if attention_layers
            else None
        ),
    }
