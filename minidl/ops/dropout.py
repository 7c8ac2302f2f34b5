"""Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p)."""
from __future__ import annotations

from typing import Any

from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor
from minidl.backend.random import derive_seed
from minidl.kernels import dropout as K


class Dropout(Function):
    """y = x * keep / (1 - p), keep ~ Bernoulli(1 - p) drawn by minidl.kernels.dropout from
    a seed the library RNG gives (with p, all the backward needs)."""

    def __init__(self, p: float) -> None:
        self.p = p

    def forward(self, x: Any) -> Any:
        if x.dtype.kind != "f":
            x = x.astype("float32")  # integers drop out as floats (the mask's dtype)
        if self.p >= 1:
            self.saved = None
            return x * 0  # NaN * 0 stays NaN, as PyTorch's x * mask
        y, self.saved = K.forward(x, self.p, derive_seed())
        return y

    def backward(self, gy: Any) -> Any:
        return gy * 0 if self.saved is None else K.backward(gy, self.saved)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout; the identity when not training or p == 0; zeros when p == 1."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not training or p == 0:
        return x
    return Dropout(float(p))(x)
