"""Benchmark: ``lensnb.extract`` of all layers against a bare forward pass.

What is measured
----------------
1. **Time.** ``lensnb.extract(lm, texts, batch_size=32, store=<fresh dir>)`` of every
   layer (0..6, ``resid_post``, float32) over ``--sentences`` real sentences (default
   2,000, UD English EWT then CoNLL-2003), everything included: validating the
   inputs, tokenizing, building the token table, writing the store (preallocated
   ``.npy`` files, Parquet tables, manifest) and opening the result again. With
   extract's default ``durable=False`` the arrays are handed to the operating system
   (its page cache, written to disk in the background), not ``fsync``-ed; only the
   manifest, the tables and the progress record are. ``extract_over_forward_durable``
   times ``durable=True`` too (the arrays ``fsync``-ed before extract returns), over
   ``--durable-reps`` interleaved pairs, and ``extract_in_memory_over_forward`` the same
   extraction with ``store=None`` (the arrays collected in memory) over
   ``--in-memory-reps`` interleaved pairs.
   The peer is what a user would otherwise run: ``model(**batch)`` on the *same*
   padded batches in the same order (sdpa attention, no hidden states, under
   ``torch.inference_mode``), the batches prepared beforehand and not timed.
   Both run in this process, interleaved (which goes first alternates per
   repetition), after one warm-up each; medians over ``--reps`` repetitions.
   ``extract_over_forward`` is the median of the per-repetition ratios.
2. **Peak memory.** For the corpus at 1x and at 10x (``--sentences`` and ten times
   as many), a fresh subprocess loads the model, reads ``VmHWM`` from
   ``/proc/self/status`` (baseline), extracts into a temporary store and reads
   ``VmHWM`` again. ``peak_rss_growth_10x`` = peak at 10x / peak at 1x, of the whole
   process (the ~465 MiB of torch and the model included).
   ``peak_rss_growth_10x_above_baseline`` = (peak - baseline) at 10x over the same at
   1x: the growth of what extraction itself holds. The 10x corpus is the next sentences
   of the same files (CoNLL-2003 after EWT): ``tokens_10x_over_1x`` and the longest
   input at each size are printed, since the longest input sets the largest batch. The same is
   measured for the bare forward pass over the same batches
   (``peak_rss_growth_10x_forward``), for reference: its batches are all built before
   the pass, so its peak grows with the corpus too.

3. **The loop, paired batch by batch** (diagnostic; ``--skip-paired`` leaves it out). On a
   host whose speed drifts by tens of percent within seconds, run-level ratios scatter
   widely. Here each batch runs bare and then the way extract's loop runs it (the blocks
   hooked by :class:`lensnb.layer_stream.LayerStream`, every layer handed to extract's own
   sink and its kept rows written with the store's own ``_ArrayFile.write`` into a
   preallocated ``.npy`` file), the order alternating per batch, so that the two runs of a batch are a fraction of a
   second apart. ``loop_over_forward_paired`` (median over ``--paired-reps`` passes)
   is the in-loop cost of extract (without the first batch's check against
   ``output_hidden_states``); ``fixed_s`` is what extract spends outside its model
   calls (tokenizing, the token table, creating and finishing the store, each batch's
   padding and bookkeeping), timed with hooks in the same process. Neither replaces
   ``extract_over_forward``.

The last line printed is one JSON object with the key figures. Data come from
``$LENSNB_DATA`` or ``<repo>/../shared/data``. Run::

    PYTHONUNBUFFERED=1 python benchmarks/bench_extract.py [--reps 5] [--sentences 2000] [--skip-memory]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import torch

import lensnb
from lensnb.background import BackgroundWriter

# Private helpers, imported on purpose: the peer must see exactly the batches that
# extract builds (same segments, same length-sorted order, same padding).
from lensnb.examples import as_examples
from lensnb.extract import _write_layer, batch_segments, padded_inputs
from lensnb.layer_stream import LayerStream
from lensnb.store import _ArrayFile
from lensnb.token_table import TokenPlan, tokenize_examples

BATCH_SIZE = 32
MAX_BATCH_TOKENS = inspect.signature(lensnb.extract).parameters["max_batch_tokens"].default  # extract's default
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- data


def data_dir() -> Path:
    return Path(os.environ.get("LENSNB_DATA") or REPO.parent / "shared" / "data")


def _ewt_sentences(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("# text = "):
                text = line[len("# text = ") :].strip()
                if text:
                    yield text


def _conll2003_sentences(path: Path) -> Iterator[str]:
    words: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("-DOCSTART-"):
                if words:
                    yield " ".join(words)
                    words = []
                continue
            words.append(line.split(" ", 1)[0])
    if words:
        yield " ".join(words)


def load_sentences(n: int) -> list[str]:
    """The first ``n`` sentences of UD EWT (train, dev, test) then CoNLL-2003 (train, dev, test)."""
    root = data_dir()
    sources = [
        *(_ewt_sentences(root / "ud_english_ewt" / f"en_ewt-ud-{part}.conllu") for part in ("train", "dev", "test")),
        *(_conll2003_sentences(root / "conll2003" / f"{part}.txt") for part in ("train", "dev", "test")),
    ]
    sentences: list[str] = []
    for source in sources:
        for text in source:
            sentences.append(text)
            if len(sentences) == n:
                return sentences
    raise SystemExit(f"only {len(sentences)} sentences under {root}; {n} were asked for")


# ---------------------------------------------------------------- the peer's batches


def padded_batches(
    lm: lensnb.LensModel, texts: list[str]
) -> tuple[list[dict[str, torch.Tensor]], list[np.ndarray], TokenPlan]:
    """The padded batches extract feeds the model, in its order, with their segments and the plan."""
    max_length = lm.max_length
    plan = tokenize_examples(
        as_examples(texts), lm.tokenizer, max_length=max_length, stride=max_length // 4,
        overflow="window", causal=lm.is_decoder, label_piece="first",
    )  # fmt: skip
    pad_id = lm.padding_id
    token_ids = plan.tokens["token_id"].to_numpy()
    segments = batch_segments(plan, np.arange(plan.n_segments), BATCH_SIZE, MAX_BATCH_TOKENS)
    batches = []
    for batch in segments:
        ids, mask = padded_inputs(plan, batch, token_ids, pad_id)
        batches.append({"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)})
    return batches, segments, plan


# ---------------------------------------------------------------- timed runs


def run_extract(
    lm: lensnb.LensModel, texts: list[str], store: Path, durable: bool = False
) -> tuple[float, lensnb.Activations]:
    start = time.perf_counter()
    acts = lensnb.extract(lm, texts, batch_size=BATCH_SIZE, store=store, overwrite=True, durable=durable,
                          progress=False)  # fmt: skip
    return time.perf_counter() - start, acts


def run_extract_in_memory(lm: lensnb.LensModel, texts: list[str]) -> float:
    """Seconds of ``extract`` without a store: the arrays are collected in memory."""
    start = time.perf_counter()
    acts = lensnb.extract(lm, texts, batch_size=BATCH_SIZE, progress=False)
    seconds = time.perf_counter() - start
    del acts
    return seconds


def run_forward(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            model(**batch)
    return time.perf_counter() - start


def max_difference(acts: lensnb.Activations, model: torch.nn.Module, batches: list[dict[str, torch.Tensor]],
                   segments: list[np.ndarray], plan: TokenPlan) -> float:  # fmt: skip
    """Largest |extract - the model's own output_hidden_states| over every layer and token (the same batches)."""
    states = acts.arrays["resid_post"]
    worst = 0.0
    with torch.inference_mode():
        for batch, segs in zip(batches, segments):
            hidden = model(**batch, output_hidden_states=True).hidden_states
            for layer, out in enumerate(hidden):
                out = out.numpy()
                for b, segment in enumerate(segs):
                    start, stop = plan.keep_rows[segment]
                    local = plan.keep_local[segment]
                    ours = np.asarray(states[layer, start:stop])
                    worst = max(worst, float(np.abs(out[b, local : local + stop - start] - ours).max()))
    return worst


def interleaved_ratios(
    extract: Callable[[int], float], forward: Callable[[], float], reps: int, label: str
) -> list[float]:
    """``reps`` pairs of an extraction variant (``extract(rep)`` -> seconds) and the bare pass, which
    goes first alternating per pair; the ratio of each pair, printed as it comes."""
    ratios = []
    for rep in range(reps):
        order = ("extract", "forward") if rep % 2 == 0 else ("forward", "extract")
        timed = {which: extract(rep) if which == "extract" else forward() for which in order}
        ratios.append(timed["extract"] / timed["forward"])
        print(
            f"{label} rep {rep}: extract {timed['extract']:.3f} s, forward {timed['forward']:.3f} s, {ratios[-1]:.3f}"
        )
    return ratios


# ---------------------------------------------------------------- the loop, paired per batch


def paired_loop(
    lm: lensnb.LensModel, batches: list[dict[str, torch.Tensor]], segments: list[np.ndarray], plan: TokenPlan,
    scratch: Path, reps: int,
) -> list[tuple[float, float]]:  # fmt: skip
    """(bare seconds, streamed-and-written seconds) summed over the batches, per pass.

    Each batch runs bare (``model(**batch)``) and as extract's loop runs it: the blocks
    hooked, each layer handed to extract's own sink (``_write_layer``, through an
    in-line :class:`BackgroundWriter`) and its kept rows written with the store's
    ``_ArrayFile.write``; which runs first alternates per batch."""
    model = lm.base_model
    layers = tuple(range(lm.n_layers + 1))
    target = _ArrayFile(scratch / "paired.npy", (len(layers), len(plan.tokens), lm.hidden_size), np.float32, True)
    background = BackgroundWriter(_OneArrayWriter(target), threaded=False)

    def sink_for(segs_of_batch: np.ndarray):
        return partial(_write_layer, background, layers, segs_of_batch, plan, torch.float32)

    def bare(batch: dict[str, torch.Tensor]) -> float:
        start = time.perf_counter()
        model(**batch)
        return time.perf_counter() - start

    def streamed(batch: dict[str, torch.Tensor], segs: np.ndarray) -> float:
        start = time.perf_counter()
        stream.sink = sink_for(segs)
        output = model(**batch, output_hidden_states=False, return_dict=True)
        stream.finish(output.last_hidden_state)
        stream.sink = None
        return time.perf_counter() - start

    passes = []
    try:
        with LayerStream(lm.adapter.block_list(model), layers) as stream, torch.inference_mode():
            for batch, segs in zip(batches, segments):  # warm-up
                bare(batch)
                streamed(batch, segs)
            for _ in range(reps):
                totals = [0.0, 0.0]
                for index, (batch, segs) in enumerate(zip(batches, segments)):
                    order = (0, 1) if index % 2 == 0 else (1, 0)
                    for which in order:
                        totals[which] += bare(batch) if which == 0 else streamed(batch, segs)
                passes.append((totals[0], totals[1]))
    finally:
        target.close()
        (scratch / "paired.npy").unlink(missing_ok=True)
    return passes


class _OneArrayWriter:
    """The store writer's ``write`` for the one ``resid_post`` array of the paired loop."""

    def __init__(self, target: _ArrayFile):
        self.target = target

    def write(self, site: str, layer_position: int, row: int, values: np.ndarray) -> None:
        self.target.write((layer_position, row, 0), values)


def fixed_seconds(lm: lensnb.LensModel, texts: list[str], store: Path) -> float:
    """Seconds extract spends outside its forward passes (hooks time the model's calls)."""
    model, inside = lm.base_model, [0.0]
    started = [0.0]
    handles = [
        model.register_forward_pre_hook(lambda *_: started.__setitem__(0, time.perf_counter())),
        model.register_forward_hook(lambda *_: inside.__setitem__(0, inside[0] + time.perf_counter() - started[0])),
    ]
    try:
        seconds, acts = run_extract(lm, texts, store)
    finally:
        for handle in handles:
            handle.remove()
    del acts
    shutil.rmtree(store)
    return seconds - inside[0]


# ---------------------------------------------------------------- peak memory


def vm_hwm_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_memory(n: int, peer: bool) -> None:
    """Run in a fresh process: extract ``n`` sentences into a store (or, with ``peer``, run the
    bare forward pass over the same batches) and print peak RSS as JSON."""
    lm = lensnb.load_model()
    texts = load_sentences(n)
    scratch = Path(tempfile.mkdtemp(prefix="lensnb-bench-mem-"))
    try:
        if peer:
            batches, _, plan = padded_batches(lm, texts)
            n_tokens, longest = len(plan.tokens), max(int(b["input_ids"].shape[1]) for b in batches)
            del plan
            baseline = vm_hwm_mib()
            seconds = run_forward(lm.model, batches)
        else:
            baseline = vm_hwm_mib()
            seconds, acts = run_extract(lm, texts, scratch / "store")
            peak = vm_hwm_mib()  # before anything else runs in this process
            n_tokens = int(acts.arrays["resid_post"].shape[1])
            longest = int(acts.tokens.groupby("text_id").size().max())
        if peer:
            peak = vm_hwm_mib()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"n_sentences": n, "n_tokens": n_tokens, "longest": longest, "seconds": seconds,
                      "baseline_mib": baseline, "peak_mib": peak}))  # fmt: skip


def measure_memory(n: int, peer: bool) -> dict:
    """Peak memory of one fresh child process (see :func:`child_memory`)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-memory",
        str(n),
        *(["--child-peer"] if peer else []),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"memory child {command[2:]} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions of each (default 5)")
    parser.add_argument("--sentences", type=int, default=2000, help="corpus size at 1x (default 2000)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the 1x / 10x peak-memory children")
    parser.add_argument("--skip-paired", action="store_true", help="skip the per-batch paired loop diagnostic")
    parser.add_argument("--paired-reps", type=int, default=3, help="passes of the paired loop (default 3)")
    parser.add_argument("--durable-reps", type=int, default=3,
                        help="interleaved pairs timed with extract(durable=True) (default 3; 0 skips)")  # fmt: skip
    parser.add_argument("--in-memory-reps", type=int, default=3,
                        help="interleaved pairs timed with extract(store=None) (default 3; 0 skips)")  # fmt: skip
    parser.add_argument("--memory-reps", type=int, default=3,
                        help="fresh processes per corpus size; their median peak is used (default 3)")  # fmt: skip
    parser.add_argument("--child-memory", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--child-peer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory is not None:
        child_memory(args.child_memory, args.child_peer)
        return

    print(f"lensnb {lensnb.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, python {platform.python_version()}")  # fmt: skip
    lm = lensnb.load_model()
    model = lm.model
    print(f"model {lm.name}: attention {model.config._attn_implementation}, device {lm.device}")
    texts = load_sentences(args.sentences)
    batches, segments, plan = padded_batches(lm, texts)
    n_tokens = len(plan.tokens)
    n_padded = sum(int(b["input_ids"].numel()) for b in batches)
    print(f"{len(texts)} sentences, {n_tokens} tokens, {len(batches)} batches of {BATCH_SIZE} "
          f"({n_padded} positions with padding)")  # fmt: skip

    scratch = Path(tempfile.mkdtemp(prefix="lensnb-bench-"))
    try:
        warm_extract, acts = run_extract(lm, texts, scratch / "warmup")
        assert acts.arrays["resid_post"].shape == (lm.n_layers + 1, n_tokens, lm.hidden_size)
        difference = max_difference(acts, model, batches, segments, plan)
        del acts
        shutil.rmtree(scratch / "warmup")
        if difference != 0.0:  # the same batches through the same model: nothing may differ
            raise SystemExit(f"extract differs from output_hidden_states by {difference:.3e}: not timing it")
        warm_forward = run_forward(model, batches)
        print(f"warm-up: extract {warm_extract:.2f} s, forward {warm_forward:.2f} s; "
              f"max |extract - output_hidden_states| over all {lm.n_layers + 1} layers = {difference:.2e}")  # fmt: skip

        extract_s: list[float] = []
        forward_s: list[float] = []
        print(f"\n{'rep':>3} {'first':>8} {'extract s':>10} {'forward s':>10} {'ratio':>7}")
        for rep in range(args.reps):
            order = ("extract", "forward") if rep % 2 == 0 else ("forward", "extract")
            for which in order:
                if which == "extract":
                    seconds, acts = run_extract(lm, texts, scratch / f"rep{rep}")
                    del acts
                    shutil.rmtree(scratch / f"rep{rep}")
                    extract_s.append(seconds)
                else:
                    forward_s.append(run_forward(model, batches))
            print(f"{rep:>3} {order[0]:>8} {extract_s[-1]:>10.3f} {forward_s[-1]:>10.3f} "
                  f"{extract_s[-1] / forward_s[-1]:>7.3f}")  # fmt: skip

        def durable_extract(rep: int) -> float:
            seconds, acts = run_extract(lm, texts, scratch / f"durable{rep}", durable=True)
            del acts
            shutil.rmtree(scratch / f"durable{rep}")
            return seconds

        durable_ratios = interleaved_ratios(durable_extract, lambda: run_forward(model, batches), args.durable_reps,
                                            "durable=True")  # fmt: skip
        memory_ratios = interleaved_ratios(lambda rep: run_extract_in_memory(lm, texts),
                                           lambda: run_forward(model, batches), args.in_memory_reps, "store=None")  # fmt: skip
        if not args.skip_paired:
            passes = paired_loop(lm, batches, segments, plan, scratch, args.paired_reps)
            fixed = [fixed_seconds(lm, texts, scratch / f"fixed{i}") for i in range(3)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    ratios = [e / f for e, f in zip(extract_s, forward_s)]
    med_extract, med_forward = statistics.median(extract_s), statistics.median(forward_s)
    summary = {
        "extract_over_forward": round(statistics.median(ratios), 4),
        "peak_rss_growth_10x": None,
        "extract_over_forward_durable": round(statistics.median(durable_ratios), 4) if durable_ratios else None,
        "extract_in_memory_over_forward": round(statistics.median(memory_ratios), 4) if memory_ratios else None,
        "max_abs_difference_all_layers": difference,
        "extract_s": round(med_extract, 4),
        "forward_s": round(med_forward, 4),
        "ratio_of_medians": round(med_extract / med_forward, 4),
        "n_sentences": len(texts),
        "tokens": n_tokens,
        "batches": len(batches),
        "tokens_per_s_extract": round(n_tokens / med_extract, 1),
        "tokens_per_s_forward": round(n_tokens / med_forward, 1),
        "reps": args.reps,
        "torch_threads": torch.get_num_threads(),
    }
    print(f"\nmedian: extract {med_extract:.3f} s ({summary['tokens_per_s_extract']:.0f} tok/s), "
          f"forward {med_forward:.3f} s ({summary['tokens_per_s_forward']:.0f} tok/s); "
          f"extract/forward {summary['extract_over_forward']:.3f} (median of ratios), "
          f"{summary['ratio_of_medians']:.3f} (ratio of medians)")  # fmt: skip

    if not args.skip_paired:
        print("\nthe loop, paired batch by batch (bare forward vs streamed + written, order alternating per batch):")
        for bare_s, streamed_s in passes:
            print(f"  bare {bare_s:.3f} s, streamed and written {streamed_s:.3f} s: {streamed_s / bare_s:.3f}")
        paired = statistics.median(s / b for b, s in passes)
        fixed_s = statistics.median(fixed)
        bare_s = statistics.median(b for b, _ in passes)
        print(f"  median {paired:.3f}; outside the loop extract spends {fixed_s:.3f} s (median of 3 runs), "
              f"so paired estimate of extract/forward: {paired + fixed_s / bare_s:.3f}")  # fmt: skip
        summary.update(
            loop_over_forward_paired=round(paired, 4),
            fixed_s=round(fixed_s, 4),
            extract_over_forward_paired_estimate=round(paired + fixed_s / bare_s, 4),
        )

    if not args.skip_memory:
        print("\npeak memory (VmHWM, one fresh process each; lensnb writes a store on disk):")
        print(f"{'run':>8} {'corpus':>6} {'sentences':>9} {'tokens':>8} {'longest':>7} {'seconds':>7} "
              f"{'before MiB':>10} {'peak MiB':>9}")  # fmt: skip
        results: dict[tuple[str, int], dict] = {}
        for name in ("extract", "forward"):
            for factor in (1, 10):
                runs = []
                for _ in range(args.memory_reps if name == "extract" else 1):
                    memory = measure_memory(args.sentences * factor, peer=name == "forward")
                    runs.append(memory)
                    print(f"{name:>8} {factor:>5}x {memory['n_sentences']:>9} {memory['n_tokens']:>8} "
                          f"{memory['longest']:>7} {memory['seconds']:>7.1f} {memory['baseline_mib']:>10.1f} "
                          f"{memory['peak_mib']:>9.1f}")  # fmt: skip
                results[name, factor] = dict(runs[0], peak_mib=statistics.median(r["peak_mib"] for r in runs))
        growth = {name: results[name, 10]["peak_mib"] / results[name, 1]["peak_mib"] for name in ("extract", "forward")}
        held = {factor: results["extract", factor]["peak_mib"] - results["extract", factor]["baseline_mib"]
                for factor in (1, 10)}  # fmt: skip
        print(f"what extraction itself holds (peak - baseline): {held[1]:.1f} MiB at 1x, {held[10]:.1f} MiB at "
              f"10x ({held[10] / held[1]:.3f}); tokens at 10x / at 1x: "
              f"{results['extract', 10]['n_tokens'] / results['extract', 1]['n_tokens']:.2f}")  # fmt: skip
        print(f"median peak at 10x / at 1x: extract {growth['extract']:.3f}, bare forward {growth['forward']:.3f} "
              "('longest' is the longest input in tokens: it sets the largest batch)")  # fmt: skip
        summary.update(
            peak_rss_growth_10x=round(growth["extract"], 4),
            peak_rss_growth_10x_forward=round(growth["forward"], 4),
            peak_rss_growth_10x_above_baseline=round(held[10] / held[1], 4),
            tokens_10x_over_1x=round(results["extract", 10]["n_tokens"] / results["extract", 1]["n_tokens"], 3),
            peak_rss_mib_1x=round(results["extract", 1]["peak_mib"], 1),
            peak_rss_mib_10x=round(results["extract", 10]["peak_mib"], 1),
            rss_before_extract_mib_1x=round(results["extract", 1]["baseline_mib"], 1),
            rss_before_extract_mib_10x=round(results["extract", 10]["baseline_mib"], 1),
            n_sentences_10x=results["extract", 10]["n_sentences"],
            tokens_10x=results["extract", 10]["n_tokens"],
            longest_1x=results["extract", 1]["longest"],
            longest_10x=results["extract", 10]["longest"],
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
