"""Test helpers: float64 tensors on a backend and closeness checks (strategies: tests/strategies.py)."""
from __future__ import annotations

from typing import Any

import numpy as np

import minidl as md
# re-exported for the test files that still import them from here
from tests.strategies import broadcastable_pair, shapes  # noqa: F401


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
