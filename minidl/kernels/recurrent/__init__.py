"""The fused LSTM and GRU cells: the gate math of one time step, forward and backward.

LSTM

Shapes: N batch, H hidden size; z (N, 4H) the pre-activations x_t @ W_ih + h @ W_hh + b
in PyTorch's gate order i, f, g, o; c (N, H) the previous cell state.

Contract (every implementation):
- `lstm_cell_forward(z, c, out=None, xz=None, b=None) -> (h_new, c_new, saved)`: with
  z + (xz + b) for z when xz (N, 4H) or b (4H,) is given (the layer passes h @ W_hh,
  the step's input gates x_t @ W_ih and the bias, so that their sum costs no pass of
  its own), i, f, o = sigmoid and g = tanh of the four quarters of z;
  c_new = f*c + i*g; h_new = o*tanh(c_new), each (N, H). `saved` = (gates, c, c_new)
  with gates (N, 4H) the activated i, f, g, o.
  `out`'s gates may be xz itself: the gates are then written over the input gates.
- `lstm_cell_backward(saved, gh, gc, out=None) -> (dz, dc)`: gh, gc (N, H) the
  gradients at h_new and c_new (either may be None: zero); dz (N, 4H), dc (N, H).
  `out`'s dz may be saved's gates array itself: dz is then written over the gates (the
  saved state is spent).

GRU (PyTorch's gate order r, z, n): xg (N, 3H) = x_t @ W_ih + b_ih, hg (N, 3H) =
h @ W_hh (+ b_hh), h (N, H) the previous hidden state.
- `gru_cell_forward(xg, hg, h, out=None, b_hh=None) -> (h_new, saved)`: with hg + b_hh
  for hg when b_hh (3H,) is given (the layer passes h @ W_hh and its bias, so that the
  bias costs no pass of its own), r, z = sigmoid of the first two thirds of xg + hg;
  n = tanh(xg_n + r * hg_n); h_new = (h - n) * z + n (PyTorch's form of
  (1 - z) * n + z * h). `saved` = (gates, hn, h) with gates (N, 3H) the activated r, z,
  n and hn (N, H) hg_n (with its bias).
- `gru_cell_backward(saved, gh, out=None) -> (dxg, dhg, dh)`: gh (N, H) the gradient at
  h_new; dxg, dhg (N, 3H) the gradients at xg and hg; dh (N, H) the part of h's
  gradient that does not pass through hg (gh * z).

`out`: optional arrays to write the results into, of the results' shapes and dtype, in
the order of the results: (h_new, c_new, gates) and (dz, dc) for the LSTM, (h_new,
gates, hn) and (dxg, dhg, dh) for the GRU (a sequence op keeps every step's state in
preallocated buffers); the results returned are then those arrays.

Routes: the fused kernels (cpu.py, gpu.py) take C-contiguous arrays of one float
dtype and write `out` directly; inputs in another layout are copied first (cheaper
than the reference); anything else runs the reference and copies into `out`. The fused
LSTM kernels work in place: the forward's gates array holds the input gates when it
starts, the backward's dz array the gates (a copy is made first where `out` does not
name the same array). A sequence of steps then streams one (N, 4H) array per step
through memory each way instead of two: the text LSTM's step took 3 ms less.
"""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from minidl.backend import array_module
from minidl.kernels import _route
from minidl.kernels.recurrent import reference


def _fast(*arrays: Any) -> ModuleType | None:
    """The fused-kernel module for these arrays, or None for the reference."""
    where = _route.route(*arrays)
    if where == "cpu":
        from minidl.kernels.recurrent import cpu  # noqa: PLC0415 - imports Numba

        return cpu
    if where == "gpu":
        from minidl.kernels.recurrent import gpu  # noqa: PLC0415 - CUDA source only when used

        return gpu
    return None


def _check_out(cell: str, out: Any, shapes: tuple[tuple[int, ...], ...]) -> None:
    if out is not None and tuple(tuple(o.shape) for o in out) != shapes:
        raise ValueError(f"{cell} cell: out arrays must have shapes {shapes}, got "
                         f"{tuple(tuple(o.shape) for o in out)}")


def _into(out: Any, results: tuple[Any, ...]) -> tuple[Any, ...]:
    """The reference's results, copied into `out` when given."""
    if out is None:
        return results
    for dst, src in zip(out, results):
        dst[...] = src
    return tuple(out)


def lstm_cell_forward(z: Any, c: Any, out: tuple[Any, Any, Any] | None = None,
                      xz: Any = None, b: Any = None) -> tuple[Any, Any, tuple[Any, Any, Any]]:
    """One LSTM step from pre-activations: (h_new, c_new, saved), as the contract says."""
    z, c = _route.contiguous(z), _route.contiguous(c)
    shapes = (c.shape, c.shape, z.shape)
    _check_out("lstm", out, shapes)
    if xz is not None and tuple(xz.shape) != z.shape:
        raise ValueError(f"lstm cell: xz must have z's shape {z.shape}, got {tuple(xz.shape)}")
    if b is not None and tuple(b.shape) != z.shape[-1:]:
        raise ValueError(f"lstm cell: b must have shape {z.shape[-1:]}, got {tuple(b.shape)}")
    xp = array_module(z)
    bias = xp.zeros(z.shape[-1], z.dtype) if b is None else _route.contiguous(b)
    fast = _fast(z, bias, c, *(() if xz is None else (xz,)), *(out or ()))
    if fast is None:
        h_new, c_new, (gates, _, _) = reference.lstm_cell_forward(z, c, xz, b)
        h_new, c_new, gates = _into(out, (h_new, c_new, gates))
    else:
        h_new, c_new, gates = out or (xp.empty_like(c), xp.empty_like(c), xp.empty_like(z))
        if xz is None:
            gates[...] = 0
        elif xz is not gates:
            gates[...] = xz
        fast.lstm_cell_forward(z, bias, c, h_new, c_new, gates)
    return h_new, c_new, (gates, c, c_new)


def lstm_cell_backward(saved: tuple[Any, Any, Any], gh: Any, gc: Any,
                       out: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """Gradients of one LSTM step: (dz, dc), as the contract says."""
    gh, gc = _route.contiguous(gh), _route.contiguous(gc)
    gates, c, c_new = saved
    shapes = (gates.shape, c.shape)
    _check_out("lstm", out, shapes)
    fast = _fast(gh, gc, gates, c, c_new, *(out or ()))
    if fast is None:
        return _into(out, reference.lstm_cell_backward(saved, gh, gc))
    xp = array_module(gates)
    dz, dc = out or (xp.empty_like(gates), xp.empty_like(c))
    if dz is not gates:
        dz[...] = gates
    fast.lstm_cell_backward(gh, gc, c, c_new, dz, dc)
    return dz, dc


def lstm_step_kernels(*arrays: Any) -> tuple[Callable[..., None], Callable[..., None]]:
    """The LSTM cell's in-place step functions for a sequence op, routed once for all its
    steps: forward(z, b, c, h_new, c_new, gates) and backward(gh, gc, c, c_new, gd, dc),
    with the fused kernels' signatures (gates holds the input gates when the forward
    starts, gd the gates when the backward starts; gh, gc may be None). `arrays`: every
    array the steps will pass (the op's own C-contiguous buffers and its bias); the
    reference's steps, copying into the same arrays, where they route there."""
    fast = _fast(*arrays)
    if fast is not None:
        return fast.lstm_cell_forward, fast.lstm_cell_backward
    return _reference_forward_step, _reference_backward_step


def _reference_forward_step(z: Any, b: Any, c: Any, h_new: Any, c_new: Any, gates: Any) -> None:
    h, cn, (g, _, _) = reference.lstm_cell_forward(z, c, gates, b)
    _into((h_new, c_new, gates), (h, cn, g))


def _reference_backward_step(gh: Any, gc: Any, c: Any, c_new: Any, gd: Any, dc: Any) -> None:
    _into((gd, dc), reference.lstm_cell_backward((gd, c, c_new), gh, gc))


def gru_cell_forward(xg: Any, hg: Any, h: Any, out: tuple[Any, Any, Any] | None = None,
                     b_hh: Any = None) -> tuple[Any, tuple[Any, Any, Any]]:
    """One GRU step: (h_new, saved), as the contract says."""
    xg, hg, h = _route.contiguous(xg), _route.contiguous(hg), _route.contiguous(h)
    _check_out("gru", out, (h.shape, xg.shape, h.shape))
    if b_hh is not None and tuple(b_hh.shape) != (xg.shape[-1],):
        raise ValueError(f"gru cell: b_hh must have shape {(xg.shape[-1],)}, got {tuple(b_hh.shape)}")
    xp = array_module(xg)
    b = xp.zeros(xg.shape[-1], xg.dtype) if b_hh is None else _route.contiguous(b_hh)
    fast = _fast(xg, hg, b, h, *(out or ()))
    if fast is None:
        h_new, (gates, hn, _) = reference.gru_cell_forward(xg, hg, h, b_hh)
        h_new, gates, hn = _into(out, (h_new, gates, hn))
    else:
        h_new, gates, hn = out or (xp.empty_like(h), xp.empty_like(xg), xp.empty_like(h))
        fast.gru_cell_forward(xg, hg, b, h, h_new, gates, hn)
    return h_new, (gates, hn, h)


def gru_cell_backward(saved: tuple[Any, Any, Any], gh: Any,
                      out: tuple[Any, Any, Any] | None = None) -> tuple[Any, Any, Any]:
    """Gradients of one GRU step: (dxg, dhg, dh), as the contract says."""
    gh = _route.contiguous(gh)
    gates, hn, h = saved
    _check_out("gru", out, (gates.shape, gates.shape, h.shape))
    fast = _fast(gh, gates, hn, h, *(out or ()))
    if fast is None:
        return _into(out, reference.gru_cell_backward(saved, gh))
    xp = array_module(gates)
    dxg, dhg, dh = out or (xp.empty_like(gates), xp.empty_like(gates), xp.empty_like(h))
    fast.gru_cell_backward(gh, gates, hn, h, dxg, dhg, dh)
    return dxg, dhg, dh
