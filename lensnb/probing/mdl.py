"""Minimum description length probing: the online (prequential) code of Voita & Titov (2020).

The labels are sent block by block: the first block with the uniform code, every later
block with a probe trained on all the blocks before it. A representation from which
the labels are easy to learn from little data has a short online code; compression
is the uniform code length divided by the online code length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.geometry.inputs import check_seed, is_real
from lensnb.geometry.results import LayerProfile
from lensnb.probing.controls import _check_count, check_probe, labelled_stack

__all__ = ["VOITA_PORTIONS", "block_ends", "online_codelength", "mdl_online"]

#: Block boundaries of the paper, in percent of the training data.
VOITA_PORTIONS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25.0, 50.0, 100.0)


def block_ends(n_items: int, portions: Sequence[float] = VOITA_PORTIONS) -> np.ndarray:
    """Ends t_1 < t_2 < ... < t_S = n of the transmitted blocks, in items.

    Each ``portion`` (percent, increasing, the last 100) becomes ``round(portion * n /
    100)``, at least 1; boundaries that coincide on small data are merged.

    Returns
    -------
    ndarray of int64, shape (n_blocks,)
    """
    try:
        values = np.asarray(portions, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.full(0, np.nan)
    if (
        values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all() or np.any(np.diff(values) <= 0)
        or values[0] <= 0 or values[-1] != 100
    ):  # fmt: skip
        raise LensError.bad_argument(
            "portions", portions, "at least two increasing percentages, the first > 0 and the last 100"
        )
    ends = np.clip(np.round(values * n_items / 100.0).astype(np.int64), 1, n_items)
    return np.unique(ends)


def online_codelength(
    x: np.ndarray,
    codes: np.ndarray,
    n_classes: int,
    *,
    probe: Any = None,
    portions: Sequence[float] = VOITA_PORTIONS,
    smoothing: float = 1e-3,
) -> dict[str, Any]:
    """Online code length of labels ``codes`` given features ``x``, in the order given.

    Parameters
    ----------
    x : ndarray, shape (n_items, dim)
    codes : ndarray of int, shape (n_items,)
        Labels 0..n_classes-1, already shuffled.
    n_classes : int
        K, the size of the label set (the uniform code costs log2 K bits per label).
    probe : scikit-learn classifier with ``predict_proba``, optional
        Default :class:`lensnb.probing.estimators.LinearProbe` (:func:`lensnb.probing.controls.default_probe`);
        cloned for every block.
    portions : sequence of float
        Block ends in percent of the items.
    smoothing : float in [0, 1)
        Every probe's predicted distribution is mixed with the uniform one,
        ``(1 - smoothing) p + smoothing / K``, so that a label the probe gives zero
        probability (a class absent from its training blocks) costs a finite number
        of bits. At most ``-log2(1 - smoothing)`` bits per item for a confident,
        right probe (0.0014 bits at the default).

    Returns
    -------
    dict
        ``online`` (bits), ``uniform`` (n log2 K bits), ``compression`` (uniform /
        online), ``ends`` (block ends, shape (n_blocks,)), ``block_bits`` (bits of
        each block, shape (n_blocks,); the first is the uniform block),
        ``fallback_blocks`` (blocks coded by label frequencies because their
        training prefix held a single class).

    References
    ----------
    Voita & Titov (2020), "Information-Theoretic Probing with Minimum Description
    Length", EMNLP, Sec. 3.2 (online code, Eq. 4: t_1 log2 K + sum_i -log2 p_{theta_i}
    over block i + 1).
    """
    from sklearn.base import clone

    probe = check_probe(probe, needs_proba=True)
    _check_smoothing(smoothing)
    x, codes, n_classes = _check_code_inputs(x, codes, n_classes)
    n = len(codes)
    ends = block_ends(n, portions)
    log_k = np.log2(n_classes)
    block_bits = [ends[0] * log_k]
    fallback = []
    for i in range(len(ends) - 1):
        start, stop = ends[i], ends[i + 1]
        seen = codes[:start]
        if len(np.unique(seen)) < 2:  # a classifier cannot be fitted on one class: Laplace frequencies
            counts = np.bincount(seen, minlength=n_classes) + 1.0
            proba = np.broadcast_to(counts / counts.sum(), (stop - start, n_classes))
            fallback.append(i + 1)
        else:
            model = clone(probe).fit(x[:start], seen)
            known = np.asarray(model.classes_, dtype=np.int64)
            proba = np.zeros((stop - start, n_classes))
            proba[:, known] = model.predict_proba(x[start:stop])
            proba = (1.0 - smoothing) * proba + smoothing / n_classes
        picked = proba[np.arange(stop - start), codes[start:stop]]
        if not picked.all():  # only without smoothing: a probe certain and wrong
            raise LensError.bad_argument(
                "smoothing", smoothing, "a number in (0, 1) for this probe",
                f"With smoothing=0 the probe gave probability 0 to the true label of {int((picked == 0).sum())} "
                f"item(s) of block {i + 1}, whose code length is then infinite.",
            )  # fmt: skip
        block_bits.append(float(-np.log2(picked).sum()))
    online = float(np.sum(block_bits))
    uniform = float(n * log_k)
    return dict(
        online=online, uniform=uniform, compression=uniform / online if online > 0 else np.inf,
        ends=ends, block_bits=np.asarray(block_bits), fallback_blocks=fallback,
    )  # fmt: skip


def _check_smoothing(smoothing: Any) -> None:
    if not (is_real(smoothing) and 0 <= smoothing < 1):
        raise LensError.bad_argument("smoothing", smoothing, "a number in [0, 1)")


def _check_code_inputs(x: Any, codes: Any, n_classes: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """``online_codelength``'s arrays, checked: (n, dim) features, n integer codes in 0..n_classes-1."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise LensError.bad_argument("n_classes", n_classes, "an integer >= 2 (one class has no code to learn)")
    codes = np.asarray(codes)
    if (
        codes.ndim != 1
        or codes.dtype.kind not in "iu"
        or (len(codes) and not 0 <= codes.min() <= codes.max() < n_classes)
    ):
        raise LensError.bad_argument("codes", codes, f"a 1-D array of integer labels in 0..{n_classes - 1}")
    x = np.asarray(x)
    if x.ndim != 2 or len(x) != len(codes):
        raise LensError.bad_argument("x", x, f"a 2-D array with one row per code ({len(codes)} rows)")
    return x, codes.astype(np.int64, copy=False), int(n_classes)


@checks_flags
def mdl_online(
    data: Any,
    labels: Any,
    *,
    probe: Any = None,
    layers: Sequence[int] | int | None = None,
    portions: Sequence[float] = VOITA_PORTIONS,
    repeats: int = 1,
    seed: int = 0,
    smoothing: float = 1e-3,
    site: str | None = None,
    pool: str | None = None,
    progress: bool = True,
) -> LayerProfile:
    """Online code length (MDL) of the labels given each layer's states, in bits.

    Parameters
    ----------
    data : Activations, array (layer, item, dim) or list of (item, dim) arrays
        The probe's training data (the paper measures the code on the training set).
    labels : str or array of shape (n_items,)
        Column of the items' table, or the labels (items without one are left out).
    probe : scikit-learn classifier with ``predict_proba``, optional
        Default :class:`lensnb.probing.estimators.LinearProbe` (:func:`lensnb.probing.controls.default_probe`) (the
        paper: its linear or MLP probe); cloned for every block of every layer.
    layers : optional
        Layers (default all).
    portions : sequence of float
        Block ends in percent (default the paper's 0.1 ... 100).
    repeats : int
        Orders of the items tried (each a seeded shuffle, the same for every layer);
        the values are their mean and the errors their standard deviation.
    seed : int
    smoothing : float
        See :func:`online_codelength`.
    site, pool
        See :func:`lensnb.geometry.inputs.layer_stack`.
    progress : bool

    Returns
    -------
    LayerProfile
        name ``"mdl_online_codelength"``, values (n_layers,) in bits; errors: std over
        ``repeats`` (None for one). ``details``: ``compression`` (n_layers,) = uniform
        / online code length, ``uniform_codelength`` (bits, n log2 K),
        ``block_bits`` (n_layers, repeats, n_blocks), ``block_ends`` (n_blocks,),
        ``compression_error`` (n_layers,) or None.

    Notes
    -----
    Portions that round to the same item count on small data are merged (on 1,000
    items the first block is a single label). A training prefix holding one class
    only is coded with add-one label frequencies (reported in ``params``), and probe
    predictions are smoothed (see :func:`online_codelength`); the paper, with
    neural probes over all classes, needs neither.

    References
    ----------
    Voita & Titov (2020), "Information-Theoretic Probing with Minimum Description
    Length", EMNLP, Sec. 3.2 and Eq. 4; compression as in their Sec. 4.
    """
    from tqdm.auto import tqdm

    probe = check_probe(probe, needs_proba=True)
    repeats = _check_count(repeats, "repeats")
    if repeats < 1:
        raise LensError.bad_argument("repeats", repeats, "an integer >= 1")
    stack, codes, classes, keep = labelled_stack(data, labels, layers, site, pool)
    n, n_classes = stack.n_items, len(classes)
    ends = block_ends(n, portions)
    _check_smoothing(smoothing)
    rng = np.random.default_rng(check_seed(seed))
    orders = [rng.permutation(n) for _ in range(repeats)]
    online = np.empty((len(stack.layers), repeats))
    bits = np.empty((len(stack.layers), repeats, len(ends)))
    fallbacks = set()
    for position in tqdm(range(len(stack.layers)), desc="MDL online code", disable=not progress):
        x = stack.matrix(position)
        for r, order in enumerate(orders):
            result = online_codelength(
                x[order], codes[order], n_classes, probe=probe, portions=portions, smoothing=smoothing
            )  # fmt: skip
            online[position, r] = result["online"]
            bits[position, r] = result["block_bits"]
            fallbacks.update(result["fallback_blocks"])
    uniform = float(n * np.log2(n_classes))
    compression = uniform / online
    details = {
        "compression": compression.mean(axis=1),
        "compression_error": compression.std(axis=1, ddof=1) if repeats > 1 else None,
        "uniform_codelength": uniform,
        "block_bits": bits,
        "block_ends": ends,
    }
    params = dict(
        probe=repr(probe), portions=tuple(float(p) for p in portions), repeats=repeats, seed=seed,
        smoothing=smoothing, n_items=n, n_classes=n_classes, n_missing_labels=int((~keep).sum()),
        frequency_coded_blocks=sorted(fallbacks), unit_of_values="bits", pool=pool,
        error="std over item orders" if repeats > 1 else "none",
    )  # fmt: skip
    errors = online.std(axis=1, ddof=1) if repeats > 1 else None
    return LayerProfile(
        "mdl_online_codelength", stack.layers, online.mean(axis=1), errors, params, stack.table, stack.unit, details
    )
