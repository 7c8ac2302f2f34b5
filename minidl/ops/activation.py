"""Element-wise activations and (log-)softmax, numerically stable."""
from __future__ import annotations

from typing import Any

from minidl.autograd.function import Function
from minidl.backend import array_module
from minidl.backend.cpu import activation as _act_kernels


class ReLU(Function):
    def forward(self, x: Any) -> Any:
        y, saved = _act_kernels.relu_forward(x)
        self.saved = saved if self.needs_input_grad[0] else None
        return y

    def backward(self, gy: Any) -> Any:
        return _act_kernels.relu_backward(gy, self.saved)


class Sigmoid(Function):
    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        # exp of -|x| never overflows; e / (1 + e) keeps full relative precision in the
        # negative tail, where 1 + tanh(x / 2) would cancel (sigmoid(-40) would become 0)
        e = xp.exp(-xp.abs(x))
        r = 1 / (1 + e)
        self.y = xp.where(x >= 0, r, e * r)
        return self.y

    def backward(self, gy: Any) -> Any:
        return gy * self.y * (1 - self.y)


class Tanh(Function):
    def forward(self, x: Any) -> Any:
        self.y = array_module(x).tanh(x)
        return self.y

    def backward(self, gy: Any) -> Any:
        return gy * (1 - self.y * self.y)


class Softmax(Function):
    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, gy: Any) -> Any:
        gx = self.y * gy
        return gx - self.y * gx.sum(axis=self.axis, keepdims=True)


class LogSoftmax(Function):
    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.y = y
        return y

    def backward(self, gy: Any) -> Any:
        xp = array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)


def relu(x: Any) -> Any:
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    return ReLU()(x)


def sigmoid(x: Any) -> Any:
    return Sigmoid()(x)


def tanh(x: Any) -> Any:
    return Tanh()(x)


def softmax(x: Any, axis: int = -1) -> Any:
    return Softmax(axis)(x)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """log(softmax(x)) computed stably (fine for logits of magnitude 1e4)."""
    return LogSoftmax(axis)(x)
