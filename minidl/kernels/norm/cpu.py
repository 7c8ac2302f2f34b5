"""Normalization as Numba kernels: one pass over the data for the statistics, one for the
normalisation; the backward in two passes. See __init__.py for the contract. Batch norm
saves its input and recomputes xhat in the backward (one write of the batch less), and
can rectify its output (relu=True: a BatchNorm2D followed by a ReLU in nn.Sequential).

The statistics accumulate in float64 around a shift (the slice's first value), so a large
mean does not cancel the variance away in float32 or float64; the sums may be
reassociated (REDUCE_MATH), so they vectorise instead of waiting on one float64 add
after another (the BatchNorm CNN's forward and backward: 2x). Batch norm ("channel")
runs channels in parallel; layer norm ("feature") runs rows in parallel.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from minidl.kernels._numba import REDUCE_MATH, jit, launch, pjit
from minidl.kernels._route import tuning
from minidl.kernels._workspace import scratch
from minidl.kernels.activation.cpu import put_relu, relu_grad


@jit(inline="always")
def _xhat(x, mean, inv, a, c, j):  # pragma: no cover - compiled
    # the backward recomputes xhat from x as the forward made it: saving x instead of
    # xhat spares the forward a write of the whole batch
    return (x[a, c, j] - mean[c]) * inv[c]


@pjit(fastmath=REDUCE_MATH, over=lambda x, *_: x.shape[1])
def _channel_forward(x, w, b, eps, relu, y, mean, var, inv):  # pragma: no cover - compiled
    n_a, n_c, n_b = x.shape
    m = n_a * n_b
    for c in prange(n_c):
        shift = np.float64(x[0, c, 0])
        s = 0.0
        q = 0.0
        for a in range(n_a):
            for j in range(n_b):
                d = np.float64(x[a, c, j]) - shift
                s += d
                q += d * d
        mu = s / m
        v = max(q / m - mu * mu, 0.0)
        mean[c] = shift + mu
        var[c] = v
        inv[c] = 1.0 / np.sqrt(v + eps)
        for a in range(n_a):
            row = y[a, c]
            for j in range(n_b):
                h = _xhat(x, mean, inv, a, c, j)
                if relu:
                    put_relu(row, j, h * w[c] + b[c])
                else:
                    row[j] = h * w[c] + b[c]


@pjit(fastmath=REDUCE_MATH, over=lambda gy, *_: gy.shape[1])
def _channel_backward(gy, x, mean, inv, w, y, relu, gx, gw, gb, need_x):  # pragma: no cover
    n_a, n_c, n_b = gy.shape
    m = n_a * n_b
    for c in prange(n_c):
        sg = 0.0
        sgx = 0.0
        for a in range(n_a):
            for j in range(n_b):
                g = relu_grad(gy[a, c, j], y[a, c, j]) if relu else gy[a, c, j]
                sg += g
                sgx += g * _xhat(x, mean, inv, a, c, j)
        gw[c] = sgx
        gb[c] = sg
        if need_x:
            k = w[c] * inv[c]
            mg, mgx = sg / m, sgx / m
            for a in range(n_a):
                for j in range(n_b):
                    g = relu_grad(gy[a, c, j], y[a, c, j]) if relu else gy[a, c, j]
                    gx[a, c, j] = k * (g - mg - _xhat(x, mean, inv, a, c, j) * mgx)


@pjit(fastmath=REDUCE_MATH, over=lambda x, *_: x.shape[1])
def _feature_forward(x, w, b, eps, y, xhat, mean, var, inv):  # pragma: no cover - compiled
    _, n_r, n_d = x.shape
    for r in prange(n_r):
        shift = np.float64(x[0, r, 0])
        s = 0.0
        q = 0.0
        for j in range(n_d):
            d = np.float64(x[0, r, j]) - shift
            s += d
            q += d * d
        mu = s / n_d
        v = max(q / n_d - mu * mu, 0.0)
        mean[r] = shift + mu
        var[r] = v
        iv = 1.0 / np.sqrt(v + eps)
        inv[r] = iv
        for j in range(n_d):
            h = (x[0, r, j] - mean[r]) * iv
            xhat[0, r, j] = h
            y[0, r, j] = h * w[j] + b[j]


@pjit(fastmath=REDUCE_MATH, over=lambda gy, *_: gy.shape[1])
def _feature_backward_x(gy, xhat, inv, w, gx):  # pragma: no cover - compiled
    _, n_r, n_d = gy.shape
    for r in prange(n_r):
        sg = 0.0
        sgx = 0.0
        for j in range(n_d):
            g = gy[0, r, j] * w[j]
            sg += g
            sgx += g * xhat[0, r, j]
        mg, mgx = sg / n_d, sgx / n_d
        for j in range(n_d):
            gx[0, r, j] = inv[r] * (gy[0, r, j] * w[j] - mg - xhat[0, r, j] * mgx)


def _param(p: Any, size: int, fill: float, dtype: Any) -> Any:
    return np.full(size, fill, dtype=dtype) if p is None else p


# batch norm's ReLU is applied as its kernels write y and read gy
FUSES_RELU = True


def forward(x3: Any, weight: Any, bias: Any, eps: float, layout: str,
            relu: bool = False) -> tuple[Any, Any, Any, Any]:
    """Batch norm ("channel") saves (x3, mean, inv, y or None); layer norm (xhat, inv)."""
    n_a, n_c, n_b = x3.shape
    size = n_c if layout == "channel" else n_b
    w, b = _param(weight, size, 1.0, x3.dtype), _param(bias, size, 0.0, x3.dtype)
    y = scratch(x3.shape, x3.dtype)
    mean, var, inv = (np.empty(n_c, dtype=x3.dtype) for _ in range(3))
    threshold = tuning("MINIDL_PARALLEL_MIN")
    if layout == "channel":
        launch(_channel_forward, x3.size, threshold, x3, w, b, eps, relu, y, mean, var, inv)
        return y, (x3, mean, inv, y if relu else None), mean, var
    xhat = scratch(x3.shape, x3.dtype)
    launch(_feature_forward, x3.size, threshold, x3, w, b, eps, y, xhat, mean, var, inv)
    return y, (xhat, inv.reshape(1, n_c, 1)), mean, var


def backward(gy: Any, saved: Any, weight: Any, layout: str, need_x: bool, need_w: bool,
             need_b: bool) -> tuple[Any, Any, Any]:
    gy = np.ascontiguousarray(gy, dtype=saved[0].dtype)
    n_a, n_c, n_b = gy.shape
    work, threshold = gy.size, tuning("MINIDL_PARALLEL_MIN")
    if layout == "channel":
        x3, mean, inv, y = saved
        w = _param(weight, n_c, 1.0, gy.dtype)
        gx = scratch(gy.shape, gy.dtype) if need_x else np.empty((1, 1, 1), dtype=gy.dtype)
        gw, gb = np.empty(n_c, dtype=gy.dtype), np.empty(n_c, dtype=gy.dtype)
        launch(_channel_backward, work, threshold, gy, x3, mean, inv, w, gy if y is None else y,
               y is not None, gx, gw, gb, need_x)  # gy: a stand-in for y, never read
        return (gx if need_x else None), (gw if need_w else None), (gb if need_b else None)
    xhat, inv = saved
    gx = None
    if need_x:
        gx = scratch(gy.shape, gy.dtype)
        w = _param(weight, n_b, 1.0, gy.dtype)
        launch(_feature_backward_x, work, threshold, gy, xhat, inv.reshape(-1), w, gx)
    rows_gy, rows_xhat = gy.reshape(-1, n_b), xhat.reshape(-1, n_b)
    gw = np.einsum("rd,rd->d", rows_gy, rows_xhat) if need_w else None
    gb = rows_gy.sum(axis=0) if need_b else None
    return gx, gw, gb
