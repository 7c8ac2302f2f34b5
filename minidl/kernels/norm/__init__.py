"""Normalization (batch norm, layer norm): statistics and affine map in one kernel each way.

Contract. x3 (A, C, B) is normalised per index c over axes 0 and 2 (M = A*B values):
mean and biased variance, xhat = (x - mean) / sqrt(var + eps). The affine parameters
depend on the `layout`:
- "channel" (batch norm: x (N, C, ...) viewed as (N, C, L)): weight, bias (C,);
- "feature" (layer norm: x (..., D) viewed as (1, R, D)): weight, bias (D,).
Either may be None (no scale / no shift).

- `forward(x3, weight, bias, eps, layout) -> (y, saved, mean, var)`: y = xhat * weight + bias
  (x3's shape); mean and var (C,) are the batch statistics (biased variance), for the
  caller's running averages; `saved` is whatever `backward` needs.
- `backward(gy, saved, weight, layout, need_x, need_w, need_b) -> (gx, gw, gb)`, each None when
  not needed. gx is the closed form inv/M * (M*g - sum(g) - xhat * sum(g*xhat)) with
  g = gy * weight, not the graph of forward's parts.
"""
from __future__ import annotations

from typing import Any

from minidl.kernels._route import route
from minidl.kernels.norm import reference

Saved = Any


def forward(x3: Any, weight: Any, bias: Any, eps: float, layout: str) -> tuple[Any, Saved, Any, Any]:
    if x3.size and route(x3, weight, bias) == "cpu":  # an empty batch has no first value
        from minidl.kernels.norm import cpu  # noqa: PLC0415 - imports Numba

        return cpu.forward(x3, weight, bias, eps, layout)
    return reference.forward(x3, weight, bias, eps, layout)


def backward(gy: Any, saved: Saved, weight: Any, layout: str, need_x: bool, need_w: bool,
             need_b: bool) -> tuple[Any, Any, Any]:
    xhat, inv = saved
    if route(gy, xhat, weight) == "cpu":
        from minidl.kernels.norm import cpu  # noqa: PLC0415 - imports Numba

        return cpu.backward(gy, saved, weight, layout, need_x, need_w, need_b)
    return reference.backward(gy, saved, weight, layout, need_x, need_w, need_b)
