"""Optimizer updates: plain NumPy/CuPy references, in place on raw arrays.

Each function updates `param` and its state arrays in place and never writes into
`grad` (gradient arrays may be shared between tensors by the autograd engine).
The references favour clarity and allocate temporaries; a fast kernel goes behind
the same signature. They take their array module from the inputs, so they also run
on CuPy arrays.
"""
from __future__ import annotations

import math
from typing import Any

from minidl.backend import array_module
from minidl.backend.cpu.dispatch import kernels, use_numba
from minidl.backend.gpu import kernels as gpu_kernels, use_cupy


def sgd_update(param: Any, grad: Any, buf: Any, lr: float, momentum: float, dampening: float,
               nesterov: bool, weight_decay: float) -> None:
    """One SGD step as PyTorch's, in place on `param` (and `buf`).

    g = grad + weight_decay*param; buf = momentum*buf + (1 - dampening)*g;
    param -= lr * (g + momentum*buf if nesterov else buf).
    `buf` is the momentum buffer (param's shape) or None when momentum == 0. PyTorch sets
    buf = g on the first step: the caller gets that by passing a zero buffer and
    dampening=0 on that step.
    """
    if _numba_ok(param, grad, buf):  # the fused Numba kernel: one pass, no temporaries
        kernels("optim").sgd_update(param, grad, buf, lr, momentum, dampening, nesterov, weight_decay)
        return
    if use_cupy(param, grad, buf):  # the fused CuPy kernel: one pass, no temporaries
        gpu_kernels("optim").sgd_update(param, grad, buf, lr, momentum, dampening, nesterov,
                                        weight_decay)
        return
    sgd_update_reference(param, grad, buf, lr, momentum, dampening, nesterov, weight_decay)


def sgd_update_reference(param: Any, grad: Any, buf: Any, lr: float, momentum: float,
                         dampening: float, nesterov: bool, weight_decay: float) -> None:
    """`sgd_update` in plain NumPy/CuPy (allocates temporaries)."""
    g = grad + weight_decay * param if weight_decay != 0 else grad
    if buf is not None:
        buf *= momentum
        buf += (1.0 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    param -= lr * g


def adam_update(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: int, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool) -> None:
    """One Adam (decoupled=False) or AdamW (decoupled=True) step as PyTorch's, in place.

    Adam: g = grad + weight_decay*param. AdamW: param *= 1 - lr*weight_decay first.
    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; with the 1-based `step`,
    param -= lr/(1 - b1**step) * m / (sqrt(v)/sqrt(1 - b2**step) + eps).
    """
    if _numba_ok(param, grad, exp_avg, exp_avg_sq):  # the fused Numba kernel
        kernels("optim").adam_update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
                                     weight_decay, decoupled)
        return
    if use_cupy(param, grad, exp_avg, exp_avg_sq):  # the fused CuPy kernel
        gpu_kernels("optim").adam_update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2,
                                         eps, weight_decay, decoupled)
        return
    adam_update_reference(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
                          weight_decay, decoupled)


def adam_update_reference(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: int,
                          lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                          decoupled: bool) -> None:
    """`adam_update` in plain NumPy/CuPy (allocates temporaries)."""
    g = grad
    if weight_decay != 0:
        if decoupled:
            param *= 1.0 - lr * weight_decay
        else:
            g = grad + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1.0 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * g * g
    step_size = lr / (1.0 - beta1 ** step)
    xp = array_module(param)
    denom = xp.sqrt(exp_avg_sq) / math.sqrt(1.0 - beta2 ** step) + eps
    param -= step_size * (exp_avg / denom)


def _numba_ok(param: Any, grad: Any, *state: Any) -> bool:
    """The Numba kernels update flat views in place: NumPy arrays of one float dtype, the
    parameter and its state C-contiguous (any gradient layout)."""
    arrays = [a for a in (param, grad, *state) if a is not None]
    return (use_numba(*arrays) and all(a.dtype == param.dtype for a in arrays)
            and all(a.flags.c_contiguous for a in (param, *state) if a is not None))
