"""Span clustering per layer (Jawahar, Sagot & Seddah 2019): k-means on span vectors, NMI with the labels.

Each span (a chunk) becomes [h_first; h_last; h_first * h_last; h_first - h_last], from the
first word piece of its first word and the last piece of its last word. k-means with as
many clusters as labels is fitted on part of the spans, and the normalised mutual
information between the clusters it assigns to the other spans and their labels says
how well the layer groups phrases by type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.geometry.inputs import LayerStack, check_seed, layer_stack
from lensnb.geometry.overlap import encode_labels
from lensnb.geometry.results import LayerProfile
from lensnb.probing.controls import _bootstrap_rows, _check_count, train_test_mask

__all__ = ["span_vectors", "span_clustering", "AVERAGE_METHODS"]

#: NMI normalisations: Jawahar et al. (2019) used the geometric mean (scikit-learn's default
#: then); scikit-learn's default is now the arithmetic mean.
AVERAGE_METHODS = ("geometric", "arithmetic", "min", "max")


def span_vectors(first: Any, last: Any) -> np.ndarray:
    """[h_first; h_last; h_first * h_last; h_first - h_last] for each span.

    Parameters
    ----------
    first, last : ndarray or tensor, shape (n_spans, dim)
        States of the first piece of each span's first word and the last piece of its
        last word.

    Returns
    -------
    ndarray of float64, shape (n_spans, 4 * dim)

    References
    ----------
    Jawahar, Sagot & Seddah (2019), "What does BERT learn about the structure of
    language?", ACL, Sec. 3 (span representation of Lee et al. 2017 / Toshniwal et
    al. 2020 style: concatenation, element-wise product and difference).
    """
    from lensnb.geometry.inputs import as_matrix

    a = as_matrix(first, "first", min_rows=1)
    b = as_matrix(last, "last", min_rows=1)
    if a.shape != b.shape:
        raise LensError.bad_argument("last", b, f"shape {a.shape} like first")
    return np.concatenate([a, b, a * b, a - b], axis=1)


@checks_flags
def span_clustering(
    data: Any,
    labels: Any = "label",
    *,
    last: Any = None,
    layers: Sequence[int] | int | None = None,
    held_out: int | float = 1 / 7,
    n_init: int = 10,
    average_method: str = "geometric",
    seed: int = 0,
    bootstrap: int = 200,
    site: str | None = None,
    progress: bool = True,
) -> LayerProfile:
    """NMI between k-means clusters of span vectors and the span labels, per layer.

    Parameters
    ----------
    data : Activations or array
        Token-level Activations extracted from Examples with spans (the span table
        gives each span's first and last piece), or the first-piece states as a
        (layer, n_spans, dim) array / list of (n_spans, dim) arrays, with ``last``.
    labels : str or array of shape (n_spans,)
        Column of the span table (default ``"label"``) or the labels. Spans without a
        label are left out. k is the number of distinct labels.
    last : array like ``data``, optional
        Last-piece states, for array input.
    layers : optional
        Layers (default all; the paper uses the 12 encoder outputs, no embedding layer:
        pass ``layers=range(1, L + 1)`` to match).
    held_out : int or float
        Spans kept out of the k-means fit, on which the NMI is measured: a count, or a
        share of the spans (default 1/7, the paper's 500 of 3,500).
    n_init : int
        k-means restarts (the paper: 10; scikit-learn's default is now 'auto').
    average_method : {"geometric", "arithmetic", "min", "max"}
        NMI normalisation of the reported values (the paper: geometric, scikit-learn's
        old default; its default is now arithmetic). Both are always in ``details``.
    seed : int
        Seeds the split, k-means and the bootstrap.
    bootstrap : int
        Resamples of the held-out spans for error bars (cluster assignments fixed).
    site : str, optional
    progress : bool

    Returns
    -------
    LayerProfile
        name ``"span_nmi"``, unit ``"span"``, values (n_layers,) = NMI on the held-out
        spans with ``average_method``; errors: bootstrap std. ``details``:
        ``nmi_geometric``, ``nmi_arithmetic`` (n_layers,), ``clusters`` (n_layers,
        n_spans) the cluster of every span, ``held_out`` (n_spans,) mask.

    References
    ----------
    Jawahar, Sagot & Seddah (2019), ACL, Sec. 3 (phrasal syntax: k-means on span
    representations of CoNLL-2000 chunks, NMI); Vinh, Epps & Bailey (2010) for the
    NMI normalisations.
    """
    seed = check_seed(seed)
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score
    from tqdm.auto import tqdm

    if average_method not in AVERAGE_METHODS:
        raise LensError.bad_argument("average_method", average_method, f"one of {AVERAGE_METHODS}")
    if not isinstance(n_init, (int, np.integer)) or isinstance(n_init, bool) or n_init < 1:
        raise LensError.bad_argument("n_init", n_init, "a positive integer (the paper: 10)")
    bootstrap = _check_count(bootstrap, "bootstrap")
    first_stack, last_stack = _endpoint_stacks(data, last, layers, site)
    codes, classes, keep = encode_labels(labels, first_stack)
    if len(classes) < 2:
        raise LensError.bad_argument("labels", f"a single class {classes.tolist()}", "at least 2 distinct labels")
    n = len(codes)
    n_held = _held_count(held_out, n)
    mask = ~train_test_mask(n, test_size=n_held / n, seed=seed)  # True = held out
    k = len(classes)
    if n - n_held < k:
        raise LensError.bad_argument("held_out", held_out, f"a value leaving at least k = {k} spans to fit k-means")
    samples = _bootstrap_rows(int(mask.sum()), bootstrap, seed)
    values, geometric, arithmetic, errors, clusters = [], [], [], [], []
    for position in tqdm(range(len(first_stack.layers)), desc="span clustering", disable=not progress):
        vectors = span_vectors(first_stack.arrays[position][keep], last_stack.arrays[position][keep])
        kmeans = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(vectors[~mask])
        assigned = kmeans.predict(vectors)
        clusters.append(assigned)
        truth, found = codes[mask], assigned[mask]
        scores = {m: normalized_mutual_info_score(truth, found, average_method=m) for m in {average_method, "geometric", "arithmetic"}}  # fmt: skip
        values.append(scores[average_method])
        geometric.append(scores["geometric"])
        arithmetic.append(scores["arithmetic"])
        if samples is not None:
            resampled = [
                normalized_mutual_info_score(truth[r], found[r], average_method=average_method) for r in samples
            ]
            errors.append(np.std(resampled, ddof=1))
    table = None if first_stack.table is None else first_stack.table[keep].reset_index(drop=True)
    details = {"nmi_geometric": np.asarray(geometric), "nmi_arithmetic": np.asarray(arithmetic),
               "clusters": np.asarray(clusters), "held_out": mask}  # fmt: skip
    params = dict(k=k, n_init=n_init, average_method=average_method, seed=seed, bootstrap=bootstrap, n_fit=n - n_held,
                  n_held_out=n_held, n_missing_labels=int((~keep).sum()), span_vector="[h_s; h_e; h_s*h_e; h_s-h_e]",
                  error="bootstrap std over held-out spans" if samples is not None else "none")  # fmt: skip
    return LayerProfile("span_nmi", first_stack.layers, np.asarray(values),
                        np.asarray(errors) if samples is not None else None, params, table, "span", details)  # fmt: skip


def _endpoint_stacks(data: Any, last: Any, layers: Any, site: str | None) -> tuple[LayerStack, LayerStack]:
    """First-piece and last-piece states of every span, as two stacks over the same layers."""
    if isinstance(data, Activations):
        if last is not None:
            raise LensError.bad_argument("last", last, "None when data are Activations (the span table gives the ends)")
        if data.unit != "token":
            raise LensError.bad_argument(
                "data", f"Activations pooled by {data.unit}", "token-level Activations with spans",
                "Pass acts (before pool_spans), or the first- and last-piece arrays as data and last.",
            )  # fmt: skip
        first_stack = layer_stack(data.pool_spans("first"), layers, site=site)
        last_stack = layer_stack(data.pool_spans("last"), layers, site=site)
        return first_stack, last_stack
    if last is None:
        raise LensError.bad_argument("last", None, "the last-piece states, shaped like data, for array input")
    first_stack = layer_stack(data, layers, argument="data")
    last_stack = layer_stack(last, layers, argument="last")
    if first_stack.n_items != last_stack.n_items or first_stack.arrays[0].shape != last_stack.arrays[0].shape:
        raise LensError.bad_argument("last", last_stack.arrays[0], f"shape {first_stack.arrays[0].shape} per layer, like data")  # fmt: skip
    return first_stack, last_stack


def _held_count(held_out: Any, n: int) -> int:
    if isinstance(held_out, bool) or not isinstance(held_out, (int, float, np.integer, np.floating)):
        raise LensError.bad_argument("held_out", held_out, "a count of spans or a share in (0, 1)")
    count = int(held_out) if isinstance(held_out, (int, np.integer)) else int(round(held_out * n))
    if isinstance(held_out, (float, np.floating)) and not 0 < held_out < 1:
        raise LensError.bad_argument("held_out", held_out, "a share strictly between 0 and 1, or a count")
    if not 1 <= count < n:
        raise LensError.bad_argument("held_out", held_out, f"between 1 and {n - 1} spans (of {n})")
    return count
