"""kernels/embedding: the Numba gradient equals the reference bit for bit (repeated ids
add in order), any layout of gy, and the route."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.kernels import _route
from minidl.kernels import embedding as K
from minidl.kernels.embedding import reference
from tests.kernels.gpu_cases import DTYPES
from tests.kernels.numba_cases import rand
from tests.strategies import seeds


@pytest.mark.parametrize("dtype", DTYPES)
@given(ids_shape=st.lists(st.integers(0, 5), min_size=1, max_size=3).map(tuple),
       num=st.integers(1, 6), dim=st.integers(1, 7), seed=seeds)
def test_numba_equals_reference_bit_for_bit(dtype, ids_shape, num, dim, seed):
    from minidl.kernels.embedding import cpu  # noqa: PLC0415 - imports Numba

    rng = np.random.default_rng(seed)
    ids = rng.integers(0, num, ids_shape)  # few rows: ids repeat
    gy = rand(ids_shape + (dim,), dtype, seed)
    want = reference.backward(ids, gy, (num, dim))
    got = cpu.backward(ids.astype(np.int32), gy, (num, dim))
    assert got.shape == (num, dim) and got.dtype == gy.dtype
    np.testing.assert_array_equal(got, want)


def test_any_layout_and_the_route(monkeypatch):
    ids = np.array([[3, 0, 3], [1, 3, 0]])
    gy = rand((3, 2, 4), "float32", 1).transpose(1, 0, 2)  # time-major, as an LSTM hands it
    want = np.zeros((5, 4), np.float32)
    for k, row in enumerate(ids.reshape(-1)):
        want[row] += gy.reshape(-1, 4)[k]
    ran = []
    for name in ("cpu", "reference"):
        module = __import__(f"minidl.kernels.embedding.{name}", fromlist=["backward"])
        plain = module.backward
        monkeypatch.setattr(module, "backward", lambda *a, _p=plain, _n=name: ran.append(_n) or _p(*a))
    np.testing.assert_array_equal(K.backward(ids, gy, (5, 4)), want)
    half = gy.astype(np.float16)  # not a Numba dtype: the reference
    np.testing.assert_array_equal(K.backward(ids, half, (5, 4)), reference.backward(ids, half, (5, 4)))
    before = _route.set_kernels("reference")
    try:
        np.testing.assert_array_equal(K.backward(ids, gy, (5, 4)), want)
    finally:
        _route.set_kernels(before)
    assert ran == (["cpu", "reference", "reference", "reference"] if _route.numba_available()
                   else ["reference"] * 4)
