"""Convolution with Numba, per shape a direct convolution or im2col + BLAS products.

Why two ways: a BLAS product runs near peak when both its sides, C_out and
K = C_in*kH*kW, are large, but on a small weight (32 x 9 for the seed CNN) it runs at a
fraction of peak while im2col still writes kH*kW copies of the input. For stride 1 and
up to tuning("MINIDL_DIRECT_CONV_MAX_WEIGHTS") weights C_out*K, a direct loop does the
same multiply-adds straight from x into the NCHW output instead (see "wide rows");
above it, and for strides, im2col + GEMM, one chunk of images at a time (see "unfold").
Measured per shape in docs/performance.md ("What the fast path does").

Both paths write y C-contiguous (NCHW) and save the input x (for the weight gradient)
and the weight (for the input gradient), not the 9x larger cols.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import prange

from minidl.kernels._geometry import flat_index_dtype, output_size
from minidl.kernels._numba import FUSE_MATH, REDUCE_MATH, jit, launch, pjit
from minidl.kernels._route import tuning
from minidl.kernels._workspace import scratch
from minidl.kernels.activation.cpu import put_relu, relu_forward
from minidl.kernels.pool.cpu import last_nan_2x2, window_2x2

PARALLEL = "MINIDL_PARALLEL_MIN"
# Inner loops index with np.uintp: Numba wraps negative signed indices around, and that
# branch stops LLVM from vectorising; an unsigned index has no such branch. A prange
# index passed to a helper goes as np.intp: the parallel build's loop index is unsigned,
# the serial build's signed, and each type would compile the helper once more.


# ---- unfold / fold: im2col per image, in the (K, OH*OW) layout ---------------------
# Per image, cols (C_in*kH*kW, OH*OW) is the transpose of that image's block of the
# reference's im2col (reference.py). In this layout a product with the
# (C_out, C_in*kH*kW) weight gives the image's (C_out, OH*OW) output in NCHW order (no
# transpose afterwards), and every row of cols is a run of input rows shifted by one
# tap: contiguous copies (stride 1) instead of scattered writes.

@jit
def _inside(j, sw, pw, w, ow):  # pragma: no cover - compiled
    """[q0, q1): the output columns q whose tap column j reads inside the image, that is
    0 <= q*sw + j - pw < w (the rest read padding)."""
    q0 = min(ow, max(0, -((j - pw) // sw)))
    return q0, max(q0, min(ow, (w - 1 + pw - j) // sw + 1))


@pjit(over=lambda x, *_: x.shape[0] * x.shape[1])
def _unfold(x, kh, kw, sh, sw, ph, pw, oh, ow, cols):  # pragma: no cover - compiled
    n, c, h, w = x.shape
    for t in prange(n * c):
        b, ci = t // c, t % c
        src = x[b, ci]
        for i in range(kh):
            for j in range(kw):
                row = cols[b, (ci * kh + i) * kw + j]
                q0, q1 = _inside(j, sw, pw, w, ow)
                if sh == 1 and sw == 1 and ow == w:
                    _unfold_shifted(src.reshape(h * w), row, i - ph, j - pw, q0, q1, h, w, oh)
                    continue
                for r in range(oh):
                    hh, base = r * sh + i - ph, r * ow
                    if hh < 0 or hh >= h:
                        row[base:base + ow] = 0
                        continue
                    row[base:base + q0] = 0
                    if sw == 1:  # a contiguous run: vectorised copy
                        row[base + q0:base + q1] = src[hh, q0 + j - pw:q1 + j - pw]
                    else:
                        for q in range(q0, q1):
                            row[np.uintp(base + q)] = src[hh, np.uintp(q * sw + j - pw)]
                    row[base + q1:base + ow] = 0


# Stride 1 with the output as wide as the input ("same" padding): a tap's row of cols is
# the whole image shifted by (di, dj), so it is ONE long copy (or add) of the plane instead
# of OH short ones (16 floats on CIFAR's 16x16 planes, where the per-run cost dominated),
# and only the columns that wrapped around into the next image row are fixed up after.

@jit
def _rows_inside(di, h, oh):  # pragma: no cover - compiled
    """[r0, r1): the output rows whose tap row reads inside the image."""
    r0 = min(oh, max(0, -di))
    return r0, max(r0, min(oh, h - di))


@jit
def _zero_wrapped(row, r0, r1, q0, q1, w):  # pragma: no cover - compiled
    """Zero the entries of rows r0..r1-1 outside columns [q0, q1): in the shifted copy they
    wrapped around into the neighbouring image row."""
    for r in range(r0, r1):
        row[r * w:r * w + q0] = 0
        row[r * w + q1:(r + 1) * w] = 0


@jit
def _unfold_shifted(flat, row, di, dj, q0, q1, h, w, oh):  # pragma: no cover - compiled
    r0, r1 = _rows_inside(di, h, oh)
    row[:r0 * w] = 0
    row[r1 * w:] = 0
    if r0 == r1:
        return
    off = di * w + dj  # row[p] = flat[p + off] on [r0*w + q0, (r1-1)*w + q1): all in range
    for p in range(r0 * w + q0, (r1 - 1) * w + q1):
        row[np.uintp(p)] = flat[np.uintp(p + off)]
    _zero_wrapped(row, r0, r1, q0, q1, w)  # they read padding


@jit
def _fold_shifted(row, flat, di, dj, q0, q1, h, w, oh):  # pragma: no cover - compiled
    r0, r1 = _rows_inside(di, h, oh)
    if r0 == r1:
        return
    _zero_wrapped(row, r0, r1, q0, q1, w)  # gradients of padding: dropped (cols is scratch)
    off = di * w + dj
    for p in range(r0 * w + q0, (r1 - 1) * w + q1):
        flat[np.uintp(p + off)] += row[np.uintp(p)]


@pjit(over=lambda *a: a[-1].shape[0] * a[-1].shape[1])  # dx's planes
def _fold(cols, kh, kw, sh, sw, ph, pw, oh, ow, dx):  # pragma: no cover - compiled
    n, c, h, w = dx.shape
    for t in prange(n * c):  # one (n, c) plane per task: no two tasks write one pixel
        b, ci = t // c, t % c
        dst = dx[b, ci]
        dst[:] = 0
        for i in range(kh):
            for j in range(kw):
                row = cols[b, (ci * kh + i) * kw + j]
                q0, q1 = _inside(j, sw, pw, w, ow)
                if sh == 1 and sw == 1 and ow == w:
                    _fold_shifted(row, dst.reshape(h * w), i - ph, j - pw, q0, q1, h, w, oh)
                    continue
                for r in range(oh):
                    hh, base = r * sh + i - ph, r * ow
                    if hh < 0 or hh >= h:
                        continue
                    if sw == 1:
                        dst[hh, q0 + j - pw:q1 + j - pw] += row[base + q0:base + q1]
                    else:
                        for q in range(q0, q1):
                            dst[hh, np.uintp(q * sw + j - pw)] += row[np.uintp(base + q)]


def unfold(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """cols (N, C*kh*kw, OH*OW): cols[n] == reference.im2col(x)[n*OH*OW:(n+1)*OH*OW].T."""
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    cols = np.empty((n, c * kh * kw, oh * ow), x.dtype) if out is None else out
    launch(_unfold, cols.size, tuning(PARALLEL), x, kh, kw, sh, sw, ph, pw, oh, ow, cols)
    return cols


def fold(cols: np.ndarray, x_shape: tuple[int, ...], kh: int, kw: int, sh: int, sw: int,
         ph: int, pw: int, out: np.ndarray | None = None) -> np.ndarray:
    """unfold's adjoint: every entry of cols (N, C*kh*kw, OH*OW) added back to its pixel.
    cols is spent: with stride 1 and OW == W its entries on padding are zeroed."""
    h, w = x_shape[2], x_shape[3]
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    dx = np.empty(x_shape, cols.dtype) if out is None else out
    launch(_fold, cols.size, tuning(PARALLEL), cols, kh, kw, sh, sw, ph, pw, oh, ow, dx)
    return dx


def _chunks(n: int, image_cols_bytes: int) -> tuple[int, list[tuple[int, int]]]:
    """(images per chunk, [(start, stop)]): unfold a few images at a time, so cols stays
    in cache between its unfold and its product, and memory is not 9x the input's."""
    per = max(1, min(n, tuning("MINIDL_CONV_CHUNK_BYTES") // max(image_cols_bytes, 1)))
    return per, [(b, min(n, b + per)) for b in range(0, n, per)]


# ---- direct convolution (stride 1): "wide rows" ---------------------------------------
# With stride 1 the input pixel of output (r, q) and tap (i, j) sits at flat offset
# (r + i)*Wp + q + j of the (padded) input plane. Computing the output on rows as wide
# as the input (Wp, not OW) makes every tap ONE long contiguous loop over the plane
# instead of OH short ones (short rows defeat vectorisation); the Wp - OW extra
# columns per row are discarded (forward) or held at zero (gradients).

# output channels per pass of the direct forward (3x3 kernels): each input load feeds
# this many multiply-adds (`_lanes` and `_lane_rows` spell the four out). Four against two, forward on 2 threads: 1.35x on CIFAR's
# 32 -> 32 layer, 1.46x on the binary CNN's 32 -> 64 (1.2x with the pooling fused);
# eight were slower than four
LANES = 4


@jit(inline="always")
def _lanes(co, co_n):  # pragma: no cover - compiled
    """The LANES output channels of the pass from channel co: the last channel repeated
    where C_out is not a multiple of LANES (a repeated lane is written once, see `_fresh`)."""
    return co, min(co + 1, co_n - 1), min(co + 2, co_n - 1), min(co + 3, co_n - 1)


@jit(inline="always")
def _fresh(lanes, k):  # pragma: no cover - compiled
    """False for a lane that repeats the one before it (its buffer may be stale)."""
    return k == 0 or lanes[k] != lanes[k - 1]


@jit(inline="always")
def _lane_rows(span, dtype):  # pragma: no cover - compiled
    """LANES buffers of `span` wide positions, one per output channel of a pass (one 2-D
    buffer's rows stopped LLVM vectorising)."""
    return (np.empty(span, dtype=dtype), np.empty(span, dtype=dtype),
            np.empty(span, dtype=dtype), np.empty(span, dtype=dtype))


@jit(fastmath=FUSE_MATH)
def _accumulate_lanes(xp, wt, bias, has_bias, b, co, wide, sizes):  # pragma: no cover - compiled
    """wide (`_lane_rows`) = image b of xp cross-correlated with the output channels
    `_lanes(co)` of wt, plus their bias; returns those channels. They share every load of
    the input."""
    c, hp, wp = xp.shape[1], xp.shape[2], xp.shape[3]
    lanes = _lanes(co, wt.shape[0])
    ka, kb, kc, kd = lanes
    wa, wb, wc, wd = wide
    span = wa.size
    wa[:] = bias[ka] if has_bias else 0
    wb[:] = bias[kb] if has_bias else 0
    wc[:] = bias[kc] if has_bias else 0
    wd[:] = bias[kd] if has_bias else 0
    for ci in range(c):
        src = xp[b, ci].reshape(hp * wp)
        if sizes is None:  # 3x3: all nine taps in one pass, loads once, stores once
            a0, a1, a2, a3, a4, a5, a6, a7, a8 = _taps9(wt[ka, ci])
            b0, b1, b2, b3, b4, b5, b6, b7, b8 = _taps9(wt[kb, ci])
            c0, c1, c2, c3, c4, c5, c6, c7, c8 = _taps9(wt[kc, ci])
            d0, d1, d2, d3, d4, d5, d6, d7, d8 = _taps9(wt[kd, ci])
            for p in range(span):
                u, v, z = np.uintp(p), np.uintp(p + wp), np.uintp(p + 2 * wp)
                s0, s1, s2 = src[u], src[u + np.uintp(1)], src[u + np.uintp(2)]
                s3, s4, s5 = src[v], src[v + np.uintp(1)], src[v + np.uintp(2)]
                s6, s7, s8 = src[z], src[z + np.uintp(1)], src[z + np.uintp(2)]
                wa[u] += (a0 * s0 + a1 * s1 + a2 * s2 + a3 * s3 + a4 * s4 + a5 * s5
                          + a6 * s6 + a7 * s7 + a8 * s8)
                wb[u] += (b0 * s0 + b1 * s1 + b2 * s2 + b3 * s3 + b4 * s4 + b5 * s5
                          + b6 * s6 + b7 * s7 + b8 * s8)
                wc[u] += (c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3 + c4 * s4 + c5 * s5
                          + c6 * s6 + c7 * s7 + c8 * s8)
                wd[u] += (d0 * s0 + d1 * s1 + d2 * s2 + d3 * s3 + d4 * s4 + d5 * s5
                          + d6 * s6 + d7 * s7 + d8 * s8)
        else:  # any size: two channels per pass (four in one ran 0.7-0.9x as fast on 5x5)
            _accumulate_two(src, wt, ka, kb, ci, wp, wa, wb)
            if kc != kb:  # else wc, wd would repeat channel kb: left unwritten
                _accumulate_two(src, wt, kc, kd, ci, wp, wc, wd)
    return lanes


@jit(fastmath=FUSE_MATH)
def _accumulate_two(src, wt, ka, kb, ci, wp, wa, wb):  # pragma: no cover - compiled
    """wa, wb += input channel ci's plane `src` cross-correlated with wt[ka, ci], wt[kb, ci]
    (any kernel size), one tap at a time."""
    for i in range(wt.shape[2]):
        for j in range(wt.shape[3]):
            va, vb, off = wt[ka, ci, i, j], wt[kb, ci, i, j], i * wp + j
            for p in range(wa.size):
                sv = src[np.uintp(p + off)]
                wa[np.uintp(p)] += va * sv
                wb[np.uintp(p)] += vb * sv


@jit(inline="always")
def _taps9(k):  # pragma: no cover - compiled
    """The nine weights of a 3x3 kernel k, row by row."""
    return k[0, 0], k[0, 1], k[0, 2], k[1, 0], k[1, 1], k[1, 2], k[2, 0], k[2, 1], k[2, 2]


@jit(inline="always")
def _put_rows(wide, wp, out, relu):  # pragma: no cover - compiled
    """out (OH, OW) = the real outputs of the wide rows (rectified when `relu`)."""
    oh, ow = out.shape
    flat = out.reshape(oh * ow)
    for r in range(oh):
        for q in range(ow):
            o, v = np.uintp(r * ow + q), np.uintp(r * wp + q)
            if relu:  # the fused ReLU, as the outputs are written
                put_relu(flat, o, wide[v])
            else:
                flat[o] = wide[v]


@pjit(fastmath=FUSE_MATH, over=lambda xp, *_: xp.shape[0])
def _s1_forward(xp, wt, bias, has_bias, y, relu, sizes):  # pragma: no cover - compiled
    n, wp = xp.shape[0], xp.shape[3]
    co_n = wt.shape[0]
    oh, ow = y.shape[2], y.shape[3]
    span = (oh - 1) * wp + ow  # wide positions that hold real outputs
    for b in prange(n):
        wide = _lane_rows(span, y.dtype)
        for co in range(0, co_n, LANES):
            lanes = _accumulate_lanes(xp, wt, bias, has_bias, np.intp(b), co, wide, sizes)
            for k in range(LANES):
                if _fresh(lanes, k):
                    _put_rows(wide[k], wp, y[b, lanes[k]], relu)


@jit
def _pool_2x2(wide, wp, out, at, want_at):  # pragma: no cover - compiled
    """out (OH/2, OW/2) = relu of each 2x2 window's max in the wide rows (stride 2, the
    last row and column dropped when odd); a window holding a NaN gives its last NaN, as
    max pooling does. at: the wide index of that max where out > 0 or is NaN, else -1
    (ReLU's gradient mask: PyTorch's max-pool backward routes the gradient to the first
    max of the rectified window, which is the first max of the raw window when that is
    positive, and ReLU's backward then drops it where the output is <= 0)."""
    ph2, pw2 = out.shape
    for r in range(ph2):
        t, u = 2 * r * wp, (2 * r + 1) * wp
        for q in range(pw2):
            top, bottom = np.uintp(t + 2 * q), np.uintp(u + 2 * q)
            best, pos, nan = window_2x2(wide, top, bottom)
            if nan:
                pos = last_nan_2x2(wide, top, bottom)
                best = wide[pos]
            live = nan or best > 0
            out[r, q] = best if live else 0
            if want_at:
                at[r, q] = pos if live else -1


@pjit(fastmath=FUSE_MATH, over=lambda xp, *_: xp.shape[0])
def _s1_forward_pool(xp, wt, bias, has_bias, oh, ow, y, at, want_at, sizes):  # pragma: no cover - compiled
    """maxpool2x2(relu(conv)): _s1_forward's wide rows pooled as they are made; the
    (N, C_out, OH, OW) output is never written."""
    n, wp = xp.shape[0], xp.shape[3]
    co_n = wt.shape[0]
    span = (oh - 1) * wp + ow
    for b in prange(n):
        wide = _lane_rows(span, y.dtype)
        for co in range(0, co_n, LANES):
            lanes = _accumulate_lanes(xp, wt, bias, has_bias, np.intp(b), co, wide, sizes)
            for k in range(LANES):
                if _fresh(lanes, k):
                    ch = lanes[k]
                    _pool_2x2(wide[k], wp, y[b, ch], at[b, ch] if want_at else at[0, 0], want_at)


@jit(fastmath=REDUCE_MATH)
def _pair_taps(xp, b, ga, gb, kh, kw, taps_a, taps_b, sizes):  # pragma: no cover - compiled
    """taps_a (C_in, kH, kW) = the weight gradient of one output channel from its wide-row
    gradient ga and image b of xp (taps_b likewise from gb)."""
    c, hp, wp = xp.shape[1], xp.shape[2], xp.shape[3]
    span = ga.size
    for ci in range(c):
        src = xp[b, ci].reshape(hp * wp)
        if sizes is None:  # 3x3: all nine taps in one pass over the gradient
            _grad_taps_3x3(src, ga, gb, wp, span, taps_a[ci], taps_b[ci])
            continue
        for i in range(kh):
            for j in range(kw):
                off = i * wp + j
                acc_a, acc_b = ga.dtype.type(0), ga.dtype.type(0)
                for p in range(span):
                    sv = src[np.uintp(p + off)]
                    acc_a += ga[np.uintp(p)] * sv
                    acc_b += gb[np.uintp(p)] * sv
                taps_a[ci, i, j] = acc_a
                taps_b[ci, i, j] = acc_b


@pjit(fastmath=REDUCE_MATH, over=lambda xp, *_: xp.shape[0])
def _s1_grad_weight(xp, gy, gw_part, gb_part, want_gb, sizes):  # pragma: no cover - compiled
    n, wp = xp.shape[0], xp.shape[3]
    co_n, kh, kw = gw_part.shape[1], gw_part.shape[3], gw_part.shape[4]
    oh, ow = gy.shape[2], gy.shape[3]
    span = (oh - 1) * wp + ow
    for b in prange(n):  # per-image partial sums, added up afterwards
        # two output channels per pass share the input's loads (18 sums in registers)
        ga = np.zeros(span, dtype=gy.dtype)  # the extra columns stay zero
        gb = np.zeros(span, dtype=gy.dtype)
        for co in range(0, co_n, 2):
            cb = min(co + 1, co_n - 1)
            g1, g2 = gy[b, co].reshape(oh * ow), gy[b, cb].reshape(oh * ow)
            sa, sb = gy.dtype.type(0), gy.dtype.type(0)
            for r in range(oh):
                for q in range(ow):
                    v1, v2 = g1[np.uintp(r * ow + q)], g2[np.uintp(r * ow + q)]
                    ga[np.uintp(r * wp + q)] = v1
                    gb[np.uintp(r * wp + q)] = v2
                    sa += v1
                    sb += v2
            if want_gb:
                gb_part[b, co], gb_part[b, cb] = sa, sb
            _pair_taps(xp, np.intp(b), ga, gb, kh, kw, gw_part[b, co], gw_part[b, cb], sizes)


@jit
def _unpool_wide(gp, at, wide):  # pragma: no cover - compiled
    """wide = 0, then each pooled gradient gp[k] at its window max at[k] (none where
    at[k] < 0); returns their sum (the bias gradient's share)."""
    wide[:] = 0
    s = wide.dtype.type(0)
    for k in range(gp.size):
        a = at[np.uintp(k)]
        if a >= 0:
            g = gp[np.uintp(k)]
            wide[a] = g
            s += g
    return s


@pjit(fastmath=REDUCE_MATH, over=lambda xp, *_: xp.shape[0])
def _s1_grad_weight_pooled(xp, gp, at, oh, ow, gw_part, gb_part, want_gb, sizes):  # pragma: no cover - compiled
    """_s1_grad_weight from the gradient of _s1_forward_pool's output (gp) and its window
    maxima (at): each image's wide-row gradient is built from the pooled one directly."""
    n, wp = xp.shape[0], xp.shape[3]
    co_n, kh, kw = gw_part.shape[1], gw_part.shape[3], gw_part.shape[4]
    span = (oh - 1) * wp + ow
    for b in prange(n):
        ga = np.empty(span, dtype=gp.dtype)
        gb = np.empty(span, dtype=gp.dtype)
        for co in range(0, co_n, 2):
            cb = min(co + 1, co_n - 1)
            sa = _unpool_wide(gp[b, co].reshape(-1), at[b, co].reshape(-1), ga)
            sb = _unpool_wide(gp[b, cb].reshape(-1), at[b, cb].reshape(-1), gb)
            if want_gb:
                gb_part[b, co], gb_part[b, cb] = sa, sb
            _pair_taps(xp, np.intp(b), ga, gb, kh, kw, gw_part[b, co], gw_part[b, cb], sizes)


@pjit(over=lambda gp, *_: gp.shape[0] * gp.shape[1])
def _unpool_dense(gp, at, wp, gy):  # pragma: no cover - compiled
    """gy (N, C_out, OH, OW), the gradient of the convolution's own output, from the
    pooled gradient gp and the wide indices at (for the input gradient)."""
    n, c, oh, ow = gy.shape
    for t in prange(n * c):
        b, ch = t // c, t % c
        dense, g, a = gy[b, ch], gp[b, ch].reshape(-1), at[b, ch].reshape(-1)
        dense[:] = 0
        for k in range(g.size):
            w = a[np.uintp(k)]
            if w >= 0:
                dense[w // wp, w % wp] = g[np.uintp(k)]


@jit(fastmath=REDUCE_MATH)
def _grad_taps_3x3(src, ga, gb, wp, span, taps_a, taps_b):  # pragma: no cover - compiled
    """taps_a[i, j] = sum_p ga[p] * src[p + i*wp + j] (and taps_b from gb): 18 sums in
    registers over one pass."""
    z0 = ga.dtype.type(0)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = z0
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = c8 = z0
    for p in range(span):
        u, v, z = np.uintp(p), np.uintp(p + wp), np.uintp(p + 2 * wp)
        s0, s1, s2 = src[u], src[u + np.uintp(1)], src[u + np.uintp(2)]
        s3, s4, s5 = src[v], src[v + np.uintp(1)], src[v + np.uintp(2)]
        s6, s7, s8 = src[z], src[z + np.uintp(1)], src[z + np.uintp(2)]
        x, y = ga[u], gb[u]
        a0 += x * s0
        a1 += x * s1
        a2 += x * s2
        a3 += x * s3
        a4 += x * s4
        a5 += x * s5
        a6 += x * s6
        a7 += x * s7
        a8 += x * s8
        c0 += y * s0
        c1 += y * s1
        c2 += y * s2
        c3 += y * s3
        c4 += y * s4
        c5 += y * s5
        c6 += y * s6
        c7 += y * s7
        c8 += y * s8
    taps_a[0, 0], taps_a[0, 1], taps_a[0, 2] = a0, a1, a2
    taps_a[1, 0], taps_a[1, 1], taps_a[1, 2] = a3, a4, a5
    taps_a[2, 0], taps_a[2, 1], taps_a[2, 2] = a6, a7, a8
    taps_b[0, 0], taps_b[0, 1], taps_b[0, 2] = c0, c1, c2
    taps_b[1, 0], taps_b[1, 1], taps_b[1, 2] = c3, c4, c5
    taps_b[2, 0], taps_b[2, 1], taps_b[2, 2] = c6, c7, c8


# ---- the kernel's contract (see minidl/kernels/conv/__init__.py) ---------------------

def _sizes(w_shape: tuple[int, ...]) -> int | None:
    """The direct kernels' `sizes` argument: None for a 3x3 kernel, else 0. Its type (none
    or int) picks their loop at compile time (Numba prunes an `is None` branch on an
    argument's type), so a network of 3x3 convolutions never compiles the loops for other
    sizes, nor they the 3x3 ones: the seed CNN's weight-gradient kernel compiled in 1.4 s
    instead of 2.0, its forward in 2.2 instead of 2.4."""
    return None if tuple(w_shape[2:]) == (3, 3) else 0


def direct_preferred(w_shape: tuple[int, ...], stride: tuple[int, int] = (1, 1)) -> bool:
    """True when the direct loops beat im2col + GEMM: stride 1 and a small weight
    C_out*C_in*kH*kW (strided convolutions always take im2col + GEMM)."""
    return tuple(stride) == (1, 1) and math.prod(w_shape) <= tuning("MINIDL_DIRECT_CONV_MAX_WEIGHTS")


FUSES_RELU = True  # forward(relu=True) rectifies y as it writes it


def forward(x: np.ndarray, weight: np.ndarray, bias: Any, stride: tuple[int, int],
            padding: tuple[int, int], needs: tuple[bool, bool, bool], relu: bool = False
            ) -> tuple[np.ndarray, Any]:
    """(y, saved): y (N, C_out, OH, OW) C-contiguous; x, weight, bias C-contiguous, one dtype;
    y rectified when `relu`."""
    (sh, sw), (ph, pw) = stride, padding
    n, _, h, w = x.shape
    c_out, c_in, kh, kw = weight.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    y = scratch((n, c_out, oh, ow), x.dtype)
    has_bias = bias is not None
    b = bias if has_bias else weight.reshape(-1)[:1]
    if direct_preferred(weight.shape, stride):
        launch(_s1_forward, y.size * c_in, tuning(PARALLEL), _pad(x, ph, pw), weight, b, has_bias, y,
               relu, _sizes(weight.shape))
    else:
        _gemm_forward(x, weight, bias, stride, padding, y, relu)
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
    return _gemm_backward(gy, x, weight, x_shape, w_shape, stride, (ph, pw), needs)


POOL_WINDOW = ((2, 2), (2, 2), (0, 0))  # kernel, stride, padding: what _s1_forward_pool pools


def forward_relu_pool(x: np.ndarray, weight: np.ndarray, bias: Any, stride: tuple[int, int],
                      padding: tuple[int, int], window: tuple[tuple[int, int], ...],
                      needs: tuple[bool, bool, bool]) -> tuple[np.ndarray, Any] | None:
    """(maxpool(relu(conv(x))), saved) for a direct convolution and POOL_WINDOW, in one
    pass that never writes the convolution's (N, C_out, OH, OW) output; None for any
    other shape (the caller then runs the three kernels)."""
    if window != POOL_WINDOW or not direct_preferred(weight.shape, stride):
        return None
    ph, pw = padding
    n, _, h, w = x.shape
    c_out, c_in, kh, kw = weight.shape
    oh, ow = output_size(h, kh, 1, ph), output_size(w, kw, 1, pw)
    xp = _pad(x, ph, pw)
    want_at = any(needs)
    y = scratch((n, c_out, oh // 2, ow // 2), x.dtype)
    at = scratch(y.shape if want_at else (1, 1, 1, 1), flat_index_dtype(*xp.shape[2:]))
    has_bias = bias is not None
    b = bias if has_bias else weight.reshape(-1)[:1]
    launch(_s1_forward_pool, n * c_out * oh * ow * c_in, tuning(PARALLEL), xp, weight, b,
           has_bias, oh, ow, y, at, want_at, _sizes(weight.shape))
    need_x, need_w, _ = needs
    saved = (x if need_w else None, weight if need_x else None, at if want_at else None,
             x.shape, weight.shape, (oh, ow), padding, needs)
    return y, saved


def backward_relu_pool(gy: np.ndarray, saved: Any) -> tuple[Any, Any, Any]:
    """(gx, gw, gb) from the pooled output's gradient gy (N, C_out, PH, PW), any layout."""
    x, weight, at, x_shape, w_shape, (oh, ow), (ph, pw), (need_x, need_w, need_b) = saved
    gp = np.ascontiguousarray(gy)
    n, c_out = gp.shape[:2]
    gx = gw = gb = None
    if need_w:
        gw_part = np.empty((n,) + w_shape, dtype=gp.dtype)
        gb_part = np.empty((n, c_out), dtype=gp.dtype)
        launch(_s1_grad_weight_pooled, n * c_out * oh * ow * x_shape[1], tuning(PARALLEL),
               _pad(x, ph, pw), gp, at, oh, ow, gw_part, gb_part, need_b, _sizes(w_shape))
        gw = gw_part.sum(axis=0)
        gb = gb_part.sum(axis=0) if need_b else None
    elif need_b:
        gb = np.where(at >= 0, gp, 0).sum(axis=(0, 2, 3), dtype=gp.dtype)
    if need_x:
        dense = scratch((n, c_out, oh, ow), gp.dtype)
        launch(_unpool_dense, dense.size, tuning(PARALLEL), gp, at, x_shape[3] + 2 * pw, dense)
        gx = _s1_grad_input(dense, weight, ph, pw, x_shape)
    return gx, gw, gb


def _gemm_forward(x: np.ndarray, weight: np.ndarray, bias: Any, stride: tuple[int, int],
                  padding: tuple[int, int], y: np.ndarray, relu: bool) -> None:
    """y (N, C_out, OH, OW) = weight (C_out, K) @ unfold(x) (N, K, OH*OW) + bias (then
    rectified when `relu`), a chunk of images at a time."""
    (sh, sw), (ph, pw) = stride, padding
    n, c_out, oh, ow = y.shape
    kh, kw = weight.shape[2:]
    w2, y3 = weight.reshape(c_out, -1), y.reshape(n, c_out, oh * ow)
    per, chunks = _chunks(n, w2.shape[1] * oh * ow * x.itemsize)
    buf = scratch((per, w2.shape[1], oh * ow), x.dtype)
    for b0, b1 in chunks:
        cols = unfold(x[b0:b1], kh, kw, sh, sw, ph, pw, out=buf[:b1 - b0])
        out = np.matmul(w2, cols, out=y3[b0:b1])
        if bias is not None:  # while the chunk is in cache
            out += bias[:, None]
        if relu:
            relu_forward(out, (False,), out=out)


def _gemm_backward(gy: np.ndarray, x: Any, weight: Any, x_shape: tuple[int, ...],
                   w_shape: tuple[int, ...], stride: tuple[int, int], padding: tuple[int, int],
                   needs: tuple[bool, bool, bool]) -> tuple[Any, Any, Any]:
    """gw = sum over images of gy[n] @ unfold(x)[n].T, gx = fold(weight.T @ gy[n]), gb =
    gy summed over N, OH, OW; a chunk of images at a time."""
    (sh, sw), (ph, pw), (need_x, need_w, need_b) = stride, padding, needs
    n, c_out, oh, ow = gy.shape
    kh, kw = w_shape[2:]
    k = math.prod(w_shape[1:])
    gy3 = gy.reshape(n, c_out, oh * ow)
    gb = gy3.sum(axis=(0, 2)) if need_b else None
    gw = np.zeros((c_out, k), gy.dtype) if need_w else None
    gx = scratch(x_shape, gy.dtype) if need_x else None
    w_t = weight.reshape(c_out, k).T if need_x else None
    per, chunks = _chunks(n, k * oh * ow * gy.itemsize)
    buf = scratch((per, k, oh * ow), gy.dtype)
    for b0, b1 in chunks:
        if need_w:
            cols = unfold(x[b0:b1], kh, kw, sh, sw, ph, pw, out=buf[:b1 - b0])
            gw += np.matmul(gy3[b0:b1], cols.transpose(0, 2, 1)).sum(axis=0)
        if need_x:  # the columns are spent: their buffer takes the input gradient's
            gcols = np.matmul(w_t, gy3[b0:b1], out=buf[:b1 - b0])
            fold(gcols, gx[b0:b1].shape, kh, kw, sh, sw, ph, pw, out=gx[b0:b1])
    return gx, None if gw is None else gw.reshape(w_shape), gb


def _pad(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """x with ph zero rows above and below, pw zero columns each side (np.pad is 5x slower)."""
    if not (ph or pw):
        return x
    n, c, h, w = x.shape
    out = scratch((n, c, h + 2 * ph, w + 2 * pw), x.dtype)
    out[:, :, :ph] = 0
    out[:, :, ph + h:] = 0
    out[:, :, ph:ph + h, :pw] = 0
    out[:, :, ph:ph + h, pw + w:] = 0
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _s1_backward(gy: np.ndarray, x: Any, weight: Any, ph: int, pw: int, x_shape: tuple[int, ...],
                 w_shape: tuple[int, ...], needs: tuple[bool, bool, bool]) -> tuple[Any, Any, Any]:
    n, c, h, w = x_shape
    need_x, need_w, need_b = needs
    gx = gw = gb = None
    if need_w:
        gw_part = np.empty((n,) + tuple(w_shape), dtype=gy.dtype)
        gb_part = np.empty((n, w_shape[0]), dtype=gy.dtype)
        launch(_s1_grad_weight, gy.size * c, tuning(PARALLEL), _pad(x, ph, pw), gy, gw_part,
               gb_part, need_b, _sizes(w_shape))
        gw = gw_part.sum(axis=0)
        gb = gb_part.sum(axis=0) if need_b else None
    elif need_b:
        gb = gy.sum(axis=(0, 2, 3))
    if need_x:
        gx = _s1_grad_input(gy, weight, ph, pw, x_shape)
    return gx, gw, gb


def _s1_grad_input(gy: np.ndarray, weight: np.ndarray, ph: int, pw: int, x_shape: tuple[int, ...]
                   ) -> np.ndarray:
    """A stride-1 convolution's input gradient is itself a stride-1 convolution: of gy,
    padded by k - 1 - p, with the weight turned 180 degrees and C_in, C_out swapped.
    Where p > k - 1 that padding is negative: gy goes unpadded, and the result (the
    gradient of x with p - k + 1 of its padding left on) is cropped."""
    n, c, h, w = x_shape
    kh, kw = weight.shape[2:]
    flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    qh, qw = kh - 1 - ph, kw - 1 - pw
    crop_h, crop_w = max(-qh, 0), max(-qw, 0)
    gx = scratch((n, c, h + 2 * crop_h, w + 2 * crop_w), gy.dtype)
    launch(_s1_forward, gx.size * len(weight), tuning(PARALLEL), _pad(gy, max(qh, 0), max(qw, 0)),
           flipped, flipped.reshape(-1)[:1], False, gx, False, _sizes(weight.shape))
    if crop_h or crop_w:
        return np.ascontiguousarray(gx[:, :, crop_h:crop_h + h, crop_w:crop_w + w])
    return gx
