"""Losses: the fused softmax cross-entropy (routed to fast kernels), NLL and the
element-wise losses (plain array code only: a few NumPy/CuPy expressions each, nothing
worth a kernel).

Shapes: N batch, K classes. Each forward returns the unreduced loss and `saved`, which
its backward takes with the gradient of that unreduced loss; the ops reduce (a "mean"
over class indices divides by `mean_divisor`: the summed weights of the samples not
ignored, as PyTorch). `needs` = (first input needs a gradient, second input needs one);
a backward returns None for an input that needs none.

Contract:
- `softmax_cross_entropy_forward(logits, target, label_smoothing, needs, weight=None,
  ignore_index=-100) -> (loss, saved)`: logits (N, K) float; target int (N,) class
  indices in [0, K) (or ignore_index: loss 0, no gradient) or float (N, K) class
  probabilities of logits' dtype; weight (K,) class weights or None. With t' =
  (1 - ls) * t + ls / K (t one-hot for indices), loss (N,) = -sum_k w_k t'_nk log p_nk
  for probabilities and (1 - ls) w_y (-log p_ny) + ls/K sum_k w_k (-log p_nk) for an
  index y, p = softmax of the logits: PyTorch's numbers. Stable for logits of any
  magnitude (log p is shifted - log sum exp(shifted), never the log of a rounded
  probability). `saved` is a `CrossEntropySaved`. An index outside [0, K) other than
  ignore_index raises ValueError on the CPU (the CUDA kernels give a NaN loss instead:
  checking would cost a host sync).
- `softmax_cross_entropy_backward(saved, gloss, needs) -> (dlogits (N, K), dtarget (N, K))`
  given gloss (N,).
- The route's two take `reduction` ("none", "sum", "mean") on top: the forward returns
  the loss reduced (`reference.reduced`: a mean over class indices divides by
  `mean_divisor`) and the backward takes the gradient of that. An implementation
  whose module says `REDUCES = True` (cpu.py, which sums as its kernel goes) takes
  `reduction` itself; the others get per-sample losses and gradients.
- `nll_forward(logp, target, weight=None, ignore_index=-100) -> (loss (N,), saved)`,
  `nll_backward(saved, gloss, needs)`: -w_y logp[n, y] of log-probabilities (N, K).
- element-wise, pred and target of one shape, loss of that shape:
  `mse_forward(pred, target)`, `l1_forward(pred, target)`, `smooth_l1_forward(pred,
  target, beta)`, `huber_forward(pred, target, delta)`, `bce_forward(p, t, weight=None)`,
  `bce_with_logits_forward(x, t, weight=None, pos_weight=None)`, each `-> (loss, saved)`,
  and the matching `*_backward(saved, g, needs)`; formulas in reference.py.

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
    CrossEntropySaved,
    Needs,
    bce_backward,
    bce_forward,
    bce_with_logits_backward,
    bce_with_logits_forward,
    expand_loss_grad,
    huber_backward,
    huber_forward,
    index_error,
    is_index,
    l1_backward,
    l1_forward,
    mean_divisor,
    mse_backward,
    mse_forward,
    nll_backward,
    nll_forward,
    reduce_loss,
    smooth_l1_backward,
    smooth_l1_forward,
)

__all__ = ["CrossEntropySaved", "bce_backward", "bce_forward", "bce_with_logits_backward",
           "bce_with_logits_forward", "expand_loss_grad", "huber_backward", "huber_forward",
           "index_error", "l1_backward", "l1_forward", "mean_divisor", "mse_backward",
           "mse_forward", "nll_backward", "nll_forward", "reduce_loss",
           "smooth_l1_backward", "smooth_l1_forward", "softmax_cross_entropy_backward",
           "softmax_cross_entropy_forward"]


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
                                  needs: Needs = (True, False), weight: Any = None,
                                  ignore_index: int = -100, reduction: str = "none"
                                  ) -> tuple[Any, CrossEntropySaved]:
    """(loss, saved): softmax cross-entropy per sample (N,), or its sum or mean (0-d), as
    the contract says."""
    logits, target, weight = _route.contiguous(logits), _route.contiguous(target), _route.contiguous(weight)
    impl = _implementation(target, needs, logits, weight)
    args = (logits, target, label_smoothing, needs, weight, ignore_index)
    if getattr(impl, "REDUCES", False):
        return impl.softmax_cross_entropy_forward(*args, reduction)
    return reference.reduced(*impl.softmax_cross_entropy_forward(*args), reduction)


def softmax_cross_entropy_backward(saved: CrossEntropySaved, gloss: Any, needs: Needs = (True, False)
                                   ) -> tuple[Any, Any]:
    """(d loss / d logits or None, d loss / d target or None) given gloss, the gradient of
    the loss the forward returned."""
    impl = _implementation(saved.target, needs, saved.probs, gloss, saved.weight)
    if not getattr(impl, "REDUCES", False):
        gloss = expand_loss_grad(gloss, saved.probs.shape[:1], saved.reduction, saved.divisor)
    return impl.softmax_cross_entropy_backward(saved, _route.contiguous(gloss), needs)
