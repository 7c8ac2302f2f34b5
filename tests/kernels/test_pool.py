"""kernels/pool: Numba and GPU == reference (values, first-max argmax on ties, backward),
the route, and the reference running in op context with MINIDL_KERNELS=reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels import _route
from minidl.kernels import pool as K
from minidl.kernels.pool import gpu, reference
from tests.kernels.gpu_cases import DTYPES, runner, tolerance  # noqa: F401 - fixture
from tests.kernels.numba_cases import assert_same, rand
from tests.strategies import pool_geometries, seeds

TIES = st.sampled_from([False, True, "nan"])


def _data(shape, dtype, seed, ties):
    """ties False: distinct values; True: few distinct values (many windows hold several
    equal maxima); "nan": those with NaNs, which must win wherever they are in a window."""
    if not ties:
        return rand(shape, dtype, seed)
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=shape).astype(dtype)
    if ties == "nan":
        x[rng.random(shape) < 0.2] = np.nan
    return x


# ---- Numba == reference -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_geometries(), seed=seeds, ties=TIES)
def test_numba_forward_and_backward_equal_reference(build, dtype, case, seed, ties):
    from minidl.kernels.pool import cpu  # noqa: PLC0415 - imports Numba

    shape, window = case
    x = _data(shape, dtype, seed, ties)
    y, argmax = cpu.maxpool(x, *window)
    y_ref, argmax_ref = reference.maxpool(x, *window)
    assert_same(y, y_ref, dtype)
    assert argmax.dtype == np.int32
    np.testing.assert_array_equal(argmax, argmax_ref)
    gy = rand(y.shape, dtype, seed + 1)
    assert_same(cpu.unpool(gy, argmax, shape, window), reference.unpool(gy, argmax_ref, shape, window),
                dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 3), c=st.integers(1, 3), oh=st.integers(1, 4), ow=st.integers(1, 4),
       extra=st.integers(0, 1), seed=seeds, ties=TIES)
def test_numba_2x2_path_equals_reference(build, dtype, n, c, oh, ow, extra, seed, ties):
    """kernel 2, stride 2, no padding (odd sizes leave a last row/column unused)."""
    from minidl.kernels.pool import cpu  # noqa: PLC0415

    shape = (n, c, 2 * oh + extra, 2 * ow + extra)
    x = _data(shape, dtype, seed, ties)
    y, argmax = cpu.maxpool(x, 2, 2, 2, 2, 0, 0)
    y_ref, argmax_ref = reference.maxpool(x, 2, 2, 2, 2, 0, 0)
    assert_same(y, y_ref, dtype)
    np.testing.assert_array_equal(argmax, argmax_ref)


def test_numba_inference_writes_no_argmax():
    from minidl.kernels.pool import cpu  # noqa: PLC0415

    x = rand((2, 3, 6, 6), "float32", 0)
    y, argmax = cpu.maxpool(x, 2, 2, 2, 2, 0, 0, need_argmax=False)
    assert argmax is None
    assert_same(y, reference.maxpool(x, 2, 2, 2, 2, 0, 0)[0], "float32")


def test_numba_padding_is_never_the_max():
    """All-negative input with padding: -inf padding must not win, argmax stays in the image."""
    from minidl.kernels.pool import cpu  # noqa: PLC0415

    x = -np.ones((1, 1, 3, 3), np.float32) - np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    y, argmax = cpu.maxpool(x, 3, 3, 1, 1, 1, 1)
    y_ref, argmax_ref = reference.maxpool(x, 3, 3, 1, 1, 1, 1)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert y[0, 0, 0, 0] == -1.0 and argmax[0, 0, 0, 0] == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_numba_nan_anywhere_in_a_window_wins(build, dtype):
    """Both Numba loops (2x2 and general): the max of a window holding a NaN is NaN, its
    argmax the last NaN (PyTorch's CPU and CUDA kernels: `v > best || isnan(v)`)."""
    from minidl.kernels.pool import cpu  # noqa: PLC0415

    x = np.zeros((1, 1, 4, 4), dtype)
    x[0, 0, 1, 1] = x[0, 0, 0, 3] = x[0, 0, 1, 2] = np.nan
    for window in [(2, 2, 2, 2, 0, 0), (2, 2, 1, 1, 0, 0), (3, 3, 2, 2, 1, 1)]:
        y, argmax = cpu.maxpool(x, *window)
        y_ref, argmax_ref = reference.maxpool(x, *window)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(argmax, argmax_ref)
    y, argmax = cpu.maxpool(x, 2, 2, 2, 2, 0, 0)
    np.testing.assert_array_equal(y[0, 0], [[np.nan, np.nan], [0, 0]])
    np.testing.assert_array_equal(argmax[0, 0], [[5, 6], [8, 10]])


def test_argmax_is_int32_unless_a_plane_outgrows_it():
    from minidl.kernels._geometry import flat_index_dtype  # noqa: PLC0415

    assert flat_index_dtype(46340, 46340) == np.int32  # 2,147,395,600 pixels
    assert flat_index_dtype(46341, 46341) == np.int64  # one past 2**31 - 1
    assert flat_index_dtype(1, 2**31) == np.int64
    x = rand((2, 3, 5, 4), np.float32, 0)
    assert reference.maxpool(x, 2, 2, 2, 2, 0, 0)[1].dtype == np.int32


def test_reference_nan_wins_last_nan_is_the_argmax():
    """torch 2.13: max_pool2d([[nan, 1], [nan, 2]], 2) is nan with index 2."""
    x = np.array([[[[np.nan, 1.0], [np.nan, 2.0]]]])
    y, argmax = reference.maxpool(x, 2, 2, 2, 2, 0, 0)
    assert np.isnan(y).all() and argmax.ravel().tolist() == [2]


# ---- GPU kernels == reference (on the GPU, and the CUDA source on the host) ----------------

@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_geometries(max_n=2, max_side=7), seed=seeds, ties=TIES)
def test_gpu_forward_and_backward_equal_reference(runner, dtype, case, seed, ties):
    shape, window = case
    x = _data(shape, dtype, seed, ties)
    y, argmax = gpu.maxpool(runner.to(x), *window)
    y_ref, argmax_ref = reference.maxpool(x, *window)
    assert runner.back(argmax).dtype == np.int32
    np.testing.assert_array_equal(runner.back(y), y_ref)
    np.testing.assert_array_equal(runner.back(argmax), argmax_ref)
    gy = rand(y_ref.shape, dtype, seed + 1)
    np.testing.assert_allclose(runner.back(gpu.unpool(runner.to(gy), argmax, shape, window)),
                               reference.unpool(gy, argmax_ref, shape), **tolerance(dtype))


def test_gpu_backward_is_deterministic_with_overlap(runner):
    """3x3 windows at stride 1 on constant input: every window picks its first pixel, so
    many gy entries meet at one pixel; the gather adds them in a fixed order."""
    shape, window = (2, 2, 8, 8), (3, 3, 1, 1, 1, 1)
    _, argmax = reference.maxpool(np.zeros(shape, dtype="float32"), *window)
    gy = np.random.default_rng(3).standard_normal(argmax.shape).astype("float32")
    runs = [runner.back(gpu.unpool(runner.to(gy), runner.to(argmax), shape, window)) for _ in range(3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])
    np.testing.assert_allclose(runs[0], reference.unpool(gy, argmax, shape), rtol=1e-6, atol=1e-6)


def test_gpu_padding_never_wins_and_argmax_points_into_the_plane(runner):
    """All-negative input with padding: each window's max is its top-left real pixel,
    never the -inf pad."""
    x = -np.arange(1, 26, dtype="float64").reshape(1, 1, 5, 5)
    y, argmax = gpu.maxpool(runner.to(x), 3, 3, 2, 2, 1, 1)
    np.testing.assert_array_equal(runner.back(y), [[[[-1, -2, -4], [-6, -7, -9], [-16, -17, -19]]]])
    np.testing.assert_array_equal(runner.back(argmax), [[[[0, 1, 3], [5, 6, 8], [15, 16, 18]]]])


def test_gpu_nan_anywhere_in_a_window_wins(runner):
    x = np.zeros((1, 1, 4, 4), "float32")
    x[0, 0, 1, 1] = x[0, 0, 0, 3] = x[0, 0, 1, 2] = np.nan
    y, argmax = gpu.maxpool(runner.to(x), 2, 2, 2, 2, 0, 0)
    np.testing.assert_array_equal(runner.back(y)[0, 0], [[np.nan, np.nan], [0, 0]])
    np.testing.assert_array_equal(runner.back(argmax)[0, 0], [[5, 6], [8, 10]])


# ---- the route ------------------------------------------------------------------------------

def _ran(x):
    _, saved = K.forward(x, (2, 2), (2, 2), (0, 0), (True,))
    return saved[0].__name__.rsplit(".", 1)[1]


def test_route_float_numpy_arrays_to_numba_and_the_rest_to_the_reference():
    assert _ran(np.ones((1, 2, 4, 4), np.float32)) == "cpu"
    assert _ran(np.ones((1, 4, 4, 2)).transpose(0, 3, 1, 2)) == "cpu"  # made contiguous
    assert _ran(np.ones((1, 2, 4, 4), np.int64)) == "reference"
    before = _route.set_kernels("reference")
    try:
        assert _ran(np.ones((1, 2, 4, 4), np.float32)) == "reference"
    finally:
        _route.set_kernels(before)


def test_inference_keeps_nothing(monkeypatch):
    for kernels in ("auto", "reference"):
        monkeypatch.setattr(_route, "_mode", kernels)
        _, saved = K.forward(np.ones((1, 2, 4, 4), np.float32), (2, 2), (2, 2), (0, 0), (False,))
        assert saved is None


# ---- MINIDL_KERNELS=reference: the reference is what runs in op context -------------------

def test_reference_mode_runs_the_reference_in_op_context(reference_mode, spy):
    calls = spy(reference, "maxpool", "unpool")
    x = md.tensor(rand((2, 3, 6, 6), "float32", 0), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert calls == ["maxpool", "unpool"]
    assert x.grad.shape == x.shape


@given(case=pool_geometries(max_n=2, max_side=6), seed=seeds)
def test_reference_mode_gradcheck(backend, reference_mode, case, seed):
    shape, (kh, kw, sh, sw, ph, pw) = case
    size = int(np.prod(shape))  # distinct values 0.1 apart: no ties, the max is differentiable
    data = (np.random.default_rng(seed).permutation(size) - size / 2) * 0.1
    x = md.tensor(data.reshape(shape), dtype="float64", requires_grad=True, device=backend)
    assert md.gradcheck(lambda t: F.max_pool2d(t, (kh, kw), (sh, sw), (ph, pw)), x)
