"""Benchmark: the geometry core against the peers a user would otherwise run.

What is measured (real all-MiniLM-L6-v2 states of UD English EWT tokens, 7 layers x 384,
tokens whose vectors are distinct at every layer: see ``geometry_data.minilm_tokens``)
-----------------------------------------------------------------------------------
1. **Profile** (10,000 tokens): TwoNN ID of every layer (base fit, fraction 0.9) + the
   7 x 7 layer neighbourhood-overlap matrix (k = 30) + the label (UPOS) overlap of every
   layer (plain mean), by ``lensnb.geometry.geometry_profile`` (bootstrap error bars
   included) against DADApy 0.3.4 through its public API (``peers/dadapy_profile.py``,
   run in its own environment: ``peers/make_dadapy_env.sh``), interleaved, several
   repetitions; each side's time starts from the arrays in memory. Values compared.
2. **TwoNN at 50,000 x 384** (last layer): lensnb against DADApy (``maxk=2``) and
   scikit-dimension (``skdim.id.TwoNN``), interleaved; ratio to the fastest peer.
3. **CKA** (``bench_geometry_cka``): 7 x 7 linear CKA, biased and debiased, against the
   Gram-matrix computation; the 13 x 13 matrix of a 12-layer, 768-wide model on 20,000 tokens.
4. **Projections** (``bench_geometry_projections``): PCA of all 7 layers, t-SNE and UMAP
   seconds per layer.

Run::

    PYTHONUNBUFFERED=1 python benchmarks/bench_geometry.py [--reps 3] [--skip-50k] [--skip-tsne]

The DADApy environment is looked up at ``$LENSNB_DADAPY_PYTHON`` or
``<repo>/../peers/dadapy-env/bin/python``. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import geometry_data  # noqa: E402

from lensnb.geometry.intrinsic_dimension import twonn  # noqa: E402
from lensnb.geometry.profile import geometry_profile  # noqa: E402


def dadapy_python() -> Path:
    path = Path(os.environ.get("LENSNB_DADAPY_PYTHON") or HERE.parents[1] / "peers" / "dadapy-env" / "bin" / "python")
    if not path.exists():
        raise SystemExit(f"no DADApy environment at {path}: run benchmarks/peers/make_dadapy_env.sh first")
    return path


def run_dadapy(arrays: Path, *extra: str) -> dict:
    command = [str(dadapy_python()), str(HERE / "peers" / "dadapy_profile.py"), "--input", str(arrays), *extra]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"DADApy failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def profile_part(values: np.ndarray, labels: np.ndarray, reps: int, scratch: Path) -> dict:
    arrays = scratch / "profile.npz"
    np.savez(arrays, values=values, labels=labels)
    geometry_profile(values[:, :2000], labels[:2000], progress=False)  # warm-up (torch, allocations)
    ours, peer, peer_values = [], [], None
    print(f"\nprofile: {values.shape[0]} layers x {values.shape[1]} tokens x {values.shape[2]}, k = 30")
    print(f"{'rep':>3} {'lensnb s':>9} {'DADApy s':>9} {'speedup':>8}")
    for rep in range(reps):
        order = ("lensnb", "dadapy") if rep % 2 == 0 else ("dadapy", "lensnb")
        for which in order:
            if which == "lensnb":
                seconds, result = timed(geometry_profile, values, labels, k=30, fraction=0.9, progress=False)
                ours.append(seconds)
            else:
                report = run_dadapy(arrays, "--k", "30", "--fraction", "0.9", "--reps", "1", "--warmup")
                peer.append(report["seconds"][0])
                peer_values = report
        print(f"{rep:>3} {ours[-1]:>9.3f} {peer[-1]:>9.3f} {peer[-1] / ours[-1]:>8.2f}")
    diff = max(
        np.abs(result.intrinsic_dimension.values - np.asarray(peer_values["twonn"])).max(),
        np.abs(result.overlap.values - np.asarray(peer_values["overlap"])).max(),
        np.abs(result.label_overlap.values - np.asarray(peer_values["label_overlap"])).max(),
    )
    print("ID     ", np.round(result.intrinsic_dimension.values, 4).tolist())
    print("ID err ", np.round(result.intrinsic_dimension.errors, 4).tolist())
    print("labels ", np.round(result.label_overlap.values, 4).tolist())
    print(f"max |lensnb - DADApy| over ID, overlap matrix and label overlap: {diff:.2e}")
    speedups = [p / o for p, o in zip(peer, ours)]
    return {
        "profile_speedup_vs_dadapy": round(statistics.median(speedups), 3),
        "profile_max_abs_diff_vs_dadapy": float(diff),
        "profile_lensnb_s": round(statistics.median(ours), 3),
        "profile_dadapy_s": round(statistics.median(peer), 3),
        "profile_tokens": int(values.shape[1]),
    }


def twonn_part(x: np.ndarray, reps: int, scratch: Path) -> dict:
    import skdim

    arrays = scratch / "twonn.npz"
    np.savez(arrays, values=x[None], labels=np.zeros(len(x), dtype=np.int64))
    print(f"\nTwoNN on {x.shape[0]} x {x.shape[1]} (last layer)")
    print(f"{'rep':>3} {'lensnb s':>9} {'DADApy s':>9} {'skdim s':>9}")
    ours, dadapy, sk = [], [], []
    values = {}
    twonn(x[:2000], fraction=0.9)  # warm-up, as the peer's (--warmup)
    for rep in range(reps):
        for which in ("lensnb", "dadapy") if rep % 2 == 0 else ("dadapy", "lensnb"):  # interleaved
            if which == "lensnb":
                seconds, values["lensnb"] = timed(twonn, x, fraction=0.9)
                ours.append(seconds)
            else:
                report = run_dadapy(arrays, "--fraction", "0.9", "--reps", "1", "--twonn-only", "--warmup")
                dadapy.append(report["seconds"][0])
                values["dadapy"] = report["twonn"][0]
        if rep == 0:  # scikit-dimension takes minutes at this size: once (warmed on 2,000 points first)
            skdim.id.TwoNN(discard_fraction=0.1).fit(x[:2000].astype(np.float64))
            seconds, model = timed(skdim.id.TwoNN(discard_fraction=0.1).fit, x.astype(np.float64))
            sk.append(seconds)
            values["skdim"] = float(model.dimension_)
        print(f"{rep:>3} {ours[-1]:>9.3f} {dadapy[-1]:>9.3f} {sk[-1] if rep == 0 else float('nan'):>9.3f}")
    fastest = min(statistics.median(dadapy), statistics.median(sk))
    print(f"IDs: {values}")
    return {
        "twonn_50k_over_fastest_peer": round(statistics.median(ours) / fastest, 3),
        "twonn_50k_lensnb_s": round(statistics.median(ours), 3),
        "twonn_50k_dadapy_s": round(statistics.median(dadapy), 3),
        "twonn_50k_skdim_s": round(statistics.median(sk), 3),
        "twonn_50k_max_abs_diff": float(
            max(abs(values["lensnb"] - values["dadapy"]), abs(values["lensnb"] - values["skdim"]))
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--skip-50k", action="store_true", help="skip the 50,000-point TwoNN comparison")
    parser.add_argument("--skip-tsne", action="store_true", help="skip the t-SNE / UMAP timings")
    parser.add_argument("--parts", default="profile,twonn,cka,projections")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
    summary: dict = {}
    with tempfile.TemporaryDirectory(prefix="lensnb-bench-geometry-") as folder:
        scratch = Path(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values, labels = geometry_data.minilm_tokens(args.tokens)
        if "profile" in parts:
            summary.update(profile_part(values, labels, args.reps, scratch))
        if "cka" in parts:
            import bench_geometry_cka

            summary.update(bench_geometry_cka.run(values, reps=args.reps))
        if "projections" in parts:
            import bench_geometry_projections

            summary.update(
                bench_geometry_projections.run(
                    values, reps=args.reps, tsne_umap_points=None if not args.skip_tsne else 0
                )
            )
        if "twonn" in parts and not args.skip_50k:
            big, _ = geometry_data.minilm_tokens(50_000)
            summary.update(twonn_part(np.ascontiguousarray(big[-1]), max(1, args.reps), scratch))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
