"""2-D convolution (cross-correlation, as PyTorch): graph bookkeeping over kernels/conv.

Shapes: x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,),
y (N, C_out, OH, OW) with OH = (H + 2*pH - kH) // sH + 1, likewise OW.
"""
from __future__ import annotations

from typing import Any

from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.kernels import activation as activation_kernel
from minidl.kernels import conv as conv_kernel
from minidl.kernels._geometry import as_pair


class Conv2d(Function):
    """y = x cross-correlated with weight (+ bias), then max(y, 0) when `relu` (a Conv2D and
    the ReLU after it in one node, nn.Sequential's fusion: no pass of its own for the ReLU's
    forward); the kernel saves what the gradients need, and the ReLU's backward its output."""

    fresh_grads = True  # every implementation's gradients are new or workspace arrays

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int], relu: bool = False) -> None:
        self.stride, self.padding, self.relu = stride, padding, relu

    def forward(self, x: Any, weight: Any, bias: Any = None) -> Any:
        y, self.saved = conv_kernel.forward(x, weight, bias, self.stride, self.padding,
                                            self.needs_input_grad, relu=self.relu)
        self.y = y if self.relu and any(self.needs_input_grad) else None
        return y

    def backward(self, gy: Any) -> tuple[Any, Any, Any]:
        if self.relu:
            gy = activation_kernel.relu_backward_from_output(gy, self.y, out=self.overwritable(0, gy))
        return conv_kernel.backward(gy, self.saved)


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
    return _conv2d(x, weight, bias, stride, padding, relu=False)


def conv2d_relu(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0) -> Tensor:
    """relu(conv2d(x, weight, bias, stride, padding)) as one op: the same numbers, without a
    pass of its own for the ReLU's forward."""
    return _conv2d(x, weight, bias, stride, padding, relu=True)


def _conv2d(x: Any, weight: Any, bias: Any, stride: Any, padding: Any, relu: bool) -> Tensor:
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    stride_ = as_pair(stride, "stride", "conv2d", 1)
    padding_ = as_pair(padding, "padding", "conv2d", 0)
    _check_shapes(x, weight, bias, stride_, padding_)
    fn = Conv2d(stride_, padding_, relu)
    return fn(x, weight) if bias is None else fn(x, weight, bias)
