"""2-D pooling layers (no parameters): MaxPool2D, AvgPool2D, AdaptiveAvgPool2D."""
from __future__ import annotations

from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.nn.module import Module
from minidl.ops.pool import adaptive_avg_pool2d, adaptive_output_size, avg_pool2d, max_pool2d, pool_window


def _pool_arguments(layer: str, kernel_size: Any, stride: Any, padding: Any
                    ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(kernel, stride, padding) pairs; stride defaults to the kernel; padding at most half."""
    kernel, stride_, padding_ = pool_window(kernel_size, stride, padding, layer)
    if padding_[0] > kernel[0] // 2 or padding_[1] > kernel[1] // 2:
        raise ValueError(f"{layer}: padding should be at most half of the kernel size, got "
                         f"padding {padding_} for kernel_size {kernel}")
    return kernel, stride_, padding_


class MaxPool2D(Module):
    """Window maxima of x (N, C, H, W) -> (N, C, OH, OW), as PyTorch's MaxPool2d.

    `kernel_size`, `stride` (default: kernel_size) and `padding` (-inf, at most half the
    kernel) are each an int or a pair; OH = (H + 2*pH - kH) // sH + 1 (rounded down).
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = _pool_arguments("MaxPool2D", kernel_size, stride,
                                                                      padding)

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"



class AvgPool2D(Module):
    """Window means of x (N, C, H, W) -> (N, C, OH, OW), as PyTorch's AvgPool2d (with
    count_include_pad=True, ceil_mode=False).

    `kernel_size`, `stride` (default: kernel_size) and `padding` (zeros, at most half the
    kernel) are each an int or a pair; the padding counts in every window's divisor kH*kW;
    OH = (H + 2*pH - kH) // sH + 1 (rounded down).
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = _pool_arguments("AvgPool2D", kernel_size, stride,
                                                                      padding)

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2D(Module):
    """Means over output_size (OH, OW) windows spread over x (N, C, H, W) -> (N, C, OH, OW),
    as PyTorch's AdaptiveAvgPool2d.

    `output_size`: an int or a pair; a None entry keeps that input size. Window i along an
    axis of H pixels spans floor(i*H/OH) to ceil((i+1)*H/OH). AdaptiveAvgPool2D(1) is
    global average pooling: (N, C, H, W) -> (N, C, 1, 1).
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        adaptive_output_size(output_size, "AdaptiveAvgPool2D")  # checked now, kept as given
        self.output_size = tuple(output_size) if isinstance(output_size, list) else output_size

    def forward(self, x: Tensor) -> Tensor:
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


MaxPool2d = MaxPool2D
AvgPool2d = AvgPool2D
AdaptiveAvgPool2d = AdaptiveAvgPool2D
