"""The LSTM and GRU cells' element-wise math in plain array code (NumPy and CuPy alike),
written for clarity: what runs with MINIDL_KERNELS=reference and what the fused kernels
must equal. Shapes and gate orders as in the package docstring.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module


def _sigmoid(xp: Any, x: Any) -> Any:
    # tanh form: no overflow for large |x|, exact to rounding
    return 0.5 * (xp.tanh(0.5 * x) + 1)


def lstm_cell_forward(z: Any, c: Any, xz: Any = None, b: Any = None
                      ) -> tuple[Any, Any, tuple[Any, Any, Any]]:
    """(h_new, c_new, saved) with saved = (gates, c, c_new), gates the activated i, f, g, o;
    z + (xz + b) for z, xz and b each optional."""
    xp = array_module(z, c)
    addend = xz if b is None else (b if xz is None else xz + b)
    if addend is not None:
        z = z + addend
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


def gru_cell_forward(xg: Any, hg: Any, h: Any, b_hh: Any = None
                     ) -> tuple[Any, tuple[Any, Any, Any]]:
    """(h_new, saved) with saved = (gates, hn, h): gates the activated r, z, n, hn the
    hidden side of n's pre-activation (h @ W_hn + b_hn); hg + b_hh for hg when given."""
    xp = array_module(xg, hg, h)
    if b_hh is not None:
        hg = hg + b_hh
    H = h.shape[-1]
    gates = xp.empty_like(xg)
    gates[:, : 2 * H] = _sigmoid(xp, xg[:, : 2 * H] + hg[:, : 2 * H])
    hn = hg[:, 2 * H:].copy()
    r, z = gates[:, : H], gates[:, H: 2 * H]
    gates[:, 2 * H:] = xp.tanh(xg[:, 2 * H:] + r * hn)
    n = gates[:, 2 * H:]
    # (h - n) * z + n: PyTorch's form of (1 - z) * n + z * h
    h_new = (h - n) * z + n
    return h_new, (gates, hn, h)


def gru_cell_backward(saved: tuple[Any, Any, Any], gh: Any) -> tuple[Any, Any, Any]:
    """(dxg, dhg, dh) from the forward's `saved` and the gradient gh at h_new: dxg, dhg
    (N, 3H) at xg and hg, dh (N, H) the part of h's gradient that skips W_hh (gh * z)."""
    gates, hn, h = saved
    xp = array_module(gates, h)
    H = h.shape[-1]
    r, z, n = (gates[:, k * H: (k + 1) * H] for k in range(3))
    dxg = xp.empty_like(gates)
    dn = gh * (1 - z) * (1 - n * n)  # at n's pre-activation
    dxg[:, 2 * H:] = dn
    dxg[:, H: 2 * H] = gh * (h - n) * z * (1 - z)
    dxg[:, : H] = dn * hn * r * (1 - r)
    dhg = dxg.copy()  # r and z enter through the sum xg + hg; n's hidden side through r * hn
    dhg[:, 2 * H:] = dn * r
    return dxg, dhg, gh * z
