"""ReLU forward/backward on raw arrays: the NumPy reference and the Numba dispatch.

Contract: `relu_forward(x) -> (y, saved)` with y = max(x, 0) (NaN passes through) and
`saved` whatever the backward needs: an array that is > 0 exactly where x > 0 (the
reference keeps a bool mask; the Numba kernel keeps y itself, which the next op holds
anyway, so it writes one array instead of two). `relu_backward(gy, saved) -> gx` is gy
where saved > 0, else 0.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.backend.cpu.dispatch import kernels, use_numba


def relu_forward_reference(x: Any) -> tuple[Any, Any]:
    return array_module(x).maximum(x, 0), x > 0


def relu_backward_reference(gy: Any, saved: Any) -> Any:
    return gy * (saved > 0)


def relu_forward(x: Any) -> tuple[Any, Any]:
    """(max(x, 0), saved) for x of any shape."""
    if use_numba(x) and x.flags.c_contiguous:
        return kernels("activation").relu_forward(x)
    return relu_forward_reference(x)


def relu_backward(gy: Any, saved: Any) -> Any:
    """The gradient of ReLU: gy where saved > 0, else 0."""
    if (use_numba(gy, saved) and gy.dtype == saved.dtype and gy.shape == saved.shape
            and gy.flags.c_contiguous and saved.flags.c_contiguous):
        return kernels("activation").relu_backward(gy, saved)
    return relu_backward_reference(gy, saved)
