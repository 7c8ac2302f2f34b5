"""2-D convolution (cross-correlation, as PyTorch) by im2col and one matrix product.

Shapes: x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,),
y (N, C_out, OH, OW) with OH = (H + 2*pH - kH) // sH + 1, likewise OW.
"""
from __future__ import annotations

import operator
from typing import Any

from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.backend.cpu import conv as kernels  # looked up per call: a fast kernel can swap in


def as_pair(value: Any, what: str, op: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints -> (a, b), each at least `minimum`; `op` names the caller."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    try:
        if len(items) != 2 or any(isinstance(v, bool) for v in items):
            raise TypeError
        pair = (operator.index(items[0]), operator.index(items[1]))
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int or a pair of ints, got {value!r}") from None
    if min(pair) < minimum:
        raise ValueError(f"{op}: {what} must be >= {minimum}, got {value!r}")
    return pair


class Conv2d(Function):
    """y = im2col(x) @ weight.reshape(C_out, -1).T + bias, laid back out as NCHW."""

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int]) -> None:
        self.stride, self.padding = stride, padding

    def forward(self, x: Any, weight: Any, bias: Any = None) -> Any:
        (sh, sw), (ph, pw) = self.stride, self.padding
        self.fast = kernels.conv2d_fast(x, weight, bias)
        if self.fast:  # Numba: direct or im2col per shape; saves the inputs, not cols
            self.x = x if self.needs_input_grad[1] else None
            self.w = weight if self.needs_input_grad[0] or self.needs_input_grad[1] else None
            self.x_shape, self.w_shape = x.shape, weight.shape
            return kernels.conv2d_forward(x, weight, bias, sh, sw, ph, pw)
        n = x.shape[0]
        c_out, _, kh, kw = weight.shape
        cols = kernels.im2col(x, kh, kw, sh, sw, ph, pw)  # (N*OH*OW, C_in*kh*kw)
        w2 = weight.reshape(c_out, -1)
        y = cols @ w2.T  # (N*OH*OW, C_out)
        if bias is not None:
            y += bias
        # saved only for the gradients asked for: cols for dW, the weight for dx
        self.cols = cols if self.needs_input_grad[1] else None
        self.w2 = w2 if self.needs_input_grad[0] else None
        self.x_shape, self.w_shape = x.shape, weight.shape
        oh, ow = kernels.output_size(x.shape[2], kh, sh, ph), kernels.output_size(x.shape[3], kw, sw, pw)
        # rows are (n, oh, ow): a free reshape, then a transposed view in NCHW order
        return y.reshape(n, oh, ow, c_out).transpose(0, 3, 1, 2)

    def backward(self, gy: Any) -> tuple[Any, Any, Any]:
        (sh, sw), (ph, pw) = self.stride, self.padding
        if self.fast:
            need = self.needs_input_grad
            return kernels.conv2d_backward(gy, self.x, self.w, sh, sw, ph, pw, self.x_shape, need[0],
                                           need[1], len(need) > 2 and need[2])
        c_out, _, kh, kw = self.w_shape
        gy2 = gy.transpose(0, 2, 3, 1).reshape(-1, c_out)  # (N*OH*OW, C_out), rows as cols
        need_x, need_w = self.needs_input_grad[:2]
        need_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        gx = gw = gb = None
        if need_w:
            gw = (gy2.T @ self.cols).reshape(self.w_shape)
        if need_b:
            gb = gy2.sum(axis=0)
        if need_x:  # skipped for a network's first layer: its input needs no gradient
            gx = kernels.col2im(gy2 @ self.w2, self.x_shape, kh, kw, sh, sw, ph, pw)
        return gx, gw, gb


def _check_shapes(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                  padding: tuple[int, int]) -> None:
    if weight.ndim != 4:
        raise ValueError(f"conv2d: expected weight of shape (C_out, C_in, kH, kW), "
                         f"got {tuple(weight.shape)}")
    c_out, c_in, kh, kw = weight.shape
    if x.ndim != 4 or x.shape[1] != c_in:
        raise ValueError(f"conv2d: expected input of shape (N, {c_in}, H, W) to match weight "
                         f"{tuple(weight.shape)}, got {tuple(x.shape)}")
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise ValueError(f"conv2d: expected bias of shape ({c_out},), got {tuple(bias.shape)}")
    h, w = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    if kh > h or kw > w:
        raise ValueError(f"conv2d: kernel ({kh}, {kw}) is larger than the padded input "
                         f"({h}, {w}) (input {tuple(x.shape)}, padding {padding})")


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0) -> Tensor:
    """Cross-correlate x (N, C_in, H, W) with weight (C_out, C_in, kH, kW), plus bias (C_out,).

    `stride` (>= 1) and `padding` (>= 0, zeros) are each an int or a pair (height, width).
    Returns (N, C_out, OH, OW) with OH = (H + 2*pH - kH) // sH + 1, likewise OW.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    stride_ = as_pair(stride, "stride", "conv2d", 1)
    padding_ = as_pair(padding, "padding", "conv2d", 0)
    _check_shapes(x, weight, bias, stride_, padding_)
    fn = Conv2d(stride_, padding_)
    return fn(x, weight) if bias is None else fn(x, weight, bias)
