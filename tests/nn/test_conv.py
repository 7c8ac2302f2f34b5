"""nn.Conv2D: parameters, default init, repr, gradcheck through the layer, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl import nn
from tests.helpers import assert_close, rand_tensor


def test_parameters_shapes_order_and_dtype():
    layer = nn.Conv2D(3, 8, (3, 5))
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [
        ("weight", (8, 3, 3, 5)), ("bias", (8,))]
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    assert all(p.requires_grad for p in layer.parameters())


def test_no_bias():
    layer = nn.Conv2D(2, 4, 3, bias=False)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    x = md.randn(1, 2, 5, 5)
    assert_close(layer(x), F.conv2d(x, layer.weight), rtol=1e-6)


def test_default_init_bounds_and_zero_bias():
    md.manual_seed(0)
    layer = nn.Conv2D(3, 64, (3, 5))
    w = layer.weight.numpy()
    bound = 1 / math.sqrt(3 * 3 * 5)  # PyTorch: kaiming_uniform_(a=sqrt(5)) on fan_in = in*kH*kW
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.95 * bound  # fills the range (2,880 draws)
    assert abs(w.mean()) < 0.05 * bound
    np.testing.assert_array_equal(layer.bias.numpy(), np.zeros(64, np.float32))


def test_init_is_seeded():
    md.manual_seed(3)
    a = nn.Conv2D(2, 3, 2).weight.numpy().copy()
    md.manual_seed(3)
    b = nn.Conv2D(2, 3, 2).weight.numpy()
    np.testing.assert_array_equal(a, b)


def test_created_on_default_backend(backend):
    md.set_backend(backend)
    layer = nn.Conv2D(1, 2, 3)
    assert layer.weight.device == layer.bias.device == ("cpu" if backend == "numpy" else "cuda")


def test_repr():
    assert repr(nn.Conv2D(1, 32, 3)) == \
        "Conv2D(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0))"
    assert repr(nn.Conv2D(4, 8, (3, 1), stride=(2, 1), padding=1, bias=False)) == \
        "Conv2D(4, 8, kernel_size=(3, 1), stride=(2, 1), padding=(1, 1), bias=False)"


def test_known_value_and_gradients():
    layer = nn.Conv2D(1, 2, 2, stride=1, padding=0).astype("float64")
    layer.load_state_dict({"weight": np.array([[[[1.0, 0.0], [0.0, -1.0]]], [[[0.5, 0.5], [0.5, 0.5]]]]),
                           "bias": np.array([0.0, 1.0])})
    x = md.tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    y = layer(x)
    # channel 0: x[i, j] - x[i+1, j+1] = -4 everywhere; channel 1: window mean * 2 + 1
    assert_close(y, [[[[-4, -4], [-4, -4]], [[5, 7], [11, 13]]]])
    y.sum().backward()
    assert_close(layer.bias.grad, [4, 4])
    assert_close(layer.weight.grad, [[[[8, 12], [20, 24]]], [[[8, 12], [20, 24]]]])
    assert_close(x.grad, [[[[1.5, 2, 0.5], [2, 2, 0], [0.5, 0, -0.5]]]])


@given(n=st.integers(1, 2), c_in=st.integers(1, 2), c_out=st.integers(1, 3),
       kernel=st.integers(1, 3) | st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.integers(1, 2) | st.tuples(st.integers(1, 2), st.integers(1, 2)),
       padding=st.integers(0, 1) | st.tuples(st.integers(0, 1), st.integers(0, 1)),
       bias=st.booleans())
def test_gradcheck_inputs_and_parameters(backend, n, c_in, c_out, kernel, stride, padding, bias):
    md.set_backend(backend)
    layer = nn.Conv2D(c_in, c_out, kernel, stride, padding, bias=bias).astype("float64")
    names = [name for name, _ in layer.named_parameters()]

    def f(x, *params):
        for name, p in zip(names, params):  # gradcheck's copies stand in for the parameters
            object.__setattr__(layer, name, p)
        return layer(x)
    assert md.gradcheck(f, rand_tensor((n, c_in, 4, 3), backend), *layer.parameters())


def test_wrong_input_shape_raises():
    layer = nn.Conv2D(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2D: expected input of shape \(N, 3, H, W\), got \(2, 1, 5, 5\)"):
        layer(md.zeros(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"Conv2D: expected input of shape \(N, 3, H, W\), got \(3, 5, 5\)"):
        layer(md.zeros(3, 5, 5))


@pytest.mark.parametrize("args, error, message", [
    ((0, 4, 3), ValueError, "Conv2D: in_channels must be a positive int, got 0"),
    ((2, 2.0, 3), ValueError, "Conv2D: out_channels must be a positive int, got 2.0"),
    ((2, 4, (3, 3, 3)), TypeError, "Conv2D: kernel_size must be an int or a pair of ints"),
    ((2, 4, 3, 0), ValueError, "Conv2D: stride must be >= 1"),
    ((2, 4, 3, 1, -1), ValueError, "Conv2D: padding must be >= 0"),
])
def test_bad_constructor_arguments_raise(args, error, message):
    with pytest.raises(error, match=message):
        nn.Conv2D(*args)


def test_pytorch_spelling_and_numpy_integer_sizes():
    assert nn.Conv2d is nn.Conv2D
    layer = nn.Conv2d(np.int64(2), np.int32(3), 3)
    assert layer.weight.shape == (3, 2, 3, 3) and type(layer.in_channels) is int


@pytest.mark.parametrize("channels", [(1, 8), (8, 40)])  # Numba's direct path, then im2col + GEMM
def test_sequential_fuses_conv_and_relu_with_the_same_numbers(channels):
    """Sequential runs Conv2D + ReLU as one op (Conv2D.forward_relu): same outputs and
    gradients as the two layers one after the other, one graph node fewer."""
    c_in, c_out = channels
    md.manual_seed(0)
    conv = nn.Conv2D(c_in, c_out, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten())
    x = md.tensor(np.random.default_rng(0).standard_normal((3, c_in, 6, 5)), dtype="float32",
                  requires_grad=True)
    fused = model(x)
    assert fused.creator.inputs[0].creator.relu  # Flatten's input: the fused conv
    fused.sum().backward()
    grads = [t.grad.numpy().copy() for t in (x, conv.weight, conv.bias)]
    for t in (x, conv.weight, conv.bias):
        t.grad = None
    apart = F.relu(conv(x)).reshape(3, -1)
    apart.sum().backward()
    np.testing.assert_allclose(fused.numpy(), apart.numpy(), rtol=1e-6, atol=1e-6)
    for got, t in zip(grads, (x, conv.weight, conv.bias)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels", [(1, 8), (8, 40)])  # fused kernel, then the three kernels
def test_sequential_fuses_conv_relu_and_max_pool_with_the_same_numbers(channels):
    """Sequential runs Conv2D + ReLU + MaxPool2D as one op (Conv2D.forward_relu_pool): same
    outputs and gradients as the three layers one after the other."""
    c_in, c_out = channels
    md.manual_seed(0)
    conv, pool = nn.Conv2D(c_in, c_out, 3, padding=1), nn.MaxPool2D(2)
    model = nn.Sequential(conv, nn.ReLU(), pool, nn.Flatten())
    x = md.tensor(np.random.default_rng(0).standard_normal((3, c_in, 7, 6)), dtype="float32",
                  requires_grad=True)
    fused = model(x)
    assert type(fused.creator.inputs[0].creator).__name__ == "Conv2dReluMaxPool2d"
    fused.sum().backward()
    grads = [t.grad.numpy().copy() for t in (x, conv.weight, conv.bias)]
    for t in (x, conv.weight, conv.bias):
        t.grad = None
    apart = pool(F.relu(conv(x))).reshape(3, -1)
    apart.sum().backward()
    np.testing.assert_allclose(fused.numpy(), apart.numpy(), rtol=1e-6, atol=1e-6)
    for got, t in zip(grads, (x, conv.weight, conv.bias)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_a_fused_pool_that_does_not_fit_is_named_at_its_own_position():
    model = nn.Sequential(nn.Conv2D(1, 2, 3), nn.ReLU(), nn.MaxPool2D(5))
    with pytest.raises(ValueError, match=r"layer 2 \(MaxPool2D\): max_pool2d: kernel_size \(5, 5\)"):
        model(md.zeros((1, 1, 6, 6)))


def test_a_fused_op_failing_on_good_input_is_not_hidden(monkeypatch):
    """The layers one by one pass: the fused op's own error is raised, not run around."""
    from minidl.kernels import conv as conv_kernel  # noqa: PLC0415

    def broken(*args, **kwargs):
        raise RuntimeError("fused kernel broke")

    monkeypatch.setattr(conv_kernel, "forward_relu_pool", broken)
    model = nn.Sequential(nn.Conv2D(1, 2, 3), nn.ReLU(), nn.MaxPool2D(2))
    with pytest.raises(RuntimeError, match="fused kernel broke"):
        model(md.zeros((1, 1, 6, 6)))


def test_sequential_does_not_fuse_a_subclass_or_a_wrapped_forward():
    class Scaled(nn.ReLU):
        def forward(self, x):
            return super().forward(x) * 2

    md.manual_seed(0)
    conv = nn.Conv2D(1, 2, 3)
    x = md.tensor(np.random.default_rng(1).standard_normal((1, 1, 4, 4)), dtype="float32")
    expected = F.relu(conv(x)).numpy()
    np.testing.assert_allclose(nn.Sequential(conv, Scaled())(x).numpy(), 2 * expected, rtol=1e-6)
    seen = []
    relu = nn.ReLU()
    relu.forward = lambda t: seen.append(t.shape) or F.relu(t)  # an instance-level wrapper
    np.testing.assert_allclose(nn.Sequential(conv, relu)(x).numpy(), expected, rtol=1e-6)
    assert seen == [(1, 2, 2, 2)]
