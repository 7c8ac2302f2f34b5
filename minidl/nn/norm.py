"""Normalization layers: BatchNorm1D, BatchNorm2D (running statistics as buffers) and LayerNorm."""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from minidl import backend as B
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.nn.activation import fused_relu_forward
from minidl.nn.module import Module, Parameter, floating_input
from minidl.ops.norm import batch_norm, batch_norm_relu, layer_norm, normalized_shape_of


class LayerNorm(Module):
    """Normalise each row over its trailing `normalized_shape` (D values): x (..., *shape).

    Parameters (with elementwise_affine): `weight` (ones) and `bias` (zeros, absent with
    bias=False), each of normalized_shape. Biased variance, as PyTorch.
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        self.normalized_shape = normalized_shape_of(normalized_shape, "LayerNorm")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        xp = B.module_for(B.get_backend())
        self.weight = self.bias = None
        if self.elementwise_affine:
            self.weight = Parameter(xp.ones(self.normalized_shape, dtype="float32"))
            if bias:
                self.bias = Parameter(xp.zeros(self.normalized_shape, dtype="float32"))

    def forward(self, x: Tensor) -> Tensor:
        if self.weight is not None:
            x = floating_input("LayerNorm", x, self.weight.dtype)
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class _BatchNorm(Module):
    """Batch statistics in training (biased variance to normalise, unbiased into the running
    variance), running statistics in eval(); as PyTorch. Parameters `weight` (C,) ones and
    `bias` (C,) zeros (with affine); buffers `running_mean`, `running_var`,
    `num_batches_tracked` (with track_running_stats). momentum=None: a cumulative average."""

    _ranks: tuple[int, ...] = ()
    _shapes = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, numbers.Integral) or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        xp = B.module_for(B.get_backend())
        c = self.num_features
        self.weight = Parameter(xp.ones(c, dtype="float32")) if self.affine else None
        self.bias = Parameter(xp.zeros(c, dtype="float32")) if self.affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", xp.zeros(c, dtype="float32"))
            self.register_buffer("running_var", xp.ones(c, dtype="float32"))
            self.register_buffer("num_batches_tracked", xp.zeros((), dtype="int64"))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x, relu=False)

    def forward_relu(self, x: Tensor) -> Tensor:
        """relu(self.forward(x)) (nn.Sequential calls it for a batch norm followed by a
        ReLU): the same numbers, in training without passes of the ReLU's own."""
        return self._run(x, relu=True)

    def _fused_forward(self, following: Sequence[Module]) -> tuple[Callable[[Tensor], Tensor], int] | None:
        """forward_relu for a plain ReLU after a plain BatchNorm1D/2D (`fused_relu_forward`)."""
        return fused_relu_forward(self, following, (BatchNorm1D, BatchNorm2D))

    def _run(self, x: Tensor, relu: bool) -> Tensor:
        name = type(self).__name__
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) not in self._ranks or shape[1] != self.num_features:
            raise ValueError(f"{name}: expected input of shape {self._shapes.format(C=self.num_features)}, "
                             f"got {shape}")
        # no parameters and no buffers: nothing fixes a dtype, so the input keeps its own
        state = self.weight if self.weight is not None else self.running_mean
        x = as_tensor(x)
        x = floating_input(name, x, state.dtype if state is not None else x.dtype)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch = self.training or self.running_mean is None
        keep_running = not self.training or self.track_running_stats
        return (batch_norm_relu if relu else batch_norm)(
            x, self.running_mean if keep_running else None,
            self.running_var if keep_running else None, self.weight, self.bias, use_batch,
            factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1D(_BatchNorm):
    """Batch normalization of x (N, C) or (N, C, L), per channel C."""

    _ranks = (2, 3)
    _shapes = "(N, {C}) or (N, {C}, L)"


class BatchNorm2D(_BatchNorm):
    """Batch normalization of x (N, C, H, W), per channel C."""

    _ranks = (4,)
    _shapes = "(N, {C}, H, W)"


BatchNorm1d, BatchNorm2d = BatchNorm1D, BatchNorm2D
