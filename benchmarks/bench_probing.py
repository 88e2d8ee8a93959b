"""Probing benchmark: lensnb's linear probes against scikit-learn, and an edge-probing sweep.

Part 1 (linear): all 7 hidden states of all-MiniLM-L6-v2 for 20,000 UD English EWT
words (first word piece, UPOS tags, 17 classes), split by sentence 80/20 (seed 0).
Each layer is fitted by :class:`lensnb.probing.LinearProbe` (float32 and float64) and
by scikit-learn's ``make_pipeline(StandardScaler(), LogisticRegression(lbfgs))`` with
the same C, tolerance and iteration cap (the probe standardises internally, so both
sides minimise the same objective). Contenders take turns within each repetition, in
an order that rotates, after one warm-up fit each; each side's clock covers fit +
predict of all 7 layers from the matrices in memory. Targets: accuracy within 0.5
points of scikit-learn on every layer, and at least 3x faster in total.

Part 2 (edge): the edge-probing sweep (``probe_layers`` with
:class:`lensnb.probing.EdgeProbe`, self-attentive pooling, span pairs) over the 7 layers
on UD EWT dependency arcs (span 1 = dependent, span 2 = head, label = universal
relation without subtype), split by sentence 80/10/10, one seed, early stopping on dev.

Run::

    PYTHONUNBUFFERED=1 .venv/bin/python benchmarks/bench_probing.py            # ~3 minutes on 2 cores
    PYTHONUNBUFFERED=1 .venv/bin/python benchmarks/bench_probing.py --paper-schedule

``--paper-schedule`` also times the edge sweep with Tenney et al.'s own schedule (lr
1e-4, batch 32, AMSGrad, the rate halved at the 6th validation without improvement and
a stop at the 21st, as jiant counts), which takes minutes rather than seconds.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from geometry_data import data_dir, ewt_examples  # noqa: E402

import lensnb  # noqa: E402
from lensnb import Example, Span, SpanPair  # noqa: E402
from lensnb.probing.edge import EdgeProbe  # noqa: E402
from lensnb.probing.estimators import LinearProbe  # noqa: E402
from lensnb.probing.features import probing_data, span_pair_task, token_task  # noqa: E402
from lensnb.probing.splits import split_by_group  # noqa: E402
from lensnb.probing.sweep import probe_layers  # noqa: E402

#: A faster schedule for the same architecture (the paper's: lr 1e-4, batch 32, patience 20, lr_patience 5).
FAST_EDGE = dict(learning_rate=1e-3, batch_size=128, patience=5, lr_patience=2)


def ewt_arcs(limit: int) -> list[Example]:
    """UD EWT train sentences with one span pair per dependency arc (dependent, head; relation)."""
    path = data_dir() / "ud_english_ewt" / "en_ewt-ud-train.conllu"
    examples, rows, text = [], [], None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("# text = "):
                text = line[len("# text = ") :]
            elif line and not line.startswith("#"):
                columns = line.split("\t")
                if columns[0].isdigit():
                    rows.append((columns[1], int(columns[6]), columns[7].split(":")[0]))
            elif not line and rows:
                words = [word for word, _, _ in rows]
                pairs = [
                    SpanPair(Span(i, i + 1), Span(head - 1, head), relation)
                    for i, (_, head, relation) in enumerate(rows)
                    if head > 0
                ]
                examples.append(Example(words=words, span_pairs=pairs, text=text))
                rows, text = [], None
                if len(examples) == limit:
                    break
    return examples


def linear_part(model, n_tokens: int, reps: int, C: float, tol: float, max_iter: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    examples = ewt_examples(limit=max(100, n_tokens // 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EWT splits words like "cannot": the second word gets no piece
        acts = lensnb.extract(model, examples, progress=False)
    data = probing_data(acts, token_task("upos", pieces="first"))
    if data.n_items < n_tokens:
        raise SystemExit(f"only {data.n_items} labelled words; {n_tokens} were asked for")
    keep = np.arange(n_tokens)
    y, groups = data.y[keep], data.groups[keep]
    split = split_by_group(groups, (0.8, 0.0, 0.2), seed=0)
    layers = [np.ascontiguousarray(data.features(layer)[keep]) for layer in data.layers]
    train = [X[split.train] for X in layers]
    test = [X[split.test] for X in layers]
    y_train, y_test = y[split.train], y[split.test]
    print(f"linear: {len(layers)} layers x {n_tokens} words x {layers[0].shape[1]}, {len(np.unique(y))} classes, "
          f"train {len(split.train)} / test {len(split.test)}", flush=True)  # fmt: skip

    contenders = {
        "lensnb_float32": lambda: LinearProbe(C=C, tol=tol, max_iter=max_iter),
        "lensnb_float64": lambda: LinearProbe(C=C, tol=tol, max_iter=max_iter, dtype="float64"),
        "sklearn": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=C, tol=tol, max_iter=max_iter)),
    }

    def run(name):
        accuracies, probabilities, iterations = [], [], []
        start = time.perf_counter()
        for X, Xt in zip(train, test):
            probe = contenders[name]().fit(X, y_train)
            probabilities.append(probe.predict_proba(Xt))
            accuracies.append(float(np.mean(probe.predict(Xt) == y_test)))
            last = probe[-1] if hasattr(probe, "steps") else probe
            iterations.append(int(np.max(last.n_iter_)))
        return time.perf_counter() - start, accuracies, probabilities, iterations

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in contenders:  # warm-up: one layer each
            contenders[name]().fit(train[0][:2000], y_train[:2000])
        times = {name: [] for name in contenders}
        results = {}
        names = list(contenders)
        for rep in range(reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for name in order:
                seconds, accuracies, probabilities, iterations = run(name)
                times[name].append(seconds)
                results[name] = (accuracies, probabilities, iterations)
            print(f"  rep {rep}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in names), flush=True)
    ours, ref = results["lensnb_float32"], results["sklearn"]
    speedups = [s / o for s, o in zip(times["sklearn"], times["lensnb_float32"])]
    speedups64 = [s / o for s, o in zip(times["sklearn"], times["lensnb_float64"])]
    gaps = 100 * np.abs(np.array(ours[0]) - np.array(ref[0]))
    gaps64 = 100 * np.abs(np.array(results["lensnb_float64"][0]) - np.array(ref[0]))
    prob_diff = max(float(np.abs(a - b).max()) for a, b in zip(ours[1], ref[1]))
    for layer, a, b, g in zip(data.layers, ours[0], ref[0], gaps):
        print(f"  layer {layer}: lensnb {100 * a:.2f}  sklearn {100 * b:.2f}  gap {g:.3f} points", flush=True)
    return {
        "speedup_vs_sklearn": float(np.median(speedups)),
        "speedup_vs_sklearn_float64": float(np.median(speedups64)),
        "max_acc_gap_points": float(gaps.max()),
        "max_acc_gap_points_float64": float(gaps64.max()),
        "max_proba_diff_vs_sklearn": prob_diff,
        "lensnb_seconds_7_layers": float(np.median(times["lensnb_float32"])),
        "lensnb_float64_seconds_7_layers": float(np.median(times["lensnb_float64"])),
        "sklearn_seconds_7_layers": float(np.median(times["sklearn"])),
        "accuracy_lensnb": [round(a, 5) for a in ours[0]],
        "accuracy_sklearn": [round(a, 5) for a in ref[0]],
        "iterations_lensnb": ours[2],
        "iterations_sklearn": ref[2],
        "linear_n_tokens": n_tokens,
        "linear_n_classes": int(len(np.unique(y))),
        "linear_n_train": int(len(split.train)),
        "linear_n_test": int(len(split.test)),
        "linear_settings": {"C": C, "tol": tol, "max_iter": max_iter, "reps": reps},
    }


def edge_part(model, sentences: int, settings: dict, label: str) -> dict:
    examples = ewt_arcs(sentences)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acts = lensnb.extract(model, examples, progress=False)
        start = time.perf_counter()
        profile = probe_layers(
            acts, span_pair_task(pool="self_attentive"), probe=EdgeProbe(**settings), seeds=(0,), progress=False
        )  # fmt: skip
        seconds = time.perf_counter() - start
    sizes = profile.details["split_sizes"][0]
    print(f"edge ({label}): {len(profile.table)} arcs, {profile.params['n_classes']} relations, {sentences} sentences, "
          f"split {sizes}: {seconds:.1f}s; baseline {profile.details['majority_baseline']:.3f}", flush=True)  # fmt: skip
    print("  " + ", ".join(f"layer {layer}: {value:.4f}" for layer, value in zip(profile.layers, profile.values)))
    return {
        f"edge_sweep_seconds{label}": seconds,
        f"edge_accuracy{label}": [round(float(v), 5) for v in profile.values],
        f"edge_macro_f1{label}": [round(float(v), 5) for v in profile.details["macro_f1"]],
        f"edge_majority_baseline{label}": profile.details["majority_baseline"],
        f"edge_settings{label}": settings,
        "edge_n_arcs": len(profile.table),
        "edge_n_relations": profile.params["n_classes"],
        "edge_split_sizes": sizes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--edge-sentences", type=int, default=500)
    parser.add_argument("--paper-schedule", action="store_true")
    parser.add_argument("--skip-linear", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    model = lensnb.load_model()
    result: dict = {"load_average_start": [round(v, 2) for v in load_before]}
    if not args.skip_linear:
        result.update(linear_part(model, args.tokens, args.reps, args.C, args.tol, args.max_iter))
    result.update(edge_part(model, args.edge_sentences, dict(FAST_EDGE), ""))
    if args.paper_schedule:
        result.update(edge_part(model, args.edge_sentences, {}, "_paper_schedule"))
    result["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
