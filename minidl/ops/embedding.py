"""Embedding lookup: rows of a weight table picked by integer ids.

Shapes: ids any shape S; weight (num, dim); output S + (dim,).
"""
from __future__ import annotations

from typing import Any

from minidl import backend as B
from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor, tensor
from minidl.backend import array_module
from minidl.kernels import embedding as embedding_kernel


class Embedding(Function):
    """weight[ids]; the gradient scatter-adds into weight, so repeated ids accumulate."""

    fresh_grads = True  # a new table

    def forward(self, ids: Any, weight: Any) -> Any:
        if ids.dtype.kind not in "iu":
            raise ValueError(f"Embedding: ids must be an integer tensor, got dtype {ids.dtype}")
        if weight.ndim != 2:
            raise ValueError(f"Embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                             f"got shape {weight.shape}")
        num = weight.shape[0]
        if B.device_of(ids) == "cuda":
            return self._forward_on_device(ids, weight)
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= num):
            raise ValueError(f"Embedding: ids must lie in [0, {num}) for a table of {num} rows, "
                             f"got values from {int(ids.min())} to {int(ids.max())}")
        if self.needs_input_grad[1]:
            self.ids, self.weight_shape, self.valid = ids, weight.shape, None
        return weight[ids]

    def _forward_on_device(self, ids: Any, weight: Any) -> Any:
        """The GPU lookup: checking the ids on the host would stall every step, and CuPy
        wraps out-of-range indexes silently, so a bad id gives a row of NaN (and no
        gradient) instead of an error, as cross_entropy does with a bad class index."""
        xp = array_module(weight)
        valid = (ids >= 0) & (ids < weight.shape[0])
        safe = xp.where(valid, ids, 0)
        if self.needs_input_grad[1]:
            self.ids, self.weight_shape = safe, weight.shape
            self.valid = valid
        out = weight[safe]
        fill = xp.full((), float("nan") if out.dtype.kind == "f" else 0, dtype=out.dtype)
        return xp.where(valid[..., None], out, fill)

    def backward(self, gy: Any) -> tuple[None, Any]:
        if self.valid is not None:  # bad ids (GPU) add nothing
            gy = array_module(gy).where(self.valid[..., None], gy, 0)
        return None, embedding_kernel.backward(self.ids, gy, self.weight_shape)


def embedding(ids: Any, weight: Any) -> Any:
    """Rows of `weight` (num, dim) at integer `ids` of any shape S -> S + (dim,).

    ids may be a Tensor, an array or a list; non-integer ids raise ValueError, and so do
    out-of-range ids on the CPU (on the GPU they give rows of NaN, with no host read).
    The gradient reaches only `weight`.
    """
    if not isinstance(ids, Tensor):
        device = weight.device if isinstance(weight, Tensor) else None
        ids = tensor(ids, device=device)
    return Embedding()(ids, weight)
