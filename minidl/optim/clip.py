"""Gradient clipping by the global L2 norm."""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from minidl.autograd.tensor import Tensor
from minidl.backend import array_module


def clip_grad_norm_(params: Iterable[Tensor] | Tensor, max_norm: float) -> float:
    """Scale all gradients by max_norm / (total + 1e-6) when that is below 1, as PyTorch's.

    total is the L2 norm of every gradient taken together (None grads skipped) and is
    returned as a float. Each scaled gradient is a new Tensor: grad arrays may be shared
    between tensors, so none is written in place.
    """
    params = [params] if isinstance(params, Tensor) else list(params)
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real) or not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a number >= 0, got {max_norm!r}")
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0.0
    # summed on the device in float64, then read back once (one host sync, not one per grad)
    total = math.sqrt(float(sum(_sq_norm(p.grad.data).astype("float64") for p in grads)))
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # a NaN total spreads NaN into the grads, as PyTorch
        for p in grads:
            p.grad = Tensor(p.grad.data * coef)
    return total


def _sq_norm(g: object) -> object:
    xp = array_module(g)
    flat = g.ravel()  # type: ignore[attr-defined]
    return xp.vdot(flat, flat).real
