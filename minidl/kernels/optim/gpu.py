"""Fused SGD and Adam/AdamW updates as CuPy kernels, with the contract of
`minidl.kernels.optim`: one pass over the parameter, in place, no temporaries.

Each thread owns one element of param and its state. Scalars are combined on the host
in double, exactly as the reference does, then passed in the parameter's dtype, so the
kernel rounds like the reference step by step. The route passes C-contiguous arrays
of one dtype only; `grad` is only read.
"""
from __future__ import annotations

import math
from typing import Any

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


def sgd_update(param: Any, grad: Any, buf: Any, lr: float, momentum: float, dampening: float,
               nesterov: bool, weight_decay: float) -> None:
    """One SGD step as PyTorch's, in place on `param` (and the momentum buffer `buf`)."""
    index = build.index_dtype(param.size)
    args = ((param, grad, param if buf is None else buf) + build.scalars(index, param.size)
            + build.scalars(param.dtype, lr, momentum, 1.0 - dampening, weight_decay)
            + build.scalars("int32", buf is not None, bool(nesterov)))
    build.launch(SOURCE, "sgd_update", param.dtype, index, param.size, args)


def adam_update(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: int, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool) -> None:
    """One Adam (decoupled=False) or AdamW (decoupled=True) step as PyTorch's, in place."""
    index = build.index_dtype(param.size)
    step_size = lr / (1.0 - beta1 ** step)
    sqrt_bc2 = math.sqrt(1.0 - beta2 ** step)
    args = ((param, grad, exp_avg, exp_avg_sq) + build.scalars(index, param.size)
            + build.scalars(param.dtype, beta1, 1.0 - beta1, beta2, 1.0 - beta2, step_size,
                            sqrt_bc2, eps, weight_decay, 1.0 - lr * weight_decay)
            + build.scalars("int32", bool(decoupled)))
    build.launch(SOURCE, "adam_update", param.dtype, index, param.size, args)
