"""GPU kernels (CuPy RawKernels, one module per concern), built lazily and memoised.

The CPU reference functions (minidl/backend/cpu/*.py) hand CuPy arrays to the kernel
of the same contract here: `if use_cupy(x): return kernels("conv").im2col(...)`.
Nothing in this package imports CuPy at import time; `build.launch` does, on first use.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

from minidl.backend import device_of

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def use_cupy(*arrays: Any) -> bool:
    """True when every non-None argument is a CuPy array of one dtype, float32 or float64
    (mixed dtypes go to the reference, which promotes as NumPy does)."""
    dtype = None
    for a in arrays:
        if a is None:
            continue
        if device_of(a) != "cuda" or a.dtype not in _FLOATS or (dtype is not None and a.dtype != dtype):
            return False
        dtype = a.dtype
    return dtype is not None


def kernels(concern: str) -> ModuleType:
    """The kernel module `minidl.backend.gpu.<concern>` (conv, pool, recurrent, loss, optim)."""
    return importlib.import_module(f"minidl.backend.gpu.{concern}")  # memoised by sys.modules
