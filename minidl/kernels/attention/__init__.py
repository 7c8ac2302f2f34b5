"""Scaled dot-product attention: scores, masked softmax and the weighted sum in one kernel
each way, with the softmax backward fused into the scores' gradient.

Contract. q (..., L, E), k (..., S, E), v (..., S, Ev) (leading axes broadcast);
`bias` None or a float array broadcastable to (..., L, S) added to the scaled scores
(masks arrive as 0 / -inf); `keep` None or the dropout multiplier (..., L, S) (0 or
1/(1-p)); `safe`: a row whose scores are all -inf gets zero weights (PyTorch's
scaled_dot_product_attention) instead of NaN (its MultiheadAttention with weights).

- `forward(q, k, v, bias, scale, keep, safe) -> (out, weights, saved)`: weights =
  softmax(q @ k^T * scale + bias) * keep (..., L, S), out = weights @ v (..., L, Ev).
- `backward(g_out, g_weights, saved, need_q, need_k, need_v) -> (gq, gk, gv)`, g_weights
  None when the weights were not used; each gradient None when not needed.

The products go to BLAS (np.matmul / cuBLAS); the element-wise work is a few passes over
(..., L, S) and runs as array code on both backends.
"""
from __future__ import annotations

from minidl.kernels.attention.reference import backward, forward

__all__ = ["backward", "forward"]
