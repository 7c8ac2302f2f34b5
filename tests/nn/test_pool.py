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
