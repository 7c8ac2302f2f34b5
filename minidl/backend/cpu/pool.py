"""Max pooling: the plain NumPy reference (also runs on CuPy through `array_module`).

Contract (a fast kernel behind these names must keep it):
- `maxpool_forward(x, kh, kw, sh, sw, ph, pw) -> (y, argmax)`: x (N, C, H, W);
  y (N, C, OH, OW) with OH = (H + 2*ph - kh) // sh + 1 (likewise OW); argmax int64
  (N, C, OH, OW) holds the flat index h*W + w, into the UNPADDED input plane, of the
  window's max: the first one in row-major window order on ties. Padding counts as
  -inf, so it is never chosen (callers keep ph <= kh // 2, pw <= kw // 2, so every
  window holds at least one real pixel).
- `maxpool_backward(gy, argmax, x_shape) -> dx`: scatter-adds gy into zeros of x_shape
  at argmax (overlapping windows accumulate).

Each public function runs the Numba kernel (numba_pool.py) for float NumPy arrays
(unless MINIDL_NUMBA=0), the CuPy kernel (minidl/backend/gpu/pool.py) for float CuPy
arrays, and the `*_reference` function otherwise. With
`need_argmax=False` (inference) the forward returns argmax None and may skip it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import backend as B
from minidl.backend import array_module
from minidl.backend.cpu.conv import output_size
from minidl.backend.cpu.dispatch import kernels, use_numba
from minidl.backend.gpu import kernels as gpu_kernels, use_cupy


def _lowest(dtype: Any) -> Any:
    """The padding value: -inf, or the smallest integer for integer inputs."""
    return -np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min


def maxpool_forward(x: Any, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
                    need_argmax: bool = True) -> tuple[Any, Any]:
    """(y, argmax) of every (kh, kw) window of x (N, C, H, W); argmax None unless need_argmax."""
    if use_numba(x):
        return kernels("pool").maxpool_forward(x, kh, kw, sh, sw, ph, pw, need_argmax)
    if use_cupy(x):
        y, argmax = gpu_kernels("pool").maxpool_forward(x, kh, kw, sh, sw, ph, pw)
        return y, (argmax if need_argmax else None)
    y, argmax = maxpool_forward_reference(x, kh, kw, sh, sw, ph, pw)
    return y, (argmax if need_argmax else None)


def maxpool_forward_reference(x: Any, kh: int, kw: int, sh: int, sw: int, ph: int,
                              pw: int) -> tuple[Any, Any]:
    """Max over every (kh, kw) window of x (N, C, H, W), with the max's flat index."""
    xp = array_module(x)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    padded = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)),
                    constant_values=_lowest(x.dtype)) if ph or pw else x
    rows = xp.arange(oh) * sh - ph  # input row of each window's top edge
    cols = xp.arange(ow) * sw - pw
    best = xp.full((n, c, oh, ow), _lowest(x.dtype), dtype=x.dtype)
    argmax = xp.full((n, c, oh, ow), -1, dtype=xp.int64)
    for i in range(kh):  # row-major window order, so a strict '>' keeps the first max
        for j in range(kw):
            r, q = rows + i, cols + j
            real = ((r >= 0) & (r < h))[:, None] & ((q >= 0) & (q < w))[None, :]
            vals = padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            # the first real pixel of a window always wins, so an all -inf window still
            # points at a real pixel rather than at the padding
            take = real & ((vals > best) | (argmax < 0))
            best = xp.where(take, vals, best)
            argmax = xp.where(take, r[:, None] * w + q[None, :], argmax)
    return best, argmax


def maxpool_backward(gy: Any, argmax: Any, x_shape: tuple[int, ...],
                     window: tuple[int, int, int, int, int, int] | None = None) -> Any:
    """Route each gy (N, C, OH, OW) entry to its window's max pixel; dx has x_shape.

    `window` (optional) is the forward's (kh, kw, sh, sw, ph, pw): the CuPy kernel uses it
    to gather per input pixel (deterministic) rather than scatter with atomics."""
    if use_numba(gy):
        return kernels("pool").maxpool_backward(gy, argmax, x_shape)
    if use_cupy(gy):
        return gpu_kernels("pool").maxpool_backward(gy, argmax, x_shape, window)
    return maxpool_backward_reference(gy, argmax, x_shape)


def maxpool_backward_reference(gy: Any, argmax: Any, x_shape: tuple[int, ...]) -> Any:
    """Route each gy (N, C, OH, OW) entry to its window's max pixel; dx has x_shape."""
    xp = array_module(gy)
    n, c, h, w = x_shape
    dx = xp.zeros((n * c, h * w), dtype=gy.dtype)
    plane = xp.arange(n * c)[:, None]  # which (n, c) plane each output row belongs to
    B.scatter_add(dx, (plane, argmax.reshape(n * c, -1)), gy.reshape(n * c, -1))
    return dx.reshape(x_shape)
