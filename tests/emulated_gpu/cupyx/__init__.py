"""cupyx of the CuPy emulator: scatter_add, the one function minidl uses."""
from __future__ import annotations

from typing import Any

import numpy as _np

import cupy


def scatter_add(a: Any, slices: Any, value: Any) -> None:
    """a[slices] += value, accumulating over repeated indices (cupyx.scatter_add)."""
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"scatter_add: a must be a cupy.ndarray, not {type(a).__name__}")
    _np.add.at(a._a, cupy._index(slices), cupy._dev(value, "value") if not _np.isscalar(value) else value)
