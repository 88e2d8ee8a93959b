"""Time DADApy 0.3.4 on the full layer-geometry profile, as a competent DADApy user would run it.

Run with the side environment's python (benchmarks/peers/make_dadapy_env.sh), not the repo's .venv::

    ../peers/dadapy-env/bin/python benchmarks/peers/dadapy_profile.py --input arrays.npz --k 30 --fraction 0.9 --reps 3
    ../peers/dadapy-env/bin/python benchmarks/peers/dadapy_profile.py --input arrays.npz --fraction 0.9 --twonn-only

``arrays.npz`` holds ``values`` (L, n, d) float32 and ``labels`` (n,) (any dtype: mapped to ints in order of
``np.unique``). Each repetition starts from the arrays in memory and includes what a user pays:

1. per layer, ``Data(values[l], maxk=k)`` (a float64 copy) and ``compute_distances()`` once (sklearn
   NearestNeighbors, k + 1 columns with the point itself first);
2. TwoNN of every layer, ``compute_id_2NN(algorithm="base", mu_fraction=fraction)`` (reuses the distances);
3. the L x L neighbourhood-overlap matrix at k, ``return_data_overlap(dist_indices=other.dist_indices, k=k)``
   on the L (L - 1) / 2 pairs above the diagonal (the matrix is symmetric; the diagonal is 1);
4. the label overlap of every layer at k, ``return_label_overlap(labels, k=k, weighted=False)`` (the paper's
   plain mean; DADApy's default, weighted=True, is the class-weighted mean).

With ``--twonn-only`` it times only TwoNN of the last layer: ``Data(values[-1], maxk=2)``,
``compute_distances()`` and ``compute_id_2NN`` (maxk=2 is all TwoNN needs; DADApy's default would be 100).

The last line printed is one JSON object with the values (lists) and the seconds of each repetition.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import json
import sys
import time
import types
import warnings

import numpy as np


def import_dadapy_data():
    """``dadapy.data.Data`` without running ``dadapy/__init__.py``, which imports jax (not installed)."""
    spec = importlib.util.find_spec("dadapy")
    if spec is None:
        raise SystemExit(
            "dadapy is not installed here: run this with the side env (benchmarks/peers/make_dadapy_env.sh)"
        )
    if "dadapy" not in sys.modules:
        pkg = types.ModuleType("dadapy")
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__ = spec
        sys.modules["dadapy"] = pkg
    from dadapy.data import Data

    return Data


def profile_once(Data, values: np.ndarray, labels: np.ndarray, k: int, fraction: float) -> tuple[dict, dict]:
    """One full profile from the arrays in memory: returns (values, seconds per stage)."""
    n_layers = values.shape[0]
    t0 = time.perf_counter()
    datas = []
    for layer in range(n_layers):
        data = Data(values[layer], maxk=k)
        data.compute_distances()
        datas.append(data)
    t1 = time.perf_counter()
    ids = [float(d.compute_id_2NN(algorithm="base", mu_fraction=fraction)[0]) for d in datas]
    t2 = time.perf_counter()
    overlap = np.eye(n_layers)
    for i in range(n_layers):
        for j in range(i + 1, n_layers):
            overlap[i, j] = overlap[j, i] = datas[i].return_data_overlap(dist_indices=datas[j].dist_indices, k=k)
    t3 = time.perf_counter()
    label = [float(d.return_label_overlap(labels, k=k, weighted=False)) for d in datas]
    t4 = time.perf_counter()
    result = {"twonn": ids, "overlap": overlap.tolist(), "label_overlap": label}
    parts = {"data_and_distances": t1 - t0, "twonn": t2 - t1, "overlap": t3 - t2, "label_overlap": t4 - t3}
    return result, parts


def twonn_once(Data, x: np.ndarray, fraction: float) -> tuple[dict, dict]:
    t0 = time.perf_counter()
    data = Data(x, maxk=2)
    data.compute_distances()
    t1 = time.perf_counter()
    twonn = float(data.compute_id_2NN(algorithm="base", mu_fraction=fraction)[0])
    t2 = time.perf_counter()
    return {"twonn": [twonn]}, {"data_and_distances": t1 - t0, "twonn": t2 - t1}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="npz with values (L, n, d) and labels (n,)")
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--fraction", type=float, default=0.9, help="TwoNN mu_fraction (kept smallest ratios)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--twonn-only", action="store_true", help="time only TwoNN of the last layer")
    parser.add_argument(
        "--warmup",
        action="store_true",
        help="run the same work once on the first 2,000 points, untimed (as lensnb's side is warmed)",
    )
    args = parser.parse_args(argv)

    Data = import_dadapy_data()
    with np.load(args.input, allow_pickle=False) as arrays:
        values = arrays["values"]
        labels = arrays["labels"] if "labels" in arrays.files else None
    if args.twonn_only:
        values = values[-1:].copy()  # let the other layers go
    values = np.ascontiguousarray(values)
    if labels is not None:
        labels = np.unique(labels, return_inverse=True)[1].reshape(-1).astype(np.int64)

    if args.warmup:  # imports, compiled extensions and allocations, as the lensnb side warms up
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if args.twonn_only:
                twonn_once(Data, np.ascontiguousarray(values[-1][:2000]), args.fraction)
            elif labels is not None:
                profile_once(Data, np.ascontiguousarray(values[:, :2000]), labels[:2000], args.k, args.fraction)
    seconds, parts, result, caught = [], [], None, set()
    for _ in range(args.reps):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            start = time.perf_counter()
            if args.twonn_only:
                result, part = twonn_once(Data, values[-1], args.fraction)
            else:
                if labels is None:
                    raise SystemExit("the input has no 'labels'")
                result, part = profile_once(Data, values, labels, args.k, args.fraction)
            seconds.append(time.perf_counter() - start)
        parts.append(part)
        caught.update(str(w.message).split("\n")[0] for w in seen)
        print(
            f"rep {len(seconds)}: {seconds[-1]:.2f} s {json.dumps({k: round(v, 3) for k, v in part.items()})}",
            file=sys.stderr,
            flush=True,
        )

    report = {
        "peer": "dadapy",
        "version": md.version("dadapy"),
        "numpy": np.__version__,
        "scikit_learn": md.version("scikit-learn"),
        "mode": "twonn-only" if args.twonn_only else "profile",
        "input": args.input,
        "shape": list(values.shape),
        "k": None if args.twonn_only else args.k,
        "fraction": args.fraction,
        **result,
        "seconds": seconds,
        "seconds_parts": parts,
        "warnings": sorted(caught),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
