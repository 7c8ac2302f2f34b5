"""kernels/conv: the reference's layout contract, Numba and GPU == reference, the route,
and the reference running in op context with MINIDL_KERNELS=reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels import _route
from minidl.kernels import conv as K
from minidl.kernels.conv import gpu, reference
from minidl.kernels._geometry import output_size
from tests.kernels.gpu_cases import DTYPES, runner, tolerance  # noqa: F401 - fixture
from tests.kernels.numba_cases import assert_same, rand
from tests.helpers import assert_close, rand_tensor
from tests.strategies import conv_geometries, seeds

needs_flags = st.tuples(st.booleans(), st.booleans(), st.booleans())


def _case(case, dtype, seed, with_bias=True):
    x_shape, w_shape, (_, _, sh, sw, ph, pw) = case
    x, w = rand(x_shape, dtype, seed), rand(w_shape, dtype, seed + 1)
    b = rand((w_shape[0],), dtype, seed + 2) if with_bias else None
    return x, w, b, (sh, sw), (ph, pw)


def _check_grads(got, want, needs, dtype):
    for g, e, asked in zip(got, want, needs):
        assert (g is None) == (not asked)
        if asked:
            assert_same(g, e, dtype)


# ---- the reference: layout contract and adjointness (NumPy and CuPy) ---------------------

def _array(shape, backend, seed):
    return md.tensor(np.random.default_rng(seed).standard_normal(shape), device=backend).data


@given(case=conv_geometries(max_n=2, max_side=6), seed=seeds)
def test_im2col_matches_contract_layout(backend, case, seed):
    """cols[n*OH*OW + oh*OW + ow, c*kh*kw + i*kw + j] = x[n, c, oh*sh + i - ph, ow*sw + j - pw]."""
    shape, _, (kh, kw, sh, sw, ph, pw) = case
    x = _array(shape, backend, seed)
    cols = md.tensor(reference.im2col(x, kh, kw, sh, sw, ph, pw)).numpy()
    n, c, h, w = shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    xn = np.pad(md.tensor(x).numpy(), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    expected = np.empty((n * oh * ow, c * kh * kw))
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                patch = xn[b, :, r * sh:r * sh + kh, q * sw:q * sw + kw]
                expected[b * oh * ow + r * ow + q] = patch.ravel()
    assert_close(cols, expected, rtol=0, atol=0)


@given(case=conv_geometries(max_n=2, max_side=6), seed=seeds)
def test_col2im_is_adjoint_of_im2col(backend, case, seed):
    """<im2col(x), c> == <x, col2im(c)> for every x and c."""
    shape, _, window = case
    x = _array(shape, backend, seed)
    cols = reference.im2col(x, *window)
    c = _array(cols.shape, backend, seed + 1)
    dx = reference.col2im(c, shape, *window)
    assert dx.shape == shape
    lhs = float((cols * c).sum())
    rhs = float((x * dx).sum())
    assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs))


def test_col2im_counts_how_often_each_pixel_is_read(backend):
    """col2im of ones counts window memberships: overlaps add, padding is dropped."""
    ones = md.ones(4, 4, dtype="float64", device=backend).data  # 2x2 kernel, stride 1: 4 windows
    dx = reference.col2im(ones, (1, 1, 3, 3), 2, 2, 1, 1, 0, 0)
    assert_close(md.tensor(dx).numpy()[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    ones = md.ones(4, 9, dtype="float64", device=backend).data  # 3x3 kernel, stride 2, padding 1
    dx = reference.col2im(ones, (1, 1, 3, 3), 3, 3, 2, 2, 1, 1)
    assert_close(md.tensor(dx).numpy()[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_reference_saves_only_what_the_gradients_take():
    x, w = rand((2, 3, 5, 5), "float64", 0), rand((4, 3, 3, 3), "float64", 1)
    _, (cols, w2, *_) = reference.forward(x, w, None, (1, 1), (0, 0), (False, True, False))
    assert cols is not None and w2 is None  # dW needs cols, not the weight
    _, (cols, w2, *_) = reference.forward(x, w, None, (1, 1), (0, 0), (True, False, True))
    assert cols is None and w2 is not None  # dx needs the weight, not cols


# ---- Numba == reference -------------------------------------------------------------------

@pytest.fixture(params=["direct", "im2col", "im2col-per-image"])
def path(request, monkeypatch):
    """Force one of the two Numba paths, whatever the shape; "im2col-per-image" unfolds
    one image at a time (chunks of 1 byte round up to one image)."""
    patch = 10**9 if request.param == "direct" else 0
    monkeypatch.setitem(_route.TUNING, "MINIDL_DIRECT_CONV_MAX_WEIGHTS", patch)
    if request.param == "im2col-per-image":
        monkeypatch.setitem(_route.TUNING, "MINIDL_CONV_CHUNK_BYTES", 1)
    return request.param


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_geometries(), seed=seeds)
def test_numba_unfold_and_fold_equal_reference(build, dtype, case, seed):
    """Per image, unfold's (K, OH*OW) block is the transpose of the reference's rows."""
    from minidl.kernels.conv import cpu  # noqa: PLC0415 - imports Numba

    x_shape, _, window = case
    x = rand(x_shape, dtype, seed)
    cols = cpu.unfold(x, *window)
    n, k, positions = cols.shape
    as_rows = cols.transpose(0, 2, 1).reshape(n * positions, k)
    assert_same(as_rows, reference.im2col(x, *window), dtype)
    g = rand(cols.shape, dtype, seed + 1)
    g_rows = np.ascontiguousarray(g.transpose(0, 2, 1)).reshape(n * positions, k)
    assert_same(cpu.fold(g, x_shape, *window), reference.col2im(g_rows, x_shape, *window), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_geometries(), seed=seeds)
def test_numba_forward_with_relu_equals_relu_of_reference(path, dtype, case, seed):
    """relu=True rectifies as the outputs are written (direct) or per chunk (im2col), as
    the ReLU kernel would after the convolution; NaN passes through."""
    from minidl.kernels.activation import reference as relu_reference  # noqa: PLC0415
    from minidl.kernels.conv import cpu  # noqa: PLC0415 - imports Numba

    x_shape, w_shape, (kh, kw, sh, sw, ph, pw) = case
    x, w, b = rand(x_shape, dtype, seed), rand(w_shape, dtype, seed + 1), rand(w_shape[:1], dtype, seed + 2)
    x.reshape(-1)[0] = np.nan
    y, _ = cpu.forward(x, w, b, (sh, sw), (ph, pw), (True, True, True), relu=True)
    expected, _ = reference.forward(x, w, b, (sh, sw), (ph, pw), (True, True, True))
    expected, _ = relu_reference.relu_forward(expected, (False,))
    assert not (y < 0).any()  # NaN compares False: it may pass through
    assert_same(y, expected, dtype)


# stride 1 with OW == W: unfold and fold take one shifted copy per tap and fix up the
# columns that wrapped around (random geometries rarely land there)
SAME_WIDTH = [((2, 3, 5, 5), (3, 3, 1, 1)), ((2, 2, 4, 7), (3, 3, 1, 1)), ((1, 2, 6, 6), (5, 5, 2, 2)),
              ((2, 3, 4, 4), (1, 1, 0, 0)), ((1, 1, 1, 1), (3, 3, 1, 1)), ((1, 2, 5, 4), (3, 3, 0, 1)),
              ((1, 2, 3, 5), (3, 1, 2, 0)), ((2, 1, 2, 3), (5, 5, 2, 2))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, kernel", SAME_WIDTH)
def test_numba_unfold_and_fold_as_wide_as_the_input(dtype, x_shape, kernel):
    from minidl.kernels.conv import cpu  # noqa: PLC0415 - imports Numba

    kh, kw, ph, pw = kernel
    window = (kh, kw, 1, 1, ph, pw)
    x = rand(x_shape, dtype, 3)
    cols = cpu.unfold(x, *window)
    n, k, positions = cols.shape
    assert positions % x_shape[3] == 0  # OW == W
    assert_same(cols.transpose(0, 2, 1).reshape(n * positions, k), reference.im2col(x, *window), dtype)
    g = rand(cols.shape, dtype, 4)
    g_rows = np.ascontiguousarray(g.transpose(0, 2, 1)).reshape(n * positions, k)
    assert_same(cpu.fold(g, x_shape, *window), reference.col2im(g_rows, x_shape, *window), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_geometries(), seed=seeds, with_bias=st.booleans(), needs=needs_flags)
def test_numba_forward_and_backward_equal_reference(path, build, dtype, case, seed, with_bias, needs):
    from minidl.kernels.conv import cpu  # noqa: PLC0415

    x, w, b, stride, padding = _case(case, dtype, seed, with_bias)
    y, saved = cpu.forward(x, w, b, stride, padding, needs)
    y_ref, saved_ref = reference.forward(x, w, b, stride, padding, needs)
    assert y.flags.c_contiguous
    assert_same(y, y_ref, dtype)
    gy = rand(y.shape, dtype, seed + 3)
    _check_grads(cpu.backward(gy, saved), reference.backward(gy, saved_ref), needs, dtype)


@pytest.mark.parametrize("w_shape, padding", [((4, 3, 3, 3), (1, 2)), ((4, 3, 3, 2), (3, 0)),
                                              ((4, 3, 1, 1), (2, 1))],
                         ids=["within-kernel", "beyond-kernel-rows", "beyond-kernel-both"])
def test_direct_input_gradient_with_padding_beyond_the_kernel(monkeypatch, w_shape, padding):
    """The direct input gradient is a convolution of gy padded by k - 1 - p; where the
    padding exceeds k - 1 it takes the padded input's gradient and crops it."""
    from minidl.kernels.conv import cpu  # noqa: PLC0415

    monkeypatch.setitem(_route.TUNING, "MINIDL_DIRECT_CONV_MAX_WEIGHTS", 10**9)
    x, w = rand((2, 3, 5, 6), "float64", 0), rand(w_shape, "float64", 1)
    y, saved = cpu.forward(x, w, None, (1, 1), padding, (True, True, False))
    _, saved_ref = reference.forward(x, w, None, (1, 1), padding, (True, True, False))
    gy = rand(y.shape, "float64", 2)
    _check_grads(cpu.backward(gy, saved), reference.backward(gy, saved_ref), (True, True, False), "float64")


def test_numba_backward_takes_a_strided_gradient():
    from minidl.kernels.conv import cpu  # noqa: PLC0415

    x, w = rand((2, 3, 6, 6), "float64", 0), rand((4, 3, 3, 3), "float64", 1)
    y, saved = cpu.forward(x, w, None, (1, 1), (1, 1), (True, True, True))
    gy = rand((2, 6, 6, 4), "float64", 2).transpose(0, 3, 1, 2)  # the layout of a reference output
    _, saved_ref = reference.forward(x, w, None, (1, 1), (1, 1), (True, True, True))
    _check_grads(cpu.backward(gy, saved), reference.backward(gy, saved_ref), (True, True, True), "float64")


@st.composite
def conv_pool_geometries(draw):
    """(x_shape, w_shape, padding) of a stride-1 convolution whose output (>= 2x2) a 2x2
    max pool fits, odd sizes included."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    n, c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 5))
    h = draw(st.integers(max(1, kh + 1 - 2 * ph), 9))
    w = draw(st.integers(max(1, kw + 1 - 2 * pw), 9))
    return (n, c_in, h, w), (c_out, c_in, kh, kw), (ph, pw)


def _three_reference_kernels(x, w, b, padding, needs, gp):
    """maxpool(relu(conv)) and its gradients from the references, one kernel after another."""
    from minidl.kernels.activation import reference as relu_reference  # noqa: PLC0415
    from minidl.kernels.pool import reference as pool_reference  # noqa: PLC0415

    y, saved = reference.forward(x, w, b, (1, 1), padding, needs)
    y, _ = relu_reference.relu_forward(y, (False,))
    pooled, argmax = pool_reference.maxpool(y, 2, 2, 2, 2, 0, 0)
    g = pool_reference.unpool(gp, argmax, y.shape)
    return pooled, reference.backward(relu_reference.relu_backward(g, y), saved)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_pool_geometries(), seed=seeds, with_bias=st.booleans(), needs=needs_flags,
       nan=st.booleans())
def test_numba_conv_relu_pool_equals_the_three_reference_kernels(build, dtype, case, seed, with_bias,
                                                                 needs, nan):
    """The fused kernel pools the convolution's rows as it makes them: the same pooled
    output as convolution, ReLU and max pooling one after another (NaN included), and the
    same gradients: the first max of each window gets its gradient when positive, the
    last NaN of a window holding one (PyTorch's max pool and ReLU) always."""
    from minidl.kernels.conv import cpu  # noqa: PLC0415

    x_shape, w_shape, padding = case
    x, w = rand(x_shape, dtype, seed), rand(w_shape, dtype, seed + 1)
    b = rand(w_shape[:1], dtype, seed + 2) if with_bias else None
    if nan:
        x.reshape(-1)[seed % x.size] = np.nan
    fused = cpu.forward_relu_pool(x, w, b, (1, 1), padding, cpu.POOL_WINDOW, needs)
    assert fused is not None  # small weights: the direct path
    y, saved = fused
    gp = rand(y.shape, dtype, seed + 3)
    y_ref, grads_ref = _three_reference_kernels(x, w, b, padding, needs, gp)
    np.testing.assert_allclose(y, y_ref, **tolerance(dtype))  # NaN where NaN
    if any(needs):
        grads = cpu.backward_relu_pool(gp, saved)
        if nan:  # a window's NaN passes its gradient: the input's and the bias's show it. (The
            # weight gradient's dot products run over whole wide rows, whose wrapped-around
            # columns meet the NaN with a zero gradient: NaN there, unlike im2col's)
            grads, grads_ref = (grads[0], None, grads[2]), (grads_ref[0], None, grads_ref[2])
            needs = (needs[0], False, needs[2])
        _check_grads(grads, grads_ref, needs, dtype)


def test_conv_relu_pool_elsewhere_runs_the_three_kernels(monkeypatch):
    """Shapes the fused kernel does not take (im2col + GEMM, strides, other windows) run
    the convolution with its ReLU, then the pooling: the same numbers."""
    from minidl.kernels.conv import cpu  # noqa: PLC0415

    x, w, b = rand((2, 3, 9, 8), "float64", 0), rand((4, 3, 3, 3), "float64", 1), rand((4,), "float64", 2)
    monkeypatch.setitem(_route.TUNING, "MINIDL_DIRECT_CONV_MAX_WEIGHTS", 0)
    assert cpu.forward_relu_pool(x, w, b, (1, 1), (1, 1), cpu.POOL_WINDOW, (True,) * 3) is None
    y, saved = K.forward_relu_pool(x, w, b, (1, 1), (1, 1), ((2, 2), (2, 2), (0, 0)))
    gp = rand(y.shape, "float64", 3)
    y_ref, grads_ref = _three_reference_kernels(x, w, b, (1, 1), (True,) * 3, gp)
    assert_same(y, y_ref, "float64")
    _check_grads(K.backward_relu_pool(gp, saved), grads_ref, (True,) * 3, "float64")
    window = ((3, 3), (2, 2), (1, 1))  # not 2x2: unfused on any path
    monkeypatch.setitem(_route.TUNING, "MINIDL_DIRECT_CONV_MAX_WEIGHTS", 10**9)
    assert cpu.forward_relu_pool(x, w, b, (1, 1), (1, 1), window, (True,) * 3) is None
    y, _ = K.forward_relu_pool(x, w, b, (1, 1), (1, 1), window)
    conv_out, _ = reference.forward(x, w, b, (1, 1), (1, 1), (False,) * 3)
    from minidl.kernels.pool import reference as pool_reference  # noqa: PLC0415
    assert_same(y, pool_reference.maxpool(np.maximum(conv_out, 0), 3, 3, 2, 2, 1, 1)[0], "float64")


@pytest.mark.parametrize("kernel", [(3, 3), (2, 3)], ids=["3x3", "2x3"])
@pytest.mark.parametrize("c_out", range(1, 10))
def test_direct_forward_takes_any_number_of_output_channels(build, c_out, kernel):
    """The direct forward makes output channels four at a time (LANES), repeating the last
    channel where C_out is not a multiple of four: every channel, fused or not, as the
    reference makes it. (kernel: the 3x3 loops and the any-size ones.)"""
    from minidl.kernels.conv import cpu  # noqa: PLC0415

    x, w, b = rand((2, 3, 7, 8), "float64", c_out), rand((c_out, 3, *kernel), "float64", 1), rand((c_out,), "float64", 2)
    needs = (True, True, True)
    y, _ = cpu.forward(x, w, b, (1, 1), (1, 1), needs)
    assert_same(y, reference.forward(x, w, b, (1, 1), (1, 1), needs)[0], "float64")
    pooled, saved = cpu.forward_relu_pool(x, w, b, (1, 1), (1, 1), cpu.POOL_WINDOW, needs)
    gp = rand(pooled.shape, "float64", 3)
    pooled_ref, grads_ref = _three_reference_kernels(x, w, b, (1, 1), needs, gp)
    assert_same(pooled, pooled_ref, "float64")
    _check_grads(cpu.backward_relu_pool(gp, saved), grads_ref, needs, "float64")


def test_small_weights_take_the_direct_path():
    """32 x 9 weights (the seed CNN): too small a product for a good GEMM; up to 64 x 288
    (the CIFAR CNN's third convolution) the direct loops keep up with BLAS; 64 x 576 (its
    fourth): a product near BLAS peak."""
    from minidl.kernels.conv import cpu  # noqa: PLC0415

    assert cpu.direct_preferred((32, 1, 3, 3))
    assert cpu.direct_preferred((32, 16, 3, 3))
    assert cpu.direct_preferred((64, 32, 3, 3))
    assert not cpu.direct_preferred((64, 64, 3, 3))
    assert not cpu.direct_preferred((128, 128, 3, 3))
    assert not cpu.direct_preferred((32, 1, 3, 3), (2, 2))  # strided


# ---- GPU kernels == reference (on the GPU, and the CUDA source on the host) ----------------

@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_geometries(max_n=2), seed=seeds)
def test_gpu_im2col_and_col2im_equal_reference(runner, dtype, case, seed):
    shape, _, window = case
    x = rand(shape, dtype, seed)
    cols = runner.back(gpu.im2col(runner.to(x), *window))
    assert cols.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(cols, reference.im2col(x, *window))  # a pure copy: exact
    g = rand(cols.shape, dtype, seed + 1)
    dx = runner.back(gpu.col2im(runner.to(g), shape, *window))
    assert dx.shape == shape and dx.dtype == np.dtype(dtype)
    np.testing.assert_allclose(dx, reference.col2im(g, shape, *window), **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_geometries(max_n=2), seed=seeds, with_bias=st.booleans(), needs=needs_flags)
def test_gpu_forward_and_backward_equal_reference(runner, dtype, case, seed, with_bias, needs):
    x, w, b, stride, padding = _case(case, dtype, seed, with_bias)
    y, saved = gpu.forward(runner.to(x), runner.to(w), runner.to(b), stride, padding, needs)
    y_ref, saved_ref = reference.forward(x, w, b, stride, padding, needs)
    np.testing.assert_allclose(runner.back(y), y_ref, **tolerance(dtype))
    gy = rand(y_ref.shape, dtype, seed + 3)
    got = gpu.backward(runner.to(gy), saved)
    for g, e, asked in zip(got, reference.backward(gy, saved_ref), needs):
        assert (g is None) == (not asked)
        if asked:
            np.testing.assert_allclose(runner.back(g), e, **tolerance(dtype))


def test_gpu_col2im_is_deterministic_with_overlapping_windows(runner):
    """A 3x3 kernel at stride 1 reads most pixels nine times: the gather sums them in a
    fixed order, so repeated runs agree bit for bit."""
    shape, window = (2, 3, 9, 9), (3, 3, 1, 1, 1, 1)
    cols = np.random.default_rng(0).standard_normal(reference.im2col(np.zeros(shape), *window).shape)
    dev = runner.to(cols.astype("float32"))
    first = runner.back(gpu.col2im(dev, shape, *window))
    for _ in range(3):
        np.testing.assert_array_equal(runner.back(gpu.col2im(dev, shape, *window)), first)


def test_gpu_im2col_reads_non_contiguous_input(runner):
    """A transposed view (the reference's NCHW output is one) is made contiguous first."""
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    window = (2, 2, 1, 1, 0, 0)
    got = gpu.im2col(runner.to(x), *window)
    np.testing.assert_array_equal(runner.back(got), reference.im2col(x, *window))


# ---- the route ------------------------------------------------------------------------------

def _ran(x, w, b=None):
    _, (impl, _) = K.forward(x, w, b, (1, 1), (0, 0), (True, True, b is not None))
    return impl.__name__.rsplit(".", 1)[1]


def test_route_float_numpy_arrays_to_numba_and_the_rest_to_the_reference():
    x, w = np.ones((1, 1, 4, 4), np.float32), np.ones((2, 1, 3, 3), np.float32)
    assert _ran(x, w, np.ones(2, np.float32)) == "cpu"
    assert _ran(np.ones((1, 1, 5, 5))[:, :, :4, :4], np.ones((2, 1, 3, 3))) == "cpu"  # made contiguous
    assert _ran(x.astype(np.int64), w.astype(np.int64)) == "reference"
    assert _ran(x, w.astype(np.float64)) == "reference"  # mixed dtypes promote as NumPy does
    before = _route.set_kernels("reference")
    try:
        assert _ran(x, w) == "reference"
    finally:
        _route.set_kernels(before)


def test_backward_runs_where_the_forward_ran(monkeypatch):
    """Each implementation saves its own things: `saved` takes the backward back there."""
    x, w = rand((1, 2, 5, 5), "float64", 0), rand((3, 2, 3, 3), "float64", 1)
    y, saved = K.forward(x, w, None, (1, 1), (0, 0), (True, True, False))
    assert saved[0].__name__.endswith(".cpu")
    monkeypatch.setattr(_route, "route", lambda *a: "reference")  # a later route must not matter
    gx, gw, gb = K.backward(np.ones_like(y), saved)
    _, saved_ref = reference.forward(x, w, None, (1, 1), (0, 0), (True, True, False))
    gx_ref, gw_ref, _ = reference.backward(np.ones_like(y), saved_ref)
    assert gb is None
    assert_same(gx, gx_ref, "float64")
    assert_same(gw, gw_ref, "float64")


# ---- MINIDL_KERNELS=reference: the reference is what runs in op context -------------------

def test_reference_mode_runs_the_reference_in_op_context(reference_mode, spy):
    calls = spy(reference, "forward", "backward")
    x = md.tensor(rand((2, 1, 6, 6), "float32", 0), requires_grad=True)
    w = md.tensor(rand((4, 1, 3, 3), "float32", 1), requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    assert calls == ["forward", "backward"]
    assert x.grad.shape == x.shape and w.grad.shape == w.shape


@given(case=conv_geometries(max_n=2, max_side=5, max_c_out=3), seed=seeds)
def test_reference_mode_gradcheck(backend, reference_mode, case, seed):
    x_shape, w_shape, (_, _, sh, sw, ph, pw) = case
    x, w = rand_tensor(x_shape, backend, seed), rand_tensor(w_shape, backend, seed + 1)
    b = rand_tensor((w_shape[0],), backend, seed + 2)

    def conv(x, w, b):
        return F.conv2d(x, w, b, stride=(sh, sw), padding=(ph, pw))
    assert md.gradcheck(conv, x, w, b)
