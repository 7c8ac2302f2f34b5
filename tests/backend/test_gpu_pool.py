"""GPU max pooling against the NumPy reference (on the GPU, and on the host)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import pool as ref
from minidl.backend.gpu import pool as gpu
from tests.backend.gpu_cases import DTYPES, runner, tolerance  # noqa: F401 - fixture


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(max(1, kh - 2 * ph), 7)), draw(st.integers(max(1, kw - 2 * pw), 7)))
    # few distinct values, so windows often hold ties (the first max must win)
    ties = draw(st.booleans())
    return shape, (kh, kw, sh, sw, ph, pw), ties


def _input(shape, dtype, seed, ties):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=shape) if ties else rng.standard_normal(shape)
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=st.integers(0, 2**16))
def test_forward_equals_reference(runner, dtype, case, seed):
    shape, geom, ties = case
    x = _input(shape, dtype, seed, ties)
    y, argmax = gpu.maxpool_forward(runner.to(x), *geom)
    y_ref, argmax_ref = ref.maxpool_forward(x, *geom)
    assert runner.back(argmax).dtype == np.int64
    np.testing.assert_array_equal(runner.back(y), y_ref)
    np.testing.assert_array_equal(runner.back(argmax), argmax_ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gather", [True, False], ids=["gather", "scatter"])
@given(case=pool_cases(), seed=st.integers(0, 2**16))
def test_backward_equals_reference(runner, dtype, gather, case, seed):
    shape, geom, ties = case
    x = _input(shape, dtype, seed, ties)
    _, argmax = ref.maxpool_forward(x, *geom)
    gy = np.random.default_rng(seed + 1).standard_normal(argmax.shape).astype(dtype)
    dx = gpu.maxpool_backward(runner.to(gy), runner.to(argmax), shape, geom if gather else None)
    np.testing.assert_allclose(runner.back(dx), ref.maxpool_backward(gy, argmax, shape),
                               **tolerance(dtype))


def test_backward_gather_is_deterministic_with_overlap(runner):
    """3x3 windows at stride 1 on constant input: every window picks its first pixel, so
    many gy entries meet at one pixel; the gather adds them in a fixed order."""
    shape, geom = (2, 2, 8, 8), (3, 3, 1, 1, 1, 1)
    x = np.zeros(shape, dtype="float32")
    _, argmax = ref.maxpool_forward(x, *geom)
    gy = np.random.default_rng(3).standard_normal(argmax.shape).astype("float32")
    runs = [runner.back(gpu.maxpool_backward(runner.to(gy), runner.to(argmax), shape, geom))
            for _ in range(3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])
    np.testing.assert_allclose(runs[0], ref.maxpool_backward(gy, argmax, shape), rtol=1e-6, atol=1e-6)


def test_padding_never_wins_and_argmax_points_into_the_plane(runner):
    """All-negative input with padding: each window's max is its top-left real pixel,
    never the -inf pad."""
    x = -np.arange(1, 26, dtype="float64").reshape(1, 1, 5, 5)
    y, argmax = gpu.maxpool_forward(runner.to(x), 3, 3, 2, 2, 1, 1)
    np.testing.assert_array_equal(runner.back(y), [[[[-1, -2, -4], [-6, -7, -9], [-16, -17, -19]]]])
    np.testing.assert_array_equal(runner.back(argmax), [[[[0, 1, 3], [5, 6, 8], [15, 16, 18]]]])
