"""MaxPool2D: the 2-D max-pooling layer (no parameters)."""
from __future__ import annotations

from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.kernels._geometry import as_pair
from minidl.nn.module import Module
from minidl.ops.pool import max_pool2d


class MaxPool2D(Module):
    """Window maxima of x (N, C, H, W) -> (N, C, OH, OW), as PyTorch's MaxPool2d.

    `kernel_size`, `stride` (default: kernel_size) and `padding` (-inf, at most half the
    kernel) are each an int or a pair; OH = (H + 2*pH - kH) // sH + 1 (rounded down).
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "kernel_size", "MaxPool2D", 1)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride", "MaxPool2D", 1)
        self.padding = as_pair(padding, "padding", "MaxPool2D", 0)
        if self.padding[0] > self.kernel_size[0] // 2 or self.padding[1] > self.kernel_size[1] // 2:
            raise ValueError(f"MaxPool2D: padding should be at most half of the kernel size, got "
                             f"padding {self.padding} for kernel_size {self.kernel_size}")

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


MaxPool2d = MaxPool2D
