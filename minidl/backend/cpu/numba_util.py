"""Shared Numba settings for the CPU kernels (imported only by the numba_* modules).

Every kernel compiles with `cache=True`: the machine code is written next to the
source (in __pycache__) and later processes load it instead of compiling. Element-wise
kernels come in a serial and a parallel build; `PARALLEL_MIN` elements is where
starting the thread pool starts to pay on a 2-core machine.
"""
from __future__ import annotations

from typing import Any

from numba import get_num_threads, njit, set_num_threads

# Below this much work a parallel loop costs more to start than it saves: workers sleep
# between kernels (passive OpenMP waits) and waking them takes ~50 us here. Measured on
# 2 cores: conv/pool kernels gain from ~100k outputs, memory-bound element-wise ones
# (ReLU, Adam, SGD: a few ns per element) only from about a million elements.
PARALLEL_MIN = 1 << 17
ELEMENTWISE_PARALLEL_MIN = 1 << 20
# reductions may be reassociated (vectorised partial sums); no finite-math assumptions
REDUCE_MATH = {"reassoc", "contract", "nsz"}


def jit(fn=None, **kw):  # type: ignore[no-untyped-def]
    """@njit(cache=True, nogil=True, error_model="numpy") with extra options.

    error_model="numpy": x / 0 gives inf/nan as NumPy does, instead of a zero check
    per division that keeps LLVM from vectorising the loop."""
    opts = dict(cache=True, nogil=True, error_model="numpy", **kw)
    return njit(**opts)(fn) if fn is not None else njit(**opts)


def pjit(fn=None, **kw):  # type: ignore[no-untyped-def]
    """@njit(cache=True, nogil=True, parallel=True) with extra options."""
    return jit(fn, parallel=True, **kw)


def launch(kernel: Any, work: int, *args: Any) -> Any:
    """Call a parallel kernel; with less than PARALLEL_MIN elements of work, on this thread
    alone (waking sleeping workers costs tens of microseconds, more than small work)."""
    if work >= PARALLEL_MIN:
        return kernel(*args)
    n = get_num_threads()
    if n == 1:
        return kernel(*args)
    set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        set_num_threads(n)
