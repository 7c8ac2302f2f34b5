"""Dropout layer: inverted dropout while training, the identity in eval mode."""
from __future__ import annotations

from minidl.autograd.tensor import Tensor
from minidl.nn.module import Module
from minidl.ops.dropout import dropout


class Dropout(Module):
    """Zero each element with probability p and scale the rest by 1/(1-p) while
    `self.training`; pass the input through unchanged after `eval()`. Any shape."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
