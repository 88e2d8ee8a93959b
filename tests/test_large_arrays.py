"""Large in-memory arrays: zero-filled, writable, alive as long as the array, never huge-page advised."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
import pytest

from lensnb.errors import LensError
from lensnb.large_arrays import anonymous_array
from lensnb.store import MemoryWriter


def _vm_flags(array: np.ndarray) -> list[str]:
    """The VmFlags of the mapping of this process that holds the middle of ``array`` (Linux;
    numpy advises from the first page boundary inside an allocation, not its first byte)."""
    address = array.ctypes.data + array.nbytes // 2
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            start, stop = (int(part, 16) for part in head.split("-"))
            inside = start <= address < stop
        elif inside and head == "VmFlags:":
            return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


def test_a_large_array_is_zero_filled_writable_and_outlives_its_maker():
    array = anonymous_array((3, 1000, 700), "float32")  # 8.4 MB
    assert array.shape == (3, 1000, 700) and array.dtype == np.float32
    assert array.flags.writeable and array.flags.c_contiguous
    assert not array.any()
    array[1, 10:20] = 2.5
    gc.collect()  # the mapping is held by the array, not by the function that made it
    assert float(array.sum()) == 2.5 * 10 * 700
    view = array[2]
    del array
    gc.collect()
    view[0, 0] = 1.0
    assert view[0, 0] == 1.0


def test_a_small_or_empty_array_is_an_ordinary_one():
    small = anonymous_array((10, 4), np.float16)
    assert small.shape == (10, 4) and small.dtype == np.float16 and not small.any()
    empty = anonymous_array((0, 384), "float32")
    assert empty.shape == (0, 384)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_the_pages_are_not_advised_as_huge_pages_unlike_numpys():
    ours = anonymous_array((4, 1024, 1024), "float32")  # 16 MiB
    assert "hg" not in _vm_flags(ours)
    numpys = np.empty((4, 1024, 1024), np.float32)
    if "hg" not in _vm_flags(numpys):
        pytest.skip("this numpy does not advise huge pages, so there is nothing to compare with")


def test_the_memory_writer_collects_into_anonymous_arrays():
    writer = MemoryWriter({"resid_post": (2, 3000, 384)}, np.dtype(np.float32), n_segments=1, attention_size=2_000_000)
    writer.write("resid_post", 1, 5, np.ones((2, 384), np.float32))
    writer.write_attention(7, np.full((2, 3), 0.5, np.float32))
    assert writer.arrays["resid_post"][1, 5:7].sum() == 2 * 384 and writer.arrays["resid_post"].sum() == 2 * 384
    assert writer.attentions[7:13].tolist() == [0.5] * 6 and writer.attentions.sum() == 3.0
    if sys.platform.startswith("linux"):
        assert "hg" not in _vm_flags(writer.arrays["resid_post"])


@pytest.mark.parametrize(
    ("shape", "dtype", "argument"),
    [((-1, 5), "float32", "shape"), ("abc", "float32", "shape"), ((2.5, 3), "float32", "shape"),
     ((3,), "nonsense", "dtype"), ((2000, 2000), object, "dtype")],
)  # fmt: skip
def test_bad_shapes_and_dtypes_are_named(shape, dtype, argument):
    with pytest.raises(LensError, match=f"^{argument}:"):
        anonymous_array(shape, dtype)
