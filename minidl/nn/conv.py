"""Conv2D: the 2-D convolution layer."""
from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from minidl import backend as B
from minidl.autograd.tensor import Tensor
from minidl.kernels._geometry import as_pair
from minidl.nn import init
from minidl.nn.activation import fused_relu_forward, plain
from minidl.nn.module import Module, Parameter, floating_input
from minidl.nn.pool import MaxPool2D
from minidl.ops.conv import conv2d, conv2d_relu, conv2d_relu_max_pool2d


def _check_channels(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Conv2D: {name} must be a positive int, got {value!r}")
    return int(value)


class Conv2D(Module):
    """Cross-correlation of x (N, in, H, W) with `weight` -> (N, out, OH, OW), as PyTorch's Conv2d.

    `kernel_size`, `stride` and `padding` (zeros) are each an int or a pair (height, width);
    OH = (H + 2*pH - kH) // sH + 1, likewise OW.
    Parameters: `weight` (out, in, kH, kW), then `bias` (out,) (None when bias=False).
    Default initialisation: weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    fan_in = in*kH*kW, i.e. `init.kaiming_uniform_(a=sqrt(5))` exactly as PyTorch;
    bias ZERO (PyTorch draws it from the same range; minidl's rule is zero biases).
    float32, on the default backend, from the library RNG (`md.manual_seed`).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, bias: bool = True) -> None:
        super().__init__()
        self.in_channels = _check_channels("in_channels", in_channels)
        self.out_channels = _check_channels("out_channels", out_channels)
        self.kernel_size = as_pair(kernel_size, "kernel_size", "Conv2D", 1)
        self.stride = as_pair(stride, "stride", "Conv2D", 1)
        self.padding = as_pair(padding, "padding", "Conv2D", 0)
        xp = B.module_for(B.get_backend())
        self.weight = Parameter(xp.empty((out_channels, in_channels) + self.kernel_size,
                                         dtype="float32"))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = Parameter(xp.zeros(out_channels, dtype="float32")) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x (N, in, H, W), floating (cast to the weight's dtype) -> (N, out, OH, OW)."""
        return conv2d(self._checked(x), self.weight, self.bias, self.stride, self.padding)

    def forward_relu(self, x: Tensor) -> Tensor:
        """relu(self.forward(x)) as one op (nn.Sequential calls it for a Conv2D followed by a
        ReLU): the same numbers, without a pass of its own for the ReLU's forward."""
        return conv2d_relu(self._checked(x), self.weight, self.bias, self.stride, self.padding)

    def forward_relu_pool(self, x: Tensor, pool: MaxPool2D) -> Tensor:
        """pool(relu(self.forward(x))) as one op (nn.Sequential calls it for a Conv2D, a ReLU
        and a MaxPool2D): the same numbers, without the convolution's full-size output
        where the CPU kernels can pool it as they make it."""
        return conv2d_relu_max_pool2d(self._checked(x), self.weight, self.bias, self.stride,
                                      self.padding, pool.kernel_size, pool.stride, pool.padding)

    def _fused_forward(self, following: Sequence[Module]) -> tuple[Callable[[Tensor], Tensor], int] | None:
        """forward_relu_pool for a plain ReLU and MaxPool2D after a plain Conv2D, forward_relu
        for a plain ReLU (`fused_relu_forward`)."""
        fused = fused_relu_forward(self, following, (Conv2D,))
        if fused is not None and len(following) > 1 and plain(following[1], (MaxPool2D,)):
            return functools.partial(self.forward_relu_pool, pool=following[1]), 2
        return fused

    def _checked(self, x: Any) -> Tensor:
        x = floating_input("Conv2D", x, self.weight.dtype)
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"Conv2D: expected input of shape (N, {self.in_channels}, H, W), "
                             f"got {shape}")
        return x

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")
        return text if self.bias is not None else text + ", bias=False"


Conv2d = Conv2D
