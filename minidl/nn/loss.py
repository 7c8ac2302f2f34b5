"""Loss modules: thin wrappers over the fused loss ops (PyTorch's names and arguments).

Class weights (`weight`, `pos_weight`) are kept as given and passed to the op each call;
they must be on the input's device.
"""
from __future__ import annotations

from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.nn.module import Module
from minidl.ops import loss as L


class _Loss(Module):
    """A loss with a `reduction` ("mean" | "sum" | "none")."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = L.check_reduction(type(self).__name__, reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error; pred and target of the same shape."""

    def forward(self, pred: Tensor, target: Any) -> Tensor:
        return L.mse_loss(pred, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error; input and target of the same shape."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002 - PyTorch's name
        return L.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """PyTorch's smooth L1: quadratic below `beta`, linear above (beta 0: L1)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        if not beta >= 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta}")
        self.beta = float(beta)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return L.smooth_l1_loss(input, target, self.reduction, self.beta)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, beta={self.beta}"


class HuberLoss(_Loss):
    """PyTorch's Huber loss: quadratic below `delta`, delta-scaled linear above."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be > 0, got {delta}")
        self.delta = float(delta)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return L.huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, delta={self.delta}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy: logits (N, C) against class indices (N,) or probabilities
    (N, C); `weight` (C,) class weights, `ignore_index` for index targets."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0, *, weight: Any = None,
                 ignore_index: int = -100) -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], "
                             f"got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.weight, self.ignore_index = weight, int(ignore_index)

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return L.cross_entropy(logits, target, self.reduction, self.label_smoothing,
                               weight=self.weight, ignore_index=self.ignore_index)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.label_smoothing:
            text += f", label_smoothing={self.label_smoothing}"
        if self.ignore_index != -100:
            text += f", ignore_index={self.ignore_index}"
        return text


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,)."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, int(ignore_index)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return L.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1] (logs clamped at -100, as PyTorch)."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return L.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy from the logits (stable); `weight` per element, `pos_weight` per
    class (the last axis) for the positive examples."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return L.binary_cross_entropy_with_logits(input, target, self.reduction, weight=self.weight,
                                                  pos_weight=self.pos_weight)
