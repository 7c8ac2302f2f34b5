"""Whether the Numba kernels run, and a lazy way to reach them.

The CPU reference functions (conv.py, pool.py, ...) ask `use_numba(*arrays)` and, when
it says yes, call the Numba kernel of the same contract from `kernels("conv")` etc.
Numba is imported the first time a kernel is actually needed, never by `import minidl`
(it costs about half a second). Kernels compile with `cache=True`, so only the first
process on a machine pays the compile; later ones load machine code from __pycache__.

`MINIDL_NUMBA=0` (or false/no/off) turns every kernel off: the references run. So does a
missing or broken Numba install. `set_numba_enabled(False)` does the same at run time.
Turning the kernels on changes nothing in the process (no environment variable, no
allocator setting); the threading layer is chosen in `minidl.kernels._numba`.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

from minidl.kernels._route import numba_available

_OFF = ("0", "false", "no", "off")
_enabled: bool | None = None  # None: not decided yet (decided on first use)
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def numba_enabled() -> bool:
    """True when kernels may run: not switched off and Numba imports (an interrupted
    import decides nothing: the next call tries again)."""
    global _enabled
    if _enabled is None:
        off = os.environ.get("MINIDL_NUMBA", "1").strip().lower() in _OFF
        _enabled = False if off else numba_available()
    return _enabled


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
