"""Numba helpers shared by every `cpu.py` (imported only by them, so only when a NumPy
float array was routed to "cpu").

Every kernel compiles with `cache=True`: the machine code is written next to the source
(in __pycache__) and later processes load it instead of compiling. A kernel that may run
in parallel is written once, decorated with `pjit`, and started through `launch`: from a
threshold of work it runs its parallel build (prange over Numba's threads), below it the
serial build of the same source (prange as range), since waking sleeping workers costs
more than small work saves. Each build compiles on its first use only.
"""
from __future__ import annotations

import types
from typing import Any

from numba import njit

# reductions may be reassociated (vectorised partial sums); no finite-math assumptions
REDUCE_MATH = {"reassoc", "contract", "nsz"}


def jit(fn=None, **kw):  # type: ignore[no-untyped-def]
    """@njit(cache=True, nogil=True, error_model="numpy") with extra options.

    error_model="numpy": x / 0 gives inf/nan as NumPy does, instead of a zero check
    per division that keeps LLVM from vectorising the loop."""
    opts = dict(cache=True, nogil=True, error_model="numpy", **kw)
    return njit(**opts)(fn) if fn is not None else njit(**opts)


class Parallel:
    """One kernel source, two builds: `parallel` and `serial`. Calling it runs `parallel`.

    A serial build, rather than the parallel one held to one thread: measured on 2 cores,
    a 1,000-element ReLU took 0.3 us serial against 1.9 us for the parallel build and
    3.2 us with `set_num_threads(1)` around it (docs/performance.md, "Tuning constants")."""

    __slots__ = ("parallel", "serial")

    def __init__(self, fn: Any, **kw: Any) -> None:
        self.parallel = jit(fn, parallel=True, **kw)
        self.serial = jit(_renamed(fn, "__serial"), **kw)

    def __call__(self, *args: Any) -> Any:
        return self.parallel(*args)


def _renamed(fn: Any, suffix: str) -> Any:
    """A copy of `fn` under another qualified name: Numba names its cache files after the
    function and keys their entries by signature and bytecode, not by `parallel`, so two
    builds of one function would load each other's cached machine code."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__,
                              fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    return copy


def pjit(fn=None, **kw):  # type: ignore[no-untyped-def]
    """`jit` with both a parallel and a serial build (`Parallel`); start it with `launch`."""
    if fn is None:
        return lambda f: Parallel(f, **kw)
    return Parallel(fn, **kw)


def launch(kernel: Parallel, work: int, threshold: int, *args: Any) -> Any:
    """Run a `pjit` kernel: its parallel build from `threshold` elements of work, its serial
    build below (see `Parallel`)."""
    return (kernel.parallel if work >= threshold else kernel.serial)(*args)
