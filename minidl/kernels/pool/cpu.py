"""Max pooling with Numba: one pass forward (the first max and its index), one pass back.

One parallel task per (n, c) plane: planes never overlap, so the backward's scatter-add
needs no atomics. Kernel 2, stride 2, no padding (the common case) has its own loop
without bounds arithmetic. Without a gradient to come (inference) no argmax is written.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from minidl.kernels._geometry import flat_index_dtype, output_size
from minidl.kernels._numba import jit, launch, pjit
from minidl.kernels._route import tuning
from minidl.kernels._workspace import scratch

PARALLEL = "MINIDL_PARALLEL_MIN"


@pjit(over=lambda x, *_: x.shape[0] * x.shape[1])
def _forward(x, kh, kw, sh, sw, ph, pw, y, argmax, want_argmax):  # pragma: no cover - compiled
    n, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for p in prange(n * c):
        b, ch = p // c, p % c
        plane = x[b, ch]
        for r in range(oh):
            h0 = r * sh - ph
            i_lo, i_hi = max(0, -h0), min(kh, h - h0)
            for q in range(ow):
                w0 = q * sw - pw
                j_lo, j_hi = max(0, -w0), min(kw, w - w0)
                # the first real pixel starts the window: padding (-inf) is never chosen
                best = plane[h0 + i_lo, w0 + j_lo]
                at = (h0 + i_lo) * w + w0 + j_lo
                for i in range(i_lo, i_hi):
                    for j in range(j_lo, j_hi):
                        v = plane[h0 + i, w0 + j]
                        # strict: the first max in row-major order wins ties; a NaN always
                        # wins (the last one, as PyTorch), so it propagates. Selects, not
                        # an `if`: the branch stops the parallel build vectorising (8x).
                        win = v > best or v != v
                        best = v if win else best
                        at = (h0 + i) * w + w0 + j if win else at
                y[b, ch, r, q] = best
                if want_argmax:
                    argmax[b, ch, r, q] = at


@jit
def window_2x2(src, top, bottom):  # pragma: no cover - compiled
    """(max, its index, NaN seen) of the 2x2 window src[top], src[top + 1], src[bottom],
    src[bottom + 1] (unsigned indexes: no wrap-around branch, so callers' loops
    vectorise). The max is compared with plain `>`, so the first max in row-major order
    wins ties and a NaN is only reported, not chosen."""
    i1, i3 = top + np.uintp(1), bottom + np.uintp(1)
    v0, v1, v2, v3 = src[top], src[i1], src[bottom], src[i3]
    nan = (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3)
    best, pos = v0, top
    if v1 > best:
        best, pos = v1, i1
    if v2 > best:
        best, pos = v2, bottom
    if v3 > best:
        best, pos = v3, i3
    return best, pos, nan


@jit(inline="always")
def last_nan_2x2(src, top, bottom):  # pragma: no cover - compiled
    """The index of the last NaN in row-major order of a 2x2 window holding one (as
    `window_2x2`): the one max pooling picks, as PyTorch's does."""
    i1, i3 = top + np.uintp(1), bottom + np.uintp(1)
    pos = top
    if src[i1] != src[i1]:
        pos = i1
    if src[bottom] != src[bottom]:
        pos = bottom
    if src[i3] != src[i3]:
        pos = i3
    return pos


@pjit(over=lambda x, *_: x.shape[0] * x.shape[1])
def _forward_2x2(x, y, argmax, want_argmax):  # pragma: no cover - compiled
    """kernel 2, stride 2, no padding: the common case, without bounds arithmetic.

    Windows are compared with plain `>` (which vectorises); NaN is not looked for, only
    counted: it returns the number of planes holding one, which the caller then pools
    again with _forward's NaN rule. NaN so propagates at no cost to planes without one,
    and the NaN rule compiles only in a process that meets a NaN (a second rule in this
    loop doubled its compile time)."""
    n, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    planes_with_nan = 0
    for p in prange(n * c):
        b, ch = p // c, p % c
        plane = x[b, ch].reshape(h * w)
        out = y[b, ch].reshape(oh * ow)
        at = argmax[b, ch].reshape(oh * ow) if want_argmax else argmax[0, 0].reshape(1)
        nan = False
        for r in range(oh):
            t0, b0, o0 = 2 * r * w, (2 * r + 1) * w, r * ow
            for q in range(ow):
                k = np.uintp(2 * q)
                best, pos, seen = window_2x2(plane, np.uintp(t0) + k, np.uintp(b0) + k)
                nan |= seen
                out[np.uintp(o0 + q)] = best
                if want_argmax:
                    at[np.uintp(o0 + q)] = pos
        planes_with_nan += 1 if nan else 0
    return planes_with_nan


@pjit(over=lambda gy, *_: gy.shape[0])
def _backward(gy, argmax, dx):  # pragma: no cover - compiled
    planes, k = gy.shape
    for p in prange(planes):
        row, g, a = dx[p], gy[p], argmax[p]
        row[:] = 0
        for i in range(k):
            row[np.uintp(a[np.uintp(i)])] += g[np.uintp(i)]


def maxpool(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
            need_argmax: bool = True) -> tuple[np.ndarray, Any]:
    """reference.maxpool's contract for a C-contiguous float array; argmax None when not
    `need_argmax`."""
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    y = scratch((n, c, oh, ow), x.dtype)
    argmax = scratch((n, c, oh, ow) if need_argmax else (1, 1, 1, 1), flat_index_dtype(h, w))
    argmax_out = argmax if need_argmax else None
    if kh == kw == sh == sw == 2 and ph == pw == 0:
        planes_with_nan = launch(_forward_2x2, y.size * 4, tuning(PARALLEL), x, y, argmax, need_argmax)
        if not planes_with_nan:
            return y, argmax_out
    launch(_forward, y.size * kh * kw, tuning(PARALLEL), x, kh, kw, sh, sw, ph, pw, y, argmax,
           need_argmax)
    return y, argmax_out


def unpool(gy: np.ndarray, argmax: np.ndarray, x_shape: tuple[int, ...],
           window: tuple[int, ...] = ()) -> np.ndarray:
    """reference.unpool's contract: gy of any layout; one task per plane."""
    n, c, h, w = x_shape
    dx = scratch((n * c, h * w), gy.dtype)
    outputs = gy.shape[2] * gy.shape[3]  # not -1: NumPy cannot infer it when n * c == 0
    g = np.ascontiguousarray(gy).reshape(n * c, outputs)
    launch(_backward, dx.size, tuning(PARALLEL), g, np.ascontiguousarray(argmax).reshape(n * c, outputs), dx)
    return dx.reshape(x_shape)
