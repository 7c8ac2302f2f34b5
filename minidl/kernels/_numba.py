"""Numba helpers shared by every `cpu.py` (imported only by them, so only when a NumPy
float array was routed to "cpu").

Every kernel compiles with `cache=True`: the machine code is written next to the source
(in __pycache__) and later processes load it instead of compiling. A kernel that may run
in parallel is compiled once, with `parallel=True`, and started through `launch`, which
keeps small work on the calling thread (one build, no serial twin).

Threading layer. Numba runs parallel kernels on one of three thread pools ("threading
layers"); without TBB its default on Linux is GNU OpenMP, which kills every forked child
that runs a parallel kernel ("fork() called from a process already using GNU OpenMP": a
fork-start multiprocessing Pool never returns), and, when PyTorch was imported first,
shares PyTorch's libgomp, whose workers spin after each parallel loop against NumPy's
BLAS threads (measured in docs/performance.md, "Threads, fork and other libraries").
So before minidl's first parallel kernel starts, `choose_threading_layer` asks Numba for
a fork-safe layer, "forksafe": TBB where its library loads, else Numba's own
"workqueue", whose workers sleep on a condition variable between kernels. This assigns
`numba.config.THREADING_LAYER`, a setting of the Numba library in this process (the
user's own parallel Numba code runs on the same layer), not of the process: no
environment variable is written. The user's choice wins: NUMBA_THREADING_LAYER (or
NUMBA_THREADING_LAYER_PRIORITY) in the environment, THREADING_LAYER assigned in code, or
a parallel Numba kernel that already ran (the layer is fixed from then on).

workqueue is not thread-safe: two threads inside parallel kernels at once abort the
process. On that layer minidl's parallel kernels are entered one thread at a time
(`ParallelKernel` holds a lock around the call; uncontended it costs well under a
microsecond). Other layers run concurrent kernels as they are.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numba
from numba import get_num_threads, njit, set_num_threads

# reductions may be reassociated (vectorised partial sums); no finite-math assumptions
REDUCE_MATH = {"reassoc", "contract", "nsz"}
# Numba's own name for "TBB, else (on Linux) workqueue"; both survive fork()
MINIDL_THREADING_LAYER = "forksafe"
_USER_SETTINGS = ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY")
NOT_THREADSAFE = ("workqueue",)

_one_at_a_time = threading.Lock()
_serialize: bool | None = None  # None: minidl has not started the threading layer yet


def jit(fn=None, **kw):  # type: ignore[no-untyped-def]
    """@njit(cache=True, nogil=True, error_model="numpy") with extra options.

    error_model="numpy": x / 0 gives inf/nan as NumPy does, instead of a zero check
    per division that keeps LLVM from vectorising the loop."""
    opts = dict(cache=True, nogil=True, error_model="numpy", **kw)
    return njit(**opts)(fn) if fn is not None else njit(**opts)


def pjit(fn=None, **kw):  # type: ignore[no-untyped-def]
    """`jit` with parallel=True: prange loops spread over Numba's threads. Returns a
    `ParallelKernel` (called from Python only: a parallel kernel inside another jitted
    function would nest parallel regions)."""
    if fn is None:
        return lambda f: ParallelKernel(jit(f, parallel=True, **kw))
    return ParallelKernel(jit(fn, parallel=True, **kw))


class ParallelKernel:
    """A `parallel=True` Numba dispatcher, started on minidl's threading layer and
    entered by one thread at a time where that layer is not thread-safe."""

    __slots__ = ("dispatcher",)

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher

    def __call__(self, *args: Any) -> Any:
        if _serialize is False:
            return self.dispatcher(*args)
        if _serialize is None and not start_threading_layer():
            return self.dispatcher(*args)
        with _one_at_a_time:
            return self.dispatcher(*args)

    def __getattr__(self, name: str) -> Any:  # py_func, signatures, ... of the dispatcher
        return getattr(self.dispatcher, name)

    def __repr__(self) -> str:
        return f"ParallelKernel({self.dispatcher.py_func.__qualname__})"


def choose_threading_layer() -> str | None:
    """Ask Numba for a fork-safe threading layer unless the user chose one or a layer is
    already running; returns the name assigned, or None when it changed nothing."""
    if any(var in os.environ for var in _USER_SETTINGS):
        return None
    if str(numba.config.THREADING_LAYER).lower() != "default" or _layer_running():
        return None
    numba.config.THREADING_LAYER = MINIDL_THREADING_LAYER
    return MINIDL_THREADING_LAYER


def _layer_running() -> bool:
    try:
        numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized."
        return False
    return True


def start_threading_layer() -> bool:
    """Start Numba's threading layer (minidl's choice unless the user made one); True
    when minidl's parallel kernels must be entered one thread at a time on it."""
    global _serialize
    if _serialize is None:
        choose_threading_layer()
        get_num_threads()  # loads and starts the layer: fixed from here on
        _serialize = numba.threading_layer() in NOT_THREADSAFE
    return _serialize


def launch(kernel: Callable[..., Any], work: int, threshold: int, *args: Any) -> Any:
    """Call a `pjit` kernel; with less than `threshold` elements of work, on this thread
    alone (waking sleeping workers costs more than small work saves; on the workqueue
    layer one worker runs it while this thread waits)."""
    if _serialize is None:
        start_threading_layer()  # before get_num_threads, which would start Numba's default
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
