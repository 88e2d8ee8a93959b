"""Linear CKA layer matrices: lensnb (feature space) against the n x n Gram-matrix route.

``run(values)`` takes a (layer, n, dim) float32 array (MiniLM: 7 x 10,000 tokens x 384)
and times the 7 x 7 linear CKA matrix from :func:`lensnb.geometry.cka.cka_matrix`
(biased and debiased, float64) against the Gram-matrix computation, in float64:

- the main peer is the route of Kornblith et al.'s reference code as a competent user
  runs it: each layer's n x n Gram matrix computed once (numpy), then the reference's
  CKA of two Gram matrices on every pair (it centres copies of both, then takes the
  normalised Frobenius inner product); ``--reps`` runs per estimator, interleaved with
  lensnb runs (which goes first alternates), the median ratio and its range reported;
- a tuned Gram route, interleaved over the repetitions: each Gram centred once, in
  place, torch GEMMs and inner products (3-4x faster than numpy's here), so that the
  ratio measures the method rather than the library;
- a plain-numpy version of the tuned route, once per estimator.
It also times the 13 x 13 matrix of a 12-layer, 768-wide model on 20,000 tokens
(synthetic correlated float32 data) with ``dtype="float32"`` and, once, with float64.

Run alone: ``python benchmarks/bench_geometry_cka.py [--input minilm_10k.npz] [--reps 3]``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from lensnb.geometry.cka import cka_matrix

DEFAULT_INPUT = Path("minilm_10k.npz")  # make it with: python benchmarks/geometry_data.py 10000 minilm_10k.npz
PEER_MEMORY_BYTES = 8 * 2**30


def gram_peer(values: np.ndarray, debiased: bool, library: str = "torch") -> np.ndarray:
    """(L, L) linear CKA from n x n Gram matrices: the textbook route, float64.

    ``library="torch"`` (the main peer) takes the faster library for each step on this
    machine: torch for the Gram GEMM and the inner products, numpy for the in-place
    centring (they share the buffer). ``"numpy"``: numpy throughout (``X @ X.T``,
    ``np.vdot``), as a user writing plain numpy would.
    """
    grams = []
    for layer in values:
        x = np.asarray(layer, dtype=np.float64)
        gram = torch.from_numpy(x) @ torch.from_numpy(x).T if library == "torch" else torch.from_numpy(x @ x.T)
        k = gram.numpy()
        n = k.shape[0]
        if debiased:  # U-centring (Song et al. 2012; Kornblith et al.'s debiased CKA)
            np.fill_diagonal(k, 0.0)
            means = k.sum(axis=0) / (n - 2)
            means -= means.sum() / (2 * (n - 1))
            k -= means[:, None]
            k -= means[None, :]
            np.fill_diagonal(k, 0.0)
        else:  # H K H, K symmetric
            means = k.mean(axis=0)
            k -= means[:, None]
            k -= means[None, :]
            k += means.mean()
        grams.append(gram.view(-1))
    count = len(grams)
    hsic = np.empty((count, count))
    for i in range(count):
        for j in range(i, count):
            if library == "torch":
                hsic[i, j] = hsic[j, i] = float(torch.dot(grams[i], grams[j]))
            else:
                hsic[i, j] = hsic[j, i] = float(np.vdot(grams[i].numpy(), grams[j].numpy()))
    diagonal = np.sqrt(np.diag(hsic))
    return hsic / np.outer(diagonal, diagonal)


def reference_route_peer(values: np.ndarray, debiased: bool) -> np.ndarray:
    """(L, L) linear CKA the way Kornblith et al.'s reference code is used: numpy, float64.

    Their public functions are a Gram matrix per representation (``X @ X.T``), a
    centring function that centres a copy (``unbiased=True`` for the U-centring), and a
    CKA of two Gram matrices that centres both and returns the normalised Frobenius
    inner product. A competent user computes each layer's Gram matrix once and calls the
    CKA function on every pair (i <= j). Written here from that description.
    """

    def centred(gram: np.ndarray) -> np.ndarray:
        k = gram.copy()
        n = k.shape[0]
        if debiased:
            np.fill_diagonal(k, 0.0)
            means = np.sum(k, axis=0) / (n - 2)
            means -= np.sum(means) / (2 * (n - 1))
            k -= means[:, None]
            k -= means[None, :]
            np.fill_diagonal(k, 0.0)
        else:
            means = np.mean(k, axis=0)
            means -= np.mean(means) / 2
            k -= means[:, None]
            k -= means[None, :]
        return k

    def cka(gram_x: np.ndarray, gram_y: np.ndarray) -> float:
        kx, ky = centred(gram_x), centred(gram_y)
        return float(kx.ravel().dot(ky.ravel()) / (np.linalg.norm(kx) * np.linalg.norm(ky)))

    grams = [np.asarray(layer, dtype=np.float64) @ np.asarray(layer, dtype=np.float64).T for layer in values]
    out = np.eye(len(grams))
    for i in range(len(grams)):
        for j in range(i + 1, len(grams)):
            out[i, j] = out[j, i] = cka(grams[i], grams[j])
    return out  # the diagonal is 1 for both estimators (HSIC(K, K) normalised by itself)


def synthetic_layers(n_layers: int = 13, n: int = 20_000, dim: int = 768, seed: int = 0) -> np.ndarray:
    """(n_layers, n, dim) float32: each layer is the previous one plus fresh noise and an offset."""
    rng = np.random.default_rng(seed)
    out = np.empty((n_layers, n, dim), dtype=np.float32)
    out[0] = rng.standard_normal((n, dim), dtype=np.float32)
    for layer in range(1, n_layers):
        out[layer] = 0.9 * out[layer - 1] + 0.45 * rng.standard_normal((n, dim), dtype=np.float32) + 0.1 * layer
    return out


def _timed(function, cpu: list[float] | None = None):
    """Wall seconds and result of ``function()``; its process CPU seconds appended to ``cpu``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    result = function()
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return time.perf_counter() - start, result


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(values: np.ndarray, reps: int = 3) -> dict:
    """Time lensnb's 7 x 7 linear CKA (biased, debiased) against the Gram peer, and the 13 x 13 case."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    n_layers, n, dim = values.shape
    most = int(math.sqrt(PEER_MEMORY_BYTES / (8 * n_layers)))  # the peer holds L float64 n x n matrices
    if n > most:
        print(f"the Gram peer would need {n_layers * n * n * 8 / 2**30:.0f} GiB: comparing the first {most} tokens")
        values, n = np.ascontiguousarray(values[:, :most]), most
    times: dict[str, list[float]] = {k: [] for k in ("lens", "gram", "lens_deb", "gram_deb")}
    cpu: dict[str, list[float]] = {k: [] for k in times}
    diffs = {"biased": 0.0, "debiased": 0.0}
    ours = {}
    for rep in range(reps):
        for debiased in (False, True):
            tag = "_deb" if debiased else ""
            jobs = [
                ("lens" + tag, lambda d=debiased: cka_matrix(values, debiased=d, progress=False).values),
                ("gram" + tag, lambda d=debiased: gram_peer(values, d)),
            ]
            if rep % 2:
                jobs.reverse()
            results = {}
            for key, job in jobs:
                seconds, results[key] = _timed(job, cpu[key])
                times[key].append(seconds)
            name = "debiased" if debiased else "biased"
            ours[name] = results["lens" + tag]
            diffs[name] = max(diffs[name], float(np.abs(results["lens" + tag] - results["gram" + tag]).max()))
        print(f"rep {rep}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()) + f" (load {_load()})")
    ratio = [g / x for g, x in zip(times["gram"], times["lens"])]
    ratio_deb = [g / x for g, x in zip(times["gram_deb"], times["lens_deb"])]
    cpu_ratio = [g / x for g, x in zip(cpu["gram"], cpu["lens"])]
    cpu_ratio_deb = [g / x for g, x in zip(cpu["gram_deb"], cpu["lens_deb"])]
    float32 = {d: cka_matrix(values, debiased=d == "debiased", dtype="float32", progress=False).values for d in ours}

    reference = {}  # the reference-code route, interleaved with lensnb runs (which goes first alternates)
    for debiased in (False, True):
        name = "debiased" if debiased else "biased"
        ratios, peer_times, worst = [], [], 0.0
        for rep in range(reps):
            jobs = [("lens", lambda d=debiased: cka_matrix(values, debiased=d, progress=False)),
                    ("peer", lambda d=debiased: reference_route_peer(values, d))]  # fmt: skip
            if rep % 2:
                jobs.reverse()
            seconds = {}
            for key, job in jobs:
                seconds[key], result = _timed(job)
                if key == "peer":
                    worst = max(worst, float(np.abs(result - ours[name]).max()))
            ratios.append(seconds["peer"] / seconds["lens"])
            peer_times.append(seconds["peer"])
            print(f"reference-code Gram route ({name}) rep {rep}: {seconds['peer']:.2f}s vs lensnb "
                  f"{seconds['lens']:.3f}s: {ratios[-1]:.1f}x (load {_load()})")  # fmt: skip
        reference[name] = (statistics.median(ratios), statistics.median(peer_times), worst, min(ratios), max(ratios))

    numpy_ratio = {}  # the plain-numpy peer, once per estimator (it is slow), next to a lensnb run
    for debiased in (False, True):
        lens_seconds, _ = _timed(lambda d=debiased: cka_matrix(values, debiased=d, progress=False))
        peer_seconds, peer = _timed(lambda d=debiased: gram_peer(values, d, library="numpy"))
        name = "debiased" if debiased else "biased"
        numpy_ratio[name] = (peer_seconds / lens_seconds, peer_seconds, float(np.abs(peer - ours[name]).max()))
        print(f"numpy Gram peer ({name}): {peer_seconds:.2f}s vs lensnb {lens_seconds:.3f}s (load {_load()})")

    big = synthetic_layers()
    big_times, big_f32 = [], None
    for _ in range(reps):
        seconds, result = _timed(lambda: cka_matrix(big, dtype="float32", progress=False).values)
        big_times.append(seconds)
        big_f32 = result
        print(f"13x13 float32: {seconds:.2f}s (load {_load()})")
    big_f64_seconds, big_f64 = _timed(lambda: cka_matrix(big, dtype="float64", progress=False).values)
    print(f"13x13 float64: {big_f64_seconds:.2f}s (load {_load()})")
    big_deb_seconds, _ = _timed(lambda: cka_matrix(big, debiased=True, dtype="float32", progress=False).values)

    return {
        "shape": [n_layers, n, dim],
        "reps": reps,
        "cka_seconds": statistics.median(times["lens"]),
        "cka_gram_seconds": statistics.median(times["gram"]),
        # main figures: against the Gram-matrix route of the reference code (Grams cached per layer)
        "cka_speedup_vs_gram": reference["biased"][0],
        "cka_debiased_speedup_vs_gram": reference["debiased"][0],
        "cka_speedup_vs_gram_range": [reference["biased"][3], reference["biased"][4]],
        "cka_debiased_speedup_vs_gram_range": [reference["debiased"][3], reference["debiased"][4]],
        "cka_gram_reference_seconds": reference["biased"][1],
        "cka_debiased_gram_reference_seconds": reference["debiased"][1],
        "cka_max_abs_diff_vs_gram": max(reference["biased"][2], diffs["biased"]),
        "cka_debiased_max_abs_diff_vs_gram": max(reference["debiased"][2], diffs["debiased"]),
        # against the fastest Gram route we could write (torch GEMMs, in-place centring, one centring per layer)
        "cka_speedup_vs_gram_tuned": statistics.median(ratio),
        "cka_gram_tuned_seconds": statistics.median(times["gram"]),
        "cka_debiased_seconds": statistics.median(times["lens_deb"]),
        "cka_debiased_gram_tuned_seconds": statistics.median(times["gram_deb"]),
        "cka_debiased_speedup_vs_gram_tuned": statistics.median(ratio_deb),
        "cka_cpu_speedup_vs_gram_tuned": statistics.median(cpu_ratio),
        "cka_debiased_cpu_speedup_vs_gram_tuned": statistics.median(cpu_ratio_deb),
        "cka_speedup_vs_gram_numpy": numpy_ratio["biased"][0],
        "cka_gram_numpy_seconds": numpy_ratio["biased"][1],
        "cka_debiased_speedup_vs_gram_numpy": numpy_ratio["debiased"][0],
        "cka_debiased_gram_numpy_seconds": numpy_ratio["debiased"][1],
        "cka_max_abs_diff_vs_gram_numpy": max(numpy_ratio["biased"][2], numpy_ratio["debiased"][2]),
        "cka_float32_max_abs_diff_vs_float64": float(np.abs(float32["biased"] - ours["biased"]).max()),
        "cka_debiased_float32_max_abs_diff_vs_float64": float(np.abs(float32["debiased"] - ours["debiased"]).max()),
        "cka_13x13_20k_seconds": statistics.median(big_times),
        "cka_13x13_20k_float64_seconds": big_f64_seconds,
        "cka_13x13_20k_debiased_float32_seconds": big_deb_seconds,
        "cka_13x13_float32_max_abs_diff_vs_float64": float(np.abs(big_f32 - big_f64).max()),
        "load_average_end": _load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="npz with a (layer, n, dim) 'values' array")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    values = np.load(args.input)["values"]
    print(f"input {args.input}: {values.shape} {values.dtype}; torch threads {torch.get_num_threads()}; load {_load()}")
    result = run(values, reps=args.reps)
    print(
        f"7x7 biased: lensnb {result['cka_seconds']:.3f}s; reference-code Gram route "
        f"{result['cka_gram_reference_seconds']:.1f}s ({result['cka_speedup_vs_gram']:.1f}x); tuned Gram route "
        f"{result['cka_gram_tuned_seconds']:.2f}s ({result['cka_speedup_vs_gram_tuned']:.1f}x); "
        f"max |diff| {result['cka_max_abs_diff_vs_gram']:.1e}"
    )
    print(
        f"7x7 debiased: lensnb {result['cka_debiased_seconds']:.3f}s; reference-code Gram route "
        f"{result['cka_debiased_gram_reference_seconds']:.1f}s ({result['cka_debiased_speedup_vs_gram']:.1f}x); "
        f"tuned {result['cka_debiased_gram_tuned_seconds']:.2f}s ({result['cka_debiased_speedup_vs_gram_tuned']:.1f}x); "
        f"max |diff| {result['cka_debiased_max_abs_diff_vs_gram']:.1e}"
    )
    print(
        f"plain-numpy Gram peer: {result['cka_gram_numpy_seconds']:.1f}s / "
        f"{result['cka_debiased_gram_numpy_seconds']:.1f}s, speedup {result['cka_speedup_vs_gram_numpy']:.1f}x / "
        f"{result['cka_debiased_speedup_vs_gram_numpy']:.1f}x (biased / debiased)"
    )
    print(
        f"13x13, 20k x 768: float32 {result['cka_13x13_20k_seconds']:.2f}s, "
        f"float64 {result['cka_13x13_20k_float64_seconds']:.2f}s, "
        f"float32 max |diff| {result['cka_13x13_float32_max_abs_diff_vs_float64']:.1e}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
