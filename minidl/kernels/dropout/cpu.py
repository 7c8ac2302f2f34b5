"""Dropout with Numba: the hash, the mask and the product in one pass, no mask array.
See __init__.py for the contract; bit-identical to reference.py."""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from minidl.kernels._numba import launch, pjit
from minidl.kernels._route import tuning
from minidl.kernels._workspace import scratch
from minidl.kernels.dropout.reference import GOLDEN, MIX1, MIX2, threshold

_GOLDEN, _MIX1, _MIX2 = np.uint64(GOLDEN), np.uint64(MIX1), np.uint64(MIX2)


@pjit(over=lambda x, *_: x.size)
def _apply(x, y, seed, least, scale, zero):  # pragma: no cover - compiled
    for i in prange(x.size):
        z = np.uint64(i + 1) * _GOLDEN + seed
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
        y[i] = x[i] * (scale if (z >> np.uint64(40)) >= least else zero)


def apply(x: np.ndarray, p: float, seed: int) -> np.ndarray:
    """reference.apply for a C-contiguous float array."""
    y = scratch(x.shape, x.dtype)
    scalar = x.dtype.type
    launch(_apply, x.size, tuning("MINIDL_ELEMENTWISE_PARALLEL_MIN"), x.reshape(-1), y.reshape(-1),
           np.uint64(seed), np.uint64(threshold(p)), scalar(1.0 / (1.0 - p)), scalar(0))
    return y
