"""Numba ReLU: one pass forward (no mask array), one pass backward.

The forward saves nothing of its own: the backward reads the output y, which the
next op holds anyway (y > 0 exactly where x > 0), so a training step writes one
array instead of two. NaN passes through the forward as in np.maximum.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from minidl.backend.cpu.numba_util import ELEMENTWISE_PARALLEL_MIN, jit, pjit


@jit
def _fwd(x, y):  # pragma: no cover - compiled
    for i in range(x.size):
        v = x[i]
        y[i] = v if (v > 0 or np.isnan(v)) else 0


@pjit
def _fwd_par(x, y):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        y[i] = v if (v > 0 or np.isnan(v)) else 0


@jit
def _bwd(gy, y, gx):  # pragma: no cover - compiled
    for i in range(gy.size):
        gx[i] = gy[i] if y[i] > 0 else 0


@pjit
def _bwd_par(gy, y, gx):  # pragma: no cover - compiled
    for i in prange(gy.size):
        gx[i] = gy[i] if y[i] > 0 else 0


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, saved) with saved = y itself (see the module note); x C-contiguous."""
    y = np.empty_like(x)
    (_fwd_par if x.size >= ELEMENTWISE_PARALLEL_MIN else _fwd)(x.reshape(-1), y.reshape(-1))
    return y, y


def relu_backward(gy: np.ndarray, saved: np.ndarray) -> np.ndarray:
    """gy where saved > 0, else 0; gy and saved C-contiguous of one shape."""
    gx = np.empty_like(gy)
    kernel = _bwd_par if gy.size >= ELEMENTWISE_PARALLEL_MIN else _bwd
    kernel(gy.reshape(-1), saved.reshape(-1), gx.reshape(-1))
    return gx
