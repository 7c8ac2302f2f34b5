"""The fused LSTM cell (one graph node per time step for all the gate math) and the
fused LSTM layer (one graph node for a whole sequence, built on the same cell kernels).

Shapes: N batch, T time steps, H hidden size; z (N, 4H) pre-activations in gate order
i, f, g, o.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd.function import Function
from minidl.backend import array_module
from minidl.kernels.recurrent import lstm_cell_backward, lstm_cell_forward


class LSTMCell(Function):
    """(z, c) -> (h_new, c_new): i, f, g, o, c' and h' in one element-wise op; keeps the
    kernel's `saved` for the backward."""

    def forward(self, z: Any, c: Any) -> tuple[Any, Any]:
        if z.ndim != 2 or c.ndim != 2 or z.shape != (c.shape[0], 4 * c.shape[1]):
            raise ValueError(f"LSTMCell: expected z (N, 4H) and c (N, H), got z {z.shape} "
                             f"and c {c.shape}")
        h_new, c_new, saved = lstm_cell_forward(z, c)
        self.saved = saved if any(self.needs_input_grad) else None
        return h_new, c_new

    def backward(self, gh: Any, gc: Any) -> tuple[Any, Any]:
        dz, dc = lstm_cell_backward(self.saved, gh, gc)
        return dz, (dc if self.needs_input_grad[1] else None)


def lstm_cell(z: Any, c: Any) -> tuple[Any, Any]:
    """One LSTM step from pre-activations z (N, 4H) and cell state c (N, H).

    Returns (h_new, c_new), each (N, H): i, f, o = sigmoid, g = tanh of the four
    quarters of z; c_new = f*c + i*g; h_new = o*tanh(c_new).
    """
    return LSTMCell()(z, c)


class LSTMLayer(Function):
    """A whole LSTM layer over time as ONE graph node: (xz, w_hh[, h0][, c0]) ->
    (out, h_T, c_T).

    xz holds x_t @ W_ih + b for every step: (T, N, 4H) when time_axis == 0, else
    (N, T, 4H); w_hh (H, 4H); h0, c0 (N, H) optional (zeros when absent); out has
    xz's layout with H features. Per step it runs z = xz_t + h @ w_hh and the fused
    cell, writing every step's h, c and gates into (T + 1, N, .) buffers; the backward
    walks the steps in reverse and then forms the gradient of w_hh as ONE product over
    all steps, where separate per-step ops need T small products, T - 1 additions and
    3T graph nodes. Time-major xz (time_axis 0) keeps every step's rows contiguous.
    """

    def __init__(self, time_axis: int, has_h0: bool, has_c0: bool) -> None:
        self.time_axis, self.has_h0, self.has_c0 = time_axis, has_h0, has_c0

    def _step(self, a: Any, t: int) -> Any:
        return a[t] if self.time_axis == 0 else a[:, t]

    def forward(self, xz: Any, w_hh: Any, *state: Any) -> tuple[Any, Any, Any]:
        xp = array_module(xz)
        t_len, h_dim = xz.shape[self.time_axis], w_hh.shape[0]
        n = xz.shape[1 - self.time_axis]
        hs = xp.empty((t_len + 1, n, h_dim), dtype=xz.dtype)  # h_0 .. h_T
        cs = xp.empty((t_len + 1, n, h_dim), dtype=xz.dtype)  # c_0 .. c_T
        gates = xp.empty((t_len, n, 4 * h_dim), dtype=xz.dtype)
        hs[0] = state[0] if self.has_h0 else 0
        cs[0] = state[-1] if self.has_c0 else 0
        z = xp.empty((n, 4 * h_dim), dtype=xz.dtype)  # reused every step
        saved = []
        for t in range(t_len):
            if t == 0 and not self.has_h0:  # a zero initial h contributes nothing
                z[...] = self._step(xz, 0)
            else:
                xp.matmul(hs[t], w_hh, out=z)
                z += self._step(xz, t)
            saved.append(lstm_cell_forward(z, cs[t], out=(hs[t + 1], cs[t + 1], gates[t]))[2])
        if any(self.needs_input_grad):  # each step's saved holds views of these buffers
            self.hs, self.saved, self.w_hh = hs, saved, w_hh
        out = hs[1:] if self.time_axis == 0 else hs[1:].transpose(1, 0, 2)
        return out, hs[t_len], cs[t_len]

    def backward(self, g_out: Any, g_h: Any, g_c: Any) -> tuple[Any, ...]:
        xp = array_module(g_out)
        t_len, n, h_dim = len(self.saved), self.hs.shape[1], self.w_hh.shape[0]
        w_hh_t = xp.ascontiguousarray(self.w_hh.T)
        dz_all = xp.empty((t_len, n, 4 * h_dim), dtype=self.hs.dtype)  # time-major
        dh = xp.empty((n, h_dim), dtype=dz_all.dtype)
        dcs = (xp.empty_like(dh), xp.empty_like(dh))  # alternate: never read and write one
        need_h0 = self.has_h0 and self.needs_input_grad[2]
        dh[...] = g_h
        dc = g_c
        # an unused output sequence (a classifier on h_T) arrives as zeros: skip T additions
        out_used = bool(g_out.any()) if xp is np else True
        for t in reversed(range(t_len)):
            if out_used:
                dh += self._step(g_out, t)
            _, dc = lstm_cell_backward(self.saved[t], dh, dc, out=(dz_all[t], dcs[t % 2]))
            if t > 0 or need_h0:
                xp.matmul(dz_all[t], w_hh_t, out=dh)
        gxz = None
        if self.needs_input_grad[0]:
            gxz = dz_all if self.time_axis == 0 else dz_all.transpose(1, 0, 2)
        gw = None
        if self.needs_input_grad[1]:  # sum over steps of h_{t-1}^T dz_t, as one product
            first = 0 if self.has_h0 else 1  # a zero h_0 adds nothing
            gw = (self.hs[first:t_len].reshape(-1, h_dim).T
                  @ dz_all[first:].reshape(-1, 4 * h_dim))
        grads = [gxz, gw]
        if self.has_h0:
            grads.append(dh if need_h0 else None)
        if self.has_c0:
            grads.append(dc if self.needs_input_grad[-1] else None)
        return tuple(grads)


def lstm_layer(xz: Any, w_hh: Any, h0: Any = None, c0: Any = None,
               time_axis: int = 0) -> tuple[Any, Any, Any]:
    """Run one LSTM layer over a sequence from precomputed input gates.

    xz (T, N, 4H) (time_axis=0, the fast layout) or (N, T, 4H) (time_axis=1) = x @ W_ih + b;
    w_hh (H, 4H); h0, c0 (N, H) or None (zeros). Returns (out, h_T, c_T): out in xz's
    layout with H features (every step's h), h_T and c_T (N, H).
    """
    if time_axis not in (0, 1) or xz.ndim != 3 or w_hh.ndim != 2 or xz.shape[2] != w_hh.shape[1] \
            or w_hh.shape[1] != 4 * w_hh.shape[0] or xz.shape[time_axis] == 0:
        raise ValueError(f"lstm_layer: expected xz (T, N, 4H) or (N, T, 4H) with T >= 1 and "
                         f"w_hh (H, 4H), got xz {tuple(xz.shape)}, w_hh {tuple(w_hh.shape)}, "
                         f"time_axis {time_axis}")
    state = [s for s in (h0, c0) if s is not None]
    return LSTMLayer(time_axis, h0 is not None, c0 is not None)(xz, w_hh, *state)
