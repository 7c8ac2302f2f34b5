"""Test helpers: hypothesis strategies for shapes and float64 tensors on a backend."""
from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import minidl as md


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def broadcastable_pair(draw: Any, max_dims: int = 3) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast together (some sides set to 1, some leading axes dropped)."""
    full = draw(shapes(0, max_dims))
    def variant() -> tuple[int, ...]:
        drop = draw(st.integers(0, len(full)))
        kept = full[drop:]
        return tuple(1 if draw(st.booleans()) else n for n in kept)
    return variant(), variant()


def rand_tensor(shape: tuple[int, ...], backend: str = "numpy", seed: int = 0, requires_grad: bool = True,
                low: float = -1.0, high: float = 1.0) -> md.Tensor:
    """A float64 tensor of uniform values, on a backend."""
    data = np.random.default_rng(seed).uniform(low, high, size=shape)
    return md.tensor(data, dtype="float64", requires_grad=requires_grad, device=backend)


def host(value: Any) -> np.ndarray:
    """A Tensor, a NumPy or CuPy array, or nested lists, as a NumPy array."""
    if isinstance(value, md.Tensor):
        return value.numpy()
    return md.backend.to_numpy(value) if md.backend.is_array(value) else np.asarray(value)


def assert_close(actual: Any, expected: Any, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    a, e = host(actual), host(expected)
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)
