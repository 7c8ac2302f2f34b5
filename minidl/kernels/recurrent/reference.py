"""The LSTM cell's element-wise math in plain array code (NumPy and CuPy alike), written
for clarity: what runs with MINIDL_KERNELS=reference and what the fused kernels must
equal. Shapes and gate order as in the package docstring.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module


def _sigmoid(xp: Any, x: Any) -> Any:
    # tanh form: no overflow for large |x|, exact to rounding
    return 0.5 * (xp.tanh(0.5 * x) + 1)


def lstm_cell_forward(z: Any, c: Any) -> tuple[Any, Any, tuple[Any, Any, Any]]:
    """(h_new, c_new, saved) with saved = (gates, c, c_new), gates the activated i, f, g, o."""
    xp = array_module(z, c)
    H = c.shape[-1]
    gates = xp.empty_like(z)
    gates[:, : 2 * H] = _sigmoid(xp, z[:, : 2 * H])
    gates[:, 2 * H: 3 * H] = xp.tanh(z[:, 2 * H: 3 * H])
    gates[:, 3 * H:] = _sigmoid(xp, z[:, 3 * H:])
    i, f, g, o = (gates[:, k * H: (k + 1) * H] for k in range(4))
    c_new = f * c + i * g
    h_new = o * xp.tanh(c_new)
    return h_new, c_new, (gates, c, c_new)


def lstm_cell_backward(saved: tuple[Any, Any, Any], gh: Any, gc: Any) -> tuple[Any, Any]:
    """(dz, dc) from the forward's `saved` and the gradients gh, gc at h_new, c_new
    (either may be None: zero)."""
    gates, c, c_new = saved
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
