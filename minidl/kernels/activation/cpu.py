"""ReLU with Numba: one pass forward, one pass backward.

The forward saves nothing of its own: the backward reads the output y, which the next
op holds anyway (y > 0 exactly where x > 0), so a training step writes one array
instead of two. NaN passes through the forward as in np.maximum. Memory-bound (a few
ns per element): parallel only from tuning("MINIDL_ELEMENTWISE_PARALLEL_MIN") elements.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import prange

from minidl.kernels._numba import launch, pjit
from minidl.kernels._route import tuning

PARALLEL = "MINIDL_ELEMENTWISE_PARALLEL_MIN"


@pjit
def _relu_forward(x, y):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = x[i]
        y[i] = v if (v > 0 or np.isnan(v)) else 0


@pjit
def _relu_backward(gy, y, gx):  # pragma: no cover - compiled
    for i in prange(gy.size):
        gx[i] = gy[i] if y[i] > 0 else 0


def relu_forward(x: np.ndarray, needs: Sequence[bool] = (True,)) -> tuple[np.ndarray, Any]:
    """(y, saved) with saved = y itself (see the module note); x C-contiguous."""
    y = np.empty_like(x)
    launch(_relu_forward, x.size, tuning(PARALLEL), x.reshape(-1), y.reshape(-1))
    return y, (y if needs[0] else None)


def relu_backward(gy: np.ndarray, saved: np.ndarray) -> np.ndarray:
    """gy where saved > 0, else 0; gy of saved's shape and dtype, any layout."""
    gy = np.ascontiguousarray(gy)
    gx = np.empty_like(gy)
    launch(_relu_backward, gy.size, tuning(PARALLEL), gy.reshape(-1), saved.reshape(-1), gx.reshape(-1))
    return gx
