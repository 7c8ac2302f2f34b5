"""Reference fused softmax cross-entropy (log-softmax and NLL in one pass).

Shapes: logits (N, K); target either int (N,) class indices or float (N, K) class
probabilities; loss (N,) per sample; probs (N, K) softmax of the logits.

Label smoothing ls follows PyTorch: the target becomes t' = (1 - ls) * t + ls / K
(t one-hot for class indices), and loss_n = -sum_k t'_nk * log p_nk. Written with
`xp = array_module(...)` so it also runs on CuPy; a Numba kernel can replace it
behind the same signatures.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.backend.cpu.dispatch import kernels, use_numba
from minidl.backend.gpu import kernels as gpu_kernels, use_cupy


def _is_index(target: Any) -> bool:
    return target.dtype.kind in "iu"


def softmax_cross_entropy_forward(logits: Any, target: Any, label_smoothing: float) -> tuple[Any, Any]:
    """(loss (N,), probs (N, K)); stable for logits of any magnitude."""
    if use_numba(logits) and _is_index(target) and target.ndim == 1:  # one fused Numba pass
        return kernels("loss").softmax_cross_entropy_forward(logits, target, label_smoothing)
    if use_cupy(logits, None if _is_index(target) else target):  # one fused CuPy kernel
        return gpu_kernels("loss").softmax_cross_entropy_forward(logits, target, label_smoothing)
    return softmax_cross_entropy_forward_reference(logits, target, label_smoothing)


def softmax_cross_entropy_forward_reference(logits: Any, target: Any,
                                            label_smoothing: float) -> tuple[Any, Any]:
    """`softmax_cross_entropy_forward` in plain NumPy/CuPy."""
    xp = array_module(logits)
    n, k = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    total = e.sum(axis=1, keepdims=True)  # >= 1: the max element contributes exp(0)
    probs = e / total
    lse = xp.log(total)  # log p = shifted - lse: never log(softmax), finite whenever logits are
    if _is_index(target):
        loss = lse[:, 0] - shifted[xp.arange(n), target]
        if label_smoothing:  # the uniform part: -mean_k log p_k
            loss = (1 - label_smoothing) * loss + label_smoothing * (lse[:, 0] - shifted.mean(axis=1))
    else:
        t = target if not label_smoothing else (1 - label_smoothing) * target + label_smoothing / k
        loss = -(t * (shifted - lse)).sum(axis=1)
    return loss, probs


def softmax_cross_entropy_backward(probs: Any, target: Any, label_smoothing: float,
                                   gloss: Any) -> Any:
    """d loss / d logits (N, K) given gloss (N,) = d(objective)/d loss_n.

    d loss_n / d z_nk = p_nk * sum_j t'_nj - t'_nk (sum_j t'_nj = 1 for index targets).
    """
    if use_numba(probs, gloss) and gloss.dtype == probs.dtype and _is_index(target):
        return kernels("loss").softmax_cross_entropy_backward(probs, target, label_smoothing, gloss)
    if use_cupy(probs, gloss, None if _is_index(target) else target):  # the fused CuPy kernel
        return gpu_kernels("loss").softmax_cross_entropy_backward(probs, target, label_smoothing,
                                                                  gloss)
    return softmax_cross_entropy_backward_reference(probs, target, label_smoothing, gloss)


def softmax_cross_entropy_backward_reference(probs: Any, target: Any, label_smoothing: float,
                                             gloss: Any) -> Any:
    """`softmax_cross_entropy_backward` in plain NumPy/CuPy."""
    xp = array_module(probs)
    n, k = probs.shape
    if _is_index(target):
        dz = probs.copy()
        if label_smoothing:
            dz -= label_smoothing / k
        dz[xp.arange(n), target] -= 1 - label_smoothing
    else:
        t = target if not label_smoothing else (1 - label_smoothing) * target + label_smoothing / k
        dz = probs * t.sum(axis=1, keepdims=True) - t
    dz *= gloss[:, None]
    return dz
