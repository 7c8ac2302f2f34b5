"""nn.Embedding: a trainable lookup table."""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import backend as B
from minidl.nn import init
from minidl.nn.module import Module, Parameter
from minidl.ops.embedding import embedding


class Embedding(Module):
    """Rows of `weight` (num_embeddings, embedding_dim) looked up by integer ids.

    Input: integer ids of any shape S; output S + (embedding_dim,). `weight` is
    initialised N(0, 1), as PyTorch's.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Embedding: {name} must be a positive integer, got {value!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        xp = B.module_for(B.get_backend())
        shape = (self.num_embeddings, self.embedding_dim)
        self.weight = init.normal_(Parameter(xp.empty(shape, dtype=np.float32)))

    def forward(self, ids: Any) -> Any:
        return embedding(ids, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
