"""nn.Flatten keeps the batch axis."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import minidl as md
from minidl import nn
from tests.helpers import assert_close, rand_tensor
from tests.strategies import shapes


@given(shape=shapes(2, 4, max_side=3))
def test_gradcheck_and_shape(backend, shape):
    x = rand_tensor(shape, backend)
    y = nn.Flatten()(x)
    assert y.shape == (shape[0], int(np.prod(shape[1:])))
    assert md.gradcheck(nn.Flatten(), x)


def test_values_are_row_major(backend):
    x = md.arange(24, device=backend).reshape(2, 3, 4)
    assert_close(nn.Flatten()(x), np.arange(24).reshape(2, 12))


def test_start_and_end_dim():
    x = md.zeros(2, 3, 4, 5)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert nn.Flatten(0, -1)(x).shape == (120,)
    assert nn.Flatten(2)(x).shape == (2, 3, 20)
    assert nn.Flatten()(md.zeros(2, 3)).shape == (2, 3)


def test_needs_a_batch_axis():
    with pytest.raises(ValueError, match=r"Flatten: .*shape \(5,\).*\(N, \.\.\.\)"):
        nn.Flatten()(md.zeros(5))


def test_repr():
    assert repr(nn.Flatten()) == "Flatten()"
    assert repr(nn.Flatten(2, 3)) == "Flatten(start_dim=2, end_dim=3)"
