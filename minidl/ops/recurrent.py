"""The fused LSTM cell (one graph node per time step for all the gate math) and the
fused LSTM and GRU layers (one graph node for a whole sequence, built on the cell kernels).

Shapes: N batch, T time steps, H hidden size; z (N, 4H) LSTM pre-activations in gate
order i, f, g, o; GRU gate order r, z, n (3H).
"""
from __future__ import annotations

from typing import Any

from minidl.autograd.function import Function
from minidl.backend import array_module
from minidl.kernels import _route
from minidl.kernels._workspace import scratch
from minidl.kernels.recurrent import (gru_cell_backward, gru_cell_forward, lstm_cell_backward,
                                      lstm_cell_forward, lstm_step_kernels)
from minidl.ops.linear import sum_rows


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


class _Scan(Function):
    """A recurrence over the steps of a sequence, in time order or reversed.

    Inputs and outputs are (T, N, F) when time_axis == 0, else (N, T, F); step s reads
    time index s, or T - 1 - s when `reverse`. Buffers are kept in step order."""

    # states' gradients are new arrays, the others products or views of workspace arrays
    fresh_grads = True
    # an unused output's gradient arrives as None (a classifier on h_T: no zeros for the
    # output sequence, and no T additions of them)
    materialize_grads = False

    def __init__(self, time_axis: int, reverse: bool) -> None:
        self.time_axis, self.reverse = time_axis, reverse

    def _step(self, a: Any, s: int) -> Any:
        """The time slice step s reads of a sequence in the input layout."""
        t = a.shape[self.time_axis] - 1 - s if self.reverse else s
        return a[t] if self.time_axis == 0 else a[:, t]

    def _in_layout(self, steps: Any) -> Any:
        """A step-ordered (T, N, F) buffer as a view in time order and the input layout."""
        if self.reverse:
            steps = steps[::-1]
        return steps if self.time_axis == 0 else steps.transpose(1, 0, 2)

    def _in_steps(self, a: Any) -> Any:
        """A sequence in the input layout as a (T, N, F) view in step order."""
        a = a if self.time_axis == 0 else a.transpose(1, 0, 2)
        return a[::-1] if self.reverse else a


class LSTMLayer(_Scan):
    """A whole LSTM layer over time as ONE graph node: (xz, w_hh[, b][, h0][, c0]) ->
    (out, h_T, c_T).

    xz holds x_t @ W_ih for every step (or x_t @ W_ih + b when b is absent): (T, N, 4H)
    when time_axis == 0, else (N, T, 4H); w_hh (H, 4H); b (4H,), h0, c0 (N, H) optional
    (no bias, zero states when absent); out has
    xz's layout with H features. `reverse` runs the sequence from its last step to its
    first (the backward direction of a bidirectional layer; out[t] is then the state
    after reading steps T-1 .. t, and h_T, c_T the state after step 0). Per step it runs
    h @ w_hh and the fused cell on it plus xz_t and b (the cell adds them as it reads),
    writing every step's h, c and gates into (T + 1, N, .) buffers; the backward walks
    the steps in reverse and then forms the gradient of w_hh as ONE product over all
    steps, where separate per-step ops need T small products, T - 1 additions and 3T
    graph nodes. Time-major xz (time_axis 0) keeps every step's rows contiguous.

    The cells work in place (see minidl.kernels.recurrent): each step's gates are written
    over its input gates, and in the backward its dz over its gates, in one (T, N, 4H)
    array: xz itself when `overwrite_xz` (the caller gives xz up: nn.LSTM's own input
    projection, which nothing else reads) and xz is time-major, C-contiguous and read
    forward, else a copy. A backward that keeps the graph (retain_graph) writes dz into
    an array of its own instead.
    """

    def __init__(self, time_axis: int, has_b: bool, has_h0: bool, has_c0: bool,
                 reverse: bool = False, overwrite_xz: bool = False) -> None:
        super().__init__(time_axis, reverse)
        self.has_b, self.has_h0, self.has_c0 = has_b, has_h0, has_c0
        self.overwrite_xz = overwrite_xz

    def _gate_buffer(self, xz: Any) -> Any:
        """xz's values as a (T, N, 4H) C-contiguous array in step order that the cells may
        write over: xz itself where the caller allows it and the layout fits, else a copy."""
        if self.overwrite_xz and self.time_axis == 0 and not self.reverse and xz.flags.c_contiguous:
            return xz
        steps = self._in_steps(xz)
        gates = scratch(steps.shape, xz.dtype, array_module(xz))
        gates[...] = steps
        return gates

    def forward(self, xz: Any, w_hh: Any, *rest: Any) -> tuple[Any, Any, Any]:
        xp = array_module(xz)
        b, state = (rest[0], rest[1:]) if self.has_b else (None, rest)
        t_len, h_dim = xz.shape[self.time_axis], w_hh.shape[0]
        n = xz.shape[1 - self.time_axis]
        hs = scratch((t_len + 1, n, h_dim), xz.dtype, xp)  # h_0 .. h_T
        cs = scratch((t_len + 1, n, h_dim), xz.dtype, xp)  # c_0 .. c_T
        gates = self._gate_buffer(xz)  # step t's input gates, then its gates
        # xz's gradient is then xz's own array: not one a leaf may take as its .grad
        self.fresh_grads = gates is not xz
        hs[0] = state[0] if self.has_h0 else 0
        cs[0] = state[-1] if self.has_c0 else 0
        z = xp.empty((n, 4 * h_dim), dtype=xz.dtype)  # reused every step
        b = xp.zeros(4 * h_dim, xz.dtype) if b is None else _route.contiguous(b)
        cell, _ = lstm_step_kernels(z, b, hs, cs, gates)  # routed once for every step
        for t in range(t_len):
            if t == 0 and not self.has_h0:  # a zero initial h contributes nothing
                z[...] = 0
            else:
                xp.matmul(hs[t], w_hh, out=z)
            cell(z, b, cs[t], hs[t + 1], cs[t + 1], gates[t])
        if any(self.needs_input_grad):
            self.hs, self.cs, self.gates, self.w_hh = hs, cs, gates, w_hh
        return self._in_layout(hs[1:]), hs[t_len], cs[t_len]

    def backward(self, g_out: Any, g_h: Any, g_c: Any) -> tuple[Any, ...]:
        xp = array_module(self.hs)
        t_len, n, h_dim = self.gates.shape[0], self.hs.shape[1], self.w_hh.shape[0]
        w_hh_t = xp.ascontiguousarray(self.w_hh.T)
        # step order; dz over the gates, unless the graph must stay for another backward
        dz_all = self.gates
        if self.retained:
            dz_all = scratch(self.gates.shape, self.gates.dtype, xp)
            dz_all[...] = self.gates
        dh = xp.empty((n, h_dim), dtype=dz_all.dtype)
        dcs = (xp.empty_like(dh), xp.empty_like(dh))  # alternate: never read and write one
        need = dict(zip(("xz", "w_hh") + ("b",) * self.has_b + ("h0",) * self.has_h0
                        + ("c0",) * self.has_c0, self.needs_input_grad))
        need_h0 = need.get("h0", False)
        dh[...] = 0 if g_h is None else g_h
        dc = None if g_c is None else _route.contiguous(g_c)  # None: zero, as the cells take it
        _, cell = lstm_step_kernels(dh, self.cs, dz_all, *dcs, *(() if dc is None else (dc,)))
        for t in reversed(range(t_len)):
            if g_out is not None:
                dh += self._step(g_out, t)
            cell(dh, dc, self.cs[t], self.cs[t + 1], dz_all[t], dcs[t % 2])
            dc = dcs[t % 2]
            if t > 0 or need_h0:
                xp.matmul(dz_all[t], w_hh_t, out=dh)
        grads = {"xz": self._in_layout(dz_all) if need["xz"] else None,
                 "w_hh": _recurrent_weight_grad(self.hs, dz_all, self.has_h0) if need["w_hh"] else None,
                 "b": sum_rows(dz_all.reshape(-1, 4 * h_dim)) if need.get("b") else None,
                 "h0": dh if need_h0 else None, "c0": dc if need.get("c0") else None}
        return tuple(grads[name] for name in need)


def _recurrent_weight_grad(hs: Any, d_all: Any, has_h0: bool) -> Any:
    """The gradient of W_hh: the sum over steps of h_{s-1}^T d_s, as ONE product.
    hs (T + 1, N, H) the states h_0 .. h_T in step order, d_all (T, N, G)."""
    first = 0 if has_h0 else 1  # a zero h_0 adds nothing
    t_len, h_dim = d_all.shape[0], hs.shape[-1]
    return hs[first:t_len].reshape(-1, h_dim).T @ d_all[first:].reshape(-1, d_all.shape[-1])


class GRULayer(_Scan):
    """A whole GRU layer over time as ONE graph node: (xg, w_hh, b_hh[, h0]) -> (out, h_T).

    xg holds x_t @ W_ih + b_ih for every step: (T, N, 3H) when time_axis == 0, else
    (N, T, 3H); w_hh (H, 3H); b_hh (3H,); h0 (N, H) optional (zeros when absent); out
    has xg's layout with H features; `reverse` as for LSTMLayer. Per step it runs
    hg = h @ w_hh and the fused cell, which adds b_hh (b_hh stays apart from b_ih: its n
    slice is scaled by r); the backward walks the steps in reverse, then forms the
    gradients of w_hh and b_hh as one product and one sum over all steps.
    """

    def __init__(self, time_axis: int, has_h0: bool, reverse: bool = False) -> None:
        super().__init__(time_axis, reverse)
        self.has_h0 = has_h0

    def forward(self, xg: Any, w_hh: Any, b_hh: Any, *h0: Any) -> tuple[Any, Any]:
        xp = array_module(xg)
        t_len, h_dim = xg.shape[self.time_axis], w_hh.shape[0]
        n = xg.shape[1 - self.time_axis]
        hs = scratch((t_len + 1, n, h_dim), xg.dtype, xp)  # h_0 .. h_T
        gates = scratch((t_len, n, 3 * h_dim), xg.dtype, xp)
        hns = scratch((t_len, n, h_dim), xg.dtype, xp)
        hs[0] = h0[0] if self.has_h0 else 0
        hg = xp.empty((n, 3 * h_dim), dtype=xg.dtype)  # reused every step
        saved = []
        for t in range(t_len):
            if t == 0 and not self.has_h0:  # a zero initial h contributes b_hh only
                hg[...] = 0
            else:
                xp.matmul(hs[t], w_hh, out=hg)
            saved.append(gru_cell_forward(self._step(xg, t), hg, hs[t], b_hh=b_hh,
                                          out=(hs[t + 1], gates[t], hns[t]))[1])
        if any(self.needs_input_grad):  # each step's saved holds views of these buffers
            self.hs, self.saved, self.w_hh = hs, saved, w_hh
        return self._in_layout(hs[1:]), hs[t_len]

    def backward(self, g_out: Any, g_h: Any) -> tuple[Any, ...]:
        xp = array_module(self.hs)
        t_len, n, h_dim = len(self.saved), self.hs.shape[1], self.w_hh.shape[0]
        w_hh_t = xp.ascontiguousarray(self.w_hh.T)
        dxg_all = scratch((t_len, n, 3 * h_dim), self.hs.dtype, xp)  # step order
        dhg_all = scratch(dxg_all.shape, dxg_all.dtype, xp)
        dh = xp.empty((n, h_dim), dtype=dxg_all.dtype)
        dh_direct = xp.empty_like(dh)
        need_h0 = self.has_h0 and self.needs_input_grad[3]
        dh[...] = 0 if g_h is None else g_h
        for t in reversed(range(t_len)):
            if g_out is not None:
                dh += self._step(g_out, t)
            gru_cell_backward(self.saved[t], dh, out=(dxg_all[t], dhg_all[t], dh_direct))
            if t > 0 or need_h0:
                xp.matmul(dhg_all[t], w_hh_t, out=dh)
                dh += dh_direct
        gxg = self._in_layout(dxg_all) if self.needs_input_grad[0] else None
        gw = _recurrent_weight_grad(self.hs, dhg_all, self.has_h0) if self.needs_input_grad[1] else None
        gb = sum_rows(dhg_all.reshape(-1, 3 * h_dim)) if self.needs_input_grad[2] else None
        grads = [gxg, gw, gb]
        if self.has_h0:
            grads.append(dh if need_h0 else None)
        return tuple(grads)


def lstm_layer(xz: Any, w_hh: Any, h0: Any = None, c0: Any = None, time_axis: int = 0,
               reverse: bool = False, bias: Any = None,
               overwrite_xz: bool = False) -> tuple[Any, Any, Any]:
    """Run one LSTM layer over a sequence from precomputed input gates.

    xz (T, N, 4H) (time_axis=0, the fast layout) or (N, T, 4H) (time_axis=1) = x @ W_ih,
    plus the bias (4H,) when given here (the cells then add it as they read xz, with no
    pass of its own over xz), else already in xz; w_hh (H, 4H); h0, c0 (N, H) or None
    (zeros). `overwrite_xz`: the layer may write its gates over xz's array (a caller's
    own intermediate that nothing else reads; one pass less over memory per step).
    Returns (out, h_T, c_T): out in xz's
    layout with H features (every step's h), h_T and c_T (N, H) the state after the last
    step read. `reverse`: read the steps from last to first (out stays in time order).
    """
    if time_axis not in (0, 1) or xz.ndim != 3 or w_hh.ndim != 2 or xz.shape[2] != w_hh.shape[1] \
            or w_hh.shape[1] != 4 * w_hh.shape[0] or xz.shape[time_axis] == 0 \
            or (bias is not None and tuple(bias.shape) != (w_hh.shape[1],)):
        raise ValueError(f"lstm_layer: expected xz (T, N, 4H) or (N, T, 4H) with T >= 1, "
                         f"w_hh (H, 4H) and bias (4H,) or None, got xz {tuple(xz.shape)}, w_hh "
                         f"{tuple(w_hh.shape)}, bias {None if bias is None else tuple(bias.shape)}, "
                         f"time_axis {time_axis}")
    rest = [a for a in (bias, h0, c0) if a is not None]
    return LSTMLayer(time_axis, bias is not None, h0 is not None, c0 is not None,
                     bool(reverse), bool(overwrite_xz))(xz, w_hh, *rest)


def gru_layer(xg: Any, w_hh: Any, b_hh: Any, h0: Any = None, time_axis: int = 0,
              reverse: bool = False) -> tuple[Any, Any]:
    """Run one GRU layer over a sequence from precomputed input gates.

    xg (T, N, 3H) (time_axis=0, the fast layout) or (N, T, 3H) (time_axis=1) =
    x @ W_ih + b_ih; w_hh (H, 3H); b_hh (3H,); h0 (N, H) or None (zeros). Gate order r, z,
    n: r, z = sigmoid(xg + h @ W_hh + b_hh); n = tanh(xg_n + r * (h @ W_hn + b_hn));
    h' = (1 - z) * n + z * h. Returns (out, h_T): out in xg's layout with H features
    (every step's h), h_T (N, H) the state after the last step read. `reverse`: read the
    steps from last to first (out stays in time order).
    """
    if time_axis not in (0, 1) or xg.ndim != 3 or w_hh.ndim != 2 or xg.shape[2] != w_hh.shape[1] \
            or w_hh.shape[1] != 3 * w_hh.shape[0] or tuple(b_hh.shape) != (w_hh.shape[1],) \
            or xg.shape[time_axis] == 0:
        raise ValueError(f"gru_layer: expected xg (T, N, 3H) or (N, T, 3H) with T >= 1, w_hh "
                         f"(H, 3H) and b_hh (3H,), got xg {tuple(xg.shape)}, w_hh "
                         f"{tuple(w_hh.shape)}, b_hh {tuple(b_hh.shape)}, time_axis {time_axis}")
    state = [] if h0 is None else [h0]
    return GRULayer(time_axis, h0 is not None, bool(reverse))(xg, w_hh, b_hh, *state)
