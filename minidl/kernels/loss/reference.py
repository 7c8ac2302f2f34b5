"""The losses in plain array code (NumPy and CuPy alike): what runs with
MINIDL_KERNELS=reference, what gradcheck trusts and what the fused kernels must equal.
Shapes, `saved` and `needs` as in the package docstring.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minidl.backend import array_module

Needs = tuple[bool, bool]


def is_index(target: Any) -> bool:
    """True for integer class-index targets (else float class probabilities)."""
    return target.dtype.kind in "iu"


# ---- softmax cross-entropy and NLL over class indices -------------------------------

class CrossEntropySaved(NamedTuple):
    """What a cross-entropy forward keeps for its backward (every implementation)."""

    probs: Any  # (N, K) softmax of the logits
    target: Any  # int (N,) or float (N, K), as given
    label_smoothing: float
    logp: Any  # (N, K) log-softmax: only for a target that needs a gradient, else None
    weight: Any  # (K,) class weights, or None
    ignore_index: int
    reduction: str = "none"  # how the loss handed out was reduced
    divisor: Any = None  # a "mean" over class indices: what the sum was divided by


# ---- reductions (every loss op's) ---------------------------------------------------

def reduce_loss(loss: Any, reduction: str, divisor: Any = None) -> Any:
    """The reduced loss; a "mean" divides by `divisor` when given (else the element count)."""
    xp = array_module(loss)
    if reduction == "mean":
        # no samples, or every sample ignored: NaN, as PyTorch (NumPy's mean would also warn)
        with np.errstate(invalid="ignore", divide="ignore"):
            return xp.asarray(loss.sum() / (loss.size if divisor is None else divisor))
    if reduction == "sum":
        return xp.asarray(loss.sum())
    return loss


def expand_loss_grad(gy: Any, shape: tuple[int, ...], reduction: str, divisor: Any = None) -> Any:
    """The gradient of each unreduced loss element, from the gradient of the reduced loss."""
    if reduction == "none":
        return gy
    xp = array_module(gy)
    if reduction == "mean":
        if divisor is None:
            count = 1
            for n in shape:
                count *= n
            divisor = max(count, 1)
        with np.errstate(divide="ignore"):  # a mean over nothing: its samples get no gradient
            gy = gy / divisor
    return xp.broadcast_to(gy, shape)


def reduced(loss: Any, saved: CrossEntropySaved, reduction: str) -> tuple[Any, CrossEntropySaved]:
    """A cross-entropy forward's per-sample loss reduced, and `saved` with what the
    backward needs to expand the reduced loss's gradient."""
    divisor = None
    if reduction == "mean" and is_index(saved.target):
        divisor = mean_divisor(saved.target, saved.weight, saved.ignore_index, loss.dtype)
    return reduce_loss(loss, reduction, divisor), saved._replace(reduction=reduction, divisor=divisor)


def index_error(op: str, target: Any, k: int, ignore_index: int) -> ValueError | None:
    """The error for class indices (N,) outside [0, K) other than ignore_index, or None."""
    if target.size and 0 <= int(target.min()) and int(target.max()) < k:
        return None  # all in range: no mask to build
    data = target[target != ignore_index]
    if data.size and (int(data.min()) < 0 or int(data.max()) >= k):
        return ValueError(f"{op}: class indices must be in [0, {k}) for {k} classes, got values "
                          f"from {int(data.min())} to {int(data.max())}"
                          + ("" if ignore_index < 0 else f" (besides ignore_index={ignore_index})"))
    return None


def kept(target: Any, ignore_index: int) -> tuple[Any, Any]:
    """(keep, safe) for class indices: keep (N,) False where target == ignore_index, and the
    target with those entries replaced by class 0 (a valid index, whose terms are dropped)."""
    keep = target != ignore_index
    return keep, array_module(target).where(keep, target, 0)


def mean_divisor(target: Any, weight: Any, ignore_index: int, dtype: Any) -> Any:
    """The divisor of a "mean" over class-index targets, as PyTorch: the summed weights
    w[target_n] of the samples not ignored (their count without weights); a 0-d array of
    `dtype`, so nothing is read back from a GPU."""
    keep, safe = kept(target, ignore_index)
    if weight is None:
        return keep.sum().astype(dtype)
    return (weight[safe] * keep).sum().astype(dtype)


def softmax_cross_entropy_forward(logits: Any, target: Any, label_smoothing: float,
                                  needs: Needs = (True, False), weight: Any = None,
                                  ignore_index: int = -100) -> tuple[Any, CrossEntropySaved]:
    """(loss (N,), saved); see the package docstring."""
    xp = array_module(logits)
    n, k = logits.shape
    if is_index(target) and (error := index_error("cross_entropy", target, k, ignore_index)):
        raise error
    ls = label_smoothing
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    total = e.sum(axis=1, keepdims=True)  # >= 1: the max element contributes exp(0)
    probs = e / total
    lse = xp.log(total)  # log p = shifted - lse: never log(softmax), finite whenever logits are
    logp = None
    if is_index(target):
        keep, safe = kept(target, ignore_index)
        loss = lse[:, 0] - shifted[xp.arange(n), safe]
        if weight is not None:
            loss = weight[safe] * loss
        if ls:  # the uniform part: -mean_k w_k log p_k
            uniform = (lse[:, 0] - shifted.mean(axis=1) if weight is None
                       else (weight * (lse - shifted)).sum(axis=1) / k)
            loss = (1 - ls) * loss + ls * uniform
        loss = xp.where(keep, loss, 0)
    else:
        logp = shifted - lse
        loss = -(_weighted_target(target, ls, weight) * logp).sum(axis=1)
    return loss, CrossEntropySaved(probs, target, ls, logp if needs[1] else None, weight, ignore_index)


def _weighted_target(target: Any, ls: float, weight: Any) -> Any:
    """Probability targets with label smoothing and class weights: w_k * ((1 - ls) t_k + ls / K)."""
    t = target if not ls else (1 - ls) * target + ls / target.shape[1]
    return t if weight is None else t * weight


def softmax_cross_entropy_backward(saved: CrossEntropySaved, gloss: Any, needs: Needs = (True, False)
                                   ) -> tuple[Any, Any]:
    """(d/d logits (N, K) or None, d/d target (N, K) or None) given gloss (N,), the gradient
    of each sample's loss.

    With t'' the effective target (w * smoothed t; for an index y, t''_k = (1 - ls) w_y [k = y]
    + ls w_k / K): d loss_n / d z_nk = p_nk * sum_j t''_nj - t''_nk, zero for ignored samples;
    d loss_n / d t_nk = -(1 - ls) w_k log p_nk (probability targets only)."""
    probs, target, ls, logp, weight, ignore_index = saved[:6]
    dz = dt = None
    if needs[0]:
        xp = array_module(probs)
        n, k = probs.shape
        if is_index(target):
            keep, safe = kept(target, ignore_index)
            rows = xp.arange(n)
            if weight is None:
                dz = probs.copy()
                if ls:
                    dz -= ls / k
                dz[rows, safe] -= 1 - ls
            else:
                wy = weight[safe]
                dz = probs * ((1 - ls) * wy + ls * weight.sum() / k)[:, None]
                if ls:
                    dz -= (ls / k) * weight
                dz[rows, safe] -= (1 - ls) * wy
            with np.errstate(invalid="ignore"):  # a mean over nothing: gloss is inf, then dropped
                dz *= gloss[:, None]
            dz = xp.where(keep[:, None], dz, 0)
        else:
            t = _weighted_target(target, ls, weight)
            dz = probs * t.sum(axis=1, keepdims=True) - t
            dz *= gloss[:, None]
    if needs[1]:
        dt = -(1 - ls) * logp * gloss[:, None]
        if weight is not None:
            dt *= weight
    return dz, dt


def nll_forward(logp: Any, target: Any, weight: Any = None, ignore_index: int = -100
                ) -> tuple[Any, Any]:
    """The negative log-likelihood -w[y_n] * logp[n, y_n] (N,) of log-probabilities logp (N, K)
    at class indices y (N,); 0 where y_n == ignore_index. saved = (shape, target, weight,
    ignore_index)."""
    xp = array_module(logp)
    keep, safe = kept(target, ignore_index)
    loss = -logp[xp.arange(logp.shape[0]), safe]
    if weight is not None:
        loss = weight[safe] * loss
    return xp.where(keep, loss, 0), (logp.shape, logp.dtype, target, weight, ignore_index)


def nll_backward(saved: Any, gloss: Any, needs: Needs) -> tuple[Any, None]:
    """(d/d logp (N, K), None): -w[y_n] * gloss_n at (n, y_n), zero elsewhere."""
    shape, dtype, target, weight, ignore_index = saved
    if not needs[0]:
        return None, None
    xp = array_module(gloss)
    keep, safe = kept(target, ignore_index)
    g = -gloss if weight is None else -(weight[safe] * gloss)
    d = xp.zeros(shape, dtype=dtype)
    d[xp.arange(shape[0]), safe] = xp.where(keep, g, 0)
    return d, None


# ---- element-wise losses (any shape; pred and target alike) -------------------------
# Each: forward(pred, target, ...) -> (loss of pred's shape, saved);
# backward(saved, g, needs) -> (d/d pred or None, d/d target or None).

def _pair(g: Any, needs: Needs) -> tuple[Any, Any]:
    """(g, -g) for a loss of (pred - target), each only where needed."""
    return (g if needs[0] else None), (-g if needs[1] else None)


def mse_forward(pred: Any, target: Any) -> tuple[Any, Any]:
    """((pred - target)**2, saved = pred - target)."""
    diff = pred - target
    return diff * diff, diff


def mse_backward(saved: Any, g: Any, needs: Needs) -> tuple[Any, Any]:
    return _pair(2 * saved * g, needs)


def l1_forward(pred: Any, target: Any) -> tuple[Any, Any]:
    """(|pred - target|, saved = pred - target)."""
    diff = pred - target
    return array_module(diff).abs(diff), diff


def l1_backward(saved: Any, g: Any, needs: Needs) -> tuple[Any, Any]:
    """sign(pred - target) * g (0 where they are equal, as PyTorch)."""
    return _pair(array_module(saved).sign(saved) * g, needs)


def smooth_l1_forward(pred: Any, target: Any, beta: float) -> tuple[Any, Any]:
    """0.5 d**2 / beta where |d| < beta, else |d| - 0.5 beta (d = pred - target); beta 0 is L1."""
    if beta == 0:
        return l1_forward(pred, target)
    diff = pred - target
    xp = array_module(diff)
    a = xp.abs(diff)
    return xp.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta), (diff, beta)


def smooth_l1_backward(saved: Any, g: Any, needs: Needs) -> tuple[Any, Any]:
    """d / beta inside the quadratic zone, sign(d) outside."""
    if not isinstance(saved, tuple):  # beta 0: L1
        return l1_backward(saved, g, needs)
    diff, beta = saved
    return _pair(array_module(diff).clip(diff / beta, -1, 1) * g, needs)


def huber_forward(pred: Any, target: Any, delta: float) -> tuple[Any, Any]:
    """0.5 d**2 where |d| < delta, else delta (|d| - 0.5 delta) (d = pred - target)."""
    diff = pred - target
    xp = array_module(diff)
    a = xp.abs(diff)
    return xp.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta)), (diff, delta)


def huber_backward(saved: Any, g: Any, needs: Needs) -> tuple[Any, Any]:
    """d inside the quadratic zone, delta * sign(d) outside."""
    diff, delta = saved
    return _pair(array_module(diff).clip(diff, -delta, delta) * g, needs)


def _scaled(a: Any, weight: Any) -> Any:
    return a if weight is None else a * weight


def bce_forward(p: Any, t: Any, weight: Any = None) -> tuple[Any, Any]:
    """Binary cross-entropy of probabilities p against t, as PyTorch: each log clamped at -100,
    -w (t log p + (1 - t) log(1 - p)); saved = (p, t, weight)."""
    xp = array_module(p, t)
    with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
        log_p = xp.maximum(xp.log(p), -100)
        log_q = xp.maximum(xp.log1p(-p), -100)
    return _scaled((t - 1) * log_q - t * log_p, weight), (p, t, weight)


# PyTorch's floor under p (1 - p) in the gradient: 1e-12 as a float32 constant
_BCE_EPS = float(np.float32(1e-12))


def bce_backward(saved: Any, g: Any, needs: Needs) -> tuple[Any, Any]:
    """PyTorch's: d/dp = w (p - t) / max(p (1 - p), eps); d/dt = -w logit(p)."""
    p, t, weight = saved
    xp = array_module(p)
    gp = gt = None
    if needs[0]:
        gp = _scaled(g * (p - t) / xp.maximum((1 - p) * p, _BCE_EPS), weight)
    if needs[1]:
        with np.errstate(divide="ignore"):  # p of 0 or 1: an infinite gradient
            gt = _scaled(-xp.log(p / (1 - p)) * g, weight)
    return gp, gt


def bce_with_logits_forward(x: Any, t: Any, weight: Any = None, pos_weight: Any = None
                            ) -> tuple[Any, Any]:
    """Binary cross-entropy of sigmoid(x) against t from the logits, without overflow:
    max(x, 0) - x*t + log1p(exp(-|x|)); with pos_weight pw (positive examples weighted),
    (1 - t) x + (1 + (pw - 1) t) (max(-x, 0) + log1p(exp(-|x|))); times weight.
    saved = (x, t, weight, pos_weight)."""
    xp = array_module(x, t)
    soft = xp.log1p(xp.exp(-xp.abs(x)))
    if pos_weight is None:
        loss = xp.maximum(x, 0) - x * t + soft
    else:  # -log sigmoid(x) = max(-x, 0) + log1p(exp(-|x|))
        loss = (1 - t) * x + ((pos_weight - 1) * t + 1) * (xp.maximum(-x, 0) + soft)
    return _scaled(loss, weight), (x, t, weight, pos_weight)


def bce_with_logits_backward(saved: Any, g: Any, needs: Needs) -> tuple[Any, Any]:
    """d/dx = (sigmoid(x) - t) g, with pos_weight ((pw t + 1 - t) sigmoid(x) - pw t) g;
    d/dt = -x g, with pos_weight (log(1 - sigmoid(x)) - pw log sigmoid(x)) g; times weight."""
    x, t, weight, pos_weight = saved
    xp = array_module(x)
    gx = gt = None
    if needs[0]:
        e = xp.exp(-xp.abs(x))  # sigmoid without overflow, exact in both tails
        sig = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        if pos_weight is None:
            gx = (sig - t) * g
        else:
            pt = pos_weight * t
            gx = ((pt + 1 - t) * sig - pt) * g
        gx = _scaled(gx, weight)
    if needs[1]:
        if pos_weight is None:
            gt = -x * g
        else:  # log sigmoid(x) = -(max(-x, 0) + s), log(1 - sigmoid(x)) = -(max(x, 0) + s)
            soft = xp.log1p(xp.exp(-xp.abs(x)))
            gt = (pos_weight * (xp.maximum(-x, 0) + soft) - (xp.maximum(x, 0) + soft)) * g
        gt = _scaled(gt, weight)
    return gx, gt
