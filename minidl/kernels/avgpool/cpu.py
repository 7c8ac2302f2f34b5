"""Average pooling with Numba: one pass forward (each window's sum over its count), one
pass back.

One parallel task per (n, c) plane: planes never overlap, so the backward's scatter-add
needs no atomics. The windows (windows.py) come as per-axis bounds, so fixed and adaptive
windows share the loops.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from minidl.kernels._numba import launch, pjit
from minidl.kernels._route import tuning
from minidl.kernels.avgpool.windows import Windows

PARALLEL = "MINIDL_PARALLEL_MIN"


@pjit(over=lambda x, *_: x.shape[0] * x.shape[1])
def _forward(x, rlo, rhi, rcount, clo, chi, ccount, y, zero):  # pragma: no cover - compiled
    n, c = x.shape[0], x.shape[1]
    oh, ow = y.shape[2], y.shape[3]
    for p in prange(n * c):
        b, ch = p // c, p % c
        plane = x[b, ch]
        for r in range(oh):
            for q in range(ow):
                total = zero
                for i in range(rlo[r], rhi[r]):
                    for j in range(clo[q], chi[q]):
                        total += plane[i, j]
                y[b, ch, r, q] = total / (rcount[r] * ccount[q])


@pjit(over=lambda gy, *_: gy.shape[0] * gy.shape[1])
def _backward(gy, rlo, rhi, rcount, clo, chi, ccount, dx):  # pragma: no cover - compiled
    n, c = dx.shape[0], dx.shape[1]
    oh, ow = gy.shape[2], gy.shape[3]
    for p in prange(n * c):
        b, ch = p // c, p % c
        plane = dx[b, ch]
        plane[:] = 0
        for r in range(oh):
            for q in range(ow):
                share = gy[b, ch, r, q] / (rcount[r] * ccount[q])
                for i in range(rlo[r], rhi[r]):
                    for j in range(clo[q], chi[q]):
                        plane[i, j] += share


def _typed(w: Windows, dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bounds as they are, the counts in the data's dtype (exact: small integers), so
    sums are divided in that dtype, as the reference does."""
    return w.lo, w.hi, w.count.astype(dtype)


def avgpool(x: np.ndarray, rows: Windows, cols: Windows) -> np.ndarray:
    """reference.avgpool's contract for a C-contiguous float array."""
    n, c = x.shape[:2]
    y = np.empty((n, c, len(rows.lo), len(cols.lo)), dtype=x.dtype)
    work = x.size + y.size
    launch(_forward, work, tuning(PARALLEL), x, *_typed(rows, x.dtype), *_typed(cols, x.dtype), y,
           x.dtype.type(0))
    return y


def unavgpool(gy: np.ndarray, x_shape: tuple[int, ...], rows: Windows, cols: Windows) -> np.ndarray:
    """reference.unavgpool's contract: gy of any layout."""
    dx = np.empty(x_shape, dtype=gy.dtype)
    gy = np.ascontiguousarray(gy)
    launch(_backward, dx.size + gy.size, tuning(PARALLEL), gy, *_typed(rows, gy.dtype),
           *_typed(cols, gy.dtype), dx)
    return dx
