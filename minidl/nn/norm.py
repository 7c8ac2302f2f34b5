"""Normalization layers: LayerNorm (BatchNorm1D/2D join once modules have buffers)."""
from __future__ import annotations

from typing import Any

from minidl import backend as B
from minidl.autograd.tensor import Tensor
from minidl.nn.module import Module, Parameter
from minidl.ops.norm import layer_norm, normalized_shape_of


class LayerNorm(Module):
    """Normalise each row over its trailing `normalized_shape` (D values): x (..., *shape).

    Parameters (with elementwise_affine): `weight` (ones) and `bias` (zeros, absent with
    bias=False), each of normalized_shape. Biased variance, as PyTorch.
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        self.normalized_shape = normalized_shape_of(normalized_shape, "LayerNorm")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        xp = B.module_for(B.get_backend())
        self.weight = self.bias = None
        if self.elementwise_affine:
            self.weight = Parameter(xp.ones(self.normalized_shape, dtype="float32"))
            if bias:
                self.bias = Parameter(xp.zeros(self.normalized_shape, dtype="float32"))

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
