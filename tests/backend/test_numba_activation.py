"""Numba ReLU == the NumPy reference (forward, and backward from what each forward saves)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import activation as ref
from minidl.backend.cpu import numba_activation as nb
from minidl.backend.cpu.numba_util import ELEMENTWISE_PARALLEL_MIN
from tests.backend.numba_cases import DTYPES, assert_same, rand
from tests.helpers import shapes


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes(1, 4, 1, 6), seed=st.integers(0, 2**16))
def test_relu_equals_reference(dtype, shape, seed):
    x = rand(shape, dtype, seed)
    x.reshape(-1)[::3] = 0  # exact zeros: gradient 0 there, as the reference
    y, saved = nb.relu_forward(x)
    y_ref, saved_ref = ref.relu_forward_reference(x)
    assert_same(y, y_ref, dtype)
    gy = rand(shape, dtype, seed + 1)
    assert_same(nb.relu_backward(gy, saved), ref.relu_backward_reference(gy, saved_ref), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_parallel_build_equals_reference(dtype):
    x = rand((ELEMENTWISE_PARALLEL_MIN + 17,), dtype, 3)
    y, saved = nb.relu_forward(x)
    assert_same(y, ref.relu_forward_reference(x)[0], dtype)
    gy = rand(x.shape, dtype, 4)
    assert_same(nb.relu_backward(gy, saved), ref.relu_backward_reference(gy, x > 0), dtype)


def test_relu_keeps_nan_like_numpy_and_saves_its_output():
    x = np.array([np.nan, -1.0, 2.0, 0.0], np.float32)
    y, saved = nb.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert saved is y  # no second array: the backward reads y > 0
    np.testing.assert_array_equal(nb.relu_backward(np.ones(4, np.float32), saved), [0, 0, 1, 0])


def test_dispatch_falls_back_for_strided_input():
    """A non-contiguous view goes to the reference (and still gives the right answer)."""
    x = rand((4, 6), "float32", 0)[:, ::2]
    y, saved = ref.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert saved.dtype == np.bool_
