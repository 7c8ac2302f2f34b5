"""Element-wise activations and (log-)softmax: graph bookkeeping over kernels/activation."""
from __future__ import annotations

from typing import Any

from minidl.autograd.function import Function
from minidl.kernels import activation as K


class ReLU(Function):
    def forward(self, x: Any) -> Any:
        y, self.saved = K.relu_forward(x, self.needs_input_grad)
        return y

    def backward(self, gy: Any) -> Any:
        return K.relu_backward(gy, self.saved)


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
