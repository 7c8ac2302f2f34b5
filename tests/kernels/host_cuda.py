"""Run the GPU kernels' CUDA source on the CPU, to test their logic without a GPU.

The source is compiled as C++ with a small prelude (`__global__` dropped, blockIdx /
threadIdx as globals, atomicAdd as a plain add) and every (block, thread) of a small
grid runs in turn, so grid-stride loops are exercised too. `launch` has the signature
of `minidl.kernels._cuda.launch` and takes NumPy arrays: a test swaps it in with
monkeypatch and calls the real wrappers. Build products are cached on disk by hash.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from minidl.kernels import _cuda as build

GRID, BLOCK = 2, 3  # six emulated threads: each handles every sixth item

PRELUDE = r"""
#include <cmath>
#include <algorithm>
using std::min; using std::max; using std::tanh; using std::exp; using std::log;
using std::sqrt; using std::nan;
struct Dim3 { unsigned int x, y, z; };
static Dim3 blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __device__ static
#define __forceinline__ inline
template <typename U> U atomicAdd(U* a, U v) { U old = *a; *a += v; return old; }
extern "C" void emu_set(unsigned g, unsigned b, unsigned bi, unsigned ti) {
    gridDim.x = g; blockDim.x = b; blockIdx.x = bi; threadIdx.x = ti;
    gridDim.y = gridDim.z = blockDim.y = blockDim.z = 1;
    blockIdx.y = blockIdx.z = threadIdx.y = threadIdx.z = 0;
}
"""

_CTYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
           np.dtype(np.int32): ctypes.c_int32, np.dtype(np.int64): ctypes.c_int64}


def compiler() -> str | None:
    """A C++ compiler on PATH, or None."""
    return next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)


@functools.lru_cache(maxsize=None)
def compile_code(code: str) -> ctypes.CDLL:
    """Compile complete kernel source (typedefs included) as a host library, cached on disk."""
    code = PRELUDE + code
    key = hashlib.sha256(code.encode()).hexdigest()[:20]
    folder = Path(tempfile.gettempdir()) / "minidl-host-cuda"
    folder.mkdir(exist_ok=True)
    lib = folder / f"{key}.so"
    if not lib.exists():
        # per-process names, then an atomic rename: parallel test runs may build the same key
        src = folder / f"{key}.{os.getpid()}.cpp"
        src.write_text(code)
        tmp = folder / f"{key}.{os.getpid()}.so"
        # -ffp-contract=off: no FMA contraction, like the kernels' --fmad=false
        done = subprocess.run([compiler() or "g++", "-O1", "-ffp-contract=off", "-shared", "-fPIC",
                               "-o", str(tmp), str(src)], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"the kernel source does not compile as C++:\n{done.stderr}")
        tmp.replace(lib)
        src.unlink()
    return ctypes.CDLL(str(lib))


def run_threads(lib: ctypes.CDLL, name: str, cargs: list[Any]) -> None:
    """Run kernel `name` once per emulated (block, thread), in turn."""
    kernel = getattr(lib, name)
    kernel.restype = None
    for b in range(GRID):
        for t in range(BLOCK):
            lib.emu_set(GRID, BLOCK, b, t)
            kernel(*cargs)


def arg(a: Any) -> Any:
    """A kernel argument for ctypes: a C-contiguous array's pointer, or a NumPy scalar."""
    if isinstance(a, np.ndarray):
        assert a.flags.c_contiguous, "kernels take C-contiguous arrays"
        return ctypes.c_void_p(a.ctypes.data)
    if isinstance(a, np.generic):  # the ctypes value of its exact C type
        return _CTYPES[a.dtype](a.item())
    raise TypeError(f"kernel argument of type {type(a).__name__}: pass arrays or NumPy scalars "
                    "of the kernel's exact C types")


def launch(source: str, name: str, dtype: Any, index: Any, total: int, args: tuple[Any, ...]) -> None:
    """`build.launch`, run on the host over NumPy arrays."""
    if total == 0:
        return
    lib = compile_code(build.full_source(source, np.dtype(dtype), np.dtype(index)))
    run_threads(lib, name, [arg(a) for a in args])
