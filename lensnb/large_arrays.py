"""Large in-memory arrays whose first touch does not stall on huge-page compaction.

numpy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) for every
array of 4 MiB or more. Where the kernel's ``defrag`` setting is ``madvise`` (the
default of Debian and Ubuntu), a fault in such an array then compacts memory
synchronously until a free 2 MiB page exists. On a machine whose memory is fragmented
(a page cache full of earlier work) filling a fresh 531 MiB array took 1.0-1.1 s, 0.9 s
of it in the kernel, against 0.25-0.27 s with ordinary 4 KiB pages (and 0.14 s with
huge pages once the process had freed some): the in-memory extraction of 2,000
sentences from the embedded model took 1.07-1.32x the time of the bare forward pass,
varying with the kernel's luck. An array made here is a private anonymous mapping that
nobody advises: filling it costs the same every time.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence

import numpy as np

from lensnb.errors import LensError

__all__ = ["anonymous_array"]

_SMALL = 4 * 2**20  # numpy advises huge pages from this size on; below it, nothing to avoid


def anonymous_array(shape: Sequence[int], dtype: np.dtype | str) -> np.ndarray:
    """A zero-filled, writable array in ordinary (4 KiB) pages, filled in on first touch.

    Parameters
    ----------
    shape : tuple of int
        Non-negative sizes.
    dtype : numpy dtype or name
        Numeric (not object).

    Returns
    -------
    ndarray, shape ``shape``
        Backed by a private anonymous memory mapping (kept alive by the array) where
        the platform has one and the array is at least 4 MiB; otherwise ``np.zeros``.

    Raises
    ------
    LensError
        For a shape that is not a tuple of non-negative integers, or a dtype that is not numeric.
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype is None or dtype.hasobject or dtype.itemsize == 0:
        raise LensError.bad_argument("dtype", dtype, "a numeric numpy dtype (float32, float16, int64...)")
    if (
        isinstance(shape, (str, bytes))
        or not isinstance(shape, (tuple, list))
        or not all(isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size >= 0 for size in shape)
    ):
        raise LensError.bad_argument("shape", shape, "a tuple of non-negative integers")
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = count * dtype.itemsize
    private = getattr(mmap, "MAP_PRIVATE", None)
    anonymous = getattr(mmap, "MAP_ANONYMOUS", None)
    if nbytes < _SMALL or private is None or anonymous is None:  # Windows has neither flag
        return np.zeros(shape, dtype=dtype)
    pages = mmap.mmap(-1, nbytes, flags=private | anonymous, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    return np.frombuffer(pages, dtype=dtype, count=count).reshape(shape)
