"""Max pooling: plain array code (NumPy and CuPy alike).

What runs with MINIDL_KERNELS=reference (and for integer inputs) and what gradcheck
trusts. The window's max is found pass by pass over the kh*kw window offsets, each a
strided slice of the whole batch, keeping the first max (row-major window order) and
its flat index; a NaN in a window is its max (the last NaN, as PyTorch).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import backend as B
from minidl.backend import array_module
from minidl.kernels._geometry import flat_index_dtype, output_size


def _lowest(dtype: Any) -> Any:
    """The padding value: -inf, or the smallest integer for integer inputs."""
    return -np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min


def maxpool(x: Any, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
            need_argmax: bool = True) -> tuple[Any, Any]:
    """(y, argmax), each (N, C, OH, OW): max over every (kh, kw) window of x (N, C, H, W),
    and its flat index h*W + w into the unpadded plane (flat_index_dtype; None unless
    need_argmax)."""
    xp = array_module(x)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    padded = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)),
                    constant_values=_lowest(x.dtype)) if ph or pw else x
    rows = xp.arange(oh) * sh - ph  # input row of each window's top edge
    cols = xp.arange(ow) * sw - pw
    best = xp.full((n, c, oh, ow), _lowest(x.dtype), dtype=x.dtype)
    index = flat_index_dtype(h, w)
    argmax = xp.full((n, c, oh, ow), -1, dtype=index)
    for i in range(kh):  # row-major window order, so a strict '>' keeps the first max
        for j in range(kw):
            r, q = rows + i, cols + j
            real = ((r >= 0) & (r < h))[:, None] & ((q >= 0) & (q < w))[None, :]
            vals = padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            # the first real pixel of a window always wins, so an all -inf window still
            # points at a real pixel rather than at the padding; a NaN always wins (the
            # last one, as PyTorch), so it propagates
            take = real & ((vals > best) | (vals != vals) | (argmax < 0))
            best = xp.where(take, vals, best)
            argmax = xp.where(take, (r[:, None] * w + q[None, :]).astype(index), argmax)
    return best, (argmax if need_argmax else None)


def unpool(gy: Any, argmax: Any, x_shape: tuple[int, ...], window: tuple[int, ...] = ()) -> Any:
    """Scatter-add each gy (N, C, OH, OW) entry to its window's max pixel: dx of x_shape.
    (`window`, the forward's geometry, is not needed here: the indexes say it all.)"""
    xp = array_module(gy)
    n, c, h, w = x_shape
    dx = xp.zeros((n * c, h * w), dtype=gy.dtype)
    plane = xp.arange(n * c)[:, None]  # which (n, c) plane each output row belongs to
    outputs = gy.shape[2] * gy.shape[3]  # not -1: NumPy cannot infer it when n * c == 0
    B.scatter_add(dx, (plane, argmax.reshape(n * c, outputs)), gy.reshape(n * c, outputs))
    return dx.reshape(x_shape)
