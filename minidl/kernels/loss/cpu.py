"""Numba softmax cross-entropy for class-index targets: the contract of
`minidl.kernels.loss`, one pass over the logits each way (probability targets run the
reference). Rows are short (K classes), so this saves NumPy call overhead more than
arithmetic. `saved` is the reference's: (probs, target, label_smoothing, None).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.kernels._numba import jit

@jit
def _forward(logits, target, ls, loss, probs):  # pragma: no cover - compiled
    n, k = logits.shape
    bad = -1
    for b in range(n):
        row, pr = logits[b], probs[b]
        t = target[b]
        if t < 0 or t >= k:
            bad = b
            continue
        top = row[0]
        for j in range(1, k):
            top = max(top, row[j])
        total = row.dtype.type(0)
        mean = row.dtype.type(0)
        for j in range(k):
            s = row[j] - top
            e = np.exp(s)
            pr[j] = e
            total += e
            mean += s
        for j in range(k):
            pr[j] = pr[j] / total
        lse = np.log(total)
        nll = lse - (row[t] - top)
        if ls != 0:  # the uniform part: -mean_k log p_k = lse - mean(shifted)
            nll = (1 - ls) * nll + ls * (lse - mean / k)
        loss[b] = nll
    return bad


@jit
def _backward(probs, target, ls, gloss, dz):  # pragma: no cover - compiled
    n, k = probs.shape
    off, hit = probs.dtype.type(ls / k), probs.dtype.type(1 - ls)
    for b in range(n):
        g, t = gloss[b], target[b]
        for j in range(k):
            v = probs[b, j] - off
            if j == t:  # the same rounding steps as the reference
                v -= hit
            dz[b, j] = v * g


def softmax_cross_entropy_forward(logits: np.ndarray, target: np.ndarray, label_smoothing: float,
                                  needs: Any = (True, False)) -> tuple[np.ndarray, Any]:
    """(loss (N,), saved) for int target (N,), as the reference."""
    n, _ = logits.shape
    loss = np.empty(n, dtype=logits.dtype)
    probs = np.empty_like(logits)
    bad = _forward(logits, np.ascontiguousarray(target, dtype=np.int64),
                   logits.dtype.type(label_smoothing), loss, probs)
    if bad >= 0:
        raise ValueError(f"cross_entropy: class index {int(target[bad])} of sample {bad} is outside "
                         f"[0, {logits.shape[1]})")
    return loss, (probs, target, label_smoothing, None)


def softmax_cross_entropy_backward(saved: Any, gloss: np.ndarray, needs: Any = (True, False)
                                   ) -> tuple[Any, None]:
    """(d loss / d logits (N, K), None), as the reference (index targets have no gradient)."""
    probs, target, label_smoothing, _ = saved
    if not needs[0]:
        return None, None
    dz = np.empty_like(probs)
    _backward(probs, np.ascontiguousarray(target, dtype=np.int64),
              probs.dtype.type(label_smoothing), gloss, dz)
    return dz, None
