"""Normalization as Numba kernels: one pass over the data for the statistics, one for the
normalisation; the backward in two passes. See __init__.py for the contract.

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

from minidl.kernels._numba import REDUCE_MATH, launch, pjit
from minidl.kernels._route import tuning
from minidl.kernels._workspace import scratch


@pjit(fastmath=REDUCE_MATH)
def _channel_forward(x, w, b, eps, y, xhat, mean, var, inv):  # pragma: no cover - compiled
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
        iv = 1.0 / np.sqrt(v + eps)
        inv[c] = iv
        for a in range(n_a):
            for j in range(n_b):
                h = (x[a, c, j] - mean[c]) * iv
                xhat[a, c, j] = h
                y[a, c, j] = h * w[c] + b[c]


@pjit(fastmath=REDUCE_MATH)
def _channel_backward(gy, xhat, inv, w, gx, gw, gb, need_x):  # pragma: no cover - compiled
    n_a, n_c, n_b = gy.shape
    m = n_a * n_b
    for c in prange(n_c):
        sg = 0.0
        sgx = 0.0
        for a in range(n_a):
            for j in range(n_b):
                sg += gy[a, c, j]
                sgx += gy[a, c, j] * xhat[a, c, j]
        gw[c] = sgx
        gb[c] = sg
        if need_x:
            k = w[c] * inv[c]
            mg, mgx = sg / m, sgx / m
            for a in range(n_a):
                for j in range(n_b):
                    gx[a, c, j] = k * (gy[a, c, j] - mg - xhat[a, c, j] * mgx)


@pjit(fastmath=REDUCE_MATH)
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


@pjit(fastmath=REDUCE_MATH)
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


def forward(x3: Any, weight: Any, bias: Any, eps: float, layout: str) -> tuple[Any, Any, Any, Any]:
    n_a, n_c, n_b = x3.shape
    size = n_c if layout == "channel" else n_b
    w, b = _param(weight, size, 1.0, x3.dtype), _param(bias, size, 0.0, x3.dtype)
    y, xhat = scratch(x3.shape, x3.dtype), scratch(x3.shape, x3.dtype)
    mean, var, inv = (np.empty(n_c, dtype=x3.dtype) for _ in range(3))
    kernel = _channel_forward if layout == "channel" else _feature_forward
    launch(kernel, x3.size, tuning("MINIDL_PARALLEL_MIN"), x3, w, b, eps, y, xhat, mean, var, inv)
    return y, (xhat, inv.reshape(1, n_c, 1)), mean, var


def backward(gy: Any, saved: Any, weight: Any, layout: str, need_x: bool, need_w: bool,
             need_b: bool) -> tuple[Any, Any, Any]:
    xhat, inv = saved
    gy = np.ascontiguousarray(gy, dtype=xhat.dtype)
    n_a, n_c, n_b = gy.shape
    work, threshold = gy.size, tuning("MINIDL_PARALLEL_MIN")
    if layout == "channel":
        w = _param(weight, n_c, 1.0, gy.dtype)
        gx = scratch(gy.shape, gy.dtype) if need_x else np.empty((1, 1, 1), dtype=gy.dtype)
        gw, gb = np.empty(n_c, dtype=gy.dtype), np.empty(n_c, dtype=gy.dtype)
        launch(_channel_backward, work, threshold, gy, xhat, inv.reshape(-1), w, gx, gw, gb, need_x)
        return (gx if need_x else None), (gw if need_w else None), (gb if need_b else None)
    gx = None
    if need_x:
        gx = scratch(gy.shape, gy.dtype)
        w = _param(weight, n_b, 1.0, gy.dtype)
        launch(_feature_backward_x, work, threshold, gy, xhat, inv.reshape(-1), w, gx)
    rows_gy, rows_xhat = gy.reshape(-1, n_b), xhat.reshape(-1, n_b)
    gw = np.einsum("rd,rd->d", rows_gy, rows_xhat) if need_w else None
    gb = rows_gy.sum(axis=0) if need_b else None
    return gx, gw, gb
