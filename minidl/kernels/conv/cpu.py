"""Convolution with Numba, per shape a direct convolution or im2col + one BLAS product.

Why two ways: a BLAS product is fast when its inner dimension K = C_in*kH*kW is large,
but with a tiny K (9 for a 3x3 kernel on one channel) it runs at a fraction of peak,
im2col first writes kH*kW copies of the input, and the product's (N*OH*OW, C_out)
rows must still be transposed to NCHW. For stride 1 and K up to
tuning("MINIDL_DIRECT_CONV_MAX_PATCH") a direct loop does the same multiply-adds straight
from x into the NCHW output instead (see "wide rows"); above it, and for strides,
im2col + GEMM. Measured (2 threads, forward + gradients, batch 64, 3x3 kernels): direct
is 5.9x faster at K = 9 (the seed CNN), 2.4x at K = 144, on par at K = 288 and 576,
where im2col writes a 9x copy of the input but the product runs near BLAS peak
(docs/performance.md).

Both paths write y C-contiguous (NCHW) and save the input x (for the weight gradient)
and the weight (for the input gradient), not the 9x larger cols.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from minidl.kernels._geometry import output_size
from minidl.kernels._numba import REDUCE_MATH, launch, pjit
from minidl.kernels._route import tuning
from minidl.kernels._workspace import scratch

PARALLEL = "MINIDL_PARALLEL_MIN"
# Inner loops index with np.uintp: Numba wraps negative signed indices around, and that
# branch stops LLVM from vectorising; an unsigned index has no such branch.


# ---- im2col / col2im ------------------------------------------------------------------

@pjit
def _im2col(x, kh, kw, sh, sw, ph, pw, oh, ow, cols):  # pragma: no cover - compiled
    n, c, h, w = x.shape
    for r in prange(n * oh):
        b, y = r // oh, r % oh
        for q in range(ow):
            row = cols[r * ow + q]
            for ci in range(c):
                for i in range(kh):
                    hh = y * sh + i - ph
                    for j in range(kw):
                        ww = q * sw + j - pw
                        inside = 0 <= hh < h and 0 <= ww < w
                        row[(ci * kh + i) * kw + j] = x[b, ci, hh, ww] if inside else 0


@pjit
def _col2im(cols, kh, kw, sh, sw, ph, pw, oh, ow, dx):  # pragma: no cover - compiled
    n, c, h, w = dx.shape
    for p in prange(n * c):  # one (n, c) plane per task: no two tasks write one pixel
        b, ci = p // c, p % c
        plane = dx[b, ci]
        plane[:] = 0
        for y in range(oh):
            for q in range(ow):
                row = cols[(b * oh + y) * ow + q]
                for i in range(kh):
                    hh = y * sh + i - ph
                    if hh < 0 or hh >= h:
                        continue
                    for j in range(kw):
                        ww = q * sw + j - pw
                        if 0 <= ww < w:
                            plane[hh, ww] += row[(ci * kh + i) * kw + j]


def im2col(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int) -> np.ndarray:
    """reference.im2col's contract (same layout), for a float NumPy array."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    cols = scratch((n * oh * ow, c * kh * kw), x.dtype)
    launch(_im2col, cols.size, tuning(PARALLEL), x, kh, kw, sh, sw, ph, pw, oh, ow, cols)
    return cols


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], kh: int, kw: int, sh: int, sw: int,
           ph: int, pw: int) -> np.ndarray:
    """reference.col2im's contract (im2col's adjoint), for a float NumPy array."""
    h, w = x_shape[2], x_shape[3]
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    dx = scratch(x_shape, cols.dtype)
    launch(_col2im, cols.size, tuning(PARALLEL), np.ascontiguousarray(cols), kh, kw, sh, sw, ph, pw,
           oh, ow, dx)
    return dx


# ---- direct convolution (stride 1): "wide rows" ---------------------------------------
# With stride 1 the input pixel of output (r, q) and tap (i, j) sits at flat offset
# (r + i)*Wp + q + j of the (padded) input plane. Computing the output on rows as wide
# as the input (Wp, not OW) makes every tap ONE long contiguous loop over the plane
# instead of OH short ones (short rows defeat vectorisation); the Wp - OW extra
# columns per row are discarded (forward) or held at zero (gradients).

@pjit
def _s1_forward(xp, wt, bias, has_bias, y):  # pragma: no cover - compiled
    n, c, hp, wp = xp.shape
    co_n, _, kh, kw = wt.shape
    oh, ow = y.shape[2], y.shape[3]
    span = (oh - 1) * wp + ow  # wide positions that hold real outputs
    for b in prange(n):
        wide = np.empty(span, dtype=y.dtype)
        for co in range(co_n):
            wide[:] = bias[co] if has_bias else 0
            for ci in range(c):
                src = xp[b, ci].reshape(hp * wp)
                if kh == 3 and kw == 3:  # all nine taps in one pass: loads once, stores once
                    w0, w1, w2 = wt[co, ci, 0, 0], wt[co, ci, 0, 1], wt[co, ci, 0, 2]
                    w3, w4, w5 = wt[co, ci, 1, 0], wt[co, ci, 1, 1], wt[co, ci, 1, 2]
                    w6, w7, w8 = wt[co, ci, 2, 0], wt[co, ci, 2, 1], wt[co, ci, 2, 2]
                    for p in range(span):
                        u, v, z = np.uintp(p), np.uintp(p + wp), np.uintp(p + 2 * wp)
                        wide[u] += (w0 * src[u] + w1 * src[u + np.uintp(1)] + w2 * src[u + np.uintp(2)]
                                    + w3 * src[v] + w4 * src[v + np.uintp(1)] + w5 * src[v + np.uintp(2)]
                                    + w6 * src[z] + w7 * src[z + np.uintp(1)] + w8 * src[z + np.uintp(2)])
                else:
                    for i in range(kh):
                        for j in range(kw):
                            wv, off = wt[co, ci, i, j], i * wp + j
                            for p in range(span):
                                wide[np.uintp(p)] += wv * src[np.uintp(p + off)]
            out = y[b, co].reshape(oh * ow)
            for r in range(oh):
                for q in range(ow):
                    out[np.uintp(r * ow + q)] = wide[np.uintp(r * wp + q)]


@pjit(fastmath=REDUCE_MATH)
def _s1_grad_weight(xp, gy, gw_part, gb_part, want_gb):  # pragma: no cover - compiled
    n, c, hp, wp = xp.shape
    co_n, _, kh, kw = gw_part.shape[1:]
    oh, ow = gy.shape[2], gy.shape[3]
    span = (oh - 1) * wp + ow
    for b in prange(n):  # per-image partial sums, added up afterwards
        gwide = np.zeros(span, dtype=gy.dtype)  # the extra columns stay zero
        for co in range(co_n):
            g = gy[b, co].reshape(oh * ow)
            s = gy.dtype.type(0)
            for r in range(oh):
                for q in range(ow):
                    v = g[np.uintp(r * ow + q)]
                    gwide[np.uintp(r * wp + q)] = v
                    s += v
            if want_gb:
                gb_part[b, co] = s
            for ci in range(c):
                src = xp[b, ci].reshape(hp * wp)
                for i in range(kh):
                    for j in range(kw):
                        off = i * wp + j
                        acc = gy.dtype.type(0)
                        for p in range(span):
                            acc += gwide[np.uintp(p)] * src[np.uintp(p + off)]
                        gw_part[b, co, ci, i, j] = acc


@pjit
def _s1_grad_input(gy, wt, gxp):  # pragma: no cover - compiled
    n, c, hp, wp = gxp.shape
    co_n, _, kh, kw = wt.shape
    oh, ow = gy.shape[2], gy.shape[3]
    span = (oh - 1) * wp + ow
    for b in prange(n):
        gwide = np.zeros(span, dtype=gy.dtype)
        gxp[b] = 0
        for co in range(co_n):
            g = gy[b, co].reshape(oh * ow)
            for r in range(oh):
                for q in range(ow):
                    gwide[np.uintp(r * wp + q)] = g[np.uintp(r * ow + q)]
            for ci in range(c):
                dst = gxp[b, ci].reshape(hp * wp)
                for i in range(kh):
                    for j in range(kw):
                        wv, off = wt[co, ci, i, j], i * wp + j
                        for p in range(span):
                            dst[np.uintp(p + off)] += wv * gwide[np.uintp(p)]


# ---- layout helpers for the im2col path -----------------------------------------------

@pjit
def _rows_to_nchw(rows, bias, has_bias, y):  # pragma: no cover - compiled
    """y[b, co, r, q] = rows[(b*OH + r)*OW + q, co] (+ bias[co])."""
    n, co_n, oh, ow = y.shape
    for t in prange(n * co_n):
        b, co = t // co_n, t % co_n
        add = bias[co] if has_bias else 0
        for r in range(oh):
            base = (b * oh + r) * ow
            for q in range(ow):
                y[b, co, r, q] = rows[base + q, co] + add


@pjit
def _nchw_to_rows(gy, rows):  # pragma: no cover - compiled
    n, co_n, oh, ow = gy.shape
    for t in prange(n * oh):
        b, r = t // oh, t % oh
        for q in range(ow):
            dst = rows[t * ow + q]
            for co in range(co_n):
                dst[co] = gy[b, co, r, q]


# ---- the kernel's contract (see minidl/kernels/conv/__init__.py) ---------------------

def direct_preferred(w_shape: tuple[int, ...], stride: tuple[int, int] = (1, 1)) -> bool:
    """True when the direct loops beat im2col + GEMM: stride 1 and a small inner
    dimension C_in*kH*kW (strided convolutions always take im2col + GEMM)."""
    _, c_in, kh, kw = w_shape
    return tuple(stride) == (1, 1) and c_in * kh * kw <= tuning("MINIDL_DIRECT_CONV_MAX_PATCH")


def forward(x: np.ndarray, weight: np.ndarray, bias: Any, stride: tuple[int, int],
            padding: tuple[int, int], needs: tuple[bool, bool, bool]) -> tuple[np.ndarray, Any]:
    """(y, saved): y (N, C_out, OH, OW) C-contiguous; x, weight, bias C-contiguous, one dtype."""
    (sh, sw), (ph, pw) = stride, padding
    n, _, h, w = x.shape
    c_out, c_in, kh, kw = weight.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    y = scratch((n, c_out, oh, ow), x.dtype)
    has_bias = bias is not None
    b = bias if has_bias else weight.reshape(-1)[:1]
    if direct_preferred(weight.shape, stride):
        launch(_s1_forward, y.size * c_in, tuning(PARALLEL), _pad(x, ph, pw), weight, b, has_bias, y)
    else:
        cols = im2col(x, kh, kw, sh, sw, ph, pw)
        rows = np.matmul(cols, weight.reshape(c_out, -1).T, out=scratch((len(cols), c_out), x.dtype))
        del cols  # back to the workspace before the next one is asked for
        launch(_rows_to_nchw, y.size, tuning(PARALLEL), rows, b, has_bias, y)
    need_x, need_w, _ = needs
    saved = (x if need_w else None, weight if need_x else None, x.shape, weight.shape, stride,
             padding, needs)
    return y, saved


def backward(gy: np.ndarray, saved: Any) -> tuple[Any, Any, Any]:
    """(gx, gw, gb) from gy (N, C_out, OH, OW) of any layout; None where not asked for."""
    x, weight, x_shape, w_shape, stride, (ph, pw), needs = saved
    gy = np.ascontiguousarray(gy)
    if direct_preferred(w_shape, stride):
        return _s1_backward(gy, x, weight, ph, pw, x_shape, w_shape, needs)
    (sh, sw), (need_x, need_w, need_b) = stride, needs
    c_out, _, kh, kw = w_shape
    n, co_n, oh, ow = gy.shape
    rows = scratch((n * oh * ow, co_n), gy.dtype)
    launch(_nchw_to_rows, gy.size, tuning(PARALLEL), gy, rows)
    gx = gw = gb = None
    if need_w:
        gw = (rows.T @ im2col(x, kh, kw, sh, sw, ph, pw)).reshape(w_shape)
    if need_b:
        gb = rows.sum(axis=0)
    if need_x:
        gcols = np.matmul(rows, weight.reshape(c_out, -1), out=scratch((len(rows), weight[0].size), gy.dtype))
        gx = col2im(gcols, x_shape, kh, kw, sh, sw, ph, pw)
    return gx, gw, gb


def _pad(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x


def _s1_backward(gy: np.ndarray, x: Any, weight: Any, ph: int, pw: int, x_shape: tuple[int, ...],
                 w_shape: tuple[int, ...], needs: tuple[bool, bool, bool]) -> tuple[Any, Any, Any]:
    n, c, h, w = x_shape
    need_x, need_w, need_b = needs
    gx = gw = gb = None
    if need_w:
        gw_part = np.empty((n,) + tuple(w_shape), dtype=gy.dtype)
        gb_part = np.empty((n, w_shape[0]), dtype=gy.dtype)
        launch(_s1_grad_weight, gy.size * c, tuning(PARALLEL), _pad(x, ph, pw), gy, gw_part,
               gb_part, need_b)
        gw = gw_part.sum(axis=0)
        gb = gb_part.sum(axis=0) if need_b else None
    elif need_b:
        gb = gy.sum(axis=(0, 2, 3))
    if need_x:
        gxp = scratch((n, c, h + 2 * ph, w + 2 * pw), gy.dtype)
        launch(_s1_grad_input, gy.size * c, tuning(PARALLEL), gy, weight, gxp)
        gx = np.ascontiguousarray(gxp[:, :, ph:ph + h, pw:pw + w]) if ph or pw else gxp
    return gx, gw, gb
