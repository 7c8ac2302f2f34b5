"""RawKernel of the CuPy emulator: CUDA source compiled as C++ and run on the host."""
from __future__ import annotations

from typing import Any

import numpy as _np

from . import ndarray
from tests.kernels import host_cuda


class RawKernel:
    """A CUDA kernel run on the host: compiled as C++, every emulated thread in turn.

    The grid asked for is not honoured: minidl's kernels loop grid-stride, so a small
    emulated grid covers any work. Arguments must be device arrays (C-contiguous) or NumPy
    scalars of the kernel's exact C types."""

    def __init__(self, code: str, name: str, options: tuple = (), backend: str = "nvrtc",
                 translate_cucomplex: bool = False, enable_cooperative_groups: bool = False,
                 jitify: bool = False) -> None:
        self.code, self.name, self.options = code, name, tuple(options)

    def __call__(self, grid: tuple, block: tuple, args: tuple, shared_mem: int = 0,
                 stream: Any = None) -> None:
        for a in args:
            if isinstance(a, _np.ndarray):
                raise TypeError(f"kernel {self.name}: Unsupported type {type(a)} (a host array)")
        cargs = [host_cuda.arg(a._a if isinstance(a, ndarray) else a) for a in args]
        host_cuda.run_threads(host_cuda.compile_code(self.code), self.name, cargs)
