"""GPU im2col / col2im against the NumPy reference (on the GPU, and on the host)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import conv as ref
from minidl.backend.gpu import conv as gpu
from tests.backend.gpu_cases import DTYPES, runner, tolerance  # noqa: F401 - fixture


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)),
             draw(st.integers(max(1, kh - 2 * ph), 7)), draw(st.integers(max(1, kw - 2 * pw), 7)))
    return shape, (kh, kw, sh, sw, ph, pw)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), seed=st.integers(0, 2**16))
def test_im2col_equals_reference(runner, dtype, case, seed):
    shape, geom = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    cols = runner.back(gpu.im2col(runner.to(x), *geom))
    assert cols.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(cols, ref.im2col(x, *geom))  # a pure copy: exact


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), seed=st.integers(0, 2**16))
def test_col2im_equals_reference(runner, dtype, case, seed):
    shape, geom = case
    cols_shape = ref.im2col(np.zeros(shape), *geom).shape
    cols = np.random.default_rng(seed).standard_normal(cols_shape).astype(dtype)
    dx = runner.back(gpu.col2im(runner.to(cols), shape, *geom))
    assert dx.shape == shape and dx.dtype == np.dtype(dtype)
    np.testing.assert_allclose(dx, ref.col2im(cols, shape, *geom), **tolerance(dtype))


def test_col2im_is_deterministic_with_overlapping_windows(runner):
    """A 3x3 kernel at stride 1 reads most pixels nine times: the gather sums them in a
    fixed order, so repeated runs agree bit for bit."""
    shape, geom = (2, 3, 9, 9), (3, 3, 1, 1, 1, 1)
    cols = np.random.default_rng(0).standard_normal(ref.im2col(np.zeros(shape), *geom).shape)
    dev = runner.to(cols.astype("float32"))
    first = runner.back(gpu.col2im(dev, shape, *geom))
    for _ in range(3):
        np.testing.assert_array_equal(runner.back(gpu.col2im(dev, shape, *geom)), first)


def test_im2col_reads_non_contiguous_input(runner):
    """A transposed view (the conv op's NCHW output is one) is made contiguous first."""
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    geom = (2, 2, 1, 1, 0, 0)
    dev = runner.xp.asarray(x) if runner.name == "cupy" else x
    np.testing.assert_array_equal(runner.back(gpu.im2col(dev, *geom)), ref.im2col(x, *geom))
