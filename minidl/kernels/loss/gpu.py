"""Fused softmax cross-entropy as CuPy kernels, with the contract of `minidl.kernels.loss`.

Shapes: logits (N, K); target int (N,) class indices or float (N, K) probabilities;
loss (N,); probs (N, K). Label smoothing ls: t' = (1 - ls) * t + ls / K; class weights
w (K,) optional (`has_w` 0: a stand-in pointer never read).
Forward: one thread per row (max, sum of exponentials, loss and the row of probs),
computed as the reference does it: probs = e / sum e, log p = (z - max) - log(sum e).
A class index equal to ignore_index gives loss 0 and no gradient; any other index
outside [0, K) gives a NaN loss rather than reading out of bounds (checking it on the
host would cost a device sync). Backward: one thread per logit for index targets (the
summed weights arrive as a one-element device array: no host read); one per row for
probability targets (it needs the row sum of t''). `saved` is the reference's
`CrossEntropySaved` (without log p).
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.kernels import _cuda as build
from minidl.kernels.loss.reference import CrossEntropySaved, Needs, is_index

SOURCE = r"""
// the row's max m, lse = log(sum of exp(z - m)) (the sum >= 1: the max contributes exp(0)),
// and its softmax written to p
__device__ void row_softmax(const T* z, I K, T* p, T* m_out, T* lse_out) {
    T m = z[0];
    for (I k = 1; k < K; ++k) if (z[k] > m) m = z[k];
    T s = 0;
    for (I k = 0; k < K; ++k) s += exp(z[k] - m);
    for (I k = 0; k < K; ++k) p[k] = exp(z[k] - m) / s;
    *m_out = m;
    *lse_out = log(s);
}

extern "C" __global__ void ce_forward_index(const T* logits, const long long* target, T* loss,
                                            T* probs, I N, I K, T ls, const T* w, int has_w,
                                            long long ignore) {
    for (I n = (I)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (I)blockDim.x * gridDim.x) {
        const T* z = logits + n * K;
        T m, lse;
        row_softmax(z, K, probs + n * K, &m, &lse);
        T shifted_sum = 0;
        for (I k = 0; k < K; ++k) shifted_sum += z[k] - m;
        const long long tk = target[n];
        T l;
        if (tk == ignore) {
            l = 0;
        } else if (tk < 0 || tk >= K) {
            l = (T)nan("");
        } else if (!has_w) {
            l = lse - (z[tk] - m);
            // the uniform part of label smoothing: -mean_k log p_k
            if (ls != (T)0) l = ((T)1 - ls) * l + ls * (lse - shifted_sum / (T)K);
        } else {
            l = w[tk] * (lse - (z[tk] - m));
            if (ls != (T)0) {  // -mean_k w_k log p_k
                T uniform = 0;
                for (I k = 0; k < K; ++k) uniform += w[k] * (lse - (z[k] - m));
                l = ((T)1 - ls) * l + ls * (uniform / (T)K);
            }
        }
        loss[n] = l;
    }
}

// t''_k = w_k * ((1 - ls) t_k + ls / K): the weighted, smoothed probability target
__device__ __forceinline__ T prob_target(const T* t, const T* w, int has_w, I k, I K, T ls) {
    const T tk = ls != (T)0 ? ((T)1 - ls) * t[k] + ls / (T)K : t[k];
    return has_w ? tk * w[k] : tk;
}

extern "C" __global__ void ce_forward_prob(const T* logits, const T* target, T* loss, T* probs,
                                           I N, I K, T ls, const T* w, int has_w) {
    for (I n = (I)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (I)blockDim.x * gridDim.x) {
        const T* z = logits + n * K;
        const T* t = target + n * K;
        T m, lse;
        row_softmax(z, K, probs + n * K, &m, &lse);
        T acc = 0;
        for (I k = 0; k < K; ++k) acc += prob_target(t, w, has_w, k, K, ls) * ((z[k] - m) - lse);
        loss[n] = -acc;
    }
}

// wsum: the summed class weights (one element, read only when has_w)
extern "C" __global__ void ce_backward_index(const T* probs, const long long* target,
                                             const T* gloss, T* dz, I total, I K, T ls,
                                             const T* w, const T* wsum, int has_w,
                                             long long ignore) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I n = t / K, k = t - n * K;
        const long long y = target[n];
        if (y == ignore) {  // no gradient, whatever gloss holds (a mean over nothing: inf)
            dz[t] = 0;
            continue;
        }
        if (y < 0 || y >= K) {  // the loss is NaN too; never read w out of bounds
            dz[t] = (T)nan("");
            continue;
        }
        T d;
        if (!has_w) {
            d = probs[t];
            if (ls != (T)0) d -= ls / (T)K;
            if (y == k) d -= (T)1 - ls;
        } else {  // p_k * sum_j t''_j - t''_k, t'' = (1 - ls) w_y [k = y] + ls w_k / K
            const T wy = w[y];
            d = probs[t] * (((T)1 - ls) * wy + ls * wsum[0] / (T)K);
            if (ls != (T)0) d -= (ls / (T)K) * w[k];
            if (y == k) d -= ((T)1 - ls) * wy;
        }
        dz[t] = d * gloss[n];
    }
}

extern "C" __global__ void ce_backward_prob(const T* probs, const T* target, const T* gloss,
                                            T* dz, I N, I K, T ls, const T* w, int has_w) {
    for (I n = (I)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (I)blockDim.x * gridDim.x) {
        const T* t = target + n * K;
        T st = 0;
        for (I k = 0; k < K; ++k) st += prob_target(t, w, has_w, k, K, ls);
        for (I k = 0; k < K; ++k) {
            dz[n * K + k] = (probs[n * K + k] * st - prob_target(t, w, has_w, k, K, ls)) * gloss[n];
        }
    }
}
"""


def _weight(weight: Any, like: Any) -> tuple[Any, Any]:
    """(weights or a stand-in, has_w as a kernel int)."""
    if weight is None:
        return like, build.scalars("int32", 0)[0]
    return weight, build.scalars("int32", 1)[0]


def softmax_cross_entropy_forward(logits: Any, target: Any, label_smoothing: float,
                                  needs: Needs = (True, False), weight: Any = None,
                                  ignore_index: int = -100) -> tuple[Any, CrossEntropySaved]:
    """(loss (N,), saved) from logits (N, K) and index or probability targets."""
    xp = array_module(logits)
    n, k = logits.shape
    dtype = logits.dtype
    loss = xp.empty((n,), dtype=dtype)
    probs = xp.empty((n, k), dtype=dtype)
    index = build.index_dtype(logits.size)
    head = build.scalars(index, n, k) + build.scalars(dtype, label_smoothing) + _weight(weight, logits)
    if is_index(target):
        target = build.contiguous(xp, target, xp.int64)
        args = (logits, target, loss, probs) + head + build.scalars("int64", ignore_index)
        build.launch(SOURCE, "ce_forward_index", dtype, index, n, args)
    else:
        build.launch(SOURCE, "ce_forward_prob", dtype, index, n, (logits, target, loss, probs) + head)
    return loss, CrossEntropySaved(probs, target, label_smoothing, None, weight, ignore_index)


def softmax_cross_entropy_backward(saved: CrossEntropySaved, gloss: Any, needs: Needs = (True, False)
                                   ) -> tuple[Any, None]:
    """(d loss / d logits (N, K) or None, None) given gloss (N,)."""
    if not needs[0]:
        return None, None
    probs, target, weight = saved.probs, saved.target, saved.weight
    xp = array_module(probs)
    n, k = probs.shape
    dtype = probs.dtype
    dz = xp.empty((n, k), dtype=dtype)
    index = build.index_dtype(probs.size)
    ls = build.scalars(dtype, saved.label_smoothing)
    w, has_w = _weight(weight, probs)
    if is_index(target):
        target = build.contiguous(xp, target, xp.int64)
        wsum = probs if weight is None else weight.sum(keepdims=True)  # stays on the device
        args = ((probs, target, gloss, dz) + build.scalars(index, dz.size, k) + ls
                + (w, wsum, has_w) + build.scalars("int64", saved.ignore_index))
        build.launch(SOURCE, "ce_backward_index", dtype, index, dz.size, args)
    else:
        args = (probs, target, gloss, dz) + build.scalars(index, n, k) + ls + (w, has_w)
        build.launch(SOURCE, "ce_backward_prob", dtype, index, n, args)
    return dz, None
