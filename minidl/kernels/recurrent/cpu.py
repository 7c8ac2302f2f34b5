"""Numba LSTM and GRU cells: the contract of `minidl.kernels.recurrent` in one pass each way, on
C-contiguous arrays of one float dtype, writing the caller's output arrays.

float32 uses a rational tanh that LLVM vectorises (a libm call per element is about
40x slower than NumPy's SIMD tanh); its error is below 6 ulp (3.5e-7 relative),
and |tanh| never exceeds 1. float64 calls the exact libm tanh (gradchecks run there).
Sigmoid is 0.5 * (tanh(x / 2) + 1), as in the reference.

Each kernel is one `pjit` source over the rows, started through `launch`: in parallel
from `MINIDL_UPDATE_PARALLEL_MIN` elements of z, on the calling thread below.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange, types
from numba.extending import overload

from minidl.kernels._numba import jit, launch, pjit
from minidl.kernels._route import tuning

# Eigen's float tanh: odd 13th-degree over even 6th-degree polynomial on [-c, c]
_CLAMP = np.float32(7.90531110763549805)
_A1, _A3, _A5 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04), np.float32(1.48572235717979e-05)
_A7, _A9 = np.float32(5.12229709037114e-08), np.float32(-8.60467152213735e-11)
_A11, _A13 = np.float32(2.00018790482477e-13), np.float32(-2.76076847742355e-16)
_B0, _B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
_B4, _B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)


@jit(inline="always")
def _tanh32(x):  # pragma: no cover - compiled
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = x2 * (x2 * (x2 * (x2 * (x2 * (x2 * _A13 + _A11) + _A9) + _A7) + _A5) + _A3) + _A1
    q = x2 * (x2 * (x2 * _B6 + _B4) + _B2) + _B0
    return x * p / q


def _tanh(x):  # pragma: no cover - replaced by the overload in compiled code
    return np.tanh(x)


@overload(_tanh, inline="always")
def _tanh_by_type(x):  # pragma: no cover - compiled
    """Picked when a kernel compiles: the rational tanh for float32, libm's for float64."""
    if x == types.float32:
        return lambda x: _tanh32(x)
    return lambda x: np.tanh(x)


@jit(inline="always")
def _blocks(a, hd):  # pragma: no cover - compiled
    # a row's gate blocks as separate views (the fourth empty in a GRU row): a loop that
    # reads one block of an array and writes another through offsets from one pointer
    # stays scalar (LLVM cannot prove them apart), while separate views get a runtime
    # overlap check and vectorise
    return a[:hd], a[hd:2 * hd], a[2 * hd:3 * hd], a[3 * hd:4 * hd]


@jit(inline="always")
def _fwd_row(z, b, c, h_new, c_new, gates, hd):  # pragma: no cover - compiled
    # gates holds the step's input gates x_t @ W_ih on entry; each loop writes over the
    # entries it reads. Loops with one store each: few enough pointers that LLVM proves
    # them apart and vectorises (one fused loop with five arrays stays scalar)
    one, half = z.dtype.type(1), z.dtype.type(0.5)
    for k in range(2 * hd):  # i, f
        u = np.uintp(k)
        gates[u] = half * (_tanh(half * (z[u] + (gates[u] + b[u]))) + one)
    for k in range(2 * hd, 3 * hd):  # g
        u = np.uintp(k)
        gates[u] = _tanh(z[u] + (gates[u] + b[u]))
    for k in range(3 * hd, 4 * hd):  # o
        u = np.uintp(k)
        gates[u] = half * (_tanh(half * (z[u] + (gates[u] + b[u]))) + one)
    i, f, g, o = _blocks(gates, hd)
    for k in range(hd):
        u = np.uintp(k)
        c_new[u] = f[u] * c[u] + i[u] * g[u]
    for k in range(hd):
        u = np.uintp(k)
        h_new[u] = o[u] * _tanh(c_new[u])


@pjit(over=lambda z, *_: z.shape[0])
def _forward(z, b, c, h_new, c_new, gates):  # pragma: no cover - compiled
    hd = c.shape[1]
    for n in prange(c.shape[0]):
        _fwd_row(z[n], b, c[n], h_new[n], c_new[n], gates[n], hd)


@jit(inline="always")
def _bwd_row(gh, gc, has_gh, has_gc, c, c_new, gd, dc, hd):  # pragma: no cover
    # gd holds the activated gates on entry and dz on exit: each gate's block is written
    # once, after the last read of it (i and g together: each needs the other)
    one = c.dtype.type(1)
    i, f, g, o = _blocks(gd, hd)
    # dc first holds the total gradient at c_new: directly (gc), and through
    # h_new = o * tanh(c_new) (gh)
    if has_gh:
        for k in range(hd):
            u = np.uintp(k)
            tc = _tanh(c_new[u])
            d = gh[u] * o[u] * (one - tc * tc)
            dc[u] = gc[u] + d if has_gc else d
        for k in range(hd):
            u = np.uintp(k)
            tc, ok = _tanh(c_new[u]), o[u]
            o[u] = gh[u] * tc * ok * (one - ok)
    else:
        for k in range(hd):
            u = np.uintp(k)
            o[u] = 0
            dc[u] = gc[u] if has_gc else 0
    for k in range(hd):
        u = np.uintp(k)
        ik, gk, d = i[u], g[u], dc[u]
        i[u] = d * gk * ik * (one - ik)
        g[u] = d * ik * (one - gk * gk)
    for k in range(hd):
        u = np.uintp(k)
        fk, d = f[u], dc[u]
        f[u] = d * c[u] * fk * (one - fk)
        dc[u] = d * fk


@pjit(over=lambda gh, gc, has_gh, has_gc, c, *_: c.shape[0])
def _backward(gh, gc, has_gh, has_gc, c, c_new, gd, dc):  # pragma: no cover
    hd = c.shape[1]
    for n in prange(c.shape[0]):
        _bwd_row(gh[n], gc[n], has_gh, has_gc, c[n], c_new[n], gd[n], dc[n], hd)


def lstm_cell_forward(z: np.ndarray, b: np.ndarray, c: np.ndarray, h_new: np.ndarray,
                      c_new: np.ndarray, gates: np.ndarray) -> None:
    """Fill h_new, c_new (N, H) and gates (N, 4H) from z + (gates + b) (z, gates (N, 4H) on
    entry the step's input gates, b (4H,)) and c (N, H)."""
    launch(_forward, z.size, tuning("MINIDL_UPDATE_PARALLEL_MIN"), z, b, c, h_new, c_new, gates)


def lstm_cell_backward(gh: Any, gc: Any, c: np.ndarray, c_new: np.ndarray, gd: np.ndarray,
                       dc: np.ndarray) -> None:
    """Turn gd (N, 4H) from the gates into dz, and fill dc (N, H); gh, gc (N, H) or None (zero)."""
    has_gh, has_gc = gh is not None, gc is not None
    launch(_backward, gd.size, tuning("MINIDL_UPDATE_PARALLEL_MIN"),
           gh if has_gh else c, gc if has_gc else c,  # c: a stand-in, never read
           has_gh, has_gc, c, c_new, gd, dc)


@jit(inline="always")
def _gru_fwd_row(xg, hg, b, h, h_new, gates, hn, hd):  # pragma: no cover - compiled
    one, half = xg.dtype.type(1), xg.dtype.type(0.5)
    r, z, n, _ = _blocks(gates, hd)
    hg_n, b_n, xg_n = hg[2 * hd:], b[2 * hd:], xg[2 * hd:]
    for k in range(2 * hd):  # r, z
        u = np.uintp(k)
        gates[u] = half * (_tanh(half * (xg[u] + (hg[u] + b[u]))) + one)
    for k in range(hd):
        u = np.uintp(k)
        hn[u] = hg_n[u] + b_n[u]
    for k in range(hd):
        u = np.uintp(k)
        n[u] = _tanh(xg_n[u] + r[u] * hn[u])
    for k in range(hd):
        u = np.uintp(k)
        h_new[u] = (h[u] - n[u]) * z[u] + n[u]


@pjit(over=lambda xg, *_: xg.shape[0])
def _gru_forward(xg, hg, b, h, h_new, gates, hn):  # pragma: no cover - compiled
    hd = h.shape[1]
    for i in prange(h.shape[0]):
        _gru_fwd_row(xg[i], hg[i], b, h[i], h_new[i], gates[i], hn[i], hd)


@jit(inline="always")
def _gru_bwd_row(gh, gates, hn, h, dxg, dhg, dh, hd):  # pragma: no cover - compiled
    one = h.dtype.type(1)
    r, z, n, _ = _blocks(gates, hd)
    dr, dz, dn, _ = _blocks(dxg, hd)
    dhg_n = dhg[2 * hd:]
    for k in range(hd):  # at n's pre-activation
        u = np.uintp(k)
        dn[u] = gh[u] * (one - z[u]) * (one - n[u] * n[u])
    for k in range(hd):
        u = np.uintp(k)
        dz[u] = gh[u] * (h[u] - n[u]) * z[u] * (one - z[u])
    for k in range(hd):
        u = np.uintp(k)
        dr[u] = dn[u] * hn[u] * r[u] * (one - r[u])
    for k in range(2 * hd):  # r and z enter through the sum xg + hg
        u = np.uintp(k)
        dhg[u] = dxg[u]
    for k in range(hd):
        u = np.uintp(k)
        dhg_n[u] = dn[u] * r[u]
    for k in range(hd):
        u = np.uintp(k)
        dh[u] = gh[u] * z[u]


@pjit(over=lambda gh, gates, *_: gates.shape[0])
def _gru_backward(gh, gates, hn, h, dxg, dhg, dh):  # pragma: no cover - compiled
    hd = h.shape[1]
    for b in prange(h.shape[0]):
        _gru_bwd_row(gh[b], gates[b], hn[b], h[b], dxg[b], dhg[b], dh[b], hd)


def gru_cell_forward(xg: np.ndarray, hg: np.ndarray, b_hh: np.ndarray, h: np.ndarray,
                     h_new: np.ndarray, gates: np.ndarray, hn: np.ndarray) -> None:
    """Fill h_new, hn (N, H) and gates (N, 3H) from xg, hg (N, 3H), b_hh (3H,) and h (N, H)."""
    launch(_gru_forward, xg.size, tuning("MINIDL_UPDATE_PARALLEL_MIN"),
           xg, hg, b_hh, h, h_new, gates, hn)


def gru_cell_backward(gh: np.ndarray, gates: np.ndarray, hn: np.ndarray, h: np.ndarray,
                      dxg: np.ndarray, dhg: np.ndarray, dh: np.ndarray) -> None:
    """Fill dxg, dhg (N, 3H) and dh (N, H) from gh (N, H) and the forward's saved arrays."""
    launch(_gru_backward, gates.size, tuning("MINIDL_UPDATE_PARALLEL_MIN"),
           gh, gates, hn, h, dxg, dhg, dh)
