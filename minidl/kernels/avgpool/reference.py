"""Average pooling: plain array code (NumPy and CuPy alike).

What runs with MINIDL_KERNELS=reference and what gradcheck trusts. The pooling is
separable (windows.py): the forward sums each window's rows (one slice per output row),
then each window's columns, and divides by the counts; the backward spreads each
gradient, divided by its count, back over the columns, then the rows. OH + OW slices of
the whole batch; no 0 * x products, so a NaN or inf stays in its own windows.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.kernels.avgpool.windows import Windows


def _counts(xp: Any, rows: Windows, cols: Windows, dtype: Any) -> Any:
    """(OH, OW) divisors of the window sums, in the data's dtype."""
    return xp.asarray(rows.count[:, None] * cols.count[None, :]).astype(dtype)


def avgpool(x: Any, rows: Windows, cols: Windows) -> Any:
    """y (N, C, OH, OW): the mean of every window of x (N, C, H, W)."""
    xp = array_module(x)
    n, c, _, w = x.shape
    across = xp.empty((n, c, len(rows.lo), w), dtype=x.dtype)
    for i, (lo, hi) in enumerate(zip(rows.lo.tolist(), rows.hi.tolist())):
        across[:, :, i] = x[:, :, lo:hi].sum(axis=2)
    y = xp.empty((n, c, len(rows.lo), len(cols.lo)), dtype=x.dtype)
    for j, (lo, hi) in enumerate(zip(cols.lo.tolist(), cols.hi.tolist())):
        y[..., j] = across[..., lo:hi].sum(axis=-1)
    return y / _counts(xp, rows, cols, x.dtype)


def unavgpool(gy: Any, x_shape: tuple[int, ...], rows: Windows, cols: Windows) -> Any:
    """dx (x_shape) from gy (N, C, OH, OW): each window's pixels get gy / its count."""
    xp = array_module(gy)
    n, c, h, w = x_shape
    share = gy / _counts(xp, rows, cols, gy.dtype)
    across = xp.zeros((n, c, len(rows.lo), w), dtype=gy.dtype)
    for j, (lo, hi) in enumerate(zip(cols.lo.tolist(), cols.hi.tolist())):
        across[..., lo:hi] += share[..., j:j + 1]
    dx = xp.zeros(x_shape, dtype=gy.dtype)
    for i, (lo, hi) in enumerate(zip(rows.lo.tolist(), rows.hi.tolist())):
        dx[:, :, lo:hi] += across[:, :, i:i + 1]
    return dx
