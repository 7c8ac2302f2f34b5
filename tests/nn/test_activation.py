"""Activation layers: ReLU, Sigmoid, Tanh, Softmax."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
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
