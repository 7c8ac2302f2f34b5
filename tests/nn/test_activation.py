"""Activation layers: ReLU, Sigmoid, Tanh, Softmax, LogSoftmax, LeakyReLU, GELU, SiLU, ELU."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl import nn
from tests.helpers import assert_close, rand_tensor
from tests.strategies import shapes

LAYERS = [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Softmax]


@pytest.mark.parametrize("cls", LAYERS)
@given(shape=shapes(1, 3))
def test_gradcheck(backend, cls, shape):
    x = rand_tensor(shape, backend)
    if cls is nn.ReLU:  # keep clear of the kink at 0, where differences are one-sided
        x.data[abs(x.data) < 0.05] = 0.5
    assert md.gradcheck(cls(), x)


@given(shape=shapes(2, 3), axis=st.integers(-2, 1))
def test_softmax_axis_gradcheck_and_sums_to_one(backend, shape, axis):
    x = rand_tensor(shape, backend)
    layer = nn.Softmax(axis=axis)
    assert_close(layer(x).numpy().sum(axis=axis), np.ones(np.delete(shape, axis % len(shape))))
    assert md.gradcheck(layer, x)


def test_known_values(backend):
    x = md.tensor([-2.0, 0.0, 1.5], dtype="float64", device=backend)
    assert_close(nn.ReLU()(x), [0.0, 0.0, 1.5])
    assert_close(nn.Sigmoid()(x), 1 / (1 + np.exp([2.0, 0.0, -1.5])))
    assert_close(nn.Tanh()(x), np.tanh([-2.0, 0.0, 1.5]))
    e = np.exp([-2.0, 0.0, 1.5])
    assert_close(nn.Softmax()(x), e / e.sum())
    # the default axis is the last one
    m = md.tensor([[0.0, np.log(3.0)], [1.0, 1.0]], dtype="float64", device=backend)
    assert_close(nn.Softmax()(m), [[0.25, 0.75], [0.5, 0.5]])
    assert_close(nn.Softmax(axis=0)(m), [[1 / (1 + np.e), 3 / (3 + np.e)],
                                         [np.e / (1 + np.e), np.e / (3 + np.e)]])


def test_no_parameters_and_repr():
    for cls in LAYERS:
        assert list(cls().parameters()) == []
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Tanh()) == "Tanh()"
    assert repr(nn.Softmax()) == "Softmax(axis=-1)"
    assert repr(nn.Softmax(axis=1)) == "Softmax(axis=1)"


def test_softmax_takes_pytorchs_dim(backend):
    x = md.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], dtype="float64", device=backend)
    # torch 2.13: nn.Softmax(dim=0)(x)
    expected = [[0.6224593312018546, 0.9525741268224334, 0.7310585786300049],
                [0.37754066879814546, 0.04742587317756679, 0.2689414213699951]]
    assert_close(nn.Softmax(dim=0)(x), expected, rtol=1e-12)
    assert_close(nn.Softmax(0)(x), expected, rtol=1e-12)
    assert nn.Softmax(dim=1).axis == 1 and nn.Softmax(axis=1, dim=1).axis == 1
    with pytest.raises(TypeError, match="Softmax: got axis=0 and dim=1; give one of them"):
        nn.Softmax(axis=0, dim=1)


NEW_LAYERS = [nn.LogSoftmax(), nn.LogSoftmax(dim=0), nn.LeakyReLU(), nn.LeakyReLU(0.3), nn.GELU(),
              nn.GELU(approximate="tanh"), nn.SiLU(), nn.ELU(), nn.ELU(alpha=0.5)]


@pytest.mark.parametrize("layer", NEW_LAYERS, ids=repr)
@given(shape=shapes(1, 3))
def test_new_layers_gradcheck(backend, layer, shape):
    x = rand_tensor(shape, backend)
    x.data[abs(x.data) < 0.05] = 0.5  # clear of the kinks at 0 (LeakyReLU, ELU)
    assert md.gradcheck(layer, x)


def test_new_layers_equal_their_functions_and_reprs(backend):
    x = rand_tensor((3, 4), backend, 3)
    for layer, fn, text in [
        (nn.LogSoftmax(dim=0), lambda t: F.log_softmax(t, axis=0), "LogSoftmax(dim=0)"),
        (nn.LeakyReLU(0.3), lambda t: F.leaky_relu(t, 0.3), "LeakyReLU(negative_slope=0.3)"),
        (nn.GELU(approximate="tanh"), lambda t: F.gelu(t, approximate="tanh"), "GELU(approximate='tanh')"),
        (nn.SiLU(), F.silu, "SiLU()"),
        (nn.ELU(alpha=0.5), lambda t: F.elu(t, alpha=0.5), "ELU(alpha=0.5)"),
    ]:
        assert_close(layer(x), fn(x), rtol=0, atol=0)
        assert repr(layer) == text and list(layer.parameters()) == []
    assert (repr(nn.LogSoftmax()), repr(nn.LeakyReLU()), repr(nn.GELU()), repr(nn.ELU())) == (
        "LogSoftmax(dim=-1)", "LeakyReLU(negative_slope=0.01)", "GELU(approximate='none')", "ELU(alpha=1.0)")


def test_new_layers_known_values(backend):
    # torch.nn.LeakyReLU(), GELU(), SiLU(), ELU(), LogSoftmax(dim=-1) in float64
    x = md.tensor([-1.5, 0.25, 1.0], dtype="float64", device=backend)
    assert_close(nn.LeakyReLU()(x), [-0.015, 0.25, 1.0])
    assert_close(nn.GELU()(x), [-0.10021080190328704, 0.14967658142073093, 0.841344746068543])
    assert_close(nn.SiLU()(x), [-0.2736382857095345, 0.14054412522144952, 0.7310585786300049])
    assert_close(nn.ELU()(x), [-0.7768698398515702, 0.25, 1.0])
    assert_close(nn.LogSoftmax()(x), [-2.9411227833310205, -1.1911227833310205, -0.4411227833310206])


def test_gelu_bad_approximate_raises():
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh', got 'fast'"):
        nn.GELU(approximate="fast")
