"""Convolution on CuPy arrays: im2col / col2im as CUDA kernels, the product as in the
reference (reference.forward/backward with these two passed in).

im2col is one thread per column entry. col2im is a gather: one thread per input pixel
sums the column entries that read it, in (i, j) order, so overlapping windows need no
atomics and the result is deterministic. Layout: see reference.py.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.kernels import _cuda as build
from minidl.kernels._geometry import output_size
from minidl.kernels.conv import reference

SOURCE = r"""
extern "C" __global__ void im2col(const T* x, T* cols, I total, I C, I H, I W, I OH, I OW,
                                  I kh, I kw, I sh, I sw, I ph, I pw) {
    const I ncols = C * kh * kw;
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I row = t / ncols, col = t - row * ncols;
        const I c = col / (kh * kw), ij = col - c * (kh * kw);
        const I i = ij / kw, j = ij - i * kw;
        const I n = row / (OH * OW), r = row - n * (OH * OW);
        const I oh = r / OW, ow = r - oh * OW;
        const I h = oh * sh + i - ph, w = ow * sw + j - pw;
        cols[t] = (h >= 0 && h < H && w >= 0 && w < W) ? x[((n * C + c) * H + h) * W + w] : (T)0;
    }
}

extern "C" __global__ void col2im(const T* cols, T* x, I total, I C, I H, I W, I OH, I OW,
                                  I kh, I kw, I sh, I sw, I ph, I pw) {
    const I ncols = C * kh * kw;
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I w = t % W, h = (t / W) % H, c = (t / (W * H)) % C, n = t / (W * H * C);
        T acc = 0;
        for (I i = 0; i < kh; ++i) {
            const I hs = h + ph - i;  // = oh * sh for the window that reads (h, w) at row i
            if (hs < 0) break;
            if (hs % sh != 0 || hs / sh >= OH) continue;
            const I oh = hs / sh;
            for (I j = 0; j < kw; ++j) {
                const I ws = w + pw - j;
                if (ws < 0) break;
                if (ws % sw != 0 || ws / sw >= OW) continue;
                const I ow = ws / sw;
                acc += cols[((n * OH + oh) * OW + ow) * ncols + (c * kh + i) * kw + j];
            }
        }
        x[t] = acc;
    }
}
"""


def im2col(x: Any, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int) -> Any:
    """Unfold every (kh, kw) patch of x (N, C, H, W) into a row of cols (N*OH*OW, C*kh*kw)."""
    xp = array_module(x)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    x = build.contiguous(xp, x)
    cols = xp.empty((n * oh * ow, c * kh * kw), dtype=x.dtype)
    index = build.index_dtype(x.size, cols.size)
    args = (x, cols) + build.scalars(index, cols.size, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw)
    build.launch(SOURCE, "im2col", x.dtype, index, cols.size, args)
    return cols


def col2im(cols: Any, x_shape: tuple[int, ...], kh: int, kw: int, sh: int, sw: int,
           ph: int, pw: int) -> Any:
    """Sum cols (N*OH*OW, C*kh*kw) back into an (N, C, H, W) array (im2col's adjoint)."""
    xp = array_module(cols)
    n, c, h, w = x_shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    cols = build.contiguous(xp, cols)
    x = xp.empty((n, c, h, w), dtype=cols.dtype)
    index = build.index_dtype(x.size, cols.size)
    args = (cols, x) + build.scalars(index, x.size, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw)
    build.launch(SOURCE, "col2im", cols.dtype, index, x.size, args)
    return x


def forward(x: Any, weight: Any, bias: Any, stride: tuple[int, int], padding: tuple[int, int],
            needs: tuple[bool, bool, bool]) -> tuple[Any, Any]:
    """The reference product over the im2col kernel: (y, saved) as reference.forward."""
    return reference.forward(x, weight, bias, stride, padding, needs, unfold=im2col)


def backward(gy: Any, saved: Any) -> tuple[Any, Any, Any]:
    """(gx, gw, gb) as reference.backward, folding with the col2im kernel."""
    return reference.backward(gy, saved, fold=col2im)
