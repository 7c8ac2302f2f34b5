"""minidl.kernels.dropout: the hashed mask, Numba against the reference, bit for bit."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.kernels import dropout as K
from minidl.kernels.dropout import reference
from tests.kernels.conftest import force_build
from tests.kernels.gpu_cases import DTYPES
from tests.kernels.numba_cases import rand
from tests.strategies import seeds, shapes


@pytest.fixture(params=["serial", "parallel"])
def elementwise_build(request, monkeypatch):
    force_build(monkeypatch, "MINIDL_ELEMENTWISE_PARALLEL_MIN", request.param)
    return request.param


def test_the_mask_bits_are_splitmix64():
    # splitmix64's first output from state 0 is 0xE220A8397B1DCDAF (Vigna's splitmix64.c);
    # the mask keeps its top 24 bits
    assert int(reference.keep_bits(1, 0, np)[0]) == 0xE220A8


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes(1, 4, 0, 6), seed=seeds, p=st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.999]),
       draw=st.integers(0, 2**63 - 2))
def test_numba_dropout_equals_reference_bit_for_bit(elementwise_build, dtype, shape, seed, p, draw):
    from minidl.kernels.dropout import cpu  # noqa: PLC0415 - imports Numba

    x = rand(shape, dtype, seed)
    x.reshape(-1)[::7] = np.nan
    y = cpu.apply(x, p, draw)
    want = reference.apply(x, p, draw)
    assert y.dtype == want.dtype and y.shape == want.shape
    np.testing.assert_array_equal(y, want)


def test_keep_rate_scale_and_nan():
    x = np.ones(200_000, np.float32)
    x[::1000] = np.nan
    y, saved = K.forward(x, 0.3, 7)
    kept = y[np.isfinite(y)] != 0
    assert abs(kept.mean() - 0.7) < 0.005
    assert (y[np.isfinite(y)][kept] == np.float32(1 / 0.7)).all()
    assert np.isnan(y[::1000]).all()  # dropped or not, NaN * mask stays NaN
    # the backward applies the forward's mask, to a gradient in any layout
    gy = np.ones((2, 200_000), np.float32)[0]
    gx = K.backward(np.asfortranarray(gy), saved)
    finite = np.isfinite(y)
    np.testing.assert_array_equal((gx != 0)[finite], (y != 0)[finite])


def test_another_seed_gives_another_mask():
    x = np.ones(1000)
    assert not np.array_equal(reference.apply(x, 0.5, 1), reference.apply(x, 0.5, 2))
