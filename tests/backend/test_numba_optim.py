"""Numba Adam/AdamW/SGD updates == the NumPy reference, in place, with the same bits
for float32 (the hyperparameters round to the parameter's dtype as in NumPy)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import numba_optim as nb
from minidl.backend.cpu import optim as ref
from tests.backend.numba_cases import DTYPES, assert_same, rand
from tests.helpers import shapes


def _copies(*arrays):
    return [a.copy() for a in arrays], [a.copy() for a in arrays]


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes(1, 3, 1, 6), seed=st.integers(0, 2**16), step=st.integers(1, 50),
       wd=st.sampled_from([0.0, 0.05]), decoupled=st.booleans(), lr=st.sampled_from([1e-3, 0.1]))
def test_adam_equals_reference(dtype, shape, seed, step, wd, decoupled, lr):
    p, m = rand(shape, dtype, seed), rand(shape, dtype, seed + 1, 0.1)
    v = np.abs(rand(shape, dtype, seed + 2, 0.01))
    g = rand(shape, dtype, seed + 3)
    (p1, m1, v1), (p2, m2, v2) = _copies(p, m, v)
    g_before = g.copy()
    nb.adam_update(p1, g, m1, v1, step, lr, 0.9, 0.999, 1e-8, wd, decoupled)
    ref.adam_update_reference(p2, g, m2, v2, step, lr, 0.9, 0.999, 1e-8, wd, decoupled)
    for a, b in ((p1, p2), (m1, m2), (v1, v2)):
        assert_same(a, b, dtype)
    np.testing.assert_array_equal(g, g_before)  # gradients are never written


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes(1, 3, 1, 6), seed=st.integers(0, 2**16), momentum=st.sampled_from([0.0, 0.9]),
       dampening=st.sampled_from([0.0, 0.5]), nesterov=st.booleans(), wd=st.sampled_from([0.0, 0.01]))
def test_sgd_equals_reference(dtype, shape, seed, momentum, dampening, nesterov, wd):
    p, g, buf = rand(shape, dtype, seed), rand(shape, dtype, seed + 1), rand(shape, dtype, seed + 2)
    (p1, b1), (p2, b2) = _copies(p, buf)
    with_buf = momentum != 0
    nb.sgd_update(p1, g, b1 if with_buf else None, 0.1, momentum, dampening, nesterov, wd)
    ref.sgd_update_reference(p2, g, b2 if with_buf else None, 0.1, momentum, dampening, nesterov, wd)
    assert_same(p1, p2, dtype)
    assert_same(b1, b2, dtype)


def test_float32_adam_gives_the_reference_bits_on_a_large_parallel_update():
    shape = (nb._PAR_MIN + 5,)
    p, m, g = rand(shape, "float32", 0), rand(shape, "float32", 1, 0.1), rand(shape, "float32", 2)
    v = np.abs(rand(shape, "float32", 3, 0.01))
    (p1, m1, v1), (p2, m2, v2) = _copies(p, m, v)
    nb.adam_update(p1, g, m1, v1, 7, 1e-3, 0.9, 0.999, 1e-8, 0.0, False)
    ref.adam_update_reference(p2, g, m2, v2, 7, 1e-3, 0.9, 0.999, 1e-8, 0.0, False)
    for a, b in ((p1, p2), (m1, m2), (v1, v2)):
        np.testing.assert_array_equal(a, b)


def test_update_through_a_strided_gradient():
    """Gradients may be views (e.g. transposed): the kernel reads them correctly."""
    p = rand((3, 4), "float64", 0)
    g = rand((4, 3), "float64", 1).T
    m, v = np.zeros_like(p), np.zeros_like(p)
    (p1, m1, v1), (p2, m2, v2) = _copies(p, m, v)
    ref.adam_update(p1, g, m1, v1, 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False)  # dispatches to Numba
    ref.adam_update_reference(p2, g, m2, v2, 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False)
    assert_same(p1, p2, "float64")
