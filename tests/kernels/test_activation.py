"""kernels/activation: Numba and GPU ReLU == reference (forward, and backward from what
each forward saves), the route, and the reference running in op context with
MINIDL_KERNELS=reference."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels import activation as K
from minidl.kernels.activation import gpu, reference
from tests.kernels.gpu_cases import DTYPES, runner  # noqa: F401 - fixture
from tests.kernels.numba_cases import assert_same, rand
from tests.kernels.conftest import force_build
from tests.kernels.implementations import impl  # noqa: F401 - fixture
from tests.strategies import seeds, shapes


def _with_zeros(shape, dtype, seed):
    x = rand(shape, dtype, seed)
    x.reshape(-1)[::3] = 0  # exact zeros: gradient 0 there, as the reference
    return x


@pytest.fixture(params=["serial", "parallel"])
def elementwise_build(request, monkeypatch):
    force_build(monkeypatch, "MINIDL_ELEMENTWISE_PARALLEL_MIN", request.param)
    return request.param


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes(1, 4, 1, 6), seed=seeds)
def test_numba_relu_equals_reference(elementwise_build, dtype, shape, seed):
    from minidl.kernels.activation import cpu  # noqa: PLC0415 - imports Numba

    x = _with_zeros(shape, dtype, seed)
    y, saved = cpu.relu_forward(x)
    y_ref, saved_ref = reference.relu_forward(x)
    assert_same(y, y_ref, dtype)
    gy = rand(shape, dtype, seed + 1)
    assert_same(cpu.relu_backward(gy, saved), reference.relu_backward(gy, saved_ref), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=st.integers(1, 9), n=st.integers(1, 150), seed=seeds, has_bias=st.booleans(), relu=st.booleans())
def test_numba_dense_epilogue_gives_the_reference_bits(elementwise_build, dtype, m, n, seed, has_bias, relu):
    """A Dense's bias and ReLU in one pass each way (NaN and inf included), and the bias
    gradient summed in NumPy's row order over more columns than one task takes."""
    from minidl.kernels.activation import cpu  # noqa: PLC0415

    y = _with_zeros((m, n), dtype, seed)
    y.reshape(-1)[1::7] = np.nan
    y.reshape(-1)[2::11] = -np.inf
    bias = rand((n,), dtype, seed + 1) if has_bias else None
    got = cpu.bias_relu_forward(y.copy(), bias, relu)
    want = reference.bias_relu_forward(y.copy(), bias, relu)
    np.testing.assert_array_equal(got, want)
    gy = rand((m, n), dtype, seed + 2)
    gy.reshape(-1)[3::13] = np.inf
    for a, b in zip(cpu.relu_bias_backward(gy, want), reference.relu_bias_backward(gy, want)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def test_numba_relu_keeps_nan_like_numpy_and_saves_its_output():
    from minidl.kernels.activation import cpu  # noqa: PLC0415

    x = np.array([np.nan, -1.0, 2.0, 0.0], np.float32)
    y, saved = cpu.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert saved is y  # no second array: the backward reads y > 0
    np.testing.assert_array_equal(cpu.relu_backward(np.ones(4, np.float32), saved), [1, 0, 1, 0])
    gy = np.arange(1, 9, dtype=np.float32)[::2]  # a strided gradient
    np.testing.assert_array_equal(cpu.relu_backward(gy, saved), [1, 0, 5, 0])


# torch 2.13: x = [nan, -1, 2, 0]; torch.relu(x).backward([5, nan, inf, nan]) gives
# x.grad = [5, 0, inf, 0]: threshold_backward zeroes where the output is <= 0 (a NaN
# output passes its gradient; a NaN or inf gradient where the ReLU was off gives 0)
RELU_X = [np.nan, -1.0, 2.0, 0.0]
RELU_GY = [5.0, np.nan, np.inf, np.nan]
RELU_GX = [5.0, 0.0, np.inf, 0.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_gradient_at_nan_and_inf_is_pytorchs(impl, dtype):
    x, gy = np.array(RELU_X, dtype), np.array(RELU_GY, dtype)
    y, saved = K.relu_forward(impl.to(x))
    np.testing.assert_array_equal(impl.back(K.relu_backward(impl.to(gy), saved)), RELU_GX)
    np.testing.assert_array_equal(impl.back(K.relu_backward_from_output(impl.to(gy), y)), RELU_GX)
    ref_y, ref_saved = reference.relu_forward(x)
    np.testing.assert_array_equal(reference.relu_backward(gy, ref_saved), RELU_GX)
    np.testing.assert_array_equal(reference.relu_backward(gy, ref_y), RELU_GX)  # from y


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes(1, 4, 1, 6), seed=seeds)
def test_numba_gelu_equals_reference(elementwise_build, approximate, dtype, shape, seed):
    from minidl.kernels.activation import cpu  # noqa: PLC0415 - imports Numba

    x = rand(shape, dtype, seed) * 4  # into erfc's middle and far intervals
    x.reshape(-1)[::5] = np.nan
    y, saved = cpu.gelu_forward(x, approximate)
    # against the float64 reference: the kernel computes in float64 and rounds once, where
    # the reference in float32 loses the tanh form's tail to cancellation (1 + t, t ~ -1)
    y_ref, saved_ref = reference.gelu_forward(x.astype(np.float64), approximate)
    assert_same(y, y_ref.astype(dtype), dtype)
    gy = rand(shape, dtype, seed + 1)
    want = reference.gelu_backward(gy.astype(np.float64), saved_ref).astype(dtype)
    assert_same(cpu.gelu_backward(gy, saved), want, dtype)


def test_gelu_backward_runs_where_the_forward_ran():
    x = rand((3, 4), "float64", 0)
    y, saved = K.gelu_forward(x, "none")
    assert saved[0].__name__.endswith(".cpu")
    _, saved_ref = reference.gelu_forward(x, "none")
    assert_same(K.gelu_backward(np.ones_like(y), saved), reference.gelu_backward(np.ones_like(y), saved_ref),
                "float64")
    _, saved = K.gelu_forward(x.astype(np.int64), "none")
    assert saved[0] is reference


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes(1, 3, 1, 6), seed=seeds)
def test_gpu_relu_equals_reference(runner, dtype, shape, seed):
    x = _with_zeros(shape, dtype, seed)
    x.reshape(-1)[1::5] = np.nan
    y, saved = gpu.relu_forward(runner.to(x))
    y_ref, saved_ref = reference.relu_forward(x)
    np.testing.assert_array_equal(runner.back(y), y_ref)
    gy = rand(shape, dtype, seed + 1)
    np.testing.assert_array_equal(runner.back(gpu.relu_backward(runner.to(gy), saved)),
                                  reference.relu_backward(gy, saved_ref))


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_forward_into_its_own_input(dtype):
    """out=x rectifies in place (a fused Dense's product buffer), on every implementation,
    with the gradient's mask taken before x is overwritten."""
    from minidl.kernels.activation import cpu  # noqa: PLC0415

    x = _with_zeros((5, 7), dtype, 3)
    x.reshape(-1)[2] = np.nan
    want, mask = reference.relu_forward(x.copy())
    for impl in (reference, cpu):
        y = x.copy()
        out, saved = impl.relu_forward(y, (True,), out=y)
        assert out is y
        np.testing.assert_array_equal(y, want)
        gy = rand(y.shape, dtype, 4)
        np.testing.assert_array_equal(impl.relu_backward(gy, saved), reference.relu_backward(gy, mask))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_relu_forward_into_its_own_input(runner, dtype):
    x = _with_zeros((5, 7), dtype, 3)
    want, _ = reference.relu_forward(x)
    y = runner.to(x)
    out, _ = gpu.relu_forward(y, (True,), out=y)
    assert out is y
    np.testing.assert_array_equal(runner.back(y), want)


def test_route_sends_strided_and_integer_input_to_the_reference():
    def ran(x):
        _, (impl, _) = K.relu_forward(x)
        return impl.__name__.rsplit(".", 1)[1]

    assert ran(rand((4, 6), "float32", 0)) == "cpu"
    assert ran(rand((4, 6), "float32", 0)[:, ::2]) == "reference"  # a copy would cost as much
    assert ran(np.arange(-3, 3)) == "reference"
    y, (_, saved) = K.relu_forward(rand((4, 6), "float32", 0)[:, ::2])
    assert saved.dtype == np.bool_


def test_no_gradient_needed_keeps_nothing():
    for x in (rand((3, 4), "float32", 0), rand((3, 4), "float32", 0)[:, ::2]):
        _, (_, saved) = K.relu_forward(x, (False,))
        assert saved is None


def test_reference_mode_runs_the_reference_in_op_context(reference_mode, spy):
    calls = spy(reference, "relu_forward", "relu_backward")
    x = md.tensor(rand((3, 5), "float32", 0), requires_grad=True)
    F.relu(x).sum().backward()
    assert calls == ["relu_forward", "relu_backward"]
    np.testing.assert_array_equal(x.grad.numpy(), (x.numpy() > 0).astype(np.float32))


@given(shape=shapes(), seed=seeds)
def test_reference_mode_gradcheck(backend, reference_mode, shape, seed):
    # values (k + 0.5) / 10: never within a finite-difference step of the kink at 0
    k = np.random.default_rng(seed).integers(-10, 10, size=shape)
    x = md.tensor((k + 0.5) / 10, dtype="float64", requires_grad=True, device=backend)
    assert md.gradcheck(F.relu, x)


# ---- erfc (the exact GELU's Phi): Cody's rational approximations vs the C library -------

def test_erfc_equals_libm_to_a_few_ulp(backend):
    xs = np.concatenate([np.linspace(-7, 27, 6801), [0.46875, -0.46875, 4.0, -4.0, 1e-300, 0.0]])
    got = md.tensor(reference.erfc(md.tensor(xs, device=backend).data)).numpy()
    want = np.array([math.erfc(v) for v in xs])
    tiny = want < 1e-300  # erfc(27) is subnormal: compare those absolutely
    np.testing.assert_allclose(got[~tiny], want[~tiny], rtol=2e-15, atol=0)
    np.testing.assert_allclose(got[tiny], want[tiny], rtol=0, atol=1e-310)


def test_erfc_limits_and_nan():
    got = reference.erfc(np.array([np.inf, -np.inf, np.nan, 50.0]))
    np.testing.assert_array_equal(got[[0, 1, 3]], [0.0, 2.0, 0.0])
    assert np.isnan(got[2])


def test_numba_gelu_float32_is_accurate_on_every_interval(elementwise_build):
    # the float32 forward uses a rational erf where it is accurate and erfc (in float64)
    # in the left tail: relative error against float64 stays at float32's level everywhere
    from minidl.kernels.activation import cpu  # noqa: PLC0415 - imports Numba

    x = np.linspace(-12, 12, 200_001, dtype=np.float32)
    y = cpu.gelu_forward(x, "none")[0].astype(np.float64)
    exact = reference.gelu_forward(x.astype(np.float64), "none")[0]
    tiny = np.abs(exact) < 1e-30  # near float32's underflow: checked absolutely
    rel = np.abs(y - exact)[~tiny] / np.abs(exact)[~tiny]
    # a few float32 ulp everywhere (libm's erfcf from float32 x / sqrt(2) was 1e-5 at -12)
    assert rel.max() < 1e-6
    assert np.abs(y[tiny] - exact[tiny]).max() < 1e-35
    with np.errstate(invalid="ignore"):
        special = cpu.gelu_forward(np.array([np.nan, np.inf, -np.inf, -0.0], np.float32), "none")[0]
    assert np.isnan(special[0]) and special[1] == np.inf and np.isnan(special[2]) and special[3] == 0
