"""Activation layers: thin modules over the activation ops."""
from __future__ import annotations

from minidl.autograd.tensor import Tensor
from minidl.nn.module import Module
from minidl.ops import activation as A


class ReLU(Module):
    """max(x, 0), element-wise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return A.relu(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), element-wise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return A.sigmoid(x)


class Tanh(Module):
    """tanh(x), element-wise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return A.tanh(x)


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `axis` (stable); any shape."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return A.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
