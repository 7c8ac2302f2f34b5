"""The embedding gradient in plain array code (NumPy and CuPy alike): what runs with
MINIDL_KERNELS=reference, on the GPU, and what cpu.py must equal."""
from __future__ import annotations

from typing import Any

from minidl import backend as B
from minidl.backend import array_module


def backward(ids: Any, gy: Any, shape: tuple[int, int]) -> Any:
    """The contract's `backward` (see the package docstring)."""
    gw = array_module(gy).zeros(shape, dtype=gy.dtype)
    B.scatter_add(gw, ids, gy)
    return gw
