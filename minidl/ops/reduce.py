"""Reductions: sum, mean, max/min (ties share the gradient evenly), var."""
from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from minidl.autograd.function import Function
from minidl.backend import array_module


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """Axis argument (None, int or tuple, negatives allowed) as a sorted tuple of positives."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    # a 0-d tensor accepts axis 0 and -1, as in PyTorch, and reduces over nothing
    span = builtins.max(ndim, 1)
    out = []
    for a in axes:
        if not -span <= a < span:
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(int(a) % span)
    return tuple(sorted(set(out))) if ndim else ()


def expand_reduced(gy: Any, in_shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Any:
    """Broadcast a reduced gradient back to the input's shape."""
    xp = array_module(gy)
    if not keepdims:
        gy = gy.reshape([1 if i in axes else n for i, n in enumerate(in_shape)])
    return xp.broadcast_to(gy, in_shape)


class Sum(Function):
    def __init__(self, axis: Any = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Any) -> Any:
        self.axes = normalize_axes(self.axis, x.ndim)
        self.in_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy: Any) -> Any:
        return expand_reduced(gy, self.in_shape, self.axes, self.keepdims)


class Mean(Sum):
    def forward(self, x: Any) -> Any:
        super().forward(x)
        self.count = math.prod(x.shape[a] for a in self.axes)
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy: Any) -> Any:
        return super().backward(gy / self.count)


class Max(Function):
    """Max over axes; tied elements share the gradient evenly."""

    def __init__(self, axis: Any = None, keepdims: bool = False, take_min: bool = False) -> None:
        self.axis, self.keepdims, self.take_min = axis, keepdims, take_min

    def forward(self, x: Any) -> Any:
        self.axes = normalize_axes(self.axis, x.ndim)
        if x.size == 0:
            raise ValueError("max/min of an empty tensor")
        y = (x.min if self.take_min else x.max)(axis=self.axes, keepdims=True)
        self.mask = x == y
        self.in_shape = x.shape
        return y if self.keepdims else y.reshape(
            [n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy: Any) -> Any:
        count = self.mask.sum(axis=self.axes, keepdims=True)
        g = expand_reduced(gy, self.in_shape, self.axes, self.keepdims)
        return g * self.mask / count.astype(gy.dtype)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return Sum(axis, keepdims)(x)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return Mean(axis, keepdims)(x)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return Max(axis, keepdims)(x)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return Max(axis, keepdims, take_min=True)(x)


def var(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Population variance (divides by the count), composed from mean."""
    mu = mean(x, axis, keepdims=True)
    return mean((x - mu) ** 2, axis, keepdims)
