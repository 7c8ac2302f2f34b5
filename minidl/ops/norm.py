"""Batch and layer normalization: one graph node each, over the fused kernels in
minidl/kernels/norm (statistics, normalisation and affine map in one pass each way).

Shapes: batch norm x (N, C) or (N, C, L) or (N, C, H, W), statistics per channel C over
every other axis; layer norm x (..., *normalized_shape), statistics per row over the
trailing normalized_shape (D values).
"""
from __future__ import annotations

import math
import operator
from typing import Any

from minidl.autograd.function import Function
from minidl.autograd.grad_mode import no_grad
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.kernels import norm as K
from minidl.ops.activation import relu as relu_op


class Normalize(Function):
    """x viewed as (A, C, B), normalised per c over axes 0 and 2, then scaled and shifted
    (layout "channel": parameters (C,); "feature": parameters (B,)), then rectified when
    `relu` (a BatchNorm2D followed by a ReLU)."""

    def __init__(self, view: tuple[int, int, int], eps: float, layout: str,
                 has_weight: bool, has_bias: bool, relu: bool = False) -> None:
        self.view, self.eps, self.layout = view, eps, layout
        self.has_weight, self.has_bias, self.relu = has_weight, has_bias, relu

    def forward(self, x: Any, *params: Any) -> Any:
        weight = params[0].reshape(-1) if self.has_weight else None
        bias = params[-1].reshape(-1) if self.has_bias else None
        y, saved, self.mean, self.var = K.forward(x.reshape(self.view), weight, bias, self.eps,
                                                  self.layout, relu=self.relu)
        if any(self.needs_input_grad):
            self.saved, self.weight = saved, weight
            self.shapes = [x.shape] + [p.shape for p in params]
        return y.reshape(x.shape)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        need = self.needs_input_grad
        need_w = self.has_weight and need[1]
        need_b = self.has_bias and need[-1]
        gx, gw, gb = K.backward(gy.reshape(self.view), self.saved, self.weight, self.layout,
                                need[0], need_w, need_b)
        grads = [gx, gw] if self.has_weight else [gx]
        if self.has_bias:
            grads.append(gb)
        return tuple(None if g is None else g.reshape(s) for g, s in zip(grads, self.shapes))


def _normalize(x: Tensor, view: tuple[int, int, int], weight: Tensor | None, bias: Tensor | None,
               eps: float, layout: str, relu: bool = False) -> tuple[Tensor, Normalize]:
    fn = Normalize(view, eps, layout, weight is not None, bias is not None, relu)
    params = [p for p in (weight, bias) if p is not None]
    return fn(x, *params), fn


def _check_param(op: str, name: str, p: Any, shape: tuple[int, ...]) -> Tensor | None:
    if p is None:
        return None
    p = as_tensor(p)
    if tuple(p.shape) != shape:
        raise ValueError(f"{op}: expected {name} of shape {shape}, got {tuple(p.shape)}")
    return p


def _array(buffer: Any) -> Any:
    return buffer.data if isinstance(buffer, Tensor) else buffer


def batch_norm(x: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5, *,
               unbiased_running_var: bool = True) -> Tensor:
    """Normalise x (N, C, ...) per channel: batch statistics when `training` (and the running
    arrays (C,) updated in place: mean and unbiased variance, weighted by `momentum`), the
    running statistics otherwise; then `* weight + bias` (each (C,) or None). As PyTorch.

    unbiased_running_var=False feeds the biased batch variance (the one that normalises)
    into running_var, as Keras's BatchNormalization does; a single value per channel is then
    allowed (its variance is 0)."""
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps,
                       unbiased_running_var, relu=False)


def batch_norm_relu(x: Any, running_mean: Any, running_var: Any, weight: Any = None,
                    bias: Any = None, training: bool = False, momentum: float = 0.1,
                    eps: float = 1e-5) -> Tensor:
    """relu(batch_norm(...)) with the same arguments; in training one op, whose kernels
    rectify as they write and mask the gradient as they read (no passes of the ReLU's own)."""
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps,
                       unbiased_running_var=True, relu=True)


def _batch_norm(x: Any, running_mean: Any, running_var: Any, weight: Any, bias: Any,
                training: bool, momentum: float, eps: float, unbiased_running_var: bool,
                relu: bool) -> Tensor:
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got {tuple(x.shape)}")
    c = x.shape[1]
    weight = _check_param("batch_norm", "weight", weight, (c,))
    bias = _check_param("batch_norm", "bias", bias, (c,))
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is not None and tuple(stat.shape) != (c,):
            raise ValueError(f"batch_norm: expected {name} of shape ({c},), got {tuple(stat.shape)}")
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: training=False needs running_mean and running_var")
        y = _eval_batch_norm(x, running_mean, running_var, weight, bias, eps)
        return relu_op(y) if relu else y
    per_channel = x.size // c if c else 0
    if per_channel <= 1 and x.size and unbiased_running_var:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {tuple(x.shape)}")
    if not x.size:  # an empty batch: no statistics, running ones unchanged (as PyTorch)
        y = _affine(x * 0, weight, bias)
        return relu_op(y) if relu else y
    view = (x.shape[0], c, math.prod(x.shape[2:]))
    y, fn = _normalize(x, view, weight, bias, eps, "channel", relu)
    _update_running(running_mean, running_var, fn, momentum,
                    per_channel / (per_channel - 1) if unbiased_running_var else 1.0)
    return y


def _update_running(running_mean: Any, running_var: Any, fn: Normalize, momentum: float,
                    var_factor: float) -> None:
    """running = (1 - momentum) * running + momentum * batch statistic, in place; the batch
    variance scaled by `var_factor` (n / (n - 1): unbiased, as PyTorch; 1: biased, as Keras)."""
    if running_mean is not None:
        rm = _array(running_mean)
        rm *= 1 - momentum
        rm += momentum * fn.mean.astype(rm.dtype)
    if running_var is not None:
        rv = _array(running_var)
        rv *= 1 - momentum
        rv += (momentum * var_factor) * fn.var.astype(rv.dtype)


def _eval_batch_norm(x: Tensor, running_mean: Any, running_var: Any, weight: Tensor | None,
                     bias: Tensor | None, eps: float) -> Tensor:
    """(x - running_mean) / sqrt(running_var + eps) * weight + bias, per channel: an affine map
    with constant statistics, composed of differentiable ops."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    with no_grad():
        mean = as_tensor(_array(running_mean)).astype(x.dtype).reshape(*shape)
        inv = (as_tensor(_array(running_var)).astype(x.dtype) + eps) ** -0.5
    return _affine((x - mean) * inv.reshape(*shape), weight, bias)


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """y (N, C, ...) * weight + bias, each (C,) or None, per channel."""
    shape = (1, y.shape[1]) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(*shape)
    if bias is not None:
        y = y + bias.reshape(*shape)
    return y


def normalized_shape_of(value: Any, op: str) -> tuple[int, ...]:
    """An int or a sequence of ints -> a tuple of positive ints."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    try:
        shape = tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{op}: normalized_shape must be an int or a sequence of ints, "
                        f"got {value!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"{op}: normalized_shape must be non-empty and positive, got {value!r}")
    return shape


def layer_norm(x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise x (..., *normalized_shape) over its trailing normalized_shape (D values per
    row, biased variance), then `* weight + bias` (each of normalized_shape, or None)."""
    x = as_tensor(x)
    shape = normalized_shape_of(normalized_shape, "layer_norm")
    if tuple(x.shape[x.ndim - len(shape):]) != shape or x.ndim < len(shape):
        raise ValueError(f"layer_norm: expected input of shape (..., {', '.join(map(str, shape))}), "
                         f"got {tuple(x.shape)}")
    weight = _check_param("layer_norm", "weight", weight, shape)
    bias = _check_param("layer_norm", "bias", bias, shape)
    d = math.prod(shape)
    y, _ = _normalize(x, (1, x.size // d, d), weight, bias, eps, "feature")
    return y
