"""Numba helpers shared by every `cpu.py` (imported only by them, so only when a NumPy
float array was routed to "cpu").

Every kernel compiles with `cache=True`: the machine code is written next to the source
(in __pycache__) and later processes load it instead of compiling. A kernel that may run
in parallel is compiled once, with `parallel=True`, and started through `launch`, which
keeps small work on the calling thread (one build, no serial twin).
"""
from __future__ import annotations

from typing import Any

from numba import get_num_threads, njit, set_num_threads

# reductions may be reassociated (vectorised partial sums); no finite-math assumptions
REDUCE_MATH = {"reassoc", "contract", "nsz"}


def jit(fn=None, **kw):  # type: ignore[no-untyped-def]
    """@njit(cache=True, nogil=True, error_model="numpy") with extra options.

    error_model="numpy": x / 0 gives inf/nan as NumPy does, instead of a zero check
    per division that keeps LLVM from vectorising the loop."""
    opts = dict(cache=True, nogil=True, error_model="numpy", **kw)
    return njit(**opts)(fn) if fn is not None else njit(**opts)


def pjit(fn=None, **kw):  # type: ignore[no-untyped-def]
    """`jit` with parallel=True: prange loops spread over Numba's threads."""
    return jit(fn, parallel=True, **kw)


def launch(kernel: Any, work: int, threshold: int, *args: Any) -> Any:
    """Call a `pjit` kernel; with less than `threshold` elements of work, on this thread
    alone (waking sleeping workers costs more than small work saves)."""
    if work >= threshold:
        return kernel(*args)
    n = get_num_threads()
    if n == 1:
        return kernel(*args)
    set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        set_num_threads(n)
