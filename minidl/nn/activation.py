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
    """exp(x) / sum(exp(x)) along `axis` (stable); any shape. `dim=` is PyTorch's name
    for `axis` (give one of them)."""

    def __init__(self, axis: int = -1, *, dim: int | None = None) -> None:
        super().__init__()
        if dim is not None and axis != -1 and axis != dim:
            raise TypeError(f"Softmax: got axis={axis} and dim={dim}; give one of them")
        self.axis = axis if dim is None else dim

    def forward(self, x: Tensor) -> Tensor:
        return A.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
