"""2-D pooling: graph bookkeeping over kernels/pool (max: saves the argmax indexes, not the
input, for backward) and kernels/avgpool (fixed and adaptive average: saves the windows).

Shapes: x (N, C, H, W) -> y (N, C, OH, OW); fixed windows: OH = (H + 2*pH - kH) // sH + 1.
"""
from __future__ import annotations

import operator
from typing import Any

from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.kernels import avgpool as avgpool_kernel
from minidl.kernels import pool as pool_kernel
from minidl.kernels._geometry import as_pair


class MaxPool2d(Function):
    """Window maxima; the gradient goes to each window's (first) max element."""

    fresh_grads = True  # every implementation's unpool makes a new or workspace array

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]) -> None:
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: Any) -> Any:
        y, self.saved = pool_kernel.forward(x, self.kernel, self.stride, self.padding,
                                            self.needs_input_grad)
        return y

    def backward(self, gy: Any) -> Any:
        return pool_kernel.backward(gy, self.saved)


class AvgPool2d(Function):
    """Window means, padding counted as zeros; each pixel's gradient sums gy / kH*kW of
    the windows that hold it."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]) -> None:
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: Any) -> Any:
        y, self.saved = avgpool_kernel.forward(x, self.kernel, self.stride, self.padding,
                                               self.needs_input_grad)
        return y

    def backward(self, gy: Any) -> Any:
        return avgpool_kernel.backward(gy, self.saved)


class AdaptiveAvgPool2d(AvgPool2d):
    """Means over output_size windows spread over the plane (PyTorch's bounds)."""

    def __init__(self, output_size: tuple[int, int]) -> None:
        self.output_size = output_size

    def forward(self, x: Any) -> Any:
        y, self.saved = avgpool_kernel.adaptive_forward(x, self.output_size, self.needs_input_grad)
        return y


def _check_rank(x: Tensor, op: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{op}: expected input of shape (N, C, H, W), got {tuple(x.shape)}")


def _check_float(x: Tensor, op: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected floating input, got {x.dtype}")


def _check(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int], op: str = "max_pool2d") -> None:
    _check_rank(x, op)
    check_window(tuple(x.shape), kernel, padding, op)


def pool_window(kernel_size: Any, stride: Any, padding: Any, op: str
                ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(kernel, stride, padding) pairs from ints or pairs; stride defaults to the kernel;
    `op` names the caller in errors."""
    kernel = as_pair(kernel_size, "kernel_size", op, 1)
    stride_ = kernel if stride is None else as_pair(stride, "stride", op, 1)
    return kernel, stride_, as_pair(padding, "padding", op, 0)


def check_window(shape: tuple[int, ...], kernel: tuple[int, int], padding: tuple[int, int],
                 op: str) -> None:
    """The window fits the padded (N, C, H, W) `shape`; the padding is at most half of it."""
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding should be at most half of the kernel size, "
                         f"got padding {padding} for kernel_size {kernel}")
    for axis, size in enumerate(shape[2:]):
        if size + 2 * padding[axis] < kernel[axis]:
            raise ValueError(f"{op}: kernel_size {kernel} is larger than the padded input "
                             f"({shape[2] + 2 * padding[0]}, {shape[3] + 2 * padding[1]}) "
                             f"(input {shape}, padding {padding})")


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Max over (kH, kW) windows of x (N, C, H, W); each argument an int or a pair.

    `stride` defaults to `kernel_size`; padding (at most half the kernel) counts as -inf;
    output sizes round down. The gradient goes to the first max of each window on ties.
    """
    x = as_tensor(x)
    kernel, stride_, padding_ = pool_window(kernel_size, stride, padding, "max_pool2d")
    _check(x, kernel, stride_, padding_)
    if x.dtype.kind not in "iuf":  # as torch: no max pooling of bool (or complex) tensors
        raise TypeError(f"max_pool2d: expected an integer or floating tensor, got dtype {x.dtype}")
    return MaxPool2d(kernel, stride_, padding_)(x)


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Mean over (kH, kW) windows of x (N, C, H, W) -> (N, C, OH, OW); each argument an int
    or a pair.

    As PyTorch's (count_include_pad=True, ceil_mode=False): `stride` defaults to
    `kernel_size`; the zero padding (at most half the kernel) counts, so every window's sum
    is divided by kH*kW; OH = (H + 2*pH - kH) // sH + 1.
    """
    x = as_tensor(x)
    kernel, stride_, padding_ = pool_window(kernel_size, stride, padding, "avg_pool2d")
    _check(x, kernel, stride_, padding_, "avg_pool2d")
    _check_float(x, "avg_pool2d")
    if 0 in x.shape[1:]:
        raise ValueError(f"avg_pool2d: expected non-empty C, H and W (only N may be 0), "
                         f"got input of shape {tuple(x.shape)}")
    return AvgPool2d(kernel, stride_, padding_)(x)


def adaptive_output_size(output_size: Any, op: str) -> tuple[int | None, int | None]:
    """An int or a pair of ints or None (None: keep that input size) -> a pair; `op`
    names the caller."""
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    try:
        if len(items) != 2 or any(isinstance(v, bool) for v in items):
            raise TypeError
        pair = tuple(None if v is None else operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{op}: output_size must be an int or a pair of ints (or None), "
                        f"got {output_size!r}") from None
    if any(v is not None and v < 0 for v in pair):
        raise ValueError(f"{op}: output_size must be >= 0, got {output_size!r}")
    return pair  # type: ignore[return-value]


def adaptive_avg_pool2d(x: Any, output_size: Any) -> Tensor:
    """Mean over (OH, OW) windows spread over x (N, C, H, W) -> (N, C, OH, OW).

    `output_size` is an int or a pair; a None entry keeps that input size. Window i along
    an axis of H pixels spans rows floor(i*H/OH) to ceil((i+1)*H/OH) (PyTorch's bounds), so
    windows may differ in size and overlap; each sum is divided by its own window's size.
    adaptive_avg_pool2d(x, 1) is the global average of each channel.
    """
    x = as_tensor(x)
    size = adaptive_output_size(output_size, "adaptive_avg_pool2d")
    _check_rank(x, "adaptive_avg_pool2d")
    _check_float(x, "adaptive_avg_pool2d")
    if 0 in x.shape[2:]:
        raise ValueError(f"adaptive_avg_pool2d: expected non-empty H and W, got input of shape "
                         f"{tuple(x.shape)}")
    out = tuple(x.shape[2 + axis] if v is None else v for axis, v in enumerate(size))
    return AdaptiveAvgPool2d(out)(x)
