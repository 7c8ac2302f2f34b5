"""nn.Embedding: parameter, initialisation, lookup and gradient."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl import nn
from tests.helpers import assert_close


def test_parameter_and_default_init():
    md.manual_seed(0)
    e = nn.Embedding(400, 50)
    assert [(n, p.shape) for n, p in e.named_parameters()] == [("weight", (400, 50))]
    w = e.weight.numpy()
    assert w.dtype == np.float32
    # N(0, 1) as PyTorch's, over 20,000 samples
    assert abs(w.mean()) < 0.03 and w.std() == pytest.approx(1.0, abs=0.03)


def test_init_is_seeded():
    md.manual_seed(5)
    a = nn.Embedding(3, 2).weight.numpy()
    md.manual_seed(5)
    np.testing.assert_array_equal(a, nn.Embedding(3, 2).weight.numpy())


def test_forward_picks_rows_and_gradient_scatter_adds(backend):
    md.set_backend(backend)
    e = nn.Embedding(5, 3)
    ids = md.tensor([[4, 0, 4]], device=backend)
    out = e(ids)
    assert out.shape == (1, 3, 3)
    assert_close(out, e.weight.numpy()[[[4, 0, 4]]])
    out.sum().backward()
    assert_close(e.weight.grad, [[1, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0], [2, 2, 2]])


@settings(max_examples=6)
@given(num=st.integers(1, 4), dim=st.integers(1, 3), n=st.integers(1, 4), seed=st.integers(0, 99))
def test_module_gradcheck(backend, num, dim, n, seed):
    md.set_backend(backend)
    e = nn.Embedding(num, dim).astype("float64")
    ids = md.tensor(np.random.default_rng(seed).integers(0, num, size=(n,)), device=backend)
    assert md.gradcheck(lambda w: md.functional.embedding(ids, w), e.weight)


def test_out_of_range_id_error():
    with pytest.raises(ValueError, match=r"Embedding: ids must lie in \[0, 3\)"):
        nn.Embedding(3, 2)(md.tensor([3]))


@pytest.mark.parametrize("args", [(0, 2), (3, 0), (2.5, 2), (3, True)])
def test_bad_constructor_arguments(args):
    with pytest.raises(ValueError, match="Embedding: .* must be a positive integer"):
        nn.Embedding(*args)


def test_repr():
    assert repr(nn.Embedding(10, 4)) == "Embedding(10, 4)"
