"""Numba max pooling == the NumPy reference: values, argmax (first max on ties), backward."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import numba_pool as nb
from minidl.backend.cpu import pool as ref
from tests.backend.numba_cases import DTYPES, assert_same, rand


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)),
             draw(st.integers(max(1, kh - 2 * ph), 8)), draw(st.integers(max(1, kw - 2 * pw), 8)))
    return shape, (kh, kw, sh, sw, ph, pw)


def _data(shape, dtype, seed, ties):
    if ties:  # few distinct values: many windows hold several equal maxima
        return np.random.default_rng(seed).integers(-2, 3, size=shape).astype(dtype)
    return rand(shape, dtype, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), seed=st.integers(0, 2**16), ties=st.booleans())
def test_maxpool_forward_and_backward_equal_reference(dtype, case, seed, ties):
    shape, geom = case
    x = _data(shape, dtype, seed, ties)
    y, argmax = nb.maxpool_forward(x, *geom)
    y_ref, argmax_ref = ref.maxpool_forward_reference(x, *geom)
    assert_same(y, y_ref, dtype)
    assert argmax.dtype == np.int64
    np.testing.assert_array_equal(argmax, argmax_ref)
    gy = rand(y.shape, dtype, seed + 1)
    assert_same(nb.maxpool_backward(gy, argmax, shape), ref.maxpool_backward_reference(gy, argmax_ref, shape),
                dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 3), c=st.integers(1, 3), oh=st.integers(1, 4), ow=st.integers(1, 4),
       extra=st.integers(0, 1), seed=st.integers(0, 2**16), ties=st.booleans())
def test_the_2x2_fast_path_equals_reference(dtype, n, c, oh, ow, extra, seed, ties):
    """kernel 2, stride 2, no padding (odd sizes leave a last row/column unused)."""
    shape = (n, c, 2 * oh + extra, 2 * ow + extra)
    x = _data(shape, dtype, seed, ties)
    y, argmax = nb.maxpool_forward(x, 2, 2, 2, 2, 0, 0)
    y_ref, argmax_ref = ref.maxpool_forward_reference(x, 2, 2, 2, 2, 0, 0)
    assert_same(y, y_ref, dtype)
    np.testing.assert_array_equal(argmax, argmax_ref)


def test_inference_skips_argmax():
    x = rand((2, 3, 6, 6), "float32", 0)
    y, argmax = nb.maxpool_forward(x, 2, 2, 2, 2, 0, 0, need_argmax=False)
    assert argmax is None
    assert_same(y, ref.maxpool_forward_reference(x, 2, 2, 2, 2, 0, 0)[0], "float32")


def test_padding_is_never_the_max():
    """All-negative input with padding: -inf padding must not win, argmax stays in the image."""
    x = -np.ones((1, 1, 3, 3), np.float32) - np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    y, argmax = nb.maxpool_forward(x, 3, 3, 1, 1, 1, 1)
    y_ref, argmax_ref = ref.maxpool_forward_reference(x, 3, 3, 1, 1, 1, 1)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert y[0, 0, 0, 0] == -1.0 and argmax[0, 0, 0, 0] == 0
