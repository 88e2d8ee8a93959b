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
    """Ends t_1 < t_2 < ... < t_S = n of the transmitted blocks, in items (or groups).

    Each ``portion`` (percent, increasing, the last 100) becomes ``floor(portion / 100 *
    n)``, as the authors' code cuts its blocks (``int(fraction * total_len)``), but at
    least 1: below 1,000 items the reference's first block is empty, lensnb's holds
    one item. Boundaries that coincide on small data are merged.

    Parameters
    ----------
    n_items : int
        Items (or, for :func:`online_codelength` with ``groups``, groups) to divide.
    portions : sequence of float
        Block ends in percent.

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
    ends = np.clip(np.floor(values / 100.0 * n_items).astype(np.int64), 1, n_items)
    return np.unique(ends)


def online_codelength(
    x: np.ndarray,
    codes: np.ndarray,
    n_classes: int,
    *,
    probe: Any = None,
    portions: Sequence[float] = VOITA_PORTIONS,
    smoothing: float = 1e-3,
    groups: np.ndarray | None = None,
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
        Block ends in percent of the items, or of the groups when ``groups`` is given
        (see :func:`block_ends`).
    smoothing : float in [0, 1)
        Every probe's predicted distribution is mixed with the uniform one,
        ``(1 - smoothing) p + smoothing / K``, so that a label the probe gives zero
        probability (a class absent from its training blocks) costs a finite number
        of bits. This is lensnb's: the reference code has no smoothing. It costs at
        most ``-log2(1 - smoothing)`` bits per item for a confident, right probe
        (0.0014 bits at the default), and it caps the cost of a confident, wrong
        probe, or of a label whose class is absent from the training prefix, at
        ``-log2(smoothing / K)`` bits per item (14.05 bits at K = 17 and the
        default, against log2 17 = 4.09 bits for the uniform code). The code
        therefore grows as ``smoothing`` shrinks: on 5,706 UD EWT words (K = 17,
        MiniLM layers 0 and 3, item blocks) it was 6338 and 3761 bits at 1e-3,
        6792 and 3997 bits (+7%) at 1e-6; at 0 a single such label makes it
        infinite (a LensError).
    groups : array of shape (n_items,), optional
        The group of each item (its text, for token or word items), the items of a
        group adjacent in the order given. Block ends then fall at group boundaries,
        as the authors' code cuts whole sentences: block s ends after the first
        ``floor(portion_s / 100 * G)`` of the G groups (at least one), and the ends
        are reported in items. Default: every item its own group.

    Returns
    -------
    dict
        ``online`` (bits), ``uniform`` (n log2 K bits), ``compression`` (uniform /
        online), ``ends`` (block ends in items, shape (n_blocks,)), ``block_bits``
        (bits of each block, shape (n_blocks,); the first is the uniform block),
        ``fallback_blocks`` (blocks coded by label frequencies because their
        training prefix held a single class).

    Raises
    ------
    LensError
        For ``codes`` outside 0..K-1, ``x`` of another length, ``groups`` of another
        length or whose groups are not contiguous, ``smoothing`` outside [0, 1), or
        ``smoothing=0`` with a label the probe gives probability 0.

    Notes
    -----
    Units: lensnb, like the paper's Eq. 4, counts bits throughout (-log2 p). The
    authors' code (lena-voita/description-length-probing, ``Eval_MDL_online_code.ipynb``)
    adds ``t_1 * log2(K)`` bits for the first block to the sums of torch's
    ``CrossEntropyLoss(reduction='sum')``, which are in nats, for the later blocks.
    To compare with numbers from that code, multiply the part after the first block
    by ln 2: ``reference = block_bits[0] + np.log(2) * block_bits[1:].sum()`` (that
    is ``t_1 log2 K + ln 2 * (online - t_1 log2 K)``), and its compression is
    ``uniform / reference``; that code's lengths come out about 30% shorter.

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
    ends = block_ends(n, portions) if groups is None else _group_block_ends(groups, n, portions)
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


def _group_block_ends(groups: Any, n_items: int, portions: Sequence[float]) -> np.ndarray:
    """Block ends in items, shape (n_blocks,), at the ends of the first ``floor(p / 100 * G)`` groups.

    ``groups`` (n_items,) must hold each group's items in one run."""
    import pandas as pd

    values = np.asarray(groups.detach().cpu().numpy() if hasattr(groups, "detach") else groups)
    if values.shape != (n_items,):
        raise LensError.bad_argument("groups", values, f"one group per item, shape ({n_items},)")
    if n_items == 0:
        return block_ends(0, portions)
    keys, _ = pd.factorize(values, use_na_sentinel=False)
    stops = np.flatnonzero(np.r_[keys[1:] != keys[:-1], True]) + 1  # item end of each run
    if len(stops) != keys.max() + 1:
        raise LensError.bad_argument(
            "groups", f"{keys.max() + 1} groups in {len(stops)} runs", "the items of each group adjacent",
            "Order the items group by group (mdl_online does so for texts).",
        )  # fmt: skip
    return stops[block_ends(len(stops), portions) - 1]


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
        Block ends in percent (default the paper's 0.1 ... 100) of the texts, or of the
        items when they belong to no texts (see Notes and :func:`block_ends`).
    repeats : int
        Orders of the texts (or items) tried, each a seeded shuffle, the same for every
        layer; the values are their mean and the errors their standard deviation.
    seed : int
    smoothing : float
        lensnb's, not the paper's: it caps the cost of a label the probe rules out at
        ``-log2(smoothing / K)`` bits (about 14 bits at K = 17 and the default), so the
        code grows as it shrinks. See :func:`online_codelength`.
    site, pool
        See :func:`lensnb.geometry.inputs.layer_stack`.
    progress : bool

    Returns
    -------
    LayerProfile
        name ``"mdl_online_codelength"``, values (n_layers,) in bits; errors: std over
        ``repeats`` (None for one). ``details``: ``compression`` (n_layers,) = uniform
        / online code length, ``uniform_codelength`` (bits, n log2 K),
        ``block_bits`` (n_layers, repeats, n_blocks), ``block_ends`` in items:
        (n_blocks,) for item blocks, (repeats, n_blocks) for text blocks (each order's
        texts have their own lengths), ``compression_error`` (n_layers,) or None.
        ``params["blocks_of"]`` is ``"texts"`` or ``"items"``.

    Notes
    -----
    Blocks of texts, as the authors' code: when the items belong to texts (the items'
    table has a ``text_id`` column, as token-level, word-pooled and span Activations
    have), the texts are shuffled (seeded) and each block ends at a whole text, after
    the first ``floor(portion / 100 * n_texts)`` texts (at least one); the items of a
    text stay together, in their order. lena-voita/description-length-probing
    (``run_experiment.py``, ``split_data_into_portions``) likewise permutes the
    training sentences and takes ``int(fraction * n_sentences)`` of them. Plain arrays
    (no table), or items of a single text, have nothing to group by: their items are
    shuffled and blocked one by one (``block_ends(n_items)``). Item blocks on text
    data would put other words of a sentence being coded in the training prefix: on
    5,706 UD EWT words the code was 2.0-2.5% shorter than with sentence blocks.

    Portions that fall on the same text (or item) count on small data are merged
    (the reference's first block is empty below 1,000 sentences; lensnb's holds
    one). A training prefix holding one class only is coded with add-one label
    frequencies (reported in ``params``), and probe predictions are smoothed (see
    :func:`online_codelength`); the paper, with neural probes over all classes,
    needs neither.

    Units: bits throughout, as the paper's Eq. 4. The authors' code adds nats (torch's
    cross-entropy) for the blocks after the first to ``t_1 log2 K`` bits for the first;
    to compare with its numbers, take ``bits[0] + np.log(2) * bits[1:].sum()`` of each
    order's ``details["block_bits"]`` (see :func:`online_codelength`).

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
    block_ends(n, portions)  # checks portions
    _check_smoothing(smoothing)
    rng = np.random.default_rng(check_seed(seed))
    texts = _text_codes(stack)
    if texts is None:
        orders = [rng.permutation(n) for _ in range(repeats)]
        ends = [block_ends(n, portions)] * repeats
    else:
        orders = [_text_order(texts, rng.permutation(texts.max() + 1)) for _ in range(repeats)]
        ends = [_group_block_ends(texts[order], n, portions) for order in orders]
    online = np.empty((len(stack.layers), repeats))
    bits = np.empty((len(stack.layers), repeats, len(ends[0])))
    fallbacks = set()
    for position in tqdm(range(len(stack.layers)), desc="MDL online code", disable=not progress):
        x = stack.matrix(position)
        for r, order in enumerate(orders):
            result = online_codelength(
                x[order], codes[order], n_classes, probe=probe, portions=portions, smoothing=smoothing,
                groups=None if texts is None else texts[order],
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
        "block_ends": ends[0] if texts is None else np.stack(ends),
    }
    params = dict(
        probe=repr(probe), portions=tuple(float(p) for p in portions), repeats=repeats, seed=seed,
        smoothing=smoothing, n_items=n, n_classes=n_classes, n_missing_labels=int((~keep).sum()),
        blocks_of="items" if texts is None else "texts", n_texts=None if texts is None else int(texts.max() + 1),
        frequency_coded_blocks=sorted(fallbacks), unit_of_values="bits", pool=pool,
        error=f"std over {'item' if texts is None else 'text'} orders" if repeats > 1 else "none",
    )  # fmt: skip
    errors = online.std(axis=1, ddof=1) if repeats > 1 else None
    return LayerProfile(
        "mdl_online_codelength", stack.layers, online.mean(axis=1), errors, params, stack.table, stack.unit, details
    )


def _text_codes(stack: Any) -> np.ndarray | None:
    """Each item's text as a code 0..n_texts-1 (in order of first appearance), shape (n_items,);
    None when the items belong to no texts (no ``text_id`` column) or all to one."""
    import pandas as pd

    if stack.table is None or "text_id" not in stack.table.columns:
        return None
    codes, uniques = pd.factorize(stack.table["text_id"].to_numpy(), use_na_sentinel=False)
    return codes.astype(np.int64) if len(uniques) > 1 else None


def _text_order(texts: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Item rows, shape (n_items,), text by text in the order ``permutation`` lists the texts,
    each text's items in their original order."""
    rank = np.empty_like(permutation)
    rank[permutation] = np.arange(len(permutation))
    return np.argsort(rank[texts], kind="stable")
