"""THE routing rule (which implementation of a kernel runs for these arrays) and the one
table of tuning constants.

`route(*arrays)` looks only at its arguments (None is skipped):
- "reference" when fast kernels are off (`MINIDL_KERNELS=reference`, or `set_kernels`),
  when an array is not float32/float64, when the floats differ in dtype, when an array
  is not C-contiguous, or when NumPy and CuPy arrays are mixed;
- "cpu" (Numba) for NumPy arrays, when Numba imports;
- "gpu" (CuPy RawKernels) for CuPy arrays.
A concern's `__init__.py` may make an argument contiguous before asking, where that copy
is cheaper than the reference; it never asks anything else.

Nothing here changes the process: reading the mode or the tuning table writes no
environment variable and imports nothing heavy. Numba is imported the first time a NumPy
float array is routed (about half a second), never by `import minidl`.
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Literal

import numpy as np

Route = Literal["cpu", "gpu", "reference"]
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_MODES = ("auto", "reference")
_OFF = ("0", "false", "no", "off")


def _mode_from_env() -> str:
    mode = os.environ.get("MINIDL_KERNELS", "").strip().lower()
    if mode:
        if mode not in _MODES:
            raise ValueError(f"MINIDL_KERNELS must be one of {_MODES}, got {mode!r}")
        return mode
    legacy = os.environ.get("MINIDL_NUMBA")
    if legacy is not None:
        warnings.warn("MINIDL_NUMBA is deprecated: use MINIDL_KERNELS=reference (or auto)",
                      DeprecationWarning, stacklevel=3)
        return "reference" if legacy.strip().lower() in _OFF else "auto"
    return "auto"


_mode = _mode_from_env()
_numba_ok: bool | None = None  # None: not tried yet


def kernels_mode() -> str:
    """"auto" (fast kernels where they apply) or "reference" (plain array code only)."""
    return _mode


def set_kernels(mode: str) -> str:
    """Switch fast kernels on ("auto") or off ("reference") for this process; returns the
    previous mode."""
    global _mode
    mode = str(mode).strip().lower()
    if mode not in _MODES:
        raise ValueError(f"set_kernels: mode must be one of {_MODES}, got {mode!r}")
    before, _mode = _mode, mode
    return before


def numba_available() -> bool:
    """True when Numba imports (decided on the first call that completes: an interrupted
    import decides nothing, the next call tries again)."""
    global _numba_ok
    if _numba_ok is None:
        _numba_ok = _import_numba()
    return _numba_ok


_NUMBA_PACKAGES = ("numba", "llvmlite")


def _import_numba() -> bool:
    """Import Numba: True when it imports, False when it cannot (not installed, an
    llvmlite mismatch). A KeyboardInterrupt (or SystemExit) in the middle of the import
    propagates, after removing the Numba and llvmlite modules that this attempt left in
    sys.modules: Python drops only the module whose import failed, and a second import
    over the half-initialised rest fails ("module 'numba' has no attribute 'core'")."""
    before = set(sys.modules)
    try:
        import numba  # noqa: F401, PLC0415 - lazy on purpose: half a second of import
    except Exception:  # noqa: BLE001 - not installed, or an llvmlite mismatch
        return False
    except BaseException:
        for name in set(sys.modules) - before:
            if name.partition(".")[0] in _NUMBA_PACKAGES:
                sys.modules.pop(name, None)
        raise
    return True


def route(*arrays: Any) -> Route:
    """Which implementation runs for these arrays: "cpu", "gpu" or "reference"."""
    if _mode == "reference":
        return "reference"
    first: Any = None
    for a in arrays:
        if a is None:
            continue
        if first is None:  # the first array's kind and dtype, which every other must share
            first, kind = a, _kind(a)
            if kind is None or a.dtype not in FLOATS:
                return "reference"
            dtype = a.dtype
        elif type(a) is not type(first) and _kind(a) != kind or a.dtype != dtype:
            return "reference"
        if not a.flags.c_contiguous:
            return "reference"
    if first is None or kind == "cpu" and not numba_available():
        return "reference"
    return kind


def _kind(a: Any) -> Route | None:
    """"cpu" for a NumPy array, "gpu" for a CuPy one, else None (it depends on the type
    alone: arrays of one type are of one kind)."""
    return "cpu" if type(a) is np.ndarray else ("gpu" if _is_cupy(a) else None)


def contiguous(a: Any) -> Any:
    """`a` itself when None or C-contiguous, else a C-contiguous copy of the same shape and
    dtype (for a concern to call before `route`, where the copy is cheaper than the
    reference; unlike `ascontiguousarray`, a 0-d array stays 0-d)."""
    if a is None or a.flags.c_contiguous:
        return a
    from minidl.backend import array_module  # noqa: PLC0415 - cheap; avoids an import cycle

    return array_module(a).ascontiguousarray(a)


def _is_cupy(a: Any) -> bool:
    from minidl.backend import device_of  # noqa: PLC0415 - cheap; avoids an import cycle

    return device_of(a) == "cuda"


# --- tuning constants: one table, each overridable by the environment variable named ---
# Measured on the project's 2-vCPU machines (docs/performance.md, "Tuning constants").
# Waking Numba's sleeping workers costs tens of microseconds, so small work runs on the
# calling thread; memory-bound element-wise kernels (a few ns per element) pay later
# than conv/pool kernels.
_TUNING_DEFAULTS: dict[str, int] = {
    # conv/pool/loss kernels: parallel from this many output elements
    "MINIDL_PARALLEL_MIN": 1 << 17,
    # element-wise kernels (ReLU and friends): parallel from this many elements
    "MINIDL_ELEMENTWISE_PARALLEL_MIN": 1 << 20,
    # optimizer updates and the LSTM and GRU cells: parallel from this many elements
    "MINIDL_UPDATE_PARALLEL_MIN": 1 << 18,
    # Numba convolution: direct (wide-row) up to this many weights C_out*C_in*kH*kW,
    # im2col + GEMM above (a product runs nearer BLAS peak the larger both its sides)
    "MINIDL_DIRECT_CONV_MAX_WEIGHTS": 18432,
    # Numba convolution, im2col + GEMM: unfold this many bytes of columns at a time
    "MINIDL_CONV_CHUNK_BYTES": 4 << 20,
}


# names the table no longer reads, and what replaced them
_RETIRED_TUNING = {"MINIDL_DIRECT_CONV_MAX_PATCH": "MINIDL_DIRECT_CONV_MAX_WEIGHTS (a weight count "
                   "C_out*C_in*kH*kW, not a patch size C_in*kH*kW)"}


def _read_tuning() -> dict[str, int]:
    for name, replacement in _RETIRED_TUNING.items():
        if os.environ.get(name, "").strip():
            warnings.warn(f"{name} is no longer read (ignored): use {replacement}", UserWarning,
                          stacklevel=2)
    table = {}
    for name, default in _TUNING_DEFAULTS.items():
        raw = os.environ.get(name)
        if raw is None or not raw.strip():
            table[name] = default
            continue
        try:
            table[name] = int(raw)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    return table


TUNING = _read_tuning()


def tuning(name: str) -> int:
    """One tuning constant by its environment-variable name, e.g. "MINIDL_PARALLEL_MIN"."""
    return TUNING[name]
