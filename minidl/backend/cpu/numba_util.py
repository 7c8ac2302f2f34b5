"""Shared Numba settings for the CPU kernels (imported only by the numba_* modules).

The helpers themselves live in `minidl.kernels._numba` (one build per kernel, the
threading layer minidl asks Numba for, one thread at a time inside a parallel kernel
where that layer needs it); this module keeps the names the numba_* modules import
until they move into minidl/kernels/.
"""
from __future__ import annotations

from typing import Any

from minidl.kernels._numba import REDUCE_MATH, jit, pjit
from minidl.kernels._numba import launch as _launch

__all__ = ["ELEMENTWISE_PARALLEL_MIN", "PARALLEL_MIN", "REDUCE_MATH", "jit", "launch", "pjit"]

# Below this much work a parallel loop costs more to start than it saves: workers sleep
# between kernels and waking them takes ~50 us here. Measured on 2 cores: conv/pool
# kernels gain from ~100k outputs, memory-bound element-wise ones (ReLU, Adam, SGD: a few
# ns per element) only from about a million elements.
PARALLEL_MIN = 1 << 17
ELEMENTWISE_PARALLEL_MIN = 1 << 20


def launch(kernel: Any, work: int, *args: Any) -> Any:
    """Call a parallel kernel; with less than PARALLEL_MIN elements of work, on one thread."""
    return _launch(kernel, work, PARALLEL_MIN, *args)
