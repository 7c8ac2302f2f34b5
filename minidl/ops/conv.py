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
from minidl.kernels._geometry import as_pair, output_size
from minidl.ops.pool import check_window, pool_window


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
    x, weight, bias, stride_, padding_ = _checked_arguments(x, weight, bias, stride, padding)
    fn = Conv2d(stride_, padding_, relu)
    return fn(x, weight) if bias is None else fn(x, weight, bias)


def _checked_arguments(x: Any, weight: Any, bias: Any, stride: Any, padding: Any
                       ) -> tuple[Tensor, Tensor, Tensor | None, tuple[int, int], tuple[int, int]]:
    """(x, weight, bias) as tensors and (stride, padding) as pairs, their shapes checked."""
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    stride_ = as_pair(stride, "stride", "conv2d", 1)
    padding_ = as_pair(padding, "padding", "conv2d", 0)
    _check_shapes(x, weight, bias, stride_, padding_)
    return x, weight, bias, stride_, padding_


class Conv2dReluMaxPool2d(Function):
    """max_pool2d(relu(conv2d(x))) as one node (nn.Sequential's fusion of a Conv2D, a ReLU
    and a MaxPool2D): the same numbers and gradients as the three ops; the Numba kernels
    pool the convolution's rows as they make them (kernels/conv, `forward_relu_pool`)."""

    fresh_grads = True  # every implementation's gradients are new or workspace arrays

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int],
                 window: tuple[tuple[int, int], ...]) -> None:
        self.stride, self.padding, self.window = stride, padding, window

    def forward(self, x: Any, weight: Any, bias: Any = None) -> Any:
        y, self.saved = conv_kernel.forward_relu_pool(x, weight, bias, self.stride, self.padding,
                                                      self.window, self.needs_input_grad)
        return y

    def backward(self, gy: Any) -> tuple[Any, Any, Any]:
        return conv_kernel.backward_relu_pool(gy, self.saved)


def conv2d_relu_max_pool2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                           kernel_size: Any = 2, pool_stride: Any = None, pool_padding: Any = 0
                           ) -> Tensor:
    """max_pool2d(relu(conv2d(x, weight, bias, stride, padding)), kernel_size, pool_stride,
    pool_padding) as one op: x (N, C_in, H, W) -> (N, C_out, PH, PW)."""
    x, weight, bias, stride_, padding_ = _checked_arguments(x, weight, bias, stride, padding)
    window = pool_window(kernel_size, pool_stride, pool_padding, "max_pool2d")
    conv_shape = (x.shape[0], weight.shape[0]) + tuple(
        output_size(x.shape[2 + a], weight.shape[2 + a], stride_[a], padding_[a]) for a in (0, 1))
    check_window(conv_shape, window[0], window[2], "max_pool2d")
    fn = Conv2dReluMaxPool2d(stride_, padding_, window)
    return fn(x, weight) if bias is None else fn(x, weight, bias)
