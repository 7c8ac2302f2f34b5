"""Conv2D and the pooling layers on channels-last data (N, H, W, C), as Keras.

Conv2D and MaxPooling2D run minidl's NCHW kernels between two transposes (the conv's
output, transposed back, is exactly the contiguous array the pooling wants, so a
Conv2D -> MaxPooling2D pair costs no copy); the average poolings work on NHWC directly.
padding="same" follows Keras (TensorFlow): output size ceil(in / stride), the extra row or
column of padding at the bottom and right.
"""
from __future__ import annotations

import math
from typing import Any

from minidl import backend as B
from minidl import nn
from minidl.autograd.tensor import Tensor
from minidl.keras.layers.base import Layer, Shape
from minidl.keras.layers.core import KernelLayer, check_channels_last, positive_int
from minidl.ops.conv import as_pair, conv2d, conv2d_relu
from minidl.ops.pool import max_pool2d
from minidl.ops.shape import concatenate

Pads = tuple[int, int, int, int]  # top, bottom, left, right


def check_padding(layer: str, padding: str) -> str:
    key = str(padding).lower()
    if key not in ("valid", "same"):
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', got {padding!r}")
    return key


def output_size(size: int | None, kernel: int, stride: int, padding: str) -> int | None:
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def same_pads(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int]) -> Pads:
    """TensorFlow's "same" padding: total = max((ceil(n/s) - 1)*s + k - n, 0), the odd one
    at the end."""
    pads = []
    for n, k, s in ((h, kernel[0], stride[0]), (w, kernel[1], stride[1])):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads[0], pads[1], pads[2], pads[3]


def pad_hw(x: Tensor, pads: Pads, value: float, axes: tuple[int, int]) -> Tensor:
    """x with constant borders on its two spatial `axes` (no gradient flows to the border)."""
    xp = B.array_module(x.data)
    for axis, (before, after) in zip(axes, (pads[:2], pads[2:])):
        parts = []
        for n in (before, after):
            shape = list(x.shape)
            shape[axis] = n
            parts.append(Tensor(xp.full(tuple(shape), value, dtype=x.dtype)) if n else None)
        x = concatenate([p for p in (parts[0], x, parts[1]) if p is not None], axis=axis)
    return x


def spatial(layer: Layer, x: Tensor, what: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': expected channels-last images of "
                         f"shape (batch, height, width, channels), got {what} of shape "
                         f"{tuple(x.shape)}" + (" (add a channel axis: x[..., None])" if x.ndim == 3 else ""))


def channels_first_hint(shape: tuple[Any, ...]) -> str:
    """A hint when (N, C, H, W) data meets a channels-last layer."""
    if len(shape) == 4 and shape[1] is not None and shape[1] in (1, 3, 4) and shape[3] not in (1, 3, 4):
        return (f". This looks like channels-first data (N, C, H, W); minidl.keras, like Keras, is "
                f"channels-last (N, H, W, C): transpose it with x.transpose(0, 2, 3, 1) "
                f"(or np.moveaxis(x, 1, -1))")
    return ""


class Conv2D(KernelLayer):
    """2-D convolution of channels-last images (N, H, W, C) -> (N, OH, OW, filters).

    kernel (kH, kW, C, filters) in Keras's layout (stored as minidl's (filters, C, kH, kW)),
    glorot_uniform; bias zeros. strides and padding ("valid" or "same") as Keras."""

    core_name = "conv"
    kernel_axes = (2, 3, 1, 0)

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = (1, 1), groups: int = 1,
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any) -> None:
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, **kwargs)
        check_channels_last("Conv2D", data_format)
        if as_pair(dilation_rate, "dilation_rate", "Conv2D", 1) != (1, 1) or groups != 1:
            raise ValueError("Conv2D: dilation_rate and groups other than 1 are not supported by "
                             "minidl.keras")
        self.filters = positive_int("Conv2D", "filters", filters)
        self.kernel_size = as_pair(kernel_size, "kernel_size", "Conv2D", 1)
        self.strides = as_pair(strides, "strides", "Conv2D", 1)
        self.padding = check_padding("Conv2D", padding)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"Conv2D '{self.name}': expected channels-last images of shape "
                             f"(batch, height, width, channels), got {input_shape}"
                             + (" (add a channel axis: x[..., None])" if len(input_shape) == 3 else ""))
        out = self.compute_output_shape(input_shape)
        if any(d is not None and d < 1 for d in out[1:3]):
            raise ValueError(f"Conv2D '{self.name}': inputs of shape {input_shape} are too small for "
                             f"kernel_size {self.kernel_size} with padding '{self.padding}'"
                             + channels_first_hint(input_shape))
        channels = int(input_shape[-1])
        self.conv = nn.Conv2D(channels, self.filters, self.kernel_size, self.strides,
                              bias=self.use_bias)
        field = self.kernel_size[0] * self.kernel_size[1]
        self.init_weights((channels * field, self.filters * field))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        h, w = (output_size(n, k, s, self.padding)
                for n, k, s in zip(input_shape[1:3], self.kernel_size, self.strides))
        return (input_shape[0], h, w, self.filters)

    def pre_activation(self, x: Tensor, relu: bool = False) -> Tensor:
        spatial(self, x, "inputs")
        channels = self.conv.in_channels
        if x.shape[-1] != channels:
            raise ValueError(f"Conv2D '{self.name}': expected channels-last inputs (batch, height, "
                             f"width, {channels}), got shape {tuple(x.shape)}"
                             + channels_first_hint(tuple(x.shape)))
        padding: Any = 0
        if self.padding == "same":
            pads = same_pads(x.shape[1], x.shape[2], self.kernel_size, self.strides)
            if pads[0] == pads[1] and pads[2] == pads[3]:
                padding = (pads[0], pads[2])
            else:
                x = pad_hw(x, pads, 0.0, (1, 2))
        op = conv2d_relu if relu else conv2d
        y = op(x.transpose(0, 3, 1, 2), self.conv.weight, self.conv.bias, self.strides, padding)
        return y.transpose(0, 2, 3, 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding}


class _Pooling2D(Layer):
    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        what = type(self).__name__
        check_channels_last(what, data_format)
        self.pool_size = as_pair(pool_size, "pool_size", what, 1)
        self.strides = self.pool_size if strides is None else as_pair(strides, "strides", what, 1)
        self.padding = check_padding(what, padding)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 4:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected channels-last images of "
                             f"shape (batch, height, width, channels), got {input_shape}")
        out = self.compute_output_shape(input_shape)
        if any(d is not None and d < 1 for d in out[1:3]):
            raise ValueError(f"{type(self).__name__} '{self.name}': inputs of shape {input_shape} are "
                             f"smaller than pool_size {self.pool_size}" + channels_first_hint(input_shape))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        h, w = (output_size(n, k, s, self.padding)
                for n, k, s in zip(input_shape[1:3], self.pool_size, self.strides))
        return (input_shape[0], h, w, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    """Window maxima of channels-last images: (N, H, W, C) -> (N, OH, OW, C)."""

    def forward(self, x: Tensor) -> Tensor:
        spatial(self, x, "inputs")
        padding: Any = 0
        if self.padding == "same":
            pads = same_pads(x.shape[1], x.shape[2], self.pool_size, self.strides)
            half = (self.pool_size[0] // 2, self.pool_size[1] // 2)
            if pads[0] == pads[1] <= half[0] and pads[2] == pads[3] <= half[1]:
                padding = (pads[0], pads[2])
            else:
                x = pad_hw(x, pads, -math.inf, (1, 2))
        y = max_pool2d(x.transpose(0, 3, 1, 2), self.pool_size, self.strides, padding)
        return y.transpose(0, 2, 3, 1)


class AveragePooling2D(_Pooling2D):
    """Window means of channels-last images; with padding="same" the padding is left out of
    each mean, as Keras."""

    def forward(self, x: Tensor) -> Tensor:
        spatial(self, x, "inputs")
        kh, kw = self.pool_size
        if self.padding == "same":
            h, w = x.shape[1], x.shape[2]
            pads = same_pads(h, w, self.pool_size, self.strides)
            xp = B.array_module(x.data)
            inside = xp.zeros((1, h + pads[0] + pads[1], w + pads[2] + pads[3], 1), dtype=x.dtype)
            inside[:, pads[0]:pads[0] + h, pads[2]:pads[2] + w] = 1
            count = self._window_sums(Tensor(inside)).data  # real (unpadded) values per window
            return self._window_sums(pad_hw(x, pads, 0.0, (1, 2))) / count
        return self._window_sums(x) * (1.0 / (kh * kw))

    def _window_sums(self, x: Tensor) -> Tensor:
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
        total = None
        for a in range(kh):
            for b in range(kw):
                part = x[:, a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw, :]
                total = part if total is None else total + part
        return total


class GlobalAveragePooling2D(Layer):
    """The mean over height and width: (N, H, W, C) -> (N, C) (or (N, 1, 1, C) with keepdims)."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_channels_last("GlobalAveragePooling2D", data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[3])
        return (input_shape[0], input_shape[3])

    def forward(self, x: Tensor) -> Tensor:
        spatial(self, x, "inputs")
        return x.mean(axis=(1, 2), keepdims=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "keepdims": self.keepdims}

