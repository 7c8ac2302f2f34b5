"""Scaled dot-product attention in plain array code (NumPy and CuPy alike).

Shapes: q (..., L, E), k (..., S, E), v (..., S, Ev), scores and weights (..., L, S).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.backend import array_module


def _t(a: Any) -> Any:
    return a.swapaxes(-1, -2)


def forward(q: Any, k: Any, v: Any, bias: Any, scale: float, keep: Any,
            safe: bool) -> tuple[Any, Any, Any]:
    xp = array_module(q)
    s = xp.matmul(q, _t(k))
    s *= scale
    if bias is not None:
        s = s + bias  # may broadcast the scores up to the mask's batch shape
    top = s.max(axis=-1, keepdims=True)
    dead = None
    if safe:
        dead = top == -xp.inf  # every key masked out: zero weights, not 0/0
        top[dead] = 0
    with np.errstate(invalid="ignore"):  # unsafe: -inf - -inf is the NaN PyTorch gives too
        s -= top
    p = xp.exp(s, out=s)
    total = p.sum(axis=-1, keepdims=True)
    if dead is not None:
        total[dead] = 1
    p /= total
    weights = p if keep is None else p * keep
    out = xp.matmul(weights, v)
    return out, weights, (q, k, v, p, keep, scale)


def backward(g_out: Any, g_weights: Any, saved: Any, need_q: bool, need_k: bool,
             need_v: bool) -> tuple[Any, Any, Any]:
    xp = array_module(g_out)
    q, k, v, p, keep, scale = saved
    gv = xp.matmul(_t(p if keep is None else p * keep), g_out) if need_v else None
    if not (need_q or need_k):
        return None, None, gv
    gw = xp.matmul(g_out, _t(v))
    if g_weights is not None:
        gw += g_weights
    if keep is not None:
        gw *= keep
    # softmax backward, fused: gs = p * (gw - sum(gw * p)), then the scale of the scores
    gs = gw
    gs -= (gw * p).sum(axis=-1, keepdims=True)
    gs *= p
    gs *= scale
    gq = xp.matmul(gs, k) if need_q else None
    gk = xp.matmul(_t(gs), q) if need_k else None
    return gq, gk, gv
