"""F.embedding: lookup values, scatter-add gradient, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from tests.conftest import GPU_REASON
from tests.helpers import assert_close, rand_tensor
from tests.strategies import seeds, shapes


@given(ids_shape=shapes(0, 3, max_side=3), num=st.integers(1, 5), dim=st.integers(1, 4),
       seed=seeds)
def test_embedding_gradcheck(backend, ids_shape, num, dim, seed):
    rng = np.random.default_rng(seed)
    ids = md.tensor(rng.integers(0, num, size=ids_shape), device=backend)
    weight = rand_tensor((num, dim), backend, seed=seed)
    assert md.gradcheck(lambda w: F.embedding(ids, w), weight)


def test_embedding_values_any_id_shape(backend):
    weight = md.tensor(np.arange(12.0).reshape(4, 3), dtype="float64", device=backend)
    ids = md.tensor([[3, 0], [1, 1]], device=backend)
    out = F.embedding(ids, weight)
    assert out.shape == (2, 2, 3)
    assert_close(out, [[[9, 10, 11], [0, 1, 2]], [[3, 4, 5], [3, 4, 5]]])
    assert F.embedding(md.tensor(2, device=backend), weight).shape == (3,)


def test_repeated_ids_accumulate(backend):
    weight = md.tensor(np.zeros((4, 2)), dtype="float64", requires_grad=True, device=backend)
    out = F.embedding(md.tensor([1, 3, 1, 1], device=backend), weight)
    (out * md.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]], dtype="float64",
                     device=backend)).sum().backward()
    assert_close(weight.grad, [[0, 0], [13, 16], [0, 0], [3, 4]])


def test_ids_as_list_and_numpy_array():
    weight = md.tensor(np.eye(3), dtype="float64")
    assert_close(F.embedding([2, 0], weight), [[0, 0, 1], [1, 0, 0]])
    assert_close(F.embedding(np.array([1], dtype=np.int32), weight), [[0, 1, 0]])


@pytest.mark.parametrize("ids, message", [
    ([0, 4], r"ids must lie in \[0, 4\).*from 0 to 4"),
    ([-1, 2], r"ids must lie in \[0, 4\).*from -1 to 2"),
    ([0.0, 1.0], "ids must be an integer tensor, got dtype float32"),
    (np.array([True]), "ids must be an integer tensor, got dtype bool"),
])
def test_bad_ids_raise_value_error_naming_embedding(ids, message):
    weight = md.zeros(4, 2, requires_grad=True)
    with pytest.raises(ValueError, match="Embedding: " + message):
        F.embedding(ids, weight)


def test_weight_must_be_2d():
    with pytest.raises(ValueError, match=r"Embedding: weight must be 2-D .*got shape \(4,\)"):
        F.embedding([0], md.zeros(4))


@pytest.mark.gpu
def test_bad_ids_on_the_gpu_give_nan_rows_without_a_host_read():
    """On the GPU a host check would stall each step: a bad id gives a NaN row and adds no
    gradient (the CPU raises, above)."""
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    backend = "cupy"
    weight = md.tensor(np.arange(8.0).reshape(4, 2), dtype="float64", requires_grad=True, device=backend)
    out = F.embedding(md.tensor([1, 4, -1, 1], device=backend), weight)
    got = out.numpy()
    assert_close(got[[0, 3]], [[2.0, 3.0], [2.0, 3.0]])
    assert np.isnan(got[1:3]).all()
    (out * md.tensor(np.ones((4, 2)), dtype="float64", device=backend)).sum().backward()
    assert_close(weight.grad, [[0.0, 0.0], [2.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
