"""Numba helpers shared by every `cpu.py` (imported only by them, so only when a NumPy
float array was routed to "cpu").

Every kernel compiles with `cache=True`: the machine code is written next to the source
(in __pycache__) and later processes load it instead of compiling. A kernel that may run
in parallel is written once, decorated with `pjit`, and started through `launch`: from a
threshold of work it runs its parallel build (prange over Numba's threads), below it the
serial build of the same source (prange as range), since waking sleeping workers costs
more than small work saves. Each build compiles on its first use only.

Threading layer. Numba runs parallel kernels on one of three thread pools ("threading
layers"); without TBB its default on Linux is GNU OpenMP, which kills every forked child
that runs a parallel kernel ("fork() called from a process already using GNU OpenMP": a
fork-start multiprocessing Pool never returns), and, when PyTorch was imported first,
shares PyTorch's libgomp, whose workers spin after each parallel loop against NumPy's
BLAS threads (measured in docs/performance.md, "Threads, fork and other libraries").
So before minidl's first parallel kernel starts, `choose_threading_layer` asks Numba for
a fork-safe layer, "forksafe": TBB where its library loads (minidl loads the `tbb`
wheel's copy, `load_tbb`), else Numba's own "workqueue", whose workers sleep on a
condition variable between kernels. TBB is the faster of the two: on 2 cores a seed-CNN
training step took 6.8 ms on TBB against 7.8 on workqueue, whose launch costs 0.3 ms
more per Adam step (docs/performance.md). This assigns
`numba.config.THREADING_LAYER`, a setting of the Numba library in this process (the
user's own parallel Numba code runs on the same layer), not of the process: no
environment variable is written. The user's choice wins: NUMBA_THREADING_LAYER (or
NUMBA_THREADING_LAYER_PRIORITY) in the environment, THREADING_LAYER assigned in code, or
a parallel Numba kernel that already ran (the layer is fixed from then on).

workqueue is not thread-safe: two threads inside parallel kernels at once abort the
process. On that layer minidl's parallel kernels are entered one thread at a time
(`Parallel` holds a lock around its parallel build; uncontended it costs well under a
microsecond). Other layers run concurrent kernels as they are.
"""
from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
import threading
import types
from typing import Any

import numba
from numba import njit

# a product and a sum may fuse into one FMA (one rounding instead of two; LLVM does not
# fuse without leave: the direct convolution's loop ran 1.4x slower unfused)
FUSE_MATH = {"contract"}
# reductions may also be reassociated (vectorised partial sums); no finite-math assumptions
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


class Parallel:
    """One kernel source, two builds: `parallel` and `serial`. Calling it runs the parallel
    build on minidl's threading layer, one thread at a time where that layer is not
    thread-safe (the serial build uses no thread pool and needs no lock).

    A serial build, rather than the parallel one held to one thread: measured on 2 cores,
    a 1,000-element ReLU took 0.3 us serial against 1.9 us for the parallel build and
    3.2 us with `set_num_threads(1)` around it (docs/performance.md, "Tuning constants").

    `over(*args)` gives the trip count of the kernel's prange loop. With it, the parallel
    build hands its threads TASKS_PER_THREAD tasks each (Numba's chunk size, this calling
    thread's setting, restored afterwards), where Numba would split the loop into one
    static block per thread: a thread whose core is shared with a yielding spinner (NumPy's
    OpenBLAS workers spin for about 0.1 s after each product) then holds up only its
    current task while the others take the rest. Measured on 2 cores: a 30 ms convolution
    kernel run just after a product took 43-50 ms in static blocks, 36-37 ms in tasks
    (docs/performance.md, "NumPy's BLAS threads and minidl's kernels")."""

    __slots__ = ("_parallel", "serial", "_over")

    def __init__(self, fn: Any, over: Any = None, **kw: Any) -> None:
        self._parallel = jit(fn, parallel=True, **kw)
        self.serial = jit(_renamed(fn, "__serial"), **kw)
        self._over = over

    @property
    def parallel(self) -> Any:
        """The parallel build (its dispatcher: statistics, signatures); call the object to run it."""
        return self._parallel

    def __call__(self, *args: Any) -> Any:
        serialize = start_threading_layer()
        chunk = 0 if self._over is None else chunk_size(self._over(*args))
        previous = numba.set_parallel_chunksize(chunk)
        try:
            if not serialize:
                return self._parallel(*args)
            with _one_at_a_time:
                return self._parallel(*args)
        finally:
            numba.set_parallel_chunksize(previous)


TASKS_PER_THREAD = 8


def chunk_size(iterations: int) -> int:
    """Iterations per task for a prange over `iterations` on this thread's Numba threads:
    TASKS_PER_THREAD tasks per thread (0, Numba's static split, for an empty loop)."""
    tasks = TASKS_PER_THREAD * numba.get_num_threads()
    return -(-int(iterations) // tasks)


def _renamed(fn: Any, suffix: str) -> Any:
    """A copy of `fn` under another qualified name: Numba names its cache files after the
    function and keys their entries by signature and bytecode, not by `parallel`, so two
    builds of one function would load each other's cached machine code."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__,
                              fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    return copy


def pjit(fn=None, **kw):  # type: ignore[no-untyped-def]
    """`jit` with both a parallel and a serial build (`Parallel`); start it with `launch`.
    `over=lambda *args: ...`, the trip count of the kernel's prange from its arguments,
    lets the parallel build balance its threads (see `Parallel`)."""
    if fn is None:
        return lambda f: Parallel(f, **kw)
    return Parallel(fn, **kw)


def launch(kernel: Parallel, work: int, threshold: int, *args: Any) -> Any:
    """Run a `pjit` kernel: its parallel build from `threshold` elements of work, its serial
    build below (see `Parallel`)."""
    if work >= threshold:
        return call(kernel, *args, build=kernel.parallel)
    return call(kernel.serial, *args)


def call(kernel: Any, *args: Any, build: Any = None) -> Any:
    """Run a `jit` kernel (`build`: the dispatcher whose first call this may be, if not
    `kernel`), under `compile_notice` on its first call in this process."""
    if (build or kernel).overloads:
        return kernel(*args)
    with compile_notice():  # a cache load, or a compile
        return kernel(*args)


# a first call still running after this long is compiling, not loading from the cache
NOTICE_AFTER_S = 0.5
NOTICE = "minidl: compiling CPU kernels (first run only; later runs load them from the cache)..."
_noticed = threading.Event()


class compile_notice:
    """Around a kernel's first call: says NOTICE on stderr, once per process, if the call
    is still running after NOTICE_AFTER_S (so a cache hit says nothing)."""

    def __enter__(self) -> None:
        self._timer = None
        if not _noticed.is_set():
            self._timer = threading.Timer(NOTICE_AFTER_S, _say_notice)
            self._timer.daemon = True
            self._timer.start()

    def __exit__(self, *exc: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()

    @staticmethod
    def said() -> None:
        """Count NOTICE as said in this process (by a caller that said it in its own words)."""
        _noticed.set()


def _say_notice() -> None:
    if not _noticed.is_set():
        _noticed.set()
        print(NOTICE, file=sys.stderr, flush=True)


def choose_threading_layer() -> str | None:
    """Ask Numba for a fork-safe threading layer unless the user chose one or a layer is
    already running; returns the name assigned, or None when it changed nothing."""
    if any(var in os.environ for var in _USER_SETTINGS):
        return None
    if str(numba.config.THREADING_LAYER).lower() != "default" or _layer_running():
        return None
    load_tbb()
    numba.config.THREADING_LAYER = MINIDL_THREADING_LAYER
    return MINIDL_THREADING_LAYER


def load_tbb() -> bool:
    """Load the TBB runtime of the `tbb` wheel (a dependency of minidl on Linux x86-64) so
    that Numba finds it: the wheel puts libtbb.so.12 in `<prefix>/lib`, which the dynamic
    loader does not search, and Numba looks for it by that name only. Loading a library
    changes no setting of the process; without it "forksafe" falls back to workqueue."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return False
    for f in files:
        if f.name == "libtbb.so.12":
            try:
                ctypes.CDLL(str(f.locate()))
            except OSError:
                return False
            return True
    return False


def _layer_running() -> bool:
    try:
        numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized."
        return False
    return True


def start_threading_layer() -> bool:
    """Start Numba's threading layer (minidl's choice unless the user made one) once; True
    when minidl's parallel kernels must be entered one thread at a time on it."""
    global _serialize
    if _serialize is None:
        choose_threading_layer()
        numba.get_num_threads()  # loads and starts the layer: fixed from here on
        _serialize = numba.threading_layer() in NOT_THREADSAFE
    return _serialize
