"""Optimizer updates: SGD (momentum, Nesterov, weight decay) and Adam/AdamW, in place.

Contract (every implementation):
- `sgd_update(param, grad, buf, lr, momentum, dampening, nesterov, weight_decay)`:
  g = grad + weight_decay*param; buf = momentum*buf + (1 - dampening)*g;
  param -= lr * (g + momentum*buf if nesterov else buf). `buf` is the momentum buffer
  (param's shape) or None when momentum == 0. PyTorch sets buf = g on the first step:
  the caller gets that by passing a zero buffer and dampening=0 on that step.
- `adam_update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
  weight_decay, decoupled)`: Adam (decoupled=False: g = grad + weight_decay*param) or
  AdamW (decoupled=True: param *= 1 - lr*weight_decay first); m = b1*m + (1-b1)*g;
  v = b2*v + (1-b2)*g*g; with the 1-based `step`,
  param -= lr/(1 - b1**step) * m / (sqrt(v)/sqrt(1 - b2**step) + eps).
- `adam_update_many(params, grads, exp_avgs, exp_avg_sqs, step, lr, beta1, beta2, eps,
  weight_decay, decoupled)`: `adam_update` on each (param, grad, exp_avg, exp_avg_sq) of
  the four equal-length sequences, one step count and hyperparameters for all (an
  optimizer's parameter group). An implementation may update them in few calls (cpu.py:
  up to eight float32 parameters a kernel call); the route runs `adam_update` one by one
  for an implementation that has no `adam_update_many`.
Each updates `param` and the state arrays in place (any shape; grad of param's shape)
and returns None; `grad` is never written. Nothing is saved: an update has no backward.

The fused kernels (cpu.py, gpu.py) make one pass without temporaries (on the CPU, float32
Adam and momentum SGD a second over the elements whose state is subnormal, for Adam only
those a step can change; cpu.py); they update C-contiguous arrays of one float dtype, so
a gradient in another layout is copied first (cheaper than the reference's temporaries);
anything else runs the reference.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from minidl.kernels import _route
from minidl.kernels.optim import reference


def _implementation(*arrays: Any) -> ModuleType:
    """The module whose kernels run for these arrays."""
    where = _route.route(*arrays)
    if where == "cpu":
        from minidl.kernels.optim import cpu  # noqa: PLC0415 - imports Numba

        return cpu
    if where == "gpu":
        from minidl.kernels.optim import gpu  # noqa: PLC0415 - CUDA source only when used

        return gpu
    return reference


def sgd_update(param: Any, grad: Any, buf: Any, lr: float, momentum: float, dampening: float,
               nesterov: bool, weight_decay: float) -> None:
    """One SGD step as PyTorch's, in place on `param` (and `buf`)."""
    grad = _route.contiguous(grad)
    _implementation(param, grad, buf).sgd_update(param, grad, buf, lr, momentum, dampening,
                                                 nesterov, weight_decay)


def adam_update_many(params: Sequence[Any], grads: Sequence[Any], exp_avgs: Sequence[Any],
                     exp_avg_sqs: Sequence[Any], step: int, lr: float, beta1: float, beta2: float,
                     eps: float, weight_decay: float, decoupled: bool) -> None:
    """`adam_update` on every (param, grad, exp_avg, exp_avg_sq), one step count for all;
    each implementation gets its parameters in one list."""
    hyper = (step, lr, beta1, beta2, eps, weight_decay, decoupled)
    items = [(p, _route.contiguous(g), m, v)
             for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True)]
    # one question for a group whose arrays all go one way (the common case), else one each
    one = _implementation(*(a for item in items for a in item))
    batches: dict[ModuleType, list[tuple[Any, ...]]] = {}
    for item in items:
        batches.setdefault(one if one is not reference else _implementation(*item), []).append(item)
    for impl, batch in batches.items():
        if hasattr(impl, "adam_update_many"):
            impl.adam_update_many(*map(list, zip(*batch)), *hyper)
        else:
            for item in batch:
                impl.adam_update(*item, *hyper)


def adam_update(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: int, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool) -> None:
    """One Adam (decoupled=False) or AdamW (decoupled=True) step as PyTorch's, in place."""
    grad = _route.contiguous(grad)
    _implementation(param, grad, exp_avg, exp_avg_sq).adam_update(
        param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay, decoupled)
