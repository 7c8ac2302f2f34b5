"""Element-wise activations and (log-)softmax: plain array code (NumPy and CuPy alike).

Each activation is a pair `<name>_forward(x, ...) -> (y, saved)` and
`<name>_backward(gy, saved) -> gx`; the formulas are the numerically stable ones.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl.backend import array_module


def relu_forward(x: Any, needs: Sequence[bool] = (True,)) -> tuple[Any, Any]:
    """(max(x, 0), the mask x > 0); NaN passes through. The mask only when a gradient is
    needed."""
    return array_module(x).maximum(x, 0), (x > 0 if needs[0] else None)


def relu_backward(gy: Any, saved: Any) -> Any:
    """gy where saved > 0, else 0 (saved: the mask, or anything > 0 exactly where x > 0)."""
    return gy * (saved > 0)


def sigmoid_forward(x: Any) -> tuple[Any, Any]:
    """(1 / (1 + exp(-x)), y): the backward needs only the output."""
    xp = array_module(x)
    # exp of -|x| never overflows; e / (1 + e) keeps full relative precision in the
    # negative tail, where 1 + tanh(x / 2) would cancel (sigmoid(-40) would become 0)
    e = xp.exp(-xp.abs(x))
    r = 1 / (1 + e)
    y = xp.where(x >= 0, r, e * r)
    return y, y


def sigmoid_backward(gy: Any, y: Any) -> Any:
    return gy * y * (1 - y)


def tanh_forward(x: Any) -> tuple[Any, Any]:
    y = array_module(x).tanh(x)
    return y, y


def tanh_backward(gy: Any, y: Any) -> Any:
    return gy * (1 - y * y)


def softmax_forward(x: Any, axis: int) -> tuple[Any, Any]:
    """(exp(x) / sum(exp(x)) along `axis`, shifted by the max so nothing overflows; (y, axis))."""
    xp = array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y, (y, axis)


def softmax_backward(gy: Any, saved: Any) -> Any:
    y, axis = saved
    gx = y * gy
    return gx - y * gx.sum(axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int) -> Any:
    """log(softmax(x)) along `axis`, stable for logits of magnitude 1e4 (max-shifted)."""
    xp = array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax_forward(x: Any, axis: int) -> tuple[Any, Any]:
    y = log_softmax(x, axis)
    return y, (y, axis)


def log_softmax_backward(gy: Any, saved: Any) -> Any:
    y, axis = saved
    return gy - array_module(gy).exp(y) * gy.sum(axis=axis, keepdims=True)
