"""The windows of average pooling, one axis at a time: where each starts and ends, and
what its sum is divided by.

Both poolings are separable: output (i, j) averages rows lo[i]:hi[i] and columns
lo[j]:hi[j] of the plane, dividing the sum by count[i] * count[j]. Fixed windows
(AvgPool2D) clip to the plane and still count the padding (PyTorch's
count_include_pad=True, so count = k); adaptive windows (AdaptiveAvgPool2D) span
floor(i*size/out) to ceil((i+1)*size/out), as PyTorch's, and count their own length.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minidl.kernels._geometry import output_size


class Windows(NamedTuple):
    """Along one axis: lo, hi, count, each int64 (out,); the windows of lo <= index < hi."""
    lo: np.ndarray
    hi: np.ndarray
    count: np.ndarray


def fixed(size: int, k: int, s: int, p: int) -> Windows:
    """Windows of k at stride s over `size` pixels padded by p (the padding counts)."""
    start = np.arange(output_size(size, k, s, p), dtype=np.int64) * s - p
    return Windows(np.clip(start, 0, size), np.clip(start + k, 0, size), np.full_like(start, k))


def adaptive(size: int, out: int) -> Windows:
    """`out` windows spread over `size` pixels, PyTorch's bounds."""
    i = np.arange(out, dtype=np.int64)
    lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
    return Windows(lo, hi, hi - lo)


def covering(w: Windows, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, last + 1), each int64 (size,): the windows that hold each pixel (lo and hi
    never decrease along the axis, so they are a run)."""
    pixel = np.arange(size, dtype=np.int64)
    return np.searchsorted(w.hi, pixel, side="right"), np.searchsorted(w.lo, pixel, side="right")
