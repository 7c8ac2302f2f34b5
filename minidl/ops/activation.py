"""Element-wise activations and (log-)softmax: graph bookkeeping over kernels/activation."""
from __future__ import annotations

import numbers
from typing import Any

from minidl.autograd.function import Function
from minidl.kernels import activation as K


class ReLU(Function):
    fresh_grads = True  # a new array, or gy overwritten when the engine allows

    def forward(self, x: Any) -> Any:
        y, self.saved = K.relu_forward(x, self.needs_input_grad)
        return y

    def backward(self, gy: Any) -> Any:
        return K.relu_backward(gy, self.saved, out=self.overwritable(0, gy))


class Sigmoid(Function):
    def forward(self, x: Any) -> Any:
        y, self.saved = K.sigmoid_forward(x)
        return y

    def backward(self, gy: Any) -> Any:
        return K.sigmoid_backward(gy, self.saved)


class Tanh(Function):
    def forward(self, x: Any) -> Any:
        y, self.saved = K.tanh_forward(x)
        return y

    def backward(self, gy: Any) -> Any:
        return K.tanh_backward(gy, self.saved)


class Softmax(Function):
    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        y, self.saved = K.softmax_forward(x, self.axis)
        return y

    def backward(self, gy: Any) -> Any:
        return K.softmax_backward(gy, self.saved)


class LogSoftmax(Function):
    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        y, self.saved = K.log_softmax_forward(x, self.axis)
        return y

    def backward(self, gy: Any) -> Any:
        return K.log_softmax_backward(gy, self.saved)


class LeakyReLU(Function):
    def __init__(self, negative_slope: float) -> None:
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Any:
        y, self.saved = K.leaky_relu_forward(x, self.negative_slope)
        return y

    def backward(self, gy: Any) -> Any:
        return K.leaky_relu_backward(gy, self.saved)


class ELU(Function):
    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def forward(self, x: Any) -> Any:
        y, self.saved = K.elu_forward(x, self.alpha)
        return y

    def backward(self, gy: Any) -> Any:
        return K.elu_backward(gy, self.saved)


class SiLU(Function):
    def forward(self, x: Any) -> Any:
        y, self.saved = K.silu_forward(x)
        return y

    def backward(self, gy: Any) -> Any:
        return K.silu_backward(gy, self.saved)


class GELU(Function):
    def __init__(self, approximate: str) -> None:
        self.approximate = approximate

    def forward(self, x: Any) -> Any:
        y, self.saved = K.gelu_forward(x, self.approximate)
        return y

    def backward(self, gy: Any) -> Any:
        return K.gelu_backward(gy, self.saved)


def _number(value: Any, what: str, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {what} must be a real number, got {value!r}")
    return float(value)


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


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x where x > 0, else negative_slope * x; the gradient at 0 is negative_slope (PyTorch)."""
    return LeakyReLU(_number(negative_slope, "negative_slope", "leaky_relu"))(x)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """x where x > 0, else alpha * (exp(x) - 1); the gradient at 0 is alpha (PyTorch)."""
    return ELU(_number(alpha, "alpha", "elu"))(x)


def silu(x: Any) -> Any:
    """x * sigmoid(x) (also called swish)."""
    return SiLU()(x)


def gelu(x: Any, approximate: str = "none") -> Any:
    """x * Phi(x), Phi the standard normal CDF (exact with "none"; "tanh": PyTorch's
    0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))))."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU(approximate)(x)
