"""The LSTM cell's element-wise math: a plain reference, written for clarity.

Shapes: N batch, H hidden size. The pre-activations z (N, 4H) hold the gates in
PyTorch's order i, f, g, o. These functions use `array_module` so they also run on
CuPy; a faster kernel later goes behind the same signatures.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.backend.cpu.dispatch import kernels, use_numba
from minidl.backend.gpu import kernels as gpu_kernels, use_cupy


def _sigmoid(xp: Any, x: Any) -> Any:
    # tanh form: no overflow for large |x|, exact to rounding
    return 0.5 * (xp.tanh(0.5 * x) + 1)


def lstm_cell_forward(z: Any, c: Any, out: tuple[Any, Any, Any] | None = None) -> tuple[Any, Any, Any]:
    """One LSTM step from pre-activations.

    z (N, 4H) = x_t @ W_ih + h @ W_hh + b in gate order i, f, g, o; c (N, H) the
    previous cell state. Returns (h_new, c_new, gates): h_new, c_new (N, H) and
    gates (N, 4H) the ACTIVATED i, f, g, o (sigmoid, sigmoid, tanh, sigmoid), which
    is what the backward needs. c_new = f*c + i*g; h_new = o*tanh(c_new).
    `out`: optional C-contiguous (h_new, c_new, gates) arrays to write the results into
    (a sequence op keeps every step's state in preallocated buffers); they are returned.
    """
    if use_numba(z, c) and z.dtype == c.dtype:  # one fused Numba pass
        return kernels("recurrent").lstm_cell_forward(z, c, out)
    if use_cupy(z, c):  # one fused CuPy kernel
        return _into(out, gpu_kernels("recurrent").lstm_cell_forward(z, c, out))
    return _into(out, lstm_cell_forward_reference(z, c))


def _into(out: Any, results: tuple[Any, ...]) -> tuple[Any, ...]:
    """Copy results into the caller's `out` arrays (when given) and return those."""
    if out is None:
        return results
    for dst, src in zip(out, results):
        if dst is not src:  # a kernel may have written `out` already
            dst[...] = src
    return tuple(out)


def lstm_cell_forward_reference(z: Any, c: Any) -> tuple[Any, Any, Any]:
    """`lstm_cell_forward` in plain NumPy/CuPy."""
    xp = array_module(z, c)
    H = c.shape[-1]
    gates = xp.empty_like(z)
    gates[:, : 2 * H] = _sigmoid(xp, z[:, : 2 * H])
    gates[:, 2 * H: 3 * H] = xp.tanh(z[:, 2 * H: 3 * H])
    gates[:, 3 * H:] = _sigmoid(xp, z[:, 3 * H:])
    i, f, g, o = (gates[:, k * H: (k + 1) * H] for k in range(4))
    c_new = f * c + i * g
    h_new = o * xp.tanh(c_new)
    return h_new, c_new, gates


def lstm_cell_backward(gh: Any, gc: Any, gates: Any, c: Any, c_new: Any,
                       out: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """Gradients of one LSTM step.

    gh, gc (N, H): gradients arriving at h_new and c_new (either may be None, meaning
    zero); gates (N, 4H), c (N, H), c_new (N, H) as saved by `lstm_cell_forward`.
    Returns (dz, dc): dz (N, 4H) the gradient of z, dc (N, H) that of c; written into
    `out` = (dz, dc) (C-contiguous) when given.
    """
    given = [a for a in (gates, c, c_new, gh, gc) if a is not None]
    if use_numba(*given) and all(a.dtype == c.dtype for a in given):  # one fused Numba pass
        return kernels("recurrent").lstm_cell_backward(gh, gc, gates, c, c_new, out)
    if use_cupy(gates, c, c_new, gh, gc):  # one fused CuPy kernel
        return _into(out, gpu_kernels("recurrent").lstm_cell_backward(gh, gc, gates, c, c_new, out))
    return _into(out, lstm_cell_backward_reference(gh, gc, gates, c, c_new))


def lstm_cell_backward_reference(gh: Any, gc: Any, gates: Any, c: Any, c_new: Any) -> tuple[Any, Any]:
    """`lstm_cell_backward` in plain NumPy/CuPy."""
    xp = array_module(gates, c)
    H = c.shape[-1]
    i, f, g, o = (gates[:, k * H: (k + 1) * H] for k in range(4))
    dz = xp.zeros_like(gates)
    if gh is None and gc is None:
        return dz, xp.zeros_like(c)
    tc = xp.tanh(c_new)
    # the total gradient at c_new: directly, and through h_new = o * tanh(c_new)
    dc_new = xp.zeros_like(c) if gc is None else gc.astype(c.dtype, copy=True)
    if gh is not None:
        dc_new += gh * o * (1 - tc * tc)
        dz[:, 3 * H:] = gh * tc * o * (1 - o)
    dz[:, : H] = dc_new * g * i * (1 - i)
    dz[:, H: 2 * H] = dc_new * c * f * (1 - f)
    dz[:, 2 * H: 3 * H] = dc_new * i * (1 - g * g)
    return dz, dc_new * f
