"""Fused SGD and Adam/AdamW updates as CuPy kernels, with the contract of
`minidl.backend.cpu.optim`: one pass over the parameter, in place, no temporaries.

Each thread owns one element of param and its state. Scalars are combined on the host
in double, exactly as the reference does, then passed in the parameter's dtype, so the
kernel rounds like the reference step by step. `grad` is only read (it may be shared
with other tensors, or be a broadcast view: it is made contiguous first). A param or
state array that is not C-contiguous is updated through a contiguous copy, written back.
"""
from __future__ import annotations

import math
from typing import Any

from collections.abc import Iterator
from contextlib import contextmanager

from minidl.backend import array_module
from minidl.kernels import _cuda as build

SOURCE = r"""
extern "C" __global__ void sgd_update(T* p, const T* grad, T* buf, I total, T lr, T momentum,
                                      T one_minus_dampening, T wd, int has_buf, int nesterov) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        T g = grad[t];
        if (wd != (T)0) g = g + wd * p[t];
        if (has_buf) {
            const T b = buf[t] * momentum + one_minus_dampening * g;
            buf[t] = b;
            g = nesterov ? g + momentum * b : b;
        }
        p[t] = p[t] - lr * g;
    }
}

extern "C" __global__ void adam_update(T* p, const T* grad, T* m, T* v, I total, T b1,
                                       T one_minus_b1, T b2, T one_minus_b2, T step_size,
                                       T sqrt_bc2, T eps, T wd, T decay, int decoupled) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        T pt = p[t];
        T g = grad[t];
        if (wd != (T)0) {
            if (decoupled) pt = pt * decay;
            else g = g + wd * pt;
        }
        const T mt = m[t] * b1 + one_minus_b1 * g;
        const T vt = v[t] * b2 + one_minus_b2 * g * g;
        m[t] = mt;
        v[t] = vt;
        p[t] = pt - step_size * (mt / (sqrt(vt) / sqrt_bc2 + eps));
    }
}
"""


@contextmanager
def _contiguous(xp: Any, *arrays: Any) -> Iterator[list[Any]]:
    """C-contiguous stand-ins for arrays updated in place, copied back afterwards if needed."""
    work = [a if a is None or a.flags.c_contiguous else xp.ascontiguousarray(a) for a in arrays]
    yield work
    for a, w in zip(arrays, work):
        if w is not a:
            a[...] = w


def sgd_update(param: Any, grad: Any, buf: Any, lr: float, momentum: float, dampening: float,
               nesterov: bool, weight_decay: float) -> None:
    """One SGD step as PyTorch's, in place on `param` (and the momentum buffer `buf`)."""
    xp = array_module(param)
    grad = build.contiguous(xp, xp.broadcast_to(grad, param.shape), param.dtype)
    index = build.index_dtype(param.size)
    with _contiguous(xp, param, buf) as (p, b):
        args = ((p, grad, p if b is None else b) + build.scalars(index, p.size)
                + build.scalars(p.dtype, lr, momentum, 1.0 - dampening, weight_decay)
                + build.scalars("int32", b is not None, bool(nesterov)))
        build.launch(SOURCE, "sgd_update", p.dtype, index, p.size, args)


def adam_update(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: int, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool) -> None:
    """One Adam (decoupled=False) or AdamW (decoupled=True) step as PyTorch's, in place."""
    xp = array_module(param)
    grad = build.contiguous(xp, xp.broadcast_to(grad, param.shape), param.dtype)
    index = build.index_dtype(param.size)
    step_size = lr / (1.0 - beta1 ** step)
    sqrt_bc2 = math.sqrt(1.0 - beta2 ** step)
    with _contiguous(xp, param, exp_avg, exp_avg_sq) as (p, m, v):
        args = ((p, grad, m, v) + build.scalars(index, p.size)
                + build.scalars(p.dtype, beta1, 1.0 - beta1, beta2, 1.0 - beta2, step_size,
                                sqrt_bc2, eps, weight_decay, 1.0 - lr * weight_decay)
                + build.scalars("int32", bool(decoupled)))
        build.launch(SOURCE, "adam_update", p.dtype, index, p.size, args)
