"""Numba convolution kernels == the NumPy reference (im2col/col2im and the whole op,
on both the direct and the im2col + GEMM paths)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import conv as ref
from minidl.backend.cpu import dispatch
from minidl.backend.cpu import numba_conv as nb
from tests.backend.numba_cases import DTYPES, assert_same, rand


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    x_shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)),
               draw(st.integers(max(1, kh - 2 * ph), 7)), draw(st.integers(max(1, kw - 2 * pw), 7)))
    c_out = draw(st.integers(1, 4))
    return x_shape, (c_out, x_shape[1], kh, kw), (kh, kw, sh, sw, ph, pw)


@pytest.fixture(params=["direct", "im2col"])
def path(request, monkeypatch):
    """Force one of the two whole-op paths, whatever the shape."""
    monkeypatch.setattr(nb, "DIRECT_MAX_K", 10**9 if request.param == "direct" else 0)
    return request.param


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), seed=st.integers(0, 2**16))
def test_im2col_and_col2im_equal_reference(dtype, case, seed):
    x_shape, _, geom = case
    x = rand(x_shape, dtype, seed)
    cols = nb.im2col(x, *geom)
    assert_same(cols, ref.im2col_reference(x, *geom), dtype)
    g = rand(cols.shape, dtype, seed + 1)
    assert_same(nb.col2im(g, x_shape, *geom), ref.col2im_reference(g, x_shape, *geom), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), seed=st.integers(0, 2**16), with_bias=st.booleans())
def test_conv2d_forward_equals_reference(path, dtype, case, seed, with_bias):
    x_shape, w_shape, (_, _, sh, sw, ph, pw) = case
    x, w = rand(x_shape, dtype, seed), rand(w_shape, dtype, seed + 1)
    b = rand((w_shape[0],), dtype, seed + 2) if with_bias else None
    y = nb.conv2d_forward(x, w, b, sh, sw, ph, pw)
    assert y.flags.c_contiguous
    assert_same(y, ref.conv2d_forward_reference(x, w, b, sh, sw, ph, pw), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), seed=st.integers(0, 2**16),
       need=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_conv2d_backward_equals_reference(path, dtype, case, seed, need):
    x_shape, w_shape, (_, _, sh, sw, ph, pw) = case
    x, w = rand(x_shape, dtype, seed), rand(w_shape, dtype, seed + 1)
    y_shape = ref.conv2d_forward_reference(x, w, None, sh, sw, ph, pw).shape
    gy = rand(y_shape, dtype, seed + 2)
    got = nb.conv2d_backward(gy, x, w, sh, sw, ph, pw, x_shape, *need)
    want = ref.conv2d_backward_reference(gy, x, w, sh, sw, ph, pw, x_shape, *need)
    for g, e, asked in zip(got, want, need):
        assert (g is None) == (not asked)
        if asked:
            assert_same(g, e, dtype)


def test_seed_cnn_shape_takes_the_direct_path():
    """C_in*kH*kW = 9: the inner dimension too small for a good GEMM."""
    assert nb.direct_preferred((64, 1, 28, 28), (32, 1, 3, 3))
    assert not nb.direct_preferred((64, 128, 14, 14), (128, 128, 3, 3))  # K = 1152
    assert not nb.direct_preferred((64, 1, 28, 28), (32, 1, 3, 3), (2, 2))  # strided


def test_dispatch_runs_the_kernel_for_numpy_floats(monkeypatch):
    """The public functions hand float NumPy arrays to the kernel (integers to the reference)."""
    monkeypatch.setattr(dispatch, "_enabled", True)  # as without MINIDL_NUMBA=0
    calls = []
    monkeypatch.setattr(nb, "conv2d_forward", lambda *a: calls.append(a) or "kernel")
    x, w = np.ones((1, 1, 4, 4), np.float32), np.ones((2, 1, 3, 3), np.float32)
    assert ref.conv2d_forward(x, w, None, 1, 1, 0, 0) == "kernel"
    ints = ref.conv2d_forward(x.astype(np.int64), w.astype(np.int64), None, 1, 1, 0, 0)
    assert ints.dtype == np.int64 and len(calls) == 1
    # mixed dtypes promote as NumPy does: the reference
    mixed = ref.conv2d_forward(x, w.astype(np.float64), None, 1, 1, 0, 0)
    assert mixed.dtype == np.float64 and len(calls) == 1
