"""Shared pieces of the Numba kernel tests: dtypes, tolerances, random arrays.

Every kernel is compared with its NumPy reference (a concern's minidl/kernels/<concern>/
reference.py, or the `*_reference` functions), called directly, so these tests hold
whatever MINIDL_KERNELS says.
"""
from __future__ import annotations

from typing import Any

import numpy as np

DTYPES = ("float32", "float64")


def tolerance(dtype: Any) -> dict[str, float]:
    """float64 to rounding; float32 to a few ulp of the values involved."""
    if np.dtype(dtype) == np.float64:
        return {"rtol": 1e-12, "atol": 1e-12}
    return {"rtol": 2e-5, "atol": 2e-6}


def rand(shape: tuple[int, ...], dtype: Any, seed: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def assert_same(actual: Any, expected: Any, dtype: Any) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual, expected, **tolerance(dtype))
