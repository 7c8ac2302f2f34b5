"""Window geometry shared by convolution and pooling: written once.

Shapes: an input plane of `size` pixels along one axis, a window of `k`, stride `s`,
zero (or -inf) padding `p` on both sides.
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np


def output_size(size: int, k: int, s: int, p: int) -> int:
    """Number of window positions along one axis (floor, as PyTorch)."""
    return (size + 2 * p - k) // s + 1


def flat_index_dtype(h: int, w: int) -> np.dtype:
    """The integer type of a flat index h*W + w into an (H, W) plane: int32, half the
    memory and bandwidth of int64 (max pooling saves one per output for its backward),
    unless the plane has 2**31 pixels or more."""
    return np.dtype(np.int32) if h * w <= np.iinfo(np.int32).max else np.dtype(np.int64)


def as_pair(value: Any, what: str, op: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints -> (a, b), each at least `minimum`; `op` names the caller."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    try:
        if len(items) != 2 or any(isinstance(v, bool) for v in items):
            raise TypeError
        pair = (operator.index(items[0]), operator.index(items[1]))
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int or a pair of ints, got {value!r}") from None
    if min(pair) < minimum:
        raise ValueError(f"{op}: {what} must be >= {minimum}, got {value!r}")
    return pair
