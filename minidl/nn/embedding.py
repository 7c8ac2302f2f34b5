"""nn.Embedding: a trainable lookup table."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.nn import init
from minidl.nn.module import Module, Parameter
from minidl.ops.embedding import embedding
from minidl.ops.math import where


class Embedding(Module):
    """Rows of `weight` (num_embeddings, embedding_dim) looked up by integer ids.

    Input: integer ids of any shape S; output S + (embedding_dim,). `weight` is
    initialised N(0, 1), as PyTorch's. With `padding_idx` (negative counts from the
    end, as PyTorch), that row starts at zero and gets no gradient: the ids it marks
    (padding) read it but never train it.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, padding_idx: int | None = None) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Embedding: {name} must be a positive integer, got {value!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = self._checked_padding(padding_idx)
        xp = B.module_for(B.get_backend())
        shape = (self.num_embeddings, self.embedding_dim)
        self.weight = init.normal_(Parameter(xp.empty(shape, dtype=np.float32)))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def _checked_padding(self, padding_idx: Any) -> int | None:
        if padding_idx is None:
            return None
        n = self.num_embeddings
        if (isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral)
                or not -n <= padding_idx < n):
            raise ValueError(f"Embedding: padding_idx must be an integer in [{-n}, {n}) for "
                             f"{n} embeddings, got {padding_idx!r}")
        return int(padding_idx) % n

    def forward(self, ids: Any) -> Any:
        out = embedding(ids, self.weight)
        if self.padding_idx is None:
            return out
        # padding positions read the row as a constant, so no gradient reaches it
        ids = as_tensor(ids, device=self.weight.device)
        pad_row = Tensor(self.weight.data[self.padding_idx])
        return where((ids == self.padding_idx).unsqueeze(-1), pad_row, out)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else text + f", padding_idx={self.padding_idx}"
