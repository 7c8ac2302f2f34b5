"""Dense, Activation, Dropout, Flatten, Embedding: Keras's core layers over minidl.nn."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl import nn
from minidl.autograd.tensor import Tensor
from minidl.keras import activations, initializers
from minidl.keras.layers.base import Layer, Shape
from minidl.ops.dropout import dropout


def positive_int(layer: str, what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer}: {what} must be a positive integer, got {value!r}")
    return int(value)


class KernelLayer(Layer):
    """A layer with a kernel, an optional bias and an activation (Dense, Conv2D): the
    weights live in an nn child named `core_name`; `kernel_axes` turns its weight into
    Keras's layout."""

    core_name = "linear"
    kernel_axes: tuple[int, ...] | None = None

    def __init__(self, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def pre_activation(self, x: Tensor, relu: bool = False) -> Tensor:
        """The layer's output before its activation (rectified when `relu`: the core's op
        fused with the ReLU, the same numbers)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if self.activation is activations.relu:
            return self.pre_activation(x, relu=True)
        return self.activation(self.pre_activation(x))

    def init_weights(self, fans: tuple[int, int]) -> None:
        core = getattr(self, self.core_name)
        self.kernel_initializer(core.weight, fans)
        if self.use_bias:
            self.bias_initializer(core.bias, fans)

    @property
    def kernel(self) -> Any:
        return getattr(self, self.core_name).weight

    @property
    def bias(self) -> Any:
        return getattr(self, self.core_name).bias if self.use_bias else None

    def keras_weights(self) -> list[tuple[Any, Any]]:
        if not self.built:
            return []
        return [(self.kernel, self.kernel_axes)] + ([(self.bias, None)] if self.use_bias else [])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Dense(KernelLayer):
    """activation(x @ kernel + bias): inputs (..., in) -> (..., units).

    kernel (in, units) glorot_uniform, bias (units,) zeros, as Keras; `in` is read from
    the first input (or `input_shape`)."""

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any) -> None:
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, **kwargs)
        self.units = positive_int("Dense", "units", units)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense '{self.name}': needs inputs of shape (batch, ..., features) "
                             f"with a known number of features, got {input_shape}")
        fan_in = int(input_shape[-1])
        self.linear = nn.Dense(fan_in, self.units, bias=self.use_bias)
        self.init_weights((fan_in, self.units))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[:-1]) + (self.units,)

    def pre_activation(self, x: Tensor, relu: bool = False) -> Tensor:
        features = self.linear.in_features
        if x.ndim < 2 or x.shape[-1] != features:
            hint = " (add a Flatten layer before it to flatten images)" if x.ndim > 2 else ""
            raise ValueError(f"Dense '{self.name}': expected inputs of shape (batch, ..., {features}), "
                             f"got {tuple(x.shape)}{hint}")
        return self.linear.forward_relu(x) if relu else self.linear(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


class Activation(Layer):
    """An activation by name ("relu", "softmax", ...) as a layer; any shape."""

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def pre_activation(self, x: Tensor) -> Tensor:
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Zeroes a `rate` share of the inputs and scales the rest by 1/(1 - rate), in fit only."""

    def __init__(self, rate: float, noise_shape: Any = None, seed: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if noise_shape is not None or seed is not None:
            raise ValueError("Dropout: noise_shape and seed are not supported by minidl.keras "
                             "(md.manual_seed / keras.utils.set_random_seed seed every draw)")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"Dropout: rate must be a number in [0, 1], got {rate!r}")
        self.rate = float(rate)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.rate, self.training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...), in the data's own (H, W, C) order."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_channels_last("Flatten", data_format)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)


class Embedding(Layer):
    """Rows of `embeddings` (input_dim, output_dim) looked up by integer ids of any shape
    S -> S + (output_dim,); initialised U(-0.05, 0.05) as Keras."""

    autocast = False

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 mask_zero: bool = False, **kwargs: Any) -> None:
        kwargs.pop("input_length", None)  # accepted and unused, as Keras 3
        super().__init__(**kwargs)
        if mask_zero:
            raise ValueError("Embedding: mask_zero=True is not supported by minidl.keras")
        self.input_dim = positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = positive_int("Embedding", "output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)

    def build(self, input_shape: Shape) -> None:
        self.embedding = nn.Embedding(self.input_dim, self.output_dim)
        self.embeddings_initializer(self.embedding.weight, (self.input_dim, self.output_dim))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape) + (self.output_dim,)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.dtype.kind == "f":  # Keras casts float ids to integers
            ids = ids.astype(np.int64)
        return self.embedding(ids)

    @property
    def embeddings(self) -> Any:
        return self.embedding.weight

    def keras_weights(self) -> list[tuple[Any, Any]]:
        return [(self.embedding.weight, None)] if self.built else []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer)}


def check_channels_last(layer: str, data_format: str | None) -> None:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer}: data_format={data_format!r} is not supported; minidl.keras is "
                         f"channels-last (N, H, W, C), Keras's default. Transpose channels-first "
                         f"data with x.transpose(0, 2, 3, 1), or use minidl.nn's channels-first layers")
