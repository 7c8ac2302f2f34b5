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
