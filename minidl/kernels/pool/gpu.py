"""Max pooling on CuPy arrays: CUDA kernels with the contract of reference.py.

Forward: one thread per output; it scans its window row-major over the real pixels
only (padding is -inf, so it never wins) and keeps the first maximum (a NaN always wins: the last NaN, as PyTorch), writing the max
and its flat index h*W + w into the unpadded plane, as the index type I (int32 unless the
tensor has 2**31 elements or more; converted to the contract's flat_index_dtype).

Backward: a gather: one thread per input pixel sums, in (oh, ow) order, the gy entries
of the windows that cover it and chose it, so overlapping windows need no atomics and
the result is deterministic (and equal to the reference's scatter-add, which adds in
the same order).
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.kernels import _cuda as build
from minidl.kernels._geometry import flat_index_dtype, output_size

SOURCE = r"""
extern "C" __global__ void maxpool_forward(const T* x, T* y, I* argmax, I total,
                                           I H, I W, I OH, I OW, I kh, I kw, I sh, I sw,
                                           I ph, I pw) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I ow = t % OW, oh = (t / OW) % OH, plane = t / (OW * OH);
        const T* xs = x + plane * H * W;
        T best = 0;
        I arg = -1;
        for (I i = 0; i < kh; ++i) {
            const I h = oh * sh - ph + i;
            if (h < 0 || h >= H) continue;
            for (I j = 0; j < kw; ++j) {
                const I w = ow * sw - pw + j;
                if (w < 0 || w >= W) continue;
                const T v = xs[h * W + w];
                // strict '>': the first max wins ties; a NaN always wins (the last one,
                // as PyTorch), so it propagates
                if (arg < 0 || v > best || v != v) {
                    best = v;
                    arg = h * W + w;
                }
            }
        }
        y[t] = best;
        argmax[t] = arg;
    }
}

extern "C" __global__ void maxpool_backward(const T* gy, const I* argmax, T* dx, I total,
                                            I H, I W, I OH, I OW, I kh, I kw, I sh, I sw,
                                            I ph, I pw) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I w = t % W, h = (t / W) % H, plane = t / (W * H);
        const I flat = h * W + w;
        // windows covering row h: oh*sh - ph <= h <= oh*sh - ph + kh - 1
        const I hl = h + ph - kh + 1, wl = w + pw - kw + 1;
        const I oh0 = hl <= 0 ? 0 : (hl + sh - 1) / sh;
        const I ow0 = wl <= 0 ? 0 : (wl + sw - 1) / sw;
        const I oh1 = min((h + ph) / sh, OH - 1), ow1 = min((w + pw) / sw, OW - 1);
        const I base = plane * OH * OW;
        T acc = 0;
        for (I oh = oh0; oh <= oh1; ++oh) {
            for (I ow = ow0; ow <= ow1; ++ow) {
                const I o = base + oh * OW + ow;
                if (argmax[o] == flat) acc += gy[o];
            }
        }
        dx[t] = acc;
    }
}
"""


def maxpool(x: Any, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
            need_argmax: bool = True) -> tuple[Any, Any]:
    """Max over every (kh, kw) window of x (N, C, H, W): (y, argmax), each (N, C, OH, OW);
    argmax None unless need_argmax (the kernel writes it all the same)."""
    xp = array_module(x)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    x = build.contiguous(xp, x)
    y = xp.empty((n, c, oh, ow), dtype=x.dtype)
    index = build.index_dtype(x.size, y.size)
    argmax = xp.empty((n, c, oh, ow), dtype=index)
    args = (x, y, argmax) + build.scalars(index, y.size, h, w, oh, ow, kh, kw, sh, sw, ph, pw)
    build.launch(SOURCE, "maxpool_forward", x.dtype, index, y.size, args)
    return y, (argmax.astype(flat_index_dtype(h, w), copy=False) if need_argmax else None)


def unpool(gy: Any, argmax: Any, x_shape: tuple[int, ...],
           window: tuple[int, int, int, int, int, int]) -> Any:
    """Route each gy (N, C, OH, OW) entry to its window's max pixel; dx has x_shape.
    `window` = (kh, kw, sh, sw, ph, pw) of the forward: the gather walks it."""
    xp = array_module(gy)
    n, c, h, w = x_shape
    oh, ow = gy.shape[2:]
    gy = build.contiguous(xp, gy)
    index = build.index_dtype(n * c * h * w, gy.size)
    argmax = build.contiguous(xp, argmax, index)
    kh, kw, sh, sw, ph, pw = window
    dx = xp.empty(x_shape, dtype=gy.dtype)
    args = (gy, argmax, dx) + build.scalars(index, dx.size, h, w, oh, ow, kh, kw, sh, sw, ph, pw)
    build.launch(SOURCE, "maxpool_backward", gy.dtype, index, dx.size, args)
    return dx
