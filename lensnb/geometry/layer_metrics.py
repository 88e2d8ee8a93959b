"""Prompt entropy, dataset entropy and curvature per layer (Skean et al. 2025).

Every measure works on prompts: the token rows of one text at one layer. As the
authors' code does, a prompt's token matrix Z (N tokens x D) is first mean-centred
over its tokens and each row scaled to unit L2 norm (:func:`center_and_normalize`).

- prompt entropy: the matrix-based alpha-entropy of Z (:func:`matrix_entropy`),
  divided by log(min(N, D)), averaged over prompts;
- dataset entropy: the same entropy of the matrix whose rows are the prompts' mean
  token vectors;
- curvature: the mean angle between successive token steps
  v_k = z_{k+1} - z_k (:func:`trajectory_curvature`), averaged over prompts.

The augmentation-invariance measures (InfoNCE, LiDAR, DiME) live in
:mod:`lensnb.geometry.augmentation`.

References
----------
Skean, Arefin, Zhao, Patel, Naghiyev, LeCun & Shwartz-Ziv (2025). Layer by Layer:
Uncovering Hidden Representations in Language Models. ICML. arXiv:2502.02013.
Reference code: github.com/OFSkean/information_flow (experiments/utils/metrics).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.flags import check_flag
from lensnb.geometry.inputs import LayerStack, as_matrix, layer_stack, power_of_two_scaled
from lensnb.geometry.results import LayerProfile
from lensnb.pooling import runs

__all__ = [
    "center_and_normalize",
    "matrix_entropy",
    "trajectory_curvature",
    "prompt_entropy",
    "dataset_entropy",
    "curvature",
]

_EPS = float(np.finfo(np.float64).eps)
_CHUNK_ENTRIES = 4_000_000  # float64 entries of the batched Gram matrices held at once (32 MB)
_BLOCK_ENTRIES = 8_000_000  # float64 token-state entries read from a layer at once (64 MB)

REFERENCE = "Skean et al. 2025, Layer by Layer (ICML), arXiv:2502.02013"


# ---------------------------------------------------------------------- pure functions
def center_and_normalize(z: Any) -> np.ndarray:
    """Mean-centre the rows of ``z`` and scale each to unit L2 norm.

    Parameters
    ----------
    z : array or tensor, shape (n, dim)

    Returns
    -------
    ndarray of float64, shape (n, dim)
        Rows ``(z_i - mean) / ||z_i - mean||``; a row equal to the mean stays zero
        (the reference code divides 0 by 0 there and gets NaN).
    """
    x = as_matrix(z, "z", min_rows=1)
    return _center_rows(x)


def matrix_entropy(z: Any, alpha: float = 1.0, *, normalize: bool = True, clamp_negative: bool = False) -> float:
    """Matrix-based alpha-entropy of the rows of ``z`` (Renyi's entropy of its spectrum).

    ``S_alpha(Z) = 1 / (1 - alpha) * log(sum_i p_i ** alpha)`` with ``p_i = lambda_i / tr(K)``
    the eigenvalues of the Gram matrix ``K = Z Z^T`` (equivalently of ``Z^T Z``) over their
    sum, and ``S_1 = -sum_i p_i log p_i`` (natural log), the Shannon / von Neumann limit.
    ``z`` is used as given: centre and normalise it first with :func:`center_and_normalize`
    to get the paper's prompt entropy.

    Parameters
    ----------
    z : array or tensor, shape (n, dim)
    alpha : float
        Order, > 0; 1 is the limit alpha -> 1.
    normalize : bool
        Divide by ``log(min(n, dim))``, the entropy of a flat spectrum of that many
        eigenvalues (the reference's ``maxEntropy``), so that the value lies in [0, 1].
    clamp_negative : bool
        The reference code sets negative entries of the matrix to 0 before its
        eigenvalues (of ``Z Z^T`` when n <= dim, else of ``Z^T Z``). Off by default: the
        paper's equation has no such step. The paper's reported numbers were made with it.

    Returns
    -------
    float
        Eigenvalues below ``m * eps * lambda_max`` (numerical zeros of an m x m matrix)
        are left out, like the reference leaves out eigenvalues <= 0.

    Notes
    -----
    The reference computes ``1 / (1 - alpha) * log(...)`` for every alpha (repitl's
    ``matrixAlphaEntropy``), so its default alpha = 1 divides by zero; here alpha = 1 is
    the Shannon limit, and alpha = 1 +- 1e-4 agrees with it to ~1e-5 (within 1e-2 of 1 the
    sum is taken with ``expm1``/``log1p``, so values tend to the limit without cancellation).

    References
    ----------
    Skean et al. 2025, Eq. 1 (matrix-based entropy); Giraldo, Rao & Principe (2014),
    "Measures of Entropy from Data Using Infinitely Divisible Kernels".
    """
    _check_alpha(alpha)
    normalize, clamp_negative = check_flag("normalize", normalize), check_flag("clamp_negative", clamp_negative)
    x = power_of_two_scaled(as_matrix(z, "z", min_rows=1))  # exact; the spectrum's shares ignore the scale
    n, dim = x.shape
    if normalize and min(n, dim) < 2:
        raise LensError.bad_argument("z", x, "at least 2 rows and 2 columns (normalize divides by log(min(n, dim)))")
    if not np.any(x):
        raise LensError.bad_argument(
            "z", "an all-zero matrix", "a matrix with a non-zero entry (its entropy is undefined)"
        )
    gram = x @ x.T if (n <= dim) else x.T @ x
    if clamp_negative:
        gram = np.maximum(gram, 0.0)
    eigenvalues = np.linalg.eigvalsh(gram)[None, :]
    value = float(_renyi_rows(eigenvalues, alpha)[0])
    return value / math.log(min(n, dim)) if normalize else value


def trajectory_curvature(z: Any, *, absolute_cosine: bool = False) -> float:
    """Mean angle (radians) between successive steps of a token trajectory.

    ``C = 1 / (N - 2) * sum_{k=1}^{N-2} arccos(v_{k+1} . v_k / (|v_{k+1}| |v_k|))`` with
    ``v_k = z_{k+1} - z_k``: 0 for points on a straight line walked one way, pi / 2 for a
    zig-zag of right angles, pi for a walk that turns straight back. ``z`` is used as
    given (the layer wrappers centre and normalise each prompt first).

    Parameters
    ----------
    z : array or tensor, shape (n_tokens, dim)
        At least 3 rows.
    absolute_cosine : bool
        Take ``arccos(|cos|)`` as the reference code does (angles folded into [0, pi/2]:
        a reversal counts as 0). Off by default: the paper's equation has no absolute value.

    Returns
    -------
    float
        NaN when every step has zero length; steps of zero length (repeated rows) have
        no direction, and the angles next to them are left out of the mean (the
        reference counts them as 0).

    References
    ----------
    Skean et al. 2025, Sec. 3 (curvature); Hosseini & Fedorenko (2023), "Large language
    models implicitly learn to straighten neural sentence trajectories".
    """
    x = as_matrix(z, "z", min_rows=3)
    angles, valid = _step_angles(x, check_flag("absolute_cosine", absolute_cosine))
    return float(angles[valid].mean()) if valid.any() else float("nan")


# ---------------------------------------------------------------------- layer profiles
def prompt_entropy(
    acts: Any,
    *,
    layers: Sequence[int] | int | None = None,
    alpha: float = 1.0,
    site: str | None = None,
    text_ids: Any = None,
    drop_special: bool = False,
    normalize: bool = True,
    clamp_negative: bool = False,
    progress: bool = True,
) -> LayerProfile:
    """Mean matrix entropy of each prompt's token matrix, per layer.

    For every prompt, its N token rows at the layer are centred and row-normalised
    (:func:`center_and_normalize`) and :func:`matrix_entropy` is taken, divided by
    ``log(min(N, D))``; the profile is the mean over prompts, with the standard
    deviation over prompts as error bar. Prompts are batched by length and their Gram
    matrices (N x N, or D x D when N > D) decomposed together.

    Parameters
    ----------
    acts : Activations (token level) or array of shape (layer, token, dim)
        Token-level states; the rows of a prompt must be contiguous.
    layers : int or sequence of int, optional
        Default: all layers.
    alpha : float
        Order of the entropy (> 0; 1 = Shannon / von Neumann).
    site : str, optional
        Which site of an Activations holding several.
    text_ids : array of shape (token,), optional
        For plain arrays: the prompt each row belongs to (Activations use their table).
    drop_special : bool
        Leave special tokens ([CLS], [SEP], <s>) out. Off by default, as in the
        reference code (its tokenizer adds them and every token is kept).
    normalize : bool
        Divide each prompt's entropy by ``log(min(N, D))``.
    clamp_negative : bool
        Zero negative Gram entries first, as the reference code does (see :func:`matrix_entropy`).
    progress : bool
        Show a progress bar over layers.

    Returns
    -------
    LayerProfile
        ``name="prompt_entropy"``, unit ``"text"``; ``errors`` = standard deviation over
        prompts (ddof 1); ``details``: ``per_prompt`` (n_layers, n_prompts) with NaN for
        skipped prompts, ``standard_error`` and ``n_prompts_used`` (n_layers,). Prompts
        with fewer than 2 tokens are skipped (counted in ``params["n_skipped"]``, with a
        warning). A prompt whose rows are all the same at a layer has no entropy there:
        it is left out of that layer's mean, with a warning; a layer where no prompt has
        one raises ``LensError``.

    References
    ----------
    Skean et al. 2025, Eq. 1 and Sec. 3 "prompt entropy".
    """
    _check_alpha(alpha)
    normalize, clamp_negative, progress = _flags(normalize=normalize, clamp_negative=clamp_negative, progress=progress)
    prompts = _prompts(acts, layers, site, text_ids, drop_special, argument="acts", need_tokens=True)
    sizes = np.diff(prompts.offsets)
    dim = prompts.dim
    if normalize and dim < 2:
        raise LensError.bad_argument("acts", f"dim {dim}", "dim >= 2 (normalize divides by log(min(N, D)))")
    eligible = sizes >= 2
    _report_skipped(~eligible, "prompt_entropy", "fewer than 2 tokens")
    per_prompt = np.full((len(prompts.stack.layers), len(sizes)), np.nan)
    for position in tqdm(range(len(prompts.stack.layers)), desc="prompt entropy", disable=not progress):
        for first, last, z, offsets in prompts.blocks(position):
            z = _center_groups(z, offsets)
            per_prompt[position, first:last] = _grouped_entropies(
                z, offsets, eligible[first:last], alpha, clamp_negative
            )
    if normalize:
        per_prompt = per_prompt / np.log(np.maximum(np.minimum(sizes, dim), 2))[None, :]  # NaN where skipped
    params = {
        "alpha": float(alpha), "normalize": normalize, "clamp_negative": clamp_negative,
        "drop_special": drop_special, "n_prompts": int(len(sizes)), "n_skipped": int((~eligible).sum()),
        "errors": "standard deviation over prompts (ddof=1)", "reference": REFERENCE,
    }  # fmt: skip
    return _profile("prompt_entropy", prompts, per_prompt, params, reported=~eligible)


def dataset_entropy(
    acts: Any,
    *,
    layers: Sequence[int] | int | None = None,
    alpha: float = 1.0,
    site: str | None = None,
    text_ids: Any = None,
    drop_special: bool = False,
    normalize: bool = True,
    clamp_negative: bool = False,
    progress: bool = True,
) -> LayerProfile:
    """Matrix entropy of the dataset's prompt vectors, per layer.

    Each prompt becomes the mean of its token vectors; the P x D matrix of these is
    centred over prompts, its rows scaled to unit norm, and :func:`matrix_entropy` is
    taken (divided by ``log(min(P, D))``).

    Parameters
    ----------
    acts : Activations or array
        Token-level (pooled here by mean, per prompt) or already one row per prompt
        (text-level Activations, or a (layer, prompt, dim) array without ``text_ids``).
    layers, alpha, site, text_ids, drop_special, normalize, clamp_negative, progress
        As in :func:`prompt_entropy`.

    Returns
    -------
    LayerProfile
        ``name="dataset_entropy"``, unit ``"text"``, no error bars.

    Notes
    -----
    The reference code's pooling changed between versions: an early one averages the
    per-prompt centred and normalised token rows (which nearly cancel), the latest
    centres and normalises the raw token means within each loader batch of 1-2
    prompts (NaN or a sign for batches of 1 or 2). Here the raw token means are centred
    and normalised over the whole dataset, once.

    References
    ----------
    Skean et al. 2025, Sec. 3 "dataset entropy".
    """
    _check_alpha(alpha)
    normalize, clamp_negative, progress = _flags(normalize=normalize, clamp_negative=clamp_negative, progress=progress)
    prompts = _prompts(acts, layers, site, text_ids, drop_special, argument="acts", need_tokens=False)
    n_prompts = len(prompts.offsets) - 1
    if normalize and min(n_prompts, prompts.dim) < 2:
        raise LensError.bad_argument(
            "acts", f"{n_prompts} prompt(s) of dim {prompts.dim}", "at least 2 prompts and dim >= 2"
        )
    values = np.empty(len(prompts.stack.layers))
    for position in tqdm(range(len(prompts.stack.layers)), desc="dataset entropy", disable=not progress):
        z = _center_rows(prompts.prompt_vectors(position))
        gram = z @ z.T if n_prompts <= prompts.dim else z.T @ z
        if clamp_negative:
            gram = np.maximum(gram, 0.0)
        values[position] = _renyi_rows(np.linalg.eigvalsh(gram)[None, :], alpha)[0]
        if np.isnan(values[position]):  # no spectrum: every prompt vector the same
            raise LensError.bad_argument(
                f"acts (layer {prompts.stack.layers[position]})", "a layer where every prompt has the same mean vector",
                "prompts that differ", "Leave the layer out with `layers=`.",
            )  # fmt: skip
    if normalize:
        values = values / math.log(min(n_prompts, prompts.dim))
    params = {
        "alpha": float(alpha), "normalize": normalize, "clamp_negative": clamp_negative, "drop_special": drop_special,
        "n_prompts": int(n_prompts), "pool": "mean of raw token vectors", "reference": REFERENCE,
    }  # fmt: skip
    return LayerProfile("dataset_entropy", prompts.stack.layers, values, None, params, prompts.table, "text")


def curvature(
    acts: Any,
    *,
    layers: Sequence[int] | int | None = None,
    site: str | None = None,
    text_ids: Any = None,
    drop_special: bool = False,
    normalize: bool = True,
    absolute_cosine: bool = False,
    progress: bool = True,
) -> LayerProfile:
    """Mean curvature of the prompts' token trajectories, per layer (radians).

    For every prompt (rows centred and normalised when ``normalize``), the mean angle
    between successive steps ``v_k = z_{k+1} - z_k`` (:func:`trajectory_curvature`),
    then the mean over prompts. All prompts of a layer are done in one vectorised pass.

    Parameters
    ----------
    acts, layers, site, text_ids, drop_special, progress
        As in :func:`prompt_entropy`.
    normalize : bool
        Centre each prompt's rows and scale them to unit norm first (the reference does).
    absolute_cosine : bool
        Fold angles into [0, pi/2] with ``arccos(|cos|)`` as the reference code does.

    Returns
    -------
    LayerProfile
        ``name="curvature"``, unit ``"text"``, values in radians; ``errors`` = standard
        deviation over prompts; ``details``: ``per_prompt``, ``standard_error``,
        ``n_prompts_used``. Prompts with fewer than 3 tokens (no angle), or whose steps
        all have zero length at every layer, are skipped and counted in
        ``params["n_skipped"]`` (the reference counts them as 0); one without an angle at
        some layers only is left out of those layers' means, with a warning, and a layer
        where no prompt has one raises ``LensError``.

    References
    ----------
    Skean et al. 2025, Sec. 3 "curvature"; Hosseini & Fedorenko (2023).
    """
    normalize, absolute_cosine, progress = _flags(
        normalize=normalize, absolute_cosine=absolute_cosine, progress=progress
    )
    prompts = _prompts(acts, layers, site, text_ids, drop_special, argument="acts", need_tokens=True)
    sizes = np.diff(prompts.offsets)
    per_prompt = np.full((len(prompts.stack.layers), len(sizes)), np.nan)
    for position in tqdm(range(len(prompts.stack.layers)), desc="curvature", disable=not progress):
        for first, last, z, offsets in prompts.blocks(position):
            if normalize:
                z = _center_groups(z, offsets)
            per_prompt[position, first:last] = _grouped_curvatures(z, offsets, absolute_cosine)
    skipped = np.isnan(per_prompt).all(axis=0)
    _report_skipped(skipped, "curvature", "fewer than 3 tokens or only zero-length steps")
    params = {
        "normalize": normalize, "absolute_cosine": absolute_cosine, "drop_special": drop_special,
        "n_prompts": int(len(sizes)), "n_skipped": int(skipped.sum()), "unit": "radians",
        "errors": "standard deviation over prompts (ddof=1)", "reference": REFERENCE,
    }  # fmt: skip
    return _profile("curvature", prompts, per_prompt, params, reported=skipped)


# ---------------------------------------------------------------------- prompts
@dataclass(frozen=True)
class _Prompts:
    """The prompts of a layer stack: kept rows, grouped into contiguous runs."""

    stack: LayerStack
    rows: np.ndarray | None  # token rows kept (None: all), shape (n_kept,)
    offsets: np.ndarray  # (n_prompts + 1,) into the kept rows
    pooled: bool  # rows are prompts already (no token grouping)
    table: pd.DataFrame | None  # one row per prompt

    @property
    def dim(self) -> int:
        return int(self.stack.arrays[0].shape[1])

    def blocks(self, position: int):
        """Consecutive prompts of one layer, a block at a time (at most ~_BLOCK_ENTRIES floats, one prompt at least).

        Yields ``(first, last, z, offsets)``: prompts ``first..last-1``, their kept token
        rows as float64 (rows, dim) and the offsets of the prompts within ``z``. Only a
        block is read from a memory-mapped store and converted at a time.
        """
        x = self.stack.arrays[position]
        n_prompts = len(self.offsets) - 1
        rows_per_block = max(1, _BLOCK_ENTRIES // max(1, self.dim))
        first = 0
        while first < n_prompts:
            last = int(np.searchsorted(self.offsets, self.offsets[first] + rows_per_block, side="right")) - 1
            last = min(n_prompts, max(first + 1, last))
            lo, hi = int(self.offsets[first]), int(self.offsets[last])
            rows = slice(lo, hi) if self.rows is None else self.rows[lo:hi]
            yield first, last, np.ascontiguousarray(x[rows], dtype=np.float64), self.offsets[first : last + 1] - lo
            first = last

    def prompt_vectors(self, position: int) -> np.ndarray:
        """One vector per prompt (the mean of its kept token rows), float64, shape (n_prompts, dim)."""
        if self.pooled:
            return np.ascontiguousarray(self.stack.arrays[position], dtype=np.float64)
        parts = [
            np.add.reduceat(z, offsets[:-1], axis=0) / np.diff(offsets)[:, None]
            for *_, z, offsets in self.blocks(position)
        ]
        return np.concatenate(parts, axis=0)


def _prompts(acts: Any, layers, site, text_ids, drop_special: bool, *, argument: str, need_tokens: bool) -> _Prompts:
    drop_special = check_flag("drop_special", drop_special)
    stack = layer_stack(acts, layers, site=site, argument=argument)
    table = stack.table
    if text_ids is not None and isinstance(acts, Activations):
        raise LensError.bad_argument("text_ids", text_ids, "None for Activations (their token table has text_id)")
    if text_ids is not None:
        ids = np.asarray(text_ids)
        if ids.shape != (stack.n_items,):
            raise LensError.bad_argument("text_ids", ids, f"one prompt id per row, shape ({stack.n_items},)")
    elif table is not None and stack.unit == "token" and "text_id" in table.columns:
        ids = table["text_id"].to_numpy()
    elif not need_tokens and (stack.unit == "text" or table is None):
        if drop_special:
            raise LensError.bad_argument("drop_special", True, "False for inputs with one row per prompt")
        n = stack.n_items
        prompt_table = table.reset_index(drop=True) if table is not None else pd.DataFrame({"text_id": np.arange(n)})
        return _Prompts(stack, None, np.arange(n + 1), True, prompt_table)
    else:
        raise LensError.bad_argument(
            argument,
            f"{stack.unit}-level data" + ("" if table is None else f" with table columns {list(table.columns)}"),
            "token-level Activations (a token table with text_id), or plain arrays with text_ids=",
            "Extract with lensnb.extract(model, texts) and pass the Activations as they come.",
        )
    if drop_special:
        if table is None or "special" not in table.columns:
            raise LensError.bad_argument("drop_special", True, "False for data without a token table with 'special'")
        rows = np.flatnonzero(~table["special"].to_numpy(dtype=bool))
        if len(rows) == 0:
            raise LensError.bad_argument(argument, "only special tokens", "some non-special tokens")
    else:
        rows = np.arange(stack.n_items)
    offsets = runs(ids[rows])
    starts = rows[offsets[:-1]]
    if len(np.unique(ids[starts])) != len(starts):
        raise LensError.bad_argument(
            "text_ids" if text_ids is not None else f"{argument} (table text_id)",
            "a prompt whose rows are not contiguous",
            "the rows of each prompt next to each other",
        )
    prompt_table = pd.DataFrame({"text_id": ids[starts], "n_tokens": np.diff(offsets)})
    texts = acts.texts if isinstance(acts, Activations) else None
    if texts is not None and "text" in texts.columns:
        prompt_table["text"] = prompt_table["text_id"].map(dict(zip(texts["text_id"], texts["text"])))
    return _Prompts(stack, rows if drop_special else None, offsets, False, prompt_table)


# ---------------------------------------------------------------------- internals
def _check_alpha(alpha: Any) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not math.isfinite(alpha) or alpha <= 0:
        raise LensError.bad_argument("alpha", alpha, "a finite number > 0 (1 = Shannon / von Neumann entropy)")


def _flags(**flags: Any) -> tuple[bool, ...]:
    """The values of boolean options, each checked to be True or False (by its name)."""
    return tuple(check_flag(name, value) for name, value in flags.items())


def _center_rows(x: np.ndarray) -> np.ndarray:
    """Centre the rows on their mean and scale each to unit norm (zero rows stay zero).

    Each centred row is first multiplied by a power of two (exact), so that its norm
    neither overflows nor underflows whatever the data's scale."""
    x = power_of_two_scaled(x - x.mean(axis=0), axis=1)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _center_groups(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Centre each run of rows on its own mean and scale rows to unit norm."""
    sizes = np.diff(offsets)
    means = np.add.reduceat(x, offsets[:-1], axis=0) / sizes[:, None]
    x = power_of_two_scaled(x - np.repeat(means, sizes, axis=0), axis=1)  # exact: norms cannot over/underflow
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _renyi_rows(eigenvalues: np.ndarray, alpha: float) -> np.ndarray:
    """Alpha-entropy of each row's positive spectrum, normalised to sum 1: shape (batch,)."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    m = eigenvalues.shape[1]
    top = eigenvalues.max(axis=1, keepdims=True)
    keep = eigenvalues > np.maximum(top, 0.0) * m * _EPS
    lam = np.where(keep, eigenvalues, 0.0)
    total = lam.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(keep, lam / total, 1.0)  # 1.0 where left out: log 1 = 0
        if alpha == 1:
            out = -np.sum(np.where(keep, p * np.log(p), 0.0), axis=1)
        elif abs(alpha - 1.0) < 1e-2:
            # log(sum p^alpha) / (1 - alpha) cancels near alpha = 1 (at 1 + 1e-12 it was 1e-4 off):
            # sum p^alpha / sum p = 1 + sum p (exp((alpha - 1) log p) - 1) / sum p, taken with
            # expm1 and log1p (every term has one sign), tends smoothly to Shannon's
            delta = alpha - 1.0
            shares = np.sum(np.where(keep, p * np.expm1(delta * np.log(p)), 0.0), axis=1)
            out = -np.log1p(shares / np.sum(np.where(keep, p, 0.0), axis=1)) / delta
        else:
            log_p = np.log(p)
            scaled = np.where(keep, alpha * log_p, -np.inf)
            peak = scaled.max(axis=1, keepdims=True)
            log_sum = peak[:, 0] + np.log(np.sum(np.exp(scaled - peak), axis=1))
            out = log_sum / (1.0 - alpha)
    out[total[:, 0] <= 0] = np.nan
    return out


def _grouped_entropies(
    z: np.ndarray, offsets: np.ndarray, eligible: np.ndarray, alpha: float, clamp_negative: bool
) -> np.ndarray:
    """Entropy of every eligible prompt's rows of ``z``, prompts batched by size: (n_prompts,)."""
    sizes = np.diff(offsets)
    dim = z.shape[1]
    out = np.full(len(sizes), np.nan)
    order = [int(i) for i in np.argsort(sizes, kind="stable") if eligible[i]]
    start = 0
    while start < len(order):
        wide = sizes[order[start]] > dim  # Gram of the smaller side (the reference's rule, which the clamp follows)
        stop = start + 1
        while (
            stop < len(order)
            and (sizes[order[stop]] > dim) == wide
            and (stop - start + 1) * int(sizes[order[stop]]) * max(dim, int(sizes[order[stop]])) <= _CHUNK_ENTRIES
        ):
            stop += 1
        chunk = np.asarray(order[start:stop])
        longest = int(sizes[chunk].max())
        padded = np.zeros((len(chunk), longest, dim))
        for slot, prompt in enumerate(chunk):  # copies only; the maths is batched below
            padded[slot, : sizes[prompt]] = z[offsets[prompt] : offsets[prompt + 1]]
        gram = padded.transpose(0, 2, 1) @ padded if wide else padded @ padded.transpose(0, 2, 1)
        if clamp_negative:
            gram = np.maximum(gram, 0.0)
        out[chunk] = _renyi_rows(np.linalg.eigvalsh(gram), alpha)  # numpy's LAPACK loop: much faster than torch's here
        start = stop
    return out


def _grouped_curvatures(z: np.ndarray, offsets: np.ndarray, absolute_cosine: bool) -> np.ndarray:
    """Mean step angle of every run of rows of ``z`` (NaN where none is defined): (n_prompts,)."""
    sizes = np.diff(offsets)
    group = np.repeat(np.arange(len(sizes)), sizes)
    angles, valid = _step_angles(z, absolute_cosine)
    owner = group[:-2]
    valid &= (group[1:-1] == owner) & (group[2:] == owner)  # the three rows of an angle in one prompt
    counts = np.bincount(owner[valid], minlength=len(sizes))
    sums = np.bincount(owner[valid], weights=angles[valid], minlength=len(sizes))
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _step_angles(x: np.ndarray, absolute_cosine: bool) -> tuple[np.ndarray, np.ndarray]:
    """Angles between consecutive steps of the rows of ``x``, and which are defined: (n - 2,) each."""
    steps = power_of_two_scaled(np.diff(x, axis=0), axis=1)  # exact; angles ignore each step's length
    lengths = np.linalg.norm(steps, axis=1)
    dots = np.einsum("kd,kd->k", steps[:-1], steps[1:])
    valid = (lengths[:-1] > 0) & (lengths[1:] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.clip(dots / (lengths[:-1] * lengths[1:]), -1.0, 1.0)
    if absolute_cosine:
        cosine = np.abs(cosine)
    return np.where(valid, np.arccos(np.where(valid, cosine, 1.0)), 0.0), valid


def _report_skipped(skipped: np.ndarray, measure: str, why: str) -> None:
    if skipped.all():
        raise LensError.bad_argument(
            "acts", f"{len(skipped)} prompt(s), all with {why}", f"prompts usable by {measure}"
        )
    if skipped.any():
        warnings.warn(f"{measure}: skipped {int(skipped.sum())} of {len(skipped)} prompts with {why}.", stacklevel=3)


def _profile(
    name: str, prompts: _Prompts, per_prompt: np.ndarray, params: dict[str, Any], reported: np.ndarray
) -> LayerProfile:
    """Mean and spread over prompts per layer, from ``per_prompt`` (n_layers, n_prompts), NaN where
    undefined. ``reported`` (n_prompts,) marks the prompts already skipped with a warning; any
    other prompt undefined at a layer (its rows all the same there) is warned about here, and a
    layer with no defined prompt at all is refused."""
    undefined = np.isnan(per_prompt)
    counts = np.sum(~undefined, axis=1)
    layers = prompts.stack.layers
    if (counts == 0).any():
        layer = layers[int(np.flatnonzero(counts == 0)[0])]
        raise LensError.bad_argument(
            f"acts (layer {layer})", f"a layer where {name} is undefined for every prompt",
            "prompts whose token rows differ (they are all the same within each prompt here)",
            "Leave the layer out with `layers=`.",
        )  # fmt: skip
    unreported = undefined & ~np.asarray(reported, dtype=bool)[None, :]
    if unreported.any():
        where = [f"layer {layers[i]}: {int(unreported[i].sum())}" for i in np.flatnonzero(unreported.any(axis=1))]
        warnings.warn(
            f"{name}: left prompts whose rows are all the same at a layer out of that layer's mean "
            f"({', '.join(where)}); details['n_prompts_used'] counts the prompts behind each layer's value.",
            stacklevel=3,
        )
    values = np.nanmean(per_prompt, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a layer with one prompt: no spread
        spread = np.nanstd(per_prompt, axis=1, ddof=1)
    errors = np.where(counts > 1, spread, np.nan)
    details = {
        "per_prompt": per_prompt, "standard_error": errors / np.sqrt(np.maximum(counts, 1)), "n_prompts_used": counts
    }  # fmt: skip
    return LayerProfile(name, prompts.stack.layers, values, errors, params, prompts.table, "text", details)
