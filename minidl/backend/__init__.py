"""Which array library runs: NumPy ("numpy", alias "cpu") or CuPy ("cupy", "cuda", "gpu").

The default backend only decides where *new* tensors are created. Ops never read
it: they take their array module from their inputs through :func:`array_module`.
CuPy is imported lazily, the first time something asks for it.
"""
from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np

from minidl.errors import BackendUnavailableError, DeviceMismatchError

__all__ = [
    "set_backend", "get_backend", "cuda_available", "array_module", "device_of",
    "to_backend", "backend_of_device", "normalize_backend", "get_cupy",
    "BackendUnavailableError", "DeviceMismatchError",
]

_ALIASES = {"numpy": "numpy", "cpu": "numpy", "np": "numpy",
            "cupy": "cupy", "cuda": "cupy", "gpu": "cupy", "cp": "cupy"}
_INSTALL_HINT = 'install it with `pip install "minidl[gpu]"` (or cupy-cuda13x for CUDA 13)'

_cupy: ModuleType | None = None
_cupy_error: str | None = None


def normalize_backend(name: str) -> str:
    """Map a backend or device name ("cpu", "cuda", ...) to "numpy" or "cupy"."""
    key = str(name).lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown backend {name!r}: expected one of {sorted(_ALIASES)}")
    return _ALIASES[key]


def _load_cupy() -> ModuleType | None:
    """Import CuPy once and check a GPU is really there; remember why not otherwise."""
    global _cupy, _cupy_error
    if _cupy is not None or _cupy_error is not None:
        return _cupy
    try:
        import cupy  # noqa: PLC0415 - lazy on purpose
    except Exception as exc:  # ImportError, or a broken CUDA install
        _cupy_error = f"CuPy is not installed ({exc}); {_INSTALL_HINT}"
        return None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        _cupy_error = f"CuPy is installed but no CUDA GPU/driver is usable ({exc})"
        return None
    if count < 1:
        _cupy_error = "CuPy is installed but no CUDA GPU was found"
        return None
    _cupy = cupy
    return _cupy


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    return _load_cupy() is not None


def get_cupy() -> ModuleType:
    """Return the CuPy module or raise :class:`BackendUnavailableError` saying why."""
    cp = _load_cupy()
    if cp is None:
        raise BackendUnavailableError(f"the cupy backend is unavailable: {_cupy_error}")
    return cp


_default = "numpy"


def set_backend(name: str) -> None:
    """Set the backend on which tensors are created from now on."""
    global _default
    backend = normalize_backend(name)
    if backend == "cupy":
        get_cupy()
    _default = backend


def get_backend() -> str:
    """The current default backend: "numpy" or "cupy"."""
    return _default


def _is_cupy_array(a: Any) -> bool:
    if type(a) is np.ndarray:  # the common case, asked several times per op
        return False
    if _cupy is not None:
        return isinstance(a, _cupy.ndarray)
    # CuPy not loaded yet: an array the user made with CuPy loads it (a cheap test first)
    return (type(a).__module__.startswith("cupy") and _load_cupy() is not None
            and isinstance(a, _cupy.ndarray))


def array_module(*arrays: Any) -> ModuleType:
    """NumPy or CuPy, whichever the given arrays live on (NumPy for plain Python data)."""
    for a in arrays:
        if _is_cupy_array(a):
            return _cupy
    return np


def device_of(array: Any) -> str:
    """"cuda" for a CuPy array, else "cpu"."""
    return "cuda" if _is_cupy_array(array) else "cpu"


def backend_of_device(device: str) -> str:
    return "cupy" if device == "cuda" else "numpy"


def module_for(backend: str) -> ModuleType:
    """The array module of a backend name ("numpy"/"cpu"/"cupy"/...)."""
    return get_cupy() if normalize_backend(backend) == "cupy" else np


def to_backend(array: Any, backend: str) -> Any:
    """Move an array to a backend (a copy across devices, the same array otherwise)."""
    target = normalize_backend(backend)
    here = backend_of_device(device_of(array))
    if target == here:
        return array
    if target == "numpy":
        return array.get()
    return get_cupy().asarray(array)


def to_numpy(array: Any) -> np.ndarray:
    """Always a NumPy array (copied from the GPU if needed)."""
    if device_of(array) == "cuda":
        return array.get()
    return np.asarray(array)


def _initial_backend() -> None:
    """Apply MINIDL_BACKEND; a bad value fails the import naming the variable, not only the name."""
    name = os.environ.get("MINIDL_BACKEND")
    if not name:
        return
    try:
        set_backend(name)
    except BackendUnavailableError as exc:
        raise BackendUnavailableError(f"MINIDL_BACKEND={name!r}: {exc}") from None
    except ValueError:
        raise ValueError(f"MINIDL_BACKEND={name!r} is not a backend: expected one of "
                         f"{sorted(_ALIASES)} (or unset for numpy)") from None


_initial_backend()


def is_array(value: Any) -> bool:
    """True for a NumPy or CuPy ndarray (or NumPy scalar)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    return _is_cupy_array(value)


def scatter_add(target: Any, index: Any, values: Any) -> None:
    """target[index] += values, accumulating over repeated indices, on either backend."""
    if device_of(target) == "cuda":
        # atomic adds: sums over repeated indices may round differently run to run
        get_cupy().add.at(target, index, values)
    elif _rows_of(target, index, values):
        # whole rows (an embedding's gradient): NumPy's add.at takes a fast path only for
        # one index per element, 3.6x faster here; same additions in the same order
        row = target[0].size
        flat = (index.astype(np.intp).reshape(-1, 1) * row + np.arange(row)).reshape(-1)
        np.add.at(target.reshape(-1), flat, values.reshape(-1))
    else:
        np.add.at(target, index, values)


def _rows_of(target: Any, index: Any, values: Any) -> bool:
    """True when index is an integer array picking whole rows of a C-contiguous target."""
    return (isinstance(index, np.ndarray) and index.dtype.kind in "iu" and target.ndim > 1
            and target.flags.c_contiguous and values.shape == index.shape + target.shape[1:])
