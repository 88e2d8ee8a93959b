"""Sliding windows: how a text longer than the model's input is covered, each token once.

A text's tokens are ``prefix specials + content + suffix specials`` (e.g. ``[CLS] ... [SEP]``
or ``<s> ...``). When they do not fit in ``max_length``, the content is cut into windows
of ``capacity = max_length - n_prefix - n_suffix`` tokens that overlap by ``stride``
tokens (Hugging Face's meaning of ``stride``), each wrapped in the specials. Every
token is then *kept* from exactly one window:

- encoders (bidirectional): the window where it is farthest from an edge, i.e. the
  overlap is split at its middle;
- decoders (left to right): the earliest window that holds it, where it has the most
  left context; later windows re-read the overlap only as context.

The prefix specials are kept from the first window and the suffix from the last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lensnb.errors import LensError

__all__ = ["Window", "plan_windows"]


@dataclass(frozen=True)
class Window:
    """One model input cut from a text.

    Attributes
    ----------
    content_start, content_end : int
        The content tokens fed (``content[content_start:content_end]``).
    keep_start, keep_end : int
        The content tokens whose states are kept from this window.
    with_prefix, with_suffix : bool
        Whether this window's prefix / suffix specials are kept (first / last window).
    """

    content_start: int
    content_end: int
    keep_start: int
    keep_end: int
    with_prefix: bool
    with_suffix: bool


def plan_windows(
    n_content: int, n_prefix: int, n_suffix: int, max_length: int, stride: int, causal: bool
) -> list[Window]:
    """Cut ``n_content`` tokens into windows that fit ``max_length`` with the specials.

    Parameters
    ----------
    n_content : int
        Tokens between the prefix and suffix specials.
    n_prefix, n_suffix : int
        Special tokens added before / after the content in every window.
    max_length : int
        Longest input the model takes.
    stride : int
        Tokens shared by consecutive windows, ``0 <= stride < capacity``.
    causal : bool
        Keep each token from its earliest window (decoders) instead of the middle of
        the overlap (encoders).

    Returns
    -------
    list of Window
        One window when everything fits; the kept ranges tile ``[0, n_content)``.
    """
    capacity = max_length - n_prefix - n_suffix
    if capacity < 1:
        raise LensError.bad_argument(
            "max_length", max_length, f"more than the {n_prefix + n_suffix} special tokens each input carries"
        )
    if n_content <= capacity:
        return [Window(0, n_content, 0, n_content, True, True)]
    if not 0 <= stride < capacity:
        raise LensError.bad_argument("stride", stride, f"an overlap between 0 and {capacity - 1} tokens")
    step = capacity - stride
    starts = list(range(0, n_content - capacity, step)) + [n_content - capacity]
    starts = sorted(set(starts))
    ends = [start + capacity for start in starts]
    keep_bounds = [0]
    for previous_end, start in zip(ends[:-1], starts[1:]):
        # the overlap between this window and the next is [start, previous_end)
        keep_bounds.append(previous_end if causal else (start + previous_end + 1) // 2)
    keep_bounds.append(n_content)
    last = len(starts) - 1
    return [
        Window(start, end, keep_bounds[i], keep_bounds[i + 1], i == 0, i == last)
        for i, (start, end) in enumerate(zip(starts, ends))
    ]


def window_coverage(windows: list[Window], n_content: int) -> np.ndarray:
    """How many windows keep each content token (all ones for a valid plan)."""
    counts = np.zeros(n_content, dtype=np.int64)
    for window in windows:
        counts[window.keep_start : window.keep_end] += 1
    return counts
