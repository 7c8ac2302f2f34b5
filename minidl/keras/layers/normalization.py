"""BatchNormalization over the last (channels) axis, as Keras.

Runs minidl's fused `F.batch_norm` on the inputs viewed as (M, C) (every axis but the
last folded into M, a free reshape of channels-last data), with Keras's numbers, which
differ from PyTorch's: momentum 0.99 is the weight of the OLD moving statistic (PyTorch's
momentum 1 - 0.99), epsilon 1e-3, and the moving variance is updated with the biased batch
variance (Keras's `ops.moments`).
"""
from __future__ import annotations

from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.keras import initializers
from minidl.keras.layers.base import Layer, Shape
from minidl.ops.norm import batch_norm


class BatchNormalization(Layer):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over every axis but the last.

    In fit: batch statistics, and moving_mean/moving_variance move towards them by
    (1 - momentum). Elsewhere (and when the layer is frozen): the moving statistics.
    Weights in Keras's order: gamma, beta (trainable), moving_mean, moving_variance."""

    frozen_weights = ("moving_mean", "moving_variance")

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if axis not in (-1,):
            raise ValueError(f"BatchNormalization: only axis=-1 (channels-last) is supported by "
                             f"minidl.keras, got axis={axis!r}")
        if not (0.0 <= momentum <= 1.0) or epsilon <= 0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1] and epsilon > 0, got "
                             f"momentum={momentum}, epsilon={epsilon}")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.initializers = {name: initializers.get(init) for name, init in (
            ("gamma", gamma_initializer), ("beta", beta_initializer),
            ("moving_mean", moving_mean_initializer),
            ("moving_variance", moving_variance_initializer))}

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"BatchNormalization '{self.name}': needs inputs (batch, ..., channels) "
                             f"with a known number of channels, got {input_shape}")
        c = int(input_shape[-1])
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            used = {"gamma": self.scale, "beta": self.center}.get(name, True)
            if used:
                self.add_weight(name, (c,), self.initializers[name], (c, c),
                                trainable=name not in self.frozen_weights)

    def forward(self, x: Tensor) -> Tensor:
        channels = self.moving_mean.shape[0]
        if x.ndim < 2 or x.shape[-1] != channels:
            raise ValueError(f"BatchNormalization '{self.name}': expected inputs (batch, ..., "
                             f"{channels}), got shape {tuple(x.shape)}")
        use_batch = self.training and self._trainable  # a frozen layer keeps its statistics
        y = batch_norm(x.reshape(-1, channels), self.moving_mean, self.moving_variance,
                       self.gamma if self.scale else None, self.beta if self.center else None,
                       training=use_batch, momentum=1.0 - self.momentum, eps=self.epsilon,
                       unbiased_running_var=False)
        return y.reshape(*x.shape)

    def keras_weights(self) -> list[tuple[Any, Any]]:
        if not self.built:
            return []
        names = (["gamma"] if self.scale else []) + (["beta"] if self.center else []) + [
            "moving_mean", "moving_variance"]
        return [(getattr(self, n), None) for n in names]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                **{f"{k}_initializer": initializers.serialize(v) for k, v in self.initializers.items()}}
