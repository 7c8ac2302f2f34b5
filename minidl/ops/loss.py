"""Loss ops, each one fused graph node including its reduction.

Shapes: N batch, K classes. `reduction` is "mean" (over every element, as PyTorch; over
class-index targets, divided by the summed class weights of the samples not ignored),
"sum" or "none" (per-element / per-sample losses). Class weights and pos_weight are
constants of the op (no gradient flows to them, as in PyTorch).
"""
from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.function import Function
from minidl.autograd.grad_mode import is_grad_enabled
from minidl.autograd.tensor import Tensor, tensor
from minidl.kernels import loss as K

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(op: str, reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


class SoftmaxCrossEntropy(Function):
    """Cross-entropy of softmax(logits) against index or probability targets, fused.

    Inputs: logits (N, K), target int (N,) or float (N, K). Output: the reduced loss.
    `weight` (K,) class weights (an array) or None; `ignore_index` for index targets.
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0, weight: Any = None,
                 ignore_index: int = -100) -> None:
        self.reduction, self.label_smoothing = reduction, label_smoothing
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, logits: Any, target: Any) -> Any:
        loss, saved = K.softmax_cross_entropy_forward(logits, target, self.label_smoothing,
                                                      self.needs_input_grad, self.weight,
                                                      self.ignore_index, self.reduction)
        self.saved = saved if any(self.needs_input_grad) else None
        return loss

    def backward(self, gy: Any) -> tuple[Any, Any]:
        return K.softmax_cross_entropy_backward(self.saved, gy, self.needs_input_grad)


class NLL(Function):
    """Negative log-likelihood of log-probabilities (N, K) at class indices (N,), reduced;
    `weight` and `ignore_index` as SoftmaxCrossEntropy's."""

    def __init__(self, reduction: str = "mean", weight: Any = None, ignore_index: int = -100) -> None:
        self.reduction, self.weight, self.ignore_index = reduction, weight, ignore_index

    def forward(self, logp: Any, target: Any) -> Any:
        loss, self.saved = K.nll_forward(logp, target, self.weight, self.ignore_index)
        self.divisor = None
        if self.reduction == "mean":
            self.divisor = K.mean_divisor(target, self.weight, self.ignore_index, loss.dtype)
        return K.reduce_loss(loss, self.reduction, self.divisor)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        gloss = K.expand_loss_grad(gy, (self.saved[0][0],), self.reduction, self.divisor)
        return K.nll_backward(self.saved, gloss, self.needs_input_grad)


class PointwiseLoss(Function):
    """An element-wise loss of (pred, target) of one shape, reduced: the kernel pair
    `forward(pred, target, *params) -> (loss, saved)` and `backward(saved, g, needs)`."""

    def __init__(self, forward: Callable[..., Any], backward: Callable[..., Any], reduction: str,
                 *params: Any) -> None:
        self.kernels, self.reduction, self.params = (forward, backward), reduction, params

    def forward(self, pred: Any, target: Any) -> Any:
        loss, self.saved = self.kernels[0](pred, target, *self.params)
        self.shape = loss.shape
        return K.reduce_loss(loss, self.reduction)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        gloss = K.expand_loss_grad(gy, self.shape, self.reduction)
        return self.kernels[1](self.saved, gloss, self.needs_input_grad)


# ---- wrappers -----------------------------------------------------------------------

def _as_tensor_like(value: Any, ref: Tensor) -> Tensor:
    """A Tensor as is; an array stays on its device (mixing is the op's error); other data
    goes to the reference tensor's device."""
    if isinstance(value, Tensor):
        return value
    return tensor(value, device=None if B.is_array(value) else ref.device)


def _check_floating(op: str, name: str, x: Tensor) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got dtype {x.dtype}")


def _check_same_shape(op: str, pred: Tensor, target: Tensor) -> None:
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"{op}: input and target must have the same shape, got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")


def _pointwise(op: str, pred: Any, target: Any, reduction: str) -> tuple[Tensor, Tensor]:
    """pred and target as Tensors of one shape (pred floating), the reduction checked."""
    check_reduction(op, reduction)
    pred = pred if isinstance(pred, Tensor) else tensor(pred)
    target = _as_tensor_like(target, pred)
    _check_same_shape(op, pred, target)
    return pred, target


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or none) of (pred - target)**2 over every element, as PyTorch."""
    pred, target = _pointwise("mse_loss", pred, target, reduction)
    return PointwiseLoss(K.mse_forward, K.mse_backward, reduction)(pred, target)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002 - PyTorch's name
    """Mean (or sum, or none) of |input - target|, as PyTorch (gradient sign(input - target))."""
    input, target = _pointwise("l1_loss", input, target, reduction)  # noqa: A001
    return PointwiseLoss(K.l1_forward, K.l1_backward, reduction)(input, target)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean",  # noqa: A002
                   beta: float = 1.0) -> Tensor:
    """PyTorch's smooth L1: 0.5 d**2 / beta where |d| < beta, else |d| - 0.5 beta, with
    d = input - target (beta 0: L1)."""
    input, target = _pointwise("smooth_l1_loss", input, target, reduction)  # noqa: A001
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return PointwiseLoss(K.smooth_l1_forward, K.smooth_l1_backward, reduction, float(beta))(input, target)


def huber_loss(input: Any, target: Any, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0) -> Tensor:
    """PyTorch's Huber loss: 0.5 d**2 where |d| < delta, else delta (|d| - 0.5 delta), with
    d = input - target."""
    input, target = _pointwise("huber_loss", input, target, reduction)  # noqa: A001
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return PointwiseLoss(K.huber_forward, K.huber_backward, reduction, float(delta))(input, target)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _constant(op: str, name: str, value: Any, ref: Tensor, shape: tuple[int, ...] | None) -> Any:
    """A weight argument as a raw array of ref's dtype on ref's device, or None. `shape`:
    the exact shape required, or None for any shape broadcasting to ref's."""
    if value is None:
        return None
    t = _as_tensor_like(value, ref)
    if t.requires_grad and is_grad_enabled():
        raise ValueError(f"{op}: {name} must not require a gradient (none is computed for it, "
                         f"as in PyTorch); pass {name}.detach()")
    if t.device != ref.device:
        raise B.DeviceMismatchError(f"{op}: {name} is on {t.device} but the input is on {ref.device}")
    if shape is not None and tuple(t.shape) != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, got {tuple(t.shape)}")
    if shape is None and not _broadcasts_to(tuple(t.shape), tuple(ref.shape)):
        raise ValueError(f"{op}: {name} of shape {tuple(t.shape)} does not broadcast to the "
                         f"input's shape {tuple(ref.shape)}")
    return t.data.astype(ref.dtype, copy=False)


def _check_class_indices(op: str, logits: Tensor, target: Tensor, ignore_index: int, on_host: bool) -> None:
    """target (N,) of class indices in [0, K) (or ignore_index), for logits (N, K); the
    range is checked where `on_host` (on a GPU it costs a host sync)."""
    n, k = logits.shape
    if tuple(target.shape) != (n,):
        hint = " (class probabilities (N, C) must be float)" if target.ndim == 2 else ""
        raise ValueError(f"{op}: class-index target must have shape (N,) = ({n},), "
                         f"got {tuple(target.shape)}{hint}")
    if on_host and (error := K.index_error(op, target.data, k, ignore_index)):
        raise error


def _check_ce_target(logits: Tensor, target: Tensor, ignore_index: int) -> None:
    n, k = logits.shape
    kind = target.dtype.kind
    if kind in "iu":
        # the range: every CPU implementation checks it as it reads the indices; on the
        # GPU a check would cost a host sync every step, so the CUDA kernels give a NaN loss
        _check_class_indices("cross_entropy", logits, target, ignore_index, False)
    elif kind == "f":
        if ignore_index >= 0:  # as PyTorch: a non-negative ignore_index means class indices
            raise ValueError(f"cross_entropy: ignore_index={ignore_index} is not supported for "
                             f"class-probability targets (float, (N, C))")
        if tuple(target.shape) == (n,):
            raise ValueError(f"cross_entropy: a target of shape (N,) must hold integer class "
                             f"indices, got dtype {target.dtype} (cast it with .astype('int64'), "
                             f"or pass class probabilities of shape (N, C) = ({n}, {k}))")
        if tuple(target.shape) != (n, k):
            raise ValueError(f"cross_entropy: a probability target must have shape (N, C) = "
                             f"({n}, {k}), got {tuple(target.shape)}")
    else:
        raise ValueError(f"cross_entropy: target must be integer class indices (N,) or float "
                         f"class probabilities (N, C), got dtype {target.dtype}")


def _logits_2d(op: str, logits: Any, what: str) -> Tensor:
    logits = logits if isinstance(logits, Tensor) else tensor(logits)
    _check_floating(op, what, logits)
    if logits.ndim != 2:
        raise ValueError(f"{op}: {what} must have shape (N, C), got {tuple(logits.shape)}")
    return logits


def cross_entropy(logits: Any, target: Any, reduction: str = "mean", label_smoothing: float = 0.0, *,
                  weight: Any = None, ignore_index: int = -100) -> Tensor:
    """Softmax cross-entropy of logits (N, C) against integer class indices (N,) or class
    probabilities (N, C); log-softmax and NLL fused in one stable op. Label smoothing,
    class `weight` (C,), `ignore_index` (index targets: those samples count for nothing)
    and reductions as PyTorch (the mean over index targets divides by the summed weights
    of the samples not ignored; over probabilities by N)."""
    check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logits = _logits_2d("cross_entropy", logits, "logits")
    target = _as_tensor_like(target, logits)
    ignore_index = operator.index(ignore_index)
    _check_ce_target(logits, target, ignore_index)
    if target.dtype.kind == "f" and target.dtype != logits.dtype:
        target = target.astype(logits.dtype)
    w = _constant("cross_entropy", "weight", weight, logits, (logits.shape[1],))
    return SoftmaxCrossEntropy(reduction, float(label_smoothing), w, ignore_index)(logits, target)


def nll_loss(input: Any, target: Any, weight: Any = None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities input (N, C) (e.g. log_softmax's output)
    at integer class indices target (N,): -weight[y_n] * input[n, y_n], as PyTorch; the
    mean divides by the summed weights of the samples not ignored."""
    check_reduction("nll_loss", reduction)
    logp = _logits_2d("nll_loss", input, "input")
    target = _as_tensor_like(target, logp)
    if target.dtype.kind not in "iu":
        raise ValueError(f"nll_loss: target must hold integer class indices (N,), got dtype {target.dtype}")
    ignore_index = operator.index(ignore_index)
    # no fused kernel turns a bad index into NaN here: checked on every device
    _check_class_indices("nll_loss", logp, target, ignore_index, True)
    w = _constant("nll_loss", "weight", weight, logp, (logp.shape[1],))
    return NLL(reduction, w, ignore_index)(logp, target)


def _binary(op: str, input: Any, target: Any, reduction: str, what: str) -> tuple[Tensor, Tensor]:  # noqa: A002
    """input (floating; called `what`) and target of one shape, target cast to input's dtype."""
    input, target = _pointwise(op, input, target, reduction)  # noqa: A001
    _check_floating(op, what, input)
    if target.dtype != input.dtype:
        target = target.astype(input.dtype)
    return input, target


def binary_cross_entropy(input: Any, target: Any, weight: Any = None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities input in [0, 1] against target of the same
    shape: -weight (t log p + (1 - t) log(1 - p)), each log clamped at -100, as PyTorch.
    Prefer binary_cross_entropy_with_logits (stable from the logits)."""
    p, t = _binary("binary_cross_entropy", input, target, reduction, "input")
    if p.device != "cuda" and p.size:  # on a GPU the check would cost a host sync (NaN propagates)
        for name, x in (("input", p), ("target", t)):
            lo, hi = float(x.data.min()), float(x.data.max())
            if not 0 <= lo <= hi <= 1:
                raise ValueError(f"binary_cross_entropy: {name} values must be in [0, 1], got values "
                                 f"from {lo} to {hi}")
    w = _constant("binary_cross_entropy", "weight", weight, p, None)
    return PointwiseLoss(K.bce_forward, K.bce_backward, reduction, w)(p, t)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean", *,
                                     weight: Any = None, pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1] of the same shape,
    computed from the logits without overflow; `weight` scales each element, `pos_weight`
    the positive examples (broadcast along the last axis: one per class), as PyTorch."""
    x, t = _binary("binary_cross_entropy_with_logits", logits, target, reduction, "logits")
    w = _constant("binary_cross_entropy_with_logits", "weight", weight, x, None)
    pw = _constant("binary_cross_entropy_with_logits", "pos_weight", pos_weight, x, None)
    return PointwiseLoss(K.bce_with_logits_forward, K.bce_with_logits_backward, reduction, w, pw)(x, t)
