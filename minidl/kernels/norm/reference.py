"""Normalization in plain array code (NumPy and CuPy alike); see __init__.py for the contract.

Shapes: x3 (A, C, B), statistics per c over axes 0 and 2; weight/bias (C,) for the
"channel" layout, (B,) for "feature".
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module

_AXES = (0, 2)


def affine_shape(layout: str) -> tuple[int, int, int] | None:
    """Where a (C,) or (B,) parameter broadcasts against (A, C, B)."""
    return (1, -1, 1) if layout == "channel" else (1, 1, -1)


def forward(x3: Any, weight: Any, bias: Any, eps: float, layout: str) -> tuple[Any, Any, Any, Any]:
    xp = array_module(x3)
    mean = x3.mean(axis=_AXES, keepdims=True)
    xc = x3 - mean
    var = (xc * xc).mean(axis=_AXES, keepdims=True)
    inv = 1 / xp.sqrt(var + eps)
    xhat = xc * inv
    y = xhat
    if weight is not None:
        y = y * weight.reshape(affine_shape(layout))
    if bias is not None:
        y = y + bias.reshape(affine_shape(layout))
    return y, (xhat, inv), mean.reshape(-1), var.reshape(-1)


def backward(gy: Any, saved: Any, weight: Any, layout: str, need_x: bool, need_w: bool,
             need_b: bool) -> tuple[Any, Any, Any]:
    xhat, inv = saved
    # the parameters' gradients sum over every axis the parameter is broadcast along
    param_axes = (0, 2) if layout == "channel" else (0, 1)
    gw = (gy * xhat).sum(axis=param_axes) if need_w else None
    gb = gy.sum(axis=param_axes) if need_b else None
    gx = None
    if need_x:
        g = gy if weight is None else gy * weight.reshape(affine_shape(layout))
        gx = inv * (g - g.mean(axis=_AXES, keepdims=True)
                    - xhat * (g * xhat).mean(axis=_AXES, keepdims=True))
    return gx, gw, gb
