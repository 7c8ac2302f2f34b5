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
(..., L, S). Implementations: reference.py only, on NumPy and CuPy alike (on CuPy it is the
GPU path). A Numba pass for scale + mask + softmax (and the fused softmax backward) was
weighed and left out: in the names_gpt training step (batch 64, mean length 8, d_model 64)
all of attention's kernel work is about 8% of the step and its element-wise part about 5%
(products, GELU, dropout and the optimizer take the rest). `saved` remembers which
implementation ran, as in the other concerns, so one can be added beside it.
"""
from __future__ import annotations

from typing import Any

from minidl.kernels.attention import reference


def _implementation(*arrays: Any) -> Any:
    return reference


def forward(q: Any, k: Any, v: Any, bias: Any, scale: float, keep: Any,
            safe: bool) -> tuple[Any, Any, Any]:
    """(out (..., L, Ev), weights (..., L, S), saved for `backward`)."""
    impl = _implementation(q, k, v, bias, keep)
    out, weights, state = impl.forward(q, k, v, bias, scale, keep, safe)
    return out, weights, (impl, state)


def backward(g_out: Any, g_weights: Any, saved: Any, need_q: bool, need_k: bool,
             need_v: bool) -> tuple[Any, Any, Any]:
    """(gq, gk, gv) of the forward that returned `saved`."""
    impl, state = saved
    return impl.backward(g_out, g_weights, state, need_q, need_k, need_v)
