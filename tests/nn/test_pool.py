"""nn.MaxPool2D: no parameters, defaults, repr, gradcheck through the layer, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl import nn
from tests.helpers import assert_close
from tests.strategies import seeds


def test_no_parameters_and_default_stride():
    layer = nn.MaxPool2D(2)
    assert list(layer.parameters()) == []
    assert layer.stride == layer.kernel_size == (2, 2)
    x = md.tensor(np.arange(2 * 3 * 6 * 5, dtype="float64").reshape(2, 3, 6, 5))
    y = layer(x)
    assert y.shape == (2, 3, 3, 2)
    assert_close(y, x.numpy()[:, :, 1::2, 1:4:2])


def test_repr():
    assert repr(nn.MaxPool2D(2)) == "MaxPool2D(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    assert repr(nn.MaxPool2D((3, 2), stride=1, padding=(1, 0))) == \
        "MaxPool2D(kernel_size=(3, 2), stride=(1, 1), padding=(1, 0))"


def test_matches_functional(backend):
    x = md.tensor(np.random.default_rng(0).standard_normal((2, 2, 7, 6)), device=backend)
    assert_close(nn.MaxPool2D((3, 2), (2, 1), (1, 1))(x), F.max_pool2d(x, (3, 2), (2, 1), (1, 1)))


@given(kernel=st.integers(1, 3), stride=st.none() | st.integers(1, 3), padding=st.integers(0, 1),
       seed=seeds)
def test_gradcheck(backend, kernel, stride, padding, seed):
    padding = min(padding, kernel // 2)
    data = (np.random.default_rng(seed).permutation(2 * 2 * 5 * 4) - 40) * 0.1  # no ties
    x = md.tensor(data.reshape(2, 2, 5, 4), requires_grad=True, device=backend)
    assert md.gradcheck(nn.MaxPool2D(kernel, stride, padding), x)


@pytest.mark.parametrize("args, error, message", [
    ((2, None, 2), ValueError, (r"MaxPool2D: padding should be at most half of the kernel size, "
                               r"got padding \(2, 2\) for kernel_size \(2, 2\)")),
    ((0,), ValueError, "MaxPool2D: kernel_size must be >= 1"),
    ((2, (1, 2, 3)), TypeError, "MaxPool2D: stride must be an int or a pair of ints"),
])
def test_bad_constructor_arguments_raise(args, error, message):
    with pytest.raises(error, match=message):
        nn.MaxPool2D(*args)


def test_wrong_input_shape_raises():
    with pytest.raises(ValueError, match=r"max_pool2d: expected input of shape \(N, C, H, W\)"):
        nn.MaxPool2D(2)(md.zeros(4, 4))


def test_pytorch_spelling():
    assert nn.MaxPool2d is nn.MaxPool2D
    assert nn.MaxPool2d(2)(md.zeros(1, 1, 4, 4)).shape == (1, 1, 2, 2)


# ---- AvgPool2D and AdaptiveAvgPool2D --------------------------------------------------------

def test_avg_pool_layers_have_no_parameters_and_pytorchs_defaults():
    layer = nn.AvgPool2D(2)
    assert list(layer.parameters()) == [] and list(nn.AdaptiveAvgPool2D(1).parameters()) == []
    assert layer.stride == layer.kernel_size == (2, 2) and layer.padding == (0, 0)
    x = md.tensor(np.arange(2 * 3 * 6 * 5, dtype="float64").reshape(2, 3, 6, 5))
    y = layer(x)
    assert y.shape == (2, 3, 3, 2)  # rounded down: the last column is dropped
    assert_close(y, x.numpy()[:, :, :, :4].reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5)))


def test_avg_pool_layers_repr_as_pytorch():
    assert repr(nn.AvgPool2D(2)) == "AvgPool2D(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    assert repr(nn.AdaptiveAvgPool2D(2)) == "AdaptiveAvgPool2D(output_size=2)"
    assert repr(nn.AdaptiveAvgPool2D((None, 3))) == "AdaptiveAvgPool2D(output_size=(None, 3))"


def test_avg_pool_layers_match_functional(backend):
    x = md.tensor(np.random.default_rng(0).standard_normal((2, 2, 7, 6)), device=backend)
    assert_close(nn.AvgPool2D((3, 2), (2, 1), (1, 1))(x), F.avg_pool2d(x, (3, 2), (2, 1), (1, 1)))
    assert_close(nn.AdaptiveAvgPool2D((None, 4))(x), F.adaptive_avg_pool2d(x, (7, 4)))


def test_global_average_pooling_then_flatten(backend):
    data = np.random.default_rng(1).standard_normal((4, 5, 7, 7)).astype("float32")
    model = nn.Sequential(nn.AdaptiveAvgPool2D(1), nn.Flatten())
    y = model(md.tensor(data, device=backend))
    assert y.shape == (4, 5) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), data.mean(axis=(2, 3)), rtol=1e-6, atol=1e-6)


@given(kernel=st.integers(1, 3), stride=st.none() | st.integers(1, 3), padding=st.integers(0, 1),
       out=st.integers(1, 6), seed=seeds)
def test_avg_pool_layers_gradcheck(backend, kernel, stride, padding, out, seed):
    padding = min(padding, kernel // 2)
    data = np.random.default_rng(seed).standard_normal((2, 2, 5, 4))
    x = md.tensor(data, requires_grad=True, device=backend)
    assert md.gradcheck(nn.AvgPool2D(kernel, stride, padding), x)
    assert md.gradcheck(nn.AdaptiveAvgPool2D((out, None)), x)


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.AvgPool2D(2, None, 2), ValueError,
     r"AvgPool2D: padding should be at most half of the kernel size, got padding \(2, 2\)"),
    (lambda: nn.AvgPool2D(0), ValueError, "AvgPool2D: kernel_size must be >= 1"),
    (lambda: nn.AvgPool2D(2, (1, 2, 3)), TypeError, "AvgPool2D: stride must be an int or a pair of ints"),
    (lambda: nn.AdaptiveAvgPool2D(-2), ValueError, "AdaptiveAvgPool2D: output_size must be >= 0"),
    (lambda: nn.AdaptiveAvgPool2D("7"), TypeError, "AdaptiveAvgPool2D: output_size must be an int or a pair"),
])
def test_avg_pool_layers_bad_constructor_arguments_raise(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_avg_pool_layers_wrong_input_shape_raises():
    with pytest.raises(ValueError, match=r"avg_pool2d: expected input of shape \(N, C, H, W\)"):
        nn.AvgPool2D(2)(md.zeros(4, 4))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: expected input of shape \(N, C, H, W\)"):
        nn.AdaptiveAvgPool2D(1)(md.zeros(2, 4, 4))


def test_avg_pool_layers_pytorch_spelling():
    assert nn.AvgPool2d is nn.AvgPool2D and nn.AdaptiveAvgPool2d is nn.AdaptiveAvgPool2D
    assert nn.AvgPool2d(2)(md.zeros(1, 1, 4, 4)).shape == (1, 1, 2, 2)
    assert nn.AdaptiveAvgPool2d((2, 3))(md.zeros(1, 1, 5, 5)).shape == (1, 1, 2, 3)
