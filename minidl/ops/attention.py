"""Scaled dot-product attention as one graph node (F.scaled_dot_product_attention), and
the mask handling shared with nn.MultiheadAttention.

Shapes: q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev); masks broadcast to
(..., L, S). L: query length, S: key length, E: embedding size per head.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.backend import array_module
from minidl.backend.random import derive_seed
from minidl.kernels import attention as K
from minidl.kernels import dropout as dropout_kernel


class Attention(Function):
    """softmax(q @ k^T * scale + bias) [* dropout] @ v; outputs (out, weights) when
    `with_weights`, else out. `bias` and `keep` are constants of this call."""

    def __init__(self, bias: Any, scale: float, keep: Any, safe: bool, with_weights: bool) -> None:
        self.bias, self.scale, self.keep = bias, scale, keep
        self.safe, self.with_weights = safe, with_weights

    def forward(self, q: Any, k: Any, v: Any) -> Any:
        out, weights, saved = K.forward(q, k, v, self.bias, self.scale, self.keep, self.safe)
        self.bias = self.keep = None
        self.saved = saved if any(self.needs_input_grad) else None
        return (out, weights) if self.with_weights else out

    def backward(self, g_out: Any, g_weights: Any = None) -> tuple[Any, Any, Any]:
        need = self.needs_input_grad
        return K.backward(g_out, g_weights, self.saved, *need)


def mask_bias(mask: Any, like: Tensor, true_means: str, what: str) -> Any:
    """A mask as an additive bias array in `like`'s dtype: a bool mask becomes 0 / -inf
    (`true_means` "attend" or "masked"), a float mask is added as it is."""
    data = mask.data if isinstance(mask, Tensor) else mask
    xp = array_module(like.data)
    data = xp.asarray(data)
    if data.dtype == np.bool_:
        blocked = ~data if true_means == "attend" else data
        return xp.where(blocked, -xp.inf, 0).astype(like.dtype)
    if data.dtype.kind != "f":
        raise TypeError(f"{what}: expected a bool or float mask, got dtype {data.dtype}")
    return data.astype(like.dtype, copy=False)


def add_bias(a: Any, b: Any) -> Any:
    return b if a is None else (a if b is None else a + b)


def causal_bias(length: int, source: int, like: Tensor) -> Any:
    """0 on and below the diagonal, -inf above: (L, S), aligned at the top left (PyTorch)."""
    xp = array_module(like.data)
    future = xp.triu(xp.ones((length, source), dtype=bool), k=1)
    return xp.where(future, -xp.inf, 0).astype(like.dtype)


def dropout_keep(shape: tuple[int, ...], p: float, like: Tensor) -> Any:
    """The inverted-dropout multiplier (0 or 1/(1-p)): dropout's mask (minidl.kernels.dropout)
    applied to ones, from a seed the library RNG gives."""
    ones = array_module(like.data).ones(shape, dtype=like.dtype)
    return dropout_kernel.forward(ones, p, derive_seed())[0]


def attention(q: Tensor, k: Tensor, v: Tensor, bias: Any, dropout_p: float, scale: float,
              safe: bool, with_weights: bool) -> Any:
    """The op behind F.scaled_dot_product_attention and nn.MultiheadAttention."""
    keep = None
    if dropout_p > 0:
        scores = np.broadcast_shapes(q.shape[:-1], k.shape[:-2] + (1,)) + (k.shape[-2],)
        if bias is not None:
            scores = np.broadcast_shapes(scores, bias.shape)
        keep = dropout_keep(scores, dropout_p, q) if dropout_p < 1 else \
            array_module(q.data).zeros(scores, dtype=q.dtype)
    return Attention(bias, scale, keep, safe, with_weights)(q, k, v)


def _check(q: Tensor, k: Tensor, v: Tensor, dropout_p: float) -> None:
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention: expected q (..., L, E), k (..., S, E), "
                         f"v (..., S, Ev), got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: q and k need the same E and k and v the "
                         f"same S, got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p!r}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dtype.kind != "f":
            raise TypeError(f"scaled_dot_product_attention: {name} must be floating, got {t.dtype}")


def scaled_dot_product_attention(q: Any, k: Any, v: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v, as PyTorch: q (..., L, E), k (..., S, E),
    v (..., S, Ev) -> (..., L, Ev). `attn_mask` bool (True = attend) or float (added),
    broadcastable to (..., L, S); `is_causal` masks keys after each query (no attn_mask
    then); `scale` defaults to 1/sqrt(E); `dropout_p` drops attention weights (always
    applied when > 0, as PyTorch's function). A query whose keys are all masked gets zeros."""
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    _check(q, k, v, dropout_p)
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, not both")
    bias = None
    if attn_mask is not None:
        bias = mask_bias(attn_mask, q, "attend", "scaled_dot_product_attention")
    elif is_causal:
        bias = causal_bias(q.shape[-2], k.shape[-2], q)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return attention(q, k, v, bias, float(dropout_p), scale, safe=True, with_weights=False)
