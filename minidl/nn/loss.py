"""Loss modules: thin wrappers over the fused loss ops."""
from __future__ import annotations

from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.nn.module import Module
from minidl.ops.loss import check_reduction, cross_entropy, mse_loss


class MSELoss(Module):
    """Mean squared error; pred and target of the same shape; reduction "mean"|"sum"|"none"."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction("MSELoss", reduction)

    def forward(self, pred: Tensor, target: Any) -> Tensor:
        return mse_loss(pred, target, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(Module):
    """Softmax cross-entropy: logits (N, C) against class indices (N,) or probabilities (N, C)."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.reduction = check_reduction("CrossEntropyLoss", reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], "
                             f"got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return cross_entropy(logits, target, self.reduction, self.label_smoothing)

    def extra_repr(self) -> str:
        text = f"reduction={self.reduction!r}"
        if self.label_smoothing:
            text += f", label_smoothing={self.label_smoothing}"
        return text
