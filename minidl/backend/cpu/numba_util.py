"""Shared Numba settings for the CPU kernels (imported only by the numba_* modules).

Every kernel compiles with `cache=True`: the machine code is written next to the
source (in __pycache__) and later processes load it instead of compiling. Element-wise
kernels come in a serial and a parallel build; `PARALLEL_MIN` elements is where
starting the thread pool starts to pay on a 2-core machine.
"""
from __future__ import annotations

from numba import njit

# below this many elements a parallel loop costs more to start than it saves
PARALLEL_MIN = 1 << 15
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
