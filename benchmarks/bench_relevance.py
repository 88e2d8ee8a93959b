"""Benchmark: Chefer et al.'s transformer attribution and AttnLRP against a forward pass and Captum.

What is measured
----------------
The embedded all-MiniLM-L6-v2 with a freshly initialised two-class head (seeded; the
head's weights do not change the cost), one batch of 16 ERASER Movie Reviews excerpts
of exactly 128 real tokens each ([CLS] and [SEP] included: whole words of one review
each, no padding anywhere).

1. **Time, against a forward pass.** F is ``model(input_ids, attention_mask)`` on the
   batch under ``torch.inference_mode`` (sdpa attention, no hidden states). lensnb's
   calls are the whole ``method.attribute(texts)`` (tokenizing, the token table, eager
   attention, the passes, gathering the scores), float32, ``batch_size=16`` (one
   batch), ``progress=False``, explaining the predicted class:
   ``TransformerAttribution(start_layer=0)`` (rollout over every block, the default),
   ``TransformerAttribution(start_layer=-1)`` (last block only, the paper's Movie
   Reviews setting) and ``AttnLRP``. After one warm-up round, ``--rounds`` rounds
   run all four in turn, the order rotating each round; each figure ``X_over_forward``
   is the median of the per-round ratios X / F. The script checks first that lensnb's
   planner gives exactly the token ids the forward pass gets.
2. **Against Captum.** ``captum.attr.LayerIntegratedGradients`` on the word embeddings,
   50 steps (Gauss-Legendre, Captum's default), the same ids, the predicted class as
   target, baseline ids = the padding id at every non-special position, internal batch
   64 rows. The model's parameters are frozen for it (``requires_grad=False``, as
   lensnb does for its own passes): that spares autograd the weights' part of the graph
   and only makes the peer faster. ``--captum-rounds`` runs, each followed by one run
   of each lensnb method; ``*_speedup_vs_captum`` = median Captum time / median time
   of the method (all its runs). lensnb's own ``IntegratedGradients(n_steps=50)`` runs
   once for reference and its attributions are compared with Captum's.
3. **Growth with length.** F, ``TransformerAttribution(start_layer=0)`` and
   ``AttnLRP`` at 512 tokens (the same 16 reviews, longer excerpts), in rounds as in
   1; ``growth_512_over_128`` = median time at 512 / median at 128. At 512 tokens
   lensnb's planner runs the 16 inputs as 4 batches of 4 (it caps inputs x length**2
   per batch); ``forward`` is F on all 16 at once, ``forward_split`` F over lensnb's
   4 batches.
4. **Peak memory.** One fresh process per method and length (this script with
   ``--child-memory``): it loads the model, builds the batch, resets the peak
   (``/proc/self/clear_refs``), reads ``VmRSS`` (the loaded-model baseline), runs the
   method once and reads ``VmHWM``. ``peak_rss_mib`` is the peak, ``rss_growth_mib``
   the peak minus the baseline (the Captum process imports Captum before it).

The last line printed is one JSON object with the key figures. Data come from
``$LENSNB_DATA`` or ``<repo>/../shared/data``. Run::

    PYTHONUNBUFFERED=1 python benchmarks/bench_relevance.py [--rounds 5] [--captum-rounds 2] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import transformers

import lensnb
from lensnb.relevance import AttnLRP, IntegratedGradients, TransformerAttribution
from lensnb.relevance.inputs import model_batches, plan_inputs

BATCH = 16
SHORT, LONG = 128, 512
N_STEPS = 50
INTERNAL_BATCH = 64  # path points per forward pass, Captum and lensnb's IG alike
SEED = 0
TARGETS = {"chefer_over_forward": 4.0, "attnlrp_over_forward": 3.5, "speedup_vs_captum": 10.0}
METHODS = ("forward", "chefer", "chefer_last", "attnlrp")
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- model and inputs


def load() -> lensnb.LensModel:
    transformers.utils.logging.set_verbosity_error()  # the "classifier MISSING" load report
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(SEED)
    return lensnb.load_model(task="sequence-classification", num_labels=2)


def data_dir() -> Path:
    return Path(os.environ.get("LENSNB_DATA") or REPO.parent / "shared" / "data")


def review_excerpts(tokenizer, n: int, length: int) -> list[str]:
    """``n`` excerpts of distinct ERASER movie reviews, each exactly ``length`` tokens with [CLS]/[SEP].

    Whole words of a review in order; when the next word would overshoot, later words
    that fit are taken instead (the files are pre-tokenized, so words tokenize alone as
    they do in the joined text; checked by the caller).
    """
    docs = sorted((data_dir() / "eraser_movies" / "docs").glob("*.txt"))
    if not docs:
        raise SystemExit(f"no ERASER movie reviews under {data_dir() / 'eraser_movies' / 'docs'}")
    budget = length - 2
    texts: list[str] = []
    for doc in docs:
        words = doc.read_text(encoding="utf-8").split()
        counts = [len(ids) for ids in tokenizer(words, add_special_tokens=False)["input_ids"]]
        chosen, total = [], 0
        for word, count in zip(words, counts):
            if count and total + count <= budget:
                chosen.append(word)
                total += count
                if total == budget:
                    break
        if total == budget:
            texts.append(" ".join(chosen))
            if len(texts) == n:
                return texts
    raise SystemExit(f"only {len(texts)} reviews reach {length} tokens; {n} were asked for")


def batch_of(lm: lensnb.LensModel, length: int) -> tuple[list[str], torch.Tensor, torch.Tensor, list[np.ndarray]]:
    """Texts, their (BATCH, length) ids and mask, and how lensnb batches them (text indices per batch).

    The ids are checked against lensnb's own planner: every method sees these ids.
    """
    texts = review_excerpts(lm.tokenizer, BATCH, length)
    encoded = lm.tokenizer(texts, return_tensors="pt", padding=True)
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    if ids.shape != (BATCH, length) or not bool(mask.all()):
        raise SystemExit(f"inputs are {tuple(ids.shape)} with padding, not {BATCH} x {length} real tokens")
    plan = plan_inputs(lm, texts, max_length=None, overflow="error", stride=None)
    if not np.array_equal(plan.segment_text, np.arange(BATCH)):
        raise SystemExit("lensnb's planner did not make one model input per text")
    planned = torch.full_like(ids, -1)
    split = []
    for batch in model_batches(plan, lm.padding_id, BATCH, torch.device("cpu")):
        if batch.input_ids.shape[1] != length or not bool(batch.attention_mask.all()):
            raise SystemExit("lensnb's planner padded or cut the inputs")
        planned[torch.as_tensor(batch.segments)] = batch.input_ids
        split.append(np.asarray(batch.segments))
    if not torch.equal(planned, ids):
        raise SystemExit("lensnb's planner and the tokenizer disagree on the token ids")
    return texts, ids, mask, split


def dense_scores(relevance: lensnb.relevance.Relevance, length: int) -> np.ndarray:
    """Relevance scores as (BATCH, length), texts in order."""
    out = np.full((BATCH, length), np.nan)
    tokens = relevance.tokens
    out[tokens["text_id"].to_numpy(), tokens["position"].to_numpy()] = relevance.scores
    return out


# ---------------------------------------------------------------- timed runs


def make_methods(lm: lensnb.LensModel) -> dict:
    options = {"batch_size": BATCH, "dtype": "float32", "progress": False}
    return {
        "chefer": TransformerAttribution(lm, start_layer=0, **options),
        "chefer_last": TransformerAttribution(lm, start_layer=-1, **options),
        "attnlrp": AttnLRP(lm, **options),
        "ig": IntegratedGradients(lm, n_steps=N_STEPS, internal_batch_size=INTERNAL_BATCH, **options),
    }


def run_forward(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=mask).logits
    return time.perf_counter() - start, logits


def run_forward_split(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, split: list[np.ndarray]) -> float:
    """F over the batches lensnb makes of the same inputs (it caps inputs x length**2 per batch)."""
    start = time.perf_counter()
    with torch.inference_mode():
        for rows in split:
            index = torch.as_tensor(rows)
            model(input_ids=ids[index], attention_mask=mask[index])
    return time.perf_counter() - start


def run_method(method, texts: list[str]) -> tuple[float, lensnb.relevance.Relevance]:
    start = time.perf_counter()
    relevance = method.attribute(texts)
    return time.perf_counter() - start, relevance


def baseline_ids(lm: lensnb.LensModel, ids: torch.Tensor) -> torch.Tensor:
    """The padding id at every non-special position (what lensnb's IntegratedGradients uses)."""
    special = torch.as_tensor(sorted(set(lm.tokenizer.all_special_ids)))
    return torch.where(torch.isin(ids, special), ids, torch.full_like(ids, lm.padding_id))


def run_captum(
    lm: lensnb.LensModel, ids: torch.Tensor, mask: torch.Tensor, target: torch.Tensor
) -> tuple[float, np.ndarray]:
    """Captum's LayerIntegratedGradients on the word embeddings; (seconds, (BATCH, T) attributions)."""
    from captum.attr import LayerIntegratedGradients

    model = lm.model

    def forward_fn(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return model(input_ids=input_ids, attention_mask=attention_mask).logits

    flags = [(p, p.requires_grad) for p in model.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        start = time.perf_counter()
        lig = LayerIntegratedGradients(forward_fn, model.get_input_embeddings())
        attributions = lig.attribute(
            ids, baselines=baseline_ids(lm, ids), target=target, additional_forward_args=(mask,),
            n_steps=N_STEPS, internal_batch_size=INTERNAL_BATCH,
        )  # fmt: skip
        scores = attributions.sum(-1)
        seconds = time.perf_counter() - start
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
    return seconds, scores.detach().numpy().astype(np.float64)


def timed_rounds(lm, methods: dict, inputs: tuple, rounds: int, names: tuple[str, ...], label: str) -> dict:
    """One warm-up round, then ``rounds`` rounds of every name in rotating order; seconds per name."""
    texts, ids, mask, split = inputs

    def once(name: str) -> float:
        if name == "forward":
            return run_forward(lm.model, ids, mask)[0]
        if name == "forward_split":
            return run_forward_split(lm.model, ids, mask, split)
        return run_method(methods[name], texts)[0]

    warm = {name: once(name) for name in names}
    print(f"warm-up ({label}): " + ", ".join(f"{n} {s:.3f} s" for n, s in warm.items()))
    seconds: dict[str, list[float]] = {name: [] for name in names}
    print(f"{'round':>5} " + " ".join(f"{n + ' s':>13}" for n in names) + " " +
          " ".join(f"{n + '/F':>13}" for n in names[1:]))  # fmt: skip
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            seconds[name].append(once(name))
        f = seconds["forward"][-1]
        print(f"{r:>5} " + " ".join(f"{seconds[n][-1]:>13.3f}" for n in names) + " " +
              " ".join(f"{seconds[n][-1] / f:>13.2f}" for n in names[1:]))  # fmt: skip
    return seconds


def over_forward(seconds: dict, name: str) -> float:
    return statistics.median(s / f for s, f in zip(seconds[name], seconds["forward"]))


def verdict(value: float, target: float, at_most: bool) -> str:
    return "PASS" if (value <= target if at_most else value >= target) else "MISS"


# ---------------------------------------------------------------- peak memory


def _status(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child_memory(method: str, length: int) -> None:
    """In a fresh process: run ``method`` once on the batch of ``length`` tokens; print peak RSS as JSON."""
    lm = load()
    texts, ids, mask, split = batch_of(lm, length)
    if method == "captum":
        import captum.attr  # noqa: F401  (imported before the baseline)

        target = torch.as_tensor(run_forward(lm.model, ids, mask)[1].argmax(-1))
    runner = make_methods(lm).get(method)
    gc.collect()
    reset = True
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")  # reset VmHWM to the current RSS
    except OSError:
        reset = False
    baseline = _status("VmRSS") if reset else _status("VmHWM")
    if method == "forward":
        seconds = run_forward(lm.model, ids, mask)[0]
    elif method == "forward_split":
        seconds = run_forward_split(lm.model, ids, mask, split)
    elif method == "captum":
        seconds = run_captum(lm, ids, mask, target)[0]
    else:
        seconds = run_method(runner, texts)[0]
    peak = _status("VmHWM")
    print(json.dumps({"method": method, "tokens": length, "seconds": seconds, "baseline_mib": baseline,
                      "peak_mib": peak, "hwm_reset": reset}))  # fmt: skip


def measure_memory(method: str, length: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child-memory", method, "--tokens", str(length)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"memory child {command[2:]} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds at 128 tokens (default 5)")
    parser.add_argument("--long-rounds", type=int, default=3, help="timed rounds at 512 tokens (default 3)")
    parser.add_argument("--captum-rounds", type=int, default=2, help="Captum runs (default 2; 20-40 s each)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 rounds, 1 Captum run, no 512 tokens, no memory")  # fmt: skip
    parser.add_argument("--skip-long", action="store_true", help="skip the 512-token timings")
    parser.add_argument("--skip-memory", action="store_true", help="skip the peak-memory children")
    parser.add_argument("--child-memory", choices=("forward", "forward_split", "chefer", "attnlrp", "captum"),
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--tokens", type=int, default=SHORT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory is not None:
        child_memory(args.child_memory, args.tokens)
        return
    if min(args.rounds, args.long_rounds, args.captum_rounds) < 1:
        parser.error("--rounds, --long-rounds and --captum-rounds must be at least 1")
    if args.quick:
        args.rounds, args.captum_rounds, args.skip_long, args.skip_memory = 2, 1, True, True

    print(f"lensnb {lensnb.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}")  # fmt: skip
    lm = load()
    model = lm.model
    print(f"model {lm.name} ({type(model).__name__}, fresh 2-class head, seed {SEED}): "
          f"attention {model.config._attn_implementation}, device {lm.device}")  # fmt: skip
    inputs = batch_of(lm, SHORT)
    texts, ids, mask, split = inputs
    if len(split) != 1:
        raise SystemExit(f"lensnb split the {SHORT}-token batch into {len(split)} batches, not one")
    print(f"inputs: {BATCH} ERASER movie-review excerpts x {SHORT} real tokens (no padding); "
          "lensnb's planner gives the same token ids")  # fmt: skip
    methods = make_methods(lm)

    # 1. time against the forward pass
    print(f"\n1. time at {BATCH} x {SHORT} tokens (seconds; ratios to the forward pass F of the same round)")
    short = timed_rounds(lm, methods, inputs, args.rounds, METHODS, f"{SHORT} tokens")
    med = {name: statistics.median(s) for name, s in short.items()}
    ratio = {name: over_forward(short, name) for name in METHODS[1:]}

    # 2. Captum and lensnb's IG
    _, logits = run_forward(model, ids, mask)
    target = logits.argmax(-1)
    print(f"\n2. Captum LayerIntegratedGradients ({N_STEPS} steps, internal batch {INTERNAL_BATCH}, "
          f"targets = predicted classes {target.tolist()}), each run followed by one run of each lensnb method")  # fmt: skip
    captum_s: list[float] = []
    captum_scores = None
    for r in range(args.captum_rounds):
        gc.collect()
        seconds, captum_scores = run_captum(lm, ids, mask, target)
        captum_s.append(seconds)
        after = {name: run_method(methods[name], texts)[0] for name in METHODS[1:]}
        for name, value in after.items():
            short[name].append(value)
        print(f"  captum run {r}: {seconds:.2f} s; then " + ", ".join(f"{n} {s:.3f} s" for n, s in after.items()))
    med.update({name: statistics.median(short[name]) for name in METHODS[1:]})
    med_captum = statistics.median(captum_s)
    gc.collect()
    ig_seconds, ig = run_method(methods["ig"], texts)
    if not np.array_equal(ig.segments.sort_values("text_id")["target"].to_numpy(), target.numpy()):
        raise SystemExit("lensnb's IntegratedGradients explained other classes than Captum")
    ig_scores = dense_scores(ig, SHORT)
    scale = float(np.abs(captum_scores).max())
    ig_diff = float(np.abs(ig_scores - captum_scores).max())
    ig_corr = float(np.corrcoef(ig_scores.ravel(), captum_scores.ravel())[0, 1])
    print(f"  lensnb IntegratedGradients({N_STEPS} steps), once: {ig_seconds:.2f} s "
          f"({med_captum / ig_seconds:.2f}x Captum's speed); max |lensnb IG - Captum| = {ig_diff:.3e} "
          f"= {ig_diff / scale:.2e} of max |Captum| ({scale:.3e}); correlation {ig_corr:.6f}")  # fmt: skip
    speedup = {name: med_captum / med[name] for name in ("chefer", "chefer_last", "attnlrp")}

    # 3. growth with length
    growth = None
    if not args.skip_long:
        inputs_long = batch_of(lm, LONG)
        split_long = inputs_long[3]
        print(f"\n3. time at {BATCH} x {LONG} tokens (same reviews, longer excerpts). lensnb's methods run them "
              f"as {len(split_long)} batches of {'/'.join(str(len(b)) for b in split_long)} (it caps inputs x "
              "length^2 per batch); forward_split is F over those same batches, forward is F on all 16 at once")  # fmt: skip
        names = ("forward", "forward_split", "chefer", "attnlrp")
        long = timed_rounds(lm, methods, inputs_long, args.long_rounds, names, f"{LONG} tokens")
        at_short = {"forward_split": "forward"}  # one batch at 128 tokens: the same run
        growth = {n: statistics.median(long[n]) / statistics.median(short[at_short.get(n, n)]) for n in names}
        long_ratio = {name: over_forward(long, name) for name in names[1:]}
        print(f"  median time at {LONG} / at {SHORT}: " + ", ".join(f"{n} {g:.2f}x" for n, g in growth.items())
              + f" (4x the tokens); at {LONG}: chefer/F {long_ratio['chefer']:.2f}, "
              f"attnlrp/F {long_ratio['attnlrp']:.2f}")  # fmt: skip

    # 4. peak memory
    memory: dict[str, dict] = {}
    if not args.skip_memory:
        print("\n4. peak memory (one fresh process each: VmRSS after loading the model and the batch, "
              "then VmHWM after one run)")  # fmt: skip
        print(f"{'method':>13} {'tokens':>6} {'seconds':>8} {'loaded MiB':>10} {'peak MiB':>9} {'growth MiB':>10}")
        jobs = [(m, SHORT) for m in ("forward", "chefer", "attnlrp", "captum")]
        if not args.skip_long:
            jobs += [(m, LONG) for m in ("forward", "forward_split", "chefer", "attnlrp")]
        for method, length in jobs:
            result = measure_memory(method, length)
            memory[f"{method}_{length}"] = result
            note = "" if result["hwm_reset"] else "  (VmHWM could not be reset: baseline is the loading peak)"
            print(f"{method:>13} {length:>6} {result['seconds']:>8.2f} {result['baseline_mib']:>10.1f} "
                  f"{result['peak_mib']:>9.1f} {result['peak_mib'] - result['baseline_mib']:>10.1f}{note}")  # fmt: skip

    # summary
    print(f"\nsummary at {BATCH} x {SHORT} tokens (medians; X / F are medians of per-round ratios):")
    print(f"  forward pass F                {med['forward']:.3f} s")
    lines = [
        ("chefer (start_layer=0) / F", ratio["chefer"], "chefer_over_forward", True),
        ("chefer (start_layer=-1) / F", ratio["chefer_last"], None, True),
        ("attnlrp / F", ratio["attnlrp"], "attnlrp_over_forward", True),
        (f"Captum LayerIG ({N_STEPS}) / F", med_captum / med["forward"], None, True),
        ("Captum / chefer", speedup["chefer"], "speedup_vs_captum", False),
        ("Captum / chefer_last", speedup["chefer_last"], None, False),
        ("Captum / attnlrp", speedup["attnlrp"], "speedup_vs_captum", False),
    ]
    for label, value, key, at_most in lines:
        if key is None:
            print(f"  {label:<29} {value:>6.2f}")
        else:
            limit, sign = TARGETS[key], "<=" if at_most else ">="
            print(f"  {label:<29} {value:>6.2f}   target {sign} {limit:<4} {verdict(value, limit, at_most)}")
    if growth:
        print(f"  time growth {SHORT} -> {LONG} tokens (4x the tokens): F {growth['forward']:.2f}x "
              f"(F over lensnb's batches {growth['forward_split']:.2f}x), chefer {growth['chefer']:.2f}x, "
              f"attnlrp {growth['attnlrp']:.2f}x")  # fmt: skip

    def r(value: float, digits: int = 4) -> float:
        return round(float(value), digits)

    summary = {
        "chefer_over_forward": r(ratio["chefer"], 3),
        "chefer_last_layer_over_forward": r(ratio["chefer_last"], 3),
        "attnlrp_over_forward": r(ratio["attnlrp"], 3),
        "chefer_speedup_vs_captum": r(speedup["chefer"], 2),
        "chefer_last_layer_speedup_vs_captum": r(speedup["chefer_last"], 2),
        "attnlrp_speedup_vs_captum": r(speedup["attnlrp"], 2),
        "captum_over_forward": r(med_captum / med["forward"], 2),
        "forward_s": r(med["forward"]),
        "chefer_s": r(med["chefer"]),
        "chefer_last_layer_s": r(med["chefer_last"]),
        "attnlrp_s": r(med["attnlrp"]),
        "captum_s": r(med_captum, 3),
        "lensnb_ig_s": r(ig_seconds, 3),
        "ig_vs_captum_max_abs_diff": float(f"{ig_diff:.4g}"),
        "ig_vs_captum_max_abs_diff_relative": float(f"{ig_diff / scale:.4g}"),
        "growth_512_over_128": {k: r(v, 3) for k, v in growth.items()} if growth else None,
        "peak_rss_mib": {k: r(v["peak_mib"], 1) for k, v in memory.items()} or None,
        "rss_growth_mib": {k: r(v["peak_mib"] - v["baseline_mib"], 1) for k, v in memory.items()} or None,
        "batch": BATCH,
        "tokens": SHORT,
        "rounds": args.rounds,
        "captum_rounds": args.captum_rounds,
        "n_steps": N_STEPS,
        "torch_threads": torch.get_num_threads(),
        "targets": {
            "chefer_over_forward_max": TARGETS["chefer_over_forward"],
            "attnlrp_over_forward_max": TARGETS["attnlrp_over_forward"],
            "speedup_vs_captum_min": TARGETS["speedup_vs_captum"],
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
