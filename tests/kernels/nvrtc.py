"""NVRTC, the CUDA compiler CuPy's RawKernel uses, called directly through ctypes.

Compiling CUDA C++ to PTX needs no GPU, only the NVRTC library, which pip installs
(`nvidia-cuda-nvrtc-cu12`, in the `test` extra on Linux x86-64). So every machine can
check that the kernels' source is valid CUDA for a given architecture.
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os
from typing import Sequence


@functools.lru_cache(maxsize=None)
def library() -> ctypes.CDLL | None:
    """libnvrtc from the nvidia-cuda-nvrtc wheel (or the system), or None."""
    candidates = []
    try:
        import nvidia.cuda_nvrtc as pkg  # noqa: PLC0415

        for folder in pkg.__path__:
            candidates += sorted(glob.glob(os.path.join(folder, "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    # CUDA 12's NVRTC only: CUDA 13's no longer compiles for the old architecture tested
    candidates += ["libnvrtc.so.12"]
    for name in candidates:
        if ".alt." in name:  # the wheel's variant built against another C++ runtime
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def compile_ptx(source: str, options: Sequence[str], name: str = "kernel.cu") -> str:
    """PTX for `source`; RuntimeError with NVRTC's log if it does not compile."""
    lib = library()
    if lib is None:
        raise RuntimeError("NVRTC is not installed")
    prog = ctypes.c_void_p()
    _check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None))
    try:
        opts = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
        status = lib.nvrtcCompileProgram(prog, len(options), opts)
        if status != 0:
            size = ctypes.c_size_t()
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            log = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, log)
            raise RuntimeError(f"NVRTC error {status}:\n{log.value.decode(errors='replace')}")
        size = ctypes.c_size_t()
        _check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)))
        ptx = ctypes.create_string_buffer(size.value)
        _check(lib, lib.nvrtcGetPTX(prog, ptx))
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def _check(lib: ctypes.CDLL, status: int) -> None:
    if status != 0:
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        raise RuntimeError(f"NVRTC: {lib.nvrtcGetErrorString(status).decode()}")
