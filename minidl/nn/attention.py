"""Multi-head attention (PyTorch's nn.MultiheadAttention, weights stored (in, out))."""
from __future__ import annotations

import math
from typing import Any

from minidl import backend as B
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.nn import init
from minidl.nn.linear import Dense
from minidl.nn.module import Module, Parameter
from minidl.ops.attention import add_bias, attention, mask_bias
from minidl.ops.linear import linear


class MultiheadAttention(Module):
    """Attention over `num_heads` heads of size D = E / H: query (N, L, E), key and value
    (N, S, E) (batch_first; (L, E) / (S, E) unbatched) -> (output (N, L, E), weights).

    Parameters: `in_proj_weight` (E, 3E) (PyTorch's (3E, E) transposed: columns q, k, v),
    `in_proj_bias` (3E,), `out_proj` a Dense(E, E). Initialised as PyTorch: Glorot uniform
    in_proj_weight, zero biases, out_proj.weight as a Dense weight. Masks: bool True =
    masked out, float added; `attn_mask` (L, S) or (N*H, L, S); `key_padding_mask` (N, S).
    Weights (N, L, S) averaged over heads (or (N, H, L, S)), after dropout, as PyTorch.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = True) -> None:
        super().__init__()
        if num_heads < 1 or embed_dim < 1 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive "
                             f"multiple of num_heads ({num_heads})")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        xp = B.module_for(B.get_backend())
        e = self.embed_dim
        self.in_proj_weight = Parameter(xp.empty((e, 3 * e), dtype="float32"))
        init.xavier_uniform_(self.in_proj_weight, layout="in_out")
        self.in_proj_bias = Parameter(xp.zeros(3 * e, dtype="float32")) if bias else None
        self.out_proj = Dense(e, e, bias=bias)

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (t.reshape(1, *t.shape) for t in (query, key, value))
        if not self.batch_first:
            query, key, value = (t.transpose(1, 0, 2) for t in (query, key, value))
        self._check(query, key, value)
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal=True is a hint that needs attn_mask "
                               "(the causal mask) too, as in PyTorch")
        q, k, v = self._project(query, key, value)
        bias = self._bias(query, key, attn_mask, key_padding_mask)
        dropout_p = self.dropout if self.training else 0.0
        scale = 1.0 / math.sqrt(self.head_dim)
        if need_weights:
            heads, weights = attention(q, k, v, bias, dropout_p, scale, safe=False, with_weights=True)
            weights = weights.mean(axis=1) if average_attn_weights else weights
        else:
            heads, weights = attention(q, k, v, bias, dropout_p, scale, safe=True,
                                       with_weights=False), None
        n, _, l_q, d = heads.shape
        out = self.out_proj(heads.transpose(0, 2, 1, 3).reshape(n, l_q, self.embed_dim))
        if not self.batch_first:
            out = out.transpose(1, 0, 2)
        if unbatched:
            out = out.reshape(*out.shape[1:])
            weights = None if weights is None else weights.reshape(*weights.shape[1:])
        return out, weights

    def _check(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        e = self.embed_dim
        if query.ndim != 3 or query.shape[-1] != e or key.shape[-1] != e or value.shape[-1] != e \
                or key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"MultiheadAttention: expected query (N, L, {e}) and key, value "
                             f"(N, S, {e}), got {tuple(query.shape)}, {tuple(key.shape)}, "
                             f"{tuple(value.shape)}")

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> list[Tensor]:
        """q, k, v as (N, H, L or S, D): one product when query, key and value are one tensor."""
        e, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:
            n, length, _ = query.shape
            qkv = linear(query, w, b).reshape(n, length, 3, self.num_heads, self.head_dim)
            qkv = qkv.transpose(2, 0, 3, 1, 4)  # (3, N, H, L, D)
            return [qkv[i] for i in range(3)]
        parts = []
        for i, x in enumerate((query, key, value)):
            cols = slice(i * e, (i + 1) * e)
            part = linear(x, w[:, cols], None if b is None else b[cols])
            n, length, _ = x.shape
            parts.append(part.reshape(n, length, self.num_heads, self.head_dim).transpose(0, 2, 1, 3))
        return parts

    def _bias(self, query: Tensor, key: Tensor, attn_mask: Any, key_padding_mask: Any) -> Any:
        """Both masks as one additive bias broadcastable to (N, H, L, S)."""
        n, l_q, s = query.shape[0], query.shape[1], key.shape[1]
        bias = None
        if attn_mask is not None:
            m = mask_bias(attn_mask, query, "masked", "MultiheadAttention attn_mask")
            if m.shape == (l_q, s):
                bias = m
            elif m.shape == (n * self.num_heads, l_q, s):
                bias = m.reshape(n, self.num_heads, l_q, s)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask must be ({l_q}, {s}) or "
                                 f"({n * self.num_heads}, {l_q}, {s}), got {tuple(m.shape)}")
        if key_padding_mask is not None:
            m = mask_bias(key_padding_mask, query, "masked", "MultiheadAttention key_padding_mask")
            if m.shape != (n, s):
                raise ValueError(f"MultiheadAttention: key_padding_mask must be ({n}, {s}), "
                                 f"got {tuple(m.shape)}")
            bias = add_bias(bias, m.reshape(n, 1, 1, s))
        return bias

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"


__all__ = ["MultiheadAttention"]
