"""Keras's weight initialisers by name, filling minidl Parameters in place.

Fans are read from the KERAS layout of the weight (kernel (in, units), conv kernel
(kH, kW, in, filters)): `fans` is given by the layer, so a Conv2D kernel stored as
(filters, in, kH, kW) gets the same limits as in Keras. Draws come from the library RNG
(`md.manual_seed`, or `keras.utils.set_random_seed`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.backend.random import generator
from minidl.nn import init
from minidl.training import lookup, name_of

Initializer = Callable[[Any, tuple[int, int]], None]  # (parameter, (fan_in, fan_out)) -> fills it


def glorot_uniform(p: Any, fans: tuple[int, int]) -> None:
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)): Keras's default kernel init."""
    limit = math.sqrt(6.0 / (fans[0] + fans[1]))
    init.uniform_(p, -limit, limit)


def glorot_normal(p: Any, fans: tuple[int, int]) -> None:
    """Truncated normal (at 2 std), std = sqrt(2 / (fan_in + fan_out)) / .87962566."""
    _truncated_normal(p, math.sqrt(2.0 / (fans[0] + fans[1])) / 0.87962566103423978)


def he_uniform(p: Any, fans: tuple[int, int]) -> None:
    limit = math.sqrt(6.0 / fans[0])
    init.uniform_(p, -limit, limit)


def he_normal(p: Any, fans: tuple[int, int]) -> None:
    _truncated_normal(p, math.sqrt(2.0 / fans[0]) / 0.87962566103423978)


def zeros(p: Any, fans: tuple[int, int]) -> None:
    init.zeros_(p)


def ones(p: Any, fans: tuple[int, int]) -> None:
    init.ones_(p)


def random_uniform(p: Any, fans: tuple[int, int]) -> None:
    """U(-0.05, 0.05): Keras's RandomUniform() and the Embedding default ("uniform")."""
    init.uniform_(p, -0.05, 0.05)


def random_normal(p: Any, fans: tuple[int, int]) -> None:
    init.normal_(p, 0.0, 0.05)


def orthogonal(p: Any, fans: tuple[int, int]) -> None:
    """An orthogonal matrix (Keras's LSTM recurrent kernel): QR of a normal draw of shape
    (max(rows, cols), min(rows, cols)), signs fixed by diag(R), transposed if wide."""
    rows, cols = int(np.prod(p.shape[:-1])), int(p.shape[-1])
    a = generator(np).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    p.data[...] = B.to_backend(q.reshape(p.shape), B.backend_of_device(p.device))


def _truncated_normal(p: Any, std: float) -> None:
    """N(0, std^2) redrawn outside 2 std, as Keras's truncated normal."""
    rng = generator(np)
    values = rng.standard_normal(p.shape)
    bad = np.abs(values) > 2.0
    while bad.any():
        values[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(values) > 2.0
    p.data[...] = B.to_backend(values * std, B.backend_of_device(p.device))


_INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
    "he_uniform": he_uniform, "he_normal": he_normal, "zeros": zeros, "ones": ones,
    "random_uniform": random_uniform, "uniform": random_uniform, "random_normal": random_normal,
    "orthogonal": orthogonal,
}


def get(identifier: Any) -> Initializer:
    if callable(identifier):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"an initializer must be a name or a function, got {type(identifier).__name__}")
    return lookup(_INITIALIZERS, identifier, "initializer", "initializers")


def serialize(fn: Initializer) -> str:
    """The name of a built-in initializer (what get() takes); a custom one cannot be saved."""
    return name_of(_INITIALIZERS, fn, "initializer")
