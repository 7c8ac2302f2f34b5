"""Loss ops, each one fused graph node including its reduction.

Shapes: N batch, K classes. `reduction` is "mean" (over every element, as PyTorch),
"sum" or "none" (per-element / per-sample losses).
"""
from __future__ import annotations

from typing import Any

from minidl import backend as B
from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor, tensor
from minidl.backend import array_module
from minidl.kernels import loss as K

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(op: str, reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _reduce(loss: Any, reduction: str) -> Any:
    xp = array_module(loss)
    if reduction == "mean":
        return xp.asarray(loss.mean())
    if reduction == "sum":
        return xp.asarray(loss.sum())
    return loss


def _expand(gy: Any, shape: tuple[int, ...], reduction: str) -> Any:
    """The gradient of each unreduced loss element, from the gradient of the reduced loss."""
    if reduction == "none":
        return gy
    xp = array_module(gy)
    if reduction == "mean":
        count = 1
        for n in shape:
            count *= n
        gy = gy / max(count, 1)
    return xp.broadcast_to(gy, shape)


class SoftmaxCrossEntropy(Function):
    """Cross-entropy of softmax(logits) against index or probability targets, fused.

    Inputs: logits (N, K), target int (N,) or float (N, K). Output: the reduced loss.
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, logits: Any, target: Any) -> Any:
        loss, saved = K.softmax_cross_entropy_forward(logits, target, self.label_smoothing,
                                                      self.needs_input_grad)
        self.saved = saved if any(self.needs_input_grad) else None
        self.n = logits.shape[0]
        return _reduce(loss, self.reduction)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        gloss = _expand(gy, (self.n,), self.reduction)
        return K.softmax_cross_entropy_backward(self.saved, gloss, self.needs_input_grad)


class MSE(Function):
    """(pred - target)**2, reduced; pred and target of the same shape."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, pred: Any, target: Any) -> Any:
        loss, self.saved = K.mse_forward(pred, target)
        return _reduce(loss, self.reduction)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        return K.mse_backward(self.saved, _expand(gy, self.saved.shape, self.reduction),
                              self.needs_input_grad)


class BCEWithLogits(Function):
    """Binary cross-entropy of sigmoid(x) against t, computed from the logits x stably:
    max(x, 0) - x*t + log1p(exp(-|x|))."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, x: Any, t: Any) -> Any:
        loss, self.saved = K.bce_with_logits_forward(x, t)
        self.shape = x.shape
        return _reduce(loss, self.reduction)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        return K.bce_with_logits_backward(self.saved, _expand(gy, self.shape, self.reduction),
                                          self.needs_input_grad)


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


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or none) of (pred - target)**2 over every element, as PyTorch."""
    check_reduction("mse_loss", reduction)
    pred = pred if isinstance(pred, Tensor) else tensor(pred)
    target = _as_tensor_like(target, pred)
    _check_same_shape("mse_loss", pred, target)
    return MSE(reduction)(pred, target)


def _check_ce_target(logits: Tensor, target: Tensor) -> None:
    n, k = logits.shape
    kind = target.dtype.kind
    if kind in "iu":
        if tuple(target.shape) != (n,):
            hint = " (class probabilities (N, C) must be float)" if target.ndim == 2 else ""
            raise ValueError(f"cross_entropy: class-index target must have shape (N,) = ({n},), "
                             f"got {tuple(target.shape)}{hint}")
        # on the GPU this check would cost a host sync every step: the fused kernel gives a
        # NaN loss for an out-of-range index instead (float32/float64 logits)
        on_device = target.device == "cuda" and logits.dtype.name in ("float32", "float64")
        if n and not on_device and (int(target.data.min()) < 0 or int(target.data.max()) >= k):
            raise ValueError(f"cross_entropy: class indices must be in [0, {k}) for {k} classes, "
                             f"got values from {int(target.data.min())} to {int(target.data.max())}")
    elif kind == "f":
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


def cross_entropy(logits: Any, target: Any, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits (N, C) against integer class indices (N,) or class
    probabilities (N, C); log-softmax and NLL fused in one stable op. Label smoothing and
    reductions as PyTorch (mean over N)."""
    check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logits = logits if isinstance(logits, Tensor) else tensor(logits)
    _check_floating("cross_entropy", "logits", logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {tuple(logits.shape)}")
    target = _as_tensor_like(target, logits)
    _check_ce_target(logits, target)
    if target.dtype.kind == "f" and target.dtype != logits.dtype:
        target = target.astype(logits.dtype)
    return SoftmaxCrossEntropy(reduction, float(label_smoothing))(logits, target)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1] of the same shape,
    computed from the logits without overflow."""
    check_reduction("binary_cross_entropy_with_logits", reduction)
    logits = logits if isinstance(logits, Tensor) else tensor(logits)
    _check_floating("binary_cross_entropy_with_logits", "logits", logits)
    target = _as_tensor_like(target, logits)
    _check_same_shape("binary_cross_entropy_with_logits", logits, target)
    if target.dtype != logits.dtype:
        target = target.astype(logits.dtype)
    return BCEWithLogits(reduction)(logits, target)
