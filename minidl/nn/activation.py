"""Activation layers: thin modules over the activation ops (any shape in, the same shape out)."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from minidl.autograd.tensor import Tensor
from minidl.nn.module import Module
from minidl.ops import activation as A


class ReLU(Module):
    """max(x, 0), element-wise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return A.relu(x)


def fused_relu_forward(layer: Module, following: Sequence[Module], fusable: tuple[type, ...]
                       ) -> tuple[Callable[[Tensor], Tensor], int] | None:
    """(layer.forward_relu, 1) when the first of `following` is a ReLU that nn.Sequential
    may run inside `layer` (`plain`); else None."""
    if following and plain(layer, fusable) and plain(following[0], (ReLU,)):
        return layer.forward_relu, 1  # type: ignore[attr-defined]
    return None


def plain(layer: Module, classes: tuple[type, ...]) -> bool:
    """`layer` is of exactly one of `classes` (a subclass may compute something else) with
    no forward set on the instance (a wrapper, as summary() sets to record shapes, must
    still run): nn.Sequential may fuse it with its neighbours."""
    return type(layer) in classes and "forward" not in layer.__dict__


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


class LogSoftmax(Module):
    """log(softmax(x)) along `dim` (stable), as PyTorch's LogSoftmax; any shape."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return A.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x, element-wise; any shape."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return A.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x * Phi(x) (Phi the standard normal CDF), element-wise; `approximate` "none" (exact)
    or "tanh" (PyTorch's tanh formula); any shape."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return A.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x), element-wise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return A.silu(x)


class ELU(Module):
    """x where x > 0, else alpha * (exp(x) - 1), element-wise; any shape."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return A.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
