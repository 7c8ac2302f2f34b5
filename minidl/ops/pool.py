"""2-D max pooling: graph bookkeeping over kernels/pool (which saves the argmax indexes,
not the input, for backward).

Shapes: x (N, C, H, W) -> y (N, C, OH, OW) with OH = (H + 2*pH - kH) // sH + 1.
"""
from __future__ import annotations

from typing import Any

from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.kernels import pool as pool_kernel
from minidl.kernels._geometry import as_pair


class MaxPool2d(Function):
    """Window maxima; the gradient goes to each window's (first) max element."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]) -> None:
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: Any) -> Any:
        y, self.saved = pool_kernel.forward(x, self.kernel, self.stride, self.padding,
                                            self.needs_input_grad)
        return y

    def backward(self, gy: Any) -> Any:
        return pool_kernel.backward(gy, self.saved)


def _check(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int]) -> None:
    if x.ndim != 4:
        raise ValueError(f"max_pool2d: expected input of shape (N, C, H, W), got {tuple(x.shape)}")
    if x.dtype.kind not in "iuf":  # as torch: no max pooling of bool (or complex) tensors
        raise TypeError(f"max_pool2d: expected an integer or floating tensor, got dtype {x.dtype}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"max_pool2d: padding should be at most half of the kernel size, "
                         f"got padding {padding} for kernel_size {kernel}")
    for axis, size in enumerate(x.shape[2:]):
        if size + 2 * padding[axis] < kernel[axis]:
            raise ValueError(f"max_pool2d: kernel_size {kernel} is larger than the padded input "
                             f"({x.shape[2] + 2 * padding[0]}, {x.shape[3] + 2 * padding[1]}) "
                             f"(input {tuple(x.shape)}, padding {padding})")


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Max over (kH, kW) windows of x (N, C, H, W); each argument an int or a pair.

    `stride` defaults to `kernel_size`; padding (at most half the kernel) counts as -inf;
    output sizes round down. The gradient goes to the first max of each window on ties.
    """
    x = as_tensor(x)
    kernel = as_pair(kernel_size, "kernel_size", "max_pool2d", 1)
    stride_ = kernel if stride is None else as_pair(stride, "stride", "max_pool2d", 1)
    padding_ = as_pair(padding, "padding", "max_pool2d", 0)
    _check(x, kernel, stride_, padding_)
    return MaxPool2d(kernel, stride_, padding_)(x)
