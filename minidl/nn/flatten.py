"""Flatten: merge every axis after the batch axis."""
from __future__ import annotations

from minidl.autograd.tensor import Tensor
from minidl.nn.module import Module


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...); the batch axis is kept.

    `start_dim`/`end_dim` choose the merged axes as PyTorch's (defaults 1 and -1).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        nd = x.ndim
        start = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        end = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < nd:
            raise ValueError(f"Flatten: cannot merge axes {self.start_dim}..{self.end_dim} of an "
                             f"input of shape {tuple(x.shape)} (expected (N, ...) with at least "
                             f"{max(self.start_dim, 0) + 1} dimensions)")
        merged = 1
        for n in x.shape[start:end + 1]:
            merged *= n
        return x.reshape(tuple(x.shape[:start]) + (merged,) + tuple(x.shape[end + 1:]))

    def extra_repr(self) -> str:
        if (self.start_dim, self.end_dim) == (1, -1):
            return ""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
