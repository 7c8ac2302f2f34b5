"""Average pooling on CuPy arrays: CUDA kernels with the contract of reference.py.

Forward: one thread per output; it sums its window (bounds from windows.py) and divides
by the count. Backward: a gather: one thread per input pixel sums, in (oh, ow) order,
gy / count over the windows that hold it (a run per axis, windows.covering), so
overlapping windows need no atomics and the result is deterministic.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.kernels import _cuda as build
from minidl.kernels.avgpool.windows import Windows, covering

SOURCE = r"""
extern "C" __global__ void avgpool_forward(const T* x, T* y, const long long* rlo,
                                           const long long* rhi, const long long* rcount,
                                           const long long* clo, const long long* chi,
                                           const long long* ccount, I total, I H, I W, I OH, I OW) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I ow = t % OW, oh = (t / OW) % OH, plane = t / (OW * OH);
        const T* xs = x + plane * H * W;
        T acc = 0;
        for (I h = (I)rlo[oh]; h < (I)rhi[oh]; ++h)
            for (I w = (I)clo[ow]; w < (I)chi[ow]; ++w) acc += xs[h * W + w];
        y[t] = acc / (T)(rcount[oh] * ccount[ow]);
    }
}

extern "C" __global__ void avgpool_backward(const T* gy, T* dx, const long long* rfirst,
                                            const long long* rend, const long long* rcount,
                                            const long long* cfirst, const long long* cend,
                                            const long long* ccount, I total, I H, I W, I OH, I OW) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I w = t % W, h = (t / W) % H, plane = t / (W * H);
        const T* g = gy + plane * OH * OW;
        T acc = 0;
        for (I oh = (I)rfirst[h]; oh < (I)rend[h]; ++oh)
            for (I ow = (I)cfirst[w]; ow < (I)cend[w]; ++ow)
                acc += g[oh * OW + ow] / (T)(rcount[oh] * ccount[ow]);
        dx[t] = acc;
    }
}
"""


def avgpool(x: Any, rows: Windows, cols: Windows) -> Any:
    """The mean of every window of x (N, C, H, W): y (N, C, OH, OW)."""
    xp = array_module(x)
    n, c, h, w = x.shape
    oh, ow = len(rows.lo), len(cols.lo)
    x = build.contiguous(xp, x)
    y = xp.empty((n, c, oh, ow), dtype=x.dtype)
    index = build.index_dtype(x.size, y.size)
    bounds = tuple(xp.asarray(a) for a in (*rows, *cols))
    args = (x, y) + bounds + build.scalars(index, y.size, h, w, oh, ow)
    build.launch(SOURCE, "avgpool_forward", x.dtype, index, y.size, args)
    return y


def unavgpool(gy: Any, x_shape: tuple[int, ...], rows: Windows, cols: Windows) -> Any:
    """dx (x_shape) from gy (N, C, OH, OW): each pixel gathers gy / count of its windows."""
    xp = array_module(gy)
    n, c, h, w = x_shape
    oh, ow = len(rows.lo), len(cols.lo)
    gy = build.contiguous(xp, gy)
    dx = xp.empty(x_shape, dtype=gy.dtype)
    index = build.index_dtype(dx.size, gy.size)
    bounds = tuple(xp.asarray(a) for a in (*covering(rows, h), rows.count, *covering(cols, w), cols.count))
    args = (gy, dx) + bounds + build.scalars(index, dx.size, h, w, oh, ow)
    build.launch(SOURCE, "avgpool_backward", gy.dtype, index, dx.size, args)
    return dx
