"""kernels/avgpool: Numba and GPU == reference (fixed and adaptive windows, forward and
backward), the windows themselves, the route, NaN and empty batches, and the reference
running in op context with MINIDL_KERNELS=reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels import _route
from minidl.kernels import avgpool as K
from minidl.kernels.avgpool import gpu, reference, windows
from tests.kernels.gpu_cases import DTYPES, runner, tolerance  # noqa: F401 - fixture
from tests.kernels.numba_cases import assert_same, rand
from tests.strategies import pool_geometries, seeds


@st.composite
def cases(draw, max_n=3, max_side=8):
    """(x_shape, rows, cols): fixed windows (padding at most half the kernel) or adaptive
    ones (outputs smaller, equal or larger than the input)."""
    if draw(st.booleans()):
        shape, (kh, kw, sh, sw, ph, pw) = draw(pool_geometries(max_n=max_n, max_side=max_side))
        return shape, windows.fixed(shape[2], kh, sh, ph), windows.fixed(shape[3], kw, sw, pw)
    shape = (draw(st.integers(1, max_n)), draw(st.integers(1, 3)), draw(st.integers(1, max_side)),
             draw(st.integers(1, max_side)))
    oh, ow = draw(st.integers(1, max_side + 2)), draw(st.integers(1, max_side + 2))
    return shape, windows.adaptive(shape[2], oh), windows.adaptive(shape[3], ow)


# ---- the windows ----------------------------------------------------------------------------

def test_fixed_windows_clip_to_the_plane_and_count_the_padding():
    w = windows.fixed(5, 3, 2, 1)  # windows start at -1, 1, 3
    np.testing.assert_array_equal(w.lo, [0, 1, 3])
    np.testing.assert_array_equal(w.hi, [2, 4, 5])
    np.testing.assert_array_equal(w.count, [3, 3, 3])


def test_adaptive_windows_are_pytorchs():
    w = windows.adaptive(7, 4)  # floor(i*7/4) .. ceil((i+1)*7/4)
    np.testing.assert_array_equal(w.lo, [0, 1, 3, 5])
    np.testing.assert_array_equal(w.hi, [2, 4, 6, 7])
    np.testing.assert_array_equal(w.count, [2, 3, 3, 2])
    up = windows.adaptive(3, 5)  # more windows than pixels: each holds one or two
    np.testing.assert_array_equal(up.lo, [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(up.hi, [1, 2, 2, 3, 3])


@given(case=cases())
def test_covering_lists_exactly_the_windows_that_hold_each_pixel(case):
    shape, rows, _ = case
    first, end = windows.covering(rows, shape[2])
    for h in range(shape[2]):
        holding = [i for i in range(len(rows.lo)) if rows.lo[i] <= h < rows.hi[i]]
        assert list(range(first[h], end[h])) == holding


# ---- Numba == reference -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@given(case=cases(), seed=seeds)
def test_numba_forward_and_backward_equal_reference(build, dtype, case, seed):
    from minidl.kernels.avgpool import cpu  # noqa: PLC0415 - imports Numba

    shape, rows, cols = case
    x = rand(shape, dtype, seed)
    y = cpu.avgpool(x, rows, cols)
    assert_same(y, reference.avgpool(x, rows, cols), dtype)
    gy = rand(y.shape, dtype, seed + 1)
    assert_same(cpu.unavgpool(gy, shape, rows, cols), reference.unavgpool(gy, shape, rows, cols), dtype)


def test_numba_backward_takes_any_gradient_layout():
    from minidl.kernels.avgpool import cpu  # noqa: PLC0415

    shape, rows, cols = (2, 3, 6, 6), windows.fixed(6, 2, 2, 0), windows.fixed(6, 2, 2, 0)
    gy = rand((3, 3, 2, 3), "float64", 0).transpose(2, 0, 3, 1)  # (2, 3, 3, 3), not contiguous
    assert_same(cpu.unavgpool(gy, shape, rows, cols), reference.unavgpool(gy, shape, rows, cols),
                "float64")


# ---- GPU kernels == reference (on the GPU, and the CUDA source on the host) ----------------

@pytest.mark.parametrize("dtype", DTYPES)
@given(case=cases(max_n=2, max_side=7), seed=seeds)
def test_gpu_forward_and_backward_equal_reference(runner, dtype, case, seed):
    shape, rows, cols = case
    x = rand(shape, dtype, seed)
    y = gpu.avgpool(runner.to(x), rows, cols)
    np.testing.assert_allclose(runner.back(y), reference.avgpool(x, rows, cols), **tolerance(dtype))
    gy = rand(y.shape, dtype, seed + 1)
    np.testing.assert_allclose(runner.back(gpu.unavgpool(runner.to(gy), shape, rows, cols)),
                               reference.unavgpool(gy, shape, rows, cols), **tolerance(dtype))


# ---- every implementation: NaN, empty batches ----------------------------------------------

@pytest.mark.parametrize("which", ["reference", "cpu"])
def test_nan_stays_in_its_own_windows(which):
    from minidl.kernels.avgpool import cpu  # noqa: PLC0415

    impl = {"reference": reference, "cpu": cpu}[which]
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    x[0, 0, 2, 3] = np.nan
    rows, cols = windows.fixed(6, 3, 2, 1), windows.fixed(6, 3, 2, 1)  # overlapping windows
    y = impl.avgpool(x, rows, cols)[0, 0]
    expected = np.zeros((3, 3), bool)
    expected[1, 1:3] = True  # row 2 is in the window of rows 1..3; column 3 in columns 1..3 and 3..5
    np.testing.assert_array_equal(np.isnan(y), expected)
    gy = np.ones((1, 1, 3, 3))
    gy[0, 0, 0, 0] = np.nan
    dx = impl.unavgpool(gy, x.shape, rows, cols)[0, 0]
    np.testing.assert_array_equal(np.isnan(dx), np.pad(np.ones((2, 2), bool), ((0, 4), (0, 4))))


def test_gpu_nan_stays_in_its_own_windows(runner):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y = runner.back(gpu.avgpool(runner.to(x), windows.fixed(4, 2, 2, 0), windows.fixed(4, 2, 2, 0)))
    np.testing.assert_array_equal(np.isnan(y[0, 0]), [[True, False], [False, False]])


@pytest.mark.parametrize("which", ["reference", "cpu"])
def test_empty_batch(which):
    from minidl.kernels.avgpool import cpu  # noqa: PLC0415

    impl = {"reference": reference, "cpu": cpu}[which]
    rows, cols = windows.adaptive(5, 2), windows.fixed(4, 2, 2, 0)
    y = impl.avgpool(np.zeros((0, 3, 5, 4), np.float32), rows, cols)
    assert y.shape == (0, 3, 2, 2) and y.dtype == np.float32
    dx = impl.unavgpool(np.zeros((0, 3, 2, 2), np.float32), (0, 3, 5, 4), rows, cols)
    assert dx.shape == (0, 3, 5, 4) and dx.dtype == np.float32


def test_gpu_empty_batch(runner):
    rows, cols = windows.adaptive(5, 2), windows.fixed(4, 2, 2, 0)
    y = gpu.avgpool(runner.to(np.zeros((0, 3, 5, 4), np.float32)), rows, cols)
    assert y.shape == (0, 3, 2, 2)
    dx = gpu.unavgpool(runner.to(np.zeros((0, 3, 2, 2), np.float32)), (0, 3, 5, 4), rows, cols)
    assert dx.shape == (0, 3, 5, 4)


# ---- the route ------------------------------------------------------------------------------

def _ran(x, adaptive=False):
    _, saved = (K.adaptive_forward(x, (2, 2), (True,)) if adaptive
                else K.forward(x, (2, 2), (2, 2), (0, 0), (True,)))
    return saved[0].__name__.rsplit(".", 1)[1]


@pytest.mark.parametrize("adaptive", [False, True])
def test_route_float_numpy_arrays_to_numba_and_the_rest_to_the_reference(adaptive):
    assert _ran(np.ones((1, 2, 4, 4), np.float32), adaptive) == "cpu"
    assert _ran(np.ones((1, 4, 4, 2)).transpose(0, 3, 1, 2), adaptive) == "cpu"  # made contiguous
    assert _ran(np.ones((1, 2, 4, 4), np.float16), adaptive) == "reference"
    before = _route.set_kernels("reference")
    try:
        assert _ran(np.ones((1, 2, 4, 4), np.float32), adaptive) == "reference"
    finally:
        _route.set_kernels(before)


def test_inference_keeps_nothing(monkeypatch):
    for kernels in ("auto", "reference"):
        monkeypatch.setattr(_route, "_mode", kernels)
        x = np.ones((1, 2, 4, 4), np.float32)
        assert K.forward(x, (2, 2), (2, 2), (0, 0), (False,))[1] is None
        assert K.adaptive_forward(x, (1, 1), (False,))[1] is None


# ---- MINIDL_KERNELS=reference: the reference is what runs in op context -------------------

def test_reference_mode_runs_the_reference_in_op_context(reference_mode, spy):
    calls = spy(reference, "avgpool", "unavgpool")
    x = md.tensor(rand((2, 3, 6, 6), "float32", 0), requires_grad=True)
    (F.avg_pool2d(x, 2).sum() + F.adaptive_avg_pool2d(x, 1).sum()).backward()
    assert calls == ["avgpool", "avgpool", "unavgpool", "unavgpool"]
    assert x.grad.shape == x.shape


@given(case=pool_geometries(max_n=2, max_side=6), seed=seeds)
def test_reference_mode_gradcheck(backend, reference_mode, case, seed):
    shape, (kh, kw, sh, sw, ph, pw) = case
    x = md.tensor(rand(shape, "float64", seed), requires_grad=True, device=backend)
    assert md.gradcheck(lambda t: F.avg_pool2d(t, (kh, kw), (sh, sw), (ph, pw)), x)
    assert md.gradcheck(lambda t: F.adaptive_avg_pool2d(t, (kh + 1, kw)), x)
