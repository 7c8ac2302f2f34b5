"""Whether the Numba kernels run, and a lazy way to reach them.

The CPU reference functions (conv.py, pool.py, ...) ask `use_numba(*arrays)` and, when
it says yes, call the Numba kernel of the same contract from `kernels("conv")` etc.
Numba is imported the first time a kernel is actually needed, never by `import minidl`
(it costs about half a second). Kernels compile with `cache=True`, so only the first
process on a machine pays the compile; later ones load machine code from __pycache__.

`MINIDL_NUMBA=0` (or false/no/off) turns every kernel off: the references run. So does a
missing or broken Numba install. `set_numba_enabled(False)` does the same at run time.
Turning the kernels on also tunes the process once (see `_prepare_process`);
`MINIDL_MALLOC_TUNE=0` keeps glibc's allocator settings as they are.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

_OFF = ("0", "false", "no", "off")
_enabled: bool | None = None  # None: not decided yet (decided on first use)
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def numba_enabled() -> bool:
    """True when kernels may run: not switched off and Numba imports."""
    global _enabled
    if _enabled is None:
        if os.environ.get("MINIDL_NUMBA", "1").strip().lower() in _OFF:
            _enabled = False
        else:
            _prepare_process()
            try:
                import numba  # noqa: F401 - lazy on purpose
            except Exception:  # noqa: BLE001 - not installed, or an llvmlite mismatch: references
                _enabled = False
            else:
                _enabled = True
    return _enabled


_prepared = False


def _prepare_process() -> None:
    """Process settings the fast path needs, each left alone when the user set it.

    - OMP_WAIT_POLICY=PASSIVE: Numba's OpenMP workers otherwise spin after every
      parallel loop, and on a 2-core machine they spin against OpenBLAS's threads
      (a training step measured 5-10x slower). Read once, when OpenMP loads.
    - glibc malloc keeps freed blocks up to 256 MB instead of unmapping them: a step
      allocates and frees the same multi-MB arrays every time, and fresh mappings
      cost a page fault per 4 KB (3,000 faults and half the time of a seed-CNN step).
      The price: memory freed by the process stays reserved for its next allocation.
    """
    global _prepared
    if _prepared:
        return
    _prepared = True
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")):
        return
    if os.environ.get("MINIDL_MALLOC_TUNE", "1").strip().lower() in _OFF:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # glibc only: others have their own knobs
            return
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 256 << 20)
    mallopt(m_trim_threshold, 512 << 20)


def set_numba_enabled(flag: bool) -> bool:
    """Turn the kernels on or off for this process; returns the previous setting.

    Turning them on still requires Numba to import."""
    global _enabled
    before = numba_enabled()
    _enabled = None if flag else False
    if flag:
        numba_enabled()
    return before


def use_numba(*arrays: Any) -> bool:
    """True when kernels are on and every argument is a float32/float64 NumPy array
    (CuPy arrays, integer data and None go to the references)."""
    if not numba_enabled():
        return False
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype not in FLOATS:
            return False
    return True


def kernels(concern: str) -> ModuleType:
    """The Numba kernel module `minidl.backend.cpu.numba_<concern>` (imported once)."""
    return importlib.import_module(f"minidl.backend.cpu.numba_{concern}")  # memoised by sys.modules
