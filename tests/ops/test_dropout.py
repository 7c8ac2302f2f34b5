"""Inverted dropout (F.dropout)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from tests.helpers import assert_close, rand_tensor
from tests.strategies import shapes


@given(shape=shapes(1, 3), p=st.sampled_from([0.1, 0.5, 0.8]))
def test_gradcheck_with_a_fixed_mask(backend, shape, p):
    def f(x):
        md.manual_seed(3)  # the same mask on every call, so finite differences see one function
        return F.dropout(x, p)
    assert md.gradcheck(f, rand_tensor(shape, backend))


def test_kept_values_are_scaled_and_gradient_uses_the_same_mask(backend):
    md.manual_seed(0)
    x = md.tensor(np.arange(1.0, 201.0), dtype="float64", requires_grad=True, device=backend)
    y = F.dropout(x, 0.25)
    out = y.numpy()
    kept = out != 0
    assert 0 < kept.sum() < 200
    assert_close(out[kept], x.numpy()[kept] / 0.75)
    y.sum().backward()
    assert_close(x.grad.numpy(), np.where(kept, 1 / 0.75, 0.0))


def test_statistics_mean_preserved_and_drop_rate(backend):
    md.manual_seed(1)
    x = md.ones(200_000, device=backend)
    out = F.dropout(x, 0.3).numpy()
    assert abs((out == 0).mean() - 0.3) < 0.01
    assert abs(out.mean() - 1.0) < 0.01
    assert out.dtype == np.float32


def test_same_seed_same_mask_new_draw_differs():
    x = md.ones(64)
    md.manual_seed(5)
    a = F.dropout(x).numpy()
    b = F.dropout(x).numpy()
    md.manual_seed(5)
    c = F.dropout(x).numpy()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_identity_when_not_training_or_p_zero():
    x = rand_tensor((3, 4))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_p_one_gives_zeros_and_zero_gradient():
    x = rand_tensor((3, 4))
    y = F.dropout(x, 1.0)
    assert_close(y, np.zeros((3, 4)))
    y.sum().backward()
    assert_close(x.grad, np.zeros((3, 4)))


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", None])
def test_bad_p_raises(p):
    with pytest.raises(ValueError, match=r"dropout: p must be a probability in \[0, 1\]"):
        F.dropout(md.ones(3), p)


def test_float16_dropout_keeps_its_dtype(backend):
    md.manual_seed(0)
    y = F.dropout(md.ones(100, dtype="float16", device=backend), 0.5)
    assert y.dtype == np.float16
    assert set(np.unique(y.numpy()).tolist()) <= {0.0, 2.0}
