"""In-place updates (`t += u`, `t[idx] = v`, `zero_()`, ...) with PyTorch's rules.

They change `t.data` itself, so every reference to `t` (an optimizer, a module, the user's
own) sees the new values. Rules:
- grad mode: allowed on tensors that record no graph, and under `no_grad()` on any tensor;
  a tensor that requires grad, or a value that does, raises RuntimeError while grad mode is
  on (minidl records no graph for an in-place op) and nothing changes;
- dtype: the result is computed as the out-of-place op would, then written in t's dtype if
  that is the same kind or wider (float32 += float64 stays float32; int += float is an error);
- shape: the result must keep t's shape (broadcasting may not grow t);
- each change bumps t's version counter; backward refuses to use an array saved before it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.function import bump_version as bump
from minidl.autograd.grad_mode import is_grad_enabled, no_grad
from minidl.autograd.tensor import Tensor
from minidl.ops.shape import _plain_index, check_index_device

# bool < integers < floats < complex: writing a result into a lower kind is refused
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def records_graph(t: Tensor, operands: tuple[Any, ...] = ()) -> bool:
    """Whether the update would have to enter a graph: grad mode on and t or a value
    requiring grad."""
    return is_grad_enabled() and (t.requires_grad or any(
        isinstance(u, Tensor) and u.requires_grad for u in operands))


def check_allowed(name: str, t: Tensor, operands: tuple[Any, ...] = ()) -> None:
    """Raise (changing nothing) where PyTorch's rules, as minidl keeps them, refuse."""
    if not records_graph(t, operands):
        return
    if t.requires_grad:
        what = "a leaf tensor that requires grad" if t.is_leaf else "a tensor that is part of a graph"
        raise RuntimeError(
            f"{name}: {what} cannot be changed in place while grad mode is on; do the update "
            f"inside `with md.no_grad():` (as for a parameter update, p -= lr * p.grad) or use an "
            f"out-of-place op (t = t + u)")
    raise RuntimeError(
        f"{name}: the value requires grad, and minidl records no graph for in-place ops; use an "
        f"out-of-place op (t = t + u), or `with md.no_grad():` if no gradient should flow")


def apply(name: str, t: Tensor, compute: Callable[[], Tensor], operands: tuple[Any, ...]) -> Tensor:
    """Check, compute the out-of-place result (the same op, the same bits), then write it
    into t's own array."""
    check_allowed(name, t, operands)
    with no_grad():
        y = compute()
    if _KIND_RANK.get(y.dtype.kind, 9) > _KIND_RANK.get(t.dtype.kind, 9):
        raise RuntimeError(f"{name}: result type {y.dtype} can't be cast to the desired output "
                           f"type {t.dtype}")
    if y.shape != t.shape:
        raise RuntimeError(f"{name}: output with shape {t.shape} doesn't match the broadcast "
                           f"shape {y.shape}")
    _write(name, t, ..., y.data)
    return t


def _write(name: str, t: Tensor, index: Any, value: Any) -> None:
    """t.data[index] = value, then the version bump; NumPy's refusals (a value that does not
    broadcast, a read-only array) come back naming the op, with nothing written."""
    try:
        t.data[index] = value
    except ValueError as exc:
        raise RuntimeError(f"{name}: {exc} (tensor shape {t.shape})") from None
    bump(t)


def _value(name: str, t: Tensor, value: Any) -> Any:
    """A value to write into t: a number, or an array on t's device."""
    if isinstance(value, Tensor):
        value = value.data
    if B.is_array(value) and not isinstance(value, np.generic) and B.device_of(value) != t.device:
        raise B.DeviceMismatchError(f"{name}: the value is on {B.device_of(value)} but the tensor "
                                    f"is on {t.device}")
    return value


def setitem(t: Tensor, index: Any, value: Any) -> None:
    """t[index] = value: the value broadcast to the indexed shape and cast to t's dtype (as
    PyTorch's copy_, which truncates floats written into an integer tensor)."""
    check_allowed("__setitem__", t, (value,))
    index = _plain_index(index)
    check_index_device("__setitem__", index, t.data)
    value = _value("__setitem__", t, value)
    _write("__setitem__", t, index, value)


def fill(t: Tensor, value: Any) -> Tensor:
    """t.fill_(value): a number or a 0-d tensor."""
    check_allowed("fill_", t, (value,))
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                           f"{value.ndim} dimensions")
    _write("fill_", t, ..., _value("fill_", t, value))
    return t


def copy(t: Tensor, src: Any) -> Tensor:
    """t.copy_(src): src broadcast to t's shape and cast to t's dtype; a src on another device
    is copied over (an explicit copy, as PyTorch's copy_)."""
    check_allowed("copy_", t, (src,))
    data = src.data if isinstance(src, Tensor) else src
    if not B.is_array(data):
        raise TypeError(f"copy_: src must be a Tensor or an array, got {type(src).__name__}")
    data = B.to_backend(data, B.backend_of_device(t.device))
    try:
        target = np.broadcast_shapes(tuple(data.shape), t.shape)
    except ValueError:
        target = None
    if target != t.shape:
        raise RuntimeError(f"copy_: src of shape {tuple(data.shape)} cannot be broadcast to the "
                           f"tensor's shape {t.shape}")
    _write("copy_", t, ..., data)
    return t
