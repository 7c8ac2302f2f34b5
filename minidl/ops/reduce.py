"""Reductions: sum, mean, max/min (ties share the gradient evenly), var; PyTorch's
max/min over `dim=` (values and indices, the gradient to the index returned), argmax/argmin.
"""
from __future__ import annotations

import builtins
import math
from typing import Any, NamedTuple

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
        total = super().forward(x)
        self.count = math.prod(x.shape[a] for a in self.axes)
        if self.count == 0:  # a mean over nothing is NaN, as PyTorch (NumPy also warns)
            return array_module(x).full_like(total, np.nan)
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy: Any) -> Any:
        return super().backward(gy / builtins.max(self.count, 1))  # a mean over nothing: no gradient


class Max(Function):
    """Max over axes; tied elements share the gradient evenly."""

    def __init__(self, axis: Any = None, keepdims: bool = False, take_min: bool = False) -> None:
        self.axis, self.keepdims, self.take_min = axis, keepdims, take_min

    def forward(self, x: Any) -> Any:
        self.axes = normalize_axes(self.axis, x.ndim)
        empty = [a for a in self.axes if x.shape[a] == 0]
        if empty or x.size == 0 and not self.axes:
            # as PyTorch: only a reduced axis of size 0 has no max (an empty batch is fine)
            raise ValueError(f"max/min: the tensor is empty along the reduced axes {tuple(empty)} "
                             f"(shape {x.shape}); give an axis of nonzero size")
        y = (x.min if self.take_min else x.max)(axis=self.axes, keepdims=True)
        self.mask = x == y
        self.in_shape = x.shape
        return y if self.keepdims else y.reshape(
            [n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy: Any) -> Any:
        count = self.mask.sum(axis=self.axes, keepdims=True)
        g = expand_reduced(gy, self.in_shape, self.axes, self.keepdims)
        return g * self.mask / count.astype(gy.dtype)


class MinMax(NamedTuple):
    """What `max(dim=...)` / `min(dim=...)` return, as torch.return_types.max/min."""

    values: Any
    indices: Any


def _single_axis(op: str, axis: Any, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: dim must be one int, got {axis!r}")
    (a,) = normalize_axes(axis, ndim) or (0,)  # a 0-d tensor: dim 0 or -1, as PyTorch
    return a


class MaxDim(Function):
    """Max (or min) along one axis with its index, as torch.max(x, dim); the gradient goes to
    the index returned (the first of tied elements; a NaN wins, as in PyTorch)."""

    def __init__(self, axis: int, keepdims: bool = False, take_min: bool = False) -> None:
        self.axis, self.keepdims, self.take_min = axis, keepdims, take_min

    def forward(self, x: Any) -> tuple[Any, Any]:
        xp = array_module(x)
        self.axis = _single_axis(self.name, self.axis, x.ndim)
        flat = x.reshape(1) if x.ndim == 0 else x
        if flat.shape[self.axis] == 0:
            raise ValueError(f"max/min: dim {self.axis} has size 0 (shape {x.shape})")
        index = (flat.argmin if self.take_min else flat.argmax)(axis=self.axis, keepdims=True)
        values = xp.take_along_axis(flat, index, axis=self.axis)
        self.index, self.in_shape = index, x.shape
        if not self.keepdims or x.ndim == 0:
            out_shape = tuple(n for i, n in enumerate(x.shape) if i != self.axis)
            values, index = values.reshape(out_shape), index.reshape(out_shape)
        return values, index.astype(np.int64, copy=False)

    def backward(self, gy: Any, gi: Any) -> Any:
        xp = array_module(gy)
        if not self.in_shape:
            return gy.reshape(())
        span = [1] * len(self.in_shape)
        span[self.axis] = self.in_shape[self.axis]
        hit = xp.arange(self.in_shape[self.axis]).reshape(span) == self.index
        g = gy if self.keepdims else xp.expand_dims(gy, self.axis)
        return xp.where(hit, g, xp.zeros((), dtype=gy.dtype))


def max_dim(x: Any, axis: int, keepdims: bool = False) -> MinMax:
    return MinMax(*MaxDim(axis, keepdims)(x))


def min_dim(x: Any, axis: int, keepdims: bool = False) -> MinMax:
    return MinMax(*MaxDim(axis, keepdims, take_min=True)(x))


def argmax(x: Any, axis: Any = None, keepdims: bool = False, take_min: bool = False) -> Any:
    """Index of the largest (smallest) element, int64, no gradient; over the flattened tensor
    when axis is None. Ties give the first index."""
    from minidl.autograd.tensor import Tensor  # noqa: PLC0415 - cycle

    data = x.data
    if axis is not None:
        axis = _single_axis("argmin" if take_min else "argmax", axis, data.ndim)
        if data.ndim == 0:
            return Tensor(array_module(data).zeros((), dtype=np.int64))
    if data.size == 0:
        raise ValueError(f"{'argmin' if take_min else 'argmax'}: the tensor is empty "
                         f"(shape {data.shape})")
    found = (data.argmin if take_min else data.argmax)(axis=axis, keepdims=keepdims)
    return Tensor(found.astype(np.int64, copy=False))


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
