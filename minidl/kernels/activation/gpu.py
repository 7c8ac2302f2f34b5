"""ReLU on CuPy arrays: one kernel each way, saving the output instead of a mask (as the
Numba kernel, cpu.py: the next op holds y anyway, so nothing more is kept)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl.backend import array_module
from minidl.kernels import _cuda as build

SOURCE = r"""
extern "C" __global__ void relu_forward(const T* x, T* y, I total) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const T v = x[t];
        y[t] = (v > 0 || v != v) ? v : (T)0;  // v != v: NaN passes through, as np.maximum
    }
}

extern "C" __global__ void relu_backward(const T* gy, const T* y, T* gx, I total) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        gx[t] = y[t] <= 0 ? (T)0 : gy[t];  // a NaN output passes its gradient
    }
}
"""


def relu_forward(x: Any, needs: Sequence[bool] = (True,), out: Any = None) -> tuple[Any, Any]:
    """(max(x, 0), y), y into `out` (C-contiguous, x itself allowed) when given; x
    C-contiguous."""
    xp = array_module(x)
    y = xp.empty_like(x) if out is None else out
    index = build.index_dtype(x.size)
    build.launch(SOURCE, "relu_forward", x.dtype, index, x.size, (x, y) + build.scalars(index, x.size))
    return y, (y if needs[0] else None)


def relu_backward(gy: Any, saved: Any, out: Any = None) -> Any:
    """gy where saved (the forward's y) > 0, else 0, into `out` (C-contiguous) when given;
    gy of any layout."""
    xp = array_module(gy)
    gy = build.contiguous(xp, gy)
    gx = xp.empty_like(gy) if out is None else out
    index = build.index_dtype(gy.size)
    args = (gy, saved, gx) + build.scalars(index, gy.size)
    build.launch(SOURCE, "relu_backward", gy.dtype, index, gy.size, args)
    return gx
