"""Keras's activations by name: relu, sigmoid, tanh, softmax, linear, gelu, leaky_relu.

Each takes and returns a Tensor of any shape (softmax over the last axis). `get(name)`
resolves a name (or None, "linear": the identity) to the function; `serialize(fn)` gives
the name back. Each runs minidl's own op (`F.gelu`, `F.leaky_relu`, ...) with Keras's
defaults: gelu exact (approximate=False), leaky_relu's negative_slope 0.2.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.ops import activation as A
from minidl.training import lookup, name_of

Activation = Callable[[Tensor], Tensor]


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return A.relu(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), stable in both tails."""
    return A.sigmoid(x)


def tanh(x: Tensor) -> Tensor:
    return A.tanh(x)


def softmax(x: Tensor) -> Tensor:
    """exp(x) / sum(exp(x)) over the last axis (stable)."""
    return A.softmax(x, -1)


def linear(x: Tensor) -> Tensor:
    """The identity (Keras's activation=None)."""
    return x


def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    """x for x > 0, negative_slope * x otherwise (Keras's default slope is 0.2)."""
    if not 0.0 <= negative_slope <= 1.0:
        raise ValueError(f"leaky_relu: negative_slope must be in [0, 1], got {negative_slope}")
    return A.leaky_relu(x, negative_slope)


def gelu(x: Tensor, approximate: bool = False) -> Tensor:
    """x * Phi(x), Phi the standard normal CDF (Keras's default, approximate=False); with
    approximate=True the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return A.gelu(x, "tanh" if approximate else "none")


_ACTIVATIONS: dict[str, Activation] = {
    "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "linear": linear,
    "gelu": gelu, "leaky_relu": leaky_relu,
}


def get(identifier: Any) -> Activation:
    """The activation function for a name, None ("linear") or a callable (kept as is)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return lookup(_ACTIVATIONS, identifier, "activation", "activations")
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a function, got {type(identifier).__name__}")


def serialize(fn: Activation) -> str:
    """The name of a built-in activation (what get() takes); a custom one cannot be saved."""
    return name_of(_ACTIVATIONS, fn, "activation")
