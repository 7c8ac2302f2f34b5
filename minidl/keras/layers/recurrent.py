"""LSTM and GRU on (batch, time, features) inputs, as Keras.

LSTM runs minidl's fused `nn.LSTM`, whose weights are Keras's own layout: kernel (in, 4U),
recurrent_kernel (U, 4U), one bias (4U,), gates i, f, c, o. GRU (Keras 3's reset_after=True
cell, PyTorch's formulation: the recurrent bias of the candidate sits inside r * (...))
runs the fused GRU layer op that `nn.GRU` runs; it keeps Keras's weights, kernel (in, 3U),
recurrent_kernel (U, 3U), bias (2, 3U), gates z, r, h, and hands the op their gate blocks
in its order r, z, n.
Shapes: N batch, T time steps, U units.
"""
from __future__ import annotations

from typing import Any

from minidl import nn
from minidl.autograd.tensor import Tensor
from minidl.keras import initializers
from minidl.keras.layers.base import Layer, Shape
from minidl.keras.layers.core import positive_int
from minidl.ops.linear import linear
from minidl.ops.recurrent import gru_layer
from minidl.ops.shape import concatenate

_CELL_DEFAULTS = {"activation": "tanh", "recurrent_activation": "sigmoid", "dropout": 0.0,
                  "recurrent_dropout": 0.0, "return_state": False, "go_backwards": False,
                  "stateful": False, "unroll": False}


class _Recurrent(Layer):
    """Shared arguments, checks and output selection of LSTM and GRU."""

    gates = 4

    def __init__(self, units: int, return_sequences: bool = False, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", **kwargs: Any) -> None:
        what = type(self).__name__
        for key, default in _CELL_DEFAULTS.items():
            if key in kwargs and kwargs.pop(key) != default:
                raise ValueError(f"{what}: only {key}={default!r} is supported by minidl.keras")
        super().__init__(**kwargs)
        if not use_bias:
            raise ValueError(f"{what}: use_bias=False is not supported by minidl.keras")
        self.units = positive_int(what, "units", units)
        self.return_sequences = bool(return_sequences)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def check_shape(self, input_shape: Shape) -> int:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected inputs of shape (batch, "
                             f"time, features), got {input_shape}"
                             + (" (an Embedding layer turns ids into (batch, time, features))"
                                if len(input_shape) == 2 else ""))
        return int(input_shape[-1])

    def init_weights(self, kernel: Any, recurrent: Any, features: int) -> None:
        g = self.gates * self.units
        self.kernel_initializer(kernel, (features, g))
        self.recurrent_initializer(recurrent, (self.units, g))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def check_input(self, x: Tensor, features: int) -> None:
        if x.ndim != 3 or x.shape[-1] != features:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected inputs of shape (batch, "
                             f"time, {features}), got {tuple(x.shape)}")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "return_sequences": self.return_sequences,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class LSTM(_Recurrent):
    """Long short-term memory over (N, T, features) -> (N, U), or (N, T, U) with
    return_sequences. Keras's initialisers: glorot_uniform kernel, orthogonal recurrent
    kernel, zero bias with the forget-gate slice at 1 (unit_forget_bias)."""

    def __init__(self, units: int, return_sequences: bool = False, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, return_sequences, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape: Shape) -> None:
        features = self.check_shape(input_shape)
        self.lstm = nn.LSTM(features, self.units)
        self.init_weights(self.lstm.weight_ih_l0, self.lstm.weight_hh_l0, features)
        self.bias_initializer(self.lstm.bias_l0, (features, 4 * self.units))
        if self.unit_forget_bias:
            self.lstm.bias_l0.data[self.units:2 * self.units] = 1.0

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x, self.lstm.input_size)
        out, (h, _) = self.lstm(x)
        return out if self.return_sequences else h[0]

    def keras_weights(self) -> list[tuple[Any, Any]]:
        if not self.built:
            return []
        return [(self.lstm.weight_ih_l0, None), (self.lstm.weight_hh_l0, None), (self.lstm.bias_l0, None)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_Recurrent):
    """Gated recurrent unit, Keras 3's cell (reset_after=True), gates z, r, h:
    z = sigmoid(x Wz + bz + h Uz + cz), r likewise, hh = tanh(x Wh + bh + r * (h Uh + ch)),
    h' = z * h + (1 - z) * hh. kernel (in, 3U), recurrent_kernel (U, 3U), bias (2, 3U)
    (input bias, recurrent bias)."""

    gates = 3

    def __init__(self, units: int, return_sequences: bool = False, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, return_sequences, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, **kwargs)
        if not reset_after:
            raise ValueError("GRU: only reset_after=True (Keras 3's default) is supported by minidl.keras")

    def build(self, input_shape: Shape) -> None:
        features = self.check_shape(input_shape)
        g = 3 * self.units
        self.add_weight("kernel", (features, g), self.kernel_initializer, (features, g))
        self.add_weight("recurrent_kernel", (self.units, g), self.recurrent_initializer, (self.units, g))
        self.add_weight("bias", (2, g), self.bias_initializer, (features, g))

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x, self.kernel.shape[0])
        n, t, _ = x.shape
        xg = linear(x.reshape(n * t, -1), self._rzn(self.kernel), self._rzn(self.bias[0]))
        out, h = gru_layer(xg.reshape(n, t, 3 * self.units), self._rzn(self.recurrent_kernel),
                           self._rzn(self.bias[1]), time_axis=1)
        return out if self.return_sequences else h

    def _rzn(self, w: Tensor) -> Tensor:
        """Keras's gate blocks z, r, h along the last axis -> the GRU op's r, z, n."""
        u = self.units
        return concatenate([w[..., u:2 * u], w[..., :u], w[..., 2 * u:]], axis=-1)

    def keras_weights(self) -> list[tuple[Any, Any]]:
        if not self.built:
            return []
        return [(self.kernel, None), (self.recurrent_kernel, None), (self.bias, None)]
