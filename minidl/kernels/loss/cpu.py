"""Numba softmax cross-entropy for class-index targets: the contract of
`minidl.kernels.loss`, one pass over the logits each way (probability targets run the
reference). Rows are short (K classes), so this saves NumPy call overhead more than
arithmetic; for the same reason the kernels also reduce (`REDUCES`): the forward sums
the losses and the mean's divisor as it goes (in float64, rounded once), the backward
takes the reduced loss's gradient. `saved` is the reference's `CrossEntropySaved`
(without log p).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.kernels._numba import jit
from minidl.kernels.loss.reference import CrossEntropySaved, Needs, index_error


REDUCES = True
_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}


@jit
def _forward(logits, target, ls, w, has_w, ignore, reduction, loss, probs, red):  # pragma: no cover - compiled
    """loss (N,) and probs (N, K); red (2,) = the loss reduced as `reduction` says (1 sum,
    2 mean) and the mean's divisor (the summed weights of the samples kept). Returns the
    first sample whose index is out of range, else -1."""
    n, k = logits.shape
    bad = -1
    loss_sum, kept = 0.0, 0.0
    for b in range(n):
        row, pr = logits[b], probs[b]
        t = target[b]
        ignored = t == ignore
        if not ignored and (t < 0 or t >= k):
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
        if ignored:
            loss[b] = 0
            continue
        kept += w[t] if has_w else 1.0
        lse = np.log(total)
        nll = lse - (row[t] - top)
        if not has_w:
            if ls != 0:  # the uniform part: -mean_k log p_k = lse - mean(shifted)
                nll = (1 - ls) * nll + ls * (lse - mean / k)
        else:
            nll = w[t] * nll
            if ls != 0:  # -mean_k w_k log p_k
                uniform = row.dtype.type(0)
                for j in range(k):
                    uniform += w[j] * (lse - (row[j] - top))
                nll = (1 - ls) * nll + ls * (uniform / k)
        loss[b] = nll
        loss_sum += nll
    red[0] = loss_sum
    red[1] = kept
    if reduction == 2:
        red[0] = red[0] / red[1]  # in the loss's dtype, as the reference's mean
    return bad


@jit
def _backward(probs, target, ls, w, has_w, ignore, gloss, stride, div, dz):  # pragma: no cover - compiled
    """dz (N, K) from the loss's gradient: gloss[b * stride] / div for sample b (stride 0
    and div the mean's divisor for a reduced loss)."""
    n, k = probs.shape
    off, hit = probs.dtype.type(ls / k), probs.dtype.type(1 - ls)
    wsum = probs.dtype.type(0)
    if has_w:
        for j in range(k):
            wsum += w[j]
    for b in range(n):
        g, t = gloss[b * stride] / div, target[b]
        if t == ignore:
            for j in range(k):
                dz[b, j] = 0
            continue
        if not has_w:
            for j in range(k):
                v = probs[b, j] - off
                if j == t:  # the same rounding steps as the reference
                    v -= hit
                dz[b, j] = v * g
        else:  # p_k * sum_j t''_j - t''_k, t'' = (1 - ls) w_t [k = t] + ls w_k / K
            wt = w[t]
            scale = hit * wt + ls * wsum / k
            for j in range(k):
                v = probs[b, j] * scale
                if ls != 0:
                    v -= (ls / k) * w[j]
                if j == t:
                    v -= hit * wt
                dz[b, j] = v * g


_NO_WEIGHT = {np.dtype(t): np.zeros(1, t) for t in (np.float32, np.float64)}  # never read


def _weight(weight: Any, like: np.ndarray) -> tuple[np.ndarray, bool]:
    """The class weights as a kernel argument (a 1-element stand-in when there are none)."""
    if weight is None:
        return _NO_WEIGHT[like.dtype], False
    return weight, True


def softmax_cross_entropy_forward(logits: np.ndarray, target: np.ndarray, label_smoothing: float,
                                  needs: Needs = (True, False), weight: Any = None,
                                  ignore_index: int = -100, reduction: str = "none"
                                  ) -> tuple[np.ndarray, CrossEntropySaved]:
    """(loss (N,) or reduced (0-d), saved) for int target (N,), as the reference and the
    route's reduction."""
    n, k = logits.shape
    loss = np.empty(n, dtype=logits.dtype)
    probs = np.empty_like(logits)
    red = np.empty(2, dtype=logits.dtype)
    bad = _forward(logits, np.ascontiguousarray(target, dtype=np.int64), logits.dtype.type(label_smoothing),
                   *_weight(weight, logits), ignore_index, _REDUCTIONS[reduction], loss, probs, red)
    error = index_error("cross_entropy", target, k, ignore_index) if bad >= 0 else None
    if error:
        raise error
    saved = CrossEntropySaved(probs, target, label_smoothing, None, weight, ignore_index, reduction,
                              red[1] if reduction == "mean" else None)
    return (loss if reduction == "none" else red[:1].reshape(())), saved


def softmax_cross_entropy_backward(saved: CrossEntropySaved, gloss: np.ndarray,
                                   needs: Needs = (True, False)) -> tuple[Any, None]:
    """(d loss / d logits (N, K), None), as the reference (index targets have no gradient);
    gloss (N,), or 0-d for a reduced loss."""
    if not needs[0]:
        return None, None
    dz = np.empty_like(saved.probs)
    one = saved.probs.dtype.type(1)
    div = saved.divisor if saved.reduction == "mean" and gloss.ndim == 0 else one
    _backward(saved.probs, np.ascontiguousarray(saved.target, dtype=np.int64),
              saved.probs.dtype.type(saved.label_smoothing), *_weight(saved.weight, saved.probs),
              saved.ignore_index, gloss.reshape(-1), 1 if gloss.ndim else 0, div, dz)
    return dz, None
