"""Augmentation invariance per layer (Skean et al. 2025): InfoNCE, LiDAR and DiME.

A prompt and an augmented copy of it (typos, split words) should land close together
at a layer whose representation is robust. Each prompt becomes one vector per layer
(the mean of its token vectors), the vectors of each view are centred over the prompts
and scaled to unit norm, and one of three measures compares the views:

- :func:`infonce`: the contrastive loss of matching each prompt to its own augmented
  copy among all prompts (lower = more invariant);
- :func:`lidar`: the entropy of the LDA matrix that treats the views of a prompt as
  one class (Thilak et al. 2023; higher = more distinct, well-separated prompts);
- :func:`dime`: the difference of matrix entropies between permuted and aligned pairs
  (Skean et al. 2023; higher = more information shared by the views).

:func:`augment_text` makes seeded augmented copies of texts in the spirit of the
reference's nlpaug pipeline (word splits, random character substitutions, keyboard
typos); extract both with :func:`lensnb.extract` and pass the two Activations, or pass
augmented activations made any other way.

References
----------
Skean et al. (2025), Layer by Layer: Uncovering Hidden Representations in Language
Models, ICML, arXiv:2502.02013, Sec. 3 "augmentation invariance".
Oord, Li & Vinyals (2018), Representation Learning with Contrastive Predictive Coding (InfoNCE).
Thilak et al. (2023), LiDAR: Sensing Linear Probing Performance in Joint Embedding SSL Architectures, arXiv:2312.04000.
Skean, Hoyos Osorio, Brockmeier & Sanchez Giraldo (2023), DiME: Maximizing Mutual
Information by a Difference of Matrix-Based Entropies, arXiv:2301.08164.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.flags import check_flag
from lensnb.geometry.inputs import as_matrix, check_integer, check_seed, is_real, power_of_two_scaled
from lensnb.geometry.layer_metrics import REFERENCE, _center_rows, _check_alpha, _flags, _prompts, _renyi_rows
from lensnb.geometry.results import LayerProfile
from lensnb.tensors import tensor_to_numpy

__all__ = ["augment_text", "infonce", "lidar", "dime", "augmentation_invariance", "METRICS"]

METRICS = ("infonce", "lidar", "dime")

_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_RANDOM_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# ---------------------------------------------------------------------- text augmentation
def augment_text(
    texts: str | Sequence[str],
    *,
    seed: int = 0,
    split_p: float = 0.3,
    substitute_p: float = 0.3,
    keyboard_p: float = 0.3,
    char_p: float = 0.3,
    min_chars: int = 4,
    max_words: int = 10,
) -> str | list[str]:
    """Seeded typo-style augmentation of texts: word splits, random and keyboard substitutions.

    Three passes run in order over the whitespace-separated words of each text, like
    the reference's ``nlpaug`` pipeline ``Sequential([SplitAug(), RandomCharAug(),
    KeyboardAug()])``: (1) split ``round(split_p * n)`` words (at least 1, at most
    ``max_words``) of ``min_chars`` letters or more in two at a random inner position;
    (2) in ``round(substitute_p * n)`` such words, replace ``round(char_p * length)``
    letters (1..10) by random letters or digits; (3) likewise with ``keyboard_p``,
    replacing letters by a neighbouring key on a QWERTY keyboard (case kept).

    Parameters
    ----------
    texts : str or sequence of str
    seed : int
        Seed of the one generator used for all texts, in order.
    split_p, substitute_p, keyboard_p : float
        Fraction of eligible words each pass changes (0 turns a pass off).
    char_p : float
        Fraction of a chosen word's letters the substitution passes change.
    min_chars : int
        Shortest word (in letters and digits) a pass may change, at least 2 (a split
        needs two characters).
    max_words : int
        Most words a pass changes per text (>= 0).

    Returns
    -------
    str or list of str
        Same shape as ``texts``. Deterministic for a given seed.

    Notes
    -----
    Not byte-for-byte nlpaug (its character choices and tokenisation differ; the
    reference also wrote ``str()`` of nlpaug's list output, so its augmented texts
    start with ``['`` and end with ``']``).
    """
    for name, value in (
        ("split_p", split_p),
        ("substitute_p", substitute_p),
        ("keyboard_p", keyboard_p),
        ("char_p", char_p),
    ):
        if not is_real(value) or not 0 <= value <= 1:
            raise LensError.bad_argument(name, value, "a fraction in [0, 1]")
    min_chars, max_words = check_integer("min_chars", min_chars, 2), check_integer("max_words", max_words, 0)
    rng = np.random.default_rng(check_seed(seed))
    single = isinstance(texts, str)
    if not single and (isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable)):
        raise LensError.bad_argument("texts", texts, "a string or a sequence of strings")
    items = [texts] if single else list(texts)
    if not all(isinstance(t, str) for t in items):
        raise LensError.bad_argument("texts", texts, "a string or a sequence of strings")
    out = []
    for text in items:
        pieces = re.split(r"(\s+)", text)  # words at even positions, whitespace at odd ones
        words = pieces[0::2]
        words = _split_words(words, rng, split_p, min_chars, max_words)
        words = _substitute(words, rng, substitute_p, char_p, min_chars, max_words, _random_char)
        words = _substitute(words, rng, keyboard_p, char_p, min_chars, max_words, _keyboard_char)
        spaces = pieces[1::2] + [""]
        out.append("".join(w + s for w, s in zip(words, spaces)))
    return out[0] if single else out


def _eligible(words: list[str], min_chars: int) -> list[int]:
    return [i for i, w in enumerate(words) if sum(c.isalnum() for c in w) >= min_chars]


def _how_many(p: float, n: int, most: int) -> int:
    return 0 if p == 0 or n == 0 else min(n, most, max(1, round(p * n)))


def _split_words(words: list[str], rng, p: float, min_chars: int, most: int) -> list[str]:
    chosen = _eligible(words, min_chars)
    picked = set(rng.choice(chosen, size=_how_many(p, len(chosen), most), replace=False).tolist()) if chosen else set()
    out = []
    for i, word in enumerate(words):
        if i in picked:
            cut = int(rng.integers(1, len(word)))
            out.append(word[:cut] + " " + word[cut:])
        else:
            out.append(word)
    return out


def _substitute(words: list[str], rng, p: float, char_p: float, min_chars: int, most: int, replace) -> list[str]:
    words = list(words)
    chosen = _eligible(words, min_chars)
    if not chosen:
        return words
    for i in rng.choice(chosen, size=_how_many(p, len(chosen), most), replace=False).tolist():
        letters = [k for k, c in enumerate(words[i]) if c.isalnum()]
        count = min(len(letters), 10, max(1, round(char_p * len(letters))))
        chars = list(words[i])
        for k in rng.choice(letters, size=count, replace=False).tolist():
            chars[k] = replace(chars[k], rng)
        words[i] = "".join(chars)
    return words


def _random_char(char: str, rng) -> str:
    return _RANDOM_CHARS[int(rng.integers(len(_RANDOM_CHARS)))]


def _keyboard_char(char: str, rng) -> str:
    lower = char.lower()
    for r, row in enumerate(_KEYBOARD_ROWS):
        c = row.find(lower)
        if c < 0:
            continue
        near = [row[j] for j in (c - 1, c + 1) if 0 <= j < len(row)]
        if r > 0:  # the row above sits half a key to the right
            near += [_KEYBOARD_ROWS[r - 1][j] for j in (c, c + 1) if j < len(_KEYBOARD_ROWS[r - 1])]
        if r + 1 < len(_KEYBOARD_ROWS):
            near += [_KEYBOARD_ROWS[r + 1][j] for j in (c - 1, c) if 0 <= j < len(_KEYBOARD_ROWS[r + 1])]
        pick = near[int(rng.integers(len(near)))]
        return pick.upper() if char.isupper() else pick
    return char  # not on the keyboard map (accents, CJK): unchanged


# ---------------------------------------------------------------------- pure measures
def infonce(a: Any, b: Any, *, temperature: float = 0.1, symmetric: bool = False) -> float:
    """InfoNCE loss of matching each row of ``a`` to the same row of ``b`` (nats).

    ``L = -(1/N) sum_i log( exp(s_ii / t) / sum_j exp(s_ij / t) )`` with ``s_ij`` the
    cosine similarity of ``a_i`` and ``b_j``. 0 is perfect matching; ``log N`` is chance
    when all similarities are equal; ``log N - L`` is the InfoNCE lower bound on the
    mutual information of the views. Invariant to rotating ``a`` and ``b`` together.

    Parameters
    ----------
    a, b : array or tensor, shape (n, dim)
        Row i of ``b`` is the positive of row i of ``a``; the other rows are negatives.
    temperature : float
        > 0; the reference uses 0.1.
    symmetric : bool
        Average the losses of matching ``a`` to ``b`` and ``b`` to ``a`` (CLIP-style).
        Off by default: the reference's latest version is one-directional.

    Returns
    -------
    float

    Notes
    -----
    An earlier version of the reference used SimCLR's NT-Xent over the 2N vectors of
    both views (positives against all other 2N - 2 vectors); its latest one is this
    one-directional form, which also reports ``1 - L / log N``.

    References
    ----------
    Oord et al. 2018, Eq. 4; Skean et al. 2025, Sec. 3.
    """
    x, y = _pair(a, b)
    if not is_real(temperature) or not 0 < temperature < math.inf:
        raise LensError.bad_argument("temperature", temperature, "a finite number > 0")
    symmetric = check_flag("symmetric", symmetric)
    x, y = _unit_rows(x), _unit_rows(y)
    logits = x @ y.T / temperature
    loss = _cross_entropy_diagonal(logits)
    if symmetric:
        loss = 0.5 * (loss + _cross_entropy_diagonal(logits.T))
    return float(loss)


def lidar(views: Any, *, alpha: float = 1.0, delta: float = 1e-4, normalize: bool = True) -> float:
    """LiDAR: matrix entropy of the LDA matrix of prompts (classes) and their views.

    With ``z_ij`` view j of prompt i, class means ``mu_i``, grand mean ``mu``:
    ``S_b = (1/N) sum_i (mu_i - mu)(mu_i - mu)^T``,
    ``S_w = (1/(N V)) sum_ij (z_ij - mu_i)(z_ij - mu_i)^T + delta I``,
    ``S_lda = S_w^{-1/2} S_b S_w^{-1/2}`` and LiDAR = the alpha-entropy of its spectrum,
    divided by ``log(min(N, D))`` as the reference does (``exp`` of the unnormalised
    value at alpha = 1 is Thilak et al.'s effective rank, without their epsilon).
    Higher = more directions that tell prompts apart beyond the augmentation noise.
    Invariant to rotations of the representation.

    Parameters
    ----------
    views : array or tensor, shape (n_prompts, n_views, dim)
        At least 2 views per prompt.
    alpha : float
        Entropy order (> 0).
    delta : float
        Ridge added to the within-class scatter (the reference's 1e-4).
    normalize : bool
        Divide by ``log(min(n_prompts, dim))``.

    Returns
    -------
    float

    References
    ----------
    Thilak et al. 2023, Eqs. 1-3; Skean et al. 2025, Sec. 3.
    """
    _check_alpha(alpha)
    z = _to_array(views, "views")
    if z.ndim != 3 or z.shape[0] < 2 or z.shape[1] < 2 or z.shape[2] < 1:
        raise LensError.bad_argument("views", z, "shape (n_prompts >= 2, n_views >= 2, dim >= 1)")
    if not np.isfinite(z).all():
        raise LensError.bad_argument("views", "an array with NaN or infinite values", "finite values")
    if not is_real(delta) or not 0 < delta < math.inf:
        raise LensError.bad_argument("delta", delta, "a finite number > 0")
    normalize = check_flag("normalize", normalize)
    n, v, dim = z.shape
    if normalize and dim < 2:
        raise LensError.bad_argument("views", z, "dim >= 2 (normalize divides by log(min(n_prompts, dim)))")
    # LiDAR(c z, c^2 delta) = LiDAR(z, delta): with c a power of two (exact) that brings z to |z| < 1,
    # the scatter matrices can neither overflow nor underflow
    _, exponent = np.frexp(np.abs(z).max())
    delta_given = delta
    z, delta = np.ldexp(z, -exponent), math.ldexp(float(delta), -2 * int(exponent))
    if not np.finfo(np.float64).tiny <= delta < math.inf:  # the ridge out of float64's range at that scale
        raise LensError.bad_argument(
            "views", f"values up to {math.ldexp(float(np.abs(z).max()), int(exponent)):.3g} in magnitude with "
            f"delta={delta_given!r}, a ridge float64 cannot hold beside them",
            "views and delta whose ratio delta / max|views|**2 lies within float64's range (about 1e-300 to 1e300)",
            "LiDAR(c * views, delta=c**2 * delta) is LiDAR(views, delta): multiply the views by a constant c and "
            "delta by c**2.",
        )  # fmt: skip
    class_means = z.mean(axis=1)  # (n, dim)
    between = class_means - class_means.mean(axis=0)  # (n, dim): S_b = between^T between / n
    within = (z - class_means[:, None, :]).reshape(n * v, dim)  # S_w = within^T within / (n v) + delta I
    w_values, w_vectors = np.linalg.eigh(within.T @ within / (n * v) + delta * np.eye(dim))
    inverse_root = (w_vectors / np.sqrt(w_values)) @ w_vectors.T
    projected = between @ inverse_root / math.sqrt(n)  # S_lda = projected^T projected
    gram = projected @ projected.T if n <= dim else projected.T @ projected  # same non-zero spectrum
    value = float(_renyi_rows(np.linalg.eigvalsh(gram)[None, :], alpha)[0])
    if not math.isfinite(value):  # no spectrum: every prompt's views average to the same point
        raise LensError.bad_argument(
            "views", "prompts whose views all have the same mean (no scatter between prompts)", "prompts that differ"
        )
    return value / math.log(min(n, dim)) if normalize else value


def dime(
    a: Any, b: Any, *, alpha: float = 1.0, n_permutations: int = 10, seed: int = 0, normalize: bool = True
) -> float:
    """DiME: difference of matrix entropies between permuted and aligned pairs of views.

    With linear-kernel Gram matrices ``K_a = A A^T`` and ``K_b = B B^T`` (n x n) and a
    random permutation matrix P:
    ``DiME = E_P[ S_alpha(K_a o P K_b P^T) ] - S_alpha(K_a o K_b)``, o the Hadamard
    product and S_alpha the matrix entropy of the trace-normalised spectrum. 0 when the
    views are unrelated; larger when they share information. Invariant to rotating
    ``a`` and ``b`` (each, independently).

    Parameters
    ----------
    a, b : array or tensor, shape (n, dim)
        Row i of each is prompt i (the layer wrapper passes centred, unit-norm rows).
    alpha : float
        Entropy order (> 0).
    n_permutations : int
        Random permutations averaged for the expectation (the reference uses 10).
    seed : int
        Seed of the permutations.
    normalize : bool
        Divide by ``log(min(n, dim))`` as the reference does.

    Returns
    -------
    float

    Notes
    -----
    The reference code builds D x D covariance matrices instead when n > D and permutes
    their feature axes, which is not DiME; here the n x n Gram matrices are always used.

    References
    ----------
    Skean et al. 2023 (DiME), Eq. 6; Skean et al. 2025, Sec. 3.
    """
    _check_alpha(alpha)
    x, y = _pair(a, b)
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise LensError.bad_argument("n_permutations", n_permutations, "an integer >= 1")
    rng = np.random.default_rng(check_seed(seed))
    normalize = check_flag("normalize", normalize)
    x, y = power_of_two_scaled(x), power_of_two_scaled(y)  # exact; the trace-normalised spectra ignore the scale
    n, dim = x.shape
    if normalize and dim < 2:
        raise LensError.bad_argument("a", x, "dim >= 2 (normalize divides by log(min(n, dim)))")
    gram_a, gram_b = x @ x.T, y @ y.T
    stack = [gram_a * gram_b]
    for _ in range(int(n_permutations)):
        order = rng.permutation(n)
        stack.append(gram_a * gram_b[np.ix_(order, order)])
    entropies = _renyi_rows(np.linalg.eigvalsh(np.stack(stack)), alpha)
    if not np.isfinite(entropies).all():  # no spectrum: a zero Gram matrix
        raise LensError.bad_argument("a, b", "rows that are all zero in a or in b", "rows that are not all zero")
    value = float(entropies[1:].mean() - entropies[0])
    return value / math.log(min(n, dim)) if normalize else value


# ---------------------------------------------------------------------- layer profile
def augmentation_invariance(
    acts: Any,
    augmented_acts: Any,
    *,
    metric: str = "infonce",
    layers: Sequence[int] | int | None = None,
    site: str | None = None,
    text_ids: Any = None,
    drop_special: bool = False,
    temperature: float = 0.1,
    symmetric: bool = False,
    alpha: float = 1.0,
    delta: float = 1e-4,
    n_permutations: int = 10,
    seed: int = 0,
    normalize: bool = True,
    progress: bool = True,
) -> LayerProfile:
    """How much a layer's prompt vectors change under text augmentation.

    Each view (``acts``, then each of ``augmented_acts``) becomes one vector per prompt
    and layer (the mean of its token vectors, or its rows if already one per prompt);
    each view's vectors are centred over the prompts and scaled to unit norm; then
    ``metric`` compares the views layer by layer.

    Parameters
    ----------
    acts : Activations or array
        The original prompts: token level (with a text_id table, or ``text_ids``) or one
        row per prompt.
    augmented_acts : Activations or array, or a list of them
        The same prompts augmented, in the same order (e.g. ``lensnb.extract(model,
        augment_text(texts, seed=1))``). InfoNCE and DiME take exactly one; LiDAR one or
        more (the reference used 16 augmented views and no original).
    metric : {"infonce", "lidar", "dime"}
    layers, site, text_ids, drop_special, progress
        As in :func:`lensnb.geometry.layer_metrics.prompt_entropy`. ``text_ids`` applies
        to every view given as a plain token-level array; augmented texts tokenise into
        other lengths, so pass such views as Activations or as (layer, prompt, dim)
        arrays of prompt vectors instead.
    temperature, symmetric
        For InfoNCE (:func:`infonce`).
    alpha, normalize
        Entropy order and normalisation for LiDAR and DiME.
    delta
        LiDAR's ridge.
    n_permutations, seed
        DiME's permutations.

    Returns
    -------
    LayerProfile
        ``name`` = the metric, unit ``"text"``, no error bars. For InfoNCE ``details``
        holds ``mutual_information_bound`` = log N - loss per layer.

    Notes
    -----
    The reference compares two augmented copies (InfoNCE, DiME) or 16 (LiDAR) and
    normalises vectors within loader batches; here the original is one view and the
    normalisation runs over all prompts.

    References
    ----------
    Skean et al. 2025, Sec. 3 "augmentation invariance" and App. (augmentations).
    """
    if metric not in METRICS:
        raise LensError.bad_argument("metric", metric, f"one of {METRICS}")
    (progress,) = _flags(progress=progress)
    others = _views(augmented_acts)
    needed = "exactly one augmented view" if metric != "lidar" else "one or more augmented views"
    if metric != "lidar" and len(others) != 1:
        raise LensError.bad_argument("augmented_acts", f"{len(others)} views", needed)
    views = [_prompts(acts, layers, site, text_ids, drop_special, argument="acts", need_tokens=False)]
    for i, other in enumerate(others):
        name = "augmented_acts" if len(others) == 1 else f"augmented_acts[{i}]"
        view = _prompts(other, layers, site, text_ids, drop_special, argument=name, need_tokens=False)
        _check_same(views[0], view, name)
        views.append(view)
    n_prompts = len(views[0].offsets) - 1
    if n_prompts < 2:
        raise LensError.bad_argument("acts", f"{n_prompts} prompt", "at least 2 prompts")
    layer_list = views[0].stack.layers
    values = np.empty(len(layer_list))
    for position in tqdm(range(len(layer_list)), desc=metric, disable=not progress):
        vectors = [_center_rows(view.prompt_vectors(position)) for view in views]
        for name, vector in zip(["acts", *(["augmented_acts"] * len(others))], vectors):
            if not vector.any():  # centred prompt vectors all zero: every prompt the same at this layer
                raise LensError.bad_argument(
                    f"{name} (layer {layer_list[position]})", "a layer where every prompt has the same mean vector",
                    f"prompts that differ, for metric={metric!r}", "Leave the layer out with `layers=`.",
                )  # fmt: skip
        if metric == "infonce":
            values[position] = infonce(vectors[0], vectors[1], temperature=temperature, symmetric=symmetric)
        elif metric == "dime":
            values[position] = dime(
                vectors[0], vectors[1], alpha=alpha, n_permutations=n_permutations, seed=seed, normalize=normalize
            )
        else:
            values[position] = lidar(np.stack(vectors, axis=1), alpha=alpha, delta=delta, normalize=normalize)
    params: dict[str, Any] = {"metric": metric, "n_prompts": n_prompts, "n_views": len(views), "drop_special": drop_special,
                              "pool": "mean of raw token vectors; centred and unit-norm per view", "reference": REFERENCE}  # fmt: skip
    details: dict[str, Any] = {}
    if metric == "infonce":
        params.update(temperature=float(temperature), symmetric=symmetric, better="lower")
        details["mutual_information_bound"] = math.log(n_prompts) - values
    elif metric == "dime":
        params.update(
            alpha=float(alpha), n_permutations=int(n_permutations), seed=seed, normalize=normalize, better="higher"
        )
    else:
        params.update(alpha=float(alpha), delta=float(delta), normalize=normalize, better="higher")
    return LayerProfile(metric, layer_list, values, None, params, views[0].table, "text", details)


# ---------------------------------------------------------------------- internals
def _to_array(x: Any, argument: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return np.asarray(x, dtype=np.float64)
    if isinstance(x, torch.Tensor):
        return np.asarray(tensor_to_numpy(x, argument), dtype=np.float64)
    raise LensError.bad_argument(argument, x, "a numpy array or torch tensor")


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = as_matrix(a, "a"), as_matrix(b, "b")
    if x.shape != y.shape:
        raise LensError.bad_argument("b", y, f"the shape of a, {x.shape}: row i of each is the same prompt")
    return x, y


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = power_of_two_scaled(x, axis=1)  # exact: the norms can neither overflow nor underflow
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise LensError.bad_argument("a, b", "a zero row", "rows with non-zero norm (cosine similarity)")
    return x / norms


def _cross_entropy_diagonal(logits: np.ndarray) -> float:
    peak = logits.max(axis=1, keepdims=True)
    log_norm = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1))
    return float(np.mean(log_norm - np.diagonal(logits)))


def _views(augmented: Any) -> list[Any]:
    if isinstance(augmented, (list, tuple)) and augmented:
        if all(isinstance(v, Activations) for v in augmented):
            return list(augmented)
        if all(getattr(v, "ndim", 0) == 3 for v in augmented):
            return list(augmented)
    return [augmented]


def _check_same(first, other, name: str) -> None:
    if other.stack.layers != first.stack.layers:
        raise LensError.bad_argument(
            name, f"layers {list(other.stack.layers)}", f"the layers of acts, {list(first.stack.layers)}"
        )
    if other.dim != first.dim:
        raise LensError.bad_argument(name, f"dim {other.dim}", f"the dim of acts, {first.dim}")
    n_first, n_other = len(first.offsets) - 1, len(other.offsets) - 1
    if n_first != n_other:
        raise LensError.bad_argument(name, f"{n_other} prompts", f"the {n_first} prompts of acts, in the same order")
    ids_first = first.table["text_id"].to_numpy() if first.table is not None and "text_id" in first.table else None
    ids_other = other.table["text_id"].to_numpy() if other.table is not None and "text_id" in other.table else None
    if ids_first is not None and ids_other is not None and not np.array_equal(ids_first, ids_other):
        raise LensError.bad_argument(name, "prompts with other text_ids", "the text_ids of acts, in the same order")
