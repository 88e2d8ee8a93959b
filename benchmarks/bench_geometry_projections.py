"""Benchmark: per-layer 2-D projections (``lensnb.geometry.projections.project``).

What is measured
----------------
1. **PCA of every layer.** ``project(values, "pca")`` (all layers, with the Procrustes
   alignment and both displacement measures included) against what a user would
   otherwise run: scikit-learn's ``PCA(n_components=2).fit_transform`` on each layer
   (default solver; same coordinates up to one sign per component, checked and
   reported as ``pca_max_relative_difference``). Both run in this process, interleaved
   (which goes first alternates per repetition), after one warm-up each; medians over
   ``reps``. ``pca_over_sklearn`` is the median of the per-repetition time ratios. The
   same comparison is repeated with one BLAS thread each (``*_one_thread``): on a
   shared 2-core machine, two spinning BLAS threads made single timings swing by 5x.
2. **What alignment buys.** Displacement between consecutive layers (mean distance a
   point moves, in units of the spread) with and without alignment, for PCA.
3. **t-SNE and UMAP seconds per layer**, timed through ``project`` on the last two
   layers of ``tsne_umap_points`` items (default: all of them). UMAP is warmed once
   first (one layer, same size: the import and numba's compilation), and that first
   call is reported separately as ``umap_first_call_seconds``.

``run`` is imported by ``benchmarks/bench_geometry.py``; run alone::

    PYTHONUNBUFFERED=1 python benchmarks/bench_geometry_projections.py [--data minilm_10k.npz]

The data file holds ``values``: (7, n, 384) float32 MiniLM states (made by
``benchmarks/geometry_data.py``). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from lensnb.geometry.projections import project

DEFAULT_DATA = Path("minilm_10k.npz")  # python benchmarks/geometry_data.py 10000 minilm_10k.npz


def _sklearn_pca_layers(values: np.ndarray) -> np.ndarray:
    return np.stack([PCA(n_components=2).fit_transform(layer) for layer in values])


def _lensnb_pca(values: np.ndarray) -> np.ndarray:
    return project(values, "pca", progress=False).coordinates


def _timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = function(*args)
    return time.perf_counter() - start, out


def _max_relative_difference_up_to_sign(ours: np.ndarray, theirs: np.ndarray) -> float:
    worst = 0.0
    for layer_ours, layer_theirs in zip(ours.astype(np.float64), theirs.astype(np.float64)):
        for column in range(2):
            a, b = layer_ours[:, column], layer_theirs[:, column]
            sign = 1.0 if a @ b >= 0 else -1.0
            worst = max(worst, float(np.abs(sign * a - b).max() / np.abs(b).max()))
    return worst


def run(values: np.ndarray, reps: int = 3, tsne_umap_points: int | None = None) -> dict:
    """Time and check the projections on ``values`` of shape (n_layers, n_items, dim).

    Parameters
    ----------
    values : ndarray, shape (n_layers, n_items, dim)
    reps : int
        Interleaved repetitions of the PCA comparison (median reported).
    tsne_umap_points : int, optional
        Items used for the t-SNE and UMAP timings (default: all; 0 skips them).

    Returns
    -------
    dict
        ``pca_7_layers_seconds`` (median, lensnb with alignment), ``sklearn_pca_7_layers_seconds``,
        ``pca_over_sklearn``, ``pca_max_relative_difference``, displacements, and
        ``tsne_seconds_per_layer``, ``umap_seconds_per_layer``, ``umap_first_call_seconds``.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    n_layers, n_items, dim = values.shape
    result: dict = {"projections_shape": [n_layers, n_items, dim], "projections_reps": reps}

    _lensnb_pca(values), _sklearn_pca_layers(values)  # warm-up
    ours, theirs, ratios = [], [], []
    for rep in range(reps):
        if rep % 2 == 0:
            t_ours, _ = _timed(_lensnb_pca, values)
            t_theirs, _ = _timed(_sklearn_pca_layers, values)
        else:
            t_theirs, _ = _timed(_sklearn_pca_layers, values)
            t_ours, _ = _timed(_lensnb_pca, values)
        ours.append(t_ours)
        theirs.append(t_theirs)
        ratios.append(t_ours / t_theirs)
        print(f"rep {rep}: lensnb pca {t_ours:.3f} s, sklearn pca {t_theirs:.3f} s", flush=True)
    result[f"pca_{n_layers}_layers_seconds"] = statistics.median(ours)
    result[f"sklearn_pca_{n_layers}_layers_seconds"] = statistics.median(theirs)
    result["pca_over_sklearn"] = statistics.median(ratios)
    # The same with one BLAS/OpenMP thread each: far steadier when other work shares the cores.
    with threadpool_limits(limits=1):
        ours_1, theirs_1 = [], []
        for _ in range(reps):
            ours_1.append(_timed(_lensnb_pca, values)[0])
            theirs_1.append(_timed(_sklearn_pca_layers, values)[0])
    result[f"pca_{n_layers}_layers_seconds_one_thread"] = statistics.median(ours_1)
    result[f"sklearn_pca_{n_layers}_layers_seconds_one_thread"] = statistics.median(theirs_1)
    result["pca_over_sklearn_one_thread"] = statistics.median(a / b for a, b in zip(ours_1, theirs_1))
    print(f"one thread: lensnb pca {min(ours_1):.3f} s, sklearn pca {min(theirs_1):.3f} s (best)", flush=True)

    unaligned = project(values, "pca", align=False, progress=False).coordinates
    result["pca_max_relative_difference"] = _max_relative_difference_up_to_sign(unaligned, _sklearn_pca_layers(values))
    aligned = project(values, "pca", progress=False)
    result["pca_displacement_aligned"] = aligned.displacement.round(4).tolist()
    result["pca_displacement_unaligned"] = aligned.displacement_unaligned.round(4).tolist()
    result["pca_displacement_aligned_mean"] = float(aligned.displacement.mean())
    result["pca_displacement_unaligned_mean"] = float(aligned.displacement_unaligned.mean())

    points = n_items if tsne_umap_points is None else min(int(tsne_umap_points), n_items)
    if points > 0:
        subset = values[:, :points]
        pair = [n_layers - 2, n_layers - 1] if n_layers > 1 else [0]
        result["tsne_umap_points"] = points
        result["tsne_umap_layers"] = pair
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, tsne = _timed(lambda: project(subset, "tsne", layers=pair, progress=False))
            result["tsne_seconds_per_layer"] = seconds / len(pair)
            result["tsne_displacement_aligned"] = tsne.displacement.round(4).tolist()
            result["tsne_displacement_unaligned"] = tsne.displacement_unaligned.round(4).tolist()
            print(f"t-SNE: {seconds / len(pair):.1f} s per layer ({points} points)", flush=True)
            seconds, _ = _timed(lambda: project(subset, "umap", layers=[0], progress=False))
            result["umap_first_call_seconds"] = seconds
            print(f"UMAP first call (import + numba compile + fit): {seconds:.1f} s", flush=True)
            seconds, umap = _timed(lambda: project(subset, "umap", layers=pair, progress=False))
            result["umap_seconds_per_layer"] = seconds / len(pair)
            result["umap_displacement_aligned"] = umap.displacement.round(4).tolist()
            result["umap_displacement_unaligned"] = umap.displacement_unaligned.round(4).tolist()
            print(f"UMAP (seeded, single-threaded): {seconds / len(pair):.1f} s per layer", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="npz file with `values` (layer, item, dim)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tsne-umap-points", type=int, default=None, help="items for t-SNE/UMAP (0 skips them)")
    args = parser.parse_args()
    values = np.load(args.data)["values"]
    load_before = os.getloadavg()
    result = run(values, reps=args.reps, tsne_umap_points=args.tsne_umap_points)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
