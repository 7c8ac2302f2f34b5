"""The losses in plain array code (NumPy and CuPy alike): what runs with
MINIDL_KERNELS=reference, what gradcheck trusts and what the fused kernels must equal.
Shapes, `saved` and `needs` as in the package docstring.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module

Needs = tuple[bool, bool]


def is_index(target: Any) -> bool:
    """True for integer class-index targets (else float class probabilities)."""
    return target.dtype.kind in "iu"


def _smoothed(target: Any, ls: float, k: int) -> Any:
    """Probability targets with label smoothing: (1 - ls) * t + ls / K."""
    return target if not ls else (1 - ls) * target + ls / k


# ---- softmax cross-entropy ----------------------------------------------------------

def softmax_cross_entropy_forward(logits: Any, target: Any, label_smoothing: float,
                                  needs: Needs = (True, False)) -> tuple[Any, Any]:
    """(loss (N,), saved) with saved = (probs, target, label_smoothing, logp or None)."""
    xp = array_module(logits)
    n, k = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    total = e.sum(axis=1, keepdims=True)  # >= 1: the max element contributes exp(0)
    probs = e / total
    lse = xp.log(total)  # log p = shifted - lse: never log(softmax), finite whenever logits are
    logp = None
    if is_index(target):
        loss = lse[:, 0] - shifted[xp.arange(n), target]
        if label_smoothing:  # the uniform part: -mean_k log p_k
            loss = (1 - label_smoothing) * loss + label_smoothing * (lse[:, 0] - shifted.mean(axis=1))
    else:
        logp = shifted - lse
        loss = -(_smoothed(target, label_smoothing, k) * logp).sum(axis=1)
    return loss, (probs, target, label_smoothing, logp if needs[1] else None)


def softmax_cross_entropy_backward(saved: Any, gloss: Any, needs: Needs = (True, False)
                                   ) -> tuple[Any, Any]:
    """(d/d logits (N, K) or None, d/d target (N, K) or None) given gloss (N,), the gradient
    of each sample's loss.

    d loss_n / d z_nk = p_nk * sum_j t'_nj - t'_nk (sum_j t'_nj = 1 for index targets);
    d loss_n / d t_nk = -(1 - ls) log p_nk (probability targets only)."""
    probs, target, ls, logp = saved
    dz = None
    if needs[0]:
        xp = array_module(probs)
        n, k = probs.shape
        if is_index(target):
            dz = probs.copy()
            if ls:
                dz -= ls / k
            dz[xp.arange(n), target] -= 1 - ls
        else:
            t = _smoothed(target, ls, k)
            dz = probs * t.sum(axis=1, keepdims=True) - t
        dz *= gloss[:, None]
    return dz, (-(1 - ls) * logp * gloss[:, None] if needs[1] else None)


# ---- element-wise losses (any shape; pred and target alike) -------------------------

def mse_forward(pred: Any, target: Any) -> tuple[Any, Any]:
    """((pred - target)**2, saved = pred - target)."""
    diff = pred - target
    return diff * diff, diff


def mse_backward(saved: Any, g: Any, needs: Needs) -> tuple[Any, Any]:
    grad = 2 * saved * g
    return (grad if needs[0] else None), (-grad if needs[1] else None)


def bce_with_logits_forward(x: Any, t: Any) -> tuple[Any, Any]:
    """Binary cross-entropy of sigmoid(x) against t from the logits, without overflow:
    max(x, 0) - x*t + log1p(exp(-|x|)); saved = (x, t)."""
    xp = array_module(x, t)
    return xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x))), (x, t)


def bce_with_logits_backward(saved: Any, g: Any, needs: Needs) -> tuple[Any, Any]:
    """d/dx = (sigmoid(x) - t) * g; d/dt = -x * g."""
    x, t = saved
    gx = gt = None
    if needs[0]:
        xp = array_module(x)
        e = xp.exp(-xp.abs(x))  # sigmoid without overflow, exact in both tails
        sig = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        gx = (sig - t) * g
    if needs[1]:
        gt = -x * g
    return gx, gt
