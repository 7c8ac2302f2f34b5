"""The fused LSTM and GRU cells as CuPy kernels, with the contract of
`minidl.kernels.recurrent`.

Shapes: N batch, H hidden size; LSTM z and gates (N, 4H) in gate order i, f, g, o; GRU
xg, hg, gates (N, 3H) in gate order r, z, n. One thread per (n, j) reads the gate
entries of its unit and writes that unit's outputs: no atomics, deterministic. The arithmetic follows the reference term by term
(sigmoid in its tanh form), so the two agree to the rounding of tanh. The route passes
C-contiguous arrays of one dtype, outputs included.
"""
from __future__ import annotations

from typing import Any

from minidl.kernels import _cuda as build

SOURCE = r"""
__device__ __forceinline__ T sigm(T x) { return (T)0.5 * (tanh((T)0.5 * x) + (T)1); }

// gates holds the step's input gates on entry: each thread reads its unit's four, then
// writes the activated gates over them
extern "C" __global__ void lstm_forward(const T* z, const T* bias, const T* c, T* h_new,
                                        T* c_new, T* gates, I total, I H) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I n = t / H, j = t - n * H;
        const I b = n * 4 * H + j;
        const T i = sigm(z[b] + (gates[b] + bias[j])), f = sigm(z[b + H] + (gates[b + H] + bias[j + H]));
        const T g = tanh(z[b + 2 * H] + (gates[b + 2 * H] + bias[j + 2 * H]));
        const T o = sigm(z[b + 3 * H] + (gates[b + 3 * H] + bias[j + 3 * H]));
        gates[b] = i;
        gates[b + H] = f;
        gates[b + 2 * H] = g;
        gates[b + 3 * H] = o;
        const T cn = f * c[t] + i * g;
        c_new[t] = cn;
        h_new[t] = o * tanh(cn);
    }
}

// gd holds the gates on entry and dz on exit; gh or gc may be absent (has_gh / has_gc
// = 0): their pointer is then never read
extern "C" __global__ void lstm_backward(const T* gh, const T* gc, const T* c, const T* c_new,
                                         T* gd, T* dc, I total, I H, int has_gh, int has_gc) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I n = t / H, j = t - n * H;
        const I b = n * 4 * H + j;
        const T i = gd[b], f = gd[b + H], g = gd[b + 2 * H], o = gd[b + 3 * H];
        T d = has_gc ? gc[t] : (T)0;  // the total gradient at c_new
        T dzo = 0;
        if (has_gh) {
            const T tc = tanh(c_new[t]);
            d += gh[t] * o * ((T)1 - tc * tc);
            dzo = gh[t] * tc * o * ((T)1 - o);
        }
        gd[b] = d * g * i * ((T)1 - i);
        gd[b + H] = d * c[t] * f * ((T)1 - f);
        gd[b + 2 * H] = d * i * ((T)1 - g * g);
        gd[b + 3 * H] = dzo;
        dc[t] = d * f;
    }
}

extern "C" __global__ void gru_forward(const T* xg, const T* hg, const T* bias, const T* h,
                                       T* h_new, T* gates, T* hn, I total, I H) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I n_ = t / H, j = t - n_ * H;
        const I b = n_ * 3 * H + j;
        const T r = sigm(xg[b] + (hg[b] + bias[j])), z = sigm(xg[b + H] + (hg[b + H] + bias[j + H]));
        const T hnj = hg[b + 2 * H] + bias[j + 2 * H];
        const T n = tanh(xg[b + 2 * H] + r * hnj);
        gates[b] = r;
        gates[b + H] = z;
        gates[b + 2 * H] = n;
        hn[t] = hnj;
        h_new[t] = (h[t] - n) * z + n;
    }
}

extern "C" __global__ void gru_backward(const T* gh, const T* gates, const T* hn, const T* h,
                                        T* dxg, T* dhg, T* dh, I total, I H) {
    for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (I)blockDim.x * gridDim.x) {
        const I n_ = t / H, j = t - n_ * H;
        const I b = n_ * 3 * H + j;
        const T r = gates[b], z = gates[b + H], n = gates[b + 2 * H], g = gh[t];
        const T dn = g * ((T)1 - z) * ((T)1 - n * n);
        const T dz = g * (h[t] - n) * z * ((T)1 - z);
        const T dr = dn * hn[t] * r * ((T)1 - r);
        dxg[b] = dr;
        dxg[b + H] = dz;
        dxg[b + 2 * H] = dn;
        dhg[b] = dr;
        dhg[b + H] = dz;
        dhg[b + 2 * H] = dn * r;
        dh[t] = g * z;
    }
}
"""


def lstm_cell_forward(z: Any, b: Any, c: Any, h_new: Any, c_new: Any, gates: Any) -> None:
    """Fill h_new, c_new (N, H) and gates (N, 4H) from z + (gates + b) (z, gates (N, 4H) on
    entry the step's input gates, b (4H,)) and c (N, H)."""
    index = build.index_dtype(z.size)
    args = (z, b, c, h_new, c_new, gates) + build.scalars(index, c.size, c.shape[1])
    build.launch(SOURCE, "lstm_forward", z.dtype, index, c.size, args)


def lstm_cell_backward(gh: Any, gc: Any, c: Any, c_new: Any, gd: Any, dc: Any) -> None:
    """Turn gd (N, 4H) from the gates into dz, and fill dc (N, H); gh, gc (N, H) or None (zero)."""
    index = build.index_dtype(gd.size)
    # an absent gradient passes a stand-in pointer the kernel never reads
    args = ((c if gh is None else gh, c if gc is None else gc, c, c_new, gd, dc)
            + build.scalars(index, c.size, c.shape[1])
            + build.scalars("int32", gh is not None, gc is not None))
    build.launch(SOURCE, "lstm_backward", gd.dtype, index, c.size, args)


def gru_cell_forward(xg: Any, hg: Any, b_hh: Any, h: Any, h_new: Any, gates: Any, hn: Any) -> None:
    """Fill h_new, hn (N, H) and gates (N, 3H) from xg, hg (N, 3H), b_hh (3H,) and h (N, H)."""
    index = build.index_dtype(xg.size)
    args = (xg, hg, b_hh, h, h_new, gates, hn) + build.scalars(index, h.size, h.shape[1])
    build.launch(SOURCE, "gru_forward", xg.dtype, index, h.size, args)


def gru_cell_backward(gh: Any, gates: Any, hn: Any, h: Any, dxg: Any, dhg: Any, dh: Any) -> None:
    """Fill dxg, dhg (N, 3H) and dh (N, H) from gh (N, H) and the forward's saved arrays."""
    index = build.index_dtype(gates.size)
    args = (gh, gates, hn, h, dxg, dhg, dh) + build.scalars(index, h.size, h.shape[1])
    build.launch(SOURCE, "gru_backward", gates.dtype, index, h.size, args)
