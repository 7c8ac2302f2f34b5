"""The fused LSTM cell: the gate math of one time step, forward and backward.

Shapes: N batch, H hidden size; z (N, 4H) the pre-activations x_t @ W_ih + h @ W_hh + b
in PyTorch's gate order i, f, g, o; c (N, H) the previous cell state.

Contract (every implementation):
- `lstm_cell_forward(z, c, out=None) -> (h_new, c_new, saved)`: i, f, o = sigmoid and
  g = tanh of the four quarters of z; c_new = f*c + i*g; h_new = o*tanh(c_new), each
  (N, H). `saved` = (gates, c, c_new) with gates (N, 4H) the activated i, f, g, o.
- `lstm_cell_backward(saved, gh, gc, out=None) -> (dz, dc)`: gh, gc (N, H) the
  gradients at h_new and c_new (either may be None: zero); dz (N, 4H), dc (N, H).
`out`: optional arrays to write the results into, (h_new, c_new, gates) forward and
(dz, dc) backward, of the results' shapes and dtype (a sequence op keeps every step's
state in preallocated buffers); the results returned are then those arrays.

Routes: the fused kernels (cpu.py, gpu.py) take C-contiguous arrays of one float
dtype and write `out` directly; inputs in another layout are copied first (cheaper
than the reference); anything else runs the reference and copies into `out`.
"""
from __future__ import annotations

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


def _check_out(out: Any, shapes: tuple[tuple[int, ...], ...]) -> None:
    if out is not None and tuple(tuple(o.shape) for o in out) != shapes:
        raise ValueError(f"lstm cell: out arrays must have shapes {shapes}, got "
                         f"{tuple(tuple(o.shape) for o in out)}")


def _into(out: Any, results: tuple[Any, ...]) -> tuple[Any, ...]:
    """The reference's results, copied into `out` when given."""
    if out is None:
        return results
    for dst, src in zip(out, results):
        dst[...] = src
    return tuple(out)


def lstm_cell_forward(z: Any, c: Any, out: tuple[Any, Any, Any] | None = None
                      ) -> tuple[Any, Any, tuple[Any, Any, Any]]:
    """One LSTM step from pre-activations: (h_new, c_new, saved), as the contract says."""
    z, c = _route.contiguous(z), _route.contiguous(c)
    shapes = (c.shape, c.shape, z.shape)
    _check_out(out, shapes)
    fast = _fast(z, c, *(out or ()))
    if fast is None:
        h_new, c_new, (gates, _, _) = reference.lstm_cell_forward(z, c)
        h_new, c_new, gates = _into(out, (h_new, c_new, gates))
    else:
        xp = array_module(z)
        h_new, c_new, gates = out or (xp.empty_like(c), xp.empty_like(c), xp.empty_like(z))
        fast.lstm_cell_forward(z, c, h_new, c_new, gates)
    return h_new, c_new, (gates, c, c_new)


def lstm_cell_backward(saved: tuple[Any, Any, Any], gh: Any, gc: Any,
                       out: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """Gradients of one LSTM step: (dz, dc), as the contract says."""
    gh, gc = _route.contiguous(gh), _route.contiguous(gc)
    gates, c, c_new = saved
    shapes = (gates.shape, c.shape)
    _check_out(out, shapes)
    fast = _fast(gh, gc, gates, c, c_new, *(out or ()))
    if fast is None:
        return _into(out, reference.lstm_cell_backward(saved, gh, gc))
    xp = array_module(gates)
    dz, dc = out or (xp.empty_like(gates), xp.empty_like(c))
    fast.lstm_cell_backward(gh, gc, gates, c, c_new, dz, dc)
    return dz, dc
