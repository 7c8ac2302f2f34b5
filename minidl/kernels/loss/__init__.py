"""Losses: the fused softmax cross-entropy (routed to fast kernels) and the element-wise
losses (plain array code only: one NumPy/CuPy expression each, nothing to fuse).

Shapes: N batch, K classes. Each forward returns the unreduced loss and `saved`, which
its backward takes with the gradient of that unreduced loss; the ops reduce.
`needs` = (first input needs a gradient, second input needs one); a backward returns
None for an input that needs none.

Contract:
- `softmax_cross_entropy_forward(logits, target, label_smoothing, needs) -> (loss, saved)`:
  logits (N, K) float; target int (N,) class indices in [0, K) or float (N, K) class
  probabilities of logits' dtype; loss (N,) = -sum_k t'_nk log p_nk with p = softmax
  of the logits and t' = (1 - ls) * t + ls / K (t one-hot for indices), as PyTorch.
  Stable for logits of any magnitude (log p is shifted - log sum exp(shifted), never
  the log of a rounded probability).
- `softmax_cross_entropy_backward(saved, gloss, needs) -> (dlogits (N, K), dtarget (N, K))`
  given gloss (N,).
- `mse_forward(pred, target) -> (loss, saved)`, `mse_backward(saved, g, needs)`:
  (pred - target)**2 of any (equal) shape.
- `bce_with_logits_forward(x, t) -> (loss, saved)`, `bce_with_logits_backward(saved, g,
  needs)`: binary cross-entropy of sigmoid(x) against t, from the logits.

Routes: the fused cross-entropy kernels take C-contiguous float arrays of one dtype
(the integer target is part of the contract, not routed); the Numba kernel handles
class-index targets, the CuPy kernels both kinds; a target that needs a gradient (a
probability target being learnt, which needs log p saved) and anything else run the
reference.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

from minidl.kernels import _route
from minidl.kernels.loss import reference
from minidl.kernels.loss.reference import (
    Needs,
    bce_with_logits_backward,
    bce_with_logits_forward,
    is_index,
    mse_backward,
    mse_forward,
)

__all__ = ["bce_with_logits_backward", "bce_with_logits_forward", "mse_backward", "mse_forward",
           "softmax_cross_entropy_backward", "softmax_cross_entropy_forward"]


def _implementation(target: Any, needs: Needs, *arrays: Any) -> ModuleType:
    """The module whose cross-entropy kernels run for these arrays and this target."""
    if needs[1]:  # only the reference computes the gradient of a probability target
        return reference
    where = _route.route(*arrays, None if is_index(target) else target)
    if where == "cpu" and is_index(target):
        from minidl.kernels.loss import cpu  # noqa: PLC0415 - imports Numba

        return cpu
    if where == "gpu":
        from minidl.kernels.loss import gpu  # noqa: PLC0415 - CUDA source only when used

        return gpu
    return reference


def softmax_cross_entropy_forward(logits: Any, target: Any, label_smoothing: float,
                                  needs: Needs = (True, False)) -> tuple[Any, Any]:
    """(loss (N,), saved): softmax cross-entropy per sample, as the contract says."""
    logits, target = _route.contiguous(logits), _route.contiguous(target)
    return _implementation(target, needs, logits).softmax_cross_entropy_forward(
        logits, target, label_smoothing, needs)


def softmax_cross_entropy_backward(saved: Any, gloss: Any, needs: Needs = (True, False)
                                   ) -> tuple[Any, Any]:
    """(d loss / d logits or None, d loss / d target or None) given gloss (N,)."""
    gloss = _route.contiguous(gloss)
    probs, target = saved[0], saved[1]
    return _implementation(target, needs, probs, gloss).softmax_cross_entropy_backward(saved, gloss, needs)
