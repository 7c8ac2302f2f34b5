"""The embedding gradient with Numba: the contract of `minidl.kernels.embedding` for a
C-contiguous float gy, on the calling thread (rows that repeat an id must be added in
order, and a step's ids are few: 3,200 rows of 64 for the text LSTM, 0.1 ms)."""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.kernels._numba import call, jit
from minidl.kernels._workspace import scratch


@jit
def _scatter_rows(ids, g, gw):  # pragma: no cover - compiled
    """gw = 0, then gw[ids[k]] += g[k] for k in order."""
    gw[:] = 0
    for k in range(ids.size):
        row, src = gw[ids[k]], g[k]
        for j in range(src.size):
            row[np.uintp(j)] += src[np.uintp(j)]


def backward(ids: np.ndarray, gy: np.ndarray, shape: tuple[int, int]) -> Any:
    """The contract's `backward`; gy C-contiguous."""
    gw = scratch(shape, gy.dtype)
    call(_scatter_rows, ids.reshape(-1).astype(np.intp, copy=False), gy.reshape(-1, shape[1]), gw)
    return gw
