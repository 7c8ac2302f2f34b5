"""Fused softmax cross-entropy as CuPy kernels, with the contract of
`minidl.kernels.loss`.

Shapes: logits (N, K); target int (N,) class indices or float (N, K) probabilities;
loss (N,); probs (N, K). Label smoothing ls: t' = (1 - ls) * t + ls / K.
Forward: one thread per row (max, sum of exponentials, loss and the row of probs),
computed as the reference does it: probs = e / sum e, log p = (z - max) - log(sum e).
A class index outside [0, K) gives a NaN loss rather than reading out of bounds
(checking it on the host would cost a device sync). Backward: one thread per logit for
index targets; one per row for probability targets (it needs the row sum of t').
`saved` is the reference's: (probs, target, label_smoothing, None).
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.kernels import _cuda as build
from minidl.kernels.loss.reference import is_index

SOURCE = r"""
// the row's max m and sum of exp(z - m) (>= 1: the max contributes exp(0))
__device__ void row_softmax_sums(const T* z, I K, T* m_out, T* s_out) {
    T m = z[0];
    for (I k = 1; k < K; ++k) if (z[k] > m) m = z[k];
    T s = 0;
    for (I k = 0; k < K; ++k) s += exp(z[k] - m);
    *m_out = m;
    *s_out = s;
}

extern "C" __global__ void ce_forward_index(const T* logits, const long long* target, T* loss,
                                            T* probs, I N, I K, T ls) {
    for (I n = (I)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (I)blockDim.x * gridDim.x) {
        const T* z = logits + n * K;
        T m, s;
        row_softmax_sums(z, K, &m, &s);
        const T lse = log(s);
        T shifted_sum = 0;
        for (I k = 0; k < K; ++k) {
            probs[n * K + k] = exp(z[k] - m) / s;
            shifted_sum += z[k] - m;
        }
        const long long tk = target[n];
        T l;
        if (tk < 0 || tk >= K) {
            l = (T)nan("");
        } else {
            l = lse - (z[tk] - m);
            // the uniform part of label smoothing: -mean_k log p_k
            if (ls != (T)0) l = ((T)1 - ls) * l + ls * (lse - shifted_sum / (T)K);
        }
        loss[n] = l;
    }
}

extern "C" __global__ void ce_forward_prob(const T* logits, const T* target, T* loss, T* probs,
                                           I N, I K, T ls) {
    for (I n = (I)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (I)blockDim.x * gridDim.x) {
        const T* z = logits + n * K;
        const T* t = target + n * K;
        T m, s;
        row_softmax_sums(z, K, &m, &s);
        const T lse = log(s);
        T acc = 0;
        for (I k = 0; k < K; ++k) {
            probs[n * K + k] = exp(z[k] - m) / s;
            const T tk = ls != (T)0 ? ((T)1 - ls) * t[k] + ls / (T)K : t[k];
            acc += tk * ((z[k] - m) - lse);
        }
        loss[n] = -acc;
    }
}

extern "C" __global__ void ce_backward_index(const T* probs, const long long* target,
                                             const T* gloss, T* dz, I total, I K, T ls) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I n = t / K, k = t - n * K;
        T d = probs[t];
        if (ls != (T)0) d -= ls / (T)K;
        if (target[n] == k) d -= (T)1 - ls;
        dz[t] = d * gloss[n];
    }
}

extern "C" __global__ void ce_backward_prob(const T* probs, const T* target, const T* gloss,
                                            T* dz, I N, I K, T ls) {
    for (I n = (I)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (I)blockDim.x * gridDim.x) {
        const T* t = target + n * K;
        T st = 0;
        for (I k = 0; k < K; ++k) st += ls != (T)0 ? ((T)1 - ls) * t[k] + ls / (T)K : t[k];
        for (I k = 0; k < K; ++k) {
            const T tk = ls != (T)0 ? ((T)1 - ls) * t[k] + ls / (T)K : t[k];
            dz[n * K + k] = (probs[n * K + k] * st - tk) * gloss[n];
        }
    }
}
"""


def softmax_cross_entropy_forward(logits: Any, target: Any, label_smoothing: float,
                                  needs: Any = (True, False)) -> tuple[Any, Any]:
    """(loss (N,), saved) from logits (N, K) and index or probability targets."""
    xp = array_module(logits)
    n, k = logits.shape
    dtype = logits.dtype
    loss = xp.empty((n,), dtype=dtype)
    probs = xp.empty((n, k), dtype=dtype)
    index = build.index_dtype(logits.size)
    if is_index(target):
        name, target = "ce_forward_index", build.contiguous(xp, target, xp.int64)
    else:
        name = "ce_forward_prob"
    args = ((logits, target, loss, probs) + build.scalars(index, n, k)
            + build.scalars(dtype, label_smoothing))
    build.launch(SOURCE, name, dtype, index, n, args)
    return loss, (probs, target, label_smoothing, None)


def softmax_cross_entropy_backward(saved: Any, gloss: Any, needs: Any = (True, False)
                                   ) -> tuple[Any, Any]:
    """(d loss / d logits (N, K) or None, None) given gloss (N,)."""
    probs, target, label_smoothing, _ = saved
    dz = None
    if needs[0]:
        xp = array_module(probs)
        n, k = probs.shape
        dtype = probs.dtype
        dz = xp.empty((n, k), dtype=dtype)
        index = build.index_dtype(probs.size)
        ls = build.scalars(dtype, label_smoothing)
        if is_index(target):
            target = build.contiguous(xp, target, xp.int64)
            args = (probs, target, gloss, dz) + build.scalars(index, dz.size, k) + ls
            build.launch(SOURCE, "ce_backward_index", dtype, index, dz.size, args)
        else:
            args = (probs, target, gloss, dz) + build.scalars(index, n, k) + ls
            build.launch(SOURCE, "ce_backward_prob", dtype, index, n, args)
    return dz, None
