"""Dense (alias Linear): the fully connected layer."""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from minidl import backend as B
from minidl.autograd.tensor import Tensor
from minidl.nn import init
from minidl.nn.activation import fused_relu_forward
from minidl.nn.module import Module, Parameter, floating_input
from minidl.ops.linear import linear, linear_relu


def _check_features(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Dense: {name} must be a positive int, got {value!r}")
    return int(value)


class Dense(Module):
    """y = x @ weight + bias: x (..., in) -> (..., out).

    Parameters: `weight` (in, out) (PyTorch's Linear weight transposed), then `bias`
    (out,) (None when bias=False). Default initialisation: weight ~ U(-1/sqrt(in),
    1/sqrt(in)), i.e. `init.kaiming_uniform_(a=sqrt(5))` exactly as PyTorch's Linear;
    bias zero (PyTorch draws it from the same range; minidl's rule is zero biases).
    float32, on the default backend, from the library RNG (`md.manual_seed`).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = _check_features("in_features", in_features)
        self.out_features = _check_features("out_features", out_features)
        xp = B.module_for(B.get_backend())
        self.weight = Parameter(xp.empty((in_features, out_features), dtype="float32"))
        self.weight.fan_layout = "in_out"
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = Parameter(xp.zeros(out_features, dtype="float32")) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x (..., in), floating (cast to the weight's dtype) -> (..., out)."""
        return linear(self._checked(x), self.weight, self.bias)

    def forward_relu(self, x: Tensor) -> Tensor:
        """relu(self.forward(x)) as one op (nn.Sequential calls it for a Dense followed by a
        ReLU): the same numbers, the product rectified in place."""
        return linear_relu(self._checked(x), self.weight, self.bias)

    def _fused_forward(self, following: Sequence[Module]) -> tuple[Callable[[Tensor], Tensor], int] | None:
        """forward_relu for a plain ReLU after a plain Dense (`fused_relu_forward`)."""
        return fused_relu_forward(self, following, (Dense,))

    def _checked(self, x: Any) -> Tensor:
        x = floating_input("Dense", x, self.weight.dtype)
        shape = tuple(x.shape)
        if not shape or shape[-1] != self.in_features:
            raise ValueError(f"Dense: expected input of shape (..., {self.in_features}), "
                             f"got {shape}")
        return x

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


Linear = Dense
