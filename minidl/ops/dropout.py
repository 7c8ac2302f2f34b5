"""Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p)."""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor
from minidl.backend import array_module
from minidl.backend.random import generator


class Dropout(Function):
    """y = x * mask, mask = keep / (1 - p) with keep ~ Bernoulli(1 - p) from the library RNG."""

    def __init__(self, p: float) -> None:
        self.p = p

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        dtype = x.dtype if x.dtype.kind == "f" else "float32"
        if self.p >= 1:
            self.mask = xp.zeros(x.shape, dtype=dtype)
        else:
            # drawn in float32 unless the mask is float64: half the random bits (generators
            # draw float32 or float64 only)
            draw = "float64" if dtype == np.float64 else "float32"
            self.mask = (generator(xp).random(x.shape, dtype=draw) >= self.p).astype(dtype)
            self.mask *= 1.0 / (1.0 - self.p)
        return x * self.mask

    def backward(self, gy: Any) -> Any:
        return gy * self.mask


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout; the identity when not training or p == 0; zeros when p == 1."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not training or p == 0:
        return x
    return Dropout(float(p))(x)
