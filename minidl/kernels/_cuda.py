"""Compile and launch the CuPy RawKernels: built lazily on first use, memoised per dtype.

Every kernel source in this package is plain CUDA C with two type names left open:
`T` (float or double) and `I` (the index type: int when every size fits, else long
long, since 64-bit division is slow on a GPU). `build_kernel` prepends the typedefs
and compiles the source once per (name, T, I). Kernels use a grid-stride loop, so any
grid size is correct; each thread writes only its own outputs (no atomics), so
results are deterministic.

The wrappers (conv.py, pool.py, ...) take their array module from their inputs and
touch CuPy only through `launch`: the tests swap `launch` for a host emulation that
runs the same CUDA source, compiled as C++, on NumPy arrays.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

THREADS = 256
MAX_BLOCKS = 65535 * 4  # a grid-stride loop covers anything beyond
# int indexes while every offset (plus one grid stride) stays below 2**31
INT_LIMIT = 2**31 - 1 - THREADS * MAX_BLOCKS
# FMA contraction off: the kernels then round like the NumPy references, step by step.
# Not bit for bit in float32: CuPy compiles with -ftz=true (subnormals flush to zero) and
# CUDA's exp/log/tanh may differ from the host's libm by an ulp or two; hence the tolerances.
OPTIONS = ("--std=c++11", "--fmad=false")
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
           np.dtype(np.int32): "int", np.dtype(np.int64): "long long"}


def ctype(dtype: Any) -> str:
    """The CUDA C name of a NumPy dtype."""
    return _CTYPES[np.dtype(dtype)]


def index_dtype(*sizes: int) -> np.dtype:
    """int32 when every size (element count) is small enough for int offsets, else int64."""
    return np.dtype(np.int32) if max(sizes, default=0) <= INT_LIMIT else np.dtype(np.int64)


def full_source(source: str, dtype: Any, index: Any) -> str:
    """The kernel source with `T` and `I` defined."""
    return f"typedef {ctype(dtype)} T;\ntypedef {ctype(index)} I;\n{source}"


@functools.lru_cache(maxsize=None)
def build_kernel(source: str, name: str, dtype: np.dtype, index: np.dtype) -> Any:
    """A `cupy.RawKernel` for (source, name, T, I), compiled on its first launch."""
    from minidl.backend import get_cupy  # noqa: PLC0415 - CuPy only when a kernel runs

    cp = get_cupy()
    return cp.RawKernel(full_source(source, dtype, index), name, options=OPTIONS)


def grid(total: int) -> int:
    """Blocks of THREADS threads for `total` work items (at least one block)."""
    return max(1, min(MAX_BLOCKS, -(-total // THREADS)))


def launch(source: str, name: str, dtype: Any, index: Any, total: int, args: tuple[Any, ...]) -> None:
    """Run kernel `name` over `total` work items on the current CuPy stream.

    `args` are device arrays (C-contiguous) and NumPy scalars of the exact C types the
    kernel declares (`scalars` makes them). Nothing here waits for the GPU.
    """
    if total == 0:
        return
    kernel = build_kernel(source, name, np.dtype(dtype), np.dtype(index))
    kernel((grid(total),), (THREADS,), args)


def scalars(dtype: Any, *values: float) -> tuple[Any, ...]:
    """Python numbers as NumPy scalars of `dtype` (what a kernel's T or I argument expects)."""
    t = np.dtype(dtype).type
    return tuple(t(v) for v in values)


def contiguous(xp: Any, a: Any, dtype: Any = None) -> Any:
    """`a` as a C-contiguous array of `dtype` (no copy when it already is one)."""
    return xp.ascontiguousarray(a, dtype=dtype if dtype is not None else a.dtype)
