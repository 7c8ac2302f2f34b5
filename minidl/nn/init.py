"""Parameter initialisers (`nn.init`), in place, drawn from the library's seeded RNG.

Each function overwrites `tensor.data` in place (the array object stays the same) and
returns the tensor. Values are drawn in float64 from `minidl.backend.random.generator`
of the tensor's array module, then cast to the tensor's dtype, so `md.manual_seed`
makes them repeatable whatever the dtype.

Fan layout. PyTorch reads fans from a weight shaped (out, in, *kernel): that is
minidl's Conv2D layout ("out_in", the default). minidl's Dense (and LSTM) weights are
stored transposed, (in, out) ("in_out"). The fan functions take `layout=`; when it is
None they use the tensor's own `fan_layout` attribute (Dense marks its weight
"in_out"), else "out_in". So `init.xavier_uniform_(dense.weight)` is right as is.
"""
from __future__ import annotations

import math
from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.backend import array_module
from minidl.backend.random import generator

__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "constant_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LAYOUTS = ("out_in", "in_out")


def _fill(tensor: Tensor, values: Any) -> Tensor:
    tensor.data[...] = values
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b)."""
    rng = generator(array_module(tensor.data))
    return _fill(tensor, rng.random(tensor.shape) * (b - a) + a)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std**2)."""
    rng = generator(array_module(tensor.data))
    return _fill(tensor, rng.standard_normal(tensor.shape) * std + mean)


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 1)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as PyTorch's `calculate_gain`."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor: Tensor, layout: str | None = None) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of at least 2 dimensions.

    layout "out_in": shape (out, in, *kernel) as PyTorch (Conv2D);
    layout "in_out": shape (in, out, *kernel) (Dense). None: the tensor's `fan_layout`,
    else "out_in". Trailing axes multiply both fans (the receptive field).
    """
    if layout is None:
        layout = getattr(tensor, "fan_layout", None) or "out_in"
    if layout not in _LAYOUTS:
        raise ValueError(f"calculate_fan_in_and_fan_out: layout must be one of {_LAYOUTS}, "
                         f"got {layout!r}")
    if tensor.ndim < 2:
        raise ValueError("calculate_fan_in_and_fan_out: fans need a tensor of at least 2 "
                         f"dimensions, got shape {tuple(tensor.shape)}")
    receptive = math.prod(tensor.shape[2:])
    first, second = tensor.shape[0] * receptive, tensor.shape[1] * receptive
    return (second, first) if layout == "out_in" else (first, second)


def _fan(tensor: Tensor, mode: str, layout: str | None) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor, layout)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", *, layout: str | None = None) -> Tensor:
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan) (PyTorch's rule)."""
    if tensor.size == 0:  # nothing to fill (and no fan to divide by)
        return tensor
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / _fan(tensor, mode, layout))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", *, layout: str | None = None) -> Tensor:
    """He normal: N(0, std**2), std = gain / sqrt(fan) (PyTorch's rule)."""
    if tensor.size == 0:
        return tensor
    gain = calculate_gain(nonlinearity, a)
    return normal_(tensor, 0.0, gain / math.sqrt(_fan(tensor, mode, layout)))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, *, layout: str | None = None) -> Tensor:
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    if tensor.size == 0:
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor, layout)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, *, layout: str | None = None) -> Tensor:
    """Glorot normal: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    if tensor.size == 0:
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor, layout)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
