"""Numba optimizer updates: the contract of `minidl.kernels.optim`, one fused pass over
the parameter, in place, with no temporaries (C-contiguous arrays of one float dtype).

The hyperparameters arrive as an array of the parameter's dtype, so a float32 model
rounds them as the NumPy reference does and both give the same bits (the reference
does each element's arithmetic in the same order; Numba does not fuse multiply-adds
unless asked to).

Each kernel is one `pjit` source started through `launch`: in parallel from
`MINIDL_UPDATE_PARALLEL_MIN` elements (measured break-even on 2 cores; an update reads
4 arrays and writes 3), on the calling thread below.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import prange

from minidl.kernels._numba import jit, launch, pjit
from minidl.kernels._route import tuning


@jit(inline="always")
def _adam_one(p, g, m, v, k, h, wd_mode):  # pragma: no cover - compiled
    b1, omb1, b2, omb2, step_size, sqrt_bc2, eps, wd, decay = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    u = np.uintp(k)
    pk, gk = p[u], g[u]
    if wd_mode == 1:  # L2: the decay joins the gradient
        gk = gk + wd * pk
    elif wd_mode == 2:  # decoupled (AdamW)
        pk = pk * decay
    mk = m[u] * b1 + omb1 * gk
    vk = v[u] * b2 + omb2 * gk * gk
    m[u], v[u] = mk, vk
    p[u] = pk - step_size * (mk / (np.sqrt(vk) / sqrt_bc2 + eps))


@pjit
def _adam(p, g, m, v, h, wd_mode):  # pragma: no cover - compiled
    for k in prange(p.size):
        _adam_one(p, g, m, v, k, h, wd_mode)


@jit(inline="always")
def _sgd_one(p, g, buf, k, h, has_buf, nesterov):  # pragma: no cover - compiled
    lr, momentum, omd, wd = h[0], h[1], h[2], h[3]
    u = np.uintp(k)
    gk = g[u]
    if wd != 0:
        gk = gk + wd * p[u]
    if has_buf:
        bk = buf[u] * momentum + omd * gk
        buf[u] = bk
        gk = gk + momentum * bk if nesterov else bk
    p[u] = p[u] - lr * gk


@pjit
def _sgd(p, g, buf, h, has_buf, nesterov):  # pragma: no cover - compiled
    for k in prange(p.size):
        _sgd_one(p, g, buf, k, h, has_buf, nesterov)


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)  # a view: the route passes C-contiguous arrays only


def adam_update(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
                step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                decoupled: bool) -> None:
    """In place, as the reference."""
    # sqrt(1 - b2^t) stays a divisor, as in the reference: multiplying by its rounded
    # reciprocal would differ in the last bit
    h = np.array([beta1, 1.0 - beta1, beta2, 1.0 - beta2, lr / (1.0 - beta1 ** step),
                  math.sqrt(1.0 - beta2 ** step), eps, weight_decay, 1.0 - lr * weight_decay],
                 dtype=param.dtype)
    wd_mode = 0 if weight_decay == 0 else (2 if decoupled else 1)
    launch(_adam, param.size, tuning("MINIDL_UPDATE_PARALLEL_MIN"),
           _flat(param), _flat(grad), _flat(exp_avg), _flat(exp_avg_sq), h, wd_mode)


def sgd_update(param: np.ndarray, grad: np.ndarray, buf: Any, lr: float, momentum: float,
               dampening: float, nesterov: bool, weight_decay: float) -> None:
    """In place, as the reference."""
    h = np.array([lr, momentum, 1.0 - dampening, weight_decay], dtype=param.dtype)
    has_buf = buf is not None
    b = _flat(buf) if has_buf else _flat(param)[:1]  # a stand-in, never written
    launch(_sgd, param.size, tuning("MINIDL_UPDATE_PARALLEL_MIN"),
           _flat(param), _flat(grad), b, h, has_buf, bool(nesterov))
