"""Optimizer updates in plain array code (NumPy and CuPy alike), in place.

What runs with MINIDL_KERNELS=reference and what the fused kernels must equal. Each
function updates `param` and its state arrays in place and never writes into `grad`
(gradient arrays may be shared between tensors by the autograd engine); it favours
clarity and allocates temporaries.
"""
from __future__ import annotations

import math
from typing import Any

from minidl.backend import array_module


def sgd_update(param: Any, grad: Any, buf: Any, lr: float, momentum: float, dampening: float,
               nesterov: bool, weight_decay: float) -> None:
    """The contract's `sgd_update` (see the package docstring), allocating temporaries."""
    g = grad + weight_decay * param if weight_decay != 0 else grad
    if buf is not None:
        buf *= momentum
        buf += (1.0 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    param -= lr * g


def adam_update(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: int, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool) -> None:
    """The contract's `adam_update` (see the package docstring), allocating temporaries."""
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
